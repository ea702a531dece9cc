//! Sigstore trust roots kept current over TUF (The Update Framework), as cosign's
//! `initialize` does: [`update`] follows a Sigstore TUF repository from a trusted `root.json`
//! (root rotations, then timestamp, snapshot and targets, with consistent snapshots) with the
//! `tough` client over vouch's own HTTP transport, and fetches the targets
//! [`TRUSTED_ROOT_TARGET`] and, when the repository has it, [`SIGNING_CONFIG_TARGET`].
//! [`FetchedTrust::install`] then replaces a cache directory atomically; [`load_cached`]
//! reads it back with no network access at all.
//!
//! What is refused, each as [`RegistryError::Tuf`] naming what was wrong, with nothing
//! cached: a role not signed by a threshold of its keys, a root not signed by both the old
//! and the new root's thresholds or not exactly one version newer, metadata that expired
//! (TUF v1.0.16 5.3.10, 5.4.4, 5.5.6, 5.6.5: a freeze attack), a version lower than the one
//! the cache trusts (5.4.3, 5.5.5: a rollback), metadata or a target whose hash or version is
//! not the one the signed metadata above it lists (5.5.2-5.5.4, 5.6.2-5.6.4, 5.7.3:
//! mix-and-match or tampering), and any file larger than its limit ([`TufLimits`]: an
//! endless-data attack).
//! Every request has the [`ClientOptions`] timeout, the whole update
//! [`TufOptions::deadline`], and all files together [`TufLimits::max_total_bytes`].
//!
//! The cache directory holds `vouch-trust.json` ([`STATE_FILE`]) and one generation
//! directory it names, `tuf-…/`, with the verified metadata (`root.json`, `timestamp.json`,
//! `snapshot.json`, `targets.json`, so that the next update starts from the newest trusted
//! root and keeps refusing rollbacks) and the targets. A new generation is written and
//! synced beside the old one, then the state file is replaced by a rename: a reader sees
//! the old cache or the new one, never a mix, and a failed update leaves the old one as it
//! was. The cache is as trustworthy as the directory's permissions, as cosign's
//! `~/.sigstore/root` is: whoever may write it may replace the trust root.
//!
//! The cache is valid until the earliest expiry among its root, timestamp, snapshot and
//! targets metadata ([`TrustInfo::expires`]), which is the timestamp's in practice (Sigstore
//! signs one for about a week): past it, TUF no longer vouches that the trusted root is
//! current, and verification falls back to the root built into vouch until the next update.
//!
//! ```no_run
//! use vouch_registry::sigstore::tuf::{self, StartFrom, TufOptions};
//!
//! # async fn run(cache: &std::path::Path) -> Result<(), vouch_registry::RegistryError> {
//! let fetched = tuf::update(tuf::DEFAULT_MIRROR, StartFrom::CacheOrEmbedded, cache,
//!     &TufOptions::default()).await?;
//! let cached = fetched.install(cache)?;
//! println!("root v{}, valid until {}", cached.info.root_version, cached.info.expires_text());
//! // Later, offline:
//! let trusted_root_json = tuf::load_cached(cache)?.map(|c| c.trusted_root);
//! # let _ = trusted_root_json; Ok(()) }
//! ```

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tough::error::Error as TufError;
use tough::schema::RoleType;
use tough::{
    ExpirationEnforcement, IntoVec as _, RepositoryLoader, TargetName, TransportError,
    TransportErrorKind, TransportStream,
};
use vouch_keys::Digest;
use vouch_keys::files::InputFileError;
use vouch_keys::time::{format_rfc3339, parse_rfc3339, unix_secs};

use crate::RegistryError;
use crate::client::{
    ClientOptions, exchange, http_client, read_limited, retrying, transport_error,
};

/// Sigstore's public-good TUF repository (cosign's and sigstore-go's default mirror).
pub const DEFAULT_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The public-good TUF `root.json` built into vouch, where an update starts when there is
/// no cache and no `--root`: version 15 of sigstore/root-signing (`metadata/root.json` =
/// `metadata/root_history/15.root.json` at commit 60cf2ce8b2e45d600dc17c4421e8c751e75772be,
/// 2026-08-21, Apache-2.0), copied byte for byte. It expired on 2026-11-20: that is fine for
/// a starting root, since TUF only needs the newest root (reached by rotations, each signed
/// by the previous root's keys) to be current (TUF v1.0.16 5.2, 5.3.10).
pub const PUBLIC_GOOD_ROOT: &[u8] = include_bytes!("public-good-root.json");

/// The `version` of [`PUBLIC_GOOD_ROOT`].
pub const PUBLIC_GOOD_ROOT_VERSION: u64 = 15;

/// The target holding the Sigstore trusted root.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// The target holding Sigstore's signing configuration (service URLs), v0.2. Optional: a
/// repository without it is updated all the same.
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// The file in a cache directory that names its current generation and describes it.
pub const STATE_FILE: &str = "vouch-trust.json";

/// The largest state file read: it is a few hundred bytes.
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// The prefix of generation directories in a cache directory.
const GENERATION_PREFIX: &str = "tuf-";

/// What messages call a TUF mirror.
const MIRROR_SERVICE: &str = "TUF mirror";

/// The format of [`STATE_FILE`] this code writes and reads.
const STATE_FORMAT: u32 = 1;

/// Hard limits on what one update reads from a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TufLimits {
    /// Largest `N.root.json`. Default 1 MiB (Sigstore's is about 6 KiB).
    pub max_root_bytes: u64,
    /// Largest `timestamp.json`. Default 1 MiB (Sigstore's is under 1 KiB).
    pub max_timestamp_bytes: u64,
    /// Largest `snapshot.json` (when `timestamp.json` does not give its length). Default 4 MiB.
    pub max_snapshot_bytes: u64,
    /// Largest `targets.json` (when `snapshot.json` does not give its length). Default 16 MiB.
    pub max_targets_bytes: u64,
    /// Largest target file, whatever `targets.json` says. Default 16 MiB.
    pub max_target_bytes: u64,
    /// Most bytes read by one update, every file together. Default 64 MiB.
    pub max_total_bytes: u64,
    /// Most root versions followed in one update. Default 1,024 (TUF's suggestion).
    pub max_root_updates: u64,
}

impl Default for TufLimits {
    fn default() -> Self {
        Self {
            max_root_bytes: 1024 * 1024,
            max_timestamp_bytes: 1024 * 1024,
            max_snapshot_bytes: 4 * 1024 * 1024,
            max_targets_bytes: 16 * 1024 * 1024,
            max_target_bytes: 16 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            max_root_updates: 1024,
        }
    }
}

/// How an update talks to a repository.
#[derive(Debug, Clone)]
pub struct TufOptions {
    /// The HTTP setup: per-request timeout, retries, plain HTTP beyond loopback. Its
    /// registry [`crate::Limits`] and credentials are not used: TUF repositories are public.
    pub client: ClientOptions,
    /// Size limits.
    pub limits: TufLimits,
    /// Time allowed for the whole update, every request together. Default 2 minutes.
    pub deadline: Duration,
}

impl Default for TufOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions {
                timeout: Duration::from_secs(30),
                ..ClientOptions::default()
            },
            limits: TufLimits::default(),
            deadline: Duration::from_secs(120),
        }
    }
}

/// Which trusted `root.json` an update starts from.
#[derive(Debug, Clone)]
pub enum StartFrom {
    /// A root the caller read (`--root FILE`), named `name` in messages. It must verify
    /// with its own keys; it may have expired.
    Given {
        /// What to call it (the file's path).
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The newest root of the cache directory, else [`PUBLIC_GOOD_ROOT`].
    CacheOrEmbedded,
}

/// Where the root an update started from came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootOrigin {
    /// [`StartFrom::Given`], with its name.
    Given(String),
    /// The cache directory's root.
    Cache,
    /// [`PUBLIC_GOOD_ROOT`].
    Embedded,
}

impl fmt::Display for RootOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootOrigin::Given(name) => write!(f, "{name}"),
            RootOrigin::Cache => f.write_str("the cached root"),
            RootOrigin::Embedded => f.write_str("the embedded public-good root"),
        }
    }
}

/// What a TUF cache holds, as it was verified when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustInfo {
    /// The mirror it was fetched from.
    pub mirror: String,
    /// The version of the newest trusted `root.json`.
    pub root_version: u64,
    /// The version of `timestamp.json`.
    pub timestamp_version: u64,
    /// The version of `snapshot.json`.
    pub snapshot_version: u64,
    /// The version of `targets.json`.
    pub targets_version: u64,
    /// When it was fetched, in seconds since the Unix epoch.
    pub fetched_at: i64,
    /// When it stops being valid, in seconds since the Unix epoch: the earliest expiry
    /// among root, timestamp, snapshot and targets metadata.
    pub expires: i64,
    /// The role whose expiry that is (`timestamp`, ...).
    pub expires_role: String,
    /// Whether the repository had [`SIGNING_CONFIG_TARGET`] (and the cache holds it).
    pub signing_config: bool,
}

impl TrustInfo {
    /// Whether the cache has expired at `now` (at or past [`TrustInfo::expires`]).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        unix_secs(now) >= self.expires
    }

    /// [`TrustInfo::expires`] in RFC 3339 (`2026-12-14T00:00:00Z`).
    pub fn expires_text(&self) -> String {
        format_rfc3339(self.expires)
    }

    /// [`TrustInfo::fetched_at`] in RFC 3339.
    pub fn fetched_at_text(&self) -> String {
        format_rfc3339(self.fetched_at)
    }
}

/// The verified result of [`update`], in memory: nothing is written until
/// [`FetchedTrust::install`].
#[derive(Debug, Clone)]
pub struct FetchedTrust {
    /// What the cache will hold.
    pub info: TrustInfo,
    /// Where the update started.
    pub started_from: RootOrigin,
    /// The version of the root it started from.
    pub started_version: u64,
    /// The bytes of [`TRUSTED_ROOT_TARGET`], verified against `targets.json`. Not parsed:
    /// whether it is a usable Sigstore trusted root is for `vouch_verifier` to say, before
    /// [`FetchedTrust::install`].
    pub trusted_root: Vec<u8>,
    /// The bytes of [`SIGNING_CONFIG_TARGET`], when the repository has it.
    pub signing_config: Option<Vec<u8>>,
    /// The verified metadata, as served: root, timestamp, snapshot, targets.
    metadata: [(&'static str, Vec<u8>); 4],
}

/// A TUF cache as [`load_cached`] reads it.
#[derive(Debug, Clone)]
pub struct CachedTrust {
    /// The cache directory.
    pub dir: PathBuf,
    /// What it holds.
    pub info: TrustInfo,
    /// The bytes of [`TRUSTED_ROOT_TARGET`] (their SHA-256 checked against the state file).
    pub trusted_root: Vec<u8>,
    /// The bytes of [`SIGNING_CONFIG_TARGET`], when cached.
    pub signing_config: Option<Vec<u8>>,
}

/// [`STATE_FILE`] as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: u32,
    generation: String,
    mirror: String,
    root_version: u64,
    timestamp_version: u64,
    snapshot_version: u64,
    targets_version: u64,
    fetched_at: String,
    expires: String,
    expires_role: String,
    trusted_root_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_config_sha256: Option<String>,
}

/// The mirror URL's metadata and targets base URLs (`URL/`, `URL/targets/`), refusing what
/// cannot be a TUF repository's address as the other Sigstore services' URLs are refused
/// ([`RegistryError::ServiceUrl`]).
fn base_urls(mirror: &str, options: &ClientOptions) -> Result<(Url, Url), RegistryError> {
    let mut url = super::service_url(MIRROR_SERVICE, mirror, options, false)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    let targets = url
        .join("targets/")
        .map_err(|e| RegistryError::ServiceUrl {
            service: MIRROR_SERVICE,
            input: mirror.to_owned(),
            reason: e.to_string(),
        })?;
    Ok((url, targets))
}

/// The kind of file a URL names, for its limit and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Root,
    Timestamp,
    Snapshot,
    Targets,
    /// Delegated targets metadata (Sigstore has `registry.npmjs.org`).
    Delegated,
    Target,
}

/// The HTTP transport `tough` fetches through: vouch's client (rustls, proxies, timeouts,
/// retries of transient failures), every answer bounded by its kind's limit and by what is
/// left of the update's total, and each body kept, so that the cache holds the metadata
/// exactly as it was served and verified.
#[derive(Clone)]
struct HttpTransport {
    inner: Arc<TransportState>,
}

struct TransportState {
    http: reqwest::Client,
    options: ClientOptions,
    limits: TufLimits,
    metadata_base: String,
    /// Bytes read so far.
    read: AtomicU64,
    /// Every body received, by URL, in order.
    fetched: Mutex<Vec<(String, Vec<u8>)>>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("metadata_base", &self.inner.metadata_base)
            .finish_non_exhaustive()
    }
}

/// Why a fetch gave nothing.
enum FetchFailure {
    /// 404 (or 403, as object stores answer for a missing object): the file is not there.
    Missing,
    /// Anything else.
    Failed(RegistryError),
}

impl HttpTransport {
    fn kind(&self, url: &str) -> FileKind {
        let Some(name) = url
            .strip_prefix(&self.inner.metadata_base)
            .filter(|rest| !rest.contains('/'))
        else {
            return FileKind::Target;
        };
        if name.ends_with(".root.json") || name == "root.json" {
            FileKind::Root
        } else if name == "timestamp.json" {
            FileKind::Timestamp
        } else if name.ends_with("snapshot.json") {
            FileKind::Snapshot
        } else if name.ends_with("targets.json") {
            FileKind::Targets
        } else {
            FileKind::Delegated
        }
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchFailure> {
        let state = &*self.inner;
        let limits = &state.limits;
        let kind = self.kind(url.as_str());
        let own = match kind {
            FileKind::Root => limits.max_root_bytes,
            FileKind::Timestamp => limits.max_timestamp_bytes,
            FileKind::Snapshot => limits.max_snapshot_bytes,
            FileKind::Targets | FileKind::Delegated => limits.max_targets_bytes,
            FileKind::Target => limits.max_target_bytes,
        };
        let left = limits
            .max_total_bytes
            .saturating_sub(state.read.load(Ordering::SeqCst));
        let limit = own.min(left);
        let operation = format!("GET {url}");
        let what = format!("{} ({url})", file_name(url.as_str()));
        let (operation, what) = (&operation, &what);
        let result = retrying(&state.options, || async move {
            let response = exchange(state.http.get(url.clone()))
                .await
                .map_err(|e| transport_error(operation, &e))?;
            match response.status() {
                StatusCode::OK => read_limited(response, limit, what).await,
                StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => {
                    Err(RegistryError::NotFound { what: what.clone() })
                }
                status => Err(RegistryError::ServiceStatus {
                    service: MIRROR_SERVICE,
                    operation: operation.clone(),
                    status: status.as_u16(),
                    message: status.canonical_reason().unwrap_or_default().to_owned(),
                }),
            }
        })
        .await;
        match result {
            Ok(bytes) => {
                state.read.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                state
                    .fetched
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((url.to_string(), bytes.clone()));
                Ok(bytes)
            }
            Err(RegistryError::NotFound { .. }) => Err(FetchFailure::Missing),
            Err(RegistryError::TooLarge { .. }) if left < own => {
                Err(FetchFailure::Failed(RegistryError::TooLarge {
                    what: format!(
                        "{what}, with what this update already read, adds up to more than the \
                         {}-byte limit of one update",
                        limits.max_total_bytes
                    ),
                    limit: limits.max_total_bytes,
                }))
            }
            Err(e) => Err(FetchFailure::Failed(e)),
        }
    }

    /// The name and bytes of the last metadata file (not target) received whose file name
    /// `matches`.
    fn last_fetched(&self, matches: impl Fn(&str) -> bool) -> Option<(String, Vec<u8>)> {
        self.inner
            .fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(url, _)| self.kind(url) != FileKind::Target && matches(file_name(url)))
            .map(|(url, bytes)| (file_name(url).to_owned(), bytes.clone()))
    }

    /// The body received from `url`, if any.
    fn fetched(&self, url: &Url) -> Option<Vec<u8>> {
        let url = url.as_str();
        self.inner
            .fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(u, _)| u == url)
            .map(|(_, bytes)| bytes.clone())
    }
}

#[tough::async_trait]
impl tough::Transport for HttpTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        match self.get(&url).await {
            Ok(bytes) => Ok(Box::pin(futures_util::stream::iter([Ok(
                tough::Bytes::from(bytes),
            )]))),
            // TUF v1.0.16 5.3.3: a root version that is not there ends the rotation chain;
            // tough needs to be told "not found" for that, and only for that.
            Err(FetchFailure::Missing) => {
                Err(TransportError::new(TransportErrorKind::FileNotFound, url))
            }
            // Every other failure comes in the body's stream rather than from `fetch`: tough
            // takes a failed `fetch` of the next root as the end of the chain, which would
            // let a mirror that answers the next root with an error or an endless body
            // keep the client on an old root without a word.
            Err(FetchFailure::Failed(error)) => Ok(Box::pin(futures_util::stream::iter([Err(
                TransportError::new_with_cause(TransportErrorKind::Other, url, error),
            )]))),
        }
    }
}

/// The last path segment of a URL (`timestamp.json`, `3.root.json`).
fn file_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The version and expiry a metadata file states (`signed.version`, `signed.expires`),
/// read loosely: this only names what was wrong in a message.
fn stated_version_and_expiry(bytes: &[u8]) -> Option<(u64, String)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let signed = value.get("signed")?;
    Some((
        signed.get("version")?.as_u64()?,
        signed.get("expires")?.as_str()?.to_owned(),
    ))
}

/// The role names a metadata file of `kind` is listed by, for messages.
fn listed_by(name: &str) -> &'static str {
    if name.ends_with("snapshot.json") {
        "timestamp.json"
    } else if name.ends_with(".json") && name.contains("targets") {
        "snapshot.json"
    } else {
        "targets.json"
    }
}

/// What an update of `mirror` that `tough` refused failed on, in words that name the role,
/// the versions and the times involved.
fn describe(
    error: &TufError,
    mirror: &str,
    transport: &HttpTransport,
    initial_root: &[u8],
    origin: &RootOrigin,
) -> RegistryError {
    let tuf = |reason: String| RegistryError::Tuf {
        mirror: mirror.to_owned(),
        reason,
    };
    // The innermost errors say the most: a hash mismatch or a size limit found while
    // streaming is wrapped in the transport error of the fetch that found it.
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        chain.push(e);
        next = e.source();
    }
    let url = chain
        .iter()
        .find_map(|e| match e.downcast_ref::<TufError>() {
            Some(TufError::Transport { url, .. }) => Some(url.to_string()),
            _ => e
                .downcast_ref::<TransportError>()
                .map(|t| t.url().to_owned()),
        });
    // The version and expiry the last file of `role` received states (for the root, the
    // starting one when none was).
    let last = |role: RoleType| {
        let name = format!("{role}.json");
        let versioned = format!(".{name}");
        transport.last_fetched(|n| n == name || n.ends_with(&versioned))
    };
    let stated = |role: RoleType| {
        let found = last(role).map(|(_, bytes)| bytes);
        let found = match (found, role) {
            (None, RoleType::Root) => Some(initial_root.to_owned()),
            (found, _) => found,
        };
        found.as_deref().and_then(stated_version_and_expiry)
    };
    let named = |role: RoleType| match stated(role) {
        Some((version, _)) => format!("{role}.json version {version}"),
        None => format!("{role}.json"),
    };
    for e in chain.iter().rev() {
        if let Some(registry) = e.downcast_ref::<RegistryError>() {
            return tuf(registry.to_string());
        }
        if let Some(transport) = e.downcast_ref::<TransportError>()
            && transport.kind() == TransportErrorKind::FileNotFound
        {
            return tuf(format!(
                "{} is not in the repository ({} answered 404): is this a TUF repository?",
                file_name(transport.url()),
                transport.url()
            ));
        }
        let Some(e) = e.downcast_ref::<TufError>() else {
            continue;
        };
        let reason = match e {
            TufError::HashMismatch {
                context,
                calculated,
                expected,
                ..
            } => {
                let name = file_name(context);
                // A consistent snapshot serves target NAME as `<sha256>.NAME`.
                let shown = match name.split_once('.') {
                    Some((hash, target))
                        if transport.kind(context) == FileKind::Target
                            && hash.len() == 64
                            && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        format!("target {target}")
                    }
                    _ => name.to_owned(),
                };
                format!(
                    "{shown} ({context}) has SHA-256 {calculated}, not {expected} as the signed \
                     {} lists: tampered with, or a mix-and-match of versions",
                    listed_by(name)
                )
            }
            TufError::MaxSizeExceeded {
                max_size,
                specifier,
                ..
            } => {
                let what = url.as_deref().map_or_else(
                    || "a file".to_owned(),
                    |u| format!("{} ({u})", file_name(u)),
                );
                if matches!(
                    *specifier,
                    "timestamp.json" | "snapshot.json" | "targets.json"
                ) {
                    format!(
                        "{what} is longer than the {max_size} bytes the signed {specifier} lists \
                         for it: tampered with, or a mix-and-match of versions"
                    )
                } else {
                    format!("{what} is longer than the {max_size}-byte limit; refused")
                }
            }
            TufError::ExpiredMetadata { role, .. } => match stated(*role) {
                Some((version, expires)) => format!(
                    "{role}.json version {version} expired at {expires}: a freeze attack, or a \
                     repository that is not kept current"
                ),
                None => format!(
                    "{role} metadata has expired: a freeze attack, or a repository that is not \
                     kept current"
                ),
            },
            TufError::OlderMetadata {
                role,
                current_version,
                new_version,
                ..
            } => {
                if *role == RoleType::Root {
                    format!(
                        "root.json version {new_version} offered to follow version \
                         {current_version}: a new root must be exactly one version newer"
                    )
                } else {
                    format!(
                        "rollback: the repository serves {role}.json version {new_version}, older \
                         than version {current_version} already trusted"
                    )
                }
            }
            TufError::OlderSnapshotInTimestamp {
                snapshot_new,
                timestamp_new,
                snapshot_old,
                timestamp_old,
            } => format!(
                "rollback: timestamp.json version {timestamp_new} names snapshot version \
                 {snapshot_new}, older than version {snapshot_old} named by the trusted timestamp \
                 version {timestamp_old}"
            ),
            TufError::SnapshotRoleRollback {
                role,
                old_role_version,
                old_snapshot_version,
                new_role_version,
                new_snapshot_version,
            } => format!(
                "rollback: snapshot.json version {new_snapshot_version} names {role} version \
                 {new_role_version}, older than version {old_role_version} in the trusted \
                 snapshot version {old_snapshot_version}"
            ),
            TufError::SnapshotRoleMissing {
                role,
                old_version,
                new_version,
            } => format!(
                "snapshot.json version {new_version} drops {role}, which the trusted version \
                 {old_version} lists"
            ),
            TufError::VersionMismatch {
                role,
                fetched,
                expected,
                ..
            } => {
                let lister = if *role == RoleType::Snapshot {
                    "timestamp.json"
                } else {
                    "snapshot.json"
                };
                format!(
                    "{role}.json is version {fetched} where the signed {lister} lists version \
                     {expected}: a mix-and-match of versions"
                )
            }
            TufError::VerifyMetadata { role, source, .. } => format!(
                "{} does not verify: {source}: signed by keys the trusted root does not give \
                 that role, or tampered with",
                named(*role)
            ),
            TufError::VerifyRoleMetadata { role, source, .. } => format!(
                "delegated role {role} does not verify: {source}: signed by the wrong keys, or \
                 tampered with"
            ),
            TufError::ParseMetadata { role, source, .. } => {
                let file = last(*role).map_or_else(|| format!("{role}.json"), |(name, _)| name);
                format!("{file} is not TUF metadata that vouch reads: {source}")
            }
            TufError::MaxUpdatesExceeded {
                max_root_updates, ..
            } => format!("more than {max_root_updates} root versions to follow; refused"),
            TufError::ParseTrustedMetadata { source, .. } => {
                return RegistryError::TufInput {
                    what: format!("the starting TUF root ({origin})"),
                    reason: format!("is not a TUF root.json: {source}"),
                };
            }
            TufError::VerifyTrustedMetadata { source, .. } => {
                return RegistryError::TufInput {
                    what: format!("the starting TUF root ({origin})"),
                    reason: format!("is not signed by a threshold of its own root keys: {source}"),
                };
            }
            _ => continue,
        };
        return tuf(reason);
    }
    // Something tough says in its own words (a missing meta entry, a malformed timestamp).
    let mut reason = error.to_string();
    for e in chain.iter().skip(1) {
        let text = e.to_string();
        if !reason.contains(&text) {
            reason = format!("{reason}: {text}");
        }
    }
    tuf(reason)
}

/// A scratch directory for `tough`'s datastore, removed when dropped. It lives in the
/// system's temporary directory, so that an update that fails leaves no trace in the cache.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, RegistryError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        let mut attempt = 0;
        loop {
            let path = base.join(format!(
                "vouch-tuf-{}-{}-{}",
                std::process::id(),
                nanos(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match create_private_dir(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(source) => return Err(RegistryError::Io { path, source }),
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().mode(0o700).create(path)
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir(path)
}

/// Reads `path`, a regular file of at most `limit` bytes ([`vouch_keys::files::read_capped`]:
/// a FIFO or device put in the cache is refused, not read); `None` when there is no such
/// file.
fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
    match vouch_keys::files::read_capped(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(InputFileError::TooLarge { limit, .. }) => Err(RegistryError::TooLarge {
            what: path.display().to_string(),
            limit,
        }),
        Err(InputFileError::Io { source, .. }) => Err(RegistryError::Io {
            path: path.to_owned(),
            source,
        }),
        Err(other) => Err(RegistryError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }),
    }
}

/// The cache's current state and generation directory, if it has one.
fn read_state(dir: &Path) -> Result<Option<(StateFile, PathBuf)>, RegistryError> {
    let path = dir.join(STATE_FILE);
    let Some(bytes) = read_bounded(&path, MAX_STATE_BYTES)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| RegistryError::TufInput {
        what: format!("TUF cache {}", path.display()),
        reason,
    };
    let state: StateFile =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("does not parse: {e}")))?;
    if state.format != STATE_FORMAT {
        return Err(corrupt(format!(
            "is format {}, this vouch reads format {STATE_FORMAT}",
            state.format
        )));
    }
    let generation_ok = state.generation.starts_with(GENERATION_PREFIX)
        && state.generation[GENERATION_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !generation_ok {
        return Err(corrupt(format!(
            "names the generation \"{}\", which is not one vouch writes",
            state.generation
        )));
    }
    let generation = dir.join(&state.generation);
    Ok(Some((state, generation)))
}

impl StateFile {
    fn info(&self, path: &Path) -> Result<TrustInfo, RegistryError> {
        let time = |text: &str, field: &str| {
            parse_rfc3339(text)
                .map(|(secs, _)| secs)
                .map_err(|reason| RegistryError::TufInput {
                    what: format!("TUF cache {}", path.display()),
                    reason: format!("its {field} \"{text}\" is not a time: {reason}"),
                })
        };
        Ok(TrustInfo {
            mirror: self.mirror.clone(),
            root_version: self.root_version,
            timestamp_version: self.timestamp_version,
            snapshot_version: self.snapshot_version,
            targets_version: self.targets_version,
            fetched_at: time(&self.fetched_at, "fetched_at")?,
            expires: time(&self.expires, "expires")?,
            expires_role: self.expires_role.clone(),
            signing_config: self.signing_config_sha256.is_some(),
        })
    }
}

/// Reads the TUF cache in `dir` with no network access: its state and its trusted root (and
/// signing configuration), whose SHA-256 must be the one recorded when they were verified.
/// `Ok(None)` when `dir` holds no cache. Expiry is not judged here: see
/// [`TrustInfo::is_expired`]. A cache that does not read is [`RegistryError::TufInput`]
/// naming the file (or [`RegistryError::Io`]).
pub fn load_cached(dir: &Path) -> Result<Option<CachedTrust>, RegistryError> {
    // A concurrent update may remove the generation named by the state read a moment ago:
    // reading the state again then finds the new one.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match load_generation(dir) {
            Err(RegistryError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && attempt < 3 => {}
            other => return other,
        }
    }
}

fn load_generation(dir: &Path) -> Result<Option<CachedTrust>, RegistryError> {
    let Some((state, generation)) = read_state(dir)? else {
        return Ok(None);
    };
    let info = state.info(&dir.join(STATE_FILE))?;
    let read = |name: &str, sha256: &str| -> Result<Vec<u8>, RegistryError> {
        let path = generation.join(name);
        let bytes =
            read_bounded(&path, TufLimits::default().max_target_bytes)?.ok_or_else(|| {
                RegistryError::Io {
                    path: path.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }
            })?;
        let found = Digest::sha256(&bytes);
        if found.hex() != sha256 {
            return Err(RegistryError::TufInput {
                what: format!("TUF cache {}", path.display()),
                reason: format!(
                    "has SHA-256 {}, not {sha256} as when it was verified",
                    found.hex()
                ),
            });
        }
        Ok(bytes)
    };
    let trusted_root = read(TRUSTED_ROOT_TARGET, &state.trusted_root_sha256)?;
    let signing_config = match &state.signing_config_sha256 {
        Some(sha256) => Some(read(SIGNING_CONFIG_TARGET, sha256)?),
        None => None,
    };
    Ok(Some(CachedTrust {
        dir: dir.to_owned(),
        info,
        trusted_root,
        signing_config,
    }))
}

/// What a cache gives the next update: its newest trusted root, and the timestamp and
/// snapshot metadata that rollbacks are judged against.
struct CachedMetadata {
    root: Vec<u8>,
    timestamp: Option<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
}

/// The [`CachedMetadata`] of the cache in `dir`, if it has one.
fn cached_metadata(dir: &Path) -> Result<Option<CachedMetadata>, RegistryError> {
    let Some((_, generation)) = read_state(dir)? else {
        return Ok(None);
    };
    let limits = TufLimits::default();
    let Some(root) = read_bounded(&generation.join("root.json"), limits.max_root_bytes)? else {
        return Err(RegistryError::TufInput {
            what: format!("TUF cache {}", dir.display()),
            reason: format!(
                "{} has no root.json; pass --root, or remove the cache",
                generation.display()
            ),
        });
    };
    Ok(Some(CachedMetadata {
        root,
        timestamp: read_bounded(
            &generation.join("timestamp.json"),
            limits.max_timestamp_bytes,
        )?,
        snapshot: read_bounded(&generation.join("snapshot.json"), limits.max_snapshot_bytes)?,
    }))
}

/// Brings the trust material of the TUF repository at `mirror` up to date, starting from
/// `start`, and returns it verified, in memory. Nothing is written to `cache_dir`: it is read
/// for its root (with [`StartFrom::CacheOrEmbedded`]) and for the timestamp and snapshot
/// versions it trusts, which the repository's must not be older than (whatever root the
/// update starts from).
///
/// Follows TUF v1.0.16's client workflow (section 5) with `tough` and expiry enforced:
/// every root version after the starting one, each signed by a threshold of the previous
/// root's keys and of its own; then `timestamp.json`, `N.snapshot.json` and
/// `N.targets.json` (consistent snapshots, as Sigstore publishes them) checked against each
/// other, then the targets by hash and length. Refuses, as [`RegistryError::Tuf`], a
/// repository that fails any check or answers with an error; as
/// [`RegistryError::ServiceUrl`] a mirror URL that cannot be one (not https, or plain http
/// beyond loopback without [`ClientOptions::allow_http`]); and as
/// [`RegistryError::TufInput`] a starting root that does not verify with its own keys. A
/// cache that does not read is passed over (with a warning in the log) and replaced. A repository without [`TRUSTED_ROOT_TARGET`] is refused; one
/// without [`SIGNING_CONFIG_TARGET`] is not.
pub async fn update(
    mirror: &str,
    start: StartFrom,
    cache_dir: &Path,
    options: &TufOptions,
) -> Result<FetchedTrust, RegistryError> {
    let work = update_unbounded(mirror, start, cache_dir, options);
    tokio::time::timeout(options.deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(RegistryError::Tuf {
                mirror: mirror.to_owned(),
                reason: format!(
                    "the update did not finish within {} s",
                    options.deadline.as_secs()
                ),
            })
        })
}

async fn update_unbounded(
    mirror: &str,
    start: StartFrom,
    cache_dir: &Path,
    options: &TufOptions,
) -> Result<FetchedTrust, RegistryError> {
    let (metadata_base, targets_base) = base_urls(mirror, &options.client)?;
    let mirror = metadata_base.as_str().trim_end_matches('/').to_owned();
    // A cache that does not read has lost what it trusted: the update starts over as if
    // there were none (from `start`, or the embedded root), and replaces it.
    let cached = cached_metadata(cache_dir).unwrap_or_else(|e| {
        tracing::warn!("the TUF cache {} is not used: {e}", cache_dir.display());
        None
    });
    let (initial_root, origin) = match (start, &cached) {
        (StartFrom::Given { name, bytes }, _) => (bytes, RootOrigin::Given(name)),
        (StartFrom::CacheOrEmbedded, Some(cached)) => (cached.root.clone(), RootOrigin::Cache),
        (StartFrom::CacheOrEmbedded, None) => (PUBLIC_GOOD_ROOT.to_vec(), RootOrigin::Embedded),
    };
    let started_version = stated_version_and_expiry(&initial_root).map_or(0, |(v, _)| v);

    // tough keeps the timestamp and snapshot it trusts in its datastore and refuses older
    // ones (TUF v1.0.16 5.4.3, 5.5.5): give it the cache's, in a scratch copy.
    let scratch = Scratch::new()?;
    if let Some(cached) = &cached {
        for (name, bytes) in [
            ("timestamp.json", &cached.timestamp),
            ("snapshot.json", &cached.snapshot),
        ] {
            if let Some(bytes) = bytes {
                let path = scratch.0.join(name);
                fs::write(&path, bytes).map_err(|source| RegistryError::Io { path, source })?;
            }
        }
    }

    let transport = HttpTransport {
        inner: Arc::new(TransportState {
            http: http_client(&options.client)?,
            options: options.client.clone(),
            limits: options.limits,
            metadata_base: metadata_base.to_string(),
            read: AtomicU64::new(0),
            fetched: Mutex::new(Vec::new()),
        }),
    };
    let limits = tough::Limits {
        max_root_size: options.limits.max_root_bytes,
        max_targets_size: options.limits.max_targets_bytes,
        max_timestamp_size: options.limits.max_timestamp_bytes,
        max_snapshot_size: options.limits.max_snapshot_bytes,
        max_root_updates: options.limits.max_root_updates,
    };
    let describe = |e: &TufError| describe(e, &mirror, &transport, &initial_root, &origin);
    let repository = RepositoryLoader::new(&initial_root, metadata_base.clone(), targets_base)
        .transport(transport.clone())
        .limits(limits)
        .datastore(&scratch.0)
        .expiration_enforcement(ExpirationEnforcement::Safe)
        .load()
        .await
        .map_err(|e| describe(&e))?;

    let mut read = Vec::with_capacity(2);
    for name in [TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET] {
        let target = TargetName::new(name).map_err(|e| describe(&e))?;
        read.push(
            match repository
                .read_target(&target)
                .await
                .map_err(|e| describe(&e))?
            {
                Some(stream) => Some(stream.into_vec().await.map_err(|e| describe(&e))?),
                None => None,
            },
        );
    }
    let signing_config = read.pop().flatten();
    let trusted_root = read.pop().flatten().ok_or_else(|| RegistryError::Tuf {
        mirror: mirror.clone(),
        reason: format!(
            "targets.json lists no {TRUSTED_ROOT_TARGET}: not a Sigstore TUF repository"
        ),
    })?;
    if signing_config.is_none() {
        tracing::info!("{mirror} has no {SIGNING_CONFIG_TARGET} target; going on without it");
    }

    // The metadata as served (and verified), for the cache. tough has them all fetched
    // through our transport, except a root that never rotated: the one we started from.
    let root = repository.root();
    let timestamp = repository.timestamp();
    let snapshot = repository.snapshot();
    let targets = repository.targets();
    let consistent = root.signed.consistent_snapshot;
    let versioned = |version: u64, name: &str| {
        if consistent {
            format!("{version}.{name}")
        } else {
            name.to_owned()
        }
    };
    let root_version = root.signed.version.get();
    let served = |path: String| -> Result<Vec<u8>, RegistryError> {
        metadata_base
            .join(&path)
            .ok()
            .and_then(|url| transport.fetched(&url))
            .ok_or_else(|| RegistryError::Tuf {
                mirror: mirror.clone(),
                reason: format!("{path} was verified but not kept (a bug in vouch)"),
            })
    };
    let root_bytes = if root_version == started_version {
        initial_root.clone()
    } else {
        served(format!("{root_version}.root.json"))?
    };
    let timestamp_bytes = served("timestamp.json".to_owned())?;
    let snapshot_bytes = served(versioned(snapshot.signed.version.get(), "snapshot.json"))?;
    let targets_bytes = served(versioned(targets.signed.version.get(), "targets.json"))?;

    let (expires, expires_role) = [
        (root.signed.expires.as_second(), "root"),
        (timestamp.signed.expires.as_second(), "timestamp"),
        (snapshot.signed.expires.as_second(), "snapshot"),
        (targets.signed.expires.as_second(), "targets"),
    ]
    .into_iter()
    .min_by_key(|(secs, _)| *secs)
    .unwrap_or((0, "root"));

    Ok(FetchedTrust {
        info: TrustInfo {
            mirror: mirror.clone(),
            root_version,
            timestamp_version: timestamp.signed.version.get(),
            snapshot_version: snapshot.signed.version.get(),
            targets_version: targets.signed.version.get(),
            fetched_at: unix_secs(SystemTime::now()),
            expires,
            expires_role: expires_role.to_owned(),
            signing_config: signing_config.is_some(),
        },
        started_from: origin,
        started_version,
        trusted_root,
        signing_config,
        metadata: [
            ("root.json", root_bytes),
            ("timestamp.json", timestamp_bytes),
            ("snapshot.json", snapshot_bytes),
            ("targets.json", targets_bytes),
        ],
    })
}

/// Writes `bytes` to a new file `path` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let io = |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// Syncs a directory's entries (renames into it), where the platform allows it.
fn sync_dir(path: &Path) {
    if let Ok(dir) = fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// Removes `path` (a directory) when dropped, unless disarmed.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}

impl FetchedTrust {
    /// Replaces the cache in `dir` (created if missing) with what was fetched, atomically:
    /// the files go to a new generation directory, synced, and only then does a rename of
    /// [`STATE_FILE`] make it current; the previous generation is removed after that. If
    /// anything fails, the previous cache is left as it was. Returns the cache as
    /// [`load_cached`] would read it.
    pub fn install(&self, dir: &Path) -> Result<CachedTrust, RegistryError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RegistryError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let generation = format!(
            "{GENERATION_PREFIX}{}-{}-{}-{:x}-{}",
            self.info.root_version,
            self.info.timestamp_version,
            std::process::id(),
            nanos(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let staging = dir.join(format!(".{generation}.staging"));
        create_private_dir(&staging).map_err(io(&staging))?;
        let mut cleanup = Cleanup(Some(staging.clone()));
        for (name, bytes) in &self.metadata {
            write_synced(&staging.join(name), bytes)?;
        }
        write_synced(&staging.join(TRUSTED_ROOT_TARGET), &self.trusted_root)?;
        if let Some(bytes) = &self.signing_config {
            write_synced(&staging.join(SIGNING_CONFIG_TARGET), bytes)?;
        }
        sync_dir(&staging);
        let current = dir.join(&generation);
        fs::rename(&staging, &current).map_err(io(&current))?;
        cleanup.0 = Some(current.clone());
        sync_dir(dir);

        let state = StateFile {
            format: STATE_FORMAT,
            generation: generation.clone(),
            mirror: self.info.mirror.clone(),
            root_version: self.info.root_version,
            timestamp_version: self.info.timestamp_version,
            snapshot_version: self.info.snapshot_version,
            targets_version: self.info.targets_version,
            fetched_at: format_rfc3339(self.info.fetched_at),
            expires: format_rfc3339(self.info.expires),
            expires_role: self.info.expires_role.clone(),
            trusted_root_sha256: Digest::sha256(&self.trusted_root).hex().to_owned(),
            signing_config_sha256: self
                .signing_config
                .as_deref()
                .map(|b| Digest::sha256(b).hex().to_owned()),
        };
        let mut json = serde_json::to_vec_pretty(&state).map_err(|e| RegistryError::Io {
            path: dir.join(STATE_FILE),
            source: std::io::Error::other(e),
        })?;
        json.push(b'\n');
        let temp = dir.join(format!(".{STATE_FILE}.{generation}"));
        write_synced(&temp, &json).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })?;
        let state_path = dir.join(STATE_FILE);
        if let Err(source) = fs::rename(&temp, &state_path) {
            let _ = fs::remove_file(&temp);
            return Err(RegistryError::Io {
                path: state_path,
                source,
            });
        }
        cleanup.0 = None;
        sync_dir(dir);

        // The old generations (and leftovers of updates that died) are no longer named.
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(GENERATION_PREFIX) && name != generation {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(CachedTrust {
            dir: dir.to_owned(),
            info: self.info.clone(),
            trusted_root: self.trusted_root.clone(),
            signing_config: self.signing_config.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_root_is_version_15_and_verifies_with_its_own_keys() {
        let root: tough::schema::Signed<tough::schema::Root> =
            serde_json::from_slice(PUBLIC_GOOD_ROOT).unwrap();
        assert_eq!(root.signed.version.get(), PUBLIC_GOOD_ROOT_VERSION);
        assert!(root.signed.consistent_snapshot);
        root.signed.verify_role(&root).unwrap();
    }

    /// Sigstore's real timestamp, snapshot, targets and delegated `registry.npmjs.org`
    /// metadata (tests/data/tuf/sigstore-metadata, served with root v15) parse and verify
    /// in tough as it is used here: tuf-on-ci's extra fields are kept in what is verified.
    #[test]
    fn sigstores_real_metadata_verifies_under_the_embedded_root() {
        use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp};
        macro_rules! real {
            ($name:literal) => {
                serde_json::from_slice(include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../tests/data/tuf/sigstore-metadata/",
                    $name
                )))
                .unwrap()
            };
        }
        let root: Signed<Root> = serde_json::from_slice(PUBLIC_GOOD_ROOT).unwrap();
        let timestamp: Signed<Timestamp> = real!("timestamp.json");
        let snapshot: Signed<Snapshot> = real!("snapshot.json");
        let targets: Signed<Targets> = real!("targets.json");
        let npm: Signed<Targets> = real!("registry.npmjs.org.json");
        root.signed.verify_role(&timestamp).unwrap();
        root.signed.verify_role(&snapshot).unwrap();
        root.signed.verify_role(&targets).unwrap();
        targets
            .signed
            .delegations
            .as_ref()
            .unwrap()
            .verify_role(&npm, "registry.npmjs.org")
            .unwrap();
        assert_eq!(
            timestamp.signed.meta["snapshot.json"].version,
            snapshot.signed.version
        );
        assert_eq!(
            snapshot.signed.meta["targets.json"].version,
            targets.signed.version
        );
        let names: Vec<String> = targets
            .signed
            .targets
            .keys()
            .map(|n| n.raw().to_owned())
            .collect();
        assert!(names.contains(&TRUSTED_ROOT_TARGET.to_owned()), "{names:?}");
        assert!(
            names.contains(&SIGNING_CONFIG_TARGET.to_owned()),
            "{names:?}"
        );
    }

    #[test]
    fn an_update_can_run_on_a_multi_threaded_runtime() {
        fn send<T: Send>(_: T) {}
        let options = TufOptions::default();
        send(update(
            DEFAULT_MIRROR,
            StartFrom::CacheOrEmbedded,
            Path::new("/nonexistent"),
            &options,
        ));
    }

    #[test]
    fn mirror_urls_follow_the_service_rules_and_get_a_targets_base() {
        let ok = |url: &str| {
            base_urls(url, &ClientOptions::default()).map(|(m, t)| (m.to_string(), t.to_string()))
        };
        assert_eq!(
            ok(DEFAULT_MIRROR).unwrap(),
            (
                "https://tuf-repo-cdn.sigstore.dev/".to_owned(),
                "https://tuf-repo-cdn.sigstore.dev/targets/".to_owned()
            )
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/repo").unwrap().1,
            "http://127.0.0.1:8080/repo/targets/"
        );
        assert!(ok("http://[::1]:8080/").is_ok());
        for bad in [
            "http://tuf.example.com",
            "ftp://tuf.example.com",
            "tuf.example.com",
            "https://tuf.example.com/?x=1",
            "https://user:pw@tuf.example.com/",
        ] {
            let error = ok(bad).unwrap_err();
            assert!(
                matches!(error, RegistryError::ServiceUrl { .. }) && error.is_input_error(),
                "{bad}: {error}"
            );
        }
    }

    fn fetched(trusted_root: &[u8]) -> FetchedTrust {
        FetchedTrust {
            info: TrustInfo {
                mirror: "http://127.0.0.1:1".into(),
                root_version: 3,
                timestamp_version: 7,
                snapshot_version: 5,
                targets_version: 4,
                fetched_at: 1_800_000_000,
                expires: 1_800_600_000,
                expires_role: "timestamp".into(),
                signing_config: false,
            },
            started_from: RootOrigin::Embedded,
            started_version: 1,
            trusted_root: trusted_root.to_vec(),
            signing_config: None,
            metadata: [
                ("root.json", b"{\"root\":3}".to_vec()),
                ("timestamp.json", b"{}".to_vec()),
                ("snapshot.json", b"{}".to_vec()),
                ("targets.json", b"{}".to_vec()),
            ],
        }
    }

    #[test]
    fn an_installed_cache_reads_back_offline_and_replaces_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("tuf");
        assert!(load_cached(&cache).unwrap().is_none());

        fetched(b"first").install(&cache).unwrap();
        let second = fetched(b"second");
        second.install(&cache).unwrap();
        let cached = load_cached(&cache).unwrap().unwrap();
        assert_eq!(cached.trusted_root, b"second");
        assert_eq!(cached.info, second.info);
        assert_eq!(cached.info.expires_text(), "2027-01-22T06:40:00Z");
        assert!(!cached.info.is_expired(SystemTime::UNIX_EPOCH));
        assert!(
            cached
                .info
                .is_expired(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_600_000))
        );
        // One generation is left, and nothing of the staging.
        let entries: Vec<String> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries.contains(&STATE_FILE.to_owned()));
        let next = cached_metadata(&cache).unwrap().unwrap();
        assert_eq!(next.root, b"{\"root\":3}");
        assert_eq!(next.timestamp.unwrap(), b"{}");
    }

    #[test]
    fn a_cache_whose_files_changed_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fetched(b"root").install(dir.path()).unwrap();
        let (state, generation) = read_state(dir.path()).unwrap().unwrap();
        fs::write(generation.join(TRUSTED_ROOT_TARGET), b"tampered").unwrap();
        let error = load_cached(dir.path()).unwrap_err();
        assert!(error.to_string().contains("trusted_root.json"), "{error}");
        assert!(error.is_input_error());

        // A state naming a directory outside the cache is refused before it is read.
        let mut escaped = serde_json::to_value(&state).unwrap();
        escaped["generation"] = "tuf-../../etc".into();
        fs::write(
            dir.path().join(STATE_FILE),
            serde_json::to_vec(&escaped).unwrap(),
        )
        .unwrap();
        let error = load_cached(dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("not one vouch writes"),
            "{error}"
        );

        fs::write(dir.path().join(STATE_FILE), b"{").unwrap();
        let error = load_cached(dir.path()).unwrap_err();
        assert!(error.to_string().contains("does not parse"), "{error}");
    }

    #[test]
    fn file_kinds_and_listing_roles_are_named_from_the_url() {
        let transport = HttpTransport {
            inner: Arc::new(TransportState {
                http: http_client(&ClientOptions::default()).unwrap(),
                options: ClientOptions::default(),
                limits: TufLimits::default(),
                metadata_base: "https://tuf.example/".into(),
                read: AtomicU64::new(0),
                fetched: Mutex::new(Vec::new()),
            }),
        };
        for (url, kind) in [
            ("https://tuf.example/2.root.json", FileKind::Root),
            ("https://tuf.example/timestamp.json", FileKind::Timestamp),
            ("https://tuf.example/9.snapshot.json", FileKind::Snapshot),
            ("https://tuf.example/4.targets.json", FileKind::Targets),
            (
                "https://tuf.example/2.registry.npmjs.org.json",
                FileKind::Delegated,
            ),
            (
                "https://tuf.example/targets/abc.trusted_root.json",
                FileKind::Target,
            ),
        ] {
            assert_eq!(transport.kind(url), kind, "{url}");
        }
        assert_eq!(listed_by("3.snapshot.json"), "timestamp.json");
        assert_eq!(listed_by("3.targets.json"), "snapshot.json");
        assert_eq!(listed_by("abc.trusted_root.json"), "targets.json");
    }
}
