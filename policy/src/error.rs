//! The one error type of `vouch-policy`.

use std::path::PathBuf;

/// Why a policy could not be loaded, or an image could not be decided at all. An image that
/// was decided against is not an error: it is a [`Decision`](crate::Decision) that says no.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A policy file (or a file it names) could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The policy is not valid: it does not parse, names an authority that does not exist,
    /// holds a regular expression that does not compile, or uses a feature vouch does not
    /// support. The message starts with `FILE:LINE:COLUMN` where the place is known.
    #[error("{file}{}: {reason}", .line.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The policy file (or the file it names) as given.
        file: String,
        /// Line and column, from 1, where known.
        line: Option<(u64, u64)>,
        /// What is wrong.
        reason: String,
    },
    /// The evidence about an image could not be gathered: the registry or layout failed, or
    /// the image does not exist.
    #[error("{0}")]
    Evidence(#[from] EvidenceError),
}

impl PolicyError {
    /// Whether the error lies in what the user gave (a policy, an image name), rather than in
    /// a registry or the machine: exit code 2 rather than 3.
    pub fn is_input_error(&self) -> bool {
        match self {
            PolicyError::Invalid { .. } => true,
            PolicyError::Read { .. } => false,
            PolicyError::Evidence(e) => e.input,
        }
    }
}

/// Evidence about an image that could not be had, from an
/// [`EvidenceSource`](crate::evidence::EvidenceSource).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image}: {reason}")]
pub struct EvidenceError {
    /// The image, as the source names it.
    pub image: String,
    /// What failed, as a sentence.
    pub reason: String,
    /// True when the image itself is wrong (it does not exist, its name does not parse);
    /// false for a store that failed (unreachable, refused, too large, timed out).
    pub input: bool,
}
