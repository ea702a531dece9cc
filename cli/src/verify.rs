//! `vouch verify` and `vouch triangulate`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vouch_keys::Digest;
use vouch_registry::cosign::{Attachment, signature_tag};
use vouch_registry::{ImageReference, ManifestRef, Store, Target};
use vouch_verifier::cosign::{
    CosignRequirements, CosignVerdict, check_annotations, verify_image_signatures,
};

use crate::bundles::{ImageBundle, image_evidence, source_name};
use crate::error::CliError;
use crate::output::{OutputFormat, none_holds, outln, print_json};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The public key (PEM SubjectPublicKeyInfo, as `generate-key-pair` writes PREFIX.pub).
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
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

struct Outcome {
    image: String,
    verdict: CosignVerdict,
    signature_tag: String,
    found_manifest: bool,
    /// Sigstore bundle signatures found as referrers (attestations left out).
    bundles: Vec<ImageBundle>,
}

impl Outcome {
    fn is_verified(&self) -> bool {
        self.verdict.is_verified() || self.bundles.iter().any(|b| b.result.is_ok())
    }
}

/// Keeps the bundles that are image signatures (not attestations) and checks the required
/// annotations against what their statement's predicate records.
fn signature_bundles(
    found: Vec<ImageBundle>,
    annotations: &BTreeMap<String, String>,
) -> Vec<ImageBundle> {
    found
        .into_iter()
        .filter(ImageBundle::is_signature)
        .map(|mut b| {
            if let Ok(verified) = &b.result {
                let recorded = verified
                    .bundle
                    .statement
                    .as_ref()
                    .and_then(|s| s.get("predicate"))
                    .and_then(|p| p.get("annotations"));
                if let Err(rejection) =
                    check_annotations(annotations, |k| recorded.and_then(|r| r.get(k)))
                {
                    b.result = Err(rejection.refusal());
                }
            }
            b
        })
        .collect()
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
    let key = crate::trust::public_key(&args.key)?;
    let requirements = CosignRequirements {
        key,
        annotations: args.annotations.into_iter().collect::<BTreeMap<_, _>>(),
    };
    let client = args.registry.client()?;

    // Every image gets its result, an error included; the exit code is the worst of them.
    let mut outcomes = Vec::new();
    for (image, reference) in args.images.iter().zip(&references) {
        let outcome = verify_one(&client, reference, &requirements).await;
        if let Err(error) = &outcome {
            // As every command reports an error: one line on standard error.
            eprintln!("vouch: {error}");
        }
        outcomes.push((image, outcome));
    }

    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::Value::Array(
            outcomes
                .iter()
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
            for (_, outcome) in &outcomes {
                if let Ok(outcome) = outcome {
                    print_outcome(outcome, &requirements);
                }
            }
        }
    }
    let worst = outcomes
        .iter()
        .map(|(_, outcome)| match outcome {
            Ok(outcome) if outcome.is_verified() => 0,
            Ok(_) => 1,
            Err(error) => error.code(),
        })
        .max()
        .unwrap_or(0);
    Ok(ExitCode::from(worst))
}

/// The outcome of verifying one image, or why it could not be verified.
async fn verify_one(
    client: &vouch_registry::RegistryClient,
    reference: &ImageReference,
    requirements: &CosignRequirements,
) -> Result<Outcome, CliError> {
    let target = Store::open(client, reference)?;
    let digest = digest_of(&target).await?;
    tracing::info!("{reference}: manifest {digest}");
    let (signatures, found) = image_evidence(
        &target.store,
        &digest,
        Attachment::Signatures,
        &requirements.key,
    )
    .await?;
    tracing::info!(
        "{reference}: {} signature layer(s) under {}, {} Sigstore bundle referrer(s)",
        signatures.layers.len(),
        signatures.tag,
        found.len()
    );
    let verdict = verify_image_signatures(&digest, &signatures.layers, requirements);
    tracing::info!(
        "{reference}: {} signature(s) verified with key {}, {} rejected",
        verdict.verified.len() + found.iter().filter(|b| b.result.is_ok()).count(),
        requirements.key.fingerprint(),
        verdict.rejected.len() + found.iter().filter(|b| b.result.is_err()).count()
    );
    Ok(Outcome {
        image: target.store.describe(&ManifestRef::Digest(digest)),
        verdict,
        signature_tag: signatures.tag,
        found_manifest: signatures.manifest_digest.is_some(),
        bundles: signature_bundles(found, &requirements.annotations),
    })
}

fn denial_summary(outcome: &Outcome) -> String {
    if !outcome.bundles.is_empty() {
        none_holds(
            outcome.verdict.rejected.len() + outcome.bundles.len(),
            "signature",
        )
    } else if !outcome.found_manifest {
        format!(
            "no signatures found ({} does not exist, no Sigstore bundle referrers)",
            outcome.signature_tag
        )
    } else if outcome.verdict.rejected.is_empty() {
        format!("{} holds no signature layers", outcome.signature_tag)
    } else {
        none_holds(outcome.verdict.rejected.len(), "signature")
    }
}

fn print_outcome(outcome: &Outcome, requirements: &CosignRequirements) {
    let verdict = &outcome.verdict;
    if outcome.is_verified() {
        outln!("Verified {}", outcome.image);
        outln!(
            "  checks: signature over the payload with {} key {}, payload names this digest{}",
            requirements.key.key_type(),
            requirements.key.fingerprint(),
            if requirements.annotations.is_empty() {
                String::new()
            } else {
                ", required annotations present".to_owned()
            }
        );
    } else {
        outln!("DENIED {}: {}", outcome.image, denial_summary(outcome));
    }
    for signature in &verdict.verified {
        let annotations: Vec<String> = signature
            .payload
            .optional()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect();
        outln!(
            "  ok       layer {}: docker-reference {}{}",
            signature.layer,
            signature.payload.docker_reference(),
            if annotations.is_empty() {
                String::new()
            } else {
                format!(", annotations {}", annotations.join(" "))
            }
        );
    }
    for rejected in &verdict.rejected {
        outln!(
            "  rejected layer {}: [{}] {}",
            rejected.layer,
            rejected.reason.check(),
            rejected.reason
        );
    }
    for bundle in &outcome.bundles {
        match &bundle.result {
            Ok(_) => outln!("  ok       {}: Sigstore bundle", bundle.describe()),
            Err(refusal) => outln!("  rejected {}: {refusal}", bundle.describe()),
        }
    }
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let verdict = &outcome.verdict;
    serde_json::json!({
        "image": outcome.image,
        "digest": verdict.image.to_string(),
        "verified": outcome.is_verified(),
        "signature_tag": outcome.signature_tag,
        "reason": (!outcome.is_verified()).then(|| denial_summary(outcome)),
        "signatures": verdict.verified.iter().map(|s| serde_json::json!({
            "source": format!("tag {}", outcome.signature_tag),
            "layer": s.layer,
            "key_fingerprint": s.key_fingerprint,
            "signature": s.signature,
            "payload": s.payload,
        })).chain(outcome.bundles.iter().filter_map(|b| b.result.as_ref().ok().map(|v| serde_json::json!({
            "source": source_name(b.referrer.source),
            "referrer": b.referrer.descriptor.digest.to_string(),
            "key_fingerprint": v.bundle.key_fingerprint,
            "statement": v.bundle.statement,
        })))).collect::<Vec<_>>(),
        "rejected": verdict.rejected.iter().map(|r| serde_json::json!({
            "source": format!("tag {}", outcome.signature_tag),
            "layer": r.layer,
            "check": r.reason.check(),
            "reason": r.reason.to_string(),
        })).chain(outcome.bundles.iter().filter_map(|b| b.result.as_ref().err().map(|refusal| serde_json::json!({
            "source": source_name(b.referrer.source),
            "referrer": b.referrer.descriptor.digest.to_string(),
            "check": refusal.check,
            "reason": refusal.reason,
        })))).collect::<Vec<_>>(),
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
        AttachmentType::Sbom => Some(format!(
            "{}-{}.sbom",
            digest.algorithm().name(),
            digest.hex()
        )),
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
