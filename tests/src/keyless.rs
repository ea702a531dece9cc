//! Keyless signing for vouch's end-to-end tests: a private Sigstore ([`SigstoreMock`],
//! `@sigstore/mock`'s Fulcio, Rekor v1 and timestamp authority served by
//! `tests/peers/js/sigstore-mock.js`), keyless bundles made by sigstore-js against it
//! ([`sign_keyless`]), and the two ways such signatures reach an image in a registry:
//! cosign's `sha256-<hex>.sig` tag layout, annotated exactly as `cosign sign` annotates a
//! keyless signature ([`push_keyless_signature`], [`cosign_layer_annotations`]), and a Sigstore
//! bundle referrer pushed by `@sigstore/oci` as GitHub's `actions/attest` pushes it
//! ([`push_keyless_bundle_signature`]).
//!
//! ```no_run
//! use vouch_tests::keyless::{Keyless, SigstoreMock, push_keyless_signature};
//! let Some(peer) = vouch_tests::Peer::SigstoreJs.install() else { return };
//! let mock = SigstoreMock::start(&peer);
//! let registry = vouch_tests::Registry::start();
//! let image = vouch_tests::push_image(&registry, "demo", "v1");
//! let signer = Keyless::new("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1",
//!     "https://token.actions.githubusercontent.com");
//! push_keyless_signature(&peer, &mock, &image, &signer);
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use vouch_keys::Digest;
use vouch_registry::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, NewSignature, attach_signature,
};
use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store};

use crate::{Image, InstalledPeer, Run, peer_ran, run, unique, workspace_dir};

/// cosign's layer annotation holding an RFC 3161 timestamp of the signature
/// (`{"SignedRFC3161Timestamp": base64 DER}`).
pub use vouch_attestations::cosign::RFC3161_TIMESTAMP_ANNOTATION;

/// The predicate type that makes a Sigstore bundle's in-toto statement an image signature
/// (cosign's `sign --new-bundle-format`).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The media type of v0.3 Sigstore bundles, the artifact type of bundle referrers.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// `tests/peers/js/sigstore-mock.js` running on 127.0.0.1: a Fulcio, a Rekor v1 and an RFC
/// 3161 timestamp authority with fresh keys, and the trusted root describing them. Killed
/// (and reaped) when dropped.
pub struct SigstoreMock {
    child: Child,
    url: String,
    root: PathBuf,
    signing_config: PathBuf,
    dir: tempfile::TempDir,
}

impl SigstoreMock {
    /// Starts the mock with `peer`'s `node_modules` (sigstore-js, which brings
    /// `@sigstore/mock`), waits for its `listening on` line, and records that the current test
    /// runs against `sigstore-mock` ([`peer_ran`]). Panics, with the server's error output,
    /// when it does not come up within 30 seconds.
    pub fn start(peer: &InstalledPeer) -> SigstoreMock {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trusted_root.json");
        let signing_config = dir.path().join("signing_config.json");
        let log = dir.path().join("mock.stderr");
        let mut child = Command::new("node")
            .arg(workspace_dir().join("tests/peers/js/sigstore-mock.js"))
            .arg("--trusted-root")
            .arg(&root)
            .arg("--signing-config")
            .arg(&signing_config)
            .env("NODE_PATH", peer.dir.join("node_modules"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node for sigstore-mock.js: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let addr = lines.find_map(|line| {
                line.strip_prefix("listening on ")
                    .map(|addr| addr.trim().to_owned())
            });
            let _ = tx.send(addr);
            // Keep reading, so the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(addr)) => addr,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sigstore-mock.js did not report its address:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        assert!(root.exists(), "sigstore-mock.js wrote no trusted root");
        peer_ran("sigstore-mock");
        SigstoreMock {
            child,
            url: format!("http://{addr}"),
            root,
            signing_config,
            dir,
        }
    }

    /// The base URL of all three services: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `trusted_root.json` describing this instance's CA, log, CT log and timestamp
    /// authority (in a folder the mock owns, removed when it is dropped).
    pub fn trusted_root(&self) -> &Path {
        &self.root
    }

    /// The signing config (v0.2) naming this instance's Fulcio, Rekor and timestamp
    /// authority.
    pub fn signing_config(&self) -> &Path {
        &self.signing_config
    }

    /// An identity token the mock's Fulcio takes for `subject` (its `sub`: the SAN of the
    /// certificate it issues) from `issuer`, for the audience `sigstore`, valid ten minutes.
    /// Unsigned: the mock decodes tokens without verifying them.
    pub fn token(subject: &str, issuer: &str) -> String {
        identity_token(&json!({
            "iss": issuer,
            "sub": subject,
            "aud": "sigstore",
            "iat": now_secs(),
            "exp": now_secs() + 600,
        }))
    }

    /// A folder that lives as long as the mock, for the tests' own files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh path in [`SigstoreMock::dir`], named `prefix-<unique>.ext`.
    fn scratch(&self, prefix: &str, ext: &str) -> PathBuf {
        self.dir.path().join(format!("{}.{ext}", unique(prefix)))
    }
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An unsigned JSON Web Token (`alg: none`) with these claims.
pub fn identity_token(claims: &Value) -> String {
    let part =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}

impl Drop for SigstoreMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who signs keylessly, and what the signature carries.
#[derive(Clone, Debug)]
pub struct Keyless {
    /// The OIDC token's `sub`: the certificate's URI subject alternative name.
    pub identity: String,
    /// The OIDC token's `iss`: the certificate's issuer extensions.
    pub issuer: String,
    /// Log the signature in the mock's Rekor (a hashedrekord, or a dsse entry for DSSE).
    pub tlog: bool,
    /// Add an RFC 3161 timestamp from the mock's timestamp authority.
    pub tsa: bool,
}

impl Keyless {
    /// `identity` and `issuer`, logged in Rekor, without a timestamp: what `cosign sign` does
    /// by default.
    pub fn new(identity: &str, issuer: &str) -> Keyless {
        Keyless {
            identity: identity.to_owned(),
            issuer: issuer.to_owned(),
            tlog: true,
            tsa: false,
        }
    }

    /// The same signer, not logged, timestamped by the timestamp authority instead.
    pub fn timestamp_only(mut self) -> Keyless {
        self.tlog = false;
        self.tsa = true;
        self
    }
}

/// Signs `file` keylessly with sigstore-js (`sigstore-js.js sign-keyless`) against `mock`:
/// a message signature over the file's bytes, or with `dsse` a DSSE envelope over the in-toto
/// statement the file holds. Returns the v0.3 bundle. Panics when signing fails.
pub fn sign_keyless(
    peer: &InstalledPeer,
    mock: &SigstoreMock,
    signer: &Keyless,
    file: &Path,
    dsse: bool,
) -> Value {
    let out = mock.scratch("bundle", "json");
    let mut args = vec![
        "sign-keyless",
        "--url",
        mock.url(),
        "--identity",
        &signer.identity,
        "--issuer",
        &signer.issuer,
        "--bundle",
        out.to_str().unwrap(),
    ];
    if !signer.tlog {
        args.push("--no-tlog");
    }
    if signer.tsa {
        args.push("--tsa");
    }
    if dsse {
        args.push("--dsse");
    }
    args.push(file.to_str().unwrap());
    let signed = peer.run(&args);
    assert_eq!(
        signed.code, 0,
        "sigstore-js sign-keyless failed:\n{signed:#?}"
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// The PEM of a DER certificate given as base64, as cosign writes it (64-column lines).
fn certificate_pem(der_base64: &str) -> String {
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    let bytes = der_base64.as_bytes();
    for line in bytes.chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A bundle's decimal string (protobuf JSON's int64) as a JSON number.
fn number(value: &Value) -> Value {
    let n: u64 = match value {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_u64().unwrap(),
    };
    json!(n)
}

/// What `cosign sign` stores for the keyless message-signature `bundle` (as [`sign_keyless`]
/// writes it): the base64 signature, and the layer annotations other than the signature's
/// ([`cosign_material_annotations`]).
pub fn cosign_layer_annotations(bundle: &Value) -> (String, BTreeMap<String, String>) {
    let signature = bundle["messageSignature"]["signature"]
        .as_str()
        .expect("the bundle has no message signature")
        .to_owned();
    (signature, cosign_material_annotations(bundle))
}

/// The layer annotations `cosign sign` and `cosign attest` write for the verification
/// material of a keyless `bundle`: the leaf certificate's PEM; the Rekor bundle
/// (`{"SignedEntryTimestamp", "Payload": {body, integratedTime, logIndex, logID (hex)}}`) when
/// the bundle has a log entry; the RFC 3161 timestamp (`{"SignedRFC3161Timestamp"}`) when it
/// has one.
pub fn cosign_material_annotations(bundle: &Value) -> BTreeMap<String, String> {
    let material = &bundle["verificationMaterial"];
    let mut annotations = BTreeMap::new();
    let certificate = material["certificate"]["rawBytes"]
        .as_str()
        .expect("the bundle has no leaf certificate");
    annotations.insert(
        CERTIFICATE_ANNOTATION.to_owned(),
        certificate_pem(certificate),
    );
    if let Some(entry) = material["tlogEntries"].get(0) {
        let log_id = base64::engine::general_purpose::STANDARD
            .decode(entry["logId"]["keyId"].as_str().unwrap())
            .unwrap();
        let log_id: String = log_id.iter().map(|b| format!("{b:02x}")).collect();
        let rekor = json!({
            "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
            "Payload": {
                "body": entry["canonicalizedBody"],
                "integratedTime": number(&entry["integratedTime"]),
                "logIndex": number(&entry["logIndex"]),
                "logID": log_id,
            },
        });
        annotations.insert(BUNDLE_ANNOTATION.to_owned(), rekor.to_string());
    }
    if let Some(timestamp) = material["timestampVerificationData"]["rfc3161Timestamps"].get(0) {
        let value = json!({"SignedRFC3161Timestamp": timestamp["signedTimestamp"]});
        annotations.insert(RFC3161_TIMESTAMP_ANNOTATION.to_owned(), value.to_string());
    }
    annotations
}

/// A keyless signature a test put on an image, with what an independent verifier needs.
#[derive(Clone, Debug)]
pub struct KeylessSigned {
    /// The sigstore-js bundle the signature came from.
    pub bundle: Value,
    /// That bundle, as a file.
    pub bundle_path: PathBuf,
    /// The signed artifact, as a file: the simple-signing payload of a `.sig` signature, the
    /// image manifest (the statement's subject) of a DSSE bundle.
    pub artifact: PathBuf,
}

impl KeylessSigned {
    /// Verifies the bundle with sigstore-js (`sigstore-js.js verify`) against `mock`'s trusted
    /// root, for `signer`'s identity and issuer, asking for `tlog_threshold` log entries
    /// (`--tlog-threshold`).
    pub fn verify_with_sigstore_js(
        &self,
        peer: &InstalledPeer,
        mock: &SigstoreMock,
        signer: &Keyless,
        tlog_threshold: u32,
    ) -> Run {
        let threshold = tlog_threshold.to_string();
        peer.run(&[
            "verify",
            "--bundle",
            self.bundle_path.to_str().unwrap(),
            "--trusted-root",
            mock.trusted_root().to_str().unwrap(),
            "--identity",
            &signer.identity,
            "--issuer",
            &signer.issuer,
            "--tlog-threshold",
            &threshold,
            self.artifact.to_str().unwrap(),
        ])
    }
}

/// The simple-signing payload `cosign sign` signs for `image`: its repository
/// (`127.0.0.1:PORT/repo`) as the docker reference, its digest, no optional section.
pub fn simple_signing_payload(image: &Image) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": image.repository},
            "image": {"docker-manifest-digest": image.digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// Signs `image` keylessly as `signer` (a sigstore-js message signature over its
/// [`simple_signing_payload`]) and appends the signature to its `sha256-<hex>.sig` manifest
/// as `cosign sign` does, with [`cosign_layer_annotations`]. Returns the signature.
pub fn push_keyless_signature(
    peer: &InstalledPeer,
    mock: &SigstoreMock,
    image: &Image,
    signer: &Keyless,
) -> KeylessSigned {
    push_keyless_signature_with(peer, mock, image, signer, |_| {})
}

/// [`push_keyless_signature`], with `edit` changing the layer annotations (all but the
/// signature's) before the push: how a test tampers with what a verifier reads.
pub fn push_keyless_signature_with(
    peer: &InstalledPeer,
    mock: &SigstoreMock,
    image: &Image,
    signer: &Keyless,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> KeylessSigned {
    let payload = simple_signing_payload(image);
    let artifact = mock.scratch("payload", "json");
    std::fs::write(&artifact, &payload).unwrap();
    let bundle = sign_keyless(peer, mock, signer, &artifact, false);
    let bundle_path = mock.scratch("bundle", "json");
    std::fs::write(&bundle_path, bundle.to_string()).unwrap();
    let (signature, mut annotations) = cosign_layer_annotations(&bundle);
    edit(&mut annotations);
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let target = Store::open(&client, &ImageReference::parse(&image.tagged).unwrap()).unwrap();
    let digest: Digest = image.digest.parse().unwrap();
    let signature = NewSignature {
        payload,
        signature,
        annotations,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(attach_signature(&target.store, &digest, &signature))
        .unwrap();
    KeylessSigned {
        bundle,
        bundle_path,
        artifact,
    }
}

/// The in-toto statement of a bundle image signature: `image`'s repository path (without
/// the registry) as the subject's name, its digest, predicate type
/// [`COSIGN_SIGN_PREDICATE_TYPE`] and an empty predicate.
pub fn image_signature_statement(image: &Image) -> Value {
    let (_, repo) = image.repository.split_once('/').unwrap();
    let hex = image.digest.strip_prefix("sha256:").unwrap();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": repo, "digest": {"sha256": hex}}],
        "predicateType": COSIGN_SIGN_PREDICATE_TYPE,
        "predicate": {},
    })
}

/// The image manifest `image` names, byte for byte (skopeo `inspect --raw`); panics unless its
/// SHA-256 is the image's digest.
pub fn raw_manifest(image: &Image) -> Vec<u8> {
    let inspected = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}", image.by_digest),
        ],
    );
    assert_eq!(inspected.code, 0, "skopeo inspect failed:\n{inspected:#?}");
    let bytes = inspected.stdout.into_bytes();
    assert_eq!(
        format!("sha256:{}", crate::sha256_hex(&bytes)),
        image.digest,
        "skopeo did not return the manifest as stored"
    );
    bytes
}

/// Signs `image` keylessly as `signer` with a v0.3 bundle holding a DSSE envelope over its
/// [`image_signature_statement`], and pushes the bundle with `@sigstore/oci`
/// (`sigstore-js.js oci-attach`) as a referrer of the image, as GitHub's `actions/attest`
/// does (on a registry without the referrers API, in the referrers tag schema). Records that
/// the current test runs against `sigstore-oci` ([`peer_ran`]). Returns the signature; its
/// artifact is the image manifest.
pub fn push_keyless_bundle_signature(
    peer: &InstalledPeer,
    mock: &SigstoreMock,
    image: &Image,
    signer: &Keyless,
) -> KeylessSigned {
    push_keyless_bundle(
        peer,
        mock,
        image,
        signer,
        &image_signature_statement(image),
        None,
    )
}

/// Signs `statement` (an in-toto statement about `image`) keylessly as a DSSE bundle and
/// pushes it as a referrer of the image with `@sigstore/oci`, annotated with
/// `predicate_type` when given, as GitHub's `actions/attest` pushes attestations.
pub fn push_keyless_bundle(
    peer: &InstalledPeer,
    mock: &SigstoreMock,
    image: &Image,
    signer: &Keyless,
    statement_json: &Value,
    predicate_type: Option<&str>,
) -> KeylessSigned {
    let statement = mock.scratch("statement", "json");
    std::fs::write(&statement, statement_json.to_string()).unwrap();
    let bundle = sign_keyless(peer, mock, signer, &statement, true);
    let bundle_path = mock.scratch("bundle", "json");
    std::fs::write(&bundle_path, bundle.to_string()).unwrap();
    let (registry, repo) = image.repository.split_once('/').unwrap();
    let mut args = vec![
        "oci-attach",
        "--registry",
        registry,
        "--repository",
        repo,
        "--digest",
        &image.digest,
        "--bundle",
        bundle_path.to_str().unwrap(),
    ];
    if let Some(predicate_type) = predicate_type {
        args.extend(["--predicate-type", predicate_type]);
    }
    let attached = peer.run(&args);
    assert_eq!(
        attached.code, 0,
        "sigstore-js oci-attach failed:\n{attached:#?}"
    );
    peer_ran("sigstore-oci");
    let artifact = mock.scratch("manifest", "json");
    std::fs::write(&artifact, raw_manifest(image)).unwrap();
    KeylessSigned {
        bundle,
        bundle_path,
        artifact,
    }
}

/// Sends `request` (with `body` in place of its own) to `upstream` (`http://127.0.0.1:PORT`)
/// as HTTP/1.0, so that the answer ends with the connection, and returns the answer as a
/// [`crate::hostile::Reply`] a [`crate::hostile::HostileServer`] script gives back: a tampering proxy in front
/// of the mock is a script that changes the request or the answer on the way.
pub fn forward(
    upstream: &str,
    request: &crate::hostile::Request,
    body: &[u8],
) -> crate::hostile::Reply {
    use std::io::{Read, Write};
    let addr = upstream.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{} {} HTTP/1.0\r\nHost: {addr}\r\n",
        request.method, request.target
    );
    for (name, value) in &request.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_once(' ').unwrap().1.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| {
            !matches!(
                n.to_ascii_lowercase().as_str(),
                "content-length" | "connection" | "transfer-encoding" | "date" | "keep-alive"
            )
        })
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    crate::hostile::Reply::with_headers(&status, &refs, &answer[split + 4..])
}

/// Writes, in a fresh folder of `mock`'s, a trust policy with one keyless authority (the
/// mock's trusted root, `issuer`, subjects matching `subject`) for every image of `registry`;
/// returns the policy file.
pub fn keyless_policy(
    mock: &SigstoreMock,
    registry: &crate::Registry,
    issuer: &str,
    subject: &str,
) -> PathBuf {
    let dir = mock.dir().join(unique("policy"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(mock.trusted_root(), dir.join("trusted_root.json")).unwrap();
    let policy = format!(
        "apiVersion: vouch.dev/v1
kind: TrustPolicy
authorities:
  ci:
    keyless:
      issuer: {issuer}
      subjectRegExp: '{subject}'
    trustedRoot: {{path: trusted_root.json}}
scopes:
  - images: [\"{}/**\"]
    authorities: [ci]
",
        registry.addr
    );
    let path = dir.join("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    path
}
