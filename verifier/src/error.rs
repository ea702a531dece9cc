//! The one error type of this crate: every reason a Sigstore bundle, its trust material or one
//! of its proofs is refused, each check its own variant, each message naming what failed.

use crate::time::{TimeError, UnixTime};

/// Why verification refused something. Variants are grouped by the check that failed; the
/// message names the check and the values that disagreed, never secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A certificate's DER could not be read.
    #[error("malformed certificate: {reason}")]
    CertificateMalformed {
        /// What was wrong.
        reason: String,
    },
    /// A certificate's public key is not one vouch can use.
    #[error("certificate public key unusable: {reason}")]
    CertificateKey {
        /// Why.
        reason: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("certificate \"{subject}\" is not signed by its issuer: {reason}")]
    CertificateSignature {
        /// The certificate's subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// A certificate path could not be built or breaks a rule of RFC 5280.
    #[error("certificate chain invalid: {reason}")]
    CertificateChain {
        /// Which rule, for which certificate.
        reason: String,
    },
    /// A certificate was not valid at the time that matters.
    #[error(
        "certificate \"{subject}\" was not valid at {time} (valid {not_before} to {not_after})"
    )]
    CertificateExpired {
        /// The certificate's subject.
        subject: String,
        /// The time checked.
        time: UnixTime,
        /// Validity start.
        not_before: UnixTime,
        /// Validity end.
        not_after: UnixTime,
    },
    /// A signature or digest algorithm vouch does not implement.
    #[error("unsupported algorithm {oid}")]
    UnsupportedAlgorithm {
        /// The algorithm's OID, dotted.
        oid: String,
    },
    /// The certificate's embedded SCT list could not be read.
    #[error("malformed signed certificate timestamp: {reason}")]
    SctMalformed {
        /// What was wrong.
        reason: String,
    },
    /// The certificate carries no signed certificate timestamp.
    #[error("the certificate carries no signed certificate timestamp (SCT)")]
    SctMissing,
    /// No embedded SCT verified against a trusted CT log.
    #[error("no signed certificate timestamp verifies against a trusted CT log: {reason}")]
    SctInvalid {
        /// Why each SCT failed.
        reason: String,
    },
    /// An RFC 3161 timestamp token could not be read.
    #[error("malformed RFC 3161 timestamp: {reason}")]
    TimestampMalformed {
        /// What was wrong.
        reason: String,
    },
    /// The timestamp's message imprint is not the hash of the signature it should stamp.
    #[error("the RFC 3161 timestamp does not cover this signature (message imprint differs)")]
    TimestampImprint,
    /// The timestamp authority's signature does not verify.
    #[error("RFC 3161 timestamp signature invalid: {reason}")]
    TimestampSignature {
        /// Why.
        reason: String,
    },
    /// The timestamp was not issued by a trusted timestamp authority.
    #[error("RFC 3161 timestamp not from a trusted authority: {reason}")]
    TimestampUntrusted {
        /// Why.
        reason: String,
    },
    /// The stamped time lies outside the authority's validity in the trusted root.
    #[error("RFC 3161 timestamp at {time} is outside its authority's validity in the trusted root ({valid_from} to {})", valid_until.map_or("now".to_string(), |t| t.to_string()))]
    TimestampOutsideAuthorityValidity {
        /// The stamped time.
        time: UnixTime,
        /// Start of the authority's window.
        valid_from: UnixTime,
        /// End of the window, if any.
        valid_until: Option<UnixTime>,
    },
    /// The transparency-log entry does not describe this bundle.
    #[error("log entry does not match the bundle: {field} {reason}")]
    EntryMismatch {
        /// The entry field that disagrees.
        field: String,
        /// How.
        reason: String,
    },
    /// A log entry kind or version vouch does not know how to compare.
    #[error("unsupported log entry kind {kind} {version}")]
    UnsupportedEntry {
        /// The entry kind.
        kind: String,
        /// Its version.
        version: String,
    },
    /// The certificate does not carry the identity the caller asked for.
    #[error("{what} mismatch: expected {expected}, the certificate has {found}")]
    IdentityMismatch {
        /// Which part of the identity (`certificate identity`, `OIDC issuer`).
        what: &'static str,
        /// What was asked for.
        expected: String,
        /// What the certificate holds.
        found: String,
    },
    /// The caller's verification policy cannot be used as given.
    #[error("invalid verification policy: {reason}")]
    PolicyInvalid {
        /// Why.
        reason: String,
    },
    /// A time field could not be read.
    #[error(transparent)]
    Time(#[from] TimeError),
}
