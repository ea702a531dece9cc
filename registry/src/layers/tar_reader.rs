//! The tar reader of [`crate::layers`]: POSIX ustar and pax, GNU long names and sparse
//! files, read member by member from a stream, holding no more of an extension header than
//! the layer limits allow. Paths are made relative and clean here; what a member means for the
//! image's filesystem is the parent module's.

use std::io::{self, Read};

use super::*;

/// A tar path made relative and clean: `./usr/bin/x` and `/usr/bin/x` are `usr/bin/x`;
/// `None` when a component is `..` (it would leave the root).
pub(super) fn clean_path(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

pub(super) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// A short, printable form of a name from a layer for a warning: at most 256 bytes of it.
pub(super) fn shown(raw: &[u8]) -> String {
    const SHOWN: usize = 256;
    if raw.len() <= SHOWN {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        format!(
            "{}... ({} bytes)",
            String::from_utf8_lossy(&raw[..SHOWN]),
            raw.len()
        )
    }
}

/// The tar format's unit: every header is one block, and data is padded to whole blocks
/// (POSIX.1-2017 `pax`, "ustar Interchange Format").
pub(super) const BLOCK: usize = 512;

/// Typeflags of the ustar, pax and GNU formats that this reader interprets.
pub(super) mod typeflag {
    /// A regular file (ustar).
    pub(crate) const REGULAR: u8 = b'0';
    /// A regular file (pre-POSIX), or a directory when its name ends in `/`.
    pub(crate) const REGULAR_OLD: u8 = b'\0';
    /// A hard link to an earlier member.
    pub(crate) const HARD_LINK: u8 = b'1';
    /// A symbolic link.
    pub(crate) const SYMLINK: u8 = b'2';
    /// A character device.
    pub(crate) const CHAR_DEVICE: u8 = b'3';
    /// A block device.
    pub(crate) const BLOCK_DEVICE: u8 = b'4';
    /// A directory.
    pub(crate) const DIRECTORY: u8 = b'5';
    /// A FIFO.
    pub(crate) const FIFO: u8 = b'6';
    /// A contiguous file: a regular file to every reader but a few old systems.
    pub(crate) const CONTIGUOUS: u8 = b'7';
    /// pax extended header for the next member.
    pub(crate) const PAX_LOCAL: u8 = b'x';
    /// pax global extended header.
    pub(crate) const PAX_GLOBAL: u8 = b'g';
    /// GNU: the long name of the next member.
    pub(crate) const GNU_LONG_NAME: u8 = b'L';
    /// GNU: the long link name of the next member.
    pub(crate) const GNU_LONG_LINK: u8 = b'K';
    /// GNU: a sparse file.
    pub(crate) const GNU_SPARSE: u8 = b'S';
}

/// One member of a tar stream, its extension headers applied.
pub(super) struct Member {
    /// Its typeflag, [`typeflag::REGULAR_OLD`] turned into [`typeflag::REGULAR`] or
    /// [`typeflag::DIRECTORY`].
    pub(super) kind: u8,
    /// Its path as written (GNU long name, else pax `path`, else the header's).
    pub(super) path: Vec<u8>,
    /// Its link target as written (GNU long link name, else pax `linkpath`, else the
    /// header's); empty when it has none.
    pub(super) link: Vec<u8>,
    /// For a sparse file (GNU `S`, or GNU's sparse formats in pax), the size of the file it
    /// stands for, when known.
    pub(super) sparse: Option<Option<u64>>,
    /// Why it is skipped unread: an extension header describing it was over a limit.
    pub(super) refused: Option<String>,
}

/// What the pax extended header of a member says of it (POSIX.1-2017 `pax`, "pax Extended
/// Header"); records this reader does not use are ignored.
#[derive(Default)]
pub(super) struct Pax {
    pub(super) path: Option<Vec<u8>>,
    pub(super) linkpath: Option<Vec<u8>>,
    pub(super) size: Option<u64>,
    /// GNU's sparse formats 0.1 and 1.0 (`GNU.sparse.*` records): the real name and size.
    pub(super) sparse: bool,
    pub(super) sparse_name: Option<Vec<u8>>,
    pub(super) sparse_size: Option<u64>,
}

impl Pax {
    /// The decimal number of record `key`; `None` when the value is empty.
    fn number(key: &[u8], value: &[u8]) -> io::Result<Option<u64>> {
        if value.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "pax record {} is not a number",
                        String::from_utf8_lossy(key)
                    ),
                )
            })
    }

    /// Parses `length key=value\n` records, where `length` counts the whole record. A
    /// malformed record fails the layer, as it fails Go's `archive/tar` (and so the
    /// container runtimes that unpack images): readers must not disagree on what a member
    /// is.
    pub(super) fn parse(mut data: &[u8]) -> io::Result<Self> {
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed pax record");
        let mut pax = Pax::default();
        while !data.is_empty() {
            let space = data.iter().position(|&b| b == b' ').ok_or_else(malformed)?;
            let length = std::str::from_utf8(&data[..space])
                .ok()
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<usize>().ok())
                .filter(|&length| length > space + 1 && length <= data.len())
                .ok_or_else(malformed)?;
            let record = &data[space + 1..length];
            data = &data[length..];
            let record = record.strip_suffix(b"\n").ok_or_else(malformed)?;
            let equals = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(malformed)?;
            let (key, value) = (&record[..equals], &record[equals + 1..]);
            // An empty value deletes the record: the header's field stands.
            let text = (!value.is_empty()).then(|| value.to_vec());
            match key {
                b"path" => pax.path = text,
                b"linkpath" => pax.linkpath = text,
                b"size" => pax.size = Pax::number(key, value)?,
                b"GNU.sparse.name" => {
                    pax.sparse = true;
                    pax.sparse_name = text;
                }
                b"GNU.sparse.realsize" | b"GNU.sparse.size" => {
                    pax.sparse = true;
                    pax.sparse_size = Pax::number(key, value)?;
                }
                _ if key.starts_with(b"GNU.sparse.") => pax.sparse = true,
                _ => {}
            }
        }
        Ok(pax)
    }
}

/// The bytes of `field` up to its first NUL.
pub(super) fn until_nul(field: &[u8]) -> &[u8] {
    field
        .iter()
        .position(|&b| b == 0)
        .map_or(field, |end| &field[..end])
}

/// A numeric header field: octal digits (padded with spaces or NULs), or GNU's base-256
/// (the first byte's high bit set, then a big-endian two's-complement number).
pub(super) fn number(field: &[u8]) -> io::Result<u64> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "tar header field {what}: {:?}",
                String::from_utf8_lossy(field)
            ),
        )
    };
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return Err(invalid("is negative"));
            }
            let mut value = u64::from(first & 0x3f);
            for &byte in &field[1..] {
                if value >> 56 != 0 {
                    return Err(invalid("is too large"));
                }
                value = value << 8 | u64::from(byte);
            }
            Ok(value)
        }
        _ => {
            let text = until_nul(field).trim_ascii();
            if text.is_empty() {
                return Ok(0);
            }
            if !text.iter().all(|b| (b'0'..=b'7').contains(b)) {
                return Err(invalid("is not an octal number"));
            }
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| u64::from_str_radix(t, 8).ok())
                .ok_or_else(|| invalid("is too large"))
        }
    }
}

/// A ustar/GNU header block. Offsets are POSIX.1-2017 `pax`, "ustar Interchange Format",
/// and GNU tar's `tar.h` (`struct oldgnu_header` for the sparse fields).
pub(super) struct Header<'a>(&'a [u8; BLOCK]);

impl Header<'_> {
    fn name(&self) -> &[u8] {
        until_nul(&self.0[0..100])
    }

    fn size(&self) -> io::Result<u64> {
        number(&self.0[124..136])
    }

    fn kind(&self) -> u8 {
        self.0[156]
    }

    fn link_name(&self) -> &[u8] {
        until_nul(&self.0[157..257])
    }

    /// POSIX ustar (and pax): `ustar\0` `00`. Only these have a `prefix` field; GNU headers
    /// (`ustar ` ` \0`) put other fields there.
    fn is_ustar(&self) -> bool {
        &self.0[257..263] == b"ustar\0" && &self.0[263..265] == b"00"
    }

    fn is_gnu(&self) -> bool {
        &self.0[257..263] == b"ustar " && &self.0[263..265] == b" \0"
    }

    /// The path: `prefix/name` for ustar, else the name.
    fn path(&self) -> Vec<u8> {
        let prefix = until_nul(&self.0[345..500]);
        if self.is_ustar() && !prefix.is_empty() {
            [prefix, b"/", self.name()].concat()
        } else {
            self.name().to_vec()
        }
    }

    /// The checksum is the sum of the header's bytes with its own field as spaces; like
    /// most readers, sums of unsigned and of signed bytes are both accepted.
    fn checksum_matches(&self) -> io::Result<bool> {
        let stored = number(&self.0[148..156])?;
        let field = 148..156;
        let (mut unsigned, mut signed) = (0u64, 0i64);
        for (i, &byte) in self.0.iter().enumerate() {
            let byte = if field.contains(&i) { b' ' } else { byte };
            unsigned += u64::from(byte);
            signed += i64::from(byte as i8);
        }
        Ok(stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed))
    }

    /// GNU sparse: whether extension blocks of the sparse map follow the header.
    fn gnu_sparse_extended(&self) -> bool {
        self.is_gnu() && self.0[482] != 0
    }

    /// GNU sparse: the size of the file the member stands for.
    fn gnu_sparse_size(&self) -> Option<u64> {
        self.is_gnu()
            .then(|| number(&self.0[483..495]).ok())
            .flatten()
    }
}

/// Reads a tar stream member by member (POSIX ustar and pax, GNU long names and sparse
/// files), holding no more of it than one header block and the extension headers allowed
/// by [`LayerLimits`]. Ends at the first zero block, or at the end of the stream where a
/// header would start, as the `tar` crate does.
///
/// Not the `tar` crate, because it reads GNU long names and pax headers whole into memory,
/// with no limit and no hook to set one (tar 0.4.46, `EntriesFields::next_entry`): one GiB
/// name in a zstd layer of 35 KiB cost `vouch sbom` 4.6 GiB of memory; with this reader,
/// 17 MiB. Where readers differ, this one reads as Go's `archive/tar` does, since container
/// runtimes unpack layers with it: links, devices, directories and FIFOs have no data
/// whatever their size field says, a later extension header replaces an earlier one, a
/// malformed pax record fails the layer.
pub(super) struct TarReader<R> {
    inner: R,
    max_name_bytes: u64,
    max_pax_header_bytes: u64,
    /// Data of the current member not read yet.
    remaining: u64,
    /// Padding after the current member's data.
    padding: u64,
    /// Why extension headers at the end of the stream, describing no member, were skipped.
    pub(super) dangling: Option<String>,
}

/// Where data of `size` bytes ends, padded to a whole block.
pub(super) fn padding_of(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

impl<R: Read> TarReader<R> {
    pub(super) fn new(inner: R, limits: &LayerLimits) -> Self {
        Self {
            inner,
            max_name_bytes: limits.max_name_bytes,
            max_pax_header_bytes: limits.max_pax_header_bytes,
            remaining: 0,
            padding: 0,
            dangling: None,
        }
    }

    /// Skips `n` bytes; the stream must have them.
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let skipped = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if skipped < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside a member",
            ));
        }
        Ok(())
    }

    /// Reads a whole block; `false` at the end of the stream before it.
    fn block(&mut self, block: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the tar stream ends inside a header",
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Reads the data of an extension header (already checked against its limit).
    fn extension(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        (&mut self.inner).take(size).read_to_end(&mut data)?;
        if (data.len() as u64) < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside an extension header",
            ));
        }
        self.skip(padding_of(size))?;
        Ok(data)
    }

    /// Reads a pax extended header of `size` bytes as it streams, keeping nothing but its
    /// `size` record: the same records as [`Pax::parse`], refused the same way when
    /// malformed, in constant memory.
    fn pax_size_streaming(&mut self, size: u64) -> io::Result<Option<u64>> {
        fn byte(data: &mut impl Read) -> io::Result<u8> {
            let mut one = [0u8; 1];
            data.read_exact(&mut one).map(|()| one[0])
        }
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed pax record");
        let mut data = (&mut self.inner).take(size);
        let mut member_size = None;
        let mut left = size;
        while left > 0 {
            // `length key=value\n`, where `length` counts the whole record.
            let (mut length, mut digits) = (0u64, 0u64);
            loop {
                match byte(&mut data)? {
                    b' ' if digits > 0 => break,
                    d @ b'0'..=b'9' if digits < 19 => {
                        length = length * 10 + u64::from(d - b'0');
                        digits += 1;
                    }
                    _ => return Err(malformed()),
                }
            }
            if length <= digits + 1 || length > left {
                return Err(malformed());
            }
            // The key and value, `=` and `\n`.
            let mut rest = length - digits - 1;
            let mut key = Vec::new();
            loop {
                rest = rest.checked_sub(1).ok_or_else(malformed)?;
                match byte(&mut data)? {
                    b'=' => break,
                    // Of a key longer than `size`, 17 bytes are enough to tell it is not.
                    b => {
                        if key.len() <= 16 {
                            key.push(b);
                        }
                    }
                }
            }
            let value_length = rest.checked_sub(1).ok_or_else(malformed)?;
            if key == b"size" {
                if value_length > 20 {
                    return Err(malformed());
                }
                let mut value = vec![0u8; value_length as usize];
                data.read_exact(&mut value)?;
                member_size = Pax::number(b"size", &value)?;
            } else {
                let skipped = io::copy(&mut (&mut data).take(value_length), &mut io::sink())?;
                if skipped < value_length {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the tar stream ends inside an extension header",
                    ));
                }
            }
            if byte(&mut data)? != b'\n' {
                return Err(malformed());
            }
            left -= length;
        }
        Ok(member_size)
    }

    /// The next member, its data ready to be read with [`TarReader::data`]; `None` at the
    /// end of the archive. Skips what was left unread of the previous member.
    pub(super) fn next_member(&mut self) -> io::Result<Option<Member>> {
        self.skip(self.remaining.saturating_add(self.padding))?;
        self.remaining = 0;
        self.padding = 0;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Pax> = None;
        let mut refused: Option<String> = None;
        let mut block = [0u8; BLOCK];
        loop {
            if !self.block(&mut block)? || block.iter().all(|&b| b == 0) {
                if let Some(reason) = refused {
                    self.dangling = Some(reason);
                } else if long_name.is_some() || long_link.is_some() || pax.is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "extension headers describe a member that is not there",
                    ));
                }
                return Ok(None);
            }
            let header = Header(&block);
            if !header.checksum_matches()? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "tar header checksum mismatch (member \"{}\")",
                        shown(&header.path())
                    ),
                ));
            }
            let size = header.size()?;
            match header.kind() {
                kind @ (typeflag::GNU_LONG_NAME | typeflag::GNU_LONG_LINK) => {
                    let what = if kind == typeflag::GNU_LONG_NAME {
                        "GNU long name"
                    } else {
                        "GNU long link name"
                    };
                    if size > self.max_name_bytes {
                        self.skip(size.saturating_add(padding_of(size)))?;
                        refused.get_or_insert(format!(
                            "has a {size}-byte {what}, more than the {}-byte limit",
                            self.max_name_bytes
                        ));
                        continue;
                    }
                    // Like Go's archive/tar: the name ends at its first NUL.
                    let mut name = self.extension(size)?;
                    name.truncate(until_nul(&name).len());
                    if kind == typeflag::GNU_LONG_NAME {
                        long_name = Some(name);
                    } else {
                        long_link = Some(name);
                    }
                }
                typeflag::PAX_LOCAL => {
                    if size > self.max_pax_header_bytes {
                        // The member is skipped, but by the length its `size` record says.
                        let member_size = self.pax_size_streaming(size)?;
                        self.skip(padding_of(size))?;
                        refused.get_or_insert(format!(
                            "has a {size}-byte pax extended header, more than the {}-byte limit",
                            self.max_pax_header_bytes
                        ));
                        pax = Some(Pax {
                            size: member_size,
                            ..Pax::default()
                        });
                        continue;
                    }
                    let data = self.extension(size)?;
                    let parsed = Pax::parse(&data)?;
                    for (key, value) in [("path", &parsed.path), ("linkpath", &parsed.linkpath)] {
                        if let Some(value) = value
                            && value.len() as u64 > self.max_name_bytes
                        {
                            refused.get_or_insert(format!(
                                "has a {}-byte pax {key}, more than the {}-byte limit",
                                value.len(),
                                self.max_name_bytes
                            ));
                        }
                    }
                    // A later header replaces an earlier one, as in Go's archive/tar.
                    pax = Some(parsed);
                }
                typeflag::PAX_GLOBAL => {
                    // Records for all later members, which container runtimes ignore; so
                    // does this reader, without holding them.
                    self.skip(size.saturating_add(padding_of(size)))?;
                }
                kind => {
                    let pax = pax.unwrap_or_default();
                    let mut path = long_name
                        .or_else(|| pax.sparse_name.clone())
                        .or(pax.path)
                        .unwrap_or_else(|| header.path());
                    let link = long_link
                        .or(pax.linkpath)
                        .unwrap_or_else(|| header.link_name().to_vec());
                    let mut kind = kind;
                    if kind == typeflag::REGULAR_OLD {
                        kind = if path.ends_with(b"/") {
                            typeflag::DIRECTORY
                        } else {
                            typeflag::REGULAR
                        };
                    }
                    let mut sparse = pax.sparse.then_some(pax.sparse_size);
                    if kind == typeflag::GNU_SPARSE {
                        sparse = Some(header.gnu_sparse_size());
                        if header.gnu_sparse_extended() {
                            // The rest of the sparse map: blocks of 21 entries, each saying
                            // whether another follows (byte 504).
                            let mut map = [0u8; BLOCK];
                            loop {
                                if !self.block(&mut map)? {
                                    return Err(io::Error::new(
                                        io::ErrorKind::UnexpectedEof,
                                        "the tar stream ends inside a sparse map",
                                    ));
                                }
                                if map[504] == 0 {
                                    break;
                                }
                            }
                        }
                    }
                    // Links, devices, directories and FIFOs have no data, whatever their
                    // size field says: so Go's archive/tar reads them, and a reader that
                    // skipped data there would miss the members that the runtime unpacks.
                    let size = match kind {
                        typeflag::HARD_LINK
                        | typeflag::SYMLINK
                        | typeflag::CHAR_DEVICE
                        | typeflag::BLOCK_DEVICE
                        | typeflag::DIRECTORY
                        | typeflag::FIFO => 0,
                        _ => pax.size.unwrap_or(size),
                    };
                    self.remaining = size;
                    self.padding = padding_of(size);
                    if refused.is_some() {
                        // Named by what its own header says, a bounded name.
                        path = header.path();
                    }
                    return Ok(Some(Member {
                        kind,
                        path,
                        link,
                        sparse,
                        refused,
                    }));
                }
            }
        }
    }

    /// The size of the current member's data.
    pub(super) fn data_size(&self) -> u64 {
        self.remaining
    }

    /// The current member's data, at most its size; what is not read is skipped by the
    /// next [`TarReader::next_member`].
    pub(super) fn data(&mut self) -> MemberData<'_, R> {
        MemberData { tar: self }
    }

    /// The underlying stream, after the end of the archive.
    pub(super) fn into_inner(self) -> R {
        self.inner
    }
}

/// The data of one member.
pub(super) struct MemberData<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for MemberData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.tar.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.tar.inner.read(&mut buf[..want])?;
        self.tar.remaining -= n as u64;
        Ok(n)
    }
}
