//! Verify-blob benchmark: offline Sigstore bundle verification by vouch against sigstore-rs
//! (the `sigstore` crate's `bundle::verify` verifier, through the `sigstore-verify-blob` binary
//! of this package and in this process), on the sigstore-conformance `happy-path-v0.3` bundle
//! (a Fulcio certificate, a Rekor v1 entry with a signed entry timestamp, an inclusion proof and
//! a checkpoint) for `a.txt`, with the same identity policy and the public-good trusted root.
//!
//! 1. Whole process: median wall time of `vouch verify-blob` and of `sigstore-verify-blob`
//!    (warmed up three times, then run alternately so machine noise hits both alike; every run
//!    must exit 0), and their ratio. Goal: vouch at most 2 ms per verification.
//! 2. In process, single thread: verifications per second of one core, the verifier built
//!    once, with the bundle parsed in every iteration and with parsing left out. Goals: at least
//!    5,000 per second per core for vouch, and at least 95% of the ECDSA floor's rate (the
//!    signature math alone) with parsing left out.
//! 3. Where vouch's time goes: every stage of `Verifier::verify` (and of a process's set-up)
//!    timed alone, through the verifier crate's public functions, in the order `verify` runs
//!    them.
//!
//! The in-process measurements (2 and 3) run round-robin: one batch of each per round, 20
//! rounds after an untimed one, the median batch reported, so that a change in machine load
//! hits them all alike. The load average before and after is printed: on a busy machine the
//! absolute figures grow, the ratios much less.
//!
//! sigstore-rs 0.15 refuses the `happy-path-v0.3` bundle: it knows v0.3 only by the media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`, not by the first spelling,
//! `application/vnd.dev.sigstore.bundle+json;version=0.3`, which that bundle has. The
//! benchmark prints the refusal and compares the two on `happy-path-v0.3-new-mediaType`, the
//! same bundle with the later media type (vouch is timed on both).
//!
//! The two verifiers do not do the same work: sigstore-rs checks the certificate chain (at the
//! certificate's notBefore, with the intermediate CA as a trust anchor, so only the leaf's
//! signature), the embedded SCT, the identity, the artifact signature and that the log entry
//! body matches, but not the log's signed entry timestamp, inclusion proof or checkpoint
//! (sigstore-rs#285): 1 P-384 and 2 P-256 ECDSA verifications per bundle to vouch's 1 and 4
//! (vouch checks the intermediate's signature too, once per verifier). The benchmark prints
//! this next to the figures. It reports, and asserts nothing about timing.
//!
//! ```sh
//! cargo bench -p vouch-tests --bench verify_blob
//! VOUCH_BENCH_RUNS=200 cargo bench -p vouch-tests --bench verify_blob   # 200 processes, 20000 iterations
//! ```
//!
//! `VOUCH_BENCH_RUNS` (default 50) is the number of timed processes of each command; in-process
//! figures use 100 times as many iterations. vouch is built with `cargo build --release -p vouch`
//! (or taken from `$VOUCH_BIN`).
#![allow(clippy::unwrap_used)]

#[path = "../src/bin/sigstore-verify-blob/offline.rs"]
#[allow(dead_code)]
mod offline;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vouch_keys::{Digest, PublicKey};
use vouch_tests::Run;
use vouch_verifier::bundle::{Bundle, BundleContent};
use vouch_verifier::checkpoint::verify_checkpoint;
use vouch_verifier::entry::{SignedContent, VerifierMaterial, check_entry_body};
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::rekor::{self, RekorLog};
use vouch_verifier::sct::verify_embedded_scts;
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::{PUBLIC_GOOD_JSON, TrustedRoot};
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};
use vouch_verifier::x509::{Certificate, Purpose, verify_path};

/// Runs of each command before timing starts.
const WARMUP: usize = 3;
/// Timed processes of each command unless `VOUCH_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 50;
/// In-process iterations per timed process.
const ITERATIONS_PER_RUN: usize = 100;
/// Batches the in-process iterations are split into (the median batch is reported).
const BATCHES: usize = 20;
/// The goals of the issue.
const GOAL_PROCESS_MS: f64 = 2.0;
const GOAL_PER_SECOND: f64 = 5000.0;
/// The share of the ECDSA floor's rate vouch reaches in process, in percent (issue 17).
const GOAL_FLOOR_SHARE: f64 = 95.0;
/// The sigstore-rs implementation.
const PEER: &str = env!("CARGO_BIN_EXE_sigstore-verify-blob");

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier/tests/data/conformance")
}

/// The public-good trusted root vouch embeds, as a file for sigstore-rs (and `--trusted-root`).
fn public_good_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../verifier/src/trusted_root/sigstore-public-good.json")
}

/// One tool's command line.
struct Tool {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

impl Tool {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs once; the wall time if it exits 0, else what it printed.
    fn try_run(&self) -> Result<Duration, Run> {
        let start = Instant::now();
        let output = self.command().output().unwrap();
        let elapsed = start.elapsed();
        if output.status.success() {
            return Ok(elapsed);
        }
        Err(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs once, panicking unless it exits 0 (a benchmark must not time failures).
    fn run_timed(&self) -> Duration {
        self.try_run()
            .unwrap_or_else(|run| panic!("{} {:?} failed; output:\n{run:#?}", self.name, self.args))
    }
}

/// The bundle of the issue: v0.3 content under the v0.3 media type the Sigstore bundle spec
/// first gave, `application/vnd.dev.sigstore.bundle+json;version=0.3`.
const BUNDLE: &str = "happy-path-v0.3";
/// The same bundle, byte for byte but for its media type, the later
/// `application/vnd.dev.sigstore.bundle.v0.3+json`: the only v0.3 spelling sigstore-rs 0.15
/// accepts.
const BUNDLE_NEW_MEDIA_TYPE: &str = "happy-path-v0.3-new-mediaType";

fn bundle_path(case: &str) -> PathBuf {
    conformance_dir().join(case).join("bundle.sigstore.json")
}

/// `verify-blob` arguments for a conformance case's bundle and `a.txt`, shared by both tools.
fn verify_blob_args(case: &str, extra: &[String]) -> Vec<String> {
    let dir = conformance_dir();
    let mut args = vec![
        "verify-blob".to_owned(),
        "--bundle".into(),
        bundle_path(case).to_str().unwrap().into(),
        "--certificate-identity".into(),
        IDENTITY.into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
    ];
    args.extend_from_slice(extra);
    args.push(dir.join("a.txt").to_str().unwrap().into());
    args
}

/// Summary of timed runs, in milliseconds.
struct Stats {
    median: f64,
    p10: f64,
    p90: f64,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        // Nearest rank.
        let rank = |p: f64| ms[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Stats {
            median: median(&ms),
            p10: rank(0.10),
            p90: rank(0.90),
        }
    }

    fn cell(&self) -> String {
        format!("{:.2} [{:.2}-{:.2}]", self.median, self.p10, self.p90)
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Warms the commands up, then times them alternately.
fn measure(tools: &[&Tool], runs: usize) -> Vec<Stats> {
    for _ in 0..WARMUP {
        for tool in tools {
            tool.run_timed();
        }
    }
    let mut samples = vec![Vec::with_capacity(runs); tools.len()];
    for _ in 0..runs {
        for (tool, samples) in tools.iter().zip(&mut samples) {
            samples.push(tool.run_timed());
        }
    }
    samples.iter().map(|s| Stats::of(s)).collect()
}

fn per_second(ns: f64) -> f64 {
    1e9 / ns
}

/// Which table an in-process measurement belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Whole verifications and verifier set-up, both tools.
    Verify,
    /// One stage of vouch's `Verifier::verify`.
    Stage,
    /// vouch's work once per bundle or per process.
    Setup,
}

/// One in-process measurement: given a batch size, runs a batch and returns its nanoseconds
/// per operation (preparing any input outside its own timing).
struct Measurement<'a> {
    group: Group,
    name: &'static str,
    what: &'static str,
    /// Slow measurements (verifier set-up) run batches this many times smaller.
    divisor: usize,
    run: Box<dyn FnMut(usize) -> f64 + 'a>,
}

/// A batch of `n` calls of `call`, timed.
fn timed<'a>(mut call: impl FnMut() + 'a) -> Box<dyn FnMut(usize) -> f64 + 'a> {
    Box::new(move |n| {
        let start = Instant::now();
        for _ in 0..n {
            call();
        }
        start.elapsed().as_secs_f64() * 1e9 / n as f64
    })
}

/// The outcome of one measurement.
struct Figure {
    group: Group,
    name: &'static str,
    what: &'static str,
    /// Nanoseconds per operation, the median batch.
    ns: f64,
}

/// Runs every measurement round-robin: one untimed round, then `BATCHES` rounds of one batch
/// of each (`iterations / BATCHES` operations, divided by its divisor), so that a change in
/// machine load hits them all alike. Returns each one's median batch, in order.
fn round_robin(mut measurements: Vec<Measurement<'_>>, iterations: usize) -> Vec<Figure> {
    let batch = iterations.div_ceil(BATCHES).max(1);
    let mut samples = vec![Vec::with_capacity(BATCHES); measurements.len()];
    for round in 0..=BATCHES {
        for (m, samples) in measurements.iter_mut().zip(&mut samples) {
            let ns = (m.run)((batch / m.divisor).max(1));
            if round > 0 {
                samples.push(ns);
            }
        }
    }
    measurements
        .iter()
        .zip(&mut samples)
        .map(|(m, samples)| {
            samples.sort_by(f64::total_cmp);
            Figure {
                group: m.group,
                name: m.name,
                what: m.what,
                ns: median(samples),
            }
        })
        .collect()
}

/// The figure of the measurement called `name`.
fn figure(figures: &[Figure], name: &str) -> f64 {
    figures.iter().find(|f| f.name == name).unwrap().ns
}

/// Inputs shared by the in-process measurements.
struct Inputs {
    bundle_json: Vec<u8>,
    /// The same bundle with the media type sigstore-rs accepts.
    bundle_json_new_media_type: Vec<u8>,
    artifact: Vec<u8>,
    policy: Policy,
    root_json: Vec<u8>,
}

fn inputs() -> Inputs {
    Inputs {
        bundle_json: std::fs::read(bundle_path(BUNDLE)).unwrap(),
        bundle_json_new_media_type: std::fs::read(bundle_path(BUNDLE_NEW_MEDIA_TYPE)).unwrap(),
        artifact: std::fs::read(conformance_dir().join("a.txt")).unwrap(),
        policy: Policy::Identity(CertificateIdentity {
            subject: Matcher::Exact(IDENTITY.into()),
            issuer: Matcher::Exact(ISSUER.into()),
            claims: Vec::new(),
        }),
        root_json: std::fs::read(public_good_file()).unwrap(),
    }
}

// Measurement names used to look figures up.
const VOUCH_WITH_PARSE: &str = "vouch: parse + verify";
const VOUCH_VERIFY: &str = "vouch: verify";
const VOUCH_SETUP: &str = "vouch: set-up";
const SIGSTORE_WITH_PARSE: &str = "sigstore-rs: parse + verify";
const SIGSTORE_VERIFY: &str = "sigstore-rs: verify";
const SIGSTORE_SETUP: &str = "sigstore-rs: set-up";
const SIGSTORE_REKOR_CONFIG: &str = "sigstore-rs: Rekor configuration";
const STAGE_P384: &str = "  of which: 1 P-384 verify";
const STAGE_ARTIFACT: &str = "artifact signature";

/// vouch verifying the happy-path bundle, its `Verifier` built once.
fn vouch_measurements<'a>(inputs: &'a Inputs, verifier: &'a Verifier<'a>) -> Vec<Measurement<'a>> {
    let artifact = Artifact::Bytes(&inputs.artifact);
    let options = Options::at(UnixTime::from_system_time(std::time::SystemTime::now()));
    let bundle = Bundle::from_json(&inputs.bundle_json).unwrap();
    let verify = move |bundle: &Bundle| {
        black_box(
            verifier
                .verify(black_box(bundle), artifact, &inputs.policy, options)
                .unwrap(),
        );
    };
    vec![
        Measurement {
            group: Group::Verify,
            name: VOUCH_WITH_PARSE,
            what: "",
            divisor: 1,
            run: timed(move || verify(&Bundle::from_json(black_box(&inputs.bundle_json)).unwrap())),
        },
        Measurement {
            group: Group::Verify,
            name: VOUCH_VERIFY,
            what: "",
            divisor: 1,
            run: timed(move || verify(&bundle)),
        },
        // What a process does once: read the embedded root and parse its certificates
        // (which a verifier otherwise does in its first verification).
        Measurement {
            group: Group::Verify,
            name: VOUCH_SETUP,
            what: "",
            divisor: 10,
            run: timed(|| {
                let root = TrustedRoot::from_json(black_box(PUBLIC_GOOD_JSON)).unwrap();
                let verifier = Verifier::new(&root).unwrap();
                verifier.prepare().unwrap();
                black_box(verifier);
            }),
        },
    ]
}

/// Whether sigstore-rs in this process accepts `bundle_json`, and why not.
fn sigstore_accepts(inputs: &Inputs, bundle_json: &[u8]) -> Result<(), String> {
    let verifier = offline::OfflineVerifier::new(&inputs.root_json, IDENTITY, ISSUER)?;
    verifier.verify(
        offline::parse_bundle(bundle_json)?,
        offline::sha256(&inputs.artifact),
    )
}

/// sigstore-rs verifying `bundle_json`, its verifier built once.
fn sigstore_measurements<'a>(
    inputs: &'a Inputs,
    verifier: &'a offline::OfflineVerifier,
    bundle_json: &'a [u8],
) -> Vec<Measurement<'a>> {
    let bundle = offline::parse_bundle(bundle_json).unwrap();
    let verify = move |bundle| {
        let digest = offline::sha256(black_box(&inputs.artifact));
        verifier.verify(black_box(bundle), digest).unwrap();
    };
    vec![
        Measurement {
            group: Group::Verify,
            name: SIGSTORE_WITH_PARSE,
            what: "",
            divisor: 1,
            run: timed(move || verify(offline::parse_bundle(black_box(bundle_json)).unwrap())),
        },
        // The verifier takes the bundle by value: each iteration gets its own copy, made
        // before the batch is timed.
        Measurement {
            group: Group::Verify,
            name: SIGSTORE_VERIFY,
            what: "",
            divisor: 1,
            run: Box::new(move |n| {
                let bundles = vec![bundle.clone(); n];
                let start = Instant::now();
                for bundle in bundles {
                    verify(bundle);
                }
                start.elapsed().as_secs_f64() * 1e9 / n as f64
            }),
        },
        // Its set-up: the trusted root file parsed into a ManualTrustRoot, the verifier's
        // certificate pool and CT keyring, and the Rekor client configuration.
        Measurement {
            group: Group::Verify,
            name: SIGSTORE_SETUP,
            what: "",
            divisor: 10,
            run: timed(|| {
                black_box(
                    offline::OfflineVerifier::new(black_box(&inputs.root_json), IDENTITY, ISSUER)
                        .unwrap(),
                );
            }),
        },
        Measurement {
            group: Group::Verify,
            name: SIGSTORE_REKOR_CONFIG,
            what: "",
            divisor: 10,
            run: timed(|| {
                black_box(sigstore::rekor::apis::configuration::Configuration::default());
            }),
        },
    ]
}

/// What the stages of vouch's verification work on, made ready outside the timing.
struct StageData {
    bundle: Bundle,
    leaf_der: Vec<u8>,
    leaf: Certificate,
    key: PublicKey,
    digest: Digest,
    log_key: PublicKey,
    chain: Vec<Certificate>,
    issuer_key: PublicKey,
    ct_keys: HashMap<Vec<u8>, PublicKey>,
    time: UnixTime,
}

fn stage_data(inputs: &Inputs, root: &TrustedRoot) -> StageData {
    let bundle = Bundle::from_json(&inputs.bundle_json).unwrap();
    let leaf_der = bundle.material.signer.leaf_certificate().unwrap().to_vec();
    let leaf = Certificate::from_der(&leaf_der).unwrap();
    let entry = &bundle.material.tlog_entries[0];
    let instance = root.tlog(&entry.log_id).unwrap();
    let time = UnixTime::from_secs(entry.integrated_time as i64);
    let chain: Vec<Certificate> = root
        .certificate_authorities
        .iter()
        .find(|ca| ca.valid_for.contains(time))
        .unwrap()
        .cert_chain
        .iter()
        .map(|der| Certificate::from_der(der).unwrap())
        .collect();
    let issuer_key = verify_path(&leaf, &chain, time, Purpose::CodeSigning).unwrap()[0]
        .public_key()
        .unwrap();
    StageData {
        key: leaf.public_key().unwrap(),
        digest: Digest::sha256(&inputs.artifact),
        log_key: PublicKey::from_spki_der(&instance.public_key.raw_bytes).unwrap(),
        ct_keys: root
            .ctlogs
            .iter()
            .filter_map(|log| {
                let key = PublicKey::from_spki_der(&log.public_key.raw_bytes).ok()?;
                Some((log.log_id.clone(), key))
            })
            .collect(),
        issuer_key,
        chain,
        time,
        leaf,
        leaf_der,
        bundle,
    }
}

/// Each stage of `Verifier::verify` on the happy-path bundle alone, with the verifier crate's
/// public functions, in the order `verify` runs them; then what is done once per bundle or
/// per process.
fn stage_measurements<'a>(
    inputs: &'a Inputs,
    root: &'a TrustedRoot,
    d: &'a StageData,
) -> Vec<Measurement<'a>> {
    let entry = &d.bundle.material.tlog_entries[0];
    let instance = root.tlog(&entry.log_id).unwrap();
    let log = RekorLog {
        key: &d.log_key,
        log_id: &instance.log_id,
        base_url: &instance.base_url,
    };
    let log_entry = entry;
    let promise = entry.inclusion_promise.as_ref().unwrap();
    let proof = entry.inclusion_proof.as_ref().unwrap();
    let BundleContent::MessageSignature(message) = &d.bundle.content else {
        panic!("the happy-path bundle is a message signature");
    };
    let signature = &message.signature;
    let content = SignedContent::Message {
        digest: &d.digest,
        signature,
    };
    let material = VerifierMaterial::Certificate(d.leaf.der());
    let Policy::Identity(expected) = &inputs.policy else {
        unreachable!()
    };
    let issuer = verify_path(&d.leaf, &d.chain, d.time, Purpose::CodeSigning).unwrap()[0];
    let stage = |group, name, what, divisor, run| Measurement {
        group,
        name,
        what,
        divisor,
        run,
    };
    use Group::{Setup, Stage};
    vec![
        stage(
            Stage,
            "leaf certificate",
            "Certificate::from_der + its P-256 key",
            1,
            timed(|| {
                let cert = Certificate::from_der(black_box(&d.leaf_der)).unwrap();
                black_box(cert.public_key().unwrap());
            }),
        ),
        stage(
            Stage,
            STAGE_ARTIFACT,
            "SHA-256 of a.txt + ECDSA P-256 verify",
            1,
            timed(|| {
                black_box(Digest::sha256(black_box(&inputs.artifact)));
                d.key
                    .verify(black_box(&inputs.artifact), signature)
                    .unwrap();
            }),
        ),
        stage(
            Stage,
            "tlog entry body",
            "canonicalized body parsed (JSON) and compared",
            1,
            timed(move || {
                check_entry_body(
                    &entry.kind_version.kind,
                    &entry.kind_version.version,
                    black_box(&entry.canonicalized_body),
                    content,
                    material,
                )
                .unwrap();
            }),
        ),
        stage(
            Stage,
            "signed entry timestamp",
            "SET payload (JSON) + ECDSA P-256 verify",
            1,
            timed(move || {
                rekor::verify_signed_entry_timestamp(
                    &log,
                    black_box(log_entry),
                    &promise.signed_entry_timestamp,
                )
                .unwrap();
            }),
        ),
        stage(
            Stage,
            "inclusion proof",
            "Merkle path (SHA-256)",
            1,
            timed(move || {
                rekor::verify_merkle_inclusion(black_box(log_entry), proof).unwrap();
            }),
        ),
        stage(
            Stage,
            "checkpoint",
            "note parsed + ECDSA P-256 verify",
            1,
            timed(move || {
                black_box(
                    verify_checkpoint(
                        black_box(proof.checkpoint.as_deref().unwrap()),
                        &d.log_key,
                        &instance.base_url,
                    )
                    .unwrap(),
                );
            }),
        ),
        stage(
            Stage,
            "certificate chain",
            "verify_path on a fresh leaf (parsed, as per bundle): its P-384 signature; the \
             intermediate's is checked once per verifier",
            1,
            timed(|| {
                let leaf = Certificate::from_der(black_box(&d.leaf_der)).unwrap();
                black_box(verify_path(&leaf, &d.chain, d.time, Purpose::CodeSigning).unwrap());
            }),
        ),
        stage(
            Stage,
            STAGE_P384,
            "verify_signed_by(intermediate key) on a fresh leaf (a certificate caches its \
             verified issuers; includes the parse)",
            1,
            timed(|| {
                let leaf = Certificate::from_der(black_box(&d.leaf_der)).unwrap();
                leaf.verify_signed_by(&d.issuer_key).unwrap();
            }),
        ),
        stage(
            Stage,
            "  of which: 1 P-384 key parse",
            "PublicKey::from_spki_der (done per candidate issuer)",
            1,
            timed(move || {
                black_box(PublicKey::from_spki_der(black_box(issuer.spki_der())).unwrap());
            }),
        ),
        stage(
            Stage,
            "embedded SCT",
            "precertificate TBS rebuilt + ECDSA P-256 verify",
            1,
            timed(move || {
                black_box(
                    verify_embedded_scts(black_box(&d.leaf), issuer, |log_id, _| {
                        Ok(d.ct_keys[log_id.as_slice()].clone())
                    })
                    .unwrap(),
                );
            }),
        ),
        stage(
            Stage,
            "identity",
            "SAN and Fulcio issuer matched",
            1,
            timed(|| {
                black_box(expected.check(black_box(&d.leaf)).unwrap());
            }),
        ),
        stage(
            Setup,
            "bundle JSON parse",
            "Bundle::from_json (per verification when parsed)",
            1,
            timed(|| {
                black_box(Bundle::from_json(black_box(&inputs.bundle_json)).unwrap());
            }),
        ),
        stage(
            Setup,
            "trusted root parse",
            "TrustedRoot::from_json (embedded public-good)",
            10,
            timed(|| {
                black_box(TrustedRoot::from_json(black_box(PUBLIC_GOOD_JSON)).unwrap());
            }),
        ),
        stage(
            Setup,
            "Verifier::new",
            "and its certificate chains parsed (Verifier::prepare; else in the first verification)",
            10,
            timed(|| {
                let verifier = Verifier::new(black_box(root)).unwrap();
                verifier.prepare().unwrap();
                black_box(verifier);
            }),
        ),
    ]
}

fn goal(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// One row of the whole-process table: vouch's figures and sigstore-rs's, or why it has none.
struct Row {
    name: String,
    vouch: Stats,
    peer: Result<Stats, String>,
}

/// Times `vouch` and `peer` alternately, or `vouch` alone if `peer` refuses (it is run once
/// first, to find out).
fn process_row(name: &str, vouch: &Tool, peer: &Tool, runs: usize) -> Row {
    let refusal = peer.try_run().err().map(|run| {
        format!(
            "REFUSED (exit {}): {}",
            run.code,
            run.stderr.trim().replace('\n', " ")
        )
    });
    let (vouch, peer) = match refusal {
        None => {
            let mut stats = measure(&[vouch, peer], runs).into_iter();
            (stats.next().unwrap(), Ok(stats.next().unwrap()))
        }
        Some(refusal) => (measure(&[vouch], runs).pop().unwrap(), Err(refusal)),
    };
    Row {
        name: name.into(),
        vouch,
        peer,
    }
}

fn main() {
    let runs = std::env::var("VOUCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_RUNS);
    let iterations = runs * ITERATIONS_PER_RUN;
    let load_before = load_average();
    let vouch_bin = vouch_tests::vouch_bin();
    eprintln!("vouch:       {}", vouch_bin.display());
    eprintln!("sigstore-rs: {PEER}");
    // Both tools must use the same trust material.
    assert_eq!(
        std::fs::read(public_good_file()).unwrap(),
        PUBLIC_GOOD_JSON,
        "the public-good trusted root file differs from vouch's embedded copy"
    );
    let root_file: Vec<String> = vec![
        "--trusted-root".into(),
        public_good_file().to_str().unwrap().into(),
    ];
    let vouch = |args: Vec<String>| Tool {
        name: "vouch",
        program: vouch_bin.to_owned(),
        args,
    };
    let peer = |args: Vec<String>| Tool {
        name: "sigstore-rs",
        program: PathBuf::from(PEER),
        args,
    };
    // The peer takes vouch's arguments without the subcommand, and always reads the root file.
    let peer_args = |case| verify_blob_args(case, &root_file)[1..].to_vec();

    // 1. Whole processes.
    eprintln!(
        "timing {runs} runs of each command after {WARMUP} warm-up runs, then {iterations} \
         in-process iterations ..."
    );
    let rows = [
        process_row(
            "v0.3 bundle",
            &vouch(verify_blob_args(BUNDLE, &[])),
            &peer(peer_args(BUNDLE)),
            runs,
        ),
        process_row(
            "v0.3, new media type",
            &vouch(verify_blob_args(BUNDLE_NEW_MEDIA_TYPE, &[])),
            &peer(peer_args(BUNDLE_NEW_MEDIA_TYPE)),
            runs,
        ),
        process_row(
            "  same, --trusted-root",
            &vouch(verify_blob_args(BUNDLE_NEW_MEDIA_TYPE, &root_file)),
            &peer(peer_args(BUNDLE_NEW_MEDIA_TYPE)),
            runs,
        ),
        process_row(
            "start-up only",
            &vouch(vec!["--version".into()]),
            &peer(vec!["--help".into()]),
            runs,
        ),
    ];

    // 2. and 3. In process, every measurement round-robin.
    let inputs = inputs();
    let root = TrustedRoot::public_good().unwrap();
    let verifier = Verifier::new(root).unwrap();
    let data = stage_data(&inputs, root);
    let sigstore_refusal = sigstore_accepts(&inputs, &inputs.bundle_json).err();
    let sigstore_verifier = offline::OfflineVerifier::new(&inputs.root_json, IDENTITY, ISSUER)
        .and_then(|v| {
            sigstore_accepts(&inputs, &inputs.bundle_json_new_media_type)?;
            Ok(v)
        });
    let mut measurements = vouch_measurements(&inputs, &verifier);
    if let Ok(v) = &sigstore_verifier {
        measurements.extend(sigstore_measurements(
            &inputs,
            v,
            &inputs.bundle_json_new_media_type,
        ));
    }
    measurements.extend(stage_measurements(&inputs, root, &data));
    let figures = round_robin(measurements, iterations);
    let f = |name| figure(&figures, name);

    println!();
    println!(
        "verify-blob benchmark: conformance bundle {BUNDLE} (and {BUNDLE_NEW_MEDIA_TYPE}, the \
         same but for its media type), a.txt, identity policy, public-good trusted root"
    );
    println!();
    println!(
        "whole process: {runs} interleaved runs per command after {WARMUP} warm-up runs; wall \
         time in ms (median [p10-p90])"
    );
    println!(
        "{:<24} {:>22} {:>22} {:>7}",
        "bundle", "vouch", "sigstore-rs", "ratio"
    );
    let mut refusals = Vec::new();
    for row in &rows {
        let (cell, ratio) = match &row.peer {
            Ok(p) => (p.cell(), format!("{:.2}x", row.vouch.median / p.median)),
            Err(refusal) => {
                refusals.push((row.name.trim(), refusal));
                ("refused".to_owned(), "-".to_owned())
            }
        };
        println!(
            "{:<24} {:>22} {cell:>22} {ratio:>7}",
            row.name,
            row.vouch.cell()
        );
    }
    println!(
        "(ratio = vouch median / sigstore-rs median; vouch uses its embedded root unless \
         --trusted-root, sigstore-rs always reads the same root from the file; start-up only: \
         `vouch --version`, `sigstore-verify-blob --help`)"
    );
    for (name, refusal) in refusals {
        println!("sigstore-rs on {name}: {refusal}");
    }

    println!();
    println!(
        "in process, one thread, verifier built once: {iterations} iterations in {BATCHES} \
         batches, all measurements below taken round-robin (median batch); vouch on {BUNDLE}, \
         sigstore-rs on {BUNDLE_NEW_MEDIA_TYPE}"
    );
    println!(
        "{:<12} {:>30} {:>30} {:>16}",
        "", "bundle parsed each time", "bundle parsed once", "verifier set-up"
    );
    let cell = |ns: f64| format!("{:.1} us = {:.0}/s", ns / 1e3, per_second(ns));
    let row = |name: &str, with_parse, verify, setup| {
        println!(
            "{name:<12} {:>30} {:>30} {:>13.1} us",
            cell(f(with_parse)),
            cell(f(verify)),
            f(setup) / 1e3
        );
    };
    row("vouch", VOUCH_WITH_PARSE, VOUCH_VERIFY, VOUCH_SETUP);
    match &sigstore_verifier {
        Ok(_) => {
            row(
                "sigstore-rs",
                SIGSTORE_WITH_PARSE,
                SIGSTORE_VERIFY,
                SIGSTORE_SETUP,
            );
            println!(
                "{:<12} {:>29.2}x {:>29.2}x {:>15.2}x",
                "ratio",
                f(VOUCH_WITH_PARSE) / f(SIGSTORE_WITH_PARSE),
                f(VOUCH_VERIFY) / f(SIGSTORE_VERIFY),
                f(VOUCH_SETUP) / f(SIGSTORE_SETUP)
            );
            println!(
                "(of sigstore-rs's set-up, {:.1} us is the Rekor client configuration its \
                 constructor requires, an HTTP client, unused offline)",
                f(SIGSTORE_REKOR_CONFIG) / 1e3
            );
        }
        Err(e) => println!("sigstore-rs cannot verify {BUNDLE_NEW_MEDIA_TYPE} in process: {e}"),
    }
    if let Some(refusal) = &sigstore_refusal {
        println!("sigstore-rs refuses {BUNDLE} in process too: {refusal}");
    }
    println!(
        "(ECDSA verifications per bundle: vouch 1 P-384 (the leaf; the intermediate's once per \
         verifier) + 4 P-256 (artifact, SET, checkpoint, SCT); sigstore-rs 1 P-384 + 2 P-256: no SET, inclusion proof or checkpoint, and the \
         intermediate CA is a trust anchor, so its signature is not checked)"
    );

    let whole = f(VOUCH_VERIFY);
    println!();
    println!(
        "where vouch's time goes: each stage of Verifier::verify alone, in order (us per call, \
         share of one verification without parsing)"
    );
    let stages = || figures.iter().filter(|s| s.group == Group::Stage);
    let total: f64 = stages()
        .filter(|s| !s.name.starts_with(' '))
        .map(|s| s.ns)
        .sum();
    for s in stages() {
        println!(
            "  {:<28} {:>8.1} us {:>5.1}%  {}",
            s.name,
            s.ns / 1e3,
            100.0 * s.ns / whole,
            s.what
        );
    }
    println!(
        "  {:<28} {:>8.1} us {:>5.1}%  of Verifier::verify measured whole ({:.1} us); the rest \
         is its report (check details, fingerprints)",
        "sum of stages",
        total / 1e3,
        100.0 * total / whole,
        whole / 1e3
    );
    let floor = f(STAGE_P384) + 4.0 * f(STAGE_ARTIFACT);
    println!(
        "  ECDSA floor (the intermediate's signature checked once per verifier): 1 P-384 + \
         4 P-256 = {:.1} us = {:.0}/s; no verifier that makes every check can pass it",
        floor / 1e3,
        per_second(floor)
    );
    println!("  once per bundle or per process:");
    for s in figures.iter().filter(|s| s.group == Group::Setup) {
        println!("  {:<28} {:>8.1} us         {}", s.name, s.ns / 1e3, s.what);
    }

    let process = &rows[0].vouch;
    let startup = &rows[rows.len() - 1].vouch;
    println!();
    match &rows[1].peer {
        Ok(p) => println!(
            "verify-blob median: vouch {:.2} ms ({BUNDLE}), {:.2} ms ({BUNDLE_NEW_MEDIA_TYPE}); \
             sigstore-rs {:.2} ms ({BUNDLE_NEW_MEDIA_TYPE}; {}); ratio {:.2}x",
            process.median,
            rows[1].vouch.median,
            p.median,
            if rows[0].peer.is_ok() {
                "accepts the other too"
            } else {
                "refuses the other"
            },
            rows[1].vouch.median / p.median
        ),
        Err(_) => println!(
            "verify-blob median: vouch {:.2} ms, sigstore-rs n/a (refused)",
            process.median
        ),
    }
    println!(
        "goal vouch <= {GOAL_PROCESS_MS} ms per process: {} ({:.2} ms; start-up alone {:.2} ms)",
        goal(process.median <= GOAL_PROCESS_MS),
        process.median,
        startup.median
    );
    let rate = per_second(f(VOUCH_WITH_PARSE));
    let share = 100.0 * floor / f(VOUCH_VERIFY);
    println!(
        "in process: {share:.1}% of the ECDSA floor ({:.1} us per verification, the bundle \
         parsed once, against {:.1} us of signature math); goal >= {GOAL_FLOOR_SHARE}%: {}",
        f(VOUCH_VERIFY) / 1e3,
        floor / 1e3,
        goal(share >= GOAL_FLOOR_SHARE)
    );
    println!(
        "goal vouch >= {GOAL_PER_SECOND} verifications/s/core: {} ({:.0}/s with parsing, \
         {:.0}/s without)",
        goal(rate >= GOAL_PER_SECOND),
        rate,
        per_second(f(VOUCH_VERIFY))
    );
    if sigstore_verifier.is_ok() {
        println!(
            "sigstore-rs in process: {:.0}/s with parsing, {:.0}/s without",
            per_second(f(SIGSTORE_WITH_PARSE)),
            per_second(f(SIGSTORE_VERIFY))
        );
    }
    println!(
        "load average (1, 5, 15 min) before: {load_before}, after: {}",
        load_average()
    );
}

/// `/proc/loadavg`'s first three fields: how busy the machine was (the figures are only as
/// good as the machine was quiet).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
