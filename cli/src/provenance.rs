//! `vouch provenance`: SLSA provenance v1 for an image or a file, from the CI run it is in
//! (GitHub Actions, GitLab CI) or from facts given as flags, written as an in-toto statement
//! whose subject is the image's manifest digest or the file's SHA-256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use vouch_attestations::AttestationError;
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_attestations::slsa::build::{self, GenericBuild};
use vouch_keys::files::InputFile;
use vouch_keys::{Digest, DigestAlgorithm};
use vouch_registry::{ImageReference, Store};

use crate::RegistryArgs;
use crate::error::CliError;
use crate::output::{refuse_existing, write_file};

/// Where the facts of the build come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Ci {
    /// GitHub Actions or GitLab CI, by the environment; generic when --builder-id is given.
    Auto,
    /// GitHub Actions (GITHUB_* variables).
    Github,
    /// GitLab CI (CI_* variables).
    Gitlab,
    /// The flags: --builder-id, --source-uri, --source-digest, --parameter, ...
    Generic,
}

#[derive(Args)]
pub(crate) struct ProvenanceArgs {
    /// Where the facts of the build come from.
    #[arg(long, value_enum, default_value_t = Ci::Auto)]
    ci: Ci,
    /// Generic: the builder's id, a URI naming the build platform.
    #[arg(long, value_name = "URI")]
    builder_id: Option<String>,
    /// Generic: the build type URI (default `https://vouch.dev/buildtypes/generic/v1`).
    #[arg(long, value_name = "URI")]
    build_type: Option<String>,
    /// Generic: where the source came from, e.g. git+https://host/repo@refs/heads/main.
    #[arg(long, value_name = "URI")]
    source_uri: Option<String>,
    /// Generic: a digest of the source, e.g. gitCommit=<40 hex> or sha256=<64 hex>
    /// (repeatable).
    #[arg(long, value_name = "ALG=VALUE", value_parser = crate::parse_annotation)]
    source_digest: Vec<(String, String)>,
    /// Generic: a build parameter (repeatable).
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = crate::parse_annotation)]
    parameters: Vec<(String, String)>,
    /// Generic: the build platform's id for this run.
    #[arg(long, value_name = "ID")]
    invocation_id: Option<String>,
    /// Generic: when the build started (RFC 3339).
    #[arg(long, value_name = "TIME")]
    started_on: Option<String>,
    /// The output format: json, the only one (provenance is a JSON document); taken so that
    /// `-o json` works as in every other command.
    #[arg(long, short = 'o', value_name = "FORMAT", default_value = "json", value_parser = crate::output::parse_document_format)]
    output: crate::output::DocumentFormat,
    /// Write the statement to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    /// Replace the --output-file file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The subject: an image (`registry/repository[:tag][@digest]`, `oci:PATH[:TAG]`), or a
    /// file (any path that exists as a regular file).
    #[arg(value_name = "IMAGE|FILE")]
    subject: String,
}

impl ProvenanceArgs {
    fn has_generic_facts(&self) -> bool {
        self.builder_id.is_some()
            || self.build_type.is_some()
            || self.source_uri.is_some()
            || !self.source_digest.is_empty()
            || !self.parameters.is_empty()
            || self.invocation_id.is_some()
            || self.started_on.is_some()
    }

    fn generic_build(&self) -> GenericBuild {
        GenericBuild {
            builder_id: self.builder_id.clone().unwrap_or_default(),
            build_type: self.build_type.clone(),
            source_uri: self.source_uri.clone().unwrap_or_default(),
            source_digest: self.source_digest.iter().cloned().collect(),
            parameters: self.parameters.iter().cloned().collect(),
            invocation_id: self.invocation_id.clone(),
            started_on: self.started_on.clone(),
        }
    }
}

/// The flag that sets a field of [`GenericBuild`], for messages.
fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "builder_id" => "--builder-id",
        "build_type" => "--build-type",
        "source_uri" => "--source-uri",
        "source_digest" => "--source-digest",
        "parameters" => "--parameter",
        "invocation_id" => "--invocation-id",
        "started_on" => "--started-on",
        _ => return None,
    })
}

/// The user's error for a builder's refusal, naming flags where the generic facts are at
/// fault.
fn build_error(error: AttestationError, generic: bool) -> CliError {
    let message = match (&error, generic) {
        (AttestationError::MissingBuildFact { name }, true) => match flag_of(name) {
            Some(flag) => format!("{flag} is required for generic provenance"),
            None => error.to_string(),
        },
        (
            AttestationError::InvalidBuildFact {
                name,
                value,
                reason,
            },
            true,
        ) => match flag_of(name) {
            Some(flag) => format!("{flag} \"{value}\": {reason}"),
            None => error.to_string(),
        },
        (AttestationError::NoCiDetected, _) => format!(
            "{error} (--builder-id, --source-uri and --source-digest; see `vouch provenance \
             --help`)"
        ),
        _ => error.to_string(),
    };
    CliError::Usage(format!("cannot build provenance: {message}"))
}

pub(crate) async fn run(args: ProvenanceArgs) -> Result<ExitCode, CliError> {
    let ci = match args.ci {
        Ci::Auto if args.has_generic_facts() => Ci::Generic,
        other => other,
    };
    if matches!(ci, Ci::Github | Ci::Gitlab) && args.has_generic_facts() {
        return Err(CliError::Usage(
            "--builder-id, --source-uri, --source-digest, --parameter and the other build \
             facts describe a generic build; with --ci github or gitlab they come from the \
             environment"
                .into(),
        ));
    }
    if args.output == crate::output::DocumentFormat::Text {
        return Err(CliError::Usage(
            "provenance is a JSON document: --output text is not available (-o json is the default)"
                .into(),
        ));
    }
    if let Some(path) = &args.output_file {
        refuse_existing(path, args.force)?;
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    // Facts are checked before the subject is looked up: a run outside CI fails fast.
    let check_subjects = vec![ResourceDescriptor::for_digest(
        "subject",
        &Digest::sha256(b""),
    )];
    let now = SystemTime::now();
    let make = |subjects: Vec<ResourceDescriptor>| -> Result<Statement, CliError> {
        match ci {
            Ci::Auto => build::from_ci_environment(&env, subjects, now),
            Ci::Github => build::github_actions(&env, subjects, now),
            Ci::Gitlab => build::gitlab_ci(&env, subjects, now),
            Ci::Generic => build::generic(&args.generic_build(), subjects, now),
        }
        .map_err(|e| build_error(e, ci == Ci::Generic))
    };
    make(check_subjects)?;

    let subject = subject_of(&args.subject, &args.registry).await?;
    let statement = make(vec![subject])?;
    let mut json = serde_json::to_vec_pretty(&statement).unwrap_or_default();
    json.push(b'\n');
    match &args.output_file {
        Some(path) => {
            write_file(path, &json, 0o644, args.force)?;
            eprintln!(
                "Wrote SLSA provenance v1 for {} to {}",
                args.subject,
                path.display()
            );
        }
        None => crate::output::write_stdout(&json),
    }
    Ok(ExitCode::SUCCESS)
}

/// The statement subject for `text`: a regular file's name and SHA-256 (hashed as it is
/// read, however large), else the image's repository and manifest digest.
async fn subject_of(text: &str, registry: &RegistryArgs) -> Result<ResourceDescriptor, CliError> {
    let path = Path::new(text);
    if path.is_file() {
        // Opened as any input: what is hashed is a regular file, read no further than the
        // size it had when opened.
        let digest = InputFile::open(path)?.digest(DigestAlgorithm::Sha256)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| text.to_owned());
        return Ok(ResourceDescriptor::for_digest(name, &digest));
    }
    let reference = ImageReference::parse(text).map_err(|e| {
        CliError::Usage(format!(
            "{text} is neither an existing file nor an image reference: {e}"
        ))
    })?;
    let client = registry.client()?;
    let target = Store::open(&client, &reference)?;
    let resolved = target.resolve().await?;
    Ok(ResourceDescriptor::for_digest(
        target.store.docker_reference(),
        &resolved.digest,
    ))
}
