//! The trust-policy scenarios of `policy/tests/scenarios/scenarios.yaml`, as data both runners
//! read: the in-memory one of `vouch-policy` and the end-to-end one of `tests/policy_scenarios.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use vouch_attestations::intoto::{COSIGN_SIGN_PREDICATE_TYPE, ResourceDescriptor, Statement};
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::Digest;
use vouch_registry::cosign::{NewAttestation, NewSignature, attach_attestation, attach_signature};
use vouch_registry::manifest::Descriptor;
use vouch_registry::referrers::{
    SIGSTORE_BUNDLE_MEDIA_TYPE, attach_referrer, sigstore_bundle_annotations,
};
use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store};

use crate::fake_sigstore::{FakeSigstore, GITHUB_CLAIMS, KeylessSigner, Signed, now};
use crate::keyless::{cosign_layer_annotations, cosign_material_annotations};

/// The signers every scenario may name; their keys are generated for each run.
pub const SIGNERS: [&str; 4] = ["alice", "bob", "carol", "mallory"];

/// One scenario: a policy, an image and its evidence, and the decision expected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// A unique name, also the image folder under `REGISTRY`.
    pub name: String,
    /// The policy YAML, with `REGISTRY` for the registry folder.
    pub policy: String,
    /// Files written beside the policy (Rego policies).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The image decided, `REGISTRY/...:tag`.
    pub image: String,
    /// For an index: its platforms (`os/arch`), each a manifest of its own.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// What is stored about the image.
    #[serde(default)]
    pub evidence: Vec<EvidenceSpec>,
    /// The registry cannot be reached.
    #[serde(default)]
    pub unreachable: bool,
    /// The image does not exist.
    #[serde(default)]
    pub missing: bool,
    /// The decision expected.
    pub expect: Expect,
}

/// One signature or attestation of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EvidenceSpec {
    /// The key signer (one of [`SIGNERS`]); exactly one of `by` and `keyless` is given.
    #[serde(default)]
    pub by: Option<String>,
    /// A keyless signer, with a certificate from one of the [`Sigstores`].
    #[serde(default)]
    pub keyless: Option<KeylessSpec>,
    /// `signature` (default) or `attestation`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `tag` (default) or `bundle`.
    #[serde(default)]
    pub store: Option<String>,
    /// The docker-reference signed, `REGISTRY/...`.
    #[serde(default)]
    pub signed_for: Option<String>,
    /// Annotations signed with a signature.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// An attestation's predicate type.
    #[serde(default, rename = "type")]
    pub predicate_type: Option<String>,
    /// An attestation's predicate.
    #[serde(default)]
    pub predicate: Option<serde_json::Value>,
    /// The platform manifest signed instead of the index.
    #[serde(default)]
    pub platform: Option<String>,
}

impl EvidenceSpec {
    /// Whether this is an attestation.
    pub fn is_attestation(&self) -> bool {
        self.kind.as_deref() == Some("attestation")
    }

    /// Whether this is stored as a Sigstore bundle referrer.
    pub fn in_bundle(&self) -> bool {
        self.store.as_deref() == Some("bundle")
    }
}

/// The decision a scenario expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    /// Whether the image is allowed.
    pub allowed: bool,
    /// `pass`, `fail` or `error`.
    pub verdict: String,
    /// The denial kind, kebab-case.
    #[serde(default)]
    pub denial: Option<String>,
    /// Text the reason must contain.
    #[serde(default)]
    pub reason: Option<String>,
    /// Text one warning must contain.
    #[serde(default)]
    pub warning: Option<String>,
    /// The exit code of `vouch verify --policy` (default: 0 allowed, 1 denied).
    #[serde(default)]
    pub exit: Option<i32>,
}

impl Expect {
    /// The exit code `vouch verify --policy` must give.
    pub fn exit_code(&self) -> i32 {
        self.exit.unwrap_or(if self.allowed { 0 } else { 1 })
    }

    /// Checks a decision (its JSON form); the error says what differs.
    pub fn check(&self, decision: &serde_json::Value) -> Result<(), String> {
        let mut problems = Vec::new();
        if decision["allowed"] != self.allowed {
            problems.push(format!(
                "allowed is {}, expected {}",
                decision["allowed"], self.allowed
            ));
        }
        if decision["verdict"] != self.verdict.as_str() {
            problems.push(format!(
                "verdict is {}, expected {}",
                decision["verdict"], self.verdict
            ));
        }
        let denial = decision["denial"].as_str();
        if denial != self.denial.as_deref() {
            problems.push(format!("denial is {denial:?}, expected {:?}", self.denial));
        }
        if let Some(text) = &self.reason {
            let reason = decision["reason"].as_str().unwrap_or_default();
            // The reason, and the failed checks behind it, must say it.
            let checks = decision["evidence"].to_string();
            if !reason.contains(text.as_str()) && !checks.contains(text.as_str()) {
                problems.push(format!("the reason {reason:?} does not say {text:?}"));
            }
        }
        if let Some(text) = &self.warning {
            let found = decision["warnings"].as_array().is_some_and(|w| {
                w.iter()
                    .any(|w| w.as_str().unwrap_or_default().contains(text.as_str()))
            });
            if !found {
                problems.push(format!(
                    "no warning says {text:?}: {}",
                    decision["warnings"]
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The scenario file.
pub fn scenarios_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/tests/scenarios/scenarios.yaml")
}

/// Every scenario, in file order; panics on a file that does not read (the test data is
/// wrong).
pub fn load() -> Vec<Scenario> {
    let text = std::fs::read_to_string(scenarios_file()).expect("the scenario file reads");
    let scenarios: Vec<Scenario> =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("scenarios.yaml: {e}"));
    for scenario in &scenarios {
        for spec in &scenario.evidence {
            assert!(
                spec.by.is_some() != spec.keyless.is_some(),
                "scenario {}: each evidence entry has either `by` or `keyless`",
                scenario.name
            );
        }
    }
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        panic!("scenario {} is defined twice", twice[0]);
    }
    scenarios
}

/// `text` with `REGISTRY` replaced by `prefix`.
pub fn place(text: &str, prefix: &str) -> String {
    text.replace("REGISTRY", prefix)
}

/// The Sigstore instances keyless evidence may come from; `roots/NAME.json` beside each
/// scenario's policy is the trusted root of instance NAME.
pub const INSTANCES: [&str; 2] = ["test", "private"];

/// A keyless signer in a scenario: the certificate's identity and what the signature gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeylessSpec {
    /// The certificate's subject alternative name (a URI with `://`, else an email).
    pub subject: String,
    /// The OIDC issuer the certificate records.
    pub issuer: String,
    /// GitHub workflow claims (`workflowTrigger`, `workflowSha`, `workflowName`,
    /// `workflowRepository`, `workflowRef`).
    #[serde(default)]
    pub github: BTreeMap<String, String>,
    /// `current` (default); `expired`: valid for ten minutes that ended ten minutes ago, and
    /// logged or timestamped within them; `expired-when-logged`: logged or timestamped five
    /// minutes after it expired.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Whether the signature is logged (default true).
    #[serde(default)]
    pub tlog: Option<bool>,
    /// Whether the signature gets an RFC 3161 timestamp (default false).
    #[serde(default)]
    pub timestamp: bool,
    /// Whether the certificate has an SCT (default true).
    #[serde(default)]
    pub sct: Option<bool>,
    /// The instance that issues, logs and timestamps (one of [`INSTANCES`], default `test`).
    #[serde(default)]
    pub instance: Option<String>,
}

impl KeylessSpec {
    /// The signer this describes, with times relative to now.
    pub fn signer(&self) -> KeylessSigner {
        let mut signer = KeylessSigner::new(&self.subject, &self.issuer);
        for (name, value) in &self.github {
            let number = GITHUB_CLAIMS
                .iter()
                .find(|(claim, _)| claim == name)
                .unwrap_or_else(|| panic!("no GitHub claim {name}"))
                .1;
            signer.claims.push((number, value.clone()));
        }
        let now = now();
        let signed_at = match self.certificate.as_deref().unwrap_or("current") {
            "current" => now,
            "expired" => {
                (signer.not_before, signer.not_after) = (now - 1200, now - 600);
                now - 900
            }
            "expired-when-logged" => {
                (signer.not_before, signer.not_after) = (now - 1200, now - 600);
                now - 300
            }
            other => panic!("certificate: {other} is not current, expired or expired-when-logged"),
        };
        signer.logged_at = self.tlog.unwrap_or(true).then_some(signed_at);
        signer.timestamped_at = self.timestamp.then_some(signed_at);
        signer.sct = self.sct.unwrap_or(true);
        signer
    }

    /// The instance's name.
    pub fn instance(&self) -> &str {
        self.instance.as_deref().unwrap_or("test")
    }
}

/// One [`FakeSigstore`] for each of [`INSTANCES`].
pub struct Sigstores(BTreeMap<&'static str, FakeSigstore>);

impl Default for Sigstores {
    fn default() -> Self {
        Sigstores(
            INSTANCES
                .iter()
                .map(|name| (*name, FakeSigstore::new(name)))
                .collect(),
        )
    }
}

impl Sigstores {
    /// The instance called `name`; panics for another name.
    pub fn get(&self, name: &str) -> &FakeSigstore {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no Sigstore instance {name}"))
    }

    /// Writes `roots/NAME.json`, each instance's trusted root, under `dir`.
    pub fn write_roots(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("roots")).unwrap();
        for (name, sigstore) in &self.0 {
            sigstore.write_trusted_root(&dir.join(format!("roots/{name}.json")));
        }
    }
}

/// An in-toto statement about `digest` (subject name `repository`).
pub fn statement(
    repository: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: Value,
) -> Vec<u8> {
    Statement::new(
        vec![ResourceDescriptor::for_digest(repository, digest)],
        predicate_type,
        Some(predicate),
    )
    .unwrap()
    .to_vec()
}

/// Keyless evidence, in the form it is stored.
#[derive(Debug, Clone)]
pub enum KeylessEvidence {
    /// A `.sig` layer: the simple-signing payload, the base64 signature and the layer's other
    /// annotations (certificate, Rekor bundle, timestamp), as `cosign sign` writes them.
    Signature {
        /// The signed payload.
        payload: Vec<u8>,
        /// The base64 signature.
        signature: String,
        /// The other annotations.
        annotations: BTreeMap<String, String>,
    },
    /// An `.att` layer: the DSSE envelope and annotations, as `cosign attest` writes them.
    Attestation {
        /// The envelope, serialized.
        envelope: Vec<u8>,
        /// The statement's predicate type.
        predicate_type: String,
        /// The certificate, Rekor bundle and timestamp annotations.
        annotations: BTreeMap<String, String>,
    },
    /// A v0.3 Sigstore bundle referrer over a DSSE envelope (cosign v3, `actions/attest`).
    Bundle {
        /// The bundle JSON.
        json: Vec<u8>,
        /// The statement's predicate type.
        predicate_type: String,
    },
}

/// Makes the keyless evidence `spec` describes for the manifest `digest` of `repository`
/// (`REGISTRY` in `signedFor` replaced by `prefix`), signed by its instance in `sigstores`.
pub fn keyless_evidence(
    spec: &EvidenceSpec,
    sigstores: &Sigstores,
    repository: &str,
    digest: &Digest,
    prefix: &str,
) -> KeylessEvidence {
    let keyless = spec.keyless.as_ref().expect("a keyless evidence entry");
    let sigstore = sigstores.get(keyless.instance());
    let signer = keyless.signer();
    let (predicate_type, predicate) = if spec.is_attestation() {
        (
            spec.predicate_type
                .clone()
                .expect("an attestation has a type"),
            spec.predicate
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
        )
    } else if spec.annotations.is_empty() {
        (COSIGN_SIGN_PREDICATE_TYPE.to_owned(), serde_json::json!({}))
    } else {
        (
            COSIGN_SIGN_PREDICATE_TYPE.to_owned(),
            serde_json::json!({ "annotations": spec.annotations }),
        )
    };
    if spec.in_bundle() {
        let payload = statement(repository, digest, &predicate_type, predicate);
        let bundle = sigstore.sign(&signer, Signed::Statement(&payload));
        return KeylessEvidence::Bundle {
            json: bundle.to_string().into_bytes(),
            predicate_type,
        };
    }
    if spec.is_attestation() {
        let payload = statement(repository, digest, &predicate_type, predicate);
        let bundle = sigstore.sign(&signer, Signed::Statement(&payload));
        return KeylessEvidence::Attestation {
            envelope: bundle["dsseEnvelope"].to_string().into_bytes(),
            predicate_type,
            annotations: cosign_material_annotations(&bundle),
        };
    }
    let signed_for = spec
        .signed_for
        .as_deref()
        .map_or_else(|| repository.to_owned(), |s| place(s, prefix));
    let payload = SimpleSigning::new(signed_for, digest.clone(), &spec.annotations).to_vec();
    let bundle = sigstore.sign(&signer, Signed::Message(&payload));
    let (signature, annotations) = cosign_layer_annotations(&bundle);
    KeylessEvidence::Signature {
        payload,
        signature,
        annotations,
    }
}

/// Pushes one piece of keyless evidence made by an in-process Sigstore instance to the image
/// `target` (`ADDR/REPO@DIGEST`), as cosign (tag layout) or cosign v3 and `actions/attest`
/// (bundle referrers) store it. Panics when the registry refuses it.
pub fn push_keyless(spec: &EvidenceSpec, sigstores: &Sigstores, target: &str, prefix: &str) {
    let reference = ImageReference::parse(target).unwrap();
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let opened = Store::open(&client, &reference).unwrap();
    let store = &opened.store;
    let (_, digest) = target.rsplit_once('@').unwrap();
    let digest: Digest = digest.parse().unwrap();
    let repository = target.split_once('@').unwrap().0;
    let made = keyless_evidence(spec, sigstores, repository, &digest, prefix);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match made {
            KeylessEvidence::Signature {
                payload,
                signature,
                annotations,
            } => {
                let signature = NewSignature {
                    payload,
                    signature,
                    annotations,
                };
                attach_signature(store, &digest, &signature).await.unwrap();
            }
            KeylessEvidence::Attestation {
                envelope,
                predicate_type,
                annotations,
            } => {
                let attestation = NewAttestation {
                    envelope,
                    predicate_type,
                    annotations,
                };
                attach_attestation(store, &digest, &attestation, false)
                    .await
                    .unwrap();
            }
            KeylessEvidence::Bundle {
                json,
                predicate_type,
            } => {
                let manifest = opened.resolve().await.unwrap().manifest;
                let subject = Descriptor::of(&manifest.media_type, &manifest.bytes);
                let annotations = sigstore_bundle_annotations(
                    "dsse-envelope",
                    Some(&predicate_type),
                    std::time::SystemTime::now(),
                );
                attach_referrer(
                    store,
                    &subject,
                    SIGSTORE_BUNDLE_MEDIA_TYPE,
                    SIGSTORE_BUNDLE_MEDIA_TYPE,
                    &json,
                    annotations,
                )
                .await
                .unwrap();
            }
        }
    });
}
