//! The command-line error: one line for the user, and the exit code it maps to.

use std::path::PathBuf;
use std::process::ExitCode;

use vouch_keys::KeyError;
use vouch_registry::RegistryError;

/// Everything that stops a command before it reaches a verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Arguments that cannot work together, or a missing password.
    #[error("{0}")]
    Usage(String),
    /// A key file that could not be used.
    #[error("{}: {source}", .path.display())]
    Key { path: PathBuf, source: KeyError },
    /// A key operation that failed (no file involved).
    #[error(transparent)]
    KeyOperation(#[from] KeyError),
    /// A registry or layout failure.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file given as input could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    ReadInput {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input file that was read but is not what it should be (a malformed bundle,
    /// predicate or trusted root).
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
    /// An output file exists and --force was not given.
    #[error("{} already exists; pass --force to overwrite it", .path.display())]
    Exists { path: PathBuf },
    /// A transparency log answered, but its answer does not verify: nothing is written.
    #[error(
        "transparency log {url}: its answer does not verify: [{check}] {reason}; no bundle written"
    )]
    LogAnswer {
        url: String,
        check: &'static str,
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CliError {
    /// 2 for what the user gave (arguments, keys, references, images that do not exist),
    /// 3 for the machine, the registry and the transparency log (I/O, network, their answers).
    pub(crate) fn exit_code(&self) -> ExitCode {
        let code = match self {
            CliError::Usage(_)
            | CliError::Key { .. }
            | CliError::KeyOperation(_)
            | CliError::ReadInput { .. }
            | CliError::Input { .. }
            | CliError::Exists { .. } => 2,
            CliError::Registry(e) if e.is_input_error() => 2,
            CliError::Registry(_) | CliError::LogAnswer { .. } | CliError::Write { .. } => 3,
        };
        ExitCode::from(code)
    }
}

/// Reads a small input file (a key), naming it on failure.
pub(crate) fn read_input(path: &std::path::Path) -> Result<zeroize::Zeroizing<String>, CliError> {
    std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|source| CliError::ReadInput {
            path: path.to_owned(),
            source,
        })
}
