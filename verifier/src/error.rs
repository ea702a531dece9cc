//! The one error type of this crate: every reason a Sigstore bundle, its trust material or one
//! of its proofs is refused, each check its own variant, each message naming what failed.

use crate::time::{TimeError, UnixTime};

use crate::trust_root::LogKind;
use vouch_attestations::AttestationError;

use crate::check::Check;

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
    /// A signing config that cannot be used.
    #[error("signing config: {reason}")]
    SigningConfig {
        /// What is wrong.
        reason: String,
    },
    /// A timestamp authority's answer that is not for the request it was sent (another
    /// imprint, another nonce): refused when signing, before anything is kept.
    #[error("the timestamp authority's answer does not match the request: {reason}")]
    TimestampMismatch {
        /// What differs.
        reason: String,
    },
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
    /// A trusted-root log key vouch cannot use (unsupported type, or outside its validity).
    #[error("trusted log {log} cannot be used: {reason}")]
    TrustedKeyUnusable {
        /// The log's base URL.
        log: String,
        /// Why.
        reason: String,
    },
    /// The bundle's verification material does not fit the caller's policy.
    #[error("{reason}")]
    MaterialMismatch {
        /// What does not fit.
        reason: String,
    },
    /// The bundle is not about this artifact.
    #[error("artifact mismatch: {reason}")]
    ArtifactMismatch {
        /// How.
        reason: String,
    },
    /// A cosign tag-layout layer that is not a signature vouch can read: another media type,
    /// no signature annotation, an annotation that does not parse, a DSSE envelope that does
    /// not.
    #[error("{reason}")]
    EvidenceMalformed {
        /// What is wrong, naming the annotation.
        reason: String,
    },
    /// The signed payload could not be had intact (missing blob, too large, wrong digest).
    #[error("payload unavailable: {reason}")]
    PayloadUnavailable {
        /// Why.
        reason: String,
    },
    /// The signature over the artifact (or the DSSE envelope) does not verify.
    #[error("artifact signature invalid: {reason}")]
    ArtifactSignature {
        /// Why.
        reason: String,
    },
    /// A bundle attached to an image that is not a statement about the image. cosign v3
    /// stores an image signature or attestation as a DSSE envelope over an in-toto
    /// statement naming the image digest; a message signature signs bytes, whatever they are
    /// (a blob-signed copy of the manifest must not count as an image signature).
    #[error(
        "the bundle is not a signed statement about the image: {reason}; image signatures and attestations in bundles are DSSE in-toto statements whose subject is the image"
    )]
    NotAnImageStatement {
        /// What the bundle holds instead.
        reason: String,
    },
    /// An attestation was asked for, and the bundle holds a message signature (no statement).
    #[error(
        "the bundle holds a message signature, not an attestation (an in-toto statement in a DSSE envelope)"
    )]
    NotAnAttestation,
    /// The attestation's predicate type is not the one asked for.
    #[error("the attestation's predicate type is {found}, not {expected}")]
    PredicateTypeMismatch {
        /// The predicate type asked for.
        expected: String,
        /// The statement's predicate type.
        found: String,
    },
    /// A DSSE envelope's payload is not an in-toto statement vouch reads.
    #[error("the DSSE payload is not an in-toto statement: {reason}")]
    StatementMalformed {
        /// The in-toto reader's reason.
        reason: String,
    },
    /// No transparency-log entry vouches for the signature.
    #[error(
        "the signature has no transparency-log entry (cosign's --insecure-ignore-tlog accepts a key signature without one, and a keyless one with a trusted RFC 3161 timestamp instead)"
    )]
    TlogEntryMissing,
    /// Nothing in the bundle establishes when the certificate was used.
    #[error(
        "no verified time: a certificate bundle needs a signed entry timestamp or an RFC 3161 timestamp"
    )]
    NoVerifiedTime,
    /// A log or timestamp time lies after the current time.
    #[error("{what} {time} is in the future")]
    TimeInFuture {
        /// Which time.
        what: &'static str,
        /// The time.
        time: UnixTime,
    },
    /// A time field could not be read.
    #[error(transparent)]
    Time(#[from] TimeError),

    // ---- Merkle inclusion proofs (RFC 9162 section 2.1.3.2), see `merkle` ----
    /// The proof names a leaf outside the tree it is a proof for.
    #[error("inclusion proof: leaf index {index} is not less than tree size {tree_size}")]
    InclusionIndexOutOfRange {
        /// The leaf index of the proof.
        index: u64,
        /// The tree size of the proof.
        tree_size: u64,
    },
    /// The proof does not have exactly as many hashes as the leaf index and tree size need.
    #[error(
        "inclusion proof: {} given, but leaf {index} of a tree of size {tree_size} \
         needs exactly {expected}",
        hashes(*got)
    )]
    InclusionProofLength {
        /// The leaf index of the proof.
        index: u64,
        /// The tree size of the proof.
        tree_size: u64,
        /// How many hashes the proof has.
        got: usize,
        /// How many it must have.
        expected: usize,
    },
    /// A proof hash or a root hash is not a 32-byte SHA-256 value.
    #[error("inclusion proof: {what} has {len} bytes, a SHA-256 hash has 32")]
    InclusionHashLength {
        /// Which hash (`root hash`, `proof hash 3`, ...).
        what: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Hashing the leaf up the proof does not arrive at the root it had to reach.
    #[error(
        "inclusion proof: computed root hash {computed} does not match expected root hash {expected}"
    )]
    InclusionRootMismatch {
        /// Lowercase hex of the root the proof leads to.
        computed: String,
        /// Lowercase hex of the root it was checked against.
        expected: String,
    },

    // ---- signed notes (c2sp.org/signed-note), see `checkpoint` ----
    /// The note as a whole is not a signed note: control characters, no final newline, or no
    /// blank line between text and signatures.
    #[error("signed note: {reason}")]
    NoteMalformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The blank line is followed by no signature line at all.
    #[error("signed note: no signature lines follow the blank line")]
    NoteNoSignatures,
    /// A signature line is not `— <key name> <base64(key hint || signature)>`.
    #[error("signed note: line {line}: {reason}")]
    NoteSignatureLine {
        /// The 1-based line number in the whole note.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// More signature lines than are read (a bound on work, as Go's `sumdb/note` has).
    #[error("signed note: {count} signature lines, at most {max} are read")]
    NoteTooManySignatures {
        /// How many lines the note has.
        count: usize,
        /// The limit.
        max: usize,
    },

    // ---- checkpoints (c2sp.org/tlog-checkpoint), see `checkpoint` ----
    /// The note text is not a checkpoint: origin, tree size, root hash, extension lines.
    #[error("checkpoint: line {line}: {reason}")]
    CheckpointMalformed {
        /// The 1-based line number in the note text.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// The log's base URL gives no host name to expect as checkpoint origin and key name.
    #[error("transparency log base URL {url:?}: {reason}")]
    LogBaseUrl {
        /// The base URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The log key's type has no signed-note key hint defined.
    #[error("checkpoint: a {key_type} log key has no signed-note key hint")]
    CheckpointKeyUnsupported {
        /// The key type.
        key_type: String,
    },
    /// No signature line is by the log's key: every line has another key name or key hint.
    #[error(
        "checkpoint: no signature by the log key (key name {name}, key hint {key_hint}); \
         signature lines found: {found}"
    )]
    CheckpointNoLogSignature {
        /// The key name expected (`any name` where the name is not checked).
        name: String,
        /// Lowercase hex of the 4-byte key hint expected.
        key_hint: String,
        /// The `name/hint` of every signature line present.
        found: String,
    },
    /// A signature line with the log's key name and key hint does not verify.
    #[error(
        "checkpoint: the signature by {name} with key hint {key_hint} does not verify with the log key"
    )]
    CheckpointSignatureInvalid {
        /// The key name on the line.
        name: String,
        /// Lowercase hex of its key hint.
        key_hint: String,
    },
    /// The checkpoint's origin line is not the log's name.
    #[error("checkpoint: origin {origin:?} is not the log's name {expected:?}")]
    CheckpointOriginMismatch {
        /// The origin line.
        origin: String,
        /// The name expected (the host of the log's base URL).
        expected: String,
    },
    /// The inclusion proof carries no checkpoint, so no signature covers its root hash.
    #[error("inclusion proof has no checkpoint: nothing signed by the log covers its root hash")]
    CheckpointMissing,
    /// The signed checkpoint is for another tree size than the inclusion proof.
    #[error("checkpoint tree size {checkpoint} differs from inclusion proof tree size {proof}")]
    CheckpointTreeSizeMismatch {
        /// The checkpoint's tree size.
        checkpoint: u64,
        /// The inclusion proof's tree size.
        proof: u64,
    },
    /// The signed checkpoint has another root hash than the inclusion proof.
    #[error("checkpoint root hash {checkpoint} differs from inclusion proof root hash {proof}")]
    CheckpointRootHashMismatch {
        /// Lowercase hex of the checkpoint's root hash.
        checkpoint: String,
        /// Lowercase hex of the inclusion proof's root hash.
        proof: String,
    },

    // ---- transparency log entries, see `rekor` ----
    /// The entry names another log than the one it is being checked against.
    #[error("transparency log entry has log ID {entry}, but the log checked against has {log}")]
    LogIdMismatch {
        /// Lowercase hex of the entry's log ID.
        entry: String,
        /// Lowercase hex of the log's ID.
        log: String,
    },
    /// The entry's log index and its inclusion proof's differ (in a log without Rekor v1's
    /// virtual indices, where they must be equal).
    #[error(
        "transparency log entry has log index {entry}, but its inclusion proof is for index {proof}"
    )]
    LogIndexMismatch {
        /// The entry's log index.
        entry: u64,
        /// The inclusion proof's log index.
        proof: u64,
    },
    /// A number the signed entry timestamp covers is beyond what JSON carries exactly, so
    /// Sigstore clients would not agree on the signed bytes.
    #[error("signed entry timestamp: {field} {value} is outside -(2^53-1)..=2^53-1")]
    SetFieldOutOfRange {
        /// `logIndex` or `integratedTime`.
        field: &'static str,
        /// The value given.
        value: i128,
    },
    /// The signed entry timestamp is not the log's signature over the entry.
    #[error(
        "signed entry timestamp does not verify with the key of log {log_id} \
         (log index {log_index}, integrated time {integrated_time})"
    )]
    SetSignatureInvalid {
        /// Lowercase hex of the log ID.
        log_id: String,
        /// The entry's log index.
        log_index: u64,
        /// The entry's integrated time.
        integrated_time: u64,
    },
    /// A Sigstore document (bundle or trusted root) is not well-formed: see
    /// [`AttestationError`] for each way, with the JSON path of the field.
    #[error(transparent)]
    Format(#[from] AttestationError),
    /// A trusted-root entry has no validity period, or one without a start. Such an entry is
    /// never trusted: a missing start is not read as "valid since forever".
    #[error("trusted root: {path} is missing; an entry without a validity start is not trusted")]
    TrustedValidityMissing {
        /// The JSON path of the missing `validFor` or `validFor.start`.
        path: String,
    },
    /// The trusted root lists no log with this log id.
    #[error("the trusted root has no {kind} with log id {log_id}")]
    UnknownLog {
        /// Which list was searched.
        kind: LogKind,
        /// The log id looked up, base64.
        log_id: String,
    },
    /// A Rego policy that does not parse, with where: `FILE:LINE:COLUMN: message`.
    #[error("{policy}:{line}:{column}: does not parse as Rego: {message}")]
    RegoSyntax {
        /// The policy's name (its file).
        policy: String,
        /// The line of the error, from 1.
        line: u32,
        /// The column of the error, from 1.
        column: u32,
        /// What the parser expected or found.
        message: String,
    },
    /// A Rego policy that cannot be used: it decides nothing, or does not parse and the parser
    /// gave no position.
    #[error("policy {policy}: {reason}")]
    RegoInvalid {
        /// The policy's name (its file).
        policy: String,
        /// What is wrong.
        reason: String,
    },
    /// A Rego policy whose evaluation failed (not a denial: the policy could not decide).
    #[error("policy {policy}: evaluating {rule} failed: {reason}")]
    RegoEvaluation {
        /// The policy's name (its file).
        policy: String,
        /// The rule being evaluated.
        rule: String,
        /// Why it failed.
        reason: String,
    },
}

impl VerifyError {
    /// The check that failed ([`Check`]): the same vocabulary passing checks, cosign
    /// layer rejections and attestation rejections use.
    pub fn check(&self) -> Check {
        use VerifyError as E;
        match self {
            E::CertificateMalformed { .. }
            | E::CertificateKey { .. }
            | E::CertificateSignature { .. }
            | E::CertificateChain { .. }
            | E::CertificateExpired { .. }
            | E::UnsupportedAlgorithm { .. } => Check::CertificateChain,
            E::SctMalformed { .. } | E::SctMissing | E::SctInvalid { .. } => Check::CertificateSct,
            E::TimestampMalformed { .. }
            | E::TimestampImprint
            | E::TimestampMismatch { .. }
            | E::TimestampSignature { .. }
            | E::TimestampUntrusted { .. }
            | E::TimestampOutsideAuthorityValidity { .. } => Check::Rfc3161Timestamp,
            E::EntryMismatch { .. } | E::UnsupportedEntry { .. } => Check::TlogEntryBody,
            E::IdentityMismatch { .. } => Check::CertificateIdentity,
            E::PolicyInvalid { .. } | E::MaterialMismatch { .. } => Check::VerificationMaterial,
            E::PredicateTypeMismatch { .. } => Check::PredicateType,
            E::ArtifactMismatch { .. } => Check::ArtifactDigest,
            E::EvidenceMalformed { .. } => Check::EnvelopeFormat,
            E::PayloadUnavailable { .. } => Check::PayloadAvailable,
            E::NotAnImageStatement { .. } | E::StatementMalformed { .. } | E::NotAnAttestation => {
                Check::Statement
            }
            E::ArtifactSignature { .. } => Check::ArtifactSignature,
            E::TlogEntryMissing | E::UnknownLog { .. } | E::TrustedKeyUnusable { .. } => {
                Check::TlogEntry
            }
            E::NoVerifiedTime | E::TimeInFuture { .. } => Check::SigningTime,
            E::InclusionIndexOutOfRange { .. }
            | E::InclusionProofLength { .. }
            | E::InclusionHashLength { .. }
            | E::InclusionRootMismatch { .. }
            | E::LogIdMismatch { .. }
            | E::LogIndexMismatch { .. } => Check::TlogInclusionProof,
            E::NoteMalformed { .. }
            | E::NoteNoSignatures
            | E::NoteSignatureLine { .. }
            | E::NoteTooManySignatures { .. }
            | E::CheckpointMalformed { .. }
            | E::LogBaseUrl { .. }
            | E::CheckpointKeyUnsupported { .. }
            | E::CheckpointNoLogSignature { .. }
            | E::CheckpointSignatureInvalid { .. }
            | E::CheckpointOriginMismatch { .. }
            | E::CheckpointMissing
            | E::CheckpointTreeSizeMismatch { .. }
            | E::CheckpointRootHashMismatch { .. } => Check::TlogCheckpoint,
            E::SetFieldOutOfRange { .. } | E::SetSignatureInvalid { .. } => {
                Check::TlogSignedEntryTimestamp
            }
            E::TrustedValidityMissing { .. } | E::SigningConfig { .. } => Check::TrustedRoot,
            E::RegoSyntax { .. } | E::RegoInvalid { .. } | E::RegoEvaluation { .. } => {
                Check::Policy
            }
            E::Time(_) | E::Format(_) => Check::BundleFormat,
        }
    }
}

/// `n` hashes, in the singular for one: "1 hash", "3 hashes".
fn hashes(n: usize) -> String {
    if n == 1 {
        "1 hash".to_owned()
    } else {
        format!("{n} hashes")
    }
}
