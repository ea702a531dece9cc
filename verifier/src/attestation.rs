//! Verification of cosign key-based attestations in the tag layout (`sha256-<hex>.att`, cosign
//! `attest`): each layer a DSSE envelope holding an in-toto statement about the image.
//!
//! An attestation layer holds for an image when, in this order:
//! 1. the layer is a DSSE envelope layer and its payload could be fetched intact;
//! 2. the envelope parses (strict DSSE JSON: no repeated keys, valid base64);
//! 3. one of its signatures verifies over the pre-authentication encoding of its payload
//!    type and payload with the trusted key (so an altered payload or payload type fails
//!    here);
//! 4. the payload type is `application/vnd.in-toto+json`;
//! 5. the payload is an in-toto Statement v1 or v0.1 (strictly read, at most 16 MiB);
//! 6. one of its subjects has the image's digest (a valid attestation of another image,
//!    copied under this image's tag, fails here);
//! 7. its predicate type is the one the caller asks for, if any.
//!
//! The first check that fails is the layer's [`Rejection`]. Conditions on the content of the
//! statement (a Rego policy, [`crate::rego`]) are the caller's next step, on
//! [`VerifiedAttestation::statement_json`].

use crate::check::{Check, Refusal};
use serde::Serialize;
use vouch_attestations::AttestationError;
use vouch_attestations::cosign::{DSSE_LAYER_MEDIA_TYPE, SignatureLayer};
use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::Statement;
use vouch_keys::{Digest, PublicKey};

use crate::LayerVerdict;

/// What an attestation must satisfy besides being about the image.
#[derive(Debug, Clone)]
pub struct AttestationRequirements {
    /// The key one of the envelope's signatures must verify with.
    pub key: PublicKey,
    /// The predicate type required (a full URI), or any.
    pub predicate_type: Option<String>,
}

/// Why one attestation layer does not hold. Each variant is one check of the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The layer is not a DSSE envelope layer.
    #[error("layer media type is {media_type}, not a DSSE envelope")]
    NotDsse {
        /// The media type found.
        media_type: String,
    },
    /// The payload blob could not be had intact.
    #[error("envelope unavailable: {reason}")]
    PayloadUnavailable {
        /// Missing, too large, or wrong digest.
        reason: String,
    },
    /// The envelope is not valid DSSE JSON.
    #[error("envelope is malformed: {reason}")]
    EnvelopeMalformed {
        /// What is wrong.
        reason: String,
    },
    /// No signature of the envelope verifies with the key.
    #[error("no signature of the envelope verifies with the {key_type} key {fingerprint}")]
    SignatureInvalid {
        /// The key's type.
        key_type: String,
        /// SHA-256 of the key's SubjectPublicKeyInfo.
        fingerprint: String,
    },
    /// The (validly signed) envelope does not carry an in-toto statement.
    #[error("envelope payloadType is \"{found}\", not {IN_TOTO_PAYLOAD_TYPE}")]
    PayloadType {
        /// The payload type found (truncated).
        found: String,
    },
    /// The (validly signed) payload is not a valid in-toto statement.
    #[error("signed statement is malformed: {reason}")]
    StatementMalformed {
        /// What is wrong.
        reason: String,
    },
    /// The statement is about other artifacts.
    #[error("statement is about {}, not this image {expected}", .found.join(", "))]
    SubjectMismatch {
        /// The image's digest.
        expected: Digest,
        /// The subjects' digests (`alg:value`).
        found: Vec<String>,
    },
    /// The statement has another predicate type than the one asked for.
    #[error("predicate type is {found}, not {expected}")]
    PredicateTypeMismatch {
        /// The predicate type asked for.
        expected: String,
        /// The statement's predicate type.
        found: String,
    },
}

impl Rejection {
    /// The check that failed ([`Check`]), in the vocabulary bundles and cosign signatures
    /// use too.
    pub fn check(&self) -> Check {
        match self {
            Rejection::NotDsse { .. } | Rejection::EnvelopeMalformed { .. } => {
                Check::EnvelopeFormat
            }
            Rejection::PayloadUnavailable { .. } => Check::PayloadAvailable,
            Rejection::SignatureInvalid { .. } => Check::ArtifactSignature,
            Rejection::PayloadType { .. } | Rejection::StatementMalformed { .. } => {
                Check::Statement
            }
            Rejection::SubjectMismatch { .. } => Check::ArtifactDigest,
            Rejection::PredicateTypeMismatch { .. } => Check::PredicateType,
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

/// An attestation layer that passed every check.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedAttestation {
    /// Position of the layer in the attestation manifest.
    pub layer: usize,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// The statement, as JSON (the `input` of a Rego policy).
    pub statement_json: serde_json::Value,
    /// Fingerprint of the key it verified with.
    pub key_fingerprint: String,
}

/// An attestation layer that failed, with the first check it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedAttestation {
    /// Position of the layer in the attestation manifest.
    pub layer: usize,
    /// The predicate type the layer is annotated with, if any (unverified: for reports).
    pub annotated_type: Option<String>,
    /// Why it does not hold.
    pub reason: Rejection,
}

/// The outcome of checking every attestation layer of one image.
pub type AttestationVerdict = LayerVerdict<VerifiedAttestation, RejectedAttestation>;

/// Checks every layer against `image` and `requirements`. Never fails as a whole: each layer
/// is either verified or rejected with the first check it failed.
pub fn verify_image_attestations(
    image: &Digest,
    layers: &[SignatureLayer],
    requirements: &AttestationRequirements,
) -> AttestationVerdict {
    LayerVerdict::of(
        image,
        layers,
        |layer| verify_layer(image, layer, requirements),
        |layer, reason| RejectedAttestation {
            layer: layer.index,
            annotated_type: layer.predicate_type().map(str::to_owned),
            reason,
        },
    )
}

/// Checks one DSSE envelope (from any store) against `image` and `requirements`: steps 2 to 7
/// of the module docs. `layer` is the position reported.
pub fn verify_envelope(
    image: &Digest,
    layer: usize,
    envelope: &[u8],
    requirements: &AttestationRequirements,
) -> Result<VerifiedAttestation, Rejection> {
    let envelope = Envelope::from_slice(envelope).map_err(|e| Rejection::EnvelopeMalformed {
        reason: e.to_string(),
    })?;
    envelope.verify(&requirements.key).map_err(|e| match e {
        AttestationError::NoSignatures => Rejection::EnvelopeMalformed {
            reason: e.to_string(),
        },
        _ => Rejection::SignatureInvalid {
            key_type: requirements.key.key_type().to_string(),
            fingerprint: requirements.key.fingerprint(),
        },
    })?;
    let statement = Statement::from_envelope(&envelope).map_err(|e| match e {
        AttestationError::PayloadType { found, .. } => Rejection::PayloadType { found },
        other => Rejection::StatementMalformed {
            reason: other.to_string(),
        },
    })?;
    if !statement.matches_digest(image) {
        return Err(Rejection::SubjectMismatch {
            expected: image.clone(),
            found: statement
                .subjects()
                .iter()
                .flat_map(|s| {
                    s.digest()
                        .iter()
                        .map(|(alg, value)| format!("{alg}:{value}"))
                })
                .collect(),
        });
    }
    if let Some(expected) = &requirements.predicate_type
        && statement.predicate_type() != expected
    {
        return Err(Rejection::PredicateTypeMismatch {
            expected: expected.clone(),
            found: statement.predicate_type().to_owned(),
        });
    }
    Ok(VerifiedAttestation {
        layer,
        predicate_type: statement.predicate_type().to_owned(),
        statement_json: serde_json::to_value(&statement).unwrap_or_default(),
        key_fingerprint: requirements.key.fingerprint(),
    })
}

fn verify_layer(
    image: &Digest,
    layer: &SignatureLayer,
    requirements: &AttestationRequirements,
) -> Result<VerifiedAttestation, Rejection> {
    if layer.media_type != DSSE_LAYER_MEDIA_TYPE {
        return Err(Rejection::NotDsse {
            media_type: layer.media_type.clone(),
        });
    }
    let payload = layer
        .payload
        .as_ref()
        .map_err(|e| Rejection::PayloadUnavailable {
            reason: e.to_string(),
        })?;
    verify_envelope(image, layer.index, payload, requirements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_attestations::intoto::ResourceDescriptor;
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

        fn statement(&self, digest: &Digest, predicate_type: &str) -> Vec<u8> {
            Statement::new(
                vec![ResourceDescriptor::for_digest("example.com/app", digest)],
                predicate_type,
                Some(serde_json::json!({"passed": true})),
            )
            .unwrap()
            .to_vec()
        }

        fn envelope(&self, payload_type: &str, payload: Vec<u8>, signer: &PrivateKey) -> Vec<u8> {
            Envelope::sign(payload_type, payload, signer, "")
                .unwrap()
                .to_vec()
        }

        fn layer(&self, envelope: Vec<u8>) -> SignatureLayer {
            SignatureLayer {
                index: 0,
                media_type: DSSE_LAYER_MEDIA_TYPE.into(),
                digest: Digest::sha256(&envelope),
                annotations: Default::default(),
                payload: Ok(envelope),
            }
        }

        fn requirements(&self, predicate_type: Option<&str>) -> AttestationRequirements {
            AttestationRequirements {
                key: self.key.public_key().clone(),
                predicate_type: predicate_type.map(str::to_owned),
            }
        }

        fn good(&self) -> Vec<u8> {
            self.envelope(
                IN_TOTO_PAYLOAD_TYPE,
                self.statement(&self.image, "https://example.com/TestResult/v1"),
                &self.key,
            )
        }

        fn reason(&self, envelope: Vec<u8>, predicate_type: Option<&str>) -> Rejection {
            let verdict = verify_image_attestations(
                &self.image,
                &[self.layer(envelope)],
                &self.requirements(predicate_type),
            );
            assert!(!verdict.is_verified());
            verdict.rejected[0].reason.clone()
        }
    }

    /// Rewrites one field of a serialized envelope.
    fn edit(envelope: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut value: serde_json::Value = serde_json::from_slice(envelope).unwrap();
        f(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn a_good_attestation_verifies_and_gives_its_statement() {
        let f = Fixture::new();
        let verdict = verify_image_attestations(
            &f.image,
            &[f.layer(f.good())],
            &f.requirements(Some("https://example.com/TestResult/v1")),
        );
        assert!(verdict.is_verified());
        let attestation = &verdict.verified[0];
        assert_eq!(attestation.statement_json["predicate"]["passed"], true);
        assert_eq!(
            attestation.predicate_type,
            "https://example.com/TestResult/v1"
        );
    }

    #[test]
    fn each_failure_is_named_by_its_check() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let f = Fixture::new();
        let other_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let other_image = Digest::sha256(b"another image");

        let by_other_key = f.envelope(
            IN_TOTO_PAYLOAD_TYPE,
            f.statement(&f.image, "https://example.com/TestResult/v1"),
            &other_key,
        );
        let about_other_image = f.envelope(
            IN_TOTO_PAYLOAD_TYPE,
            f.statement(&other_image, "https://example.com/TestResult/v1"),
            &f.key,
        );
        let altered_payload = edit(&f.good(), |v| {
            v["payload"] = b64
                .encode(f.statement(&other_image, "https://example.com/TestResult/v1"))
                .into();
        });
        let altered_type = edit(&f.good(), |v| {
            v["payloadType"] = "application/json".into();
        });
        let signed_other_type = f.envelope(
            "application/json",
            f.statement(&f.image, "https://example.com/TestResult/v1"),
            &f.key,
        );
        let not_a_statement = f.envelope(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}".to_vec(), &f.key);
        let duplicate_keys = f.envelope(
            IN_TOTO_PAYLOAD_TYPE,
            String::from_utf8(f.statement(&f.image, "https://example.com/TestResult/v1"))
                .unwrap()
                .replacen('{', "{\"predicateType\":\"https://example.com/other\",", 1)
                .into_bytes(),
            &f.key,
        );

        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (by_other_key, None, "artifact-signature"),
            (about_other_image, None, "artifact-digest"),
            (altered_payload, None, "artifact-signature"),
            (altered_type, None, "artifact-signature"),
            (signed_other_type, None, "statement"),
            (not_a_statement, None, "statement"),
            (duplicate_keys, None, "statement"),
            (
                f.good(),
                Some("https://slsa.dev/provenance/v1"),
                "predicate-type",
            ),
            (b"not json".to_vec(), None, "envelope-format"),
        ];
        for (envelope, predicate_type, code) in cases {
            assert_eq!(f.reason(envelope, predicate_type).check().name(), code);
        }
    }

    #[test]
    fn layer_problems_are_named() {
        let f = Fixture::new();
        let mut layer = f.layer(f.good());
        layer.media_type = "application/vnd.dev.cosign.simplesigning.v1+json".into();
        let verdict = verify_image_attestations(&f.image, &[layer], &f.requirements(None));
        assert_eq!(verdict.rejected[0].reason.check(), Check::EnvelopeFormat);

        let mut layer = f.layer(f.good());
        layer.payload = Err("blob not found".into());
        let verdict = verify_image_attestations(&f.image, &[layer], &f.requirements(None));
        assert_eq!(verdict.rejected[0].reason.check(), Check::PayloadAvailable);
    }
}
