//! sigstore policy-controller's `ClusterImagePolicy` (`policy.sigstore.dev/v1beta1` and
//! `v1alpha1`), read into a [`TrustPolicy`], so a cluster's existing policies decide the same
//! way in `vouch verify --policy`, the proxy and the webhook. A file may hold several policies
//! and the `TrustRoot`s they name (YAML documents separated by `---`, in any order).
//!
//! policy-controller's semantics are kept: every policy whose `images` globs match an image
//! must pass ([`Combination::AllMatching`]); within one, any authority that passes suffices
//! ([`Requirement::AnyOf`]). An authority passes with a signature by its key or keyless
//! identity, or, when it lists `attestations`, with a signed attestation of each predicate type
//! that its Rego policy (if any) allows; `static` passes or fails without evidence. `mode: warn`
//! allows a failing image with a warning. An image no policy matches is denied (the
//! controller's `no-match-policy: deny`).
//!
//! | field | vouch |
//! | --- | --- |
//! | `spec.images[].glob` | a scope pattern (`*` one segment, `**` anything; `index.docker.io` is `docker.io`) |
//! | `spec.mode` | `enforce` (default) or `warn` |
//! | `authorities[].key.data` | a key authority (`hashAlgorithm` sha256 only) |
//! | `authorities[].keyless.identities[]` | keyless authorities: `issuer`/`issuerRegExp`, `subject`/`subjectRegExp`; none: any Fulcio identity |
//! | `authorities[].keyless.insecureIgnoreSCT` | the certificate's SCT is not required |
//! | `authorities[].keyless.url`, `ctlog.url` | accepted when they name the public-good Fulcio and Rekor, whose trust root is embedded; any URL when the same part names a `trustRootRef` (vouch verifies offline, from the TrustRoot) |
//! | `authorities[].keyless.trustRootRef` | the certificate authorities and CT logs of that TrustRoot |
//! | `authorities[].ctlog.trustRootRef` | the transparency logs (Rekor) of that TrustRoot (a key signature's log entry stays optional, as without it) |
//! | `authorities[].rfc3161timestamp.trustRootRef` | the timestamp authorities of that TrustRoot; a keyless signature then needs a log entry or a trusted timestamp (policy-controller skips the log) |
//! | `authorities[].static.action` | `pass` or `fail` |
//! | `authorities[].attestations[]` | `predicateType` (cosign's shorthands or a URI) and a `rego` `policy.data`; every signed attestation of the type must pass it |
//!
//! A `trustRootRef` names a `TrustRoot` (`policy.sigstore.dev/v1alpha1`) given as another
//! document of the same file, by its `metadata.name`. An authority verifies against one
//! trusted root, as a vouch policy's `trustedRoot`, built from the TrustRoots it names: each
//! part from the field above that names it, a part no field names from the authority's other
//! TrustRoot (the first of keyless's, ctlog's, rfc3161timestamp's: where policy-controller
//! would skip the log, vouch takes the one of the Sigstore instance the authority names), and
//! everything from the public-good root when it names none. An explicit public-good
//! `ctlog.url` keeps the public-good transparency logs. What a TrustRoot does not list, it does
//! not trust (no public-good fallback). The TrustRoot's `spec` takes, as policy-controller's
//! `trustroot_types.go` and its conversion to a Sigstore trusted root (`sigstore_keys.go`)
//! read it:
//!
//! | TrustRoot field | vouch |
//! | --- | --- |
//! | `sigstoreKeys.certificateAuthorities[]` | `subject` (`organization`, `commonName`), `uri`, `certChain`: base64 of the PEM chain, the root last; a certificate authority trusted at every time |
//! | `sigstoreKeys.timestampAuthorities[]` | the same, for RFC 3161 timestamp authorities (the TSA certificate first) |
//! | `sigstoreKeys.tLogs[]`, `ctLogs[]` | `baseURL`, `hashAlgorithm` (`sha-256`, `sha-384`, `sha-512`, or without the dash), `publicKey`: base64 of a PEM public key; the log id is derived, the SHA-256 of the key's SubjectPublicKeyInfo |
//! | `trustedRootJSON` | a Sigstore `trusted_root.json`, as text |
//!
//! Refused by name, never ignored: `key.secretRef`, `key.kms`,
//! `keyless.ca-cert`, other Fulcio or Rekor URLs, `source`,
//! `signaturePullSecrets`, `cue` policies, policies fetched from a `url` or
//! a `configMapRef`, `includeSpec`/`includeObjectMeta`/`includeTypeMeta`/`fetchConfigFile`,
//! `spec.policy` and `spec.match`; a TrustRoot's `spec.repository` (a serialized TUF
//! repository) and `spec.remote` (a TUF mirror, fetched over the network). A `trustRootRef`
//! that names no TrustRoot of the file, a TrustRoot defined twice, and a key or certificate
//! that does not read are errors with their line and column.
//!
//! ```
//! use std::path::Path;
//! use vouch_policy::cluster_image_policy::from_cluster_image_policies;
//! let yaml = br#"
//! apiVersion: policy.sigstore.dev/v1beta1
//! kind: ClusterImagePolicy
//! metadata: {name: github-actions}
//! spec:
//!   images: [{glob: "ghcr.io/acme/**"}]
//!   authorities:
//!     - keyless:
//!         identities:
//!           - issuer: https://token.actions.githubusercontent.com
//!             subjectRegExp: "^https://github.com/acme/"
//! "#;
//! let policy = from_cluster_image_policies("cip.yaml", Path::new("."), yaml).unwrap();
//! assert!(policy.scope_for("ghcr.io/acme/app").is_some());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::Spanned;
use vouch_attestations::bundle::HashAlgorithm;
use vouch_keys::{KeyType, PublicKey};
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::rego::RegoPolicy;
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::{
    CertificateAuthority, KeyDetails, TimeRange, TransparencyLogInstance, TrustSection, TrustedRoot,
};

use crate::error::PolicyError;
use crate::pattern::ImagePattern;
use crate::policy::{
    Action, AttestationRequirement, Authority, Combination, Files, Mode, Place, Platforms,
    PolicyWarning, Requirement, Roots, Scope, SignedRequirement, Signer, Tlog, TrustPolicy,
};
use crate::roots;

/// The `kind` of a policy-controller policy.
pub const KIND: &str = "ClusterImagePolicy";

/// The `kind` of policy-controller's trust root, which an authority's `trustRootRef` names.
pub const TRUST_ROOT_KIND: &str = "TrustRoot";

/// The one `apiVersion` of a TrustRoot.
const TRUST_ROOT_API_VERSION: &str = "policy.sigstore.dev/v1alpha1";

const PUBLIC_GOOD_FULCIO: &str = "https://fulcio.sigstore.dev";
const PUBLIC_GOOD_REKOR: &str = "https://rekor.sigstore.dev";

/// One document of the file: a ClusterImagePolicy or a TrustRoot (their `spec` fields are
/// read into one struct, each kind refusing the other's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDocument {
    api_version: Spanned<String>,
    kind: Spanned<String>,
    metadata: RawMetadata,
    spec: Spanned<RawSpec>,
    #[serde(default)]
    status: Option<serde_json::Value>,
}

/// Kubernetes object metadata: only the name matters here (labels and the rest do not change
/// what the policy decides).
#[derive(Deserialize)]
struct RawMetadata {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec {
    // ClusterImagePolicy
    #[serde(default)]
    images: Option<Spanned<Vec<RawGlob>>>,
    #[serde(default)]
    authorities: Option<Spanned<Vec<Spanned<RawAuthority>>>>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    policy: Option<Spanned<serde_json::Value>>,
    #[serde(default, rename = "match")]
    match_resources: Option<Spanned<serde_json::Value>>,
    // TrustRoot
    #[serde(default)]
    sigstore_keys: Option<Spanned<RawSigstoreKeys>>,
    #[serde(default, rename = "trustedRootJSON")]
    trusted_root_json: Option<Spanned<String>>,
    #[serde(default)]
    repository: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    remote: Option<Spanned<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlob {
    glob: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    key: Option<Spanned<RawKey>>,
    #[serde(default)]
    keyless: Option<Spanned<RawKeyless>>,
    #[serde(default, rename = "static")]
    static_action: Option<Spanned<RawStatic>>,
    #[serde(default)]
    ctlog: Option<Spanned<RawLog>>,
    #[serde(default)]
    attestations: Vec<Spanned<RawAttestation>>,
    #[serde(default)]
    source: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    signature_pull_secrets: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    rfc3161timestamp: Option<Spanned<RawTimestamp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKey {
    #[serde(default)]
    data: Option<Spanned<String>>,
    #[serde(default)]
    secret_ref: Option<serde_json::Value>,
    #[serde(default)]
    kms: Option<String>,
    #[serde(default)]
    hash_algorithm: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeyless {
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    identities: Vec<Spanned<RawIdentity>>,
    #[serde(default)]
    trust_root_ref: Option<Spanned<String>>,
    #[serde(default, rename = "ca-cert")]
    ca_cert: Option<serde_json::Value>,
    #[serde(default, rename = "insecureIgnoreSCT")]
    insecure_ignore_sct: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdentity {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    issuer_reg_exp: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    subject_reg_exp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStatic {
    action: Spanned<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    trust_root_ref: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTimestamp {
    #[serde(default)]
    trust_root_ref: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAttestation {
    name: String,
    predicate_type: Spanned<String>,
    #[serde(default)]
    policy: Option<Spanned<RawAttestationPolicy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAttestationPolicy {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    config_map_ref: Option<serde_json::Value>,
    #[serde(default)]
    remote: Option<serde_json::Value>,
    #[serde(default)]
    fetch_config_file: Option<bool>,
    #[serde(default)]
    include_spec: Option<bool>,
    #[serde(default)]
    include_object_meta: Option<bool>,
    #[serde(default)]
    include_type_meta: Option<bool>,
}

/// A TrustRoot's `spec.sigstoreKeys` (policy-controller's `SigstoreKeys`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSigstoreKeys {
    #[serde(default)]
    certificate_authorities: Vec<Spanned<RawCertificateAuthority>>,
    #[serde(default, rename = "tLogs")]
    tlogs: Vec<Spanned<RawLogInstance>>,
    #[serde(default, rename = "ctLogs")]
    ctlogs: Vec<Spanned<RawLogInstance>>,
    #[serde(default)]
    timestamp_authorities: Vec<Spanned<RawCertificateAuthority>>,
}

/// A certificate or timestamp authority; every field is required, as policy-controller
/// validates them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCertificateAuthority {
    subject: RawDistinguishedName,
    uri: String,
    cert_chain: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDistinguishedName {
    organization: String,
    common_name: String,
}

/// A transparency or CT log; every field is required, as policy-controller validates them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogInstance {
    #[serde(rename = "baseURL")]
    base_url: String,
    #[serde(rename = "hashAlgorithm")]
    hash_algorithm: Spanned<String>,
    #[serde(rename = "publicKey")]
    public_key: Spanned<String>,
}

/// A TrustRoot read from the file, and where it was named.
struct NamedRoot {
    root: Arc<TrustedRoot>,
    line: (u64, u64),
}

/// Refuses `value` when present: `field` is not something vouch can do.
fn refuse_if<T>(
    place: &Place<'_>,
    value: Option<&Spanned<T>>,
    field: &str,
    why: &str,
) -> Result<(), PolicyError> {
    match value {
        Some(spanned) => Err(place.at(spanned, format!("{field} is not supported: {why}"))),
        None => Ok(()),
    }
}

/// A matcher from an exact value or a regular expression; neither matches anything.
fn matcher(
    place: &Place<'_>,
    at: &Spanned<RawIdentity>,
    exact: Option<&String>,
    regexp: Option<&String>,
    what: &str,
) -> Result<Matcher, PolicyError> {
    match (exact, regexp) {
        (Some(text), None) => Ok(Matcher::Exact(text.clone())),
        (None, Some(pattern)) => {
            Matcher::regex(pattern).map_err(|e| place.at(at, format!("{what}RegExp: {e}")))
        }
        (None, None) => Matcher::regex(".*").map_err(|e| place.at(at, e.to_string())),
        (Some(_), Some(_)) => Err(place.at(at, format!("give {what} or {what}RegExp, not both"))),
    }
}

/// Reads one or more `ClusterImagePolicy` documents named `name` (for messages), with the
/// `TrustRoot` documents their authorities name, with files relative to `base`; every one is
/// checked before any is used.
pub fn from_cluster_image_policies(
    name: &str,
    base: &Path,
    bytes: &[u8],
) -> Result<TrustPolicy, PolicyError> {
    let place = Place { file: name };
    let text = std::str::from_utf8(bytes).map_err(|_| place.whole("is not UTF-8 text"))?;
    let documents: Vec<RawDocument> = crate::policy::parse_yaml_documents(name, text)?;
    // TrustRoots first, wherever they are in the file: policies may name any of them.
    let mut trust_roots: BTreeMap<String, NamedRoot> = BTreeMap::new();
    let mut policies = Vec::new();
    for document in documents {
        let api_version = document.api_version.value.as_str();
        if document.kind.value == TRUST_ROOT_KIND && api_version == TRUST_ROOT_API_VERSION {
            let root_name = &document.metadata.name;
            if let Some(first) = trust_roots.get(&root_name.value) {
                return Err(place.at(
                    root_name,
                    format!(
                        "TrustRoot {} is defined twice (first at line {})",
                        root_name.value, first.line.0
                    ),
                ));
            }
            let root = trust_root(&place, &root_name.value, &document.spec)?;
            let _ = document.status;
            trust_roots.insert(
                root_name.value.clone(),
                NamedRoot {
                    root: Arc::new(root),
                    line: (root_name.referenced.line(), root_name.referenced.column()),
                },
            );
        } else if document.kind.value == KIND && api_version.starts_with("policy.sigstore.dev/") {
            policies.push(document);
        } else {
            return Err(place.at(
                &document.kind,
                format!(
                    "apiVersion {:?} kind {:?} is not a policy-controller ClusterImagePolicy or TrustRoot ({TRUST_ROOT_API_VERSION})",
                    document.api_version.value, document.kind.value
                ),
            ));
        }
    }
    if policies.is_empty() {
        return Err(place.whole("holds no ClusterImagePolicy"));
    }
    let mut files = Files::new(base, bytes);
    let mut roots = Roots::new();
    let mut authorities: Vec<Authority> = Vec::new();
    let mut scopes = Vec::new();
    let mut names = BTreeSet::new();
    let mut used_roots = BTreeSet::new();
    for document in policies {
        let _ = document.status;
        let policy_name = document.metadata.name.value;
        if !names.insert(policy_name.clone()) {
            return Err(place.at(
                &document.kind,
                format!("ClusterImagePolicy {policy_name} is defined twice"),
            ));
        }
        let spec_at = Spanned::new((), document.spec.referenced, document.spec.defined);
        let spec = document.spec.value;
        refuse_if(
            &place,
            spec.policy.as_ref(),
            "spec.policy",
            "a CUE or Rego policy over the authorities' results; give each attestation its policy",
        )?;
        refuse_if(
            &place,
            spec.match_resources.as_ref(),
            "spec.match",
            "it selects Kubernetes resources, and vouch decides images",
        )?;
        for (given, field) in [
            (spec_field(spec.sigstore_keys.as_ref()), "sigstoreKeys"),
            (
                spec_field(spec.trusted_root_json.as_ref()),
                "trustedRootJSON",
            ),
            (spec_field(spec.repository.as_ref()), "repository"),
            (spec_field(spec.remote.as_ref()), "remote"),
        ] {
            if let Some(at) = given {
                return Err(place.at(
                    &at,
                    format!("spec.{field} is a TrustRoot's field, not a ClusterImagePolicy's"),
                ));
            }
        }
        let mode = match spec.mode.as_ref().map(|m| m.value.as_str()) {
            None | Some("enforce") => Mode::Enforce,
            Some("warn") => Mode::Warn,
            Some(other) => {
                return Err(place.at(
                    spec.mode.as_ref().expect("a mode was given"),
                    format!("mode {other:?} is not enforce or warn"),
                ));
            }
        };
        let globs = spec.images.map(|i| i.value).unwrap_or_default();
        if globs.is_empty() {
            return Err(place.at(
                &spec_at,
                format!("ClusterImagePolicy {policy_name} lists no images"),
            ));
        }
        let images = globs
            .iter()
            .map(|g| {
                let glob = g
                    .glob
                    .value
                    .strip_prefix("index.docker.io/")
                    .map_or_else(|| g.glob.value.clone(), |rest| format!("docker.io/{rest}"));
                ImagePattern::parse(&glob).map_err(|e| place.at(&g.glob, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let spec_authorities = spec.authorities.map(|a| a.value).unwrap_or_default();
        if spec_authorities.is_empty() {
            return Err(place.at(
                &spec_at,
                format!("ClusterImagePolicy {policy_name} has no authorities"),
            ));
        }
        let mut alternatives = Vec::new();
        for (n, spanned) in spec_authorities.iter().enumerate() {
            let raw = &spanned.value;
            let label = raw.name.clone().unwrap_or_else(|| format!("authority-{n}"));
            let label = format!("{policy_name}/{label}");
            refuse_if(
                &place,
                raw.source.as_ref(),
                "source",
                "signatures kept in another repository are not read",
            )?;
            refuse_if(
                &place,
                raw.signature_pull_secrets.as_ref(),
                "signaturePullSecrets",
                "credentials come from the docker config",
            )?;
            // The TrustRoots the authority names, each for its part of the trusted root (an
            // empty trustRootRef names none, as in policy-controller).
            let mut named = |reference: Option<&Spanned<String>>, field: &str| {
                let Some(reference) = reference else {
                    return Ok(None);
                };
                match trust_roots.get(&reference.value) {
                    Some(found) => {
                        used_roots.insert(reference.value.clone());
                        Ok(Some(found.root.clone()))
                    }
                    None => Err(place.at(
                        reference,
                        format!(
                            "{field}.trustRootRef {} names no TrustRoot of this file ({}); give the TrustRoot ({TRUST_ROOT_API_VERSION}, metadata.name {}) as another document of the file",
                            reference.value,
                            if trust_roots.is_empty() {
                                "it has none".to_owned()
                            } else {
                                format!(
                                    "it has {}",
                                    trust_roots.keys().cloned().collect::<Vec<_>>().join(", ")
                                )
                            },
                            reference.value
                        ),
                    )),
                }
            };
            let keyless_ref = raw
                .keyless
                .as_ref()
                .and_then(|k| k.value.trust_root_ref.as_ref())
                .filter(|r| !r.value.is_empty());
            let ctlog_ref = raw
                .ctlog
                .as_ref()
                .and_then(|l| l.value.trust_root_ref.as_ref())
                .filter(|r| !r.value.is_empty());
            let timestamp_ref = raw
                .rfc3161timestamp
                .as_ref()
                .and_then(|t| t.value.trust_root_ref.as_ref())
                .filter(|r| !r.value.is_empty());
            let keyless_root = named(keyless_ref, "keyless")?;
            let ctlog_root = named(ctlog_ref, "ctlog")?;
            let timestamp_root = named(timestamp_ref, "rfc3161timestamp")?;
            let mut public_good_logs = false;
            if let Some(log) = &raw.ctlog
                && ctlog_ref.is_none()
                && let Some(url) = &log.value.url
            {
                if url.value.trim_end_matches('/') != PUBLIC_GOOD_REKOR {
                    return Err(place.at(url, format!("ctlog.url {} is not supported: only the public-good Rekor's trust root is known; name a TrustRoot with ctlog.trustRootRef", url.value)));
                }
                public_good_logs = true;
            }
            let kinds = usize::from(raw.key.is_some())
                + usize::from(raw.keyless.is_some())
                + usize::from(raw.static_action.is_some());
            if kinds != 1 {
                return Err(place.at(
                    spanned,
                    format!("authority {label} needs exactly one of key, keyless and static"),
                ));
            }
            if let Some(action) = &raw.static_action {
                if let Some(log) = &raw.ctlog {
                    return Err(place.at(
                        log,
                        format!("static authority {label} cannot have a ctlog (policy-controller refuses static with ctlog)"),
                    ));
                }
                let _ = &action.value.message;
                let requirement = match action.value.action.value.as_str() {
                    "pass" => Requirement::Static(Action::Allow),
                    "fail" => Requirement::Static(Action::Deny),
                    other => {
                        return Err(place.at(
                            &action.value.action,
                            format!("static action {other:?} is not pass or fail"),
                        ));
                    }
                };
                alternatives.push((label, requirement));
                continue;
            }
            let trusted_root = authority_root(
                &mut roots,
                keyless_root.as_ref(),
                ctlog_root.as_ref(),
                public_good_logs,
                timestamp_root.as_ref(),
            )?;
            // The authority's signers: one key, or one authority per keyless identity.
            let first = authorities.len();
            if let Some(key) = &raw.key {
                refuse_if(
                    &place,
                    key.value.secret_ref.as_ref().map(|_| key),
                    "key.secretRef",
                    "it names a Kubernetes secret; give the key as data",
                )?;
                if key.value.kms.is_some() {
                    return Err(place.at(key, "key.kms is not supported: KMS keys are not read; give the public key as data"));
                }
                if let Some(hash) = &key.value.hash_algorithm
                    && hash.value != "sha256"
                {
                    return Err(place.at(
                        hash,
                        format!(
                            "key.hashAlgorithm {} is not supported (sha256 is)",
                            hash.value
                        ),
                    ));
                }
                let data = key
                    .value
                    .data
                    .as_ref()
                    .ok_or_else(|| place.at(key, "key needs data"))?;
                files.record_inline(&label, data.value.as_bytes());
                let public = PublicKey::from_pem(&data.value)
                    .map_err(|e| place.at(data, format!("key.data is not a public key: {e}")))?;
                authorities.push(Authority {
                    name: label.clone(),
                    signer: Signer::Key(public),
                    trusted_root: trusted_root.clone(),
                    tlog: Tlog::Optional,
                    require_sct: true,
                });
            }
            if let Some(keyless) = &raw.keyless {
                let k = &keyless.value;
                if k.ca_cert.is_some() {
                    return Err(place.at(keyless, "keyless.ca-cert is not supported: a private certificate authority needs a trusted root; give it as a TrustRoot and name it with keyless.trustRootRef"));
                }
                if let Some(url) = &k.url
                    && keyless_ref.is_none()
                    && url.value.trim_end_matches('/') != PUBLIC_GOOD_FULCIO
                {
                    return Err(place.at(url, format!("keyless.url {} is not supported: only the public-good Fulcio's trust root is known; name a TrustRoot with keyless.trustRootRef", url.value)));
                }
                let identities: Vec<Option<&Spanned<RawIdentity>>> = if k.identities.is_empty() {
                    vec![None]
                } else {
                    k.identities.iter().map(Some).collect()
                };
                // policy-controller skips the log when the authority names timestamp
                // authorities; vouch then takes a log entry or a timestamp.
                let tlog = if timestamp_ref.is_some() {
                    Tlog::Optional
                } else {
                    Tlog::Required
                };
                for (i, identity) in identities.into_iter().enumerate() {
                    let certificate = match identity {
                        None => CertificateIdentity::new(
                            Matcher::regex(".*").map_err(|e| place.at(keyless, e.to_string()))?,
                            Matcher::regex(".*").map_err(|e| place.at(keyless, e.to_string()))?,
                        ),
                        Some(id) => CertificateIdentity::new(
                            matcher(
                                &place,
                                id,
                                id.value.subject.as_ref(),
                                id.value.subject_reg_exp.as_ref(),
                                "subject",
                            )?,
                            matcher(
                                &place,
                                id,
                                id.value.issuer.as_ref(),
                                id.value.issuer_reg_exp.as_ref(),
                                "issuer",
                            )?,
                        ),
                    };
                    files.record_inline(
                        &format!("{label} identity {i}"),
                        format!("{} {}", certificate.subject, certificate.issuer).as_bytes(),
                    );
                    authorities.push(Authority {
                        name: if i == 0 {
                            label.clone()
                        } else {
                            format!("{label} (identity {i})")
                        },
                        signer: Signer::Keyless(certificate),
                        trusted_root: trusted_root.clone(),
                        tlog,
                        require_sct: k.insecure_ignore_sct != Some(true),
                    });
                }
            }
            let signers: Vec<usize> = (first..authorities.len()).collect();
            let mut attestations = Vec::new();
            for attestation in &raw.attestations {
                let a = &attestation.value;
                let _ = &a.name;
                let predicate_type =
                    vouch_attestations::intoto::predicate_type_uri(&a.predicate_type.value)
                        .ok_or_else(|| {
                            place.at(
                                &a.predicate_type,
                                format!(
                                    "predicateType {:?} is neither a known shorthand nor a URI",
                                    a.predicate_type.value
                                ),
                            )
                        })?;
                let rego = match &a.policy {
                    None => None,
                    Some(policy) => Some(Arc::new(attestation_policy(
                        &place, policy, &label, &mut files,
                    )?)),
                };
                attestations.push(AttestationRequirement {
                    predicate_type: Some(predicate_type),
                    authorities: signers.clone(),
                    rego,
                    all_must_pass: true,
                });
            }
            alternatives.push((
                label,
                Requirement::Signed(Box::new(SignedRequirement {
                    threshold: usize::from(attestations.is_empty()),
                    authorities: signers,
                    require: Vec::new(),
                    signed_identity: None,
                    annotations: BTreeMap::new(),
                    attestations,
                    platforms: Platforms::Index,
                    max_age: None,
                })),
            ));
        }
        scopes.push(Scope {
            images,
            mode,
            requirement: Requirement::AnyOf(alternatives),
        });
    }
    let warnings = trust_roots
        .iter()
        .filter(|(root_name, _)| !used_roots.contains(*root_name))
        .map(|(root_name, named)| PolicyWarning {
            line: Some(named.line),
            message: format!("TrustRoot {root_name} is not named by any trustRootRef"),
        })
        .collect();
    Ok(TrustPolicy {
        name: name.to_owned(),
        digest: files.digest(),
        default: Action::Deny,
        authorities,
        scopes,
        warnings,
        combination: Combination::AllMatching,
    })
}

/// Where a `spec` field was given, if it was.
fn spec_field<T>(value: Option<&Spanned<T>>) -> Option<Spanned<()>> {
    value.map(|v| Spanned::new((), v.referenced, v.defined))
}

/// The trusted root of an authority, from the TrustRoots it names (see the module
/// documentation): the certificate authorities and CT logs of `keyless`'s, the transparency
/// logs of `ctlog`'s (the public-good ones when `public_good_logs`), the timestamp authorities
/// of `timestamps`'s; a part none names from the first TrustRoot named; the public-good root
/// when none is.
fn authority_root(
    roots: &mut Roots,
    keyless: Option<&Arc<TrustedRoot>>,
    ctlog: Option<&Arc<TrustedRoot>>,
    public_good_logs: bool,
    timestamps: Option<&Arc<TrustedRoot>>,
) -> Result<Arc<TrustedRoot>, PolicyError> {
    let public_good = roots.public_good()?;
    let Some(first) = keyless.or(ctlog).or(timestamps) else {
        return Ok(public_good);
    };
    let certificates = keyless.unwrap_or(first);
    let logs = match ctlog {
        Some(root) => root,
        None if public_good_logs => &public_good,
        None => first,
    };
    let stamps = timestamps.unwrap_or(first);
    if Arc::ptr_eq(certificates, logs) && Arc::ptr_eq(logs, stamps) {
        return Ok(certificates.clone());
    }
    let unusable = |root: &TrustedRoot, sections: &[TrustSection]| {
        root.unusable
            .iter()
            .filter(|entry| sections.contains(&entry.section))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut composed = TrustedRoot {
        media_type: certificates.media_type.clone(),
        version: certificates.version,
        tlogs: logs.tlogs.clone(),
        ctlogs: certificates.ctlogs.clone(),
        certificate_authorities: certificates.certificate_authorities.clone(),
        timestamp_authorities: stamps.timestamp_authorities.clone(),
        unusable: unusable(
            certificates,
            &[TrustSection::CertificateAuthorities, TrustSection::Ctlogs],
        ),
    };
    composed
        .unusable
        .extend(unusable(logs, &[TrustSection::Tlogs]));
    composed
        .unusable
        .extend(unusable(stamps, &[TrustSection::TimestampAuthorities]));
    Ok(Arc::new(composed))
}

/// Reads the TrustRoot `name`'s `spec`: `sigstoreKeys` or `trustedRootJSON`; the TUF forms are
/// refused by name.
fn trust_root(
    place: &Place<'_>,
    name: &str,
    spec: &Spanned<RawSpec>,
) -> Result<TrustedRoot, PolicyError> {
    let s = &spec.value;
    for (given, field) in [
        (spec_field(s.images.as_ref()), "images"),
        (spec_field(s.authorities.as_ref()), "authorities"),
        (spec_field(s.mode.as_ref()), "mode"),
        (spec_field(s.policy.as_ref()), "policy"),
        (spec_field(s.match_resources.as_ref()), "match"),
    ] {
        if let Some(at) = given {
            return Err(place.at(
                &at,
                format!("spec.{field} is a ClusterImagePolicy's field, not a TrustRoot's"),
            ));
        }
    }
    let forms = [
        spec_field(s.sigstore_keys.as_ref()),
        spec_field(s.trusted_root_json.as_ref()),
        spec_field(s.repository.as_ref()),
        spec_field(s.remote.as_ref()),
    ];
    let given: Vec<&Spanned<()>> = forms.iter().flatten().collect();
    match given.as_slice() {
        [] => {
            return Err(place.at(
                spec,
                format!("TrustRoot {name} needs one of sigstoreKeys, trustedRootJSON, repository and remote"),
            ));
        }
        [_] => {}
        [_, second, ..] => {
            return Err(place.at(
                *second,
                format!("TrustRoot {name} gives more than one of sigstoreKeys, trustedRootJSON, repository and remote"),
            ));
        }
    }
    if let Some(repository) = &s.repository {
        return Err(place.at(
            repository,
            format!("TrustRoot {name}: spec.repository is not supported: a serialized TUF repository is not read; give the keys and certificates as sigstoreKeys, or the trusted_root.json as trustedRootJSON"),
        ));
    }
    if let Some(remote) = &s.remote {
        return Err(place.at(
            remote,
            format!("TrustRoot {name}: spec.remote is not supported: vouch fetches no TUF repository over the network; give the keys and certificates as sigstoreKeys, or the trusted_root.json as trustedRootJSON"),
        ));
    }
    if let Some(json) = &s.trusted_root_json {
        return TrustedRoot::from_json(json.value.as_bytes())
            .map_err(|e| place.at(json, format!("TrustRoot {name} trustedRootJSON: {e}")));
    }
    let keys = s
        .sigstore_keys
        .as_ref()
        .expect("one form was given, and it is sigstoreKeys");
    sigstore_keys(place, name, keys)
}

/// The trusted root of a TrustRoot's `sigstoreKeys`, as policy-controller converts it: every
/// authority and log trusted at every time, log ids derived from the keys.
fn sigstore_keys(
    place: &Place<'_>,
    name: &str,
    keys: &Spanned<RawSigstoreKeys>,
) -> Result<TrustedRoot, PolicyError> {
    let k = &keys.value;
    if k.certificate_authorities.is_empty() && k.timestamp_authorities.is_empty() {
        return Err(place.at(
            keys,
            format!("TrustRoot {name}: sigstoreKeys needs certificateAuthorities or timestampAuthorities"),
        ));
    }
    let mut root = roots::empty();
    for (i, ca) in k.certificate_authorities.iter().enumerate() {
        let what = format!("TrustRoot {name} certificateAuthorities[{i}]");
        root.certificate_authorities
            .push(certificate_authority(place, &what, ca)?);
    }
    for (i, tsa) in k.timestamp_authorities.iter().enumerate() {
        let what = format!("TrustRoot {name} timestampAuthorities[{i}]");
        root.timestamp_authorities
            .push(certificate_authority(place, &what, tsa)?);
    }
    for (i, log) in k.tlogs.iter().enumerate() {
        let what = format!("TrustRoot {name} tLogs[{i}]");
        root.tlogs.push(log_instance(place, &what, log)?);
    }
    for (i, log) in k.ctlogs.iter().enumerate() {
        let what = format!("TrustRoot {name} ctLogs[{i}]");
        root.ctlogs.push(log_instance(place, &what, log)?);
    }
    Ok(root)
}

/// The PEM text a `[]byte` field holds (base64 of the PEM, as Go's JSON writes bytes).
fn pem_field(
    place: &Place<'_>,
    what: &str,
    field: &Spanned<String>,
) -> Result<String, PolicyError> {
    let not = |why: &str| {
        place.at(
            field,
            format!("{what} is not base64 of PEM text ({why}); policy-controller's keys and certificate chains are the base64 of their PEM, as `base64 -w0 file.pem` writes it"),
        )
    };
    if field.value.contains("-----BEGIN") {
        return Err(not("it is PEM text itself"));
    }
    let bytes = roots::go_base64_bytes(&field.value).ok_or_else(|| not("it is not base64"))?;
    String::from_utf8(bytes).map_err(|_| not("it decodes to binary"))
}

/// A certificate or timestamp authority: its chain must end in its self-signed root and
/// every certificate before it lead there (vouch trusts a certificate only with its path to a
/// root); trusted at every time, as policy-controller has no validity for it.
fn certificate_authority(
    place: &Place<'_>,
    what: &str,
    raw: &Spanned<RawCertificateAuthority>,
) -> Result<CertificateAuthority, PolicyError> {
    let chain = &raw.value.cert_chain;
    let label = format!("{what}.certChain");
    let text = pem_field(place, &label, chain)?;
    let placed = |e: PolicyError| match e {
        PolicyError::Invalid { file, reason, .. } => place.at(chain, format!("{file}: {reason}")),
        other => other,
    };
    let certificates = roots::certificates_from_pem(&text, &label).map_err(placed)?;
    let mut authority = roots::certificate_chain(&certificates, &label)
        .map_err(placed)?
        .into_iter()
        .next()
        .ok_or_else(|| place.at(chain, format!("{label} holds no certificate")))?;
    authority.organization = raw.value.subject.organization.clone();
    authority.common_name = raw.value.subject.common_name.clone();
    authority.uri = raw.value.uri.clone();
    authority.valid_for = TimeRange {
        start: UnixTime::from_secs(0),
        end: None,
    };
    Ok(authority)
}

/// A transparency or CT log known by its PEM public key: its log id the SHA-256 of the key's
/// SubjectPublicKeyInfo (policy-controller's `GetTransparencyLogID`), trusted at every time.
fn log_instance(
    place: &Place<'_>,
    what: &str,
    raw: &Spanned<RawLogInstance>,
) -> Result<TransparencyLogInstance, PolicyError> {
    let hash = &raw.value.hash_algorithm;
    let hash_algorithm = match hash.value.as_str() {
        "sha-256" | "sha256" => HashAlgorithm::Sha2_256,
        "sha-384" | "sha384" => HashAlgorithm::Sha2_384,
        "sha-512" | "sha512" => HashAlgorithm::Sha2_512,
        other => {
            return Err(place.at(
                hash,
                format!("{what}.hashAlgorithm {other:?} is not sha-256, sha-384 or sha-512"),
            ));
        }
    };
    let field = &raw.value.public_key;
    let label = format!("{what}.publicKey");
    let pem = pem_field(place, &label, field)?;
    let key = PublicKey::from_pem(&pem)
        .map_err(|e| place.at(field, format!("{label} is not a PEM public key: {e}")))?;
    let key_details = match key.key_type() {
        KeyType::EcdsaP256 => KeyDetails::PKIX_ECDSA_P256_SHA_256,
        KeyType::EcdsaP384 => KeyDetails::PKIX_ECDSA_P384_SHA_384,
        KeyType::EcdsaP521 => KeyDetails::PKIX_ECDSA_P521_SHA_512,
        KeyType::Ed25519 => KeyDetails::PKIX_ED25519,
        KeyType::Rsa { bits: 2048 } => KeyDetails::PKIX_RSA_PKCS1V15_2048_SHA256,
        KeyType::Rsa { bits: 3072 } => KeyDetails::PKIX_RSA_PKCS1V15_3072_SHA256,
        KeyType::Rsa { bits: 4096 } => KeyDetails::PKIX_RSA_PKCS1V15_4096_SHA256,
        KeyType::Rsa { .. } => KeyDetails::PKIX_RSA_PKCS1V5,
    };
    Ok(roots::keyed_log(
        raw.value.base_url.clone(),
        hash_algorithm,
        &key,
        key_details,
    ))
}

/// An attestation's `policy`: inline Rego only.
fn attestation_policy(
    place: &Place<'_>,
    policy: &Spanned<RawAttestationPolicy>,
    label: &str,
    files: &mut Files,
) -> Result<RegoPolicy, PolicyError> {
    let p = &policy.value;
    match p.kind.value.as_str() {
        "rego" => {}
        "cue" => {
            return Err(place.at(
                &p.kind,
                "CUE policies are not supported; write the policy in Rego",
            ));
        }
        other => return Err(place.at(&p.kind, format!("policy type {other:?} is not rego"))),
    }
    let unsupported = [
        (
            p.url.is_some(),
            "policy.url (a policy fetched over the network)",
        ),
        (
            p.config_map_ref.is_some(),
            "policy.configMapRef (a policy in a cluster ConfigMap)",
        ),
        (p.remote.is_some(), "policy.remote"),
        (
            p.fetch_config_file == Some(true),
            "policy.fetchConfigFile (the image's configuration as input)",
        ),
        (
            p.include_spec == Some(true),
            "policy.includeSpec (the Kubernetes resource as input)",
        ),
        (
            p.include_object_meta == Some(true),
            "policy.includeObjectMeta",
        ),
        (p.include_type_meta == Some(true), "policy.includeTypeMeta"),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(given, _)| *given) {
        return Err(place.at(
            policy,
            format!("{what} is not supported; give the Rego inline in data"),
        ));
    }
    let data = p
        .data
        .as_ref()
        .ok_or_else(|| place.at(policy, "policy needs data (inline Rego)"))?;
    files.record_inline(&format!("{label} rego"), data.as_bytes());
    RegoPolicy::parse(&format!("{label} attestation policy"), data)
        .map_err(|e| place.at(policy, e.to_string()))
}
