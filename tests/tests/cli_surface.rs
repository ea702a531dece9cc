//! What the command line itself says and refuses, before any work: help texts that match what
//! the commands do, and option values that could only fail later.
#![allow(clippy::unwrap_used)]

use vouch_tests::vouch;

#[test]
fn attest_help_names_the_attestation_tag() {
    let help = vouch(&["attest", "--help"]).expect_code(0).stdout;
    let legacy = help
        .lines()
        .find(|l| l.contains("legacy"))
        .unwrap_or_else(|| panic!("no legacy format in:\n{help}"));
    assert!(
        help.contains("sha256-<hex>.att"),
        "attest --help must say attestations go to .att:\n{help}"
    );
    assert!(!legacy.ends_with("(`sha256-<hex>.sig`)"), "{legacy}");
}

#[test]
fn a_registry_timeout_of_zero_is_refused_before_anything_is_fetched() {
    for value in ["0", "3601"] {
        let run = vouch(&[
            "verify",
            "--key",
            "/nonexistent.pub",
            "--registry-timeout",
            value,
            "127.0.0.1:1/app:v1",
        ])
        .expect_code(2);
        assert!(run.stderr.contains("--registry-timeout"), "{run:#?}");
        assert!(run.stderr.contains(value), "{run:#?}");
    }
}
