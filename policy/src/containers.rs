//! containers' signature verification policy, `/etc/containers/policy.json`
//! (containers-policy.json(5), the file podman, skopeo, buildah and CRI-O read), compiled into
//! a [`TrustPolicy`], so that the policy a host already has is what vouch enforces.
//!
//! The file is read as strictly as containers/image reads it: it must be JSON (no comments,
//! no trailing commas), and unknown or repeated fields are refused. Everything vouch cannot
//! enforce as the manual says is refused by name, with the file, line and column: nothing is
//! ignored. What is not used for a decision, because it concerns images vouch never decides,
//! is checked and listed in [`TrustPolicy::warnings`].
//!
//! ```
//! use std::path::Path;
//! use vouch_policy::containers::from_containers_policy;
//! use vouch_policy::policy::{Action, Requirement};
//!
//! let policy = from_containers_policy(
//!     "policy.json",
//!     Path::new("/etc/containers"),
//!     br#"{
//!         "default": [{"type": "reject"}],
//!         "transports": {
//!             "docker": {
//!                 "docker.io/library": [{"type": "insecureAcceptAnything"}],
//!                 "docker.io/library/busybox": [{"type": "reject"}]
//!             }
//!         }
//!     }"#,
//! )?;
//! assert_eq!(policy.default, Action::Deny);
//! // The most specific scope decides, as in containers/image.
//! let (scope, _) = policy.scope_for("docker.io/library/alpine").unwrap();
//! assert!(matches!(scope.requirement, Requirement::Static(Action::Allow)));
//! let (scope, _) = policy.scope_for("docker.io/library/busybox").unwrap();
//! assert!(matches!(scope.requirement, Requirement::Static(Action::Deny)));
//! assert!(policy.scope_for("quay.io/app/app").is_none()); // the default: reject
//! # Ok::<(), vouch_policy::PolicyError>(())
//! ```
//!
//! # The mapping
//!
//! | containers-policy.json(5) | vouch |
//! |---|---|
//! | `default` (required, non-empty) | what an image no `docker` scope covers gets: [`TrustPolicy::default`] when it decides without evidence, else a scope of pattern `**/**` and `*` (every name; chosen so that every other scope is more specific) |
//! | `transports.docker.""` | the same, in place of `default`, which then decides nothing vouch looks at (a warning says so) |
//! | `transports.docker."host[:port]"` | a scope `host[:port]/**` |
//! | `transports.docker."host/namespace"`, `"host/repo"` | a scope `S` and `S/**`: the repository itself and everything under it |
//! | `transports.docker."*.example.com"` | a scope `*.example.com/**` and `*.example.com:*/**`: any subdomain (not `example.com` itself), any port; among wildcards the longer domain wins, as in containers/image |
//! | a `docker` scope with a tag or digest, or another wildcard | refused: vouch decides by repository |
//! | other transports (`atomic`, `containers-storage`, `dir`, `docker-archive`, `docker-daemon`, `oci`, `oci-archive`, `sif`, `tarball`, and any other name) | their requirements are checked and must be `insecureAcceptAnything` or `reject`; they are not used (vouch decides registry images, and OCI layouts as the `docker` default decides them); a warning names each |
//! | a requirement array | all of its requirements must hold |
//! | `insecureAcceptAnything` | nothing required: alone, the scope allows without evidence |
//! | `reject` | the scope denies without evidence |
//! | `signedBy` | refused: GPG simple signing is not supported |
//! | `signedBaseLayer` | refused (containers/image rejects every image with it) |
//! | `sigstoreSigned` | authorities that must vouch; see below |
//! | `keyPath`, `keyData` | one key authority |
//! | `keyPaths`, `keyDatas` | one key authority per key, any one of which will do; an empty list is refused |
//! | `fulcio` (`caPath`/`caData`, `oidcIssuer`, `subjectEmail`) | one keyless authority. Its in-memory trusted root holds the requirement's Rekor keys (which `fulcio` needs, as in containers/image) as its transparency logs, and one certificate authority per self-signed certificate of the CA file, valid for that certificate's own validity period, with the file's other certificates (intermediates) placed before the root they lead to ([`crate::roots`]). The certificate must chain to one of them at the log entry's integrated time, name `oidcIssuer` as its OIDC issuer and carry `subjectEmail` as a subject alternative name (both exact); a log entry with a signed entry timestamp is required (`tlog: required`); no SCT is checked (`require_sct: false`), as containers/image checks none |
//! | `pki` | refused: certificates of a private PKI are not supported |
//! | `rekorPublicKeyPath(s)`, `rekorPublicKeyData(s)` | the requirement's authorities need a log entry (`tlog: required`) whose signed entry timestamp verifies with one of these ECDSA keys: an in-memory trusted root holds them as its only transparency logs (log id: SHA-256 of the key's SubjectPublicKeyInfo; [`crate::roots::rekor_log`]) |
//! | no Rekor key | `tlog: optional` against the Sigstore public-good root: a signature without a log entry is trusted on the key alone, one with an entry has it verified |
//! | `signedIdentity` (default `matchRepoDigestOrExact`) | [`SignedIdentity`]: `matchRepoDigestOrExact`, `matchRepository`, `exactReference` (with a tag or digest), `exactRepository`, `remapIdentity`; `matchExact` is refused |
//!
//! One `sigstoreSigned` requirement is one scope requirement: its authorities, any one of
//! which vouches (threshold 1). Several in one array must all hold: the scope takes every
//! authority of every requirement, requires (`require`) those of the requirements with one
//! key, and sets the threshold to the number of requirements; at most one of them may list
//! several keys, whose authorities then fill the one place left, so that the scope holds
//! exactly when every requirement does. Two requirements that list several keys each cannot
//! be told apart that way and are refused, as are requirements of one array with different
//! `signedIdentity` values (vouch checks one per scope).
//!
//! Paths (of keys and CA files) are read relative to `base` (absolute paths, the norm in this
//! file, are read as they are), and every file read is part of [`TrustPolicy::digest`].
//!
//! # Where vouch decides otherwise than containers/image
//!
//! - Keys and CA files are read when the policy is loaded, not when an image is checked: a
//!   file that is missing fails the load, even in a scope no image uses.
//! - Without a Rekor key, containers/image ignores a signature's log entry; vouch verifies it
//!   against the public-good root, so a signature logged in another (private) Rekor is refused.
//! - With a Rekor key, containers/image needs the signed entry timestamp; for a key requirement
//!   vouch also accepts an inclusion proof with a checkpoint signed by the same key (a `fulcio`
//!   requirement needs the signed entry timestamp in both: its time is when the certificate is
//!   checked).
//! - `fulcio`'s `subjectEmail` is compared with every subject alternative name of the
//!   certificate (email, URI, otherName username), as vouch's certificate identities are
//!   (`vouch_verifier::identity` has no email-only match); containers/image compares it with
//!   the email names only. A certificate from the trusted CA whose URI name is the exact text
//!   of `subjectEmail` is accepted by vouch and refused by containers/image.
//! - `fulcio`'s CA file: containers/image trusts every certificate in it as an anchor, and takes
//!   intermediates from the signature (cosign's `dev.sigstore.cosign/chain` annotation). vouch
//!   trusts a certificate only through a path, made of the file's certificates, that ends at a
//!   self-signed certificate of the file: a file without the root is refused when the policy is
//!   loaded (so is a certificate of it that leads to none of its roots), and an intermediate
//!   that only the signature carries is not used, so a certificate it issued is refused
//!   (`certificate-chain`). Put the intermediates in the CA file with the root.
//! - A `fulcio` certificate is also refused when it is a CA certificate, a CT precertificate, or
//!   has an unknown critical extension (vouch's certificate path checks, as for every keyless
//!   signature).
//! - Signatures are also read from Sigstore bundles attached as OCI referrers (cosign v3), not
//!   only from cosign's `.sig` tag.
//! - `matchRepoDigestOrExact` is vouch's [`SignedIdentity::MatchRepoDigestOrExact`]: a signed
//!   name without a tag (what cosign signs) is accepted for an image named by tag, where
//!   containers/image requires the signed name to carry that tag.
//! - OCI layouts (`oci:PATH`) are decided by the `docker` default, not by `transports.oci`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use vouch_keys::PublicKey;
use vouch_verifier::identity::{CertificateIdentity, Matcher};
use vouch_verifier::trust_root::{TransparencyLogInstance, TrustedRoot};

use crate::error::PolicyError;
use crate::pattern::ImagePattern;
use crate::policy::{
    Action, Authority, Combination, Mode, Platforms, PolicyWarning, Requirement, Roots, Scope,
    SignedIdentity, SignedRequirement, Signer, Tlog, TrustPolicy, parse_yaml,
};

/// Reads the containers-policy.json(5) document `bytes`, named `name` in messages, into a
/// [`TrustPolicy`]; key files it names are read relative to `base`. See the module
/// documentation for what each part of the file becomes, and what is refused.
pub fn from_containers_policy(
    name: &str,
    base: &Path,
    bytes: &[u8],
) -> Result<TrustPolicy, PolicyError> {
    let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::Invalid {
        file: name.to_owned(),
        line: None,
        reason: "is not UTF-8 text".into(),
    })?;
    // JSON first, so that what only YAML allows (comments, trailing commas, bare words) is
    // refused with serde_json's place; then again with spans for the messages that follow.
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned();
        return Err(PolicyError::Invalid {
            file: name.to_owned(),
            line: Some((e.line() as u64, e.column() as u64)),
            reason: format!(
                "not JSON: {message} (policy.json is strict JSON: no comments, no trailing commas)"
            ),
        });
    }
    // Every value of the format is a string, an array or an object; a null would read as
    // an absent field.
    if let Some((line, column, token)) = first_bare_scalar(text) {
        return Err(PolicyError::Invalid {
            file: name.to_owned(),
            line: Some((line, column)),
            reason: format!(
                "{token} is not a value policy.json takes (only strings, arrays and objects)"
            ),
        });
    }
    let raw: RawPolicy = parse_yaml(name, text).map_err(|e| match e {
        PolicyError::Invalid { file, line, reason } => PolicyError::Invalid {
            file,
            line,
            // The YAML parser's advice names its own options, which a reader cannot set.
            reason: reason
                .replace("duplicate mapping key: ", "repeated key ")
                .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
        },
        other => other,
    })?;
    let checker = Checker { file: name };
    let plan = checker.plan(raw)?;
    Compiler {
        file: name,
        files: crate::policy::Files::new(base, bytes),
        roots: Roots::new(),
        authorities: Vec::new(),
    }
    .compile(name, plan)
}

// ----- the file, as written -----

/// A JSON object whose members are kept in the order written (repeated keys are refused by
/// the parser).
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor(PhantomData))
    }
}

type RawList = Spanned<Vec<Spanned<RawRequirement>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: RawList,
    #[serde(default)]
    transports: Option<Ordered<Spanned<Ordered<RawList>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequirement {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    key_type: Option<Spanned<String>>,
    #[serde(default)]
    key_path: Option<Spanned<String>>,
    #[serde(default)]
    key_paths: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    key_data: Option<Spanned<String>>,
    #[serde(default)]
    key_datas: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    fulcio: Option<Spanned<RawFulcio>>,
    #[serde(default)]
    pki: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    rekor_public_key_path: Option<Spanned<String>>,
    #[serde(default)]
    rekor_public_key_paths: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    rekor_public_key_data: Option<Spanned<String>>,
    #[serde(default)]
    rekor_public_key_datas: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    signed_identity: Option<Spanned<RawIdentity>>,
    #[serde(default)]
    base_layer_identity: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFulcio {
    #[serde(default)]
    ca_path: Option<Spanned<String>>,
    #[serde(default)]
    ca_data: Option<Spanned<String>>,
    #[serde(default)]
    oidc_issuer: Option<Spanned<String>>,
    #[serde(default)]
    subject_email: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdentity {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    docker_reference: Option<Spanned<String>>,
    #[serde(default)]
    docker_repository: Option<Spanned<String>>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    #[serde(default)]
    signed_prefix: Option<Spanned<String>>,
}

// ----- the file, checked -----

/// Line and column, from 1.
type Loc = (u64, u64);

fn loc<T>(spanned: &Spanned<T>) -> Loc {
    (spanned.referenced.line(), spanned.referenced.column())
}

/// A key named by the file: where, how it is named in messages, and its PEM source.
struct KeyRef {
    at: Loc,
    /// `keyPath /etc/pki/key.pub`, `keyDatas[2]`, `rekorPublicKeyPath /etc/rekor.pub`.
    label: String,
    source: KeySource,
}

enum KeySource {
    Path(String),
    /// Decoded from the file's base64.
    Data(Vec<u8>),
}

/// A `fulcio` block, checked; its CA file not read yet.
struct Fulcio {
    /// The CA certificates: `fulcio caPath /etc/fulcio.pem` or `fulcio caData`.
    ca: KeyRef,
    oidc_issuer: String,
    subject_email: String,
}

/// A `sigstoreSigned` requirement vouch can enforce: keys, or a `fulcio` block.
struct Sigstore {
    keys: Vec<KeyRef>,
    fulcio: Option<Fulcio>,
    rekor_keys: Vec<KeyRef>,
    identity: SignedIdentity,
}

/// A requirement array, checked.
struct List {
    at: Loc,
    /// How messages and authority names call it: `default`, `docker:""`, `docker:SCOPE`.
    label: String,
    reject: bool,
    sigstore: Vec<Sigstore>,
}

/// A `docker` scope, checked.
struct DockerScope {
    patterns: Vec<ImagePattern>,
    /// For `*.domain` scopes: the labels of the domain, which rank wildcards.
    wildcard_labels: Option<usize>,
    list: List,
}

/// The whole file, checked; nothing read yet.
struct Plan {
    default: List,
    docker_default: Option<List>,
    docker: Vec<DockerScope>,
    warnings: Vec<PolicyWarning>,
}

struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn error(&self, at: Loc, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: Some(at),
            reason: reason.into(),
        }
    }

    fn plan(&self, raw: RawPolicy) -> Result<Plan, PolicyError> {
        let default = self.list("default", raw.default)?;
        let mut docker_default = None;
        let mut docker = Vec::new();
        let mut warnings = Vec::new();
        for (transport, scopes) in raw.transports.map(|t| t.0).unwrap_or_default() {
            let transport_at = loc(&scopes);
            if transport == "docker" {
                for (scope, list) in scopes.value.0 {
                    let at = loc(&list);
                    if scope.is_empty() {
                        docker_default = Some(self.list("docker:\"\"", list)?);
                        continue;
                    }
                    let (patterns, wildcard_labels) =
                        docker_patterns(&scope).map_err(|e| self.error(at, e))?;
                    if let Some(message) = never_matches(&scope) {
                        warnings.push(PolicyWarning {
                            line: Some(at),
                            message,
                        });
                    }
                    let list = self.list(&format!("docker:{scope}"), list)?;
                    docker.push(DockerScope {
                        patterns,
                        wildcard_labels,
                        list,
                    });
                }
                continue;
            }
            for (scope, list) in scopes.value.0 {
                let label = format!("{transport}:{scope:?}");
                let list = self.list(&label, list)?;
                if !list.sigstore.is_empty() {
                    return Err(self.error(
                        list.at,
                        format!(
                            "transports.{transport}[{scope:?}]: outside the docker transport only insecureAcceptAnything and reject are accepted: vouch decides registry images (and OCI layouts) by the docker scopes and the default, never {transport}: images, so signatures required here would not be checked"
                        ),
                    ));
                }
            }
            warnings.push(PolicyWarning {
                line: Some(transport_at),
                message: format!(
                    "transports.{transport} is not used: vouch decides registry images and OCI layouts only, by the docker scopes and the default"
                ),
            });
        }
        if let Some(docker_default) = &docker_default {
            warnings.push(PolicyWarning {
                line: Some(default.at),
                message: format!(
                    "default is not used: transports.docker[\"\"] (line {}) decides every image no docker scope names",
                    docker_default.at.0
                ),
            });
        }
        warnings.sort_by_key(|w| w.line);
        Ok(Plan {
            default,
            docker_default,
            docker,
            warnings,
        })
    }

    /// Checks a requirement array: every requirement, then whether vouch can require all of
    /// them at once.
    fn list(&self, label: &str, raw: RawList) -> Result<List, PolicyError> {
        let at = loc(&raw);
        if raw.value.is_empty() {
            return Err(self.error(
                at,
                format!("{label}: a list of policy requirements must not be empty"),
            ));
        }
        let mut list = List {
            at,
            label: label.to_owned(),
            reject: false,
            sigstore: Vec::new(),
        };
        let mut several_keys: Option<Loc> = None;
        for requirement in raw.value {
            let requirement_at = loc(&requirement);
            let requirement = requirement.value;
            let kind = requirement.kind.value.clone();
            match kind.as_str() {
                "insecureAcceptAnything" | "reject" => {
                    self.only_fields(&requirement, &[])?;
                    list.reject |= kind == "reject";
                }
                "signedBy" => {
                    return Err(self.error(
                        loc(&requirement.kind),
                        "signedBy (GPG signatures) is not supported: vouch verifies sigstore signatures (sigstoreSigned) only",
                    ));
                }
                "signedBaseLayer" => {
                    return Err(self.error(
                        loc(&requirement.kind),
                        "signedBaseLayer is not supported (containers/image rejects every image with it: it is not implemented there either)",
                    ));
                }
                "sigstoreSigned" => {
                    let sigstore = self.sigstore(requirement)?;
                    if sigstore.keys.len() > 1 {
                        if let Some(first) = several_keys {
                            return Err(self.error(
                                requirement_at,
                                format!(
                                    "{label}: this sigstoreSigned requirement and the one at line {} both list several keys; vouch can require all requirements of one list only when at most one of them offers a choice of keys",
                                    first.0
                                ),
                            ));
                        }
                        several_keys = Some(requirement_at);
                    }
                    if let Some(first) = list.sigstore.first()
                        && first.identity != sigstore.identity
                    {
                        return Err(self.error(
                            requirement_at,
                            format!(
                                "{label}: the sigstoreSigned requirements of one list must have the same signedIdentity: vouch checks one per scope"
                            ),
                        ));
                    }
                    list.sigstore.push(sigstore);
                }
                other => {
                    return Err(self.error(
                        loc(&requirement.kind),
                        format!(
                            "policy requirement type {other:?} is not one of insecureAcceptAnything, reject, signedBy, signedBaseLayer, sigstoreSigned"
                        ),
                    ));
                }
            }
        }
        Ok(list)
    }

    /// Refuses every field of `requirement` besides `type` and `allowed`.
    fn only_fields(
        &self,
        requirement: &RawRequirement,
        allowed: &[&str],
    ) -> Result<(), PolicyError> {
        let r = requirement;
        let present = [
            ("keyType", r.key_type.as_ref().map(loc)),
            ("keyPath", r.key_path.as_ref().map(loc)),
            ("keyPaths", r.key_paths.as_ref().map(loc)),
            ("keyData", r.key_data.as_ref().map(loc)),
            ("keyDatas", r.key_datas.as_ref().map(loc)),
            ("fulcio", r.fulcio.as_ref().map(loc)),
            ("pki", r.pki.as_ref().map(loc)),
            (
                "rekorPublicKeyPath",
                r.rekor_public_key_path.as_ref().map(loc),
            ),
            (
                "rekorPublicKeyPaths",
                r.rekor_public_key_paths.as_ref().map(loc),
            ),
            (
                "rekorPublicKeyData",
                r.rekor_public_key_data.as_ref().map(loc),
            ),
            (
                "rekorPublicKeyDatas",
                r.rekor_public_key_datas.as_ref().map(loc),
            ),
            ("signedIdentity", r.signed_identity.as_ref().map(loc)),
            ("baseLayerIdentity", r.base_layer_identity.as_ref().map(loc)),
        ];
        for (field, at) in present {
            if let Some(at) = at
                && !allowed.contains(&field)
            {
                return Err(self.error(
                    at,
                    format!("a {} requirement has no field {field}", r.kind.value),
                ));
            }
        }
        Ok(())
    }

    fn sigstore(&self, r: RawRequirement) -> Result<Sigstore, PolicyError> {
        self.only_fields(
            &r,
            &[
                "keyPath",
                "keyPaths",
                "keyData",
                "keyDatas",
                "fulcio",
                "pki",
                "rekorPublicKeyPath",
                "rekorPublicKeyPaths",
                "rekorPublicKeyData",
                "rekorPublicKeyDatas",
                "signedIdentity",
            ],
        )?;
        let type_at = loc(&r.kind);
        let key_sources = [
            r.key_path.is_some(),
            r.key_paths.is_some(),
            r.key_data.is_some(),
            r.key_datas.is_some(),
            r.fulcio.is_some(),
            r.pki.is_some(),
        ]
        .into_iter()
        .filter(|&p| p)
        .count();
        if key_sources != 1 {
            return Err(self.error(
                type_at,
                format!(
                    "sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki ({key_sources} given)"
                ),
            ));
        }
        let rekor_sources = [
            r.rekor_public_key_path.is_some(),
            r.rekor_public_key_paths.is_some(),
            r.rekor_public_key_data.is_some(),
            r.rekor_public_key_datas.is_some(),
        ]
        .into_iter()
        .filter(|&p| p)
        .count();
        if rekor_sources > 1 {
            return Err(self.error(
                type_at,
                "sigstoreSigned takes at most one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas",
            ));
        }
        if let Some(pki) = &r.pki {
            return Err(self.error(
                loc(pki),
                "pki (certificates from a private PKI, newer containers/image) is not supported: vouch verifies keys and Fulcio certificates only",
            ));
        }
        if r.fulcio.is_some() && rekor_sources == 0 {
            return Err(self.error(
                type_at,
                "fulcio needs one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas",
            ));
        }
        let identity = match r.signed_identity {
            None => SignedIdentity::MatchRepoDigestOrExact,
            Some(raw) => self.identity(raw.value)?,
        };
        let rekor_keys = self.keys(
            "rekorPublicKeyPath",
            r.rekor_public_key_path,
            "rekorPublicKeyPaths",
            r.rekor_public_key_paths,
            "rekorPublicKeyData",
            r.rekor_public_key_data,
            "rekorPublicKeyDatas",
            r.rekor_public_key_datas,
        )?;
        let fulcio = r.fulcio.map(|f| self.fulcio(f)).transpose()?;
        let keys = self.keys(
            "keyPath",
            r.key_path,
            "keyPaths",
            r.key_paths,
            "keyData",
            r.key_data,
            "keyDatas",
            r.key_datas,
        )?;
        Ok(Sigstore {
            keys,
            fulcio,
            rekor_keys,
            identity,
        })
    }

    /// The `fulcio` block, checked as containers/image checks it: a CA file or its data,
    /// and a non-empty issuer and email.
    fn fulcio(&self, fulcio: Spanned<RawFulcio>) -> Result<Fulcio, PolicyError> {
        let at = loc(&fulcio);
        let f = fulcio.value;
        let empty =
            |field: &Option<Spanned<String>>| field.as_ref().is_none_or(|s| s.value.is_empty());
        let problem = match (&f.ca_path, &f.ca_data) {
            (Some(_), Some(data)) => Some((loc(data), "fulcio takes caPath or caData, not both")),
            (None, None) => Some((at, "fulcio needs caPath or caData")),
            (Some(path), None) if path.value.is_empty() => {
                Some((loc(path), "fulcio caPath is empty"))
            }
            _ => None,
        }
        .or_else(|| empty(&f.oidc_issuer).then_some((at, "fulcio needs oidcIssuer")))
        .or_else(|| empty(&f.subject_email).then_some((at, "fulcio needs subjectEmail")));
        if let Some((at, reason)) = problem {
            return Err(self.error(at, reason));
        }
        let ca = match (f.ca_path, f.ca_data) {
            (Some(path), _) => KeyRef {
                at: loc(&path),
                label: format!("fulcio caPath {}", path.value),
                source: KeySource::Path(path.value),
            },
            (None, Some(data)) => {
                let bytes = crate::roots::go_base64_bytes(&data.value)
                    .ok_or_else(|| self.error(loc(&data), "fulcio caData is not base64"))?;
                KeyRef {
                    at: loc(&data),
                    label: "fulcio caData".into(),
                    source: KeySource::Data(bytes),
                }
            }
            (None, None) => return Err(self.error(at, "fulcio needs caPath or caData")),
        };
        let text = |field: Option<Spanned<String>>| field.map(|s| s.value).unwrap_or_default();
        Ok(Fulcio {
            ca,
            oidc_issuer: text(f.oidc_issuer),
            subject_email: text(f.subject_email),
        })
    }

    /// The keys of one of the four ways to name them (at most one given, checked before).
    #[allow(clippy::too_many_arguments)]
    fn keys(
        &self,
        path_name: &str,
        path: Option<Spanned<String>>,
        paths_name: &str,
        paths: Option<Spanned<Vec<Spanned<String>>>>,
        data_name: &str,
        data: Option<Spanned<String>>,
        datas_name: &str,
        datas: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Result<Vec<KeyRef>, PolicyError> {
        let path_key = |name: String, path: Spanned<String>| {
            if path.value.is_empty() {
                return Err(self.error(loc(&path), format!("{name} is empty")));
            }
            Ok(KeyRef {
                at: loc(&path),
                label: format!("{name} {}", path.value),
                source: KeySource::Path(path.value),
            })
        };
        let data_key = |name: String, data: Spanned<String>| {
            let bytes = crate::roots::go_base64_bytes(&data.value).filter(|b| !b.is_empty());
            let bytes = bytes.ok_or_else(|| {
                self.error(
                    loc(&data),
                    format!("{name} is not base64 of a PEM public key"),
                )
            })?;
            Ok(KeyRef {
                at: loc(&data),
                label: name,
                source: KeySource::Data(bytes),
            })
        };
        let list = |name: &str, list: &Spanned<Vec<Spanned<String>>>| {
            if list.value.is_empty() {
                Err(self.error(loc(list), format!("{name} lists no keys")))
            } else {
                Ok(())
            }
        };
        if let Some(path) = path {
            return Ok(vec![path_key(path_name.to_owned(), path)?]);
        }
        if let Some(paths) = paths {
            list(paths_name, &paths)?;
            return paths
                .value
                .into_iter()
                .enumerate()
                .map(|(i, p)| path_key(format!("{paths_name}[{i}]"), p))
                .collect();
        }
        if let Some(data) = data {
            return Ok(vec![data_key(data_name.to_owned(), data)?]);
        }
        if let Some(datas) = datas {
            list(datas_name, &datas)?;
            return datas
                .value
                .into_iter()
                .enumerate()
                .map(|(i, d)| data_key(format!("{datas_name}[{i}]"), d))
                .collect();
        }
        Ok(Vec::new())
    }

    fn identity(&self, raw: RawIdentity) -> Result<SignedIdentity, PolicyError> {
        let at = loc(&raw.kind);
        let kind = raw.kind.value.as_str();
        let fields = [
            ("dockerReference", &raw.docker_reference),
            ("dockerRepository", &raw.docker_repository),
            ("prefix", &raw.prefix),
            ("signedPrefix", &raw.signed_prefix),
        ];
        let takes: &[&str] = match kind {
            "matchExact" => {
                return Err(self.error(
                    at,
                    "signedIdentity matchExact is not supported: vouch compares the signed repository and digest, and a tag only when one is signed (cosign signs none); use matchRepoDigestOrExact or matchRepository",
                ));
            }
            "matchRepoDigestOrExact" | "matchRepository" => &[],
            "exactReference" => &["dockerReference"],
            "exactRepository" => &["dockerRepository"],
            "remapIdentity" => &["prefix", "signedPrefix"],
            other => {
                return Err(self.error(
                    at,
                    format!(
                        "signedIdentity type {other:?} is not one of matchExact, matchRepoDigestOrExact, matchRepository, exactReference, exactRepository, remapIdentity"
                    ),
                ));
            }
        };
        for (field, value) in fields {
            match value {
                Some(v) if !takes.contains(&field) => {
                    return Err(self.error(
                        loc(v),
                        format!("signedIdentity {kind} has no field {field}"),
                    ));
                }
                None if takes.contains(&field) => {
                    return Err(self.error(at, format!("signedIdentity {kind} needs {field}")));
                }
                _ => {}
            }
        }
        let text =
            |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let at_of = |v: &Option<Spanned<String>>| v.as_ref().map_or(at, loc);
        Ok(match kind {
            "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
            "matchRepository" => SignedIdentity::MatchRepository,
            "exactReference" => {
                let reference = text(&raw.docker_reference);
                match vouch_registry::Reference::parse(&reference) {
                    Ok(r) if r.tag().is_some() || r.digest().is_some() => {}
                    Ok(_) => {
                        return Err(self.error(
                            at_of(&raw.docker_reference),
                            format!("dockerReference {reference:?} has neither a tag nor a digest"),
                        ));
                    }
                    Err(e) => {
                        return Err(self.error(
                            at_of(&raw.docker_reference),
                            format!("dockerReference {reference:?}: {e}"),
                        ));
                    }
                }
                SignedIdentity::ExactReference {
                    docker_reference: reference,
                }
            }
            "exactRepository" => {
                let repository = text(&raw.docker_repository);
                if let Err(e) = vouch_registry::Reference::parse(&repository) {
                    return Err(self.error(
                        at_of(&raw.docker_repository),
                        format!("dockerRepository {repository:?}: {e}"),
                    ));
                }
                SignedIdentity::ExactRepository {
                    docker_repository: repository,
                }
            }
            _ => {
                for (name, value) in [
                    ("prefix", &raw.prefix),
                    ("signedPrefix", &raw.signed_prefix),
                ] {
                    let prefix = text(value);
                    if !valid_remap_prefix(&prefix) {
                        return Err(self.error(
                            at_of(value),
                            format!(
                                "remapIdentity {name} {prefix:?} is not a host[:port], namespace or repository of a fully expanded name (e.g. docker.io/library)"
                            ),
                        ));
                    }
                }
                SignedIdentity::RemapIdentity {
                    prefix: text(&raw.prefix),
                    signed_prefix: text(&raw.signed_prefix),
                }
            }
        })
    }
}

/// Whether `c` can be in an image name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-/:".contains(c)
}

/// A `remapIdentity` prefix: `host[:port]`, or `host[:port]/path` without a tag or digest.
fn valid_remap_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.chars().all(name_char)
        && !prefix.split('/').any(str::is_empty)
        && prefix
            .split_once('/')
            .is_none_or(|(_, path)| !path.contains(':'))
}

/// The patterns of a `docker` scope (not `""`), and for a wildcard domain its label count.
fn docker_patterns(scope: &str) -> Result<(Vec<ImagePattern>, Option<usize>), String> {
    let parse = |text: String| {
        ImagePattern::parse(&text).map_err(|e| format!("docker scope {scope:?}: {e}"))
    };
    if let Some(domain) = scope.strip_prefix("*.") {
        if domain.is_empty()
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
            || domain.split('.').any(str::is_empty)
        {
            return Err(format!(
                "docker scope {scope:?}: a wildcard scope is `*.` and a domain, with no port or path (e.g. *.example.com)"
            ));
        }
        return Ok((
            vec![
                parse(format!("*.{domain}/**"))?,
                parse(format!("*.{domain}:*/**"))?,
            ],
            Some(domain.split('.').count()),
        ));
    }
    if scope.contains('*') {
        return Err(format!(
            "docker scope {scope:?}: `*` is only valid as the first label of a domain (e.g. *.example.com)"
        ));
    }
    let (host, path) = match scope.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (scope, None),
    };
    if scope.contains('@') || path.is_some_and(|p| p.contains(':')) {
        return Err(format!(
            "docker scope {scope:?} names a tag or digest: vouch decides by repository; use the repository as the scope"
        ));
    }
    if host.is_empty() || path.is_some_and(|p| p.split('/').any(str::is_empty)) {
        return Err(format!("docker scope {scope:?} has an empty component"));
    }
    Ok(match path {
        None => (vec![parse(format!("{scope}/**"))?], None),
        Some(_) => (
            vec![parse(scope.to_owned())?, parse(format!("{scope}/**"))?],
            None,
        ),
    })
}

/// Why a `docker` scope can never match, as far as can be told: its first component cannot
/// be the registry of a fully expanded name.
fn never_matches(scope: &str) -> Option<String> {
    if scope.starts_with("*.") {
        return None;
    }
    let host = scope.split('/').next().unwrap_or_default();
    if host.contains('.') || host.contains(':') || host == "localhost" {
        return None;
    }
    Some(format!(
        "docker scope {scope:?} never matches: {host:?} is not a registry host (scopes are fully expanded names such as docker.io/library/busybox)"
    ))
}

/// The place and kind of the first JSON value of `text` (valid JSON) that is not a string,
/// an array or an object: `null`, `true`, `false` or a number.
fn first_bare_scalar(text: &str) -> Option<(u64, u64, &'static str)> {
    let (mut line, mut column) = (1u64, 0u64);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if c == '\n' {
            (line, column) = (line + 1, 0);
            continue;
        }
        column += 1;
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            'n' => return Some((line, column, "null")),
            't' | 'f' => return Some((line, column, "a boolean")),
            '-' | '0'..='9' => return Some((line, column, "a number")),
            _ => {}
        }
    }
    None
}

// ----- the compiled policy -----

struct Compiler<'a> {
    file: &'a str,
    files: crate::policy::Files,
    roots: Roots,
    authorities: Vec<Authority>,
}

impl Compiler<'_> {
    fn error(&self, at: Loc, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: Some(at),
            reason: reason.into(),
        }
    }

    fn compile(mut self, name: &str, plan: Plan) -> Result<TrustPolicy, PolicyError> {
        let mut scopes = Vec::new();
        let mut wildcards = Vec::new();
        for scope in plan.docker {
            let compiled = Scope {
                images: scope.patterns,
                mode: Mode::Enforce,
                requirement: self.requirement(&scope.list)?,
            };
            match scope.wildcard_labels {
                None => scopes.push(compiled),
                Some(labels) => wildcards.push((labels, compiled)),
            }
        }
        // Equally specific patterns go to the scope written first: the wildcard with the
        // longer domain (the more specific in containers/image) is written first.
        wildcards.sort_by_key(|(labels, _)| std::cmp::Reverse(*labels));
        scopes.extend(wildcards.into_iter().map(|(_, s)| s));

        let default_list = plan.docker_default.as_ref().unwrap_or(&plan.default);
        let default = match self.requirement(default_list)? {
            Requirement::Static(action) => action,
            requirement => {
                // `**/**` is less specific than every docker scope's patterns (wildcard
                // domains included, which `**` would outrank); `*` adds the names without a
                // `/` (OCI layouts named by a relative path of one component).
                scopes.push(Scope {
                    images: vec![
                        ImagePattern::parse("**/**").expect("a valid pattern"),
                        ImagePattern::parse("*").expect("a valid pattern"),
                    ],
                    mode: Mode::Enforce,
                    requirement,
                });
                Action::Deny
            }
        };
        Ok(TrustPolicy {
            name: name.to_owned(),
            digest: self.files.digest(),
            default,
            authorities: self.authorities,
            scopes,
            warnings: plan.warnings,
            combination: Combination::MostSpecific,
        })
    }

    /// The requirement of a checked array: reading its keys, adding its authorities.
    fn requirement(&mut self, list: &List) -> Result<Requirement, PolicyError> {
        if list.reject {
            return Ok(Requirement::Static(Action::Deny));
        }
        if list.sigstore.is_empty() {
            return Ok(Requirement::Static(Action::Allow));
        }
        let mut all = Vec::new();
        let mut require = Vec::new();
        for (n, sigstore) in list.sigstore.iter().enumerate() {
            let mut indexes = Vec::new();
            if let Some(fulcio) = &sigstore.fulcio {
                let authority =
                    self.fulcio_authority(&list.label, n, fulcio, &sigstore.rekor_keys)?;
                indexes.push(self.authorities.len());
                self.authorities.push(authority);
            } else {
                let (trusted_root, tlog) = if sigstore.rekor_keys.is_empty() {
                    (self.roots.public_good()?, Tlog::Optional)
                } else {
                    (self.rekor_root(&sigstore.rekor_keys)?, Tlog::Required)
                };
                for key in &sigstore.keys {
                    let public_key = self.read_key(key)?;
                    indexes.push(self.authorities.len());
                    self.authorities.push(Authority {
                        name: format!("{} #{} {}", list.label, n + 1, key.label),
                        signer: Signer::Key(public_key),
                        trusted_root: trusted_root.clone(),
                        tlog,
                        require_sct: true,
                    });
                }
            }
            if indexes.len() == 1 && list.sigstore.len() > 1 {
                require.extend(&indexes);
            }
            all.extend(indexes);
        }
        Ok(Requirement::Signed(Box::new(SignedRequirement {
            authorities: all,
            threshold: list.sigstore.len(),
            require,
            signed_identity: Some(list.sigstore[0].identity.clone()),
            annotations: BTreeMap::new(),
            attestations: Vec::new(),
            platforms: Platforms::Index,
            max_age: None,
        })))
    }

    /// The bytes of a file the policy names, or of its inline data.
    fn read_source(&mut self, source: &KeyRef) -> Result<Vec<u8>, PolicyError> {
        match &source.source {
            KeySource::Path(path) => self.files.read(path),
            KeySource::Data(bytes) => Ok(bytes.clone()),
        }
    }

    /// An error of [`crate::roots`] about `source`, placed where the policy names it.
    fn placed(&self, source: &KeyRef, error: PolicyError) -> PolicyError {
        match error {
            PolicyError::Invalid {
                reason, line: None, ..
            } => self.error(source.at, format!("{}: {reason}", source.label)),
            other => other,
        }
    }

    fn read_key(&mut self, key: &KeyRef) -> Result<PublicKey, PolicyError> {
        let bytes = self.read_source(key)?;
        let pem = String::from_utf8(bytes)
            .map_err(|_| self.error(key.at, format!("{}: not PEM text", key.label)))?;
        PublicKey::from_pem(&pem)
            .map_err(|e| self.error(key.at, format!("{}: not a public key: {e}", key.label)))
    }

    /// The transparency logs of these Rekor keys.
    fn rekor_logs(&mut self, keys: &[KeyRef]) -> Result<Vec<TransparencyLogInstance>, PolicyError> {
        let mut tlogs = Vec::new();
        for key in keys {
            let public_key = self.read_key(key)?;
            let log = crate::roots::rekor_log(&public_key, &key.label)
                .map_err(|e| self.placed(key, e))?;
            tlogs.push(log);
        }
        Ok(tlogs)
    }

    /// A trusted root whose only transparency logs are these Rekor keys.
    fn rekor_root(&mut self, keys: &[KeyRef]) -> Result<Arc<TrustedRoot>, PolicyError> {
        Ok(Arc::new(TrustedRoot {
            tlogs: self.rekor_logs(keys)?,
            ..crate::roots::empty()
        }))
    }

    /// The keyless authority of requirement `n` (from 0) of the list `label`: the `fulcio`
    /// block's identity, checked against a trusted root of its CA file and the Rekor keys.
    fn fulcio_authority(
        &mut self,
        label: &str,
        n: usize,
        fulcio: &Fulcio,
        rekor_keys: &[KeyRef],
    ) -> Result<Authority, PolicyError> {
        let ca = &fulcio.ca;
        let bytes = self.read_source(ca)?;
        let pem = String::from_utf8(bytes)
            .map_err(|_| self.error(ca.at, format!("{}: not PEM text", ca.label)))?;
        let trusted =
            crate::roots::certificates_from_pem(&pem, &ca.label).map_err(|e| self.placed(ca, e))?;
        let certificate_authorities =
            crate::roots::certificate_authorities(&trusted, &[], &ca.label)
                .map_err(|e| self.placed(ca, e))?;
        let trusted_root = Arc::new(TrustedRoot {
            tlogs: self.rekor_logs(rekor_keys)?,
            certificate_authorities,
            ..crate::roots::empty()
        });
        Ok(Authority {
            name: format!(
                "{label} #{} fulcio {} issued by {}",
                n + 1,
                fulcio.subject_email,
                fulcio.oidc_issuer
            ),
            signer: Signer::Keyless(CertificateIdentity::new(
                Matcher::Exact(fulcio.subject_email.clone()),
                Matcher::Exact(fulcio.oidc_issuer.clone()),
            )),
            trusted_root,
            tlog: Tlog::Required,
            require_sct: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_scalars_are_found_outside_strings() {
        assert_eq!(first_bare_scalar(r#"{"a": ["null", "t\"rue"]}"#), None);
        assert_eq!(
            first_bare_scalar("{\n  \"a\": \"x\",\n  \"b\": null}"),
            Some((3, 8, "null"))
        );
        assert_eq!(first_bare_scalar(r#"{"a": -1}"#), Some((1, 7, "a number")));
        assert_eq!(
            first_bare_scalar(r#"{"a": [false]}"#),
            Some((1, 8, "a boolean"))
        );
    }

    #[test]
    fn docker_scopes_become_repository_patterns() {
        let texts = |scope: &str| {
            docker_patterns(scope)
                .unwrap()
                .0
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts("docker.io"), ["docker.io/**"]);
        assert_eq!(texts("hostname:5000"), ["hostname:5000/**"]);
        assert_eq!(
            texts("docker.io/library"),
            ["docker.io/library", "docker.io/library/**"]
        );
        assert_eq!(
            texts("*.example.com"),
            ["*.example.com/**", "*.example.com:*/**"]
        );
        for bad in [
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox@sha256:0000",
            "example*.*.com",
            "*.example.com/ns",
            "*.example.com:5000",
            "docker.io//x",
            "docker.io/x/",
        ] {
            assert!(docker_patterns(bad).is_err(), "{bad}");
        }
        assert!(never_matches("busybox").is_some());
        assert!(never_matches("library/busybox").is_some());
        assert!(never_matches("localhost/app").is_none());
        assert!(never_matches("registry:5000").is_none());
    }

    #[test]
    fn remap_prefixes_are_names_without_tags() {
        for good in ["docker.io", "docker.io/library", "mirror:5000/vendor/app"] {
            assert!(valid_remap_prefix(good), "{good}");
        }
        for bad in [
            "",
            "docker.io/",
            "docker.io/app:v1",
            "a b",
            "docker.io/app@sha256",
        ] {
            assert!(!valid_remap_prefix(bad), "{bad}");
        }
    }
}
