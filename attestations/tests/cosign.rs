//! cosign's in-toto subject-claim envelopes and policy test data
//! (tests/data/cosign/README.md): the envelopes cosign writes, read and re-written byte for
//! byte, and cosign's PASS/FAIL verdict on "does the attestation claim this image digest?".
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use vouch_attestations::AttestationError;
use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::{Statement, StatementVersion};
use vouch_keys::Digest;

const VALID: &[u8] =
    include_bytes!("data/cosign/intoto-subject-claims/validIntotoStatement.dsse.json");
const STRING_PREDICATE: &[u8] = include_bytes!(
    "data/cosign/intoto-subject-claims/validIntotoStatementStringPredicate.dsse.json"
);
const MISSING_SUBJECT: &[u8] = include_bytes!(
    "data/cosign/intoto-subject-claims/validIntotoStatementMissingSubject.dsse.json"
);
const BAD_ENCODING: &[u8] =
    include_bytes!("data/cosign/intoto-subject-claims/invalidIntotoStatementBadEncoding.dsse.json");
const NULL_SUBJECT: &[u8] =
    include_bytes!("data/cosign/intoto-subject-claims/intotoStatementNullSubject.dsse.json");
const POLICY_VALID_CUSTOM: &[u8] = include_bytes!("data/cosign/pkg-policy-testdata/valid/custom");
const POLICY_VALID_VULN: &[u8] = include_bytes!("data/cosign/pkg-policy-testdata/valid/vuln");
const POLICY_MALFORMED_CUSTOM: &[u8] =
    include_bytes!("data/cosign/pkg-policy-testdata/malformed/custom");
const POLICY_MALFORMED_VULN: &[u8] =
    include_bytes!("data/cosign/pkg-policy-testdata/malformed/vuln");

const VALID_DIGEST: &str =
    "sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed";
const INVALID_DIGEST: &str =
    "sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932xxxxx";
const STRING_PREDICATE_DIGEST: &str =
    "sha256:9925d3017788558fa8f27e8bb160b791e56202b60c91fbcc5c867de3175986c8";

/// cosign's IntotoSubjectClaimVerifier, in vouch terms: the envelope reads, its payload is an
/// in-toto statement, and a subject claims `digest`. Err says where it failed.
fn subject_claim(envelope: &[u8], digest: &str) -> Result<(), String> {
    let envelope = Envelope::from_slice(envelope).map_err(|e| e.to_string())?;
    let statement = Statement::from_envelope(&envelope).map_err(|e| e.to_string())?;
    let digest: Digest = digest
        .parse()
        .map_err(|e: vouch_keys::DigestError| e.to_string())?;
    if statement.matches_digest(&digest) {
        Ok(())
    } else {
        Err("no subject has this digest".into())
    }
}

#[test]
fn subject_claim_verdicts_match_cosign() {
    // PASS cases.
    subject_claim(VALID, VALID_DIGEST).unwrap();
    subject_claim(STRING_PREDICATE, STRING_PREDICATE_DIGEST).unwrap();

    // FAIL cases, each for the reason cosign fails it.
    for (name, envelope, digest, reason) in [
        // No digest to look for: not a digest at all.
        ("valid, empty digest", VALID, "", "invalid digest"),
        (
            "valid, non-hex digest",
            VALID,
            INVALID_DIGEST,
            "not lowercase hex",
        ),
        (
            "valid, another image",
            VALID,
            STRING_PREDICATE_DIGEST,
            "no subject has this digest",
        ),
        // The subject's only digest is under the key "999", an algorithm digest_set.md does
        // not define: kept, never matched.
        (
            "missing subject",
            MISSING_SUBJECT,
            VALID_DIGEST,
            "no subject has this digest",
        ),
        // The payload is cut off mid-base64 ("...MjoyNV="): its last quantum has non-zero
        // padding bits. Go's lenient decoder decodes it to truncated JSON and fails there;
        // vouch refuses the base64 itself.
        (
            "bad encoding",
            BAD_ENCODING,
            VALID_DIGEST,
            "malformed DSSE envelope: payload is not base64",
        ),
        (
            "null subject",
            NULL_SUBJECT,
            VALID_DIGEST,
            "subject[0] is null, expected an object",
        ),
        // The inline payloads of the Go test.
        (
            "notinttoto",
            br#"{"payloadType":"notinttoto"}"#,
            VALID_DIGEST,
            "missing field payload",
        ),
        (
            "notmarshallable",
            br#"{"payloadType":"notmarshallable}"#,
            VALID_DIGEST,
            "EOF while parsing",
        ),
    ] {
        let error = subject_claim(envelope, digest).unwrap_err();
        assert!(error.contains(reason), "{name}: {error}");
    }
}

#[test]
fn a_well_formed_envelope_of_another_payload_type_is_not_a_statement() {
    let mut envelope = Envelope::from_slice(VALID).unwrap();
    envelope.payload_type = "notinttoto".into();
    assert_eq!(
        Statement::from_envelope(&envelope),
        Err(AttestationError::PayloadType {
            expected: IN_TOTO_PAYLOAD_TYPE,
            found: "notinttoto".into()
        })
    );
}

#[test]
fn the_string_predicate_is_kept_as_a_json_string() {
    let envelope = Envelope::from_slice(STRING_PREDICATE).unwrap();
    let statement = Statement::from_envelope(&envelope).unwrap();
    assert_eq!(statement.version(), StatementVersion::V0_1);
    assert_eq!(statement.predicate_type(), "https://spdx.dev/Document");
    let predicate = statement.predicate().and_then(|p| p.as_str()).unwrap();
    assert!(
        predicate.starts_with(r#"{"spdxVersion":"SPDX-2.2""#),
        "{predicate}"
    );
    assert_eq!(
        statement.subject_names().collect::<Vec<_>>(),
        ["localhost:5000/wolfi-base4"]
    );
}

#[test]
fn cosign_envelopes_are_rewritten_byte_for_byte() {
    for (name, bytes) in [
        ("valid", VALID),
        ("string predicate", STRING_PREDICATE),
        ("missing subject", MISSING_SUBJECT),
        ("null subject", NULL_SUBJECT),
        ("policy valid/custom", POLICY_VALID_CUSTOM),
        ("policy valid/vuln", POLICY_VALID_VULN),
        ("policy malformed/custom", POLICY_MALFORMED_CUSTOM),
        ("policy malformed/vuln", POLICY_MALFORMED_VULN),
    ] {
        let envelope = Envelope::from_slice(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(envelope.payload_type, IN_TOTO_PAYLOAD_TYPE, "{name}");
        assert_eq!(envelope.signatures.len(), 1, "{name}");
        assert_eq!(envelope.signatures[0].keyid, "", "{name}");
        assert_eq!(
            String::from_utf8(envelope.to_vec()).unwrap(),
            std::str::from_utf8(bytes).unwrap().trim_end(),
            "{name}"
        );
    }
}

#[test]
fn policy_test_data_yields_cosign_predicate_types() {
    // cosign's AttestationToPayloadJSON test: the valid/ files carry exactly these types.
    for (bytes, predicate_type) in [
        (
            POLICY_VALID_CUSTOM,
            "https://cosign.sigstore.dev/attestation/v1",
        ),
        (
            POLICY_VALID_VULN,
            "https://cosign.sigstore.dev/attestation/vuln/v1",
        ),
        // The malformed/ files lack "https://" (unused by cosign's tests). The spec asks for a
        // URI but neither it nor cosign's parser refuses other strings, and early cosign
        // wrote these itself, so vouch reads them as written; a policy compares the type.
        (
            POLICY_MALFORMED_CUSTOM,
            "cosign.sigstore.dev/attestation/v1",
        ),
        (
            POLICY_MALFORMED_VULN,
            "cosign.sigstore.dev/attestation/vuln/v1",
        ),
    ] {
        let envelope = Envelope::from_slice(bytes).unwrap();
        let statement = Statement::from_envelope(&envelope).unwrap();
        assert_eq!(statement.predicate_type(), predicate_type);
        assert_eq!(
            statement.subject_names().collect::<Vec<_>>(),
            ["registry.local:5000/knative/demo"]
        );
    }
}
