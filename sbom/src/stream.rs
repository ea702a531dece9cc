//! Reading helpers shared by the catalogers: filling buffers from streams that return short
//! reads, reading small files with a size cap, and naming I/O errors.

use std::io::{self, Read};

use crate::SbomError;

/// An I/O error while reading `what`, as an [`SbomError::Io`].
pub(crate) fn io_error(what: &'static str, error: &io::Error) -> SbomError {
    SbomError::Io {
        what,
        reason: error.to_string(),
    }
}

/// Reads into `buf` until it is full or the stream ends; returns how many bytes were read.
/// Interrupted reads are retried.
pub(crate) fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The whole of a small file: at most `limit` bytes, else [`SbomError::TooLarge`]
/// naming `format` (without reading past `limit + 1` bytes).
pub(crate) fn read_small(
    reader: &mut dyn Read,
    format: &'static str,
    limit: usize,
) -> Result<Vec<u8>, SbomError> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(format, &e))?;
    if bytes.len() > limit {
        return Err(SbomError::TooLarge {
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

    /// A reader that hands out one byte per call.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn fill_gathers_short_reads() {
        let mut buf = [0u8; 4];
        assert_eq!(fill(&mut Trickle(b"abcdef"), &mut buf).ok(), Some(4));
        assert_eq!(&buf, b"abcd");
        assert_eq!(fill(&mut Trickle(b"ab"), &mut buf).ok(), Some(2));
    }

    #[test]
    fn read_small_refuses_more_than_the_limit() {
        assert_eq!(
            read_small(&mut &b"abc"[..], "x", 3).ok(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read_small(&mut &b"abcd"[..], "x", 3),
            Err(SbomError::TooLarge {
                format: "x",
                size: 4,
                limit: 3
            })
        );
    }
}
