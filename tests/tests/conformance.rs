//! The sigstore-conformance cases (copied in `verifier/tests/data/conformance`, origin in its
//! README) through `tests/conformance/vouch-conformance`, the suite's own command line, by the
//! artifact's path and by its digest. The others must exit 0; a `_fail` case must exit 1,
//! naming the check `expected-checks.tsv` (beside the cases) gives for it, or 2 when that check
//! is about input the command refuses to read (a malformed bundle, an unusable key).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use vouch_tests::{Run, sha256_hex, vouch_bin};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn entrypoint(args: &[String]) -> Run {
    let output = Command::new(workspace().join("tests/conformance/vouch-conformance"))
        .args(args)
        .env("VOUCH_BIN", vouch_bin())
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn text(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The suite's command line for one case, with `subject` (a path or a digest) last.
fn arguments(dir: &Path, subject: String) -> Vec<String> {
    let mut args = vec![
        "verify-bundle".to_owned(),
        "--bundle".into(),
        dir.join("bundle.sigstore.json").display().to_string(),
    ];
    if dir.join("key.pub").exists() {
        args.extend(["--key".into(), dir.join("key.pub").display().to_string()]);
    } else {
        args.extend([
            "--certificate-identity".into(),
            text(dir, "identity").unwrap_or(DEFAULT_IDENTITY.into()),
            "--certificate-oidc-issuer".into(),
            text(dir, "issuer").unwrap_or(DEFAULT_ISSUER.into()),
        ]);
    }
    if dir.join("trusted_root.json").exists() {
        args.extend([
            "--trusted-root".into(),
            dir.join("trusted_root.json").display().to_string(),
        ]);
    }
    args.push(subject);
    args
}

/// The expected check of every `_fail` case, by name (`expected-checks.tsv`: case, check,
/// reason; `#` comments).
fn expected_checks(cases_dir: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(cases_dir.join("expected-checks.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut columns = line.split('\t');
            let case = columns.next().unwrap().to_owned();
            let check = columns
                .next()
                .unwrap_or_else(|| panic!("{line:?}"))
                .to_owned();
            (case, check)
        })
        .collect()
}

#[test]
fn every_case_passes_through_the_conformance_entrypoint() {
    let cases_dir = workspace().join("verifier/tests/data/conformance");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&cases_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("bundle.sigstore.json").exists())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 50);
    let expected = expected_checks(&cases_dir);
    let mut wrong = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let artifact = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            cases_dir.join("a.txt")
        };
        let digest = format!("sha256:{}", sha256_hex(&fs::read(&artifact).unwrap()));
        for subject in [artifact.display().to_string(), digest] {
            let run = entrypoint(&arguments(dir, subject.clone()));
            let must_fail = name.ends_with("_fail");
            let ok = match expected.get(&name) {
                None => !must_fail && run.code == 0,
                // Denied by the expected check, which the message names.
                Some(check) if run.code == 1 => run.stderr.contains(&format!("[{check}]")),
                // Refused as unreadable input: only a document or key that does not read.
                Some(check) => {
                    run.code == 2
                        && ["bundle-format", "verification-material"].contains(&check.as_str())
                }
            };
            if !ok {
                wrong.push(format!(
                    "{name} ({subject}): exit {}\n{}",
                    run.code, run.stderr
                ));
            }
            assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_denial_names_the_failed_check_in_json() {
    let cases_dir = workspace().join("verifier/tests/data/conformance");
    let dir = cases_dir.join("rekor2-timestamp-payload-mismatch_fail");
    let mut args = arguments(&dir, cases_dir.join("a.txt").display().to_string());
    args.push("--output".into());
    args.push("json".into());
    let run = entrypoint(&args).expect_code(1);
    let report = run.json();
    assert_eq!(report["verified"], false);
    assert_eq!(report["check"], "rfc3161-timestamp");
    assert!(report["reason"].as_str().unwrap().contains("imprint"));
}

#[test]
fn github_workflow_claims_are_checked_against_the_certificate() {
    // The happy-path-v0.1 certificate records workflow_dispatch on refs/heads/main of
    // sigstore-conformance/extremely-dangerous-public-oidc-beacon (Fulcio's .1.2 to .1.6).
    let case = workspace().join("verifier/tests/data/conformance/happy-path-v0.1");
    let artifact = workspace().join("verifier/tests/data/conformance/a.txt");
    let bundle = case.join("bundle.sigstore.json");
    let verify = |claims: &[&str]| {
        let mut args = vec![
            "verify-blob",
            "--bundle",
            bundle.to_str().unwrap(),
            "--certificate-identity",
            DEFAULT_IDENTITY,
            "--certificate-oidc-issuer",
            DEFAULT_ISSUER,
            "-o",
            "json",
        ];
        args.extend_from_slice(claims);
        args.push(artifact.to_str().unwrap());
        vouch_tests::vouch(&args)
    };
    verify(&[
        "--certificate-github-workflow-trigger",
        "workflow_dispatch",
        "--certificate-github-workflow-repository",
        "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
        "--certificate-github-workflow-ref",
        "refs/heads/main",
        "--certificate-github-workflow-name",
        "Extremely dangerous OIDC beacon",
        "--certificate-github-workflow-sha",
        "af785b6d3b0fa0c0aa1305faee7ce6036e8d90c4",
    ])
    .expect_code(0);
    let wrong = verify(&["--certificate-github-workflow-trigger", "push"]).expect_code(1);
    assert_eq!(wrong.json()["check"], "certificate-identity", "{wrong:#?}");
    assert!(
        wrong.json()["reason"]
            .as_str()
            .unwrap()
            .contains("github-workflow-trigger"),
        "{wrong:#?}"
    );
    // Claims are for certificates: with --key they are refused as a usage error.
    let key = workspace().join("verifier/tests/data/conformance/managed-key-happy-path/key.pub");
    let run = vouch_tests::vouch(&[
        "verify",
        "--key",
        key.to_str().unwrap(),
        "--certificate-github-workflow-trigger",
        "push",
        "registry.example/app:v1",
    ])
    .expect_code(2);
    assert!(run.stderr.contains("keyless"), "{run:#?}");
}
