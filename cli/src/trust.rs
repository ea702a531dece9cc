//! Trust material, loaded in one place for every command: public keys (`--key`) and Sigstore
//! trusted roots (`--trusted-root`, else the embedded public-good root). A file the user gave
//! that does not read is an input error (exit 2) naming the file; the embedded root failing
//! to read is an internal error (exit 3).

use std::borrow::Cow;
use std::path::Path;

use vouch_keys::PublicKey;
use vouch_verifier::trust_root::TrustedRoot;

use crate::error::{CliError, MAX_TRUSTED_ROOT_BYTES, read_document, read_key_file};

/// What reports call the embedded root.
pub(crate) const EMBEDDED_ROOT_NAME: &str = "embedded public-good trusted root";

/// Reads the public key in the PEM file `path` (at most `MAX_KEY_FILE_BYTES`, a regular file).
pub(crate) fn public_key(path: &Path) -> Result<PublicKey, CliError> {
    let text = read_key_file(path)?.text;
    PublicKey::from_pem(&text).map_err(|source| CliError::Key {
        path: path.to_owned(),
        source,
    })
}

/// A trusted root and the name reports give it.
pub(crate) struct LoadedRoot {
    /// The root.
    pub(crate) root: Cow<'static, TrustedRoot>,
    /// The file it was read from, or [`EMBEDDED_ROOT_NAME`].
    pub(crate) name: String,
}

/// The trusted root in `path` (at most `MAX_TRUSTED_ROOT_BYTES`), else the embedded
/// public-good root.
pub(crate) fn trusted_root(path: Option<&Path>) -> Result<LoadedRoot, CliError> {
    match path {
        Some(path) => {
            let bytes = read_document(path, MAX_TRUSTED_ROOT_BYTES)?;
            let root = TrustedRoot::from_json(&bytes).map_err(|e| CliError::Input {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            Ok(LoadedRoot {
                root: Cow::Owned(root),
                name: path.display().to_string(),
            })
        }
        None => Ok(LoadedRoot {
            root: Cow::Borrowed(public_good()?),
            name: EMBEDDED_ROOT_NAME.to_owned(),
        }),
    }
}

/// The embedded public-good trusted root.
pub(crate) fn public_good() -> Result<&'static TrustedRoot, CliError> {
    TrustedRoot::public_good()
        .map_err(|e| CliError::Internal(format!("the {EMBEDDED_ROOT_NAME} does not read: {e}")))
}
