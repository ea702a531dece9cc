//! Alpine packages (and Wolfi's, Chainguard's): the apk database `lib/apk/db/installed`
//! (also at `usr/lib/apk/db/installed`, where apk-tools 3 may keep it).
//!
//! The database is records separated by blank lines; each line of a record is `X:value`
//! with a one-letter key (apk-tools' `apk_db_index_read`). Kept: `P` name, `V` version,
//! `A` architecture (property `arch`), `o` origin, the source package (property `origin`),
//! and `L` licence. A record without `P` is skipped with a warning.
//!
//! The licence is kept as written when it is one word or an SPDX-style expression (it has
//! `AND`, `OR` or `WITH`, in any case); otherwise it is a list of names separated by spaces
//! (`MIT BSD GPL2+`, as older packages write it) and each name is one licence, as syft does.
//!
//! Files over [`MAX_SIZE`] are skipped with a warning; lines are cut at [`MAX_LINE`] bytes.

use std::io::{BufReader, Read};

use super::text::{Lines, read_failed, too_large};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// Databases larger than this are not read.
pub const MAX_SIZE: u64 = 256 * 1024 * 1024;
/// Lines are cut at this many bytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// The apk cataloger: packages from the apk installed database.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApkCataloger;

impl Cataloger for ApkCataloger {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn wants(&self, path: &str, _size: u64) -> bool {
        path == "lib/apk/db/installed" || path == "usr/lib/apk/db/installed"
    }

    /// The packages of the database (see the module documentation). Fails only when the
    /// stream fails; malformed content gives warnings.
    fn read(&self, path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        if size > MAX_SIZE {
            return Ok(Findings::warning(too_large("apk database", size, MAX_SIZE)));
        }
        parse_installed(contents.take(MAX_SIZE)).map_err(|e| read_failed(path, &e))
    }
}

#[derive(Default)]
struct Record {
    fields: usize,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
    license: Option<String>,
}

/// The packages of an apk installed database, with warnings for lines that are not
/// `X:value`, records without a name, and over-long lines. Fails only when `reader` fails.
pub fn parse_installed(reader: impl Read) -> std::io::Result<Findings> {
    let mut lines = Lines::new(BufReader::new(reader), MAX_LINE);
    let mut findings = Findings::default();
    let mut record = Record::default();
    let mut not_fields = 0usize;
    let mut without_name = 0usize;
    let mut finish = |record: Record, findings: &mut Findings| {
        if record.fields == 0 {
            return;
        }
        let Some(name) = record.name.filter(|n| !n.is_empty()) else {
            without_name += 1;
            return;
        };
        let mut package = Package::new(Ecosystem::Apk, name, record.version.unwrap_or_default());
        for (key, value) in [("arch", record.arch), ("origin", record.origin)] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                package.properties.insert(key.into(), value);
            }
        }
        if let Some(license) = record.license {
            package.licenses = split_license(&license);
        }
        findings.packages.push(package);
    };
    while let Some(line) = lines.next_line()? {
        if line.trim().is_empty() {
            finish(std::mem::take(&mut record), &mut findings);
            continue;
        }
        let mut chars = line.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            not_fields += 1;
            continue;
        };
        record.fields += 1;
        let value = chars.as_str().trim().to_owned();
        let slot = match key {
            'P' => &mut record.name,
            'V' => &mut record.version,
            'A' => &mut record.arch,
            'o' => &mut record.origin,
            'L' => &mut record.license,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    finish(record, &mut findings);
    if not_fields > 0 {
        findings.warnings.push(format!(
            "{not_fields} line(s) are not X:value fields and were skipped"
        ));
    }
    if without_name > 0 {
        findings.warnings.push(format!(
            "{without_name} record(s) without a P: (name) field were skipped"
        ));
    }
    if lines.overlong > 0 {
        findings.warnings.push(format!(
            "{} line(s) are longer than {MAX_LINE} bytes and were cut",
            lines.overlong
        ));
    }
    Ok(findings)
}

/// An `L:` value as licences: whole when it is one word or an expression, else one per
/// word.
fn split_license(license: &str) -> Vec<String> {
    let words: Vec<&str> = license.split_whitespace().collect();
    let expression = words.iter().any(|w| {
        let w = w.trim_matches(|c| c == '(' || c == ')');
        ["and", "or", "with"]
            .iter()
            .any(|op| w.eq_ignore_ascii_case(op))
    });
    if words.len() <= 1 || expression {
        let license = license.trim();
        if license.is_empty() {
            Vec::new()
        } else {
            vec![license.to_owned()]
        }
    } else {
        words.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences() {
        assert_eq!(split_license("MIT BSD GPL2+"), ["MIT", "BSD", "GPL2+"]);
        assert_eq!(
            split_license("GPL-2.0-or-later AND (MIT OR Apache-2.0)"),
            ["GPL-2.0-or-later AND (MIT OR Apache-2.0)"]
        );
        assert_eq!(split_license(" MIT "), ["MIT"]);
        assert!(split_license("").is_empty());
    }

    #[test]
    fn malformed_records_warn() {
        let findings =
            parse_installed(&b"V:1.0\nA:x86_64\n\nP:ok\nV:1\nnot a field\n"[..]).unwrap();
        assert_eq!(findings.packages.len(), 1);
        assert_eq!(findings.warnings.len(), 2, "{:?}", findings.warnings);
    }
}
