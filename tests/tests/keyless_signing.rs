//! Keyless signing by vouch, end to end: an identity token buys a certificate from a private
//! Sigstore (`@sigstore/mock`'s Fulcio, Rekor v1 and RFC 3161 timestamp authority, served by
//! `tests/peers/js/sigstore-mock.js`), the signature is logged and timestamped, and what
//! vouch writes or pushes verifies with vouch (identity flags and a trust policy), with
//! sigstore-js and with sigstore-python. Then the faults: bad tokens, a Fulcio that refuses or
//! certifies someone else, an SCT that does not verify, a log or a timestamp authority whose
//! answer is for something else. Each is refused naming what was wrong, with nothing written
//! or pushed, and no token in any output.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vouch_tests::hostile::{HostileServer, Reply};
use vouch_tests::keyless::{SigstoreMock, forward, identity_token, keyless_policy};
use vouch_tests::{
    FakeRekor, Image, InstalledPeer, Peer, Registry, RekorBehavior, Run, push_image,
    signature_manifest, unique, vouch, vouch_command,
};

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// sigstore-js (which brings the mock) and the mock; `None` when sigstore-js cannot be
/// installed here (under `VOUCH_REQUIRE_PEERS=1` that has failed the test already).
struct Setup {
    peer: InstalledPeer,
    mock: SigstoreMock,
    dir: tempfile::TempDir,
    token: PathBuf,
}

impl Setup {
    fn start() -> Option<Setup> {
        let peer = Peer::SigstoreJs.install()?;
        let mock = SigstoreMock::start(&peer);
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, SigstoreMock::token(IDENTITY, ISSUER)).unwrap();
        Some(Setup {
            peer,
            mock,
            dir,
            token,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> &str {
        self.mock.trusted_root().to_str().unwrap()
    }

    /// `@TOKEN-FILE`.
    fn token_arg(&self) -> String {
        format!("@{}", self.token.display())
    }

    /// The keyless signing flags for the mock's services (its signing config) and root.
    fn signing<'a>(&'a self, token: &'a str) -> Vec<&'a str> {
        vec![
            "--identity-token",
            token,
            "--signing-config",
            self.mock.signing_config().to_str().unwrap(),
            "--trusted-root",
            self.root(),
        ]
    }

    /// A file to sign.
    fn artifact(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("the release {name}\n")).unwrap();
        path
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The flags naming the services one by one: the token, Fulcio, a Rekor v1 log and the
/// trusted root their answers are checked against.
fn services<'a>(token: &'a str, fulcio: &'a str, rekor: &'a str, root: &'a str) -> [&'a str; 8] {
    [
        "--identity-token",
        token,
        "--fulcio-url",
        fulcio,
        "--rekor-url",
        rekor,
        "--trusted-root",
        root,
    ]
}

/// Runs vouch with `args`, then `extra` after them.
fn run(args: &[&str], extra: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend_from_slice(extra);
    vouch(&all)
}

/// `vouch verify-blob` of `bundle` for [`IDENTITY`] and [`ISSUER`].
fn verify_blob(setup: &Setup, bundle: &Path, artifact: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "verify-blob",
        "--bundle",
        s(bundle),
        "--trusted-root",
        setup.root(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    args.extend_from_slice(extra);
    args.push(s(artifact));
    vouch(&args)
}

/// sigstore-python's client trust configuration for the mock: its trusted root and signing
/// config.
fn trust_config(setup: &Setup) -> PathBuf {
    let read = |p: &Path| serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap();
    let config = json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": read(setup.mock.trusted_root()),
        "signingConfig": read(setup.mock.signing_config()),
    });
    let path = setup.path("trust-config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[test]
fn keyless_blob_signatures_verify_with_vouch_sigstore_js_and_sigstore_python() {
    let Some(setup) = Setup::start() else { return };
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    let token = setup.token_arg();
    let file = setup.artifact("app.tar.gz");
    let bundle = setup.path("app.sigstore.json");
    let certificate = setup.path("app.crt");
    let signed = run(
        &[
            "sign-blob",
            "-o",
            "json",
            "--bundle",
            s(&bundle),
            "--output-certificate",
            s(&certificate),
        ],
        &[&setup.signing(&token)[..], &[s(&file)]].concat(),
    )
    .expect_code(0);
    let report = signed.json();
    assert_eq!(report["signer"]["identity"], IDENTITY);
    assert_eq!(report["signer"]["issuer"], ISSUER);
    assert_eq!(report["tlogEntry"]["url"], setup.mock.url());
    let written: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let material = &written["verificationMaterial"];
    assert!(
        material["certificate"]["rawBytes"].is_string(),
        "{written:#}"
    );
    assert_eq!(material["tlogEntries"].as_array().unwrap().len(), 1);
    assert_eq!(
        material["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let pem = std::fs::read_to_string(&certificate).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert_eq!(report["signer"]["certificate"], pem.as_str());

    // vouch, with its report of every check.
    let verified = verify_blob(&setup, &bundle, &file, &[]).expect_code(0);
    for check in [
        "tlog-inclusion-proof",
        "rfc3161-timestamp",
        "certificate-sct",
        "certificate-identity",
    ] {
        assert!(verified.stdout.contains(check), "{verified:#?}");
    }
    let other = run(
        &[
            "verify-blob",
            "--bundle",
            s(&bundle),
            "--trusted-root",
            setup.root(),
            "--certificate-identity",
            "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1",
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        &[s(&file)],
    );
    assert_eq!(other.code, 1, "{other:#?}");

    // sigstore-js, with the mock's trusted root.
    let js = |bundle: &Path, artifact: &Path| {
        setup.peer.run(&[
            "verify",
            "--bundle",
            s(bundle),
            "--trusted-root",
            setup.root(),
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
            "--tlog-threshold",
            "1",
            s(artifact),
        ])
    };
    let run_js = js(&bundle, &file);
    assert_eq!(run_js.code, 0, "sigstore-js refused:\n{run_js:#?}");

    // sigstore-python, offline, with the mock as its trust configuration.
    let config = trust_config(&setup);
    let py = |bundle: &Path, artifact: &Path| {
        python.run(&[
            "--trust-config",
            s(&config),
            "verify",
            "identity",
            "--offline",
            "--bundle",
            s(bundle),
            "--cert-identity",
            IDENTITY,
            "--cert-oidc-issuer",
            ISSUER,
            s(artifact),
        ])
    };
    let run_py = py(&bundle, &file);
    assert_eq!(run_py.code, 0, "sigstore-python refused:\n{run_py:#?}");

    // An attestation about the file: a DSSE envelope logged as a dsse entry.
    let predicate = setup.path("predicate.json");
    std::fs::write(&predicate, r#"{"buildType": "release"}"#).unwrap();
    let attested = setup.path("app.intoto.sigstore.json");
    run(
        &[
            "attest-blob",
            "--predicate",
            s(&predicate),
            "--bundle",
            s(&attested),
        ],
        &[&setup.signing(&token)[..], &[s(&file)]].concat(),
    )
    .expect_code(0);
    verify_blob(&setup, &attested, &file, &[]).expect_code(0);
    let run_js = js(&attested, &file);
    assert_eq!(
        run_js.code, 0,
        "sigstore-js refused the DSSE bundle:\n{run_js:#?}"
    );
    let run_py = py(&attested, &file);
    assert_eq!(
        run_py.code, 0,
        "sigstore-python refused the DSSE bundle:\n{run_py:#?}"
    );
}

#[test]
fn a_timestamp_alone_makes_a_keyless_signature_verifiable_without_a_log() {
    let Some(setup) = Setup::start() else { return };
    let token = setup.token_arg();
    let file = setup.artifact("notes.txt");
    let bundle = setup.path("notes.sigstore.json");
    let tsa = format!("{}/api/v1/timestamp", setup.mock.url());
    run(
        &[
            "sign-blob",
            "--identity-token",
            &token,
            "--fulcio-url",
            setup.mock.url(),
            "--timestamp-server-url",
            &tsa,
            "--trusted-root",
            setup.root(),
            "--bundle",
            s(&bundle),
        ],
        &[s(&file)],
    )
    .expect_code(0);
    let written: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert!(
        written["verificationMaterial"]["tlogEntries"]
            .as_array()
            .is_none_or(|entries| entries.is_empty()),
        "{written:#}"
    );
    // A log entry is asked for by default; --insecure-ignore-tlog takes the timestamp.
    assert_eq!(verify_blob(&setup, &bundle, &file, &[]).code, 1);
    verify_blob(&setup, &bundle, &file, &["--insecure-ignore-tlog"]).expect_code(0);

    // Neither a log nor a timestamp: refused before a token is even looked at.
    let refused = run(
        &[
            "sign-blob",
            "--identity-token",
            &token,
            "--fulcio-url",
            setup.mock.url(),
            "--trusted-root",
            setup.root(),
            "--bundle",
            s(&setup.path("never.json")),
        ],
        &[s(&file)],
    )
    .expect_code(2);
    assert!(
        refused
            .stderr
            .contains("transparency-log entry or an RFC 3161 timestamp"),
        "{refused:#?}"
    );
    assert!(!setup.path("never.json").exists());
}

/// `GET http://ADDR/v2/...` on `registry`, the body (curl).
fn registry_get(registry: &Registry, path: &str, accept: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args(["-sfL", "-H", &format!("Accept: {accept}")])
        .arg(format!("http://{}/v2/{path}", registry.addr))
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {path}: {out:?}");
    out.stdout
}

/// What vouch pushed for `image`, as a bundle file and the artifact it signs: the `.sig`
/// layer's annotations read into a bundle by vouch-verifier (legacy), whose artifact is the
/// simple-signing payload; or the referrer's v0.3 bundle (v3), whose artifact is the image
/// manifest.
fn pushed_bundle(
    setup: &Setup,
    registry: &Registry,
    image: &Image,
    format: &str,
) -> (PathBuf, PathBuf) {
    let repository = image.repository.split_once('/').unwrap().1;
    let hex = image.digest.trim_start_matches("sha256:");
    let oci = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
    let bundle = setup.path(&unique("pushed-bundle"));
    let artifact = setup.path(&unique("pushed-artifact"));
    if format == "legacy" {
        let manifest: Value = serde_json::from_slice(&registry_get(
            registry,
            &format!("{repository}/manifests/sha256-{hex}.sig"),
            oci,
        ))
        .unwrap();
        let layer = &manifest["layers"][0];
        let digest = layer["digest"].as_str().unwrap();
        let payload = registry_get(registry, &format!("{repository}/blobs/{digest}"), "*/*");
        let annotations = layer["annotations"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let signature_layer = vouch_attestations::cosign::SignatureLayer {
            index: 0,
            media_type: layer["mediaType"].as_str().unwrap().to_owned(),
            digest: digest.parse().unwrap(),
            annotations,
            payload: Ok(payload.clone()),
        };
        let bundles = vouch_verifier::image::layer_bundles(&signature_layer).unwrap();
        std::fs::write(&bundle, bundles[0].to_json()).unwrap();
        std::fs::write(&artifact, payload).unwrap();
    } else {
        let index: Value = serde_json::from_slice(&registry_get(
            registry,
            &format!("{repository}/manifests/sha256-{hex}"),
            oci,
        ))
        .unwrap();
        let referrer = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
            .unwrap();
        let manifest: Value = serde_json::from_slice(&registry_get(
            registry,
            &format!(
                "{repository}/manifests/{}",
                referrer["digest"].as_str().unwrap()
            ),
            oci,
        ))
        .unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        std::fs::write(
            &bundle,
            registry_get(registry, &format!("{repository}/blobs/{layer}"), "*/*"),
        )
        .unwrap();
        std::fs::write(&artifact, vouch_tests::keyless::raw_manifest(image)).unwrap();
    }
    (bundle, artifact)
}

#[test]
fn keyless_image_signatures_and_attestations_verify_in_both_layouts() {
    let Some(setup) = Setup::start() else { return };
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    let config = trust_config(&setup);
    let registry = Registry::start();
    let token = setup.token_arg();
    let identity_flags = [
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        setup.root(),
    ];
    for format in ["legacy", "v3"] {
        let image = push_image(&registry, &unique(&format!("keyless-{format}")), "v1");
        let signed = run(
            &["sign", "-o", "json", "--bundle-format", format],
            &[&setup.signing(&token)[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
        assert_eq!(signed.json()[0]["signer"]["identity"], IDENTITY);
        if format == "legacy" {
            // cosign's keyless annotations, as cosign writes them.
            let manifest = signature_manifest(&image.repository, &image.digest).unwrap();
            let annotations = &manifest["layers"][0]["annotations"];
            for name in [
                "dev.cosignproject.cosign/signature",
                "dev.sigstore.cosign/certificate",
                "dev.sigstore.cosign/chain",
                "dev.sigstore.cosign/bundle",
                "dev.sigstore.cosign/rfc3161timestamp",
            ] {
                assert!(
                    annotations[name].is_string(),
                    "{name} missing: {manifest:#}"
                );
            }
        }
        let verified = run(
            &["verify", "-o", "json"],
            &[&identity_flags[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
        assert!(verified.stdout.contains(IDENTITY), "{verified:#?}");
        let allowed = keyless_policy(
            &setup.mock,
            &registry,
            ISSUER,
            r"^https://github\.com/acme/",
        );
        run(&["verify", "--policy", s(&allowed)], &[&image.tagged]).expect_code(0);
        // sigstore-js and sigstore-python verify what was pushed, as a bundle.
        let (bundle, artifact) = pushed_bundle(&setup, &registry, &image, format);
        let js = setup.peer.run(&[
            "verify",
            "--bundle",
            s(&bundle),
            "--trusted-root",
            setup.root(),
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
            "--tlog-threshold",
            "1",
            s(&artifact),
        ]);
        assert_eq!(
            js.code, 0,
            "sigstore-js refused the {format} signature:\n{js:#?}"
        );
        // sigstore-python reads Sigstore bundles only; the cosign tag layout (whose Rekor
        // bundle annotation has a signed entry timestamp but no inclusion proof) is not a
        // format it takes, so it checks what vouch pushes as a bundle.
        if format == "v3" {
            let py = python.run(&[
                "--trust-config",
                s(&config),
                "verify",
                "identity",
                "--offline",
                "--bundle",
                s(&bundle),
                "--cert-identity",
                IDENTITY,
                "--cert-oidc-issuer",
                ISSUER,
                s(&artifact),
            ]);
            assert_eq!(
                py.code, 0,
                "sigstore-python refused the {format} signature:\n{py:#?}"
            );
        }
        let denied = keyless_policy(
            &setup.mock,
            &registry,
            ISSUER,
            r"^https://github\.com/someone-else/",
        );
        run(&["verify", "--policy", s(&denied)], &[&image.tagged]).expect_code(1);

        // An attestation, and an SBOM attestation, keyless.
        let predicate = setup.path(&unique("predicate"));
        std::fs::write(&predicate, r#"{"release": "v1"}"#).unwrap();
        run(
            &[
                "attest",
                "--type",
                "custom",
                "--predicate",
                s(&predicate),
                "--bundle-format",
                format,
            ],
            &[&setup.signing(&token)[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
        run(
            &["verify-attestation", "--type", "custom"],
            &[&identity_flags[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
        let sbom = setup.path(&unique("sbom"));
        run(
            &[
                "sbom",
                "--attest",
                "--bundle-format",
                format,
                "--output-file",
                s(&sbom),
            ],
            &[&setup.signing(&token)[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
        run(
            &["verify-attestation", "--type", "cyclonedx"],
            &[&identity_flags[..], &[&image.tagged]].concat(),
        )
        .expect_code(0);
    }
}

/// Runs `vouch sign` keylessly on a fresh image of `registry` with `flags`, expecting `code`;
/// checks that nothing was pushed and that the token appears in no output. Returns the run.
fn refused_sign(registry: &Registry, token: &str, flags: &[&str], code: i32) -> (Run, Image) {
    let image = push_image(registry, &unique("refused"), "v1");
    let mut args = vec!["sign", "-vv"];
    args.extend_from_slice(flags);
    args.push(&image.tagged);
    let run = vouch(&args);
    assert_eq!(run.code, code, "{run:#?}");
    assert!(
        signature_manifest(&image.repository, &image.digest).is_none(),
        "a signature was pushed: {run:#?}"
    );
    let secret = token.trim_start_matches('@');
    let secret = std::fs::read_to_string(secret).unwrap_or_else(|_| secret.to_owned());
    let payload = secret.split('.').nth(1).unwrap_or(&secret).to_owned();
    assert!(
        !run.stdout.contains(&payload) && !run.stderr.contains(&payload),
        "the token (or its claims) leaked: {run:#?}"
    );
    (run, image)
}

#[test]
fn bad_identity_tokens_are_refused_before_fulcio_is_asked() {
    let Some(setup) = Setup::start() else { return };
    let registry = Registry::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |aud: &str, exp: u64| {
        identity_token(&json!({"iss": ISSUER, "sub": IDENTITY, "aud": aud, "exp": exp}))
    };
    for (token, needle) in [
        (claims("sigstore", now - 60), "expired at"),
        (claims("someone-else", now + 600), "another audience"),
        ("not-a-token".to_owned(), "not a JSON Web Token"),
    ] {
        let path = setup.path(&unique("token"));
        std::fs::write(&path, &token).unwrap();
        let arg = format!("@{}", path.display());
        let (run, _) = refused_sign(&registry, &arg, &setup.signing(&arg), 2);
        assert!(run.stderr.contains(needle), "{needle}: {run:#?}");
    }
    // No token anywhere: the message says where one comes from.
    let image = push_image(&registry, &unique("no-token"), "v1");
    let run = vouch(&[
        "sign",
        "--signing-config",
        s(setup.mock.signing_config()),
        "--trusted-root",
        setup.root(),
        &image.tagged,
    ])
    .expect_code(2);
    assert!(run.stderr.contains("SIGSTORE_ID_TOKEN"), "{run:#?}");
    assert!(
        run.stderr.contains("no interactive browser flow"),
        "{run:#?}"
    );
}

#[test]
fn tokens_come_from_the_environment_and_from_github_actions() {
    let Some(setup) = Setup::start() else { return };
    let token = SigstoreMock::token(IDENTITY, ISSUER);
    let file = setup.artifact("env.txt");
    let flags = [
        "--signing-config",
        s(setup.mock.signing_config()),
        "--trusted-root",
        setup.root(),
    ];
    // SIGSTORE_ID_TOKEN, as GitLab's id_tokens set it.
    let bundle = setup.path("env.json");
    let out = vouch_command(
        &[
            &["sign-blob", "--bundle", s(&bundle)][..],
            &flags[..],
            &[s(&file)],
        ]
        .concat(),
    )
    .env("SIGSTORE_ID_TOKEN", &token)
    .output()
    .unwrap();
    Run::from(out).expect_code(0);
    verify_blob(&setup, &bundle, &file, &[]).expect_code(0);

    // GitHub Actions: the job's request URL and bearer, audience sigstore.
    let served = token.clone();
    let github = HostileServer::start(move |request| {
        if request.header("authorization") == Some("bearer request-secret")
            && request.target.contains("audience=sigstore")
        {
            Reply::status("200 OK", json!({"value": served}).to_string().as_bytes())
        } else {
            Reply::status("401 Unauthorized", b"{\"message\":\"bad request token\"}")
        }
    });
    // `sign-blob` into `bundle` in a job whose request bearer is `bearer`.
    let in_github_job = |bundle: &Path, bearer: &str| {
        let args = [
            &["sign-blob", "-vv", "--bundle", s(bundle)][..],
            &flags[..],
            &[s(&file)],
        ];
        Run::from(
            vouch_command(&args.concat())
                .env(
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    format!("{}/token?api-version=2.0", github.url()),
                )
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", bearer)
                .output()
                .unwrap(),
        )
    };
    let bundle = setup.path("github.json");
    let run = in_github_job(&bundle, "request-secret").expect_code(0);
    assert!(!run.stderr.contains("request-secret"), "{run:#?}");
    verify_blob(&setup, &bundle, &file, &[]).expect_code(0);
    assert_eq!(github.requests().len(), 1);

    // A refused request token is named as GitHub's refusal.
    let run = in_github_job(&setup.path("no.json"), "refused-bearer-secret").expect_code(3);
    assert!(
        run.stderr
            .contains("GitHub Actions token service answered 401"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("refused-bearer-secret"), "{run:#?}");
}

#[test]
fn a_fulcio_that_refuses_or_certifies_someone_else_gets_nothing_signed() {
    let Some(setup) = Setup::start() else { return };
    let registry = Registry::start();
    let token = setup.token_arg();
    let rekor = setup.mock.url().to_owned();

    // Fulcio refuses the token.
    let refusing = HostileServer::start(|_| {
        Reply::status(
            "401 Unauthorized",
            br#"{"code":16,"message":"There was an error processing the identity token"}"#,
        )
    });
    let url = refusing.url();
    let flags = services(&token, &url, &rekor, setup.root());
    let (run, _) = refused_sign(&registry, &token, &flags, 3);
    assert!(run.stderr.contains("Fulcio answered 401"), "{run:#?}");
    assert!(
        run.stderr.contains("error processing the identity token"),
        "{run:#?}"
    );

    // Fulcio answers without end: refused at the answer limit.
    let endless = HostileServer::start(|_| Reply::Endless {
        headers: Vec::new(),
        chunk: vec![b' '; 64 * 1024],
        interval: std::time::Duration::ZERO,
    });
    let url = endless.url();
    let flags = services(&token, &url, &rekor, setup.root());
    let (run, _) = refused_sign(&registry, &token, &flags, 3);
    assert!(run.stderr.contains("limit"), "{run:#?}");

    // Fulcio certifies the key for another subject: the token on the way is swapped for one
    // with the same email (what the proof of possession signs) and another `sub` (the SAN).
    let claims = |sub: &str| {
        identity_token(
            &json!({"iss": ISSUER, "sub": sub, "email": "release@acme.example",
            "aud": "sigstore", "exp": 4_000_000_000u64}),
        )
    };
    let ours = claims(IDENTITY);
    let theirs =
        claims("https://github.com/mallory/app/.github/workflows/evil.yml@refs/heads/main");
    let upstream = setup.mock.url().to_owned();
    let (from, to) = (ours.clone(), theirs.clone());
    let swapping = HostileServer::start(move |request| {
        let body = String::from_utf8_lossy(&request.body).replace(&from, &to);
        forward(&upstream, request, body.as_bytes())
    });
    let path = setup.path("ours.token");
    std::fs::write(&path, &ours).unwrap();
    let ours_arg = format!("@{}", path.display());
    let url = swapping.url();
    let flags = services(&ours_arg, &url, &rekor, setup.root());
    let (run, _) = refused_sign(&registry, &ours_arg, &flags, 3);
    assert!(run.stderr.contains("[certificate-identity]"), "{run:#?}");
    assert!(run.stderr.contains("mallory"), "{run:#?}");
    // The same token through the mock directly is certified (the control).
    let direct = services(&ours_arg, &rekor, &rekor, setup.root());
    let image = push_image(&registry, &unique("control"), "v1");
    run_ok(&direct, &image);
}

fn run_ok(flags: &[&str], image: &Image) {
    let mut args = vec!["sign"];
    args.extend_from_slice(flags);
    args.push(&image.tagged);
    vouch(&args).expect_code(0);
    assert!(signature_manifest(&image.repository, &image.digest).is_some());
}

#[test]
fn an_sct_that_does_not_verify_stops_signing() {
    let Some(setup) = Setup::start() else { return };
    let registry = Registry::start();
    let token = setup.token_arg();
    // The trusted root's CT log key replaced by another P-256 key.
    let mut root: Value =
        serde_json::from_slice(&std::fs::read(setup.mock.trusted_root()).unwrap()).unwrap();
    let other = vouch_keys::PrivateKey::generate(vouch_keys::KeyType::EcdsaP256).unwrap();
    use base64::Engine as _;
    root["ctlogs"][0]["publicKey"]["rawBytes"] =
        json!(base64::engine::general_purpose::STANDARD.encode(other.public_key().spki_der()));
    let path = setup.path("bad-ct-root.json");
    std::fs::write(&path, root.to_string()).unwrap();
    let flags = [
        "--identity-token",
        &token,
        "--signing-config",
        s(setup.mock.signing_config()),
        "--trusted-root",
        s(&path),
    ];
    let (run, _) = refused_sign(&registry, &token, &flags, 3);
    assert!(run.stderr.contains("[certificate-sct]"), "{run:#?}");
    assert!(run.stderr.contains("Fulcio"), "{run:#?}");
}

#[test]
fn a_log_answer_for_another_entry_or_with_a_bad_proof_gets_nothing_pushed() {
    let Some(setup) = Setup::start() else { return };
    let registry = Registry::start();
    let token = setup.token_arg();
    for (behavior, check) in [
        (RekorBehavior::WrongBody, "[tlog-entry-body]"),
        (RekorBehavior::BadProof, "[tlog-inclusion-proof]"),
        (RekorBehavior::BadSet, "[tlog-signed-entry-timestamp]"),
    ] {
        let control = matches!(behavior, RekorBehavior::WrongBody);
        let log = FakeRekor::start(behavior);
        // The mock's root, with this log as its one transparency log.
        let log_root = setup.path(&unique("log-root"));
        log.write_trusted_root(&log_root);
        let mut root: Value =
            serde_json::from_slice(&std::fs::read(setup.mock.trusted_root()).unwrap()).unwrap();
        let theirs: Value = serde_json::from_slice(&std::fs::read(&log_root).unwrap()).unwrap();
        root["tlogs"] = theirs["tlogs"].clone();
        let path = setup.path(&unique("root"));
        std::fs::write(&path, root.to_string()).unwrap();
        let flags = services(&token, setup.mock.url(), &log.url, s(&path));
        let (run, _) = refused_sign(&registry, &token, &flags, 3);
        assert!(run.stderr.contains(check), "{check}: {run:#?}");
        assert!(run.stderr.contains(&log.url), "{run:#?}");
        // And the honest log, for the control.
        if control {
            let honest = FakeRekor::start(RekorBehavior::Honest);
            let honest_root = setup.path(&unique("honest-root"));
            honest.write_trusted_root(&honest_root);
            let theirs: Value =
                serde_json::from_slice(&std::fs::read(&honest_root).unwrap()).unwrap();
            root["tlogs"] = theirs["tlogs"].clone();
            std::fs::write(&path, root.to_string()).unwrap();
            let flags = services(&token, setup.mock.url(), &honest.url, s(&path));
            run_ok(&flags, &push_image(&registry, &unique("honest"), "v1"));
        }
    }
}

#[test]
fn a_timestamp_over_other_bytes_is_refused_and_nothing_is_written() {
    let Some(setup) = Setup::start() else { return };
    let token = setup.token_arg();
    let upstream = setup.mock.url().to_owned();
    // The request is swapped on its way for one over other bytes.
    let swapping = HostileServer::start(move |request| {
        let other = vouch_verifier::tsa::timestamp_request(
            &vouch_keys::Digest::sha256(b"other bytes"),
            &[1, 2, 3, 4],
        );
        forward(&upstream, request, &other)
    });
    let tsa = format!("{}/api/v1/timestamp", swapping.url());
    let file = setup.artifact("stamped.txt");
    let bundle = setup.path("stamped.json");
    let run = vouch(&[
        "sign-blob",
        "--identity-token",
        &token,
        "--fulcio-url",
        setup.mock.url(),
        "--timestamp-server-url",
        &tsa,
        "--trusted-root",
        setup.root(),
        "--bundle",
        s(&bundle),
        s(&file),
    ])
    .expect_code(3);
    assert!(run.stderr.contains("[rfc3161-timestamp]"), "{run:#?}");
    assert!(run.stderr.contains("not over"), "{run:#?}");
    assert!(!bundle.exists());
}

/// The mock's trusted root and signing config with `log` as their one transparency log, a
/// Rekor v2 log in the signing config; `with_tsa` keeps the mock's timestamp authority in the
/// config. Returns (root, signing config).
fn with_rekor_v2(setup: &Setup, log: &FakeRekor, with_tsa: bool) -> (PathBuf, PathBuf) {
    let read = |p: &Path| serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap();
    let log_root = setup.path(&unique("v2-log-root"));
    log.write_trusted_root(&log_root);
    let mut root = read(setup.mock.trusted_root());
    root["tlogs"] = read(&log_root)["tlogs"].clone();
    let mut config = read(setup.mock.signing_config());
    config["rekorTlogUrls"] = json!([{
        "url": log.url,
        "majorApiVersion": 2,
        "validFor": {"start": "2020-01-01T00:00:00Z"},
        "operator": "vouch-tests",
    }]);
    if !with_tsa {
        config["tsaUrls"] = json!([]);
    }
    let (root_path, config_path) = (
        setup.path(&unique("v2-root")),
        setup.path(&unique("v2-config")),
    );
    std::fs::write(&root_path, root.to_string()).unwrap();
    std::fs::write(&config_path, config.to_string()).unwrap();
    (root_path, config_path)
}

#[test]
fn a_signing_config_naming_a_rekor_v2_log_gets_v2_entries_that_vouch_and_the_peers_verify() {
    let Some(setup) = Setup::start() else { return };
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    let token = setup.token_arg();
    let log = FakeRekor::start(RekorBehavior::Honest);
    let (root, config) = with_rekor_v2(&setup, &log, true);
    let signing = [
        "--identity-token",
        token.as_str(),
        "--signing-config",
        s(&config),
        "--trusted-root",
        s(&root),
    ];
    let file = setup.artifact("v2.tar");
    let bundle = setup.path("v2.sigstore.json");
    let attested = setup.path("v2.intoto.sigstore.json");
    let predicate = setup.path("v2-predicate.json");
    std::fs::write(&predicate, r#"{"buildType": "release"}"#).unwrap();
    run(
        &["sign-blob", "--bundle", s(&bundle)],
        &[&signing[..], &[s(&file)]].concat(),
    )
    .expect_code(0);
    run(
        &[
            "attest-blob",
            "--predicate",
            s(&predicate),
            "--bundle",
            s(&attested),
        ],
        &[&signing[..], &[s(&file)]].concat(),
    )
    .expect_code(0);
    assert!(
        log.requests()
            .iter()
            .all(|r| r.starts_with("POST /api/v2/log/entries")),
        "{:?}",
        log.requests()
    );
    assert_eq!(log.tree_size(), 2);

    // The mock's trust configuration for sigstore-python, with this log.
    let trust = setup.path("v2-trust-config.json");
    let read = |p: &Path| serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap();
    std::fs::write(
        &trust,
        json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": read(&root),
            "signingConfig": read(&config),
        })
        .to_string(),
    )
    .unwrap();
    // The envelope is recorded as Rekor v2 records envelopes: a hashedrekord over its PAE.
    for (bundle, kind) in [(&bundle, "hashedrekord"), (&attested, "hashedrekord")] {
        let written = read(bundle);
        let entry = &written["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(
            entry["kindVersion"],
            json!({"kind": kind, "version": "0.0.2"}),
            "{written:#}"
        );
        assert!(
            entry["inclusionPromise"].is_null() && entry["integratedTime"].is_null(),
            "{written:#}"
        );
        let mut verify = vec![
            "verify-blob",
            "--bundle",
            s(bundle),
            "--trusted-root",
            s(&root),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ];
        verify.push(s(&file));
        let verified = vouch(&verify).expect_code(0);
        assert!(
            verified.stdout.contains("rfc3161-timestamp"),
            "{verified:#?}"
        );
        let js = setup.peer.run(&[
            "verify",
            "--bundle",
            s(bundle),
            "--trusted-root",
            s(&root),
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
            "--tlog-threshold",
            "1",
            s(&file),
        ]);
        if bundle == &attested {
            // A known difference: @sigstore/verify 3.1.1 compares a hashedrekord 0.0.2
            // entry of a DSSE bundle with the hash of the payload, where the Rekor v2
            // specification (section 6.1.4), sigstore-python and vouch record and check the
            // hash of the envelope's PAE. Asserted, so that a fixed sigstore-js is noticed.
            assert!(
                js.code == 1 && js.stderr.contains("digest mismatch"),
                "sigstore-js on the DSSE bundle:\n{js:#?}"
            );
        } else {
            assert_eq!(
                js.code, 0,
                "sigstore-js refused the {kind} 0.0.2 bundle:\n{js:#?}"
            );
        }
        let py = python.run(&[
            "--trust-config",
            s(&trust),
            "verify",
            "identity",
            "--offline",
            "--bundle",
            s(bundle),
            "--cert-identity",
            IDENTITY,
            "--cert-oidc-issuer",
            ISSUER,
            s(&file),
        ]);
        assert_eq!(
            py.code, 0,
            "sigstore-python refused the {kind} 0.0.2 bundle:\n{py:#?}"
        );
    }

    // Images: a v3 bundle takes the entry; cosign's tag layout cannot, and is refused.
    let registry = Registry::start();
    let image = push_image(&registry, &unique("v2-image"), "v1");
    run(
        &["sign", "--bundle-format", "v3"],
        &[&signing[..], &[&image.tagged]].concat(),
    )
    .expect_code(0);
    run(
        &[
            "verify",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            s(&root),
        ],
        &[&image.tagged],
    )
    .expect_code(0);
    let (refused, _) = refused_sign(&registry, &token, &signing, 2);
    assert!(
        refused.stderr.contains("--bundle-format v3"),
        "{refused:#?}"
    );
}

#[test]
fn a_rekor_v2_log_with_a_bad_proof_or_no_timestamp_authority_gets_nothing_signed() {
    let Some(setup) = Setup::start() else { return };
    let token = setup.token_arg();
    let file = setup.artifact("v2-faults.tar");
    let sign = |root: &Path, config: &Path, bundle: &Path| {
        vouch(&[
            "sign-blob",
            "--identity-token",
            &token,
            "--signing-config",
            s(config),
            "--trusted-root",
            s(root),
            "--bundle",
            s(bundle),
            s(&file),
        ])
    };
    for (behavior, check) in [
        (RekorBehavior::BadProof, "[tlog-inclusion-proof]"),
        (RekorBehavior::WrongBody, "[tlog-entry-body]"),
    ] {
        let log = FakeRekor::start(behavior);
        let (root, config) = with_rekor_v2(&setup, &log, true);
        let bundle = setup.path(&unique("v2-bad"));
        let run = sign(&root, &config, &bundle).expect_code(3);
        assert!(
            run.stderr.contains(check) && run.stderr.contains(&log.url),
            "{run:#?}"
        );
        assert!(!bundle.exists());
    }
    // No timestamp authority: a v2 entry gives no signing time, refused before signing.
    let log = FakeRekor::start(RekorBehavior::Honest);
    let (root, config) = with_rekor_v2(&setup, &log, false);
    let bundle = setup.path("v2-no-tsa.json");
    let run = sign(&root, &config, &bundle).expect_code(2);
    assert!(
        run.stderr.contains("needs a timestamp authority"),
        "{run:#?}"
    );
    assert!(log.requests().is_empty() && !bundle.exists());
}
