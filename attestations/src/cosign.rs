//! cosign's tag-layout attachments as data (cosign `specs/SIGNATURE_SPEC.md`): the media types
//! and annotation names of a signature (`sha256-<hex>.sig`) or attestation (`sha256-<hex>.att`)
//! layer, and [`SignatureLayer`], one such layer as read from a store: its descriptor fields
//! and its payload bytes. Reading them is `vouch-registry`'s; checking them is
//! `vouch-verifier`'s, which takes these plain values and nothing that does I/O.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vouch_attestations::cosign::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer};
//! use vouch_keys::Digest;
//!
//! let payload = br#"{"critical":{}}"#.to_vec();
//! let layer = SignatureLayer {
//!     index: 0,
//!     media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
//!     digest: Digest::sha256(&payload),
//!     annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), "MEUCIQ...".to_owned())]),
//!     payload: Ok(payload),
//! };
//! assert_eq!(layer.signature(), Some("MEUCIQ..."));
//! assert_eq!(layer.predicate_type(), None);
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vouch_keys::Digest;

use crate::bundle::{SignerMaterial, VerificationMaterial};

/// Media type of a signature layer: the simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature over the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding a PEM signing certificate (keyless signatures).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM certificate chain.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding a Rekor bundle: the log's signed entry timestamp and the entry
/// (`{"SignedEntryTimestamp": ..., "Payload": {"body", "integratedTime", "logIndex",
/// "logID"}}`).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation holding an RFC 3161 timestamp over the signature
/// (`{"SignedRFC3161Timestamp": base64 DER}`).
pub const RFC3161_TIMESTAMP_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// Media type of an attestation layer: a DSSE envelope (cosign's `types.DssePayloadType`).
pub const DSSE_LAYER_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Layer annotation naming the predicate type of an attestation layer's statement.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// One layer of a cosign signature or attestation manifest, with its payload when it could be
/// had. Nothing in it is verified: the annotations and the payload are what the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// Position in the manifest, from 0.
    pub index: usize,
    /// The layer's media type, as its descriptor gives it.
    pub media_type: String,
    /// The layer's digest, as its descriptor gives it (the payload was checked against it when
    /// it was read).
    pub digest: Digest,
    /// The layer's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The payload bytes, or why they could not be had intact (missing blob, too large, wrong
    /// digest), as a sentence for reports.
    pub payload: Result<Vec<u8>, String>,
}

impl SignatureLayer {
    /// The base64 signature annotation, if present.
    pub fn signature(&self) -> Option<&str> {
        self.annotations
            .get(SIGNATURE_ANNOTATION)
            .map(String::as_str)
    }

    /// The predicate type an attestation layer is annotated with, if any.
    pub fn predicate_type(&self) -> Option<&str> {
        self.annotations
            .get(PREDICATE_TYPE_ANNOTATION)
            .map(String::as_str)
    }
}

/// The layer annotations `cosign sign` and `cosign attest` write for a signature's
/// verification material, besides the signature itself: the signing certificate
/// ([`CERTIFICATE_ANNOTATION`], PEM) and the rest of its chain as the certificate authority
/// gave it ([`CHAIN_ANNOTATION`], PEM, issuers in order; `chain` holds them, DER) for a
/// certificate; the first log entry as a Rekor bundle ([`BUNDLE_ANNOTATION`]:
/// `{"SignedEntryTimestamp", "Payload": {"body", "integratedTime", "logIndex", "logID"}}`, the
/// log id in hex) when it has a signed entry timestamp; the first RFC 3161 timestamp
/// ([`RFC3161_TIMESTAMP_ANNOTATION`]: `{"SignedRFC3161Timestamp": base64}`). A key signature
/// without log entry or timestamp gets none. `vouch_verifier::image` reads them back.
pub fn material_annotations(
    material: &VerificationMaterial,
    chain: &[Vec<u8>],
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(leaf) = material.signer.leaf_certificate() {
        annotations.insert(
            CERTIFICATE_ANNOTATION.to_owned(),
            vouch_keys::pem_encode("CERTIFICATE", leaf),
        );
        let issuers: Vec<&[u8]> = match &material.signer {
            SignerMaterial::X509CertificateChain(with_leaf) => {
                with_leaf.iter().skip(1).map(Vec::as_slice).collect()
            }
            _ => chain.iter().map(Vec::as_slice).collect(),
        };
        if !issuers.is_empty() {
            let pem: String = issuers
                .iter()
                .map(|der| vouch_keys::pem_encode("CERTIFICATE", der))
                .collect();
            annotations.insert(CHAIN_ANNOTATION.to_owned(), pem);
        }
    }
    if let Some(entry) = material.tlog_entries.first()
        && let Some(promise) = &entry.inclusion_promise
    {
        let bundle = serde_json::json!({
            "SignedEntryTimestamp": STANDARD.encode(&promise.signed_entry_timestamp),
            "Payload": {
                "body": STANDARD.encode(&entry.canonicalized_body),
                "integratedTime": entry.integrated_time,
                "logIndex": entry.log_index,
                "logID": vouch_keys::hex(&entry.log_id),
            },
        });
        annotations.insert(BUNDLE_ANNOTATION.to_owned(), bundle.to_string());
    }
    if let Some(timestamp) = material.rfc3161_timestamps.first() {
        let value = serde_json::json!({ "SignedRFC3161Timestamp": STANDARD.encode(timestamp) });
        annotations.insert(RFC3161_TIMESTAMP_ANNOTATION.to_owned(), value.to_string());
    }
    annotations
}
