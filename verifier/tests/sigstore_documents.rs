//! Every bundle and trusted root of the sigstore-conformance cases, sigstore's own trust roots
//! and cosign's test data read as expected: the structurally broken cases are refused by the
//! parser with the right error, everything else reads, and the bundles' logs are found in
//! their trust roots.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use vouch_attestations::{AttestationError, Document};
use vouch_verifier::VerifyError;
use vouch_verifier::bundle::{Bundle, BundleContent, BundleVersion, SignerMaterial};
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::{TrustSection, TrustedRoot};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn cases() -> Vec<(String, PathBuf)> {
    let mut cases: Vec<_> = fs::read_dir(data("conformance"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();
    cases.sort();
    cases
}

/// The cases that are structurally invalid, and so refused by the parser itself.
fn expected_refusal(case: &str, error: &AttestationError) -> bool {
    let rule_at = |path: &AttestationError, want: &str| matches!(path, AttestationError::BundleVersionRule { path, .. } if path == want);
    match case {
        "bundle-malformed-json_fail" => matches!(
            error,
            AttestationError::MalformedJson {
                document: Document::Bundle,
                ..
            }
        ),
        "bundle-invalid-base64-signature_fail" => matches!(
            error,
            AttestationError::InvalidBase64 { path, .. } if path == "messageSignature.signature"
        ),
        "bundle-empty-certificate-chain_fail" => matches!(
            error,
            AttestationError::InvalidField { path, .. }
                if path == "verificationMaterial.x509CertificateChain.certificates"
        ),
        "intoto-missing-inclusion-proof_fail" | "rekor2-no-inclusion-proof_fail" => {
            rule_at(error, "verificationMaterial.tlogEntries[0].inclusionProof")
        }
        // A v0.2 bundle whose inclusion proof has no checkpoint: its root hash is unsigned.
        "invalid-inclusion-proof_fail" => rule_at(
            error,
            "verificationMaterial.tlogEntries[0].inclusionProof.checkpoint",
        ),
        _ => false,
    }
}

#[test]
fn conformance_bundles_read_unless_structurally_invalid() {
    let cases = cases();
    assert_eq!(cases.len(), 50);
    let mut refused = Vec::new();
    for (case, dir) in &cases {
        let bytes = fs::read(dir.join("bundle.sigstore.json")).unwrap();
        match Bundle::from_json(&bytes) {
            Ok(bundle) => {
                // Shape facts every case agrees on.
                let material = &bundle.material;
                match (&material.signer, bundle.version) {
                    (SignerMaterial::PublicKey { hint }, _) => assert!(!hint.is_empty(), "{case}"),
                    (SignerMaterial::X509CertificateChain(chain), v) => {
                        assert!(v < BundleVersion::V0_3 && !chain.is_empty(), "{case}")
                    }
                    (SignerMaterial::Certificate(_), v) => {
                        assert_eq!(v, BundleVersion::V0_3, "{case}")
                    }
                }
                assert_eq!(material.tlog_entries.len(), 1, "{case}");
                if let BundleContent::DsseEnvelope(envelope) = &bundle.content {
                    assert_eq!(
                        envelope.payload_type, "application/vnd.in-toto+json",
                        "{case}"
                    );
                    assert_eq!(envelope.payload.first(), Some(&b'{'), "{case}");
                }
            }
            Err(error) => {
                assert!(
                    expected_refusal(case, &error),
                    "{case}: unexpected refusal: {error}"
                );
                refused.push(case.as_str());
            }
        }
    }
    assert_eq!(
        refused,
        [
            "bundle-empty-certificate-chain_fail",
            "bundle-invalid-base64-signature_fail",
            "bundle-malformed-json_fail",
            "intoto-missing-inclusion-proof_fail",
            "invalid-inclusion-proof_fail",
            "rekor2-no-inclusion-proof_fail",
        ]
    );
}

#[test]
fn conformance_bundles_find_their_logs_in_their_trust_roots() {
    let public_good = TrustedRoot::public_good().unwrap();
    for (case, dir) in cases() {
        let Ok(bundle) = Bundle::from_json(&fs::read(dir.join("bundle.sigstore.json")).unwrap())
        else {
            continue;
        };
        let custom = dir.join("trusted_root.json");
        let custom = custom
            .exists()
            .then(|| TrustedRoot::from_json(&fs::read(custom).unwrap()).unwrap());
        let root = custom.as_ref().unwrap_or(public_good);
        for entry in &bundle.material.tlog_entries {
            let found = root.tlog(&entry.log_id);
            match case.as_str() {
                // A staging bundle checked against the production root.
                "bundle-from-wrong-instance_fail" => {
                    assert!(
                        matches!(found, Err(VerifyError::UnknownLog { .. })),
                        "{case}"
                    )
                }
                "trust-root-tlog-missing-validity-start_fail" => assert_eq!(
                    found.unwrap_err(),
                    VerifyError::TrustedValidityMissing {
                        path: "tlogs[1].publicKey.validFor.start".into()
                    }
                ),
                _ => {
                    let log = found.unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert!(!log.public_key.raw_bytes.is_empty());
                }
            }
        }
    }
}

#[test]
fn every_trusted_root_reads() {
    let mut roots: Vec<PathBuf> = cases()
        .into_iter()
        .map(|(_, dir)| dir.join("trusted_root.json"))
        .filter(|path| path.exists())
        .collect();
    assert_eq!(roots.len(), 26);
    roots.extend([
        data("trust/sigstore-staging-trusted_root.json"),
        data("cosign/trusted_root_pgi.json"),
    ]);
    for path in &roots {
        let root = TrustedRoot::from_json(&fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!root.tlogs.is_empty(), "{}", path.display());
        assert!(
            !root.certificate_authorities.is_empty(),
            "{}",
            path.display()
        );
        let missing_start = path.to_string_lossy().contains("missing-validity-start");
        assert_eq!(
            root.unusable.is_empty(),
            !missing_start,
            "{}",
            path.display()
        );
    }

    // Staging's first CT log key is a PKCS#1 RSAPublicKey, not an SPKI.
    let staging = TrustedRoot::from_json(
        &fs::read(data("trust/sigstore-staging-trusted_root.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(staging.tlogs.len(), 4);
    assert_eq!(
        staging.ctlogs[0].public_key.key_details.name(),
        "PKCS1_RSA_PKCS1V5"
    );
    assert_eq!(staging.ctlogs[0].public_key.raw_bytes[..2], [0x30, 0x82]);
}

#[test]
fn a_missing_validity_start_is_refused_where_it_matters() {
    let root = TrustedRoot::from_json(
        &fs::read(data(
            "conformance/trust-root-tlog-missing-validity-start_fail/trusted_root.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(root.tlogs.len(), 1);
    assert_eq!(root.unusable.len(), 1);
    assert_eq!(root.unusable[0].section, TrustSection::Tlogs);
    assert_eq!(root.unusable[0].index, 1);
}

#[test]
fn a_tsa_validity_end_is_inclusive() {
    let root = TrustedRoot::from_json(
        &fs::read(data(
            "conformance/trust-root-tsa-validity-end-inclusive/trusted_root.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let end = UnixTime::parse_rfc3339("2025-06-12T12:02:20Z").unwrap();
    let valid_for = root.timestamp_authorities[0].valid_for;
    assert_eq!(valid_for.end, Some(end));
    assert!(valid_for.contains(end));
    assert!(!valid_for.contains(UnixTime::from_secs(end.secs() + 1)));
}

#[test]
fn cosign_s_public_good_attestation_bundle_reads() {
    let bundle =
        Bundle::from_json(&fs::read(data("cosign/oci-attestation.sigstore.json")).unwrap())
            .unwrap();
    assert_eq!(bundle.version, BundleVersion::V0_3);
    let entry = &bundle.material.tlog_entries[0];
    assert_eq!(entry.log_index, 175_508_996);
    assert_eq!(entry.integrated_time, 1_740_770_291);
    assert_eq!(entry.kind_version.kind, "dsse");
    let root =
        TrustedRoot::from_json(&fs::read(data("cosign/trusted_root_pgi.json")).unwrap()).unwrap();
    assert!(root.tlog(&entry.log_id).is_ok());
    assert!(matches!(bundle.content, BundleContent::DsseEnvelope(_)));
}
