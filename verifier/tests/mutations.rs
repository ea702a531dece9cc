//! One mutation per verification check, applied to real bundles from the conformance cases:
//! each mutated bundle must be refused by `Verifier::verify` with the error of that check,
//! not merely refused.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_keys::Digest;
use vouch_verifier::VerifyError;
use vouch_verifier::bundle::Bundle;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&fs::read(data(path)).unwrap()).unwrap()
}

fn policy() -> Policy {
    Policy::Identity(CertificateIdentity {
        subject: Matcher::Exact(IDENTITY.into()),
        issuer: Matcher::Exact(ISSUER.into()),
        claims: Vec::new(),
    })
}

/// Verifies `bundle` (JSON) over the default artifact against `root` (JSON).
fn verify(bundle: &Value, root: &Value) -> Result<(), VerifyError> {
    let bundle = Bundle::from_json(&serde_json::to_vec(bundle).unwrap())?;
    let root = TrustedRoot::from_json(&serde_json::to_vec(root).unwrap())?;
    let artifact = fs::read(data("conformance/a.txt")).unwrap();
    let digest = Digest::sha256(&artifact);
    let verifier = Verifier::new(&root)?;
    // By digest when the artifact is a DSSE subject, by bytes otherwise: both paths covered.
    let by = if bundle_is_dsse(&bundle) {
        Artifact::Digest(&digest)
    } else {
        Artifact::Bytes(&artifact)
    };
    verifier
        .verify(
            &bundle,
            by,
            &policy(),
            Options::at(UnixTime::from_system_time(std::time::SystemTime::now())),
        )
        .map(|_| ())
}

fn bundle_is_dsse(bundle: &Bundle) -> bool {
    matches!(
        bundle.content,
        vouch_verifier::bundle::BundleContent::DsseEnvelope(_)
    )
}

fn public_good() -> Value {
    serde_json::from_slice(vouch_verifier::trust_root::PUBLIC_GOOD_JSON).unwrap()
}

/// Flips the lowest bit of the byte at `index` (from the end when negative) of a base64 field.
fn flip(value: &mut Value, index: isize) {
    let mut bytes = STANDARD.decode(value.as_str().unwrap()).unwrap();
    let at = if index < 0 {
        bytes.len() - index.unsigned_abs()
    } else {
        index as usize
    };
    bytes[at] ^= 1;
    *value = STANDARD.encode(bytes).into();
}

fn v03() -> Value {
    json("conformance/happy-path-v0.3/bundle.sigstore.json")
}

fn rekor2() -> (Value, Value) {
    (
        json("conformance/rekor2-happy-path/bundle.sigstore.json"),
        json("conformance/rekor2-happy-path/trusted_root.json"),
    )
}

#[test]
fn the_unmutated_bundles_verify() {
    verify(&v03(), &public_good()).unwrap();
    let (bundle, root) = rekor2();
    verify(&bundle, &root).unwrap();
}

#[test]
fn a_flipped_bit_in_the_set_is_refused() {
    let mut bundle = v03();
    flip(
        &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"],
        -3,
    );
    let e = verify(&bundle, &public_good()).unwrap_err();
    assert!(matches!(e, VerifyError::SetSignatureInvalid { .. }), "{e}");
}

#[test]
fn a_moved_integrated_time_breaks_the_set() {
    let mut bundle = v03();
    let entry = &mut bundle["verificationMaterial"]["tlogEntries"][0];
    let time: i64 = entry["integratedTime"].as_str().unwrap().parse().unwrap();
    entry["integratedTime"] = (time - 3600).to_string().into();
    let e = verify(&bundle, &public_good()).unwrap_err();
    assert!(matches!(e, VerifyError::SetSignatureInvalid { .. }), "{e}");
}

#[test]
fn a_flipped_bit_in_the_inclusion_proof_is_refused() {
    let mut bundle = v03();
    flip(
        &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0],
        0,
    );
    let e = verify(&bundle, &public_good()).unwrap_err();
    assert!(
        matches!(e, VerifyError::InclusionRootMismatch { .. }),
        "{e}"
    );
}

#[test]
fn a_flipped_bit_in_the_checkpoint_signature_is_refused() {
    let (mut bundle, root) = rekor2();
    let checkpoint = &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"];
    let text = checkpoint.as_str().unwrap().to_owned();
    let (body, signatures) = text.split_once("\n\n").unwrap();
    let mut lines: Vec<String> = signatures.lines().map(str::to_owned).collect();
    let line = lines
        .iter_mut()
        .find(|l| l.contains("log2025-alpha1.rekor.sigstage.dev"))
        .unwrap();
    let (prefix, sig) = line.rsplit_once(' ').unwrap();
    let mut sig = Value::String(sig.to_owned());
    flip(&mut sig, -1);
    *line = format!("{prefix} {}", sig.as_str().unwrap());
    *checkpoint = format!("{body}\n\n{}\n", lines.join("\n")).into();
    let e = verify(&bundle, &root).unwrap_err();
    assert!(
        matches!(e, VerifyError::CheckpointSignatureInvalid { .. }),
        "{e}"
    );
}

#[test]
fn a_flipped_bit_in_the_tsa_token_is_refused() {
    let (mut bundle, root) = rekor2();
    flip(
        &mut bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"],
        -2,
    );
    let e = verify(&bundle, &root).unwrap_err();
    assert!(matches!(e, VerifyError::TimestampSignature { .. }), "{e}");
}

#[test]
fn an_sct_from_an_untrusted_ct_log_key_is_refused() {
    // The SCT is inside the signed certificate, so it cannot be flipped without breaking the
    // certificate; instead the CT log's key in the trusted root is replaced by another log's.
    let mut root = public_good();
    let ctlogs = root["ctlogs"].as_array_mut().unwrap();
    let other = ctlogs[0]["publicKey"]["rawBytes"].clone();
    for log in ctlogs.iter_mut() {
        log["publicKey"]["rawBytes"] = other.clone();
    }
    let e = verify(&v03(), &root).unwrap_err();
    assert!(matches!(e, VerifyError::SctInvalid { .. }), "{e}");
}

#[test]
fn a_flipped_bit_in_the_dsse_payload_is_refused() {
    let mut bundle = json("conformance/happy-path-intoto-in-dsse-v3/bundle.sigstore.json");
    flip(&mut bundle["dsseEnvelope"]["payload"], 10);
    let e = verify(&bundle, &public_good()).unwrap_err();
    assert!(matches!(e, VerifyError::ArtifactSignature { .. }), "{e}");
}

#[test]
fn a_certificate_outside_the_ca_window_is_refused() {
    // The Fulcio CA's validity in the trusted root ends before the signing time.
    let mut root = public_good();
    for ca in root["certificateAuthorities"].as_array_mut().unwrap() {
        ca["validFor"]["end"] = "2022-01-01T00:00:00Z".into();
    }
    let e = verify(&v03(), &root).unwrap_err();
    assert!(matches!(e, VerifyError::CertificateChain { .. }), "{e}");
}

#[test]
fn a_signing_time_after_now_is_refused() {
    let bundle = Bundle::from_json(&serde_json::to_vec(&v03()).unwrap()).unwrap();
    let root = TrustedRoot::public_good().unwrap();
    let artifact = fs::read(data("conformance/a.txt")).unwrap();
    let long_ago = UnixTime::parse_rfc3339("2020-01-01T00:00:00Z").unwrap();
    let e = Verifier::new(root)
        .unwrap()
        .verify(
            &bundle,
            Artifact::Bytes(&artifact),
            &policy(),
            Options::at(long_ago),
        )
        .unwrap_err();
    assert!(matches!(e, VerifyError::TimeInFuture { .. }), "{e}");
}

#[test]
fn the_staging_root_does_not_trust_a_production_bundle() {
    let staging = json("trust/sigstore-staging-trusted_root.json");
    let e = verify(&v03(), &staging).unwrap_err();
    assert!(matches!(e, VerifyError::UnknownLog { .. }), "{e}");
}

#[test]
fn another_identity_or_issuer_is_refused() {
    let bundle = Bundle::from_json(&serde_json::to_vec(&v03()).unwrap()).unwrap();
    let root = TrustedRoot::public_good().unwrap();
    let verifier = Verifier::new(root).unwrap();
    let artifact = fs::read(data("conformance/a.txt")).unwrap();
    for (subject, issuer) in [
        (
            Matcher::Exact("https://github.com/someone/else".into()),
            Matcher::Exact(ISSUER.into()),
        ),
        (
            Matcher::Exact(IDENTITY.into()),
            Matcher::Exact("https://accounts.google.com".into()),
        ),
        (
            Matcher::regex("^https://github.com/sigstore-conformance/other").unwrap(),
            Matcher::Exact(ISSUER.into()),
        ),
    ] {
        let policy = Policy::Identity(CertificateIdentity::new(subject, issuer));
        let e = verifier
            .verify(
                &bundle,
                Artifact::Bytes(&artifact),
                &policy,
                Options::at(UnixTime::from_system_time(std::time::SystemTime::now())),
            )
            .unwrap_err();
        assert!(matches!(e, VerifyError::IdentityMismatch { .. }), "{e}");
    }
    let policy = Policy::Identity(CertificateIdentity {
        subject: Matcher::regex("^https://github.com/sigstore-conformance/").unwrap(),
        issuer: Matcher::regex("githubusercontent").unwrap(),
        claims: Vec::new(),
    });
    verifier
        .verify(
            &bundle,
            Artifact::Bytes(&artifact),
            &policy,
            Options::at(UnixTime::from_system_time(std::time::SystemTime::now())),
        )
        .unwrap();
}
