//! The evidence graph of a decision, which `vouch explain` prints, draws and renders so an
//! operator sees why an image is allowed or denied.
//!
//! [`EvidenceGraph::new`] lays out a [`Decision`] and the platform manifests of the image, and
//! nothing else: it decides nothing and verifies nothing. Every status in it is one the
//! decision states (a platform's verdict, an authority that vouched or not, a check result,
//! a Rego answer), and the one node marked failing is the link [`Decision::failing`] names:
//! the place the first blocking reason comes from.
//!
//! The nodes: the image; for an index, the index and each platform manifest; each signature,
//! attestation and SBOM attestation found, under the manifest it is about; under each piece
//! of evidence the signers that verified it, and under each signer its transparency-log
//! entries and RFC 3161 timestamps; the authorities of the scope, linked from the evidence
//! they vouched with; the attestation requirements, linked to the attestations they took or
//! refused and to their Rego answers.
//!
//! ```
//! use vouch_policy::explain::{EvidenceGraph, NodeKind};
//! # fn decision() -> vouch_policy::Decision { unimplemented!() }
//! # fn run() {
//! let graph = EvidenceGraph::new(&decision(), &[]);
//! let image = &graph.nodes[0];
//! assert_eq!(image.kind, NodeKind::Image);
//! if let Some(failing) = &graph.failing {
//!     println!("denied at {} ({:?}): {:?}", failing.node, failing.check, graph.reason);
//! }
//! # }
//! ```

use std::collections::BTreeMap;

use serde::Serialize;
use vouch_verifier::check::Check;
use vouch_verifier::time::UnixTime;

use crate::decision::{
    CheckResult, Decision, Denial, EvidenceKind, EvidenceReport, FailingAt, Status, Verdict,
};
use crate::evidence::PlatformManifest;
use crate::policy::Mode;

/// The `schemaVersion` of [`EvidenceGraph`]'s JSON form.
pub const SCHEMA_VERSION: &str = "vouch.dev/evidence-graph/v1";

/// The predicate type cosign gives a CycloneDX SBOM attestation (`--type cyclonedx`); a
/// version may follow after a slash.
const CYCLONEDX_PREDICATE_TYPE: &str = "https://cyclonedx.org/bom";
/// The predicate type cosign gives an SPDX SBOM attestation (`--type spdxjson`); a version may
/// follow after a slash.
const SPDX_PREDICATE_TYPE: &str = "https://spdx.dev/Document";

/// The evidence of one decision, as nodes and edges. Its JSON form (camelCase, like the
/// [`Decision`]'s) is what `vouch explain -o json` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceGraph {
    /// [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// The image as named ([`Decision::image`]).
    pub image: String,
    /// The manifest digest decided, once resolved.
    pub digest: Option<String>,
    /// The policy's name.
    pub policy: String,
    /// The scope that decided.
    pub scope: Option<String>,
    /// The scope's mode.
    pub mode: Mode,
    /// Whether the image may be used ([`Decision::allowed`]).
    pub allowed: bool,
    /// Whether the requirements hold ([`Decision::verdict`]).
    pub verdict: Verdict,
    /// What kind of reason blocked the image.
    pub denial: Option<Denial>,
    /// The first blocking reason, one sentence ([`Decision::reason`]).
    pub reason: Option<String>,
    /// The node that reason comes from, and the check that failed there: present exactly
    /// when `reason` is.
    pub failing: Option<FailingNode>,
    /// The decision's warnings.
    pub warnings: Vec<String>,
    /// Every node; the image is the first.
    pub nodes: Vec<Node>,
    /// Every edge, between ids of `nodes`.
    pub edges: Vec<Edge>,
}

/// The node a blocking reason comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailingNode {
    /// Its [`Node::id`].
    pub node: String,
    /// The check that failed there ([`Decision::failing`]'s).
    pub check: Option<Check>,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// The image as named.
    Image,
    /// The image's index (a multi-platform image).
    Index,
    /// A platform manifest of the index.
    Platform,
    /// A signature of a manifest.
    Signature,
    /// An attestation about a manifest.
    Attestation,
    /// An attestation whose predicate is an SBOM (CycloneDX or SPDX).
    Sbom,
    /// Who signed a piece of evidence: a certificate identity or a key.
    Signer,
    /// A transparency-log entry that records a signature.
    LogEntry,
    /// An RFC 3161 timestamp over a signature.
    Timestamp,
    /// An authority of the scope.
    Authority,
    /// An attestation the scope requires.
    AttestationRequirement,
    /// A Rego policy's answer about one attestation.
    Rego,
}

/// A node's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    /// It holds.
    Pass,
    /// It does not hold.
    Fail,
    /// No authority applied to it.
    Skip,
    /// Nothing was decided about it (a platform manifest under `platforms: index`).
    Info,
}

/// One node of the graph. Fields that do not apply to its kind are `None`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Unique within the graph; made of ASCII letters, digits, `:` and `-` only, so it is safe
    /// as a DOT or HTML identifier.
    pub id: String,
    /// What it stands for.
    pub kind: NodeKind,
    /// One line for people that says what the node is (`signature at ...`, `signed by ...`);
    /// untrusted text, since it quotes the evidence.
    pub label: String,
    /// Its outcome.
    pub status: NodeStatus,
    /// Whether this is the node the decision's blocking reason comes from.
    pub failing: bool,
    /// Its digest: a manifest's, or a bundle referrer's.
    pub digest: Option<String>,
    /// A platform manifest's `os/architecture[/variant]`.
    pub platform: Option<String>,
    /// Where a piece of evidence is stored ([`EvidenceReport::location`]).
    pub location: Option<String>,
    /// An attestation's (or an attestation requirement's) predicate type.
    pub predicate_type: Option<String>,
    /// Who signed: `SUBJECT (ISSUER)` for a certificate identity, `key FINGERPRINT` for a key.
    pub signer: Option<String>,
    /// The index of a transparency-log entry recording the signature.
    pub log_index: Option<u64>,
    /// That log's URL.
    pub log_url: Option<String>,
    /// A verified time (RFC 3339): a log's integrated time, or a timestamp's.
    pub time: Option<String>,
    /// The check that failed (or made it skip).
    pub check: Option<Check>,
    /// Why it failed or was skipped; for the failing node, the decision's reason.
    pub reason: Option<String>,
    /// How a piece of evidence was found, when the operator should know
    /// ([`EvidenceReport::note`]: a referrer listed without `artifactType`).
    pub note: Option<String>,
}

impl Node {
    fn new(id: String, kind: NodeKind, label: String, status: NodeStatus) -> Self {
        Self {
            id,
            kind,
            label,
            status,
            failing: false,
            digest: None,
            platform: None,
            location: None,
            predicate_type: None,
            signer: None,
            log_index: None,
            log_url: None,
            time: None,
            check: None,
            reason: None,
            note: None,
        }
    }
}

/// What an edge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// The image is this index.
    Index,
    /// The index lists this platform manifest.
    Platform,
    /// The manifest is the subject of this evidence.
    Subject,
    /// The evidence is signed by this signer.
    SignedBy,
    /// The signer's signature is recorded in this log entry.
    Logged,
    /// The signer's signature is timestamped by this timestamp.
    Timestamped,
    /// The evidence satisfied this authority.
    Vouched,
    /// The attestation requirement took this attestation.
    Took,
    /// The attestation requirement refused this attestation.
    Refused,
    /// The attestation requirement's Rego policy evaluated this (a Rego answer, or the
    /// attestation it is about).
    Evaluated,
}

/// A directed edge between two nodes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// The [`Node::id`] it leaves.
    pub from: String,
    /// The [`Node::id`] it reaches.
    pub to: String,
    /// What it says.
    pub kind: EdgeKind,
    /// More, for a refusal: `[check] reason`.
    pub label: Option<String>,
}

impl Edge {
    fn new(from: &str, to: &str, kind: EdgeKind) -> Self {
        Self {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
            label: None,
        }
    }
}

/// The node status of a verdict.
fn verdict_status(verdict: Verdict) -> NodeStatus {
    match verdict {
        Verdict::Pass => NodeStatus::Pass,
        Verdict::Fail | Verdict::Error => NodeStatus::Fail,
    }
}

/// Whether `predicate_type` is an SBOM's (CycloneDX or SPDX, with or without a version).
fn is_sbom(predicate_type: &str) -> bool {
    [CYCLONEDX_PREDICATE_TYPE, SPDX_PREDICATE_TYPE]
        .iter()
        .any(|sbom| {
            predicate_type
                .strip_prefix(sbom)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Who signed, as a check result states it: the certificate identity, else the key.
fn signer_of(result: &CheckResult) -> Option<String> {
    match (&result.identity, &result.key_fingerprint) {
        (Some(identity), _) => Some(format!("{} ({})", identity.subject, identity.issuer)),
        (None, Some(fingerprint)) => Some(format!("key {fingerprint}")),
        (None, None) => None,
    }
}

/// The outcome of a piece of evidence: it passes when one authority let it pass, fails when
/// one refused it and none let it pass, and is skipped when every authority passed it over.
fn evidence_status(report: &EvidenceReport) -> (NodeStatus, Option<&CheckResult>) {
    if let Some(pass) = report.results.iter().find(|r| r.status == Status::Pass) {
        return (NodeStatus::Pass, Some(pass));
    }
    if let Some(fail) = report.results.iter().find(|r| r.status == Status::Fail) {
        return (NodeStatus::Fail, Some(fail));
    }
    match report.results.first() {
        Some(skip) => (NodeStatus::Skip, Some(skip)),
        None => (NodeStatus::Info, None),
    }
}

/// Builds the graph, keeping the ids of what later nodes link to.
struct Builder {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// Manifest digest -> node id (the image, the index, a platform).
    manifests: BTreeMap<String, String>,
    /// (location, subject) of each piece of evidence -> node id.
    evidence: Vec<(String, String, String)>,
    /// Authority name -> node id.
    authorities: BTreeMap<String, String>,
    /// (requirement index, predicate type, satisfied) -> node id.
    requirements: Vec<(Option<String>, bool, String)>,
    /// (policy, location) of each Rego answer -> node id.
    rego: Vec<(String, String, String)>,
}

impl Builder {
    fn node(&mut self, node: Node) -> String {
        let id = node.id.clone();
        self.nodes.push(node);
        id
    }

    fn edge(&mut self, edge: Edge) {
        self.edges.push(edge);
    }

    /// The evidence node at `location` about `subject`, or at `location` about anything.
    fn evidence_at(&self, location: &str, subject: Option<&str>) -> Option<&str> {
        self.evidence
            .iter()
            .find(|(l, s, _)| l == location && subject.is_none_or(|subject| s == subject))
            .or_else(|| self.evidence.iter().find(|(l, _, _)| l == location))
            .map(|(_, _, id)| id.as_str())
    }

    fn manifest(&self, digest: &str) -> Option<&str> {
        self.manifests.get(digest).map(String::as_str)
    }

    fn manifests(&mut self, decision: &Decision, platforms: &[PlatformManifest]) {
        let mut image = Node::new(
            "image".into(),
            NodeKind::Image,
            format!("image {}", decision.image),
            verdict_status(decision.verdict),
        );
        image.digest = decision.digest.as_ref().map(ToString::to_string);
        let image = self.node(image);
        let Some(digest) = decision.digest.as_ref().map(ToString::to_string) else {
            return;
        };
        // Platforms decided (`platforms: all`) with their verdicts, and those only listed.
        let mut listed: Vec<(String, String)> = platforms
            .iter()
            .map(|p| (p.platform.clone(), p.digest.to_string()))
            .collect();
        for outcome in &decision.platforms {
            if !listed.iter().any(|(_, d)| *d == outcome.digest) {
                listed.push((outcome.platform.clone(), outcome.digest.clone()));
            }
        }
        if listed.is_empty() {
            self.manifests.insert(digest, image);
            return;
        }
        // A platform denial is only reported once the index's own requirements held.
        let index_verdict = if decision.denial == Some(Denial::PlatformDenied) {
            Verdict::Pass
        } else {
            decision.verdict
        };
        let mut index = Node::new(
            "index".into(),
            NodeKind::Index,
            match listed.len() {
                1 => "index of 1 platform".to_owned(),
                n => format!("index of {n} platforms"),
            },
            verdict_status(index_verdict),
        );
        index.digest = Some(digest.clone());
        let index = self.node(index);
        self.edge(Edge::new(&image, &index, EdgeKind::Index));
        self.manifests.insert(digest, index.clone());
        for (n, (platform, digest)) in listed.into_iter().enumerate() {
            let outcome = decision.platforms.iter().find(|p| p.digest == digest);
            let mut node = Node::new(
                format!("platform-{n}"),
                NodeKind::Platform,
                format!("platform {platform}"),
                outcome.map_or(NodeStatus::Info, |o| verdict_status(o.verdict)),
            );
            node.reason = outcome.and_then(|o| o.reason.clone());
            node.platform = Some(platform);
            node.digest = Some(digest.clone());
            let id = self.node(node);
            self.edge(Edge::new(&index, &id, EdgeKind::Platform));
            self.manifests.entry(digest).or_insert(id);
        }
    }

    fn authorities(&mut self, decision: &Decision) {
        for outcome in &decision.authorities {
            // Alternatives (`anyOf`) may name an authority twice: one node, satisfied when
            // one of them says so.
            if let Some(id) = self.authorities.get(&outcome.name) {
                if outcome.satisfied
                    && let Some(node) = self.nodes.iter_mut().find(|n| n.id == *id)
                {
                    node.status = NodeStatus::Pass;
                    node.reason = None;
                }
                continue;
            }
            let id = format!("authority-{}", self.authorities.len());
            let mut node = Node::new(
                id.clone(),
                NodeKind::Authority,
                format!("authority {}", outcome.name),
                if outcome.satisfied {
                    NodeStatus::Pass
                } else {
                    NodeStatus::Fail
                },
            );
            if !outcome.satisfied {
                node.reason = Some(format!("no signature by {} holds", outcome.name));
            }
            self.node(node);
            self.authorities.insert(outcome.name.clone(), id);
        }
    }

    fn evidence(&mut self, decision: &Decision) {
        for (n, report) in decision.evidence.iter().enumerate() {
            let id = format!("evidence-{n}");
            let predicate_type = report.predicate_type.clone();
            let kind = match (report.kind, predicate_type.as_deref()) {
                (EvidenceKind::Signature, _) => NodeKind::Signature,
                (EvidenceKind::Attestation, Some(t)) if is_sbom(t) => NodeKind::Sbom,
                (EvidenceKind::Attestation, _) => NodeKind::Attestation,
            };
            let label = match (kind, predicate_type.as_deref()) {
                (NodeKind::Signature, _) => format!("signature at {}", report.location),
                (NodeKind::Sbom, Some(t)) => {
                    format!("SBOM attestation ({t}) at {}", report.location)
                }
                (_, Some(t)) => format!("attestation ({t}) at {}", report.location),
                (_, None) => format!("attestation at {}", report.location),
            };
            let (status, deciding) = evidence_status(report);
            let mut node = Node::new(id.clone(), kind, label, status);
            node.location = Some(report.location.clone());
            node.note.clone_from(&report.note);
            node.digest.clone_from(&report.referrer);
            node.predicate_type = predicate_type;
            if let Some(result) = deciding {
                if status == NodeStatus::Pass {
                    node.signer = signer_of(result);
                    node.log_index = result.log_entries.first().map(|e| e.log_index);
                    node.log_url = result.log_entries.first().map(|e| e.log_url.clone());
                    node.time = result.times.first().map(|t| t.time.clone());
                } else {
                    node.check = result.check;
                    node.reason = result
                        .reason
                        .as_ref()
                        .map(|reason| format!("authority {}: {reason}", result.authority));
                }
            }
            self.node(node);
            let manifest = self.manifest(&report.subject).unwrap_or("image").to_owned();
            self.edge(Edge::new(&manifest, &id, EdgeKind::Subject));
            self.evidence
                .push((report.location.clone(), report.subject.clone(), id.clone()));
            self.signers(&id, report);
            for result in report.results.iter().filter(|r| r.status == Status::Pass) {
                if let Some(authority) = self.authorities.get(&result.authority).cloned() {
                    self.edge(Edge::new(&id, &authority, EdgeKind::Vouched));
                }
            }
        }
    }

    /// The signers that verified `report` (once each), with their log entries and timestamps.
    fn signers(&mut self, evidence: &str, report: &EvidenceReport) {
        let mut seen: Vec<String> = Vec::new();
        for result in &report.results {
            let Some(signer) = signer_of(result) else {
                continue;
            };
            if seen.contains(&signer) {
                continue;
            }
            let id = format!("{evidence}-signer-{}", seen.len());
            seen.push(signer.clone());
            let mut node = Node::new(
                id.clone(),
                NodeKind::Signer,
                format!("signed by {signer}"),
                NodeStatus::Pass,
            );
            node.signer = Some(signer);
            node.log_index = result.log_entries.first().map(|e| e.log_index);
            node.log_url = result.log_entries.first().map(|e| e.log_url.clone());
            node.time = result.times.first().map(|t| t.time.clone());
            self.node(node);
            self.edge(Edge::new(evidence, &id, EdgeKind::SignedBy));
            for (n, entry) in result.log_entries.iter().enumerate() {
                let mut node = Node::new(
                    format!("{id}-log-{n}"),
                    NodeKind::LogEntry,
                    format!("log entry {} in {}", entry.log_index, entry.log_url),
                    NodeStatus::Pass,
                );
                node.log_index = Some(entry.log_index);
                node.log_url = Some(entry.log_url.clone());
                node.time = entry
                    .integrated_time
                    .map(|t| UnixTime::from_secs(t).to_string());
                let log = self.node(node);
                self.edge(Edge::new(&id, &log, EdgeKind::Logged));
            }
            let timestamps = result
                .times
                .iter()
                .filter(|t| t.source == "rfc3161-timestamp");
            for (n, time) in timestamps.enumerate() {
                let mut node = Node::new(
                    format!("{id}-timestamp-{n}"),
                    NodeKind::Timestamp,
                    format!("RFC 3161 timestamp at {}", time.time),
                    NodeStatus::Pass,
                );
                node.time = Some(time.time.clone());
                let timestamp = self.node(node);
                self.edge(Edge::new(&id, &timestamp, EdgeKind::Timestamped));
            }
        }
    }

    fn requirements(&mut self, decision: &Decision) {
        let subject = decision.digest.as_ref().map(ToString::to_string);
        for (n, outcome) in decision.attestations.iter().enumerate() {
            let id = format!("requirement-{n}");
            let mut node = Node::new(
                id.clone(),
                NodeKind::AttestationRequirement,
                format!(
                    "requires an attestation {} signed by {}",
                    outcome
                        .predicate_type
                        .as_deref()
                        .map_or_else(|| "of any type".to_owned(), |t| format!("of type {t}")),
                    outcome.authorities.join(" or ")
                ),
                if outcome.satisfied {
                    NodeStatus::Pass
                } else {
                    NodeStatus::Fail
                },
            );
            node.predicate_type.clone_from(&outcome.predicate_type);
            if !outcome.satisfied {
                if let Some(denied) = outcome.rego.iter().find(|r| !r.allowed) {
                    node.check = Some(Check::Policy);
                    node.reason = Some(format!(
                        "denied by {}: {}",
                        denied.policy,
                        denied.messages.join("; ")
                    ));
                } else if let Some(refused) = outcome.refused.first() {
                    node.check = Some(refused.check);
                    node.reason = Some(format!("{}: {}", refused.location, refused.reason));
                }
            }
            self.node(node);
            self.requirements.push((
                outcome.predicate_type.clone(),
                outcome.satisfied,
                id.clone(),
            ));
            for location in &outcome.by {
                if let Some(evidence) = self.evidence_at(location, subject.as_deref()) {
                    let evidence = evidence.to_owned();
                    self.edge(Edge::new(&id, &evidence, EdgeKind::Took));
                }
            }
            for refused in &outcome.refused {
                if let Some(evidence) = self.evidence_at(&refused.location, subject.as_deref()) {
                    let mut edge = Edge::new(&id, evidence, EdgeKind::Refused);
                    edge.label = Some(format!("[{}] {}", refused.check, refused.reason));
                    self.edge(edge);
                }
            }
            for (m, answer) in outcome.rego.iter().enumerate() {
                let mut node = Node::new(
                    format!("{id}-rego-{m}"),
                    NodeKind::Rego,
                    format!(
                        "Rego policy {} {} {}",
                        answer.policy,
                        if answer.allowed { "allowed" } else { "denied" },
                        answer.location
                    ),
                    if answer.allowed {
                        NodeStatus::Pass
                    } else {
                        NodeStatus::Fail
                    },
                );
                node.location = Some(answer.location.clone());
                if !answer.allowed {
                    node.check = Some(Check::Policy);
                    node.reason = Some(answer.messages.join("; "));
                }
                let rego = self.node(node);
                self.edge(Edge::new(&id, &rego, EdgeKind::Evaluated));
                if let Some(evidence) = self.evidence_at(&answer.location, subject.as_deref()) {
                    let evidence = evidence.to_owned();
                    self.edge(Edge::new(&rego, &evidence, EdgeKind::Evaluated));
                }
                self.rego
                    .push((answer.policy.clone(), answer.location.clone(), rego));
            }
        }
    }

    /// The node [`Decision::failing`] names. A link about a platform manifest whose
    /// requirement outcomes the decision does not list (it lists the index's) is shown on
    /// what the decision does list: the evidence, else the platform manifest.
    fn failing_node(&self, at: &FailingAt) -> Option<String> {
        let found = match at {
            FailingAt::Image => Some("image"),
            FailingAt::Manifest { digest } => self.manifest(digest),
            FailingAt::Evidence {
                location, subject, ..
            } => self
                .evidence_at(location, Some(subject))
                .or_else(|| self.manifest(subject)),
            FailingAt::Authority { subject, name } => self
                .is_top(subject)
                .then(|| self.authorities.get(name).map(String::as_str))
                .flatten()
                .or_else(|| self.manifest(subject)),
            FailingAt::Attestation {
                subject,
                predicate_type,
            } => self
                .is_top(subject)
                .then(|| {
                    self.requirements
                        .iter()
                        .find(|(t, satisfied, _)| t == predicate_type && !satisfied)
                        .map(|(_, _, id)| id.as_str())
                })
                .flatten()
                .or_else(|| self.manifest(subject)),
            FailingAt::Rego {
                subject,
                policy,
                location,
                ..
            } => self
                .is_top(subject)
                .then(|| {
                    self.rego
                        .iter()
                        .find(|(p, l, _)| p == policy && l == location)
                        .map(|(_, _, id)| id.as_str())
                })
                .flatten()
                .or_else(|| self.evidence_at(location, Some(subject)))
                .or_else(|| self.manifest(subject)),
        };
        found.map(str::to_owned)
    }

    /// Whether `subject` is the manifest decided first (the image's own, or its index's),
    /// whose requirement outcomes the decision lists.
    fn is_top(&self, subject: &str) -> bool {
        self.nodes
            .first()
            .and_then(|image| image.digest.as_deref())
            .is_some_and(|digest| digest == subject)
    }
}

impl EvidenceGraph {
    /// Lays out `decision` with `platforms`, the platform manifests of the decided digest
    /// (empty for an image manifest; [`EvidenceSource::platforms`] lists them). Platforms the
    /// decision decided (`platforms: all`) carry its verdicts; the others are
    /// [`NodeStatus::Info`]. Exactly one node is failing when the decision has a reason:
    /// the one [`Decision::failing`] names (the image when it names nothing the graph shows),
    /// with the failing check and the decision's reason.
    ///
    /// [`EvidenceSource::platforms`]: crate::evidence::EvidenceSource::platforms
    pub fn new(decision: &Decision, platforms: &[PlatformManifest]) -> Self {
        let mut builder = Builder {
            nodes: Vec::new(),
            edges: Vec::new(),
            manifests: BTreeMap::new(),
            evidence: Vec::new(),
            authorities: BTreeMap::new(),
            requirements: Vec::new(),
            rego: Vec::new(),
        };
        builder.manifests(decision, platforms);
        builder.authorities(decision);
        builder.evidence(decision);
        builder.requirements(decision);

        let failing = decision.reason.as_ref().map(|reason| {
            let check = decision.failing.as_ref().and_then(|f| f.check);
            let id = decision
                .failing
                .as_ref()
                .and_then(|f| builder.failing_node(&f.at))
                .unwrap_or_else(|| "image".to_owned());
            if let Some(node) = builder.nodes.iter_mut().find(|n| n.id == id) {
                node.failing = true;
                node.status = NodeStatus::Fail;
                node.check = check;
                node.reason = Some(reason.clone());
            }
            FailingNode { node: id, check }
        });
        Self {
            schema_version: SCHEMA_VERSION,
            image: decision.image.clone(),
            digest: decision.digest.as_ref().map(ToString::to_string),
            policy: decision.policy.clone(),
            scope: decision.scope.clone(),
            mode: decision.mode,
            allowed: decision.allowed,
            verdict: decision.verdict,
            denial: decision.denial,
            reason: decision.reason.clone(),
            failing,
            warnings: decision.warnings.clone(),
            nodes: builder.nodes,
            edges: builder.edges,
        }
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The edges leaving `id`, in order.
    pub fn edges_from<'g>(&'g self, id: &'g str) -> impl Iterator<Item = &'g Edge> + 'g {
        self.edges.iter().filter(move |e| e.from == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{
        AttestationOutcome, AuthorityOutcome, EvidenceReport, FailingLink, PlatformOutcome,
        RegoOutcome, SCHEMA_VERSION as DECISION_SCHEMA,
    };
    use vouch_keys::Digest;
    use vouch_verifier::identity::FoundIdentity;
    use vouch_verifier::verify::{LogEntryFound, VerifiedTime};

    const INDEX: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const AMD64: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const ARM64: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn decision() -> Decision {
        Decision {
            schema_version: DECISION_SCHEMA,
            image: "registry.example/app:v1".into(),
            digest: Some(INDEX.parse().unwrap()),
            policy: "policy.yaml".into(),
            policy_digest: format!("sha256:{}", "0".repeat(64)),
            scope: Some("registry.example/**".into()),
            mode: Mode::Enforce,
            verdict: Verdict::Pass,
            allowed: true,
            denial: None,
            reason: None,
            failing: None,
            authorities: vec![AuthorityOutcome {
                name: "ci".into(),
                satisfied: true,
                by: vec!["sha256-1111.sig layer 0".into()],
            }],
            threshold: None,
            evidence: vec![
                report(
                    EvidenceKind::Signature,
                    "sha256-1111.sig layer 0",
                    INDEX,
                    None,
                ),
                report(
                    EvidenceKind::Attestation,
                    "sha256-1111.att layer 0",
                    INDEX,
                    Some("https://cyclonedx.org/bom"),
                ),
            ],
            attestations: vec![AttestationOutcome {
                predicate_type: Some("https://cyclonedx.org/bom".into()),
                satisfied: true,
                authorities: vec!["ci".into()],
                by: vec!["sha256-1111.att layer 0".into()],
                rego: vec![RegoOutcome {
                    policy: "sbom.rego".into(),
                    location: "sha256-1111.att layer 0".into(),
                    allowed: true,
                    messages: Vec::new(),
                    warnings: Vec::new(),
                }],
                refused: Vec::new(),
            }],
            platforms: Vec::new(),
            warnings: Vec::new(),
            error: None,
            decided_at: 0,
        }
    }

    fn report(
        kind: EvidenceKind,
        location: &str,
        subject: &str,
        predicate_type: Option<&str>,
    ) -> EvidenceReport {
        EvidenceReport {
            kind,
            location: location.into(),
            tag: Some(location.split(' ').next().unwrap().into()),
            layer: Some(0),
            referrer: None,
            listing: None,
            note: None,
            payload: None,
            predicate_type: predicate_type.map(str::to_owned),
            subject: subject.into(),
            results: vec![CheckResult {
                authority: "ci".into(),
                status: Status::Pass,
                check: None,
                reason: None,
                identity: Some(FoundIdentity {
                    subject: "https://github.com/acme/app/.github/workflows/release.yml".into(),
                    issuer: "https://token.actions.githubusercontent.com".into(),
                }),
                key_fingerprint: Some("ab".repeat(32)),
                times: vec![
                    VerifiedTime {
                        source: "tlog-integrated-time",
                        time: "2026-01-02T03:04:05Z".into(),
                        unix: 1_767_323_045,
                    },
                    VerifiedTime {
                        source: "rfc3161-timestamp",
                        time: "2026-01-02T03:04:06Z".into(),
                        unix: 1_767_323_046,
                    },
                ],
                log_entries: vec![LogEntryFound {
                    log_index: 42,
                    log_url: "https://rekor.example".into(),
                    integrated_time: Some(1_767_323_045),
                }],
                checks: Vec::new(),
            }],
        }
    }

    fn platforms() -> Vec<PlatformManifest> {
        [("linux/amd64", AMD64), ("linux/arm64", ARM64)]
            .iter()
            .map(|(platform, digest)| PlatformManifest {
                digest: digest.parse::<Digest>().unwrap(),
                platform: (*platform).into(),
            })
            .collect()
    }

    #[test]
    fn an_allowed_index_lays_out_every_link_and_marks_nothing_failing() {
        let graph = EvidenceGraph::new(&decision(), &platforms());
        assert!(graph.failing.is_none());
        assert!(graph.nodes.iter().all(|n| !n.failing));
        let kinds: Vec<NodeKind> = graph.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [
                NodeKind::Image,
                NodeKind::Index,
                NodeKind::Platform,
                NodeKind::Platform,
                NodeKind::Authority,
                NodeKind::Signature,
                NodeKind::Signer,
                NodeKind::LogEntry,
                NodeKind::Timestamp,
                NodeKind::Sbom,
                NodeKind::Signer,
                NodeKind::LogEntry,
                NodeKind::Timestamp,
                NodeKind::AttestationRequirement,
                NodeKind::Rego,
            ]
        );
        // Platforms only listed (`platforms: index`) are not decided.
        assert_eq!(graph.nodes[2].status, NodeStatus::Info);
        assert_eq!(graph.node("index").unwrap().label, "index of 2 platforms");
        let one = EvidenceGraph::new(&decision(), &platforms()[..1]);
        assert_eq!(one.node("index").unwrap().label, "index of 1 platform");
        let signature = graph.node("evidence-0").unwrap();
        assert_eq!(signature.status, NodeStatus::Pass);
        assert_eq!(signature.log_index, Some(42));
        assert_eq!(
            signature.signer.as_deref(),
            Some(
                "https://github.com/acme/app/.github/workflows/release.yml (https://token.actions.githubusercontent.com)"
            )
        );
        assert_eq!(signature.time.as_deref(), Some("2026-01-02T03:04:05Z"));
        let log = graph.node("evidence-0-signer-0-log-0").unwrap();
        assert_eq!(log.time.as_deref(), Some("2026-01-02T03:04:05Z"));
        let edges: Vec<(&str, &str, EdgeKind)> = graph
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.kind))
            .collect();
        for edge in [
            ("image", "index", EdgeKind::Index),
            ("index", "platform-0", EdgeKind::Platform),
            ("index", "evidence-0", EdgeKind::Subject),
            ("evidence-0", "evidence-0-signer-0", EdgeKind::SignedBy),
            (
                "evidence-0-signer-0",
                "evidence-0-signer-0-log-0",
                EdgeKind::Logged,
            ),
            (
                "evidence-0-signer-0",
                "evidence-0-signer-0-timestamp-0",
                EdgeKind::Timestamped,
            ),
            ("evidence-0", "authority-0", EdgeKind::Vouched),
            ("requirement-0", "evidence-1", EdgeKind::Took),
            ("requirement-0", "requirement-0-rego-0", EdgeKind::Evaluated),
            ("requirement-0-rego-0", "evidence-1", EdgeKind::Evaluated),
        ] {
            assert!(edges.contains(&edge), "{edge:?} in {edges:#?}");
        }
        for edge in &graph.edges {
            assert!(graph.node(&edge.from).is_some() && graph.node(&edge.to).is_some());
        }
    }

    #[test]
    fn a_rego_denial_marks_its_answer_failing_with_the_decision_reason() {
        let mut decision = decision();
        decision.verdict = Verdict::Fail;
        decision.allowed = false;
        decision.denial = Some(Denial::AttestationDenied);
        decision.reason = Some("signed, but the attestation was denied by sbom.rego".into());
        decision.attestations[0].satisfied = false;
        decision.attestations[0].rego[0].allowed = false;
        decision.attestations[0].rego[0].messages = vec!["no licence".into()];
        decision.failing = Some(FailingLink {
            at: FailingAt::Rego {
                subject: INDEX.into(),
                predicate_type: Some("https://cyclonedx.org/bom".into()),
                policy: "sbom.rego".into(),
                location: "sha256-1111.att layer 0".into(),
            },
            check: Some(Check::Policy),
        });
        let graph = EvidenceGraph::new(&decision, &platforms());
        let failing = graph.failing.clone().unwrap();
        assert_eq!(failing.node, "requirement-0-rego-0");
        assert_eq!(failing.check, Some(Check::Policy));
        let failing_nodes: Vec<&Node> = graph.nodes.iter().filter(|n| n.failing).collect();
        assert_eq!(failing_nodes.len(), 1);
        assert_eq!(failing_nodes[0].reason, decision.reason);
        assert_eq!(failing_nodes[0].status, NodeStatus::Fail);
        assert_eq!(
            graph.node("requirement-0").unwrap().status,
            NodeStatus::Fail
        );
        assert_eq!(graph.node("index").unwrap().status, NodeStatus::Fail);
    }

    #[test]
    fn a_platform_denial_points_into_that_platform() {
        let mut decision = decision();
        decision.verdict = Verdict::Fail;
        decision.allowed = false;
        decision.denial = Some(Denial::PlatformDenied);
        decision.reason = Some("platform linux/arm64 is not vouched for: ...".into());
        decision.platforms = vec![
            PlatformOutcome {
                platform: "linux/amd64".into(),
                digest: AMD64.into(),
                verdict: Verdict::Pass,
                reason: None,
            },
            PlatformOutcome {
                platform: "linux/arm64".into(),
                digest: ARM64.into(),
                verdict: Verdict::Fail,
                reason: Some("no signatures found".into()),
            },
        ];
        let mut refused = report(
            EvidenceKind::Signature,
            "sha256-3333.sig layer 0",
            ARM64,
            None,
        );
        refused.results[0] = CheckResult {
            authority: "ci".into(),
            status: Status::Fail,
            check: Some(Check::CertificateIdentity),
            reason: Some("the identity is another".into()),
            identity: None,
            key_fingerprint: None,
            times: Vec::new(),
            log_entries: Vec::new(),
            checks: Vec::new(),
        };
        decision.evidence.push(refused);
        decision.failing = Some(FailingLink {
            at: FailingAt::Evidence {
                location: "sha256-3333.sig layer 0".into(),
                subject: ARM64.into(),
                authority: "ci".into(),
            },
            check: Some(Check::CertificateIdentity),
        });
        let graph = EvidenceGraph::new(&decision, &platforms());
        let failing = graph.node(&graph.failing.clone().unwrap().node).unwrap();
        assert_eq!(failing.kind, NodeKind::Signature);
        assert_eq!(failing.check, Some(Check::CertificateIdentity));
        assert!(
            graph
                .edges
                .iter()
                .any(|e| e.from == "platform-1" && e.to == failing.id)
        );
        assert_eq!(graph.node("index").unwrap().status, NodeStatus::Pass);
        assert_eq!(graph.node("platform-0").unwrap().status, NodeStatus::Pass);
        assert_eq!(graph.node("platform-1").unwrap().status, NodeStatus::Fail);

        // A link the graph cannot show falls back to the image, still with the reason.
        decision.failing = None;
        let graph = EvidenceGraph::new(&decision, &platforms());
        assert_eq!(graph.failing.unwrap().node, "image");
        assert_eq!(graph.nodes[0].reason, decision.reason);
    }

    #[test]
    fn sbom_predicate_types_are_cyclonedx_and_spdx_with_or_without_a_version() {
        for sbom in [
            "https://cyclonedx.org/bom",
            "https://cyclonedx.org/bom/v1.6",
            "https://spdx.dev/Document",
            "https://spdx.dev/Document/v2.3",
        ] {
            assert!(is_sbom(sbom), "{sbom}");
        }
        for other in [
            "https://slsa.dev/provenance/v1",
            "https://cyclonedx.org/bombs",
            "https://spdx.dev/Documents",
        ] {
            assert!(!is_sbom(other), "{other}");
        }
    }
}
