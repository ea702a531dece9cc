//! Rust crates compiled into binaries built with `cargo auditable`: the dependency list it
//! embeds in the `.dep-v0` ELF section, zlib-compressed JSON
//! (`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`).
//!
//! Streaming: ELF section headers are at the end of the file, so which bytes are the
//! `.dep-v0` section is known only once the whole file has gone by. The cataloger keeps the
//! first 64 bytes (the ELF header: where the section header table is) and the last 8 MiB of
//! the stream in a ring buffer; at the end of the file it reads the section header table, the
//! section name table and the `.dep-v0` section from that tail. The linker places `.dep-v0`
//! (a section that is not loaded) after every loaded segment and after the debug sections,
//! right before `.symtab`, `.shstrtab` and `.strtab`, so it is in the tail unless the symbol
//! tables of a binary that is not stripped are over 8 MiB; then the cataloger gives a
//! warning naming the distance instead of packages. Memory: the tail (at most 8 MiB, less for
//! smaller files) and the decompressed JSON, capped at 8 MiB (a larger one, a zip bomb
//! included, is refused with a warning).
//!
//! Findings, as syft's cargo-auditable-binary-cataloger makes them: every package whose
//! `kind` is not `build` (build dependencies are not in the binary), the root crate
//! included, as `pkg:cargo/<name>@<version>`, with the `source` (`crates.io`, `local`, `git`,
//! `registry`, ...) as a property.
//!
//! Not covered: Mach-O and PE binaries (cargo-auditable also writes them), binaries without
//! cargo-auditable data (nothing in them names their crates reliably), `Cargo.lock` files.

use std::io::Read;

use flate2::read::ZlibDecoder;
use serde::Deserialize;

use super::elf::{self, Header};
use super::golang::may_be_executable;
use super::purl::Purl;
use super::stream::{fill, io_error};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// How much of the end of a file is kept.
const TAIL: usize = 8 << 20;
/// The largest decompressed dependency list read.
const MAX_JSON: u64 = 8 << 20;
/// The section cargo-auditable writes.
const SECTION: &[u8] = b".dep-v0";
/// `SHN_XINDEX`: the section name table index is in section 0's `sh_link`.
const SHN_XINDEX: u16 = 0xffff;

/// The cataloger of cargo-auditable binaries (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCataloger;

impl Cataloger for RustCataloger {
    fn name(&self) -> &'static str {
        "rust"
    }

    /// Wants the files that may be executables, as the Go cataloger does: over 4 KiB, at
    /// most 1 GiB, in a directory of programs or named without an extension.
    fn wants(&self, path: &str, size: u64) -> bool {
        may_be_executable(path, size)
    }

    fn read(&self, _path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        let mut head = [0u8; 64];
        let n = fill(contents, &mut head).map_err(|e| io_error("ELF binary", &e))?;
        let Some(header) = Header::parse(&head[..n]) else {
            return Ok(Findings::default());
        };
        if header.shoff == 0 {
            // No section table: nothing can say where a .dep-v0 section would be.
            return Ok(Findings::default());
        }
        let tail = Tail::read(&head[..n], size, contents)?;
        match dependency_section(&header, &tail) {
            Located::Absent => Ok(Findings::default()),
            Located::Missed(why) => Ok(Findings::warning(why)),
            Located::Bytes(compressed) => parse_dependencies(compressed),
        }
    }
}

/// The last bytes of a stream: `bytes` are the file's bytes at offsets `start..end`.
struct Tail {
    bytes: Vec<u8>,
    start: u64,
    end: u64,
}

impl Tail {
    /// Reads the rest of the stream (after `head`, already read), keeping the last
    /// [`TAIL`] bytes in a ring buffer that grows with the file up to that size.
    fn read(head: &[u8], size: u64, contents: &mut dyn Read) -> Result<Tail, SbomError> {
        let capacity = usize::try_from(size).unwrap_or(TAIL).min(TAIL);
        let mut ring: Vec<u8> = Vec::with_capacity(capacity);
        let mut write = 0; // Where the next byte goes once the ring is full.
        let mut total: u64 = 0;
        let mut push = |data: &[u8], ring: &mut Vec<u8>| {
            total += data.len() as u64;
            let fits = data.len().min(TAIL - ring.len());
            ring.extend_from_slice(&data[..fits]);
            for chunk in data[fits..].chunks(TAIL) {
                // `chunk` is at most the ring's size: it wraps at most once.
                let first = chunk.len().min(TAIL - write);
                ring[write..write + first].copy_from_slice(&chunk[..first]);
                ring[..chunk.len() - first].copy_from_slice(&chunk[first..]);
                write = (write + chunk.len()) % TAIL;
            }
        };
        push(head, &mut ring);
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = fill(contents, &mut chunk).map_err(|e| io_error("ELF binary", &e))?;
            if n == 0 {
                break;
            }
            push(&chunk[..n], &mut ring);
        }
        ring.rotate_left(write);
        Ok(Tail {
            start: total - ring.len() as u64,
            end: total,
            bytes: ring,
        })
    }

    /// The file's bytes at `offset..offset + len`, when the tail holds all of them.
    fn get(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if offset < self.start || end > self.end {
            return None;
        }
        let at = usize::try_from(offset - self.start).ok()?;
        self.bytes.get(at..at + usize::try_from(len).ok()?)
    }
}

/// Where the `.dep-v0` section is.
enum Located<'a> {
    /// The section's bytes.
    Bytes(&'a [u8]),
    /// The file has no such section.
    Absent,
    /// The section (or the tables that would say) is not in the tail: why.
    Missed(String),
}

fn dependency_section<'a>(header: &Header, tail: &'a Tail) -> Located<'a> {
    let entry = u64::from(header.shentsize);
    let missed = |what: &str, offset: u64| {
        Located::Missed(format!(
            "the {what} (at offset {offset} of {}) is not in the last {} MiB read for cargo-auditable data",
            tail.end,
            TAIL >> 20
        ))
    };
    // Section 0 holds the real count and name table index when they do not fit the header.
    let Some(first) = tail
        .get(header.shoff, entry)
        .and_then(|table| header.section(table, 0))
    else {
        return if (entry as usize) < header.min_shentsize() || header.shoff >= tail.end {
            Located::Absent
        } else {
            missed("ELF section header table", header.shoff)
        };
    };
    let count = if header.shnum == 0 {
        first.size
    } else {
        u64::from(header.shnum)
    };
    let names_index = if header.shstrndx == SHN_XINDEX {
        u64::from(first.link)
    } else {
        u64::from(header.shstrndx)
    };
    let Some(table) = tail.get(header.shoff, count.saturating_mul(entry)) else {
        return missed("ELF section header table", header.shoff);
    };
    let sections: Vec<_> = (0..usize::try_from(count).unwrap_or(0))
        .filter_map(|i| header.section(table, i))
        .collect();
    let Some(names) = usize::try_from(names_index)
        .ok()
        .and_then(|i| sections.get(i))
    else {
        return Located::Absent;
    };
    let Some(name_table) = tail.get(names.offset, names.size) else {
        return missed("ELF section name table", names.offset);
    };
    let Some(section) = sections
        .iter()
        .find(|s| elf::string_at(name_table, s.name) == Some(SECTION))
    else {
        return Located::Absent;
    };
    match tail.get(section.offset, section.size) {
        Some(bytes) => Located::Bytes(bytes),
        None => missed(".dep-v0 section", section.offset),
    }
}

/// cargo-auditable's dependency list (auditable-serde's `VersionInfo`).
#[derive(Debug, Deserialize)]
struct VersionInfo {
    packages: Vec<AuditPackage>,
}

#[derive(Debug, Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<serde_json::Value>,
    #[serde(default)]
    kind: Option<String>,
}

fn parse_dependencies(compressed: &[u8]) -> Result<Findings, SbomError> {
    let mut json = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| SbomError::Malformed {
            format: "cargo-auditable data",
            reason: format!("zlib: {e}"),
        })?;
    if json.len() as u64 > MAX_JSON {
        return Ok(Findings::warning(format!(
            "the cargo-auditable data decompresses to over {} MiB; not read",
            MAX_JSON >> 20
        )));
    }
    let info: VersionInfo = serde_json::from_slice(&json).map_err(|e| SbomError::Malformed {
        format: "cargo-auditable data",
        reason: e.to_string(),
    })?;
    let packages = info
        .packages
        .into_iter()
        .filter(|p| p.kind.as_deref() != Some("build") && !p.name.is_empty())
        .map(|p| {
            let mut package = Package::new(Ecosystem::Rust, p.name.as_str(), p.version.as_str());
            package.purl = Some(Purl::new("cargo", p.name, p.version).to_string());
            if let Some(source) = p.source.as_ref().and_then(|s| s.as_str()) {
                package.properties.insert("source".into(), source.into());
            }
            package
        })
        .collect();
    Ok(Findings {
        packages,
        ..Findings::default()
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        encoder.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A 64-bit little-endian ELF file: header, `padding` bytes, the `.dep-v0` section with
    /// `section`, `after` more bytes, the section name table and the section header table
    /// (null, .dep-v0, .shstrtab).
    fn elf(section: &[u8], padding: usize, after: usize) -> Vec<u8> {
        let mut out = vec![0u8; 64 + padding];
        let dep_offset = out.len();
        out.extend(section);
        out.resize(out.len() + after, 0);
        let names_offset = out.len();
        let names = b"\0.dep-v0\0.shstrtab\0";
        out.extend(names);
        let shoff = out.len();
        let mut entry = |name: u32, offset: usize, size: usize| {
            let mut e = [0u8; 64];
            e[..4].copy_from_slice(&name.to_le_bytes());
            e[4..8].copy_from_slice(&1u32.to_le_bytes());
            e[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            e[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            out.extend(e);
        };
        entry(0, 0, 0);
        entry(1, dep_offset, section.len());
        entry(9, names_offset, names.len());
        out[..4].copy_from_slice(elf::MAGIC);
        out[4] = 2;
        out[5] = 1;
        out[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
        out[58..60].copy_from_slice(&64u16.to_le_bytes());
        out[60..62].copy_from_slice(&3u16.to_le_bytes());
        out[62..64].copy_from_slice(&2u16.to_le_bytes());
        out
    }

    fn read(bytes: &[u8]) -> Result<Findings, SbomError> {
        RustCataloger.read("usr/bin/app", bytes.len() as u64, &mut &bytes[..])
    }

    const JSON: &str = r#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"itoa","version":"1.0.19","source":"crates.io"},{"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"}],"format":1}"#;

    #[test]
    fn runtime_packages_root_included() {
        let findings = read(&elf(&zlib(JSON.as_bytes()), 5000, 300)).unwrap_or_default();
        let found: Vec<_> = findings
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.purl.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("hello", "0.1.0", "pkg:cargo/hello@0.1.0"),
                ("itoa", "1.0.19", "pkg:cargo/itoa@1.0.19")
            ]
        );
        assert_eq!(findings.packages[1].properties["source"], "crates.io");
    }

    #[test]
    fn the_ring_buffer_keeps_the_last_bytes_across_wraps() {
        // The section 3 MiB before the end of a 20 MiB file: the ring wraps twice.
        let bytes = elf(&zlib(JSON.as_bytes()), 17 << 20, 3 << 20);
        assert_eq!(read(&bytes).map(|f| f.packages.len()), Ok(2));
    }

    #[test]
    fn a_section_outside_the_tail_is_a_warning() {
        let bytes = elf(&zlib(JSON.as_bytes()), 100, TAIL);
        let findings = read(&bytes).unwrap_or_default();
        assert!(findings.packages.is_empty());
        assert_eq!(findings.warnings.len(), 1, "{:?}", findings.warnings);
        assert!(findings.warnings[0].contains(".dep-v0"));
    }

    #[test]
    fn a_zlib_bomb_is_refused() {
        let bomb = zlib(&vec![b' '; (MAX_JSON + 10) as usize]);
        let findings = read(&elf(&bomb, 0, 0)).unwrap_or_default();
        assert!(findings.packages.is_empty());
        assert_eq!(findings.warnings.len(), 1);
    }

    #[test]
    fn bad_data_is_an_error_not_a_panic() {
        assert!(matches!(
            read(&elf(b"not zlib", 0, 0)),
            Err(SbomError::Malformed { .. })
        ));
        assert!(matches!(
            read(&elf(&zlib(b"{\"packages\": 1}"), 0, 0)),
            Err(SbomError::Malformed { .. })
        ));
        // Truncated files and files that are not ELF give nothing.
        let bytes = elf(&zlib(JSON.as_bytes()), 10, 10);
        for cut in [0, 3, 63, 64, 100, bytes.len() - 1] {
            assert!(
                read(&bytes[..cut]).is_ok_and(|f| f.packages.is_empty()),
                "{cut}"
            );
        }
        assert_eq!(read(b"#!/bin/sh\n"), Ok(Findings::default()));
    }

    #[test]
    fn binaries_without_the_section_give_nothing() {
        let mut bytes = elf(&zlib(JSON.as_bytes()), 10, 10);
        let at = bytes.len() - 19 - 3 * 64 + 1;
        bytes[at..at + 7].copy_from_slice(b".rodata");
        assert_eq!(read(&bytes), Ok(Findings::default()));
    }
}
