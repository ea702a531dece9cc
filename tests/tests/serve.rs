//! `vouch serve` as a registry front, end to end: a real upstream registry (distribution
//! 2.8), images signed with `vouch sign`, and real clients pulling through the proxy: skopeo,
//! and podman (rootful, vfs) with a `registries.conf` that rewrites `upstream.example` to it.
//! A signed image is served byte for byte; an unsigned one and one signed by an unaccepted key
//! are refused with the decision's sentence in the client's error; a tag moved upstream to an
//! unsigned image is decided again; hostile requests get OCI errors and the server keeps
//! serving; SIGTERM stops it cleanly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use vouch_tests::serve::{Serve, http_request, key_policy, release_scope};
use vouch_tests::{
    Image, KeyPair, Registry, generate_key, peer_ran, push_image, run, unavailable,
    vouch_with_password,
};

/// The policy: `release` signs everything under `upstream.example/`, whose images were signed
/// under the upstream's own address.
fn policy(dir: &Path, key: &KeyPair, upstream: &Registry) -> String {
    let scope = release_scope(
        "upstream.example/**",
        Some(("upstream.example", upstream.addr.as_str())),
    );
    key_policy(dir, key, &[scope]).to_str().unwrap().to_owned()
}

fn sign(key: &KeyPair, image: &Image) {
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &image.by_digest],
    )
    .expect_code(0);
}

struct Setup {
    _dir: tempfile::TempDir,
    upstream: Registry,
    serve: Serve,
    release: KeyPair,
    signed: Image,
}

/// An upstream with `app:v1` signed by `release`, `unsigned:v1`, and `evil:v1` signed by
/// another key, and `vouch serve` in front of it.
fn setup() -> Setup {
    setup_with(&[])
}

/// [`setup`], with more `vouch serve` arguments.
fn setup_with(extra: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let release = generate_key(dir.path(), "release", "ecdsa-p256");
    let mallory = generate_key(dir.path(), "mallory", "ecdsa-p256");
    let signed = push_image(&upstream, "app", "v1");
    sign(&release, &signed);
    push_image(&upstream, "unsigned", "v1");
    let evil = push_image(&upstream, "evil", "v1");
    sign(&mallory, &evil);
    let policy = policy(dir.path(), &release, &upstream);
    let upstream_flag = format!("upstream.example=http://{}", upstream.addr);
    let mut args = vec![
        "--policy",
        policy.as_str(),
        "--upstream",
        upstream_flag.as_str(),
    ];
    args.extend_from_slice(extra);
    let serve = Serve::start(&args);
    Setup {
        _dir: dir,
        upstream,
        serve,
        release,
        signed,
    }
}

fn skopeo_copy(from: &str, to_dir: &Path) -> vouch_tests::Run {
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{from}"),
            &format!("oci:{}:copied", to_dir.display()),
        ],
    )
}

#[test]
fn skopeo_pulls_a_signed_image_and_is_refused_the_others_with_the_reason() {
    let s = setup();
    peer_ran("skopeo");
    let out = tempfile::tempdir().unwrap();
    let proxy = &s.serve.addr;

    let copied = skopeo_copy(
        &format!("{proxy}/upstream.example/app:v1"),
        &out.path().join("app"),
    );
    assert_eq!(copied.code, 0, "{copied:#?}\n{}", s.serve.log());
    // The very manifest that was signed upstream.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("app/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], s.signed.digest.as_str());

    let refused = skopeo_copy(
        &format!("{proxy}/upstream.example/unsigned:v1"),
        &out.path().join("unsigned"),
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("no signatures found"),
        "{refused:#?}"
    );

    let refused = skopeo_copy(
        &format!("{proxy}/upstream.example/evil:v1"),
        &out.path().join("evil"),
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("none by an accepted authority (release)"),
        "{refused:#?}"
    );

    // One audit line per decision, as JSON.
    let audit = s.serve.audit_once(|line| {
        line["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("upstream.example/evil@"))
    });
    let results: Vec<(&str, &str)> = audit
        .iter()
        .map(|l| (l["image"].as_str().unwrap(), l["result"].as_str().unwrap()))
        .collect();
    assert!(
        results
            .iter()
            .any(|(i, r)| i.starts_with("upstream.example/app@") && *r == "allowed"),
        "{audit:#?}"
    );
    assert!(
        results
            .iter()
            .any(|(i, r)| i.starts_with("upstream.example/unsigned@") && *r == "denied"),
        "{audit:#?}"
    );
    assert!(
        results
            .iter()
            .any(|(i, r)| i.starts_with("upstream.example/evil@") && *r == "denied"),
        "{audit:#?}"
    );

    let metrics = s.serve.get("/metrics").text();
    assert!(
        metrics.contains("vouch_decisions_total{result=\"allowed\",mode=\"enforce\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("vouch_decisions_total{result=\"denied\",mode=\"enforce\"} "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("vouch_bytes_served_total 0\n"),
        "{metrics}"
    );
}

#[test]
fn a_tag_moved_upstream_to_an_unsigned_image_is_decided_again() {
    let s = setup();
    peer_ran("skopeo");
    let proxy = &s.serve.addr;
    let out = tempfile::tempdir().unwrap();
    let first = skopeo_copy(
        &format!("{proxy}/upstream.example/app:v1"),
        &out.path().join("a"),
    );
    assert_eq!(first.code, 0, "{first:#?}");
    // The tag now names an unsigned image.
    let moved = push_image(&s.upstream, "app", "v1");
    assert_ne!(moved.digest, s.signed.digest);
    let second = skopeo_copy(
        &format!("{proxy}/upstream.example/app:v1"),
        &out.path().join("b"),
    );
    assert_ne!(second.code, 0, "the moved tag was served");
    assert!(second.stderr.contains("no signatures found"), "{second:#?}");
    // The digest that was allowed is still served by digest; the new one is not.
    let old = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/manifests/{}", s.signed.digest),
        &[],
    );
    assert_eq!(old.status, 200);
    assert_eq!(
        old.header("docker-content-digest"),
        Some(s.signed.digest.as_str())
    );
    let new = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/manifests/{}", moved.digest),
        &[],
    );
    assert_eq!(new.status, 403, "{}", new.text());
    let _ = &s.release;
}

#[test]
fn podman_pulls_through_a_registries_conf_rewrite_and_sees_the_denial() {
    if run("podman", &["--version"]).code != 0 {
        unavailable("podman", "Debian's podman package is not installed");
        return;
    }
    let s = setup();
    peer_ran("podman");
    let dir = tempfile::tempdir().unwrap();
    // The example of deploy/clients, pointed at this proxy.
    let conf = dir.path().join("registries.conf");
    let example = std::fs::read_to_string(
        vouch_tests::workspace_dir().join("deploy/clients/registries.conf"),
    )
    .unwrap();
    std::fs::write(&conf, example.replace("PROXY", &s.serve.addr)).unwrap();
    let root = dir.path().join("root");
    let runroot = dir.path().join("runroot");
    let podman = |image: &str| {
        vouch_tests::Run::from(
            std::process::Command::new("podman")
                .args([
                    "--root",
                    root.to_str().unwrap(),
                    "--runroot",
                    runroot.to_str().unwrap(),
                    "--storage-driver",
                    "vfs",
                    "--cgroup-manager",
                    "cgroupfs",
                    "--events-backend",
                    "file",
                    "pull",
                    image,
                ])
                .env("CONTAINERS_REGISTRIES_CONF", &conf)
                .output()
                .unwrap(),
        )
    };
    let pulled = podman("upstream.example/app:v1");
    assert_eq!(pulled.code, 0, "{pulled:#?}\n{}", s.serve.log());
    assert!(
        pulled
            .stdout
            .contains(s.signed.digest.trim_start_matches("sha256:"))
            || pulled.code == 0
    );
    let refused = podman("upstream.example/unsigned:v1");
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("no signatures found"),
        "{refused:#?}"
    );
    let refused = podman("upstream.example/evil:v1");
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("none by an accepted authority (release)"),
        "{refused:#?}"
    );
}

#[test]
fn hostile_and_unsupported_requests_get_oci_errors_and_the_server_keeps_serving() {
    let s = setup();
    let proxy = &s.serve.addr;
    let error_code = |answer: &vouch_tests::serve::HttpAnswer| {
        let body: serde_json::Value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("not an OCI error body ({e}): {}", answer.text()));
        body["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", answer.text()))
            .to_owned()
    };
    let cases: [(&str, &str, u16, &str); 8] = [
        (
            "GET",
            "/v2/upstream.example/../etc/manifests/v1",
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/upstream.example%2Fapp/manifests/v1",
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/elsewhere.example/app/manifests/v1",
            404,
            "NAME_UNKNOWN",
        ),
        (
            "GET",
            "/v2/upstream.example/app/manifests/v1?ns=elsewhere.example",
            404,
            "NAME_UNKNOWN",
        ),
        (
            "GET",
            "/v2/upstream.example/app/manifests/bad!tag",
            400,
            "MANIFEST_INVALID",
        ),
        (
            "GET",
            "/v2/upstream.example/app/blobs/sha256:1234",
            400,
            "DIGEST_INVALID",
        ),
        (
            "PUT",
            "/v2/upstream.example/app/manifests/v1",
            405,
            "UNSUPPORTED",
        ),
        (
            "GET",
            "/v2/upstream.example/missing/manifests/v1",
            404,
            "MANIFEST_UNKNOWN",
        ),
    ];
    for (method, path, status, code) in cases {
        let answer = http_request(proxy, method, path, &[]);
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text());
        assert_eq!(error_code(&answer), code, "{method} {path}");
    }
    // A blob is served only once a manifest this proxy allowed lists it.
    let manifest = http_request(
        proxy,
        "GET",
        "/v2/upstream.example/unsigned/manifests/v1",
        &[],
    );
    assert_eq!(manifest.status, 403);
    assert_eq!(error_code(&manifest), "DENIED");
    let upstream_manifest: serde_json::Value = serde_json::from_str(&vouch_tests::tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/unsigned:v1", s.upstream.addr),
        ],
    ))
    .unwrap();
    let layer = upstream_manifest["config"]["digest"].as_str().unwrap();
    let blob = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/unsigned/blobs/{layer}"),
        &[],
    );
    assert_eq!(blob.status, 403, "{}", blob.text());

    // The allowed image's blobs, whole and by range, checked against their digest.
    let allowed = http_request(proxy, "GET", "/v2/upstream.example/app/manifests/v1", &[]);
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let manifest: serde_json::Value = serde_json::from_slice(&allowed.body).unwrap();
    let digest = manifest["config"]["digest"].as_str().unwrap();
    let whole = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/blobs/{digest}"),
        &[],
    );
    assert_eq!(whole.status, 200);
    assert_eq!(
        format!("sha256:{}", vouch_tests::sha256_hex(&whole.body)),
        digest
    );
    let part = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/blobs/{digest}"),
        &[("Range", "bytes=1-10")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[1..11]);
    let size = whole.body.len();
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1-10/{size}").as_str())
    );
    let head = http_request(proxy, "HEAD", "/v2/upstream.example/app/manifests/v1", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(allowed.body.len().to_string().as_str())
    );

    // Evidence is served for clients that verify for themselves.
    let sig_tag = format!(
        "sha256-{}.sig",
        s.signed.digest.trim_start_matches("sha256:")
    );
    let evidence = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/manifests/{sig_tag}"),
        &[],
    );
    assert_eq!(evidence.status, 200, "{}", evidence.text());
    let tags = http_request(proxy, "GET", "/v2/upstream.example/app/tags/list", &[]);
    assert_eq!(tags.status, 200);
    let tags: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(tags["name"], "upstream.example/app");
    assert!(tags["tags"].as_array().unwrap().iter().any(|t| t == "v1"));
    // Pages of the tag list, with the Link to the next.
    let page = http_request(proxy, "GET", "/v2/upstream.example/app/tags/list?n=1", &[]);
    assert_eq!(page.status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    let first = listed["tags"][0].as_str().unwrap().to_owned();
    assert_eq!(listed["tags"].as_array().unwrap().len(), 1);
    assert_eq!(
        page.header("link"),
        Some(
            format!("</v2/upstream.example/app/tags/list?n=1&last={first}>; rel=\"next\"").as_str()
        )
    );
    let rest = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/tags/list?n=100&last={first}"),
        &[],
    );
    let rest: serde_json::Value = serde_json::from_slice(&rest.body).unwrap();
    assert!(
        !rest["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == first.as_str())
    );
    let filtered = http_request(
        proxy,
        "GET",
        &format!(
            "/v2/upstream.example/app/referrers/{}?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson",
            s.signed.digest
        ),
        &[],
    );
    assert_eq!(filtered.status, 200, "{}", filtered.text());
    assert_eq!(filtered.header("oci-filters-applied"), Some("artifactType"));
    let referrers = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/referrers/{}", s.signed.digest),
        &[],
    );
    assert_eq!(referrers.status, 200);
    assert_eq!(referrers.header("oci-filters-applied"), None);
    assert_eq!(
        referrers.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );

    assert_eq!(s.serve.get("/healthz").status, 200);
    let status = s.serve.stop();
    assert!(status.success(), "vouch serve exited with {status}");
}

#[test]
fn concurrent_requests_for_one_image_are_decided_once() {
    let s = setup();
    let proxy = s.serve.addr.clone();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let proxy = proxy.clone();
            std::thread::spawn(move || {
                http_request(&proxy, "GET", "/v2/upstream.example/app/manifests/v1", &[]).status
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 200);
    }
    assert_eq!(s.serve.evaluations(), 1);
}

#[test]
fn serve_refuses_bad_flags_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let upstream = Registry::start();
    let policy = policy(dir.path(), &key, &upstream);
    for (args, says) in [
        (
            vec!["--upstream", "x=http://registry.example"],
            "loopback upstreams only",
        ),
        (vec!["--upstream", "nourl"], "NAME=URL"),
        (
            vec![
                "--upstream",
                "a=http://127.0.0.1:1",
                "--upstream",
                "a=http://127.0.0.1:2",
            ],
            "two upstreams",
        ),
    ] {
        let mut all = vec!["serve", "--policy", policy.as_str()];
        all.extend(args);
        let refused = vouch_tests::vouch(&all);
        assert_eq!(refused.code, 2, "{refused:#?}");
        assert!(refused.stderr.contains(says), "{refused:#?}");
    }
    let missing = vouch_tests::vouch(&[
        "serve",
        "--policy",
        "/nonexistent.yaml",
        "--upstream",
        "a=http://127.0.0.1:1",
    ]);
    assert_eq!(missing.code, 2, "{missing:#?}");
}

#[test]
fn a_blob_whose_bytes_do_not_match_its_digest_upstream_is_never_delivered_whole() {
    let s = setup();
    let proxy = &s.serve.addr;
    let allowed = http_request(proxy, "GET", "/v2/upstream.example/app/manifests/v1", &[]);
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let manifest: serde_json::Value = serde_json::from_slice(&allowed.body).unwrap();
    let digest = manifest["config"]["digest"].as_str().unwrap();
    let size = manifest["config"]["size"].as_u64().unwrap() as usize;
    // The upstream now holds other bytes of the same length under that digest.
    let file = s.upstream.blob_file(digest).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len(), size);
    bytes[size - 1] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let cut = http_request(
        proxy,
        "GET",
        &format!("/v2/upstream.example/app/blobs/{digest}"),
        &[],
    );
    assert!(
        cut.body.len() < size,
        "the whole of a mismatching blob was delivered ({} bytes)",
        cut.body.len()
    );
    // The server keeps serving.
    assert_eq!(s.serve.get("/healthz").status, 200);
    let log = s.serve.log_once("cut off");
    assert!(log.contains("cut off"), "{log}");
}

#[test]
fn over_tls_skopeo_pulls_and_curl_posts_an_admission_review() {
    let dir = tempfile::tempdir().unwrap();
    let vouch_tests::tls::TlsFiles { ca, cert, key } =
        vouch_tests::tls::tls_files(dir.path(), "IP:127.0.0.1");
    let s = setup_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--webhook",
    ]);
    peer_ran("skopeo");
    peer_ran("curl");
    assert!(
        s.serve.log().contains("listening on https://"),
        "{}",
        s.serve.log()
    );
    // skopeo trusts the CA from a cert dir and verifies the server's certificate.
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
    let inspected = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--cert-dir",
            certs.to_str().unwrap(),
            &format!("docker://{}/upstream.example/app:v1", s.serve.addr),
        ],
    );
    assert_eq!(inspected.code, 0, "{inspected:#?}");
    assert_eq!(
        format!(
            "sha256:{}",
            vouch_tests::sha256_hex(inspected.stdout.as_bytes())
        ),
        s.signed.digest
    );
    // Without the CA, the certificate is refused: it really is TLS.
    let untrusted = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("docker://{}/upstream.example/app:v1", s.serve.addr),
        ],
    );
    assert_ne!(untrusted.code, 0);

    let review_file = dir.path().join("review.json");
    let mut review: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            vouch_tests::workspace_dir().join("tests/data/admission/connaisseur/02_pod.json"),
        )
        .unwrap(),
    )
    .unwrap();
    review["request"]["object"]["spec"]["containers"][0]["image"] = s.signed.tagged.clone().into();
    std::fs::write(&review_file, serde_json::to_vec(&review).unwrap()).unwrap();
    let posted = run(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", review_file.display()),
            &format!("https://{}/mutate", s.serve.addr),
        ],
    );
    assert_eq!(posted.code, 0, "{posted:#?}");
    let answer = posted.json();
    // The policy names the images as the proxy's clients see them (upstream.example/...);
    // the image as a pod names it is outside every scope.
    assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no scope"),
        "{answer:#}"
    );
}

#[test]
fn an_unusable_tls_key_is_refused_before_listening_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let cert = vouch_tests::tls::tls_files(dir.path(), "IP:127.0.0.1").cert;
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let upstream = Registry::start();
    let policy = policy(dir.path(), &key, &upstream);
    let bad_key = dir.path().join("bad.key");
    std::fs::write(
        &bad_key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let refused = vouch_tests::vouch(&[
        "serve",
        "--policy",
        &policy,
        "--upstream",
        "a=http://127.0.0.1:1",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        bad_key.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(refused.stderr.contains("--tls-key"), "{refused:#?}");
    assert!(!refused.stderr.contains("c2VjcmV0"), "{refused:#?}");
}

/// containerd 1.6 with its own root, state and socket in `dir`, stopped when dropped.
struct Containerd {
    child: std::process::Child,
    socket: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{0}/containerd.sock\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let socket = dir.join("containerd.sock");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while run("ctr", &["--address", socket.to_str().unwrap(), "version"]).code != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "containerd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Containerd { child, socket }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn containerd_pulls_through_a_hosts_toml_and_sees_the_denial() {
    if run("containerd", &["--version"]).code != 0 {
        unavailable("containerd", "Debian's containerd package is not installed");
        return;
    }
    let s = setup();
    peer_ran("containerd");
    let dir = tempfile::tempdir().unwrap();
    let containerd = Containerd::start(dir.path());
    // The example of deploy/clients, pointed at this proxy.
    let hosts = dir.path().join("hosts");
    std::fs::create_dir_all(hosts.join("upstream.example")).unwrap();
    let example = std::fs::read_to_string(
        vouch_tests::workspace_dir().join("deploy/clients/containerd/upstream.example/hosts.toml"),
    )
    .unwrap();
    std::fs::write(
        hosts.join("upstream.example/hosts.toml"),
        example.replace("PROXY", &s.serve.addr),
    )
    .unwrap();
    let ctr = |image: &str| {
        run(
            "ctr",
            &[
                "--address",
                containerd.socket.to_str().unwrap(),
                "images",
                "pull",
                "--plain-http",
                "--snapshotter",
                "native",
                "--hosts-dir",
                hosts.to_str().unwrap(),
                image,
            ],
        )
    };
    let pulled = ctr("upstream.example/app:v1");
    assert_eq!(pulled.code, 0, "{pulled:#?}\n{}", s.serve.log());
    let listed = run(
        "ctr",
        &[
            "--address",
            containerd.socket.to_str().unwrap(),
            "images",
            "ls",
        ],
    );
    assert!(listed.stdout.contains(&s.signed.digest), "{listed:#?}");
    let refused = ctr("upstream.example/unsigned:v1");
    assert_ne!(refused.code, 0);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("no signatures found"), "{refused:#?}");
    let refused = ctr("upstream.example/evil:v1");
    assert_ne!(refused.code, 0);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        said.contains("none by an accepted authority (release)"),
        "{refused:#?}"
    );
    // containerd named the upstream with ?ns=, which the audit line shows as the image name.
    assert!(
        s.serve.audit().iter().any(|l| l["image"]
            .as_str()
            .unwrap_or("")
            .starts_with("upstream.example/unsigned@")),
        "{:#?}",
        s.serve.audit()
    );
}
