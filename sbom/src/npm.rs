//! npm packages installed in `node_modules`: their `package.json`, read as syft's
//! javascript-package-cataloger reads it.
//!
//! * Only `package.json` files below a `node_modules` directory are read
//!   (`**/node_modules/**/package.json`, nested `node_modules` included): a project's own
//!   manifest outside `node_modules` describes what is being built, not what is installed.
//! * A `package.json` without a `name` or a `version` gives no package (syft ignores them
//!   too: they are the `{"type": "module"}` stubs packages ship in subdirectories).
//! * Scoped names keep their scope: `@babel/core` has the purl
//!   `pkg:npm/%40babel/core@7.24.0`.
//! * Licences: `license` as a string (an SPDX expression), or the legacy forms: an object
//!   `{"type": ..., "url": ...}`, or a `licenses` array of such objects (or strings).
//! * The file is parsed as it streams, keeping only those fields (at most 64 licences); files
//!   over 8 MiB are refused with [`SbomError::TooLarge`].
//!
//! Not covered: lock files (`package-lock.json`, `yarn.lock`, `pnpm-lock.yaml`), and
//! bundled JavaScript without a `package.json`.

use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::purl::Purl;
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// The largest `package.json` read.
const SIZE_LIMIT: u64 = 8 << 20;

/// How many licences of one package are kept.
const MAX_LICENSES: usize = 64;

/// The cataloger of npm packages in `node_modules` (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct NpmCataloger;

impl Cataloger for NpmCataloger {
    fn name(&self) -> &'static str {
        "npm"
    }

    /// Wants `package.json` files with a `node_modules` directory in their path.
    fn wants(&self, path: &str, _size: u64) -> bool {
        match path.rsplit_once('/') {
            Some((dir, "package.json")) => dir.split('/').any(|part| part == "node_modules"),
            _ => false,
        }
    }

    fn read(&self, _path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        if size > SIZE_LIMIT {
            return Err(SbomError::TooLarge {
                format: "package.json",
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: SIZE_LIMIT as usize,
            });
        }
        let reader = BufReader::new(contents.take(SIZE_LIMIT));
        let mut json = serde_json::Deserializer::from_reader(reader);
        let manifest = (&mut json)
            .deserialize_map(ManifestVisitor)
            .and_then(|manifest| json.end().map(|()| manifest))
            .map_err(|e| SbomError::Malformed {
                format: "package.json",
                reason: e.to_string(),
            })?;
        Ok(Findings {
            packages: manifest.into_package().into_iter().collect(),
            ..Findings::default()
        })
    }
}

/// The fields of a `package.json` that name and license a package.
#[derive(Debug, Default)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    license: Vec<String>,
    licenses: Vec<String>,
}

impl Manifest {
    fn into_package(self) -> Option<Package> {
        let name = self.name.filter(|n| !n.is_empty())?;
        let version = self.version.filter(|v| !v.is_empty())?;
        let purl = match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, bare)) => Purl::new("npm", bare, version.as_str())
                .namespace(&format!("@{scope}"))
                .to_string(),
            None => Purl::new("npm", name.as_str(), version.as_str()).to_string(),
        };
        let mut package = Package::new(Ecosystem::Npm, name, version);
        package.purl = Some(purl);
        package.licenses = if self.license.is_empty() {
            self.licenses
        } else {
            self.license
        };
        Some(package)
    }
}

struct ManifestVisitor;

impl<'de> Visitor<'de> for ManifestVisitor {
    type Value = Manifest;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a package.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
        let mut manifest = Manifest::default();
        // A repeated key: the last value wins, as in npm and syft (JSON.parse, encoding/json).
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => manifest.name = map.next_value()?,
                "version" => manifest.version = map.next_value()?,
                "license" => manifest.license = map.next_value::<LicenseList>()?.0,
                "licenses" => manifest.licenses = map.next_value::<LicenseList>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(manifest)
    }
}

/// Licences from a `license` or `licenses` value in any of its forms; other types give
/// none.
struct LicenseList(Vec<String>);

impl<'de> de::Deserialize<'de> for LicenseList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(LicenseVisitor)
            .map(LicenseList)
    }
}

struct LicenseVisitor;

impl<'de> Visitor<'de> for LicenseVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a licence: a string, an object with a type, or a list of them")
    }

    fn visit_str<E>(self, v: &str) -> Result<Vec<String>, E> {
        Ok(if v.trim().is_empty() {
            Vec::new()
        } else {
            vec![v.trim().to_owned()]
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut found = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "type" {
                found = map.next_value::<LicenseList>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut found = Vec::new();
        while let Some(LicenseList(list)) = seq.next_element()? {
            for license in list {
                if found.len() < MAX_LICENSES {
                    found.push(license);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Findings, SbomError> {
        NpmCataloger.read(
            "node_modules/x/package.json",
            json.len() as u64,
            &mut json.as_bytes(),
        )
    }

    fn one(json: &str) -> Package {
        let mut findings = read(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(findings.packages.len(), 1, "{json}");
        findings.packages.remove(0)
    }

    #[test]
    fn only_package_json_under_node_modules() {
        let c = NpmCataloger;
        assert!(c.wants("app/node_modules/left-pad/package.json", 1));
        assert!(c.wants("node_modules/@babel/core/package.json", 1));
        assert!(c.wants("node_modules/a/node_modules/b/package.json", 1));
        assert!(!c.wants("app/package.json", 1));
        assert!(!c.wants("package.json", 1));
        assert!(!c.wants("app/node_modules/a/index.js", 1));
        assert!(!c.wants("app/my_node_modules/a/package.json", 1));
        assert!(!c.wants("node_modules/package.json.bak", 1));
    }

    #[test]
    fn scoped_names_go_to_the_namespace() {
        let package = one(r#"{"name": "@babel/core", "version": "7.24.0", "license": "MIT"}"#);
        assert_eq!(package.name, "@babel/core");
        assert_eq!(
            package.purl.as_deref(),
            Some("pkg:npm/%40babel/core@7.24.0")
        );
        assert_eq!(package.licenses, ["MIT"]);
        let package = one(r#"{"name": "left-pad", "version": "1.3.0+build.1"}"#);
        assert_eq!(
            package.purl.as_deref(),
            Some("pkg:npm/left-pad@1.3.0%2Bbuild.1")
        );
        assert!(package.licenses.is_empty());
    }

    #[test]
    fn legacy_licence_forms() {
        let package =
            one(r#"{"name": "a", "version": "1", "license": {"type": "ISC", "url": "https://x"}}"#);
        assert_eq!(package.licenses, ["ISC"]);
        let package = one(
            r#"{"name": "a", "version": "1", "licenses": [{"type": "MIT", "url": "u"}, {"type": "Apache-2.0"}, "BSD-2-Clause"]}"#,
        );
        assert_eq!(package.licenses, ["MIT", "Apache-2.0", "BSD-2-Clause"]);
        let package =
            one(r#"{"name": "a", "version": "1", "license": "MIT", "licenses": [{"type": "X"}]}"#);
        assert_eq!(package.licenses, ["MIT"]);
        let package = one(r#"{"name": "a", "version": "1", "license": 7, "licenses": null}"#);
        assert!(package.licenses.is_empty());
    }

    #[test]
    fn without_name_or_version_there_is_no_package() {
        for json in [
            r#"{"type": "module"}"#,
            r#"{"name": "a"}"#,
            r#"{"version": "1.0.0"}"#,
            r#"{"name": "", "version": "1"}"#,
            r#"{"name": null, "version": "1"}"#,
        ] {
            assert!(
                read(json).map(|f| f.packages.is_empty()).unwrap_or(false),
                "{json}"
            );
        }
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        for json in [
            "",
            "[]",
            "{",
            r#"{"name": 1, "version": "1"}"#,
            r#"{"name": "a", "version": "1"} trailing"#,
        ] {
            assert!(
                matches!(read(json), Err(SbomError::Malformed { .. })),
                "{json}"
            );
        }
        assert!(matches!(
            NpmCataloger.read(
                "node_modules/a/package.json",
                SIZE_LIMIT + 1,
                &mut &b"{}"[..]
            ),
            Err(SbomError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_repeated_key_keeps_the_last_value() {
        let package = one(r#"{"name": "a", "version": "1", "version": "2"}"#);
        assert_eq!(package.version, "2");
    }
}
