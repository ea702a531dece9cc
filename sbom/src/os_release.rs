//! The distribution of an image, from `etc/os-release` or `usr/lib/os-release`
//! (os-release(5)).
//!
//! Each line is a comment (`#`), blank, or `KEY=value` with the value in shell-like quoting:
//! `"..."` (where `\` escapes `$`, `"`, `\` and `` ` ``), `'...'` (no escapes), or unquoted
//! (where `\` escapes the next character). Quoted and unquoted parts may be joined
//! (`A="x"'y'z` is `xyz`). As systemd reads it, whitespace outside quotes inside a value is
//! kept and trailing whitespace dropped. Only `ID`, `VERSION_ID`, `PRETTY_NAME` and `ID_LIKE`
//! are kept; `ID` defaults to `linux` as os-release(5) says.
//!
//! ```
//! use vouch_sbom::os_release;
//!
//! let distro = os_release::parse("ID=debian\nVERSION_ID=\"12\"\nID_LIKE='rhel fedora'\n").unwrap();
//! assert_eq!((distro.id.as_str(), distro.version_id.as_str()), ("debian", "12"));
//! assert_eq!(distro.id_like, ["rhel", "fedora"]);
//! ```

use std::io::Read;

use super::text::{read_at_most, read_failed, too_large};
use super::{Cataloger, Distro, Findings};
use crate::SbomError;

/// os-release files larger than this are not read (real ones are under 1 KiB).
pub const MAX_SIZE: u64 = 64 * 1024;

/// The os-release cataloger: finds the [`Distro`] in `etc/os-release` and
/// `usr/lib/os-release`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsReleaseCataloger;

impl Cataloger for OsReleaseCataloger {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn wants(&self, path: &str, _size: u64) -> bool {
        path == "etc/os-release" || path == "usr/lib/os-release"
    }

    /// Reads the distribution. A file over [`MAX_SIZE`], or one with no `KEY=value` line,
    /// gives no distribution and a warning; lines that are not assignments are skipped and
    /// counted in a warning.
    fn read(&self, path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        let mut findings = Findings::default();
        if size > MAX_SIZE {
            findings
                .warnings
                .push(too_large("os-release file", size, MAX_SIZE));
            return Ok(findings);
        }
        let Some(bytes) = read_at_most(contents, MAX_SIZE).map_err(|e| read_failed(path, &e))?
        else {
            findings
                .warnings
                .push(too_large("os-release file", size, MAX_SIZE));
            return Ok(findings);
        };
        let text = String::from_utf8_lossy(&bytes);
        let (distro, skipped) = parse_counting(&text);
        if skipped > 0 {
            findings.warnings.push(format!(
                "{skipped} line(s) are not KEY=value and were skipped"
            ));
        }
        match distro {
            Some(distro) => findings.distro = Some(distro),
            None => findings
                .warnings
                .push("no KEY=value line: not an os-release file".to_owned()),
        }
        Ok(findings)
    }
}

/// The distribution described by os-release `text`, or `None` when no line is a valid
/// `KEY=value` assignment. Never fails otherwise: bad lines are skipped.
pub fn parse(text: &str) -> Option<Distro> {
    parse_counting(text).0
}

/// [`parse`], and how many non-blank, non-comment lines were not assignments.
fn parse_counting(text: &str) -> (Option<Distro>, usize) {
    let mut distro = Distro::default();
    let mut id = None;
    let mut assignments = 0usize;
    let mut skipped = 0usize;
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            skipped += 1;
            continue;
        };
        if !is_key(key) {
            skipped += 1;
            continue;
        }
        assignments += 1;
        let value = unquote(raw);
        match key {
            "ID" => id = Some(value),
            "VERSION_ID" => distro.version_id = value,
            "PRETTY_NAME" => distro.pretty_name = Some(value),
            "ID_LIKE" => distro.id_like = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
    if assignments == 0 {
        return (None, skipped);
    }
    // os-release(5): "If not set, a default of "ID=linux" may be used."
    distro.id = id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "linux".to_owned());
    (Some(distro), skipped)
}

/// A shell variable name: a letter or `_`, then letters, digits and `_`.
fn is_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value of an assignment's right-hand side, quotes and escapes resolved. An
/// unterminated quote runs to the end of the line.
fn unquote(raw: &str) -> String {
    let mut value = String::new();
    // Length of `value` up to its last character that was quoted or not whitespace, so that
    // trailing unquoted whitespace can be dropped.
    let mut keep = 0;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('$' | '"' | '\\' | '`')) => value.push(e),
                            Some(other) => {
                                value.push('\\');
                                value.push(other);
                            }
                            None => value.push('\\'),
                        },
                        other => value.push(other),
                    }
                }
                keep = value.len();
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    value.push(c);
                }
                keep = value.len();
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    value.push(e);
                }
                keep = value.len();
            }
            c if c.is_whitespace() => value.push(c),
            c => {
                value.push(c);
                keep = value.len();
            }
        }
    }
    value.truncate(keep);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_os_release_5() {
        assert_eq!(
            unquote(r#""a \"b\" \$c \\ \`d\` \x""#),
            r#"a "b" $c \ `d` \x"#
        );
        assert_eq!(unquote(r#"'a \"b'"#), r#"a \"b"#);
        assert_eq!(unquote(r#"plain\ word  "#), "plain word");
        assert_eq!(unquote(r#""x"'y'z"#), "xyz");
        assert_eq!(unquote(r#""unterminated"#), "unterminated");
        assert_eq!(unquote(r#"" spaced ""#), " spaced ");
        assert_eq!(unquote(""), "");
    }

    #[test]
    fn fields_and_defaults() {
        let distro = parse(
            "# comment\nNAME=\"Fedora Linux\"\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Container Image)\"\n",
        )
        .unwrap();
        assert_eq!(distro.id, "linux");
        assert_eq!(distro.version_id, "40");
        assert_eq!(
            distro.pretty_name.as_deref(),
            Some("Fedora Linux 40 (Container Image)")
        );
        assert!(distro.id_like.is_empty());
        assert_eq!(parse("garbage\n\0\u{1}\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("1BAD=x\n-=y\n"), None);
    }

    #[test]
    fn binary_garbage_gives_a_warning_not_a_panic() {
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let findings = OsReleaseCataloger
            .read("etc/os-release", garbage.len() as u64, &mut &garbage[..])
            .unwrap();
        assert!(!findings.warnings.is_empty());
    }

    #[test]
    fn oversized_files_are_skipped_with_a_warning() {
        let big = vec![b'#'; (MAX_SIZE + 1) as usize];
        let findings = OsReleaseCataloger
            .read("etc/os-release", big.len() as u64, &mut &big[..])
            .unwrap();
        assert_eq!(findings.distro, None);
        assert_eq!(findings.warnings.len(), 1);
    }
}
