//! Reading helpers shared by the catalogers: reading small files with a size cap, and naming
//! I/O errors.

use std::io::{self, Read};

use crate::AttestationError;

/// An I/O error while reading `what`, as an [`AttestationError::Io`].
pub(crate) fn io_error(what: &'static str, error: &io::Error) -> AttestationError {
    AttestationError::Io {
        what,
        reason: error.to_string(),
    }
}

/// The whole of a small file: at most `limit` bytes, else [`AttestationError::TooLarge`]
/// naming `format` (without reading past `limit + 1` bytes).
pub(crate) fn read_small(
    reader: &mut dyn Read,
    format: &'static str,
    limit: usize,
) -> Result<Vec<u8>, AttestationError> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(format, &e))?;
    if bytes.len() > limit {
        return Err(AttestationError::TooLarge {
            format,
            size: bytes.len(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_small_refuses_more_than_the_limit() {
        assert_eq!(
            read_small(&mut &b"abc"[..], "x", 3).ok(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read_small(&mut &b"abcd"[..], "x", 3),
            Err(AttestationError::TooLarge {
                format: "x",
                size: 4,
                limit: 3
            })
        );
    }
}
