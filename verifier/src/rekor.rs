//! The transparency log checks of a Sigstore bundle's `tlogEntries`: the Rekor v1 signed
//! entry timestamp (the inclusion promise) and the inclusion proof with its signed checkpoint
//! (Rekor v1 and v2). Sans-I/O: the caller decodes the bundle and picks the log from its
//! trusted root; nothing is fetched.
//!
//! ```no_run
//! # fn example(key: &vouch_keys::PublicKey, log_id: &[u8],
//! #            entry: &vouch_attestations::bundle::TransparencyLogEntry)
//! # -> Result<(), vouch_verifier::VerifyError> {
//! use vouch_verifier::rekor::RekorLog;
//!
//! // The log of the trusted root the bundle's entry names, and the entry as the bundle has it.
//! let log = RekorLog { key, log_id, base_url: "https://rekor.sigstore.dev" };
//! if let Some(promise) = &entry.inclusion_promise {
//!     vouch_verifier::rekor::verify_signed_entry_timestamp(&log, entry, &promise.signed_entry_timestamp)?;
//! }
//! if let Some(proof) = &entry.inclusion_proof {
//!     let checkpoint = vouch_verifier::rekor::verify_inclusion_proof(&log, entry, proof)?;
//!     println!("{} has the entry", checkpoint.origin);
//! }
//! # Ok(()) }
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vouch_attestations::bundle::{InclusionProof, TransparencyLogEntry};
use vouch_keys::PublicKey;

use crate::checkpoint::{Checkpoint, verify_checkpoint};
use crate::merkle::{self, hash_from_slice};
use crate::{Verified, VerifyError};

/// One transparency log of the trusted root (`tlogs[]`): what checking its entries needs.
#[derive(Debug, Clone, Copy)]
pub struct RekorLog<'a> {
    /// The log's public key (`publicKey.rawBytes`, read with
    /// [`PublicKey::from_spki_der`]).
    pub key: &'a PublicKey,
    /// The log ID (`logId.keyId`, base64-decoded): SHA-256 of the key's SPKI for Rekor v1,
    /// the signed-note key ID for Rekor v2.
    pub log_id: &'a [u8],
    /// The log's base URL (`baseUrl`), such as `https://log2025-1.rekor.sigstore.dev`: its
    /// host is the name a Rekor v2 checkpoint must carry.
    pub base_url: &'a str,
}

/// The largest integer every Sigstore client writes exactly in the SET payload: clients
/// that go through IEEE doubles (sigstore-go's JSON canonicalizer, sigstore-js) and those
/// that do not (sigstore-python) agree only up to 2^53 - 1.
const MAX_EXACT_JSON_INTEGER: i128 = (1 << 53) - 1;

fn check_json_integer(field: &'static str, value: i128) -> Result<(), VerifyError> {
    if value.abs() > MAX_EXACT_JSON_INTEGER {
        return Err(VerifyError::SetFieldOutOfRange { field, value });
    }
    Ok(())
}

/// The bytes a Rekor v1 log signs as an entry's signed entry timestamp: the RFC 8785
/// canonical JSON of `{"body", "integratedTime", "logID", "logIndex"}`, that is
/// `{"body":"<base64 of the canonicalized body>","integratedTime":<n>,"logID":"<lowercase
/// hex of the log ID>","logIndex":<n>}`, keys sorted, no white space (rekor
/// `pkg/verify.VerifySignedEntryTimestamp`, sigstore-go `tlog.VerifySET`, sigstore-js
/// `tlog/set.ts`). Fails with [`VerifyError::SetFieldOutOfRange`] for a log index or
/// integrated time beyond 2^53 - 1 in magnitude, where clients disagree on the bytes.
pub fn signed_entry_timestamp_payload(entry: &TransparencyLogEntry) -> Result<String, VerifyError> {
    check_json_integer("logIndex", i128::from(entry.log_index))?;
    check_json_integer("integratedTime", i128::from(entry.integrated_time))?;
    // Base64 and hex need no JSON escaping. Written in place: the body is most of it.
    use std::fmt::Write as _;
    let mut payload = String::with_capacity(entry.canonicalized_body.len() * 4 / 3 + 160);
    payload.push_str(r#"{"body":""#);
    STANDARD.encode_string(&entry.canonicalized_body, &mut payload);
    let _ = write!(
        payload,
        r#"","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry.integrated_time,
        vouch_keys::hex(&entry.log_id),
        entry.log_index,
    );
    Ok(payload)
}

fn check_log_id(log: &RekorLog<'_>, entry: &TransparencyLogEntry) -> Result<(), VerifyError> {
    if entry.log_id != log.log_id {
        return Err(VerifyError::LogIdMismatch {
            entry: vouch_keys::hex(&entry.log_id),
            log: vouch_keys::hex(log.log_id),
        });
    }
    Ok(())
}

/// Verifies `signed_entry_timestamp` (`inclusionPromise.signedEntryTimestamp`, decoded) as
/// the log's signature over the entry ([`signed_entry_timestamp_payload`]): the log's promise
/// that it integrated the entry at `integrated_time`. Rekor v1 logs sign with ECDSA P-256
/// over SHA-256 of the payload, ASN.1 DER ([`PublicKey::verify`]).
///
/// `Ok` only when the entry names this log ([`VerifyError::LogIdMismatch`] otherwise) and
/// the signature verifies ([`VerifyError::SetSignatureInvalid`]). Whether the log's key was
/// valid at the integrated time is the caller's check, against the trusted root.
pub fn verify_signed_entry_timestamp(
    log: &RekorLog<'_>,
    entry: &TransparencyLogEntry,
    signed_entry_timestamp: &[u8],
) -> Result<(), VerifyError> {
    check_log_id(log, entry)?;
    let payload = signed_entry_timestamp_payload(entry)?;
    log.key
        .verify(payload.as_bytes(), signed_entry_timestamp)
        .map_err(|_| VerifyError::SetSignatureInvalid {
            log_id: vouch_keys::hex(log.log_id),
            log_index: entry.log_index,
            integrated_time: entry.integrated_time,
        })
}

/// Verifies the Merkle part of `proof` alone: the leaf hash of the entry's canonicalized body,
/// at the proof's log index, hashes up the proof's path to the proof's root hash in a tree of
/// the proof's size ([`merkle::verify_inclusion`]). Nothing here says the log vouches for that
/// root: [`verify_inclusion_proof`] also checks the signed checkpoint.
pub fn verify_merkle_inclusion(
    entry: &TransparencyLogEntry,
    proof: &InclusionProof,
) -> Result<(), VerifyError> {
    let root = hash_from_slice(&proof.root_hash, "root hash")?;
    let path = proof
        .hashes
        .iter()
        .enumerate()
        .map(|(i, h)| hash_from_slice(h, format_args!("proof hash {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    merkle::verify_inclusion(proof.log_index, proof.tree_size, &leaf, &path, &root)
}

/// Verifies a bundle entry's inclusion proof against the log, in one call, and returns the
/// signed tree head:
///
/// 1. the entry names this log ([`VerifyError::LogIdMismatch`]);
/// 2. the Merkle proof leads from the entry's body to the proof's root hash
///    ([`verify_merkle_inclusion`]);
/// 3. the proof has a checkpoint ([`VerifyError::CheckpointMissing`]) signed by the log
///    ([`verify_checkpoint`], which documents the Rekor v1 and v2 key-hint and name rules);
/// 4. the checkpoint is for the proof's tree: same tree size
///    ([`VerifyError::CheckpointTreeSizeMismatch`]) and same root hash
///    ([`VerifyError::CheckpointRootHashMismatch`]);
/// 5. for a log that is not Rekor v1, the entry's log index is the proof's
///    ([`VerifyError::LogIndexMismatch`]): only Rekor v1 has virtual indices across shards
///    (rekor-tiles verifies the proof at the entry's index).
///
/// `Ok` means the log signed a tree head whose tree contains the entry's body at the proof's
/// index. It says nothing about when (Rekor v2 has no integrated time), and nothing about
/// what the body says; both are the caller's checks.
pub fn verify_inclusion_proof(
    log: &RekorLog<'_>,
    entry: &TransparencyLogEntry,
    proof: &InclusionProof,
) -> Result<Verified<Checkpoint>, VerifyError> {
    check_log_id(log, entry)?;
    verify_merkle_inclusion(entry, proof)?;
    let envelope = proof
        .checkpoint
        .as_deref()
        .ok_or(VerifyError::CheckpointMissing)?;
    let checkpoint = verify_checkpoint(envelope, log.key, log.base_url)?;
    if checkpoint.tree_size != proof.tree_size {
        return Err(VerifyError::CheckpointTreeSizeMismatch {
            checkpoint: checkpoint.tree_size,
            proof: proof.tree_size,
        });
    }
    if checkpoint.root_hash[..] != proof.root_hash[..] {
        return Err(VerifyError::CheckpointRootHashMismatch {
            checkpoint: vouch_keys::hex(&checkpoint.root_hash),
            proof: vouch_keys::hex(&proof.root_hash),
        });
    }
    if !checkpoint.is_rekor_v1() && entry.log_index != proof.log_index {
        return Err(VerifyError::LogIndexMismatch {
            entry: entry.log_index,
            proof: proof.log_index,
        });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::note_key_hint;
    use crate::merkle::{Hash, leaf_hash, node_hash};
    use vouch_attestations::bundle::KindVersion;
    use vouch_keys::{KeyType, PrivateKey};

    fn entry(body: &[u8], log_id: &[u8]) -> TransparencyLogEntry {
        TransparencyLogEntry {
            log_index: 7,
            log_id: log_id.to_vec(),
            kind_version: KindVersion {
                kind: "hashedrekord".into(),
                version: "0.0.1".into(),
            },
            integrated_time: 1_700_000_000,
            inclusion_promise: None,
            inclusion_proof: None,
            canonicalized_body: body.to_vec(),
        }
    }

    #[test]
    fn the_set_payload_is_rekors_canonical_json() {
        let e = entry(b"{\"kind\":\"x\"}", &[0xc0, 0xd2, 0x3d, 0x6a]);
        assert_eq!(
            signed_entry_timestamp_payload(&e).unwrap(),
            r#"{"body":"eyJraW5kIjoieCJ9","integratedTime":1700000000,"logID":"c0d23d6a","logIndex":7}"#
        );
    }

    #[test]
    fn set_numbers_beyond_exact_json_are_refused() {
        let mut e = entry(b"b", b"id");
        e.log_index = 1 << 53;
        assert_eq!(
            signed_entry_timestamp_payload(&e),
            Err(VerifyError::SetFieldOutOfRange {
                field: "logIndex",
                value: 1 << 53
            })
        );
        e.log_index = (1 << 53) - 1;
        e.integrated_time = 1 << 53;
        assert!(matches!(
            signed_entry_timestamp_payload(&e),
            Err(VerifyError::SetFieldOutOfRange {
                field: "integratedTime",
                ..
            })
        ));
    }

    #[test]
    fn a_set_verifies_only_for_the_entry_it_signs() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let log_id = crate::checkpoint::spki_key_hint(key.public_key());
        let log = RekorLog {
            key: key.public_key(),
            log_id: &log_id,
            base_url: "https://rekor.example.dev",
        };
        let e = entry(b"body", &log_id);
        let set = key
            .sign(signed_entry_timestamp_payload(&e).unwrap().as_bytes())
            .unwrap();
        verify_signed_entry_timestamp(&log, &e, &set).unwrap();
        for changed in [
            TransparencyLogEntry {
                log_index: 8,
                ..e.clone()
            },
            TransparencyLogEntry {
                integrated_time: 1_700_000_001,
                ..e.clone()
            },
            TransparencyLogEntry {
                canonicalized_body: b"bodY".to_vec(),
                ..e.clone()
            },
        ] {
            assert!(matches!(
                verify_signed_entry_timestamp(&log, &changed, &set),
                Err(VerifyError::SetSignatureInvalid { .. })
            ));
        }
        let other = [1, 2, 3, 4];
        assert!(matches!(
            verify_signed_entry_timestamp(
                &log,
                &TransparencyLogEntry {
                    log_id: other.to_vec(),
                    ..e.clone()
                },
                &set
            ),
            Err(VerifyError::LogIdMismatch { .. })
        ));
    }

    /// A two-leaf Rekor v2 style log holding `bodies`, signing with an Ed25519 key.
    struct TinyLog {
        key: PrivateKey,
        leaves: [Hash; 2],
    }

    impl TinyLog {
        fn new() -> Self {
            Self {
                key: PrivateKey::generate(KeyType::Ed25519).unwrap(),
                leaves: [leaf_hash(b"first"), leaf_hash(b"second")],
            }
        }

        fn checkpoint(&self, size: u64, root: &Hash) -> String {
            let name = "tiny.example.dev";
            let text = format!("{name}\n{size}\n{}\n", STANDARD.encode(root));
            let hint = note_key_hint(name, self.key.public_key()).unwrap();
            let mut sig = hint.to_vec();
            sig.extend(self.key.sign(text.as_bytes()).unwrap());
            format!("{text}\n\u{2014} {name} {}\n", STANDARD.encode(sig))
        }
    }

    #[test]
    fn an_inclusion_proof_needs_its_checkpoint_to_match() {
        let tiny = TinyLog::new();
        let log_id = [7u8; 32];
        let log = RekorLog {
            key: tiny.key.public_key(),
            log_id: &log_id,
            base_url: "https://tiny.example.dev",
        };
        let root = node_hash(&tiny.leaves[0], &tiny.leaves[1]);
        let hashes = vec![tiny.leaves[0].to_vec()];
        let e = TransparencyLogEntry {
            log_index: 1,
            integrated_time: 0,
            ..entry(b"second", &log_id)
        };
        let good = tiny.checkpoint(2, &root);
        let proof = InclusionProof {
            log_index: 1,
            root_hash: root.to_vec(),
            tree_size: 2,
            hashes,
            checkpoint: Some(good),
        };
        let cp = verify_inclusion_proof(&log, &e, &proof).unwrap();
        assert_eq!((cp.tree_size, cp.root_hash), (2, root));

        assert_eq!(
            verify_inclusion_proof(
                &log,
                &e,
                &InclusionProof {
                    checkpoint: None,
                    ..proof.clone()
                }
            )
            .unwrap_err(),
            VerifyError::CheckpointMissing
        );
        // A checkpoint signed by the log, for another size or another root.
        let bigger = tiny.checkpoint(3, &root);
        assert_eq!(
            verify_inclusion_proof(
                &log,
                &e,
                &InclusionProof {
                    checkpoint: Some(bigger),
                    ..proof.clone()
                }
            )
            .unwrap_err(),
            VerifyError::CheckpointTreeSizeMismatch {
                checkpoint: 3,
                proof: 2
            }
        );
        let other_root = tiny.checkpoint(2, &tiny.leaves[0]);
        assert!(matches!(
            verify_inclusion_proof(
                &log,
                &e,
                &InclusionProof {
                    checkpoint: Some(other_root),
                    ..proof.clone()
                }
            ),
            Err(VerifyError::CheckpointRootHashMismatch { .. })
        ));
        // The entry claims another index than the proof proves.
        assert_eq!(
            verify_inclusion_proof(
                &log,
                &TransparencyLogEntry {
                    log_index: 0,
                    ..e.clone()
                },
                &proof
            )
            .unwrap_err(),
            VerifyError::LogIndexMismatch { entry: 0, proof: 1 }
        );
        // A root hash of the wrong length.
        assert!(matches!(
            verify_inclusion_proof(
                &log,
                &e,
                &InclusionProof {
                    root_hash: root[..31].to_vec(),
                    ..proof
                }
            ),
            Err(VerifyError::InclusionHashLength { len: 31, .. })
        ));
    }
}
