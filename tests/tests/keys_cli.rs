//! Key commands end to end: files, permissions, overwrite protection, passwords, and cosign's
//! key-import vectors through `vouch import-key-pair`.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use vouch_tests::{generate_key, vouch, vouch_with_password};

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../keys/tests/data/cosign-keys")
        .join(name)
}

#[test]
fn generated_private_key_is_0600_and_cosign_labelled() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let key = generate_key(dir.path(), algorithm, algorithm);
        let mode = std::fs::metadata(&key.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{algorithm}");
        let text = std::fs::read_to_string(&key.key).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let public = std::fs::read_to_string(&key.public).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        // public-key reproduces the .pub file.
        let run = vouch_with_password(
            &key.password,
            &["public-key", "--key", key.key.to_str().unwrap()],
        )
        .expect_code(0);
        assert_eq!(run.stdout, public, "{algorithm}");
    }
}

#[test]
fn existing_keys_are_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let before = std::fs::read(&key.key).unwrap();
    let prefix = dir.path().join("k");
    let run = vouch_with_password(
        "other",
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert!(
        run.stderr.contains("already exists; pass --force"),
        "{run:?}"
    );
    assert_eq!(std::fs::read(&key.key).unwrap(), before);
    // Only the public half existing is enough to refuse, and nothing is written.
    std::fs::remove_file(&key.key).unwrap();
    vouch_with_password(
        "other",
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert!(!key.key.exists());
    // --force replaces both.
    vouch_with_password(
        "other",
        &[
            "generate-key-pair",
            "--force",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    assert!(key.key.exists());
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("vouch-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn empty_password_needs_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("empty");
    let run = vouch_with_password(
        "",
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("empty password refused"), "{run:?}");
    assert!(!prefix.with_extension("key").exists());
    vouch_with_password(
        "",
        &[
            "generate-key-pair",
            "--allow-empty-password",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let key = prefix.with_extension("key");
    vouch_with_password("", &["public-key", "--key", key.to_str().unwrap()]).expect_code(2);
    vouch_with_password(
        "",
        &[
            "public-key",
            "--allow-empty-password",
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
}

#[test]
fn cosign_password_is_read_when_vouch_password_is_unset() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let output = vouch_tests::vouch_command(&["public-key", "--key", key.key.to_str().unwrap()])
        .env("COSIGN_PASSWORD", &key.password)
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn cosign_encrypted_vectors_load_with_hello() {
    for name in [
        "encrypted-cosign-pkcs8-p256.key",
        "encrypted-sigstore-pkcs8-p256.key",
    ] {
        vouch_with_password(
            "hello",
            &["public-key", "--key", vector(name).to_str().unwrap()],
        )
        .expect_code(0);
    }
    let run = vouch_with_password(
        "hello",
        &[
            "public-key",
            "--key",
            vector("encrypted-cosign-sec1-p256.key").to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("PKCS#8"), "{run:?}");
}

#[test]
fn import_key_pair_follows_cosigns_vectors() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "validrsa.key",
        "validrsapkcs1.key",
        "validrsapkcs8.key",
        "validecp256.key",
        "validecp384.key",
        "validecp521.key",
        "validecpkcs8.key",
        "ed25519.key",
    ] {
        let prefix = dir.path().join(name.trim_end_matches(".key"));
        vouch_with_password(
            "hello",
            &[
                "import-key-pair",
                "--key",
                vector(name).to_str().unwrap(),
                "--output-key-prefix",
                prefix.to_str().unwrap(),
            ],
        )
        .expect_code(0);
        // The re-encrypted key loads again with the same password and matches its .pub.
        let run = vouch_with_password(
            "hello",
            &[
                "public-key",
                "--key",
                prefix.with_extension("key").to_str().unwrap(),
            ],
        )
        .expect_code(0);
        assert_eq!(
            run.stdout,
            std::fs::read_to_string(prefix.with_extension("pub")).unwrap(),
            "{name}"
        );
    }
    for (name, reason) in [
        ("invalidrsawithpubkey.key", "public key"),
        ("invalidrsasmallkey.key", "RSA key size 1024 not supported"),
        ("invalidrsalargekey.key", "RSA key size 5120 not supported"),
        ("invalidecp224.key", "ECDSA curve P-224 not allowed"),
        (
            "invalidecunsupported.key",
            "ECDSA curve secp256k1 not allowed",
        ),
        ("invalidkey.key", "PEM"),
    ] {
        let prefix = dir.path().join(name.trim_end_matches(".key"));
        let run = vouch_with_password(
            "hello",
            &[
                "import-key-pair",
                "--key",
                vector(name).to_str().unwrap(),
                "--output-key-prefix",
                prefix.to_str().unwrap(),
            ],
        )
        .expect_code(2);
        assert!(run.stderr.contains(reason), "{name}: {run:?}");
        assert!(!prefix.with_extension("key").exists(), "{name}");
    }
}

#[test]
fn json_output_describes_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("j");
    let run = vouch_with_password(
        "pw",
        &[
            "generate-key-pair",
            "--algorithm",
            "ed25519",
            "--output",
            "json",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let json = run.json();
    assert_eq!(json["algorithm"], "Ed25519");
    assert_eq!(json["fingerprint"].as_str().unwrap().len(), 64);
    let _ = vouch(&["--version"]).expect_code(0);
}
