//! Evidence about an image, from either store, verified one way: cosign's tag-layout layers
//! (`sha256-<hex>.sig` simple-signing layers, `sha256-<hex>.att` DSSE layers), key-signed or
//! keyless, and Sigstore bundles attached as referrers.
//!
//! A tag-layout layer is read into the Sigstore bundle model first ([`layer_bundles`]): its
//! signature annotation becomes the message signature (or the DSSE envelope its payload is),
//! `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/chain` the certificate chain,
//! `dev.sigstore.cosign/bundle` (Rekor's signed entry timestamp and the entry) a v0.1 log entry
//! with an inclusion promise, and `dev.sigstore.cosign/rfc3161timestamp` an RFC 3161 timestamp.
//! [`Verifier::verify`] then makes every check a bundle gets, and the image checks follow: a
//! simple-signing payload must name the image's digest; a statement must name it as a subject.
//! So a keyless cosign signature is held to exactly what a keyless bundle is.
//!
//! ```
//! use std::collections::BTreeMap;
//! use base64::Engine as _;
//! use vouch_attestations::cosign::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer};
//! use vouch_attestations::simple_signing::SimpleSigning;
//! use vouch_keys::{Digest, KeyType, PrivateKey};
//! use vouch_verifier::time::UnixTime;
//! use vouch_verifier::trust_root::TrustedRoot;
//! use vouch_verifier::verify::{Options, Policy, Verifier};
//!
//! let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
//! let image = Digest::sha256(b"manifest");
//! let payload = SimpleSigning::new("registry.example/app", image.clone(), &BTreeMap::new()).to_vec();
//! let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
//! let layer = SignatureLayer {
//!     index: 0,
//!     media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
//!     digest: Digest::sha256(&payload),
//!     annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
//!     payload: Ok(payload),
//! };
//! let verifier = Verifier::new(TrustedRoot::public_good().unwrap()).unwrap();
//! let options = Options { require_tlog: false, ..Options::at(UnixTime::from_secs(1_800_000_000)) };
//! let policy = Policy::Key(key.public_key().clone());
//! let evidence = verifier.verify_signature_layer(&layer, &image, &policy, options).unwrap();
//! assert_eq!(evidence.docker_reference.as_deref(), Some("registry.example/app"));
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use vouch_attestations::bundle::{
    Bundle, BundleContent, BundleVersion, DsseEnvelope, DsseSignature, HashAlgorithm, HashOutput,
    InclusionPromise, KindVersion, MessageSignature, SignerMaterial, TransparencyLogEntry,
    VerificationMaterial,
};
use vouch_attestations::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, DSSE_LAYER_MEDIA_TYPE,
    RFC3161_TIMESTAMP_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer,
};
use vouch_attestations::dsse::Envelope;
use vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::Digest;

use crate::check::Check;
use crate::verify::{Artifact, BundleVerification, ImageClaim, Options, Policy, Verifier};
use crate::x509::Certificate;
use crate::{Verified, VerifyError};

/// The media type given to bundles read from tag-layout layers (the v0.1 form: a log entry
/// with an inclusion promise and no inclusion proof is what cosign's Rekor bundle holds).
const LAYER_BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/// A signature or attestation of an image that passed every check, from either store.
#[derive(Debug, Clone, Serialize)]
pub struct ImageEvidence {
    /// A signature of the image, or an attestation about it.
    pub claim: ImageClaim,
    /// The statement's predicate type (cosign's sign predicate for a bundle signature);
    /// `None` for a simple-signing signature.
    pub predicate_type: Option<String>,
    /// The image name a simple-signing payload was signed for (`critical.identity.
    /// docker-reference`); `None` for statements.
    pub docker_reference: Option<String>,
    /// The annotations signed with it: a simple-signing payload's `optional` section, or a
    /// bundle signature's `predicate.annotations`.
    pub annotations: BTreeMap<String, serde_json::Value>,
    /// What was signed, as JSON: the simple-signing document, or the in-toto statement (of
    /// attestations and bundle signatures).
    pub payload: serde_json::Value,
    /// Who signed, when, and every check made.
    pub verification: BundleVerification,
}

fn malformed(annotation: &str, reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::EvidenceMalformed {
        reason: format!("layer annotation {annotation}: {reason}"),
    }
}

/// Every PEM `CERTIFICATE` block of `text`, DER, in order.
fn pem_certificates(annotation: &str, text: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let blocks = pem::parse_many(text).map_err(|e| malformed(annotation, e))?;
    if blocks.is_empty() {
        return Err(malformed(annotation, "holds no PEM certificate"));
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.tag() == "CERTIFICATE" {
                Ok(block.into_contents())
            } else {
                Err(malformed(
                    annotation,
                    format!("holds a {:?} PEM block, not a CERTIFICATE", block.tag()),
                ))
            }
        })
        .collect()
}

/// cosign's Rekor bundle annotation: `{"SignedEntryTimestamp": base64, "Payload": {"body":
/// base64, "integratedTime": n, "logIndex": n, "logID": hex}}`, as a v0.1 log entry.
fn rekor_bundle(text: &str) -> Result<TransparencyLogEntry, VerifyError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RekorBundle {
        signed_entry_timestamp: String,
        payload: RekorPayload,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RekorPayload {
        body: String,
        integrated_time: i64,
        log_index: i64,
        #[serde(rename = "logID")]
        log_id: String,
    }
    let bad = |reason: String| malformed(BUNDLE_ANNOTATION, reason);
    let bundle: RekorBundle = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let set = STANDARD
        .decode(&bundle.signed_entry_timestamp)
        .map_err(|_| bad("SignedEntryTimestamp is not base64".into()))?;
    let body = STANDARD
        .decode(&bundle.payload.body)
        .map_err(|_| bad("Payload.body is not base64".into()))?;
    let log_id =
        hex_decode(&bundle.payload.log_id).ok_or_else(|| bad("Payload.logID is not hex".into()))?;
    let kind: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("Payload.body: {e}")))?;
    let field = |name: &str| {
        kind.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("Payload.body has no {name}")))
    };
    let kind_version = KindVersion {
        kind: field("kind")?,
        version: field("apiVersion")?,
    };
    let unsigned = |name: &str, value: i64| {
        u64::try_from(value).map_err(|_| bad(format!("Payload.{name} is negative")))
    };
    if set.is_empty() || log_id.is_empty() {
        return Err(bad("SignedEntryTimestamp or Payload.logID is empty".into()));
    }
    Ok(TransparencyLogEntry {
        log_index: unsigned("logIndex", bundle.payload.log_index)?,
        log_id,
        kind_version,
        integrated_time: unsigned("integratedTime", bundle.payload.integrated_time)?,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: set,
        }),
        inclusion_proof: None,
        canonicalized_body: body,
    })
}

/// Lowercase or uppercase hex to bytes; `None` when it is not hex.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// cosign's timestamp annotation: `{"SignedRFC3161Timestamp": base64 DER}`.
fn rfc3161_timestamp(text: &str) -> Result<Vec<u8>, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Timestamp {
        #[serde(rename = "SignedRFC3161Timestamp")]
        signed: String,
    }
    let bad = |reason: &str| malformed(RFC3161_TIMESTAMP_ANNOTATION, reason);
    let timestamp: Timestamp = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let der = STANDARD
        .decode(&timestamp.signed)
        .map_err(|_| bad("SignedRFC3161Timestamp is not base64"))?;
    if der.is_empty() {
        return Err(bad("SignedRFC3161Timestamp is empty"));
    }
    Ok(der)
}

/// The verification material a layer's annotations give: its certificate and chain (roots
/// left out: they come only from the trusted root), its Rekor entry, its timestamp.
fn layer_material(layer: &SignatureLayer) -> Result<VerificationMaterial, VerifyError> {
    let signer = match layer.annotations.get(CERTIFICATE_ANNOTATION) {
        None => SignerMaterial::PublicKey {
            hint: String::new(),
        },
        Some(pem) => {
            let mut chain = pem_certificates(CERTIFICATE_ANNOTATION, pem)?;
            chain.truncate(1);
            if let Some(pem) = layer.annotations.get(CHAIN_ANNOTATION) {
                for der in pem_certificates(CHAIN_ANNOTATION, pem)? {
                    if !Certificate::from_der(&der)?.is_self_issued() {
                        chain.push(der);
                    }
                }
            }
            SignerMaterial::X509CertificateChain(chain)
        }
    };
    let tlog_entries = match layer.annotations.get(BUNDLE_ANNOTATION) {
        Some(text) => vec![rekor_bundle(text)?],
        None => Vec::new(),
    };
    let rfc3161_timestamps = match layer.annotations.get(RFC3161_TIMESTAMP_ANNOTATION) {
        Some(text) => vec![rfc3161_timestamp(text)?],
        None => Vec::new(),
    };
    Ok(VerificationMaterial {
        signer,
        tlog_entries,
        rfc3161_timestamps,
    })
}

/// The payload of a layer, or why it could not be had.
fn payload(layer: &SignatureLayer) -> Result<&[u8], VerifyError> {
    layer
        .payload
        .as_deref()
        .map_err(|reason| VerifyError::PayloadUnavailable {
            reason: reason.clone(),
        })
}

/// A tag-layout layer in the bundle model: one bundle for a simple-signing layer, one per
/// envelope signature for a DSSE layer. Nothing is verified; a layer whose media type is
/// neither, whose payload is missing, or whose annotations do not parse is refused.
pub fn layer_bundles(layer: &SignatureLayer) -> Result<Vec<Bundle>, VerifyError> {
    let material = layer_material(layer)?;
    let bundle = |content| Bundle {
        media_type: LAYER_BUNDLE_MEDIA_TYPE.into(),
        version: BundleVersion::V0_1,
        material: material.clone(),
        content,
    };
    match layer.media_type.as_str() {
        SIMPLE_SIGNING_MEDIA_TYPE => {
            let payload = payload(layer)?;
            let signature = layer
                .signature()
                .ok_or_else(|| VerifyError::EvidenceMalformed {
                    reason: "the layer has no dev.cosignproject.cosign/signature annotation".into(),
                })?;
            let signature =
                STANDARD
                    .decode(signature.trim())
                    .map_err(|_| VerifyError::EvidenceMalformed {
                        reason: "the signature annotation is not base64".into(),
                    })?;
            Ok(vec![bundle(BundleContent::MessageSignature(
                MessageSignature {
                    message_digest: Some(HashOutput {
                        algorithm: HashAlgorithm::Sha2_256,
                        digest: Digest::sha256(payload).to_bytes(),
                    }),
                    signature,
                },
            ))])
        }
        DSSE_LAYER_MEDIA_TYPE => {
            let envelope = Envelope::from_slice(payload(layer)?).map_err(|e| {
                VerifyError::EvidenceMalformed {
                    reason: e.to_string(),
                }
            })?;
            if envelope.signatures.is_empty() {
                return Err(VerifyError::EvidenceMalformed {
                    reason: "the DSSE envelope has no signatures".into(),
                });
            }
            Ok(envelope
                .signatures
                .iter()
                .map(|signature| {
                    bundle(BundleContent::DsseEnvelope(DsseEnvelope {
                        payload: envelope.payload.clone(),
                        payload_type: envelope.payload_type.clone(),
                        signature: DsseSignature {
                            sig: signature.sig.clone(),
                            keyid: signature.keyid.clone(),
                        },
                    }))
                })
                .collect())
        }
        other => Err(VerifyError::EvidenceMalformed {
            reason: format!(
                "layer media type is {other}, not a cosign simple-signing payload or a DSSE envelope"
            ),
        }),
    }
}

/// The first success of `attempts`, else the failure of the attempt that got furthest: one
/// whose signature verified but failed a later check says more than "not this signer".
fn first_ok<T>(
    attempts: impl IntoIterator<Item = Result<T, VerifyError>>,
) -> Result<T, VerifyError> {
    let signer_only = |e: &VerifyError| {
        matches!(
            e.check(),
            Check::ArtifactSignature | Check::VerificationMaterial
        )
    };
    let mut first_error: Option<VerifyError> = None;
    for attempt in attempts {
        match attempt {
            Ok(value) => return Ok(value),
            Err(e) => {
                if first_error
                    .as_ref()
                    .is_none_or(|f| signer_only(f) && !signer_only(&e))
                {
                    first_error = Some(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or(VerifyError::EvidenceMalformed {
        reason: "the layer holds no signature".into(),
    }))
}

impl Verifier<'_> {
    /// Verifies a `.sig` layer as a signature of the image manifest `image` under `policy`: a
    /// simple-signing payload, signed by the policy's key or by a certificate with its
    /// identity (then with a log entry or timestamp as `options` require), naming `image`.
    pub fn verify_signature_layer(
        &self,
        layer: &SignatureLayer,
        image: &Digest,
        policy: &Policy,
        options: Options,
    ) -> Result<Verified<ImageEvidence>, VerifyError> {
        let verification = self.verify_layer(
            layer,
            SIMPLE_SIGNING_MEDIA_TYPE,
            "a cosign simple-signing payload",
            Artifact::Bytes,
            policy,
            options,
        )?;
        let payload = payload(layer)?;
        let signed =
            SimpleSigning::from_slice(payload).map_err(|e| VerifyError::StatementMalformed {
                reason: format!("the signed simple-signing payload: {e}"),
            })?;
        if signed.digest() != image {
            return Err(VerifyError::ArtifactMismatch {
                reason: format!(
                    "the signed payload is for {}, not for this image {image}",
                    signed.digest()
                ),
            });
        }
        Ok(Verified(ImageEvidence {
            claim: ImageClaim::Signature,
            predicate_type: None,
            docker_reference: Some(signed.docker_reference().to_owned()),
            annotations: signed
                .optional()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
            payload: serde_json::to_value(&signed).unwrap_or_default(),
            verification,
        }))
    }

    /// Verifies a `.att` layer as an attestation about the image manifest `image` under
    /// `policy`: a DSSE envelope over an in-toto statement with `image` as a subject, any of
    /// its signatures by the policy's signer.
    pub fn verify_attestation_layer(
        &self,
        layer: &SignatureLayer,
        image: &Digest,
        policy: &Policy,
        options: Options,
    ) -> Result<Verified<ImageEvidence>, VerifyError> {
        let verification = self.verify_layer(
            layer,
            DSSE_LAYER_MEDIA_TYPE,
            "a DSSE envelope",
            |_| Artifact::Digest(image),
            policy,
            options,
        )?;
        let predicate_type = verification.predicate_type()?.to_owned();
        Ok(Verified(statement_evidence(
            verification,
            ImageClaim::Attestation,
            predicate_type,
        )))
    }

    /// Verifies a bundle attached to the image as a referrer ([`Verifier::verify_image_bundle`])
    /// and reports it as [`ImageEvidence`].
    pub fn verify_bundle_evidence(
        &self,
        bundle: &Bundle,
        image: &Digest,
        policy: &Policy,
        options: Options,
    ) -> Result<Verified<ImageEvidence>, VerifyError> {
        let verified = self
            .verify_image_bundle(bundle, image, policy, options)?
            .into_inner();
        Ok(Verified(statement_evidence(
            verified.bundle,
            verified.claim,
            verified.predicate_type,
        )))
    }

    /// A tag-layout layer of `media_type` (`what` it holds, for the refusal) read into the
    /// bundle model and verified against the artifact `artifact` gives for its payload: the
    /// first of its signatures that holds, else the refusal that says most.
    fn verify_layer<'l>(
        &self,
        layer: &'l SignatureLayer,
        media_type: &str,
        what: &str,
        artifact: impl Fn(&'l [u8]) -> Artifact<'l>,
        policy: &Policy,
        options: Options,
    ) -> Result<BundleVerification, VerifyError> {
        if layer.media_type != media_type {
            return Err(VerifyError::EvidenceMalformed {
                reason: format!("layer media type is {}, not {what}", layer.media_type),
            });
        }
        let bundles = layer_bundles(layer)?;
        let artifact = artifact(payload(layer)?);
        first_ok(
            bundles
                .iter()
                .map(|b| self.verify(b, artifact, policy, options)),
        )
    }
}

/// The evidence a verified statement gives. For a signature (cosign's sign predicate), the
/// annotations are the predicate's `annotations`.
fn statement_evidence(
    verification: BundleVerification,
    claim: ImageClaim,
    predicate_type: String,
) -> ImageEvidence {
    let statement = verification.statement.clone().unwrap_or_default();
    let annotations = if predicate_type == COSIGN_SIGN_PREDICATE_TYPE {
        statement
            .pointer("/predicate/annotations")
            .and_then(serde_json::Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    ImageEvidence {
        claim,
        predicate_type: Some(predicate_type),
        docker_reference: None,
        annotations,
        payload: statement,
        verification,
    }
}
