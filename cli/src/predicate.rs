//! The predicate a user attests: `--predicate FILE` and `--type`, shared by `attest` and
//! `attest-blob`.
//!
//! The file is either a bare predicate (any JSON value, as cosign takes it) or a whole in-toto
//! statement, as `vouch provenance` writes it: then its predicate and predicate type are used
//! and its subjects must include the artifact being attested, so that a statement about one
//! image cannot be re-signed about another by mistake.

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;
use vouch_attestations::intoto::{DEFAULT_MAX_STATEMENT_SIZE, STATEMENT_V0_1, STATEMENT_V1};
use vouch_keys::Digest;
use vouch_keys::files::InputFile;

use crate::error::CliError;

/// The predicate type URI for cosign's `--type` shorthands; anything else must be a URI.
pub(crate) fn predicate_type_uri(name: &str) -> Result<String, CliError> {
    vouch_attestations::intoto::predicate_type_uri(name).ok_or_else(|| {
        CliError::Usage(format!(
            "--type {name:?} is neither a known predicate type (slsaprovenance1, \
             slsaprovenance, cyclonedx, spdxjson, vuln, openvex, link, custom) nor a URI"
        ))
    })
}

/// A predicate read from a file, with the type it is attested as.
pub(crate) struct Predicate {
    /// The predicate type URI.
    pub(crate) predicate_type: String,
    /// The predicate.
    pub(crate) value: Value,
}

/// Reads `path` (at most 16 MiB, strict JSON: no repeated keys) as the predicate about
/// `subject`, of type `type_arg` (a shorthand or URI; `custom` when not given). A statement
/// file gives its own predicate and type; `--type`, when given, must agree with it.
pub(crate) fn read_predicate(
    path: &Path,
    type_arg: Option<&str>,
    subject: &Digest,
) -> Result<Predicate, CliError> {
    let input = |reason: String| CliError::Input {
        path: path.to_owned(),
        reason,
    };
    let read_error = |source| CliError::ReadInput {
        path: path.to_owned(),
        source,
    };
    // A regular file only (a FIFO or a device is refused without blocking on it).
    let file = InputFile::open(path)?.into_file();
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know the file is too large; the statement
    // reader then refuses it, naming the limit.
    file.take(DEFAULT_MAX_STATEMENT_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let value =
        vouch_attestations::intoto::read_predicate(&bytes).map_err(|e| input(e.to_string()))?;
    let asked = type_arg.map(predicate_type_uri).transpose()?;

    let is_statement = matches!(value.get("_type").and_then(Value::as_str),
        Some(t) if t == STATEMENT_V1 || t == STATEMENT_V0_1);
    if !is_statement {
        return Ok(Predicate {
            predicate_type: match asked {
                Some(uri) => uri,
                None => predicate_type_uri("custom")?,
            },
            value,
        });
    }
    let statement = vouch_attestations::intoto::Statement::from_slice(&bytes)
        .map_err(|e| input(format!("an in-toto statement, but {e}")))?;
    if !statement.matches_digest(subject) {
        return Err(input(format!(
            "is an in-toto statement about {}, not about {subject}",
            statement
                .subjects()
                .iter()
                .flat_map(|s| s.digest().iter().map(|(a, v)| format!("{a}:{v}")))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(asked) = asked
        && asked != statement.predicate_type()
    {
        return Err(input(format!(
            "is an in-toto statement of predicate type {}, not {asked} as --type says",
            statement.predicate_type()
        )));
    }
    Ok(Predicate {
        predicate_type: statement.predicate_type().to_owned(),
        value: statement.predicate().cloned().unwrap_or(Value::Null),
    })
}
