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
mod copy;
mod download;
mod error;
mod explain;
mod identity_token;
mod keys;
mod output;
mod password;
mod policy;
mod predicate;
mod provenance;
mod sbom;
mod serve;
mod shell;
mod sign;
mod signer;
mod signing;
mod trust;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

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

    /// Time allowed for the whole command, in seconds or with a unit (`90s`, `5m`, `1h`):
    /// every registry request, retry and log upload together. Default 3m (as cosign's),
    /// 30m for `sbom` and `copy`, which read whole layers.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<std::time::Duration>,

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

    /// Seconds allowed for each registry request (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    registry_timeout: u64,

    /// Attempts for registry requests that fail transiently (connection errors, 5xx, 429).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    registry_attempts: u32,

    /// A PEM file of CA certificates to trust for HTTPS registries besides the system's store,
    /// for a registry whose certificate a private CA issued (as cosign's flag).
    #[arg(long, value_name = "FILE")]
    registry_cacert: Option<std::path::PathBuf>,
}

impl RegistryArgs {
    pub(crate) fn client(&self) -> Result<vouch_registry::RegistryClient, CliError> {
        let options = vouch_registry::ClientOptions {
            allow_http: self.allow_http_registry,
            timeout: std::time::Duration::from_secs(self.registry_timeout),
            attempts: self.registry_attempts,
            ca_certificates: match &self.registry_cacert {
                Some(path) => vouch_registry::CaCertificates::read_pem_file(path)?,
                None => vouch_registry::CaCertificates::default(),
            },
            ..Default::default()
        };
        Ok(vouch_registry::RegistryClient::new(options)?)
    }
}

#[derive(Subcommand)]
// Each command's arguments are built only when it is the one invoked: building all of them is
// most of what a short command spends before it starts (issue 17).
#[command(defer = true)]
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
    /// Check a trust policy (lint) or decide test cases with it (test).
    Policy(policy::PolicyArgs),
    /// Show why a trust policy allows or denies an image: the graph of its evidence (signers,
    /// log entries, timestamps, authorities, attestation requirements) with the failing link
    /// marked, as text, JSON, Graphviz DOT (--dot) or a self-contained HTML page (--html).
    Explain(explain::ExplainArgs),
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
    /// Copy an image and all its evidence (signatures, attestations, SBOMs, referrers) between
    /// registries and OCI layouts (oci:DIR), digests kept, only missing content sent.
    Copy(copy::CopyArgs),
    /// Print what is attached to an image as it is stored, unverified, as cosign's download
    /// does: its signatures, attestations or SBOMs.
    Download(download::DownloadArgs),
    /// Sign a file with a key; write a Sigstore bundle (v0.3, message signature), logged in
    /// Rekor with --rekor-url.
    SignBlob(blob::SignBlobArgs),
    /// Sign an in-toto statement about a file with a key; write a Sigstore bundle (DSSE),
    /// logged in Rekor with --rekor-url.
    AttestBlob(blob::AttestBlobArgs),
    /// Verify a file (or a digest) against a Sigstore bundle, offline.
    VerifyBlob(blob::VerifyBlobArgs),
    /// Verify a file's attestation (a DSSE bundle, as attest-blob writes) offline, of --type
    /// when given.
    VerifyBlobAttestation(blob::VerifyBlobAttestationArgs),
    /// Serve a read-only pull-through registry that hands out only images the trust policy
    /// allows (403 DENIED with the reason otherwise).
    Serve(serve::ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(shell::CompletionArgs),
    /// Print the man page of vouch, or of one of its commands (`vouch man verify | man -l -`).
    Man(shell::ManArgs),
    /// Print the version and how this binary was built (commit, compiler, target, profile).
    Version(shell::VersionArgs),
    /// Keep the Sigstore trust roots current over TUF (update), and show which one
    /// verification uses (show).
    Trust(trust::TrustArgs),
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
        // Colour only for a person at a terminal; a log file or CI gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::GenerateKeyPair(args) => keys::generate(args),
        Command::ImportKeyPair(args) => keys::import(args),
        Command::PublicKey(args) => keys::public_key(args),
        Command::Sign(args) => sign::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Policy(args) => policy::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Triangulate(args) => verify::triangulate(args).await,
        Command::Attest(args) => attest::attest(args).await,
        Command::VerifyAttestation(args) => attest::verify_attestation(args).await,
        Command::Provenance(args) => provenance::run(args).await,
        Command::Sbom(args) => sbom::run(args).await,
        Command::Tree(args) => attest::tree(args).await,
        Command::Copy(args) => copy::run(args).await,
        Command::Download(args) => download::run(args).await,
        Command::SignBlob(args) => blob::sign_blob(args).await,
        Command::AttestBlob(args) => blob::attest_blob(args).await,
        // Handled in `main`, without the runtime.
        Command::VerifyBlob(args) => blob::verify_blob(args),
        Command::Serve(args) => serve::run(args),
        Command::VerifyBlobAttestation(args) => blob::verify_blob_attestation(args),
        Command::Completion(args) => Ok(shell::completion(args, Cli::command())),
        Command::Man(args) => shell::man(args, Cli::command()),
        Command::Version(args) => Ok(shell::version(args)),
        Command::Trust(args) => trust::run(args).await,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors exit 2.
            let _ = e.print();
            if let Some(hint) = cosign_flag_hint(&e) {
                eprintln!("\n{hint}");
            }
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
    let Cli {
        command, timeout, ..
    } = cli;
    let local = |result: Result<ExitCode, CliError>| {
        result.unwrap_or_else(|error| {
            eprintln!("vouch: {error}");
            error.exit_code()
        })
    };
    let command = match command {
        Command::VerifyBlob(args) => return local(blob::verify_blob(args)),
        // A server runs until it is stopped, on its own multi-threaded runtime.
        Command::Serve(args) => return local(serve::run(args)),
        Command::VerifyBlobAttestation(args) => return local(blob::verify_blob_attestation(args)),
        Command::Completion(args) => return shell::completion(args, Cli::command()),
        Command::Man(args) => return local(shell::man(args, Cli::command())),
        Command::Version(args) => return shell::version(args),
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
    let deadline = timeout.unwrap_or(match command {
        Command::Sbom(_) | Command::Copy(_) => SBOM_TIMEOUT,
        _ => DEFAULT_TIMEOUT,
    });
    let outcome = runtime.block_on(async { tokio::time::timeout(deadline, run(command)).await });
    // Layer readers on blocking threads are abandoned, not waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => {
            eprintln!("vouch: {error}");
            error.exit_code()
        }
        Err(_) => {
            eprintln!(
                "vouch: the command did not finish within {} (--timeout); stopped",
                humanize(deadline)
            );
            ExitCode::from(3)
        }
    }
}

/// cosign's flags that a vouch command does not take, each with what vouch offers instead. A
/// flag that some vouch commands take (`--rekor-url` when signing) names them, since the
/// command it was given to is not one of them.
const COSIGN_FLAGS: [(&str, &str); 12] = [
    (
        "--allow-insecure-registry",
        "vouch's flag is --allow-http-registry (loopback registries need none)",
    ),
    (
        "--registry-username",
        "vouch reads credentials from the docker config (docker login), as cosign does by default",
    ),
    (
        "--registry-password",
        "vouch reads credentials from the docker config (docker login), as cosign does by default",
    ),
    (
        "--registry-token",
        "vouch reads credentials from the docker config (docker login), as cosign does by default",
    ),
    (
        "--k8s-keychain",
        "vouch reads credentials from the docker config; a Kubernetes keychain is not supported",
    ),
    (
        "--identity-token",
        "vouch takes it when signing (sign, attest, sbom --attest, sign-blob, attest-blob); \
         verification names the signer with --certificate-identity and --certificate-oidc-issuer",
    ),
    (
        "--fulcio-url",
        "vouch takes it when signing (sign, attest, sbom --attest, sign-blob, attest-blob); \
         verification trusts the certificate authorities of the trusted root (--trusted-root)",
    ),
    (
        "--rekor-url",
        "vouch takes it when signing (sign, attest, sbom --attest, sign-blob, attest-blob); \
         verification is offline: the log entries a signature carries are checked against the \
         trusted root (--trusted-root)",
    ),
    (
        "--offline",
        "vouch always verifies offline: the log entries a signature carries are checked against \
         the trusted root (--trusted-root)",
    ),
    (
        "--private-infrastructure",
        "vouch's flag is --insecure-ignore-tlog",
    ),
    (
        "--oidc-issuer",
        "vouch has no interactive sign-in: give the token with --identity-token or the \
         SIGSTORE_ID_TOKEN variable",
    ),
    (
        "--output-file",
        "sbom, provenance and download take --output-file; other commands print to standard output",
    ),
];

/// For an argument clap did not know that is one of cosign's, what vouch offers instead.
fn cosign_flag_hint(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = argument.split('=').next().unwrap_or(argument);
    COSIGN_FLAGS
        .iter()
        .find(|(name, _)| *name == flag)
        .map(|(name, hint)| format!("note: {name} is cosign's flag: {hint}"))
}

/// The whole-command deadline of every command but `sbom` (cosign's default).
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);
/// The whole-command deadline of `sbom`, which reads every layer of an image.
const SBOM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// Parses `--timeout`: whole seconds, or a number with `s`, `m` or `h`. Zero is refused: it
/// would stop every command before it starts.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "\"{text}\" is not a duration (e.g. 90, 90s, 5m, 1h)"
            ));
        }
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("\"{text}\" is not a duration (e.g. 90, 90s, 5m, 1h)"))?;
    if seconds == 0 {
        return Err("the timeout must be at least one second".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// `90s`, `3m`, `1h`: a deadline as `--timeout` takes it.
fn humanize(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Parses `key=value` for `-a`.
pub(crate) fn parse_annotation(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("\"{text}\" is not KEY=VALUE")),
    }
}

/// cosign's verification flags that vouch takes so that cosign scripts run unchanged.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct VerifyCompat {
    /// Trust signatures without a transparency-log entry: a keyless signature then needs an
    /// RFC 3161 timestamp from a trusted authority instead (key signatures need no entry in
    /// vouch; an entry a signature carries is checked either way).
    #[arg(long)]
    insecure_ignore_tlog: bool,
    /// Read each IMAGE as the path of an OCI image layout (as `oci:PATH`), as cosign's
    /// --local-image does.
    #[arg(long)]
    local_image: bool,
    /// Verify RFC 3161 timestamps and check the certificate at their time (cosign's flag:
    /// vouch always does, for every timestamp a signature carries).
    #[arg(long)]
    use_signed_timestamps: bool,
}

impl VerifyCompat {
    /// cosign's `--insecure-ignore-tlog`.
    pub(crate) fn ignore_tlog(self) -> bool {
        self.insecure_ignore_tlog
    }

    /// `image` as vouch names it: `oci:PATH` under --local-image.
    pub(crate) fn image(self, image: &str) -> String {
        // Timestamps are verified whether or not --use-signed-timestamps is given.
        let _ = self.use_signed_timestamps;
        if self.local_image && !image.starts_with("oci:") {
            format!("oci:{image}")
        } else {
            image.to_owned()
        }
    }
}

/// The `--output` flag shared by commands that print a result.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct OutputArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory as _, Parser as _};

    use super::{COSIGN_FLAGS, Cli, cosign_flag_hint, humanize, parse_timeout};

    /// The top-level commands that take `flag` (`--name`), themselves or in a subcommand.
    fn commands_taking(flag: &str) -> Vec<String> {
        fn takes(command: &clap::Command, long: &str) -> bool {
            command.get_arguments().any(|a| a.get_long() == Some(long))
                || command.get_subcommands().any(|c| takes(c, long))
        }
        let long = flag.trim_start_matches("--");
        // Commands are deferred: their arguments exist only once built.
        let mut cli = Cli::command();
        cli.build();
        cli.get_subcommands()
            .filter(|c| takes(c, long))
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap's own checks (names, conflicts, groups), on every command: deferred commands
        // are built here as they would be when invoked.
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_its_arguments_once_built() {
        let mut cli = Cli::command();
        cli.build();
        let verify = cli.find_subcommand("verify").expect("verify is a command");
        assert!(verify.get_arguments().any(|a| a.get_long() == Some("key")));
        let trust_update = cli
            .find_subcommand("trust")
            .and_then(|trust| trust.find_subcommand("update"))
            .expect("trust update is a command");
        assert!(trust_update.get_arguments().count() > 1);
    }

    #[test]
    fn a_cosign_flag_hint_names_every_command_that_takes_the_flag() {
        for (flag, hint) in COSIGN_FLAGS {
            for command in commands_taking(flag) {
                assert!(
                    hint.contains(&command),
                    "{flag} is taken by `{command}`, which its hint does not name: {hint}"
                );
            }
        }
        // Given to a command that does not take it, the hint follows clap's error.
        for (args, expected) in [
            (
                &[
                    "vouch",
                    "verify",
                    "--rekor-url",
                    "https://rekor.example",
                    "x",
                ][..],
                "--rekor-url is cosign's flag: vouch takes it when signing",
            ),
            (
                &["vouch", "verify-blob", "--identity-token=t", "f"][..],
                "--identity-token is cosign's flag: vouch takes it when signing",
            ),
            (
                &["vouch", "verify", "--offline", "x"][..],
                "--offline is cosign's flag: vouch always verifies offline",
            ),
            (
                &["vouch", "verify", "--private-infrastructure", "x"][..],
                "vouch's flag is --insecure-ignore-tlog",
            ),
        ] {
            let Err(error) = Cli::try_parse_from(args) else {
                panic!("{args:?} parses");
            };
            let hint = cosign_flag_hint(&error).unwrap_or_default();
            assert!(hint.contains(expected), "{args:?}: {hint:?}");
        }
        // Taken where it is given: no error, so no hint.
        assert!(
            Cli::try_parse_from([
                "vouch",
                "sign",
                "--rekor-url",
                "https://r",
                "--key",
                "k",
                "x"
            ])
            .is_ok()
        );
    }

    #[test]
    fn timeouts_parse_with_and_without_units_and_zero_is_refused() {
        assert_eq!(parse_timeout("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "0",
            "0m",
            "",
            "m",
            "5d",
            "-1",
            "1.5m",
            "99999999999999999999h",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(humanize(Duration::from_secs(180)), "3m");
        assert_eq!(humanize(Duration::from_secs(7200)), "2h");
        assert_eq!(humanize(Duration::from_secs(90)), "90s");
    }
}
