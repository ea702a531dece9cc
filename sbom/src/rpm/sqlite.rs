//! A minimal read-only reader of the SQLite database file format
//! (<https://www.sqlite.org/fileformat.html>), enough to walk one rowid table: the 100-byte
//! header, table b-tree interior and leaf pages, overflow pages and the record format.
//!
//! Every page number, offset and length read from the file is checked against the file
//! before use; a page reached twice (a cycle) is an error. Index b-trees, WITHOUT ROWID
//! tables, UTF-16 databases and the write-ahead log (`-wal` file, which is another file)
//! are not read.

use std::borrow::Cow;

/// SQLite format 3, section 1.3: "SQLite format 3\000".
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// A database file, its header checked.
pub(super) struct Database<'a> {
    data: &'a [u8],
    page_size: usize,
    /// Page size less the reserved bytes at the end of each page.
    usable: usize,
    pages: u32,
}

/// One column value of a record (section 2.1, serial types).
#[derive(Debug, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Integer(i64),
    Float,
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// A SQLite variable-length integer (section 1.6): its value and its length in bytes.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *bytes.get(i)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(byte), 9));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn be16(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The columns of a record (section 2.1): a header of serial types, then the values.
pub(super) fn record(payload: &[u8]) -> Result<Vec<Value<'_>>, String> {
    let (header_len, mut at) = varint(payload).ok_or("record header length is cut off")?;
    let header_len = usize::try_from(header_len).map_err(|_| "record header is too long")?;
    if header_len > payload.len() || header_len < at {
        return Err(format!(
            "record header of {header_len} bytes in a payload of {}",
            payload.len()
        ));
    }
    let mut body = header_len;
    let mut values = Vec::new();
    while at < header_len {
        let (serial, used) =
            varint(&payload[at..header_len]).ok_or("record serial type is cut off")?;
        at += used;
        let size = match serial {
            0 | 8 | 9 => 0,
            1..=4 => serial as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(format!("reserved serial type {serial}")),
            n => usize::try_from((n - 12) / 2).map_err(|_| "value too long")?,
        };
        let bytes = body
            .checked_add(size)
            .and_then(|end| payload.get(body..end))
            .ok_or_else(|| format!("value of {size} bytes runs past the record"))?;
        body += size;
        values.push(match serial {
            0 => Value::Null,
            8 => Value::Integer(0),
            9 => Value::Integer(1),
            1..=6 => {
                // Big-endian two's complement of 1, 2, 3, 4, 6 or 8 bytes.
                let negative = bytes[0] & 0x80 != 0;
                let mut n: i64 = if negative { -1 } else { 0 };
                for &b in bytes {
                    n = (n << 8) | i64::from(b);
                }
                Value::Integer(n)
            }
            7 => Value::Float,
            n if n % 2 == 0 => Value::Blob(bytes),
            _ => Value::Text(bytes),
        });
    }
    Ok(values)
}

impl<'a> Database<'a> {
    /// Checks the header of the file in `data` (section 1.3).
    pub(super) fn open(data: &'a [u8]) -> Result<Self, String> {
        if data.len() < 100 || !data.starts_with(MAGIC) {
            return Err("not a SQLite 3 database".to_owned());
        }
        let page_size = match be16(data, 16).unwrap_or_default() {
            1 => 65536,
            n if n.is_power_of_two() && (512..=32768).contains(&n) => n,
            n => return Err(format!("page size {n}")),
        };
        let reserved = usize::from(data[20]);
        let usable = page_size - reserved;
        // Section 1.3.4: the usable size may not be less than 480.
        if usable < 480 {
            return Err(format!("usable page size {usable}"));
        }
        let encoding = be32(data, 56).unwrap_or_default();
        if encoding > 1 {
            return Err(format!(
                "text encoding {encoding} (UTF-16) is not supported"
            ));
        }
        let pages = u32::try_from(data.len() / page_size).map_err(|_| "too many pages")?;
        Ok(Self {
            data,
            page_size,
            usable,
            pages,
        })
    }

    /// Page `number` (from 1), without the reserved bytes at its end.
    fn page(&self, number: u32) -> Result<&'a [u8], String> {
        if number == 0 || number > self.pages {
            return Err(format!(
                "page {number} is outside the file's {} pages",
                self.pages
            ));
        }
        let start = (number as usize - 1) * self.page_size;
        Ok(&self.data[start..start + self.usable])
    }

    /// The payload of a table leaf cell whose payload size is `size` and whose local part
    /// starts at `local` on the page, with its overflow pages followed (section 1.5).
    fn payload(&self, page: &'a [u8], local: usize, size: u64) -> Result<Cow<'a, [u8]>, String> {
        let usable = self.usable as u64;
        let max_local = usable - 35;
        if size <= max_local {
            let end = local + size as usize;
            return page
                .get(local..end)
                .map(Cow::Borrowed)
                .ok_or_else(|| "cell runs past its page".to_owned());
        }
        if size > self.data.len() as u64 {
            return Err(format!(
                "payload of {size} bytes in a file of {} bytes",
                self.data.len()
            ));
        }
        let min_local = ((usable - 12) * 32 / 255) - 23;
        let k = min_local + ((size - min_local) % (usable - 4));
        let on_page = if k <= max_local { k } else { min_local } as usize;
        let size = size as usize;
        let first = page
            .get(local..local + on_page)
            .ok_or("cell runs past its page")?;
        let mut next = be32(page, local + on_page).ok_or("overflow pointer past its page")?;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(first);
        let mut hops = 0u32;
        while out.len() < size {
            hops += 1;
            if next == 0 || hops > self.pages {
                return Err(format!(
                    "overflow chain ends after {} of {size} bytes",
                    out.len()
                ));
            }
            let overflow = self.page(next)?;
            next = be32(overflow, 0).unwrap_or_default();
            let take = (size - out.len()).min(self.usable - 4);
            out.extend_from_slice(&overflow[4..4 + take]);
        }
        Ok(Cow::Owned(out))
    }

    /// Calls `row` with the rowid and payload of every row of the table b-tree rooted at
    /// page `root`, in rowid order. Fails on a page that is not a table b-tree page, a cell
    /// or pointer outside its page, a page reached twice, or rows larger in all than the
    /// file.
    pub(super) fn walk_table(
        &self,
        root: u32,
        row: &mut dyn FnMut(i64, &[u8]),
    ) -> Result<(), String> {
        let mut visited = vec![false; self.pages as usize + 1];
        let mut stack = vec![root];
        // In a sound file every page holds one payload's bytes at most, so the payloads
        // together are no larger than the file; more means cells share overflow chains, which
        // would make the walk quadratic.
        let mut payload_bytes = 0u64;
        while let Some(number) = stack.pop() {
            let seen = visited
                .get_mut(number as usize)
                .ok_or_else(|| format!("page {number} is outside the file"))?;
            if *seen {
                return Err(format!("page {number} is reached twice"));
            }
            *seen = true;
            let page = self.page(number)?;
            // Page 1 starts with the 100-byte file header; cell offsets stay page-relative.
            let header = if number == 1 { 100 } else { 0 };
            let kind = *page.get(header).ok_or("page header past the page")?;
            let cells = be16(page, header + 3).ok_or("page header past the page")?;
            let pointer = |i: usize, header_len: usize| -> Result<usize, String> {
                let at = be16(page, header + header_len + 2 * i)
                    .ok_or_else(|| format!("cell pointer {i} of page {number} past the page"))?;
                if at >= page.len() {
                    return Err(format!("cell {i} of page {number} starts past the page"));
                }
                Ok(at)
            };
            match kind {
                // Section 1.6: interior table b-tree page.
                0x05 => {
                    let right = be32(page, header + 8).ok_or("page header past the page")?;
                    stack.push(right);
                    for i in (0..cells).rev() {
                        let at = pointer(i, 12)?;
                        stack.push(be32(page, at).ok_or("child pointer past the page")?);
                    }
                }
                // Leaf table b-tree page.
                0x0d => {
                    for i in 0..cells {
                        let at = pointer(i, 8)?;
                        let (size, a) = varint(&page[at..]).ok_or("cell header cut off")?;
                        let (rowid, b) = varint(&page[at + a..]).ok_or("cell header cut off")?;
                        payload_bytes = payload_bytes.saturating_add(size);
                        if payload_bytes > self.data.len() as u64 {
                            return Err("the rows hold more bytes than the file".to_owned());
                        }
                        let payload = self.payload(page, at + a + b, size)?;
                        row(rowid as i64, &payload);
                    }
                }
                other => {
                    return Err(format!(
                        "page {number} has type {other:#04x}, not a table b-tree page"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The root page of table `name`, from the schema table (section 2.6) on page 1.
    pub(super) fn table_root(&self, name: &str) -> Result<u32, String> {
        let mut root = None;
        let mut problem = None;
        self.walk_table(1, &mut |_, payload| {
            if root.is_some() {
                return;
            }
            match record(payload) {
                Ok(columns) => {
                    if let [
                        Value::Text(b"table"),
                        Value::Text(found),
                        _,
                        Value::Integer(page),
                        ..,
                    ] = columns[..]
                        && found == name.as_bytes()
                    {
                        root = u32::try_from(page).ok();
                    }
                }
                Err(e) => problem = Some(e),
            }
        })?;
        match (root, problem) {
            (Some(root), _) => Ok(root),
            (None, Some(problem)) => Err(format!("schema table: {problem}")),
            (None, None) => Err(format!("no table {name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81]), None);
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn records() {
        // Header: length 4, NULL, 1-byte int, text of 2 bytes (serial 17).
        let payload = [4, 0, 1, 17, 0xfe, b'h', b'i'];
        assert_eq!(
            record(&payload).unwrap(),
            [Value::Null, Value::Integer(-2), Value::Text(b"hi")]
        );
        assert!(record(&[4, 0, 1, 17, 0xfe, b'h']).is_err());
        assert!(record(&[9, 0]).is_err());
        assert!(record(&[2, 10]).is_err());
        assert!(record(&[]).is_err());
    }

    #[test]
    fn refuses_what_is_not_sqlite() {
        assert!(Database::open(b"").is_err());
        assert!(Database::open(&[0u8; 4096]).is_err());
        let mut header = vec![0u8; 1024];
        header[..16].copy_from_slice(MAGIC);
        header[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(Database::open(&header).is_err());
        header[16..18].copy_from_slice(&512u16.to_be_bytes());
        header[20] = 100;
        assert!(Database::open(&header).is_err());
        header[20] = 0;
        let db = Database::open(&header).unwrap();
        // Page 1 of zeros is not a b-tree page.
        assert!(db.table_root("Packages").is_err());
    }
}
