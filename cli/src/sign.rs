//! `vouch sign`: resolve each image to its digest once, sign the simple-signing payload for
//! it, and append the signature to the image's `sha256-<hex>.sig` manifest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use clap::Args;
use vouch_attestations::dsse;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::Digest;
use vouch_registry::cosign::{self, NewSignature};
use vouch_registry::manifest::{Descriptor, Manifest};
use vouch_registry::referrers::{AttachedReferrer, Recorded, SIGSTORE_BUNDLE_MEDIA_TYPE};
use vouch_verifier::bundle::Bundle;
use vouch_verifier::verify::Artifact;

use crate::bundles::{self, BundleFormat};
use vouch_registry::{ImageReference, Store, Target};

use crate::error::CliError;
use crate::output::{OutputFormat, Staged, outln, print_json, refuse_existing};
use crate::signing::{Content, Signing, SigningArgs};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// Annotation recorded in the signed payload's "optional" section (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = crate::parse_annotation)]
    annotations: Vec<(String, String)>,
    /// For a multi-platform index, also sign every manifest it lists.
    #[arg(long, short = 'r')]
    recursive: bool,
    /// The image name to record as signed (`critical.identity.docker-reference`) instead of
    /// the repository signed, as cosign's flag: for images that will be pulled under another
    /// name. Policies compare it with the name an image is verified under (`signedIdentity`).
    #[arg(long, value_name = "NAME")]
    sign_container_identity: Option<String>,
    /// Write the base64 signature to FILE (needs exactly one signed manifest).
    #[arg(long, value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Write the signed payload to FILE (needs exactly one signed manifest).
    #[arg(long, value_name = "FILE")]
    output_payload: Option<PathBuf>,
    /// Replace the --output-signature and --output-payload files if they exist.
    #[arg(long)]
    force: bool,
    /// Push the signatures (false: only write --output-* files).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    upload: bool,
    /// Where signatures go: cosign's `.sig` tag layout, or (v3) a Sigstore bundle pushed as
    /// an OCI 1.1 referrer of the image, as cosign v3 stores them.
    #[arg(long, value_enum, default_value_t = BundleFormat::Legacy)]
    bundle_format: BundleFormat,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Images: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// One manifest to sign, with everything needed to push it.
struct Pending {
    target: Target,
    image: String,
    /// The signed manifest (media type, digest, size): a referrer's subject.
    subject: Descriptor,
    digest: Digest,
    payload: Vec<u8>,
    /// The raw signature (over the payload, or over its DSSE PAE for v3).
    signature: Vec<u8>,
    /// The signature sealed with what the services added (certificate, log entries,
    /// timestamps), verified.
    bundle: Bundle,
}

impl Pending {
    /// The signature as cosign stores and prints it: standard base64, padded.
    fn signature_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.signature)
    }
}

/// What was pushed for one signing.
enum Pushed {
    Tag(cosign::Attached),
    Referrer(Box<AttachedReferrer>),
}

pub(crate) async fn run(args: SignArgs) -> Result<ExitCode, CliError> {
    if let Some(name) = &args.sign_container_identity {
        vouch_registry::Reference::parse(name)
            .map_err(|e| CliError::Usage(format!("--sign-container-identity {name:?}: {e}")))?;
    }
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
    // Output files next: one that is in the way must stop the command before it pushes.
    let outputs: Vec<&PathBuf> = [&args.output_signature, &args.output_payload]
        .into_iter()
        .flatten()
        .collect();
    if let [signature, payload] = outputs.as_slice()
        && signature == payload
    {
        return Err(CliError::Usage(format!(
            "--output-signature and --output-payload both name {}",
            signature.display()
        )));
    }
    for path in &outputs {
        refuse_existing(path, args.force)?;
    }
    // The signer first: a wrong password or a refused token must not cost a registry round
    // trip.
    let signing = Signing::prepare(&args.signing).await?;
    if args.bundle_format == BundleFormat::Legacy {
        signing.check_tag_layout()?;
    }
    let annotations: BTreeMap<String, String> = args.annotations.into_iter().collect();
    let client = args.registry.client()?;

    // Resolve and sign everything before pushing anything.
    let mut signings = Vec::new();
    for reference in &references {
        let target = Store::open(&client, reference)?;
        let resolved = target.resolve().await?;
        let mut subjects = vec![subject_descriptor(
            &resolved.manifest.media_type,
            &resolved.digest,
            resolved.manifest.bytes.len() as u64,
        )];
        if args.recursive
            && let Manifest::Index(index) = resolved.manifest.parse()?
        {
            subjects.extend(
                index
                    .manifests
                    .iter()
                    .map(|d| subject_descriptor(&d.media_type, &d.digest, d.size)),
            );
        }
        for subject in subjects {
            let digest = subject.digest.clone();
            let signed_name = args
                .sign_container_identity
                .clone()
                .unwrap_or_else(|| target.store.docker_reference());
            let payload = match args.bundle_format {
                BundleFormat::Legacy => {
                    SimpleSigning::new(signed_name, digest.clone(), &annotations).to_vec()
                }
                BundleFormat::V3 => bundles::image_statement(
                    &signed_name,
                    &digest,
                    bundles::COSIGN_SIGN_PREDICATE,
                    bundles::predicate_annotations(&annotations),
                )?
                .to_vec(),
            };
            let (signature, content, artifact_digest) = match args.bundle_format {
                BundleFormat::Legacy => {
                    let signature = signing.sign(&payload)?;
                    let content = Content::Message {
                        digest: Digest::compute(
                            signing.key_type().message_digest_algorithm(),
                            &payload,
                        ),
                        signature: signature.clone(),
                    };
                    (signature, content, None)
                }
                BundleFormat::V3 => {
                    let signature =
                        signing.sign(&dsse::pae(dsse::IN_TOTO_PAYLOAD_TYPE, &payload))?;
                    let content = Content::Dsse {
                        payload_type: dsse::IN_TOTO_PAYLOAD_TYPE.into(),
                        payload: payload.clone(),
                        signature: signature.clone(),
                    };
                    (signature, content, Some(digest.clone()))
                }
            };
            let artifact = match &artifact_digest {
                Some(digest) => Artifact::Digest(digest),
                None => Artifact::Bytes(&payload),
            };
            let bundle = signing.seal(content, artifact).await?.bundle;
            signings.push(Pending {
                image: target
                    .store
                    .describe(&vouch_registry::ManifestRef::Digest(digest.clone())),
                target: target.clone(),
                subject,
                digest,
                payload,
                signature,
                bundle,
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
    for one in &signings {
        let attached = match (args.upload, args.bundle_format) {
            (false, _) => None,
            (true, BundleFormat::Legacy) => {
                let new = NewSignature {
                    payload: one.payload.clone(),
                    signature: one.signature_base64(),
                    annotations: signing.layer_annotations(&one.bundle),
                };
                Some(Pushed::Tag(
                    cosign::attach_signature(&one.target.store, &one.digest, &new).await?,
                ))
            }
            (true, BundleFormat::V3) => {
                // The bundle holds the signature already made, so the --output-* files and
                // the pushed bundle agree.
                Some(Pushed::Referrer(Box::new(
                    bundles::push_bundle(
                        &one.target.store,
                        &one.subject,
                        &one.bundle,
                        Some(bundles::COSIGN_SIGN_PREDICATE),
                    )
                    .await?,
                )))
            }
        };
        results.push((one, attached));
    }
    if let [only] = signings.as_slice() {
        // Both written before either is moved into place.
        let mut staged = Vec::new();
        if let Some(path) = &args.output_signature {
            staged.push(Staged::write(
                path,
                only.signature_base64().as_bytes(),
                0o644,
            )?);
        }
        if let Some(path) = &args.output_payload {
            staged.push(Staged::write(path, &only.payload, 0o644)?);
        }
        for file in staged {
            file.commit(args.force)?;
        }
    }

    match args.output.output {
        OutputFormat::Json => print_json(&serde_json::Value::Array(
            results
                .iter()
                .map(|(one, attached)| {
                    serde_json::json!({
                        "image": one.image,
                        "digest": one.digest.to_string(),
                        "signature": one.signature_base64(),
                        "payload": serde_json::from_slice::<serde_json::Value>(&one.payload).unwrap_or_default(),
                        "key_fingerprint": signing.public_key().fingerprint(),
                        "signer": signing.signer_json(),
                        "format": match args.bundle_format {
                            BundleFormat::Legacy => "legacy",
                            BundleFormat::V3 => "v3",
                        },
                        "pushed": attached.as_ref().map(pushed_json),
                    })
                })
                .collect(),
        )),
        OutputFormat::Text => {
            for (one, attached) in &results {
                match attached {
                    Some(Pushed::Referrer(r)) => outln!(
                        "Signed {} (Sigstore bundle referrer {}, {})",
                        one.image,
                        r.descriptor.digest,
                        recorded_text(&r.recorded)
                    ),
                    Some(Pushed::Tag(a)) if a.already_present => outln!(
                        "{}: this signature was already present in {} ({})",
                        one.image,
                        a.tag,
                        crate::output::count(a.layers, "signature")
                    ),
                    Some(Pushed::Tag(a)) => outln!(
                        "Signed {} ({} now holds {})",
                        one.image,
                        a.tag,
                        crate::output::count(a.layers, "signature")
                    ),
                    None => outln!("Signed {} (not pushed)", one.image),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A referrer's `subject`: the manifest's media type, digest and size only.
pub(crate) fn subject_descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size,
        annotations: BTreeMap::new(),
        platform: None,
        extra: BTreeMap::new(),
    }
}

fn pushed_json(pushed: &Pushed) -> serde_json::Value {
    match pushed {
        Pushed::Tag(a) => serde_json::json!({
            "tag": a.tag,
            "manifest_digest": a.manifest_digest.to_string(),
            "signatures": a.layers,
            "already_present": a.already_present,
        }),
        Pushed::Referrer(r) => serde_json::json!({
            "referrer": r.descriptor.digest.to_string(),
            "artifact_type": SIGSTORE_BUNDLE_MEDIA_TYPE,
            "recorded": recorded_text(&r.recorded),
        }),
    }
}

/// How a referrer was recorded, for messages.
pub(crate) fn recorded_text(recorded: &Recorded) -> String {
    match recorded {
        Recorded::Registry => "listed by the registry's referrers API".into(),
        Recorded::TagSchema {
            tag,
            entries,
            already_listed,
            ..
        } => format!(
            "{} in referrers index {tag}, {entries} referrer{}",
            if *already_listed {
                "already listed"
            } else {
                "listed"
            },
            if *entries == 1 { "" } else { "s" }
        ),
    }
}
