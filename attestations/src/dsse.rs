//! DSSE v1, the Dead Simple Signing Envelope: the signature wrapper of cosign attestations,
//! in-toto attestations and Sigstore bundles.
//!
//! Spec: github.com/secure-systems-lab/dsse, `protocol.md` (v1.0.0) and `envelope.md` (v1.0.0).
//! A signature covers the pre-authentication encoding of the payload and its type
//! ([`pae`]), never the base64 text, so the type cannot be swapped and the JSON around the
//! payload carries no signed meaning:
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//!
//! The JSON envelope, as cosign writes it (go-securesystemslib's `dsse.Envelope`: this field
//! order, `keyid` always present, standard base64 with padding):
//!
//! ```json
//! {"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6…","signatures":[{"keyid":"","sig":"MEUCIQ…"}]}
//! ```
//!
//! Reading follows `envelope.md`'s parsing rules: `payload`, `payloadType`, `signatures` and
//! each `sig` are required (they may be empty), `keyid` is optional (absent, `null` and `""`
//! mean the same), unknown fields are ignored. On top of that vouch refuses any repeated key,
//! and accepts base64 in the standard or URL-safe alphabet (the spec requires verifiers to take
//! both) with canonical padding only.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use vouch_keys::{PublicKey, Signer};

use crate::AttestationError;
use crate::strict_json::{self, Object, UniqueKeys};

/// The media type of a DSSE envelope as a stored document (an OCI layer or artifact).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The `payloadType` of an envelope whose payload is an in-toto Statement
/// ([`crate::intoto::Statement`]), as cosign and the in-toto attestation spec write it.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const FORMAT: &str = "DSSE envelope";

/// Most signatures read from one envelope. Each is checked over the whole PAE, so an envelope
/// of 20,000 signatures over a 4 MiB payload would cost hours; cosign and sigstore-go write
/// one, multi-signer envelopes a handful. An envelope with more is refused before any is
/// decoded.
pub const MAX_SIGNATURES: usize = 16;

/// The pre-authentication encoding DSSE v1 signs: `"DSSEv1" SP LEN(type) SP type SP LEN(body)
/// SP body`, lengths as ASCII decimal byte counts without leading zeros, the type as UTF-8.
/// Two different (type, body) pairs never give the same bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        10 + type_len.len() + payload_type.len() + body_len.len() + payload.len(),
    );
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope: a payload, its type, and signatures over their [`pae`].
///
/// Holding an `Envelope` says nothing about its signatures: only [`Envelope::verify`] does.
/// The fields are the decoded values (bytes, not base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The serialized body that was signed (`payload`, base64-decoded).
    pub payload: Vec<u8>,
    /// How to interpret the payload (`payloadType`), e.g. [`IN_TOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The signatures, in envelope order.
    pub signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// An unauthenticated hint naming the signing key; empty when unset. The spec forbids
    /// security decisions on it, and [`Envelope::verify`] ignores it.
    pub keyid: String,
    /// The signature bytes (`sig`, base64-decoded), in the signing key's native scheme: ASN.1
    /// DER for ECDSA, 64 bytes for Ed25519, PKCS#1 v1.5 for RSA.
    pub sig: Vec<u8>,
}

impl Envelope {
    /// An envelope for `payload` of type `payload_type` with one signature by `key` over the
    /// [`pae`], in the key type's one scheme ([`vouch_keys::KeyType::scheme`]). `keyid` may be
    /// empty (cosign leaves it empty).
    pub fn sign(
        payload_type: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        key: &dyn Signer,
        keyid: impl Into<String>,
    ) -> Result<Self, AttestationError> {
        let mut envelope = Self {
            payload: payload.into(),
            payload_type: payload_type.into(),
            signatures: Vec::new(),
        };
        envelope.add_signature(key, keyid)?;
        Ok(envelope)
    }

    /// Appends a signature by `key` over this envelope's [`pae`] (for multi-signature
    /// envelopes). Existing signatures are kept as they are.
    pub fn add_signature(
        &mut self,
        key: &dyn Signer,
        keyid: impl Into<String>,
    ) -> Result<(), AttestationError> {
        let sig = key
            .sign(&self.pae())
            .map_err(|e| AttestationError::Signing {
                reason: e.to_string(),
            })?;
        self.signatures.push(Signature {
            keyid: keyid.into(),
            sig,
        });
        Ok(())
    }

    /// The bytes every signature of this envelope must cover: [`pae`] of its payload type and
    /// payload.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Checks the signatures against `key`: `Ok(i)` names the first signature (index into
    /// [`Envelope::signatures`]) that verifies over the [`pae`] with the key type's one scheme.
    /// Signatures that do not verify are skipped, as the spec requires; `keyid`s are ignored.
    /// Fails with [`AttestationError::NoSignatures`] on an empty list and
    /// [`AttestationError::NoValidSignature`] when none verifies. The payload type is not
    /// judged here: the reader of the payload does that (e.g.
    /// [`crate::intoto::Statement::from_envelope`]).
    pub fn verify(&self, key: &PublicKey) -> Result<usize, AttestationError> {
        if self.signatures.is_empty() {
            return Err(AttestationError::NoSignatures);
        }
        let message = self.pae();
        self.signatures
            .iter()
            .position(|signature| key.verify(&message, &signature.sig).is_ok())
            .ok_or(AttestationError::NoValidSignature {
                signatures: self.signatures.len(),
                key_type: key.key_type(),
            })
    }

    /// Reads a JSON envelope. Refuses: invalid JSON, a repeated key in any object, a missing
    /// `payload`, `payloadType`, `signatures` or `sig`, a field of the wrong JSON type, and
    /// base64 that is neither standard nor URL-safe with canonical padding. Accepts an empty
    /// `signatures` list (which then fails [`Envelope::verify`]) and ignores unknown fields.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AttestationError> {
        strict_json::parse(bytes)
            .and_then(|value| Self::from_value(&value))
            .map_err(|reason| AttestationError::Malformed {
                format: FORMAT,
                reason,
            })
    }

    /// The envelope as cosign serializes it: compact JSON, fields `payloadType`, `payload`,
    /// `signatures` in that order, each signature `{"keyid":…,"sig":…}` with `keyid` written
    /// even when empty, standard base64 with padding.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing strings and lists of strings into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        let envelope = Object::new(value, "")?;
        let payload = decode_base64(envelope.required_string("payload")?, "payload")?;
        let payload_type = envelope.required_string("payloadType")?.to_owned();
        let signatures = envelope.required_array("signatures")?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(format!(
                "signatures has {} entries; at most {MAX_SIGNATURES} are read",
                signatures.len()
            ));
        }
        let signatures = signatures
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let path = format!("signatures[{index}]");
                let signature = Object::new(value, path.as_str())?;
                Ok(Signature {
                    keyid: signature.string("keyid")?.unwrap_or_default().to_owned(),
                    sig: decode_base64(
                        signature.required_string("sig")?,
                        &signature.path_of("sig"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            payload,
            payload_type,
            signatures,
        })
    }
}

/// Decodes standard base64, else URL-safe base64; both with canonical padding.
fn decode_base64(text: &str, path: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .map_err(|e| format!("{path} is not base64 (standard or URL-safe alphabet, padded): {e}"))
}

impl Serialize for Envelope {
    /// Writes the cosign form described at [`Envelope::to_vec`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut envelope = serializer.serialize_struct("Envelope", 3)?;
        envelope.serialize_field("payloadType", &self.payload_type)?;
        envelope.serialize_field("payload", &STANDARD.encode(&self.payload))?;
        envelope.serialize_field("signatures", &self.signatures)?;
        envelope.end()
    }
}

impl Serialize for Signature {
    /// Writes `{"keyid":…,"sig":…}`, `keyid` even when empty, `sig` in standard base64.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut signature = serializer.serialize_struct("Signature", 2)?;
        signature.serialize_field("keyid", &self.keyid)?;
        signature.serialize_field("sig", &STANDARD.encode(&self.sig))?;
        signature.end()
    }
}

impl<'de> Deserialize<'de> for Envelope {
    /// Reads with the rules of [`Envelope::from_slice`], repeated keys included, so an
    /// envelope embedded in a larger document is held to the same standard.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let UniqueKeys(value) = UniqueKeys::deserialize(deserializer)?;
        Self::from_value(&value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_keys::PrivateKey;

    /// An envelope of `count` signatures over `payload`: garbage ones, then `key`'s last.
    fn flooded(payload: &[u8], count: usize, key: &PrivateKey) -> Vec<u8> {
        let mut envelope =
            Envelope::sign(IN_TOTO_PAYLOAD_TYPE, payload.to_vec(), key, "").expect("signing works");
        let good = envelope.signatures.remove(0);
        envelope.signatures = (1..count)
            .map(|i| Signature {
                keyid: String::new(),
                sig: vec![u8::try_from(i % 251).unwrap_or(0); 70],
            })
            .collect();
        envelope.signatures.push(good);
        envelope.to_vec()
    }

    // The attack: 20,000 signatures in one envelope, each checked over the whole PAE (28 s
    // for one 4 MiB layer before the cap).
    #[test]
    fn dsse_signature_flood_is_refused_before_any_check() {
        let key = PrivateKey::generate(vouch_keys::KeyType::EcdsaP256).expect("key");
        let payload = vec![b'x'; 4 * 1024 * 1024];
        let error = Envelope::from_slice(&flooded(&payload, 20_000, &key))
            .expect_err("a flood of signatures is refused");
        assert!(
            error.to_string().contains("20000 entries; at most 16"),
            "{error}"
        );
    }

    #[test]
    fn up_to_the_cap_the_first_signature_that_verifies_is_found() {
        let key = PrivateKey::generate(vouch_keys::KeyType::EcdsaP256).expect("key");
        let envelope = Envelope::from_slice(&flooded(b"{}", MAX_SIGNATURES, &key))
            .expect("at the cap is read");
        assert_eq!(
            envelope.verify(key.public_key()).ok(),
            Some(MAX_SIGNATURES - 1)
        );
        let over = Envelope::from_slice(&flooded(b"{}", MAX_SIGNATURES + 1, &key));
        assert!(over.is_err());
    }

    #[test]
    fn pae_matches_the_spec_grammar() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        // Lengths are byte counts, not character counts.
        assert_eq!(pae("\u{0ca0}", b"x"), "DSSEv1 3 \u{0ca0} 1 x".as_bytes());
    }

    #[test]
    fn keyid_absent_null_and_empty_read_the_same() {
        let sig = STANDARD.encode(b"s");
        for signature in [
            format!(r#"{{"sig":"{sig}"}}"#),
            format!(r#"{{"keyid":null,"sig":"{sig}"}}"#),
            format!(r#"{{"keyid":"","sig":"{sig}"}}"#),
        ] {
            let text = format!(r#"{{"payload":"","payloadType":"t","signatures":[{signature}]}}"#);
            let envelope = Envelope::from_slice(text.as_bytes()).unwrap();
            assert_eq!(envelope.signatures[0].keyid, "");
            assert_eq!(envelope.signatures[0].sig, b"s");
        }
    }

    #[test]
    fn refuses_missing_mistyped_repeated_and_array_shaped_fields() {
        for (text, reason) in [
            (
                r#"{"payloadType":"t","signatures":[]}"#,
                "missing field payload",
            ),
            (
                r#"{"payload":"","signatures":[]}"#,
                "missing field payloadType",
            ),
            (
                r#"{"payload":"","payloadType":"t"}"#,
                "missing field signatures",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[{"keyid":""}]}"#,
                "missing field signatures[0].sig",
            ),
            (
                r#"{"payload":null,"payloadType":"t","signatures":[]}"#,
                "payload is null",
            ),
            (
                r#"{"payload":"","payloadType":7,"signatures":[]}"#,
                "payloadType is a number, expected a string",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":{}}"#,
                "signatures is an object, expected an array",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[["","c2ln"]]}"#,
                "signatures[0] is an array, expected an object",
            ),
            (r#"["", "t", []]"#, "the document is an array"),
            (
                r#"{"payload":"","payloadType":"t","payloadType":"u","signatures":[]}"#,
                "duplicate key \"payloadType\"",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[{"sig":"","sig":""}]}"#,
                "duplicate key \"sig\"",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[],"x":{"a":1,"\u0061":2}}"#,
                "duplicate key \"a\"",
            ),
            (
                r#"{"payload":"aGVsbG8","payloadType":"t","signatures":[]}"#,
                "payload is not base64",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[{"sig":"a+b_"}]}"#,
                "signatures[0].sig is not base64",
            ),
            (
                r#"{"payload":"","payloadType":"t","signatures":[]} x"#,
                "trailing",
            ),
        ] {
            let error = Envelope::from_slice(text.as_bytes()).unwrap_err();
            let AttestationError::Malformed {
                format,
                reason: got,
            } = &error
            else {
                panic!("{text}: {error:?}");
            };
            assert_eq!(*format, FORMAT);
            assert!(got.contains(reason), "{text}: {got}");
        }
    }

    #[test]
    fn reads_both_base64_alphabets_and_ignores_unknown_fields() {
        let bytes: Vec<u8> = (0..=255).collect();
        for encoded in [STANDARD.encode(&bytes), URL_SAFE.encode(&bytes)] {
            let text = format!(
                r#"{{"payload":"{encoded}","payloadType":"t","signatures":[{{"sig":"{encoded}","extra":1}}],"future":{{"x":[1]}}}}"#
            );
            let envelope = Envelope::from_slice(text.as_bytes()).unwrap();
            assert_eq!(envelope.payload, bytes);
            assert_eq!(envelope.signatures[0].sig, bytes);
        }
        // The unpadded forms are refused, as go-securesystemslib refuses them.
        for encoded in [
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        ] {
            let text = format!(r#"{{"payload":"{encoded}","payloadType":"t","signatures":[]}}"#);
            assert!(Envelope::from_slice(text.as_bytes()).is_err());
        }
    }

    #[test]
    fn serde_deserialize_is_as_strict_as_from_slice() {
        let text = r#"{"payload":"","payloadType":"t","payloadType":"t","signatures":[]}"#;
        assert!(serde_json::from_str::<Envelope>(text).is_err());
        let text = r#"{"payload":"","payloadType":"t","signatures":[]}"#;
        assert_eq!(
            serde_json::from_str::<Envelope>(text).unwrap(),
            Envelope::from_slice(text.as_bytes()).unwrap()
        );
    }

    #[test]
    fn an_empty_signature_list_parses_but_does_not_verify() {
        let text = br#"{"payload":"","payloadType":"t","signatures":[]}"#;
        let envelope = Envelope::from_slice(text).unwrap();
        let key = PrivateKey::generate(vouch_keys::KeyType::Ed25519).unwrap();
        assert_eq!(
            envelope.verify(key.public_key()),
            Err(AttestationError::NoSignatures)
        );
    }
}
