//! Rekor v1 entries as data: what is proposed to a log (`createLogEntry`'s body,
//! [`ProposedEntry`]) and what a log answers, read straight into the bundle's
//! [`TransparencyLogEntry`] ([`LoggedEntry`]), so that signing and verifying share one model.
//! The API is rekor's `openapi.yaml`: an answer is a JSON object with one member, the entry's
//! UUID, whose value holds `body` (base64 of the canonicalized entry), `integratedTime`,
//! `logID` (hex), `logIndex` and `verification` (`signedEntryTimestamp`, base64;
//! `inclusionProof` with `logIndex`, `rootHash` and `hashes` in hex, `treeSize`, and the
//! signed `checkpoint` note). Nothing here verifies the answer: `vouch-verifier` does, with
//! the log's key from a trusted root.
//!
//! ```
//! use vouch_attestations::rekor::ProposedEntry;
//! use vouch_keys::{Digest, KeyType, PrivateKey};
//!
//! let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
//! let digest = Digest::sha256(b"artifact");
//! let signature = key.sign(b"artifact").unwrap();
//! let entry = ProposedEntry::hashed_rekord(&digest, &signature, key.public_key());
//! assert_eq!((entry.kind(), entry.api_version()), ("hashedrekord", "0.0.1"));
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use vouch_keys::{Digest, KeyType, PublicKey};

use crate::AttestationError;
use crate::bundle::{InclusionPromise, InclusionProof, KindVersion, TransparencyLogEntry};

/// An entry to propose to a Rekor v1 log: the JSON body of `createLogEntry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedEntry {
    kind: &'static str,
    api_version: &'static str,
    json: Value,
}

/// Who a log entry says signed: the key or certificate Rekor checks the signature with and
/// records in the entry.
#[derive(Debug, Clone, Copy)]
pub enum EntryVerifier<'a> {
    /// A public key (key-signed signatures).
    Key(&'a PublicKey),
    /// A signing certificate, DER (keyless signatures): the entry records the certificate,
    /// as cosign and sigstore clients propose it.
    Certificate(&'a [u8]),
}

impl EntryVerifier<'_> {
    /// Base64 of the PEM text, as Rekor v1 takes keys and certificates (`format: byte` over
    /// PEM).
    fn pem_base64(self) -> String {
        STANDARD.encode(match self {
            EntryVerifier::Key(key) => key.to_pem(),
            EntryVerifier::Certificate(der) => vouch_keys::pem_encode("CERTIFICATE", der),
        })
    }
}

impl ProposedEntry {
    /// A `hashedrekord` v0.0.1 entry for a signature over an artifact known by `digest`
    /// (rekor `pkg/types/hashedrekord/v0.0.1`):
    /// `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":
    /// "sha256","value":HEX}},"signature":{"content":B64SIG,"publicKey":{"content":
    /// B64(PEM)}}}}`. The log checks the signature over the digest, so the digest must be
    /// the one the key's scheme signs (SHA-384 for ECDSA P-384, ...).
    pub fn hashed_rekord(digest: &Digest, signature: &[u8], key: &PublicKey) -> Self {
        Self::hashed_rekord_by(digest, signature, EntryVerifier::Key(key))
    }

    /// [`ProposedEntry::hashed_rekord`] for a signature by a key or a certificate.
    pub fn hashed_rekord_by(
        digest: &Digest,
        signature: &[u8],
        verifier: EntryVerifier<'_>,
    ) -> Self {
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
                        "publicKey": { "content": verifier.pem_base64() },
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
        Self::dsse_by(envelope_json, EntryVerifier::Key(key))
    }

    /// [`ProposedEntry::dsse`] for an envelope signed by a key or a certificate.
    pub fn dsse_by(envelope_json: &str, verifier: EntryVerifier<'_>) -> Self {
        Self {
            kind: "dsse",
            api_version: "0.0.1",
            json: json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "proposedContent": {
                        "envelope": envelope_json,
                        "verifiers": [verifier.pem_base64()],
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

/// The `PublicKeyDetails` name of a key type's one scheme, as a Rekor v2 verifier and a
/// trusted root name it (`PKIX_ECDSA_P256_SHA_256`, ...).
pub fn key_details(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
        KeyType::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384",
        KeyType::EcdsaP521 => "PKIX_ECDSA_P521_SHA_512",
        KeyType::Ed25519 => "PKIX_ED25519",
        KeyType::Rsa { bits } if bits <= 2048 => "PKIX_RSA_PKCS1V15_2048_SHA256",
        KeyType::Rsa { bits } if bits <= 3072 => "PKIX_RSA_PKCS1V15_3072_SHA256",
        KeyType::Rsa { .. } => "PKIX_RSA_PKCS1V15_4096_SHA256",
    }
}

/// An entry to propose to a Rekor v2 log: the JSON body of `POST /api/v2/log/entries`, a
/// `CreateEntryRequest` (rekor-tiles `api/proto/rekor/v2`) in protobuf JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedEntryV2 {
    kind: &'static str,
    json: Value,
}

impl EntryVerifier<'_> {
    /// A Rekor v2 `Verifier`: `{"publicKey": {"rawBytes"}}` or `{"x509Certificate":
    /// {"rawBytes"}}` (DER), with the `keyDetails` of `key_type`.
    fn v2(self, key_type: KeyType) -> Value {
        let mut verifier = match self {
            EntryVerifier::Key(key) => {
                json!({ "publicKey": { "rawBytes": STANDARD.encode(key.spki_der()) } })
            }
            EntryVerifier::Certificate(der) => {
                json!({ "x509Certificate": { "rawBytes": STANDARD.encode(der) } })
            }
        };
        verifier["keyDetails"] = json!(key_details(key_type));
        verifier
    }
}

impl ProposedEntryV2 {
    /// A `hashedrekord` v0.0.2 request: `{"hashedRekordRequestV002": {"digest": B64,
    /// "signature": {"content": B64, "verifier": ...}}}`. The log checks the signature over
    /// the digest with the verifier's key, by `key_type`'s scheme.
    pub fn hashed_rekord(
        digest: &Digest,
        signature: &[u8],
        verifier: EntryVerifier<'_>,
        key_type: KeyType,
    ) -> Self {
        Self {
            kind: "hashedrekord",
            json: json!({
                "hashedRekordRequestV002": {
                    "digest": STANDARD.encode(digest.to_bytes()),
                    "signature": {
                        "content": STANDARD.encode(signature),
                        "verifier": verifier.v2(key_type),
                    },
                },
            }),
        }
    }

    /// The request for a DSSE envelope's one signature, as the Rekor v2 specification
    /// (section 6.1.4) records envelopes: a `hashedrekord` v0.0.2 entry over the hash of the
    /// envelope's PAE (`digest`, in the algorithm `key_type`'s scheme hashes with).
    pub fn dsse_as_hashed_rekord(
        pae_digest: &Digest,
        signature: &[u8],
        verifier: EntryVerifier<'_>,
        key_type: KeyType,
    ) -> Self {
        Self::hashed_rekord(pae_digest, signature, verifier, key_type)
    }

    /// The entry kind (`hashedrekord`); its version is `0.0.2`.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The request body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).unwrap_or_default()
    }
}

/// Reads a Rekor v2 log's answer to an upload: a `TransparencyLogEntry` in protobuf JSON,
/// which goes into a bundle as it is, and must be a `0.0.2` entry of `kind`. Unverified.
pub fn parse_entry_answer_v2(
    bytes: &[u8],
    kind: &str,
) -> Result<TransparencyLogEntry, AttestationError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(AttestationError::TooLarge {
            format: "Rekor v2 log entry",
            size: bytes.len(),
            limit: MAX_ANSWER_BYTES,
        });
    }
    let entry = crate::bundle::Bundle::tlog_entry_from_json(bytes)?;
    if entry.kind_version.kind != kind || entry.kind_version.version != "0.0.2" {
        return Err(AttestationError::Malformed {
            format: "Rekor v2 log entry",
            reason: format!(
                "it is a {} {} entry, not {kind} 0.0.2",
                entry.kind_version.kind, entry.kind_version.version
            ),
        });
    }
    if entry.canonicalized_body.is_empty() {
        return Err(AttestationError::Malformed {
            format: "Rekor v2 log entry",
            reason: "it has no canonicalizedBody".into(),
        });
    }
    Ok(entry)
}

/// An entry as a Rekor v1 log answered it, in the bundle's form. Unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    /// The entry's UUID (or entry ID: tree ID and UUID), the answer's one key.
    pub uuid: String,
    /// The entry, as a v0.3 bundle records it: kind and version from the canonicalized body,
    /// the signed entry timestamp as its inclusion promise, the inclusion proof with its
    /// checkpoint.
    pub entry: TransparencyLogEntry,
}

/// The largest answer read, in bytes. A `hashedrekord` or `dsse` entry is a few kilobytes
/// (its body holds hashes, signatures and keys, never the artifact).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

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

/// The kind and version a canonicalized entry body names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBody {
    kind: String,
    api_version: String,
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

/// Whether `uuid` is an entry UUID (64 hex digits) or an entry ID (16 more for the tree ID).
pub fn is_entry_uuid(uuid: &str) -> bool {
    matches!(uuid.len(), 64 | 80) && uuid.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a Rekor v1 `LogEntry` answer (`createLogEntry`, `getLogEntryByUUID`): exactly one
/// UUID and its entry, which must carry what a v0.3 bundle needs: a signed entry timestamp, an
/// inclusion proof with a root hash and a checkpoint, a non-negative integrated time, and a
/// body naming its kind and version. Anything else is [`AttestationError::Malformed`] naming
/// the field.
pub fn parse_entry_answer(bytes: &[u8]) -> Result<LoggedEntry, AttestationError> {
    let bad = |reason: String| AttestationError::Malformed {
        format: "Rekor log entry",
        reason,
    };
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(AttestationError::TooLarge {
            format: "Rekor log entry",
            size: bytes.len(),
            limit: MAX_ANSWER_BYTES,
        });
    }
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
    let kind: RawBody = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("body does not name its kind and apiVersion: {e}")))?;
    if kind.kind.is_empty() || kind.api_version.is_empty() {
        return Err(bad("body has an empty kind or apiVersion".into()));
    }
    let log_id = hex_decode(&raw.log_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad(format!("logID {:?} is not hex", raw.log_id)))?;
    let integrated_time = u64::try_from(raw.integrated_time).map_err(|_| {
        bad(format!(
            "integratedTime {} is negative",
            raw.integrated_time
        ))
    })?;
    let verification = raw.verification.unwrap_or(RawVerification {
        signed_entry_timestamp: None,
        inclusion_proof: None,
    });
    let signed_entry_timestamp = verification
        .signed_entry_timestamp
        .ok_or_else(|| {
            bad(
                "the answer has no signed entry timestamp (verification.signedEntryTimestamp)"
                    .into(),
            )
        })
        .and_then(|set| {
            STANDARD
                .decode(set)
                .map_err(|_| bad("verification.signedEntryTimestamp is not base64".into()))
        })?;
    if signed_entry_timestamp.is_empty() {
        return Err(bad("verification.signedEntryTimestamp is empty".into()));
    }
    let proof = verification.inclusion_proof.ok_or_else(|| {
        bad("the answer has no inclusion proof (verification.inclusionProof)".into())
    })?;
    let hex = |text: &str, what: &str| {
        hex_decode(text).ok_or_else(|| {
            bad(format!(
                "verification.inclusionProof.{what} {text:?} is not hex"
            ))
        })
    };
    let root_hash = hex(&proof.root_hash, "rootHash")?;
    if root_hash.is_empty() {
        return Err(bad("verification.inclusionProof has no root hash".into()));
    }
    let inclusion_proof = InclusionProof {
        log_index: proof.log_index,
        root_hash,
        tree_size: proof.tree_size,
        hashes: proof
            .hashes
            .iter()
            .map(|h| hex(h, "hashes[]"))
            .collect::<Result<_, _>>()?,
        checkpoint: Some(
            proof
                .checkpoint
                .filter(|c| !c.is_empty())
                .ok_or_else(|| bad("verification.inclusionProof has no checkpoint".into()))?,
        ),
    };
    Ok(LoggedEntry {
        uuid,
        entry: TransparencyLogEntry {
            log_index: raw.log_index,
            log_id,
            kind_version: KindVersion {
                kind: kind.kind,
                version: kind.api_version,
            },
            integrated_time,
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp,
            }),
            inclusion_proof: Some(inclusion_proof),
            canonicalized_body: body,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_keys::{KeyType, PrivateKey};

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
                "body": "eyJraW5kIjoieCIsImFwaVZlcnNpb24iOiIwLjAuMSJ9",
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
        let logged = parse_entry_answer(&answer(json!({
                "logIndex": 7, "rootHash": root, "treeSize": 9,
                "hashes": ["bb".repeat(32)], "checkpoint": "cp\n",
        })))
        .unwrap();
        let entry = logged.entry;
        assert_eq!(
            entry.canonicalized_body,
            br#"{"kind":"x","apiVersion":"0.0.1"}"#
        );
        assert_eq!(
            (
                entry.kind_version.kind.as_str(),
                entry.kind_version.version.as_str()
            ),
            ("x", "0.0.1")
        );
        assert_eq!(entry.log_index, 42);
        assert_eq!(entry.integrated_time, 1_700_000_000);
        assert_eq!(entry.log_id[..2], [0xc0, 0xd2]);
        assert_eq!(
            entry.inclusion_promise.unwrap().signed_entry_timestamp,
            b"set"
        );
        let proof = entry.inclusion_proof.unwrap();
        assert_eq!((proof.log_index, proof.tree_size), (7, 9));
        assert_eq!(proof.root_hash, vec![0xaa; 32]);
        assert_eq!(proof.hashes, vec![vec![0xbb; 32]]);
        assert_eq!(proof.checkpoint.as_deref(), Some("cp\n"));
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
            answer(json!(null)),
            serde_json::to_vec(&json!({"ab".repeat(32): {
                "body": "e30=", "integratedTime": 1, "logID": "00", "logIndex": 1,
                "verification": {"signedEntryTimestamp": "c2V0", "inclusionProof":
                    {"logIndex": 1, "rootHash": "aa", "treeSize": 2, "hashes": [], "checkpoint": "cp"}},
            }}))
            .unwrap(),
            serde_json::to_vec(&json!({"ab".repeat(32): {
                "body": "eyJraW5kIjoieCIsImFwaVZlcnNpb24iOiIwLjAuMSJ9", "integratedTime": -5,
                "logID": "00", "logIndex": 1,
                "verification": {"signedEntryTimestamp": "c2V0", "inclusionProof":
                    {"logIndex": 1, "rootHash": "aa", "treeSize": 2, "hashes": [], "checkpoint": "cp"}},
            }}))
            .unwrap(),
            serde_json::to_vec(&json!({"ab".repeat(32): {
                "body": "eyJraW5kIjoieCIsImFwaVZlcnNpb24iOiIwLjAuMSJ9", "integratedTime": 5,
                "logID": "00", "logIndex": 1,
                "verification": {"inclusionProof":
                    {"logIndex": 1, "rootHash": "aa", "treeSize": 2, "hashes": [], "checkpoint": "cp"}},
            }}))
            .unwrap(),
        ];
        for bytes in cases {
            assert!(
                matches!(
                    parse_entry_answer(&bytes),
                    Err(AttestationError::Malformed { .. })
                ),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn hex_decoding_takes_both_cases() {
        assert_eq!(hex_decode("00fFaB"), Some(vec![0, 255, 171]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("+1"), None);
    }
}
