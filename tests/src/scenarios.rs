//! The trust-policy scenarios of `policy/tests/scenarios/scenarios.yaml`, as data both runners
//! read: the in-memory one of `vouch-policy` and the end-to-end one of `tests/policy_scenarios.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// The signer (one of [`SIGNERS`]).
    pub by: String,
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
