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
//! Nothing here verifies what the log answers: that is `vouch_verifier`'s job, before anything
//! is written.
//!
//! ```no_run
//! use vouch_registry::ClientOptions;
//! use vouch_registry::rekor::{ProposedEntry, RekorClient};
//!
//! # async fn run(digest: &vouch_keys::Digest, signature: &[u8], key: &vouch_keys::PublicKey)
//! # -> Result<(), vouch_registry::RegistryError> {
//! let log = RekorClient::new("https://rekor.sigstore.dev", ClientOptions::default())?;
//! let entry = log
//!     .create_entry(&ProposedEntry::hashed_rekord(digest, signature, key))
//!     .await?;
//! println!("{} at index {}", entry.uuid, entry.log_index);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use vouch_keys::{Digest, PublicKey};

use crate::RegistryError;
use crate::client::{ClientOptions, http_client, read_limited, retrying, transport_error};

/// The entries endpoint, below the log's base URL.
pub const ENTRIES_PATH: &str = "/api/v1/log/entries";

/// The largest answer read from a log, in bytes. A `hashedrekord` or `dsse` entry is a few
/// kilobytes (its body holds hashes, signatures and keys, never the artifact).
pub const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// An entry to propose to a Rekor v1 log: the JSON body of `createLogEntry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedEntry {
    kind: &'static str,
    api_version: &'static str,
    json: Value,
}

/// Base64 of the key's PEM text, as Rekor v1 takes keys (`format: byte` over PEM).
fn pem_base64(key: &PublicKey) -> String {
    STANDARD.encode(key.to_pem())
}

impl ProposedEntry {
    /// A `hashedrekord` v0.0.1 entry for a signature over an artifact known by `digest`
    /// (rekor `pkg/types/hashedrekord/v0.0.1`):
    /// `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":
    /// "sha256","value":HEX}},"signature":{"content":B64SIG,"publicKey":{"content":
    /// B64(PEM)}}}}`. The log checks the signature over the digest, so the digest must be
    /// the one the key's scheme signs (SHA-384 for ECDSA P-384, ...).
    pub fn hashed_rekord(digest: &Digest, signature: &[u8], key: &PublicKey) -> Self {
        Self {
            kind: "hashedrekord",
            api_version: "0.0.1",
            json: json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {
                        "hash": {
                            "algorithm": digest.algorithm().name(),
                            "value": digest.hex(),
                        },
                    },
                    "signature": {
                        "content": STANDARD.encode(signature),
                        "publicKey": { "content": pem_base64(key) },
                    },
                },
            }),
        }
    }

    /// A `dsse` v0.0.1 entry for a DSSE envelope signed by `key` (rekor
    /// `pkg/types/dsse/v0.0.1`): `{"apiVersion":"0.0.1","kind":"dsse","spec":
    /// {"proposedContent":{"envelope":ENVELOPE_JSON,"verifiers":[B64(PEM)]}}}`, the envelope
    /// as a JSON string. The log verifies every envelope signature with the verifiers and
    /// stores only hashes, signatures and keys.
    pub fn dsse(envelope_json: &str, key: &PublicKey) -> Self {
        Self {
            kind: "dsse",
            api_version: "0.0.1",
            json: json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "proposedContent": {
                        "envelope": envelope_json,
                        "verifiers": [pem_base64(key)],
                    },
                },
            }),
        }
    }

    /// The entry kind (`hashedrekord`, `dsse`): what a bundle's `kindVersion.kind` says.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The kind's version (`0.0.1`): what a bundle's `kindVersion.version` says.
    pub fn api_version(&self) -> &str {
        self.api_version
    }

    /// The request body.
    pub fn to_json(&self) -> Vec<u8> {
        // A tree of plain values always serializes.
        serde_json::to_vec(&self.json).unwrap_or_default()
    }
}

/// An entry as the log answered it, its encoded fields decoded. Unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's UUID (or entry ID: tree ID and UUID), the answer's one key.
    pub uuid: String,
    /// `body`, base64-decoded: the canonicalized entry, the Merkle tree leaf.
    pub body: Vec<u8>,
    /// `integratedTime`: seconds since the epoch.
    pub integrated_time: i64,
    /// `logID`, hex-decoded: SHA-256 of the log's public key.
    pub log_id: Vec<u8>,
    /// `logIndex`: the index across all of the log's shards, the one the SET signs.
    pub log_index: u64,
    /// `verification.signedEntryTimestamp`, base64-decoded.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// `verification.inclusionProof`.
    pub inclusion_proof: Option<InclusionProof>,
}

/// An entry's `inclusionProof`, hex fields decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// `logIndex`: the leaf's index in the current shard's tree.
    pub log_index: u64,
    /// `rootHash`.
    pub root_hash: Vec<u8>,
    /// `treeSize`.
    pub tree_size: u64,
    /// `hashes`: the audit path, leaf to root.
    pub hashes: Vec<Vec<u8>>,
    /// `checkpoint`: the signed note of the tree head the proof leads to.
    pub checkpoint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: u64,
    #[serde(default)]
    verification: Option<RawVerification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVerification {
    #[serde(default)]
    signed_entry_timestamp: Option<String>,
    #[serde(default)]
    inclusion_proof: Option<RawProof>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: u64,
    root_hash: String,
    tree_size: u64,
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<String>,
}

/// Rekor's error body (`definitions/Error`).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// Decodes hex of either case; `None` for an odd length or a non-hex digit.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}

/// Whether `uuid` is an entry UUID (64 hex digits) or entry ID (16 more for the tree ID).
fn is_entry_uuid(uuid: &str) -> bool {
    matches!(uuid.len(), 64 | 80) && uuid.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a `LogEntry` answer: one UUID, its entry.
fn parse_answer(operation: &str, bytes: &[u8]) -> Result<LogEntry, RegistryError> {
    let bad = |reason: String| RegistryError::LogAnswer {
        operation: operation.to_owned(),
        reason,
    };
    let answer: BTreeMap<String, RawEntry> =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a log entry: {e}")))?;
    let mut entries = answer.into_iter();
    let (Some((uuid, raw)), None) = (entries.next(), entries.next()) else {
        return Err(bad("expected exactly one entry".into()));
    };
    if !is_entry_uuid(&uuid) {
        return Err(bad(format!(
            "entry UUID {uuid:?} is not hex of 64 or 80 digits"
        )));
    }
    let body = STANDARD
        .decode(&raw.body)
        .map_err(|_| bad("body is not base64".into()))?;
    let log_id = hex_decode(&raw.log_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad(format!("logID {:?} is not hex", raw.log_id)))?;
    let verification = raw.verification.unwrap_or(RawVerification {
        signed_entry_timestamp: None,
        inclusion_proof: None,
    });
    let signed_entry_timestamp = verification
        .signed_entry_timestamp
        .map(|set| {
            STANDARD
                .decode(set)
                .map_err(|_| bad("verification.signedEntryTimestamp is not base64".into()))
        })
        .transpose()?;
    let inclusion_proof = verification
        .inclusion_proof
        .map(|proof| {
            let hex = |text: &str, what: &str| {
                hex_decode(text).ok_or_else(|| {
                    bad(format!(
                        "verification.inclusionProof.{what} {text:?} is not hex"
                    ))
                })
            };
            Ok::<_, RegistryError>(InclusionProof {
                log_index: proof.log_index,
                root_hash: hex(&proof.root_hash, "rootHash")?,
                tree_size: proof.tree_size,
                hashes: proof
                    .hashes
                    .iter()
                    .map(|h| hex(h, "hashes[]"))
                    .collect::<Result<_, _>>()?,
                checkpoint: proof
                    .checkpoint
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| bad("verification.inclusionProof has no checkpoint".into()))?,
            })
        })
        .transpose()?;
    Ok(LogEntry {
        uuid,
        body,
        integrated_time: raw.integrated_time,
        log_id,
        log_index: raw.log_index,
        signed_entry_timestamp,
        inclusion_proof,
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

/// Turns a non-success answer into an error carrying the log's own message.
async fn status_error(response: Response, operation: &str) -> RegistryError {
    let status = response.status();
    let body = read_limited(response, 64 * 1024, operation)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|b| b.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned());
    RegistryError::LogStatus {
        operation: operation.to_owned(),
        status: status.as_u16(),
        message: message.chars().take(512).collect(),
    }
}

/// What one upload attempt ended with.
enum Upload {
    Created(Vec<u8>),
    Exists(Option<String>),
}

/// A client for one Rekor v1 log. Clones share connections.
#[derive(Clone)]
pub struct RekorClient {
    http: reqwest::Client,
    base: String,
    options: ClientOptions,
}

impl RekorClient {
    /// A client for the log at `url` (`https://rekor.sigstore.dev`, or a base path below
    /// which `/api/v1/...` lives). Refuses, as [`RegistryError::InvalidLogUrl`], a URL that
    /// does not parse, is not `http` or `https`, has no host, or has a query or fragment;
    /// and plain `http` for a host other than loopback (`localhost`, `127.0.0.0/8`, `::1`)
    /// unless [`ClientOptions::allow_http`].
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidLogUrl {
            input: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare.to_ascii_lowercase().ends_with(".localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match parsed.scheme() {
            "https" => {}
            "http" if loopback || options.allow_http => {}
            "http" => {
                return Err(invalid(
                    "plain HTTP is allowed only for a log on the loopback interface; use https",
                ));
            }
            _ => return Err(invalid("the scheme must be https (or http for loopback)")),
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a log URL has no query or fragment"));
        }
        Ok(Self {
            http: http_client(&options)?,
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            options,
        })
    }

    /// The log's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Proposes `entry` (`createLogEntry`) and returns what the log recorded: the new entry,
    /// or, when the log already holds an equal one (`409 Conflict`), that entry as
    /// [`RekorClient::get_entry`] reads it. Transport failures, 5xx and 429 answers are
    /// retried ([`ClientOptions::attempts`]); another status is
    /// [`RegistryError::LogStatus`], an answer that is not a log entry (or larger than
    /// [`MAX_ANSWER_BYTES`]) [`RegistryError::LogAnswer`] ([`RegistryError::TooLarge`]).
    pub async fn create_entry(&self, entry: &ProposedEntry) -> Result<LogEntry, RegistryError> {
        let url = format!("{}{ENTRIES_PATH}", self.base);
        let operation = format!("POST {url}");
        let body = entry.to_json();
        let (url, operation, body) = (&url, &operation, &body);
        let upload = retrying(&self.options, || async move {
            let response = self
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| transport_error(operation, &e))?;
            match response.status() {
                StatusCode::CREATED | StatusCode::OK => Ok(Upload::Created(
                    read_limited(response, MAX_ANSWER_BYTES, operation).await?,
                )),
                StatusCode::CONFLICT => Ok(Upload::Exists(conflict_uuid(response.headers()))),
                _ => Err(status_error(response, operation).await),
            }
        })
        .await?;
        match upload {
            Upload::Created(bytes) => parse_answer(operation, &bytes),
            Upload::Exists(Some(uuid)) => {
                tracing::debug!(%uuid, "the log already holds this entry; fetching it");
                self.get_entry(&uuid).await
            }
            Upload::Exists(None) => Err(RegistryError::LogStatus {
                operation: operation.clone(),
                status: 409,
                message: "the entry exists, but the answer names no entry in Location".into(),
            }),
        }
    }

    /// Reads the entry with this UUID or entry ID (`getLogEntryByUUID`), with a current
    /// inclusion proof. Failures as for [`RekorClient::create_entry`]; an unknown entry is
    /// [`RegistryError::LogStatus`] 404.
    pub async fn get_entry(&self, uuid: &str) -> Result<LogEntry, RegistryError> {
        let url = format!("{}{ENTRIES_PATH}/{uuid}", self.base);
        let operation = format!("GET {url}");
        if !is_entry_uuid(uuid) {
            return Err(RegistryError::LogAnswer {
                operation,
                reason: format!("{uuid:?} is not an entry UUID"),
            });
        }
        let (url, operation) = (&url, &operation);
        let bytes = retrying(&self.options, || async move {
            let response = self
                .http
                .get(url)
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| transport_error(operation, &e))?;
            if response.status() != StatusCode::OK {
                return Err(status_error(response, operation).await);
            }
            read_limited(response, MAX_ANSWER_BYTES, operation).await
        })
        .await?;
        parse_answer(operation, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_keys::{KeyType, PrivateKey};

    #[test]
    fn log_urls_follow_the_registry_rules() {
        let ok = |url: &str| RekorClient::new(url, ClientOptions::default()).map(|c| c.base);
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
                matches!(error, RegistryError::InvalidLogUrl { .. }) && error.is_input_error(),
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
    fn proposed_entries_have_rekors_shape() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem_b64 = STANDARD.encode(key.public_key().to_pem());
        let digest = Digest::sha256(b"artifact");
        let entry = ProposedEntry::hashed_rekord(&digest, b"sig", key.public_key());
        assert_eq!(
            (entry.kind(), entry.api_version()),
            ("hashedrekord", "0.0.1")
        );
        let json: Value = serde_json::from_slice(&entry.to_json()).unwrap();
        assert_eq!(
            json,
            json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {"content": "c2ln", "publicKey": {"content": pem_b64}},
            }})
        );
        let entry = ProposedEntry::dsse(r#"{"payloadType":"t"}"#, key.public_key());
        assert_eq!((entry.kind(), entry.api_version()), ("dsse", "0.0.1"));
        let json: Value = serde_json::from_slice(&entry.to_json()).unwrap();
        assert_eq!(
            json,
            json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
                "envelope": r#"{"payloadType":"t"}"#,
                "verifiers": [pem_b64],
            }}})
        );
    }

    fn answer(proof: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "24296fb24b8ad77a9a6b0e1e3c5e1d2d3a4b5c6d7e8f90112233445566778899aabbccddeeff0011": {
                "body": "eyJraW5kIjoieCJ9",
                "integratedTime": 1_700_000_000,
                "logID": "C0D23D6AD406973F9559F3BA2D1CA01F84147D8FFC5B8445C224F98B9591801D",
                "logIndex": 42,
                "verification": {"signedEntryTimestamp": "c2V0", "inclusionProof": proof},
            }
        }))
        .unwrap()
    }

    #[test]
    fn an_answer_is_decoded() {
        let root = "aa".repeat(32);
        let entry = parse_answer(
            "op",
            &answer(json!({
                "logIndex": 7, "rootHash": root, "treeSize": 9,
                "hashes": ["bb".repeat(32)], "checkpoint": "cp\n",
            })),
        )
        .unwrap();
        assert_eq!(entry.body, br#"{"kind":"x"}"#);
        assert_eq!(entry.log_index, 42);
        assert_eq!(entry.integrated_time, 1_700_000_000);
        assert_eq!(entry.log_id[..2], [0xc0, 0xd2]);
        assert_eq!(entry.signed_entry_timestamp.as_deref(), Some(&b"set"[..]));
        let proof = entry.inclusion_proof.unwrap();
        assert_eq!((proof.log_index, proof.tree_size), (7, 9));
        assert_eq!(proof.root_hash, vec![0xaa; 32]);
        assert_eq!(proof.hashes, vec![vec![0xbb; 32]]);
        assert_eq!(proof.checkpoint, "cp\n");
    }

    #[test]
    fn malformed_answers_are_refused() {
        let proof = |checkpoint: Value, root: &str| json!({"logIndex": 1, "rootHash": root, "treeSize": 2, "hashes": [], "checkpoint": checkpoint});
        let cases: Vec<Vec<u8>> = vec![
            b"<html>".to_vec(),
            b"{}".to_vec(),
            br#"{"nothex": {"body": "", "integratedTime": 1, "logID": "00", "logIndex": 1}}"#
                .to_vec(),
            answer(proof(json!(null), &"aa".repeat(32))),
            answer(proof(json!("cp\n"), "zz")),
            answer(json!({"logIndex": -1})),
        ];
        for bytes in cases {
            assert!(
                matches!(
                    parse_answer("op", &bytes),
                    Err(RegistryError::LogAnswer { .. })
                ),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
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

    #[test]
    fn hex_decoding_takes_both_cases() {
        assert_eq!(hex_decode("00fFaB"), Some(vec![0, 255, 171]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("+1"), None);
    }
}
