//! `vouch sbom`: the software bill of materials of an image, read straight from its layers
//! (registry or OCI layout), written as CycloneDX 1.6 or SPDX 2.3 JSON, and optionally
//! attested beside the image in one step.

use std::io::{IsTerminal as _, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use vouch_registry::layers::{self, FileVisitor, PlatformSpec, WalkOptions};
use vouch_registry::{ImageReference, ManifestRef, Store};
use vouch_sbom::{self as sbom, Cataloger, Findings, Inventory, Location};

use crate::RegistryArgs;
use crate::bundles::{self, BundleFormat};
use crate::error::CliError;
use crate::output::{refuse_existing, write_file};
use crate::sign::subject_descriptor;

/// The document written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// CycloneDX 1.6 JSON.
    CyclonedxJson,
    /// SPDX 2.3 JSON.
    SpdxJson,
}

impl Format {
    fn predicate_type(self) -> &'static str {
        match self {
            Format::CyclonedxJson => sbom::cyclonedx::PREDICATE_TYPE,
            Format::SpdxJson => sbom::spdx::PREDICATE_TYPE,
        }
    }
}

#[derive(Args)]
pub(crate) struct SbomArgs {
    /// The document format.
    #[arg(long, value_enum, default_value_t = Format::CyclonedxJson)]
    format: Format,
    /// What to write: json (the SBOM document, the default) or text (a table of the packages
    /// for people).
    #[arg(long, short = 'o', value_name = "FORMAT", default_value = "json", value_parser = crate::output::parse_document_format)]
    output: crate::output::DocumentFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    /// Replace the --output-file file if it exists.
    #[arg(long)]
    force: bool,
    /// For a multi-platform image, which platform's image to read: os/arch[/variant]
    /// (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Also attest the document beside the image, as cosign attest does with --type
    /// cyclonedx or spdxjson: signed with --key, or keylessly.
    #[arg(long)]
    attest: bool,
    #[command(flatten)]
    signing: crate::signing::SigningArgs,
    /// With --attest: replace earlier SBOM attestations of the same format (tag layout).
    #[arg(long, requires = "attest")]
    replace: bool,
    /// With --attest: cosign's `.att` tag layout, or (v3) a Sigstore bundle referrer.
    #[arg(long, value_enum, default_value_t = BundleFormat::Legacy, requires = "attest")]
    bundle_format: BundleFormat,
    /// Layers read at once (default: one per CPU).
    #[arg(long, value_name = "N", default_value_t = 0)]
    parallel_layers: usize,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image: `registry/repository[:tag][@digest]` or `oci:PATH[:TAG]`.
    #[arg(value_name = "IMAGE")]
    image: String,
}

/// Offers each file to the catalogers; those that want it read it (once, teed).
struct Catalogers(Vec<Box<dyn Cataloger>>);

impl FileVisitor for Catalogers {
    type Output = Findings;

    fn wants(&self, path: &str, size: u64) -> bool {
        self.0.iter().any(|c| c.wants(path, size))
    }

    fn visit(&self, path: &str, size: u64, contents: &mut dyn Read) -> Findings {
        sbom::catalog_file(&self.0, path, size, contents)
    }
}

/// Every cataloger vouch has.
pub(crate) fn catalogers() -> Vec<Box<dyn Cataloger>> {
    let mut all = sbom::os_catalogers();
    all.extend(sbom::language_catalogers());
    all
}

pub(crate) async fn run(args: SbomArgs) -> Result<ExitCode, CliError> {
    let reference = ImageReference::parse(&args.image)?;
    let platform = match &args.platform {
        Some(text) => PlatformSpec::parse(text).map_err(CliError::Usage)?,
        None => PlatformSpec::host(),
    };
    if let Some(path) = &args.output_file {
        refuse_existing(path, args.force)?;
    }
    // The signer is made ready (a password asked for, a certificate bought) before the
    // long part.
    let signing = match args.attest {
        true => {
            let signing = crate::signing::Signing::prepare(&args.signing).await?;
            if args.bundle_format == BundleFormat::Legacy {
                signing.check_tag_layout()?;
            }
            Some(signing)
        }
        false if args.signing.key.is_some() || args.signing.identity_token.is_some() => {
            return Err(CliError::Usage(
                "--key and --identity-token are for --attest".into(),
            ));
        }
        false => None,
    };

    let client = args.registry.client()?;
    let target = Store::open(&client, &reference)?;
    let resolved = target.resolve().await?;
    let (fetched, manifest) =
        layers::image_manifest(&target.store, &resolved.manifest, &platform).await?;
    let digest = fetched.digest.clone();
    let image = target.store.describe(&ManifestRef::Digest(digest.clone()));

    let total: u64 = manifest.layers.iter().map(|l| l.size).sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!(
            "reading {}",
            crate::output::count(manifest.layers.len(), "layer")
        ));
        bar
    });
    let options = WalkOptions {
        parallel_layers: args.parallel_layers,
        progress: bar
            .clone()
            .map(|bar| Arc::new(move |n: u64| bar.inc(n)) as vouch_registry::layers::Progress),
    };
    let walked = layers::walk_layers(
        &target.store,
        &manifest,
        Arc::new(Catalogers(catalogers())),
        &options,
    )
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let walked = walked?;
    let files = walked
        .files
        .into_iter()
        .map(|f| {
            (
                Location {
                    layer: Some(f.layer),
                    path: f.path,
                },
                f.output,
            )
        })
        .collect();
    let inventory = sbom::assemble(files, walked.warnings);

    let tag = match &reference {
        ImageReference::Registry(r) => r.tag().map(str::to_owned),
        ImageReference::Layout(l) => l.tag.clone(),
    };
    let subject = sbom::Subject {
        name: target.store.docker_reference(),
        digest: digest.clone(),
        tag,
    };
    let created = vouch_keys::time::unix_secs(std::time::SystemTime::now());
    let document = write_document(args.format, &inventory, &subject, created);

    // The document is not copied to be written: only the text table is made anew.
    let table;
    let written: &[u8] = match args.output {
        crate::output::DocumentFormat::Json => &document,
        crate::output::DocumentFormat::Text => {
            table = package_table(&inventory);
            table.as_bytes()
        }
    };
    match &args.output_file {
        Some(path) => write_file(path, written, 0o644, args.force)?,
        None => crate::output::write_stdout(written),
    }
    eprintln!(
        "{} in {image} ({}, {} read){}",
        crate::output::count(inventory.packages.len(), "package"),
        crate::output::count(manifest.layers.len(), "layer"),
        crate::output::size(walked.compressed_bytes),
        match inventory.warnings.len() {
            0 => String::new(),
            n => format!(", {} in the document", crate::output::count(n, "warning")),
        }
    );

    if let Some(signing) = &signing {
        let predicate: serde_json::Value = serde_json::from_slice(&document)
            .map_err(|e| CliError::Internal(format!("the SBOM vouch wrote is not JSON: {e}")))?;
        let statement = bundles::image_statement(
            &target.store.docker_reference(),
            &digest,
            args.format.predicate_type(),
            predicate,
        )?;
        // The subject is the manifest the SBOM was read from, as fetched then.
        let descriptor =
            subject_descriptor(&fetched.media_type, &digest, fetched.bytes.len() as u64);
        let (_, text) = crate::attest::store_attestation(
            &target.store,
            &descriptor,
            &statement,
            signing,
            args.bundle_format,
            args.replace,
        )
        .await?;
        eprintln!(
            "Attested {image} ({}): {text}",
            args.format.predicate_type()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_document(
    format: Format,
    inventory: &Inventory,
    subject: &sbom::Subject,
    created: i64,
) -> Vec<u8> {
    let version = env!("CARGO_PKG_VERSION");
    match format {
        Format::CyclonedxJson => {
            sbom::cyclonedx::cyclonedx_json(inventory, subject, created, version)
        }
        Format::SpdxJson => sbom::spdx::spdx_json(inventory, subject, created, version),
    }
}

/// The packages as a table for people: name, version and type, in the inventory's order.
fn package_table(inventory: &Inventory) -> String {
    let rows: Vec<[String; 3]> = inventory
        .packages
        .iter()
        .map(|p| {
            let kind = serde_json::to_value(p.ecosystem)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            [p.name.clone(), p.version.clone(), kind]
        })
        .collect();
    let header = ["NAME".to_owned(), "VERSION".to_owned(), "TYPE".to_owned()];
    let width = |column: usize| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name, version) = (width(0), width(1));
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        table.push_str(&format!(
            "{:<name$}  {:<version$}  {}\n",
            row[0], row[1], row[2]
        ));
    }
    table
}
