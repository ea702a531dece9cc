//! Everything vouch does with image storage: OCI distribution registries over HTTP, OCI image
//! layouts on disk, and cosign's signature tag layout on top of both.
//!
//! * [`ImageReference`] parses `registry/repo:tag@digest` (docker's defaults) and
//!   `oci:PATH[:TAG]`.
//! * [`RegistryClient`] speaks the distribution API: anonymous, basic and bearer-token
//!   challenge auth with credentials from `~/.docker/config.json` (`auths`, `credsStore`,
//!   `credHelpers`), plain HTTP only for loopback registries unless allowed, timeouts, bounded
//!   retries of transient failures, and hard [`Limits`] on every manifest and signature blob
//!   read (sizes are checked while streaming, digests after).
//! * [`Layout`] is an OCI image layout directory, readable and writable the same way.
//! * [`Store`] puts both behind one interface, and [`cosign`] reads and appends
//!   `sha256-<hex>.sig` signature manifests through it, keeping concurrent writers' layers.
//! * [`referrers`] attaches OCI 1.1 referrers (artifact manifests with a `subject`, such as
//!   cosign v3's Sigstore bundles) and lists them: through a registry's referrers API when it
//!   has one, else through the referrers tag schema, which it keeps safe against concurrent
//!   writers the same way.
//! * [`EvidenceBudget`] bounds the bytes read about one image, all its signatures,
//!   attestations and referrers together, not only each of them.
//! * [`sigstore`] holds the clients of Sigstore's services: [`sigstore::rekor`] uploads
//!   signatures to a Rekor v1 transparency log and reads back the entry, with the same HTTP
//!   setup (timeouts, retries, bounded answers, plain HTTP only for loopback).
//!
//! ```no_run
//! use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store};
//!
//! # async fn run() -> Result<(), vouch_registry::RegistryError> {
//! let client = RegistryClient::new(ClientOptions::default())?;
//! let image = ImageReference::parse("ghcr.io/acme/app:1.2.3")?;
//! let target = Store::open(&client, &image)?;
//! let resolved = target.resolve().await?; // tag -> digest, once
//! let budget = vouch_registry::EvidenceBudget::for_image(&target.store, &resolved.digest);
//! let signatures =
//!     vouch_registry::cosign::read_signatures(&target.store, &resolved.digest, &budget).await?;
//! println!("{} has {} signature layer(s)", resolved.digest, signatures.layers.len());
//! # Ok(()) }
//! ```

mod auth;
pub mod budget;
mod client;
pub mod copy;
pub mod cosign;
pub mod layers;
mod layout;
pub mod manifest;
mod proxy;
mod reference;
pub mod referrers;
mod settle;
pub mod sigstore;
mod store;
mod stream;
mod tls;

use std::path::PathBuf;

pub use auth::Credentials;
#[doc(hidden)]
pub use auth::fuzz_credentials;
pub use budget::EvidenceBudget;
pub use client::{ClientOptions, Limits, RegistryClient};
pub use layout::{BlobWriter, Layout};
pub use reference::{
    DOCKER_HUB, ImageReference, LayoutReference, Reference, valid_path_component, valid_tag,
};
pub use store::{ManifestRef, PushedManifest, ResolvedImage, Store, Target};
pub use stream::{BlobStream, TagPage};
pub use tls::CaCertificates;
pub use vouch_keys::Digest;

/// How a network exchange failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No connection could be made.
    Connect,
    /// The request or response took longer than the timeout.
    Timeout,
    /// The connection was closed or reset before the exchange completed.
    Closed,
    /// A TLS connection was asked for and the server answered in plain text: a plain-HTTP
    /// registry reached over HTTPS. Not transient: asking again cannot help.
    NotTls,
    /// The server's TLS certificate is not trusted (unknown issuer, expired, another
    /// name). Not transient: asking again cannot help.
    Certificate,
    /// Any other failure to complete the exchange.
    Other,
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportFailure::Connect => "cannot connect",
            TransportFailure::Timeout => "timed out",
            TransportFailure::Closed => "connection closed",
            TransportFailure::NotTls => {
                "the server does not speak TLS; if it is a plain-HTTP registry, pass --allow-http-registry"
            }
            TransportFailure::Certificate => {
                "the server's TLS certificate is not trusted; for a registry whose certificate a private CA issued, pass the CA's certificate with --registry-cacert or add it to the system's store"
            }
            TransportFailure::Other => "request failed",
        })
    }
}

/// Everything that can go wrong talking to a registry or a layout. Each variant names the
/// registry or path and the operation, so the message alone tells the user where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The image reference does not parse.
    #[error("invalid image reference \"{input}\": {reason}")]
    InvalidReference {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The network exchange failed.
    #[error("{operation}: {failure}: {detail}")]
    Transport {
        /// What was being done (`GET manifest registry/repo:tag`).
        operation: String,
        /// The kind of failure.
        failure: TransportFailure,
        /// The HTTP library's description.
        detail: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{operation}: registry answered {status}{}", message_suffix(.message))]
    Status {
        /// What was being done.
        operation: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's error message, if it sent one.
        message: String,
    },
    /// The registry refused the credentials, or there were none and it wants some.
    #[error("{operation}: access denied ({status}){}; check `docker login` for this registry", message_suffix(.message))]
    Unauthorized {
        /// What was being done.
        operation: String,
        /// 401 or 403.
        status: u16,
        /// The registry's error message, if it sent one.
        message: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Content larger than the limit for its kind.
    #[error("{what} is larger than the {limit}-byte limit; refused")]
    TooLarge {
        /// What was being read.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A signature manifest with more layers than allowed.
    #[error("{what} has {count} layers, more than the limit of {limit}; refused")]
    TooManyLayers {
        /// Which manifest.
        what: String,
        /// Layers found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Content whose digest is not the one asked for.
    #[error("{what}: content has digest {found}, expected {expected}")]
    DigestMismatch {
        /// What was being read.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        found: Digest,
    },
    /// A manifest that does not parse.
    #[error("manifest {what} is malformed: {reason}")]
    BadManifest {
        /// Which manifest.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Credentials could not be read from the docker configuration or a helper.
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry.
        registry: String,
        /// What failed (never the secret itself).
        reason: String,
    },
    /// An OCI layout that is not valid, or lacks what was asked for.
    #[error("OCI layout {}: {reason}", .path.display())]
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A CA certificate file (`--registry-cacert`) that cannot be read or holds no usable
    /// certificate.
    #[error("CA certificates {}: {reason}", .path.display())]
    CaCertificates {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A transient failure that persisted through every retry.
    #[error("{source} (gave up after {attempts} attempts)")]
    Retried {
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        source: Box<RegistryError>,
    },
    /// Concurrent writers kept replacing the signature manifest or referrers index.
    #[error("{what}: concurrent writers kept replacing it; gave up after {attempts} attempts")]
    Contention {
        /// The manifest being written.
        what: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A referrers list longer than allowed: more entries than
    /// [`Limits::max_referrers`], or more pages of the referrers API than vouch follows.
    #[error("{what}: more than {limit} {counted}; refused")]
    TooManyReferrers {
        /// Which referrers list.
        what: String,
        /// The limit.
        limit: usize,
        /// What the limit counts (`referrers`, `pages`).
        counted: &'static str,
    },
    /// A Sigstore service URL that cannot be used (`--rekor-url`, `--fulcio-url`,
    /// `--timestamp-server-url`, a signing config's or TUF mirror's URL).
    #[error("invalid {service} URL \"{input}\": {reason}")]
    ServiceUrl {
        /// Which service (`transparency log`, `Fulcio`, `timestamp authority`, ...).
        service: &'static str,
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Sigstore service answered with an unexpected status.
    #[error("{operation}: the {service} answered {status}{}", message_suffix(.message))]
    ServiceStatus {
        /// Which service.
        service: &'static str,
        /// What was being done (`POST https://rekor.example/api/v1/log/entries`).
        operation: String,
        /// The HTTP status code.
        status: u16,
        /// The service's error message, if it sent one (never a credential: a service
        /// echoing a token back has it cut out).
        message: String,
    },
    /// A Sigstore service answered success with something its API does not define.
    #[error("{operation}: the {service}'s answer is malformed: {reason}")]
    ServiceAnswer {
        /// Which service.
        service: &'static str,
        /// What was being done.
        operation: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// A TUF repository (`vouch trust update`) that failed verification or answered what TUF
    /// does not allow: a role not signed by its keys, expired metadata, a rollback, a file
    /// whose hash or version is not the one listed for it, a file over its size limit, an
    /// error answer. The reason names the role, the versions and the times involved. Nothing
    /// was cached.
    #[error("TUF repository {mirror}: {reason}; nothing was cached")]
    Tuf {
        /// The mirror's URL.
        mirror: String,
        /// What was wrong.
        reason: String,
    },
    /// What a TUF update or the offline use of its cache was given that cannot be used: a
    /// starting `root.json` that does not verify with its own keys, a cache directory whose
    /// files do not read or changed since they were verified.
    #[error("{what}: {reason}")]
    TufInput {
        /// What it is (`the starting TUF root (root.json)`, `TUF cache DIR/vouch-trust.json`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A referrer manifest whose `subject` is not the manifest it was listed for.
    #[error("{what}: its subject is {}, not {expected}; refused", .found.as_ref().map_or_else(|| "missing".to_owned(), Digest::to_string))]
    SubjectMismatch {
        /// The referrer manifest.
        what: String,
        /// The digest it was listed for.
        expected: Digest,
        /// The subject it states, if any.
        found: Option<Digest>,
    },
    /// A layer whose content cannot be read: not a gzip, zstd or plain tar stream, a
    /// truncated stream, a malformed tar, more bytes than its descriptor says.
    #[error("layer {layer}: {reason}")]
    LayerContent {
        /// The layer's digest.
        layer: Digest,
        /// What is wrong.
        reason: String,
    },
    /// A compressed layer that decompresses past a limit of [`layers::LayerLimits`], its own
    /// or the image's (a decompression bomb).
    #[error(
        "layer {layer}: decompressed past the {scope} limit of {limit} bytes ({expanded} bytes read); refused"
    )]
    LayerTooLarge {
        /// The layer being read when the limit was passed.
        layer: Digest,
        /// Which limit: the layer's or the image's.
        scope: layers::ExpansionScope,
        /// The limit in bytes.
        limit: u64,
        /// Bytes decompressed when reading stopped: of the layer, or of all the image's
        /// layers for [`layers::ExpansionScope::Image`].
        expanded: u64,
    },
    /// An authentication challenge that credentials must not answer: one from a host other
    /// than the registry (a CDN a blob request was redirected to, an upload location on a
    /// storage host), or naming a token service over plain HTTP on a non-loopback host.
    /// Credentials for a registry go only to it and to the token service it names itself,
    /// over HTTPS.
    #[error("{operation}: {reason}; credentials for {registry} are not sent there")]
    CredentialsWithheld {
        /// What was being done.
        operation: String,
        /// The registry the credentials belong to.
        registry: String,
        /// Who asked, and why they get nothing.
        reason: String,
    },
    /// The evidence read about one image (signature, attestation and referrer manifests and
    /// blobs, counted each time they are handed to verification) passed
    /// [`Limits::max_evidence_bytes`].
    #[error(
        "the signatures and attestations of {image} add up to more than the {limit}-byte limit for one image; refused"
    )]
    EvidenceTooLarge {
        /// The image.
        image: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A copy that would replace or contradict what is at the destination.
    #[error("{destination}: {reason}")]
    CopyRefused {
        /// The destination, as named.
        destination: String,
        /// What is there, and what to do.
        reason: String,
    },
    /// An index with no manifest for the platform asked for.
    #[error("{what} has no image for platform {platform} (it has: {available})")]
    NoPlatform {
        /// The index.
        what: String,
        /// The platform asked for (`os/arch[/variant]`).
        platform: String,
        /// The platforms it lists.
        available: String,
    },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    /// True for failures worth retrying: transport failures, 5xx and 429 answers (from a
    /// registry or a transparency log).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { failure, .. } => !matches!(
                failure,
                TransportFailure::NotTls | TransportFailure::Certificate
            ),
            RegistryError::Status { status, .. } | RegistryError::ServiceStatus { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }

    /// True when the error is about what the user asked for (a malformed reference or log
    /// URL, an image that does not exist, a layout that is not one) rather than about the registry
    /// or the machine.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            RegistryError::InvalidReference { .. }
                | RegistryError::ServiceUrl { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::Layout { .. }
                | RegistryError::NoPlatform { .. }
                | RegistryError::TufInput { .. }
                | RegistryError::CopyRefused { .. }
                | RegistryError::CaCertificates { .. }
        )
    }
}
