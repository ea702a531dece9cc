//! A Rekor v1 transparency log client: upload a signature as a log entry and read back what
//! the log recorded, with the registry client's HTTP setup (rustls, timeouts, bounded
//! answers, retries of transient failures, plain HTTP only for loopback logs).
//!
//! The API is rekor's `openapi.yaml` (`createLogEntry`, `getLogEntryByUUID`):
//!
//! * `POST {url}/api/v1/log/entries` with a [`ProposedEntry`] answers `201 Created` and a
//!   `LogEntry`: a JSON object with one member, the entry's UUID, whose value holds `body`
//!   (base64 of the canonicalized entry), `integratedTime`, `logID` (hex), `logIndex` and
//!   `verification` (`signedEntryTimestamp`, base64; `inclusionProof` with `logIndex`,
//!   `rootHash` and `hashes` in hex, `treeSize`, and the signed `checkpoint` note).
//! * The same entry proposed twice answers `409 Conflict` with a `Location` header naming the
//!   existing entry, which is then fetched with `GET {url}/api/v1/log/entries/{uuid}` (a
//!   retried upload whose first answer was lost ends this way).
//!
//! The entry model (what is proposed, and the answer read into a bundle's
//! `TransparencyLogEntry`) is `vouch_attestations::rekor`'s; this module is only the HTTP
//! client. Nothing here verifies what the log answers: that is `vouch_verifier`'s job, before
//! anything is written.
//!
//! ```no_run
//! use vouch_registry::ClientOptions;
//! use vouch_registry::sigstore::rekor::{ProposedEntry, RekorClient};
//!
//! # async fn run(digest: &vouch_keys::Digest, signature: &[u8], key: &vouch_keys::PublicKey)
//! # -> Result<(), vouch_registry::RegistryError> {
//! let log = RekorClient::new("https://rekor.sigstore.dev", ClientOptions::default())?;
//! let entry = log
//!     .create_entry(&ProposedEntry::hashed_rekord(digest, signature, key))
//!     .await?;
//! println!("{} at index {}", entry.uuid, entry.entry.log_index);
//! # Ok(()) }
//! ```

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use vouch_attestations::bundle::TransparencyLogEntry;
pub use vouch_attestations::rekor::{
    LoggedEntry, MAX_ANSWER_BYTES, ProposedEntry, ProposedEntryV2,
};
use vouch_attestations::rekor::{is_entry_uuid, parse_entry_answer, parse_entry_answer_v2};

use super::{Endpoint, status_error};
use crate::RegistryError;
use crate::client::{ClientOptions, exchange, read_limited, retrying, transport_error};

/// How errors name the service.
const SERVICE: &str = "transparency log";

/// The entries endpoint, below the log's base URL.
pub const ENTRIES_PATH: &str = "/api/v1/log/entries";

/// Reads a log's answer to `operation`, refusing one that is not a complete entry.
fn parse_answer(operation: &str, bytes: &[u8]) -> Result<LoggedEntry, RegistryError> {
    parse_entry_answer(bytes).map_err(|e| RegistryError::ServiceAnswer {
        service: SERVICE,
        operation: operation.to_owned(),
        reason: e.to_string(),
    })
}

/// The entry UUID a `409 Conflict` answer's `Location` names (`/api/v1/log/entries/<uuid>`,
/// relative or absolute).
fn conflict_uuid(headers: &HeaderMap) -> Option<String> {
    let location = headers.get(header::LOCATION)?.to_str().ok()?;
    let path = location.split(['?', '#']).next()?;
    let uuid = path.trim_end_matches('/').rsplit('/').next()?;
    is_entry_uuid(uuid).then(|| uuid.to_owned())
}

/// What one upload attempt ended with.
enum Upload {
    Created(Vec<u8>),
    Exists(Option<String>),
}

/// A client for one Rekor v1 log. Clones share connections.
#[derive(Clone)]
pub struct RekorClient {
    endpoint: Endpoint,
}

impl RekorClient {
    /// A client for the log at `url` (`https://rekor.sigstore.dev`, or a base path below
    /// which `/api/v1/...` lives). Refuses, as [`RegistryError::ServiceUrl`], a URL that
    /// does not parse, is not `http` or `https`, has no host, or has a query or fragment;
    /// and plain `http` for a host other than loopback (`localhost`, `127.0.0.0/8`, `::1`)
    /// unless [`ClientOptions::allow_http`].
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        Ok(Self {
            endpoint: Endpoint::new(SERVICE, url, options, false)?,
        })
    }

    /// The log's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.endpoint.base
    }

    /// Proposes `entry` (`createLogEntry`) and returns what the log recorded: the new entry,
    /// or, when the log already holds an equal one (`409 Conflict`), that entry as
    /// [`RekorClient::get_entry`] reads it. Transport failures, 5xx and 429 answers are
    /// retried ([`ClientOptions::attempts`]); another status is
    /// [`RegistryError::ServiceStatus`], an answer that is not a log entry (or larger than
    /// [`MAX_ANSWER_BYTES`]) [`RegistryError::ServiceAnswer`] ([`RegistryError::TooLarge`]).
    pub async fn create_entry(&self, entry: &ProposedEntry) -> Result<LoggedEntry, RegistryError> {
        let url = format!("{}{ENTRIES_PATH}", self.endpoint.base);
        let operation = format!("POST {url}");
        let body = entry.to_json();
        let (url, operation, body) = (&url, &operation, &body);
        let upload = retrying(&self.endpoint.options, || async move {
            let response = exchange(
                self.endpoint
                    .http
                    .post(url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ACCEPT, "application/json")
                    .body(body.clone()),
            )
            .await
            .map_err(|e| transport_error(operation, &e))?;
            match response.status() {
                StatusCode::CREATED | StatusCode::OK => Ok(Upload::Created(
                    read_limited(response, MAX_ANSWER_BYTES as u64, operation).await?,
                )),
                StatusCode::CONFLICT => Ok(Upload::Exists(conflict_uuid(response.headers()))),
                _ => Err(status_error(SERVICE, response, operation).await),
            }
        })
        .await?;
        match upload {
            Upload::Created(bytes) => parse_answer(operation, &bytes),
            Upload::Exists(Some(uuid)) => {
                tracing::debug!(%uuid, "the log already holds this entry; fetching it");
                self.get_entry(&uuid).await
            }
            Upload::Exists(None) => Err(RegistryError::ServiceStatus {
                service: SERVICE,
                operation: operation.clone(),
                status: 409,
                message: "the entry exists, but the answer names no entry in Location".into(),
            }),
        }
    }

    /// Reads the entry with this UUID or entry ID (`getLogEntryByUUID`), with a current
    /// inclusion proof. Failures as for [`RekorClient::create_entry`]; an unknown entry is
    /// [`RegistryError::ServiceStatus`] 404.
    pub async fn get_entry(&self, uuid: &str) -> Result<LoggedEntry, RegistryError> {
        let url = format!("{}{ENTRIES_PATH}/{uuid}", self.endpoint.base);
        let operation = format!("GET {url}");
        if !is_entry_uuid(uuid) {
            return Err(RegistryError::ServiceAnswer {
                service: SERVICE,
                operation,
                reason: format!("{uuid:?} is not an entry UUID"),
            });
        }
        let (url, operation) = (&url, &operation);
        let bytes = retrying(&self.endpoint.options, || async move {
            let response = exchange(
                self.endpoint
                    .http
                    .get(url)
                    .header(header::ACCEPT, "application/json"),
            )
            .await
            .map_err(|e| transport_error(operation, &e))?;
            if response.status() != StatusCode::OK {
                return Err(status_error(SERVICE, response, operation).await);
            }
            read_limited(response, MAX_ANSWER_BYTES as u64, operation).await
        })
        .await?;
        parse_answer(operation, &bytes)
    }
}

/// The entries endpoint of a Rekor v2 log, below its base URL.
pub const ENTRIES_PATH_V2: &str = "/api/v2/log/entries";

/// A client for one Rekor v2 log (rekor-tiles): `POST {url}/api/v2/log/entries` with a
/// [`ProposedEntryV2`] answers the `TransparencyLogEntry` a bundle carries, with its inclusion
/// proof and checkpoint; there is no signed entry timestamp and no integrated time (a signer
/// gets its signing time from a timestamp authority). Clones share connections.
#[derive(Clone)]
pub struct RekorV2Client {
    endpoint: Endpoint,
}

impl RekorV2Client {
    /// A client for the log at `url` (`https://log2025-1.rekor.sigstore.dev`), refused as
    /// [`RekorClient::new`] refuses URLs.
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        Ok(Self {
            endpoint: Endpoint::new(SERVICE, url, options, false)?,
        })
    }

    /// The log's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.endpoint.base
    }

    /// Proposes `entry` and returns the entry the log answers, unverified. Transport
    /// failures, 5xx and 429 answers are retried; another status is
    /// [`RegistryError::ServiceStatus`], an answer that is not a `0.0.2` entry of the kind
    /// proposed [`RegistryError::ServiceAnswer`].
    pub async fn create_entry(
        &self,
        entry: &ProposedEntryV2,
    ) -> Result<TransparencyLogEntry, RegistryError> {
        let url = format!("{}{ENTRIES_PATH_V2}", self.endpoint.base);
        let json = "application/json";
        let bytes = self
            .endpoint
            .post(&url, json, json, &entry.to_json(), MAX_ANSWER_BYTES as u64)
            .await?;
        parse_entry_answer_v2(&bytes, entry.kind())
            .map_err(|e| self.endpoint.malformed(&url, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_urls_follow_the_registry_rules() {
        let ok =
            |url: &str| RekorClient::new(url, ClientOptions::default()).map(|c| c.endpoint.base);
        assert_eq!(
            ok("https://rekor.sigstore.dev/").unwrap(),
            "https://rekor.sigstore.dev"
        );
        assert_eq!(
            ok("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(ok("http://[::1]:3000/").unwrap(), "http://[::1]:3000");
        assert_eq!(
            ok("http://localhost/rekor/").unwrap(),
            "http://localhost/rekor"
        );
        for bad in [
            "http://rekor.example.com",
            "http://10.0.0.1:3000",
            "ftp://rekor.example.com",
            "rekor.sigstore.dev",
            "https://rekor.example.com/?x=1",
            "",
        ] {
            let error = ok(bad).unwrap_err();
            assert!(
                matches!(error, RegistryError::ServiceUrl { .. }) && error.is_input_error(),
                "{bad}: {error}"
            );
        }
        let insecure = RekorClient::new(
            "http://rekor.example.com",
            ClientOptions {
                allow_http: true,
                ..Default::default()
            },
        );
        assert!(insecure.is_ok());
    }

    #[test]
    fn a_conflict_names_the_existing_entry() {
        let uuid = "ab".repeat(32);
        for location in [
            format!("/api/v1/log/entries/{uuid}"),
            format!("https://rekor.example/api/v1/log/entries/{uuid}?x=1"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, location.parse().unwrap());
            assert_eq!(conflict_uuid(&headers), Some(uuid.clone()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            "/api/v1/log/entries/../x".parse().unwrap(),
        );
        assert_eq!(conflict_uuid(&headers), None);
        assert_eq!(conflict_uuid(&HeaderMap::new()), None);
    }
}
