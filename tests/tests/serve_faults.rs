//! `vouch serve` when things go wrong: an upstream that is dead, closes connections, answers
//! 500 or sends an oversized manifest (each an OCI error, 502 or 503, never a pass), and a
//! thousand clients that hang up in the middle of a blob (the server's file descriptors and
//! memory stay flat). And a multi-platform index, served with its platform manifests under
//! the index's decision.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use vouch_tests::serve::{Serve, http_request, key_policy, release_scope};
use vouch_tests::{
    FakeBehavior, FakeRegistry, KeyPair, Registry, generate_key, one_layer_layout, peer_ran,
    push_index, run, skopeo_push, vouch_with_password,
};

/// A policy trusting `key` for everything under `name/`, signed under `signed_prefix`.
fn policy(dir: &Path, key: &KeyPair, name: &str, signed_prefix: &str) -> String {
    let scope = release_scope(&format!("{name}/**"), Some((name, signed_prefix)));
    key_policy(dir, key, &[scope]).to_str().unwrap().to_owned()
}

fn error_code(body: &[u8]) -> String {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    body["errors"][0]["code"].as_str().unwrap().to_owned()
}

#[test]
fn upstream_failures_are_oci_errors_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let huge = FakeRegistry::start(FakeBehavior::HugeManifest(20 * 1024 * 1024));
    let closing = FakeRegistry::start(FakeBehavior::Close);
    let failing = FakeRegistry::start(FakeBehavior::Status500);
    // Accepts connections and never answers: the upstream request times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let policy = policy(dir.path(), &key, "huge", "x");
    let flags: Vec<String> = [
        ("huge", &huge.addr),
        ("closing", &closing.addr),
        ("failing", &failing.addr),
        ("dead", &dead_addr),
        ("silent", &silent_addr),
    ]
    .iter()
    .map(|(name, addr)| format!("{name}=http://{addr}"))
    .collect();
    let mut args = vec![
        "--policy",
        policy.as_str(),
        "--registry-attempts",
        "1",
        "--registry-timeout",
        "2",
    ];
    for flag in &flags {
        args.extend(["--upstream", flag.as_str()]);
    }
    let serve = Serve::start(&args);
    for (name, status) in [
        ("huge", 502),
        ("closing", 502),
        ("failing", 502),
        ("dead", 503),
        ("silent", 503),
    ] {
        let answer = http_request(
            &serve.addr,
            "GET",
            &format!("/v2/{name}/app/manifests/v1"),
            &[],
        );
        assert_eq!(answer.status, status, "{name}: {}", answer.text());
        let code = error_code(&answer.body);
        assert!(
            code == "UPSTREAM" || code == "UNAVAILABLE",
            "{name}: {code}"
        );
    }
    assert_eq!(serve.get("/healthz").status, 200);
    drop(silent);
}

#[test]
fn clients_hanging_up_mid_blob_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    // A 4 MiB layer, so that a client that reads a little and hangs up leaves most unsent.
    // (Bytes that do not compress: skopeo gzips the layer on its way to the registry.)
    let layer = vouch_tests::incompressible_bytes(4 * 1024 * 1024);
    one_layer_layout(
        &dir.path().join("layout"),
        "application/vnd.oci.image.layer.v1.tar",
        &layer,
    );
    let image = skopeo_push(&dir.path().join("layout"), "v1", &upstream, "big");
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &image.by_digest],
    )
    .expect_code(0);
    let policy = policy(dir.path(), &key, "up", &upstream.addr);
    let upstream_flag = format!("up=http://{}", upstream.addr);
    let serve = Serve::start(&["--policy", &policy, "--upstream", &upstream_flag]);
    let manifest = http_request(&serve.addr, "GET", "/v2/up/big/manifests/v1", &[]);
    assert_eq!(manifest.status, 200, "{}", manifest.text());
    let pulled: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let digest = pulled["layers"][0]["digest"].as_str().unwrap().to_owned();
    let size = pulled["layers"][0]["size"].as_u64().unwrap() as usize;
    assert!(size > 1024 * 1024, "{pulled:#}");
    let blob_path = format!("/v2/up/big/blobs/{digest}");

    let hang_up = |n: usize| {
        use std::io::{Read as _, Write as _};
        for _ in 0..n {
            let mut stream = std::net::TcpStream::connect(&serve.addr).unwrap();
            write!(stream, "GET {blob_path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut first = [0u8; 16 * 1024];
            let _ = stream.read(&mut first).unwrap();
            // Dropped here, most of the blob unread.
        }
    };
    // Warm up (runtime threads, allocator pools), then measure around 1,000 more.
    hang_up(50);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (fds_before, rss_before) = serve.resources();
    hang_up(1000);
    // The server notices each hang-up when its next write fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (mut fds_after, mut rss_after) = serve.resources();
    while fds_after > fds_before + 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        (fds_after, rss_after) = serve.resources();
    }
    assert!(
        fds_after <= fds_before + 4,
        "file descriptors grew from {fds_before} to {fds_after}"
    );
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // And it still serves the whole blob, checked.
    let whole = http_request(&serve.addr, "GET", &blob_path, &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), size);
    assert_eq!(
        format!("sha256:{}", vouch_tests::sha256_hex(&whole.body)),
        digest
    );
}

#[test]
fn an_index_is_served_with_its_platform_manifests_under_its_decision() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let (signed, _) = push_index(&upstream, "multi", "v1");
    vouch_with_password(
        &key.password,
        &[
            "sign",
            "--key",
            key.key.to_str().unwrap(),
            &signed.by_digest,
        ],
    )
    .expect_code(0);
    push_index(&upstream, "unsigned", "v1");
    let policy = policy(dir.path(), &key, "up", &upstream.addr);
    let upstream_flag = format!("up=http://{}", upstream.addr);
    let serve = Serve::start(&["--policy", &policy, "--upstream", &upstream_flag]);
    peer_ran("skopeo");
    let copy = |repo: &str| {
        run(
            "skopeo",
            &[
                "copy",
                "--all",
                "--src-tls-verify=false",
                &format!("docker://{}/up/{repo}:v1", serve.addr),
                &format!("oci:{}:{repo}", dir.path().join(repo).display()),
            ],
        )
    };
    let copied = copy("multi");
    assert_eq!(copied.code, 0, "{copied:#?}\n{}", serve.log());
    let refused = copy("unsigned");
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("no signatures found"),
        "{refused:#?}"
    );
    // One decision for the index; its platform manifests were served under it.
    assert_eq!(serve.evaluations(), 2);
}

#[test]
fn warn_mode_serves_a_failing_image_with_a_warning_header_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    vouch_tests::push_image(&upstream, "legacy", "v1");
    let policy = key_policy(
        dir.path(),
        &key,
        &["  - images: [\"up/**\"]\n    mode: warn\n    authorities: [release]\n".to_owned()],
    );
    let upstream_flag = format!("up=http://{}", upstream.addr);
    let serve = Serve::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--upstream",
        &upstream_flag,
    ]);
    let answer = http_request(&serve.addr, "GET", "/v2/up/legacy/manifests/v1", &[]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let warning = answer.header("warning").unwrap_or_default().to_owned();
    assert!(
        warning.starts_with("299 - \"") && warning.contains("no signatures found"),
        "{warning:?}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let blob = http_request(
        &serve.addr,
        "GET",
        &format!("/v2/up/legacy/blobs/{config}"),
        &[],
    );
    assert_eq!(blob.status, 200);
    let audit = serve.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["result"] == "warned" && l["mode"] == "warn"),
        "{audit:#?}"
    );
    assert!(
        serve
            .get("/metrics")
            .text()
            .contains("vouch_decisions_total{result=\"warned\",mode=\"warn\"} 1")
    );
}
