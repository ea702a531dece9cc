//! Every sigstore-conformance case in `tests/data/conformance` through the library, by the
//! artifact's bytes and by its digest: `_fail` cases must be refused, every other verified.
//! (The same cases also run through the `vouch` binary in the workspace's `tests/`.)
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use vouch_keys::{Digest, PublicKey};
use vouch_verifier::VerifyError;
use vouch_verifier::bundle::Bundle;
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
        }),
    };
    Verifier::new(root)?.verify(
        &bundle,
        artifact,
        &policy,
        Options::at(UnixTime::from_system_time(std::time::SystemTime::now())),
    )
}

#[test]
fn every_conformance_case_gives_its_expected_outcome() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in fs::read_dir(root_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("bundle.sigstore.json").exists() {
            continue;
        }
        cases += 1;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let must_fail = name.ends_with("_fail");
        for by_digest in [false, true] {
            let how = if by_digest { "digest" } else { "path" };
            match (run(&dir, by_digest), must_fail) {
                (Ok(_), false) | (Err(_), true) => {}
                (Ok(_), true) => failures.push(format!("{name} ({how}): accepted")),
                (Err(e), false) => failures.push(format!("{name} ({how}): refused: {e}")),
            }
        }
    }
    assert_eq!(cases, 50);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Prints why each `_fail` case is refused (`cargo test -- --nocapture --ignored`), to review
/// that every refusal names the check the case is about.
#[test]
#[ignore = "a report, not a check"]
fn print_refusals() {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("bundle.sigstore.json").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if let Err(e) = run(&dir, false) {
            println!("{name}: {e}");
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
