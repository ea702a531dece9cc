//! The decision about one image, as every front end reports it: the verdict, the mode it was
//! applied in, one sentence for the first blocking reason, and every check of every signature
//! and attestation with pass, fail or skip and why. Its JSON form is versioned
//! ([`SCHEMA_VERSION`]) and described by the JSON Schema in `policy/decision.schema.json`.

use serde::{Deserialize, Serialize};
use vouch_keys::Digest;
use vouch_verifier::check::Check;
use vouch_verifier::identity::FoundIdentity;
use vouch_verifier::verify::{LogEntryFound, PassedCheck, VerifiedTime};

use crate::policy::Mode;

/// The `schemaVersion` of [`Decision`]'s JSON form.
pub const SCHEMA_VERSION: &str = "vouch.dev/decision/v1";

/// Whether the image met its scope's requirements, before the mode is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every requirement holds.
    Pass,
    /// A requirement does not hold.
    Fail,
    /// The evidence could not be gathered, so nothing could be checked.
    Error,
}

/// What kind of reason blocked the image: lets a script tell "no signatures at all" from
/// "signatures, none by an accepted authority" from "signed, but the attestation policy
/// denied".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Denial {
    /// No scope covers the image and the policy's default is deny.
    NoScope,
    /// The image's scope denies it without looking at evidence.
    StaticDeny,
    /// Nothing is stored that could vouch for the image.
    NoSignatures,
    /// Signatures exist, but none by an authority the scope accepts (or none that holds).
    NoAcceptedSignature,
    /// Fewer authorities vouched than the scope's threshold.
    ThresholdNotMet,
    /// An authority the scope requires did not vouch.
    RequiredAuthorityMissing,
    /// No attestation of a required predicate type, signed by an accepted authority.
    AttestationMissing,
    /// Signed attestations of the required type exist, and its Rego policy denied them.
    AttestationDenied,
    /// A platform manifest of the index is not vouched for (`platforms: all`).
    PlatformDenied,
    /// The evidence could not be gathered.
    EvidenceUnavailable,
}

/// The decision about one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// The image as named.
    pub image: String,
    /// The manifest digest decided, once resolved.
    pub digest: Option<Digest>,
    /// The policy's name.
    pub policy: String,
    /// The policy's digest (the policy and every file it names).
    pub policy_digest: String,
    /// The pattern of the scope that decided, `None` when no scope covers the image.
    pub scope: Option<String>,
    /// The scope's mode.
    pub mode: Mode,
    /// Whether the requirements hold.
    pub verdict: Verdict,
    /// Whether the image may be used: a pass, or any verdict under `warn` or `audit`.
    pub allowed: bool,
    /// What kind of reason blocked the image, when one did.
    pub denial: Option<Denial>,
    /// The first blocking reason, one sentence; `None` on a pass.
    pub reason: Option<String>,
    /// Where that reason comes from: the one link of the evidence (a manifest, a piece of
    /// evidence as an authority checked it, an authority, an attestation requirement, a Rego
    /// answer) whose failure blocked the image, with the check that failed. `None` exactly
    /// when `reason` is.
    pub failing: Option<FailingLink>,
    /// Each authority of the scope and whether it vouched.
    pub authorities: Vec<AuthorityOutcome>,
    /// How many authorities had to vouch, and how many did.
    pub threshold: Option<Threshold>,
    /// Every signature and attestation found, with each authority's checks.
    pub evidence: Vec<EvidenceReport>,
    /// Each attestation the scope requires.
    pub attestations: Vec<AttestationOutcome>,
    /// Each platform manifest checked (`platforms: all`).
    pub platforms: Vec<PlatformOutcome>,
    /// Warnings: a failing verdict allowed by `warn`, evidence that could not be read.
    pub warnings: Vec<String>,
    /// Why the evidence could not be gathered (verdict `error`).
    pub error: Option<EvidenceFailure>,
    /// When it was decided, seconds since the epoch.
    pub decided_at: i64,
}

impl Decision {
    /// The exit code the CLI gives for this decision: 0 allowed, 1 denied, 3 when the evidence
    /// could not be gathered (2 when that is because the image does not exist), under
    /// `enforce`.
    pub fn exit_code(&self) -> u8 {
        match (self.allowed, self.verdict) {
            (true, _) => 0,
            (false, Verdict::Error) => match &self.error {
                Some(EvidenceFailure { input: true, .. }) => 2,
                _ => 3,
            },
            (false, _) => 1,
        }
    }
}

/// The link of the evidence whose failure gave [`Decision::reason`], and the check that failed
/// there (`None` for a requirement that is not a verification check: no scope, nothing
/// stored, an authority that did not vouch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailingLink {
    /// Where.
    pub at: FailingAt,
    /// The check that failed there.
    pub check: Option<Check>,
}

/// Where in the evidence a blocking reason comes from. Locations and digests are the ones the
/// [`Decision`] reports, so a reader finds the link among its `evidence`, `authorities`,
/// `attestations` and `platforms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum FailingAt {
    /// The image as a whole: no scope covers it, its scope denies it, or its evidence could
    /// not be gathered.
    Image,
    /// A manifest (the image's, or a platform's of its index) with nothing stored that could
    /// vouch for it, or no signature an accepted authority checked.
    Manifest {
        /// Its digest.
        digest: String,
    },
    /// A piece of evidence, as one authority checked it: the first refused signature.
    Evidence {
        /// Its [`EvidenceReport::location`].
        location: String,
        /// Its [`EvidenceReport::subject`].
        subject: String,
        /// The authority whose check failed.
        authority: String,
    },
    /// An authority of the scope that did not vouch (the threshold, or a required one).
    Authority {
        /// The manifest it did not vouch for.
        subject: String,
        /// Its name.
        name: String,
    },
    /// An attestation requirement that no signed attestation met.
    Attestation {
        /// The manifest it was checked for.
        subject: String,
        /// Its [`AttestationOutcome::predicate_type`].
        predicate_type: Option<String>,
    },
    /// A Rego policy's denial of a signed attestation.
    Rego {
        /// The manifest it was checked for.
        subject: String,
        /// The attestation requirement's predicate type.
        predicate_type: Option<String>,
        /// The policy file ([`RegoOutcome::policy`]).
        policy: String,
        /// The attestation ([`RegoOutcome::location`]).
        location: String,
    },
}

/// Evidence that could not be gathered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceFailure {
    /// What failed.
    pub reason: String,
    /// True when the image itself is wrong (it does not exist), false when the store failed.
    pub input: bool,
}

/// Whether an authority vouched.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorityOutcome {
    /// Its name.
    pub name: String,
    /// Whether some signature by it holds.
    pub satisfied: bool,
    /// Where the signatures that hold are.
    pub by: Vec<String>,
}

/// A scope's threshold.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    /// How many authorities had to vouch.
    pub required: usize,
    /// How many did.
    pub satisfied: usize,
}

/// Whether a piece of evidence is a signature or an attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// A signature of the image.
    Signature,
    /// An attestation about it.
    Attestation,
}

/// The outcome of one check of one piece of evidence against one authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every check held.
    Pass,
    /// A check failed: `check` and `reason` say which and why.
    Fail,
    /// The authority does not apply to it (a key authority and a certificate signature, or
    /// the other way round).
    Skip,
}

/// One signature or attestation found for the image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceReport {
    /// Signature or attestation (for a bundle that verified with no authority, as its
    /// unauthenticated annotation says).
    pub kind: EvidenceKind,
    /// Where it is: `sha256-<hex>.sig layer 0`, `referrer sha256:... (referrers-api)`.
    pub location: String,
    /// The cosign tag it is under, for a tag-layout layer.
    pub tag: Option<String>,
    /// Its position in that tag's manifest.
    pub layer: Option<usize>,
    /// The referrer manifest's digest, for a bundle.
    pub referrer: Option<String>,
    /// How the referrer was listed: `referrers-api` or `referrers-tag-schema`.
    pub listing: Option<String>,
    /// Something about how it was found that the operator should know (a referrer listed
    /// without `artifactType`, whose type was read from its manifest).
    pub note: Option<String>,
    /// What was signed (the simple-signing document or the statement), once an authority
    /// verified it.
    pub payload: Option<serde_json::Value>,
    /// For an attestation, its predicate type.
    pub predicate_type: Option<String>,
    /// The manifest it is about (a platform's, for `platforms: all`).
    pub subject: String,
    /// Each authority's checks.
    pub results: Vec<CheckResult>,
}

/// What one authority made of one piece of evidence.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The authority.
    pub authority: String,
    /// Pass, fail or skip.
    pub status: Status,
    /// The check that failed (or made it skip).
    pub check: Option<Check>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The certificate identity, when keyless and verified.
    pub identity: Option<FoundIdentity>,
    /// The signing key's fingerprint, when verified.
    pub key_fingerprint: Option<String>,
    /// The verified signing times.
    pub times: Vec<VerifiedTime>,
    /// The transparency-log entries that verified, when verified.
    pub log_entries: Vec<LogEntryFound>,
    /// The checks that held, in order.
    pub checks: Vec<PassedCheck>,
}

/// One attestation requirement of the scope.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationOutcome {
    /// The predicate type required; `None` when any type is taken.
    pub predicate_type: Option<String>,
    /// Whether a signed attestation of that type passed (its Rego policy too).
    pub satisfied: bool,
    /// The authorities that may sign it.
    pub authorities: Vec<String>,
    /// Where the attestations that pass are.
    pub by: Vec<String>,
    /// What the Rego policy said about each signed attestation of the type.
    pub rego: Vec<RegoOutcome>,
    /// The attestations not taken for this requirement, and why: not signed by one of its
    /// authorities (the first failed check), or of another predicate type.
    pub refused: Vec<RefusedAttestation>,
}

/// An attestation an attestation requirement did not take.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedAttestation {
    /// Where it is.
    pub location: String,
    /// Its predicate type, verified or as annotated.
    pub predicate_type: Option<String>,
    /// The check it failed.
    pub check: Check,
    /// Why.
    pub reason: String,
}

/// A Rego policy's answer about one attestation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegoOutcome {
    /// The policy file.
    pub policy: String,
    /// Where the attestation is.
    pub location: String,
    /// Whether it allowed the statement.
    pub allowed: bool,
    /// Its deny messages, or why evaluation failed.
    pub messages: Vec<String>,
    /// `isCompliant`'s warnings.
    pub warnings: Vec<String>,
}

/// One platform manifest of an index, decided with the same requirements.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformOutcome {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// Its manifest digest.
    pub digest: String,
    /// Whether it met the requirements.
    pub verdict: Verdict,
    /// Why not, one sentence.
    pub reason: Option<String>,
}
