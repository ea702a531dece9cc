//! Malformed input and misbehaving registries: a one-line error, the documented exit code
//! (2 for input, 3 for registry and I/O), never a panic, never a secret in the message.
#![allow(clippy::unwrap_used)]

use vouch_tests::{
    FakeBehavior, FakeRegistry, Registry, Run, generate_key, push_image, unique, vouch,
    vouch_with_password,
};

/// Asserts exit `code`, a single line on stderr containing every `needle`, and no panic.
fn one_line_error(run: Run, code: i32, needles: &[&str]) -> String {
    let run = run.expect_code(code);
    let stderr = run.stderr.trim_end().to_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line on stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("vouch: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in: {stderr}");
    }
    stderr
}

#[test]
fn wrong_password_is_named_and_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let run = vouch_with_password(
        "hunter2-wrong",
        &[
            "sign",
            "--key",
            key.key.to_str().unwrap(),
            "127.0.0.1:9/never/contacted:v1",
        ],
    );
    let line = one_line_error(run, 2, &["wrong password", "k.key"]);
    assert!(!line.contains("hunter2"), "{line}");
    let run = vouch_with_password(
        "hunter2-wrong",
        &["public-key", "--key", key.key.to_str().unwrap()],
    );
    one_line_error(run, 2, &["wrong password"]);
}

#[test]
fn truncated_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let text = std::fs::read_to_string(&key.key).unwrap();
    for cut in [text.len() / 2, text.len() - 40, 30] {
        let truncated = dir.path().join(format!("truncated-{cut}.key"));
        std::fs::write(&truncated, &text[..cut]).unwrap();
        let run = vouch_with_password(
            &key.password,
            &["public-key", "--key", truncated.to_str().unwrap()],
        );
        one_line_error(run, 2, &["truncated-"]);
    }
    let empty = dir.path().join("empty.key");
    std::fs::write(&empty, "").unwrap();
    one_line_error(
        vouch_with_password(
            &key.password,
            &["public-key", "--key", empty.to_str().unwrap()],
        ),
        2,
        &["not a PEM key file"],
    );
    one_line_error(
        vouch(&[
            "public-key",
            "--key",
            dir.path().join("missing.key").to_str().unwrap(),
        ]),
        2,
        &["cannot read", "missing.key"],
    );
}

#[test]
fn public_key_where_a_private_one_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ed25519");
    let run = vouch(&[
        "sign",
        "--key",
        key.public.to_str().unwrap(),
        "127.0.0.1:9/x:v1",
    ]);
    one_line_error(run, 2, &["public key", "a private key is needed"]);
    // And the reverse for verify.
    let run = vouch(&[
        "verify",
        "--key",
        key.key.to_str().unwrap(),
        "127.0.0.1:9/x:v1",
    ]);
    one_line_error(run, 2, &["private key", ".pub"]);
}

#[test]
fn unparseable_references_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    for reference in [
        "UPPER.example/Repo:tag",
        "repo:bad tag",
        "repo@sha256:1234",
        "https://x/y",
        "oci:",
    ] {
        let run = vouch(&["verify", "--key", key.public.to_str().unwrap(), reference]);
        one_line_error(run, 2, &["invalid image reference"]);
    }
    // No IMAGE at all is a usage error from the argument parser.
    let run = vouch(&["verify", "--key", key.public.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn missing_image_is_an_input_error() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/{}:nope", registry.addr, unique("missing"));
    let run = vouch(&["verify", "--key", key.public.to_str().unwrap(), &image]);
    one_line_error(run, 2, &["not found"]);
    let run = vouch(&[
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        &format!("oci:{}", dir.path().display()),
    ]);
    one_line_error(run, 2, &["not an OCI image layout"]);
}

#[test]
fn registry_answering_500_is_retried_then_reported() {
    let fake = FakeRegistry::start(FakeBehavior::Status500);
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/app:v1", fake.addr);
    let run = vouch(&["verify", "--key", key.public.to_str().unwrap(), &image]);
    one_line_error(
        run,
        3,
        &[
            "500",
            "storage backend on fire",
            "gave up after 3 attempts",
            "app:v1",
        ],
    );
    assert_eq!(fake.requests().len(), 3, "{:?}", fake.requests());

    let fake = FakeRegistry::start(FakeBehavior::Status500);
    let image = format!("{}/app:v1", fake.addr);
    let run = vouch(&[
        "verify",
        "--registry-attempts",
        "1",
        "--key",
        key.public.to_str().unwrap(),
        &image,
    ]);
    one_line_error(run, 3, &["500"]);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn registry_closing_the_connection_is_reported() {
    let fake = FakeRegistry::start(FakeBehavior::Close);
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/app:v1", fake.addr);
    let run = vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &image],
    );
    one_line_error(run, 3, &["connection closed", "gave up after 3 attempts"]);
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn nothing_listening_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("127.0.0.1:{port}/app:v1");
    let run = vouch(&["verify", "--key", key.public.to_str().unwrap(), &image]);
    one_line_error(run, 3, &["cannot connect"]);
}

#[test]
fn oversized_manifests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    for behavior in [
        FakeBehavior::HugeManifest(5 * 1024 * 1024),
        FakeBehavior::HugeManifestChunked(5 * 1024 * 1024),
        FakeBehavior::HugeManifest(2 * 1024 * 1024 * 1024),
    ] {
        let fake = FakeRegistry::start(behavior.clone());
        let image = format!("{}/app:v1", fake.addr);
        let run = vouch(&["verify", "--key", key.public.to_str().unwrap(), &image]);
        one_line_error(run, 3, &["larger than the 4194304-byte limit", "app:v1"]);
        // A size refusal is not transient: one request, no retries.
        assert_eq!(fake.requests().len(), 1, "{behavior:?}");
    }
}

#[test]
fn bearer_challenge_is_answered_with_a_token() {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let fake = FakeRegistry::start(FakeBehavior::Bearer {
        manifest: manifest.to_owned(),
    });
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = format!("{}/app:v1", fake.addr);
    let run = vouch(&[
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        "--output",
        "json",
        &image,
    ])
    .expect_code(1);
    // The manifest came through the token; the signature tag does not exist.
    let digest = format!("sha256:{}", vouch_tests::sha256_hex(manifest.as_bytes()));
    assert_eq!(run.json()[0]["digest"], digest.as_str());
    assert!(
        run.json()[0]["reason"]
            .as_str()
            .unwrap()
            .contains("no signatures found")
    );
    let requests = fake.requests();
    assert!(
        requests.iter().any(
            |r| r.starts_with("GET /token?scope=repository%3Aapp%3Apull")
                || r.starts_with("GET /token?service=fake&scope=repository%3Aapp%3Apull")
        ),
        "{requests:?}"
    );
}

#[test]
fn digest_reference_skips_resolution_and_checks_content() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = push_image(&registry, &unique("digest-ref"), "v1");
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &image.by_digest],
    )
    .expect_code(0);
    vouch(&[
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        &image.by_digest,
    ])
    .expect_code(0);
    let run = vouch(&["triangulate", &image.tagged]).expect_code(0);
    assert_eq!(
        run.stdout.trim(),
        format!(
            "{}:{}.sig",
            image.repository,
            image.digest.replace(':', "-")
        )
    );
}

#[test]
fn signature_manifest_with_too_many_layers_is_refused() {
    use vouch_registry::cosign::{SIMPLE_SIGNING_MEDIA_TYPE, signature_tag};
    use vouch_registry::manifest::{Descriptor, media_types};
    use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store};

    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = push_image(&registry, &unique("many-layers"), "v1");
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let target = Store::open(&client, &ImageReference::parse(&image.tagged).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let layer = target
            .store
            .put_blob(SIMPLE_SIGNING_MEDIA_TYPE, b"{}")
            .await
            .unwrap();
        let config = target
            .store
            .put_blob(media_types::OCI_CONFIG, b"{}")
            .await
            .unwrap();
        let layers: Vec<Descriptor> = std::iter::repeat_n(layer, 1001).collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": config,
            "layers": layers,
        });
        target
            .store
            .put_manifest(
                &signature_tag(&image.digest.parse().unwrap()),
                media_types::OCI_MANIFEST,
                manifest.to_string().as_bytes(),
            )
            .await
            .unwrap();
    });
    let run = vouch(&[
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        &image.tagged,
    ]);
    one_line_error(run, 3, &["has 1001 layers, more than the limit of 1000"]);
}
