//! Making the decision: the scope that covers the image, the evidence its requirements need,
//! every piece verified against every authority that could vouch with it, then the
//! requirements in order: something stored at all, the threshold of authorities, the required
//! ones, the attestations (and their Rego policies), and, for `platforms: all`, every platform
//! manifest of an index. The mode is applied last.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use futures_util::StreamExt as _;
use vouch_attestations::bundle::Bundle;
use vouch_keys::Digest;
use vouch_registry::{ImageReference, Reference};
use vouch_verifier::check::Check;
use vouch_verifier::image::ImageEvidence;
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;
use vouch_verifier::verify::{ImageClaim, Options, PassedCheck, Policy, Verifier};
use vouch_verifier::{Verified, VerifyError};

use crate::cache::{CacheKey, DecisionCache};
use crate::decision::{
    AttestationOutcome, AuthorityOutcome, CheckResult, Decision, Denial, EvidenceFailure,
    EvidenceKind, EvidenceReport, FailingAt, FailingLink, PlatformOutcome, RefusedAttestation,
    RegoOutcome, SCHEMA_VERSION, Status, Threshold, Verdict,
};
use crate::error::{EvidenceError, PolicyError};
use crate::evidence::{EvidenceSource, Subject, Wanted};
use crate::pattern::ImagePattern;
use crate::policy::{
    Action, Combination, Mode, Platforms, Requirement, Scope, SignedIdentity, SignedRequirement,
    Signer, Tlog, TrustPolicy,
};

/// An image's name as a policy sees it: the repository its scopes match and its signatures
/// were signed for, and the tag or digest it was named by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `registry/repository` (`docker.io/library/alpine`), or `oci:PATH` for an OCI layout.
    pub repository: String,
    /// The tag it was named by.
    pub tag: Option<String>,
    /// The digest it was named by.
    pub digest: Option<Digest>,
    /// The name as given, for messages.
    pub display: String,
}

impl ImageName {
    /// The name of an image reference. An OCI layout is named `oci:PATH`; it has no registry
    /// name for `signedIdentity` to compare, so that check is passed over for it, saying so.
    pub fn of(reference: &ImageReference) -> Self {
        match reference {
            ImageReference::Registry(r) => Self::of_registry(r),
            ImageReference::Layout(layout) => Self {
                repository: format!("oci:{}", layout.path.display()),
                tag: layout.tag.clone(),
                digest: layout.digest.clone(),
                display: reference.to_string(),
            },
        }
    }

    fn of_registry(r: &Reference) -> Self {
        Self {
            repository: format!("{}/{}", r.registry(), r.repository()),
            tag: r.tag().map(str::to_owned),
            digest: r.digest().cloned(),
            display: r.to_string(),
        }
    }

    /// Parses a registry image name (`registry/repository[:tag][@digest]`).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let reference = Reference::parse(text).map_err(|e| PolicyError::Invalid {
            file: "image name".into(),
            line: None,
            reason: e.to_string(),
        })?;
        Ok(Self::of_registry(&reference))
    }

    fn is_layout(&self) -> bool {
        self.repository.starts_with("oci:")
    }
}

/// Adds `more` evidence reports to `into`, joining the results of reports about the same
/// evidence (the same place, the same subject).
fn merge_evidence(into: &mut Vec<EvidenceReport>, more: Vec<EvidenceReport>) {
    for report in more {
        match into
            .iter_mut()
            .find(|r| r.location == report.location && r.subject == report.subject)
        {
            Some(existing) => {
                if existing.payload.is_none() {
                    existing.payload = report.payload;
                    existing.predicate_type = report.predicate_type;
                }
                existing.results.extend(report.results);
            }
            None => into.push(report),
        }
    }
}

/// Evidence gathered for a digest, with what was asked for.
type Gathered = (
    Digest,
    Wanted,
    Result<crate::evidence::Evidence, EvidenceError>,
);

/// A trust root's verifier, built when first needed.
type LazyVerifier<'p> = OnceLock<Result<Verifier<'p>, VerifyError>>;

/// The work one decision shares among its scopes, alternatives and platform manifests: each
/// digest's evidence gathered once, and one [`Verifier`] per trust root, built the first time
/// an authority of that root verifies something.
struct Memo<'s, 'p, S> {
    source: &'s S,
    evidence: tokio::sync::Mutex<Vec<Gathered>>,
    verifiers: Vec<(&'p Arc<TrustedRoot>, LazyVerifier<'p>)>,
}

impl<'s, 'p, S: EvidenceSource> Memo<'s, 'p, S> {
    fn new(source: &'s S, policy: &'p TrustPolicy) -> Self {
        let mut verifiers: Vec<(&Arc<TrustedRoot>, OnceLock<_>)> = Vec::new();
        for authority in &policy.authorities {
            let root = &authority.trusted_root;
            if !verifiers.iter().any(|(r, _)| Arc::ptr_eq(r, root)) {
                verifiers.push((root, OnceLock::new()));
            }
        }
        Self {
            source,
            evidence: tokio::sync::Mutex::new(Vec::new()),
            verifiers,
        }
    }

    /// The verifier of `root`, one of the policy's authorities' roots.
    fn verifier(&self, root: &Arc<TrustedRoot>) -> &Result<Verifier<'p>, VerifyError> {
        let (root, verifier) = self
            .verifiers
            .iter()
            .find(|(r, _)| Arc::ptr_eq(r, root))
            .expect("every authority's root is listed");
        verifier.get_or_init(|| Verifier::new(root))
    }
}

impl<S: EvidenceSource> EvidenceSource for Memo<'_, '_, S> {
    fn describe(&self) -> String {
        self.source.describe()
    }

    async fn resolve(&self) -> Result<Subject, EvidenceError> {
        self.source.resolve().await
    }

    async fn platforms(
        &self,
        digest: &Digest,
    ) -> Result<Vec<crate::evidence::PlatformManifest>, EvidenceError> {
        self.source.platforms(digest).await
    }

    async fn evidence(
        &self,
        digest: &Digest,
        wanted: Wanted,
    ) -> Result<crate::evidence::Evidence, EvidenceError> {
        // What was gathered for this digest serves any request it covers. The lock is not
        // held while fetching: platform manifests are gathered concurrently.
        if let Some((_, _, found)) = self.evidence.lock().await.iter().find(|(d, w, _)| {
            d == digest
                && (w.signatures || !wanted.signatures)
                && (w.attestations || !wanted.attestations)
        }) {
            return found.clone();
        }
        let found = self.source.evidence(digest, wanted).await;
        self.evidence
            .lock()
            .await
            .push((digest.clone(), wanted, found.clone()));
        found
    }
}

/// An authority ready to verify with.
struct Prepared<'p> {
    name: &'p str,
    policy: Policy,
    root: &'p Arc<TrustedRoot>,
    require_tlog: bool,
    require_sct: bool,
}

/// One piece of evidence, as found.
enum Item<'e> {
    SignatureLayer(
        &'e vouch_attestations::cosign::SignatureLayer,
        String,
        &'e str,
    ),
    AttestationLayer(
        &'e vouch_attestations::cosign::SignatureLayer,
        String,
        &'e str,
    ),
    Bundle {
        evidence: &'e crate::evidence::BundleEvidence,
        location: String,
        parsed: Result<Bundle, VerifyError>,
    },
}

impl Item<'_> {
    fn location(&self) -> &str {
        match self {
            Item::SignatureLayer(_, l, _) | Item::AttestationLayer(_, l, _) => l,
            Item::Bundle { location, .. } => location,
        }
    }

    /// A report with where the item is, and nothing checked yet.
    fn report(&self, kind: EvidenceKind, subject: &Digest) -> EvidenceReport {
        let (tag, layer, referrer, listing, note) = match self {
            Item::SignatureLayer(l, _, tag) | Item::AttestationLayer(l, _, tag) => {
                (Some((*tag).to_owned()), Some(l.index), None, None, None)
            }
            Item::Bundle { evidence, .. } => (
                None,
                None,
                Some(evidence.referrer.to_string()),
                Some(evidence.listing.clone()),
                evidence.note.clone(),
            ),
        };
        EvidenceReport {
            kind,
            location: self.location().to_owned(),
            tag,
            layer,
            referrer,
            listing,
            note,
            payload: None,
            predicate_type: None,
            subject: subject.to_string(),
            results: Vec::new(),
        }
    }
}

/// One authority's verification of one item: the authority's index and the result.
type AuthorityResult = (usize, Result<Verified<ImageEvidence>, VerifyError>);

/// The outcome for one manifest digest.
struct DigestOutcome {
    verdict: Verdict,
    denial: Option<Denial>,
    reason: Option<String>,
    failing: Option<FailingLink>,
    authorities: Vec<AuthorityOutcome>,
    threshold: Threshold,
    evidence: Vec<EvidenceReport>,
    attestations: Vec<AttestationOutcome>,
}

/// `n` seconds, in the singular for one: "1 second", "90 seconds".
fn seconds(n: i64) -> String {
    if n == 1 {
        "1 second".to_owned()
    } else {
        format!("{n} seconds")
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Splits a signed `docker-reference` into repository (Docker Hub spelled `docker.io`), tag
/// and digest; `None` when it is not an image name.
fn signed_name(reference: &str) -> Option<(String, Option<String>, Option<Digest>)> {
    let parsed = Reference::parse(reference).ok()?;
    let registry = match parsed.registry() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    Some((
        format!("{registry}/{}", parsed.repository()),
        parsed.tag().map(str::to_owned),
        parsed.digest().cloned(),
    ))
}

/// Checks the name a simple-signing payload was signed for against the image's name.
fn check_signed_identity(
    rule: &SignedIdentity,
    image: &ImageName,
    digest: &Digest,
    signed: &str,
) -> Result<String, String> {
    let Some((repository, tag, signed_digest)) = signed_name(signed) else {
        return Err(format!("the signed name {signed:?} is not an image name"));
    };
    let repo_digest_or_exact = |expected_repository: &str| {
        if repository != expected_repository {
            return Err(format!(
                "signed for {repository}, not {expected_repository}"
            ));
        }
        if let Some(signed_digest) = &signed_digest
            && signed_digest != digest
        {
            return Err(format!(
                "signed for {repository}@{signed_digest}, not {digest}"
            ));
        }
        if let (Some(signed_tag), Some(tag)) = (&tag, &image.tag)
            && image.digest.is_none()
            && signed_tag != tag
        {
            return Err(format!("signed for {repository}:{signed_tag}, not :{tag}"));
        }
        Ok(format!(
            "signed for {signed}, which names {expected_repository}"
        ))
    };
    match rule {
        SignedIdentity::MatchRepoDigestOrExact => repo_digest_or_exact(&image.repository),
        SignedIdentity::MatchRepository => {
            if repository == image.repository {
                Ok(format!("signed for repository {repository}"))
            } else {
                Err(format!("signed for {repository}, not {}", image.repository))
            }
        }
        SignedIdentity::ExactReference { docker_reference } => {
            if signed == docker_reference {
                Ok(format!("signed for {signed}"))
            } else {
                Err(format!("signed for {signed:?}, not {docker_reference:?}"))
            }
        }
        SignedIdentity::ExactRepository { docker_repository } => {
            let expected = signed_name(docker_repository)
                .map_or_else(|| docker_repository.clone(), |(r, _, _)| r);
            if repository == expected {
                Ok(format!("signed for repository {repository}"))
            } else {
                Err(format!("signed for {repository}, not {expected}"))
            }
        }
        SignedIdentity::RemapIdentity {
            prefix,
            signed_prefix,
        } => {
            let remapped = match image.repository.strip_prefix(prefix.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    format!("{signed_prefix}{rest}")
                }
                _ => image.repository.clone(),
            };
            let remapped = signed_name(&remapped).map_or(remapped, |(r, _, _)| r);
            repo_digest_or_exact(&remapped)
        }
    }
}

impl TrustPolicy {
    /// Decides `image`, whose manifest and evidence `source` reads, at time `now`. Always
    /// gives a [`Decision`]: an image no scope covers gets the policy's default; evidence that
    /// cannot be gathered gives the verdict [`Verdict::Error`], which only `warn` and `audit`
    /// allow, and say so.
    pub async fn decide<S: EvidenceSource>(
        &self,
        image: &ImageName,
        source: &S,
        now: UnixTime,
    ) -> Decision {
        self.decide_resolved(image, source, now, None).await
    }

    /// [`TrustPolicy::decide`], answered from `cache` when it holds a decision for the same
    /// image name, manifest digest and policy digest. The image is still resolved (a tag is
    /// read once, so a moved tag is a new digest); nothing else is fetched or verified on a
    /// hit. Decisions whose evidence could not be gathered are not kept.
    pub async fn decide_cached<S: EvidenceSource>(
        &self,
        cache: &dyn DecisionCache,
        image: &ImageName,
        source: &S,
        now: UnixTime,
    ) -> Decision {
        let needs_evidence = self
            .scopes_for(&image.repository)
            .iter()
            .any(|(scope, _)| scope.requirement.needs_evidence());
        if !needs_evidence {
            return self.decide(image, source, now).await;
        }
        let subject = match source.resolve().await {
            Ok(subject) => subject,
            Err(e) => return self.decide_resolved(image, source, now, Some(Err(e))).await,
        };
        let key = CacheKey::new(&image.display, &subject.digest, &self.digest);
        if let Some(decision) = cache.get(&key) {
            tracing::info!("{}: decided from the cache", image.display);
            return decision;
        }
        let decision = self
            .decide_resolved(image, source, now, Some(Ok(subject)))
            .await;
        if decision.verdict != Verdict::Error {
            cache.put(key, decision.clone());
        }
        decision
    }

    /// A decision with nothing decided yet: allowed, no scope.
    fn blank(&self, image: &ImageName, now: UnixTime) -> Decision {
        Decision {
            schema_version: SCHEMA_VERSION,
            image: image.display.clone(),
            digest: None,
            policy: self.name.clone(),
            policy_digest: self.digest.to_string(),
            scope: None,
            mode: Mode::Enforce,
            verdict: Verdict::Pass,
            allowed: true,
            denial: None,
            reason: None,
            failing: None,
            authorities: Vec::new(),
            threshold: None,
            evidence: Vec::new(),
            attestations: Vec::new(),
            platforms: Vec::new(),
            warnings: Vec::new(),
            error: None,
            decided_at: now.secs(),
        }
    }

    /// The scopes that apply to `repository`: the most specific one, or every one that
    /// matches (with the pattern that matched), as the policy combines them.
    fn scopes_for(&self, repository: &str) -> Vec<(&Scope, &ImagePattern)> {
        match self.combination {
            Combination::MostSpecific => self.scope_for(repository).into_iter().collect(),
            Combination::AllMatching => self
                .scopes
                .iter()
                .filter_map(|scope| {
                    scope
                        .images
                        .iter()
                        .find(|p| p.matches(repository))
                        .map(|p| (scope, p))
                })
                .collect(),
        }
    }

    async fn decide_resolved<S: EvidenceSource>(
        &self,
        image: &ImageName,
        source: &S,
        now: UnixTime,
        resolved: Option<Result<Subject, EvidenceError>>,
    ) -> Decision {
        let scopes = self.scopes_for(&image.repository);
        if scopes.is_empty() {
            let mut decision = self.blank(image, now);
            if self.default == Action::Deny {
                decision.verdict = Verdict::Fail;
                decision.allowed = false;
                decision.denial = Some(Denial::NoScope);
                decision.reason = Some(format!(
                    "no scope of the policy covers {}, and its default is deny",
                    image.repository
                ));
                decision.failing = Some(FailingLink {
                    at: FailingAt::Image,
                    check: None,
                });
            }
            return decision;
        }
        // Evidence is gathered once for every scope and alternative that asks for it.
        let source = Memo::new(source, self);
        let resolved = match resolved {
            Some(resolved) => Some(resolved),
            None if scopes.iter().any(|(s, _)| s.requirement.needs_evidence()) => {
                Some(source.resolve().await)
            }
            None => None,
        };
        let mut decisions = Vec::with_capacity(scopes.len());
        for (scope, pattern) in &scopes {
            let mut decision = self.blank(image, now);
            decision.scope = Some(pattern.to_string());
            decision.mode = scope.mode;
            self.apply(
                &scope.requirement,
                image,
                &source,
                now,
                resolved.as_ref(),
                &mut decision,
            )
            .await;
            decision.allowed = decision.verdict == Verdict::Pass || scope.mode != Mode::Enforce;
            if decision.verdict != Verdict::Pass && scope.mode == Mode::Warn {
                decision.warnings.push(format!(
                    "allowed in warn mode although {}",
                    decision
                        .reason
                        .as_deref()
                        .unwrap_or("a requirement does not hold")
                ));
            }
            decisions.push(decision);
        }
        if decisions.len() == 1 {
            return decisions.remove(0);
        }
        // Every matching scope must allow the image: the first that does not decides, the
        // others' warnings are kept.
        let blocking = decisions.iter().position(|d| !d.allowed).unwrap_or(0);
        let scopes_text = decisions
            .iter()
            .filter_map(|d| d.scope.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let warnings: Vec<String> = decisions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != blocking)
            .flat_map(|(_, d)| {
                d.warnings
                    .iter()
                    .map(move |w| format!("scope {}: {w}", d.scope.as_deref().unwrap_or_default()))
            })
            .collect();
        let mut decision = decisions.swap_remove(blocking);
        if !decision.allowed
            && let Some(reason) = &decision.reason
        {
            decision.reason = Some(format!(
                "scope {}: {reason}",
                decision.scope.as_deref().unwrap_or_default()
            ));
        }
        decision.warnings.extend(warnings);
        decision.scope = Some(scopes_text);
        decision
    }

    /// Applies one requirement to `decision`: its verdict, reasons and evidence.
    async fn apply<S: EvidenceSource>(
        &self,
        requirement: &Requirement,
        image: &ImageName,
        source: &Memo<'_, '_, S>,
        now: UnixTime,
        resolved: Option<&Result<Subject, EvidenceError>>,
        decision: &mut Decision,
    ) {
        match requirement {
            Requirement::Static(Action::Allow) => {}
            Requirement::Static(Action::Deny) => {
                decision.verdict = Verdict::Fail;
                decision.denial = Some(Denial::StaticDeny);
                decision.reason = Some(format!(
                    "the scope {} denies every image it covers",
                    decision.scope.as_deref().unwrap_or_default()
                ));
                decision.failing = Some(FailingLink {
                    at: FailingAt::Image,
                    check: None,
                });
            }
            Requirement::Signed(requirement) => {
                if let Err(e) = self
                    .decide_signed(requirement, image, source, now, resolved.cloned(), decision)
                    .await
                {
                    decision.verdict = Verdict::Error;
                    decision.denial = Some(Denial::EvidenceUnavailable);
                    decision.reason = Some(format!("the evidence could not be gathered: {e}"));
                    decision.failing = Some(FailingLink {
                        at: FailingAt::Image,
                        check: None,
                    });
                    decision.error = Some(EvidenceFailure {
                        reason: e.to_string(),
                        input: e.input,
                    });
                }
            }
            Requirement::AnyOf(alternatives) => {
                let mut tried = Vec::with_capacity(alternatives.len());
                for (name, alternative) in alternatives {
                    let mut attempt = decision.clone();
                    Box::pin(self.apply(alternative, image, source, now, resolved, &mut attempt))
                        .await;
                    if attempt.verdict == Verdict::Pass {
                        *decision = attempt;
                        return;
                    }
                    tried.push((name, attempt));
                }
                // None passed: the first failure decides the kind; every one is named.
                let reasons = tried
                    .iter()
                    .map(|(name, d)| format!("{name}: {}", d.reason.as_deref().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("; ");
                let error = tried.iter().find(|(_, d)| d.verdict == Verdict::Error);
                let (_, first) = error.unwrap_or(&tried[0]);
                decision.verdict = first.verdict;
                decision.denial = first.denial;
                decision.failing.clone_from(&first.failing);
                decision.error = first.error.clone();
                decision.digest.clone_from(&first.digest);
                decision.reason = Some(if tried.len() == 1 {
                    format!("the only alternative does not hold: {reasons}")
                } else {
                    format!("none of the {} alternatives holds: {reasons}", tried.len())
                });
                for (_, attempt) in tried {
                    merge_evidence(&mut decision.evidence, attempt.evidence);
                    decision.authorities.extend(attempt.authorities);
                    decision.attestations.extend(attempt.attestations);
                    decision.platforms.extend(attempt.platforms);
                }
            }
        }
    }

    async fn decide_signed<S: EvidenceSource>(
        &self,
        requirement: &SignedRequirement,
        image: &ImageName,
        source: &Memo<'_, '_, S>,
        now: UnixTime,
        resolved: Option<Result<Subject, EvidenceError>>,
        decision: &mut Decision,
    ) -> Result<(), EvidenceError> {
        let subject = match resolved {
            Some(resolved) => resolved?,
            None => source.resolve().await?,
        };
        decision.digest = Some(subject.digest.clone());
        let outcome = self
            .check_digest(requirement, image, &subject.digest, source, now)
            .await?;
        decision.verdict = outcome.verdict;
        decision.denial = outcome.denial;
        decision.reason = outcome.reason;
        decision.failing = outcome.failing;
        decision.authorities = outcome.authorities;
        decision.threshold = Some(outcome.threshold);
        decision.evidence = outcome.evidence;
        decision.attestations = outcome.attestations;
        let platforms = match requirement.platforms {
            Platforms::All => source.platforms(&subject.digest).await?,
            Platforms::Index => Vec::new(),
        };
        if !platforms.is_empty() {
            // Owned items: a stream over borrowed ones makes a future the compiler cannot
            // prove `Send` for every lifetime, which a server spawning decisions needs.
            let results: Vec<_> = futures_util::stream::iter(platforms)
                .map(|platform| async move {
                    let outcome = self
                        .check_digest(requirement, image, &platform.digest, source, now)
                        .await;
                    (platform, outcome)
                })
                .buffered(4)
                .collect()
                .await;
            for (platform, outcome) in results {
                let outcome = outcome?;
                decision.platforms.push(PlatformOutcome {
                    platform: platform.platform.clone(),
                    digest: platform.digest.to_string(),
                    verdict: outcome.verdict,
                    reason: outcome.reason.clone(),
                });
                decision.evidence.extend(outcome.evidence);
                if outcome.verdict != Verdict::Pass && decision.verdict == Verdict::Pass {
                    decision.verdict = Verdict::Fail;
                    decision.denial = Some(Denial::PlatformDenied);
                    decision.reason = Some(format!(
                        "platform {} ({}) of the index is not vouched for: {}",
                        platform.platform,
                        platform.digest,
                        outcome.reason.unwrap_or_default()
                    ));
                    // The link that failed is the platform's own.
                    decision.failing = outcome.failing;
                }
            }
        }
        Ok(())
    }

    async fn check_digest<S: EvidenceSource>(
        &self,
        requirement: &SignedRequirement,
        image: &ImageName,
        digest: &Digest,
        source: &Memo<'_, '_, S>,
        now: UnixTime,
    ) -> Result<DigestOutcome, EvidenceError> {
        let evidence = source.evidence(digest, Self::wanted(requirement)).await?;
        tracing::info!(
            "{}: {} signature layer(s) under {}, {} attestation layer(s), {} Sigstore bundle referrer(s)",
            image.display,
            evidence.signatures.layers.len(),
            evidence.signatures.tag,
            evidence.attestations.layers.len(),
            evidence.bundles.len()
        );

        // Every authority the scope names, for its signatures or its attestations.
        let mut needed: Vec<usize> = requirement.authorities.clone();
        for attestation in &requirement.attestations {
            needed.extend(&attestation.authorities);
        }
        needed.sort_unstable();
        needed.dedup();
        let prepared: BTreeMap<usize, Prepared<'_>> = needed
            .iter()
            .map(|&i| {
                let a = &self.authorities[i];
                (
                    i,
                    Prepared {
                        name: &a.name,
                        policy: match &a.signer {
                            Signer::Key(key) => Policy::Key(key.clone()),
                            Signer::Keyless(identity) => Policy::Identity(identity.clone()),
                        },
                        root: &a.trusted_root,
                        require_tlog: a.tlog == Tlog::Required,
                        require_sct: a.require_sct,
                    },
                )
            })
            .collect();
        let mut items = Vec::new();
        for layer in &evidence.signatures.layers {
            items.push(Item::SignatureLayer(
                layer,
                format!("{} layer {}", evidence.signatures.tag, layer.index),
                &evidence.signatures.tag,
            ));
        }
        for layer in &evidence.attestations.layers {
            items.push(Item::AttestationLayer(
                layer,
                format!("{} layer {}", evidence.attestations.tag, layer.index),
                &evidence.attestations.tag,
            ));
        }
        for bundle in &evidence.bundles {
            items.push(Item::Bundle {
                evidence: bundle,
                location: format!("referrer {} ({})", bundle.referrer, bundle.listing),
                parsed: match &bundle.bytes {
                    Ok(bytes) => Bundle::from_json(bytes).map_err(VerifyError::from),
                    Err(reason) => Err(VerifyError::PayloadUnavailable {
                        reason: reason.clone(),
                    }),
                },
            });
        }

        // Every item against every authority.
        let mut verified: Vec<Vec<AuthorityResult>> = Vec::with_capacity(items.len());
        for item in &items {
            let mut results = Vec::with_capacity(prepared.len());
            for (&i, p) in &prepared {
                let options = Options {
                    now,
                    require_tlog: p.require_tlog,
                    require_sct: p.require_sct,
                };
                let result = match source.verifier(p.root) {
                    Err(e) => Err(e.clone()),
                    Ok(verifier) => match item {
                        Item::SignatureLayer(layer, _, _) => {
                            verifier.verify_signature_layer(layer, digest, &p.policy, options)
                        }
                        Item::AttestationLayer(layer, _, _) => {
                            verifier.verify_attestation_layer(layer, digest, &p.policy, options)
                        }
                        Item::Bundle { parsed, .. } => match parsed {
                            Ok(bundle) => {
                                verifier.verify_bundle_evidence(bundle, digest, &p.policy, options)
                            }
                            Err(e) => Err(e.clone()),
                        },
                    },
                };
                results.push((i, result));
            }
            verified.push(results);
        }

        let mut reports = Vec::with_capacity(items.len());
        // (item, authority) pairs whose signature holds with the scope's own checks.
        let mut signature_passes: Vec<(usize, usize)> = Vec::new();
        let mut first_signature_failure: Option<(String, FailingLink)> = None;
        let mut signature_items = 0usize;
        for (n, (item, results)) in items.iter().zip(&verified).enumerate() {
            let claim = results
                .iter()
                .find_map(|(_, r)| r.as_ref().ok().map(|v| v.get().claim));
            let kind = match (item, claim) {
                (_, Some(ImageClaim::Signature)) | (Item::SignatureLayer(..), None) => {
                    EvidenceKind::Signature
                }
                (_, Some(ImageClaim::Attestation)) | (Item::AttestationLayer(..), None) => {
                    EvidenceKind::Attestation
                }
                (Item::Bundle { evidence, .. }, None) => {
                    match evidence.annotated_predicate_type.as_deref() {
                        Some(t) if t != vouch_attestations::intoto::COSIGN_SIGN_PREDICATE_TYPE => {
                            EvidenceKind::Attestation
                        }
                        _ => EvidenceKind::Signature,
                    }
                }
            };
            if kind == EvidenceKind::Signature {
                signature_items += 1;
            }
            let mut report = item.report(kind, digest);
            for (i, result) in results {
                let p = &prepared[i];
                let signs_images = requirement.authorities.contains(i);
                let check = match result {
                    Ok(verified) => {
                        let evidence = verified.get();
                        if report.payload.is_none() {
                            report.predicate_type.clone_from(&evidence.predicate_type);
                            report.payload = Some(evidence.payload.clone());
                        }
                        let mut result = CheckResult {
                            authority: p.name.to_owned(),
                            status: Status::Pass,
                            check: None,
                            reason: None,
                            identity: evidence.verification.identity.clone(),
                            key_fingerprint: Some(evidence.verification.key_fingerprint.clone()),
                            times: evidence.verification.times.clone(),
                            log_entries: evidence.verification.log_entries.clone(),
                            checks: evidence.verification.checks.clone(),
                        };
                        if evidence.claim == ImageClaim::Signature {
                            if let Err((check, reason)) = self.signature_checks(
                                requirement,
                                image,
                                digest,
                                evidence,
                                now,
                                &mut result.checks,
                            ) {
                                result.status = Status::Fail;
                                result.check = Some(check);
                                result.reason = Some(reason);
                            } else if signs_images {
                                signature_passes.push((n, *i));
                            }
                        }
                        result
                    }
                    Err(e) => CheckResult {
                        authority: p.name.to_owned(),
                        status: if matches!(e, VerifyError::MaterialMismatch { .. }) {
                            Status::Skip
                        } else {
                            Status::Fail
                        },
                        check: Some(e.check()),
                        reason: Some(e.to_string()),
                        identity: None,
                        key_fingerprint: None,
                        times: Vec::new(),
                        log_entries: Vec::new(),
                        checks: Vec::new(),
                    },
                };
                if kind == EvidenceKind::Signature
                    && signs_images
                    && check.status == Status::Fail
                    && first_signature_failure.is_none()
                {
                    first_signature_failure = Some((
                        format!(
                            "{}: [{}] {}",
                            report.location,
                            check.check.map_or("", Check::name),
                            check.reason.as_deref().unwrap_or_default()
                        ),
                        FailingLink {
                            at: FailingAt::Evidence {
                                location: report.location.clone(),
                                subject: report.subject.clone(),
                                authority: check.authority.clone(),
                            },
                            check: check.check,
                        },
                    ));
                }
                report.results.push(check);
            }
            reports.push(report);
        }

        tracing::info!(
            "{}: {} signature(s) verified with {}, {} rejected",
            image.display,
            signature_passes.len(),
            requirement
                .authorities
                .iter()
                .map(|&i| self.authorities[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            signature_items.saturating_sub(signature_passes.len())
        );

        // Authorities and the threshold.
        let authorities: Vec<AuthorityOutcome> = requirement
            .authorities
            .iter()
            .map(|&i| {
                let by: Vec<String> = signature_passes
                    .iter()
                    .filter(|(_, a)| *a == i)
                    .map(|(n, _)| items[*n].location().to_owned())
                    .collect();
                AuthorityOutcome {
                    name: self.authorities[i].name.clone(),
                    satisfied: !by.is_empty(),
                    by,
                }
            })
            .collect();
        let satisfied = authorities.iter().filter(|a| a.satisfied).count();
        let threshold = Threshold {
            required: requirement.threshold,
            satisfied,
        };

        // Attestations.
        let mut attestations = Vec::new();
        for attestation in &requirement.attestations {
            let mut outcome = AttestationOutcome {
                predicate_type: attestation.predicate_type.clone(),
                satisfied: false,
                authorities: attestation
                    .authorities
                    .iter()
                    .map(|&i| self.authorities[i].name.clone())
                    .collect(),
                by: Vec::new(),
                rego: Vec::new(),
                refused: Vec::new(),
            };
            let wanted_type = attestation.predicate_type.as_deref();
            let mut denied = 0usize;
            for (n, (item, results)) in items.iter().zip(&verified).enumerate() {
                if reports[n].kind != EvidenceKind::Attestation {
                    continue;
                }
                let location = item.location().to_owned();
                let by_authority: Vec<&AuthorityResult> = results
                    .iter()
                    .filter(|(i, _)| attestation.authorities.contains(i))
                    .collect();
                let signed = by_authority.iter().find_map(|(_, r)| {
                    r.as_ref()
                        .ok()
                        .filter(|v| v.get().claim == ImageClaim::Attestation)
                });
                let Some(signed) = signed else {
                    // The failure that says most: a signature that verified and failed later
                    // over "not this signer".
                    let failure = by_authority
                        .iter()
                        .filter_map(|(_, r)| r.as_ref().err())
                        .min_by_key(|e| {
                            matches!(
                                e.check(),
                                Check::ArtifactSignature | Check::VerificationMaterial
                            )
                        });
                    if let Some(e) = failure {
                        outcome.refused.push(RefusedAttestation {
                            location,
                            predicate_type: reports[n].predicate_type.clone().or_else(
                                || match item {
                                    Item::AttestationLayer(layer, ..) => {
                                        layer.predicate_type().map(str::to_owned)
                                    }
                                    Item::Bundle { evidence, .. } => {
                                        evidence.annotated_predicate_type.clone()
                                    }
                                    Item::SignatureLayer(..) => None,
                                },
                            ),
                            check: e.check(),
                            reason: e.to_string(),
                        });
                    }
                    continue;
                };
                let found_type = signed.get().predicate_type.as_deref();
                if let Some(wanted) = wanted_type
                    && found_type != Some(wanted)
                {
                    outcome.refused.push(RefusedAttestation {
                        location,
                        predicate_type: found_type.map(str::to_owned),
                        check: Check::PredicateType,
                        reason: format!(
                            "the attestation's predicate type is {}, not {wanted}",
                            found_type.unwrap_or("none")
                        ),
                    });
                    continue;
                }
                outcome.by.push(location.clone());
                if let Some(rego) = &attestation.rego {
                    // An attestation's payload is its statement.
                    let statement = &signed.get().payload;
                    let (allowed, messages, warnings) = match rego.evaluate(statement) {
                        Ok(d) => (d.allowed, d.messages, d.warnings),
                        Err(e) => (false, vec![e.to_string()], Vec::new()),
                    };
                    if !allowed {
                        denied += 1;
                        outcome.by.pop();
                    }
                    outcome.rego.push(RegoOutcome {
                        policy: rego.name().to_owned(),
                        location,
                        allowed,
                        messages,
                        warnings,
                    });
                }
            }
            outcome.satisfied = if attestation.all_must_pass {
                denied == 0 && !outcome.by.is_empty()
            } else {
                !outcome.by.is_empty()
            };
            attestations.push(outcome);
        }

        // The first blocking reason, in order.
        let found_anything = evidence.signatures.found || !items.is_empty();
        let accepted: Vec<&str> = requirement
            .authorities
            .iter()
            .map(|&i| self.authorities[i].name.as_str())
            .collect();
        let missing_required = requirement.require.iter().find(|&&i| {
            !authorities
                .iter()
                .any(|a| a.satisfied && a.name == self.authorities[i].name)
        });
        let signatures_needed = requirement.threshold > 0;
        let manifest = || FailingLink {
            at: FailingAt::Manifest {
                digest: digest.to_string(),
            },
            check: None,
        };
        let (verdict, denial, reason, failing) =
            if signatures_needed && signature_items == 0 && !found_anything {
                (
                    Verdict::Fail,
                    Some(Denial::NoSignatures),
                    Some(format!(
                        "no signatures found ({} does not exist, no Sigstore bundle referrers)",
                        evidence.signatures.tag
                    )),
                    Some(manifest()),
                )
            } else if signatures_needed && satisfied == 0 {
                let what = if signature_items == 0 {
                    format!(
                        "{} holds no signature layers and no signature bundle is attached",
                        evidence.signatures.tag
                    )
                } else {
                    format!(
                        "{} found, none by an accepted authority ({})",
                        plural(signature_items, "signature"),
                        accepted.join(", ")
                    )
                };
                let (reason, failing) = match first_signature_failure {
                    Some((first, link)) => (format!("{what}; first refusal: {first}"), link),
                    None => (what, manifest()),
                };
                (
                    Verdict::Fail,
                    Some(Denial::NoAcceptedSignature),
                    Some(reason),
                    Some(failing),
                )
            } else if satisfied < requirement.threshold {
                (
                    Verdict::Fail,
                    Some(Denial::ThresholdNotMet),
                    Some(format!(
                        "{} of the authorities ({}) must vouch, {} did ({})",
                        requirement.threshold,
                        accepted.join(", "),
                        satisfied,
                        authorities
                            .iter()
                            .filter(|a| a.satisfied)
                            .map(|a| a.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    // The first authority that could have made up the number.
                    authorities
                        .iter()
                        .find(|a| !a.satisfied)
                        .map(|a| FailingLink {
                            at: FailingAt::Authority {
                                subject: digest.to_string(),
                                name: a.name.clone(),
                            },
                            check: None,
                        }),
                )
            } else if let Some(&i) = missing_required {
                (
                    Verdict::Fail,
                    Some(Denial::RequiredAuthorityMissing),
                    Some(format!(
                        "authority {}, which the scope requires, did not vouch",
                        self.authorities[i].name
                    )),
                    Some(FailingLink {
                        at: FailingAt::Authority {
                            subject: digest.to_string(),
                            name: self.authorities[i].name.clone(),
                        },
                        check: None,
                    }),
                )
            } else if let Some(unmet) = attestations.iter().find(|a| !a.satisfied) {
                let of_type = unmet
                    .predicate_type
                    .as_deref()
                    .map_or_else(|| "an".to_owned(), |t| format!("the {t}"));
                let signed = if signatures_needed {
                    "signed, but "
                } else {
                    ""
                };
                if let Some(denied) = unmet.rego.iter().find(|r| !r.allowed) {
                    let verified = unmet.rego.len();
                    (
                        Verdict::Fail,
                        Some(Denial::AttestationDenied),
                        Some(format!(
                            "{signed}{of_type} attestation was denied by {} ({} of {}): {}",
                            denied.policy,
                            unmet.rego.iter().filter(|r| !r.allowed).count(),
                            plural(verified, "verified attestation"),
                            denied.messages.join("; ")
                        )),
                        Some(FailingLink {
                            at: FailingAt::Rego {
                                subject: digest.to_string(),
                                predicate_type: unmet.predicate_type.clone(),
                                policy: denied.policy.clone(),
                                location: denied.location.clone(),
                            },
                            check: Some(Check::Policy),
                        }),
                    )
                } else {
                    let wanted = unmet
                        .predicate_type
                        .as_deref()
                        .map_or_else(|| "attestation".to_owned(), |t| format!("{t} attestation"));
                    let first = unmet
                        .refused
                        .first()
                        .map(|r| {
                            format!(
                                "; first refusal: {}: [{}] {}",
                                r.location, r.check, r.reason
                            )
                        })
                        .unwrap_or_default();
                    (
                        Verdict::Fail,
                        Some(Denial::AttestationMissing),
                        Some(format!(
                            "{signed}no {wanted} signed by {} is attached{first}",
                            unmet.authorities.join(" or ")
                        )),
                        Some(FailingLink {
                            at: FailingAt::Attestation {
                                subject: digest.to_string(),
                                predicate_type: unmet.predicate_type.clone(),
                            },
                            check: unmet.refused.first().map(|r| r.check),
                        }),
                    )
                }
            } else {
                (Verdict::Pass, None, None, None)
            };
        Ok(DigestOutcome {
            verdict,
            denial,
            reason,
            failing,
            authorities,
            threshold,
            evidence: reports,
            attestations,
        })
    }

    /// The scope's own checks of a verified signature: the name it was signed for, the
    /// annotations it must carry, its age.
    fn signature_checks(
        &self,
        requirement: &SignedRequirement,
        image: &ImageName,
        digest: &Digest,
        evidence: &ImageEvidence,
        now: UnixTime,
        passed: &mut Vec<PassedCheck>,
    ) -> Result<(), (Check, String)> {
        match (
            &evidence.docker_reference,
            &requirement.signed_identity,
            image.is_layout(),
        ) {
            (Some(_), Some(_), true) => passed.push(PassedCheck {
                check: Check::SignedIdentity,
                detail: "not compared: an OCI layout has no registry name".into(),
            }),
            (Some(signed), Some(rule), false) => {
                let detail = check_signed_identity(rule, image, digest, signed)
                    .map_err(|e| (Check::SignedIdentity, e))?;
                passed.push(PassedCheck {
                    check: Check::SignedIdentity,
                    detail,
                });
            }
            _ => {}
        }
        for (key, expected) in &requirement.annotations {
            match evidence.annotations.get(key) {
                Some(serde_json::Value::String(found)) if found == expected => {}
                Some(found) => {
                    return Err((
                        Check::Annotations,
                        format!(
                            "required annotation {key}={expected} has value {found} in the signed payload"
                        ),
                    ));
                }
                None => {
                    return Err((
                        Check::Annotations,
                        format!(
                            "required annotation {key}={expected} is missing from the signed payload"
                        ),
                    ));
                }
            }
        }
        if !requirement.annotations.is_empty() {
            passed.push(PassedCheck {
                check: Check::Annotations,
                detail: format!(
                    "{} required annotation(s) signed",
                    requirement.annotations.len()
                ),
            });
        }
        if let Some(max_age) = requirement.max_age {
            let oldest_allowed = now
                .secs()
                .saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX));
            let signed_at = evidence.verification.times.iter().map(|t| t.unix).min();
            match signed_at {
                None => {
                    return Err((
                        Check::SignatureAge,
                        "the signature has no verified signing time (no log entry or timestamp) to measure its age by".into(),
                    ));
                }
                Some(at) if at < oldest_allowed => {
                    return Err((
                        Check::SignatureAge,
                        format!(
                            "signed {} ago, more than the {} maxAge allows",
                            seconds(now.secs() - at),
                            seconds(i64::try_from(max_age).unwrap_or(i64::MAX))
                        ),
                    ));
                }
                Some(at) => passed.push(PassedCheck {
                    check: Check::SignatureAge,
                    detail: format!("signed {} ago, within {max_age}", seconds(now.secs() - at)),
                }),
            }
        }
        Ok(())
    }

    /// The evidence a scope needs, for callers that gather it themselves.
    pub fn wanted(requirement: &SignedRequirement) -> Wanted {
        Wanted {
            signatures: requirement.threshold > 0,
            attestations: !requirement.attestations.is_empty(),
        }
    }
}
