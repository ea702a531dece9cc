//! cosign users' scripts keep working: the flags cosign scripts commonly pass are accepted
//! with cosign's meaning where vouch does the same, and refused by name where it does not.
#![allow(clippy::unwrap_used)]

use std::fs;

use vouch_tests::{Run, generate_key, one_layer_layout, vouch, vouch_command, vouch_with_password};

fn with_cosign_password(password: &str, args: &[&str]) -> Run {
    Run::from(
        vouch_command(args)
            .env("COSIGN_PASSWORD", password)
            .output()
            .unwrap(),
    )
}

#[test]
fn cosign_signing_and_verification_flags_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("layout");
    one_layer_layout(&layout, "application/vnd.oci.image.layer.v1.tar", b"");
    let image = format!("oci:{}:v1", layout.display());
    let local = format!("{}:v1", layout.display());
    let key = generate_key(d, "k", "ecdsa-p256");
    let (key_file, public) = (key.key.to_str().unwrap(), key.public.to_str().unwrap());
    let predicate = d.join("predicate.json");
    fs::write(&predicate, br#"{"passed":true}"#).unwrap();

    // Asking for a transparency-log upload vouch does not make: refused, nothing signed.
    let refused = vouch_with_password(
        &key.password,
        &[
            "sign",
            "-y",
            "--tlog-upload=true",
            "--key",
            key_file,
            &image,
        ],
    )
    .expect_code(2);
    assert!(
        refused.stderr.contains("--tlog-upload=true"),
        "{refused:#?}"
    );
    vouch(&["verify", "--key", public, &image]).expect_code(1);

    let sign = [
        "sign",
        "-y",
        "--tlog-upload=false",
        "--key",
        key_file,
        &image,
    ];
    vouch_with_password(&key.password, &sign).expect_code(0);
    let attest = [
        "attest",
        "-y",
        "--tlog-upload=false",
        "--key",
        key_file,
        "--predicate",
        predicate.to_str().unwrap(),
        "--type",
        "https://example.com/TestResult/v1",
        &image,
    ];
    vouch_with_password(&key.password, &attest).expect_code(0);

    // --local-image takes the layout's path; --insecure-ignore-tlog changes nothing for keys.
    let verify = [
        "verify",
        "--insecure-ignore-tlog",
        "--local-image",
        "--key",
        public,
        &local,
    ];
    vouch(&verify).expect_code(0);
    let attestations = [
        "verify-attestation",
        "--insecure-ignore-tlog",
        "--local-image",
        "--key",
        public,
        &local,
    ];
    vouch(&attestations).expect_code(0);

    // triangulate --type, as cosign's.
    let digest = vouch(&["triangulate", "--type", "digest", &image]).expect_code(0);
    let digest = digest.stdout.trim().rsplit('@').next().unwrap().to_owned();
    let tag = digest.replace(':', "-");
    for (kind, suffix) in [
        ("signature", "sig"),
        ("attestation", "att"),
        ("sbom", "sbom"),
    ] {
        let run = vouch(&["triangulate", "--type", kind, &image]).expect_code(0);
        assert!(
            run.stdout.trim().ends_with(&format!(":{tag}.{suffix}")),
            "{kind}: {run:#?}"
        );
    }
    let json = vouch(&["triangulate", "--type", "attestation", "-o", "json", &image])
        .expect_code(0)
        .json();
    assert_eq!(json["type"], "attestation");
    assert_eq!(json["digest"], digest.as_str());
}

#[test]
fn cosign_password_empty_makes_and_reads_a_passwordless_key_as_cosign_does() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("nopass");
    let made = with_cosign_password(
        "",
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    assert!(made.stderr.contains("without a password"), "{made:#?}");
    let key = prefix.with_extension("key");
    with_cosign_password("", &["public-key", "--key", key.to_str().unwrap()]).expect_code(0);
    // vouch's own variable keeps asking for the flag.
    vouch_with_password("", &["public-key", "--key", key.to_str().unwrap()]).expect_code(2);
}

#[test]
fn keys_come_from_the_environment_with_env_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("layout");
    one_layer_layout(&layout, "application/vnd.oci.image.layer.v1.tar", b"");
    let image = format!("oci:{}:v1", layout.display());
    let key = generate_key(d, "k", "ecdsa-p256");
    let private = fs::read_to_string(&key.key).unwrap();
    let public = fs::read_to_string(&key.public).unwrap();

    let signed = vouch_command(&["sign", "--key", "env://SIGNING_KEY", &image])
        .env("SIGNING_KEY", &private)
        .env("VOUCH_PASSWORD", &key.password)
        .output()
        .unwrap();
    assert!(signed.status.success(), "{signed:#?}");
    let verified = vouch_command(&["verify", "--key", "env://VERIFY_KEY", &image])
        .env("VERIFY_KEY", &public)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:#?}");

    // Unset: named. Not a key: refused without echoing what the variable holds.
    let unset = vouch(&["verify", "--key", "env://NO_SUCH_KEY_VARIABLE", &image]).expect_code(2);
    assert!(unset.stderr.contains("NO_SUCH_KEY_VARIABLE"), "{unset:#?}");
    let junk = Run::from(
        vouch_command(&["verify", "--key", "env://VERIFY_KEY", &image])
            .env("VERIFY_KEY", "not-a-key-but-a-secret-4711")
            .output()
            .unwrap(),
    )
    .expect_code(2);
    assert!(junk.stderr.contains("env://VERIFY_KEY"), "{junk:#?}");
    assert!(!junk.stderr.contains("secret-4711"), "{junk:#?}");
}

#[test]
fn openvex_and_link_are_predicate_type_shorthands_as_in_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("layout");
    one_layer_layout(&layout, "application/vnd.oci.image.layer.v1.tar", b"");
    let image = format!("oci:{}:v1", layout.display());
    let key = generate_key(d, "k", "ecdsa-p256");
    let predicate = d.join("vex.json");
    fs::write(
        &predicate,
        br#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}"#,
    )
    .unwrap();
    for (short, uri) in [
        ("openvex", "https://openvex.dev/ns"),
        ("link", "https://in-toto.io/Link/v1"),
    ] {
        let attest = [
            "attest",
            "--key",
            key.key.to_str().unwrap(),
            "--predicate",
            predicate.to_str().unwrap(),
            "--type",
            short,
            &image,
        ];
        vouch_with_password(&key.password, &attest).expect_code(0);
        let report = vouch(&[
            "verify-attestation",
            "--key",
            key.public.to_str().unwrap(),
            "--type",
            short,
            "-o",
            "json",
            &image,
        ])
        .expect_code(0)
        .json();
        assert_eq!(report["predicate_type"], uri, "{report:#}");
        assert_eq!(
            report["attestations"][0]["predicate_type"], uri,
            "{report:#}"
        );
    }
}

#[test]
fn a_policy_needs_a_type_and_summary_leaves_out_the_predicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("layout");
    one_layer_layout(&layout, "application/vnd.oci.image.layer.v1.tar", b"");
    let image = format!("oci:{}:v1", layout.display());
    let key = generate_key(d, "k", "ecdsa-p256");
    let public = key.public.to_str().unwrap();
    let predicate = d.join("result.json");
    fs::write(
        &predicate,
        br#"{"passed":true,"marker":"predicate-body-4711"}"#,
    )
    .unwrap();
    let policy = d.join("policy.rego");
    fs::write(
        &policy,
        "package signature\nimport rego.v1\nallow if input.predicate.passed\n",
    )
    .unwrap();
    let attest = [
        "attest",
        "--key",
        key.key.to_str().unwrap(),
        "--predicate",
        predicate.to_str().unwrap(),
        "--type",
        "custom",
        &image,
    ];
    vouch_with_password(&key.password, &attest).expect_code(0);

    // A policy judges one predicate type: without --type it is refused before any work.
    let policy = policy.to_str().unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify-attestation", "--key", public, "--policy", policy];
        args.extend_from_slice(extra);
        args.push(&image);
        vouch(&args)
    };
    let run = verify(&[]).expect_code(2);
    assert!(run.stderr.contains("--type"), "{run:#?}");
    let full = verify(&["--type", "custom"]).expect_code(0);
    assert!(full.stdout.contains("predicate-body-4711"), "{full:#?}");
    let summary = verify(&["--type", "custom", "--summary"]).expect_code(0);
    assert!(summary.stdout.contains("policy allows"), "{summary:#?}");
    assert!(
        !summary.stdout.contains("predicate-body-4711"),
        "{summary:#?}"
    );
    assert_eq!(summary.stdout.lines().count(), 2, "{summary:#?}");
}

#[test]
fn verify_blob_attestation_checks_the_bundle_is_an_attestation_of_the_type_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = d.join("release.tar");
    fs::write(&artifact, b"a release\n").unwrap();
    let artifact = artifact.to_str().unwrap();
    let key = generate_key(d, "k", "ecdsa-p256");
    let (key_file, public) = (key.key.to_str().unwrap(), key.public.to_str().unwrap());
    let predicate = d.join("p.json");
    fs::write(&predicate, br#"{"passed":true}"#).unwrap();
    let attested = d.join("att.sigstore.json");
    let signed = d.join("sig.sigstore.json");
    let attest = [
        "attest-blob",
        "--key",
        key_file,
        "--predicate",
        predicate.to_str().unwrap(),
        "--type",
        "openvex",
        "--bundle",
        attested.to_str().unwrap(),
        artifact,
    ];
    vouch_with_password(&key.password, &attest).expect_code(0);
    let sign = [
        "sign-blob",
        "--key",
        key_file,
        "--bundle",
        signed.to_str().unwrap(),
        artifact,
    ];
    vouch_with_password(&key.password, &sign).expect_code(0);

    let verify = |bundle: &std::path::Path, kind: Option<&str>| {
        let mut args = vec![
            "verify-blob-attestation",
            "--key",
            public,
            "--insecure-ignore-tlog",
        ];
        if let Some(kind) = kind {
            args.extend(["--type", kind]);
        }
        args.extend(["--bundle", bundle.to_str().unwrap(), "-o", "json", artifact]);
        vouch(&args)
    };
    verify(&attested, Some("openvex")).expect_code(0);
    verify(&attested, Some("https://openvex.dev/ns")).expect_code(0);
    verify(&attested, None).expect_code(0);
    let wrong = verify(&attested, Some("slsaprovenance1")).expect_code(1);
    assert_eq!(wrong.json()["check"], "predicate-type", "{wrong:#?}");
    let not_attestation = verify(&signed, None).expect_code(1);
    assert_eq!(
        not_attestation.json()["check"],
        "statement",
        "{not_attestation:#?}"
    );
}
