//! `vouch sign-blob`, `vouch attest-blob` and `vouch verify-blob`: Sigstore bundles for files.
//!
//! Signing writes a v0.3 bundle: with `--key`, a public-key hint, and a log entry or timestamp
//! only when `--rekor-url` or `--timestamp-server-url` asks for one; keylessly, the Fulcio
//! certificate, a log entry and the timestamps the signing config names. Whatever the services
//! answer is verified before the bundle is written ([`crate::signing`]). Verifying reads any bundle version, offline, against the embedded
//! public-good trusted root or `--trusted-root`, with an identity policy (Fulcio certificate
//! bundles) or `--key` (key-signed bundles).

use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_keys::files::InputFile;
use vouch_keys::{Digest, DigestAlgorithm, PublicKey};
use vouch_verifier::VerifyError;
use vouch_verifier::bundle::{Bundle, BundleContent};
use vouch_verifier::time::UnixTime;
use vouch_verifier::verify::{Artifact, Options, Policy, Verifier};

use crate::OutputArgs;
use crate::error::{CliError, MAX_BUNDLE_BYTES, read_document};
use crate::output::{OutputFormat, outln, print_json, refuse_existing, write_file};
use crate::signing::{Content, RecordedEntry, Sealed, Signing, SigningArgs};

#[derive(Args)]
pub(crate) struct VerifyBlobArgs {
    /// The Sigstore bundle (any of v0.1, v0.2, v0.3).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "signature",
        conflicts_with = "signature"
    )]
    bundle: Option<PathBuf>,
    /// A signature file instead of a bundle (the older release-asset form, as `sign-blob
    /// --output-signature` writes it: base64, or the raw bytes), checked with --key. It carries
    /// no log entry: pass --insecure-ignore-tlog, as cosign asks offline.
    #[arg(long, value_name = "FILE", requires = "key")]
    signature: Option<PathBuf>,
    /// cosign's certificate file for keyless blob signatures: not supported yet (a bundle
    /// carries the certificate; verify it with --bundle).
    #[arg(long, value_name = "FILE", hide = true)]
    certificate: Option<PathBuf>,
    #[command(flatten)]
    signer: crate::signer::SignerArgs,
    /// Accept a bundle that has no transparency-log entry (cosign's flag): a key-signed one
    /// is then trusted on the key, a keyless one needs an RFC 3161 timestamp instead.
    #[arg(long)]
    insecure_ignore_tlog: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// The file, or `sha256:<hex>` for a file known only by its digest (taken as a digest
    /// only when no file of that name exists).
    #[arg(value_name = "FILE_OR_DIGEST")]
    artifact: String,
}

#[derive(Args)]
pub(crate) struct SignBlobArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// Where to write the bundle.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "output_signature"
    )]
    bundle: Option<PathBuf>,
    /// Also (or only) write the signature, base64, to FILE: the older release-asset form that
    /// `verify-blob --signature` and cosign read.
    #[arg(long, value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Keyless: also write the signing certificate (PEM) to FILE, as cosign does.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    output_certificate: Option<PathBuf>,
    /// Replace the bundle, signature and certificate files if they exist.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// The file to sign.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args)]
pub(crate) struct AttestBlobArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The predicate: a JSON document (at most 16 MiB), or an in-toto statement about FILE
    /// (as `vouch provenance` writes), whose predicate and type are used.
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,
    /// The predicate type: slsaprovenance1, slsaprovenance, slsaprovenance02, cyclonedx,
    /// spdxjson, spdx, vuln, openvex, link, custom (the default), or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: Option<String>,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// Replace the bundle file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// The file the statement is about (its subject).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Opens the file to sign or verify. It may be as large as the user likes (it is never
/// capped), but it must be a regular file: a FIFO would block or feed us forever and a
/// device such as `/dev/zero` never ends, so both are refused, where cosign reads whatever
/// it is given. Reads of it stop at the size it had when opened (see
/// [`InputFile::read_whole`] and [`InputFile::digest`]).
fn open_artifact(path: &Path) -> Result<InputFile, CliError> {
    Ok(InputFile::open(path)?)
}

/// What a signing command wrote, for its report.
struct Written<'a> {
    content: &'static str,
    file: &'a Path,
    digest: &'a Digest,
    logged: Vec<RecordedEntry>,
    signer: serde_json::Value,
}

fn write_bundle(
    bundle: &Bundle,
    path: &Path,
    force: bool,
    output: OutputFormat,
    written: Written<'_>,
) -> Result<ExitCode, CliError> {
    write_file(path, &bundle.to_json(), 0o644, force)?;
    let Written {
        content,
        file,
        digest,
        logged,
        signer,
    } = written;
    match output {
        OutputFormat::Json => {
            let mut report = serde_json::json!({
                "bundle": path,
                "mediaType": bundle.media_type,
                "content": content,
                "artifact": file,
                "digest": digest.to_string(),
                "signer": signer,
            });
            if let (Some(entry), Some(map)) = (logged.first(), report.as_object_mut()) {
                map.insert(
                    "tlogEntry".into(),
                    serde_json::json!({
                        "url": entry.url,
                        "uuid": entry.uuid,
                        "logIndex": entry.log_index,
                        "integratedTime": entry.integrated_time,
                    }),
                );
            }
            print_json(&report);
        }
        OutputFormat::Text => {
            outln!(
                "Wrote {content} bundle for {} ({digest}) to {}",
                file.display(),
                path.display()
            );
            for entry in &logged {
                match &entry.uuid {
                    Some(uuid) => outln!(
                        "Recorded in {} at index {} (entry {uuid})",
                        entry.url,
                        entry.log_index
                    ),
                    None => outln!("Recorded in {} at index {}", entry.url, entry.log_index),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn sign_blob(args: SignBlobArgs) -> Result<ExitCode, CliError> {
    // The whole file: a key signs the message itself (Ed25519 cannot sign a digest).
    let contents = open_artifact(&args.file)?.read_whole()?;
    let outputs: Vec<&PathBuf> = [
        &args.bundle,
        &args.output_signature,
        &args.output_certificate,
    ]
    .into_iter()
    .flatten()
    .collect();
    for (index, path) in outputs.iter().enumerate() {
        if outputs[..index].contains(path) {
            return Err(CliError::Usage(format!(
                "{} is named as two outputs",
                path.display()
            )));
        }
        refuse_existing(path, args.force)?;
    }
    let signing = Signing::prepare(&args.signing).await?;
    if signing.records() && args.bundle.is_none() {
        return Err(CliError::Usage(
            "the transparency-log entry and timestamps are kept in the bundle: pass --bundle"
                .into(),
        ));
    }
    signing.check_recordable()?;
    let signature = signing.sign(&contents)?;
    let digest = Digest::compute(signing.key_type().message_digest_algorithm(), &contents);
    let Sealed { bundle, entries } = signing
        .seal(
            Content::Message { digest, signature },
            Artifact::Bytes(&contents),
        )
        .await?;
    let digest = Digest::sha256(&contents);
    if let Some(path) = &args.output_signature {
        let BundleContent::MessageSignature(message) = &bundle.content else {
            return Err(CliError::Internal("sign-blob made a DSSE bundle".into()));
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(&message.signature);
        write_file(path, encoded.as_bytes(), 0o644, args.force)?;
    }
    if let (Some(path), Some(pem)) = (&args.output_certificate, signing.certificate_pem()) {
        write_file(path, pem.as_bytes(), 0o644, args.force)?;
    }
    match &args.bundle {
        Some(path) => write_bundle(
            &bundle,
            path,
            args.force,
            args.output.output,
            Written {
                content: "message-signature",
                file: &args.file,
                digest: &digest,
                logged: entries,
                signer: signing.signer_json(),
            },
        ),
        None => {
            let signature = args.output_signature.as_deref().unwrap_or(Path::new(""));
            match args.output.output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "signature": signature,
                    "artifact": args.file,
                    "digest": digest.to_string(),
                })),
                OutputFormat::Text => outln!(
                    "Wrote the signature of {} ({digest}) to {}",
                    args.file.display(),
                    signature.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) async fn attest_blob(args: AttestBlobArgs) -> Result<ExitCode, CliError> {
    // A statement names its subject by digest: the file is hashed as it is read, never held.
    let digest = open_artifact(&args.file)?.digest(DigestAlgorithm::Sha256)?;
    let predicate =
        crate::predicate::read_predicate(&args.predicate, args.predicate_type.as_deref(), &digest)?;
    refuse_existing(&args.bundle, args.force)?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let statement = Statement::new(
        vec![ResourceDescriptor::for_digest(name, &digest)],
        predicate.predicate_type,
        Some(predicate.value),
    )
    .map_err(|e| CliError::Input {
        path: args.predicate.clone(),
        reason: e.to_string(),
    })?;
    let signing = Signing::prepare(&args.signing).await?;
    let payload = statement.to_vec();
    let signature = signing.sign(&vouch_attestations::dsse::pae(
        vouch_attestations::dsse::IN_TOTO_PAYLOAD_TYPE,
        &payload,
    ))?;
    // A DSSE bundle is checked against the artifact's digest alone.
    let Sealed { bundle, entries } = signing
        .seal(
            Content::Dsse {
                payload_type: vouch_attestations::dsse::IN_TOTO_PAYLOAD_TYPE.into(),
                payload,
                signature,
            },
            Artifact::Digest(&digest),
        )
        .await?;
    write_bundle(
        &bundle,
        &args.bundle,
        args.force,
        args.output.output,
        Written {
            content: "dsse-envelope",
            file: &args.file,
            digest: &digest,
            logged: entries,
            signer: signing.signer_json(),
        },
    )
}

/// A `sha256:<64 hex>` argument that names no file is a digest; anything else is a file.
fn artifact_digest(argument: &str) -> Option<Digest> {
    if Path::new(argument).exists() || !argument.starts_with("sha256:") {
        return None;
    }
    argument.parse().ok()
}

fn policy(args: &VerifyBlobArgs) -> Result<Policy, CliError> {
    if let Some(path) = &args.signer.key {
        return Ok(Policy::Key(crate::trust::public_key(path)?));
    }
    Ok(Policy::Identity(args.signer.identity()?))
}

/// The largest signature file read: 64 KiB (an RSA-4096 signature in base64 is 700 bytes).
const MAX_SIGNATURE_FILE_BYTES: u64 = 64 * 1024;

/// A key-signed message bundle made from a signature file (base64, else the raw bytes, as
/// cosign reads it) over `artifact` (a file, or `sha256:<hex>`), so that it is verified as a
/// bundle is. The message digest it names is the artifact's own: the signature is what is
/// checked.
fn signature_bundle(path: &Path, key: &PublicKey, artifact: &str) -> Result<Bundle, CliError> {
    let bytes = read_document(path, MAX_SIGNATURE_FILE_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or(bytes);
    if signature.is_empty() {
        return Err(CliError::Input {
            path: path.to_owned(),
            reason: "is empty; a signature was expected".into(),
        });
    }
    let digest = match artifact_digest(artifact) {
        Some(digest) => digest,
        None => {
            open_artifact(Path::new(artifact))?.digest(key.key_type().message_digest_algorithm())?
        }
    };
    Ok(Bundle::key_signed_message(key, &digest, signature))
}

fn document_error(path: &Path, error: VerifyError) -> CliError {
    CliError::Input {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// `vouch verify-blob-attestation`: `verify-blob` for a DSSE bundle (what `attest-blob`
/// writes), which must be an attestation, of `--type` when given.
#[derive(Args)]
pub(crate) struct VerifyBlobAttestationArgs {
    /// The predicate type the attestation must have (shorthand or URI, as for attest-blob).
    #[arg(long = "type", value_name = "TYPE")]
    predicate_type: Option<String>,
    #[command(flatten)]
    blob: VerifyBlobArgs,
}

/// Verifies a blob attestation: the bundle as `verify-blob` does, then that it is an
/// attestation of the predicate type asked for.
pub(crate) fn verify_blob_attestation(
    args: VerifyBlobAttestationArgs,
) -> Result<ExitCode, CliError> {
    let wanted = args
        .predicate_type
        .as_deref()
        .map(crate::predicate::predicate_type_uri)
        .transpose()?;
    verify_blob_as(args.blob, Some(wanted))
}

pub(crate) fn verify_blob(args: VerifyBlobArgs) -> Result<ExitCode, CliError> {
    verify_blob_as(args, None)
}

/// verify-blob, and with `attestation`, verify-blob-attestation (of the predicate type inside,
/// when given).
fn verify_blob_as(
    args: VerifyBlobArgs,
    attestation: Option<Option<String>>,
) -> Result<ExitCode, CliError> {
    if args.certificate.is_some() {
        return Err(CliError::Usage(
            "--certificate: keyless blob signatures are verified from their bundle (--bundle), \
             which carries the certificate and its log entry"
                .into(),
        ));
    }
    let policy = policy(&args)?;
    // What the evidence is called in reports: the bundle, or the signature file.
    let evidence = args
        .bundle
        .clone()
        .or_else(|| args.signature.clone())
        .unwrap_or_default();
    let bundle = match (&args.bundle, &args.signature, &policy) {
        (Some(path), _, _) => {
            let bytes = read_document(path, MAX_BUNDLE_BYTES)?;
            Bundle::from_json(&bytes).map_err(|e| document_error(path, e.into()))?
        }
        (None, Some(path), Policy::Key(key)) => signature_bundle(path, key, &args.artifact)?,
        _ => {
            return Err(CliError::Usage(
                "give --bundle, or --signature with --key".into(),
            ));
        }
    };
    let loaded = args.signer.trusted_root()?;
    let root = &*loaded.root;
    let trusted_root_name = loaded.name;
    let verifier = Verifier::new(root).map_err(|e| CliError::Input {
        path: PathBuf::from(&trusted_root_name),
        reason: e.to_string(),
    })?;
    let digest;
    let contents;
    let artifact = match artifact_digest(&args.artifact) {
        Some(d) => {
            digest = d;
            Artifact::Digest(&digest)
        }
        None => {
            let file = open_artifact(Path::new(&args.artifact))?;
            match bundle.content {
                // A DSSE bundle is checked against the artifact's SHA-256 alone: hashed as
                // it is read, never held.
                BundleContent::DsseEnvelope(_) => {
                    digest = file.digest(DigestAlgorithm::Sha256)?;
                    Artifact::Digest(&digest)
                }
                // A message signature may be Ed25519, over the message itself.
                BundleContent::MessageSignature(_) => {
                    contents = file.read_whole()?;
                    Artifact::Bytes(&contents)
                }
            }
        }
    };
    let options = Options {
        now: UnixTime::from_system_time(std::time::SystemTime::now()),
        require_tlog: !args.insecure_ignore_tlog,
        require_sct: !args.signer.insecure_ignore_sct,
    };
    let outcome = verifier
        .verify(&bundle, artifact, &policy, options)
        .and_then(|verified| match &attestation {
            Some(wanted) => verified
                .check_attestation(wanted.as_deref())
                .map(|()| verified),
            None => Ok(verified),
        });
    match (outcome, args.output.output) {
        (Ok(verified), OutputFormat::Json) => {
            let mut report = serde_json::to_value(&verified).unwrap_or_default();
            if let Some(map) = report.as_object_mut() {
                map.insert("verified".into(), true.into());
                map.insert("bundle".into(), evidence.display().to_string().into());
                map.insert("artifact".into(), args.artifact.clone().into());
                map.insert("trusted_root".into(), trusted_root_name.into());
            }
            print_json(&report);
            Ok(ExitCode::SUCCESS)
        }
        (Ok(verified), OutputFormat::Text) => {
            outln!("Verified {} with {}", args.artifact, evidence.display());
            for check in &verified.checks {
                outln!("  ok  {:<28} {}", check.check, check.detail);
            }
            Ok(ExitCode::SUCCESS)
        }
        (Err(error), OutputFormat::Json) => {
            print_json(&serde_json::json!({
                "verified": false,
                "bundle": evidence.display().to_string(),
                "artifact": args.artifact,
                "trusted_root": trusted_root_name,
                "check": error.check(),
                "reason": error.to_string(),
            }));
            Ok(ExitCode::from(1))
        }
        (Err(error), OutputFormat::Text) => {
            eprintln!(
                "DENIED {} with {}: [{}] {error}",
                args.artifact,
                evidence.display(),
                error.check()
            );
            Ok(ExitCode::from(1))
        }
    }
}
