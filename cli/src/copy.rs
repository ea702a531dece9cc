//! `vouch copy SRC DST`: an image and all its evidence, between registries and OCI layouts
//! (`vouch_registry::copy` does the work; this is arguments, progress and the report).

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use vouch_registry::ImageReference;
use vouch_registry::copy::{self, CopyOptions, CopyProgress, CopyReport, EvidenceKinds};
use vouch_registry::layers::PlatformSpec;

use crate::error::CliError;
use crate::output::{OutputFormat, outln, print_json};
use crate::{OutputArgs, RegistryArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct CopyArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Copy only this evidence, not the image (comma-separated: sig, att, sbom, referrers),
    /// for an image already at the destination; as cosign's `copy --only`.
    #[arg(long, value_delimiter = ',', value_name = "KINDS", value_parser = ["sig", "att", "sbom", "referrers"])]
    only: Vec<String>,
    /// Copy only this platform of a multi-platform image (os/arch[/variant]): its manifest
    /// becomes the image at the destination, with the evidence about it.
    #[arg(long, value_name = "PLATFORM", value_parser = PlatformSpec::parse)]
    platform: Option<PlatformSpec>,
    /// Point the destination tag at the image even when it names another image.
    #[arg(short, long)]
    force: bool,
    /// Blobs transferred at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Source image: `REGISTRY/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG|@DIGEST]`.
    #[arg(value_name = "SRC")]
    source: String,
    /// Destination: `REGISTRY/REPO[:TAG]` or `oci:DIR[:TAG]` (a layout directory is created when
    /// missing, and removed again if the copy fails before storing anything in it). Without a
    /// tag, the source's.
    #[arg(value_name = "DST")]
    destination: String,
}

/// A progress bar on standard error, when it is a terminal.
struct Bar(indicatif::ProgressBar);

impl CopyProgress for Bar {
    fn blob_started(&self, size: u64) {
        self.0.inc_length(size);
    }

    fn bytes_sent(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn blob_skipped(&self, _size: u64) {}
}

pub(crate) async fn run(args: CopyArgs) -> Result<ExitCode, CliError> {
    let source = ImageReference::parse(&args.source)?;
    let destination = ImageReference::parse(&args.destination)?;
    let client = args.registry.client()?;
    let source = vouch_registry::Store::open(&client, &source)?;
    // A layout created here is removed again if the copy fails before writing into it.
    let (destination, created) = copy::open_destination(&client, &destination)?;
    let evidence = if args.only.is_empty() {
        EvidenceKinds::ALL
    } else {
        let has = |kind: &str| args.only.iter().any(|k| k == kind);
        EvidenceKinds {
            signatures: has("sig"),
            attestations: has("att"),
            sboms: has("sbom"),
            referrers: has("referrers"),
        }
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "copying [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let options = CopyOptions {
        image: args.only.is_empty(),
        evidence,
        platform: args.platform,
        force: args.force,
        concurrency: usize::from(args.concurrency),
        progress: bar
            .clone()
            .map(|bar| Arc::new(Bar(bar)) as Arc<dyn CopyProgress>),
    };
    let report = copy::copy(&source, &destination, &options).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    if let Some(created) = created {
        created.keep();
    }
    match args.output.output {
        OutputFormat::Json => print_json(&report_json(&report)),
        OutputFormat::Text => print_text(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn report_json(report: &CopyReport) -> serde_json::Value {
    serde_json::json!({
        "source": report.source,
        "destination": report.destination,
        "digest": report.digest.to_string(),
        "tag": report.tag,
        "tagWritten": report.tag_written,
        "unchanged": report.unchanged(),
        "manifests": {"written": report.manifests_written, "present": report.manifests_present},
        "blobs": {
            "sent": report.blobs_sent,
            "mounted": report.blobs_mounted,
            "present": report.blobs_present,
            "bytesSent": report.bytes_sent,
        },
        "evidence": report.evidence.iter().map(|e| serde_json::json!({
            "subject": e.subject.to_string(),
            "kind": e.kind.name(),
            "name": e.name,
            "artifactType": e.artifact_type,
            "outcome": e.outcome.name(),
            "depth": e.depth,
        })).collect::<Vec<_>>(),
        "notes": report.notes,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn print_text(report: &CopyReport) {
    if report.unchanged() {
        outln!(
            "{} already holds {} ({}) and all its evidence; nothing copied",
            report.destination,
            report.source,
            report.digest
        );
    } else {
        outln!(
            "Copied {} to {} ({})",
            report.source,
            report.destination,
            report.digest
        );
        outln!(
            "  {} written ({} already there); {} sent ({:.1} MiB), {} mounted, {} already there",
            plural(report.manifests_written, "manifest", "manifests"),
            report.manifests_present,
            plural(report.blobs_sent, "blob", "blobs"),
            report.bytes_sent as f64 / (1024.0 * 1024.0),
            report.blobs_mounted,
            report.blobs_present
        );
    }
    for evidence in &report.evidence {
        let what = match &evidence.artifact_type {
            Some(artifact_type) => format!("referrer {} ({artifact_type})", evidence.name),
            None => format!("tag {}", evidence.name),
        };
        outln!(
            "  {:<9} {}{what}",
            evidence.outcome.name(),
            "  ".repeat(evidence.depth.saturating_sub(1))
        );
    }
    for note in &report.notes {
        outln!("  note: {note}");
    }
}
