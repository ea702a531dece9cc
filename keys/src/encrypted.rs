//! cosign's encrypted private key format (go-securesystemslib `encrypted`, as cosign and
//! sigstore-go write it): a PEM block labelled `ENCRYPTED SIGSTORE PRIVATE KEY` (formerly
//! `ENCRYPTED COSIGN PRIVATE KEY`) whose body is this JSON:
//!
//! ```json
//! {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<base64>"},
//!  "cipher":{"name":"nacl/secretbox","nonce":"<base64>"},
//!  "ciphertext":"<base64>"}
//! ```
//!
//! The secretbox key is `scrypt(password, salt, N, r, p)` (32 bytes), the nonce is 24 bytes,
//! and the plaintext is the PKCS#8 DER private key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{KeyError, PrivateKey, SIGSTORE_PRIVATE_KEY_LABEL};

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// The most memory a key file may make scrypt use (128 * r * N bytes): cosign's own files use
/// 32 MiB (N = 32768) or 64 MiB (N = 65536); a hostile file must not exhaust memory.
const MAX_SCRYPT_MEMORY: u64 = 512 * 1024 * 1024;
const MAX_SCRYPT_P: u32 = 16;

/// The cost parameters of scrypt when encrypting a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptCost {
    log_n: u8,
    r: u32,
    p: u32,
}

impl ScryptCost {
    /// The parameters cosign writes: N = 32768, r = 8, p = 1.
    pub const COSIGN: ScryptCost = ScryptCost {
        log_n: 15,
        r: 8,
        p: 1,
    };

    /// Custom parameters, for tests that need cheap keys. Refuses parameters that the reader
    /// would refuse (see [`EncryptedPrivateKey::decrypt`]).
    pub fn new(log_n: u8, r: u32, p: u32) -> Result<Self, KeyError> {
        let cost = ScryptCost { log_n, r, p };
        cost.check()?;
        Ok(cost)
    }

    fn check(self) -> Result<scrypt::Params, KeyError> {
        let bad =
            |why: &str| KeyError::EncryptedFormat(format!("scrypt parameters refused: {why}"));
        if self.p == 0 || self.p > MAX_SCRYPT_P {
            return Err(bad("p must be 1 to 16"));
        }
        let memory = 128u64
            .checked_mul(u64::from(self.r))
            .and_then(|m| m.checked_shl(u32::from(self.log_n)))
            .filter(|m| *m <= MAX_SCRYPT_MEMORY && self.log_n < 40);
        if memory.is_none() {
            return Err(bad("they would need more than 512 MiB"));
        }
        scrypt::Params::new(self.log_n, self.r, self.p).map_err(|_| bad("invalid"))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedJson {
    kdf: KdfJson,
    cipher: CipherJson,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    name: String,
    params: ScryptParamsJson,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScryptParamsJson {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherJson {
    name: String,
    nonce: String,
}

/// A parsed, still encrypted private key. Holds no secret; [`decrypt`](Self::decrypt) needs
/// the password.
#[derive(Debug, Clone)]
pub struct EncryptedPrivateKey {
    cost: ScryptCost,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl EncryptedPrivateKey {
    /// Parses the JSON body of an encrypted key PEM block. Checks the structure, the names of
    /// the KDF and cipher, and the scrypt parameters (N a power of two, memory at most 512 MiB,
    /// p at most 16); does not need the password.
    pub fn from_json(body: &[u8]) -> Result<Self, KeyError> {
        let json: EncryptedJson = serde_json::from_slice(body)
            .map_err(|e| KeyError::EncryptedFormat(format!("not the expected JSON: {e}")))?;
        if json.kdf.name != KDF_NAME {
            return Err(KeyError::EncryptedFormat(format!(
                "unsupported KDF \"{}\" (only scrypt)",
                json.kdf.name
            )));
        }
        if json.cipher.name != CIPHER_NAME {
            return Err(KeyError::EncryptedFormat(format!(
                "unsupported cipher \"{}\" (only nacl/secretbox)",
                json.cipher.name
            )));
        }
        let n = json.kdf.params.n;
        if n < 2 || !n.is_power_of_two() {
            return Err(KeyError::EncryptedFormat(
                "scrypt N must be a power of two".into(),
            ));
        }
        let cost = ScryptCost {
            log_n: n.trailing_zeros() as u8,
            r: json.kdf.params.r,
            p: json.kdf.params.p,
        };
        cost.check()?;
        let field = |name: &'static str, value: &str| {
            STANDARD
                .decode(value)
                .map_err(|_| KeyError::EncryptedFormat(format!("{name} is not base64")))
        };
        let salt = field("salt", &json.kdf.salt)?;
        let nonce: [u8; NONCE_LEN] = field("nonce", &json.cipher.nonce)?
            .try_into()
            .map_err(|_| KeyError::EncryptedFormat("nonce is not 24 bytes".into()))?;
        let ciphertext = field("ciphertext", &json.ciphertext)?;
        Ok(Self {
            cost,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts with `password` and parses the PKCS#8 key inside. A wrong password (or any
    /// change to the file) fails the Poly1305 check and gives [`KeyError::WrongPassword`].
    /// As in cosign, the plaintext must be PKCS#8: an encrypted SEC1 key is refused.
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKey, KeyError> {
        let key = derive_key(password, &self.salt, self.cost)?;
        let cipher = XSalsa20Poly1305::new(key.as_slice().into());
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&self.nonce), self.ciphertext.as_slice())
                .map_err(|_| KeyError::WrongPassword)?,
        );
        PrivateKey::from_pkcs8_der(&plaintext)
    }
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    cost: ScryptCost,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let params = cost.check()?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, &params, key.as_mut_slice())
        .map_err(|_| KeyError::Crypto("scrypt"))?;
    Ok(key)
}

/// Encrypts PKCS#8 DER into cosign's PEM format with a fresh random salt and nonce.
pub(crate) fn encrypt_pkcs8(
    pkcs8: &[u8],
    password: &[u8],
    cost: ScryptCost,
) -> Result<String, KeyError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::Crypto("random salt"))?;
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KeyError::Crypto("random nonce"))?;
    let key = derive_key(password, &salt, cost)?;
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), pkcs8)
        .map_err(|_| KeyError::Crypto("secretbox"))?;
    let json = EncryptedJson {
        kdf: KdfJson {
            name: KDF_NAME.into(),
            params: ScryptParamsJson {
                n: 1u64 << cost.log_n,
                r: cost.r,
                p: cost.p,
            },
            salt: STANDARD.encode(salt),
        },
        cipher: CipherJson {
            name: CIPHER_NAME.into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(ciphertext),
    };
    let body = serde_json::to_vec(&json).map_err(|_| KeyError::Crypto("json"))?;
    Ok(pem_encode(SIGSTORE_PRIVATE_KEY_LABEL, body))
}

/// PEM with LF line endings and 64-column lines, as cosign writes it.
pub(crate) fn pem_encode(label: &str, contents: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new(label, contents),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyType;

    fn cheap() -> ScryptCost {
        ScryptCost::new(4, 8, 1).unwrap()
    }

    fn body_of(pem_text: &str) -> Vec<u8> {
        pem::parse(pem_text).unwrap().into_contents()
    }

    #[test]
    fn encrypt_then_decrypt_round_trips() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem_text = key.to_encrypted_pem(b"pw", cheap()).unwrap();
        assert!(pem_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = EncryptedPrivateKey::from_json(&body_of(&pem_text))
            .unwrap()
            .decrypt(b"pw")
            .unwrap();
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn wrong_password_is_named() {
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let pem_text = key.to_encrypted_pem(b"right", cheap()).unwrap();
        let enc = EncryptedPrivateKey::from_json(&body_of(&pem_text)).unwrap();
        assert!(matches!(
            enc.decrypt(b"wrong"),
            Err(KeyError::WrongPassword)
        ));
        assert!(matches!(enc.decrypt(b""), Err(KeyError::WrongPassword)));
    }

    #[test]
    fn json_field_order_matches_cosign() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let body = body_of(&key.to_encrypted_pem(b"x", ScryptCost::COSIGN).unwrap());
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""cipher":{"name":"nacl/secretbox","nonce":""#));
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let body = body_of(&key.to_encrypted_pem(b"x", cheap()).unwrap());
        let text = String::from_utf8(body).unwrap();
        for (from, to) in [
            (r#""N":16"#, r#""N":1073741824"#),
            (r#""N":16"#, r#""N":1000"#),
            (r#""N":16"#, r#""N":0"#),
            (r#""p":1"#, r#""p":0"#),
            (r#""p":1"#, r#""p":1000"#),
            (r#""name":"scrypt""#, r#""name":"pbkdf2""#),
            (r#""name":"nacl/secretbox""#, r#""name":"aes-gcm""#),
        ] {
            let tampered = text.replace(from, to);
            assert_ne!(tampered, text);
            let err = EncryptedPrivateKey::from_json(tampered.as_bytes()).unwrap_err();
            assert!(matches!(err, KeyError::EncryptedFormat(_)), "{to}: {err}");
        }
    }

    #[test]
    fn a_flipped_ciphertext_bit_fails_authentication() {
        let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let body = body_of(&key.to_encrypted_pem(b"pw", cheap()).unwrap());
        let mut enc = EncryptedPrivateKey::from_json(&body).unwrap();
        enc.ciphertext[20] ^= 1;
        assert!(matches!(enc.decrypt(b"pw"), Err(KeyError::WrongPassword)));
    }
}
