//! Sequential reading of zip archives (PKWARE APPNOTE 6.3.10), as `java.util.zip
//! .ZipInputStream` does: local file header after local file header, never seeking to the
//! central directory.
//!
//! * An entry's data is stored (method 0) or deflated (method 8). When the local header gives
//!   the compressed size, an entry nobody reads is skipped without inflating it. When the
//!   size comes after the data (general purpose flag bit 3, a data descriptor), a deflated
//!   entry is inflated to the end of its deflate stream, which is where its data ends; the
//!   data descriptor (with or without its signature, 32- or 64-bit sizes) is skipped after it.
//!   A stored entry with a data descriptor and no size, an encrypted one, or another method
//!   with a data descriptor cannot be delimited: reading stops there ([`Stop::Unsupported`]).
//! * Sizes of 0xFFFFFFFF are read from the Zip64 extra field.
//! * Reading ends at the central directory (or any other record that follows the entries).
//!   Bytes before the first local header (a launcher script of an executable jar) are passed
//!   over, up to 1 MiB.
//! * Every byte inflated counts against a [`Budget`] shared by an archive and the archives
//!   nested in it; when it runs out, reading stops with [`Stop::Budget`].

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read, Take};

use flate2::bufread::DeflateDecoder;

use crate::stream::fill;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
/// Records that come after the entries: central directory header, end of central
/// directory (and its Zip64 forms), digital signature, archive extra data.
const AFTER_ENTRIES: [u32; 6] = [
    0x0201_4b50,
    0x0605_4b50,
    0x0606_4b50,
    0x0706_4b50,
    0x0505_4b50,
    0x0806_4b50,
];
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// How far the first local header is looked for.
const MAX_PREFIX: u64 = 1 << 20;

/// The inflation allowed for one file, and what went wrong underneath.
pub(super) struct Budget {
    limit: u64,
    remaining: Cell<u64>,
    exhausted: Cell<bool>,
    stream_failed: Cell<bool>,
}

impl Budget {
    /// A budget of `limit` inflated bytes.
    pub(super) fn new(limit: u64) -> Self {
        Self {
            limit,
            remaining: Cell::new(limit),
            exhausted: Cell::new(false),
            stream_failed: Cell::new(false),
        }
    }

    /// What an error while reading means: the budget ran out, the stream underneath
    /// failed, or the archive's data is bad.
    fn classify(&self, error: io::Error) -> Stop {
        if self.exhausted.get() {
            Stop::Budget(self.limit)
        } else if self.stream_failed.get() {
            Stop::Io(error)
        } else {
            Stop::Malformed(error.to_string())
        }
    }
}

/// Why reading an archive stopped before its end.
#[derive(Debug)]
pub(super) enum Stop {
    /// The stream underneath failed.
    Io(io::Error),
    /// The inflation budget (this many bytes) ran out.
    Budget(u64),
    /// The bytes are not a zip archive, or it is cut short or corrupt.
    Malformed(String),
    /// An entry cannot be delimited without the central directory.
    Unsupported(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Io(e) => write!(f, "reading the archive failed: {e}"),
            Stop::Budget(limit) => write!(
                f,
                "over {limit} bytes inflated (the limit for one file): the rest of the archive is not read"
            ),
            Stop::Malformed(reason) => write!(f, "not a readable zip archive: {reason}"),
            Stop::Unsupported(reason) => {
                write!(
                    f,
                    "the rest of the archive cannot be read in order: {reason}"
                )
            }
        }
    }
}

/// The stream an archive is read from: failures are noted in the budget so that they are
/// told apart from corrupt data.
pub(super) struct Watched<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<'b, R: Read> Watched<'b, R> {
    pub(super) fn new(inner: R, budget: &'b Budget) -> Self {
        Self { inner, budget }
    }
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.budget.stream_failed.set(true);
        })
    }
}

/// Inflated bytes, counted against the budget.
struct Budgeted<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.budget.remaining.get();
        if remaining == 0 && !buf.is_empty() {
            self.budget.exhausted.set(true);
            return Err(io::Error::other("inflation limit reached"));
        }
        let cap = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        self.budget.remaining.set(remaining - n as u64);
        Ok(n)
    }
}

/// One entry of an archive, as it streams by.
pub(super) struct Entry<'a> {
    /// The entry's path in the archive (`META-INF/MANIFEST.MF`).
    pub(super) name: String,
    contents: &'a mut dyn Read,
    budget: &'a Budget,
}

impl Entry<'_> {
    /// The entry's contents, decompressed.
    pub(super) fn reader(&mut self) -> &mut dyn Read {
        &mut *self.contents
    }

    /// What an error reading the entry's contents means.
    pub(super) fn stop(&self, error: io::Error) -> Stop {
        self.budget.classify(error)
    }
}

/// `n` bytes, or why not.
fn read_exact(reader: &mut dyn BufRead, budget: &Budget, n: usize) -> Result<Vec<u8>, Stop> {
    let mut bytes = vec![0u8; n];
    let got = fill(reader, &mut bytes).map_err(|e| budget.classify(e))?;
    if got < n {
        return Err(Stop::Malformed("cut short".into()));
    }
    Ok(bytes)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Passes over the bytes before the first local header (whose first four bytes, `seen`,
/// were read); true when a local header signature was found and read.
fn skip_prefix(reader: &mut dyn BufRead, budget: &Budget, seen: [u8; 4]) -> Result<bool, Stop> {
    const SIGNATURE: [u8; 4] = *b"PK\x03\x04";
    let step = |matched: usize, byte: u8| {
        if byte == SIGNATURE[matched] {
            matched + 1
        } else {
            usize::from(byte == SIGNATURE[0])
        }
    };
    let mut matched = 0;
    for byte in seen {
        matched = step(matched, byte);
    }
    let mut scanned = 0u64;
    while matched < 4 && scanned < MAX_PREFIX {
        let buf = reader.fill_buf().map_err(|e| budget.classify(e))?;
        if buf.is_empty() {
            return Ok(false);
        }
        let mut used = buf.len();
        for (i, &byte) in buf.iter().enumerate() {
            matched = step(matched, byte);
            if matched == 4 {
                used = i + 1;
                break;
            }
        }
        reader.consume(used);
        scanned += used as u64;
    }
    Ok(matched == 4)
}

/// What follows an entry with a data descriptor: the descriptor, and perhaps the next
/// record's signature when a writer set the flag without writing one.
fn skip_data_descriptor(
    reader: &mut dyn BufRead,
    budget: &Budget,
    zip64: bool,
    empty_stored: bool,
) -> Result<Option<u32>, Stop> {
    let sizes = if zip64 { 16 } else { 8 };
    let first = u32_at(&read_exact(reader, budget, 4)?, 0);
    if first == DATA_DESCRIPTOR {
        let rest = read_exact(reader, budget, 4 + sizes)?;
        let compressed = if zip64 {
            u64_at(&rest, 4).unwrap_or(u64::MAX)
        } else {
            u64::from(u32_at(&rest, 4))
        };
        if empty_stored && compressed != 0 {
            return Err(Stop::Unsupported(
                "a stored entry whose size is only in its data descriptor".into(),
            ));
        }
        Ok(None)
    } else if first == LOCAL_HEADER || AFTER_ENTRIES.contains(&first) {
        Ok(Some(first))
    } else if empty_stored {
        Err(Stop::Unsupported(
            "a stored entry whose size is only in its data descriptor".into(),
        ))
    } else {
        // A descriptor without its signature: `first` was the CRC-32.
        read_exact(reader, budget, sizes)?;
        Ok(None)
    }
}

/// Reads the entries of the archive in `reader`, handing each file entry (not directories)
/// to `on_entry`, which may read its contents; what it does not read is skipped. Returns at
/// the central directory, or with why reading stopped.
pub(super) fn read_entries(
    reader: &mut dyn BufRead,
    budget: &Budget,
    on_entry: &mut dyn FnMut(&mut Entry<'_>) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let mut pending: Option<u32> = None;
    let mut first = true;
    loop {
        let signature = match pending.take() {
            Some(signature) => signature,
            None => {
                let mut bytes = [0u8; 4];
                let n = fill(reader, &mut bytes).map_err(|e| budget.classify(e))?;
                if n < 4 {
                    return Err(Stop::Malformed(if first {
                        "empty".into()
                    } else {
                        "it ends before its central directory".into()
                    }));
                }
                let signature = u32::from_le_bytes(bytes);
                if signature != LOCAL_HEADER
                    && !AFTER_ENTRIES.contains(&signature)
                    && first
                    && skip_prefix(reader, budget, bytes)?
                {
                    LOCAL_HEADER
                } else {
                    signature
                }
            }
        };
        if AFTER_ENTRIES.contains(&signature) {
            return Ok(());
        }
        if signature != LOCAL_HEADER {
            return Err(Stop::Malformed(if first {
                "no local file header".into()
            } else {
                format!("unexpected record signature {signature:#010x}")
            }));
        }
        first = false;

        let header = read_exact(reader, budget, 26)?;
        let flags = u16_at(&header, 2);
        let method = u16_at(&header, 4);
        let mut compressed = u64::from(u32_at(&header, 14));
        let uncompressed_in_extra = u32_at(&header, 18) == u32::MAX;
        let name = read_exact(reader, budget, usize::from(u16_at(&header, 22)))?;
        let extra = read_exact(reader, budget, usize::from(u16_at(&header, 24)))?;
        let name = String::from_utf8_lossy(&name).into_owned();

        // Zip64 extended information: the sizes that did not fit, uncompressed first.
        let mut zip64 = false;
        let mut at = 0;
        while at + 4 <= extra.len() {
            let (id, len) = (u16_at(&extra, at), usize::from(u16_at(&extra, at + 2)));
            let field = extra.get(at + 4..at + 4 + len).unwrap_or_default();
            if id == 1 {
                zip64 = true;
                let mut values = field.chunks_exact(8).filter_map(|c| u64_at(c, 0));
                if uncompressed_in_extra {
                    values.next();
                }
                if compressed == u64::from(u32::MAX) {
                    compressed = values.next().unwrap_or(compressed);
                }
            }
            at += 4 + len;
        }

        let descriptor = flags & FLAG_DATA_DESCRIPTOR != 0;
        let is_file = !name.ends_with('/');
        if flags & FLAG_ENCRYPTED != 0 || (method != STORED && method != DEFLATED) {
            if descriptor {
                return Err(Stop::Unsupported(format!(
                    "{name}: an encrypted entry or compression method {method}, with a data descriptor"
                )));
            }
            io::copy(&mut reader.take(compressed), &mut io::sink())
                .map_err(|e| budget.classify(e))?;
            continue;
        }

        if method == DEFLATED && descriptor {
            // The data ends where its deflate stream does: inflate to there.
            let mut contents = Budgeted {
                inner: DeflateDecoder::new(&mut *reader),
                budget,
            };
            if is_file {
                on_entry(&mut Entry {
                    name,
                    contents: &mut contents,
                    budget,
                })?;
            }
            io::copy(&mut contents, &mut io::sink()).map_err(|e| budget.classify(e))?;
            pending = skip_data_descriptor(reader, budget, zip64, false)?;
            continue;
        }

        let empty_stored = method == STORED && descriptor && compressed == 0;
        let mut raw: Take<&mut dyn BufRead> = (&mut *reader).take(compressed);
        if is_file {
            if method == STORED {
                on_entry(&mut Entry {
                    name: name.clone(),
                    contents: &mut raw,
                    budget,
                })?;
            } else {
                on_entry(&mut Entry {
                    name: name.clone(),
                    contents: &mut Budgeted {
                        inner: DeflateDecoder::new(&mut raw),
                        budget,
                    },
                    budget,
                })?;
            }
        }
        // Whatever was not read is skipped as it is, not inflated.
        let left = raw.limit();
        let skipped = io::copy(&mut raw, &mut io::sink()).map_err(|e| budget.classify(e))?;
        if skipped < left {
            return Err(Stop::Malformed(format!("{name}: cut short")));
        }
        if descriptor {
            pending = skip_data_descriptor(reader, budget, zip64, empty_stored)?;
        }
    }
}
