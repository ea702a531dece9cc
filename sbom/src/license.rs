//! Licence strings in SPDX terms: which of the licences catalogers report are SPDX licence
//! identifiers or expressions that a document may carry as such, and which are only names.
//!
//! Validators check SPDX identifiers against the SPDX License List (the CycloneDX schema
//! enumerates it for `license.id`; SPDX tools parse `licenseDeclared` with it), so a writer
//! may only put an identifier where it knows the identifier is on the list. This module knows
//! [`LICENSE_IDS`] and [`EXCEPTION_IDS`], the licences found most in images; a licence it does
//! not know is a [`License::Name`], written as a name (CycloneDX) or a `LicenseRef-`
//! (SPDX), never guessed into an identifier.
//!
//! Identifiers match case-insensitively, operators in upper or lower case (SPDX 2.3,
//! Annex D.2); the result is written in the list's case with upper-case operators. Deprecated
//! GNU identifiers become their current form (`GPL-2.0+` is `GPL-2.0-or-later`, `GPL-2.0` is
//! `GPL-2.0-only`), as do the GNU short names of Debian copyright files (DEP-5: `GPL-2+`,
//! `LGPL-2.1`) and of RPM spec files (`GPLv2+`, `LGPLv2`), and DEP-5's `Expat` (which DEP-5
//! defines as the SPDX `MIT`). A `+` on any other identifier makes the text a name.
//!
//! ```
//! use vouch_sbom::license::{classify, License};
//!
//! assert_eq!(classify("mit"), License::Id("MIT"));
//! assert_eq!(classify("GPLv2+ and (mit or bsd-3-clause)"),
//!            License::Expression("GPL-2.0-or-later AND (MIT OR BSD-3-Clause)".into()));
//! assert_eq!(classify("GPL-2.0-only WITH Classpath-exception-2.0"),
//!            License::Expression("GPL-2.0-only WITH Classpath-exception-2.0".into()));
//! assert_eq!(classify("public-domain"), License::Name("public-domain".into()));
//! ```

/// What a licence string is, in SPDX terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum License {
    /// One identifier of [`LICENSE_IDS`], in the list's case.
    Id(&'static str),
    /// A compound SPDX licence expression (`AND`, `OR`, `WITH`, parentheses) made only of
    /// identifiers of [`LICENSE_IDS`] and, after `WITH`, of [`EXCEPTION_IDS`]: written with
    /// the list's case, upper-case operators, and parentheses only where needed.
    Expression(String),
    /// Anything else: the text as given, trimmed.
    Name(String),
}

impl License {
    /// The SPDX expression, when this is one (an identifier or a compound expression).
    pub fn spdx(&self) -> Option<&str> {
        match self {
            License::Id(id) => Some(id),
            License::Expression(expression) => Some(expression),
            License::Name(_) => None,
        }
    }
}

/// SPDX License List identifiers this module recognizes: each is on the list (checked against
/// the validators' copies by the tests), none deprecated.
///
/// `MPL-2.0-no-copyleft-exception` is left out on purpose: the `license-expression` library
/// that SPDX tools validate with reads it as an exception and refuses it on its own.
pub const LICENSE_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.0",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-1.0-only",
    "AGPL-1.0-or-later",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.0",
    "Apache-1.1",
    "Apache-2.0",
    "APSL-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "Beerware",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-2-Clause-Patent",
    "BSD-2-Clause-Views",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSD-4-Clause",
    "BSD-4-Clause-UC",
    "BSD-Source-Code",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "CPL-1.0",
    "curl",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "FTL",
    "GFDL-1.1-only",
    "GFDL-1.1-or-later",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "HPND-sell-variant",
    "ICU",
    "IJG",
    "Info-ZIP",
    "ISC",
    "JSON",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libpng-2.0",
    "libtiff",
    "LPPL-1.3c",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-1.0",
    "MPL-1.1",
    "MPL-2.0",
    "MS-PL",
    "MS-RL",
    "NCSA",
    "OFL-1.1",
    "OLDAP-2.8",
    "OpenSSL",
    "PHP-3.0",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Sleepycat",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "zlib-acknowledgement",
    "ZPL-2.1",
];

/// SPDX License Exceptions identifiers this module recognizes after `WITH`.
pub const EXCEPTION_IDS: &[&str] = &[
    "389-exception",
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Bootloader-exception",
    "Classpath-exception-2.0",
    "eCos-exception-2.0",
    "FLTK-exception",
    "Font-exception-2.0",
    "freertos-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "GPL-3.0-linking-exception",
    "GPL-3.0-linking-source-exception",
    "GPL-CC-1.0",
    "i2p-gpl-java-exception",
    "LGPL-3.0-linking-exception",
    "Libtool-exception",
    "Linux-syscall-note",
    "LLVM-exception",
    "mif-exception",
    "Nokia-Qt-exception-1.1",
    "OCaml-LGPL-linking-exception",
    "OpenJDK-assembly-exception-1.0",
    "openvpn-openssl-exception",
    "PS-or-PDF-font-exception-20170817",
    "Qt-GPL-exception-1.0",
    "Qt-LGPL-exception-1.1",
    "Swift-exception",
    "u-boot-exception-2.0",
    "Universal-FOSS-exception-1.0",
    "WxWindows-exception-3.1",
];

/// What `text` is in SPDX terms: a known identifier, a compound expression of known
/// identifiers, or a name. Never fails: text that is not a valid expression of known
/// identifiers is a [`License::Name`].
pub fn classify(text: &str) -> License {
    let text = text.trim();
    match parse(text) {
        Some(Expr::Id(id)) => License::Id(id),
        Some(expression) => License::Expression(expression.to_string()),
        None => License::Name(text.to_owned()),
    }
}

/// A parsed expression (SPDX 2.3, Annex D.4: `WITH` binds tighter than `AND`, `AND` than
/// `OR`).
enum Expr {
    Id(&'static str),
    With(&'static str, &'static str),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn write(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        parent_binds_tighter: bool,
    ) -> std::fmt::Result {
        let (parts, operator, binds_tighter_than_or) = match self {
            Expr::Id(id) => return f.write_str(id),
            Expr::With(id, exception) => return write!(f, "{id} WITH {exception}"),
            Expr::And(parts) => (parts, " AND ", true),
            Expr::Or(parts) => (parts, " OR ", false),
        };
        let parenthesized = parent_binds_tighter && !binds_tighter_than_or;
        if parenthesized {
            f.write_str("(")?;
        }
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                f.write_str(operator)?;
            }
            // An OR inside an AND needs parentheses; an AND inside an OR does not.
            part.write(f, binds_tighter_than_or)?;
        }
        if parenthesized {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, false)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operator {
    And,
    Or,
    With,
}

enum Token<'a> {
    Open,
    Close,
    Operator(Operator),
    Word(&'a str),
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    for chunk in text.split_whitespace() {
        let mut rest = chunk;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('(') {
                out.push(Token::Open);
                rest = after;
                continue;
            }
            let end = rest.find(['(', ')']).unwrap_or(rest.len());
            let (word, after) = rest.split_at(end);
            if !word.is_empty() {
                out.push(match word {
                    "AND" | "and" => Token::Operator(Operator::And),
                    "OR" | "or" => Token::Operator(Operator::Or),
                    "WITH" | "with" => Token::Operator(Operator::With),
                    _ => Token::Word(word),
                });
            }
            match after.strip_prefix(')') {
                Some(after) => {
                    out.push(Token::Close);
                    rest = after;
                }
                None => rest = after,
            }
        }
    }
    out
}

/// `text` parsed as an expression of known identifiers, `None` when it is not one.
fn parse(text: &str) -> Option<Expr> {
    let tokens = tokens(text);
    // Operators must be all upper or all lower case (Annex D.2).
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| matches!(w.to_ascii_lowercase().as_str(), "and" | "or" | "with"))
        .collect();
    if words.iter().any(|w| *w != w.to_ascii_uppercase())
        && words.iter().any(|w| *w != w.to_ascii_lowercase())
    {
        return None;
    }
    let mut parser = Parser { tokens, at: 0 };
    let expression = parser.or(0)?;
    (parser.at == parser.tokens.len()).then_some(expression)
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
}

/// How deep parentheses may nest: licence strings are short, and recursion stays bounded.
const MAX_DEPTH: usize = 16;

impl Parser<'_> {
    fn eat(&mut self, operator: Operator) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Operator(o)) if *o == operator);
        if found {
            self.at += 1;
        }
        found
    }

    fn or(&mut self, depth: usize) -> Option<Expr> {
        let mut parts = vec![self.and(depth)?];
        while self.eat(Operator::Or) {
            parts.push(self.and(depth)?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Option<Expr> {
        let mut parts = vec![self.with(depth)?];
        while self.eat(Operator::And) {
            parts.push(self.with(depth)?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn with(&mut self, depth: usize) -> Option<Expr> {
        match self.tokens.get(self.at)? {
            Token::Open => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                let inner = self.or(depth + 1)?;
                match self.tokens.get(self.at)? {
                    Token::Close => self.at += 1,
                    _ => return None,
                }
                Some(inner)
            }
            Token::Word(word) => {
                let id = license_id(word)?;
                self.at += 1;
                if self.eat(Operator::With) {
                    let Some(Token::Word(exception)) = self.tokens.get(self.at) else {
                        return None;
                    };
                    let exception = find(EXCEPTION_IDS, exception)?;
                    self.at += 1;
                    Some(Expr::With(id, exception))
                } else {
                    Some(Expr::Id(id))
                }
            }
            Token::Close | Token::Operator(_) => None,
        }
    }
}

/// `word` in `list`, compared without regard to case; the list's spelling.
fn find(list: &[&'static str], word: &str) -> Option<&'static str> {
    list.iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(word))
}

/// The current identifier `word` names: itself (in the list's case), or the current form of
/// a deprecated or short GNU name, or `MIT` for DEP-5's `Expat`.
fn license_id(word: &str) -> Option<&'static str> {
    if let Some(id) = find(LICENSE_IDS, word) {
        return Some(id);
    }
    if word.eq_ignore_ascii_case("Expat") {
        return Some("MIT");
    }
    gnu_short_name(word)
}

/// `GPL-2.0+`, `GPL-2+`, `GPLv2+`, `GPL-2.0`, `GPL-2`, `GPLv2` (and the same for LGPL, AGPL
/// and GFDL) as `GPL-2.0-or-later` or `GPL-2.0-only`, when that identifier is known. The
/// SPDX list deprecated the first and fourth forms for these; DEP-5 and RPM spec files use
/// the others with the same meaning (a bare version is that version only).
fn gnu_short_name(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    let family = ["LGPL", "AGPL", "GFDL", "GPL"]
        .into_iter()
        .find(|family| upper.starts_with(family))?;
    let rest = &upper[family.len()..];
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest = rest.strip_prefix('V').unwrap_or(rest);
    let (version, later) = match rest.strip_suffix('+') {
        Some(version) => (version, true),
        None => (rest, false),
    };
    let version = match version.split_once('.') {
        None if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{version}.0")
        }
        Some((major, minor))
            if !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit()) =>
        {
            version.to_owned()
        }
        _ => return None,
    };
    let suffix = if later { "or-later" } else { "only" };
    find(LICENSE_IDS, &format!("{family}-{version}-{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression(text: &str) -> License {
        License::Expression(text.into())
    }

    #[test]
    fn lists_are_sorted_without_case_and_free_of_repeats() {
        for list in [LICENSE_IDS, EXCEPTION_IDS] {
            let lower: Vec<String> = list.iter().map(|id| id.to_ascii_lowercase()).collect();
            let mut sorted = lower.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(lower, sorted);
        }
    }

    #[test]
    fn identifiers_match_without_case_and_are_written_as_listed() {
        assert_eq!(classify(" apache-2.0 "), License::Id("Apache-2.0"));
        assert_eq!(classify("BSD-3-clause"), License::Id("BSD-3-Clause"));
        assert_eq!(classify("Zlib"), License::Id("Zlib"));
    }

    #[test]
    fn deprecated_and_short_gnu_names_become_current_identifiers() {
        for (given, id) in [
            ("GPL-2.0+", "GPL-2.0-or-later"),
            ("GPL-2.0", "GPL-2.0-only"),
            ("GPL-2+", "GPL-2.0-or-later"),
            ("GPL-2", "GPL-2.0-only"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("LGPLv2+", "LGPL-2.0-or-later"),
            ("GPLv3", "GPL-3.0-only"),
            ("AGPL-3+", "AGPL-3.0-or-later"),
            ("GFDL-1.3", "GFDL-1.3-only"),
            ("Expat", "MIT"),
        ] {
            assert_eq!(classify(given), License::Id(id), "{given}");
        }
    }

    #[test]
    fn unknown_or_malformed_text_is_a_name() {
        for text in [
            "GPL",
            "GPL-4+",
            "GPL-2.x",
            "Apache-2.0+",
            "public-domain",
            "ASL 2.0",
            "MIT License",
            "",
            "MIT OR",
            "(MIT",
            "MIT)",
            "MIT AND or Zlib",
            "MIT And Zlib",
            "MIT and Zlib OR ISC",
            "MIT WITH Classpath-exception-2.0 WITH LLVM-exception",
            "Classpath-exception-2.0",
            "MIT WITH Zlib",
            "LicenseRef-custom",
        ] {
            assert_eq!(classify(text), License::Name(text.trim().into()), "{text}");
        }
    }

    #[test]
    fn expressions_are_written_canonically() {
        assert_eq!(
            classify("mit or apache-2.0"),
            expression("MIT OR Apache-2.0")
        );
        assert_eq!(classify("(MIT)"), License::Id("MIT"));
        assert_eq!(
            classify("((MIT OR ISC) AND (Zlib AND curl)) OR 0BSD"),
            expression("(MIT OR ISC) AND Zlib AND curl OR 0BSD")
        );
        assert_eq!(
            classify("MIT AND (ISC OR Zlib)"),
            expression("MIT AND (ISC OR Zlib)")
        );
        assert_eq!(
            classify("GPL-2+ with Linux-syscall-note"),
            expression("GPL-2.0-or-later WITH Linux-syscall-note")
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}MIT{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(classify(&deep), License::Name(deep.clone()));
        let fine = format!("{}MIT{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(classify(&fine), License::Id("MIT"));
    }
}
