//! Installed Python distributions: the core metadata of wheels
//! (`<name>-<version>.dist-info/METADATA`) and eggs (`<name>.egg-info/PKG-INFO`, or an
//! `.egg-info` file holding it), read as syft's python-installed-package-cataloger reads them,
//! and the `direct_url.json` beside a wheel's metadata (PEP 610) for the `vcs_url` qualifier.
//!
//! * Names are normalized per PEP 503 ([`normalize_name`]): `Pygments` is `pygments`,
//!   `FrIeNdLy-_-bArD` is `friendly-bard`; the purl is `pkg:pypi/<name>@<version>`.
//! * Only the header fields are read (up to the first blank line, at most 4 MiB): the
//!   description that may follow is never kept.
//! * Licences: `License-Expression` (an SPDX expression) when given; else a one-line
//!   `License` other than `UNKNOWN`; else the last part of each `License ::` classifier
//!   (`License :: OSI Approved :: MIT License` gives `MIT License`). A `License` field
//!   spanning several lines is the licence's text, not its name, and is not reported.
//! * Distributions without a `Name`, and the `Python` egg-info of the interpreter itself, give
//!   no package, as in syft.
//!
//! Not covered: requirements files, lock files (`Pipfile.lock`, `poetry.lock`, `uv.lock`),
//! `setup.py`, and `RECORD` / `top_level.txt` (the files a distribution owns).

use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;

use super::purl::Purl;
use super::stream::{io_error, read_small};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// How much of a metadata file's header is read at most.
const HEADER_LIMIT: u64 = 4 << 20;

/// The largest `direct_url.json` read (they hold one URL and a hash or commit).
const DIRECT_URL_LIMIT: usize = 64 << 10;

/// The cataloger of installed Python distributions (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonCataloger;

/// What kind of file a path is to this cataloger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Core metadata: `METADATA`, `PKG-INFO` or an `.egg-info` file.
    Metadata,
    /// A wheel's `direct_url.json`.
    DirectUrl,
}

fn kind(path: &str) -> Option<Kind> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let dir_name = dir.rsplit('/').next().unwrap_or(dir);
    let dist_info = dir_name.ends_with("dist-info") || dir_name.ends_with("DIST-INFO");
    let egg_info = dir_name.ends_with("egg-info") || dir_name.ends_with("EGG-INFO");
    match file {
        "METADATA" if dist_info => Some(Kind::Metadata),
        "PKG-INFO" if egg_info => Some(Kind::Metadata),
        "direct_url.json" if dist_info => Some(Kind::DirectUrl),
        _ if file.len() > ".egg-info".len() && file.ends_with(".egg-info") => Some(Kind::Metadata),
        _ => None,
    }
}

impl Cataloger for PythonCataloger {
    fn name(&self) -> &'static str {
        "python"
    }

    /// Wants `**/*dist-info/METADATA`, `**/*egg-info/PKG-INFO` (and the upper-case
    /// `DIST-INFO` / `EGG-INFO` directories, as syft), `**/*.egg-info` files, and
    /// `direct_url.json` in a `dist-info` directory.
    fn wants(&self, path: &str, _size: u64) -> bool {
        kind(path).is_some()
    }

    fn read(&self, path: &str, _size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        match kind(path) {
            Some(Kind::DirectUrl) => read_direct_url(contents),
            Some(Kind::Metadata) => read_metadata(contents),
            None => Ok(Findings::default()),
        }
    }
}

/// A name normalized per PEP 503: lower case, each run of `-`, `_` and `.` replaced by one
/// `-`. Normalized names compare equal exactly when pip considers them the same project.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The header fields kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Version,
    License,
    LicenseExpression,
    Classifier,
    Other,
}

fn field(key: &str) -> Field {
    const FIELDS: [(&str, Field); 5] = [
        ("Name", Field::Name),
        ("Version", Field::Version),
        ("License", Field::License),
        ("License-Expression", Field::LicenseExpression),
        ("Classifier", Field::Classifier),
    ];
    FIELDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map_or(Field::Other, |(_, field)| *field)
}

#[derive(Debug, Default)]
struct Metadata {
    name: String,
    version: String,
    license: Option<String>,
    license_expression: String,
    classifiers: Vec<String>,
}

impl Metadata {
    fn value(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Name => Some(&mut self.name),
            Field::Version => Some(&mut self.version),
            Field::License => self.license.as_mut(),
            Field::LicenseExpression => Some(&mut self.license_expression),
            Field::Classifier => self.classifiers.last_mut(),
            Field::Other => None,
        }
    }

    fn licenses(&self) -> Vec<String> {
        if !self.license_expression.is_empty() {
            return vec![self.license_expression.clone()];
        }
        if let Some(license) = &self.license
            && !license.is_empty()
            && !license.contains('\n')
            && !license.eq_ignore_ascii_case("UNKNOWN")
        {
            return vec![license.clone()];
        }
        self.classifiers
            .iter()
            .filter_map(|c| {
                let mut parts = c.split("::").map(str::trim);
                if parts.next() != Some("License") {
                    return None;
                }
                parts
                    .last()
                    .filter(|last| !last.is_empty() && *last != "OSI Approved")
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// Reads the RFC 822-style header of a core metadata file, as syft does: fields up to the
/// first blank line that follows a field, continuation lines starting with a space or tab.
fn parse_metadata(contents: &mut dyn Read) -> Result<Metadata, SbomError> {
    let mut reader = BufReader::new(contents.take(HEADER_LIMIT));
    let mut metadata = Metadata::default();
    let mut line = Vec::new();
    let mut last = Field::Other;
    let mut started = false;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error("Python metadata", &e))?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            if started {
                break;
            }
            continue;
        }
        if text.starts_with([' ', '\t']) {
            if let Some(value) = metadata.value(last) {
                value.push('\n');
                value.push_str(text.trim());
            }
            continue;
        }
        let Some((key, value)) = text.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        started = true;
        last = field(key);
        let value = value.trim().to_owned();
        match last {
            Field::Name => metadata.name = value,
            Field::Version => metadata.version = value,
            Field::License => metadata.license = Some(value),
            Field::LicenseExpression => metadata.license_expression = value,
            Field::Classifier => metadata.classifiers.push(value),
            Field::Other => {}
        }
    }
    Ok(metadata)
}

fn read_metadata(contents: &mut dyn Read) -> Result<Findings, SbomError> {
    let metadata = parse_metadata(contents)?;
    // The interpreter's own egg-info (`Python-2.7.egg-info`) is not a package.
    if metadata.name.is_empty() || metadata.name == "Python" {
        return Ok(Findings::default());
    }
    let name = normalize_name(&metadata.name);
    let mut package = Package::new(Ecosystem::Python, name.clone(), metadata.version.clone());
    package.purl = Some(Purl::new("pypi", name, metadata.version.clone()).to_string());
    package.licenses = metadata.licenses();
    Ok(Findings {
        packages: vec![package],
        ..Findings::default()
    })
}

/// PEP 610 `direct_url.json`: where a distribution was installed from.
#[derive(Debug, Deserialize)]
struct DirectUrl {
    #[serde(default)]
    url: String,
    #[serde(default)]
    vcs_info: Option<VcsInfo>,
}

#[derive(Debug, Deserialize)]
struct VcsInfo {
    #[serde(default)]
    vcs: String,
    #[serde(default)]
    commit_id: String,
}

fn read_direct_url(contents: &mut dyn Read) -> Result<Findings, SbomError> {
    let bytes = read_small(contents, "direct_url.json", DIRECT_URL_LIMIT)?;
    let direct: DirectUrl = serde_json::from_slice(&bytes).map_err(|e| SbomError::Malformed {
        format: "direct_url.json",
        reason: e.to_string(),
    })?;
    let mut findings = Findings::default();
    if let Some(vcs) = direct.vcs_info
        && !vcs.vcs.is_empty()
    {
        // syft's form: `<vcs>+<url>@<commit>`.
        findings.sibling_qualifiers.push((
            Ecosystem::Python,
            "vcs_url".into(),
            format!("{}+{}@{}", vcs.vcs, direct.url, vcs.commit_id),
        ));
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str, text: &str) -> Findings {
        let cataloger = PythonCataloger;
        assert!(cataloger.wants(path, text.len() as u64), "{path}");
        cataloger
            .read(path, text.len() as u64, &mut text.as_bytes())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn names_are_normalized_per_pep_503() {
        assert_eq!(normalize_name("Pygments"), "pygments");
        assert_eq!(normalize_name("FrIeNdLy-_-bArD"), "friendly-bard");
        assert_eq!(normalize_name("dots-._allowed"), "dots-allowed");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
    }

    #[test]
    fn wanted_paths_follow_syft_globs() {
        let c = PythonCataloger;
        for path in [
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "site-packages/dist-info/METADATA",
            "site-packages/X-1.0.DIST-INFO/METADATA",
            "site-packages/requests.egg-info/PKG-INFO",
            "site-packages/EGG-INFO/PKG-INFO",
            "usr/lib/python2.7/lib-dynload/Python-2.7.egg-info",
            "a.dist-info/direct_url.json",
        ] {
            assert!(c.wants(path, 1), "{path}");
        }
        for path in [
            "site-packages/six.py",
            "site-packages/x.dist-info/RECORD",
            "site-packages/egg-info/PKG-INFO-INVALID",
            "METADATA",
            ".egg-info",
            "x/direct_url.json",
        ] {
            assert!(!c.wants(path, 1), "{path}");
        }
    }

    #[test]
    fn licence_sources_in_order() {
        let findings = read(
            "a.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: A_B\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: Whatever\n",
        );
        let package = &findings.packages[0];
        assert_eq!(package.name, "a-b");
        assert_eq!(package.purl.as_deref(), Some("pkg:pypi/a-b@1.0"));
        assert_eq!(package.licenses, ["MIT OR Apache-2.0"]);

        let findings = read(
            "a.dist-info/METADATA",
            "Name: a\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved\nClassifier: Programming Language :: Python\n",
        );
        assert_eq!(findings.packages[0].licenses, ["MIT License"]);

        let findings = read(
            "a.dist-info/METADATA",
            "Name: a\nVersion: 1\nLicense: Copyright (c) someone\n        Permission is hereby granted\nClassifier: License :: Public Domain\n",
        );
        assert_eq!(findings.packages[0].licenses, ["Public Domain"]);
    }

    #[test]
    fn the_description_after_the_header_is_not_read_as_fields() {
        let findings = read(
            "a.dist-info/METADATA",
            "\n\nName: a\nVersion: 1\n\nName: b\nVersion: 2\n",
        );
        assert_eq!(findings.packages.len(), 1);
        assert_eq!(findings.packages[0].name, "a");
        assert_eq!(findings.packages[0].version, "1");
    }

    #[test]
    fn no_name_or_the_interpreter_gives_nothing() {
        assert!(
            read("x.dist-info/METADATA", "Version: 1\n")
                .packages
                .is_empty()
        );
        assert!(
            read("Python-2.7.egg-info", "Name: Python\nVersion: 2.7\n")
                .packages
                .is_empty()
        );
        assert!(read("x.dist-info/METADATA", "").packages.is_empty());
    }

    #[test]
    fn direct_url_gives_a_vcs_url_qualifier() {
        let findings = read(
            "a.dist-info/direct_url.json",
            r#"{"url": "https://github.com/a/b.git", "vcs_info": {"commit_id": "abc", "vcs": "git"}}"#,
        );
        assert_eq!(
            findings.sibling_qualifiers,
            [(
                Ecosystem::Python,
                "vcs_url".to_string(),
                "git+https://github.com/a/b.git@abc".to_string()
            )]
        );
        let findings = read(
            "a.dist-info/direct_url.json",
            r#"{"url": "file:///tmp/a", "dir_info": {"editable": true}}"#,
        );
        assert!(findings.sibling_qualifiers.is_empty());
        assert!(
            PythonCataloger
                .read("a.dist-info/direct_url.json", 1, &mut &b"{"[..])
                .is_err()
        );
    }
}
