//! A minimal reader of Berkeley DB hash databases, the format of rpm's `Packages` file up
//! to rpm 4.16 (RHEL and CentOS 8 and older, Amazon Linux 2). Layouts are those of
//! libdb's `dbinc/db_page.h`.
//!
//! Rather than following the hash buckets, every page is visited once, in file order, as
//! go-rpmdb does: each hash page (`P_HASH`, or `P_HASH_UNSORTED` from old versions) holds
//! key/data pairs, and the data items are the package headers, inline (`H_KEYDATA`) or on
//! a chain of overflow pages (`H_OFFPAGE`). Either byte order is read. Encrypted databases
//! are refused.

const HASH_MAGIC: u32 = 0x0006_1561;
/// Page types (db_page.h).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Hash item types.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// The page header (`PAGE` in db_page.h) is 26 bytes.
const PAGE_HEADER: usize = 26;
/// Inline values shorter than the smallest header blob are not packages (rpm keeps a
/// 4-byte counter under key 0).
const MIN_BLOB: usize = 8 + 16;

struct Layout<'a> {
    data: &'a [u8],
    page_size: usize,
    pages: usize,
    big_endian: bool,
}

impl Layout<'_> {
    fn u16(&self, bytes: &[u8], at: usize) -> Option<usize> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(usize::from(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }))
    }

    fn u32(&self, bytes: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn page(&self, number: usize) -> Option<&[u8]> {
        if number >= self.pages {
            return None;
        }
        self.data
            .get(number * self.page_size..(number + 1) * self.page_size)
    }

    /// The value stored on the overflow chain starting at page `first`, `length` bytes.
    fn overflow(&self, first: u32, length: usize) -> Result<Vec<u8>, String> {
        if length > self.data.len() {
            return Err(format!("off-page item of {length} bytes"));
        }
        let mut out = Vec::with_capacity(length);
        let mut next = first as usize;
        let mut hops = 0;
        while out.len() < length {
            hops += 1;
            if next == 0 || hops > self.pages {
                return Err(format!(
                    "overflow chain ends after {} of {length} bytes",
                    out.len()
                ));
            }
            let page = self
                .page(next)
                .ok_or_else(|| format!("overflow page {next} is outside the file"))?;
            if page[25] != P_OVERFLOW {
                return Err(format!("page {next} is type {}, not overflow", page[25]));
            }
            // On overflow pages the "high free offset" field holds the bytes used.
            let used = self.u16(page, 22).unwrap_or_default();
            let chunk = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| format!("overflow page {next} claims {used} bytes"))?;
            out.extend_from_slice(&chunk[..chunk.len().min(length - out.len())]);
            next = self.u32(page, 16).unwrap_or_default() as usize;
        }
        Ok(out)
    }
}

/// Calls `blob` with every value stored in the hash database in `data` that can be a
/// header, or with the reason one could not be read; fails when the metadata page is not
/// that of a hash database.
pub(super) fn for_each_value(data: &[u8], blob: &mut super::BlobSink<'_>) -> Result<(), String> {
    let meta = data.get(..512).ok_or("shorter than a metadata page")?;
    let magic: [u8; 4] = meta[12..16].try_into().map_err(|_| "no magic")?;
    let big_endian = if u32::from_le_bytes(magic) == HASH_MAGIC {
        false
    } else if u32::from_be_bytes(magic) == HASH_MAGIC {
        true
    } else {
        return Err("not a Berkeley DB hash database".to_owned());
    };
    let mut layout = Layout {
        data,
        page_size: 0,
        pages: 0,
        big_endian,
    };
    let page_size = layout.u32(meta, 20).unwrap_or_default() as usize;
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(format!("page size {page_size}"));
    }
    if meta[24] != 0 {
        return Err("encrypted databases are not supported".to_owned());
    }
    if meta[25] != P_HASHMETA {
        return Err(format!("metadata page type {}", meta[25]));
    }
    let last_page = layout.u32(meta, 32).unwrap_or_default() as usize;
    layout.page_size = page_size;
    layout.pages = (data.len() / page_size).min(last_page.saturating_add(1));

    // Each overflow page belongs to one item in a sound file, so the values together are no
    // larger than the file; more means shared chains, which would make the walk quadratic.
    let mut budget = data.len();
    for number in 0..layout.pages {
        let Some(page) = layout.page(number) else {
            break;
        };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let entries = layout.u16(page, 20).unwrap_or_default();
        let offset = |i: usize| layout.u16(page, PAGE_HEADER + 2 * i);
        // Items alternate key, data; the data items are the values.
        for i in (1..entries).step_by(2) {
            let (Some(at), Some(before)) = (offset(i), offset(i - 1)) else {
                blob(Err(format!("page {number}: index past the page")));
                break;
            };
            match page.get(at) {
                Some(&H_OFFPAGE) => {
                    let (Some(first), Some(length)) =
                        (layout.u32(page, at + 4), layout.u32(page, at + 8))
                    else {
                        blob(Err(format!("page {number}: item {i} past the page")));
                        continue;
                    };
                    budget = budget
                        .checked_sub(length as usize)
                        .ok_or("the values hold more bytes than the file")?;
                    match layout.overflow(first, length as usize) {
                        Ok(value) => blob(Ok(&value)),
                        Err(e) => blob(Err(format!("page {number}: {e}"))),
                    }
                }
                Some(&H_KEYDATA) => {
                    // Items are laid out downwards from the end of the page, so an item
                    // ends where the one before it in the index starts.
                    let Some(value) = before
                        .checked_sub(at)
                        .and_then(|len| page.get(at + 1..at + len))
                    else {
                        blob(Err(format!("page {number}: item {i} overlaps")));
                        continue;
                    };
                    if value.len() >= MIN_BLOB {
                        blob(Ok(value));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
