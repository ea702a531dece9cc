//! Trust material, loaded in one place for every command: public keys (`--key`) and Sigstore
//! trusted roots (`--trusted-root`, else the TUF cache `vouch trust update` keeps when it is
//! current, else the embedded public-good root), and the `vouch trust` commands that keep
//! that cache. A file the user gave that does not read is an input error (exit 2) naming the
//! file; the embedded root failing to read is an internal error (exit 3).
//!
//! Choosing a root never touches the network: only `vouch trust update` does. A cache that
//! has expired (its TUF timestamp, usually, which Sigstore signs for about a week) or does
//! not read is passed over with one warning on standard error, for the embedded root.
//!
//! The cache directory is `--cache-dir`, else `$VOUCH_TUF_CACHE`, else
//! `$XDG_CACHE_HOME/vouch/tuf`, else `$HOME/.cache/vouch/tuf` (cosign keeps its own in
//! `~/.sigstore/root`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use vouch_keys::PublicKey;
use vouch_registry::RegistryError;
use vouch_registry::sigstore::tuf::{
    self, CachedTrust, DEFAULT_MIRROR, RootOrigin, SIGNING_CONFIG_TARGET, StartFrom,
    TRUSTED_ROOT_TARGET, TufLimits, TufOptions,
};
use vouch_verifier::trust_root::TrustedRoot;

use crate::OutputArgs;
use crate::error::{CliError, MAX_TRUSTED_ROOT_BYTES, read_document, read_key_file};
use crate::output::{OutputFormat, count, outln, print_json};

/// What reports call the embedded root.
pub(crate) const EMBEDDED_ROOT_NAME: &str = "embedded public-good trusted root";

/// The environment variable naming the TUF cache directory.
pub(crate) const CACHE_ENV: &str = "VOUCH_TUF_CACHE";

/// Reads the public key in the PEM file `path` (at most `MAX_KEY_FILE_BYTES`, a regular file).
pub(crate) fn public_key(path: &Path) -> Result<PublicKey, CliError> {
    let text = read_key_file(path)?.text;
    PublicKey::from_pem(&text).map_err(|source| CliError::Key {
        path: path.to_owned(),
        source,
    })
}

/// A trusted root and the name reports give it.
pub(crate) struct LoadedRoot {
    /// The root.
    pub(crate) root: Cow<'static, TrustedRoot>,
    /// The file it was read from, the TUF cache it came from
    /// (`TUF cache DIR (MIRROR, root vN, expires T)`), or [`EMBEDDED_ROOT_NAME`].
    pub(crate) name: String,
}

/// The trusted root in `path` (at most `MAX_TRUSTED_ROOT_BYTES`); without one, the TUF
/// cache's when it is current, else the embedded public-good root (with one warning on
/// standard error when a cache is there but cannot be used). Never fetches anything.
pub(crate) fn trusted_root(path: Option<&Path>) -> Result<LoadedRoot, CliError> {
    match path {
        Some(path) => {
            let bytes = read_document(path, MAX_TRUSTED_ROOT_BYTES)?;
            let root = TrustedRoot::from_json(&bytes).map_err(|e| CliError::Input {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            Ok(LoadedRoot {
                root: Cow::Owned(root),
                name: path.display().to_string(),
            })
        }
        None => match default_cache() {
            Cache::Current { cached, root } => Ok(LoadedRoot {
                root: Cow::Borrowed(root),
                name: cache_name(cached),
            }),
            Cache::Absent => embedded(),
            Cache::Unused { why, .. } => {
                // Once per command, however many times the root is asked for.
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "vouch: warning: {why}; verifying with the {EMBEDDED_ROOT_NAME} \
                         (run `vouch trust update`)"
                    );
                }
                embedded()
            }
        },
    }
}

/// The signing config (v0.2) of the TUF cache when the cache is current and holds one, with
/// the name reports give it; `None` otherwise. Never fetches anything.
pub(crate) fn cached_signing_config() -> Option<(&'static [u8], String)> {
    match default_cache() {
        Cache::Current { cached, .. } => cached
            .signing_config
            .as_deref()
            .map(|bytes| (bytes, cache_name(cached))),
        _ => None,
    }
}

/// The default TUF cache ([`default_cache_dir`]) as judged when this command first asked:
/// read and parsed once per process, however many roots and configs the command asks for (a
/// keyless signing asks for both). A command is short; `vouch serve` does not use it.
fn default_cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| read_cache(default_cache_dir().as_deref(), SystemTime::now()))
}

fn embedded() -> Result<LoadedRoot, CliError> {
    Ok(LoadedRoot {
        root: Cow::Borrowed(public_good()?),
        name: EMBEDDED_ROOT_NAME.to_owned(),
    })
}

/// The embedded public-good trusted root.
pub(crate) fn public_good() -> Result<&'static TrustedRoot, CliError> {
    TrustedRoot::public_good()
        .map_err(|e| CliError::Internal(format!("the {EMBEDDED_ROOT_NAME} does not read: {e}")))
}

/// The TUF cache directory when none is given: `$VOUCH_TUF_CACHE`, else
/// `$XDG_CACHE_HOME/vouch/tuf` (an absolute path, as the XDG spec requires), else
/// `$HOME/.cache/vouch/tuf`; `None` when none of them is set.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CACHE_ENV) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("vouch").join("tuf"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("vouch").join("tuf"))
}

/// What the TUF cache offers verification.
enum Cache {
    /// No cache directory could be named, or it holds no cache.
    Absent,
    /// A cache that has not expired and whose trusted root reads: verification uses it.
    Current {
        cached: CachedTrust,
        root: TrustedRoot,
    },
    /// A cache that is there but is not used, and why (expired, does not read).
    Unused {
        cached: Option<CachedTrust>,
        why: String,
    },
}

/// Reads the cache in `dir` and judges it at `now`. Offline: files only.
fn read_cache(dir: Option<&Path>, now: SystemTime) -> Cache {
    let Some(dir) = dir else {
        return Cache::Absent;
    };
    let unused = |cached: Option<CachedTrust>, why: String| Cache::Unused { cached, why };
    let cached = match tuf::load_cached(dir) {
        Ok(Some(cached)) => cached,
        Ok(None) => return Cache::Absent,
        Err(e) => {
            return unused(None, format!("the TUF cache does not read: {e}"));
        }
    };
    if cached.info.is_expired(now) {
        let why = format!(
            "the TUF cache {} expired at {} (its {} metadata)",
            dir.display(),
            cached.info.expires_text(),
            cached.info.expires_role
        );
        return unused(Some(cached), why);
    }
    match TrustedRoot::from_json(&cached.trusted_root) {
        Ok(root) => Cache::Current { cached, root },
        Err(e) => {
            let why = format!(
                "the trusted root in the TUF cache {} does not read: {e}",
                dir.display()
            );
            unused(Some(cached), why)
        }
    }
}

/// How reports name a cached root.
fn cache_name(cached: &CachedTrust) -> String {
    format!(
        "TUF cache {} ({}, root v{}, expires {})",
        cached.dir.display(),
        cached.info.mirror,
        cached.info.root_version,
        cached.info.expires_text()
    )
}

/// `vouch trust`: Sigstore trust roots kept current over TUF.
#[derive(clap::Args, Debug)]
pub(crate) struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
enum TrustCommand {
    /// Fetch and verify trusted_root.json (and signing_config.v0.2.json) from a Sigstore TUF
    /// repository into the cache that verification then uses (cosign's `initialize`).
    Update(UpdateArgs),
    /// Print which trusted root verification uses (the TUF cache or the embedded root), its
    /// TUF root version and expiry, and what it trusts.
    Show(ShowArgs),
}

/// Where the TUF cache is.
#[derive(clap::Args, Debug)]
struct CacheArgs {
    /// The TUF cache directory. Default: $VOUCH_TUF_CACHE, else $XDG_CACHE_HOME/vouch/tuf,
    /// else ~/.cache/vouch/tuf.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    fn dir(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(default_cache_dir)
    }
}

#[derive(clap::Args, Debug)]
struct UpdateArgs {
    /// The TUF repository: its metadata at URL/, its targets at URL/targets/.
    #[arg(long, value_name = "URL", default_value = DEFAULT_MIRROR)]
    mirror: String,
    /// A trusted TUF root.json to start from (for another repository than Sigstore's
    /// public-good one). Default: the cache's newest root, else the public-good root built
    /// into vouch. It may have expired; the root the update ends at may not.
    #[arg(long, value_name = "FILE")]
    root: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `vouch trust ...`.
pub(crate) async fn run(args: TrustArgs) -> Result<ExitCode, CliError> {
    match args.command {
        TrustCommand::Update(args) => update(args).await,
        TrustCommand::Show(args) => show(&args),
    }
}

/// Counts of what a trusted root trusts, as reports print them.
fn counts(root: &TrustedRoot) -> [(&'static str, &'static str, usize); 4] {
    [
        ("tlogs", "transparency log", root.tlogs.len()),
        (
            "certificate_authorities",
            "certificate authority",
            root.certificate_authorities.len(),
        ),
        ("ctlogs", "CT log", root.ctlogs.len()),
        (
            "timestamp_authorities",
            "timestamp authority",
            root.timestamp_authorities.len(),
        ),
    ]
}

fn counts_text(root: &TrustedRoot) -> String {
    counts(root)
        .iter()
        .map(|(_, noun, n)| match *noun {
            "certificate authority" if *n != 1 => format!("{n} certificate authorities"),
            "timestamp authority" if *n != 1 => format!("{n} timestamp authorities"),
            _ => count(*n, noun),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn insert_counts(report: &mut serde_json::Value, root: &TrustedRoot) {
    if let Some(map) = report.as_object_mut() {
        for (key, _, n) in counts(root) {
            map.insert(key.into(), n.into());
        }
    }
}

fn cache_json(cached: &CachedTrust, now: SystemTime) -> serde_json::Value {
    let info = &cached.info;
    serde_json::json!({
        "mirror": info.mirror,
        "root_version": info.root_version,
        "timestamp_version": info.timestamp_version,
        "snapshot_version": info.snapshot_version,
        "targets_version": info.targets_version,
        "fetched_at": info.fetched_at_text(),
        "expires": info.expires_text(),
        "expires_role": info.expires_role,
        "expired": info.is_expired(now),
        "signing_config": info.signing_config,
    })
}

async fn update(args: UpdateArgs) -> Result<ExitCode, CliError> {
    let dir = args.cache.dir().ok_or_else(|| {
        CliError::Usage(format!(
            "no TUF cache directory: pass --cache-dir, or set {CACHE_ENV} or HOME"
        ))
    })?;
    let start = match &args.root {
        Some(path) => StartFrom::Given {
            name: path.display().to_string(),
            bytes: read_document(path, TufLimits::default().max_root_bytes)?,
        },
        None => StartFrom::CacheOrEmbedded,
    };
    let fetched = tuf::update(&args.mirror, start, &dir, &TufOptions::default()).await?;
    // The repository vouched for these bytes; whether they are a trusted root vouch can use
    // is checked before they replace anything.
    let root = TrustedRoot::from_json(&fetched.trusted_root).map_err(|e| RegistryError::Tuf {
        mirror: fetched.info.mirror.clone(),
        reason: format!("its {TRUSTED_ROOT_TARGET} is not a usable Sigstore trusted root: {e}"),
    })?;
    let cached = fetched.install(&dir)?;
    let info = &cached.info;
    let started_from = match &fetched.started_from {
        RootOrigin::Given(name) => format!("file {name}"),
        RootOrigin::Cache => "cache".to_owned(),
        RootOrigin::Embedded => "embedded".to_owned(),
    };
    match args.output.output {
        OutputFormat::Json => {
            let mut report = serde_json::json!({
                "updated": true,
                "cache_dir": dir.display().to_string(),
                "started_from": started_from,
                "started_root_version": fetched.started_version,
                "trusted_root": cache_name(&cached),
            });
            if let (Some(map), serde_json::Value::Object(cache)) = (
                report.as_object_mut(),
                cache_json(&cached, SystemTime::now()),
            ) {
                map.extend(cache);
            }
            insert_counts(&mut report, &root);
            print_json(&report);
        }
        OutputFormat::Text => {
            outln!(
                "Updated the TUF cache {} from {}: root v{} -> v{} (from {}), timestamp v{}, \
                 snapshot v{}, targets v{}",
                dir.display(),
                info.mirror,
                fetched.started_version,
                info.root_version,
                fetched.started_from,
                info.timestamp_version,
                info.snapshot_version,
                info.targets_version
            );
            outln!(
                "  valid until {} (when its {} metadata expires)",
                info.expires_text(),
                info.expires_role
            );
            outln!("  {TRUSTED_ROOT_TARGET}: {}", counts_text(&root));
            if info.signing_config {
                outln!("  {SIGNING_CONFIG_TARGET}: cached");
            } else {
                outln!("  {SIGNING_CONFIG_TARGET}: not in the repository; none cached");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: &ShowArgs) -> Result<ExitCode, CliError> {
    let dir = args.cache.dir();
    let now = SystemTime::now();
    let cache = read_cache(dir.as_deref(), now);
    let (in_use, name, root, cached, problem) = match &cache {
        Cache::Current { cached, root } => ("cache", cache_name(cached), root, Some(cached), None),
        Cache::Absent => (
            "embedded",
            EMBEDDED_ROOT_NAME.to_owned(),
            public_good()?,
            None,
            None,
        ),
        Cache::Unused { cached, why, .. } => (
            "embedded",
            EMBEDDED_ROOT_NAME.to_owned(),
            public_good()?,
            cached.as_ref(),
            Some(why.as_str()),
        ),
    };
    match args.output.output {
        OutputFormat::Json => {
            let mut report = serde_json::json!({
                "in_use": in_use,
                "trusted_root": name,
                "cache_dir": dir.as_ref().map(|d| d.display().to_string()),
                "cache": cached.map(|c| cache_json(c, now)),
                "problem": problem,
            });
            insert_counts(&mut report, root);
            print_json(&report);
        }
        OutputFormat::Text => {
            outln!("Verification uses: {name}");
            match (&cache, cached) {
                (Cache::Current { .. }, Some(cached)) => {
                    let info = &cached.info;
                    outln!("  source:         TUF repository {}", info.mirror);
                    outln!("  TUF root:       version {}", info.root_version);
                    outln!(
                        "  metadata:       timestamp v{}, snapshot v{}, targets v{}",
                        info.timestamp_version,
                        info.snapshot_version,
                        info.targets_version
                    );
                    outln!("  fetched:        {}", info.fetched_at_text());
                    outln!(
                        "  valid until:    {} (when its {} metadata expires)",
                        info.expires_text(),
                        info.expires_role
                    );
                    outln!(
                        "  signing config: {}",
                        if info.signing_config {
                            "cached"
                        } else {
                            "none (not in the repository)"
                        }
                    );
                }
                _ => {
                    outln!(
                        "  source:         built into vouch (`vouch trust update` starts from its \
                         TUF root v{})",
                        tuf::PUBLIC_GOOD_ROOT_VERSION
                    );
                    match (&dir, problem) {
                        (_, Some(problem)) => {
                            outln!("  TUF cache:      not used: {problem}");
                            outln!("                  run `vouch trust update` to renew it");
                        }
                        (Some(dir), None) => outln!(
                            "  TUF cache:      none in {} (`vouch trust update` fetches one)",
                            dir.display()
                        ),
                        (None, None) => outln!(
                            "  TUF cache:      no directory (set {CACHE_ENV} or HOME, or pass \
                             --cache-dir)"
                        ),
                    }
                }
            }
            outln!("  trusted root:   {}", counts_text(root));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cache_directory_or_an_empty_one_means_the_embedded_root() {
        assert!(matches!(read_cache(None, SystemTime::now()), Cache::Absent));
        let dir = std::env::temp_dir().join(format!("vouch-trust-test-{}", std::process::id()));
        assert!(matches!(
            read_cache(Some(&dir), SystemTime::now()),
            Cache::Absent
        ));
    }

    #[test]
    fn counts_read_as_english() {
        let root = public_good().unwrap();
        let text = counts_text(root);
        assert!(text.contains("transparency log"), "{text}");
        assert!(text.contains("certificate authorities"), "{text}");
    }
}
