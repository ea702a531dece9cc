//! Multi-platform images: `--recursive` signs the index and every platform manifest.
#![allow(clippy::unwrap_used)]

use vouch_tests::{
    Registry, generate_key, push_index, signature_manifest, unique, vouch, vouch_with_password,
};

#[test]
fn recursive_signs_the_index_and_each_platform() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    // Ed25519 signatures are deterministic, so signing the index again is recognised as the
    // same signature and not stored twice.
    let key = generate_key(dir.path(), "k", "ed25519");
    let (index, children) = push_index(&registry, &unique("multi"), "v1");

    // Without --recursive only the index is signed.
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &index.tagged],
    )
    .expect_code(0);
    for child in &children {
        assert!(signature_manifest(&index.repository, child).is_none());
    }

    let run = vouch_with_password(
        &key.password,
        &[
            "sign",
            "--recursive",
            "--output",
            "json",
            "--key",
            key.key.to_str().unwrap(),
            &index.tagged,
        ],
    )
    .expect_code(0);
    let signed: Vec<String> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(signed.len(), 3);
    assert_eq!(signed[0], index.digest);
    assert_eq!(&signed[1..], &children[..]);
    // The index signature was already there: not duplicated.
    assert_eq!(run.json()[0]["pushed"]["already_present"], true);
    assert_eq!(
        signature_manifest(&index.repository, &index.digest).unwrap()["layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for digest in signed {
        let image = format!("{}@{digest}", index.repository);
        vouch(&["verify", "--key", key.public.to_str().unwrap(), &image]).expect_code(0);
    }

    // --output-signature needs exactly one manifest: refused before anything is pushed.
    let out = dir.path().join("sig");
    let run = vouch_with_password(
        &key.password,
        &[
            "sign",
            "--recursive",
            "--key",
            key.key.to_str().unwrap(),
            "--output-signature",
            out.to_str().unwrap(),
            &index.tagged,
        ],
    )
    .expect_code(2);
    assert!(
        run.stderr.contains("exactly one signed manifest"),
        "{run:?}"
    );
    assert!(!out.exists());
}

#[test]
fn output_files_hold_what_was_signed() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ed25519");
    let image = vouch_tests::push_image(&registry, &unique("outputs"), "v1");
    let sig = dir.path().join("sig.b64");
    let payload = dir.path().join("payload.json");
    vouch_with_password(
        &key.password,
        &[
            "sign",
            "--upload=false",
            "--key",
            key.key.to_str().unwrap(),
            "--output-signature",
            sig.to_str().unwrap(),
            "--output-payload",
            payload.to_str().unwrap(),
            &image.tagged,
        ],
    )
    .expect_code(0);
    // Not uploaded.
    assert!(signature_manifest(&image.repository, &image.digest).is_none());
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        image.digest.as_str()
    );
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        image.repository.as_str()
    );
    assert_eq!(
        payload["critical"]["type"],
        "cosign container image signature"
    );
    assert!(!std::fs::read_to_string(&sig).unwrap().is_empty());
}
