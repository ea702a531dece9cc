//! An RFC 3161 timestamp authority client (RFC 3161 section 3.4, the HTTP transport): `POST`
//! a DER `TimeStampReq` as `application/timestamp-query` to the authority's URL (for
//! Sigstore's timestamp authority, `https://timestamp.sigstore.dev/api/v1/timestamp`) and
//! read back the DER `TimeStampResp` (`application/timestamp-reply`). Building the request and
//! checking the answer (status, imprint, nonce, signature, chain) are `vouch_verifier::tsa`'s.
//!
//! ```no_run
//! use vouch_registry::ClientOptions;
//! use vouch_registry::sigstore::tsa::TimestampClient;
//!
//! # async fn run(request: &[u8]) -> Result<(), vouch_registry::RegistryError> {
//! let tsa = TimestampClient::new("https://timestamp.sigstore.dev/api/v1/timestamp",
//!     ClientOptions::default())?;
//! let response = tsa.timestamp(request).await?;
//! println!("{} bytes", response.len());
//! # Ok(()) }
//! ```

use super::Endpoint;
use crate::RegistryError;
use crate::client::ClientOptions;

/// How errors name the service.
const SERVICE: &str = "timestamp authority";

/// The largest answer read, in bytes: a response with its certificates is a few kilobytes.
pub const MAX_ANSWER_BYTES: u64 = 256 * 1024;

/// A client for one timestamp authority. Clones share connections.
#[derive(Clone)]
pub struct TimestampClient {
    endpoint: Endpoint,
}

impl TimestampClient {
    /// A client posting to `url`, the authority's full timestamp URL (a query is allowed:
    /// some authorities take parameters there). Refused as [`RegistryError::ServiceUrl`] as
    /// a transparency log's URL is.
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        Ok(Self {
            endpoint: Endpoint::new(SERVICE, url, options, true)?,
        })
    }

    /// The authority's URL.
    pub fn url(&self) -> &str {
        &self.endpoint.base
    }

    /// Sends the DER `TimeStampReq` `request` and returns the DER `TimeStampResp` as it
    /// came, unchecked. Transport failures, 5xx and 429 answers are retried; another status
    /// is [`RegistryError::ServiceStatus`], an empty answer
    /// [`RegistryError::ServiceAnswer`].
    pub async fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, RegistryError> {
        let url = &self.endpoint.base;
        let bytes = self
            .endpoint
            .post(
                url,
                "application/timestamp-query",
                "application/timestamp-reply",
                request,
                MAX_ANSWER_BYTES,
            )
            .await?;
        if bytes.is_empty() {
            return Err(self.endpoint.malformed(url, "the answer is empty".into()));
        }
        Ok(bytes)
    }
}
