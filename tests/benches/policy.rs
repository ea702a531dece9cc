//! Policy benchmark: how many images a second `vouch verify --policy` decides, against
//! sigstore-rs (the `sigstore-peer` binary of this package, which uses only the `sigstore`
//! crate's `cosign` module) verifying the same images one after another with one client, as a
//! user of that crate would loop. The goal is vouch at 10x sigstore-rs's throughput or more.
//!
//! Set-up: 200 distinct small images (one shared empty layer, a config of their own each) are
//! pushed in-process through `vouch_registry::Store` to a local registry, each to its own
//! repository and named by tag; one ECDSA P-256 key pair signs them all in one `vouch sign`;
//! a trust policy (`vouch.dev/v1` `TrustPolicy`) has that key as its one authority for the scope
//! `127.0.0.1:PORT/**`.
//!
//! Measured:
//! - throughput: `vouch verify --policy P -o json IMG1..IMG200` (one process deciding all 200,
//!   8 at a time) and `sigstore-peer verify --key PUB IMG1..IMG200` (one process, one image after
//!   another), warmed up once, then run alternately `VOUCH_BENCH_RUNS` times each; the median
//!   wall time of a run (process start-up included) gives images/s and the ratio. Every run must
//!   exit 0, and every image must be allowed (vouch) or verified (sigstore-rs);
//! - per-image latency (p50, p99): in-process with the `vouch-policy` library, each image decided
//!   alone in turn (`TrustPolicy::decide` over a `StoreSource`, one current-thread tokio runtime
//!   as the CLI uses, one `RegistryClient`), one warm-up pass then `VOUCH_BENCH_RUNS` passes; for
//!   sigstore-rs, the time `sigstore-peer` prints for each image in the timed runs;
//! - cached re-evaluation: the 200 decisions in a `MemoryCache` keyed by `CacheKey` (repository,
//!   manifest digest, policy digest), 100 000 `get`s round-robin over the keys: mean time per
//!   cached decision (goal under 50 µs).
//!
//! It reports, and asserts nothing about timing.
//!
//! ```sh
//! cargo bench -p vouch-tests --bench policy
//! VOUCH_BENCH_RUNS=20 cargo bench -p vouch-tests --bench policy   # more rounds (default 5)
//! ```
//!
//! Needs `docker-registry` (as the end-to-end tests do; `$VOUCH_TEST_REGISTRY` names one already
//! running). vouch is built with `cargo build --release -p vouch` (or taken from `$VOUCH_BIN`).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vouch_policy::cache::{CacheKey, DecisionCache, MemoryCache};
use vouch_policy::evidence::StoreSource;
use vouch_policy::{ImageName, TrustPolicy, Verdict};
use vouch_registry::{ClientOptions, Digest, ImageReference, RegistryClient, Store};
use vouch_tests::{Registry, Run, generate_key, vouch_with_password};
use vouch_verifier::time::UnixTime;

/// How many images are pushed, signed and verified.
const IMAGES: usize = 200;
/// Runs of each command before timing starts.
const WARMUP: usize = 1;
/// Timed rounds unless `VOUCH_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 5;
/// Cached decisions looked up.
const CACHE_GETS: usize = 100_000;
/// Images pushed at once while setting up.
const PUSH_CONCURRENCY: usize = 16;
/// The sigstore-rs implementation.
const PEER: &str = env!("CARGO_BIN_EXE_sigstore-peer");

/// The empty tar archive every image has as its one layer (two zero blocks).
const EMPTY_TAR: [u8; 1024] = [0; 1024];

/// One tool's command line for all the images.
struct Tool {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

impl Tool {
    /// Runs once, panicking unless it exits 0 (a benchmark must not time failures).
    fn run_timed(&self) -> (Duration, Run) {
        let start = Instant::now();
        let output = Command::new(&self.program)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        let run = Run::from(output);
        assert_eq!(
            run.code,
            0,
            "{} verify of {IMAGES} images failed; stderr:\n{}",
            self.name,
            run.stderr.lines().take(20).collect::<Vec<_>>().join("\n")
        );
        (elapsed, run)
    }
}

/// Checks that `vouch verify -o json` allowed every image.
fn check_vouch(run: &Run) {
    let results = run.json();
    let results = results.as_array().unwrap();
    assert_eq!(
        results.len(),
        IMAGES,
        "vouch reported {} images",
        results.len()
    );
    for result in results {
        assert_eq!(
            result["decision"]["allowed"], true,
            "vouch did not allow {}: {}",
            result["image"], result["decision"]["reason"]
        );
        assert_eq!(result["verified"], true, "vouch: {}", result["image"]);
        assert_eq!(
            result["decision"]["verdict"], "pass",
            "vouch: {}",
            result["image"]
        );
    }
}

/// Checks that sigstore-peer verified every image; gives the time it printed for each, in ms.
fn check_peer(run: &Run) -> Vec<f64> {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        IMAGES,
        "sigstore-peer printed {} lines:\n{}",
        lines.len(),
        run.stdout
    );
    lines
        .iter()
        .map(|line| {
            assert!(
                line.contains(" verified 1 signature(s) in "),
                "sigstore-peer: {line}"
            );
            line.rsplit_once(" in ")
                .and_then(|(_, t)| t.strip_suffix(" ms"))
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("sigstore-peer: no time in {line:?}"))
        })
        .collect()
}

/// The median of `samples` (not empty).
fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The nearest-rank percentile `p` (0 to 1) of `samples` (not empty).
fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
}

/// Pushes `IMAGES` images, `ADDR/PREFIX/app-N:v1`, each with the shared empty layer and a
/// config of its own; gives their names.
async fn push_images(client: &RegistryClient, addr: &str, prefix: &str) -> Vec<String> {
    let names: Vec<String> = (0..IMAGES)
        .map(|i| format!("{addr}/{prefix}/app-{i}:v1"))
        .collect();
    let diff_id = format!("sha256:{}", vouch_tests::sha256_hex(&EMPTY_TAR));
    for chunk in names.chunks(PUSH_CONCURRENCY) {
        let mut pushes = tokio::task::JoinSet::new();
        for name in chunk {
            let (client, name, diff_id) = (client.clone(), name.clone(), diff_id.clone());
            pushes.spawn(async move {
                let reference = ImageReference::parse(&name).unwrap();
                let store = Store::open(&client, &reference).unwrap().store;
                let layer = store
                    .put_blob("application/vnd.oci.image.layer.v1.tar", &EMPTY_TAR)
                    .await
                    .unwrap();
                let config = serde_json::json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {"Labels": {"vouch.bench.image": name}},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                });
                let config = store
                    .put_blob(
                        "application/vnd.oci.image.config.v1+json",
                        &serde_json::to_vec(&config).unwrap(),
                    )
                    .await
                    .unwrap();
                let manifest = serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config,
                    "layers": [layer],
                });
                store
                    .put_manifest(
                        "v1",
                        "application/vnd.oci.image.manifest.v1+json",
                        &serde_json::to_vec(&manifest).unwrap(),
                    )
                    .await
                    .unwrap();
            });
        }
        while let Some(pushed) = pushes.join_next().await {
            pushed.unwrap();
        }
    }
    names
}

/// Per-image latencies of the library, in ms, and one decision of each image with its
/// cache key.
struct InProcess {
    latencies: Vec<f64>,
    decided: Vec<(CacheKey, vouch_policy::Decision)>,
}

/// Decides each image alone, in turn, `passes` times after one warm-up pass.
fn in_process(policy_path: &Path, images: &[String], passes: usize) -> InProcess {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let policy = TrustPolicy::load(policy_path).unwrap();
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let references: Vec<ImageReference> = images
            .iter()
            .map(|image| ImageReference::parse(image).unwrap())
            .collect();
        let mut latencies = Vec::with_capacity(images.len() * passes);
        let mut decided = Vec::with_capacity(images.len());
        for pass in 0..=passes {
            for reference in &references {
                let name = ImageName::of(reference);
                let now = UnixTime::from_system_time(std::time::SystemTime::now());
                let start = Instant::now();
                let source = StoreSource::open(&client, reference).unwrap();
                let decision = policy.decide(&name, &source, now).await;
                let elapsed = start.elapsed();
                assert!(
                    decision.allowed && decision.verdict == Verdict::Pass,
                    "the library did not allow {reference}: {:?}",
                    decision.reason
                );
                if pass > 0 {
                    latencies.push(elapsed.as_secs_f64() * 1e3);
                }
                if pass == passes {
                    let digest: Digest = decision.digest.clone().unwrap();
                    let key = CacheKey::new(&name.repository, &digest, &policy.digest);
                    decided.push((key, decision));
                }
            }
        }
        InProcess { latencies, decided }
    })
}

/// Mean time of one cached lookup, in ns.
fn cached_lookups(decided: Vec<(CacheKey, vouch_policy::Decision)>) -> f64 {
    let cache = MemoryCache::new(10 * IMAGES, Duration::from_secs(3600));
    let keys: Vec<CacheKey> = decided.iter().map(|(key, _)| key.clone()).collect();
    for (key, decision) in decided {
        cache.put(key, decision);
    }
    // Warm-up: one pass over the keys.
    for key in &keys {
        assert!(cache.get(key).is_some(), "not cached: {}", key.as_str());
    }
    let start = Instant::now();
    for i in 0..CACHE_GETS {
        let hit = cache.get(black_box(&keys[i % keys.len()]));
        assert!(black_box(hit).is_some_and(|d| d.allowed));
    }
    start.elapsed().as_secs_f64() * 1e9 / CACHE_GETS as f64
}

fn main() {
    let runs = std::env::var("VOUCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_RUNS);
    let vouch_bin = vouch_tests::vouch_bin();
    eprintln!("vouch:       {}", vouch_bin.display());
    eprintln!("sigstore-rs: {PEER}");

    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = vouch_tests::unique("bench-policy");
    eprintln!("pushing {IMAGES} images to {}/{prefix}/ ...", registry.addr);
    let start = Instant::now();
    let images = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = RegistryClient::new(ClientOptions::default()).unwrap();
            push_images(&client, &registry.addr, &prefix).await
        });
    eprintln!("  pushed in {:.2} s", start.elapsed().as_secs_f64());

    let key = generate_key(dir.path(), "bench", "ecdsa-p256");
    let start = Instant::now();
    let mut sign = vec!["sign", "--key", key.key.to_str().unwrap()];
    sign.extend(images.iter().map(String::as_str));
    vouch_with_password(&key.password, &sign).expect_code(0);
    eprintln!(
        "  signed {IMAGES} images with one `vouch sign` in {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: vouch.dev/v1\nkind: TrustPolicy\ndefault: deny\nauthorities:\n  \
             bench-key: {{key: {{path: {}}}}}\nscopes:\n  - images: [\"{}/**\"]\n    \
             authorities: [bench-key]\n",
            key.public.display(),
            registry.addr
        ),
    )
    .unwrap();

    let mut vouch_args: Vec<String> = ["verify", "--policy", policy.to_str().unwrap()]
        .into_iter()
        .chain(["-o", "json"])
        .map(str::to_owned)
        .collect();
    vouch_args.extend(images.iter().cloned());
    let vouch = Tool {
        name: "vouch",
        program: vouch_bin.to_owned(),
        args: vouch_args,
    };
    let mut peer_args: Vec<String> = vec![
        "verify".into(),
        "--key".into(),
        key.public.to_str().unwrap().into(),
    ];
    peer_args.extend(images.iter().cloned());
    let peer = Tool {
        name: "sigstore-rs",
        program: PathBuf::from(PEER),
        args: peer_args,
    };

    eprintln!("timing {runs} rounds of each command after {WARMUP} warm-up run(s) ...");
    for _ in 0..WARMUP {
        check_vouch(&vouch.run_timed().1);
        check_peer(&peer.run_timed().1);
    }
    let (mut vouch_secs, mut peer_secs, mut peer_latencies) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=runs {
        let (elapsed, run) = vouch.run_timed();
        check_vouch(&run);
        vouch_secs.push(elapsed.as_secs_f64());
        let (peer_elapsed, run) = peer.run_timed();
        peer_latencies.extend(check_peer(&run));
        peer_secs.push(peer_elapsed.as_secs_f64());
        eprintln!(
            "  round {round}: vouch {:.3} s, sigstore-rs {:.3} s",
            elapsed.as_secs_f64(),
            peer_elapsed.as_secs_f64()
        );
    }

    eprintln!("deciding each image in-process with vouch-policy ({runs} passes after one) ...");
    let library = in_process(&policy, &images, runs);
    eprintln!("looking up {CACHE_GETS} cached decisions ...");
    let cached_ns = cached_lookups(library.decided);

    let (vouch_total, peer_total) = (median(&vouch_secs), median(&peer_secs));
    let (vouch_rate, peer_rate) = (IMAGES as f64 / vouch_total, IMAGES as f64 / peer_total);
    let ratio = vouch_rate / peer_rate;
    let range = |s: &[f64]| {
        format!(
            "[{:.3}-{:.3}]",
            s.iter().copied().fold(f64::INFINITY, f64::min),
            s.iter().copied().fold(0.0, f64::max)
        )
    };

    println!();
    println!(
        "policy benchmark: {IMAGES} signed images (one key, one signature each), {runs} \
         interleaved rounds after {WARMUP} warm-up run(s); registry {}",
        registry.addr
    );
    println!(
        "{:<40} {:>22} {:>22} {:>10}  goal",
        "measure", "vouch", "sigstore-rs", "ratio"
    );
    println!(
        "{:<40} {:>22} {:>22} {:>10}  -",
        format!("wall time for {IMAGES} images, s (median)"),
        format!("{vouch_total:.3} {}", range(&vouch_secs)),
        format!("{peer_total:.3} {}", range(&peer_secs)),
        "-"
    );
    println!(
        "{:<40} {:>22.1} {:>22.1} {:>9.2}x  >= 10x",
        "throughput, images/s", vouch_rate, peer_rate, ratio
    );
    println!(
        "{:<40} {:>22.3} {:>22.3} {:>10}  -",
        "per-image latency p50, ms",
        percentile(&library.latencies, 0.50),
        percentile(&peer_latencies, 0.50),
        "-"
    );
    println!(
        "{:<40} {:>22.3} {:>22.3} {:>10}  -",
        "per-image latency p99, ms",
        percentile(&library.latencies, 0.99),
        percentile(&peer_latencies, 0.99),
        "-"
    );
    println!(
        "{:<40} {:>22.3} {:>22} {:>10}  < 50 µs",
        "cached decision (MemoryCache get), µs",
        cached_ns / 1e3,
        "-",
        "-"
    );
    println!(
        "(throughput: one process for all {IMAGES} images, start-up included; ratio = vouch \
         images/s / sigstore-rs images/s. Latency: vouch-policy in-process, each image decided \
         alone ({} samples); sigstore-rs as sigstore-peer times each image ({} samples). \
         Cached: mean of {CACHE_GETS} gets over {IMAGES} keys.)",
        library.latencies.len(),
        peer_latencies.len()
    );
    println!();
    println!(
        "policy throughput: vouch {vouch_rate:.1} images/s, sigstore-rs {peer_rate:.1} images/s, \
         ratio {ratio:.2}x (goal >= 10x); cached decision {:.3} µs (goal < 50 µs)",
        cached_ns / 1e3
    );
}
