//! Go modules compiled into Go binaries: the build information the Go linker embeds (what
//! `go version -m` prints), read as the binary streams by.
//!
//! The build information starts with the 14-byte magic `\xff Go buildinf:` at a 16-byte
//! aligned offset, in the `.go.buildinfo` section, which the linker puts at the start of the
//! writable data segment (Go's `debug/buildinfo`). A 32-byte header follows the magic: the
//! pointer size, flags, and padding. Since Go 1.18 (flag bit 2), the Go version and the module
//! information follow the header inline, each a uvarint length and that many bytes; the
//! module information is framed by 16-byte sentinels and holds `runtime/debug.BuildInfo`'s
//! text form: `path`, `mod`, `dep`, `=>` (replacement of the line before) and `build` lines of
//! tab-separated fields.
//!
//! Reading: the first 64 bytes say whether the file is an ELF, Mach-O or PE binary at all
//! (anything else is left at once, with no findings). For ELF, the program headers (at the
//! start of the file) give the writable, non-executable loaded segments where the build
//! information can be; only those are searched, and reading stops after the last of them or
//! as soon as the build information is found. Mach-O and PE files are searched whole. Only
//! 16-byte aligned offsets are compared with the magic, in 64 KiB chunks; memory stays
//! under a chunk plus the build information (capped at 4 MiB). A candidate whose header or
//! strings do not hold up (a copy of the magic in a program's data) is passed over.
//!
//! Findings, as syft's go-module-binary-cataloger makes them:
//! * the main module (`mod` line; when there is none, as in binaries built outside module
//!   mode, the `path` line's package with the version `(devel)`), with the version the build
//!   information records (`(devel)` for a build from a work tree: the version is not guessed
//!   from `-ldflags` or the binary's strings);
//! * every `dep`, a replacement (`=>`) taking the place of the module it replaces (a
//!   replacement by a local directory has no version);
//! * `stdlib` at the Go version (`go1.22.5`, purl `pkg:golang/stdlib@1.22.5`, licence
//!   BSD-3-Clause), for vulnerability matching against the standard library.
//!
//! Each package's purl is `pkg:golang/<module path>@<version>` and its properties are
//! `go_version` (`go1.22.5`, without `X:` experiment suffixes) and `main_module`.
//! Binaries from Go before 1.18 keep the build information behind pointers into the data
//! segment; they give a warning and no packages.

use std::io::{self, Read};

use super::elf::{self, Header, PF_W, PF_X, PT_LOAD};
use super::purl::Purl;
use super::stream::{fill, io_error};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// `\xff Go buildinf:`: the start of the build information.
const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// The alignment of the build information in the file.
const ALIGN: u64 = 16;
/// The size of the build information header.
const HEADER: usize = 32;
/// Flag: the strings follow the header inline (Go 1.18 and later).
const FLAG_INLINE: u8 = 2;
/// How much is read at a time.
const CHUNK: usize = 64 << 10;
/// The largest Go version or module information string read.
const MAX_STRING: u64 = 4 << 20;
/// Where the program header table must end to be read (it is at offset 64 in practice).
const MAX_PROGRAM_HEADERS_END: u64 = 1 << 20;
/// Files at most this size are not wanted: no Go binary is that small.
const MIN_SIZE: u64 = 4 << 10;
/// Files over this size are not wanted.
const MAX_SIZE: u64 = 1 << 30;
/// The version a main module built from a work tree has.
const DEVEL: &str = "(devel)";

/// The cataloger of Go binaries' build information (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct GoCataloger;

/// Whether a file at `path` of `size` bytes may be an executable worth opening: over 4 KiB
/// and at most 1 GiB, and either in a directory of programs (`bin`, `sbin`, `usr/bin`,
/// `usr/sbin`, `usr/local/bin`, `usr/local/sbin`, `usr/libexec/**`, `usr/local/libexec/**`,
/// `opt/**`) or named without an extension (`app`, `.../server`). Executables cannot be told
/// from other files by name alone; the catalogers read the first bytes and leave other files
/// at once, so a false candidate costs a few bytes of reading. Not wanted: shared libraries
/// (`.so`), and executables named with an extension outside those directories.
pub(crate) fn may_be_executable(path: &str, size: u64) -> bool {
    const PROGRAM_DIRS: [&str; 6] = [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "usr/local/sbin",
    ];
    if !(MIN_SIZE < size && size <= MAX_SIZE) {
        return false;
    }
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let under = |root: &str| dir == root || dir.starts_with(&format!("{root}/"));
    PROGRAM_DIRS.contains(&dir)
        || under("usr/libexec")
        || under("usr/local/libexec")
        || under("opt")
        || !file.get(1..).is_some_and(|rest| rest.contains('.'))
}

impl Cataloger for GoCataloger {
    fn name(&self) -> &'static str {
        "golang"
    }

    /// Wants files that may be executables (see the [module](self) documentation): over
    /// 4 KiB, at most 1 GiB, in a directory of programs or named without an extension.
    fn wants(&self, path: &str, size: u64) -> bool {
        may_be_executable(path, size)
    }

    fn read(
        &self,
        _path: &str,
        _size: u64,
        contents: &mut dyn Read,
    ) -> Result<Findings, SbomError> {
        let found = find_build_info(contents).map_err(|e| io_error("Go binary", &e))?;
        Ok(match found {
            Search::Found { version, modinfo } => findings(&version, &modinfo),
            Search::OldFormat => Findings::warning(
                "Go build information in the pointer format of Go before 1.18 is not read",
            ),
            Search::NotFound => Findings::default(),
        })
    }
}

/// What the search of a file found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Search {
    /// Inline build information: the Go version and the module information (with its
    /// sentinels).
    Found { version: Vec<u8>, modinfo: Vec<u8> },
    /// Only build information in the pre-1.18 pointer format.
    OldFormat,
    /// No build information: not a Go binary, or not a binary.
    NotFound,
}

/// A sliding window over a stream: `buf` holds the bytes at file offsets
/// `base..base + buf.len()`.
struct Window<'a> {
    reader: &'a mut dyn Read,
    buf: Vec<u8>,
    base: u64,
    eof: bool,
}

impl Window<'_> {
    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Reads until the bytes at `at..at + len` are in the window (`at` not before the
    /// window); false when the stream ends first.
    fn ensure(&mut self, at: u64, len: u64) -> io::Result<bool> {
        let want = at.saturating_add(len);
        while self.end() < want && !self.eof {
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            let n = fill(self.reader, &mut self.buf[old..])?;
            self.buf.truncate(old + n);
            self.eof = n < CHUNK;
        }
        Ok(self.end() >= want)
    }

    /// The bytes at `at..at + len`, as far as the window holds them.
    fn slice(&self, at: u64, len: u64) -> &[u8] {
        let start = usize::try_from(at.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let end =
            usize::try_from(at.saturating_add(len).saturating_sub(self.base)).unwrap_or(usize::MAX);
        let start = start.min(self.buf.len());
        &self.buf[start..end.clamp(start, self.buf.len())]
    }

    /// Drops the bytes before `at`, reading past them when `at` is beyond the window.
    fn advance_to(&mut self, at: u64) -> io::Result<()> {
        if at <= self.base {
            return Ok(());
        }
        if at <= self.end() {
            let drop = usize::try_from(at - self.base).unwrap_or(usize::MAX);
            self.buf.drain(..drop.min(self.buf.len()));
        } else {
            let skip = at - self.end();
            self.buf.clear();
            let skipped = io::copy(&mut self.reader.take(skip), &mut io::sink())?;
            self.eof |= skipped < skip;
        }
        self.base = at;
        Ok(())
    }
}

/// The kind of binary the first bytes show.
fn binary_kind(head: &[u8]) -> Option<Option<Header>> {
    if head.starts_with(elf::MAGIC) {
        return Some(Header::parse(head));
    }
    let macho = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
    ];
    (macho.iter().any(|m| head.starts_with(m)) || head.starts_with(b"MZ")).then_some(None)
}

/// The file ranges to search: for ELF, the writable and not executable loaded segments
/// (where Go's `debug/buildinfo` looks when there is no section table); `None` to search
/// the whole file.
fn data_ranges(header: &Header, window: &mut Window<'_>) -> io::Result<Option<Vec<(u64, u64)>>> {
    let Some(table) = header.program_table_size() else {
        return Ok(None);
    };
    let table = table as u64;
    if header.phoff.saturating_add(table) > MAX_PROGRAM_HEADERS_END
        || !window.ensure(header.phoff, table)?
    {
        return Ok(None);
    }
    let mut ranges: Vec<(u64, u64)> = header
        .segments(window.slice(header.phoff, table))
        .into_iter()
        .filter(|s| s.kind == PT_LOAD && s.flags & (PF_X | PF_W) == PF_W && s.filesz > 0)
        .map(|s| (s.offset, s.offset.saturating_add(s.filesz)))
        .collect();
    ranges.sort_unstable();
    Ok((!ranges.is_empty()).then_some(ranges))
}

/// Searches the stream for the build information.
fn find_build_info(contents: &mut dyn Read) -> io::Result<Search> {
    // Only the first 64 bytes of a file that is not a binary are read.
    let mut head = [0u8; 64];
    let n = fill(contents, &mut head)?;
    let Some(elf_header) = binary_kind(&head[..n]) else {
        return Ok(Search::NotFound);
    };
    let mut buf = Vec::with_capacity(CHUNK);
    buf.extend_from_slice(&head[..n]);
    let mut window = Window {
        reader: contents,
        buf,
        base: 0,
        eof: n < head.len(),
    };
    let ranges = match elf_header {
        Some(header) => data_ranges(&header, &mut window)?,
        None => None,
    };

    let mut old_format = false;
    let mut pos: u64 = 0;
    loop {
        let limit = match &ranges {
            Some(ranges) => {
                let Some((start, end)) = ranges
                    .iter()
                    .find(|(_, end)| *end > pos)
                    .and_then(|&(start, end)| Some((start.checked_next_multiple_of(ALIGN)?, end)))
                else {
                    break;
                };
                pos = pos.max(start);
                end
            }
            None => u64::MAX,
        };
        window.advance_to(pos)?;
        if !window.ensure(pos, ALIGN)? {
            break;
        }
        while pos < limit && pos.saturating_add(ALIGN) <= window.end() {
            if window.slice(pos, MAGIC.len() as u64) == MAGIC {
                match candidate(&mut window, pos)? {
                    Candidate::Inline { version, modinfo } => {
                        return Ok(Search::Found { version, modinfo });
                    }
                    Candidate::Old => old_format = true,
                    Candidate::Invalid => {}
                }
            }
            pos += ALIGN;
        }
        if pos >= limit && ranges.is_none() {
            break;
        }
    }
    Ok(if old_format {
        Search::OldFormat
    } else {
        Search::NotFound
    })
}

enum Candidate {
    Inline { version: Vec<u8>, modinfo: Vec<u8> },
    Old,
    Invalid,
}

/// Reads the build information header and strings at `pos`, where the magic is.
fn candidate(window: &mut Window<'_>, pos: u64) -> io::Result<Candidate> {
    if !window.ensure(pos, HEADER as u64)? {
        return Ok(Candidate::Invalid);
    }
    let header = window.slice(pos, HEADER as u64);
    let (pointer_size, flags) = (header[14], header[15]);
    if pointer_size != 4 && pointer_size != 8 {
        return Ok(Candidate::Invalid);
    }
    if flags & FLAG_INLINE == 0 {
        return Ok(Candidate::Old);
    }
    let mut at = pos + HEADER as u64;
    let Some(version) = read_string(window, &mut at)? else {
        return Ok(Candidate::Invalid);
    };
    let Some(modinfo) = read_string(window, &mut at)? else {
        return Ok(Candidate::Invalid);
    };
    if !(version.starts_with(b"go") || version.starts_with(b"devel")) {
        return Ok(Candidate::Invalid);
    }
    Ok(Candidate::Inline { version, modinfo })
}

/// A uvarint-length-prefixed string at `*at`, advancing `*at` past it.
fn read_string(window: &mut Window<'_>, at: &mut u64) -> io::Result<Option<Vec<u8>>> {
    window.ensure(*at, 10)?;
    let Some((len, used)) = uvarint(window.slice(*at, 10)) else {
        return Ok(None);
    };
    if len > MAX_STRING {
        return Ok(None);
    }
    let start = *at + used as u64;
    if !window.ensure(start, len)? {
        return Ok(None);
    }
    *at = start + len;
    Ok(Some(window.slice(start, len).to_vec()))
}

/// Decodes an unsigned LEB128 varint (Go's `binary.Uvarint`): the value and the bytes
/// used, `None` when cut short or over 64 bits.
fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A module line: path, version, checksum, and what replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Module {
    path: String,
    version: String,
    replace: Option<(String, String)>,
}

/// The module information's lines, as `runtime/debug.ParseBuildInfo` reads them, but
/// leniently: lines it does not know, or with too few fields, are skipped.
#[derive(Debug, Default, PartialEq, Eq)]
struct ModInfo {
    path: String,
    main: Option<Module>,
    deps: Vec<Module>,
}

fn parse_modinfo(text: &str) -> ModInfo {
    enum Last {
        None,
        Main,
        Dep,
    }
    let mut info = ModInfo::default();
    let mut last = Last::None;
    for line in text.lines() {
        let Some((word, rest)) = line.split_once('\t') else {
            continue;
        };
        let mut fields = rest.split('\t');
        let path = fields.next().unwrap_or_default().to_owned();
        let version = fields.next().unwrap_or_default().to_owned();
        match word {
            "path" => {
                info.path = rest.to_owned();
                last = Last::None;
            }
            "mod" => {
                info.main = Some(Module {
                    path,
                    version,
                    replace: None,
                });
                last = Last::Main;
            }
            "dep" => {
                info.deps.push(Module {
                    path,
                    version,
                    replace: None,
                });
                last = Last::Dep;
            }
            "=>" => {
                let replaced = match last {
                    Last::Main => info.main.as_mut(),
                    Last::Dep => info.deps.last_mut(),
                    Last::None => None,
                };
                if let Some(module) = replaced {
                    module.replace = Some((path, version));
                }
                last = Last::None;
            }
            _ => last = Last::None,
        }
    }
    info
}

/// `pkg:golang/<namespace>/<name>@<version>`, the namespace being the path up to its last
/// `/`.
fn module_purl(path: &str, version: &str) -> String {
    match path.rsplit_once('/') {
        Some((namespace, name)) if !name.is_empty() => Purl::new("golang", name, version)
            .namespace(namespace)
            .to_string(),
        _ => Purl::new("golang", path, version).to_string(),
    }
}

fn findings(version: &[u8], modinfo: &[u8]) -> Findings {
    // debug/buildinfo: the module information is framed by two 16-byte sentinels, the
    // text before the closing one ending in a newline.
    let framed = modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n';
    let text = if framed {
        String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]).into_owned()
    } else {
        String::new()
    };
    let info = parse_modinfo(&text);
    let version = String::from_utf8_lossy(version);
    // `go1.22.5 X:boringcrypto`: the experiments are not part of the version.
    let go_version = version.split(' ').next().unwrap_or_default().to_owned();

    let main = match info.main {
        Some(main) if !main.path.is_empty() => Some(main),
        _ if !info.path.is_empty() => Some(Module {
            path: info.path.clone(),
            version: DEVEL.into(),
            replace: None,
        }),
        _ => None,
    };
    let main_path = main.as_ref().map(|m| m.path.clone()).unwrap_or_default();
    let package = |path: &str, version: &str| {
        let mut package = Package::new(Ecosystem::Go, path, version);
        package.purl = Some(module_purl(path, version));
        package
            .properties
            .insert("go_version".into(), go_version.clone());
        package
            .properties
            .insert("main_module".into(), main_path.clone());
        package
    };

    let mut packages = Vec::new();
    for module in main.iter().chain(&info.deps) {
        let (path, version) = module
            .replace
            .as_ref()
            .map_or((&module.path, &module.version), |(p, v)| (p, v));
        if !path.is_empty() {
            packages.push(package(path, version));
        }
    }
    if !packages.is_empty()
        && let Some(number) = go_version.strip_prefix("go")
        && number.starts_with(|c: char| c.is_ascii_digit())
    {
        let mut stdlib = package("stdlib", &go_version);
        stdlib.purl = Some(Purl::new("golang", "stdlib", number).to_string());
        stdlib.licenses = vec!["BSD-3-Clause".into()];
        packages.push(stdlib);
    }
    Findings {
        packages,
        ..Findings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL_START: &[u8; 16] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
    const SENTINEL_END: &[u8; 16] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

    fn uvarint_bytes(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out
    }

    /// The build information blob: header, version, framed module information.
    fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([8, FLAG_INLINE]);
        out.resize(HEADER, 0);
        out.extend(uvarint_bytes(version.len()));
        out.extend(version.as_bytes());
        let framed = [SENTINEL_START, modinfo.as_bytes(), SENTINEL_END].concat();
        out.extend(uvarint_bytes(framed.len()));
        out.extend(framed);
        out
    }

    /// A 64-bit little-endian ELF file: header, two program headers (text, data), `blob` at
    /// `data_offset` inside the data segment, padded to `size`.
    fn elf(blob: &[u8], data_offset: usize, size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size.max(data_offset + blob.len())];
        out[..4].copy_from_slice(elf::MAGIC);
        out[4] = 2;
        out[5] = 1;
        out[32..40].copy_from_slice(&64u64.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&2u16.to_le_bytes());
        let segment = |out: &mut Vec<u8>, at: usize, flags: u32, offset: usize, len: usize| {
            out[at..at + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&(offset as u64).to_le_bytes());
            out[at + 32..at + 40].copy_from_slice(&(len as u64).to_le_bytes());
        };
        segment(&mut out, 64, 5, 0, data_offset);
        let len = out.len() - data_offset;
        segment(&mut out, 120, 6, data_offset, len);
        out[data_offset..data_offset + blob.len()].copy_from_slice(blob);
        out
    }

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read(bytes: &[u8]) -> Findings {
        GoCataloger
            .read("usr/bin/app", bytes.len() as u64, &mut Trickle(bytes, 4093))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn summary(findings: &Findings) -> Vec<(String, String, String)> {
        findings
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.version.clone(),
                    p.purl.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    const MODINFO: &str = "path\texample.com/app/cmd/app\nmod\texample.com/app\t(devel)\t\ndep\tgithub.com/a/b\tv1.2.3\th1:abc=\ndep\tgithub.com/c/d\tv0.1.0\th1:def=\n=>\tgithub.com/e/d\tv0.2.0\th1:ghi=\ndep\tgolang.org/x/local\tv1.0.0\n=>\t../local\t\t\nbuild\t-compiler=gc\nbuild\tGOOS=linux\n";

    #[test]
    fn modules_replacements_and_stdlib() {
        let findings = read(&elf(
            &blob("go1.22.5 X:boringcrypto", MODINFO),
            0x2000,
            0x3000,
        ));
        assert_eq!(
            summary(&findings),
            [
                (
                    "example.com/app",
                    "(devel)",
                    "pkg:golang/example.com/app@%28devel%29"
                ),
                (
                    "github.com/a/b",
                    "v1.2.3",
                    "pkg:golang/github.com/a/b@v1.2.3"
                ),
                (
                    "github.com/e/d",
                    "v0.2.0",
                    "pkg:golang/github.com/e/d@v0.2.0"
                ),
                ("../local", "", "pkg:golang/../local"),
                ("stdlib", "go1.22.5", "pkg:golang/stdlib@1.22.5"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        for package in &findings.packages {
            assert_eq!(package.properties["go_version"], "go1.22.5");
            assert_eq!(package.properties["main_module"], "example.com/app");
        }
        assert_eq!(findings.packages[4].licenses, ["BSD-3-Clause"]);
    }

    #[test]
    fn without_a_mod_line_the_path_is_the_main_module() {
        let info = "path\tgithub.com/docker/cli/cmd/docker\nbuild\t-compiler=gc\n";
        let findings = read(&elf(&blob("go1.24.3", info), 0x1000, 0x2000));
        assert_eq!(
            summary(&findings)
                .into_iter()
                .map(|(n, v, _)| (n, v))
                .collect::<Vec<_>>(),
            [
                ("github.com/docker/cli/cmd/docker".into(), "(devel)".into()),
                ("stdlib".into(), "go1.24.3".into())
            ]
        );
        // No module information at all (a binary built without it): nothing but... nothing.
        let findings = read(&elf(&blob("go1.24.3", ""), 0x1000, 0x2000));
        assert!(findings.packages.is_empty());
    }

    #[test]
    fn the_blob_is_found_across_reads_and_chunks() {
        // Right before a chunk boundary, with the strings running into the next chunk.
        let offset = CHUNK - 16;
        let findings = read(&elf(&blob("go1.21.0", MODINFO), offset, offset + CHUNK));
        assert_eq!(findings.packages.len(), 5);
    }

    #[test]
    fn unaligned_copies_and_the_text_segment_are_ignored() {
        let good = blob("go1.21.0", MODINFO);
        let mut bytes = elf(&good, 0x2000, 0x3000);
        // Erase the real blob; put copies at an unaligned offset in the data segment and at
        // an aligned one in the text segment.
        bytes[0x2000..0x2000 + good.len()].fill(0);
        bytes[0x2008..0x2008 + good.len()].copy_from_slice(&good);
        bytes[0x1000..0x1000 + good.len()].copy_from_slice(&good);
        assert!(read(&bytes).packages.is_empty());
    }

    #[test]
    fn a_false_magic_is_passed_over() {
        let good = blob("go1.21.0", MODINFO);
        let mut bytes = elf(&good, 0x2010, 0x3000);
        // A copy of the magic followed by garbage, first in the data segment.
        bytes[0x2000..0x2000 + MAGIC.len()].copy_from_slice(MAGIC);
        bytes[0x200e] = 8;
        bytes[0x200f] = FLAG_INLINE;
        assert_eq!(read(&bytes).packages.len(), 5);
    }

    #[test]
    fn old_pointer_format_is_a_warning() {
        let mut old = MAGIC.to_vec();
        old.extend([8, 0]);
        old.resize(HEADER, 0);
        let findings = read(&elf(&old, 0x1000, 0x2000));
        assert!(findings.packages.is_empty());
        assert_eq!(findings.warnings.len(), 1);
    }

    #[test]
    fn other_files_are_left_at_once() {
        assert_eq!(read(b"#!/bin/sh\necho hello\n"), Findings::default());
        assert_eq!(read(b""), Findings::default());
        assert_eq!(read(b"\x7fEL"), Findings::default());
        // A Mach-O or PE file is searched whole.
        let mut pe = b"MZ".to_vec();
        pe.resize(0x100, 0);
        pe.extend(blob("go1.20.1", MODINFO));
        assert_eq!(read(&pe).packages.len(), 5);
        // A string cut short at the end of the file.
        let cut = blob("go1.20.1", MODINFO);
        let mut pe = b"MZ".to_vec();
        pe.resize(0x100, 0);
        pe.extend(&cut[..cut.len() - 5]);
        assert!(read(&pe).packages.is_empty());
    }

    #[test]
    fn wanted_files() {
        assert!(may_be_executable("usr/bin/docker", 5000));
        assert!(may_be_executable("usr/local/bin/kubectl.1.29", 5000));
        assert!(may_be_executable("opt/app/server.bin", 5000));
        assert!(may_be_executable(
            "usr/libexec/docker/cli-plugins/docker-buildx",
            5000
        ));
        assert!(may_be_executable("app/server", 5000));
        assert!(may_be_executable("server", 5000));
        assert!(!may_be_executable("usr/bin/docker", 4096));
        assert!(!may_be_executable("usr/bin/docker", (1 << 30) + 1));
        assert!(!may_be_executable(
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            5000
        ));
        assert!(!may_be_executable("app/main.js", 5000));
        assert!(!may_be_executable("usr/optional/x.y", 5000));
    }

    #[test]
    fn uvarints() {
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0xff; 10]), None);
        assert_eq!(uvarint(&[]), None);
    }
}
