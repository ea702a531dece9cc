//! Verify benchmark: the median wall time of `vouch verify` against that of sigstore-rs
//! (the `sigstore-peer` binary of this package, which uses only the `sigstore` crate's `cosign`
//! module) verifying the same signed image on the same private local registry, as a ratio.
//! The goals (issue 17): vouch's median at most 8 ms, and at most 0.1x sigstore-rs's.
//!
//! Both tools run as whole processes, so both timings include process start-up: this is what a
//! user running the command waits for. Each command is warmed up three times, then the two are
//! run alternately (vouch, sigstore-rs, vouch, ...) so machine noise hits both alike; every run
//! must exit 0. Scenarios: an image with one signature and one with ten (ten keys), each named
//! by tag (resolved to a digest first) and by digest. The benchmark also counts the HTTP
//! requests and connections each tool makes in one run, through a small counting proxy in
//! front of the registry (timed runs talk to the registry directly), and times the registry
//! floor: the three requests any verifier of the one-signature image by tag makes one after
//! another (manifest by tag, `.sig` manifest, its blob), sent from the benchmark itself on one
//! kept-alive connection, which is the registry's own share of every run. It reports, and
//! asserts nothing about timing.
//!
//! ```sh
//! cargo bench -p vouch-tests --bench verify
//! VOUCH_BENCH_RUNS=100 cargo bench -p vouch-tests --bench verify   # more iterations (default 30)
//! ```
//!
//! Needs `docker-registry`, `skopeo` and `umoci` (as the end-to-end tests do). vouch is built with
//! `cargo build --release -p vouch` (or taken from `$VOUCH_BIN`).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vouch_tests::serve::KeepAlive;
use vouch_tests::{Image, KeyPair, Registry, Run, generate_key, push_image, vouch_with_password};

/// Runs of each command before timing starts.
const WARMUP: usize = 3;
/// Timed runs of each command unless `VOUCH_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 30;
/// The sigstore-rs implementation.
const PEER: &str = env!("CARGO_BIN_EXE_sigstore-peer");

/// One tool's command line for one image.
struct Tool {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

impl Tool {
    fn vouch(public: &Path, image: &str) -> Tool {
        Tool {
            name: "vouch",
            program: vouch_tests::vouch_bin().to_owned(),
            args: verify_args(public, image),
        }
    }

    fn peer(public: &Path, image: &str) -> Tool {
        Tool {
            name: "sigstore-rs",
            program: PathBuf::from(PEER),
            args: verify_args(public, image),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs once, panicking unless it exits 0 (a benchmark must not time failures).
    fn run_timed(&self) -> Duration {
        let start = Instant::now();
        let output = self.command().output().unwrap();
        let elapsed = start.elapsed();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_eq!(
            run.code, 0,
            "{} {:?} failed; output:\n{run:#?}",
            self.name, self.args
        );
        elapsed
    }
}

fn verify_args(public: &Path, image: &str) -> Vec<String> {
    vec![
        "verify".into(),
        "--key".into(),
        public.to_str().unwrap().into(),
        image.into(),
    ]
}

/// Summary of the timed runs of one command, in milliseconds.
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
        let median = if n % 2 == 1 {
            ms[n / 2]
        } else {
            (ms[n / 2 - 1] + ms[n / 2]) / 2.0
        };
        // Nearest rank.
        let rank = |p: f64| ms[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Stats {
            median,
            p10: rank(0.10),
            p90: rank(0.90),
        }
    }
}

/// Warms both commands up, then times them alternately; returns (vouch, sigstore-rs).
fn measure(vouch: &Tool, peer: &Tool, runs: usize) -> (Stats, Stats) {
    let (vouch, peer, _) = measure_with_floor(vouch, peer, runs, None);
    (vouch, peer)
}

/// [`measure`], with the registry floor (when given) timed in the same rotation, so that the
/// machine's drift between runs hits all three alike.
fn measure_with_floor(
    vouch: &Tool,
    peer: &Tool,
    runs: usize,
    mut floor: Option<&mut RegistryFloor>,
) -> (Stats, Stats, Option<Stats>) {
    for _ in 0..WARMUP {
        vouch.run_timed();
        peer.run_timed();
        if let Some(floor) = floor.as_deref_mut() {
            floor.once();
        }
    }
    let mut a = Vec::with_capacity(runs);
    let mut b = Vec::with_capacity(runs);
    let mut c = Vec::with_capacity(runs);
    for _ in 0..runs {
        a.push(vouch.run_timed());
        b.push(peer.run_timed());
        if let Some(floor) = floor.as_deref_mut() {
            c.push(floor.once());
        }
    }
    (Stats::of(&a), Stats::of(&b), floor.map(|_| Stats::of(&c)))
}

/// A TCP proxy in front of the registry that records every HTTP/1.x request line it forwards
/// and counts connections. Only for counting: the timed runs do not go through it.
struct CountingProxy {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl CountingProxy {
    fn start(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count, upstream) = (requests.clone(), connections.clone(), upstream.to_owned());
        // Serves until the process exits.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (log, upstream) = (log.clone(), upstream.clone());
                std::thread::spawn(move || forward(client, &upstream, &log));
            }
        });
        CountingProxy {
            addr,
            requests,
            connections,
        }
    }

    /// Runs `tool` once and returns the request lines it sent and the connections it opened.
    fn count(&self, tool: &Tool) -> (Vec<String>, usize) {
        self.requests.lock().unwrap().clear();
        let before = self.connections.load(Ordering::SeqCst);
        tool.run_timed();
        // Every request line is recorded before it is forwarded, so before its answer.
        let requests = std::mem::take(&mut *self.requests.lock().unwrap());
        (requests, self.connections.load(Ordering::SeqCst) - before)
    }
}

/// Copies one connection both ways, recording the request lines of the client's side.
fn forward(client: TcpStream, upstream: &str, log: &Mutex<Vec<String>>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut server_write) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut server_read, mut client_write) = (server, client);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    let mut pending: Vec<u8> = Vec::new();
    let mut body_left = 0usize;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        loop {
            if body_left > 0 {
                let skip = body_left.min(pending.len());
                pending.drain(..skip);
                body_left -= skip;
                if body_left > 0 {
                    break;
                }
            }
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let mut lines = head.lines();
            log.lock()
                .unwrap()
                .push(lines.next().unwrap_or_default().to_owned());
            // Chunked request bodies are not expected from a verifier.
            body_left = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
        }
        if server_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server_write.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// A request line with digests shortened, e.g. `GET /v2/bench/one/manifests/sha256-1a2b3c4d….sig`.
fn short(line: &str) -> String {
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find("sha256") {
        let hex_start = i + "sha256".len() + 1;
        out.push_str(&rest[..hex_start.min(rest.len())]);
        let tail = &rest[hex_start.min(rest.len())..];
        let hex_len = tail.chars().take_while(char::is_ascii_hexdigit).count();
        out.push_str(&tail[..hex_len.min(8)]);
        if hex_len > 8 {
            out.push('…');
        }
        rest = &tail[hex_len..];
    }
    out.push_str(rest);
    format!("{method} {out}")
}

/// The manifest media types a verifier accepts.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";

/// One GET of `path` on `connection`: the body of a 200 answer (panics otherwise).
fn get(connection: &mut KeepAlive, path: &str) -> Vec<u8> {
    let (status, body) = connection.request("GET", path, &[("Accept", MANIFEST_ACCEPT)], &[]);
    assert_eq!(status, 200, "GET {path}");
    body
}

/// The registry's own share of verifying an image by tag: the three requests that any
/// verifier of a tag-layout signature makes one after another, each needing the answer before
/// (the manifest by tag for the digest, the `.sig` manifest, its first layer's blob), sent
/// from this process on one kept-alive connection, so with no process start, no connection
/// set-up and no verification.
struct RegistryFloor {
    connection: KeepAlive,
    manifest: String,
    signature: String,
    repository: String,
}

impl RegistryFloor {
    fn new(registry: &str, image: &Image) -> RegistryFloor {
        let repository = image
            .repository
            .strip_prefix(&format!("{registry}/"))
            .unwrap()
            .to_owned();
        let (_, tag) = image.tagged.rsplit_once(':').unwrap();
        let signature_tag = format!("{}.sig", image.digest.replacen(':', "-", 1));
        RegistryFloor {
            connection: KeepAlive::open(registry),
            manifest: format!("/v2/{repository}/manifests/{tag}"),
            signature: format!("/v2/{repository}/manifests/{signature_tag}"),
            repository,
        }
    }

    /// The three requests once, timed.
    fn once(&mut self) -> Duration {
        let start = Instant::now();
        get(&mut self.connection, &self.manifest);
        let manifest = get(&mut self.connection, &self.signature);
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let blob = manifest["layers"][0]["digest"].as_str().unwrap();
        let path = format!("/v2/{}/blobs/{blob}", self.repository);
        get(&mut self.connection, &path);
        start.elapsed()
    }
}

/// An image signed by some keys, and the public key verification uses.
struct Scenario {
    name: String,
    image: Image,
    public: PathBuf,
}

/// Pushes an image and signs it once with each of `signers` new P-256 keys (one
/// `vouch sign` each, so the `.sig` manifest ends with one layer per key). Verification uses the
/// last key.
fn scenario(registry: &Registry, dir: &Path, repo: &str, signers: usize) -> Scenario {
    let image = push_image(registry, repo, "v1");
    let mut last: Option<KeyPair> = None;
    for i in 0..signers {
        let key = generate_key(
            dir,
            &format!("{}-{i}", repo.replace('/', "-")),
            "ecdsa-p256",
        );
        vouch_with_password(
            &key.password,
            &["sign", "--key", key.key.to_str().unwrap(), &image.tagged],
        )
        .expect_code(0);
        last = Some(key);
    }
    let layers = vouch_tests::signature_manifest(&image.repository, &image.digest)
        .expect("no signature manifest after signing")["layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, signers, "signature manifest of {}", image.tagged);
    Scenario {
        name: format!("{signers} signature{}", if signers == 1 { "" } else { "s" }),
        image,
        public: last.unwrap().public,
    }
}

/// One row of the results table.
struct Row {
    scenario: String,
    reference: &'static str,
    vouch: Stats,
    peer: Stats,
    requests: Option<(usize, usize, usize, usize)>,
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

    let registry = Registry::spawn("");
    let proxy = CountingProxy::start(&registry.addr);
    let dir = tempfile::tempdir().unwrap();
    eprintln!("setting up on registry {} ...", registry.addr);
    let scenarios = [
        scenario(&registry, dir.path(), "bench/one", 1),
        scenario(&registry, dir.path(), "bench/ten", 10),
    ];
    eprintln!("timing {runs} runs of each command after {WARMUP} warm-up runs ...");

    let mut rows = Vec::new();
    let mut listings = Vec::new();
    let mut registry_floor = RegistryFloor::new(&registry.addr, &scenarios[0].image);
    let mut floor = None;
    for scenario in &scenarios {
        let image = &scenario.image;
        for (reference, direct) in [("tag", &image.tagged), ("digest", &image.by_digest)] {
            let vouch = Tool::vouch(&scenario.public, direct);
            let peer = Tool::peer(&scenario.public, direct);
            // The registry floor is timed with the first scenario by tag, in its rotation.
            let first = rows.is_empty();
            let (vouch_stats, peer_stats, floor_stats) =
                measure_with_floor(&vouch, &peer, runs, first.then_some(&mut registry_floor));
            floor = floor.or(floor_stats);

            let proxied = direct.replacen(&registry.addr, &proxy.addr, 1);
            let (vouch_requests, vouch_connections) =
                proxy.count(&Tool::vouch(&scenario.public, &proxied));
            let (peer_requests, peer_connections) =
                proxy.count(&Tool::peer(&scenario.public, &proxied));
            let requests = Some((
                vouch_requests.len(),
                vouch_connections,
                peer_requests.len(),
                peer_connections,
            ));
            if rows.is_empty() {
                listings.push(("vouch", vouch_requests));
                listings.push(("sigstore-rs", peer_requests));
            }
            rows.push(Row {
                scenario: scenario.name.clone(),
                reference,
                vouch: vouch_stats,
                peer: peer_stats,
                requests,
            });
        }
    }

    let floor = floor.unwrap();

    // What process start-up alone costs each tool (no registry, no key): `vouch --version`
    // exits before starting its runtime, `sigstore-peer --help` starts tokio, then prints.
    let startup_vouch = Tool {
        name: "vouch",
        program: vouch_bin.to_owned(),
        args: vec!["--version".into()],
    };
    let startup_peer = Tool {
        name: "sigstore-rs",
        program: PathBuf::from(PEER),
        args: vec!["--help".into()],
    };
    let (vouch_stats, peer_stats) = measure(&startup_vouch, &startup_peer, runs);
    rows.push(Row {
        scenario: "start-up only".into(),
        reference: "-",
        vouch: vouch_stats,
        peer: peer_stats,
        requests: None,
    });

    println!();
    println!(
        "verify benchmark: {runs} interleaved runs per command after {WARMUP} warm-up runs; \
         wall time per process in ms (median [p10-p90])"
    );
    println!(
        "{:<14} {:<7} {:>22} {:>22} {:>7}  {:>18}",
        "scenario", "ref", "vouch", "sigstore-rs", "ratio", "requests/conns"
    );
    for row in &rows {
        let cell = |s: &Stats| format!("{:.1} [{:.1}-{:.1}]", s.median, s.p10, s.p90);
        let requests = row.requests.map_or_else(
            || "-".to_owned(),
            |(vr, vc, pr, pc)| format!("{vr}/{vc} vs {pr}/{pc}"),
        );
        println!(
            "{:<14} {:<7} {:>22} {:>22} {:>6.2}x  {:>18}",
            row.scenario,
            row.reference,
            cell(&row.vouch),
            cell(&row.peer),
            row.vouch.median / row.peer.median,
            requests
        );
    }
    println!(
        "(ratio = vouch median / sigstore-rs median; requests/conns = HTTP requests and TCP connections of one run, vouch vs sigstore-rs)"
    );
    for (tool, requests) in &listings {
        println!();
        println!("requests of one {tool} run ({}, tag):", scenarios[0].name);
        for line in requests {
            println!("  {}", short(line));
        }
    }
    let main = &rows[0];
    let startup = &rows[rows.len() - 1].vouch;
    println!();
    println!(
        "registry floor ({}, tag): {:.1} ms [{:.1}-{:.1}] for the three requests any verifier \
         makes one after another (manifest by tag, .sig manifest, its blob), sent from this \
         process on one kept-alive connection: no process, no connection set-up, no checks",
        scenarios[0].name, floor.median, floor.p10, floor.p90
    );
    println!(
        "vouch above the registry floor: {:.1} ms, of which process start-up (`--version`) {:.1} ms",
        main.vouch.median - floor.median,
        startup.median
    );
    println!(
        "verify median: vouch {:.1} ms, sigstore-rs {:.1} ms, ratio {:.2}x (goals <= 8 ms, <= 0.1x); registry floor {:.1} ms",
        main.vouch.median,
        main.peer.median,
        main.vouch.median / main.peer.median,
        floor.median
    );
}
