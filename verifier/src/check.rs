//! One vocabulary for every verification check: [`Check`]. A passing check in a report, a
//! rejected cosign signature layer, a rejected attestation layer and a refused Sigstore bundle
//! all name their check with it, so a script reading `--output json` sees the same `check`
//! value for the same failure whichever form the evidence took. The names are kebab-case and
//! stable; [`Check::ALL`] lists them in the order verification runs them.
//!
//! ```
//! use vouch_verifier::check::Check;
//!
//! assert_eq!(Check::ArtifactSignature.name(), "artifact-signature");
//! assert_eq!(serde_json::to_value(Check::TlogCheckpoint).unwrap(), "tlog-checkpoint");
//! assert_eq!("certificate-identity".parse::<Check>(), Ok(Check::CertificateIdentity));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A verification check. Each names one property of the evidence; a failure names the first
/// check that did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A Sigstore document (bundle, trusted root) is well-formed for its media type and
    /// version.
    BundleFormat,
    /// The trusted root is usable: every entry has a validity start, keys and certificates
    /// read.
    TrustedRoot,
    /// A cosign layer or DSSE envelope is well-formed: the layer's media type is the one its
    /// tag holds, its signature annotation is present and base64, the envelope parses.
    EnvelopeFormat,
    /// The signed payload could be fetched intact (present, within its size limit, matching
    /// its digest).
    PayloadAvailable,
    /// The signer material fits the policy: a key where a key is trusted, a certificate where
    /// an identity is.
    VerificationMaterial,
    /// The signing certificate chains to a trusted certificate authority, valid at the signing
    /// time, with the code-signing extended key usage.
    CertificateChain,
    /// The signing certificate carries a valid embedded SCT from a trusted CT log.
    CertificateSct,
    /// The signing certificate's identity (SAN, issuer and other Fulcio extensions) is the
    /// one the policy requires.
    CertificateIdentity,
    /// The signature verifies over the artifact (or the DSSE PAE) with the signer's key.
    ArtifactSignature,
    /// The signed payload is a statement vouch reads: a cosign simple-signing document or an
    /// in-toto statement in a DSSE envelope (a message signature does not vouch for an image).
    Statement,
    /// The signed statement is about this artifact: its digest is the image's, or one of its
    /// subjects has the artifact's digest.
    ArtifactDigest,
    /// The attestation's predicate type is the one asked for.
    PredicateType,
    /// The annotations the caller requires are in the signed payload, with the required
    /// values.
    Annotations,
    /// A transparency-log entry exists when required, and names a log of the trusted root
    /// whose key was valid at the time.
    TlogEntry,
    /// The log entry's body records this signature, this signer and this artifact.
    TlogEntryBody,
    /// The log's signed entry timestamp (Rekor v1 inclusion promise) verifies.
    TlogSignedEntryTimestamp,
    /// The Merkle inclusion proof leads from the entry to the proof's root hash.
    TlogInclusionProof,
    /// The checkpoint (signed tree head) the proof leads to is signed by the log and matches
    /// the proof.
    TlogCheckpoint,
    /// An RFC 3161 timestamp is signed by a trusted timestamp authority over this signature.
    Rfc3161Timestamp,
    /// A verified time (log integration or timestamp) exists, is not in the future, and falls
    /// within the certificate's validity.
    SigningTime,
    /// The image name a simple-signing payload was signed for fits the name the image is
    /// verified under, as the trust policy's `signedIdentity` says (containers-policy.json's
    /// `signedIdentity`).
    SignedIdentity,
    /// The signature is no older than the trust policy's `maxAge`, by a verified time.
    SignatureAge,
    /// A Rego policy evaluated the verified statement and allowed it.
    Policy,
}

impl Check {
    /// Every check, in the order verification runs them.
    pub const ALL: [Check; 23] = [
        Check::BundleFormat,
        Check::TrustedRoot,
        Check::EnvelopeFormat,
        Check::PayloadAvailable,
        Check::VerificationMaterial,
        Check::CertificateChain,
        Check::CertificateSct,
        Check::CertificateIdentity,
        Check::ArtifactSignature,
        Check::Statement,
        Check::ArtifactDigest,
        Check::PredicateType,
        Check::Annotations,
        Check::TlogEntry,
        Check::TlogEntryBody,
        Check::TlogSignedEntryTimestamp,
        Check::TlogInclusionProof,
        Check::TlogCheckpoint,
        Check::Rfc3161Timestamp,
        Check::SigningTime,
        Check::SignedIdentity,
        Check::SignatureAge,
        Check::Policy,
    ];

    /// The check's stable kebab-case name, as JSON and text output print it.
    pub const fn name(self) -> &'static str {
        match self {
            Check::BundleFormat => "bundle-format",
            Check::TrustedRoot => "trusted-root",
            Check::EnvelopeFormat => "envelope-format",
            Check::PayloadAvailable => "payload-available",
            Check::VerificationMaterial => "verification-material",
            Check::CertificateChain => "certificate-chain",
            Check::CertificateSct => "certificate-sct",
            Check::CertificateIdentity => "certificate-identity",
            Check::ArtifactSignature => "artifact-signature",
            Check::Statement => "statement",
            Check::ArtifactDigest => "artifact-digest",
            Check::PredicateType => "predicate-type",
            Check::Annotations => "annotations",
            Check::TlogEntry => "tlog-entry",
            Check::TlogEntryBody => "tlog-entry-body",
            Check::TlogSignedEntryTimestamp => "tlog-signed-entry-timestamp",
            Check::TlogInclusionProof => "tlog-inclusion-proof",
            Check::TlogCheckpoint => "tlog-checkpoint",
            Check::Rfc3161Timestamp => "rfc3161-timestamp",
            Check::SigningTime => "signing-time",
            Check::SignedIdentity => "signed-identity",
            Check::SignatureAge => "signature-age",
            Check::Policy => "policy",
        }
    }
}

impl fmt::Display for Check {
    /// The check's [`name`](Check::name), padded as the format asks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A name that is not one of [`Check::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a check name")]
pub struct UnknownCheck(pub String);

impl FromStr for Check {
    type Err = UnknownCheck;

    /// The check with this [`name`](Check::name).
    fn from_str(name: &str) -> Result<Self, UnknownCheck> {
        Check::ALL
            .into_iter()
            .find(|check| check.name() == name)
            .ok_or_else(|| UnknownCheck(name.to_owned()))
    }
}

/// A piece of evidence that failed: the check that failed and why, as one sentence. What the
/// CLI, the policy engine and the servers report for a rejected signature, attestation or
/// bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The check that failed.
    pub check: Check,
    /// Why, naming the values that disagreed.
    pub reason: String,
}

impl fmt::Display for Refusal {
    /// `[check] reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.check, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_unique_and_agree_with_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for check in Check::ALL {
            let name = check.name();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            assert_eq!(serde_json::to_value(check).unwrap(), name);
            assert_eq!(name.parse::<Check>(), Ok(check));
            assert_eq!(
                serde_json::from_value::<Check>(serde_json::json!(name)).unwrap(),
                check
            );
        }
        assert!("image-statement".parse::<Check>().is_err());
    }
}
