//! [`Signer`]: whatever signs with one key, wherever the key lives: a [`PrivateKey`] in memory
//! (read from a file, or generated for one keyless signing), or a key that never leaves a
//! hardware token. Signing commands take a `&dyn Signer` and never see the key itself.

use crate::{KeyError, KeyType, PrivateKey, PublicKey};

/// Signs messages with one key, with the key type's one scheme ([`KeyType::scheme`]): ECDSA
/// signatures ASN.1 DER, as cosign writes them, so a signature from any signer verifies with
/// [`PublicKey::verify`] under [`Signer::public_key`].
pub trait Signer: Send + Sync {
    /// The public half of the signing key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `message` (the whole message: the signer hashes it as the scheme says).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Where the key lives, for reports and errors (never a secret: no PIN, no key bytes).
    fn describe(&self) -> String;

    /// The kind of key.
    fn key_type(&self) -> KeyType {
        self.public_key().key_type()
    }
}

impl Signer for PrivateKey {
    fn public_key(&self) -> &PublicKey {
        PrivateKey::public_key(self)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        PrivateKey::sign(self, message)
    }

    fn describe(&self) -> String {
        format!(
            "{} key {}",
            self.key_type(),
            self.public_key().fingerprint()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_key_signs_through_the_trait() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let signer: &dyn Signer = &key;
        let signature = signer.sign(b"hello").unwrap();
        signer.public_key().verify(b"hello", &signature).unwrap();
        assert!(signer.describe().starts_with("ECDSA P-256 key "));
        assert!(!signer.describe().contains("PRIVATE"));
    }
}
