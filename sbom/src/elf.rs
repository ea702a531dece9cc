//! The few parts of ELF (the System V ABI's object file format) the binary catalogers need:
//! the file header, program headers and section headers, read from byte slices with every
//! offset checked. 32- and 64-bit, little- and big-endian.

/// The magic number every ELF file starts with.
pub(crate) const MAGIC: &[u8; 4] = b"\x7fELF";

/// `PT_LOAD`: a segment loaded into memory.
pub(crate) const PT_LOAD: u32 = 1;
/// `PF_X`: an executable segment.
pub(crate) const PF_X: u32 = 1;
/// `PF_W`: a writable segment.
pub(crate) const PF_W: u32 = 2;

/// Byte order and word size, to read fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) is_64: bool,
    pub(crate) big_endian: bool,
}

impl Layout {
    pub(crate) fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    pub(crate) fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    pub(crate) fn u64(self, bytes: &[u8], at: usize) -> Option<u64> {
        let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// A word: 8 bytes in 64-bit files, 4 in 32-bit ones.
    fn word(self, bytes: &[u8], at: usize) -> Option<u64> {
        if self.is_64 {
            self.u64(bytes, at)
        } else {
            self.u32(bytes, at).map(u64::from)
        }
    }
}

/// The ELF file header's fields that locate the program and section header tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) layout: Layout,
    pub(crate) phoff: u64,
    pub(crate) phentsize: u16,
    pub(crate) phnum: u16,
    pub(crate) shoff: u64,
    pub(crate) shentsize: u16,
    pub(crate) shnum: u16,
    pub(crate) shstrndx: u16,
}

impl Header {
    /// Reads the file header from the first bytes of a file; `None` when they are not an
    /// ELF header of a known class and byte order.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Header> {
        if bytes.get(..4)? != MAGIC {
            return None;
        }
        let is_64 = match bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match bytes.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let layout = Layout { is_64, big_endian };
        let (phoff, shoff, rest) = if is_64 {
            (layout.u64(bytes, 32)?, layout.u64(bytes, 40)?, 52)
        } else {
            (
                u64::from(layout.u32(bytes, 28)?),
                u64::from(layout.u32(bytes, 32)?),
                40,
            )
        };
        Some(Header {
            layout,
            phoff,
            phentsize: layout.u16(bytes, rest + 2)?,
            phnum: layout.u16(bytes, rest + 4)?,
            shoff,
            shentsize: layout.u16(bytes, rest + 6)?,
            shnum: layout.u16(bytes, rest + 8)?,
            shstrndx: layout.u16(bytes, rest + 10)?,
        })
    }

    /// The smallest valid program header entry.
    fn min_phentsize(&self) -> usize {
        if self.layout.is_64 { 56 } else { 32 }
    }

    /// The smallest valid section header entry.
    pub(crate) fn min_shentsize(&self) -> usize {
        if self.layout.is_64 { 64 } else { 40 }
    }

    /// The size in bytes of the program header table, `None` when its entry size is invalid.
    pub(crate) fn program_table_size(&self) -> Option<usize> {
        let entry = usize::from(self.phentsize);
        (entry >= self.min_phentsize()).then(|| entry * usize::from(self.phnum))
    }

    /// The program headers in `table` (the bytes at `phoff`); entries cut short are
    /// dropped.
    pub(crate) fn segments(&self, table: &[u8]) -> Vec<Segment> {
        let entry = usize::from(self.phentsize);
        if entry < self.min_phentsize() {
            return Vec::new();
        }
        let l = self.layout;
        (0..usize::from(self.phnum))
            .filter_map(|i| {
                let e = table.get(i * entry..(i + 1) * entry)?;
                Some(if l.is_64 {
                    Segment {
                        kind: l.u32(e, 0)?,
                        flags: l.u32(e, 4)?,
                        offset: l.u64(e, 8)?,
                        filesz: l.u64(e, 32)?,
                    }
                } else {
                    Segment {
                        kind: l.u32(e, 0)?,
                        offset: u64::from(l.u32(e, 4)?),
                        filesz: u64::from(l.u32(e, 16)?),
                        flags: l.u32(e, 24)?,
                    }
                })
            })
            .collect()
    }

    /// Section header `index` of `table` (the bytes at `shoff`).
    pub(crate) fn section(&self, table: &[u8], index: usize) -> Option<Section> {
        let entry = usize::from(self.shentsize);
        if entry < self.min_shentsize() {
            return None;
        }
        let e = table.get(index.checked_mul(entry)?..index.checked_add(1)?.checked_mul(entry)?)?;
        let l = self.layout;
        let (offset_at, size_at, link_at) = if l.is_64 { (24, 32, 40) } else { (16, 20, 24) };
        Some(Section {
            name: l.u32(e, 0)?,
            offset: l.word(e, offset_at)?,
            size: l.word(e, size_at)?,
            link: l.u32(e, link_at)?,
        })
    }
}

/// A program header: a segment of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) kind: u32,
    pub(crate) flags: u32,
    pub(crate) offset: u64,
    pub(crate) filesz: u64,
}

/// A section header's fields the catalogers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Section {
    /// Offset of the name in the section name string table.
    pub(crate) name: u32,
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) link: u32,
}

/// The NUL-terminated string at `offset` of a string table.
pub(crate) fn string_at(table: &[u8], offset: u32) -> Option<&[u8]> {
    let rest = table.get(usize::try_from(offset).ok()?..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_foreign_headers_are_refused() {
        assert_eq!(Header::parse(b""), None);
        assert_eq!(Header::parse(b"\x7fELF"), None);
        assert_eq!(Header::parse(b"MZ\x90\x00"), None);
        let mut bytes = [0u8; 64];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[4] = 3;
        bytes[5] = 1;
        assert_eq!(Header::parse(&bytes), None);
        bytes[4] = 2;
        assert!(Header::parse(&bytes).is_some());
        assert_eq!(Header::parse(&bytes[..40]), None);
    }

    #[test]
    fn big_endian_32_bit_fields() {
        let mut bytes = [0u8; 52];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[4] = 1;
        bytes[5] = 2;
        bytes[28..32].copy_from_slice(&52u32.to_be_bytes());
        bytes[32..36].copy_from_slice(&1000u32.to_be_bytes());
        bytes[42..44].copy_from_slice(&32u16.to_be_bytes());
        bytes[44..46].copy_from_slice(&1u16.to_be_bytes());
        bytes[46..48].copy_from_slice(&40u16.to_be_bytes());
        bytes[48..50].copy_from_slice(&3u16.to_be_bytes());
        bytes[50..52].copy_from_slice(&2u16.to_be_bytes());
        let header = Header::parse(&bytes).unwrap_or_else(|| panic!("parses"));
        assert_eq!(
            (
                header.phoff,
                header.phnum,
                header.shoff,
                header.shnum,
                header.shstrndx
            ),
            (52, 1, 1000, 3, 2)
        );
        let mut table = [0u8; 32];
        table[..4].copy_from_slice(&PT_LOAD.to_be_bytes());
        table[4..8].copy_from_slice(&0x100u32.to_be_bytes());
        table[16..20].copy_from_slice(&0x20u32.to_be_bytes());
        table[24..28].copy_from_slice(&PF_W.to_be_bytes());
        assert_eq!(
            header.segments(&table),
            [Segment {
                kind: PT_LOAD,
                flags: PF_W,
                offset: 0x100,
                filesz: 0x20
            }]
        );
        assert_eq!(header.segments(&table[..31]), []);
        assert_eq!(header.section(&[0u8; 80], 2), None);
    }

    #[test]
    fn strings_are_nul_terminated() {
        assert_eq!(string_at(b"\0.text\0.dep-v0\0", 7), Some(&b".dep-v0"[..]));
        assert_eq!(string_at(b"\0.text", 1), None);
        assert_eq!(string_at(b"", 9), None);
    }
}
