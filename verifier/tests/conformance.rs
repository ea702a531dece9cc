//! Every sigstore-conformance case in `tests/data/conformance` through the library, by the
//! artifact's bytes and by its digest: every other case verified, and each `_fail` case refused
//! by the check `tests/data/conformance/expected-checks.tsv` names for it (so a case refused
//! for the wrong reason fails too).
//! (The same cases also run through the `vouch` binary in the workspace's `tests/`.)
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use vouch_keys::{Digest, PublicKey};

use vouch_verifier::VerifyError;
use vouch_verifier::bundle::Bundle;
use vouch_verifier::check::Check;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{Artifact, BundleVerification, Options, Policy, Verifier};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance")
}

fn read_text(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Runs one case; `by_digest` verifies with the artifact's digest instead of its bytes.
fn run(dir: &Path, by_digest: bool) -> Result<BundleVerification, VerifyError> {
    let bundle = Bundle::from_json(&fs::read(dir.join("bundle.sigstore.json")).unwrap())?;
    let root_file = dir.join("trusted_root.json");
    let owned;
    let root = if root_file.exists() {
        owned = TrustedRoot::from_json(&fs::read(root_file).unwrap())?;
        &owned
    } else {
        TrustedRoot::public_good()?
    };
    let artifact_file = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        root_dir().join("a.txt")
    };
    let bytes = fs::read(artifact_file).unwrap();
    let digest = Digest::sha256(&bytes);
    let artifact = if by_digest {
        Artifact::Digest(&digest)
    } else {
        Artifact::Bytes(&bytes)
    };
    let policy = match read_text(dir, "key.pub") {
        // An unreadable key (managed-key-wrong-key_fail has one) is a refusal too.
        Some(pem) => {
            Policy::Key(
                PublicKey::from_pem(&pem).map_err(|e| VerifyError::PolicyInvalid {
                    reason: e.to_string(),
                })?,
            )
        }
        None => Policy::Identity(CertificateIdentity {
            subject: Matcher::Exact(read_text(dir, "identity").unwrap_or(DEFAULT_IDENTITY.into())),
            issuer: Matcher::Exact(read_text(dir, "issuer").unwrap_or(DEFAULT_ISSUER.into())),
            claims: Vec::new(),
        }),
    };
    Verifier::new(root)?.verify(
        &bundle,
        artifact,
        &policy,
        Options::at(UnixTime::from_system_time(std::time::SystemTime::now())),
    )
}

/// The expected check of every `_fail` case, from `expected-checks.tsv`.
fn expected_checks() -> BTreeMap<String, Check> {
    let table = fs::read_to_string(root_dir().join("expected-checks.tsv")).unwrap();
    let mut expected = BTreeMap::new();
    for line in table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut columns = line.split('\t');
        let (Some(case), Some(check), Some(reason)) =
            (columns.next(), columns.next(), columns.next())
        else {
            panic!("expected-checks.tsv: not case, check, reason: {line:?}");
        };
        assert!(!reason.is_empty(), "{case}: no reason given");
        let check = check.parse().unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            expected.insert(case.to_owned(), check).is_none(),
            "{case} twice"
        );
    }
    expected
}

/// Every case's folder, in name order.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("bundle.sigstore.json").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Every case's outcome, by path and by digest: the check that refused it, or `None`.
fn outcomes() -> Vec<(String, &'static str, Option<Check>, String)> {
    let mut outcomes = Vec::new();
    for dir in case_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (by_digest, how) in [(false, "path"), (true, "digest")] {
            let (check, message) = match run(&dir, by_digest) {
                Ok(_) => (None, String::new()),
                Err(e) => (Some(e.check()), e.to_string()),
            };
            outcomes.push((name.clone(), how, check, message));
        }
    }
    outcomes
}

/// What differs between `outcomes` and `expected`: a case accepted that must fail, refused
/// that must verify, or refused by another check than its expected one.
fn mismatches(
    outcomes: &[(String, &'static str, Option<Check>, String)],
    expected: &BTreeMap<String, Check>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, how, check, message) in outcomes {
        match (expected.get(name), check) {
            (None, None) => {}
            (None, Some(check)) => {
                wrong.push(format!("{name} ({how}): refused [{check}] {message}"))
            }
            (Some(want), None) => {
                wrong.push(format!("{name} ({how}): accepted; [{want}] must refuse it"))
            }
            (Some(want), Some(check)) if want != check => wrong.push(format!(
                "{name} ({how}): refused by [{check}], not by [{want}]: {message}"
            )),
            (Some(_), Some(_)) => {}
        }
    }
    wrong
}

#[test]
fn every_conformance_case_gives_its_expected_outcome() {
    let expected = expected_checks();
    let outcomes = outcomes();
    assert_eq!(outcomes.len(), 2 * 50);
    let fail_cases: Vec<&String> = outcomes
        .iter()
        .map(|(name, ..)| name)
        .filter(|name| name.ends_with("_fail"))
        .collect();
    for name in &fail_cases {
        assert!(expected.contains_key(*name), "{name} has no expected check");
    }
    for name in expected.keys() {
        assert!(
            fail_cases.contains(&name),
            "{name} is not a _fail case here"
        );
    }
    let wrong = mismatches(&outcomes, &expected);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The table is load-bearing: flipping any one case's expected check to any other check is
/// caught.
#[test]
fn flipping_any_expected_check_is_caught() {
    let expected = expected_checks();
    let outcomes = outcomes();
    for (case, check) in &expected {
        for other in Check::ALL.into_iter().filter(|c| c != check) {
            let mut flipped = expected.clone();
            flipped.insert(case.clone(), other);
            let wrong = mismatches(&outcomes, &flipped);
            assert_eq!(wrong.len(), 2, "{case} flipped to {other}: {wrong:?}");
        }
    }
}

#[test]
fn every_readable_bundle_survives_a_write_and_read() {
    for entry in fs::read_dir(root_dir()).unwrap() {
        let path = entry.unwrap().path().join("bundle.sigstore.json");
        let Ok(bytes) = fs::read(&path) else { continue };
        let Ok(bundle) = Bundle::from_json(&bytes) else {
            continue;
        };
        let again = Bundle::from_json(&bundle.to_json())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(again, bundle, "{}", path.display());
    }
}
