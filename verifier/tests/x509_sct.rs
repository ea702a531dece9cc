//! Real Fulcio certificates from the sigstore-conformance cases, checked against the
//! public-good trusted root: path building, identity extensions, embedded SCTs.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_keys::PublicKey;
use vouch_verifier::VerifyError;
use vouch_verifier::sct::{embedded_scts, verify_embedded_scts};
use vouch_verifier::time::UnixTime;
use vouch_verifier::x509::{Certificate, GeneralName, Purpose, verify_path};

const ROOT: &str = include_str!("../src/trusted_root/sigstore-public-good.json");

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn leaf(case: &str) -> Certificate {
    let path = format!(
        "{}/tests/data/conformance/{case}/bundle.sigstore.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bundle: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let material = &bundle["verificationMaterial"];
    let raw = if material["certificate"].is_object() {
        &material["certificate"]["rawBytes"]
    } else {
        &material["x509CertificateChain"]["certificates"][0]["rawBytes"]
    };
    Certificate::from_der(&bytes(raw)).unwrap()
}

/// Every certificate of every Fulcio CA in the public-good root.
fn fulcio_pool() -> Vec<Certificate> {
    let root: Value = serde_json::from_str(ROOT).unwrap();
    root["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|ca| ca["certChain"]["certificates"].as_array().unwrap().clone())
        .map(|c| Certificate::from_der(&bytes(&c["rawBytes"])).unwrap())
        .collect()
}

fn ct_key(log_id: &[u8; 32], _time: UnixTime) -> Result<PublicKey, VerifyError> {
    let root: Value = serde_json::from_str(ROOT).unwrap();
    for log in root["ctlogs"].as_array().unwrap() {
        if bytes(&log["logId"]["keyId"]) == log_id {
            return Ok(PublicKey::from_spki_der(&bytes(&log["publicKey"]["rawBytes"])).unwrap());
        }
    }
    Err(VerifyError::SctMissing)
}

#[test]
fn a_fulcio_leaf_chains_to_the_public_good_root() {
    let leaf = leaf("happy-path-v0.3");
    let pool = fulcio_pool();
    let path = verify_path(&leaf, &pool, leaf.not_before(), Purpose::CodeSigning).unwrap();
    assert_eq!(path.len(), 2, "intermediate, then root");
    assert!(path[1].is_self_issued());

    let names = leaf.subject_alt_names().unwrap();
    assert!(
        names
            .iter()
            .any(|n| matches!(n, GeneralName::Uri(u) if u.contains("sigstore-conformance"))),
        "{names:?}"
    );
    assert_eq!(
        leaf.fulcio_issuer().unwrap().as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
}

#[test]
fn the_leaf_is_refused_outside_its_validity_and_for_the_wrong_purpose() {
    let leaf = leaf("happy-path-v0.3");
    let pool = fulcio_pool();
    let later = UnixTime::from_secs(leaf.not_after().secs() + 1);
    assert!(matches!(
        verify_path(&leaf, &pool, later, Purpose::CodeSigning),
        Err(VerifyError::CertificateExpired { .. })
    ));
    assert!(matches!(
        verify_path(&leaf, &pool, leaf.not_before(), Purpose::TimeStamping),
        Err(VerifyError::CertificateChain { .. })
    ));
    // Without the intermediate there is no path.
    let roots: Vec<Certificate> = pool
        .into_iter()
        .filter(Certificate::is_self_issued)
        .collect();
    assert!(matches!(
        verify_path(&leaf, &roots, leaf.not_before(), Purpose::CodeSigning),
        Err(VerifyError::CertificateChain { .. })
    ));
}

#[test]
fn the_embedded_sct_verifies_and_a_flipped_bit_does_not() {
    let leaf = leaf("happy-path-v0.3");
    let pool = fulcio_pool();
    let path = verify_path(&leaf, &pool, leaf.not_before(), Purpose::CodeSigning).unwrap();
    let sct = verify_embedded_scts(&leaf, path[0], ct_key).unwrap();
    assert!(sct.time() >= leaf.not_before());

    // Flip one bit of the SCT signature inside the certificate: the parse still succeeds
    // but the SCT no longer verifies.
    let der = leaf.der().to_vec();
    let original = embedded_scts(&leaf).unwrap().remove(0);
    let position = der
        .windows(original.signature.len())
        .position(|w| w == original.signature.as_slice())
        .unwrap();
    let mut tampered = der.clone();
    tampered[position + original.signature.len() - 1] ^= 1;
    let tampered = Certificate::from_der(&tampered).unwrap();
    assert!(matches!(
        verify_embedded_scts(&tampered, path[0], ct_key),
        Err(VerifyError::SctInvalid { .. })
    ));
    // An SCT checked against the wrong issuer key hash fails too.
    assert!(matches!(
        verify_embedded_scts(&leaf, path[1], ct_key),
        Err(VerifyError::SctInvalid { .. })
    ));
}

#[test]
fn truncated_and_padded_certificates_are_refused() {
    let der = leaf("happy-path-v0.3").der().to_vec();
    for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
        assert!(Certificate::from_der(&der[..cut]).is_err(), "cut at {cut}");
    }
    let mut padded = der.clone();
    padded.push(0);
    assert!(Certificate::from_der(&padded).is_err());
}

#[test]
fn a_cached_issuer_signature_does_not_vouch_for_another_key() {
    let leaf = leaf("happy-path-v0.3");
    let pool = fulcio_pool();
    let path = verify_path(&leaf, &pool, leaf.not_before(), Purpose::CodeSigning).unwrap();
    let issuer = path[0].public_key().unwrap();
    let root = path[1].public_key().unwrap();
    for _ in 0..2 {
        leaf.verify_signed_by(&issuer).unwrap();
        assert!(matches!(
            leaf.verify_signed_by(&root),
            Err(VerifyError::CertificateSignature { .. })
        ));
    }
}

/// Rebuilds the leaf with `edit` applied to its TBS elements (version, serial, algorithm,
/// issuer, validity, subject, key, extensions wrapper), each a whole TLV; the outer lengths
/// are re-encoded and the signature kept (it no longer verifies: only parsing is checked).
fn rebuilt(edit: impl Fn(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    use vouch_keys::der::{Reader, SEQUENCE, tlv};
    let der = leaf("happy-path-v0.3").der().to_vec();
    let mut outer = Reader::new(&der).sequence().unwrap();
    let (_, tbs, _) = outer.any_raw().unwrap();
    let rest = outer.remaining().to_vec();
    let mut fields = Vec::new();
    let mut reader = Reader::new(tbs);
    while !reader.is_empty() {
        fields.push(reader.any_raw().unwrap().2.to_vec());
    }
    edit(&mut fields);
    let mut body = tlv(SEQUENCE, &fields.concat());
    body.extend(rest);
    tlv(SEQUENCE, &body)
}

/// The extensions of the leaf as whole TLVs, and a way to put a list back.
fn edit_extensions(fields: &mut [Vec<u8>], edit: impl Fn(&mut Vec<Vec<u8>>)) {
    use vouch_keys::der::{Reader, SEQUENCE, tlv};
    let wrapper = fields.last_mut().unwrap();
    let mut list = Reader::new(wrapper).expect(0xa3).map(Reader::new).unwrap();
    let mut items = Vec::new();
    let mut seq = list.sequence().unwrap();
    while !seq.is_empty() {
        items.push(seq.any_raw().unwrap().2.to_vec());
    }
    edit(&mut items);
    *wrapper = tlv(0xa3, &tlv(SEQUENCE, &items.concat()));
}

#[test]
fn non_der_and_malformed_certificate_fields_are_refused() {
    use vouch_keys::der::{Reader, SEQUENCE, tlv};
    // The rebuilt but unchanged certificate parses: the helpers change nothing themselves.
    assert!(Certificate::from_der(&rebuilt(|_| {})).is_ok());
    // An explicit critical FALSE (DER omits a DEFAULT value).
    let explicit_false = rebuilt(|fields| {
        edit_extensions(fields, |items| {
            let mut ext = Reader::new(&items[0]).sequence().unwrap();
            let oid = ext.any_raw().unwrap().2.to_vec();
            let rest = ext.remaining().to_vec();
            items[0] = tlv(SEQUENCE, &[oid, vec![0x01, 0x01, 0x00], rest].concat());
        })
    });
    assert!(
        Certificate::from_der(&explicit_false).is_err(),
        "critical FALSE"
    );
    // The same extension twice.
    let twice = rebuilt(|fields| edit_extensions(fields, |items| items.push(items[0].clone())));
    assert!(
        Certificate::from_der(&twice).is_err(),
        "duplicate extension"
    );
    // An empty extensions list.
    let empty = rebuilt(|fields| edit_extensions(fields, |items| items.clear()));
    assert!(Certificate::from_der(&empty).is_err(), "empty extensions");
    // A version 1 certificate (no [0] version, so no extensions allowed either).
    let v1 = rebuilt(|fields| {
        fields.remove(0);
        fields.pop();
    });
    assert!(Certificate::from_der(&v1).is_err(), "v1");
    // A serial with a redundant leading zero (INTEGER not minimally encoded).
    let padded_serial = rebuilt(|fields| {
        let serial = Reader::new(&fields[1]).expect(0x02).unwrap().to_vec();
        fields[1] = tlv(0x02, &[&[0u8, 0][..], &serial].concat());
    });
    assert!(
        Certificate::from_der(&padded_serial).is_err(),
        "padded serial"
    );
}
