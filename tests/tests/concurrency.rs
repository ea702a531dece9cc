//! Concurrent signers must not lose each other's signatures: registries have no
//! compare-and-swap, so `vouch sign` re-reads after writing and merges again when a concurrent
//! writer replaced the manifest; layouts are updated under a lock.
#![allow(clippy::unwrap_used)]

use std::process::Child;

use vouch_tests::{
    KeyPair, Registry, generate_key, push_image, signature_manifest, unique, vouch, vouch_command,
};

const ROUNDS: usize = 20;

fn spawn_sign(key: &KeyPair, image: &str) -> Child {
    vouch_command(&["sign", "--key", key.key.to_str().unwrap(), image])
        .env("VOUCH_PASSWORD", &key.password)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: Child) {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "vouch sign failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn two_concurrent_signers_on_a_registry_both_keep_their_signature() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let first = generate_key(dir.path(), "first", "ecdsa-p256");
    let second = generate_key(dir.path(), "second", "ed25519");
    let mut merged_rounds = 0;
    for round in 0..ROUNDS {
        let image = push_image(&registry, &unique("concurrent"), "v1");
        let a = spawn_sign(&first, &image.tagged);
        let b = spawn_sign(&second, &image.tagged);
        wait_ok(a);
        wait_ok(b);
        let manifest = signature_manifest(&image.repository, &image.digest).unwrap();
        let layers = manifest["layers"].as_array().unwrap().len();
        assert_eq!(
            layers, 2,
            "round {round}: a signature was lost: {manifest:#}"
        );
        for key in [&first, &second] {
            vouch(&[
                "verify",
                "--key",
                key.public.to_str().unwrap(),
                &image.by_digest,
            ])
            .expect_code(0);
        }
        merged_rounds += 1;
    }
    assert_eq!(merged_rounds, ROUNDS);
}

#[test]
fn two_concurrent_signers_on_a_layout_both_keep_their_signature() {
    let dir = tempfile::tempdir().unwrap();
    let first = generate_key(dir.path(), "first", "ecdsa-p256");
    let second = generate_key(dir.path(), "second", "ecdsa-p384");
    for round in 0..ROUNDS {
        let layout = dir.path().join(format!("layout-{round}"));
        vouch_tests::umoci_image(&layout, "v1", "amd64");
        let image = format!("oci:{}:v1", layout.display());
        let a = spawn_sign(&first, &image);
        let b = spawn_sign(&second, &image);
        wait_ok(a);
        wait_ok(b);
        for key in [&first, &second] {
            let run = vouch(&[
                "verify",
                "--key",
                key.public.to_str().unwrap(),
                "--output",
                "json",
                &image,
            ])
            .expect_code(0);
            assert_eq!(
                run.json()[0]["signatures"].as_array().unwrap().len()
                    + run.json()[0]["rejected"].as_array().unwrap().len(),
                2,
                "round {round}"
            );
        }
    }
}
