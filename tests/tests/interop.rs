//! Interop with an independent cosign implementation (sigstore-rs's `cosign` module, driven by
//! the `sigstore-peer` binary) through a real registry, in both directions, for every key type
//! both support.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use vouch_tests::{Registry, Run, generate_key, push_image, signature_manifest, unique, vouch};

const ALGORITHMS: [&str; 3] = ["ecdsa-p256", "ecdsa-p384", "ed25519"];

fn peer(args: &[&str], password: Option<&str>) -> Run {
    vouch_tests::peer_ran("sigstore-rs");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sigstore-peer"));
    command.args(args);
    if let Some(password) = password {
        command.env("COSIGN_PASSWORD", password);
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn sigstore_rs_signs_with_a_vouch_key_and_vouch_verifies() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ALGORITHMS {
        let key = generate_key(dir.path(), algorithm, algorithm);
        let image = push_image(&registry, &unique("interop-peer-signs"), "v1");
        peer(
            &[
                "sign",
                "--key",
                key.key.to_str().unwrap(),
                &image.tagged,
                "-a",
                "signed-by=sigstore-rs",
            ],
            Some(&key.password),
        )
        .expect_code(0);

        let run = vouch(&[
            "verify",
            "--key",
            key.public.to_str().unwrap(),
            "-a",
            "signed-by=sigstore-rs",
            "--output",
            "json",
            &image.tagged,
        ])
        .expect_code(0);
        let result = &run.json()[0];
        assert_eq!(result["verified"], true, "{algorithm}");
        assert_eq!(result["digest"], image.digest.as_str(), "{algorithm}");
        assert_eq!(
            result["signatures"][0]["payload"]["critical"]["image"]["docker-manifest-digest"],
            image.digest.as_str()
        );

        // The control: another key must not verify what sigstore-rs signed.
        let other = generate_key(dir.path(), &format!("{algorithm}-other"), algorithm);
        vouch(&[
            "verify",
            "--key",
            other.public.to_str().unwrap(),
            &image.tagged,
        ])
        .expect_code(1);
    }
}

#[test]
fn vouch_signs_and_sigstore_rs_verifies() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ALGORITHMS {
        let key = generate_key(dir.path(), algorithm, algorithm);
        let image = push_image(&registry, &unique("interop-vouch-signs"), "v1");
        vouch_tests::vouch_with_password(
            &key.password,
            &["sign", "--key", key.key.to_str().unwrap(), &image.tagged],
        )
        .expect_code(0);

        let run = peer(
            &[
                "verify",
                "--key",
                key.public.to_str().unwrap(),
                &image.tagged,
            ],
            None,
        )
        .expect_code(0);
        assert!(
            run.stdout.contains("verified 1 signature"),
            "{algorithm}: {run:?}"
        );
        // By digest too.
        peer(
            &[
                "verify",
                "--key",
                key.public.to_str().unwrap(),
                &image.by_digest,
            ],
            None,
        )
        .expect_code(0);

        let other = generate_key(dir.path(), &format!("{algorithm}-other"), algorithm);
        peer(
            &[
                "verify",
                "--key",
                other.public.to_str().unwrap(),
                &image.tagged,
            ],
            None,
        )
        .expect_code(1);
    }
}

#[test]
fn signatures_from_both_implementations_coexist() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let ours = generate_key(dir.path(), "ours", "ecdsa-p256");
    let theirs = generate_key(dir.path(), "theirs", "ecdsa-p256");
    let image = push_image(&registry, &unique("interop-both"), "v1");

    vouch_tests::vouch_with_password(
        &ours.password,
        &["sign", "--key", ours.key.to_str().unwrap(), &image.tagged],
    )
    .expect_code(0);
    peer(
        &["sign", "--key", theirs.key.to_str().unwrap(), &image.tagged],
        Some(&theirs.password),
    )
    .expect_code(0);
    let third = generate_key(dir.path(), "third", "ed25519");
    vouch_tests::vouch_with_password(
        &third.password,
        &["sign", "--key", third.key.to_str().unwrap(), &image.tagged],
    )
    .expect_code(0);

    let manifest = signature_manifest(&image.repository, &image.digest).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    for key in [&ours, &theirs, &third] {
        vouch(&[
            "verify",
            "--key",
            key.public.to_str().unwrap(),
            &image.tagged,
        ])
        .expect_code(0);
        peer(
            &[
                "verify",
                "--key",
                key.public.to_str().unwrap(),
                &image.tagged,
            ],
            None,
        )
        .expect_code(0);
    }
}
