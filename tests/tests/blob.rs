//! `vouch sign-blob`, `attest-blob` and `verify-blob` through the binary: what vouch writes,
//! vouch verifies; what was tampered with is denied with the check that failed.
#![allow(clippy::unwrap_used)]

use std::fs;

use vouch_tests::{generate_key, sha256_hex, vouch, vouch_with_password};

#[test]
fn signed_and_attested_files_verify_and_tampering_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("release.tar");
    fs::write(&file, b"release contents").unwrap();
    let predicate = d.join("predicate.json");
    fs::write(&predicate, br#"{"buildType":"https://example.com/build"}"#).unwrap();
    let p = |name: &str| d.join(name).display().to_string();

    for algorithm in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let key = generate_key(d, algorithm, algorithm);
        let key_file = key.key.display().to_string();
        let pub_file = key.public.display().to_string();
        let sig_bundle = p(&format!("{algorithm}.sig.json"));
        let att_bundle = p(&format!("{algorithm}.att.json"));
        vouch_with_password(
            &key.password,
            &[
                "sign-blob",
                "--key",
                &key_file,
                "--bundle",
                &sig_bundle,
                &p("release.tar"),
            ],
        )
        .expect_code(0);
        vouch_with_password(
            &key.password,
            &[
                "attest-blob",
                "--key",
                &key_file,
                "--predicate",
                &p("predicate.json"),
                "--type",
                "slsaprovenance1",
                "--bundle",
                &att_bundle,
                &p("release.tar"),
            ],
        )
        .expect_code(0);

        for bundle in [&sig_bundle, &att_bundle] {
            // Key-signed, no log entry: cosign's flag is needed, as with cosign.
            let denied = vouch(&[
                "verify-blob",
                "--bundle",
                bundle,
                "--key",
                &pub_file,
                &p("release.tar"),
            ])
            .expect_code(1);
            assert!(denied.stderr.contains("[tlog-entry]"), "{}", denied.stderr);
            let run = vouch(&[
                "verify-blob",
                "--bundle",
                bundle,
                "--key",
                &pub_file,
                "--insecure-ignore-tlog",
                "-o",
                "json",
                &p("release.tar"),
            ])
            .expect_code(0);
            assert_eq!(run.json()["verified"], true);
        }
        // By digest: ECDSA signs the hash, so the digest suffices; Ed25519 does not allow it.
        let digest = format!("sha256:{}", sha256_hex(b"release contents"));
        let by_digest = vouch(&[
            "verify-blob",
            "--bundle",
            &att_bundle,
            "--key",
            &pub_file,
            "--insecure-ignore-tlog",
            &digest,
        ]);
        assert_eq!(by_digest.code, 0, "{by_digest:?}");
        let by_digest = vouch(&[
            "verify-blob",
            "--bundle",
            &sig_bundle,
            "--key",
            &pub_file,
            "--insecure-ignore-tlog",
            &digest,
        ]);
        assert_eq!(
            by_digest.code,
            if algorithm == "ecdsa-p256" { 0 } else { 1 },
            "{algorithm}: {by_digest:?}"
        );

        // Another file, another key, a changed payload: each denied by its check.
        fs::write(d.join("other.tar"), b"other contents").unwrap();
        let other = vouch(&[
            "verify-blob",
            "--bundle",
            &sig_bundle,
            "--key",
            &pub_file,
            "--insecure-ignore-tlog",
            "-o",
            "json",
            &p("other.tar"),
        ])
        .expect_code(1);
        assert_eq!(other.json()["check"], "artifact-digest");
        let stranger = generate_key(d, &format!("{algorithm}-other"), algorithm);
        let wrong_key = vouch(&[
            "verify-blob",
            "--bundle",
            &sig_bundle,
            "--key",
            &stranger.public.display().to_string(),
            "--insecure-ignore-tlog",
            "-o",
            "json",
            &p("release.tar"),
        ])
        .expect_code(1);
        assert_eq!(wrong_key.json()["check"], "artifact-signature");

        let mut tampered: serde_json::Value =
            serde_json::from_slice(&fs::read(&att_bundle).unwrap()).unwrap();
        let payload = tampered["dsseEnvelope"]["payload"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut bytes = base64_decode(&payload);
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        tampered["dsseEnvelope"]["payload"] = base64_encode(&bytes).into();
        fs::write(
            d.join("tampered.json"),
            serde_json::to_vec(&tampered).unwrap(),
        )
        .unwrap();
        let run = vouch(&[
            "verify-blob",
            "--bundle",
            &p("tampered.json"),
            "--key",
            &pub_file,
            "--insecure-ignore-tlog",
            "-o",
            "json",
            &p("release.tar"),
        ])
        .expect_code(1);
        assert_eq!(run.json()["check"], "artifact-signature");
    }
}

#[test]
fn bad_input_is_refused_without_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = generate_key(d, "k", "ecdsa-p256");
    let key_file = key.key.display().to_string();
    fs::write(d.join("f"), b"f").unwrap();
    fs::write(d.join("existing.json"), b"keep me").unwrap();
    let existing = d.join("existing.json").display().to_string();
    let run = vouch_with_password(
        &key.password,
        &[
            "sign-blob",
            "--key",
            &key_file,
            "--bundle",
            &existing,
            &d.join("f").display().to_string(),
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(fs::read(d.join("existing.json")).unwrap(), b"keep me");

    // A malformed bundle, an unknown --type, a predicate that is not JSON: exit 2, one line.
    let run = vouch(&[
        "verify-blob",
        "--bundle",
        &existing,
        "--key",
        &key.public.display().to_string(),
        &d.join("f").display().to_string(),
    ])
    .expect_code(2);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    fs::write(d.join("p.json"), b"{not json").unwrap();
    let p = d.join("p.json").display().to_string();
    let out = d.join("out.json").display().to_string();
    vouch_with_password(
        &key.password,
        &[
            "attest-blob",
            "--key",
            &key_file,
            "--predicate",
            &p,
            "--bundle",
            &out,
            &d.join("f").display().to_string(),
        ],
    )
    .expect_code(2);
    fs::write(d.join("p.json"), b"{}").unwrap();
    vouch_with_password(
        &key.password,
        &[
            "attest-blob",
            "--key",
            &key_file,
            "--predicate",
            &p,
            "--type",
            "nonsense",
            "--bundle",
            &out,
            &d.join("f").display().to_string(),
        ],
    )
    .expect_code(2);
    assert!(!d.join("out.json").exists());
    // Identity flags without an issuer.
    vouch(&[
        "verify-blob",
        "--bundle",
        &existing,
        "--certificate-identity",
        "x",
        &d.join("f").display().to_string(),
    ])
    .expect_code(2);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
