//! Bounded reading shared by the OS catalogers: lines cut at a length limit, whole files
//! refused over a size limit, and the I/O error turned into [`SbomError::ReadFailed`].

use std::io::{self, BufRead, Read};

use crate::SbomError;

/// Lines of a stream, each at most `max_line` bytes: a longer line is cut at the limit (the
/// rest of it is read and dropped) and counted in `overlong`. Memory is bounded by the limit
/// whatever the stream holds.
pub(crate) struct Lines<R> {
    reader: R,
    max_line: usize,
    buf: Vec<u8>,
    /// How many lines were longer than the limit and were cut.
    pub(crate) overlong: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`, each cut at `max_line` bytes.
    pub(crate) fn new(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            max_line,
            buf: Vec::new(),
            overlong: 0,
        }
    }

    /// The next line without its `\n` (nor a `\r` before it), invalid UTF-8 replaced by
    /// U+FFFD; `None` at the end of the stream. A last line without `\n` is still a line.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<String>> {
        self.buf.clear();
        let mut read_any = false;
        let mut cut = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let (chunk, consumed, done) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max_line.saturating_sub(self.buf.len());
            if chunk.len() > room {
                cut = true;
            }
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.reader.consume(consumed);
            if done {
                break;
            }
        }
        if cut {
            self.overlong += 1;
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&self.buf).into_owned()))
    }
}

/// The whole stream, or `None` when it holds more than `limit` bytes (then at most
/// `limit + 1` bytes were read).
pub(crate) fn read_at_most(reader: &mut dyn Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// The error for a stream that failed while `path` was read.
pub(crate) fn read_failed(path: &str, error: &io::Error) -> SbomError {
    SbomError::ReadFailed {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// The warning for a file skipped because it is over the size limit.
pub(crate) fn too_large(what: &str, size: u64, limit: u64) -> String {
    format!("{what} is {size} bytes, over the limit of {limit} bytes; it was not read")
}
