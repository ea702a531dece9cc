//! Every scenario of `tests/scenarios/scenarios.yaml`, decided in memory: keys generated for
//! the run, signatures and attestations made with them in the forms cosign and vouch store
//! (tag-layout layers, Sigstore bundle referrers), and keyless ones by in-process Sigstore
//! instances (`vouch_tests::fake_sigstore`), held by a `MemorySource`. The same
//! scenarios run end to end through `vouch verify --policy` in `tests/tests/policy_scenarios.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{add, manifest_digest};
use vouch_keys::{KeyType, PrivateKey};
use vouch_policy::evidence::{MemorySource, PlatformManifest};
use vouch_policy::{EvidenceError, ImageName, TrustPolicy};
use vouch_tests::scenarios::{self, SIGNERS, Scenario, Sigstores};
use vouch_verifier::time::UnixTime;

/// Decides one scenario in memory; the error says what differs from what it expects.
fn run(
    scenario: &Scenario,
    keys: &BTreeMap<&str, PrivateKey>,
    sigstores: &Sigstores,
) -> Result<(), String> {
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
    sigstores.write_roots(dir.path());
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
        add(
            source.evidence.entry(digest.clone()).or_default(),
            spec,
            keys,
            Some(sigstores),
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
    // Every blocking reason says which link it comes from, and the evidence graph marks that
    // link and no other.
    if decision.reason.is_some() != decision.failing.is_some() {
        return Err(format!(
            "reason {:?} with failing link {:?}",
            decision.reason, decision.failing
        ));
    }
    let graph = vouch_policy::explain::EvidenceGraph::new(&decision, &[]);
    let marked: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|n| n.failing)
        .map(|n| n.id.as_str())
        .collect();
    if marked.len() != usize::from(decision.reason.is_some()) {
        return Err(format!("failing nodes {marked:?}\n{json:#}"));
    }
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
    let sigstores = Sigstores::default();
    let failures: Vec<String> = scenarios
        .iter()
        .filter_map(|s| {
            run(s, &keys, &sigstores)
                .err()
                .map(|e| format!("{}: {e}", s.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
}
