//! sigstore policy-controller's `ClusterImagePolicy` (`policy.sigstore.dev/v1beta1` and
//! `v1alpha1`), read into a [`TrustPolicy`], so a cluster's existing policies decide the same
//! way in `vouch verify --policy`, the proxy and the webhook. A file may hold several policies
//! (YAML documents separated by `---`).
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
//! | `authorities[].keyless.url`, `ctlog.url` | accepted when they name the public-good Fulcio and Rekor, whose trust root is embedded |
//! | `authorities[].static.action` | `pass` or `fail` |
//! | `authorities[].attestations[]` | `predicateType` (cosign's shorthands or a URI) and a `rego` `policy.data`; every signed attestation of the type must pass it |
//!
//! Refused by name, never ignored: `key.secretRef`, `key.kms`, `keyless.trustRootRef`,
//! `keyless.ca-cert`, other Fulcio or Rekor URLs, `source`,
//! `signaturePullSecrets`, `rfc3161timestamp`, `cue` policies, policies fetched from a `url` or
//! a `configMapRef`, `includeSpec`/`includeObjectMeta`/`includeTypeMeta`/`fetchConfigFile`,
//! `spec.policy` and `spec.match`.
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
use vouch_keys::PublicKey;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::rego::RegoPolicy;

use crate::error::PolicyError;
use crate::pattern::ImagePattern;
use crate::policy::{
    Action, AttestationRequirement, Authority, Combination, Files, Mode, Place, Platforms,
    Requirement, Roots, Scope, SignedRequirement, Signer, Tlog, TrustPolicy,
};

/// The `kind` of a policy-controller policy.
pub const KIND: &str = "ClusterImagePolicy";

const PUBLIC_GOOD_FULCIO: &str = "https://fulcio.sigstore.dev";
const PUBLIC_GOOD_REKOR: &str = "https://rekor.sigstore.dev";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
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
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec {
    images: Vec<RawGlob>,
    #[serde(default)]
    authorities: Vec<Spanned<RawAuthority>>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    policy: Option<Spanned<serde_json::Value>>,
    #[serde(default, rename = "match")]
    match_resources: Option<Spanned<serde_json::Value>>,
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
    rfc3161timestamp: Option<Spanned<serde_json::Value>>,
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
    trust_root_ref: Option<String>,
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
    trust_root_ref: Option<String>,
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

/// Reads one or more `ClusterImagePolicy` documents named `name` (for messages), with files
/// relative to `base`; every one is checked before any is used.
pub fn from_cluster_image_policies(
    name: &str,
    base: &Path,
    bytes: &[u8],
) -> Result<TrustPolicy, PolicyError> {
    let place = Place { file: name };
    let text = std::str::from_utf8(bytes).map_err(|_| place.whole("is not UTF-8 text"))?;
    let documents: Vec<RawPolicy> = crate::policy::parse_yaml_documents(name, text)?;
    if documents.is_empty() {
        return Err(place.whole("holds no ClusterImagePolicy"));
    }
    let mut files = Files::new(base, bytes);
    let mut roots = Roots::new();
    let mut authorities: Vec<Authority> = Vec::new();
    let mut scopes = Vec::new();
    let mut names = BTreeSet::new();
    for document in documents {
        if !document
            .api_version
            .value
            .starts_with("policy.sigstore.dev/")
            || document.kind.value != KIND
        {
            return Err(place.at(
                &document.kind,
                format!(
                    "apiVersion {:?} kind {:?} is not a policy-controller ClusterImagePolicy",
                    document.api_version.value, document.kind.value
                ),
            ));
        }
        let _ = document.status;
        let policy_name = document.metadata.name;
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
        if spec.images.is_empty() {
            return Err(place.at(
                &spec_at,
                format!("ClusterImagePolicy {policy_name} lists no images"),
            ));
        }
        let images = spec
            .images
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
        if spec.authorities.is_empty() {
            return Err(place.at(
                &spec_at,
                format!("ClusterImagePolicy {policy_name} has no authorities"),
            ));
        }
        let mut alternatives = Vec::new();
        for (n, spanned) in spec.authorities.iter().enumerate() {
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
            refuse_if(
                &place,
                raw.rfc3161timestamp.as_ref(),
                "rfc3161timestamp",
                "its trustRootRef names a cluster TrustRoot, which vouch does not read",
            )?;
            if let Some(log) = &raw.ctlog {
                if log.value.trust_root_ref.is_some() {
                    return Err(place.at(log, "ctlog.trustRootRef is not supported: it names a cluster TrustRoot, which vouch does not read"));
                }
                if let Some(url) = &log.value.url
                    && url.value.trim_end_matches('/') != PUBLIC_GOOD_REKOR
                {
                    return Err(place.at(url, format!("ctlog.url {} is not supported: only the public-good Rekor's trust root is known", url.value)));
                }
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
                    trusted_root: roots.public_good()?,
                    tlog: Tlog::Optional,
                    require_sct: true,
                });
            }
            if let Some(keyless) = &raw.keyless {
                let k = &keyless.value;
                if k.trust_root_ref.is_some() {
                    return Err(place.at(keyless, "keyless.trustRootRef is not supported: it names a cluster TrustRoot, which vouch does not read; verify with a vouch policy and trustedRoot instead"));
                }
                if k.ca_cert.is_some() {
                    return Err(place.at(keyless, "keyless.ca-cert is not supported: a private certificate authority needs a trusted root"));
                }

                if let Some(url) = &k.url
                    && url.value.trim_end_matches('/') != PUBLIC_GOOD_FULCIO
                {
                    return Err(place.at(url, format!("keyless.url {} is not supported: only the public-good Fulcio's trust root is known", url.value)));
                }
                let identities: Vec<Option<&Spanned<RawIdentity>>> = if k.identities.is_empty() {
                    vec![None]
                } else {
                    k.identities.iter().map(Some).collect()
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
                        trusted_root: roots.public_good()?,
                        tlog: Tlog::Required,
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
    Ok(TrustPolicy {
        name: name.to_owned(),
        digest: files.digest(),
        default: Action::Deny,
        authorities,
        scopes,
        warnings: Vec::new(),
        combination: Combination::AllMatching,
    })
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
