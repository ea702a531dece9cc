//! Verification of cosign key-based image signatures (cosign `specs/SIGNATURE_SPEC.md`).
//!
//! A signature layer holds for an image when, in this order:
//! 1. the layer is a simple-signing layer and its payload could be fetched intact;
//! 2. it carries a base64 signature annotation;
//! 3. the signature verifies over the payload bytes with the trusted key;
//! 4. the payload parses as a simple-signing document;
//! 5. its `docker-manifest-digest` is the image's digest (a valid signature of another image,
//!    copied under this image's tag, fails here);
//! 6. every annotation the caller requires is in its `optional` section with the same value.
//!
//! The first check that fails is the layer's [`Rejection`]. The image is verified when at
//! least one layer holds.

use crate::check::{Check, Refusal};
use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use vouch_attestations::cosign::{SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer};
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, PublicKey};

use crate::LayerVerdict;

/// What a cosign signature must satisfy besides being about the image.
#[derive(Debug, Clone)]
pub struct CosignRequirements {
    /// The key the signature must verify with.
    pub key: PublicKey,
    /// Annotations that must be present in the payload's `optional` section, as strings with
    /// exactly these values (cosign's `verify -a key=value`).
    pub annotations: BTreeMap<String, String>,
}

/// Why one signature layer does not hold. Each variant is one check of the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The layer is not a simple-signing layer.
    #[error("layer media type is {media_type}, not a cosign simple-signing payload")]
    NotSimpleSigning {
        /// The media type found.
        media_type: String,
    },
    /// The payload blob could not be had intact.
    #[error("payload unavailable: {reason}")]
    PayloadUnavailable {
        /// Missing, too large, or wrong digest.
        reason: String,
    },
    /// The layer has no signature annotation.
    #[error("layer has no dev.cosignproject.cosign/signature annotation")]
    MissingSignature,
    /// The signature annotation is not valid base64.
    #[error("signature annotation is not valid base64")]
    SignatureEncoding,
    /// The signature does not verify with the key.
    #[error("signature does not verify with the {key_type} key {fingerprint}")]
    SignatureInvalid {
        /// The key's type.
        key_type: String,
        /// SHA-256 of the key's SubjectPublicKeyInfo.
        fingerprint: String,
    },
    /// The (validly signed) payload is not a simple-signing document.
    #[error("signed payload is malformed: {reason}")]
    PayloadMalformed {
        /// What is wrong.
        reason: String,
    },
    /// The payload vouches for another manifest.
    #[error("signed payload is for {found}, not for this image {expected}")]
    DigestMismatch {
        /// The image's digest.
        expected: Digest,
        /// The digest in the payload.
        found: Digest,
    },
    /// A required annotation is absent.
    #[error("required annotation {key}={expected} is missing from the signed payload")]
    AnnotationMissing {
        /// The annotation key.
        key: String,
        /// The value required.
        expected: String,
    },
    /// A required annotation has another value.
    #[error("required annotation {key}={expected} has value {found} in the signed payload")]
    AnnotationMismatch {
        /// The annotation key.
        key: String,
        /// The value required.
        expected: String,
        /// The value found (JSON).
        found: String,
    },
}

impl Rejection {
    /// The check that failed ([`Check`]), in the vocabulary bundles and attestations use
    /// too.
    pub fn check(&self) -> Check {
        match self {
            Rejection::NotSimpleSigning { .. }
            | Rejection::MissingSignature
            | Rejection::SignatureEncoding => Check::EnvelopeFormat,
            Rejection::PayloadUnavailable { .. } => Check::PayloadAvailable,
            Rejection::SignatureInvalid { .. } => Check::ArtifactSignature,
            Rejection::PayloadMalformed { .. } => Check::Statement,
            Rejection::DigestMismatch { .. } => Check::ArtifactDigest,
            Rejection::AnnotationMissing { .. } | Rejection::AnnotationMismatch { .. } => {
                Check::Annotations
            }
        }
    }

    /// The [`Refusal`] this rejection reports: its check and its message.
    pub fn refusal(&self) -> Refusal {
        Refusal {
            check: self.check(),
            reason: self.to_string(),
        }
    }
}

/// A signature layer that passed every check.
#[derive(Debug, Clone, Serialize)]
pub struct CosignSignature {
    /// Position of the layer in the signature manifest.
    pub layer: usize,
    /// The parsed payload.
    pub payload: SimpleSigning,
    /// The base64 signature as stored.
    pub signature: String,
    /// Fingerprint of the key it verified with.
    pub key_fingerprint: String,
}

/// A signature layer that failed, with the first check it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSignature {
    /// Position of the layer in the signature manifest.
    pub layer: usize,
    /// Why it does not hold.
    pub reason: Rejection,
}

/// The outcome of checking every signature layer of one image.
pub type CosignVerdict = LayerVerdict<CosignSignature, RejectedSignature>;

/// Checks every layer against `image` and `requirements`. Never fails as a whole: each layer
/// is either verified or rejected with the first check it failed.
pub fn verify_image_signatures(
    image: &Digest,
    layers: &[SignatureLayer],
    requirements: &CosignRequirements,
) -> CosignVerdict {
    LayerVerdict::of(
        image,
        layers,
        |layer| verify_layer(image, layer, requirements),
        |layer, reason| RejectedSignature {
            layer: layer.index,
            reason,
        },
    )
}

fn verify_layer(
    image: &Digest,
    layer: &SignatureLayer,
    requirements: &CosignRequirements,
) -> Result<CosignSignature, Rejection> {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(Rejection::NotSimpleSigning {
            media_type: layer.media_type.clone(),
        });
    }
    let payload = layer
        .payload
        .as_ref()
        .map_err(|e| Rejection::PayloadUnavailable {
            reason: e.to_string(),
        })?;
    let encoded = layer.signature().ok_or(Rejection::MissingSignature)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Rejection::SignatureEncoding)?;
    requirements
        .key
        .verify(payload, &signature)
        .map_err(|_| Rejection::SignatureInvalid {
            key_type: requirements.key.key_type().to_string(),
            fingerprint: requirements.key.fingerprint(),
        })?;
    let parsed = SimpleSigning::from_slice(payload).map_err(|e| Rejection::PayloadMalformed {
        reason: e.to_string(),
    })?;
    if parsed.digest() != image {
        return Err(Rejection::DigestMismatch {
            expected: image.clone(),
            found: parsed.digest().clone(),
        });
    }
    check_annotations(&requirements.annotations, |key| parsed.annotation(key))?;
    Ok(CosignSignature {
        layer: layer.index,
        payload: parsed,
        signature: encoded.to_owned(),
        key_fingerprint: requirements.key.fingerprint(),
    })
}

/// Checks that every `required` annotation is recorded, as a string with exactly the required
/// value, by `recorded` (which looks a key up in the signed payload: a simple-signing
/// document's `optional` section, or the `annotations` of a cosign v3 signature statement's
/// predicate). The first that is not fails with [`Rejection::AnnotationMissing`] or
/// [`Rejection::AnnotationMismatch`] ([`Check::Annotations`]).
pub fn check_annotations<'a>(
    required: &BTreeMap<String, String>,
    recorded: impl Fn(&str) -> Option<&'a serde_json::Value>,
) -> Result<(), Rejection> {
    for (key, expected) in required {
        match recorded(key) {
            None => {
                return Err(Rejection::AnnotationMissing {
                    key: key.clone(),
                    expected: expected.clone(),
                });
            }
            Some(serde_json::Value::String(found)) if found == expected => {}
            Some(found) => {
                return Err(Rejection::AnnotationMismatch {
                    key: key.clone(),
                    expected: expected.clone(),
                    found: found.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_attestations::cosign::SIGNATURE_ANNOTATION;
    use vouch_keys::{KeyType, PrivateKey};

    struct Fixture {
        key: PrivateKey,
        image: Digest,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                key: PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                image: Digest::sha256(b"image manifest"),
            }
        }

        fn payload(&self, digest: &Digest, annotations: &[(&str, &str)]) -> Vec<u8> {
            let annotations = annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            SimpleSigning::new("example.com/app", digest.clone(), &annotations).to_vec()
        }

        fn layer(&self, index: usize, payload: Vec<u8>, signer: &PrivateKey) -> SignatureLayer {
            let signature =
                base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload).unwrap());
            SignatureLayer {
                index,
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
                digest: Digest::sha256(&payload),
                annotations: [(SIGNATURE_ANNOTATION.to_owned(), signature)].into(),
                payload: Ok(payload),
            }
        }

        fn requirements(&self, annotations: &[(&str, &str)]) -> CosignRequirements {
            CosignRequirements {
                key: self.key.public_key().clone(),
                annotations: annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }
        }

        fn reason(&self, layer: SignatureLayer, annotations: &[(&str, &str)]) -> Rejection {
            let verdict =
                verify_image_signatures(&self.image, &[layer], &self.requirements(annotations));
            assert!(!verdict.is_verified());
            verdict.rejected[0].reason.clone()
        }
    }

    #[test]
    fn a_good_signature_verifies() {
        let f = Fixture::new();
        let layer = f.layer(0, f.payload(&f.image, &[("env", "prod")]), &f.key);
        let verdict =
            verify_image_signatures(&f.image, &[layer], &f.requirements(&[("env", "prod")]));
        assert!(verdict.is_verified());
        assert_eq!(verdict.verified[0].payload.digest(), &f.image);
    }

    #[test]
    fn wrong_key_is_signature_invalid() {
        let f = Fixture::new();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let reason = f.reason(f.layer(0, f.payload(&f.image, &[]), &other), &[]);
        assert_eq!(reason.check(), Check::ArtifactSignature);
    }

    #[test]
    fn signature_for_another_digest_is_digest_mismatch() {
        let f = Fixture::new();
        let other_image = Digest::sha256(b"another image");
        let reason = f.reason(f.layer(0, f.payload(&other_image, &[]), &f.key), &[]);
        assert_eq!(
            reason,
            Rejection::DigestMismatch {
                expected: f.image.clone(),
                found: other_image
            }
        );
    }

    #[test]
    fn corrupted_base64_is_signature_encoding() {
        let f = Fixture::new();
        let mut layer = f.layer(0, f.payload(&f.image, &[]), &f.key);
        layer
            .annotations
            .insert(SIGNATURE_ANNOTATION.into(), "!!not base64!!".into());
        assert_eq!(f.reason(layer, &[]), Rejection::SignatureEncoding);
    }

    #[test]
    fn annotations_must_match_exactly() {
        let f = Fixture::new();
        let layer = || f.layer(0, f.payload(&f.image, &[("env", "dev")]), &f.key);
        let missing = f.reason(layer(), &[("team", "x")]);
        assert!(matches!(missing, Rejection::AnnotationMissing { .. }));
        let mismatch = f.reason(layer(), &[("env", "prod")]);
        assert!(matches!(mismatch, Rejection::AnnotationMismatch { .. }));
        assert_eq!(
            (missing.check(), mismatch.check()),
            (Check::Annotations, Check::Annotations)
        );
    }

    #[test]
    fn tampered_payload_is_signature_invalid_not_a_digest_claim() {
        let f = Fixture::new();
        let mut layer = f.layer(0, f.payload(&f.image, &[]), &f.key);
        let forged = f.payload(&f.image, &[("env", "prod")]);
        layer.payload = Ok(forged);
        assert_eq!(f.reason(layer, &[]).check(), Check::ArtifactSignature);
    }

    #[test]
    fn layer_problems_are_named() {
        let f = Fixture::new();
        let mut layer = f.layer(0, f.payload(&f.image, &[]), &f.key);
        layer.annotations.clear();
        assert_eq!(f.reason(layer, &[]), Rejection::MissingSignature);

        let mut layer = f.layer(0, f.payload(&f.image, &[]), &f.key);
        layer.media_type = "text/plain".into();
        assert_eq!(f.reason(layer, &[]).check(), Check::EnvelopeFormat);

        let mut layer = f.layer(0, f.payload(&f.image, &[]), &f.key);
        layer.payload = Err("blob not found".into());
        assert_eq!(f.reason(layer, &[]).check(), Check::PayloadAvailable);

        let junk = b"{\"not\":\"simple signing\"}".to_vec();
        let layer = f.layer(0, junk, &f.key);
        assert_eq!(f.reason(layer, &[]).check(), Check::Statement);
    }

    #[test]
    fn verdict_table_none_one_all() {
        let f = Fixture::new();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let good = |i| f.layer(i, f.payload(&f.image, &[]), &f.key);
        let bad = |i| f.layer(i, f.payload(&f.image, &[]), &other);
        let req = f.requirements(&[]);
        let cases: [(Vec<SignatureLayer>, bool, usize); 4] = [
            (vec![], false, 0),
            (vec![bad(0)], false, 1),
            (vec![bad(0), good(1)], true, 1),
            (vec![good(0), good(1)], true, 0),
        ];
        for (layers, verified, rejected) in cases {
            let verdict = verify_image_signatures(&f.image, &layers, &req);
            assert_eq!(verdict.is_verified(), verified);
            assert_eq!(verdict.rejected.len(), rejected);
            assert_eq!(
                verdict.verified.len() + verdict.rejected.len(),
                layers.len()
            );
        }
    }
}
