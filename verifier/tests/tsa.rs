//! RFC 3161 timestamps from real Rekor v2 bundles (sigstore-conformance cases), checked
//! against the timestamp authorities of each case's trusted root.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_verifier::VerifyError;
use vouch_verifier::time::UnixTime;
use vouch_verifier::tsa::{TimestampAuthority, TimestampToken, verify_timestamp};
use vouch_verifier::x509::Certificate;

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn load(case: &str, file: &str) -> Value {
    let path = format!(
        "{}/tests/data/conformance/{case}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn authorities(root: &Value) -> Vec<TimestampAuthority> {
    root["timestampAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tsa| TimestampAuthority {
            chain: tsa["certChain"]["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| Certificate::from_der(&bytes(&c["rawBytes"])).unwrap())
                .collect(),
            valid_from: UnixTime::parse_rfc3339(tsa["validFor"]["start"].as_str().unwrap())
                .unwrap(),
            valid_until: tsa["validFor"]["end"]
                .as_str()
                .map(|t| UnixTime::parse_rfc3339(t).unwrap()),
        })
        .collect()
}

/// Parses the case's first timestamp and verifies it over the bundle's signature.
fn check(case: &str) -> Result<UnixTime, VerifyError> {
    let bundle = load(case, "bundle.sigstore.json");
    let root = load(case, "trusted_root.json");
    let token = &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        [0]["signedTimestamp"];
    let token = TimestampToken::from_der(&bytes(token))?;
    let signature = bytes(&bundle["messageSignature"]["signature"]);
    verify_timestamp(&token, &signature, &authorities(&root))
}

#[test]
fn timestamps_from_the_trusted_authority_verify() {
    for case in [
        "rekor2-happy-path",
        "rekor2-timestamp-with-embedded-cert",
        "rekor2-timestamp-without-embedded-cert",
    ] {
        let time = check(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(time > UnixTime::parse_rfc3339("2025-01-01T00:00:00Z").unwrap());
    }
}

#[test]
fn the_end_of_the_authority_window_is_inclusive() {
    let time = check("trust-root-tsa-validity-end-inclusive").unwrap();
    assert_eq!(
        time.secs(),
        UnixTime::parse_rfc3339("2025-06-12T12:02:20Z")
            .unwrap()
            .secs()
    );
}

#[test]
fn each_bad_timestamp_is_refused_with_its_reason() {
    let untrusted = check("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail");
    assert!(
        matches!(untrusted, Err(VerifyError::TimestampUntrusted { .. })),
        "{untrusted:?}"
    );
    let outside = check("rekor2-timestamp-outside-trust-root-tsa-validity_fail");
    assert!(
        matches!(
            outside,
            Err(VerifyError::TimestampOutsideAuthorityValidity { .. })
        ),
        "{outside:?}"
    );
    let mismatch = check("rekor2-timestamp-payload-mismatch_fail");
    assert!(
        matches!(mismatch, Err(VerifyError::TimestampImprint)),
        "{mismatch:?}"
    );
}

#[test]
fn a_flipped_bit_in_the_token_is_refused() {
    let bundle = load("rekor2-happy-path", "bundle.sigstore.json");
    let root = load("rekor2-happy-path", "trusted_root.json");
    let token = bytes(
        &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"],
    );
    let signature = bytes(&bundle["messageSignature"]["signature"]);
    let authorities = authorities(&root);
    let mut refused = 0;
    // Flip one bit in each byte of the last 200 bytes (the signer info and signature): every
    // change must be either unreadable or refused, never accepted.
    for i in token.len() - 200..token.len() {
        let mut tampered = token.clone();
        tampered[i] ^= 0x01;
        match TimestampToken::from_der(&tampered) {
            Err(_) => refused += 1,
            Ok(parsed) => {
                assert!(
                    verify_timestamp(&parsed, &signature, &authorities).is_err(),
                    "byte {i} flipped was accepted"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 200);
    // And the untouched token under a root with no authority is untrusted.
    let parsed = TimestampToken::from_der(&token).unwrap();
    assert!(matches!(
        verify_timestamp(&parsed, &signature, &[]),
        Err(VerifyError::TimestampUntrusted { .. })
    ));
}
