//! cosign's key vectors (`tests/data/cosign-keys/README.md`): each file is accepted or refused
//! as cosign's own tests expect.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use vouch_keys::{KeyError, KeyType, PrivateKey, PrivateKeyPem, ScryptCost};

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cosign-keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn password() -> Vec<u8> {
    read("PASSWORD.txt").into_bytes()
}

fn load(name: &str) -> Result<PrivateKey, KeyError> {
    match PrivateKeyPem::parse(&read(name))? {
        PrivateKeyPem::Encrypted(encrypted) => encrypted.decrypt(&password()),
        PrivateKeyPem::Plain(key) => Ok(key),
    }
}

/// cosign's TestImportPrivateKey: an accepted key must load again after being re-encrypted.
fn assert_reencrypts(key: &PrivateKey) {
    let pem = key
        .to_encrypted_pem(&password(), ScryptCost::new(10, 8, 1).unwrap())
        .unwrap();
    let PrivateKeyPem::Encrypted(encrypted) = PrivateKeyPem::parse(&pem).unwrap() else {
        panic!("re-encrypted key is not encrypted");
    };
    let again = encrypted.decrypt(&password()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let signature = again.sign(b"vector").unwrap();
    key.public_key().verify(b"vector", &signature).unwrap();
}

#[test]
fn cosign_encrypted_keys_load_with_hello() {
    for name in [
        "encrypted-cosign-pkcs8-p256.key",
        "encrypted-sigstore-pkcs8-p256.key",
    ] {
        let key = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.key_type(), KeyType::EcdsaP256, "{name}");
        assert_reencrypts(&key);
    }
}

#[test]
fn cosign_encrypted_keys_refuse_a_wrong_password() {
    let PrivateKeyPem::Encrypted(encrypted) =
        PrivateKeyPem::parse(&read("encrypted-sigstore-pkcs8-p256.key")).unwrap()
    else {
        panic!("not encrypted");
    };
    assert!(matches!(
        encrypted.decrypt(b"wrong"),
        Err(KeyError::WrongPassword)
    ));
}

#[test]
fn encrypted_sec1_key_is_refused() {
    let err = load("encrypted-cosign-sec1-p256.key").unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::Malformed {
                structure: "PKCS#8 private key",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn importable_keys_are_accepted() {
    for (name, key_type) in [
        ("validrsa.key", KeyType::Rsa { bits: 2048 }),
        ("validrsapkcs1.key", KeyType::Rsa { bits: 2048 }),
        ("validrsapkcs8.key", KeyType::Rsa { bits: 2048 }),
        ("validecp256.key", KeyType::EcdsaP256),
        ("validecp384.key", KeyType::EcdsaP384),
        ("validecp521.key", KeyType::EcdsaP521),
        ("validecpkcs8.key", KeyType::EcdsaP256),
        ("ed25519.key", KeyType::Ed25519),
    ] {
        let key = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.key_type(), key_type, "{name}");
        assert_reencrypts(&key);
    }
}

#[test]
fn invalid_keys_are_refused_with_their_reason() {
    type Check = fn(&KeyError) -> bool;
    let cases: [(&str, Check); 6] = [
        ("invalidrsawithpubkey.key", |e| {
            matches!(e, KeyError::PublicKeyGiven)
        }),
        ("invalidrsasmallkey.key", |e| {
            matches!(e, KeyError::RsaKeySize { bits: 1024 })
        }),
        ("invalidrsalargekey.key", |e| {
            matches!(e, KeyError::RsaKeySize { bits: 5120 })
        }),
        (
            "invalidecp224.key",
            |e| matches!(e, KeyError::UnsupportedCurve { curve } if curve == "P-224"),
        ),
        (
            "invalidecunsupported.key",
            |e| matches!(e, KeyError::UnsupportedCurve { curve } if curve == "secp256k1"),
        ),
        ("invalidkey.key", |e| {
            matches!(e, KeyError::NotPem(_) | KeyError::UnsupportedPem { .. })
        }),
    ];
    for (name, expected) in cases {
        let err = load(name).expect_err(name);
        assert!(expected(&err), "{name}: unexpected error {err:?}");
    }
}
