//! TLS for every connection vouch makes: rustls, with the roots of the platform's store
//! (`rustls-platform-verifier`: on Linux the system bundle and directory, `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured) and any extra CA certificates given ([`CaCertificates`], cosign's
//! `--registry-cacert`).
//!
//! The store is read when the first certificate is verified, not when a client is built: a
//! command that only speaks plain HTTP (a loopback registry, an OCI layout) never reads the
//! 150-odd files of `/etc/ssl/certs`. Verifiers without extra roots share one store per
//! process; one with extra roots reads its own, once. Certificate checking itself is
//! unchanged: webpki path building to a root of the store, server name, validity, and the
//! handshake signatures with the provider's algorithms.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::RegistryError;

/// The most bytes read from a CA certificate file: a bundle of a few hundred certificates.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// CA certificates trusted for registry connections besides the system's store (cosign's
/// `--registry-cacert`), as given: each one a certificate that parses as a trust anchor.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct CaCertificates(Arc<[CertificateDer<'static>]>);

impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCertificates")
            .field("count", &self.len())
            .finish()
    }
}

impl CaCertificates {
    /// Reads the PEM file at `path` (at most 4 MiB): every `CERTIFICATE` block in it, each
    /// checked to be a certificate a trust anchor can be made of. Refuses a file that cannot
    /// be read, holds no certificate, or holds one that does not parse, naming the file.
    pub fn read_pem_file(path: &Path) -> Result<Self, RegistryError> {
        let bad = |reason: String| RegistryError::CaCertificates {
            path: path.to_owned(),
            reason,
        };
        // A regular file only: a FIFO or device named here is refused, not waited on.
        let bytes = vouch_keys::files::read_capped(path, MAX_CA_FILE_BYTES).map_err(|e| {
            bad(match e {
                vouch_keys::files::InputFileError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            })
        })?;
        Self::from_pem(&bytes).map_err(bad)
    }

    /// The certificates of the PEM text `pem`; the reason when it holds none, or one that
    /// does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let mut certificates = Vec::new();
        for (n, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let certificate =
                item.map_err(|e| format!("PEM block {} does not parse: {e}", n + 1))?;
            // What the verifier will do with it, done now so that a bad file is named here
            // rather than at the first HTTPS connection.
            rustls::RootCertStore::empty()
                .add(certificate.clone())
                .map_err(|e| format!("certificate {} is not usable as a CA: {e}", n + 1))?;
            certificates.push(certificate);
        }
        if certificates.is_empty() {
            return Err("it holds no PEM CERTIFICATE block".into());
        }
        Ok(Self(certificates.into()))
    }

    /// How many certificates there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (the system's store alone is trusted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The rustls configuration of vouch's HTTP clients: TLS 1.2 and 1.3 with aws-lc-rs (as
/// reqwest's own default), ALPN for HTTP/2 and HTTP/1.1, and a [`LazyVerifier`] trusting the
/// system's store and `extra`.
pub(crate) fn client_config(extra: &CaCertificates) -> Result<rustls::ClientConfig, RegistryError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(LazyVerifier {
        provider: provider.clone(),
        extra: extra.clone(),
        own: OnceLock::new(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Transport {
            operation: "initialising TLS".into(),
            failure: crate::TransportFailure::Other,
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform verifier, built on the first certificate it is asked about.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    extra: CaCertificates,
    /// The verifier with `extra`'s roots, when there are any.
    own: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn inner(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let build = || {
            let started = std::time::Instant::now();
            let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.extra.0.iter().cloned(),
                self.provider.clone(),
            );
            tracing::debug!(
                extra = self.extra.len(),
                "loaded the system's CA certificates in {} ms",
                started.elapsed().as_millis()
            );
            verifier
        };
        let built = if self.extra.is_empty() {
            // One store per process for every client without extra roots.
            static SYSTEM: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>> =
                OnceLock::new();
            SYSTEM.get_or_init(build)
        } else {
            self.own.get_or_init(build)
        };
        // Reported as a certificate that cannot be trusted (it cannot be, without roots), so
        // that the failure is classified and not retried as a transport hiccup.
        built.as_ref().map_err(|e| {
            let reason = match e {
                rustls::Error::General(reason) => reason.clone(),
                other => other.to_string(),
            };
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(NoStore(reason)),
            )))
        })
    }
}

/// The platform's store could not be read (no CA certificate in it, `SSL_CERT_FILE` naming
/// nothing): no certificate can be trusted.
#[derive(Debug)]
struct NoStore(String);

impl std::fmt::Display for NoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the system's CA certificates cannot be read: {}", self.0)
    }
}

impl std::error::Error for NoStore {}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why `error` (a failed exchange) failed, when it failed because the server's certificate
/// was not trusted: rustls's `InvalidCertificate`, found anywhere in the chain of causes.
pub(crate) fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(error);
    while let Some(e) = source {
        let rustls_error = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(certificate)) = rustls_error {
            return Some(match certificate {
                rustls::CertificateError::Other(other) => other.0.to_string(),
                rustls::CertificateError::UnknownIssuer => {
                    "it was issued by a CA no trusted root vouches for (UnknownIssuer)".into()
                }
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. } => {
                    "it was issued for another name (NotValidForName)".into()
                }
                rustls::CertificateError::Expired
                | rustls::CertificateError::ExpiredContext { .. } => "it has expired".into(),
                known => format!("{known:?}"),
            });
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_or_with_a_broken_one_is_refused() {
        let none = CaCertificates::from_pem(b"just text\n").unwrap_err();
        assert!(none.contains("no PEM CERTIFICATE"), "{none}");
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = CaCertificates::from_pem(broken).unwrap_err();
        assert!(e.contains("certificate 1"), "{e}");
    }
}
