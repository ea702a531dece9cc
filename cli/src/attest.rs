//! `vouch attest`, `vouch verify-attestation` and `vouch tree`: in-toto attestations about
//! images, stored as Sigstore bundles referring to the image (cosign v3's format), and a view
//! of everything attached to an image.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vouch_keys::PublicKey;
use vouch_registry::cosign::{is_cosign_tag, signature_tag};
use vouch_registry::manifest::Manifest;
use vouch_registry::referrers::{self, BUNDLE_PREDICATE_TYPE_ANNOTATION};
use vouch_registry::{ImageReference, ManifestRef, Store};

use crate::blob::predicate_type_uri;
use crate::bundles::{self, COSIGN_SIGN_PREDICATE, source_name};
use crate::error::{CliError, read_input};
use crate::output::{OutputFormat, print_json};
use crate::sign::{recorded_text, subject_descriptor};
use crate::{OutputArgs, RegistryArgs};

/// Where attestations go. Only cosign v3's format for now: a Sigstore bundle as a referrer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AttestFormat {
    /// A Sigstore bundle v0.3 (DSSE) as an OCI 1.1 referrer of the image.
    V3,
}

#[derive(Args)]
pub(crate) struct AttestArgs {
    /// The private key (cosign's encrypted format, or PKCS#8 / SEC1 / PKCS#1 PEM).
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// The predicate: a JSON document.
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,
    /// The predicate type: slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, vuln,
    /// custom, or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    predicate_type: String,
    /// How the attestation is stored.
    #[arg(long, value_enum, default_value_t = AttestFormat::V3)]
    bundle_format: AttestFormat,
    /// Accept an empty password for an encrypted key.
    #[arg(long)]
    allow_empty_password: bool,
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
    /// The public key (PEM SubjectPublicKeyInfo).
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// Only attestations of this predicate type (shorthand or URI).
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The image.
    #[arg(value_name = "IMAGE")]
    image: String,
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
    let predicate_type = predicate_type_uri(&args.predicate_type)?;
    let predicate_bytes = std::fs::read(&args.predicate).map_err(|source| CliError::ReadInput {
        path: args.predicate.clone(),
        source,
    })?;
    let predicate: serde_json::Value =
        serde_json::from_slice(&predicate_bytes).map_err(|e| CliError::Input {
            path: args.predicate.clone(),
            reason: format!("not JSON: {e}"),
        })?;
    let key = crate::keys::load_private_key(&args.key, args.allow_empty_password)?;
    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let resolved = target.resolve().await?;
    let subject = subject_descriptor(
        &resolved.manifest.media_type,
        &resolved.digest,
        resolved.manifest.bytes.len() as u64,
    );
    let statement = bundles::image_statement(
        &target.store.docker_reference(),
        &resolved.digest,
        &predicate_type,
        predicate,
    )?;
    let bundle = bundles::dsse_bundle(&key, &statement)?;
    let AttestFormat::V3 = args.bundle_format;
    let pushed =
        bundles::push_bundle(&target.store, &subject, &bundle, Some(&predicate_type)).await?;
    let image = target
        .store
        .describe(&ManifestRef::Digest(resolved.digest.clone()));
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "image": image,
            "digest": resolved.digest.to_string(),
            "predicate_type": predicate_type,
            "referrer": pushed.descriptor.digest.to_string(),
            "recorded": recorded_text(&pushed.recorded),
            "key_fingerprint": key.public_key().fingerprint(),
        })),
        OutputFormat::Text => println!(
            "Attested {image} ({predicate_type}): Sigstore bundle referrer {}, {}",
            pushed.descriptor.digest,
            recorded_text(&pushed.recorded)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn verify_attestation(args: VerifyAttestationArgs) -> Result<ExitCode, CliError> {
    let reference = ImageReference::parse(&args.image)?;
    let wanted = args
        .predicate_type
        .as_deref()
        .map(predicate_type_uri)
        .transpose()?;
    let key_text = read_input(&args.key)?;
    let key = PublicKey::from_pem(&key_text).map_err(|source| CliError::Key {
        path: args.key.clone(),
        source,
    })?;
    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let digest = crate::verify::digest_of(&target).await?;
    let image = target.store.describe(&ManifestRef::Digest(digest.clone()));
    let found = bundles::verify_image_bundles(&target.store, &digest, &key).await?;
    // Attestations only: image signatures are `vouch verify`'s; filter by the type asked for,
    // using the verified statement when there is one, else the listed annotation.
    let relevant: Vec<_> = found
        .into_iter()
        .filter(|b| {
            let kind = b.predicate_type.clone().or_else(|| {
                b.referrer
                    .descriptor
                    .annotations
                    .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                    .cloned()
            });
            match kind.as_deref() {
                Some(COSIGN_SIGN_PREDICATE) => false,
                Some(t) => wanted.as_deref().is_none_or(|w| w == t),
                None => wanted.is_none() && b.result.is_err(),
            }
        })
        .collect();
    let verified = relevant.iter().filter(|b| b.result.is_ok()).count();
    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "image": image,
            "digest": digest.to_string(),
            "verified": verified > 0,
            "predicate_type": wanted,
            "attestations": relevant.iter().filter_map(|b| b.result.as_ref().ok().map(|v| serde_json::json!({
                "source": source_name(b.referrer.source),
                "referrer": b.referrer.descriptor.digest.to_string(),
                "predicate_type": b.predicate_type,
                "key_fingerprint": v.key_fingerprint,
                "statement": v.statement,
            }))).collect::<Vec<_>>(),
            "rejected": relevant.iter().filter_map(|b| b.result.as_ref().err().map(|reason| serde_json::json!({
                "source": source_name(b.referrer.source),
                "referrer": b.referrer.descriptor.digest.to_string(),
                "reason": reason,
            }))).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            if verified > 0 {
                println!(
                    "Verified {verified} attestation{} of {image}",
                    if verified == 1 { "" } else { "s" }
                );
            } else if relevant.is_empty() {
                println!(
                    "DENIED {image}: no attestation{} found",
                    wanted
                        .as_deref()
                        .map(|w| format!(" of type {w}"))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "DENIED {image}: none of the {} attestations holds",
                    relevant.len()
                );
            }
            for bundle in &relevant {
                match (&bundle.result, bundle.predicate()) {
                    (Ok(_), predicate) => {
                        println!(
                            "  ok       {}: {}",
                            bundle.describe(),
                            bundle.predicate_type.as_deref().unwrap_or("")
                        );
                        if let Some(predicate) = predicate {
                            let text = serde_json::to_string_pretty(predicate).unwrap_or_default();
                            for line in text.lines() {
                                println!("           {line}");
                            }
                        }
                    }
                    (Err(reason), _) => println!("  rejected {}: {reason}", bundle.describe()),
                }
            }
        }
    }
    Ok(if verified > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
    for suffix in ["sig", "att", "sbom"] {
        let tag = signature_tag(&digest).replace(".sig", &format!(".{suffix}"));
        debug_assert!(is_cosign_tag(&tag));
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
            println!("📦 Supply chain artifacts of {image}");
            if tags.is_empty() && listed.is_empty() {
                println!("└── (nothing attached)");
            }
            for (tag, entries) in &tags {
                let kind = match tag.rsplit('.').next() {
                    Some("sig") => "Signatures",
                    Some("att") => "Attestations",
                    _ => "SBOMs",
                };
                println!("└── 🔐 {kind} in tag {tag}");
                for entry in entries {
                    let predicate = entry["predicate_type"]
                        .as_str()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    println!(
                        "    └── {}{predicate}",
                        entry["digest"].as_str().unwrap_or_default()
                    );
                }
            }
            if !listed.is_empty() {
                println!("└── 🔗 Referrers ({})", source_name(listed[0].source));
                for r in &listed {
                    let predicate = r
                        .descriptor
                        .annotations
                        .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    println!(
                        "    └── {} {}{predicate}",
                        r.artifact_type().unwrap_or("?"),
                        r.descriptor.digest
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
