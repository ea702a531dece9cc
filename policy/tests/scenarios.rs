//! Every scenario of `tests/scenarios/scenarios.yaml`, decided in memory: keys generated for
//! the run, signatures and attestations made with them in the forms cosign and vouch store
//! (tag-layout layers, Sigstore bundle referrers), held by a `MemorySource`. The same
//! scenarios run end to end through `vouch verify --policy` in `tests/tests/policy_scenarios.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use base64::Engine as _;
use vouch_attestations::bundle::Bundle;
use vouch_attestations::cosign::{
    DSSE_LAYER_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer,
};
use vouch_attestations::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::{COSIGN_SIGN_PREDICATE_TYPE, ResourceDescriptor, Statement};
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, KeyType, PrivateKey};
use vouch_policy::evidence::{BundleEvidence, Evidence, MemorySource, PlatformManifest};
use vouch_policy::{EvidenceError, ImageName, TrustPolicy};
use vouch_tests::scenarios::{self, EvidenceSpec, SIGNERS, Scenario};
use vouch_verifier::time::UnixTime;

/// The digest the in-memory image (or index, or platform manifest) has.
fn manifest_digest(image: &str, platform: Option<&str>) -> Digest {
    Digest::sha256(format!("manifest of {image} {platform:?}").as_bytes())
}

fn statement(
    repository: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Vec<u8> {
    Statement::new(
        vec![ResourceDescriptor::for_digest(repository, digest)],
        predicate_type,
        Some(predicate),
    )
    .unwrap()
    .to_vec()
}

fn bundle(key: &PrivateKey, payload: Vec<u8>, predicate_type: &str) -> BundleEvidence {
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
    }
}

/// Adds one piece of evidence, made with `key`, to `evidence`.
fn add(
    evidence: &mut Evidence,
    spec: &EvidenceSpec,
    key: &PrivateKey,
    image: &ImageName,
    digest: &Digest,
    prefix: &str,
) {
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

/// Decides one scenario in memory; the error says what differs from what it expects.
fn run(scenario: &Scenario, keys: &BTreeMap<&str, PrivateKey>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("registry.test/{}", scenario.name);
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    for (name, key) in keys {
        std::fs::write(
            dir.path().join(format!("keys/{name}.pub")),
            key.public_key().to_pem(),
        )
        .unwrap();
    }
    for (name, text) in &scenario.files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let policy_text = scenarios::place(&scenario.policy, &prefix);
    let policy = TrustPolicy::from_bytes("policy.yaml", dir.path(), policy_text.as_bytes())
        .map_err(|e| format!("the policy does not load: {e}"))?;
    let image = ImageName::parse(&scenarios::place(&scenario.image, &prefix)).unwrap();

    let top = manifest_digest(&image.display, None);
    let mut source = MemorySource {
        name: image.display.clone(),
        digest: (!scenario.missing).then(|| top.clone()),
        ..MemorySource::default()
    };
    if !scenario.platforms.is_empty() {
        source.platforms.insert(
            top.clone(),
            scenario
                .platforms
                .iter()
                .map(|p| PlatformManifest {
                    digest: manifest_digest(&image.display, Some(p)),
                    platform: p.clone(),
                })
                .collect(),
        );
    }
    for spec in &scenario.evidence {
        let digest = manifest_digest(&image.display, spec.platform.as_deref());
        let digest = if spec.platform.is_some() {
            digest
        } else {
            top.clone()
        };
        let key = keys
            .get(spec.by.as_str())
            .ok_or_else(|| format!("no signer {}", spec.by))?;
        add(
            source.evidence.entry(digest.clone()).or_default(),
            spec,
            key,
            &image,
            &digest,
            &prefix,
        );
    }
    if scenario.unreachable {
        source.failure = Some(EvidenceError {
            image: image.display.clone(),
            reason: "cannot connect to registry.test: connection refused".into(),
            input: false,
        });
    }

    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let decision = runtime.block_on(policy.decide(&image, &source, now));
    let json = serde_json::to_value(&decision).unwrap();
    scenario
        .expect
        .check(&json)
        .map_err(|e| format!("{e}\n{json:#}"))?;
    if i32::from(decision.exit_code()) != scenario.expect.exit_code() {
        return Err(format!(
            "exit code {} expected {}",
            decision.exit_code(),
            scenario.expect.exit_code()
        ));
    }
    Ok(())
}

#[test]
fn every_scenario_decides_as_expected_in_memory() {
    let scenarios = scenarios::load();
    assert!(scenarios.len() >= 40, "{} scenarios", scenarios.len());
    let keys: BTreeMap<&str, PrivateKey> = SIGNERS
        .iter()
        .map(|name| (*name, PrivateKey::generate(KeyType::EcdsaP256).unwrap()))
        .collect();
    let failures: Vec<String> = scenarios
        .iter()
        .filter_map(|s| run(s, &keys).err().map(|e| format!("{}: {e}", s.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
}
