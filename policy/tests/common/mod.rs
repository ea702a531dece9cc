//! In-memory evidence for the policy tests: signatures and attestations made with keys, in
//! the forms cosign and vouch store them (tag-layout layers, Sigstore bundle referrers).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;

use base64::Engine as _;
use vouch_attestations::bundle::Bundle;
use vouch_attestations::cosign::{
    DSSE_LAYER_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer,
};
use vouch_attestations::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, PrivateKey};
use vouch_policy::ImageName;
use vouch_policy::evidence::{BundleEvidence, Evidence};
use vouch_tests::scenarios::{self, EvidenceSpec, KeylessEvidence, Sigstores, statement};

/// The digest the in-memory image (or index, or platform manifest) has.
pub fn manifest_digest(image: &str, platform: Option<&str>) -> Digest {
    Digest::sha256(format!("manifest of {image} {platform:?}").as_bytes())
}

pub fn bundle(key: &PrivateKey, payload: Vec<u8>, predicate_type: &str) -> BundleEvidence {
    let sig = key
        .sign(&dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload))
        .unwrap();
    let json =
        Bundle::key_signed_dsse(key.public_key(), IN_TOTO_PAYLOAD_TYPE, payload, sig).to_json();
    BundleEvidence {
        referrer: Digest::sha256(&json),
        listing: "referrers-tag-schema".into(),
        annotated_predicate_type: Some(predicate_type.to_owned()),
        bytes: Ok(json),
        note: None,
    }
}

/// Adds one piece of evidence to `evidence`: made with the key `spec.by` names in `keys`, or
/// keylessly by an instance of `sigstores`.
pub fn add(
    evidence: &mut Evidence,
    spec: &EvidenceSpec,
    keys: &BTreeMap<&str, PrivateKey>,
    sigstores: Option<&Sigstores>,
    image: &ImageName,
    digest: &Digest,
    prefix: &str,
) {
    if spec.keyless.is_some() {
        let sigstores = sigstores.expect("keyless evidence needs the Sigstore instances");
        add_keyless(
            evidence,
            scenarios::keyless_evidence(spec, sigstores, &image.repository, digest, prefix),
        );
        return;
    }
    let by = spec.by.as_deref().expect("a key signer");
    let key = keys.get(by).unwrap_or_else(|| panic!("no signer {by}"));
    let b64 = base64::engine::general_purpose::STANDARD;
    if spec.is_attestation() {
        let predicate_type = spec.predicate_type.as_deref().unwrap();
        let payload = statement(
            &image.repository,
            digest,
            predicate_type,
            spec.predicate
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
        );
        if spec.in_bundle() {
            evidence.bundles.push(bundle(key, payload, predicate_type));
        } else {
            let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, payload, key, "")
                .unwrap()
                .to_vec();
            evidence.attestations.found = true;
            evidence.attestations.layers.push(SignatureLayer {
                index: evidence.attestations.layers.len(),
                media_type: DSSE_LAYER_MEDIA_TYPE.into(),
                digest: Digest::sha256(&envelope),
                annotations: BTreeMap::from([(
                    PREDICATE_TYPE_ANNOTATION.to_owned(),
                    predicate_type.to_owned(),
                )]),
                payload: Ok(envelope),
            });
        }
    } else if spec.in_bundle() {
        let predicate = if spec.annotations.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "annotations": spec.annotations })
        };
        let payload = statement(
            &image.repository,
            digest,
            COSIGN_SIGN_PREDICATE_TYPE,
            predicate,
        );
        evidence
            .bundles
            .push(bundle(key, payload, COSIGN_SIGN_PREDICATE_TYPE));
    } else {
        let signed_for = spec
            .signed_for
            .as_deref()
            .map_or_else(|| image.repository.clone(), |s| scenarios::place(s, prefix));
        let payload = SimpleSigning::new(signed_for, digest.clone(), &spec.annotations).to_vec();
        evidence.signatures.found = true;
        evidence.signatures.layers.push(SignatureLayer {
            index: evidence.signatures.layers.len(),
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
            digest: Digest::sha256(&payload),
            annotations: BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_owned(),
                b64.encode(key.sign(&payload).unwrap()),
            )]),
            payload: Ok(payload),
        });
    }
}

/// Adds keyless evidence as the store would list it.
fn add_keyless(evidence: &mut Evidence, made: KeylessEvidence) {
    match made {
        KeylessEvidence::Signature {
            payload,
            signature,
            mut annotations,
        } => {
            annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature);
            evidence.signatures.found = true;
            evidence.signatures.layers.push(SignatureLayer {
                index: evidence.signatures.layers.len(),
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
                digest: Digest::sha256(&payload),
                annotations,
                payload: Ok(payload),
            });
        }
        KeylessEvidence::Attestation {
            envelope,
            predicate_type,
            mut annotations,
        } => {
            annotations.insert(PREDICATE_TYPE_ANNOTATION.to_owned(), predicate_type);
            annotations.insert(SIGNATURE_ANNOTATION.to_owned(), String::new());
            evidence.attestations.found = true;
            evidence.attestations.layers.push(SignatureLayer {
                index: evidence.attestations.layers.len(),
                media_type: DSSE_LAYER_MEDIA_TYPE.into(),
                digest: Digest::sha256(&envelope),
                annotations,
                payload: Ok(envelope),
            });
        }
        KeylessEvidence::Bundle {
            json,
            predicate_type,
        } => evidence.bundles.push(BundleEvidence {
            referrer: Digest::sha256(&json),
            listing: "referrers-tag-schema".into(),
            annotated_predicate_type: Some(predicate_type),
            bytes: Ok(json),
            note: None,
        }),
    }
}
