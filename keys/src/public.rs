//! Public keys: reading SubjectPublicKeyInfo, verifying signatures.

use std::fmt;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};

use crate::der::{self, AlgorithmIdentifier, Reader, oids};
use crate::digest::{Digest, DigestAlgorithm};
use crate::encrypted::pem_encode;
use crate::private::integer_bits;
use crate::{
    COSIGN_PRIVATE_KEY_LABEL, KeyError, KeyType, PUBLIC_KEY_LABEL, RSA_BITS,
    SIGSTORE_PRIVATE_KEY_LABEL, ec_key_type, malformed,
};

/// A public key with the one signature scheme its type allows.
#[derive(Clone)]
pub struct PublicKey {
    key_type: KeyType,
    spki: Vec<u8>,
    parsed: std::sync::Arc<ParsedPublicKey>,
}

impl PartialEq for PublicKey {
    /// Keys are equal when their SubjectPublicKeyInfo encodings are.
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_type", &self.key_type)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

fn verification_algorithm(key_type: KeyType) -> &'static dyn VerificationAlgorithm {
    match key_type {
        KeyType::EcdsaP256 => &sig::ECDSA_P256_SHA256_ASN1,
        KeyType::EcdsaP384 => &sig::ECDSA_P384_SHA384_ASN1,
        KeyType::EcdsaP521 => &sig::ECDSA_P521_SHA512_ASN1,
        KeyType::Ed25519 => &sig::ED25519,
        KeyType::Rsa { .. } => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// A signature scheme named apart from the key, as X.509 and CMS signature algorithm
/// identifiers name it: the caller says which hash the signer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ECDSA with an ASN.1 DER `(r, s)` signature over the given hash, on the key's curve.
    Ecdsa(DigestAlgorithm),
    /// RSASSA-PKCS1-v1_5 over the given hash.
    RsaPkcs1(DigestAlgorithm),
    /// RSASSA-PSS over the given hash, MGF1 with the same hash, salt as long as the hash.
    RsaPss(DigestAlgorithm),
    /// Ed25519, pure (the message itself is signed).
    Ed25519,
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureScheme::Ecdsa(hash) => write!(f, "ECDSA with {}", hash.name()),
            SignatureScheme::RsaPkcs1(hash) => write!(f, "RSA PKCS#1 v1.5 with {}", hash.name()),
            SignatureScheme::RsaPss(hash) => write!(f, "RSA-PSS with {}", hash.name()),
            SignatureScheme::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// The scheme [`verification_algorithm`] gives a key type (what [`PublicKey::verify`] uses).
fn native_scheme(key_type: KeyType) -> SignatureScheme {
    match key_type {
        KeyType::EcdsaP256 => SignatureScheme::Ecdsa(DigestAlgorithm::Sha256),
        KeyType::EcdsaP384 => SignatureScheme::Ecdsa(DigestAlgorithm::Sha384),
        KeyType::EcdsaP521 => SignatureScheme::Ecdsa(DigestAlgorithm::Sha512),
        KeyType::Ed25519 => SignatureScheme::Ed25519,
        KeyType::Rsa { .. } => SignatureScheme::RsaPkcs1(DigestAlgorithm::Sha256),
    }
}

fn scheme_algorithm(
    key_type: KeyType,
    scheme: SignatureScheme,
) -> Option<&'static dyn VerificationAlgorithm> {
    use DigestAlgorithm::{Sha256, Sha384, Sha512};
    Some(match (key_type, scheme) {
        (KeyType::EcdsaP256, SignatureScheme::Ecdsa(Sha256)) => &sig::ECDSA_P256_SHA256_ASN1,
        (KeyType::EcdsaP256, SignatureScheme::Ecdsa(Sha384)) => &sig::ECDSA_P256_SHA384_ASN1,
        (KeyType::EcdsaP256, SignatureScheme::Ecdsa(Sha512)) => &sig::ECDSA_P256_SHA512_ASN1,
        (KeyType::EcdsaP384, SignatureScheme::Ecdsa(Sha256)) => &sig::ECDSA_P384_SHA256_ASN1,
        (KeyType::EcdsaP384, SignatureScheme::Ecdsa(Sha384)) => &sig::ECDSA_P384_SHA384_ASN1,
        (KeyType::EcdsaP384, SignatureScheme::Ecdsa(Sha512)) => &sig::ECDSA_P384_SHA512_ASN1,
        (KeyType::EcdsaP521, SignatureScheme::Ecdsa(Sha256)) => &sig::ECDSA_P521_SHA256_ASN1,
        (KeyType::EcdsaP521, SignatureScheme::Ecdsa(Sha384)) => &sig::ECDSA_P521_SHA384_ASN1,
        (KeyType::EcdsaP521, SignatureScheme::Ecdsa(Sha512)) => &sig::ECDSA_P521_SHA512_ASN1,
        (KeyType::Rsa { .. }, SignatureScheme::RsaPkcs1(Sha256)) => {
            &sig::RSA_PKCS1_2048_8192_SHA256
        }
        (KeyType::Rsa { .. }, SignatureScheme::RsaPkcs1(Sha384)) => {
            &sig::RSA_PKCS1_2048_8192_SHA384
        }
        (KeyType::Rsa { .. }, SignatureScheme::RsaPkcs1(Sha512)) => {
            &sig::RSA_PKCS1_2048_8192_SHA512
        }
        (KeyType::Rsa { .. }, SignatureScheme::RsaPss(Sha256)) => &sig::RSA_PSS_2048_8192_SHA256,
        (KeyType::Rsa { .. }, SignatureScheme::RsaPss(Sha384)) => &sig::RSA_PSS_2048_8192_SHA384,
        (KeyType::Rsa { .. }, SignatureScheme::RsaPss(Sha512)) => &sig::RSA_PSS_2048_8192_SHA512,
        (KeyType::Ed25519, SignatureScheme::Ed25519) => &sig::ED25519,
        _ => return None,
    })
}

impl PublicKey {
    /// Reads a PKCS#1 `RSAPublicKey` DER structure (RFC 8017 appendix A.1.1), as Sigstore
    /// trusted roots carry some CT log keys.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = rsa_spki(der);
        Self::from_spki_der(&spki)
    }

    /// Reads the first PEM block of `text`: `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280) or
    /// `RSA PUBLIC KEY` (PKCS#1). A private key gives [`KeyError::PrivateKeyGiven`].
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::NotPem(e.to_string()))?;
        match block.tag() {
            PUBLIC_KEY_LABEL => Self::from_spki_der(block.contents()),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(block.contents()),
            SIGSTORE_PRIVATE_KEY_LABEL
            | COSIGN_PRIVATE_KEY_LABEL
            | "PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "RSA PRIVATE KEY" => Err(KeyError::PrivateKeyGiven),
            label => Err(KeyError::UnsupportedPem {
                label: label.to_owned(),
            }),
        }
    }

    /// Reads a DER SubjectPublicKeyInfo. Refuses curves other than P-256/384/521 and RSA
    /// outside 2048 to 4096 bits, and points that are not on the curve.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let structure = "public key";
        let mut seq = der::parse_single(spki, der::SEQUENCE).map_err(malformed(structure))?;
        let algorithm = AlgorithmIdentifier::read(&mut seq).map_err(malformed(structure))?;
        let bits = seq.expect(der::BIT_STRING).map_err(malformed(structure))?;
        if !seq.is_empty() {
            return Err(KeyError::Malformed {
                structure,
                reason: "trailing data",
            });
        }
        let key_type = match algorithm.algorithm.0 {
            oids::EC_PUBLIC_KEY => ec_key_type(algorithm.curve)?,
            oids::ED25519 => KeyType::Ed25519,
            oids::RSA_ENCRYPTION => {
                // RFC 8017 appendix A.1.1: RSAPublicKey ::= SEQUENCE { modulus, exponent }.
                let key = bits.get(1..).ok_or(KeyError::Malformed {
                    structure,
                    reason: "empty bit string",
                })?;
                let mut rsa = Reader::new(key).sequence().map_err(malformed(structure))?;
                let modulus = rsa.expect(der::INTEGER).map_err(malformed(structure))?;
                let bits = integer_bits(modulus);
                if !RSA_BITS.contains(&bits) {
                    return Err(KeyError::RsaKeySize { bits });
                }
                KeyType::Rsa { bits }
            }
            _ => {
                return Err(KeyError::UnsupportedAlgorithm {
                    oid: algorithm.algorithm.to_string(),
                });
            }
        };
        let parsed = ParsedPublicKey::new(verification_algorithm(key_type), spki).map_err(|e| {
            KeyError::InvalidKey {
                key_type: key_type.to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            key_type,
            spki: spki.to_vec(),
            parsed: std::sync::Arc::new(parsed),
        })
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// PEM text labelled `PUBLIC KEY`, LF line endings, as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> String {
        pem_encode(PUBLIC_KEY_LABEL, self.spki.clone())
    }

    /// Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER: a stable name for the key in
    /// reports.
    pub fn fingerprint(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki);
        crate::hex(digest.as_ref())
    }

    /// Checks `signature` over `message` with the key type's one scheme
    /// ([`KeyType::scheme`]); ECDSA signatures must be ASN.1 DER. Succeeds only if the
    /// signature is valid.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        self.parsed
            .verify_sig(message, signature)
            .map_err(|_| KeyError::SignatureInvalid {
                key_type: self.key_type,
            })
    }

    /// Checks `signature` over `message` with an explicitly named scheme (what a certificate's
    /// or a CMS signer's algorithm identifier says). A scheme the key type cannot use (RSA
    /// with an EC key, Ed25519 with a hash) is [`KeyError::SchemeMismatch`].
    pub fn verify_scheme(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        self.parsed_for(scheme)?
            .verify_sig(message, signature)
            .map_err(|_| KeyError::SignatureInvalid {
                key_type: self.key_type,
            })
    }

    /// Checks `signature` over content known only by its digest: ECDSA and RSA sign the hash,
    /// so a digest suffices; Ed25519 signs the message itself and gives
    /// [`KeyError::SchemeMismatch`]. The scheme is the key's kind with the digest's hash.
    pub fn verify_prehashed(&self, digest: &Digest, signature: &[u8]) -> Result<(), KeyError> {
        let hash = digest.algorithm();
        let scheme = match self.key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
                SignatureScheme::Ecdsa(hash)
            }
            KeyType::Rsa { .. } => SignatureScheme::RsaPkcs1(hash),
            KeyType::Ed25519 => {
                return Err(KeyError::SchemeMismatch {
                    key_type: self.key_type,
                    scheme: "a pre-hashed message".into(),
                });
            }
        };
        let imported = aws_lc_rs::digest::Digest::import_less_safe(&digest.to_bytes(), hash.lc())
            .map_err(|_| KeyError::Malformed {
            structure: "digest",
            reason: "wrong length for its algorithm",
        })?;
        self.parsed_for(scheme)?
            .verify_digest_sig(&imported, signature)
            .map_err(|_| KeyError::SignatureInvalid {
                key_type: self.key_type,
            })
    }

    /// The parsed key for `scheme`: the one parsed at construction when the scheme is the key
    /// type's own (the common case: no second parse), else parsed now.
    fn parsed_for(
        &self,
        scheme: SignatureScheme,
    ) -> Result<std::borrow::Cow<'_, ParsedPublicKey>, KeyError> {
        let algorithm =
            scheme_algorithm(self.key_type, scheme).ok_or_else(|| KeyError::SchemeMismatch {
                key_type: self.key_type,
                scheme: scheme.to_string(),
            })?;
        if scheme == native_scheme(self.key_type) {
            return Ok(std::borrow::Cow::Borrowed(&self.parsed));
        }
        ParsedPublicKey::new(algorithm, &self.spki)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| KeyError::InvalidKey {
                key_type: self.key_type.to_string(),
                reason: e.to_string(),
            })
    }
}

/// Wraps a PKCS#1 `RSAPublicKey` in a SubjectPublicKeyInfo (RFC 3279 section 2.3.1).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = AlgorithmIdentifier::encode(oids::RSA_ENCRYPTION, None);
    let mut bits = Vec::with_capacity(pkcs1.len() + 1);
    bits.push(0u8);
    bits.extend_from_slice(pkcs1);
    body.extend(der::tlv(der::BIT_STRING, &bits));
    der::tlv(der::SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_key_given_as_public_is_named() {
        let text = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            PublicKey::from_pem(text),
            Err(KeyError::PrivateKeyGiven)
        ));
    }

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = crate::PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let back = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(&back, key.public_key());
        assert_eq!(back.fingerprint().len(), 64);
    }

    #[test]
    fn a_point_off_the_curve_is_refused() {
        let key = crate::PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let mut spki = key.public_key().spki_der().to_vec();
        let last = spki.len() - 1;
        spki[last] ^= 1;
        assert!(matches!(
            PublicKey::from_spki_der(&spki),
            Err(KeyError::InvalidKey { .. })
        ));
    }

    #[test]
    fn explicit_schemes_and_prehashed_digests_verify() {
        let p384 = crate::PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let signature = p384.sign(b"m").unwrap();
        let public = p384.public_key();
        let scheme = SignatureScheme::Ecdsa(DigestAlgorithm::Sha384);
        public.verify_scheme(scheme, b"m", &signature).unwrap();
        let wrong_hash = SignatureScheme::Ecdsa(DigestAlgorithm::Sha256);
        assert!(public.verify_scheme(wrong_hash, b"m", &signature).is_err());
        assert!(matches!(
            public.verify_scheme(SignatureScheme::Ed25519, b"m", &signature),
            Err(KeyError::SchemeMismatch { .. })
        ));
        let digest = Digest::compute(DigestAlgorithm::Sha384, b"m");
        public.verify_prehashed(&digest, &signature).unwrap();
        let other = Digest::compute(DigestAlgorithm::Sha384, b"n");
        assert!(public.verify_prehashed(&other, &signature).is_err());
        assert_eq!(
            Digest::from_bytes(DigestAlgorithm::Sha384, &digest.to_bytes()).unwrap(),
            digest
        );
        assert!(Digest::from_bytes(DigestAlgorithm::Sha256, &digest.to_bytes()).is_err());

        let ed = crate::PrivateKey::generate(KeyType::Ed25519).unwrap();
        let digest = Digest::sha256(b"m");
        assert!(matches!(
            ed.public_key()
                .verify_prehashed(&digest, &ed.sign(b"m").unwrap()),
            Err(KeyError::SchemeMismatch { .. })
        ));
    }

    #[test]
    fn signatures_do_not_cross_key_types() {
        let p256 = crate::PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let other = crate::PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let signature = p256.sign(b"m").unwrap();
        assert!(other.public_key().verify(b"m", &signature).is_err());
        assert!(p256.public_key().verify(b"m", b"").is_err());
        assert!(p256.public_key().verify(b"m", &[0u8; 72]).is_err());
    }
}
