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
    #[arg(
        long = "upstream",
        value_name = "NAME=URL",
        required_unless_present = "webhook"
    )]
    upstreams: Vec<String>,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Also answer Kubernetes admission reviews at /validate and /mutate (AdmissionReview
    /// admission.k8s.io/v1): deny workloads whose images the policy does not allow, and with
    /// /mutate pin allowed images to the digest that was decided.
    #[arg(long)]
    webhook: bool,

    /// Seconds an admission review may take before it is denied for the time (1 to 30; the
    /// API server's own webhook timeout must be longer).
    #[arg(long, value_name = "SECONDS", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=30))]
    webhook_timeout: u64,

    /// Seconds a decision is reused, and an allowed image's manifests and blobs stay
    /// servable, before it is decided again.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    cache_ttl: u64,

    /// Where decisions are kept: `memory` (this process), or `redis://HOST:PORT[/DB]` to
    /// share them with other replicas (each replica still keeps its own in memory; Redis
    /// being down degrades to that, with a warning).
    #[arg(
        long,
        value_name = "memory|redis://HOST:PORT",
        default_value = "memory"
    )]
    cache: String,

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
        shared_cache: match args.cache.as_str() {
            "memory" => None,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Some((url.to_owned(), ttl))
            }
            other => {
                return Err(CliError::Usage(format!(
                    "--cache {other}: expected memory or redis://HOST:PORT"
                )));
            }
        },
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(vouch_server::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        webhook_budget: args
            .webhook
            .then(|| Duration::from_secs(args.webhook_timeout)),
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
            "vouch serve: listening on {}://{address} (upstreams: {}{})",
            if args.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
            if args.webhook {
                "; admission webhook at /validate and /mutate"
            } else {
                ""
            }
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
