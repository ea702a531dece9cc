//! Trust policies: the file format (`apiVersion: vouch.dev/v1`, `kind: TrustPolicy`), read
//! strictly, and the compiled [`TrustPolicy`] that decisions are made with.
//!
//! ```yaml
//! apiVersion: vouch.dev/v1
//! kind: TrustPolicy
//! default: deny                  # what an image no scope matches gets: deny (default) | allow
//! authorities:                   # who may vouch for images, by name
//!   release-key:
//!     key: {path: keys/release.pub}          # or {data: "-----BEGIN PUBLIC KEY-----..."}
//!     tlog: optional                         # required | optional (keys: optional)
//!   github-release:
//!     keyless:
//!       issuer: https://token.actions.githubusercontent.com   # or issuerRegExp
//!       subjectRegExp: '^https://github\.com/acme/[^/]+/\.github/workflows/release\.yml@refs/tags/v'
//!       github: {workflowTrigger: push, workflowRepository: acme/app}   # optional claims
//!     trustedRoot: {path: roots/private.json}  # default: the embedded Sigstore public-good root
//!     tlog: required                         # required (default) | optional: a timestamp will do
//!     sct: required                          # required (default) | optional: a CA with no CT log
//! scopes:
//!   - images: ["registry.acme.io/prod/**"]  # `*` one segment, `**` anything
//!     mode: enforce                          # enforce (default) | warn | audit
//!     authorities: [release-key, github-release]
//!     threshold: 2                           # how many must vouch (default 1; 0: attestations only)
//!     require: [github-release]              # these must be among them
//!     signedIdentity: {type: matchRepoDigestOrExact}   # | matchRepository | exactReference
//!                                            # | exactRepository | remapIdentity
//!     annotations: {env: prod}               # signed annotations required
//!     platforms: all                         # index (default) | all
//!     maxAge: 90d                            # s, m, h, d
//!     attestations:
//!       - type: https://slsa.dev/provenance/v1
//!         authorities: [github-release]      # default: the scope's
//!         rego: policies/slsa.rego
//!   - images: ["registry.acme.io/prod/legacy-*"]
//!     mode: warn
//!     authorities: [release-key]
//!   - images: ["registry.acme.io/sandbox/**"]
//!     action: allow                          # or deny: decided without evidence
//! ```
//!
//! Unknown fields, repeated keys, authorities that do not exist, regular expressions that do
//! not compile, Rego files that do not parse and files that cannot be read are all refused when
//! the policy is loaded, with the file, line and column, before any image is looked at.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use vouch_keys::{Digest, PublicKey};
use vouch_verifier::identity::{CertificateIdentity, Matcher, WorkflowClaim};
use vouch_verifier::rego::RegoPolicy;
use vouch_verifier::trust_root::TrustedRoot;

use crate::error::PolicyError;
use crate::pattern::ImagePattern;

/// The `apiVersion` of vouch's policy format.
pub const API_VERSION: &str = "vouch.dev/v1";
/// The `kind` of vouch's policy format.
pub const KIND: &str = "TrustPolicy";

/// What happens to an image when its scope says so without looking at evidence, or when no
/// scope matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Refused.
    #[default]
    Deny,
    /// Accepted.
    Allow,
}

/// How a scope's verdict is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// A failing image is denied.
    #[default]
    Enforce,
    /// A failing image is allowed, with a warning that says why.
    Warn,
    /// A failing image is allowed; the decision records why, without a warning.
    Audit,
}

/// Which manifests of an index must be vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Platforms {
    /// The index's own signature suffices.
    #[default]
    Index,
    /// The index and every platform manifest it lists.
    All,
}

/// Whether an authority's signatures need a transparency-log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tlog {
    /// A verified log entry is required.
    Required,
    /// A log entry is checked when present; a keyless signature without one needs a trusted
    /// RFC 3161 timestamp instead.
    Optional,
}

/// How the image name a simple-signing payload was signed for must fit the name the image is
/// verified under (containers-policy.json(5) `signedIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SignedIdentity {
    /// The signed repository must be the image's; a signed tag must be the tag the image was
    /// named by; a signed digest must be the image's digest. The default.
    MatchRepoDigestOrExact,
    /// The signed repository must be the image's, whatever tag or digest.
    MatchRepository,
    /// The signed name must be exactly this.
    ExactReference {
        /// The name, e.g. `registry.example/app:v1`.
        docker_reference: String,
    },
    /// The signed repository must be this one.
    ExactRepository {
        /// The repository, e.g. `registry.example/app`.
        docker_repository: String,
    },
    /// For mirrors: an image whose name starts with `prefix` is matched as if it started
    /// with `signed_prefix` instead, then as [`SignedIdentity::MatchRepoDigestOrExact`].
    RemapIdentity {
        /// The prefix of the name the image is pulled by (`mirror.local/library`).
        prefix: String,
        /// The prefix signers used (`docker.io/library`).
        signed_prefix: String,
    },
}

/// Who may vouch: a key, or a keyless (Fulcio certificate) identity.
#[derive(Debug, Clone)]
pub enum Signer {
    /// Signatures made with this key.
    Key(PublicKey),
    /// Signatures by a Fulcio certificate with this identity.
    Keyless(CertificateIdentity),
}

/// A named authority of a policy.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Its name in the policy.
    pub name: String,
    /// Whom it trusts.
    pub signer: Signer,
    /// The trust root its certificates, logs and timestamps are checked against.
    pub trusted_root: Arc<TrustedRoot>,
    /// Whether a log entry is required.
    pub tlog: Tlog,
    /// Whether a keyless signature's certificate must carry a valid SCT from a CT log of the
    /// trust root (true unless the policy says `sct: optional`, for a private CA).
    pub require_sct: bool,
}

/// An attestation a scope requires.
#[derive(Debug, Clone)]
pub struct AttestationRequirement {
    /// The predicate type; `None` takes attestations of any type.
    pub predicate_type: Option<String>,
    /// Indexes into [`TrustPolicy::authorities`] of who may sign it (any one suffices).
    pub authorities: Vec<usize>,
    /// A Rego policy the statement must pass.
    pub rego: Option<Arc<RegoPolicy>>,
    /// Whether every signed attestation of the type must pass the Rego policy (cosign's
    /// `verify-attestation --policy`), rather than one (a policy file's requirement).
    pub all_must_pass: bool,
}

/// What a scope requires of the images it covers.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Decided without evidence.
    Static(Action),
    /// Signatures (and attestations) by the scope's authorities.
    Signed(Box<SignedRequirement>),
    /// Any one of these, each named for reports (a ClusterImagePolicy's authorities: any one
    /// that passes suffices).
    AnyOf(Vec<(String, Requirement)>),
}

impl Requirement {
    /// Whether deciding it needs the image's evidence.
    pub fn needs_evidence(&self) -> bool {
        match self {
            Requirement::Static(_) => false,
            Requirement::Signed(_) => true,
            Requirement::AnyOf(alternatives) => {
                alternatives.iter().any(|(_, r)| r.needs_evidence())
            }
        }
    }
}

/// How a policy combines the scopes that match an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combination {
    /// The most specific scope decides (vouch's format, containers' policy.json).
    #[default]
    MostSpecific,
    /// Every matching scope must allow the image (sigstore policy-controller's
    /// ClusterImagePolicies).
    AllMatching,
}

/// The requirements of a scope that asks for signatures.
#[derive(Debug, Clone)]
pub struct SignedRequirement {
    /// Indexes into [`TrustPolicy::authorities`].
    pub authorities: Vec<usize>,
    /// How many of them must vouch.
    pub threshold: usize,
    /// Indexes of those that must be among them.
    pub require: Vec<usize>,
    /// How the signed name must fit the image's; `None` when it is not checked (what
    /// cosign's `verify` does, and so [`TrustPolicy::single`]).
    pub signed_identity: Option<SignedIdentity>,
    /// Annotations the signature must carry, with these values.
    pub annotations: BTreeMap<String, String>,
    /// Attestations required.
    pub attestations: Vec<AttestationRequirement>,
    /// Which manifests of an index must be signed.
    pub platforms: Platforms,
    /// The oldest a signature may be, in seconds.
    pub max_age: Option<u64>,
}

/// One scope: the images it covers and what it requires of them.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The patterns, as written.
    pub images: Vec<ImagePattern>,
    /// How its verdict applies.
    pub mode: Mode,
    /// What it requires.
    pub requirement: Requirement,
}

/// A compiled trust policy: everything it names read, parsed and checked.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Its name for messages (the file name).
    pub name: String,
    /// SHA-256 over the policy and every file it names, in order: a decision made under one
    /// digest holds as long as the digest does.
    pub digest: Digest,
    /// What images no scope covers get.
    pub default: Action,
    /// The authorities, in the order written.
    pub authorities: Vec<Authority>,
    /// The scopes, in the order written.
    pub scopes: Vec<Scope>,
    /// What `vouch policy lint` warns about: authorities no scope uses, patterns an earlier
    /// scope already has (the later one never decides). A policy with warnings still works.
    pub warnings: Vec<PolicyWarning>,
    /// How the scopes that match an image are combined.
    pub combination: Combination,
}

/// Something in a policy that works but is probably not what its author meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyWarning {
    /// Line and column, from 1.
    pub line: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
}

// ----- the file format -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    api_version: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    default: Option<Action>,
    #[serde(default)]
    authorities: BTreeMap<String, Spanned<RawAuthority>>,
    #[serde(default)]
    scopes: Vec<Spanned<RawScope>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    key: Option<RawKey>,
    #[serde(default)]
    keyless: Option<RawKeyless>,
    #[serde(default)]
    trusted_root: Option<RawFile>,
    #[serde(default)]
    tlog: Option<Tlog>,
    #[serde(default)]
    sct: Option<Tlog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKey {
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    data: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    path: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeyless {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    issuer_reg_exp: Option<Spanned<String>>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    subject_reg_exp: Option<Spanned<String>>,
    #[serde(default)]
    github: Option<RawGithub>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGithub {
    #[serde(default)]
    workflow_trigger: Option<String>,
    #[serde(default)]
    workflow_sha: Option<String>,
    #[serde(default)]
    workflow_name: Option<String>,
    #[serde(default)]
    workflow_repository: Option<String>,
    #[serde(default)]
    workflow_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScope {
    images: Vec<Spanned<String>>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    authorities: Vec<Spanned<String>>,
    #[serde(default)]
    threshold: Option<Spanned<usize>>,
    #[serde(default)]
    require: Vec<Spanned<String>>,
    #[serde(default)]
    signed_identity: Option<RawSignedIdentity>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    attestations: Vec<Spanned<RawAttestation>>,
    #[serde(default)]
    platforms: Option<Platforms>,
    #[serde(default)]
    max_age: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignedIdentity {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    docker_reference: Option<String>,
    #[serde(default)]
    docker_repository: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    signed_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAttestation {
    #[serde(rename = "type")]
    predicate_type: String,
    #[serde(default)]
    authorities: Vec<Spanned<String>>,
    #[serde(default)]
    rego: Option<Spanned<String>>,
}

/// The most bytes a policy file, or a file it names, may have.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, PolicyError> {
    use std::io::Read as _;
    let read_error = |e: std::io::Error| PolicyError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    // A FIFO or device would block or never end: only regular files are read.
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(PolicyError::Read {
            path: path.to_owned(),
            reason: "it is not a regular file".into(),
        });
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(PolicyError::Read {
            path: path.to_owned(),
            reason: format!("it is over {MAX_FILE_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

/// Parses `text` as YAML into `T`, strictly: repeated keys and unknown fields refused, the
/// error one line with `file:line:column`.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, PolicyError> {
    serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| yaml_error(file, &e))
}

/// Parses every YAML document of `text` (separated by `---`) into `T`, as strictly as
/// [`parse_yaml`].
pub(crate) fn parse_yaml_documents<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<Vec<T>, PolicyError> {
    serde_saphyr::from_str_multiple_with_options(text, yaml_options())
        .map_err(|e| yaml_error(file, &e))
}

/// serde-saphyr's defaults (repeated keys refused, budgets on), with one-line errors.
fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

/// A YAML error as [`PolicyError::Invalid`]: the place up front, the message without the
/// location the crate appends.
fn yaml_error(file: &str, e: &serde_saphyr::Error) -> PolicyError {
    let message = e.to_string();
    let message = message
        .lines()
        .next()
        .unwrap_or_default()
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    PolicyError::Invalid {
        file: file.to_owned(),
        line: e.location().map(|l| (l.line(), l.column())),
        reason: message,
    }
}

/// The `kind` of a document, to tell the formats apart (each format checks its own
/// `apiVersion`).
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    kind: Option<String>,
}

/// Builds errors that point into one file.
pub(crate) struct Place<'a> {
    pub(crate) file: &'a str,
}

impl Place<'_> {
    pub(crate) fn at<T>(&self, spanned: &Spanned<T>, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: Some((spanned.referenced.line(), spanned.referenced.column())),
            reason: reason.into(),
        }
    }

    pub(crate) fn whole(&self, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: None,
            reason: reason.into(),
        }
    }
}

/// Reads the files a policy names, relative to the policy's folder, and records them in the
/// policy's digest.
pub(crate) struct Files {
    base: PathBuf,
    digest_input: Vec<u8>,
}

impl Files {
    pub(crate) fn new(base: &Path, policy_bytes: &[u8]) -> Self {
        let mut digest_input = Vec::new();
        Self::record(&mut digest_input, "policy", policy_bytes);
        Self {
            base: base.to_owned(),
            digest_input,
        }
    }

    fn record(into: &mut Vec<u8>, name: &str, bytes: &[u8]) {
        into.extend_from_slice(name.as_bytes());
        into.push(0);
        into.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        into.extend_from_slice(bytes);
    }

    /// Records bytes that are part of the policy without being a file.
    pub(crate) fn record_inline(&mut self, name: &str, bytes: &[u8]) {
        Self::record(&mut self.digest_input, name, bytes);
    }

    pub(crate) fn read(&mut self, name: &str) -> Result<Vec<u8>, PolicyError> {
        let path = self.base.join(name);
        let bytes = read_bounded(&path)?;
        Self::record(&mut self.digest_input, name, &bytes);
        Ok(bytes)
    }

    pub(crate) fn digest(&self) -> Digest {
        Digest::sha256(&self.digest_input)
    }
}

/// Trust roots read once per policy, by path; the public-good root unless one is named.
pub(crate) struct Roots {
    by_path: BTreeMap<String, Arc<TrustedRoot>>,
    public_good: Option<Arc<TrustedRoot>>,
}

impl Roots {
    pub(crate) fn new() -> Self {
        Self {
            by_path: BTreeMap::new(),
            public_good: None,
        }
    }

    pub(crate) fn public_good(&mut self) -> Result<Arc<TrustedRoot>, PolicyError> {
        if let Some(root) = &self.public_good {
            return Ok(root.clone());
        }
        let root = TrustedRoot::public_good()
            .map(|r| Arc::new(r.clone()))
            .map_err(|e| PolicyError::Invalid {
                file: "the embedded Sigstore public-good trusted root".into(),
                line: None,
                reason: e.to_string(),
            })?;
        self.public_good = Some(root.clone());
        Ok(root)
    }

    pub(crate) fn file(
        &mut self,
        files: &mut Files,
        place: &Place<'_>,
        path: &Spanned<String>,
    ) -> Result<Arc<TrustedRoot>, PolicyError> {
        if let Some(root) = self.by_path.get(&path.value) {
            return Ok(root.clone());
        }
        let bytes = files.read(&path.value)?;
        let root = TrustedRoot::from_json(&bytes)
            .map_err(|e| place.at(path, format!("trusted root {}: {e}", path.value)))?;
        let root = Arc::new(root);
        self.by_path.insert(path.value.clone(), root.clone());
        Ok(root)
    }
}

fn matcher(
    place: &Place<'_>,
    exact: Option<String>,
    regexp: Option<Spanned<String>>,
    what: &str,
) -> Result<Matcher, PolicyError> {
    match (exact, regexp) {
        (Some(text), None) => Ok(Matcher::Exact(text)),
        (None, Some(pattern)) => Matcher::regex(&pattern.value)
            .map_err(|e| place.at(&pattern, format!("{what}RegExp: {e}"))),
        (Some(_), Some(pattern)) => {
            Err(place.at(&pattern, format!("give {what} or {what}RegExp, not both")))
        }
        (None, None) => {
            Err(place.whole(format!("a keyless authority needs {what} or {what}RegExp")))
        }
    }
}

/// Parses a duration: a whole number and a unit, `s`, `m`, `h` or `d`.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let number: u64 = text[..unit_at].parse().ok()?;
    let scale = match &text[unit_at..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(scale)
}

impl TrustPolicy {
    /// Reads and compiles the policy file at `path`; files it names are read relative to its
    /// folder. The format is chosen by the document's `apiVersion` and `kind`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = read_bounded(path)?;
        let name = path.display().to_string();
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_bytes(&name, base, &bytes)
    }

    /// Compiles a policy document named `name` (for messages), reading the files it names
    /// relative to `base`. The format is told by the first document's `kind`: vouch's
    /// `TrustPolicy`, or policy-controller's `ClusterImagePolicy` or `TrustRoot`
    /// ([`crate::cluster_image_policy`]); a JSON object with `default` and no `kind` is
    /// containers' `policy.json` ([`crate::containers`]).
    pub fn from_bytes(name: &str, base: &Path, bytes: &[u8]) -> Result<Self, PolicyError> {
        let place = Place { file: name };
        let text = std::str::from_utf8(bytes).map_err(|_| place.whole("is not UTF-8 text"))?;
        if text.trim_start().starts_with('{')
            && let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text)
            && object.contains_key("default")
            && !object.contains_key("kind")
        {
            return crate::containers::from_containers_policy(name, base, bytes);
        }
        let headers: Vec<Header> = parse_yaml_documents(name, text).unwrap_or_default();
        if let Some(header) = headers.first()
            && matches!(
                header.kind.as_deref(),
                Some(
                    crate::cluster_image_policy::KIND
                        | crate::cluster_image_policy::TRUST_ROOT_KIND
                )
            )
        {
            return crate::cluster_image_policy::from_cluster_image_policies(name, base, bytes);
        }
        let raw: RawPolicy = parse_yaml(name, text)?;
        if raw.api_version.value != API_VERSION || raw.kind.value != KIND {
            return Err(place.at(
                &raw.api_version,
                format!(
                    "apiVersion {:?} kind {:?} is not a vouch trust policy (apiVersion {API_VERSION}, kind {KIND})",
                    raw.api_version.value, raw.kind.value
                ),
            ));
        }
        let mut files = Files::new(base, bytes);
        let mut roots = Roots::new();

        let mut authorities = Vec::new();
        let mut index = BTreeMap::new();
        let mut authority_lines = Vec::new();
        for (authority_name, spanned) in raw.authorities {
            let span = spanned.referenced_span();
            authority_lines.push((span.referenced.line(), span.referenced.column()));
            let raw = spanned.value;
            let at = |reason: String| place.at(&span, reason);
            let signer = match (raw.key, raw.keyless) {
                (Some(key), None) => {
                    Signer::Key(read_key(&place, &mut files, &authority_name, key)?)
                }
                (None, Some(keyless)) => Signer::Keyless(keyless_identity(&place, keyless)?),
                (Some(_), Some(_)) => {
                    return Err(at(format!(
                        "authority {authority_name} has both key and keyless; give one"
                    )));
                }
                (None, None) => {
                    return Err(at(format!(
                        "authority {authority_name} has neither key nor keyless"
                    )));
                }
            };
            let trusted_root = match &raw.trusted_root {
                Some(file) => roots.file(&mut files, &place, &file.path)?,
                None => roots.public_good()?,
            };
            let tlog = raw.tlog.unwrap_or(match signer {
                Signer::Key(_) => Tlog::Optional,
                Signer::Keyless(_) => Tlog::Required,
            });
            index.insert(authority_name.clone(), authorities.len());
            authorities.push(Authority {
                name: authority_name,
                signer,
                trusted_root,
                tlog,
                require_sct: raw.sct != Some(Tlog::Optional),
            });
        }

        let mut used = BTreeSet::new();
        let mut warnings = Vec::new();
        let mut seen_patterns: BTreeMap<String, usize> = BTreeMap::new();
        let mut scopes = Vec::new();
        for spanned in raw.scopes {
            let span = spanned.referenced_span();
            let scope = spanned.value;
            if scope.images.is_empty() {
                return Err(place.at(&span, "a scope lists no images"));
            }
            let images = scope
                .images
                .iter()
                .map(|p| ImagePattern::parse(&p.value).map_err(|e| place.at(p, e)))
                .collect::<Result<Vec<_>, _>>()?;
            for pattern in &scope.images {
                match seen_patterns.get(&pattern.value) {
                    Some(first) => warnings.push(PolicyWarning {
                        line: Some((pattern.referenced.line(), pattern.referenced.column())),
                        message: format!(
                            "pattern {:?} is also in scope {first}, written earlier, which decides every image it matches: this one never does",
                            pattern.value
                        ),
                    }),
                    None => {
                        seen_patterns.insert(pattern.value.clone(), scopes.len() + 1);
                    }
                }
            }
            let mut resolve = |names: &[Spanned<String>]| {
                names
                    .iter()
                    .map(|n| {
                        let i = *index.get(&n.value).ok_or_else(|| {
                            place.at(
                                n,
                                format!(
                                    "authority {:?} is not defined (defined: {})",
                                    n.value,
                                    if index.is_empty() {
                                        "none".to_owned()
                                    } else {
                                        index.keys().cloned().collect::<Vec<_>>().join(", ")
                                    }
                                ),
                            )
                        })?;
                        used.insert(i);
                        Ok(i)
                    })
                    .collect::<Result<Vec<usize>, PolicyError>>()
            };
            let requirement = if let Some(action) = scope.action {
                let signed_fields = !scope.authorities.is_empty()
                    || scope.threshold.is_some()
                    || !scope.require.is_empty()
                    || !scope.attestations.is_empty()
                    || scope.signed_identity.is_some()
                    || scope.max_age.is_some()
                    || !scope.annotations.is_empty();
                if signed_fields {
                    return Err(place.at(
                        &span,
                        "a scope with an action decides without evidence; it takes no authorities, threshold, require, attestations, signedIdentity, annotations or maxAge",
                    ));
                }
                Requirement::Static(action)
            } else {
                if scope.authorities.is_empty() {
                    return Err(place.at(
                        &span,
                        "a scope needs authorities (or an action: allow | deny)",
                    ));
                }
                let authorities_of_scope = resolve(&scope.authorities)?;
                let require = resolve(&scope.require)?;
                for (r, spanned_name) in require.iter().zip(&scope.require) {
                    if !authorities_of_scope.contains(r) {
                        return Err(place.at(
                            spanned_name,
                            format!(
                                "require names {}, which is not among the scope's authorities",
                                spanned_name.value
                            ),
                        ));
                    }
                }
                let threshold = match &scope.threshold {
                    None => 1,
                    // 0: attestations only, as images attested by GitHub's actions/attest
                    // often carry no signature.
                    Some(t) if t.value == 0 && scope.attestations.is_empty() => {
                        return Err(place.at(
                            t,
                            "threshold 0 asks for no signature: it needs attestations to require",
                        ));
                    }
                    Some(t) if t.value > authorities_of_scope.len() => {
                        return Err(place.at(
                            t,
                            format!(
                                "threshold {} is more than the scope's {} authorities",
                                t.value,
                                authorities_of_scope.len()
                            ),
                        ));
                    }
                    Some(t) => t.value,
                };
                let mut attestations = Vec::new();
                for attestation in &scope.attestations {
                    let raw = &attestation.value;
                    if raw.predicate_type.is_empty() {
                        return Err(place.at(attestation, "an attestation needs a type"));
                    }
                    let by = if raw.authorities.is_empty() {
                        authorities_of_scope.clone()
                    } else {
                        resolve(&raw.authorities)?
                    };
                    let rego = match &raw.rego {
                        None => None,
                        Some(file) => {
                            let source = files.read(&file.value)?;
                            let source = String::from_utf8(source).map_err(|_| {
                                place.at(file, format!("{} is not UTF-8", file.value))
                            })?;
                            Some(Arc::new(
                                RegoPolicy::parse(&file.value, &source)
                                    .map_err(|e| place.at(file, e.to_string()))?,
                            ))
                        }
                    };
                    attestations.push(AttestationRequirement {
                        predicate_type: Some(raw.predicate_type.clone()),
                        authorities: by,
                        rego,
                        all_must_pass: false,
                    });
                }
                let signed_identity = Some(match scope.signed_identity {
                    None => SignedIdentity::MatchRepoDigestOrExact,
                    Some(raw) => signed_identity(&place, raw)?,
                });
                let max_age = match &scope.max_age {
                    None => None,
                    Some(text) => Some(parse_duration(&text.value).ok_or_else(|| {
                        place.at(
                            text,
                            format!(
                                "maxAge {:?} is not a duration (a number and s, m, h or d)",
                                text.value
                            ),
                        )
                    })?),
                };
                Requirement::Signed(Box::new(SignedRequirement {
                    authorities: authorities_of_scope,
                    threshold,
                    require,
                    signed_identity,
                    annotations: scope.annotations,
                    attestations,
                    platforms: scope.platforms.unwrap_or_default(),
                    max_age,
                }))
            };
            scopes.push(Scope {
                images,
                mode: scope.mode.unwrap_or_default(),
                requirement,
            });
        }
        for (i, authority) in authorities.iter().enumerate() {
            if !used.contains(&i) {
                warnings.push(PolicyWarning {
                    line: authority_lines.get(i).copied(),
                    message: format!("authority {} is not used by any scope", authority.name),
                });
            }
        }
        if scopes.is_empty() {
            warnings.push(PolicyWarning {
                line: None,
                message: format!(
                    "the policy has no scopes: every image gets its default, {}",
                    match raw.default.unwrap_or_default() {
                        Action::Deny => "deny",
                        Action::Allow => "allow",
                    }
                ),
            });
        }
        warnings.sort_by_key(|w| w.line);
        Ok(TrustPolicy {
            name: name.to_owned(),
            digest: files.digest(),
            default: raw.default.unwrap_or_default(),
            authorities,
            scopes,
            warnings,
            combination: Combination::MostSpecific,
        })
    }

    /// A policy of one authority for every image, as cosign's `verify` flags describe one
    /// (`--key`, or `--certificate-identity` and `--certificate-oidc-issuer`, with `-a`
    /// annotations): any image, one signature by the authority, the signed name not
    /// compared. `description` names the flags for messages and for the policy digest.
    pub fn single(
        description: &str,
        authority: Authority,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        let mut digest_input = description.as_bytes().to_vec();
        match &authority.signer {
            Signer::Key(key) => digest_input.extend(key.spki_der()),
            Signer::Keyless(identity) => {
                digest_input.extend(
                    format!(
                        "{} {} {:?}",
                        identity.subject, identity.issuer, identity.claims
                    )
                    .bytes(),
                );
            }
        }
        digest_input.extend(format!("{:?}", authority.tlog).bytes());
        for (k, v) in &annotations {
            digest_input.extend(format!("\n{k}={v}").bytes());
        }
        Self {
            name: description.to_owned(),
            digest: Digest::sha256(&digest_input),
            default: Action::Deny,
            warnings: Vec::new(),
            combination: Combination::MostSpecific,
            authorities: vec![authority],
            scopes: vec![Scope {
                images: vec![ImagePattern::parse("**").expect("`**` is a valid pattern")],
                mode: Mode::Enforce,
                requirement: Requirement::Signed(Box::new(SignedRequirement {
                    authorities: vec![0],
                    threshold: 1,
                    require: Vec::new(),
                    signed_identity: None,
                    annotations,
                    attestations: Vec::new(),
                    platforms: Platforms::Index,
                    max_age: None,
                })),
            }],
        }
    }

    /// A policy of one authority for every image that asks for attestations only, as cosign's
    /// `verify-attestation` does: at least one attestation (of `predicate_type`, when given)
    /// signed by the authority, and, with `rego`, every one of them allowed by it. Signatures
    /// of the image are not required.
    pub fn attestations_by(
        description: &str,
        authority: Authority,
        predicate_type: Option<String>,
        rego: Option<Arc<RegoPolicy>>,
    ) -> Self {
        let mut policy = Self::single(description, authority, BTreeMap::new());
        let mut digest_input = policy.digest.to_bytes();
        digest_input.extend(format!("attestations {predicate_type:?}").bytes());
        if let Some(rego) = &rego {
            digest_input.extend(rego.name().bytes());
        }
        policy.digest = Digest::sha256(&digest_input);
        if let Requirement::Signed(requirement) = &mut policy.scopes[0].requirement {
            requirement.threshold = 0;
            requirement.attestations = vec![AttestationRequirement {
                predicate_type,
                authorities: vec![0],
                rego,
                all_must_pass: true,
            }];
        }
        policy
    }

    /// The scope that decides the repository `name`: the most specific match, the first
    /// written among equals (module [`crate::pattern`]). `None` when no scope covers it.
    pub fn scope_for(&self, name: &str) -> Option<(&Scope, &ImagePattern)> {
        let mut best: Option<(&Scope, &ImagePattern)> = None;
        for scope in &self.scopes {
            for pattern in &scope.images {
                if pattern.matches(name)
                    && best.is_none_or(|(_, b)| pattern.specificity() > b.specificity())
                {
                    best = Some((scope, pattern));
                }
            }
        }
        best
    }
}

/// A span's location for errors about the whole value.
trait ReferencedSpan {
    fn referenced_span(&self) -> Spanned<()>;
}

impl<T> ReferencedSpan for Spanned<T> {
    fn referenced_span(&self) -> Spanned<()> {
        Spanned::new((), self.referenced, self.defined)
    }
}

fn read_key(
    place: &Place<'_>,
    files: &mut Files,
    authority: &str,
    key: RawKey,
) -> Result<PublicKey, PolicyError> {
    let (pem, spanned) = match (key.path, key.data) {
        (Some(path), None) => {
            let bytes = files.read(&path.value)?;
            (String::from_utf8_lossy(&bytes).into_owned(), path)
        }
        (None, Some(data)) => {
            files.record_inline(authority, data.value.as_bytes());
            (data.value.clone(), data)
        }
        _ => {
            return Err(place.whole(format!(
                "authority {authority}: key needs path or data, one of them"
            )));
        }
    };
    PublicKey::from_pem(&pem).map_err(|e| {
        place.at(
            &spanned,
            format!("authority {authority}: not a public key: {e}"),
        )
    })
}

fn keyless_identity(
    place: &Place<'_>,
    raw: RawKeyless,
) -> Result<CertificateIdentity, PolicyError> {
    let mut identity = CertificateIdentity::new(
        matcher(place, raw.subject, raw.subject_reg_exp, "subject")?,
        matcher(place, raw.issuer, raw.issuer_reg_exp, "issuer")?,
    );
    if let Some(github) = raw.github {
        for (claim, value) in [
            (WorkflowClaim::Trigger, github.workflow_trigger),
            (WorkflowClaim::Sha, github.workflow_sha),
            (WorkflowClaim::Name, github.workflow_name),
            (WorkflowClaim::Repository, github.workflow_repository),
            (WorkflowClaim::Ref, github.workflow_ref),
        ] {
            if let Some(value) = value {
                identity.claims.push((claim, value));
            }
        }
    }
    Ok(identity)
}

fn signed_identity(
    place: &Place<'_>,
    raw: RawSignedIdentity,
) -> Result<SignedIdentity, PolicyError> {
    let missing = |field: &str| {
        place.at(
            &raw.kind,
            format!("signedIdentity {} needs {field}", raw.kind.value),
        )
    };
    let extra = raw.docker_reference.is_some() as u8
        + raw.docker_repository.is_some() as u8
        + raw.prefix.is_some() as u8;
    let identity = match raw.kind.value.as_str() {
        "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
        "matchRepository" => SignedIdentity::MatchRepository,
        "matchExact" => {
            return Err(place.at(
                &raw.kind,
                "signedIdentity matchExact needs the image named by tag and a signature that records it; use matchRepoDigestOrExact, which checks the tag when one is signed",
            ));
        }
        "exactReference" => SignedIdentity::ExactReference {
            docker_reference: raw
                .docker_reference
                .clone()
                .ok_or_else(|| missing("dockerReference"))?,
        },
        "exactRepository" => SignedIdentity::ExactRepository {
            docker_repository: raw
                .docker_repository
                .clone()
                .ok_or_else(|| missing("dockerRepository"))?,
        },
        "remapIdentity" => SignedIdentity::RemapIdentity {
            prefix: raw.prefix.clone().ok_or_else(|| missing("prefix"))?,
            signed_prefix: raw
                .signed_prefix
                .clone()
                .ok_or_else(|| missing("signedPrefix"))?,
        },
        other => {
            return Err(place.at(
                &raw.kind,
                format!(
                    "signedIdentity type {other:?} is not one of matchRepoDigestOrExact, matchRepository, exactReference, exactRepository, remapIdentity"
                ),
            ));
        }
    };
    let allowed = match identity {
        SignedIdentity::ExactReference { .. } | SignedIdentity::ExactRepository { .. } => 1,
        SignedIdentity::RemapIdentity { .. } => 1,
        _ => 0,
    };
    if extra > allowed {
        return Err(place.at(
            &raw.kind,
            format!(
                "signedIdentity {} takes other fields than those given",
                raw.kind.value
            ),
        ));
    }
    Ok(identity)
}
