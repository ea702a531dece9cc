//! `vouch download signature|attestation|sbom IMAGE`: cosign's verbs for printing what is
//! attached to an image as it is stored, without verifying any of it.
//!
//! - `signature` prints each signature of cosign's tag layout (`sha256-<hex>.sig`) as cosign
//!   prints it, one JSON object a line (`Base64Signature`, `Payload`, `Cert`, `Chain`,
//!   `Bundle`, `RFC3161Timestamp`, cosign's `SignedPayload`), then each signature bundle
//!   stored as an OCI 1.1 referrer (a message signature, or a DSSE envelope of cosign v3's
//!   image-signature predicate type), the bundle JSON on one line.
//! - `attestation` prints each DSSE envelope of the `.att` tag, then of each DSSE bundle
//!   referrer that is not an image signature, one a line, as cosign serializes envelopes;
//!   `--predicate-type` keeps those whose in-toto statement has that type.
//! - `sbom` prints each SBOM of the `.sbom` tag (`cosign attach sbom`) with cosign's warning
//!   that it is not verified; without one, the predicate of each CycloneDX or SPDX
//!   attestation (as `vouch sbom --attest` stores them), saying so on standard error.
//!
//! Every read is bounded by the registry crate's limits and one evidence budget per command.
//! Nothing of the kind attached is an input error (exit 2) naming where vouch looked.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::Value;
use vouch_attestations::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, RFC3161_TIMESTAMP_ANNOTATION,
    SignatureLayer,
};
use vouch_attestations::dsse::{self, Envelope};
use vouch_attestations::intoto::{COSIGN_SIGN_PREDICATE_TYPE, Statement};
use vouch_keys::Digest;
use vouch_registry::cosign::{Attachment, SignatureSet, read_attachments, read_sboms, sbom_tag};
use vouch_registry::layers::{self, PlatformSpec};
use vouch_registry::referrers::{self, SIGSTORE_BUNDLE_MEDIA_TYPE};
use vouch_registry::{EvidenceBudget, ImageReference, ManifestRef, RegistryError, Store};
use vouch_verifier::bundle::{Bundle, BundleContent};

use crate::error::CliError;
use crate::output::{refuse_existing, write_file, write_stdout};
use crate::{OutputArgs, RegistryArgs};

#[derive(Args)]
pub(crate) struct DownloadArgs {
    #[command(subcommand)]
    command: DownloadCommand,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum DownloadCommand {
    /// Print the signatures of an image, one JSON object a line, as cosign prints them (its
    /// `.sig` tag), then the signature bundles stored as referrers. Nothing is verified.
    Signature(SignatureArgs),
    /// Print the attestations (DSSE envelopes) of an image, one a line, from its `.att` tag
    /// and its bundle referrers, of --predicate-type when given. Nothing is verified.
    Attestation(AttestationArgs),
    /// Print the SBOMs attached to an image (its `.sbom` tag), or else the predicates of its
    /// SBOM attestations. Nothing is verified: `vouch verify-attestation` checks SBOM
    /// attestations.
    Sbom(SbomArgs),
}

#[derive(Args)]
struct SignatureArgs {
    /// Output format: every line is one JSON object either way (as cosign prints them).
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct AttestationArgs {
    /// Only attestations whose in-toto statement has this predicate type: a URI, or one of
    /// cosign's names (slsaprovenance1, slsaprovenance, cyclonedx, spdxjson, vuln, openvex,
    /// link, custom).
    #[arg(long, value_name = "TYPE")]
    predicate_type: Option<String>,
    /// Output format: every line is one JSON envelope either way (as cosign prints them).
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SbomArgs {
    #[command(flatten)]
    common: Common,
}

/// What every `download` verb takes.
#[derive(Args)]
struct Common {
    /// Write to FILE instead of standard output (refused if FILE exists, unless --force).
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    /// Replace the --output-file file if it exists.
    #[arg(long)]
    force: bool,
    /// For a multi-platform image, what is attached to the manifest of this platform of its
    /// index: os/arch[/variant]. Without it, what is attached to the manifest IMAGE names.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(value_name = "IMAGE")]
    image: String,
}

pub(crate) async fn run(args: DownloadArgs) -> Result<ExitCode, CliError> {
    match args.command {
        DownloadCommand::Signature(args) => {
            // Text and JSON are the same lines: each is already a JSON document.
            let _ = args.output.output;
            signature(&args.common).await
        }
        DownloadCommand::Attestation(args) => {
            let _ = args.output.output;
            attestation(&args.common, args.predicate_type.as_deref()).await
        }
        DownloadCommand::Sbom(args) => sbom(&args.common).await,
    }
}

/// The manifest whose attachments are printed, and where it lives.
struct Subject {
    store: Store,
    digest: Digest,
    /// `registry/repository@sha256:…` (or the layout's), for messages.
    image: String,
}

impl Subject {
    /// Refuses an existing --output-file (unless --force) and a malformed --platform before
    /// any registry is asked; then resolves IMAGE (it must exist) and, with --platform, picks
    /// the platform's manifest of the index it names.
    async fn resolve(common: &Common) -> Result<Self, CliError> {
        let reference = ImageReference::parse(&common.image)?;
        let platform = common
            .platform
            .as_deref()
            .map(PlatformSpec::parse)
            .transpose()
            .map_err(CliError::Usage)?;
        if let Some(path) = &common.output_file {
            refuse_existing(path, common.force)?;
        }
        let client = common.registry.client()?;
        let target = Store::open(&client, &reference)?;
        let resolved = target.resolve().await?;
        let digest = match &platform {
            None => resolved.digest,
            Some(platform) if !resolved.manifest.is_index() => {
                return Err(CliError::Usage(format!(
                    "--platform {platform}: {} is not a multi-platform image (an index); \
                     leave --platform out",
                    target.describe()
                )));
            }
            Some(platform) => {
                let (fetched, _) =
                    layers::image_manifest(&target.store, &resolved.manifest, platform).await?;
                fetched.digest
            }
        };
        let image = target.store.describe(&ManifestRef::Digest(digest.clone()));
        Ok(Self {
            store: target.store,
            digest,
            image,
        })
    }

    fn budget(&self) -> EvidenceBudget {
        EvidenceBudget::for_image(&self.store, &self.digest)
    }

    /// Where vouch looked, for "nothing attached": the tag and the referrers.
    fn looked(&self, tag: &str) -> String {
        format!(
            "{} and the Sigstore bundle referrers of {}",
            self.store.describe(&ManifestRef::Tag(tag.to_owned())),
            self.digest
        )
    }
}

/// Writes `out` to --output-file (atomically, never over an existing file without --force),
/// or to standard output (a closed one ends quietly).
fn emit(common: &Common, out: &[u8]) -> Result<ExitCode, CliError> {
    match &common.output_file {
        Some(path) => write_file(path, out, 0o644, common.force)?,
        None => write_stdout(out),
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on standard error that one attached item is left out, and why.
fn skipped(what: &str, reason: impl std::fmt::Display) {
    eprintln!("vouch: warning: skipping {what}: {reason}");
}

/// A layer of a tag-layout manifest, for messages: `sha256-<hex>.sig layer 2`.
fn layer_name(set: &SignatureSet, layer: &SignatureLayer) -> String {
    format!("{} layer {}", set.tag, layer.index)
}

/// A signature as cosign's `download signature` prints it (cosign `pkg/cosign/fetch.go`,
/// `SignedPayload`): the field names are cosign's. `Payload` is the base64 of the signed
/// payload (Go's encoding of a byte slice); `Cert` and `Chain` are the PEM of the layer's
/// annotations (cosign marshals parsed certificates, which only Go reads back); `Bundle` and
/// `RFC3161Timestamp` are the JSON objects of theirs.
#[derive(Serialize)]
struct SignedPayload<'a> {
    #[serde(rename = "Base64Signature")]
    base64_signature: &'a str,
    #[serde(rename = "Payload")]
    payload: String,
    #[serde(rename = "Cert")]
    cert: Option<&'a str>,
    #[serde(rename = "Chain")]
    chain: Option<&'a str>,
    #[serde(rename = "Bundle")]
    bundle: Option<Value>,
    #[serde(rename = "RFC3161Timestamp")]
    rfc3161_timestamp: Option<Value>,
}

/// The JSON object in annotation `key` of `layer`; `None` when absent, or (with a warning)
/// when it is not JSON.
fn annotation_json(set: &SignatureSet, layer: &SignatureLayer, key: &str) -> Option<Value> {
    let text = layer.annotations.get(key)?;
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            eprintln!(
                "vouch: warning: {}: the {key} annotation is not JSON ({e}); printed as null",
                layer_name(set, layer)
            );
            None
        }
    }
}

/// One line for a tag-layout signature layer, or `None` (with a warning) for a layer that
/// holds no signature or whose payload could not be read.
fn signature_line(set: &SignatureSet, layer: &SignatureLayer) -> Option<Vec<u8>> {
    let name = layer_name(set, layer);
    let payload = match &layer.payload {
        Ok(payload) => payload,
        Err(reason) => {
            skipped(&name, reason);
            return None;
        }
    };
    let Some(signature) = layer.signature() else {
        skipped(&name, "it has no signature annotation");
        return None;
    };
    let line = SignedPayload {
        base64_signature: signature,
        payload: STANDARD.encode(payload),
        cert: layer
            .annotations
            .get(CERTIFICATE_ANNOTATION)
            .map(String::as_str),
        chain: layer.annotations.get(CHAIN_ANNOTATION).map(String::as_str),
        bundle: annotation_json(set, layer, BUNDLE_ANNOTATION),
        rfc3161_timestamp: annotation_json(set, layer, RFC3161_TIMESTAMP_ANNOTATION),
    };
    // Plain data always serializes.
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    Some(bytes)
}

/// A Sigstore bundle listed as a referrer of the image: fetched within the limits, read for
/// form only (nothing is verified).
struct ReferredBundle {
    referrer: Digest,
    /// The bundle as stored.
    bytes: Vec<u8>,
    bundle: Bundle,
}

impl ReferredBundle {
    fn name(&self) -> String {
        format!("the bundle referrer {}", self.referrer)
    }

    /// The bundle JSON on one line, as stored but for whitespace.
    fn line(&self) -> Vec<u8> {
        // The bundle was read as JSON, so it parses as a value again.
        let mut line = serde_json::from_slice::<Value>(&self.bytes)
            .map(|value| value.to_string().into_bytes())
            .unwrap_or_else(|_| self.bytes.clone());
        line.push(b'\n');
        line
    }

    /// The DSSE envelope of a `dsse-envelope` bundle.
    fn envelope(&self) -> Option<Envelope> {
        match &self.bundle.content {
            BundleContent::DsseEnvelope(envelope) => Some(Envelope {
                payload: envelope.payload.clone(),
                payload_type: envelope.payload_type.clone(),
                signatures: vec![dsse::Signature {
                    keyid: envelope.signature.keyid.clone(),
                    sig: envelope.signature.sig.clone(),
                }],
            }),
            BundleContent::MessageSignature(_) => None,
        }
    }
}

/// The Sigstore bundles listed as referrers of the subject, each fetched (eight at a time)
/// within the per-payload limit and the command's budget. A bundle that cannot be had intact
/// or does not read as a bundle is left out with a warning; a registry failure or the budget
/// running out ends the command.
async fn referred_bundles(
    subject: &Subject,
    budget: &EvidenceBudget,
) -> Result<Vec<ReferredBundle>, CliError> {
    let store = &subject.store;
    let listed =
        referrers::list_referrers(store, &subject.digest, Some(SIGSTORE_BUNDLE_MEDIA_TYPE)).await?;
    let limit = store.limits().max_signature_blob_bytes;
    let fetched: Vec<_> = futures_util::stream::iter(listed)
        .map(|referrer| async move {
            let blob = referrers::fetch_referrer_blob(store, &referrer, limit, budget).await;
            (referrer, blob)
        })
        .buffered(8)
        .collect()
        .await;
    let mut bundles = Vec::new();
    for (referrer, blob) in fetched {
        let digest = referrer.descriptor.digest;
        let name = format!("the bundle referrer {digest}");
        match blob {
            Err(e @ RegistryError::EvidenceTooLarge { .. }) => return Err(e.into()),
            Err(e) if !e.is_input_error() && e.is_transient() => return Err(e.into()),
            Err(e) => skipped(&name, e),
            Ok(blob) => match Bundle::from_json(&blob.bytes) {
                Ok(bundle) => bundles.push(ReferredBundle {
                    referrer: digest,
                    bytes: blob.bytes,
                    bundle,
                }),
                Err(e) => skipped(&name, e),
            },
        }
    }
    Ok(bundles)
}

/// The in-toto statement of `envelope`, or why it has none.
fn statement(envelope: &Envelope) -> Result<Statement, String> {
    Statement::from_envelope(envelope).map_err(|e| e.to_string())
}

async fn signature(common: &Common) -> Result<ExitCode, CliError> {
    let subject = Subject::resolve(common).await?;
    let budget = subject.budget();
    let set = read_attachments(
        &subject.store,
        &subject.digest,
        Attachment::Signatures,
        &budget,
    )
    .await?;
    let mut out = Vec::new();
    let mut found = 0;
    for layer in &set.layers {
        if let Some(line) = signature_line(&set, layer) {
            out.extend(line);
            found += 1;
        }
    }
    for bundle in referred_bundles(&subject, &budget).await? {
        let is_signature = match bundle.envelope() {
            None => true,
            Some(envelope) => match statement(&envelope) {
                Ok(statement) => statement.predicate_type() == COSIGN_SIGN_PREDICATE_TYPE,
                Err(reason) => {
                    skipped(&bundle.name(), reason);
                    false
                }
            },
        };
        if is_signature {
            out.extend(bundle.line());
            found += 1;
        }
    }
    if found == 0 {
        return Err(CliError::NothingAttached {
            what: "signatures".into(),
            image: subject.image.clone(),
            looked: subject.looked(&set.tag),
        });
    }
    emit(common, &out)
}

/// The predicate type URI `--predicate-type` names: a URI, or one of cosign's names.
fn predicate_type(name: &str) -> Result<String, CliError> {
    vouch_attestations::intoto::predicate_type_uri(name).ok_or_else(|| {
        CliError::Usage(format!(
            "--predicate-type {name:?} is neither a known predicate type (slsaprovenance1, \
             slsaprovenance, cyclonedx, spdxjson, vuln, openvex, link, custom) nor a URI"
        ))
    })
}

/// The attestations of the subject, in order (the `.att` tag's layers, then the DSSE bundle
/// referrers that are not image signatures), each with its statement; those that cannot be
/// read are left out with a warning.
async fn attestations(
    subject: &Subject,
    budget: &EvidenceBudget,
) -> Result<(String, Vec<(Envelope, Statement)>), CliError> {
    let set = read_attachments(
        &subject.store,
        &subject.digest,
        Attachment::Attestations,
        budget,
    )
    .await?;
    let mut found = Vec::new();
    for layer in &set.layers {
        let name = layer_name(&set, layer);
        let read = layer
            .payload
            .clone()
            .and_then(|bytes| Envelope::from_slice(&bytes).map_err(|e| e.to_string()))
            .and_then(|envelope| statement(&envelope).map(|statement| (envelope, statement)));
        match read {
            Ok(pair) => found.push(pair),
            Err(reason) => skipped(&name, reason),
        }
    }
    for bundle in referred_bundles(subject, budget).await? {
        let Some(envelope) = bundle.envelope() else {
            continue;
        };
        match statement(&envelope) {
            Ok(statement) if statement.predicate_type() == COSIGN_SIGN_PREDICATE_TYPE => {}
            Ok(statement) => found.push((envelope, statement)),
            Err(reason) => skipped(&bundle.name(), reason),
        }
    }
    Ok((set.tag, found))
}

async fn attestation(common: &Common, wanted: Option<&str>) -> Result<ExitCode, CliError> {
    let wanted = wanted.map(predicate_type).transpose()?;
    let subject = Subject::resolve(common).await?;
    let budget = subject.budget();
    let (tag, found) = attestations(&subject, &budget).await?;
    let mut out = Vec::new();
    let mut others = BTreeSet::new();
    for (envelope, statement) in &found {
        if wanted
            .as_deref()
            .is_some_and(|wanted| statement.predicate_type() != wanted)
        {
            others.insert(statement.predicate_type().to_owned());
            continue;
        }
        out.extend(envelope.to_vec());
        out.push(b'\n');
    }
    if out.is_empty() {
        let what = match &wanted {
            Some(wanted) => format!("attestations of predicate type {wanted}"),
            None => "attestations".into(),
        };
        let mut looked = subject.looked(&tag);
        if !others.is_empty() {
            let others: Vec<String> = others.into_iter().collect();
            looked.push_str(&format!(
                "; found only other predicate types: {}",
                others.join(", ")
            ));
        }
        return Err(CliError::NothingAttached {
            what,
            image: subject.image.clone(),
            looked,
        });
    }
    emit(common, &out)
}

/// The predicate types of SBOM attestations: CycloneDX and SPDX, as `vouch sbom --attest`
/// and `cosign attest --type cyclonedx|spdxjson` write them.
const SBOM_PREDICATE_TYPES: [&str; 2] = [
    vouch_sbom::cyclonedx::PREDICATE_TYPE,
    vouch_sbom::spdx::PREDICATE_TYPE,
];

async fn sbom(common: &Common) -> Result<ExitCode, CliError> {
    let subject = Subject::resolve(common).await?;
    let budget = subject.budget();
    let set = read_sboms(&subject.store, &subject.digest, &budget).await?;
    let mut out = Vec::new();
    let mut warned = false;
    for layer in &set.layers {
        match &layer.payload {
            Ok(document) => {
                if !warned {
                    // cosign's words: an SBOM in the `.sbom` tag is signed by no one.
                    eprintln!(
                        "WARNING: Downloading SBOMs this way does not ensure its authenticity. \
                         If you want to ensure a tamper-proof SBOM, attest it (vouch sbom \
                         --attest) and check it with 'vouch verify-attestation --type \
                         cyclonedx|spdxjson <image uri>'."
                    );
                    warned = true;
                }
                eprintln!("Found SBOM of media type: {}", layer.media_type);
                out.extend(document);
                out.push(b'\n');
            }
            Err(reason) => skipped(&layer_name(&set, layer), reason),
        }
    }
    if !out.is_empty() {
        return emit(common, &out);
    }

    // No SBOM attached: the predicates of SBOM attestations, unverified.
    let (att_tag, found) = attestations(&subject, &budget).await?;
    let mut count = 0;
    for (_, statement) in &found {
        if !SBOM_PREDICATE_TYPES.contains(&statement.predicate_type()) {
            continue;
        }
        match statement.predicate() {
            // A text SBOM (SPDX tag-value) is attested as a JSON string.
            Some(Value::String(text)) => out.extend(text.as_bytes()),
            Some(predicate) => out.extend(predicate.to_string().into_bytes()),
            None => continue,
        }
        out.push(b'\n');
        count += 1;
    }
    if count == 0 {
        return Err(CliError::NothingAttached {
            what: "SBOMs".into(),
            image: subject.image.clone(),
            looked: format!(
                "{}, {} and the Sigstore bundle referrers of {} for CycloneDX or SPDX \
                 attestations",
                subject
                    .store
                    .describe(&ManifestRef::Tag(sbom_tag(&subject.digest))),
                subject.store.describe(&ManifestRef::Tag(att_tag)),
                subject.digest
            ),
        });
    }
    eprintln!(
        "vouch: {} has no SBOM in {}; printing the predicate of {}, NOT verified \
         (vouch verify-attestation --type cyclonedx|spdxjson checks them)",
        subject.image,
        set.tag,
        crate::output::count(count, "SBOM attestation")
    );
    emit(common, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_predicate_names_map_to_their_uris_and_others_are_refused() {
        assert_eq!(
            predicate_type("cyclonedx").unwrap(),
            vouch_sbom::cyclonedx::PREDICATE_TYPE
        );
        assert_eq!(
            predicate_type("spdxjson").unwrap(),
            vouch_sbom::spdx::PREDICATE_TYPE
        );
        assert_eq!(
            predicate_type("slsaprovenance").unwrap(),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(
            predicate_type("https://example.com/x").unwrap(),
            "https://example.com/x"
        );
        assert!(matches!(
            predicate_type("nonsense"),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn signed_payload_has_cosigns_field_names_in_cosigns_order() {
        let line = SignedPayload {
            base64_signature: "c2ln",
            payload: STANDARD.encode(b"{}"),
            cert: None,
            chain: None,
            bundle: None,
            rfc3161_timestamp: None,
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"Base64Signature":"c2ln","Payload":"e30=","Cert":null,"Chain":null,"Bundle":null,"RFC3161Timestamp":null}"#
        );
    }
}
