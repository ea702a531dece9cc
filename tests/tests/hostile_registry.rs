//! vouch against a hostile registry ([`vouch_tests::hostile`]): one that redirects blob
//! requests to a CDN challenging from another realm, names a token service over plain HTTP,
//! serves a signature manifest of 1,000 layers naming one 4 MiB payload, answers slowly, and
//! answers endlessly. Each test is named after its attack.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use vouch_tests::hostile::{Content, HostileServer, Reply, Request};
use vouch_tests::{KeyPair, Run, generate_key, sha256_hex, vouch_command};

const USER: &str = "ci-bot";
const PASSWORD: &str = "s3cret-registry-password";
const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

/// The digest of an image the tests verify (its manifest need not exist: images are named by
/// digest).
fn image_digest() -> String {
    format!("sha256:{}", sha256_hex(b"the image under attack"))
}

/// `sha256-<hex>.sig` / `.att` of [`image_digest`].
fn cosign_tag(suffix: &str) -> String {
    format!("{}.{suffix}", image_digest().replace(':', "-"))
}

/// A cosign signature (or attestation) manifest of `count` layers, all naming `payload`.
fn attachment_manifest(
    content: &mut Content,
    media_type: &str,
    payload: Vec<u8>,
    count: usize,
) -> serde_json::Value {
    let config = content.blob(EMPTY_CONFIG, b"{}".to_vec());
    let mut layer = content.blob(media_type, payload);
    layer["annotations"] = serde_json::json!({
        "dev.cosignproject.cosign/signature": "MEUCIQDnot-a-signature",
        "predicateType": "https://slsa.dev/provenance/v1",
    });
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "config": config,
        "layers": vec![layer; count],
    })
}

/// A docker config directory holding Basic credentials for `registry`.
fn docker_config(dir: &Path, registry: &str) -> std::path::PathBuf {
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({ "auths": { registry: { "auth": auth } } }).to_string(),
    )
    .unwrap();
    config
}

/// Runs vouch with `args` (and `DOCKER_CONFIG`), killing it after `limit`: a run that has
/// not ended by then fails the test instead of hanging it.
fn vouch_bounded(args: &[&str], docker_config: Option<&Path>, limit: Duration) -> Run {
    let mut command = vouch_command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(config) = docker_config {
        command.env("DOCKER_CONFIG", config);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "vouch {args:?} was still running after {limit:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn key(dir: &Path) -> KeyPair {
    generate_key(dir, "key", "ecdsa-p256")
}

fn basic_authorized(request: &Request) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    request.header("authorization") == Some(expected.as_str())
}

/// The attack (CVE-2020-15157's pattern): the registry redirects the signature payload to a
/// CDN, and the CDN answers 401 with a bearer realm on a third host. The registry's Basic
/// credentials must go nowhere but the registry: the third host hears nothing, the CDN gets
/// no Authorization header, and vouch stops naming who asked.
#[test]
fn blob_redirect_to_a_cdn_challenging_from_another_realm_gets_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let thief = HostileServer::start(|_| {
        Reply::with_headers(
            "200 OK",
            &[("Content-Type", "application/json")],
            br#"{"token":"stolen"}"#,
        )
    });
    let realm = format!(r#"Bearer realm="{}/token",service="cdn""#, thief.url());
    let cdn = HostileServer::start(move |_| Reply::challenge(&realm));
    let mut content = Content::default();
    let manifest = attachment_manifest(&mut content, SIMPLE_SIGNING, b"{}".to_vec(), 1);
    content.manifest(Some(&cosign_tag("sig")), &manifest);
    let cdn_url = cdn.url();
    let registry = HostileServer::start(move |request| {
        if request.path() != "/v2/" && !basic_authorized(request) {
            Reply::challenge(r#"Basic realm="registry""#)
        } else if Content::is_blob(request) {
            Reply::redirect(&format!("{cdn_url}{}", request.path()))
        } else {
            content.answer(request)
        }
    });
    let config = docker_config(dir.path(), &registry.addr);

    let image = format!("{}/app@{}", registry.addr, image_digest());
    let public = key.public.to_str().unwrap();
    let run = vouch_bounded(
        &["verify", "--key", public, &image],
        Some(&config),
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "{}, which is not the registry, asks for authentication",
            cdn.url()
        )) && run.stderr.contains(&format!(
            "credentials for {} are not sent there",
            registry.addr
        )),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(PASSWORD), "{run:#?}");
    // The registry did get them (the redirect happened after it accepted them).
    assert!(registry.requests().iter().any(basic_authorized));
    assert!(
        thief.requests().is_empty(),
        "the third host was asked for a token: {:#?}",
        thief.requests()
    );
    for request in cdn.requests() {
        assert_eq!(request.header("authorization"), None, "{request:#?}");
    }
}

/// The attack: the registry names a token service over plain HTTP on another host, where
/// anyone on the path reads the Basic credentials sent to get a token. Refused before any
/// connection to it.
#[test]
fn bearer_realm_over_plain_http_on_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let registry = HostileServer::start(|_| {
        Reply::challenge(r#"Bearer realm="http://auth.registry.invalid/token",service="r""#)
    });
    let config = docker_config(dir.path(), &registry.addr);
    let image = format!("{}/app@{}", registry.addr, image_digest());
    let run = vouch_bounded(
        &["verify", "--key", key.public.to_str().unwrap(), &image],
        Some(&config),
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr
            .contains(r#"the token service "http://auth.registry.invalid/token" is not HTTPS"#),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(PASSWORD), "{run:#?}");
}

/// A registry serving `content`, recording requests.
fn registry_with(content: Content) -> HostileServer {
    HostileServer::start(move |request| content.answer(request))
}

/// A registry holding, under [`cosign_tag`]`(suffix)`, an attachment manifest of `count`
/// layers all naming `payload`.
fn attachment_registry(
    suffix: &str,
    media_type: &str,
    payload: Vec<u8>,
    count: usize,
) -> HostileServer {
    let mut content = Content::default();
    let manifest = attachment_manifest(&mut content, media_type, payload, count);
    content.manifest(Some(&cosign_tag(suffix)), &manifest);
    registry_with(content)
}

/// Runs `vouch VERB --key K EXTRA... IMAGE` on [`image_digest`] in `registry`, with a key of
/// its own, killed after 120 s.
fn vouch_on(registry: &HostileServer, verb: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let image = format!("{}/app@{}", registry.addr, image_digest());
    let mut args = vec![verb, "--key", key.public.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&image);
    vouch_bounded(&args, None, Duration::from_secs(120))
}

/// How many blobs `registry` was asked for.
fn blob_gets(registry: &HostileServer) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| Content::is_blob(r))
        .count()
}

/// The attack: a `.sig` (or `.att`) manifest of 1,000 layers, all naming one 4 MiB payload:
/// under every per-object limit, 4 GiB in total. Refused by the per-image evidence budget
/// before any payload is fetched.
fn thousand_layers_of_one_payload_are_refused(suffix: &str, media_type: &str, verb: &str) {
    let payload = vec![b' '; 4 * 1024 * 1024];
    let registry = attachment_registry(suffix, media_type, payload, 1000);
    let run = vouch_on(&registry, verb, &[]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr
            .contains("add up to more than the 67108864-byte limit for one image"),
        "{run:#?}"
    );
    assert_eq!(
        blob_gets(&registry),
        0,
        "payloads were fetched before the budget was checked"
    );
}

#[test]
fn signature_manifest_of_1000_layers_naming_one_4mib_payload_is_refused() {
    thousand_layers_of_one_payload_are_refused("sig", SIMPLE_SIGNING, "verify");
}

#[test]
fn attestation_manifest_of_1000_layers_naming_one_4mib_payload_is_refused() {
    thousand_layers_of_one_payload_are_refused("att", DSSE, "verify-attestation");
}

/// The same attack from an OCI layout of a few MiB on disk.
#[test]
fn layout_signature_manifest_of_1000_layers_naming_one_4mib_payload_is_refused() {
    use vouch_registry::Layout;
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let image_manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "config": { "mediaType": EMPTY_CONFIG, "digest": format!("sha256:{}", sha256_hex(b"{}")), "size": 2 },
        "layers": [],
    });
    let image = layout
        .write_blob(
            IMAGE_MANIFEST,
            &serde_json::to_vec(&image_manifest).unwrap(),
        )
        .unwrap();
    layout.set_tag("v1", image.clone()).unwrap();
    let payload = layout
        .write_blob(SIMPLE_SIGNING, &vec![b' '; 4 * 1024 * 1024])
        .unwrap();
    let mut layer = serde_json::to_value(&payload).unwrap();
    layer["annotations"] =
        serde_json::json!({ "dev.cosignproject.cosign/signature": "MEUCIQDnot-a-signature" });
    let signatures = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "config": image_manifest["config"],
        "layers": vec![layer; 1000],
    });
    let signatures = layout
        .write_blob(IMAGE_MANIFEST, &serde_json::to_vec(&signatures).unwrap())
        .unwrap();
    let tag = format!("{}.sig", image.digest.to_string().replace(':', "-"));
    layout.set_tag(&tag, signatures).unwrap();
    let run = vouch_bounded(
        &[
            "verify",
            "--key",
            key.public.to_str().unwrap(),
            &format!("oci:{}:v1", layout.root().display()),
        ],
        None,
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr
            .contains("add up to more than the 67108864-byte limit for one image"),
        "{run:#?}"
    );
}

/// Under the budget, a payload named by many layers is fetched once.
#[test]
fn a_payload_named_by_ten_layers_is_fetched_once() {
    let registry = attachment_registry("sig", SIMPLE_SIGNING, b"{}".to_vec(), 10);
    let run = vouch_on(&registry, "verify", &["-o", "json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.json()[0]["rejected"].as_array().unwrap().len(), 10);
    assert_eq!(blob_gets(&registry), 1, "{:#?}", registry.requests());
}

/// Runs `verb --timeout TIMEOUT` against a registry answering with `script` and checks that
/// the command stops at its deadline, which the message writes as `shown`.
fn stopped_at_the_deadline(
    verb: &str,
    timeout: &str,
    shown: &str,
    script: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) {
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let registry = HostileServer::start(script);
    let image = format!("{}/app@{}", registry.addr, image_digest());
    let public = key.public.to_str().unwrap();
    let run = vouch_bounded(
        &[verb, "--timeout", timeout, "--key", public, &image],
        None,
        Duration::from_secs(40),
    );
    assert_eq!(run.code, 3, "{run:#?}");
    let expected = format!("the command did not finish within {shown} (--timeout)");
    assert!(run.stderr.contains(&expected), "{run:#?}");
}

/// The attack: a registry that takes 50 s over every answer, under the 60 s per-request
/// timeout, for ever. `--timeout` bounds the whole command.
#[test]
fn a_registry_answering_every_request_slowly_is_stopped_by_the_command_deadline() {
    stopped_at_the_deadline("verify", "3s", "3s", |request| {
        Content::default()
            .answer(request)
            .after(Duration::from_secs(50))
    });
}

/// The attack: a manifest answer that never ends, a few bytes at a time (never reaching the
/// size limit, never idle long enough for a read timeout).
#[test]
fn an_endless_manifest_answer_is_stopped_by_the_command_deadline() {
    stopped_at_the_deadline("verify-attestation", "4", "4s", |request| {
        if request.path().contains("/manifests/") {
            Reply::Endless {
                headers: vec![("Content-Type".into(), IMAGE_MANIFEST.into())],
                chunk: b" ".to_vec(),
                interval: Duration::from_millis(100),
            }
        } else {
            Content::default().answer(request)
        }
    });
}

/// Evidence is fetched concurrently, and with a bound: 24 referrer bundles whose manifests
/// each take 300 ms are fetched several at a time, never more than eight.
#[test]
fn referrers_are_fetched_concurrently_and_boundedly() {
    let mut content = Content::default();
    let subject = serde_json::json!({
        "mediaType": IMAGE_MANIFEST,
        "digest": image_digest(),
        "size": 2,
    });
    let mut entries = Vec::new();
    for i in 0..24 {
        let config = content.blob(EMPTY_CONFIG, b"{}".to_vec());
        let layer = content.blob(
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            format!("{{\"not\":\"a bundle {i}\"}}").into_bytes(),
        );
        let referrer = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": IMAGE_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": config,
            "layers": [layer],
            "subject": subject,
        });
        let digest = content.manifest(None, &referrer);
        entries.push(serde_json::json!({
            "mediaType": IMAGE_MANIFEST,
            "digest": digest,
            "size": serde_json::to_vec(&referrer).unwrap().len(),
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    content.manifest(Some(&image_digest().replace(':', "-")), &index);
    let registry = HostileServer::start(move |request| {
        let reply = content.answer(request);
        if request.path().contains("/manifests/sha256:") {
            reply.after(Duration::from_millis(300))
        } else {
            reply
        }
    });
    let run = vouch_on(&registry, "verify", &["-o", "json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.json()[0]["rejected"].as_array().unwrap().len(), 24);
    let most = registry.most_in_flight();
    assert!((2..=8).contains(&most), "{most} requests at once");
}

/// The attack: an attestation whose DSSE envelope carries 20,000 signatures, each of which
/// would be checked over the whole PAE (28 s for one layer, hours for 1,000). The envelope
/// is refused as malformed before any signature is checked.
#[test]
fn dsse_envelope_of_20000_signatures_is_refused_unchecked() {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "app", "digest": { "sha256": image_digest().trim_start_matches("sha256:") } }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": { "padding": " ".repeat(1024 * 1024) },
    });
    let signature = serde_json::json!({ "keyid": "", "sig": b64(&[7u8; 72]) });
    let envelope = serde_json::json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": b64(&serde_json::to_vec(&statement).unwrap()),
        "signatures": vec![signature; 20_000],
    });
    let registry = attachment_registry("att", DSSE, serde_json::to_vec(&envelope).unwrap(), 1);
    let run = vouch_on(&registry, "verify-attestation", &["-o", "json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let rejected = &run.json()["rejected"][0];
    assert_eq!(rejected["check"], "envelope-format", "{rejected:#}");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("20000 entries; at most 16 are read"),
        "{rejected:#}"
    );
}

/// The attack: the registry starts a blob upload and names an upload location on another
/// host. The registry's credentials must not follow the upload there; when that host asks
/// for authentication, signing stops and nothing is tagged.
#[test]
fn blob_upload_location_on_another_host_gets_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let key = key(dir.path());
    let storage = HostileServer::start(|_| Reply::challenge(r#"Basic realm="storage""#));
    let mut content = Content::default();
    let config = content.blob(EMPTY_CONFIG, b"{}".to_vec());
    let image = content.manifest(
        Some("v1"),
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": IMAGE_MANIFEST,
            "config": config,
            "layers": [],
        }),
    );
    let storage_url = storage.url();
    let registry = HostileServer::start(move |request| {
        if request.path() != "/v2/" && !basic_authorized(request) {
            Reply::challenge(r#"Basic realm="registry""#)
        } else if request.method == "POST" && request.path().ends_with("/blobs/uploads/") {
            Reply::with_headers(
                "202 Accepted",
                &[("Location", &format!("{storage_url}/upload/1"))],
                b"",
            )
        } else if request.method == "PUT" || request.method == "PATCH" {
            Reply::status("500 Internal Server Error", b"no writes here")
        } else {
            content.answer(request)
        }
    });
    let config = docker_config(dir.path(), &registry.addr);
    let mut command = vouch_command(&[
        "sign",
        "--key",
        key.key.to_str().unwrap(),
        &format!("{}/app@{image}", registry.addr),
    ]);
    let output = command
        .env("VOUCH_PASSWORD", &key.password)
        .env("DOCKER_CONFIG", &config)
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "{}, which is not the registry, asks for authentication",
            storage.url()
        )),
        "{run:#?}"
    );
    assert!(
        !storage.requests().is_empty(),
        "the upload never reached the storage host"
    );
    for request in storage.requests() {
        assert_eq!(request.header("authorization"), None, "{request:#?}");
    }
    assert!(
        !registry
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path().contains("/manifests/")),
        "a signature manifest was pushed"
    );
}
