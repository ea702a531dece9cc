//! TUF repositories for `vouch trust update`: written with `tough`'s editor (root, targets,
//! snapshot and timestamp signed with ECDSA P-256 keys made here, consistent snapshots as
//! Sigstore publishes them, targets `trusted_root.json` and `signing_config.v0.2.json` from
//! `tests/data/tuf`), served by a [`HostileServer`] on 127.0.0.1 from a directory the test
//! can change between updates, with any path answered by a scripted [`Reply`] instead (an
//! endless body, an error).
//!
//! `tough` is a dev-dependency of this crate, so this module is compiled into the test that
//! uses it (`tests/tests/tuf.rs`, by `#[path]`) rather than into the harness library.
//!
//! ```text
//! let mut repo = tuf::TufRepo::new();
//! repo.rotate_root(); // root v2, every key new, roles re-signed
//! println!("{} starts from {}", repo.url(), repo.root_file(1).display());
//! ```
// Compiled by `#[path]` into a test crate, where `pub` items are private to it.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde::de::DeserializeOwned;
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{KeyHolder, RoleType, Root, Signed, Timestamp};
use tough::sign::{Sign, parse_keypair};
use vouch_keys::time::{format_rfc3339, unix_secs};
use vouch_tests::hostile::{HostileServer, Reply};
use vouch_tests::workspace_dir;

/// A week, in seconds: how long the timestamp, snapshot and targets of [`TufRepo::publish`]
/// stay valid.
pub const WEEK: i64 = 7 * 24 * 3600;

/// A time `from_now` seconds away, as `tough`'s metadata takes it.
pub fn expiry<T: DeserializeOwned>(from_now: i64) -> T {
    let text = format_rfc3339(unix_secs(SystemTime::now()) + from_now);
    serde_json::from_value(serde_json::Value::String(text)).unwrap()
}

/// An ECDSA P-256 signing key made for one test (PKCS#8).
#[derive(Clone)]
pub struct TestKey(Vec<u8>);

impl TestKey {
    /// A new key.
    pub fn generate() -> TestKey {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        TestKey(document.as_ref().to_vec())
    }

    /// Its public key as TUF metadata lists it.
    pub fn public(&self) -> Key {
        parse_keypair(&self.0).unwrap().tuf_key()
    }

    /// Its TUF key ID.
    pub fn id(&self) -> Decoded<Hex> {
        self.public().key_id().unwrap()
    }

    /// It as `tough`'s editor takes keys.
    pub fn source(&self) -> Box<dyn KeySource> {
        Box::new(MemoryKey(self.0.clone()))
    }
}

/// A [`KeySource`] holding its key in memory.
struct MemoryKey(Vec<u8>);

impl std::fmt::Debug for MemoryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryKey")
    }
}

#[tough::async_trait]
impl KeySource for MemoryKey {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(parse_keypair(&self.0)?))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(())
    }
}

/// The keys of one root version: two root keys (threshold 2), one key each for targets,
/// snapshot and timestamp.
#[derive(Clone)]
pub struct RoleKeys {
    /// The root keys.
    pub root: Vec<TestKey>,
    /// The targets key.
    pub targets: TestKey,
    /// The snapshot key.
    pub snapshot: TestKey,
    /// The timestamp key.
    pub timestamp: TestKey,
}

impl RoleKeys {
    /// All new keys.
    pub fn generate() -> RoleKeys {
        RoleKeys {
            root: vec![TestKey::generate(), TestKey::generate()],
            targets: TestKey::generate(),
            snapshot: TestKey::generate(),
            timestamp: TestKey::generate(),
        }
    }

    /// The root (unsigned) giving these keys their roles, version `version`, valid a year.
    pub fn root(&self, version: u64) -> Root {
        let all = self
            .root
            .iter()
            .chain([&self.targets, &self.snapshot, &self.timestamp]);
        let keys = all.map(|k| (k.id(), k.public())).collect();
        let role = |keys: &[&TestKey], threshold: u64| tough::schema::RoleKeys {
            keyids: keys.iter().map(|k| k.id()).collect(),
            threshold: NonZeroU64::new(threshold).unwrap(),
            _extra: HashMap::new(),
        };
        let roles = [
            (
                RoleType::Root,
                role(&self.root.iter().collect::<Vec<_>>(), 2),
            ),
            (RoleType::Targets, role(&[&self.targets], 1)),
            (RoleType::Snapshot, role(&[&self.snapshot], 1)),
            (RoleType::Timestamp, role(&[&self.timestamp], 1)),
        ]
        .into_iter()
        .collect();
        Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version: NonZeroU64::new(version).unwrap(),
            expires: expiry(365 * 24 * 3600),
            keys,
            roles,
            _extra: HashMap::new(),
        }
    }

    /// Every key, as the editor takes them.
    pub fn sources(&self) -> Vec<Box<dyn KeySource>> {
        self.root
            .iter()
            .chain([&self.targets, &self.snapshot, &self.timestamp])
            .map(TestKey::source)
            .collect()
    }

    fn root_sources(&self) -> Vec<Box<dyn KeySource>> {
        self.root.iter().map(TestKey::source).collect()
    }
}

/// Scripted answers by path, served before the directory's files.
pub type Overrides = Arc<Mutex<HashMap<String, Reply>>>;

/// Serves `dir` over HTTP on 127.0.0.1 as a TUF mirror does: `/NAME` from `dir/metadata`,
/// `/targets/NAME` from `dir/targets`, 404 for what is not there; a path in the returned
/// [`Overrides`] gets its reply instead.
pub fn serve_repository(dir: &Path) -> (HostileServer, Overrides) {
    let overrides: Overrides = Arc::default();
    let scripted = overrides.clone();
    let dir = dir.to_owned();
    let server = HostileServer::start(move |request| {
        if let Some(reply) = scripted.lock().unwrap().get(request.path()) {
            return reply.clone();
        }
        let path = request.path().trim_start_matches('/');
        if path.split('/').any(|part| part == ".." || part.is_empty()) {
            return Reply::status("404 Not Found", b"");
        }
        let file = match path.strip_prefix("targets/") {
            Some(target) => dir.join("targets").join(target),
            None => dir.join("metadata").join(path),
        };
        match std::fs::read(&file) {
            Ok(bytes) => Reply::status("200 OK", &bytes),
            Err(_) => Reply::status("404 Not Found", b""),
        }
    });
    (server, overrides)
}

/// A TUF repository on disk, served over HTTP while it lives.
pub struct TufRepo {
    dir: tempfile::TempDir,
    server: HostileServer,
    overrides: Overrides,
    runtime: tokio::runtime::Runtime,
    /// The keys of the current root.
    pub keys: RoleKeys,
    /// The current root's version.
    pub root_version: u64,
    /// The version of the last timestamp, snapshot and targets published.
    pub version: u64,
    targets: Vec<PathBuf>,
}

impl TufRepo {
    /// A repository with root v1 and version 1 of timestamp, snapshot and targets, whose
    /// targets are Sigstore's `trusted_root.json` and `signing_config.v0.2.json`.
    pub fn new() -> TufRepo {
        let data = workspace_dir().join("tests/data/tuf");
        TufRepo::with_targets(&[
            data.join("trusted_root.json"),
            data.join("signing_config.v0.2.json"),
        ])
    }

    /// A repository as [`TufRepo::new`] makes it, with `targets` (files) as its targets.
    pub fn with_targets(targets: &[PathBuf]) -> TufRepo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("metadata")).unwrap();
        std::fs::create_dir_all(dir.path().join("targets")).unwrap();
        let (server, overrides) = serve_repository(dir.path());
        let mut repo = TufRepo {
            dir,
            server,
            overrides,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            keys: RoleKeys::generate(),
            root_version: 0,
            version: 0,
            targets: targets.to_vec(),
        };
        let root = repo.keys.root(1);
        let bytes = repo.sign_root(&root, None);
        repo.write_metadata("1.root.json", &bytes);
        repo.root_version = 1;
        repo.publish();
        repo
    }

    /// `http://127.0.0.1:PORT`, the mirror URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// How many requests the server has answered.
    pub fn requests(&self) -> usize {
        self.server.requests().len()
    }

    /// The file holding root version `version`.
    pub fn root_file(&self, version: u64) -> PathBuf {
        self.metadata_dir().join(format!("{version}.root.json"))
    }

    /// `DIR/metadata`.
    pub fn metadata_dir(&self) -> PathBuf {
        self.dir.path().join("metadata")
    }

    /// `DIR/targets`.
    pub fn targets_dir(&self) -> PathBuf {
        self.dir.path().join("targets")
    }

    /// The bytes of metadata file `name` (`timestamp.json`, `2.snapshot.json`).
    pub fn metadata(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.metadata_dir().join(name)).unwrap()
    }

    /// Replaces metadata file `name`.
    pub fn write_metadata(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.metadata_dir().join(name), bytes).unwrap();
    }

    /// The file a consistent snapshot serves target `name` from (`targets/<sha256>.NAME`).
    pub fn target_file(&self, name: &str) -> PathBuf {
        std::fs::read_dir(self.targets_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(&format!(".{name}")))
            })
            .unwrap_or_else(|| panic!("no target {name}"))
    }

    /// Answers `path` (`/timestamp.json`) with `reply` from now on.
    pub fn answer(&self, path: &str, reply: Reply) {
        self.overrides
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// `root` signed by the current root keys (its own) and, when given, by the previous
    /// root's.
    fn sign_root(&self, root: &Root, previous: Option<(&Root, &RoleKeys)>) -> Vec<u8> {
        let rng = SystemRandom::new();
        self.runtime.block_on(async {
            let own = SignedRole::new(
                root.clone(),
                &KeyHolder::Root(root.clone()),
                &self.keys.root_sources(),
                &rng,
            )
            .await
            .unwrap();
            let signed = match previous {
                Some((old_root, old_keys)) => {
                    let old = SignedRole::new(
                        root.clone(),
                        &KeyHolder::Root(old_root.clone()),
                        &old_keys.root_sources(),
                        &rng,
                    )
                    .await
                    .unwrap();
                    own.add_old_signatures(old.signed().signatures.clone())
                        .unwrap()
                }
                None => own,
            };
            signed.buffer().clone()
        })
    }

    /// Publishes the next version of targets, snapshot and timestamp, each valid a week.
    pub fn publish(&mut self) {
        self.publish_with_timestamp_expiry(WEEK);
    }

    /// Publishes the next version of targets, snapshot and timestamp (signed with the
    /// current keys), the timestamp expiring `from_now` seconds from now (negative: already
    /// expired).
    pub fn publish_with_timestamp_expiry(&mut self, from_now: i64) {
        self.version += 1;
        let version = NonZeroU64::new(self.version).unwrap();
        let root_file = self.root_file(self.root_version);
        let (metadata, targets_dir) = (self.metadata_dir(), self.targets_dir());
        self.runtime.block_on(async {
            let mut editor = RepositoryEditor::new(&root_file).await.unwrap();
            editor
                .targets_version(version)
                .unwrap()
                .targets_expires(expiry(WEEK))
                .unwrap();
            editor
                .snapshot_version(version)
                .snapshot_expires(expiry(WEEK))
                .timestamp_version(version)
                .timestamp_expires(expiry(from_now));
            for target in &self.targets {
                editor.add_target_path(target).await.unwrap();
            }
            let signed = editor.sign(&self.keys.sources()).await.unwrap();
            signed.write(&metadata).await.unwrap();
            for target in &self.targets {
                signed
                    .copy_target(target, &targets_dir, PathExists::Skip, None)
                    .await
                    .unwrap();
            }
        });
    }

    /// Rotates the root: version N+1 with every key new, signed by a threshold of the old
    /// root keys and of the new ones, then publishes roles signed with the new keys.
    pub fn rotate_root(&mut self) {
        self.rotate_root_signed_by_old(true);
    }

    /// [`TufRepo::rotate_root`], with the new root signed by the old root keys only when
    /// `by_old` (a root the old one does not vouch for, otherwise).
    pub fn rotate_root_signed_by_old(&mut self, by_old: bool) {
        let old_keys = self.keys.clone();
        let old_root = old_keys.root(self.root_version);
        self.keys = RoleKeys::generate();
        let version = self.root_version + 1;
        let root = self.keys.root(version);
        let bytes = self.sign_root(&root, by_old.then_some((&old_root, &old_keys)));
        self.write_metadata(&format!("{version}.root.json"), &bytes);
        self.root_version = version;
        self.publish();
    }

    /// Re-signs the served `timestamp.json` with a key the root does not give the timestamp
    /// role (its contents unchanged).
    pub fn sign_timestamp_with_a_foreign_key(&self) {
        let timestamp: Signed<Timestamp> =
            serde_json::from_slice(&self.metadata("timestamp.json")).unwrap();
        let foreign = TestKey::generate();
        let mut root = self.keys.root(self.root_version);
        root.keys.insert(foreign.id(), foreign.public());
        root.roles.get_mut(&RoleType::Timestamp).unwrap().keyids = vec![foreign.id()];
        let rng = SystemRandom::new();
        let signed = self
            .runtime
            .block_on(SignedRole::new(
                timestamp.signed,
                &KeyHolder::Root(root),
                &[foreign.source()],
                &rng,
            ))
            .unwrap();
        self.write_metadata("timestamp.json", signed.buffer());
    }
}
