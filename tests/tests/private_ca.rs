//! cosign's private-PKI flags end to end: `--ca-roots` (with `--ca-intermediates`) and
//! `--certificate-chain` replace the certificate authorities of the trusted root a keyless
//! signature is checked against, and keep its logs. A keyless signature made by sigstore-js
//! against the mock Sigstore (`vouch_tests::keyless`) is verified with a copy of the mock's
//! trusted root that has no certificate authority and no CT log, and the mock's CA
//! certificate given in a PEM file instead, as an operator of a private CA without CT would.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vouch_tests::keyless::{Keyless, SigstoreMock, push_keyless_signature};
use vouch_tests::{Image, Peer, Registry, Run, push_image, unique, vouch};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn pem(der_base64: &str) -> String {
    let lines: Vec<&str> = der_base64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The files a test passes: the mock's trusted root without certificate authorities or CT
/// logs, and the mock's CA certificates as PEM.
struct Files {
    root_without_cas: PathBuf,
    ca: PathBuf,
}

fn files(mock: &SigstoreMock) -> Files {
    let mut root: Value =
        serde_json::from_slice(&std::fs::read(mock.trusted_root()).unwrap()).unwrap();
    let object = root.as_object_mut().unwrap();
    let authorities = object.remove("certificateAuthorities").unwrap();
    object.remove("ctlogs").unwrap();
    let mut ca = String::new();
    for authority in authorities.as_array().unwrap() {
        for cert in authority["certChain"]["certificates"].as_array().unwrap() {
            ca.push_str(&pem(cert["rawBytes"].as_str().unwrap()));
        }
    }
    assert!(!ca.is_empty());
    let root_without_cas = mock.dir().join("trusted_root_without_cas.json");
    std::fs::write(&root_without_cas, root.to_string()).unwrap();
    let ca_path = mock.dir().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    Files {
        root_without_cas,
        ca: ca_path,
    }
}

/// A self-signed CA of its own (openssl), which issued nothing here.
fn other_ca(dir: &Path) -> PathBuf {
    let cert = dir.join("other-ca.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=other", "-days", "1"])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req -x509 failed");
    cert
}

/// `vouch verify -o json` of `image` as the signer, with the trusted root without CAs and
/// `extra`.
fn verify(image: &Image, root: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "verify",
        "-o",
        "json",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        root.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(&image.tagged);
    vouch(&args)
}

/// The `check` of every rejected signature of the single result of `run`, which exited 1.
fn rejected_checks(run: Run) -> Vec<String> {
    let run = run.expect_code(1);
    let json = run.json();
    let result = &json[0];
    assert_eq!(result["verified"], false, "{result:#}");
    assert_eq!(result["decision"]["allowed"], false, "{result:#}");
    let rejected = result["rejected"].as_array().unwrap();
    assert!(!rejected.is_empty(), "{result:#}");
    rejected
        .iter()
        .map(|r| r["check"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ca_roots_replace_the_trusted_roots_certificate_authorities() {
    let Some(peer) = Peer::SigstoreJs.install() else {
        return;
    };
    let mock = SigstoreMock::start(&peer);
    let registry = Registry::start();
    let image = push_image(&registry, &unique("private-ca"), "v1");
    push_keyless_signature(&peer, &mock, &image, &Keyless::new(IDENTITY, ISSUER));
    let f = files(&mock);
    let root = f.root_without_cas.as_path();
    let ca = f.ca.to_str().unwrap();

    // The mock's CA as --ca-roots: verified; the mock's Rekor, kept from the trusted root,
    // vouches for the signing time.
    let run = verify(&image, root, &["--ca-roots", ca, "--insecure-ignore-sct"]).expect_code(0);
    let result = &run.json()[0];
    assert_eq!(result["verified"], true, "{result:#}");
    assert_eq!(result["signatures"][0]["identity"]["subject"], IDENTITY);
    // The same certificate as a chain of one (the root last): the same.
    verify(
        &image,
        root,
        &["--certificate-chain", ca, "--insecure-ignore-sct"],
    )
    .expect_code(0);

    // The trusted root alone has no certificate authority.
    assert_eq!(
        rejected_checks(verify(&image, root, &["--insecure-ignore-sct"])),
        ["certificate-chain"]
    );
    // A CA that did not issue the certificate.
    let other = other_ca(mock.dir());
    let other = other.to_str().unwrap();
    assert_eq!(
        rejected_checks(verify(
            &image,
            root,
            &["--ca-roots", other, "--insecure-ignore-sct"]
        )),
        ["certificate-chain"]
    );
    // --ca-roots does not imply --insecure-ignore-sct (nor does it in cosign): the root has
    // no CT log, so the certificate's SCT cannot be verified.
    assert_eq!(
        rejected_checks(verify(&image, root, &["--ca-roots", ca])),
        ["certificate-sct"]
    );
    // Several roots: any one that issued the certificate will do.
    let both = mock.dir().join("both.pem");
    std::fs::write(
        &both,
        std::fs::read_to_string(other).unwrap() + &std::fs::read_to_string(ca).unwrap(),
    )
    .unwrap();
    verify(
        &image,
        root,
        &[
            "--ca-roots",
            both.to_str().unwrap(),
            "--insecure-ignore-sct",
        ],
    )
    .expect_code(0);
}

#[test]
fn private_pki_flags_refuse_what_cannot_be_used_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = "registry.invalid/app:v1";
    let cert = other_ca(dir.path());
    let cert = cert.to_str().unwrap();
    let key = dir.path().join("other-ca.key");
    let key = key.to_str().unwrap();
    let keyless = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ];
        args.extend_from_slice(extra);
        args.push(image);
        vouch(&args)
    };

    // Files that do not hold what they must: exit 2, naming the file.
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    for (extra, says) in [
        (vec!["--ca-roots", missing], missing.to_owned()),
        (
            vec!["--ca-roots", key],
            format!("{key}: PEM block 1 is \"PRIVATE KEY\", not CERTIFICATE"),
        ),
        (
            vec!["--ca-roots", cert, "--ca-intermediates", missing],
            missing.to_owned(),
        ),
        (
            vec!["--certificate-chain", key],
            format!("{key}: PEM block 1 is \"PRIVATE KEY\", not CERTIFICATE"),
        ),
    ] {
        let run = keyless(&extra).expect_code(2);
        assert!(run.stderr.contains(&says), "{says:?}:\n{run:#?}");
    }
    // cosign's exclusions: --ca-roots or --certificate-chain, not both; --ca-intermediates
    // with --ca-roots; neither with --key.
    for extra in [
        vec!["--ca-roots", cert, "--certificate-chain", cert],
        vec!["--ca-intermediates", cert],
    ] {
        keyless(&extra).expect_code(2);
    }
    vouch(&["verify", "--key", cert, "--ca-roots", cert, image]).expect_code(2);
}
