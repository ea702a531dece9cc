//! One keyless `vouch sign` against local services, and where its time goes: `@sigstore/mock`'s
//! Fulcio, Rekor v1 and timestamp authority (`tests/peers/js/sigstore-mock.js`) and a local
//! registry (distribution 2.8), `VOUCH_BENCH_RUNS` signings (default 20) of fresh images after
//! one warm-up. For each it takes the wall time of the process and, from vouch's `-vv` request
//! log, the time spent waiting for each service's answers; it prints the medians, and the same
//! signing with a key file (no services) for comparison. The goal: most of a keyless signing is
//! the services' answers, not vouch.
//!
//! ```sh
//! cargo bench -p vouch-tests --bench keyless_sign
//! ```
//!
//! Needs `docker-registry` and the sigstore-js peer (node, npm), as the end-to-end tests do.
//! It reports, and asserts nothing about timing.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use vouch_tests::keyless::SigstoreMock;
use vouch_tests::{Peer, Registry, generate_key, push_image, unique, vouch_command};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Milliseconds of the `-vv` request lines whose URL contains `needle`
/// (`POST http://... -> 201 (N bytes, 12 ms)`).
fn request_ms(log: &str, needle: &str) -> f64 {
    log.lines()
        .filter(|line| line.contains(" -> ") && line.contains(needle))
        .filter_map(|line| {
            let ms = line.rsplit_once(", ")?.1.strip_suffix(" ms)")?;
            ms.trim().parse::<f64>().ok()
        })
        .sum()
}

fn main() {
    let runs: usize = std::env::var("VOUCH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let peer = Peer::SigstoreJs
        .install()
        .expect("the sigstore-js peer (for @sigstore/mock) cannot be installed here");
    let mock = SigstoreMock::start(&peer);
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(
        &token,
        SigstoreMock::token(
            "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1",
            "https://token.actions.githubusercontent.com",
        ),
    )
    .unwrap();
    let token_arg = format!("@{}", token.display());
    let key = generate_key(dir.path(), "bench", "ecdsa-p256");

    let mut keyless = Vec::new();
    let mut services = Vec::new();
    let mut fulcio = Vec::new();
    let mut rekor = Vec::new();
    let mut tsa = Vec::new();
    let mut registry_ms = Vec::new();
    let mut keyed = Vec::new();
    let mut blob_wall = Vec::new();
    let mut blob_services = Vec::new();
    let artifact = dir.path().join("release.tar");
    std::fs::write(&artifact, vec![7u8; 1 << 20]).unwrap();
    for run in 0..=runs {
        // sign-blob: the same services, no registry.
        let bundle = dir.path().join(format!("blob-{run}.json"));
        let start = Instant::now();
        let out = vouch_command(&[
            "sign-blob",
            "-vv",
            "--identity-token",
            &token_arg,
            "--signing-config",
            mock.signing_config().to_str().unwrap(),
            "--trusted-root",
            mock.trusted_root().to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            artifact.to_str().unwrap(),
        ])
        .output()
        .unwrap();
        let wall = start.elapsed().as_secs_f64() * 1000.0;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr);
        if run > 0 {
            blob_wall.push(wall);
            blob_services.push(
                request_ms(&log, "/api/v2/signingCert")
                    + request_ms(&log, "/api/v1/log/entries")
                    + request_ms(&log, "/api/v1/timestamp"),
            );
        }

        let image = push_image(&registry, &unique("bench-keyless"), "v1");
        let start = Instant::now();
        let out = vouch_command(&[
            "sign",
            "-vv",
            "--identity-token",
            &token_arg,
            "--signing-config",
            mock.signing_config().to_str().unwrap(),
            "--trusted-root",
            mock.trusted_root().to_str().unwrap(),
            &image.tagged,
        ])
        .output()
        .unwrap();
        let wall = start.elapsed().as_secs_f64() * 1000.0;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr);
        let (f, r, t) = (
            request_ms(&log, "/api/v2/signingCert"),
            request_ms(&log, "/api/v1/log/entries"),
            request_ms(&log, "/api/v1/timestamp"),
        );
        let reg = request_ms(&log, &registry.addr);

        let image = push_image(&registry, &unique("bench-key"), "v1");
        let start = Instant::now();
        let out = vouch_command(&["sign", "--key", key.key.to_str().unwrap(), &image.tagged])
            .env("VOUCH_PASSWORD", &key.password)
            .output()
            .unwrap();
        let key_wall = start.elapsed().as_secs_f64() * 1000.0;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if run == 0 {
            continue; // warm-up
        }
        keyless.push(wall);
        services.push(f + r + t);
        fulcio.push(f);
        rekor.push(r);
        tsa.push(t);
        registry_ms.push(reg);
        keyed.push(key_wall);
    }
    let (wall, waited) = (median(keyless.clone()), median(services.clone()));
    println!("keyless vouch sign, {runs} runs (medians, ms):");
    println!("  wall                 {wall:8.1}");
    println!("  Fulcio answers       {:8.1}", median(fulcio));
    println!("  Rekor answers        {:8.1}", median(rekor));
    println!("  TSA answers          {:8.1}", median(tsa));
    println!(
        "  services together    {waited:8.1}  ({:.0}% of wall)",
        100.0 * waited / wall
    );
    println!("  registry requests    {:8.1}", median(registry_ms));
    println!(
        "vouch sign --key (same registry, no services; the key decrypted with scrypt): {:8.1}",
        median(keyed)
    );
    println!("  (signing an image waits twice 150 ms for writers of the .sig tag to settle)");
    let (wall, waited) = (median(blob_wall), median(blob_services));
    println!("keyless vouch sign-blob of 1 MiB, {runs} runs (medians, ms):");
    println!("  wall                 {wall:8.1}");
    println!(
        "  services together    {waited:8.1}  ({:.0}% of wall)",
        100.0 * waited / wall
    );
    println!(
        "  vouch itself         {:8.1}  (process, token, key, checks, verification)",
        wall - waited
    );
}
