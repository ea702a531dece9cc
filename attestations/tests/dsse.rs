//! DSSE against the spec's worked example and go-securesystemslib's PAE answers
//! (tests/data/dsse/README.md), plus sign/verify round trips and tampering.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use vouch_attestations::AttestationError;
use vouch_attestations::dsse::{Envelope, Signature, pae};
use vouch_keys::{KeyType, PrivateKey, PrivateKeyPem, PublicKey};

const HELLO_TYPE: &[u8] = include_bytes!("data/dsse/spec-hello-world/payloadType.txt");
const HELLO_PAYLOAD: &[u8] = include_bytes!("data/dsse/spec-hello-world/payload.bin");
const HELLO_PAE: &[u8] = include_bytes!("data/dsse/spec-hello-world/pae.bin");
const HELLO_ENVELOPE: &[u8] = include_bytes!("data/dsse/spec-hello-world/envelope.json");
const HELLO_ENVELOPE_KEYID: &[u8] =
    include_bytes!("data/dsse/spec-hello-world/envelope-keyid-test-key-123.json");
const HELLO_ENVELOPE_DOCTEST: &[u8] =
    include_bytes!("data/dsse/spec-hello-world/envelope-keyid-66301bbf.json");
const HELLO_SIG_RAW: &[u8] = include_bytes!("data/dsse/spec-hello-world/signature.raw-r-s.bin");
const HELLO_SIG_DER: &[u8] = include_bytes!("data/dsse/spec-hello-world/signature.der.bin");
const HELLO_PRIVATE: &str = include_str!("data/dsse/spec-hello-world/private_key.pem");
const HELLO_PUBLIC: &str = include_str!("data/dsse/spec-hello-world/public_key.pem");

fn hello_type() -> &'static str {
    std::str::from_utf8(HELLO_TYPE).unwrap()
}

fn hello_public() -> PublicKey {
    PublicKey::from_pem(HELLO_PUBLIC).unwrap()
}

#[test]
fn pae_equals_the_spec_worked_example_byte_for_byte() {
    assert_eq!(hello_type(), "http://example.com/HelloWorld");
    assert_eq!(HELLO_PAYLOAD, b"hello world");
    assert_eq!(pae(hello_type(), HELLO_PAYLOAD), HELLO_PAE);
    assert_eq!(
        HELLO_PAE,
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
}

#[test]
fn pae_equals_go_securesystemslib_known_answers() {
    assert_eq!(pae("", b""), include_bytes!("data/dsse/pae-empty.bin"));
    // The body is the 3-byte UTF-8 encoding of U+0CA0: LEN counts bytes, not characters.
    assert_eq!(
        pae("http://example.com/HelloWorld", "\u{0ca0}".as_bytes()),
        include_bytes!("data/dsse/pae-unicode.bin")
    );
}

#[test]
fn the_spec_envelopes_parse_to_the_example_values() {
    for (bytes, keyid) in [
        (HELLO_ENVELOPE, ""),
        (HELLO_ENVELOPE_KEYID, "test key 123"),
        (HELLO_ENVELOPE_DOCTEST, "66301bbf"),
    ] {
        let envelope = Envelope::from_slice(bytes).unwrap();
        assert_eq!(envelope.payload, HELLO_PAYLOAD);
        assert_eq!(envelope.payload_type, hello_type());
        assert_eq!(
            envelope.signatures,
            vec![Signature {
                keyid: keyid.into(),
                sig: HELLO_SIG_RAW.to_vec()
            }]
        );
        assert_eq!(envelope.pae(), HELLO_PAE);
    }
}

#[test]
fn the_spec_signature_verifies_in_der_and_not_as_raw_r_s() {
    let public = hello_public();
    // The spec's example signature is ECDSA P-256/SHA-256 encoded as RAW r||s (64 bytes,
    // "Cryptodome binary encoding"): the spec leaves the signature format to the parties.
    // vouch's one ECDSA scheme takes ASN.1 DER only, as cosign and sigstore-go do
    // (ecdsa.VerifyASN1), so the envelope exactly as the spec prints it must NOT verify with
    // vouch: no signature is accepted in an encoding the key's scheme does not define.
    let spec = Envelope::from_slice(HELLO_ENVELOPE).unwrap();
    assert_eq!(HELLO_SIG_RAW.len(), 64);
    assert_eq!(
        spec.verify(&public),
        Err(AttestationError::NoValidSignature {
            signatures: 1,
            key_type: KeyType::EcdsaP256
        })
    );

    // The same (r, s) in DER verifies over the spec's PAE, whatever the keyid says (keyids
    // are unauthenticated hints and verification ignores them).
    public.verify(HELLO_PAE, HELLO_SIG_DER).unwrap();
    for bytes in [HELLO_ENVELOPE, HELLO_ENVELOPE_KEYID, HELLO_ENVELOPE_DOCTEST] {
        let mut envelope = Envelope::from_slice(bytes).unwrap();
        envelope.signatures[0].sig = HELLO_SIG_DER.to_vec();
        assert_eq!(envelope.verify(&public), Ok(0));
    }

    // Raw first, DER second: the DER one is found.
    let mut both = spec.clone();
    both.signatures.push(Signature {
        keyid: String::new(),
        sig: HELLO_SIG_DER.to_vec(),
    });
    assert_eq!(both.verify(&public), Ok(1));
}

#[test]
fn the_spec_key_signs_envelopes_its_public_key_verifies() {
    let PrivateKeyPem::Plain(key) = PrivateKeyPem::parse(HELLO_PRIVATE).unwrap() else {
        panic!("the spec key is not encrypted");
    };
    assert_eq!(key.public_key(), &hello_public());
    let envelope = Envelope::sign(hello_type(), HELLO_PAYLOAD, &key, "").unwrap();
    assert_eq!(envelope.pae(), HELLO_PAE);
    assert_eq!(envelope.verify(&hello_public()), Ok(0));
}

#[test]
fn serializes_in_cosign_field_order_with_keyid_always_present() {
    let spec = Envelope::from_slice(HELLO_ENVELOPE).unwrap();
    let expected = concat!(
        r#"{"payloadType":"http://example.com/HelloWorld","payload":"aGVsbG8gd29ybGQ=","#,
        r#""signatures":[{"keyid":"","sig":"A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}"#
    );
    assert_eq!(String::from_utf8(spec.to_vec()).unwrap(), expected);
    assert_eq!(Envelope::from_slice(expected.as_bytes()).unwrap(), spec);
    assert_eq!(serde_json::to_vec(&spec).unwrap(), spec.to_vec());
}

/// Two different private keys of each type vouch signs with. RSA keys are not generated by
/// vouch: cosign's two RSA-2048 test keys stand in.
fn key_pairs() -> Vec<(PrivateKey, PrivateKey)> {
    let mut pairs: Vec<_> = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Ed25519,
    ]
    .into_iter()
    .map(|t| {
        (
            PrivateKey::generate(t).unwrap(),
            PrivateKey::generate(t).unwrap(),
        )
    })
    .collect();
    let rsa = |pem| match PrivateKeyPem::parse(pem).unwrap() {
        PrivateKeyPem::Plain(key) => key,
        PrivateKeyPem::Encrypted(_) => panic!("cosign's RSA test keys are plain"),
    };
    pairs.push((
        rsa(include_str!("data/cosign/keys/validrsa.key")),
        rsa(include_str!("data/cosign/keys/validrsapkcs1.key")),
    ));
    pairs
}

#[test]
fn sign_then_verify_round_trips_through_json_for_every_key_type() {
    for (key, _) in key_pairs() {
        let key_type = key.key_type();
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let envelope =
            Envelope::sign("application/vnd.in-toto+json", payload, &key, "my-key").unwrap();
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.signatures[0].keyid, "my-key");

        let back = Envelope::from_slice(&envelope.to_vec()).unwrap();
        assert_eq!(back, envelope, "{key_type}");
        assert_eq!(back.verify(key.public_key()), Ok(0), "{key_type}");
        // A PEM round trip of the public key changes nothing.
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(back.verify(&public), Ok(0), "{key_type}");
    }
}

#[test]
fn tampering_is_detected_for_every_key_type() {
    for (key, other) in key_pairs() {
        let key_type = key.key_type();
        assert_eq!(other.key_type(), key_type);
        assert_ne!(other.public_key(), key.public_key());
        let envelope = Envelope::sign("application/vnd.in-toto+json", *b"{}", &key, "").unwrap();
        let refused = Err(AttestationError::NoValidSignature {
            signatures: 1,
            key_type,
        });

        let mut payload = envelope.clone();
        payload.payload = b"{ }".to_vec();
        assert_eq!(payload.verify(key.public_key()), refused, "{key_type}");

        let mut payload_type = envelope.clone();
        payload_type.payload_type = "application/vnd.in-toto+jsoN".into();
        assert_eq!(payload_type.verify(key.public_key()), refused, "{key_type}");

        let mut signature = envelope.clone();
        let last = signature.signatures[0].sig.len() - 1;
        signature.signatures[0].sig[last] ^= 1;
        assert_eq!(signature.verify(key.public_key()), refused, "{key_type}");

        // Signed by another key of the same type: neither key accepts the other's envelope.
        let by_other = Envelope::sign("application/vnd.in-toto+json", *b"{}", &other, "").unwrap();
        assert_eq!(by_other.verify(key.public_key()), refused, "{key_type}");
        assert_eq!(envelope.verify(other.public_key()), refused, "{key_type}");

        // The same tampering through the JSON text.
        let text = String::from_utf8(envelope.to_vec()).unwrap();
        let swapped = text.replace(r#""payload":"e30=""#, r#""payload":"W10=""#);
        assert_ne!(swapped, text);
        let swapped = Envelope::from_slice(swapped.as_bytes()).unwrap();
        assert_eq!(swapped.payload, b"[]");
        assert_eq!(swapped.verify(key.public_key()), refused, "{key_type}");
    }
}

#[test]
fn a_signature_moved_to_another_payload_type_does_not_verify() {
    // PAE binds the type: the same payload and signature under another type is refused.
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let simple = Envelope::sign(
        "application/vnd.dev.cosign.simplesigning.v1+json",
        *b"{}",
        &key,
        "",
    )
    .unwrap();
    let mut moved = simple.clone();
    moved.payload_type = "application/vnd.in-toto+json".into();
    assert!(moved.verify(key.public_key()).is_err());
}

#[test]
fn any_verifying_signature_is_enough_and_its_index_is_returned() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let other = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let mut envelope = Envelope::sign("t", *b"body", &other, "other").unwrap();
    envelope.add_signature(&key, "mine").unwrap();
    assert_eq!(envelope.signatures.len(), 2);
    assert_eq!(envelope.verify(other.public_key()), Ok(0));
    assert_eq!(envelope.verify(key.public_key()), Ok(1));
    let third = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    assert_eq!(
        envelope.verify(third.public_key()),
        Err(AttestationError::NoValidSignature {
            signatures: 2,
            key_type: KeyType::EcdsaP256
        })
    );
}

#[test]
fn url_safe_base64_verifies_like_standard() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    // 0xfb 0xff encodes as "+/8=" in standard base64 and "-_8=" in URL-safe.
    let envelope = Envelope::sign("t", vec![0xfb, 0xff], &key, "").unwrap();
    let text = String::from_utf8(envelope.to_vec()).unwrap();
    assert!(text.contains(r#""payload":"+/8=""#), "{text}");
    let url_safe = text.replace(r#""payload":"+/8=""#, r#""payload":"-_8=""#);
    let back = Envelope::from_slice(url_safe.as_bytes()).unwrap();
    assert_eq!(back.verify(key.public_key()), Ok(0));
}

#[test]
fn no_signatures_is_its_own_error() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let mut envelope = Envelope::sign("t", *b"body", &key, "").unwrap();
    envelope.signatures.clear();
    assert_eq!(
        envelope.verify(key.public_key()),
        Err(AttestationError::NoSignatures)
    );
}
