//! `vouch attest`, `vouch verify-attestation` and `vouch tree`: in-toto attestations about
//! images, stored in cosign's tag layout (`sha256-<hex>.att`, DSSE envelopes) or as Sigstore
//! bundles referring to the image (cosign v3's format), and a view of everything attached to
//! an image.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;
use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::slsa::AnyProvenance;
use vouch_registry::cosign::{self, Attachment, NewAttestation, sbom_tag};
use vouch_registry::manifest::Manifest;
use vouch_registry::referrers::{self, BUNDLE_PREDICATE_TYPE_ANNOTATION};
use vouch_registry::{ImageReference, ManifestRef, Store};
use vouch_verifier::VerifyError;
use vouch_verifier::check::{Check, Refusal};
use vouch_verifier::rego::{PolicyDecision, RegoPolicy};

use vouch_keys::Digest;
use vouch_policy::decision::{EvidenceReport, Status};
use vouch_policy::evidence::{EvidenceSource as _, StoreSource};
use vouch_policy::{Decision, EvidenceError, ImageName, PolicyError, TrustPolicy};
use vouch_verifier::time::UnixTime;
use vouch_verifier::verify::Artifact;

use crate::bundles::{self, BundleFormat, source_name};
use crate::error::{CliError, read_input};
use crate::output::{OutputFormat, none_holds, outln, print_json};
use crate::predicate::{predicate_type_uri, read_predicate};
use crate::sign::{recorded_text, subject_descriptor};
use crate::signing::{Content, Signing, SigningArgs};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct AttestArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The predicate: a JSON document (at most 16 MiB), or an in-toto statement about the
    /// image (as `vouch provenance` writes), whose predicate and type are used.
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,
    /// The predicate type: slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, vuln, openvex,
    /// link, custom (the default), or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: Option<String>,
    /// Replace the image's attestations of the same predicate type (tag layout only).
    #[arg(long)]
    replace: bool,
    /// Where the attestation goes: cosign's `.att` tag layout, or (v3) a Sigstore bundle
    /// pushed as an OCI 1.1 referrer of the image.
    #[arg(long, value_enum, default_value_t = BundleFormat::Legacy)]
    bundle_format: BundleFormat,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The image: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Args)]
pub(crate) struct VerifyAttestationArgs {
    #[command(flatten)]
    signer: crate::signer::SignerArgs,
    /// Only attestations of this predicate type (shorthand or URI).
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: Option<String>,
    /// A Rego policy every verified attestation of --type must pass (`input` is the statement;
    /// rules `deny` (messages), `allow` (boolean) or cosign's `isCompliant`). A policy is
    /// written for one predicate type, so --type is required with it: an SLSA policy must not
    /// judge the SBOM attestation.
    #[arg(long, value_name = "FILE.rego", requires = "predicate_type")]
    policy: Option<PathBuf>,
    /// One line per attestation, without its predicate (printed in full otherwise).
    #[arg(long)]
    summary: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    compat: crate::VerifyCompat,
    /// Images: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`. With several, each
    /// gets its result (`-o json`: an array), and the exit code is the worst of them.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Args)]
pub(crate) struct TreeArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The image.
    #[arg(value_name = "IMAGE")]
    image: String,
}

pub(crate) async fn attest(args: AttestArgs) -> Result<ExitCode, CliError> {
    let reference = ImageReference::parse(&args.image)?;
    if args.replace && args.bundle_format == BundleFormat::V3 {
        return Err(CliError::Usage(
            "--replace applies to the tag layout (--bundle-format legacy): referrers are \
             not removed"
                .into(),
        ));
    }
    // Inputs are checked before anything is contacted; the subject check of a statement
    // file needs the digest, so it comes after the image is resolved.
    if let Some(name) = &args.predicate_type {
        predicate_type_uri(name)?;
    }
    let signing = Signing::prepare(&args.signing).await?;
    if args.bundle_format == BundleFormat::Legacy {
        signing.check_tag_layout()?;
    }
    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let resolved = target.resolve().await?;
    let predicate = read_predicate(
        &args.predicate,
        args.predicate_type.as_deref(),
        &resolved.digest,
    )?;
    let statement = bundles::image_statement(
        &target.store.docker_reference(),
        &resolved.digest,
        &predicate.predicate_type,
        predicate.value,
    )?;
    let image = target
        .store
        .describe(&ManifestRef::Digest(resolved.digest.clone()));
    let predicate_type = predicate.predicate_type;
    let subject = subject_descriptor(
        &resolved.manifest.media_type,
        &resolved.digest,
        resolved.manifest.bytes.len() as u64,
    );
    let (stored, where_text) = store_attestation(
        &target.store,
        &subject,
        &statement,
        &signing,
        args.bundle_format,
        args.replace,
    )
    .await?;
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "image": image,
            "digest": resolved.digest.to_string(),
            "predicate_type": predicate_type,
            "stored": stored,
            "key_fingerprint": signing.public_key().fingerprint(),
            "signer": signing.signer_json(),
        })),
        OutputFormat::Text => outln!("Attested {image} ({predicate_type}): {where_text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs `statement` and stores it for the manifest `subject`: appended to cosign's `.att`
/// tag (`Legacy`, replacing the same predicate type's with `replace`) or pushed as a Sigstore
/// bundle referrer (`V3`). Returns the JSON and the sentence that say where it went.
pub(crate) async fn store_attestation(
    store: &Store,
    subject: &vouch_registry::manifest::Descriptor,
    statement: &vouch_attestations::intoto::Statement,
    signing: &Signing,
    format: BundleFormat,
    replace: bool,
) -> Result<(Value, String), CliError> {
    if format == BundleFormat::Legacy {
        signing.check_tag_layout()?;
    }
    let predicate_type = statement.predicate_type().to_owned();
    let payload = statement.to_vec();
    let signature = signing.sign(&vouch_attestations::dsse::pae(
        IN_TOTO_PAYLOAD_TYPE,
        &payload,
    ))?;
    // Logged, timestamped and verified before anything is pushed.
    let bundle = signing
        .seal(
            Content::Dsse {
                payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
                payload: payload.clone(),
                signature: signature.clone(),
            },
            Artifact::Digest(&subject.digest),
        )
        .await?
        .bundle;
    Ok(match format {
        BundleFormat::Legacy => {
            let envelope = Envelope {
                payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
                payload,
                signatures: vec![vouch_attestations::dsse::Signature {
                    keyid: String::new(),
                    sig: signature,
                }],
            };
            let attestation = NewAttestation {
                envelope: envelope.to_vec(),
                predicate_type: predicate_type.clone(),
                annotations: signing.layer_annotations(&bundle),
            };
            let attached =
                cosign::attach_attestation(store, &subject.digest, &attestation, replace).await?;
            let text = format!(
                "DSSE envelope in tag {} ({} layer{}{}{})",
                attached.tag,
                attached.layers,
                if attached.layers == 1 { "" } else { "s" },
                if attached.replaced > 0 {
                    format!(", replaced {}", attached.replaced)
                } else {
                    String::new()
                },
                if attached.already_present {
                    ", already there"
                } else {
                    ""
                },
            );
            let json = serde_json::json!({
                "format": "legacy",
                "tag": attached.tag,
                "manifest": attached.manifest_digest.to_string(),
                "layers": attached.layers,
                "replaced": attached.replaced,
                "already_present": attached.already_present,
            });
            (json, text)
        }
        BundleFormat::V3 => {
            let pushed =
                bundles::push_bundle(store, subject, &bundle, Some(&predicate_type)).await?;
            let text = format!(
                "Sigstore bundle referrer {}, {}",
                pushed.descriptor.digest,
                recorded_text(&pushed.recorded)
            );
            let json = serde_json::json!({
                "format": "v3",
                "referrer": pushed.descriptor.digest.to_string(),
                "recorded": recorded_text(&pushed.recorded),
            });
            (json, text)
        }
    })
}

/// One attestation found for an image, from either store, with what became of it.
struct Found {
    /// Which store: `tag-layout`, `referrers-api` or `referrers-tag-schema`.
    store: String,
    /// Where in it: `sha256-<hex>.att layer N` or `referrer sha256:...`.
    position: String,
    /// The verified predicate type, else the one the store annotates (unverified).
    predicate_type: Option<String>,
    outcome: Result<Attested, Refusal>,
}

/// An attestation whose signature, subject and type hold.
struct Attested {
    statement: Value,
    key_fingerprint: String,
    /// The policy's decision, when a policy was given.
    policy: Option<Result<PolicyDecision, String>>,
}

impl Found {
    fn policy_allows(&self) -> Option<bool> {
        match &self.outcome {
            Ok(Attested {
                policy: Some(decision),
                ..
            }) => Some(matches!(decision, Ok(d) if d.allowed)),
            _ => None,
        }
    }

    fn json(&self) -> Value {
        let mut entry = serde_json::json!({
            "store": self.store,
            "position": self.position,
            "predicate_type": self.predicate_type,
        });
        match &self.outcome {
            Ok(attested) => {
                entry["key_fingerprint"] = attested.key_fingerprint.clone().into();
                entry["statement"] = attested.statement.clone();
                if let Some(policy) = &attested.policy {
                    entry["policy"] = match policy {
                        Ok(decision) => serde_json::to_value(decision).unwrap_or_default(),
                        Err(error) => serde_json::json!({"allowed": false, "error": error}),
                    };
                }
            }
            Err(refusal) => {
                entry["check"] = refusal.check.name().into();
                entry["reason"] = refusal.reason.clone().into();
            }
        }
        entry
    }
}

pub(crate) async fn verify_attestation(args: VerifyAttestationArgs) -> Result<ExitCode, CliError> {
    let references = args
        .images
        .iter()
        .map(|image| ImageReference::parse(&args.compat.image(image)))
        .collect::<Result<Vec<_>, _>>()?;
    let wanted = args
        .predicate_type
        .as_deref()
        .map(predicate_type_uri)
        .transpose()?;
    if !args.signer.given() {
        return Err(CliError::Usage(
            "give --key, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]".into(),
        ));
    }
    let rego = match &args.policy {
        Some(path) => Some(std::sync::Arc::new(read_rego(path)?)),
        None => None,
    };
    let authority = args.signer.authority(args.compat.ignore_tlog())?;
    let description = authority.name.clone();
    let policy = TrustPolicy::attestations_by(&description, authority, wanted.clone(), rego);
    let client = args.registry.client()?;
    let now = UnixTime::from_system_time(std::time::SystemTime::now());

    // Every image gets its result, an error included; the exit code is the worst of them.
    let mut outcomes = Vec::with_capacity(references.len());
    for reference in &references {
        let outcome = attestations_of(&policy, &client, reference, now).await;
        if let Err(error) = &outcome {
            eprintln!("vouch: {error}");
        }
        outcomes.push(outcome);
    }
    let policy_file = args.policy.as_ref().map(|p| p.display().to_string());
    match args.output.output {
        OutputFormat::Json => {
            let mut reports: Vec<serde_json::Value> = args
                .images
                .iter()
                .zip(&outcomes)
                .map(|(image, outcome)| match outcome {
                    Ok(attested) => serde_json::json!({
                        "image": attested.image,
                        "digest": attested.digest.to_string(),
                        "verified": attested.ok,
                        "predicate_type": wanted,
                        "policy": policy_file,
                        "attestations": attested.found.iter().filter(|f| f.outcome.is_ok()).map(Found::json).collect::<Vec<_>>(),
                        "rejected": attested.found.iter().filter(|f| f.outcome.is_err()).map(Found::json).collect::<Vec<_>>(),
                    }),
                    Err(error) => serde_json::json!({
                        "image": image,
                        "verified": false,
                        "error": error.to_string(),
                        "exit_code": error.code(),
                    }),
                })
                .collect();
            // One image keeps the single object scripts have read since v0.1.
            match reports.len() {
                1 => print_json(&reports.remove(0)),
                _ => print_json(&serde_json::Value::Array(reports)),
            }
        }
        OutputFormat::Text => {
            for attested in outcomes.iter().flatten() {
                print_attestations(
                    &attested.image,
                    wanted.as_deref(),
                    &attested.found,
                    attested.ok,
                    args.summary,
                );
            }
        }
    }
    let worst = outcomes
        .iter()
        .map(|outcome| match outcome {
            Ok(attested) => u8::from(!attested.ok),
            Err(error) => error.code(),
        })
        .max()
        .unwrap_or(0);
    Ok(ExitCode::from(worst))
}

/// The attestations of one image as the decision found them.
struct Attestations {
    image: String,
    digest: Digest,
    found: Vec<Found>,
    ok: bool,
}

async fn attestations_of(
    policy: &TrustPolicy,
    client: &vouch_registry::RegistryClient,
    reference: &ImageReference,
    now: UnixTime,
) -> Result<Attestations, CliError> {
    let source = StoreSource::open(client, reference).map_err(PolicyError::from)?;
    let decision = policy.decide(&ImageName::of(reference), &source, now).await;
    if let Some(error) = &decision.error {
        return Err(PolicyError::Evidence(EvidenceError {
            image: source.describe(),
            reason: error.reason.clone(),
            input: error.input,
        })
        .into());
    }
    let digest: Digest = decision
        .digest
        .clone()
        .ok_or_else(|| CliError::Internal("the decision names no digest".into()))?;
    let image = source
        .target()
        .store
        .describe(&ManifestRef::Digest(digest.clone()));
    Ok(Attestations {
        image,
        digest,
        found: found_attestations(&decision),
        ok: decision.allowed,
    })
}

/// Reads a Rego policy for `--policy`: CUE is refused by name, a syntax error is one
/// `FILE:LINE:COLUMN` line.
fn read_rego(path: &std::path::Path) -> Result<RegoPolicy, CliError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cue"))
    {
        return Err(CliError::Input {
            path: path.to_owned(),
            reason: "CUE policies are not supported; write the policy in Rego".into(),
        });
    }
    let text = read_input(path)?;
    let name = path.display().to_string();
    RegoPolicy::parse(&name, &text).map_err(|e| match e {
        // Already FILE:LINE:COLUMN: what is wrong.
        VerifyError::RegoSyntax { .. } => CliError::Usage(e.to_string()),
        VerifyError::RegoInvalid { reason, .. } => CliError::Input {
            path: path.to_owned(),
            reason,
        },
        other => CliError::Input {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// The attestations the decision looked at, in the order found: those signed by the
/// authority and of the type asked for (with the Rego policy's answer), then those refused.
fn found_attestations(decision: &Decision) -> Vec<Found> {
    let Some(outcome) = decision.attestations.first() else {
        return Vec::new();
    };
    let store_of = |report: &EvidenceReport| match (&report.tag, &report.listing) {
        (Some(_), _) => "tag-layout".to_owned(),
        (None, Some(listing)) => listing.clone(),
        (None, None) => "unknown".to_owned(),
    };
    let position_of = |report: &EvidenceReport| match &report.referrer {
        Some(referrer) => format!("referrer {referrer}"),
        None => report.location.clone(),
    };
    let mut found = Vec::new();
    for report in &decision.evidence {
        let rego = outcome.rego.iter().find(|r| r.location == report.location);
        if !outcome.by.contains(&report.location) && rego.is_none() {
            continue;
        }
        let key_fingerprint = report
            .results
            .iter()
            .find(|r| r.status == Status::Pass)
            .and_then(|r| r.key_fingerprint.clone())
            .unwrap_or_default();
        found.push(Found {
            store: store_of(report),
            position: position_of(report),
            predicate_type: report.predicate_type.clone(),
            outcome: Ok(Attested {
                statement: report.payload.clone().unwrap_or_default(),
                key_fingerprint,
                policy: rego.map(|r| {
                    Ok(PolicyDecision {
                        allowed: r.allowed,
                        messages: r.messages.clone(),
                        warnings: r.warnings.clone(),
                    })
                }),
            }),
        });
    }
    for refused in &outcome.refused {
        let report = decision
            .evidence
            .iter()
            .find(|e| e.location == refused.location);
        found.push(Found {
            store: report.map_or_else(|| "unknown".to_owned(), store_of),
            position: report.map_or_else(|| refused.location.clone(), position_of),
            predicate_type: refused.predicate_type.clone(),
            outcome: Err(Refusal {
                check: refused.check,
                reason: refused.reason.clone(),
            }),
        });
    }
    found
}

/// "built by BUILDER from REPO@REF (COMMIT)" for SLSA provenance v1 and v0.2 predicates that
/// the typed model reads.
fn provenance_summary(predicate_type: &str, statement: &Value) -> Option<String> {
    let predicate = statement.get("predicate")?;
    let provenance = AnyProvenance::from_predicate(predicate_type, predicate).ok()?;
    let mut text = format!("built by {}", provenance.builder_id());
    if let Some(source) = provenance.source() {
        text.push_str(&format!(" from {}", source.repository));
        if let Some(git_ref) = source.git_ref {
            text.push_str(&format!("@{git_ref}"));
        }
        if let Some(commit) = source.commit {
            text.push_str(&format!(" ({commit})"));
        }
    }
    Some(text)
}

fn print_attestations(image: &str, wanted: Option<&str>, found: &[Found], ok: bool, summary: bool) {
    let verified = found.iter().filter(|f| f.outcome.is_ok()).count();
    let denied = found
        .iter()
        .filter(|f| f.policy_allows() == Some(false))
        .count();
    let of_type = wanted.map(|w| format!(" of type {w}")).unwrap_or_default();
    if ok {
        outln!(
            "Verified {verified} attestation{}{of_type} of {image}",
            if verified == 1 { "" } else { "s" }
        );
    } else if denied > 0 {
        outln!(
            "DENIED {image}: the policy denies {denied} of the {verified} verified attestation{}{of_type}",
            if verified == 1 { "" } else { "s" }
        );
    } else if found.is_empty() {
        outln!("DENIED {image}: no attestation found");
    } else {
        outln!(
            "DENIED {image}: {}{of_type}",
            none_holds(found.len(), "attestation")
        );
    }
    for entry in found {
        let kind = entry.predicate_type.as_deref().unwrap_or("unknown type");
        let place = format!("{} {}", entry.store, entry.position);
        match &entry.outcome {
            Ok(attested) => {
                match &attested.policy {
                    None => outln!("  ok       {place}: {kind}"),
                    Some(Ok(decision)) if decision.allowed => {
                        outln!("  ok       {place}: {kind}, policy allows");
                    }
                    Some(Ok(decision)) => {
                        outln!("  denied   {place}: {kind}, policy denies:");
                        for message in &decision.messages {
                            outln!("             - {message}");
                        }
                    }
                    Some(Err(error)) => outln!("  denied   {place}: {kind}, {error}"),
                }
                if let Some(Ok(decision)) = &attested.policy {
                    for warning in &decision.warnings {
                        outln!("             warning: {warning}");
                    }
                }
                if let Some(summary) = provenance_summary(kind, &attested.statement) {
                    outln!("           {summary}");
                }
                if let Some(predicate) = attested.statement.get("predicate").filter(|_| !summary) {
                    let text = serde_json::to_string_pretty(predicate).unwrap_or_default();
                    for line in text.lines() {
                        outln!("           {line}");
                    }
                }
            }
            Err(refusal) if refusal.check == Check::PredicateType => {
                outln!("  skipped  {place}: {}", refusal.reason);
            }
            Err(refusal) => outln!("  rejected {place}: {refusal}"),
        }
    }
}

pub(crate) async fn tree(args: TreeArgs) -> Result<ExitCode, CliError> {
    let reference = ImageReference::parse(&args.image)?;
    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let digest = crate::verify::digest_of(&target).await?;
    let store = &target.store;
    let image = store.describe(&ManifestRef::Digest(digest.clone()));

    // cosign's tag layout: `.sig`, `.att`, `.sbom`, each a manifest of layers.
    let mut tags = BTreeMap::new();
    for tag in [
        Attachment::Signatures.tag(&digest),
        Attachment::Attestations.tag(&digest),
        sbom_tag(&digest),
    ] {
        let Some(fetched) = store.manifest(&ManifestRef::Tag(tag.clone())).await? else {
            continue;
        };
        let layers = match fetched.parse()? {
            Manifest::Image(manifest) => manifest.layers,
            Manifest::Index(_) => Vec::new(),
        };
        let entries: Vec<serde_json::Value> = layers
            .iter()
            .map(|layer| {
                serde_json::json!({
                    "digest": layer.digest.to_string(),
                    "media_type": layer.media_type,
                    "predicate_type": layer.annotations.get("predicateType"),
                })
            })
            .collect();
        tags.insert(tag, entries);
    }
    let listed = referrers::list_referrers(store, &digest, None).await?;
    let referrers_json: Vec<serde_json::Value> = listed
        .iter()
        .map(|r| {
            serde_json::json!({
                "digest": r.descriptor.digest.to_string(),
                "artifact_type": r.artifact_type(),
                "predicate_type": r.descriptor.annotations.get(BUNDLE_PREDICATE_TYPE_ANNOTATION),
                "source": source_name(r.source),
                "artifact_type_from_manifest": r.artifact_type_from_manifest,
            })
        })
        .collect();

    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "image": image,
            "digest": digest.to_string(),
            "tags": tags,
            "referrers": referrers_json,
        })),
        OutputFormat::Text => {
            outln!("📦 Supply chain artifacts of {image}");
            if tags.is_empty() && listed.is_empty() {
                outln!("└── (nothing attached)");
            }
            for (tag, entries) in &tags {
                let kind = match tag.rsplit('.').next() {
                    Some("sig") => "Signatures",
                    Some("att") => "Attestations",
                    _ => "SBOMs",
                };
                outln!("└── 🔐 {kind} in tag {tag}");
                for entry in entries {
                    let predicate = entry["predicate_type"]
                        .as_str()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    outln!(
                        "    └── {}{predicate}",
                        entry["digest"].as_str().unwrap_or_default()
                    );
                }
            }
            if !listed.is_empty() {
                outln!("└── 🔗 Referrers ({})", source_name(listed[0].source));
                for r in &listed {
                    let predicate = r
                        .descriptor
                        .annotations
                        .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    outln!(
                        "    └── {} {}{predicate}",
                        r.artifact_type().unwrap_or("?"),
                        r.descriptor.digest
                    );
                    if r.artifact_type_from_manifest {
                        outln!(
                            "        (listed without artifactType; read from the referrer manifest)"
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
