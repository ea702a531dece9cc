//! `vouch verify` and `vouch triangulate`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures_util::StreamExt as _;
use vouch_keys::Digest;
use vouch_policy::decision::{CheckResult, EvidenceKind, EvidenceReport, Status};
use vouch_policy::evidence::StoreSource;
use vouch_policy::policy::Mode;
use vouch_policy::{Decision, ImageName, TrustPolicy, Verdict};
use vouch_registry::cosign::{Attachment, signature_tag};
use vouch_registry::{ImageReference, ManifestRef, Store, Target};
use vouch_verifier::check::Check;
use vouch_verifier::time::UnixTime;

use crate::error::CliError;
use crate::output::{OutputFormat, outln, print_json};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    signer: crate::signer::SignerArgs,
    /// A trust policy file (vouch's `TrustPolicy` YAML) that decides each image instead of
    /// the signer flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp", "certificate_github_workflow_trigger", "certificate_github_workflow_sha", "certificate_github_workflow_name", "certificate_github_workflow_repository", "certificate_github_workflow_ref", "trusted_root", "insecure_ignore_sct", "ca_roots", "ca_intermediates", "certificate_chain", "annotations"])]
    policy: Option<PathBuf>,
    /// Require this annotation, with this value, in the signed payload (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = crate::parse_annotation)]
    annotations: Vec<(String, String)>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    compat: crate::VerifyCompat,
    /// Images: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// What `triangulate --type` locates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AttachmentType {
    /// The signature tag, `sha256-<hex>.sig`.
    Signature,
    /// The attestation tag, `sha256-<hex>.att`.
    Attestation,
    /// The SBOM tag, `sha256-<hex>.sbom`.
    Sbom,
    /// The image itself, by digest.
    Digest,
}

#[derive(Args)]
pub(crate) struct TriangulateArgs {
    /// Which attachment's tag: signature (`.sig`), attestation (`.att`), sbom (`.sbom`), or
    /// digest (the image by digest), as cosign's --type.
    #[arg(long = "type", value_enum, default_value_t = AttachmentType::Signature)]
    kind: AttachmentType,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The image.
    #[arg(value_name = "IMAGE")]
    image: String,
}

/// The digest an image is to be verified at: the one named, else the tag resolved once.
pub(crate) async fn digest_of(target: &Target) -> Result<Digest, CliError> {
    Ok(match &target.manifest {
        ManifestRef::Digest(digest) => digest.clone(),
        _ => target.resolve().await?.digest,
    })
}

/// How many images are decided at once.
const IMAGE_CONCURRENCY: usize = 8;

/// The policy the flags or the policy file give. Refused before any image is looked at.
fn load_policy(args: &VerifyArgs) -> Result<TrustPolicy, CliError> {
    if let Some(path) = &args.policy {
        return TrustPolicy::load(path).map_err(CliError::from);
    }
    if !args.signer.given() {
        return Err(CliError::Usage(
            "give --key, --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp], or --policy".into(),
        ));
    }
    let authority = args.signer.authority(args.compat.ignore_tlog())?;
    let description = authority.name.clone();
    Ok(TrustPolicy::single(
        &description,
        authority,
        args.annotations.iter().cloned().collect::<BTreeMap<_, _>>(),
    ))
}

/// One image's decision, with the name the report gives it.
pub(crate) struct Outcome {
    /// The image at its digest, as the store describes it.
    pub(crate) image: String,
    /// What `vouch-policy` decided.
    pub(crate) decision: Decision,
}

pub(crate) async fn run(mut args: VerifyArgs) -> Result<ExitCode, CliError> {
    for image in &mut args.images {
        *image = args.compat.image(image);
    }
    let references = args
        .images
        .iter()
        .map(|image| ImageReference::parse(image))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = load_policy(&args)?;
    let client = args.registry.client()?;
    let now = UnixTime::from_system_time(std::time::SystemTime::now());

    // Every image gets its result, an error included; the exit code is the worst of them.
    let outcomes: Vec<Result<Outcome, CliError>> = futures_util::stream::iter(&references)
        .map(|reference| decide_one(&policy, &client, reference, now))
        .buffered(IMAGE_CONCURRENCY)
        .collect()
        .await;
    for outcome in &outcomes {
        match outcome {
            Err(error) => eprintln!("vouch: {error}"),
            Ok(outcome) => {
                if let Some(error) = &outcome.decision.error {
                    eprintln!("vouch: {}", error.reason);
                }
            }
        }
    }

    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::Value::Array(
            args.images
                .iter()
                .zip(&outcomes)
                .map(|(image, outcome)| match outcome {
                    Ok(outcome) => outcome_json(outcome),
                    Err(error) => serde_json::json!({
                        "image": image,
                        "verified": false,
                        "error": error.to_string(),
                        "exit_code": error.code(),
                    }),
                })
                .collect(),
        )),
        OutputFormat::Text => {
            for outcome in outcomes.iter().flatten() {
                print_outcome(outcome, args.policy.is_some());
            }
        }
    }
    let worst = outcomes
        .iter()
        .map(|outcome| match outcome {
            Ok(outcome) => outcome.decision.exit_code(),
            Err(error) => error.code(),
        })
        .max()
        .unwrap_or(0);
    Ok(ExitCode::from(worst))
}

/// The decision about one image, or why the image could not even be looked at.
async fn decide_one(
    policy: &TrustPolicy,
    client: &vouch_registry::RegistryClient,
    reference: &ImageReference,
    now: UnixTime,
) -> Result<Outcome, CliError> {
    let source = StoreSource::open(client, reference).map_err(vouch_policy::PolicyError::from)?;
    Ok(decide_from(policy, &source, reference, now).await)
}

/// The decision about the image `source` reads, made by `vouch-policy`: the one path by which
/// every command that reports a decision (`verify --policy`, `explain`) gets it.
pub(crate) async fn decide_from(
    policy: &TrustPolicy,
    source: &StoreSource,
    reference: &ImageReference,
    now: UnixTime,
) -> Outcome {
    let decision = policy.decide(&ImageName::of(reference), source, now).await;
    tracing::info!(
        "{reference}: {} ({} piece(s) of evidence, verdict {:?})",
        if decision.allowed {
            "allowed"
        } else {
            "denied"
        },
        decision.evidence.len(),
        decision.verdict
    );
    let image = match &decision.digest {
        Some(digest) => source
            .target()
            .store
            .describe(&ManifestRef::Digest(digest.clone())),
        None => source.target().describe(),
    };
    Outcome { image, decision }
}

/// The signatures that hold, with the first authority that vouched by them.
fn passing(decision: &Decision) -> impl Iterator<Item = (&EvidenceReport, &CheckResult)> {
    decision
        .evidence
        .iter()
        .filter(|e| e.kind == EvidenceKind::Signature)
        .filter_map(|e| {
            e.results
                .iter()
                .find(|r| r.status == Status::Pass)
                .map(|r| (e, r))
        })
}

/// The signatures that no authority let pass, with their first failure (or skip).
fn refused(decision: &Decision) -> impl Iterator<Item = (&EvidenceReport, &CheckResult)> {
    decision
        .evidence
        .iter()
        .filter(|e| e.kind == EvidenceKind::Signature)
        .filter(|e| e.results.iter().all(|r| r.status != Status::Pass))
        .filter_map(|e| {
            e.results
                .iter()
                .find(|r| r.status == Status::Fail)
                .or_else(|| e.results.first())
                .map(|r| (e, r))
        })
}

/// Where a piece of evidence is, as the summary's `source` field has said since v0.1.
fn source_of(report: &EvidenceReport) -> String {
    match (&report.tag, &report.listing) {
        (Some(tag), _) => format!("tag {tag}"),
        (None, Some(listing)) => listing.clone(),
        (None, None) => report.location.clone(),
    }
}

fn print_outcome(outcome: &Outcome, show_policy: bool) {
    let decision = &outcome.decision;
    match (decision.allowed, decision.verdict) {
        (true, Verdict::Pass) => outln!("Verified {}", outcome.image),
        (true, _) => outln!(
            "ALLOWED ({} mode) {}: {}",
            match decision.mode {
                Mode::Warn => "warn",
                Mode::Audit => "audit",
                Mode::Enforce => "enforce",
            },
            outcome.image,
            decision.reason.as_deref().unwrap_or_default()
        ),
        (false, Verdict::Error) => return,
        // The refusals are listed below: the header keeps the sentence short.
        (false, _) => outln!(
            "DENIED {}: {}",
            outcome.image,
            decision
                .reason
                .as_deref()
                .unwrap_or_default()
                .split("; first refusal: ")
                .next()
                .unwrap_or_default()
        ),
    }
    if let Some(scope) = &decision.scope
        && show_policy
    {
        outln!("  policy {} scope {scope}", decision.policy);
    }
    for (report, result) in passing(decision) {
        let signer = match &result.identity {
            Some(identity) => format!("{} ({})", identity.subject, identity.issuer),
            None => format!(
                "key {}",
                result.key_fingerprint.as_deref().unwrap_or_default()
            ),
        };
        let reference = report
            .payload
            .as_ref()
            .and_then(|p| p.pointer("/critical/identity/docker-reference"))
            .and_then(serde_json::Value::as_str)
            .map(|r| format!(", docker-reference {r}"))
            .unwrap_or_default();
        outln!(
            "  ok       {}: signed by {signer}{reference} [{}]",
            report.location,
            result.authority
        );
    }
    for (report, result) in refused(decision) {
        outln!(
            "  rejected {}: [{}] {}",
            report.location,
            result.check.map_or("", Check::name),
            result.reason.as_deref().unwrap_or_default()
        );
    }
    for report in &decision.evidence {
        if let Some(note) = &report.note {
            outln!("  note     {}: {note}", report.location);
        }
    }
    for attestation in &decision.attestations {
        outln!(
            "  {} attestation {}{}",
            if attestation.satisfied {
                "ok      "
            } else {
                "missing "
            },
            attestation
                .predicate_type
                .as_deref()
                .unwrap_or("of any type"),
            attestation
                .rego
                .iter()
                .find(|r| !r.allowed)
                .map(|r| format!(": denied by {}: {}", r.policy, r.messages.join("; ")))
                .unwrap_or_default()
        );
    }
    for platform in &decision.platforms {
        outln!(
            "  {} platform {} {}{}",
            if platform.verdict == Verdict::Pass {
                "ok      "
            } else {
                "denied  "
            },
            platform.platform,
            platform.digest,
            platform
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    for warning in &decision.warnings {
        outln!("  warning: {warning}");
    }
}

/// The summary fields `verify -o json` has given since v0.1 (`verified`, `signatures`,
/// `rejected`, ...), and the whole decision under `decision`.
fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let decision = &outcome.decision;
    serde_json::json!({
        "image": outcome.image,
        "digest": decision.digest,
        "verified": decision.allowed,
        "signature_tag": decision.digest.as_ref().map(signature_tag),
        "reason": decision.reason,
        "signatures": passing(decision).map(|(report, result)| serde_json::json!({
            "source": source_of(report),
            "layer": report.layer,
            "referrer": report.referrer,
            "authority": result.authority,
            "key_fingerprint": result.key_fingerprint,
            "identity": result.identity,
            "payload": report.payload,
            "statement": report.payload.as_ref().filter(|p| p.get("predicateType").is_some()),
        })).collect::<Vec<_>>(),
        "rejected": refused(decision).map(|(report, result)| serde_json::json!({
            "source": source_of(report),
            "layer": report.layer,
            "referrer": report.referrer,
            "check": result.check,
            "reason": result.reason,
        })).collect::<Vec<_>>(),
        "error": decision.error.as_ref().map(|e| &e.reason),
        "exit_code": decision.exit_code(),
        "decision": decision,
    })
}

pub(crate) async fn triangulate(args: TriangulateArgs) -> Result<ExitCode, CliError> {
    let reference = ImageReference::parse(&args.image)?;
    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let digest = digest_of(&target).await?;
    let tag = match args.kind {
        AttachmentType::Signature => Some(signature_tag(&digest)),
        AttachmentType::Attestation => Some(Attachment::Attestations.tag(&digest)),
        AttachmentType::Sbom => Some(vouch_registry::cosign::sbom_tag(&digest)),
        AttachmentType::Digest => None,
    };
    let location = match tag {
        Some(tag) => target.store.describe(&ManifestRef::Tag(tag)),
        None => target.store.describe(&ManifestRef::Digest(digest.clone())),
    };
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "image": target.store.describe(&ManifestRef::Digest(digest.clone())),
            "digest": digest.to_string(),
            "type": args.kind,
            "location": location,
        })),
        OutputFormat::Text => outln!("{location}"),
    }
    Ok(ExitCode::SUCCESS)
}
