//! Debian packages: the dpkg status database, distroless `status.d` files, opkg status
//! files, and licences from `usr/share/doc/<package>/copyright`.
//!
//! # Files read
//! * `var/lib/dpkg/status`: one stanza per package (deb822: `Field: value` lines,
//!   continuation lines starting with a space or tab, stanzas separated by blank lines).
//! * `var/lib/dpkg/status.d/<name>`: distroless images keep one file per package here, each
//!   one or more stanzas; the `<name>.md5sums` files beside them are not read.
//! * `var/lib/opkg/status` and `usr/lib/opkg/status`: opkg (OpenWrt, Yocto) writes the same
//!   format; its `License:` field becomes the package's licence, as written.
//! * `usr/share/doc/<package>/copyright`: licences, see below.
//!
//! # Which stanzas are packages
//! As syft does: a stanza with an empty or missing `Package` is skipped; a stanza without
//! `Status` is reported (distroless files may lack it), as is one without `Version` (with an
//! empty version). A `Status` (`want flag state`) is reported when the package's files are
//! on disk (state `installed`, `unpacked`, `half-configured`, `triggers-awaited`,
//! `triggers-pending`) and it is not being removed (want neither `deinstall`, which syft
//! ignores, nor `purge`). `config-files`, `not-installed` and `half-installed` are skipped. A
//! `Status` that is not three words, or names an unknown state, skips the stanza with a
//! warning.
//!
//! A package gets `Version` as written (with its epoch), property `arch` from
//! `Architecture`, and properties `source` and `source_version` from `Source`, which may be
//! `name` or `name (version)`; [`super::assemble`] makes the purl from them.
//!
//! # Licences
//! Only machine-readable copyright files (DEP-5: a `Format:` field naming
//! `copyright-format/1.0`, or the older `dep.debian.net/deps/dep5` drafts, in the first
//! stanza) give licences: the first line of every `License:` field, as an SPDX expression
//! ([`dep5_license_expression`]). Other copyright files give none. syft at some versions
//! also collected every `/usr/share/common-licenses/<name>` a file mentions, which reports
//! licences a text merely refers to; vouch does not.
//!
//! # Limits
//! Status files over [`MAX_STATUS_SIZE`] and copyright files over [`MAX_COPYRIGHT_SIZE`] are
//! skipped with a warning; lines are cut at [`MAX_LINE`] bytes, with a warning. Memory use is
//! bounded by the line limit and the packages found, whatever the input.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};

use super::text::{Lines, read_failed, too_large};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// Status files (and `status.d` files) larger than this are not read.
pub const MAX_STATUS_SIZE: u64 = 256 * 1024 * 1024;
/// Copyright files larger than this are not read.
pub const MAX_COPYRIGHT_SIZE: u64 = 16 * 1024 * 1024;
/// Lines are cut at this many bytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// The dpkg cataloger: packages from dpkg and opkg status files, licences from copyright
/// files.
#[derive(Debug, Clone, Copy, Default)]
pub struct DpkgCataloger;

/// What a path is to the cataloger.
enum Kind<'a> {
    Status,
    Copyright(&'a str),
}

fn kind(path: &str) -> Option<Kind<'_>> {
    if matches!(
        path,
        "var/lib/dpkg/status" | "var/lib/opkg/status" | "usr/lib/opkg/status"
    ) {
        return Some(Kind::Status);
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return (!name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums"))
            .then_some(Kind::Status);
    }
    let package = path
        .strip_prefix("usr/share/doc/")?
        .strip_suffix("/copyright")?;
    (!package.is_empty() && !package.contains('/')).then_some(Kind::Copyright(package))
}

impl Cataloger for DpkgCataloger {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, path: &str, _size: u64) -> bool {
        kind(path).is_some()
    }

    /// Packages from a status file, or licences from a copyright file (see the module
    /// documentation). Fails only when the stream fails; malformed content gives warnings.
    fn read(&self, path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        match kind(path) {
            Some(Kind::Status) => {
                if size > MAX_STATUS_SIZE {
                    return Ok(Findings::warning(too_large(
                        "dpkg status file",
                        size,
                        MAX_STATUS_SIZE,
                    )));
                }
                parse_status(contents.take(MAX_STATUS_SIZE)).map_err(|e| read_failed(path, &e))
            }
            Some(Kind::Copyright(package)) => {
                let mut findings = Findings::default();
                if size > MAX_COPYRIGHT_SIZE {
                    findings
                        .warnings
                        .push(too_large("copyright file", size, MAX_COPYRIGHT_SIZE));
                    return Ok(findings);
                }
                let licenses = copyright_licenses(contents.take(MAX_COPYRIGHT_SIZE))
                    .map_err(|e| read_failed(path, &e))?;
                if !licenses.is_empty() {
                    findings
                        .licenses
                        .push((Ecosystem::Deb, package.to_owned(), licenses));
                }
                Ok(findings)
            }
            None => Ok(Findings::default()),
        }
    }
}

/// The fields of a stanza that the cataloger keeps.
#[derive(Default)]
struct Stanza {
    fields: usize,
    package: Option<String>,
    status: Option<String>,
    version: Option<String>,
    architecture: Option<String>,
    source: Option<String>,
    license: Option<String>,
}

/// Counts of what was skipped, for the warnings.
#[derive(Default)]
struct Skipped {
    not_fields: usize,
    without_package: usize,
    bad_status: BTreeSet<String>,
}

/// The installed packages of a dpkg or opkg status file (see the module documentation for
/// which stanzas count), with warnings for lines that are not fields, stanzas without a
/// `Package` field, unknown statuses and over-long lines. Fails only when `reader` fails.
pub fn parse_status(reader: impl Read) -> std::io::Result<Findings> {
    let mut lines = Lines::new(BufReader::new(reader), MAX_LINE);
    let mut findings = Findings::default();
    let mut skipped = Skipped::default();
    let mut stanza = Stanza::default();
    while let Some(line) = lines.next_line()? {
        if line.trim().is_empty() {
            finish(std::mem::take(&mut stanza), &mut findings, &mut skipped);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line: only multi-line fields have them, none of which is kept.
            if stanza.fields == 0 {
                skipped.not_fields += 1;
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            skipped.not_fields += 1;
            continue;
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            skipped.not_fields += 1;
            continue;
        }
        stanza.fields += 1;
        let value = value.trim().to_owned();
        // deb822 field names are case-insensitive; the first occurrence counts.
        let slot = match key.to_ascii_lowercase().as_str() {
            "package" => &mut stanza.package,
            "status" => &mut stanza.status,
            "version" => &mut stanza.version,
            "architecture" => &mut stanza.architecture,
            "source" => &mut stanza.source,
            "license" => &mut stanza.license,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    finish(stanza, &mut findings, &mut skipped);

    if skipped.not_fields > 0 {
        findings.warnings.push(format!(
            "{} line(s) are neither fields nor continuation lines and were skipped",
            skipped.not_fields
        ));
    }
    if skipped.without_package > 0 {
        findings.warnings.push(format!(
            "{} stanza(s) without a Package field were skipped",
            skipped.without_package
        ));
    }
    for status in &skipped.bad_status {
        findings.warnings.push(format!(
            "unrecognized Status \"{}\": the package was skipped",
            crate::truncated(status, 100)
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

/// Adds the package of a finished stanza, if it is one that counts.
fn finish(stanza: Stanza, findings: &mut Findings, skipped: &mut Skipped) {
    if stanza.fields == 0 {
        return;
    }
    let Some(name) = stanza.package else {
        skipped.without_package += 1;
        return;
    };
    if name.is_empty() {
        return;
    }
    if let Some(status) = &stanza.status {
        match installed(status) {
            Some(true) => {}
            Some(false) => return,
            None => {
                skipped.bad_status.insert(status.clone());
                return;
            }
        }
    }
    let mut package = Package::new(Ecosystem::Deb, name, stanza.version.unwrap_or_default());
    if let Some(arch) = stanza.architecture.filter(|a| !a.is_empty()) {
        package.properties.insert("arch".into(), arch);
    }
    if let Some(source) = stanza.source {
        let (source, version) = split_source(&source);
        if !source.is_empty() {
            package
                .properties
                .insert("source".into(), source.to_owned());
        }
        if let Some(version) = version.filter(|v| !v.is_empty()) {
            package
                .properties
                .insert("source_version".into(), version.to_owned());
        }
    }
    if let Some(license) = stanza.license.filter(|l| !l.is_empty()) {
        package.licenses.push(license);
    }
    findings.packages.push(package);
}

/// Whether a `Status` value (`want flag state`, deb-status(5)) is an installed package not
/// being removed; `None` when it is not a status.
fn installed(status: &str) -> Option<bool> {
    let words: Vec<&str> = status.split_whitespace().collect();
    let [want, flag, state] = words[..] else {
        return None;
    };
    let want_ok = match want {
        "install" | "hold" | "unknown" => true,
        "deinstall" | "purge" => false,
        _ => return None,
    };
    // opkg writes `user` where dpkg writes `ok`.
    if !matches!(flag, "ok" | "reinstreq" | "user") {
        return None;
    }
    let on_disk = match state {
        "installed" | "unpacked" | "half-configured" | "triggers-awaited" | "triggers-pending" => {
            true
        }
        "not-installed" | "config-files" | "half-installed" => false,
        _ => return None,
    };
    Some(want_ok && on_disk)
}

/// `name (version)` or `name` as name and version.
fn split_source(source: &str) -> (&str, Option<&str>) {
    match source.split_once('(') {
        Some((name, rest)) => (
            name.trim(),
            Some(rest.split(')').next().unwrap_or_default().trim()),
        ),
        None => (source.trim(), None),
    }
}

/// The licences of a Debian copyright file: for a machine-readable (DEP-5) file, the SPDX
/// expression of the first line of each `License:` field, sorted and without duplicates;
/// for any other file, none. Lines are cut at [`MAX_LINE`]. Fails only when `reader`
/// fails.
pub fn copyright_licenses(reader: impl Read) -> std::io::Result<Vec<String>> {
    let mut lines = Lines::new(BufReader::new(reader), MAX_LINE);
    let mut found = BTreeSet::new();
    // The header stanza is the first one; blank lines before it do not end it.
    let mut in_header = true;
    let mut header_fields = false;
    let mut machine_readable = false;
    while let Some(line) = lines.next_line()? {
        if line.trim().is_empty() {
            if header_fields {
                in_header = false;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if in_header {
            header_fields = true;
            if key == "format" || key == "format-specification" {
                machine_readable = is_dep5_format(value);
            }
        } else if !machine_readable {
            return Ok(Vec::new());
        }
        if key == "license"
            && let Some(expression) = dep5_license_expression(value)
        {
            // A file naming thousands of licences is not plausible; stop collecting.
            if found.len() < 1000 {
                found.insert(expression);
            }
        }
    }
    if !machine_readable {
        return Ok(Vec::new());
    }
    Ok(found.into_iter().collect())
}

/// Whether a `Format:` value names the DEP-5 specification (copyright-format 1.0, at any
/// of the addresses it has had, or the DEP-5 drafts).
fn is_dep5_format(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    value.contains("/packaging-manuals/copyright-format/1.0") || value.contains("/deps/dep5")
}

/// The SPDX expression of a DEP-5 `License:` synopsis (the first line of the field), `None`
/// when it is empty.
///
/// `or` and `and` become `OR` and `AND` (DEP-5 gives `and` precedence over `or`, as SPDX
/// does), and a comma before `and`/`or` groups what precedes it (`A or B, and C` is
/// `(A OR B) AND C`). `X with Y exception` becomes `X WITH <SPDX exception>` for the
/// exceptions SPDX lists (Autoconf, Bison, Classpath, Font, GCC, Libtool, OCaml-LGPL,
/// Qt-LGPL-1.1), else the atom `LicenseRef-X-with-Y-exception`. Each name is mapped by
/// [`debian_license_to_spdx`]. A synopsis that is not an expression in these terms (free
/// text, a dangling operator) becomes one `LicenseRef-` of the whole synopsis.
///
/// ```
/// use vouch_sbom::dpkg::dep5_license_expression;
///
/// assert_eq!(dep5_license_expression("GPL-2+").as_deref(), Some("GPL-2.0-or-later"));
/// assert_eq!(
///     dep5_license_expression("GPL-2+ or Artistic, and BSD-3-clause").as_deref(),
///     Some("(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause")
/// );
/// assert_eq!(
///     dep5_license_expression("GPL-3+ with Autoconf exception").as_deref(),
///     Some("GPL-3.0-or-later WITH Autoconf-exception-3.0")
/// );
/// ```
pub fn dep5_license_expression(synopsis: &str) -> Option<String> {
    let synopsis = synopsis.trim();
    if synopsis.is_empty() {
        return None;
    }
    Some(translate(synopsis).unwrap_or_else(|| license_ref(synopsis)))
}

/// [`dep5_license_expression`] for a well-formed synopsis.
fn translate(synopsis: &str) -> Option<String> {
    let groups: Vec<&str> = synopsis.split(',').collect();
    let several = groups.len() > 1;
    let mut out = String::new();
    for (index, group) in groups.iter().enumerate() {
        let mut words: Vec<&str> = group.split_whitespace().collect();
        if index > 0 {
            let operator = match words.first().map(|w| w.to_ascii_lowercase()) {
                Some(w) if w == "and" => "AND",
                Some(w) if w == "or" => "OR",
                _ => return None,
            };
            words.remove(0);
            out.push(' ');
            out.push_str(operator);
            out.push(' ');
        }
        let (expression, operators) = translate_group(&words)?;
        if several && operators {
            out.push('(');
            out.push_str(&expression);
            out.push(')');
        } else {
            out.push_str(&expression);
        }
    }
    Some(out)
}

/// One comma-separated group: atoms joined by `and`/`or`; also whether it has an operator.
fn translate_group(words: &[&str]) -> Option<(String, bool)> {
    let mut out = String::new();
    let mut operators = false;
    let mut rest = words;
    loop {
        let (&name, after) = rest.split_first()?;
        if is_operator(name) {
            return None;
        }
        rest = after;
        // `X with Y [Z] exception`
        if rest.first().is_some_and(|w| w.eq_ignore_ascii_case("with")) {
            let end = rest
                .iter()
                .position(|w| w.eq_ignore_ascii_case("exception"))?;
            let exception = rest.get(1..end).filter(|e| !e.is_empty())?.join(" ");
            out.push_str(&with_exception(name, &exception));
            rest = &rest[end + 1..];
        } else {
            out.push_str(&debian_license_to_spdx(name));
        }
        match rest.split_first() {
            None => return Some((out, operators)),
            Some((operator, after)) => {
                let operator = match operator.to_ascii_lowercase().as_str() {
                    "and" => "AND",
                    "or" => "OR",
                    _ => return None,
                };
                operators = true;
                out.push(' ');
                out.push_str(operator);
                out.push(' ');
                rest = after;
            }
        }
    }
}

fn is_operator(word: &str) -> bool {
    ["and", "or", "with", "exception"]
        .iter()
        .any(|op| word.eq_ignore_ascii_case(op))
}

/// `license WITH exception` when SPDX lists the exception, else one `LicenseRef-`.
fn with_exception(license: &str, exception: &str) -> String {
    let known = match exception.to_ascii_lowercase().as_str() {
        "autoconf" => Some(if license.starts_with("GPL-3") {
            "Autoconf-exception-3.0"
        } else {
            "Autoconf-exception-2.0"
        }),
        "bison" => Some("Bison-exception-2.2"),
        "classpath" => Some("Classpath-exception-2.0"),
        "font" => Some("Font-exception-2.0"),
        "gcc" => Some("GCC-exception-3.1"),
        "libtool" => Some("Libtool-exception"),
        "ocaml" | "ocaml-lgpl" => Some("OCaml-LGPL-linking-exception"),
        "qt-lgpl-1.1" | "qt" => Some("Qt-LGPL-exception-1.1"),
        _ => None,
    };
    match known {
        Some(exception) => format!("{} WITH {exception}", debian_license_to_spdx(license)),
        None => license_ref(&format!("{license}-with-{exception}-exception")),
    }
}

/// The SPDX identifier for a Debian short licence name (DEP-5 section "License short
/// name"), compared without regard to case:
/// * the GNU licences with a version, `+` meaning "or later": `GPL-2` is `GPL-2.0-only`,
///   `GPL-2+` is `GPL-2.0-or-later`, likewise `LGPL-2.1`, `AGPL-3`, `GFDL-1.3`; names already
///   in SPDX form (`GPL-2.0-or-later`) are kept;
/// * `Expat` is `MIT`, `Artistic` is `Artistic-1.0-Perl`, `Perl` is
///   `Artistic-1.0-Perl OR GPL-1.0-or-later`, the `BSD-n-clause` names are `BSD-n-Clause`,
///   `CC-BY-*` and `CC0` names are upper-cased;
/// * names that are SPDX identifiers already (`Apache-2.0`, `MIT`, `Zlib`, `ISC`, `MPL-2.0`,
///   ...) are written in SPDX's spelling;
/// * anything else, `public-domain` included (SPDX has no identifier for it), is
///   `LicenseRef-<name>`, with characters SPDX does not allow in an identifier replaced by
///   `-`.
///
/// ```
/// use vouch_sbom::dpkg::debian_license_to_spdx;
///
/// assert_eq!(debian_license_to_spdx("GPL-2+"), "GPL-2.0-or-later");
/// assert_eq!(debian_license_to_spdx("LGPL-2.1"), "LGPL-2.1-only");
/// assert_eq!(debian_license_to_spdx("Expat"), "MIT");
/// assert_eq!(debian_license_to_spdx("BSD-3-clause"), "BSD-3-Clause");
/// assert_eq!(debian_license_to_spdx("public-domain"), "LicenseRef-public-domain");
/// ```
pub fn debian_license_to_spdx(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some(gnu) = gnu_license(&lower) {
        return gnu;
    }
    let fixed = match lower.as_str() {
        "expat" | "mit" => "MIT",
        "artistic" | "artistic-1.0-perl" => "Artistic-1.0-Perl",
        "perl" => "Artistic-1.0-Perl OR GPL-1.0-or-later",
        "artistic-1.0" | "artistic-1" => "Artistic-1.0",
        "artistic-2.0" | "artistic-2" => "Artistic-2.0",
        "apache-1.0" => "Apache-1.0",
        "apache-1.1" => "Apache-1.1",
        "apache-2.0" | "apache-2" => "Apache-2.0",
        "bsd-2-clause" => "BSD-2-Clause",
        "bsd-3-clause" => "BSD-3-Clause",
        "bsd-4-clause" => "BSD-4-Clause",
        "isc" => "ISC",
        "zlib" => "Zlib",
        "zlib-acknowledgement" => "zlib-acknowledgement",
        "mpl-1.0" => "MPL-1.0",
        "mpl-1.1" => "MPL-1.1",
        "mpl-2.0" => "MPL-2.0",
        "epl-1.0" => "EPL-1.0",
        "epl-2.0" => "EPL-2.0",
        "cddl-1.0" => "CDDL-1.0",
        "cddl-1.1" => "CDDL-1.1",
        "cpl-1.0" => "CPL-1.0",
        "efl-1" | "efl-1.0" => "EFL-1.0",
        "efl-2" | "efl-2.0" => "EFL-2.0",
        "lppl-1.3c" => "LPPL-1.3c",
        "python-2.0" => "Python-2.0",
        "psf-2.0" => "PSF-2.0",
        "qpl-1.0" => "QPL-1.0",
        "w3c" => "W3C",
        "zpl-2.1" | "zope-2.1" => "ZPL-2.1",
        "openssl" => "OpenSSL",
        "sleepycat" => "Sleepycat",
        "unlicense" => "Unlicense",
        "wtfpl" => "WTFPL",
        "bsl-1.0" => "BSL-1.0",
        "x11" => "X11",
        "curl" => "curl",
        "ofl-1.1" | "sil-ofl-1.1" => "OFL-1.1",
        "cc0" | "cc0-1.0" => "CC0-1.0",
        "unicode-dfs-2016" => "Unicode-DFS-2016",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    if lower.starts_with("cc-by") && lower.rsplit('-').next().is_some_and(is_version) {
        return name.to_ascii_uppercase();
    }
    license_ref(name)
}

/// `GPL`, `LGPL`, `AGPL` and `GFDL` with a version, in Debian or SPDX spelling.
fn gnu_license(lower: &str) -> Option<String> {
    let (family, rest) = ["agpl", "lgpl", "gfdl", "gpl"]
        .iter()
        .find_map(|f| Some((*f, lower.strip_prefix(f)?.strip_prefix('-')?)))?;
    let (version, later) = if let Some(v) = rest.strip_suffix("-or-later") {
        (v, true)
    } else if let Some(v) = rest.strip_suffix("-only") {
        (v, false)
    } else if let Some(v) = rest.strip_suffix('+') {
        (v, true)
    } else {
        (rest, false)
    };
    if !is_version(version) {
        return None;
    }
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    let known = matches!(
        (family, version.as_str()),
        ("gpl", "1.0" | "2.0" | "3.0")
            | ("lgpl", "2.0" | "2.1" | "3.0")
            | ("agpl", "1.0" | "3.0")
            | ("gfdl", "1.1" | "1.2" | "1.3")
    );
    if !known {
        return None;
    }
    let suffix = if later { "or-later" } else { "only" };
    Some(format!(
        "{}-{version}-{suffix}",
        family.to_ascii_uppercase()
    ))
}

/// Digits, optionally `.` and more digits.
fn is_version(text: &str) -> bool {
    let mut parts = text.split('.');
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.all(digits) && text.matches('.').count() <= 1
}

/// `LicenseRef-<text>`, with characters other than letters, digits, `.` and `-` replaced by
/// `-` (SPDX idstring).
fn license_ref(text: &str) -> String {
    let mut out = String::from("LicenseRef-");
    for c in text.trim().chars().take(200) {
        out.push(if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c
        } else {
            '-'
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wants_is_exact() {
        let d = DpkgCataloger;
        assert!(d.wants("var/lib/dpkg/status", 1));
        assert!(d.wants("var/lib/dpkg/status.d/base-files", 1));
        assert!(!d.wants("var/lib/dpkg/status.d/base-files.md5sums", 1));
        assert!(!d.wants("var/lib/dpkg/status.d/", 1));
        assert!(!d.wants("var/lib/dpkg/status-old", 1));
        assert!(!d.wants("var/lib/dpkg/status.d/a/b", 1));
        assert!(d.wants("usr/share/doc/zlib1g/copyright", 1));
        assert!(!d.wants("usr/share/doc/zlib1g/examples/copyright", 1));
        assert!(!d.wants("usr/share/doc//copyright", 1));
        assert!(d.wants("usr/lib/opkg/status", 1));
    }

    #[test]
    fn status_words() {
        assert_eq!(installed("install ok installed"), Some(true));
        assert_eq!(installed("hold ok installed"), Some(true));
        assert_eq!(installed("install user installed"), Some(true));
        assert_eq!(installed("install ok triggers-pending"), Some(true));
        assert_eq!(installed("deinstall ok config-files"), Some(false));
        assert_eq!(installed("deinstall ok installed"), Some(false));
        assert_eq!(installed("purge ok not-installed"), Some(false));
        assert_eq!(installed("install ok half-installed"), Some(false));
        assert_eq!(installed("install ok inst"), None);
        assert_eq!(installed("install ok"), None);
        assert_eq!(installed(""), None);
    }

    #[test]
    fn source_with_and_without_version() {
        assert_eq!(split_source("pam"), ("pam", None));
        assert_eq!(
            split_source("glibc (2.36-9+deb12u4)"),
            ("glibc", Some("2.36-9+deb12u4"))
        );
        assert_eq!(split_source("x (unclosed"), ("x", Some("unclosed")));
    }

    #[test]
    fn licence_names() {
        for (debian, spdx) in [
            ("GPL-1", "GPL-1.0-only"),
            ("GPL-2", "GPL-2.0-only"),
            ("gpl-2+", "GPL-2.0-or-later"),
            ("GPL-3.0+", "GPL-3.0-or-later"),
            ("GPL-2.0-or-later", "GPL-2.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("LGPL-2", "LGPL-2.0-only"),
            ("AGPL-3+", "AGPL-3.0-or-later"),
            ("GFDL-1.3+", "GFDL-1.3-or-later"),
            ("Apache-2.0", "Apache-2.0"),
            ("BSD-2-clause", "BSD-2-Clause"),
            ("Zlib", "Zlib"),
            ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
            ("cc-by-3.0", "CC-BY-3.0"),
            ("GPL-7", "LicenseRef-GPL-7"),
            ("GPL", "LicenseRef-GPL"),
            ("BSD-like (see below)", "LicenseRef-BSD-like--see-below-"),
        ] {
            assert_eq!(debian_license_to_spdx(debian), spdx, "{debian}");
        }
    }

    #[test]
    fn licence_expressions() {
        for (synopsis, expression) in [
            (
                "GPL-2+ or Artistic",
                "GPL-2.0-or-later OR Artistic-1.0-Perl",
            ),
            ("MIT and BSD-3-clause", "MIT AND BSD-3-Clause"),
            (
                "GPL-2+ with OpenSSL exception",
                "LicenseRef-GPL-2--with-OpenSSL-exception",
            ),
            (
                "LGPL-2.1 or GPL-2, or MPL-1.1",
                "(LGPL-2.1-only OR GPL-2.0-only) OR MPL-1.1",
            ),
            ("or", "LicenseRef-or"),
            ("GPL-2+ or", "LicenseRef-GPL-2--or"),
            ("GPL-2+ with", "LicenseRef-GPL-2--with"),
            (
                "free to use, see below",
                "LicenseRef-free-to-use--see-below",
            ),
        ] {
            assert_eq!(
                dep5_license_expression(synopsis).as_deref(),
                Some(expression),
                "{synopsis}"
            );
        }
        assert_eq!(dep5_license_expression("  "), None);
    }

    #[test]
    fn copyright_files() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: zlib\n\nFiles: *\nCopyright: 1995 Jean-loup Gailly\n\
                    License: Zlib\n The text.\n\nFiles: debian/*\nLicense: GPL-2+\n";
        assert_eq!(
            copyright_licenses(dep5.as_bytes()).unwrap(),
            ["GPL-2.0-or-later", "Zlib"]
        );
        let prose = "This is zlib.\nLicense: GPL-2\n\nOn Debian systems see \
                     /usr/share/common-licenses/GPL-2.\n";
        assert!(copyright_licenses(prose.as_bytes()).unwrap().is_empty());
        let late_format = "Upstream-Name: x\n\nFormat: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: MIT\n";
        assert!(
            copyright_licenses(late_format.as_bytes())
                .unwrap()
                .is_empty()
        );
        let leading_blank = "\n\nFormat: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0\n\nFiles: *\nLicense: MIT\n";
        assert_eq!(
            copyright_licenses(leading_blank.as_bytes()).unwrap(),
            ["MIT"]
        );
    }
}
