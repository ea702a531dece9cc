//! `vouch sign`: resolve each image to its digest once, sign the simple-signing payload for
//! it, and append the signature to the image's `sha256-<hex>.sig` manifest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use clap::Args;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::Digest;
use vouch_registry::cosign::{self, NewSignature};
use vouch_registry::manifest::Manifest;
use vouch_registry::{ImageReference, Store, Target};

use crate::error::CliError;
use crate::output::{OutputFormat, print_json};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct SignArgs {
    /// The private key (cosign's encrypted format, or PKCS#8 / SEC1 / PKCS#1 PEM).
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// Annotation recorded in the signed payload's "optional" section (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = crate::parse_annotation)]
    annotations: Vec<(String, String)>,
    /// For a multi-platform index, also sign every manifest it lists.
    #[arg(long, short = 'r')]
    recursive: bool,
    /// Write the base64 signature to FILE (needs exactly one signed manifest).
    #[arg(long, value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Write the signed payload to FILE (needs exactly one signed manifest).
    #[arg(long, value_name = "FILE")]
    output_payload: Option<PathBuf>,
    /// Push the signatures (false: only write --output-* files).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    upload: bool,
    /// Accept an empty password for an encrypted key.
    #[arg(long)]
    allow_empty_password: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Images: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// One manifest to sign, with everything needed to push it.
struct Signing {
    target: Target,
    image: String,
    digest: Digest,
    payload: Vec<u8>,
    signature: String,
}

pub(crate) async fn run(args: SignArgs) -> Result<ExitCode, CliError> {
    let references = args
        .images
        .iter()
        .map(|image| ImageReference::parse(image))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.upload && args.output_signature.is_none() && args.output_payload.is_none() {
        return Err(CliError::Usage(
            "--upload=false without --output-signature or --output-payload would do nothing".into(),
        ));
    }
    // The key first: a wrong password must not cost a registry round trip.
    let key = crate::keys::load_private_key(&args.key, args.allow_empty_password)?;
    let annotations: BTreeMap<String, String> = args.annotations.into_iter().collect();
    let client = args.registry.client()?;

    // Resolve and sign everything before pushing anything.
    let mut signings = Vec::new();
    for reference in &references {
        let target = Store::open(&client, reference)?;
        let resolved = target.resolve().await?;
        let mut digests = vec![resolved.digest.clone()];
        if args.recursive
            && let Manifest::Index(index) = resolved.manifest.parse()?
        {
            digests.extend(index.manifests.iter().map(|d| d.digest.clone()));
        }
        for digest in digests {
            let payload = SimpleSigning::new(
                target.store.docker_reference(),
                digest.clone(),
                &annotations,
            )
            .to_vec();
            let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload)?);
            signings.push(Signing {
                image: target
                    .store
                    .describe(&vouch_registry::ManifestRef::Digest(digest.clone())),
                target: target.clone(),
                digest,
                payload,
                signature,
            });
        }
    }
    let wants_files = args.output_signature.is_some() || args.output_payload.is_some();
    if wants_files && signings.len() != 1 {
        return Err(CliError::Usage(format!(
            "--output-signature and --output-payload need exactly one signed manifest; \
             this would sign {}",
            signings.len()
        )));
    }

    let mut results = Vec::new();
    for signing in &signings {
        let attached = if args.upload {
            let new = NewSignature {
                payload: signing.payload.clone(),
                signature: signing.signature.clone(),
                annotations: BTreeMap::new(),
            };
            Some(cosign::attach_signature(&signing.target.store, &signing.digest, &new).await?)
        } else {
            None
        };
        results.push((signing, attached));
    }
    if let [only] = signings.as_slice() {
        if let Some(path) = &args.output_signature {
            write_output(path, only.signature.as_bytes())?;
        }
        if let Some(path) = &args.output_payload {
            write_output(path, &only.payload)?;
        }
    }

    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::Value::Array(
            results
                .iter()
                .map(|(signing, attached)| {
                    serde_json::json!({
                        "image": signing.image,
                        "digest": signing.digest.to_string(),
                        "signature": signing.signature,
                        "payload": serde_json::from_slice::<serde_json::Value>(&signing.payload).unwrap_or_default(),
                        "key_fingerprint": key.public_key().fingerprint(),
                        "pushed": attached.as_ref().map(|a| serde_json::json!({
                            "tag": a.tag,
                            "manifest_digest": a.manifest_digest.to_string(),
                            "signatures": a.layers,
                            "already_present": a.already_present,
                        })),
                    })
                })
                .collect(),
        )),
        OutputFormat::Text => {
            for (signing, attached) in &results {
                match attached {
                    Some(a) if a.already_present => println!(
                        "{}: this signature was already present in {} ({} signatures)",
                        signing.image, a.tag, a.layers
                    ),
                    Some(a) => println!(
                        "Signed {} ({} now holds {} signature{})",
                        signing.image,
                        a.tag,
                        a.layers,
                        if a.layers == 1 { "" } else { "s" }
                    ),
                    None => println!("Signed {} (not pushed)", signing.image),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_output(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|source| CliError::Write {
        path: path.to_owned(),
        source,
    })
}
