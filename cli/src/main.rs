//! `vouch`: sign container images and verify them, with cosign's formats and verbs.
//!
//! This binary turns arguments into calls to the vouch libraries and their results into text
//! or JSON; it holds no verification logic of its own. Exit codes: 0 verified or succeeded,
//! 1 verification denied, 2 usage or input error, 3 I/O or registry error.
//!
//! ```text
//! vouch generate-key-pair
//! vouch sign --key cosign.key registry.example/app:1.0
//! vouch verify --key cosign.pub registry.example/app:1.0
//! ```

mod attest;
mod blob;
mod bundles;
mod error;
mod keys;
mod output;
mod password;
mod predicate;
mod provenance;
mod rekor;
mod sbom;
mod sign;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::output::OutputFormat;

/// Sign container images and verify them; cosign-compatible.
#[derive(Parser)]
#[command(name = "vouch", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 verified or succeeded, 1 verification denied, \
                        2 usage or input error, 3 I/O or registry error."
)]
struct Cli {
    /// Log what happens (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// Options for reaching registries, shared by every command that does.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct RegistryArgs {
    /// Use plain HTTP for registries that are not on the loopback interface (loopback
    /// registries always use plain HTTP, as docker does).
    #[arg(long)]
    allow_http_registry: bool,

    /// Seconds allowed for each registry request.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    registry_timeout: u64,

    /// Attempts for registry requests that fail transiently (connection errors, 5xx, 429).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    registry_attempts: u32,
}

impl RegistryArgs {
    pub(crate) fn client(&self) -> Result<vouch_registry::RegistryClient, CliError> {
        let options = vouch_registry::ClientOptions {
            allow_http: self.allow_http_registry,
            timeout: std::time::Duration::from_secs(self.registry_timeout),
            attempts: self.registry_attempts,
            ..Default::default()
        };
        Ok(vouch_registry::RegistryClient::new(options)?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub.
    GenerateKeyPair(keys::GenerateArgs),
    /// Import a PEM private key (PKCS#8, SEC1 or PKCS#1) as an encrypted cosign key pair.
    ImportKeyPair(keys::ImportArgs),
    /// Print the public key of a private key.
    PublicKey(keys::PublicKeyArgs),
    /// Sign images: push a cosign signature for each image's manifest digest.
    Sign(sign::SignArgs),
    /// Verify the cosign signatures of images against a public key.
    Verify(verify::VerifyArgs),
    /// Print where the signatures of an image are stored (its `sha256-<hex>.sig` tag).
    Triangulate(verify::TriangulateArgs),
    /// Attest an image: sign an in-toto statement about it and store it in its `.att` tag (or,
    /// with --bundle-format v3, as a Sigstore bundle referrer).
    Attest(attest::AttestArgs),
    /// Verify the attestations of an image against a public key (and a Rego policy) and print
    /// their predicates.
    VerifyAttestation(attest::VerifyAttestationArgs),
    /// Write SLSA provenance v1 (an in-toto statement) for an image or a file, from the CI
    /// run (GitHub Actions, GitLab CI) or from the build facts given as flags.
    Provenance(provenance::ProvenanceArgs),
    /// List what is installed in an image (read from its layers) as a CycloneDX or SPDX
    /// SBOM; with --attest, attach it as a signed attestation.
    Sbom(sbom::SbomArgs),
    /// Show the signatures, attestations and referrers attached to an image.
    Tree(attest::TreeArgs),
    /// Sign a file with a key; write a Sigstore bundle (v0.3, message signature), logged in
    /// Rekor with --rekor-url.
    SignBlob(blob::SignBlobArgs),
    /// Sign an in-toto statement about a file with a key; write a Sigstore bundle (DSSE),
    /// logged in Rekor with --rekor-url.
    AttestBlob(blob::AttestBlobArgs),
    /// Verify a file (or a digest) against a Sigstore bundle, offline.
    VerifyBlob(blob::VerifyBlobArgs),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,vouch=debug,vouch_registry=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::GenerateKeyPair(args) => keys::generate(args),
        Command::ImportKeyPair(args) => keys::import(args),
        Command::PublicKey(args) => keys::public_key(args),
        Command::Sign(args) => sign::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Triangulate(args) => verify::triangulate(args).await,
        Command::Attest(args) => attest::attest(args).await,
        Command::VerifyAttestation(args) => attest::verify_attestation(args).await,
        Command::Provenance(args) => provenance::run(args).await,
        Command::Sbom(args) => sbom::run(args).await,
        Command::Tree(args) => attest::tree(args).await,
        Command::SignBlob(args) => blob::sign_blob(args).await,
        Command::AttestBlob(args) => blob::attest_blob(args).await,
        // Handled in `main`, without the runtime.
        Command::VerifyBlob(args) => blob::verify_blob(args),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.verbose);
    // verify-blob does no I/O beyond reading files: it runs without an async runtime, which
    // is a measurable share of a whole-process verification.
    let command = match cli.command {
        Command::VerifyBlob(args) => {
            return blob::verify_blob(args).unwrap_or_else(|error| {
                eprintln!("vouch: {error}");
                error.exit_code()
            });
        }
        command => command,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vouch: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vouch: {error}");
            error.exit_code()
        }
    }
}

/// Parses `key=value` for `-a`.
pub(crate) fn parse_annotation(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("\"{text}\" is not KEY=VALUE")),
    }
}

/// The `--output` flag shared by commands that print a result.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct OutputArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
}
