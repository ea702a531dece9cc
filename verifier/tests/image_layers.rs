//! cosign tag-layout layers through `vouch_verifier::image`: a keyless `.sig` layer built from
//! a real public-good signature (the conformance case `happy-path-v0.1`: a Fulcio certificate
//! with GitHub workflow claims and a Rekor v1 `hashedrekord` entry with its signed entry
//! timestamp) carried the way cosign carries one, in the certificate and Rekor bundle
//! annotations; and key-signed layers made here. Each refusal is asserted by its check.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use vouch_attestations::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, DSSE_LAYER_MEDIA_TYPE, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer,
};
use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, KeyType, PrivateKey};
use vouch_verifier::check::Check;
use vouch_verifier::identity::{CertificateIdentity, Matcher, WorkflowClaim};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{ImageClaim, Options, Policy, Verifier};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn now() -> Options {
    Options::at(UnixTime::from_system_time(std::time::SystemTime::now()))
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The keyless signature of `happy-path-v0.1` as a cosign `.sig` layer over its artifact:
/// signature, certificate and Rekor bundle annotations, as `cosign sign` writes them.
fn keyless_layer() -> SignatureLayer {
    let bundle: Value = serde_json::from_slice(
        &fs::read(data("conformance/happy-path-v0.1/bundle.sigstore.json")).unwrap(),
    )
    .unwrap();
    let material = &bundle["verificationMaterial"];
    let cert = STANDARD
        .decode(
            material["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let entry = &material["tlogEntries"][0];
    let log_id = STANDARD
        .decode(entry["logId"]["keyId"].as_str().unwrap())
        .unwrap();
    let rekor_bundle = json!({
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
            "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
            "logID": vouch_keys::hex(&log_id),
        }
    });
    let payload = fs::read(data("conformance/a.txt")).unwrap();
    SignatureLayer {
        index: 0,
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        digest: Digest::sha256(&payload),
        annotations: BTreeMap::from([
            (
                SIGNATURE_ANNOTATION.to_owned(),
                bundle["messageSignature"]["signature"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            (CERTIFICATE_ANNOTATION.to_owned(), pem(&cert)),
            (BUNDLE_ANNOTATION.to_owned(), rekor_bundle.to_string()),
        ]),
        payload: Ok(payload),
    }
}

fn identity(claims: Vec<(WorkflowClaim, String)>) -> Policy {
    Policy::Identity(CertificateIdentity {
        subject: Matcher::Exact(IDENTITY.into()),
        issuer: Matcher::Exact(ISSUER.into()),
        claims,
    })
}

fn check_of(layer: &SignatureLayer, policy: &Policy, options: Options) -> Check {
    let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
    let image = Digest::sha256(b"image");
    verifier
        .verify_signature_layer(layer, &image, policy, options)
        .map(|_| ())
        .unwrap_err()
        .check()
}

#[test]
fn a_keyless_cosign_layer_passes_every_signature_check_of_its_bundle() {
    // The payload of this real signature is a text file, not a simple-signing document: a
    // layer holding it passes the signature, the log entry and its SET, the certificate
    // chain, the SCT and the identity, and is refused at the statement, the first image check.
    let layer = keyless_layer();
    let claims = vec![
        (WorkflowClaim::Trigger, "workflow_dispatch".to_owned()),
        (
            WorkflowClaim::Repository,
            "sigstore-conformance/extremely-dangerous-public-oidc-beacon".to_owned(),
        ),
        (WorkflowClaim::Ref, "refs/heads/main".to_owned()),
        (
            WorkflowClaim::Sha,
            "af785b6d3b0fa0c0aa1305faee7ce6036e8d90c4".to_owned(),
        ),
        (
            WorkflowClaim::Name,
            "Extremely dangerous OIDC beacon".to_owned(),
        ),
    ];
    assert_eq!(check_of(&layer, &identity(claims), now()), Check::Statement);
}

#[test]
fn each_keyless_layer_failure_is_named_by_its_check() {
    let wrong_claim = identity(vec![(WorkflowClaim::Trigger, "push".to_owned())]);
    assert_eq!(
        check_of(&keyless_layer(), &wrong_claim, now()),
        Check::CertificateIdentity
    );
    let other_issuer = Policy::Identity(CertificateIdentity::new(
        Matcher::Exact(IDENTITY.into()),
        Matcher::Exact("https://accounts.google.com".into()),
    ));
    assert_eq!(
        check_of(&keyless_layer(), &other_issuer, now()),
        Check::CertificateIdentity
    );

    // A signed entry timestamp that is not the log's.
    let mut layer = keyless_layer();
    let mut rekor: Value = serde_json::from_str(&layer.annotations[BUNDLE_ANNOTATION]).unwrap();
    let mut set = STANDARD
        .decode(rekor["SignedEntryTimestamp"].as_str().unwrap())
        .unwrap();
    let last = set.len() - 1;
    set[last] ^= 1;
    rekor["SignedEntryTimestamp"] = STANDARD.encode(set).into();
    layer
        .annotations
        .insert(BUNDLE_ANNOTATION.into(), rekor.to_string());
    assert_eq!(
        check_of(&layer, &identity(vec![]), now()),
        Check::TlogSignedEntryTimestamp
    );

    // No Rekor bundle: no log entry, and no timestamp to trust the certificate at.
    let mut layer = keyless_layer();
    layer.annotations.remove(BUNDLE_ANNOTATION);
    assert_eq!(check_of(&layer, &identity(vec![]), now()), Check::TlogEntry);
    let loose = Options {
        require_tlog: false,
        ..now()
    };
    assert_eq!(
        check_of(&layer, &identity(vec![]), loose),
        Check::SigningTime
    );

    // An annotation that does not parse is named.
    let mut layer = keyless_layer();
    layer
        .annotations
        .insert(BUNDLE_ANNOTATION.into(), "{\"Payload\": 1}".into());
    let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
    let error = verifier
        .verify_signature_layer(&layer, &Digest::sha256(b"i"), &identity(vec![]), now())
        .unwrap_err();
    assert_eq!(error.check(), Check::EnvelopeFormat);
    assert!(error.to_string().contains(BUNDLE_ANNOTATION), "{error}");

    // A certificate signature verified against a key policy is a material mismatch.
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    assert_eq!(
        check_of(
            &keyless_layer(),
            &Policy::Key(key.public_key().clone()),
            now()
        ),
        Check::VerificationMaterial
    );
}

fn key_layer(key: &PrivateKey, image: &Digest) -> SignatureLayer {
    let payload = SimpleSigning::new(
        "registry.example/app",
        image.clone(),
        &BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
    )
    .to_vec();
    SignatureLayer {
        index: 3,
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        digest: Digest::sha256(&payload),
        annotations: BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            STANDARD.encode(key.sign(&payload).unwrap()),
        )]),
        payload: Ok(payload),
    }
}

#[test]
fn key_signed_layers_verify_and_say_what_was_signed() {
    let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
    let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
    let image = Digest::sha256(b"image");
    let policy = Policy::Key(key.public_key().clone());
    let loose = Options {
        require_tlog: false,
        ..now()
    };
    let evidence = verifier
        .verify_signature_layer(&key_layer(&key, &image), &image, &policy, loose)
        .unwrap();
    assert_eq!(evidence.get().claim, ImageClaim::Signature);
    assert_eq!(
        evidence.get().docker_reference.as_deref(),
        Some("registry.example/app")
    );
    assert_eq!(evidence.get().annotations["env"], "prod");
    assert_eq!(
        evidence.get().verification.key_fingerprint,
        key.public_key().fingerprint()
    );

    // Another image's signature, copied under this image's tag.
    let other = Digest::sha256(b"other");
    let error = verifier
        .verify_signature_layer(&key_layer(&key, &other), &image, &policy, loose)
        .unwrap_err();
    assert_eq!(error.check(), Check::ArtifactDigest);
    // A key-signed layer needs a log entry unless the caller lets it go without.
    let error = verifier
        .verify_signature_layer(&key_layer(&key, &image), &image, &policy, now())
        .unwrap_err();
    assert_eq!(error.check(), Check::TlogEntry);
    // Missing payload, and a layer of another kind.
    let mut layer = key_layer(&key, &image);
    layer.payload = Err("blob not found".into());
    let error = verifier
        .verify_signature_layer(&layer, &image, &policy, loose)
        .unwrap_err();
    assert_eq!(error.check(), Check::PayloadAvailable);
    let mut layer = key_layer(&key, &image);
    layer.media_type = DSSE_LAYER_MEDIA_TYPE.into();
    let error = verifier
        .verify_signature_layer(&layer, &image, &policy, loose)
        .unwrap_err();
    assert_eq!(error.check(), Check::EnvelopeFormat);
    // Another key.
    let other_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let error = verifier
        .verify_signature_layer(
            &key_layer(&key, &image),
            &image,
            &Policy::Key(other_key.public_key().clone()),
            loose,
        )
        .unwrap_err();
    assert_eq!(error.check(), Check::ArtifactSignature);
}

#[test]
fn attestation_layers_verify_by_any_envelope_signature() {
    let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let image = Digest::sha256(b"image");
    let statement = Statement::new(
        vec![ResourceDescriptor::for_digest(
            "registry.example/app",
            &image,
        )],
        "https://slsa.dev/provenance/v1",
        Some(json!({"buildDefinition": {}})),
    )
    .unwrap();
    let mut envelope =
        Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_vec(), &other, "").unwrap();
    envelope.add_signature(&key, "").unwrap();
    let payload = envelope.to_vec();
    let layer = SignatureLayer {
        index: 0,
        media_type: DSSE_LAYER_MEDIA_TYPE.into(),
        digest: Digest::sha256(&payload),
        annotations: BTreeMap::new(),
        payload: Ok(payload),
    };
    let loose = Options {
        require_tlog: false,
        ..now()
    };
    let evidence = verifier
        .verify_attestation_layer(
            &layer,
            &image,
            &Policy::Key(key.public_key().clone()),
            loose,
        )
        .unwrap();
    assert_eq!(evidence.get().claim, ImageClaim::Attestation);
    assert_eq!(
        evidence.get().predicate_type.as_deref(),
        Some("https://slsa.dev/provenance/v1")
    );
    let error = verifier
        .verify_attestation_layer(
            &layer,
            &Digest::sha256(b"x"),
            &Policy::Key(key.public_key().clone()),
            loose,
        )
        .unwrap_err();
    assert_eq!(error.check(), Check::ArtifactDigest);
}

#[test]
fn the_sct_is_required_unless_the_caller_says_the_authority_logs_to_no_ct_log() {
    // The public-good root without its CT logs: the certificate's SCT cannot be checked.
    let mut root: Value =
        serde_json::from_slice(vouch_verifier::trust_root::PUBLIC_GOOD_JSON).unwrap();
    root.as_object_mut().unwrap().remove("ctlogs");
    let root = TrustedRoot::from_json(&serde_json::to_vec(&root).unwrap()).unwrap();
    let verifier = Verifier::new(&root).unwrap();
    let image = Digest::sha256(b"image");
    let check = |options: Options| {
        verifier
            .verify_signature_layer(&keyless_layer(), &image, &identity(vec![]), options)
            .map(|_| ())
            .unwrap_err()
            .check()
    };
    assert_eq!(check(now()), Check::CertificateSct);
    // Without the SCT, every other check still holds; the payload is then refused as before.
    let no_sct = Options {
        require_sct: false,
        ..now()
    };
    assert_eq!(check(no_sct), Check::Statement);
}
