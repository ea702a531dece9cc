//! Every trust-policy scenario of `policy/tests/scenarios/scenarios.yaml`, end to end: the
//! image pushed to the registry (an index of two platforms where the scenario says so), its
//! signatures and attestations made with `vouch sign` and `vouch attest` (cosign's tag layout,
//! or Sigstore bundle referrers), keyless ones made by in-process Sigstore instances
//! (`vouch_tests::fake_sigstore`) and pushed as cosign and `actions/attest` push them, and the
//! decision asked of `vouch verify --policy`, whose exit
//! code and JSON decision must be the scenario's. `vouch-policy` runs the same scenarios in
//! memory.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use vouch_tests::scenarios::{self, EvidenceSpec, SIGNERS, Scenario, Sigstores, push_keyless};
use vouch_tests::{
    KeyPair, Peer, Registry, generate_key, push_index, skopeo_push, umoci_image, vouch,
    vouch_with_password, workspace_dir,
};

/// Splits `ADDR/REPO:TAG` into `REPO` and `TAG`.
fn repo_and_tag<'a>(image: &'a str, addr: &str) -> (&'a str, &'a str) {
    let rest = image
        .strip_prefix(addr)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{image} is not on {addr}"));
    rest.rsplit_once(':').unwrap_or((rest, "latest"))
}

/// Makes one piece of evidence with the vouch CLI.
fn make(spec: &EvidenceSpec, key: &KeyPair, target: &str, prefix: &str, dir: &Path) {
    let mut args: Vec<String> = Vec::new();
    let key_path = key.key.to_str().unwrap().to_owned();
    if spec.is_attestation() {
        let predicate = dir.join(format!("predicate-{}.json", vouch_tests::unique("p")));
        std::fs::write(
            &predicate,
            serde_json::to_vec(&spec.predicate.clone().unwrap_or_default()).unwrap(),
        )
        .unwrap();
        args.extend([
            "attest".into(),
            "--key".into(),
            key_path,
            "--type".into(),
            spec.predicate_type.clone().unwrap(),
            "--predicate".into(),
            predicate.to_str().unwrap().into(),
        ]);
    } else {
        args.extend(["sign".into(), "--key".into(), key_path]);
        for (k, v) in &spec.annotations {
            args.extend(["-a".into(), format!("{k}={v}")]);
        }
        if let Some(name) = &spec.signed_for {
            args.extend([
                "--sign-container-identity".into(),
                scenarios::place(name, prefix),
            ]);
        }
    }
    if spec.in_bundle() {
        args.extend(["--bundle-format".into(), "v3".into()]);
    }
    args.push(target.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    vouch_with_password(&key.password, &args).expect_code(0);
}

/// Runs one scenario on `registry`, giving its decision; the error says what differs.
fn run(
    scenario: &Scenario,
    registry: &Registry,
    keys: &BTreeMap<&str, KeyPair>,
    sigstores: &Sigstores,
    base: &Path,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().unwrap();
    // An unreachable registry: a port nothing listens on.
    let addr = if scenario.unreachable {
        "127.0.0.1:1".to_owned()
    } else {
        registry.addr.clone()
    };
    let prefix = format!("{addr}/{}", scenario.name);
    let image = scenarios::place(&scenario.image, &prefix);
    let (repo, tag) = repo_and_tag(&image, &addr);

    let mut digests: BTreeMap<Option<String>, String> = BTreeMap::new();
    if !scenario.unreachable && !scenario.missing {
        if scenario.platforms.is_empty() {
            if tag != "v1" {
                return Err(format!("scenario images are tagged v1, not {tag}"));
            }
            digests.insert(None, skopeo_push(base, "v1", registry, repo).digest);
        } else {
            let (index, children) = push_index(registry, repo, tag);
            digests.insert(None, index.digest);
            for (platform, digest) in ["linux/amd64", "linux/arm64"].iter().zip(children) {
                digests.insert(Some((*platform).to_owned()), digest);
            }
        }
        for spec in &scenario.evidence {
            let digest = digests
                .get(&spec.platform)
                .ok_or_else(|| format!("no manifest for platform {:?}", spec.platform))?;
            let target = format!("{addr}/{repo}@{digest}");
            match &spec.by {
                Some(by) => make(spec, &keys[by.as_str()], &target, &prefix, dir.path()),
                None => push_keyless(spec, sigstores, &target, &prefix),
            }
        }
    }

    std::fs::create_dir(dir.path().join("keys")).unwrap();
    for (name, key) in keys {
        std::fs::copy(&key.public, dir.path().join(format!("keys/{name}.pub"))).unwrap();
    }
    sigstores.write_roots(dir.path());
    for (name, text) in &scenario.files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, scenarios::place(&scenario.policy, &prefix)).unwrap();
    let run = vouch(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "--registry-attempts",
        "1",
        "-o",
        "json",
        &image,
    ]);
    if run.code != scenario.expect.exit_code() {
        return Err(format!(
            "exit code {}, expected {}\n{run:#?}",
            run.code,
            scenario.expect.exit_code()
        ));
    }
    let decision = run.json()[0]["decision"].clone();
    scenario
        .expect
        .check(&decision)
        .map_err(|e| format!("{e}\n{decision:#}"))?;
    Ok(decision)
}

/// Validates every decision against `policy/decision.schema.json` with Python's `jsonschema`
/// (the validator the SBOM tests install).
fn validate_against_the_schema(decisions: &[serde_json::Value]) {
    let Some(validators) = Peer::SbomValidators.install() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.json");
    std::fs::write(&file, serde_json::to_vec(decisions).unwrap()).unwrap();
    let schema = workspace_dir().join("policy/decision.schema.json");
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        validator = jsonschema.Draft202012Validator(schema)\n\
        bad = [(i, e.message, list(e.absolute_path)) for i, d in enumerate(json.load(open(sys.argv[2]))) for e in validator.iter_errors(d)]\n\
        print(bad)\n\
        sys.exit(1 if bad else 0)\n";
    let run = validators.run(&[
        "-c",
        script,
        schema.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        run.code, 0,
        "decisions that do not fit the schema: {run:#?}"
    );
}

#[test]
fn every_scenario_decides_as_expected_through_verify_policy() {
    let registry = Registry::start();
    let keys_dir = tempfile::tempdir().unwrap();
    let keys: BTreeMap<&str, KeyPair> = SIGNERS
        .iter()
        .map(|name| (*name, generate_key(keys_dir.path(), name, "ecdsa-p256")))
        .collect();
    // One small image, pushed under each scenario's own name.
    let layout = keys_dir.path().join("layout");
    umoci_image(&layout, "v1", "amd64");

    let sigstores = Sigstores::default();
    let scenarios = scenarios::load();
    assert!(scenarios.len() >= 40, "{} scenarios", scenarios.len());
    let mut decisions = Vec::new();
    let mut failures = Vec::new();
    for scenario in &scenarios {
        match run(scenario, &registry, &keys, &sigstores, &layout) {
            Ok(decision) => decisions.push(decision),
            Err(e) => failures.push(format!("{}: {e}", scenario.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
    validate_against_the_schema(&decisions);
}
