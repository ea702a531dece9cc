//! The one error type of this crate: every reason a Sigstore bundle, its trust material or one
//! of its proofs is refused, each check its own variant, each message naming what failed.

use crate::time::TimeError;

/// Why verification refused something. Variants are grouped by the check that failed; the
/// message names the check and the values that disagreed, never secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A time field could not be read.
    #[error(transparent)]
    Time(#[from] TimeError),
}
