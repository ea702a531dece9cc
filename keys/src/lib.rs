//! Key pairs for vouch: generate them, keep them encrypted at rest in cosign's format, read the
//! PEM files other tools write, sign, and verify.
//!
//! * [`PrivateKey`] signs. It is generated ([`PrivateKey::generate`]) or read from PEM
//!   ([`PrivateKeyPem::parse`]): cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` (and the older
//!   `ENCRYPTED COSIGN PRIVATE KEY`), plain PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` and
//!   PKCS#1 `RSA PRIVATE KEY`.
//! * [`PublicKey`] verifies. It is read from SubjectPublicKeyInfo PEM (`PUBLIC KEY`) or
//!   derived from a private key.
//! * Keys are ECDSA P-256 / P-384 / P-521, Ed25519, or RSA 2048 to 4096 bits. Each key type
//!   has exactly one signature scheme ([`KeyType::scheme`]), the one the Sigstore algorithm
//!   registry pairs with it, so a signature never verifies under a hash the signer did not use.
//!
//! * [`Digest`] is a validated content digest (`sha256:<hex>`), the name of everything signed.
//! * [`der`] and [`time`] are the strict DER reader and the RFC 3339 / civil-date arithmetic
//!   the other vouch crates share.
//! * [`files`] opens the files a user names as input (keys, bundles, layouts) without blocking
//!   on a FIFO or reading a device forever, and reads them with a size cap.
//! * [`pkcs11`] signs with keys that never leave a PKCS#11 token (an HSM, a smart card,
//!   SoftHSM): [`pkcs11::Pkcs11Uri`] parses cosign's RFC 7512 `pkcs11:` URIs and
//!   [`pkcs11::Pkcs11Key`] is a [`Signer`] whose signatures the token makes.
//!
//! Secrets (passwords, decrypted key bytes, derived keys) are zeroized when dropped, and no
//! error message carries secret material.
//!
//! ```
//! use vouch_keys::{KeyType, PrivateKey, PrivateKeyPem, PublicKey};
//!
//! # fn main() -> Result<(), vouch_keys::KeyError> {
//! let key = PrivateKey::generate(KeyType::EcdsaP256)?;
//! let pem = key.to_encrypted_pem(b"correct horse", vouch_keys::ScryptCost::COSIGN)?;
//!
//! let PrivateKeyPem::Encrypted(encrypted) = PrivateKeyPem::parse(&pem)? else {
//!     unreachable!("we just encrypted it");
//! };
//! let key = encrypted.decrypt(b"correct horse")?;
//!
//! let signature = key.sign(b"hello")?;
//! let public = PublicKey::from_pem(&key.public_key().to_pem())?;
//! public.verify(b"hello", &signature)?;
//! assert!(public.verify(b"tampered", &signature).is_err());
//! # Ok(())
//! # }
//! ```

pub mod der;
mod digest;
mod encrypted;
pub mod files;
pub mod pkcs11;
mod private;
mod public;
mod signer;
pub mod time;

pub use digest::{Digest, DigestAlgorithm, DigestError, Hasher};
pub use encrypted::{EncryptedPrivateKey, ScryptCost};
pub use files::{InputFile, InputFileError, MAX_KEY_FILE_BYTES};
pub use private::{PrivateKey, PrivateKeyPem};
pub use public::{PublicKey, SignatureScheme};
pub use signer::Signer;

use std::fmt;

/// The PEM label cosign and vouch write for encrypted private keys.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign releases wrote; still read.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The PEM label of a SubjectPublicKeyInfo public key (RFC 7468 section 13).
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// The kinds of key vouch can sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256, signatures over SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384, signatures over SHA-384.
    EcdsaP384,
    /// ECDSA on NIST P-521, signatures over SHA-512.
    EcdsaP521,
    /// Ed25519 (RFC 8032, pure, no pre-hash).
    Ed25519,
    /// RSA with a modulus of 2048 to 4096 bits, PKCS#1 v1.5 signatures over SHA-256.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
}

impl KeyType {
    /// The one signature scheme used with this key type, named as in the Sigstore algorithm
    /// registry (`ecdsa-sha2-256-nistp256`, ...).
    pub fn scheme(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-sha2-256-nistp256",
            KeyType::EcdsaP384 => "ecdsa-sha2-384-nistp384",
            KeyType::EcdsaP521 => "ecdsa-sha2-512-nistp521",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa { .. } => "rsa-sign-pkcs1-sha256",
        }
    }
}

impl KeyType {
    /// The digest a signature by this key type is recorded under (a bundle's
    /// `messageDigest`, a `hashedrekord` entry): the hash its scheme signs (SHA-384 for
    /// ECDSA P-384, SHA-512 for P-521, SHA-256 for P-256 and RSA), and SHA-256 for Ed25519,
    /// which signs the message itself.
    pub fn message_digest_algorithm(self) -> DigestAlgorithm {
        match self {
            KeyType::EcdsaP384 => DigestAlgorithm::Sha384,
            KeyType::EcdsaP521 => DigestAlgorithm::Sha512,
            KeyType::EcdsaP256 | KeyType::Ed25519 | KeyType::Rsa { .. } => DigestAlgorithm::Sha256,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyType::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyType::EcdsaP521 => f.write_str("ECDSA P-521"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
            KeyType::Rsa { bits } => write!(f, "RSA-{bits}"),
        }
    }
}

/// The smallest and largest RSA moduli accepted, in bits (the range cosign accepts).
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// Everything that can go wrong with a key. Messages name the problem, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not PEM at all.
    #[error("not a PEM key file: {0}")]
    NotPem(String),
    /// A PEM block whose label names nothing vouch reads.
    #[error("unsupported PEM block \"{label}\"")]
    UnsupportedPem {
        /// The label found.
        label: String,
    },
    /// A public key was given where a private key is needed.
    #[error("this is a public key; a private key is needed here")]
    PublicKeyGiven,
    /// A private key was given where a public key is expected.
    #[error("this is a private key; pass the public key (.pub) here")]
    PrivateKeyGiven,
    /// Decryption failed the authenticator check.
    #[error("wrong password, or the encrypted key is corrupted")]
    WrongPassword,
    /// The encrypted key's JSON is not in cosign's format.
    #[error("encrypted key is malformed: {0}")]
    EncryptedFormat(String),
    /// An empty password was given without the caller allowing it.
    #[error("empty password refused")]
    EmptyPassword,
    /// The key's DER structure could not be read.
    #[error("malformed {structure}: {reason}")]
    Malformed {
        /// What was being read (`PKCS#8 private key`, `public key`, ...).
        structure: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A key algorithm vouch does not support (identified by OID).
    #[error("unsupported key algorithm {oid}")]
    UnsupportedAlgorithm {
        /// Dotted-decimal OID of the algorithm.
        oid: String,
    },
    /// An elliptic curve vouch refuses.
    #[error("ECDSA curve {curve} not allowed (P-256, P-384 and P-521 are)")]
    UnsupportedCurve {
        /// The curve's name, or its OID when unnamed.
        curve: String,
    },
    /// An RSA key outside [`RSA_BITS`].
    #[error("RSA key size {bits} not supported (2048 to 4096 bits are)")]
    RsaKeySize {
        /// The modulus size found.
        bits: usize,
    },
    /// The cryptographic library rejected the key material.
    #[error("invalid {key_type} key: {reason}")]
    InvalidKey {
        /// The key type it claimed to be.
        key_type: String,
        /// The library's reason.
        reason: String,
    },
    /// A signature did not verify.
    #[error("signature does not verify with the {key_type} key")]
    SignatureInvalid {
        /// The key type that was used.
        key_type: KeyType,
    },
    /// A signature scheme the key cannot be used with.
    #[error("a {key_type} key cannot verify {scheme}")]
    SchemeMismatch {
        /// The key type.
        key_type: KeyType,
        /// The scheme asked for.
        scheme: String,
    },
    /// The operating system's random generator or the signer failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// A PKCS#11 URI, module, token or key could not be used ([`pkcs11`]). The message names
    /// what was wrong (the URI attribute, the token, the object, the `CKR_...` return value
    /// of the call that failed), never the PIN.
    #[error("{operation}: {reason}")]
    Pkcs11 {
        /// Whose fault: the user's input or the token's
        /// ([`pkcs11::Pkcs11ErrorKind::is_input_error`]).
        kind: pkcs11::Pkcs11ErrorKind,
        /// What was being done (`log in to PKCS#11 token "release"`).
        operation: String,
        /// What went wrong
        /// (`wrong PIN for token "release" (C_Login returned CKR_PIN_INCORRECT)`).
        reason: String,
    },
}

/// Turns a DER reading failure into the typed error for `structure`.
fn malformed(structure: &'static str) -> impl Fn(der::DerError) -> KeyError {
    move |e| KeyError::Malformed {
        structure,
        reason: e.0,
    }
}

/// Names a curve OID for messages: the curves people meet by name, else the dotted OID.
fn curve_name(oid: der::Oid<'_>) -> String {
    match oid.0 {
        der::oids::P224 => "P-224".into(),
        der::oids::SECP256K1 => "secp256k1".into(),
        _ => oid.to_string(),
    }
}

/// Maps a named-curve OID to the key type, refusing curves outside P-256/384/521.
fn ec_key_type(curve: Option<der::Oid<'_>>) -> Result<KeyType, KeyError> {
    let curve = curve.ok_or(KeyError::Malformed {
        structure: "EC key",
        reason: "no named curve",
    })?;
    match curve.0 {
        der::oids::P256 => Ok(KeyType::EcdsaP256),
        der::oids::P384 => Ok(KeyType::EcdsaP384),
        der::oids::P521 => Ok(KeyType::EcdsaP521),
        _ => Err(KeyError::UnsupportedCurve {
            curve: curve_name(curve),
        }),
    }
}

/// `der` as PEM text with the block label `label` (`CERTIFICATE`, `PUBLIC KEY`): LF line
/// endings and 64-column lines, as cosign, Fulcio and Rekor write it.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    encrypted::pem_encode(label, der.to_vec())
}

/// `len` bytes from the operating system's random generator (nonces).
pub fn random_bytes(len: usize) -> Result<Vec<u8>, KeyError> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Crypto("random generation"))?;
    Ok(bytes)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    // A digit table, not `write!` per byte: digests and fingerprints are formatted on every
    // verification, and the formatter costs tens of nanoseconds a byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&all), expected);
        assert_eq!(super::hex(&[]), "");
    }
}
