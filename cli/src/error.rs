//! The command-line error: one line for the user, and the exit code it maps to.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vouch_keys::files::{InputFile, InputFileError};
use vouch_keys::{KeyError, MAX_KEY_FILE_BYTES};
use vouch_registry::RegistryError;
use zeroize::Zeroizing;

/// The largest Sigstore bundle read (`verify-blob --bundle`): 32 MiB. A DSSE bundle carries
/// its statement base64-encoded, and statements may be 16 MiB
/// (`vouch_attestations::intoto::DEFAULT_MAX_STATEMENT_SIZE`), so a bundle vouch wrote fits.
pub(crate) const MAX_BUNDLE_BYTES: u64 = 32 * 1024 * 1024;

/// The largest Sigstore `trusted_root.json` read (`--trusted-root`): 4 MiB. The public-good
/// root is about 10 KiB; a private deployment's, with years of rotated keys, stays far below.
pub(crate) const MAX_TRUSTED_ROOT_BYTES: u64 = 4 * 1024 * 1024;

/// The largest file [`read_input`] reads: 1 MiB. Its callers read public keys (which
/// [`MAX_KEY_FILE_BYTES`] would bound more tightly, see [`read_key_file`]) and Rego policies
/// (`verify-attestation --policy`), which are text written by people.
pub(crate) const MAX_TEXT_INPUT_BYTES: u64 = 1024 * 1024;

/// Everything that stops a command before it reaches a verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Arguments that cannot work together, or a missing password.
    #[error("{0}")]
    Usage(String),
    /// A key file that could not be used.
    #[error("{}: {source}", .path.display())]
    Key { path: PathBuf, source: KeyError },
    /// A key on a PKCS#11 token (`--key pkcs11:...`) that could not be used: the URI is shown
    /// as [`vouch_keys::pkcs11::Pkcs11Uri`] displays it, its PIN redacted.
    #[error("{uri}: {source}")]
    Pkcs11 { uri: String, source: KeyError },
    /// A key operation that failed with no file involved (generating, signing, encrypting):
    /// the machine's failure, not the user's input.
    #[error(transparent)]
    KeyOperation(#[from] KeyError),
    /// Something vouch itself should have done failed: the embedded trusted root does not
    /// read, a document vouch built does not serialize. Never caused by the user's input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A registry or layout failure.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file given as input could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    ReadInput {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file given as input that was refused before or while reading it: not a regular
    /// file (a FIFO, a device, a directory), over its size limit, missing or unreadable.
    #[error(transparent)]
    InputFile(#[from] InputFileError),
    /// An input file that was read but is not what it should be (a malformed bundle,
    /// predicate or trusted root).
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
    /// Nothing of the kind asked for is attached to an image (`vouch download`): names the
    /// image and where vouch looked.
    #[error("no {what} attached to {image}: looked in {looked}")]
    NothingAttached {
        what: String,
        image: String,
        looked: String,
    },
    /// An output file exists and --force was not given.
    #[error("{} already exists; pass --force to overwrite it", .path.display())]
    Exists { path: PathBuf },
    /// A Sigstore service (a transparency log, Fulcio, a timestamp authority) answered, but
    /// its answer does not verify: nothing is written or pushed.
    #[error(
        "{service}: its answer does not verify: [{check}] {reason}; nothing was written or pushed"
    )]
    ServiceAnswer {
        service: String,
        check: vouch_verifier::check::Check,
        reason: String,
    },
    /// An identity token that cannot buy a certificate (missing, malformed, expired, for
    /// another audience). Never holds the token.
    #[error("{0}")]
    IdentityToken(String),
    /// A trust policy that could not be loaded, or evidence that could not be gathered.
    #[error(transparent)]
    Policy(#[from] vouch_policy::PolicyError),
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A network or operating-system failure that is not a file's (binding a port).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl CliError {
    /// 2 for what the user gave (arguments, keys, references, images that do not exist),
    /// 3 for the machine, the registry and the transparency log (I/O, network, their answers)
    /// and for internal failures (signing, the embedded trusted root).
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The exit code as a number, to compare: a higher one is worse.
    pub(crate) fn code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Key { .. }
            | CliError::ReadInput { .. }
            | CliError::InputFile(_)
            | CliError::Input { .. }
            | CliError::Exists { .. }
            | CliError::NothingAttached { .. }
            | CliError::IdentityToken(_) => 2,
            CliError::Registry(e) if e.is_input_error() => 2,
            // A bad URI, a wrong PIN, no such token or key: the user's to correct; the token
            // failing an operation it was rightly asked for is the machine's.
            CliError::Pkcs11 {
                source: KeyError::Pkcs11 { kind, .. },
                ..
            } if !kind.is_input_error() => 3,
            CliError::Pkcs11 { .. } => 2,
            CliError::Policy(vouch_policy::PolicyError::Evidence(e)) if !e.input => 3,
            CliError::Policy(_) => 2,
            CliError::Registry(_)
            | CliError::ServiceAnswer { .. }
            | CliError::Write { .. }
            | CliError::Io { .. }
            | CliError::KeyOperation(_)
            | CliError::Internal(_) => 3,
        }
    }
}

/// Reads a small text input (a public key, a policy) of at most [`MAX_TEXT_INPUT_BYTES`],
/// refusing what is not a regular file without blocking on it, naming the file on failure.
pub(crate) fn read_input(path: &Path) -> Result<Zeroizing<String>, CliError> {
    read_text(InputFile::open(path)?, MAX_TEXT_INPUT_BYTES)
}

/// A key file read by [`read_key_file`], with the permission bits it had.
pub(crate) struct KeyFile {
    /// The PEM text (zeroed when dropped).
    pub(crate) text: Zeroizing<String>,
    /// The file's permission bits (`0o600`, ...), from the opened handle.
    pub(crate) mode: u32,
}

/// Reads a key file (at most [`MAX_KEY_FILE_BYTES`], a regular file), or, for `env://VAR`
/// (cosign's form), the PEM text in the environment variable VAR. A key from the environment
/// has no file permissions to warn about (its mode reads as 0600).
pub(crate) fn read_key_file(path: &Path) -> Result<KeyFile, CliError> {
    if let Some(variable) = path.to_str().and_then(|p| p.strip_prefix("env://")) {
        let value = std::env::var_os(variable).filter(|v| !v.is_empty());
        let Some(value) = value else {
            return Err(CliError::Usage(format!(
                "--key env://{variable}: the environment variable {variable} is not set"
            )));
        };
        let text = value.into_string().map_err(|_| CliError::Input {
            path: path.to_owned(),
            reason: "is not UTF-8 text".into(),
        })?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(CliError::Input {
                path: path.to_owned(),
                reason: format!("is over {MAX_KEY_FILE_BYTES} bytes; a PEM key is far smaller"),
            });
        }
        return Ok(KeyFile {
            text: Zeroizing::new(text),
            mode: 0o600,
        });
    }
    let file = InputFile::open(path)?;
    let mode = file.mode();
    Ok(KeyFile {
        text: read_text(file, MAX_KEY_FILE_BYTES)?,
        mode,
    })
}

/// Reads a document (a bundle, a trusted root) of at most `limit` bytes, a regular file.
pub(crate) fn read_document(path: &Path, limit: u64) -> Result<Vec<u8>, CliError> {
    Ok(vouch_keys::files::read_capped(path, limit)?)
}

/// Reads `file` (at most `limit` bytes) as UTF-8 text; the bytes are zeroed when dropped,
/// whether they were text or not, since they may be a key.
fn read_text(file: InputFile, limit: u64) -> Result<Zeroizing<String>, CliError> {
    let path = file.path().to_owned();
    let bytes = file.read_capped(limit)?;
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        drop(Zeroizing::new(e.into_bytes()));
        CliError::Input {
            path,
            reason: "is not UTF-8 text".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: &CliError) -> ExitCode {
        error.exit_code()
    }

    #[test]
    fn internal_failures_exit_3_and_input_errors_exit_2() {
        let internal = [
            CliError::Internal("the embedded trusted root does not read".into()),
            CliError::KeyOperation(KeyError::Crypto("signing failed")),
            CliError::Write {
                path: "out".into(),
                source: std::io::Error::other("disk full"),
            },
        ];
        for error in &internal {
            assert_eq!(code(error), ExitCode::from(3), "{error}");
        }
        let input = [
            CliError::Usage("--key is for --attest".into()),
            CliError::Input {
                path: "bundle.json".into(),
                reason: "not JSON".into(),
            },
            CliError::Exists { path: "out".into() },
            CliError::NothingAttached {
                what: "signatures".into(),
                image: "registry.example/app@sha256:ab".into(),
                looked: "registry.example/app:sha256-ab.sig".into(),
            },
        ];
        for error in &input {
            assert_eq!(code(error), ExitCode::from(2), "{error}");
        }
    }
}
