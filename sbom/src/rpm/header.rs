//! RPM header blobs, as the rpm database stores them (rpm's `headerImport`): a big-endian
//! `il` (index entry count) and `dl` (data length), `il` entries of 16 bytes (tag, type,
//! offset into the data, count), then `dl` bytes of data. Unlike a header in a `.rpm` file
//! there is no 8-byte magic before it.

/// rpm's own limits (`hdrchkTags`, `hdrchkData` in lib/header_internal.h).
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Tag numbers (rpm's include/rpm/rpmtag.h).
pub(super) const NAME: u32 = 1000;
pub(super) const VERSION: u32 = 1001;
pub(super) const RELEASE: u32 = 1002;
pub(super) const EPOCH: u32 = 1003;
pub(super) const LICENSE: u32 = 1014;
pub(super) const ARCH: u32 = 1022;
pub(super) const SOURCERPM: u32 = 1044;

struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: its index and data, every offset checked against the data's length
/// when a value is read.
pub(super) struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Header<'a> {
    /// Reads the index of `blob`, or says why it is not a header blob.
    pub(super) fn parse(blob: &'a [u8]) -> Result<Self, String> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!("{} bytes is too short for a header", blob.len()));
        };
        if il == 0 || il > MAX_TAGS {
            return Err(format!("{il} index entries"));
        }
        if dl > MAX_DATA {
            return Err(format!("{dl} bytes of data"));
        }
        let index_end = 8 + il as usize * 16;
        let data_end = index_end + dl as usize;
        let Some(data) = blob.get(index_end..data_end) else {
            return Err(format!(
                "{il} entries and {dl} bytes of data need {data_end} bytes, the blob has {}",
                blob.len()
            ));
        };
        let entries = (0..il as usize)
            .map(|i| {
                let at = 8 + i * 16;
                let field = |n: usize| be32(blob, at + 4 * n).unwrap_or_default();
                Entry {
                    tag: field(0),
                    kind: field(1),
                    offset: field(2),
                    count: field(3),
                }
            })
            .collect();
        Ok(Self { entries, data })
    }

    /// The entry of `tag`; when it appears twice the later one (a "dribble" entry added
    /// after the immutable region) wins, as in rpm.
    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.tag == tag)
    }

    /// The first string of `tag` (a STRING, the first of a STRING_ARRAY, or the default
    /// locale's I18NSTRING); `None` when absent, of another type, or not NUL-terminated
    /// inside the data. Invalid UTF-8 is replaced.
    pub(super) fn string(&self, tag: u32) -> Option<String> {
        let entry = self.entry(tag)?;
        if !matches!(
            entry.kind,
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING
        ) || entry.count == 0
        {
            return None;
        }
        let rest = self.data.get(entry.offset as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// The first number of an INT32 `tag`.
    pub(super) fn int32(&self, tag: u32) -> Option<u32> {
        let entry = self.entry(tag)?;
        if entry.kind != TYPE_INT32 || entry.count == 0 {
            return None;
        }
        be32(self.data, entry.offset as usize)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A header blob with the given entries, for tests: strings are STRING, numbers INT32.
    pub(crate) fn blob(strings: &[(u32, &str)], numbers: &[(u32, u32)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in numbers {
            while data.len() % 4 != 0 {
                data.push(0);
            }
            index.push((*tag, TYPE_INT32, data.len() as u32, 1u32));
            data.extend_from_slice(&value.to_be_bytes());
        }
        for (tag, value) in strings {
            index.push((*tag, TYPE_STRING, data.len() as u32, 1));
            data.extend_from_slice(value.as_bytes());
            data.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(index.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        for (tag, kind, offset, count) in index {
            for n in [tag, kind, offset, count] {
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn reads_strings_and_numbers() {
        let blob = blob(&[(NAME, "bash"), (VERSION, "5.2")], &[(EPOCH, 1)]);
        let header = Header::parse(&blob).unwrap();
        assert_eq!(header.string(NAME).as_deref(), Some("bash"));
        assert_eq!(header.string(VERSION).as_deref(), Some("5.2"));
        assert_eq!(header.int32(EPOCH), Some(1));
        assert_eq!(header.string(EPOCH), None);
        assert_eq!(header.int32(NAME), None);
        assert_eq!(header.string(RELEASE), None);
    }

    #[test]
    fn refuses_bad_blobs() {
        assert!(Header::parse(b"").is_err());
        assert!(Header::parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Header::parse(&[0, 0, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(Header::parse(&[0xff; 64]).is_err());
        // An offset past the data, and a string without its NUL.
        let mut blob = blob(&[(NAME, "bash")], &[]);
        let last = blob.len() - 1;
        blob[last] = b'x';
        let header = Header::parse(&blob).unwrap();
        assert_eq!(header.string(NAME), None);
        let mut far = super::tests::blob(&[(NAME, "bash")], &[]);
        far[8 + 8..8 + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Header::parse(&far).unwrap().string(NAME), None);
    }
}
