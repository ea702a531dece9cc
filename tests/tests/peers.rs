//! Interop of vouch's Sigstore bundles with independent implementations, run for real:
//! sigstore-js (`@sigstore/verify` 3.1.1, `@sigstore/sign` 4.1.0, `@sigstore/bundle` 4.0.0,
//! pinned in `tests/peers/js/package-lock.json`) and sigstore-python 4.5.1 (pinned in
//! `tests/peers/python/requirements.txt`), installed into a cache by `tests/peers/install.sh`.
//!
//! - sigstore-js verifies what `vouch sign-blob` and `vouch attest-blob` write, by key;
//! - vouch verifies what sigstore-js signs with a key of its own (message signature and DSSE);
//! - each peer and vouch give their verdict on the sigstore-conformance cases, and every case
//!   where a peer departs from the suite's expected outcome is listed below with its reason.
//!   vouch must give the expected outcome on every case.
//!
//! A test whose peer cannot be installed here (no network) prints `SKIPPED` and passes.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use vouch_tests::{Peer, Run, generate_key, vouch, vouch_with_password, workspace_dir};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A peer's known departure from a case's expected outcome.
struct Difference {
    /// The case.
    case: &'static str,
    /// What the peer prints there (a part of it).
    peer_says: &'static str,
    /// Why, and who follows the specification.
    reason: &'static str,
}

/// Where sigstore-js 3.1.1 (`@sigstore/verify`) departs from the suite; vouch gives the
/// suite's outcome on each.
const SIGSTORE_JS_DIFFERENCES: &[Difference] = &[
    Difference {
        case: "rekor2-dsse-happy-path",
        peer_says: "[TLOG_BODY_ERROR]: digest mismatch",
        reason: "the DSSE envelope is logged to Rekor v2 as a hashedrekord v0.0.2 entry over \
                 SHA-256(PAE(payloadType, payload)) (rekor-v2 spec 6.1.4, 'hashedrekord over \
                 DSSE'); @sigstore/verify 3.1.1 compares that digest with the digest of the \
                 payload alone, so it refuses a valid bundle",
    },
    Difference {
        case: "trust-root-tlog-missing-validity-start_fail",
        peer_says: "verified",
        reason: "the trusted root's log key has no validFor.start, which the trusted-root spec \
                 requires; @sigstore/verify 3.1.1 (toTrustMaterial) reads a missing start as \
                 the beginning of time and accepts, where the case must be rejected",
    },
];

/// Where sigstore-python 4.5.1 departs from the suite; vouch gives the suite's outcome on each.
const SIGSTORE_PYTHON_DIFFERENCES: &[Difference] = &[
    Difference {
        case: "intoto-with-custom-trust-root",
        peer_says: "Integrated time only supported for dsse/hashedrekord 0.0.1 types",
        reason: "the bundle's only time source is the signed integrated time (with its \
                 inclusion promise) of a Rekor v1 intoto v0.0.2 entry; sigstore-python 4.5.1 \
                 takes integrated time only from dsse and hashedrekord v0.0.1 entries and \
                 refuses, while the bundle spec accepts the promise-backed integrated time of \
                 any Rekor v1 entry and the suite expects success",
    },
    Difference {
        case: "trust-root-tsa-validity-end-inclusive",
        peer_says: "not enough sources of verified time",
        reason: "the RFC 3161 timestamp equals the TSA's validFor.end; a TimeRange is a closed \
                 interval, but sigstore-python 4.5.1 requires gen_time < end, drops the \
                 timestamp and is left with no verified time",
    },
];

/// vouch's key bundles that sigstore-js 3.1.1 refuses, by (algorithm, DSSE?): what it says,
/// and why vouch's bundle is right.
const SIGSTORE_JS_REFUSES_FROM_VOUCH: &[(&str, bool, &str, &str)] = &[
    (
        "ecdsa-p384",
        true,
        "[SIGNATURE_ERROR]: signature verification failed",
        "vouch signs with P-384 and SHA-384 (the algorithm registry's \
         PKIX_ECDSA_P384_SHA_384, as sigstore-go does); @sigstore/verify checks a DSSE \
         signature with Node's default digest for an EC key, SHA-256, whatever the curve",
    ),
    (
        "ed25519",
        false,
        "[SIGNATURE_ERROR]: signature verification failed",
        "vouch signs the message with pure Ed25519 (the algorithm registry's PKIX_ED25519); \
         @sigstore/verify passes the messageDigest's algorithm (sha256) to crypto.verify, \
         which Node refuses for an Ed25519 key (it takes no digest), so no Ed25519 message \
         signature verifies there",
    ),
];

const ALGORITHMS: [&str; 3] = ["ecdsa-p256", "ecdsa-p384", "ed25519"];

fn conformance_dir() -> PathBuf {
    workspace_dir().join("verifier/tests/data/conformance")
}

fn public_good_root() -> PathBuf {
    workspace_dir().join("verifier/src/trusted_root/sigstore-public-good.json")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes straight to the terminal, past the test harness's capture.
fn report(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Output on both streams, for matching a peer's message.
fn said(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn sigstore_js_verifies_what_vouch_signs_and_attests() {
    let Some(js) = Peer::SigstoreJs.install() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = d.join("release.tar");
    fs::write(&artifact, b"release contents").unwrap();
    fs::write(d.join("other.tar"), b"other contents").unwrap();
    let predicate = d.join("predicate.json");
    fs::write(
        &predicate,
        br#"{"buildDefinition":{"buildType":"https://example.com/build"},"runDetails":{}}"#,
    )
    .unwrap();
    let root = public_good_root();
    let js_verify = |bundle: &Path, key: &Path, file: &Path| {
        js.run(&[
            "verify",
            "--bundle",
            path(bundle),
            "--trusted-root",
            path(&root),
            "--key",
            path(key),
            "--ignore-tlog",
            path(file),
        ])
    };

    let mut unexpected = Vec::new();
    for algorithm in ALGORITHMS {
        let key = generate_key(d, algorithm, algorithm);
        let signed = d.join(format!("{algorithm}.sig.json"));
        let attested = d.join(format!("{algorithm}.att.json"));
        vouch_with_password(
            &key.password,
            &[
                "sign-blob",
                "--key",
                path(&key.key),
                "--bundle",
                path(&signed),
                path(&artifact),
            ],
        )
        .expect_code(0);
        vouch_with_password(
            &key.password,
            &[
                "attest-blob",
                "--key",
                path(&key.key),
                "--predicate",
                path(&predicate),
                "--type",
                "slsaprovenance1",
                "--bundle",
                path(&attested),
                path(&artifact),
            ],
        )
        .expect_code(0);

        for (bundle, dsse) in [(&signed, false), (&attested, true)] {
            let run = js_verify(bundle, &key.public, &artifact);
            let refusal = SIGSTORE_JS_REFUSES_FROM_VOUCH
                .iter()
                .find(|(a, k, _, _)| *a == algorithm && *k == dsse);
            let kind = if dsse { "attest-blob" } else { "sign-blob" };
            match refusal {
                None if run.code == 0 => {}
                Some((_, _, says, reason)) if run.code != 0 && said(&run).contains(says) => {
                    report(&format!(
                        "sigstore-js refuses vouch {kind} {algorithm} (expected: {reason}): {}",
                        run.stderr.trim()
                    ));
                    continue;
                }
                _ => {
                    let expected = refusal.map_or("acceptance", |_| "the listed refusal");
                    unexpected.push(format!("{kind} {algorithm}, {expected} expected: {run:#?}"));
                    continue;
                }
            }
            // What it accepts, it accepts for the right reason: not for another file, and not
            // with another key (whose id the bundle's hint does not name).
            let run = js_verify(bundle, &key.public, &d.join("other.tar"));
            let denial = if dsse {
                "no subject of the in-toto statement"
            } else {
                "[SIGNATURE_ERROR]"
            };
            assert!(
                run.code == 1 && run.stderr.contains(denial),
                "{kind} {algorithm}, another file: {run:#?}"
            );
            let stranger = generate_key(d, &format!("{algorithm}-{kind}-other"), algorithm);
            let run = js_verify(bundle, &stranger.public, &artifact);
            assert!(
                run.code == 1 && run.stderr.contains("[PUBLIC_KEY_ERROR]: key not found"),
                "{kind} {algorithm}, another key: {run:#?}"
            );
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

#[test]
fn vouch_verifies_what_sigstore_js_signs() {
    let Some(js) = Peer::SigstoreJs.install() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = d.join("release.tar");
    fs::write(&artifact, b"release contents").unwrap();
    fs::write(d.join("other.tar"), b"other contents").unwrap();
    let statement = d.join("statement.json");
    fs::write(
        &statement,
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{
                "name": "release.tar",
                "digest": {"sha256": vouch_tests::sha256_hex(b"release contents")},
            }],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://example.com/build"}},
        })
        .to_string(),
    )
    .unwrap();

    for algorithm in ALGORITHMS {
        for dsse in [false, true] {
            let kind = if dsse { "dsse" } else { "message" };
            let bundle = d.join(format!("js-{algorithm}-{kind}.json"));
            let public = d.join(format!("js-{algorithm}-{kind}.pub"));
            let mut args = vec![
                "sign",
                "--algorithm",
                algorithm,
                "--bundle",
                path(&bundle),
                "--public-key",
                path(&public),
            ];
            if dsse {
                args.extend(["--dsse", path(&statement)]);
            } else {
                args.push(path(&artifact));
            }
            let signed = js.run(&args).expect_code(0);
            // @sigstore/sign writes a v0.2 bundle for a message signature, v0.3 for DSSE.
            let version = if dsse { "v0.3+json" } else { "version=0.2" };
            assert!(signed.stdout.contains(version), "{signed:?}");

            let verify = |key: &Path, file: &Path, ignore_tlog: bool| {
                let mut args = vec!["verify-blob", "--bundle", path(&bundle), "--key", path(key)];
                if ignore_tlog {
                    args.push("--insecure-ignore-tlog");
                }
                args.extend(["-o", "json", path(file)]);
                vouch(&args)
            };
            let run = verify(&public, &artifact, true);
            assert_eq!(run.code, 0, "{algorithm} {kind}: {run:#?}");
            assert_eq!(run.json()["verified"], true);
            // No log entry: refused without cosign's flag, as cosign refuses it.
            let run = verify(&public, &artifact, false).expect_code(1);
            assert_eq!(run.json()["check"], "tlog-entry", "{run:?}");
            // Another file, another key: denied.
            let run = verify(&public, &d.join("other.tar"), true).expect_code(1);
            assert_eq!(run.json()["verified"], false);
            let stranger = generate_key(d, &format!("{algorithm}-{kind}"), algorithm);
            let run = verify(&stranger.public, &artifact, true).expect_code(1);
            assert_eq!(run.json()["verified"], false);
        }
    }
}

/// One sigstore-conformance case, with the inputs the suite gives it.
struct Case {
    name: String,
    dir: PathBuf,
    artifact: PathBuf,
    identity: String,
    issuer: String,
    key: Option<PathBuf>,
    trusted_root: Option<PathBuf>,
}

impl Case {
    fn must_pass(&self) -> bool {
        !self.name.ends_with("_fail")
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.sigstore.json")
    }

    fn root(&self) -> PathBuf {
        self.trusted_root.clone().unwrap_or_else(public_good_root)
    }

    /// vouch's verdict, by the suite's command line (`tests/tests/conformance.rs`).
    fn vouch(&self) -> Run {
        let bundle = self.bundle();
        let mut args = vec!["verify-blob", "--bundle", path(&bundle)];
        match &self.key {
            Some(key) => args.extend(["--key", path(key)]),
            None => args.extend([
                "--certificate-identity",
                &self.identity,
                "--certificate-oidc-issuer",
                &self.issuer,
            ]),
        }
        if let Some(root) = &self.trusted_root {
            args.extend(["--trusted-root", path(root)]);
        }
        args.push(path(&self.artifact));
        vouch(&args)
    }
}

fn cases() -> Vec<Case> {
    let base = conformance_dir();
    let text = |dir: &Path, name: &str| {
        fs::read_to_string(dir.join(name))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let mut cases: Vec<Case> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("bundle.sigstore.json").exists())
        .map(|dir| Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            artifact: Some(dir.join("artifact"))
                .filter(|a| a.exists())
                .unwrap_or_else(|| base.join("a.txt")),
            identity: text(&dir, "identity").unwrap_or_else(|| DEFAULT_IDENTITY.into()),
            issuer: text(&dir, "issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            key: Some(dir.join("key.pub")).filter(|k| k.exists()),
            trusted_root: Some(dir.join("trusted_root.json")).filter(|r| r.exists()),
            dir,
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(cases.len(), 50, "the conformance cases changed");
    cases
}

/// Runs `peer` and vouch on every case, two at a time, and checks that vouch gives the
/// suite's outcome everywhere and the peer everywhere but in `differences`, each of which must
/// still hold (a peer that is fixed makes its entry stale).
fn compare(
    peer: &str,
    cases: &[Case],
    run_peer: impl Fn(&Case) -> Run + Sync,
    differences: &[Difference],
) {
    let verdicts: Vec<(Run, Run)> = std::thread::scope(|scope| {
        let half = cases.len().div_ceil(2);
        let workers: Vec<_> = cases
            .chunks(half)
            .map(|chunk| {
                let run_peer = &run_peer;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|case| (case.vouch(), run_peer(case)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    let mut problems = Vec::new();
    let mut summary = String::new();
    let mut agreed = 0;
    for (case, (vouch_run, peer_run)) in cases.iter().zip(&verdicts) {
        let expected = case.must_pass();
        let vouch_ok = vouch_run.code == 0;
        if vouch_ok != expected || vouch_run.stderr.contains("panicked") {
            problems.push(format!(
                "vouch gives the wrong outcome on {} (exit {}): {}",
                case.name, vouch_run.code, vouch_run.stderr
            ));
        }
        let peer_ok = peer_run.code == 0;
        let listed = differences.iter().find(|d| d.case == case.name);
        match (peer_ok == expected, listed) {
            (true, None) => agreed += 1,
            (true, Some(_)) => problems.push(format!(
                "{peer} now gives the suite's outcome on {}: remove it from the differences",
                case.name
            )),
            (false, Some(d)) if said(peer_run).contains(d.peer_says) => {
                writeln!(
                    summary,
                    "  {} ({}): {peer} {}, vouch {}: {}",
                    case.name,
                    if expected { "must pass" } else { "must fail" },
                    if peer_ok { "accepts" } else { "refuses" },
                    if vouch_ok { "accepts" } else { "refuses" },
                    d.reason
                )
                .unwrap();
            }
            (false, _) => problems.push(format!(
                "{peer} {} {} (the suite expects {}), not a listed difference:\n{peer_run:#?}",
                if peer_ok { "accepts" } else { "refuses" },
                case.name,
                if expected { "success" } else { "failure" },
            )),
        }
    }
    report(&format!(
        "{peer}: the suite's outcome on {agreed} of {} conformance cases; vouch on {} of {}; \
         the differences:\n{summary}",
        cases.len(),
        cases.len() - problems.iter().filter(|p| p.starts_with("vouch")).count(),
        cases.len(),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sigstore_js_and_vouch_on_the_conformance_cases() {
    let Some(js) = Peer::SigstoreJs.install() else {
        return;
    };
    let all = cases();
    // The control: the script verifies a known-good bundle, and refuses it for another
    // identity.
    let happy = all.iter().find(|c| c.name == "happy-path-v0.3").unwrap();
    let by_identity = |case: &Case, identity: &str| {
        let (bundle, root) = (case.bundle(), case.root());
        js.run(&[
            "verify",
            "--bundle",
            path(&bundle),
            "--trusted-root",
            path(&root),
            "--identity",
            identity,
            "--issuer",
            &case.issuer,
            path(&case.artifact),
        ])
    };
    by_identity(happy, &happy.identity).expect_code(0);
    let run = by_identity(happy, "https://github.com/someone/else").expect_code(1);
    assert!(run.stderr.contains("UNTRUSTED_SIGNER_ERROR"), "{run:?}");

    let js = &js;
    compare(
        "sigstore-js",
        &all,
        |case| match &case.key {
            // A managed-key case: the key, and a log entry required, as the suite does.
            Some(key) => {
                let (bundle, root) = (case.bundle(), case.root());
                js.run(&[
                    "verify",
                    "--bundle",
                    path(&bundle),
                    "--trusted-root",
                    path(&root),
                    "--key",
                    path(key),
                    path(&case.artifact),
                ])
            }
            None => by_identity(case, &case.identity),
        },
        SIGSTORE_JS_DIFFERENCES,
    );
}

/// A sigstore-python client trust configuration holding `root`, with a signing configuration
/// that names no real service (verification does not use it).
fn client_trust_config(root: &Path) -> serde_json::Value {
    let service = |url: &str| {
        serde_json::json!({
            "url": url,
            "majorApiVersion": 1,
            "validFor": {"start": "2020-01-01T00:00:00Z"},
            "operator": "vouch-tests",
        })
    };
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": serde_json::from_slice::<serde_json::Value>(&fs::read(root).unwrap()).unwrap(),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service("https://ca.vouch-tests.invalid")],
            "oidcUrls": [service("https://oidc.vouch-tests.invalid")],
            "rekorTlogUrls": [service("https://log.vouch-tests.invalid")],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    })
}

#[test]
fn sigstore_python_and_vouch_on_the_conformance_cases() {
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    // sigstore-python's command line verifies by identity only: every case the suite verifies
    // by identity (all but those with a key.pub).
    let cases: Vec<Case> = cases().into_iter().filter(|c| c.key.is_none()).collect();
    assert_eq!(cases.len(), 48);
    let configs = tempfile::tempdir().unwrap();
    for case in &cases {
        fs::write(
            configs.path().join(format!("{}.json", case.name)),
            client_trust_config(&case.root()).to_string(),
        )
        .unwrap();
    }
    let python = &python;
    let configs = configs.path();
    compare(
        "sigstore-python",
        &cases,
        |case| {
            let (config, bundle) = (configs.join(format!("{}.json", case.name)), case.bundle());
            python.run(&[
                "--trust-config",
                path(&config),
                "verify",
                "identity",
                "--offline",
                "--bundle",
                path(&bundle),
                "--cert-identity",
                &case.identity,
                "--cert-oidc-issuer",
                &case.issuer,
                path(&case.artifact),
            ])
        },
        SIGSTORE_PYTHON_DIFFERENCES,
    );
}

#[test]
fn sigstore_python_accepts_the_trust_config_it_is_given() {
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    // The control for the comparison: a known-good case verifies with the configuration the
    // test writes, and is refused for another identity.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    fs::write(
        &config,
        client_trust_config(&public_good_root()).to_string(),
    )
    .unwrap();
    let case = conformance_dir().join("happy-path-v0.3");
    let verify = |identity: &str| {
        python.run(&[
            "--trust-config",
            path(&config),
            "verify",
            "identity",
            "--offline",
            "--bundle",
            path(&case.join("bundle.sigstore.json")),
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            DEFAULT_ISSUER,
            path(&conformance_dir().join("a.txt")),
        ])
    };
    verify(DEFAULT_IDENTITY).expect_code(0);
    let run = verify("https://github.com/someone/else").expect_code(1);
    assert!(
        said(&run).contains("Certificate's SANs do not match"),
        "{run:?}"
    );
}
