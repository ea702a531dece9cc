//! One vocabulary of checks across commands: the same failure is named by the same `check`
//! in the `--output json` of `verify`, `verify-attestation` and `verify-blob`, whichever form
//! the evidence takes (cosign's tag layout, a Sigstore bundle referrer, a bundle file). Here
//! the failure is a signature checked with another key than the one that made it: everything
//! is signed with one key and verified with another, against a real registry.
#![allow(clippy::unwrap_used)]

use std::fs;

use vouch_tests::{Registry, generate_key, push_image, unique, vouch, vouch_with_password};

/// Every `check` of the rejected entries of a `verify` or `verify-attestation` report.
fn rejected_checks(report: &serde_json::Value) -> Vec<String> {
    report["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("no rejected list: {report:#}"))
        .iter()
        .map(|r| r["check"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_signature_by_another_key_is_artifact_signature_everywhere() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let signer = generate_key(dir.path(), "signer", "ecdsa-p256");
    let other = generate_key(dir.path(), "other", "ecdsa-p256");
    let key = signer.key.to_str().unwrap();
    let other_public = other.public.to_str().unwrap();
    let predicate = dir.path().join("predicate.json");
    fs::write(&predicate, br#"{"passed":true}"#).unwrap();
    let predicate = predicate.to_str().unwrap();

    // One image signed and attested in cosign's tag layout, one with v3 bundle referrers.
    for (format, repo) in [
        ("legacy", unique("checks-tags")),
        ("v3", unique("checks-v3")),
    ] {
        let image = push_image(&registry, &repo, "v1");
        let image = image.tagged.as_str();
        let sign = ["sign", "--key", key, "--bundle-format", format, image];
        vouch_with_password(&signer.password, &sign).expect_code(0);
        let attest = [
            "attest",
            "--key",
            key,
            "--bundle-format",
            format,
            "--predicate",
            predicate,
            "--type",
            "https://example.com/TestResult/v1",
            image,
        ];
        vouch_with_password(&signer.password, &attest).expect_code(0);

        let verify = vouch(&["verify", "--key", other_public, "-o", "json", image]).expect_code(1);
        assert_eq!(
            rejected_checks(&verify.json()[0]),
            ["artifact-signature"],
            "verify, {format}: {}",
            verify.stdout
        );
        let attestations = vouch(&[
            "verify-attestation",
            "--key",
            other_public,
            "-o",
            "json",
            image,
        ])
        .expect_code(1);
        assert_eq!(
            rejected_checks(&attestations.json()),
            ["artifact-signature"],
            "verify-attestation, {format}: {}",
            attestations.stdout
        );
    }

    // A blob bundle, message signature and DSSE.
    let artifact = dir.path().join("artifact.txt");
    fs::write(&artifact, b"release\n").unwrap();
    let artifact = artifact.to_str().unwrap();
    let signed = dir.path().join("signed.sigstore.json");
    let signed = signed.to_str().unwrap();
    let sign = ["sign-blob", "--key", key, "--bundle", signed, artifact];
    vouch_with_password(&signer.password, &sign).expect_code(0);
    let attested = dir.path().join("attested.sigstore.json");
    let attested = attested.to_str().unwrap();
    let attest = [
        "attest-blob",
        "--key",
        key,
        "--predicate",
        predicate,
        "--type",
        "https://example.com/TestResult/v1",
        "--bundle",
        attested,
        artifact,
    ];
    vouch_with_password(&signer.password, &attest).expect_code(0);
    for bundle in [signed, attested] {
        let run = vouch(&[
            "verify-blob",
            "--key",
            other_public,
            "--insecure-ignore-tlog",
            "--bundle",
            bundle,
            "-o",
            "json",
            artifact,
        ])
        .expect_code(1);
        assert_eq!(run.json()["check"], "artifact-signature", "{}", run.stdout);
    }
}
