//! `vouch serve`: a read-only, pull-through OCI registry that serves an image only when the
//! trust policy allows it, thin over [`vouch_policy`]'s decision.
//!
//! Clients (podman, skopeo, containerd, docker) pull through it as from any registry. A
//! request names an upstream by its first path component (`/v2/upstream.example/app/...`, as a
//! containers `registries.conf` `location =` rewrite produces) or by containerd's `?ns=` query;
//! only configured upstreams are ever contacted. For a manifest:
//!
//! 1. the tag is resolved upstream once, to a digest and the manifest's exact bytes;
//! 2. that digest is decided ([`vouch_policy::TrustPolicy::decide`], under the name the client
//!    asked for, `upstream.example/app`), once per digest and policy however many clients ask
//!    at the same time, and from the decision cache afterwards;
//! 3. the bytes that were decided are served, or `403` with the OCI error `DENIED` and the
//!    decision's one sentence. A `warn` decision serves with a `Warning: 299` header.
//!
//! Blobs are served only when a manifest granted in this process lists them, streamed from
//! the upstream with their size and digest checked as they pass: the last chunk is held back
//! until the digest is confirmed, so a client never receives the whole of a blob that does not
//! match. Evidence (cosign's `.sig`/`.att`/`.sbom` tags, referrers and their blobs) is served
//! without a decision, so clients can verify for themselves. Upstream failures are `502` or
//! `503`, never a pass.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vouch_policy::TrustPolicy;
//! use vouch_policy::cache::MemoryCache;
//! use vouch_registry::{ClientOptions, RegistryClient};
//! use vouch_server::{ServeConfig, Server, Upstream};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = TrustPolicy::load(std::path::Path::new("policy.yaml"))?;
//! let server = Server::new(ServeConfig {
//!     policy,
//!     upstreams: vec![Upstream::parse("docker.io=https://registry-1.docker.io")?],
//!     client: RegistryClient::new(ClientOptions::default())?,
//!     cache: Arc::new(MemoryCache::new(10_000, Duration::from_secs(300))),
//!     grant_ttl: Duration::from_secs(3600),
//!     audit: Some(Arc::new(|line: &str| println!("{line}"))),
//!     shared_cache: None,
//!     tls: None,
//!     webhook_budget: Some(vouch_server::webhook::DEFAULT_BUDGET),
//! })?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! server.run(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod front;
mod grants;
pub mod metrics;
pub mod route;
mod shared;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use vouch_policy::TrustPolicy;
use vouch_policy::cache::DecisionCache;
use vouch_registry::RegistryClient;

pub use metrics::Metrics;

/// How long in-flight requests may run on after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An `--upstream NAME=URL` that cannot be used.
    #[error("--upstream {spec}: {reason}")]
    Upstream {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that cannot be used.
    #[error("{setting}: {reason}")]
    Config {
        /// Which setting.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Accepting connections failed.
    #[error("accepting connections on {address}: {source}")]
    Accept {
        /// The listening address.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// A registry the server pulls from, and the name clients use for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The name in request paths (`/v2/NAME/REPO/...`) and in containerd's `?ns=`, and the
    /// registry part of the image name the policy decides (`NAME/REPO`).
    pub name: String,
    /// The registry's host and port, as an image reference names it.
    pub registry: String,
}

impl Upstream {
    /// Reads `NAME=URL`: `URL` is `https://HOST[:PORT]`, or `http://` for a loopback host
    /// only (credentials and images are never sent in clear text over a network). No path.
    pub fn parse(spec: &str) -> Result<Self, ServeError> {
        let fail = |reason: &str| ServeError::Upstream {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| fail("expected NAME=URL"))?;
        route::repository(name).map_err(|e| fail(&format!("the name: {}", e.message)))?;
        if name.contains('/') {
            return Err(fail("the name is one path component"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| fail("the URL needs a scheme, https:// or http://"))?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(fail(
                "the URL is scheme://HOST[:PORT], without a path or user",
            ));
        }
        let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let loopback =
            matches!(hostname, "localhost" | "127.0.0.1" | "[::1]") || hostname.starts_with("127.");
        match scheme {
            "https" if !loopback => {}
            "http" if loopback => {}
            "https" => {
                return Err(fail(
                    "a loopback upstream is reached over http:// (vouch's registry client speaks plain HTTP to loopback registries)",
                ));
            }
            "http" => {
                return Err(fail(
                    "plain http:// is allowed for loopback upstreams only; use https://",
                ));
            }
            _ => return Err(fail("the scheme is https:// or http://")),
        }
        Ok(Self {
            name: name.to_owned(),
            registry: host.to_owned(),
        })
    }
}

/// What the server enforces and where it pulls from.
pub struct ServeConfig {
    /// The trust policy every manifest is decided by.
    pub policy: TrustPolicy,
    /// The registries it may contact, by name.
    pub upstreams: Vec<Upstream>,
    /// The registry client (credentials, timeouts, limits) for upstream requests.
    pub client: RegistryClient,
    /// Where decisions are kept, keyed by image, digest and policy digest.
    pub cache: Arc<dyn DecisionCache>,
    /// How long a manifest granted by a decision (and the blobs it lists) stays servable
    /// without being decided again.
    pub grant_ttl: Duration,
    /// Where the audit trail goes: one JSON object per decision served, as one line of text.
    pub audit: Option<AuditSink>,
    /// Share decisions with other replicas through this Redis (`redis://HOST:PORT[/DB]`);
    /// each is kept there for the cache's TTL.
    pub shared_cache: Option<(String, Duration)>,
    /// Serve HTTPS with this certificate chain and key instead of plain HTTP (the
    /// Kubernetes API server calls webhooks over HTTPS only).
    pub tls: Option<TlsFiles>,
    /// Answer admission reviews at `/validate` and `/mutate`, each within this budget
    /// (at most [`webhook::MAX_BUDGET`]); `None` leaves those paths unanswered.
    pub webhook_budget: Option<Duration>,
}

/// PEM files of a TLS server identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// The private key (PKCS#8, SEC1 or PKCS#1).
    pub key: std::path::PathBuf,
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS acceptor for `files`, HTTP/1.1 over TLS 1.2 or 1.3.
fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |setting: &str, path: &std::path::Path, reason: String| ServeError::Config {
        setting: format!("{setting} {}", path.display()),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| fail("--tls-cert", &files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(fail(
            "--tls-cert",
            &files.cert,
            "no PEM certificate in the file".into(),
        ));
    }
    // The key's own error text is never shown: it could quote key material.
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|_| {
        fail(
            "--tls-key",
            &files.key,
            "not a readable PEM private key (PKCS#8, SEC1 or PKCS#1)".into(),
        )
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("--tls-cert", &files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            fail(
                "--tls-key",
                &files.key,
                format!("does not fit the certificate: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves one connection (plain or TLS) until it ends, or gracefully once `stop` changes.
async fn serve_connection<I>(
    io: I,
    state: Arc<front::State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(front::handle(&state, request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A receiver of audit lines (the CLI writes them to standard output).
pub type AuditSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The server: shared state, ready to run on a listener.
pub struct Server {
    state: Arc<front::State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// A server for `config`; refuses two upstreams with the same name.
    pub fn new(config: ServeConfig) -> Result<Self, ServeError> {
        if config
            .webhook_budget
            .is_some_and(|b| b.is_zero() || b > webhook::MAX_BUDGET)
        {
            return Err(ServeError::Config {
                setting: "--webhook-timeout".into(),
                reason: format!(
                    "the budget is 1 to {} seconds (the Kubernetes API server allows no more)",
                    webhook::MAX_BUDGET.as_secs()
                ),
            });
        }
        for (i, upstream) in config.upstreams.iter().enumerate() {
            if config.upstreams[..i]
                .iter()
                .any(|u| u.name == upstream.name)
            {
                return Err(ServeError::Upstream {
                    spec: upstream.name.clone(),
                    reason: "two upstreams have this name".into(),
                });
            }
        }
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let shared = match &config.shared_cache {
            Some((url, ttl)) => {
                Some(
                    shared::Redis::new(url, *ttl).map_err(|reason| ServeError::Config {
                        setting: "--cache".into(),
                        reason,
                    })?,
                )
            }
            None => None,
        };
        Ok(Self {
            state: Arc::new(front::State::new(config, shared)),
            tls,
        })
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Serves HTTP/1.1 connections from `listener` until `shutdown` completes, then stops
    /// accepting, lets requests in flight finish (for at most [`SHUTDOWN_GRACE`]) and returns.
    pub async fn run(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let address = listener
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(accepted) => accepted,
                        // Too many open files and the like: wait, keep serving.
                        Err(e) if is_transient(&e) => {
                            tracing::warn!(error = %e, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        Err(source) => return Err(ServeError::Accept { address, source }),
                    };
                    let _ = stream.set_nodelay(true);
                    let state = self.state.clone();
                    let stop = stop_rx.clone();
                    let tls = self.tls.clone();
                    connections.spawn(async move {
                        match tls {
                            None => serve_connection(stream, state, stop).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls_stream)) => serve_connection(tls_stream, state, stop).await,
                                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!("TLS handshake timed out"),
                                }
                            }
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "requests still in flight after {}s were cut off",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        Ok(())
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_named_registries_reached_safely() {
        assert_eq!(
            Upstream::parse("docker.io=https://registry-1.docker.io").unwrap(),
            Upstream {
                name: "docker.io".into(),
                registry: "registry-1.docker.io".into()
            }
        );
        assert_eq!(
            Upstream::parse("localhost-upstream=http://127.0.0.1:5000/")
                .unwrap()
                .registry,
            "127.0.0.1:5000"
        );
        for (bad, says) in [
            ("docker.io", "NAME=URL"),
            ("x=registry.example", "scheme"),
            ("x=http://registry.example", "loopback upstreams only"),
            ("x=https://registry.example/v2/mirror", "without a path"),
            ("x=https://user@registry.example", "without a path or user"),
            ("Big=https://registry.example", "the name"),
            ("a/b=https://registry.example", "one path component"),
            ("x=ftp://registry.example", "https:// or http://"),
        ] {
            let e = Upstream::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
