//! `vouch serve` benchmark, against the same upstream in the same run:
//!
//! - pull: `skopeo copy` of a signed image with a 100 MiB layer, directly from the upstream
//!   registry and through the proxy, alternately, `VOUCH_BENCH_RUNS` times each after one
//!   warm-up each (the proxy's first pull, which decides the image, is reported apart). The
//!   goal: through the proxy at most 1.1x the direct time (median against median);
//! - cold decisions: the first manifest request for each of 20 signed images through the
//!   proxy (tag resolved, evidence fetched and verified), p50 and max;
//! - webhook: AdmissionReviews (a Pod with one signed image) POSTed to `/validate` at 500
//!   requests/s for 20 s over 16 keep-alive connections, open loop (each request sent at its
//!   scheduled time, or as soon as a connection is free), after one request warmed the
//!   cache; latency p50/p99/max and errors. Goal: p99 under 5 ms, no error;
//! - memory: the server's resident set after those 10,000 requests (from `/proc`).
//!
//! It reports, and asserts nothing about timing.
//!
//! ```sh
//! cargo bench -p vouch-tests --bench serve
//! VOUCH_BENCH_RUNS=5 cargo bench -p vouch-tests --bench serve
//! ```
//!
//! Needs `docker-registry` and `skopeo` (as the end-to-end tests do). vouch is built in the
//! release profile (or taken from `$VOUCH_BIN`).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vouch_tests::serve::{KeepAlive, Serve, key_policy, release_scope};
use vouch_tests::{Registry, generate_key, one_layer_layout, push_image, skopeo_push};

const LAYER_BYTES: usize = 100 * 1024 * 1024;
const COLD_IMAGES: usize = 20;
const RATE: u64 = 500;
const SECONDS: u64 = 20;
const CONNECTIONS: usize = 16;
const DEFAULT_RUNS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn skopeo_copy(from: &str, dest: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dest);
    let start = Instant::now();
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{from}"),
        ])
        .arg(format!("oci:{}:x", dest.display()))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "skopeo copy {from} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// POSTs the AdmissionReview `body` to `path` on `connection`, returning the status.
fn post(connection: &mut KeepAlive, path: &str, body: &[u8]) -> u16 {
    let json = [("Content-Type", "application/json")];
    connection.request("POST", path, &json, body).0
}

fn main() {
    // The release build of vouch (the tests' helpers build the profile this bench runs in).
    let _ = vouch_tests::vouch_bin();
    let runs: usize = std::env::var("VOUCH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::spawn("");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");

    // A 100 MiB layer of bytes that do not compress.
    let layer = vouch_tests::incompressible_bytes(LAYER_BYTES);
    one_layer_layout(
        &dir.path().join("layout"),
        "application/vnd.oci.image.layer.v1.tar",
        &layer,
    );
    drop(layer);
    let big = skopeo_push(&dir.path().join("layout"), "v1", &upstream, "big");
    let small = push_image(&upstream, "small", "v1");
    let cold: Vec<_> = (0..COLD_IMAGES)
        .map(|i| push_image(&upstream, &format!("cold{i}"), "v1"))
        .collect();
    let mut sign = vec![
        "sign",
        "--key",
        key.key.to_str().unwrap(),
        &big.by_digest,
        &small.by_digest,
    ];
    sign.extend(cold.iter().map(|i| i.by_digest.as_str()));
    vouch_tests::vouch_with_password(&key.password, &sign).expect_code(0);

    // The proxy's names for the upstream's images, and the webhook's (their own).
    let policy = key_policy(
        dir.path(),
        &key,
        &[
            release_scope("up/**", Some(("up", upstream.addr.as_str()))),
            release_scope(&format!("{}/**", upstream.addr), None),
        ],
    );
    let upstream_flag = format!("up=http://{}", upstream.addr);
    let serve = Serve::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--upstream",
        &upstream_flag,
        "--webhook",
    ]);

    // Pull.
    let direct_from = format!("{}/big:v1", upstream.addr);
    let proxied_from = format!("{}/up/big:v1", serve.addr);
    let dest = dir.path().join("pulled");
    let first_direct = skopeo_copy(&direct_from, &dest);
    let first_proxied = skopeo_copy(&proxied_from, &dest);
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        direct.push(skopeo_copy(&direct_from, &dest).as_secs_f64());
        proxied.push(skopeo_copy(&proxied_from, &dest).as_secs_f64());
    }
    let (direct_median, proxied_median) = (median(direct), median(proxied));

    // Cold decisions.
    let mut cold_ms: Vec<f64> = cold
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let start = Instant::now();
            let answer = vouch_tests::serve::http_request(
                &serve.addr,
                "GET",
                &format!("/v2/up/cold{i}/manifests/v1"),
                &[],
            );
            assert_eq!(answer.status, 200, "{}", answer.text());
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    cold_ms.sort_by(f64::total_cmp);

    // Webhook under load.
    let fixture = vouch_tests::workspace_dir().join("tests/data/admission/connaisseur/02_pod.json");
    let mut review: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    review["request"]["object"]["spec"]["containers"][0]["image"] = small.tagged.clone().into();
    let body = Arc::new(serde_json::to_vec(&review).unwrap());
    assert_eq!(
        post(&mut KeepAlive::open(&serve.addr), "/validate", &body),
        200
    );
    let total = (RATE * SECONDS) as usize;
    let next = Arc::new(Mutex::new(0usize));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let errors = Arc::new(Mutex::new(0usize));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (next, latencies, errors, body, addr) = (
                next.clone(),
                latencies.clone(),
                errors.clone(),
                body.clone(),
                serve.addr.clone(),
            );
            std::thread::spawn(move || {
                let mut connection = KeepAlive::open(&addr);
                loop {
                    let n = {
                        let mut next = next.lock().unwrap();
                        if *next >= total {
                            return;
                        }
                        *next += 1;
                        *next - 1
                    };
                    let due = start + Duration::from_micros(n as u64 * 1_000_000 / RATE);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    let status = post(&mut connection, "/validate", &body);
                    let took = sent.elapsed().as_secs_f64() * 1000.0;
                    latencies.lock().unwrap().push(took);
                    if status != 200 {
                        *errors.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_by(f64::total_cmp);
    let (_, rss_kib) = serve.resources();

    println!(
        "vouch serve benchmark ({runs} timed rounds each; 2 cores shared by client, proxy and registry)"
    );
    println!();
    println!(
        "pull of a signed image with a {} MiB layer (skopeo copy to an OCI layout)",
        LAYER_BYTES >> 20
    );
    println!(
        "  direct from the upstream:  median {direct_median:.3} s (first {:.3} s)",
        first_direct.as_secs_f64()
    );
    println!(
        "  through vouch serve:       median {proxied_median:.3} s (first, deciding: {:.3} s)",
        first_proxied.as_secs_f64()
    );
    println!(
        "  ratio proxy/direct:        {:.3}x (goal <= 1.1x)",
        proxied_median / direct_median
    );
    println!();
    println!(
        "cold decisions through the proxy ({COLD_IMAGES} images, first manifest request each)"
    );
    println!(
        "  p50 {:.2} ms, max {:.2} ms",
        percentile(&cold_ms, 0.5),
        cold_ms[cold_ms.len() - 1]
    );
    println!();
    println!(
        "webhook /validate, warm cache, {RATE} requests/s for {SECONDS} s over {CONNECTIONS} connections"
    );
    println!(
        "  requests {}, errors {}, achieved {:.0} requests/s",
        latencies.len(),
        errors.lock().unwrap(),
        latencies.len() as f64 / wall
    );
    println!(
        "  latency p50 {:.3} ms, p99 {:.3} ms (goal < 5 ms), max {:.3} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    println!();
    println!(
        "server resident memory after {} requests: {:.1} MiB",
        latencies.len() + COLD_IMAGES + 2 * (runs + 1),
        rss_kib as f64 / 1024.0
    );
}
