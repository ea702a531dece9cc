//! `vouch serve`: the verifying registry front, on [`vouch_server`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use vouch_policy::TrustPolicy;
use vouch_policy::cache::MemoryCache;
use vouch_server::{ServeConfig, Server, Upstream};

use crate::RegistryArgs;
use crate::error::CliError;

/// Decisions kept in the in-memory cache.
const CACHE_ENTRIES: usize = 100_000;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The trust policy deciding every image served (vouch's TrustPolicy YAML, containers'
    /// policy.json or a ClusterImagePolicy).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,

    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5000")]
    listen: String,

    /// An upstream registry clients reach as /v2/NAME/... (or with containerd's ?ns=NAME):
    /// `NAME=https://HOST[:PORT]` (`http://` for loopback hosts only). Repeat for more.
    #[arg(long = "upstream", value_name = "NAME=URL", required = true)]
    upstreams: Vec<String>,

    /// Seconds a decision is reused, and an allowed image's manifests and blobs stay
    /// servable, before it is decided again.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    cache_ttl: u64,

    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs the server until SIGTERM or Ctrl-C, on its own multi-threaded runtime. Exit 2 for a
/// policy or flag that cannot be used (before listening), 3 when the address cannot be bound.
pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let policy = TrustPolicy::load(&args.policy)?;
    let upstreams = args
        .upstreams
        .iter()
        .map(|spec| Upstream::parse(spec).map_err(|e| CliError::Usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let ttl = Duration::from_secs(args.cache_ttl);
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let server = Server::new(ServeConfig {
        policy,
        upstreams: upstreams.clone(),
        client: args.registry.client()?,
        cache: Arc::new(MemoryCache::new(CACHE_ENTRIES, ttl)),
        grant_ttl: ttl,
        audit: Some(Arc::new(move |line: &str| {
            use std::io::Write as _;
            let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        })),
    })
    .map_err(|e| CliError::Usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| CliError::Io {
                what: format!("listening on {}", args.listen),
                source: e,
            })?;
        let address = listener
            .local_addr()
            .map_or_else(|_| args.listen.clone(), |a| a.to_string());
        let names: Vec<String> = upstreams
            .iter()
            .map(|u| format!("{} -> {}", u.name, u.registry))
            .collect();
        eprintln!(
            "vouch serve: listening on http://{address} (upstreams: {})",
            names.join(", ")
        );
        server
            .run(listener, shutdown_signal())
            .await
            .map_err(|e| CliError::Io {
                what: "serving".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        eprintln!("vouch serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
