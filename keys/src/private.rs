//! Private keys: generation, reading the PEM forms other tools write, signing.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use crate::der::{self, AlgorithmIdentifier, Reader, oids};
use crate::encrypted::{self, EncryptedPrivateKey, ScryptCost};
use crate::{
    COSIGN_PRIVATE_KEY_LABEL, KeyError, KeyType, PUBLIC_KEY_LABEL, PublicKey, RSA_BITS,
    SIGSTORE_PRIVATE_KEY_LABEL, ec_key_type, malformed,
};

/// A private key file after parsing, before any password is asked for: the caller learns
/// whether a password is needed by matching on it.
#[derive(Debug)]
pub enum PrivateKeyPem {
    /// cosign's encrypted format; needs [`EncryptedPrivateKey::decrypt`].
    Encrypted(EncryptedPrivateKey),
    /// An unencrypted PKCS#8, SEC1 or PKCS#1 key, ready to use.
    Plain(PrivateKey),
}

impl PrivateKeyPem {
    /// Parses the first PEM block of `text`. Reads `ENCRYPTED SIGSTORE PRIVATE KEY`,
    /// `ENCRYPTED COSIGN PRIVATE KEY`, `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1) and
    /// `RSA PRIVATE KEY` (PKCS#1). A public key gives [`KeyError::PublicKeyGiven`]; any other
    /// label (PKCS#8 `ENCRYPTED PRIVATE KEY`, PGP blocks, certificates) is refused by name.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::NotPem(e.to_string()))?;
        let label = block.tag().to_owned();
        let contents = Zeroizing::new(block.into_contents());
        match label.as_str() {
            SIGSTORE_PRIVATE_KEY_LABEL | COSIGN_PRIVATE_KEY_LABEL => {
                EncryptedPrivateKey::from_json(&contents).map(Self::Encrypted)
            }
            "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&contents).map(Self::Plain),
            "EC PRIVATE KEY" => PrivateKey::from_sec1_der(&contents).map(Self::Plain),
            "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&contents).map(Self::Plain),
            PUBLIC_KEY_LABEL | "RSA PUBLIC KEY" => Err(KeyError::PublicKeyGiven),
            _ => Err(KeyError::UnsupportedPem { label }),
        }
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key that can sign. Its PKCS#8 encoding is kept (zeroized on drop) so that it
/// can be written out again encrypted.
pub struct PrivateKey {
    pair: Pair,
    key_type: KeyType,
    public: PublicKey,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    /// Shows the key type and public key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .field("public_key", &self.public_key().fingerprint())
            .finish_non_exhaustive()
    }
}

fn rejected(key_type: KeyType) -> impl Fn(aws_lc_rs::error::KeyRejected) -> KeyError {
    move |e| KeyError::InvalidKey {
        key_type: key_type.to_string(),
        reason: e.to_string(),
    }
}

fn ecdsa_signing(key_type: KeyType) -> &'static sig::EcdsaSigningAlgorithm {
    match key_type {
        KeyType::EcdsaP384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeyType::EcdsaP521 => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

/// The modulus size of a PKCS#1 `RSAPrivateKey` (RFC 8017 appendix A.1.2).
fn rsa_private_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    let structure = "RSA private key";
    let mut seq = der::parse_single(pkcs1, der::SEQUENCE).map_err(malformed(structure))?;
    seq.small_uint().map_err(malformed(structure))?;
    let modulus = seq.expect(der::INTEGER).map_err(malformed(structure))?;
    Ok(integer_bits(modulus))
}

/// The bit length of a non-negative DER INTEGER's contents.
pub(crate) fn integer_bits(bytes: &[u8]) -> usize {
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if RSA_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::RsaKeySize { bits })
    }
}

impl PrivateKey {
    /// Generates a new key from the operating system's random generator. RSA is not
    /// generated (import an RSA key instead).
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let pkcs8 = match key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
                EcdsaKeyPair::generate(ecdsa_signing(key_type))
                    .and_then(|pair| pair.to_pkcs8v1())
                    .map_err(|_| KeyError::Crypto("key generation"))?
            }
            KeyType::Ed25519 => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| KeyError::Crypto("key generation"))?,
            KeyType::Rsa { .. } => {
                return Err(KeyError::InvalidKey {
                    key_type: key_type.to_string(),
                    reason: "RSA keys are imported, not generated".into(),
                });
            }
        };
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (RFC 5208; v2 `OneAsymmetricKey` too for Ed25519).
    /// Refuses curves other than P-256/384/521 and RSA outside 2048 to 4096 bits.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let structure = "PKCS#8 private key";
        let mut seq = der::parse_single(pkcs8, der::SEQUENCE).map_err(malformed(structure))?;
        seq.small_uint().map_err(malformed(structure))?;
        let algorithm = AlgorithmIdentifier::read(&mut seq).map_err(malformed(structure))?;
        let inner = seq
            .expect(der::OCTET_STRING)
            .map_err(malformed(structure))?;
        let (pair, key_type) = match algorithm.algorithm.0 {
            oids::EC_PUBLIC_KEY => {
                let key_type = ec_key_type(algorithm.curve)?;
                let pair = EcdsaKeyPair::from_pkcs8(ecdsa_signing(key_type), pkcs8)
                    .map_err(rejected(key_type))?;
                (Pair::Ecdsa(pair), key_type)
            }
            oids::ED25519 => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(rejected(KeyType::Ed25519))?;
                (Pair::Ed25519(pair), KeyType::Ed25519)
            }
            oids::RSA_ENCRYPTION => {
                let bits = rsa_private_bits(inner)?;
                check_rsa_bits(bits)?;
                let key_type = KeyType::Rsa { bits };
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected(key_type))?;
                (Pair::Rsa(pair), key_type)
            }
            _ => {
                return Err(KeyError::UnsupportedAlgorithm {
                    oid: algorithm.algorithm.to_string(),
                });
            }
        };
        let spki = match &pair {
            Pair::Ecdsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed25519(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Rsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Crypto("public key encoding"))?;
        Ok(Self {
            pair,
            key_type,
            public: PublicKey::from_spki_der(&spki)?,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
        })
    }

    /// Reads a SEC1 `ECPrivateKey` (RFC 5915) that names its curve.
    pub fn from_sec1_der(sec1: &[u8]) -> Result<Self, KeyError> {
        let structure = "SEC1 EC private key";
        let mut seq = der::parse_single(sec1, der::SEQUENCE).map_err(malformed(structure))?;
        if seq.small_uint().map_err(malformed(structure))? != 1 {
            return Err(KeyError::Malformed {
                structure,
                reason: "version is not 1",
            });
        }
        seq.expect(der::OCTET_STRING)
            .map_err(malformed(structure))?;
        let curve = if seq.peek_tag() == Some(der::CONTEXT_0) {
            let params = seq.expect(der::CONTEXT_0).map_err(malformed(structure))?;
            Some(Reader::new(params).oid().map_err(malformed(structure))?)
        } else {
            None
        };
        let key_type = ec_key_type(curve)?;
        let pair = EcdsaKeyPair::from_private_key_der(ecdsa_signing(key_type), sec1)
            .map_err(rejected(key_type))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| KeyError::Crypto("PKCS#8 encoding"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (RFC 8017 appendix A.1.2), 2048 to 4096 bits.
    pub fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, KeyError> {
        let bits = rsa_private_bits(pkcs1)?;
        check_rsa_bits(bits)?;
        let key_type = KeyType::Rsa { bits };
        let pair = RsaKeyPair::from_der(pkcs1).map_err(rejected(key_type))?;
        let pkcs8: Pkcs8V1Der<'_> = pair
            .as_der()
            .map_err(|_| KeyError::Crypto("PKCS#8 encoding"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` with the key type's one scheme ([`KeyType::scheme`]): ECDSA signatures
    /// are ASN.1 DER, as cosign writes them.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Crypto("signing");
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(failed),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &sig::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut out,
                )
                .map_err(failed)?;
                Ok(out)
            }
        }
    }

    /// The key encrypted in cosign's format, as PEM text labelled
    /// `ENCRYPTED SIGSTORE PRIVATE KEY`, with a fresh salt and nonce.
    pub fn to_encrypted_pem(
        &self,
        password: &[u8],
        cost: ScryptCost,
    ) -> Result<Zeroizing<String>, KeyError> {
        encrypted::encrypt_pkcs8(&self.pkcs8, password, cost).map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [KeyType; 4] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Ed25519,
    ];

    #[test]
    fn generated_keys_sign_and_their_public_keys_verify() {
        for key_type in ALL {
            let key = PrivateKey::generate(key_type).unwrap();
            assert_eq!(key.key_type(), key_type);
            let signature = key.sign(b"payload").unwrap();
            let public = key.public_key().clone();
            assert_eq!(public.key_type(), key_type);
            public.verify(b"payload", &signature).unwrap();
            assert!(matches!(
                public.verify(b"payloaD", &signature),
                Err(KeyError::SignatureInvalid { .. })
            ));
        }
    }

    #[test]
    fn generated_ed25519_is_pkcs8_v1_as_go_writes_it() {
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        // 302e 020100 300506032b6570 04220420 <32-byte seed>: version 0, no public key.
        assert_eq!(key.pkcs8.len(), 48);
        assert_eq!(
            &key.pkcs8[..16],
            &[
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20
            ]
        );
    }

    #[test]
    fn rsa_is_not_generated() {
        assert!(PrivateKey::generate(KeyType::Rsa { bits: 2048 }).is_err());
    }

    #[test]
    fn pem_labels_are_dispatched() {
        let public_pem = PrivateKey::generate(KeyType::EcdsaP256)
            .unwrap()
            .public_key()
            .to_pem();
        assert!(matches!(
            PrivateKeyPem::parse(&public_pem),
            Err(KeyError::PublicKeyGiven)
        ));
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PrivateKeyPem::parse(cert),
            Err(KeyError::UnsupportedPem { label }) if label == "CERTIFICATE"
        ));
        assert!(matches!(
            PrivateKeyPem::parse("not pem at all"),
            Err(KeyError::NotPem(_))
        ));
    }

    #[test]
    fn truncated_der_is_malformed_not_a_panic() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        for cut in [0, 1, 5, 20, key.pkcs8.len() - 1] {
            let err = PrivateKey::from_pkcs8_der(&key.pkcs8[..cut]).unwrap_err();
            assert!(
                matches!(err, KeyError::Malformed { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn integer_bits_counts_significant_bits() {
        assert_eq!(integer_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(integer_bits(&[0x01, 0x00]), 9);
        assert_eq!(integer_bits(&[0x00]), 0);
    }
}
