//! Java archives (`.jar`, `.war`, `.ear`, and syft's other extensions: `.par`, `.sar`, `.nar`,
//! `.jpi`, `.hpi`, `.kar`, `.lpkg`): Maven coordinates from `META-INF/maven/**/pom.properties`
//! and the archive's own identity from `META-INF/MANIFEST.MF` and its file name, as syft's
//! java-archive-cataloger finds them; archives nested one level deep (`WEB-INF/lib/*.jar`,
//! `BOOT-INF/lib/*.jar`) are read the same way.
//!
//! Streaming: the zip archive is read front to back through its local file headers, as
//! `java.util.zip.ZipInputStream` reads it, never through the central directory at its end.
//! Entries are stored or deflated; sizes of 0xFFFFFFFF come from the Zip64 extra field;
//! bytes before the first local header (the launcher script of an executable jar) are
//! passed over, up to 1 MiB. Entries that are not wanted are skipped without being inflated
//! when the local header gives their size; an entry whose size comes only after its data (a
//! data descriptor) is inflated to the end of its deflate stream, which is where it ends. A
//! stored, encrypted or otherwise compressed entry with a data descriptor cannot be
//! delimited that way: reading stops there with a warning. `MANIFEST.MF` and
//! `pom.properties` are kept up to 1 MiB each; a nested archive is read as its entry
//! inflates. All inflation of one file, nested archives included, is capped (1 GiB by
//! default, [`JavaCataloger::with_inflate_limit`]): past it, reading stops with a warning
//! and what was found so far is kept, so a zip bomb costs bounded time and memory.
//!
//! Packages, per archive:
//! * one per `pom.properties` with an `artifactId` and a `version`: name `artifactId`,
//!   purl `pkg:maven/<groupId>/<artifactId>@<version>`;
//! * the archive itself when it has a manifest (and no `Weave-Classes` entry): named by the
//!   `pom.properties` whose `artifactId` matches the file name, else by the file name
//!   (`commons-io-2.8.0.jar` is `commons-io` `2.8.0`), else by the manifest (`Name`,
//!   `Bundle-Name`, `Short-Name`, `Extension-Name`, `Implementation-Title`); versioned by that
//!   `pom.properties`, the file name, or `Implementation-Version`, `Specification-Version`,
//!   `Plugin-Version`, `Bundle-Version`; a `pom.properties` describing the archive itself is
//!   not reported twice. Its group is the `pom.properties`' `groupId`, else a manifest field
//!   that looks like one (syft's candidates: `Group-Id`, `Bundle-SymbolicName`, ...), else
//!   its name. Licences: `Bundle-License`, `Plugin-License-Name`.
//!
//! Every package has the property `group` (its Maven group id); packages of a nested archive
//! have `nested_archive` (the entry's path in the file). Unlike syft, `pom.properties` of an
//! archive without a manifest are reported (syft drops them).
//!
//! Not covered: `pom.xml` (parent resolution, licences from Maven Central), archives nested
//! deeper than one level, Gradle and Maven lock files, GraalVM native images, JDK `release`
//! files.

mod zip;

use std::collections::BTreeSet;
use std::io::{BufReader, Read};

use super::purl::Purl;
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// The archive extensions syft reads as Java archives.
const EXTENSIONS: [&str; 10] = [
    "jar", "war", "ear", "par", "sar", "nar", "jpi", "hpi", "kar", "lpkg",
];

/// The default cap on the bytes inflated for one file.
pub const DEFAULT_INFLATE_LIMIT: u64 = 1 << 30;

/// The largest `MANIFEST.MF` or `pom.properties` kept.
const MAX_KEPT_ENTRY: u64 = 1 << 20;

/// The most packages reported for one file.
const MAX_PACKAGES: usize = 10_000;

/// The cataloger of Java archives (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JavaCataloger {
    inflate_limit: u64,
}

impl Default for JavaCataloger {
    /// Inflates at most [`DEFAULT_INFLATE_LIMIT`] bytes per file.
    fn default() -> Self {
        Self {
            inflate_limit: DEFAULT_INFLATE_LIMIT,
        }
    }
}

impl JavaCataloger {
    /// A cataloger that inflates at most `limit` bytes of one file (its entries and those of
    /// the archives nested in it) before it stops reading it with a warning.
    pub fn with_inflate_limit(limit: u64) -> Self {
        Self {
            inflate_limit: limit,
        }
    }
}

/// Whether `name` has one of the Java archive extensions (any case).
fn is_archive(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && !stem.ends_with('/')
            && EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(extension))
    })
}

impl Cataloger for JavaCataloger {
    fn name(&self) -> &'static str {
        "java"
    }

    /// Wants files named with a Java archive extension.
    fn wants(&self, path: &str, _size: u64) -> bool {
        is_archive(path)
    }

    /// Reads the archive as it streams. Problems of the archive (not a zip, truncated, an
    /// entry that cannot be read sequentially, the inflation cap) are warnings, keeping the
    /// packages found before them; only an I/O error of the stream underneath is an error.
    fn read(&self, path: &str, _size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        let budget = zip::Budget::new(self.inflate_limit);
        let mut reader = BufReader::with_capacity(64 << 10, zip::Watched::new(contents, &budget));
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let mut findings = Findings::default();
        let mut scan = Scan::new(file_name, None);
        let result = zip::read_entries(&mut reader, &budget, &mut |entry| {
            scan.entry(entry, &budget, &mut findings)
        });
        scan.finish(&mut findings);
        match result {
            Ok(()) => {}
            Err(zip::Stop::Io(e)) => {
                return Err(SbomError::Io {
                    what: "Java archive",
                    reason: e.to_string(),
                });
            }
            Err(stop) => findings.warnings.push(stop.to_string()),
        }
        if findings.packages.len() > MAX_PACKAGES {
            findings.packages.truncate(MAX_PACKAGES);
            findings.warnings.push(format!(
                "only the first {MAX_PACKAGES} packages are reported"
            ));
        }
        Ok(findings)
    }
}

/// What one archive (the file, or an archive nested in it) holds.
struct Scan {
    /// The archive's file name (`commons-io-2.8.0.jar`).
    file_name: String,
    /// The entry path of a nested archive.
    nested: Option<String>,
    manifest: Option<Manifest>,
    poms: Vec<PomProperties>,
}

impl Scan {
    fn new(file_name: &str, nested: Option<&str>) -> Self {
        Self {
            file_name: file_name.to_owned(),
            nested: nested.map(str::to_owned),
            manifest: None,
            poms: Vec::new(),
        }
    }

    /// Handles one entry: keeps the manifest and `pom.properties`, reads a nested archive
    /// (from the outer archive only). Entries not read here are skipped by the zip reader.
    fn entry(
        &mut self,
        entry: &mut zip::Entry<'_>,
        budget: &zip::Budget,
        findings: &mut Findings,
    ) -> Result<(), zip::Stop> {
        let name = entry.name.clone();
        if name == "META-INF/MANIFEST.MF" {
            if self.manifest.is_none()
                && let Some(bytes) = self.keep(entry, findings)?
            {
                self.manifest = Some(Manifest::parse(&String::from_utf8_lossy(&bytes)));
            }
        } else if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            if self.poms.len() < MAX_PACKAGES
                && let Some(bytes) = self.keep(entry, findings)?
            {
                self.poms
                    .push(PomProperties::parse(&String::from_utf8_lossy(&bytes)));
            }
        } else if self.nested.is_none() && is_archive(&name) {
            let file_name = name.rsplit('/').next().unwrap_or(&name).to_owned();
            let mut inner = Scan::new(&file_name, Some(&name));
            let mut reader = BufReader::with_capacity(16 << 10, entry.reader());
            let result = zip::read_entries(&mut reader, budget, &mut |nested| {
                inner.entry(nested, budget, findings)
            });
            inner.finish(findings);
            match result {
                Ok(()) => {}
                // The outer archive cannot go on without its own stream or budget.
                Err(stop @ (zip::Stop::Io(_) | zip::Stop::Budget(_))) => return Err(stop),
                Err(stop) => findings.warnings.push(format!("{name}: {stop}")),
            }
        }
        Ok(())
    }

    /// The entry's bytes, when at most [`MAX_KEPT_ENTRY`]; a warning otherwise.
    fn keep(
        &self,
        entry: &mut zip::Entry<'_>,
        findings: &mut Findings,
    ) -> Result<Option<Vec<u8>>, zip::Stop> {
        let mut bytes = Vec::new();
        entry
            .reader()
            .take(MAX_KEPT_ENTRY + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| entry.stop(e))?;
        if bytes.len() as u64 > MAX_KEPT_ENTRY {
            findings.warnings.push(format!(
                "{}{}: over {} MiB, not read",
                self.nested
                    .as_deref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default(),
                entry.name,
                MAX_KEPT_ENTRY >> 20
            ));
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Turns what the archive holds into packages.
    fn finish(self, findings: &mut Findings) {
        let (file_name, file_version) = archive_file_name(&self.file_name);
        let main =
            self.manifest
                .as_ref()
                .filter(|m| m.get("Weave-Classes").is_none())
                .and_then(|manifest| {
                    let artifacts: BTreeSet<&str> =
                        self.poms.iter().map(|p| p.artifact_id.as_str()).collect();
                    let pom = self.poms.iter().filter(|p| p.is_complete()).find(|p| {
                        artifact_matches_file_name(&p.artifact_id, &file_name, &artifacts)
                    });
                    let name = match pom {
                        Some(pom) => pom.artifact_id.clone(),
                        None => select_name(manifest, &file_name),
                    };
                    let version = match pom {
                        Some(pom) => pom.version.clone(),
                        None if !file_version.is_empty() => file_version.clone(),
                        None => manifest
                            .first(&[
                                "Implementation-Version",
                                "Specification-Version",
                                "Plugin-Version",
                                "Bundle-Version",
                            ])
                            .unwrap_or_default(),
                    };
                    let group = pom
                        .and_then(PomProperties::group)
                        .or_else(|| manifest.group_id())
                        .unwrap_or_else(|| name.clone());
                    let licenses = ["Bundle-License", "Plugin-License-Name"]
                        .iter()
                        .filter_map(|field| manifest.first(&[field]))
                        .collect();
                    (!name.is_empty()).then_some((name, version, group, licenses))
                });

        let mut packages = Vec::new();
        if let Some((name, version, group, licenses)) = &main {
            let mut package = self.package(name, version, group);
            package.licenses.clone_from(licenses);
            packages.push(package);
        }
        for pom in self.poms.iter().filter(|p| p.is_complete()) {
            let group = pom.group().unwrap_or_else(|| pom.artifact_id.clone());
            // syft's packageIdentitiesMatch: same group, name and version, or (its last
            // resort, which the first implies) the artifact id is the archive's name.
            let describes_main = main
                .as_ref()
                .is_some_and(|(name, ..)| *name == pom.artifact_id);
            if !describes_main {
                packages.push(self.package(&pom.artifact_id, &pom.version, &group));
            }
        }
        findings.packages.extend(packages);
    }

    fn package(&self, name: &str, version: &str, group: &str) -> Package {
        let mut package = Package::new(Ecosystem::Java, name, version);
        package.purl = Some(
            Purl::new("maven", name, version)
                .namespace(group)
                .to_string(),
        );
        package.properties.insert("group".into(), group.into());
        if let Some(nested) = &self.nested {
            package
                .properties
                .insert("nested_archive".into(), nested.clone());
        }
        package
    }
}

/// A `pom.properties` file's coordinates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PomProperties {
    group_id: String,
    artifact_id: String,
    version: String,
}

impl PomProperties {
    /// Reads `key=value` (or `key: value`) lines; `#` and `!` start comments.
    fn parse(text: &str) -> Self {
        let mut pom = PomProperties::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with(['#', '!']) {
                continue;
            }
            let Some(at) = line.find(['=', ':']) else {
                continue;
            };
            let value = line[at + 1..].trim().to_owned();
            match line[..at].trim() {
                "groupId" => pom.group_id = value,
                "artifactId" => pom.artifact_id = value,
                "version" => pom.version = value,
                _ => {}
            }
        }
        pom
    }

    /// Whether it names a package: syft skips those without an artifact id or version.
    fn is_complete(&self) -> bool {
        !self.artifact_id.is_empty() && !self.version.is_empty()
    }

    /// The group id: `groupId`, else an `artifactId` that looks like a group id.
    fn group(&self) -> Option<String> {
        if !self.group_id.is_empty() {
            Some(clean_group_id(&self.group_id))
        } else if self.artifact_id.contains('.') {
            Some(clean_group_id(&self.artifact_id))
        } else {
            None
        }
    }
}

/// `org.bar;uses:="org.foo"` is `org.bar`: OSGi directives and `#` suffixes are dropped.
fn clean_group_id(value: &str) -> String {
    let value = value.split(';').next().unwrap_or_default();
    value
        .split('#')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A `MANIFEST.MF`: its main section and the other sections, as key-value lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Manifest {
    sections: Vec<Vec<(String, String)>>,
}

impl Manifest {
    /// Reads the manifest as syft does: `Key: value` lines, continuation lines starting with
    /// a space appended to the value before them, sections separated by blank lines.
    fn parse(text: &str) -> Self {
        let mut manifest = Manifest::default();
        let mut in_section = false;
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                in_section = false;
                continue;
            }
            if let Some(more) = line.strip_prefix(' ') {
                if in_section
                    && let Some((_, value)) =
                        manifest.sections.last_mut().and_then(|s| s.last_mut())
                {
                    value.push_str(more.trim());
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() {
                continue;
            }
            if !in_section {
                manifest.sections.push(Vec::new());
                in_section = true;
            }
            if let Some(section) = manifest.sections.last_mut() {
                section.push((key.to_owned(), value.trim().to_owned()));
            }
        }
        manifest
    }

    /// The value of `key` in the main section.
    fn get(&self, key: &str) -> Option<&str> {
        self.sections
            .first()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of the `keys`, in order, each looked up in the main section
    /// and then in the other sections.
    fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| {
            self.sections
                .iter()
                .flat_map(|section| section.iter())
                .find(|(k, v)| k == key && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
    }

    /// A group id from the fields syft takes one from (the primary fields, else the
    /// secondary ones): values starting with `com`, `org`, `net`, `io` or `be`, cleaned, the
    /// least in sort order.
    fn group_id(&self) -> Option<String> {
        const PRIMARY: [&str; 8] = [
            "Group-Id",
            "Bundle-SymbolicName",
            "Extension-Name",
            "Specification-Vendor",
            "Implementation-Vendor",
            "Implementation-Vendor-Id",
            "Implementation-Title",
            "Bundle-Activator",
        ];
        const SECONDARY: [&str; 3] = ["Automatic-Module-Name", "Main-Class", "Package"];
        [&PRIMARY[..], &SECONDARY[..]].iter().find_map(|fields| {
            self.sections
                .iter()
                .flat_map(|section| section.iter())
                .filter(|(k, v)| {
                    fields.contains(&k.as_str())
                        && ["com", "org", "net", "io", "be"]
                            .iter()
                            .any(|d| v.starts_with(d))
                })
                .map(|(_, v)| clean_group_id(v))
                .filter(|v| !v.is_empty())
                .min()
        })
    }
}

/// syft's `artifactIDMatchesFilename`: the artifact id is the file name's package name, or
/// (when no `pom.properties` names exactly that) starts it or ends it.
fn artifact_matches_file_name(artifact: &str, file_name: &str, artifacts: &BTreeSet<&str>) -> bool {
    if artifact.is_empty() || file_name.is_empty() {
        return false;
    }
    if artifacts.contains(file_name) {
        return artifact == file_name;
    }
    artifact.starts_with(file_name) || file_name.ends_with(artifact)
}

/// syft's `selectName`: the Maven bundle plugin's symbolic name, the file name, then the
/// manifest's naming fields.
fn select_name(manifest: &Manifest, file_name: &str) -> String {
    if manifest
        .get("Created-By")
        .is_some_and(|c| c.contains("Apache Maven Bundle Plugin"))
        && let Some(symbolic) = manifest
            .get("Bundle-SymbolicName")
            .filter(|s| !s.is_empty())
        && manifest.get("Implementation-Vendor-Id") != Some(symbolic)
    {
        return symbolic.rsplit('.').next().unwrap_or(symbolic).to_owned();
    }
    let from_file = name_from_file_name(file_name);
    if !from_file.is_empty() {
        return from_file;
    }
    manifest
        .first(&[
            "Name",
            "Bundle-Name",
            "Short-Name",
            "Extension-Name",
            "Implementation-Title",
        ])
        .unwrap_or_default()
}

/// syft's `extractNameFromArchiveFilename`: a dotted name made of Java identifiers is a
/// group id and artifact id (the last part is the name), except `org.eclipse.*`.
fn name_from_file_name(name: &str) -> String {
    if name.contains('.') && !name.starts_with("org.eclipse.") {
        let identifiers = name.split('.').all(|field| {
            field
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        });
        if identifiers {
            return name.rsplit('.').next().unwrap_or(name).to_owned();
        }
    }
    name.to_owned()
}

/// Whether `text` starts a version in a file name, per syft's pattern: a digit, `build` and a
/// digit, or all of it `r` / `rc` and digits.
fn is_version_start(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let digits_after = |prefix: &str| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    text.starts_with(|c: char| c.is_ascii_digit())
        || lower
            .strip_prefix("build")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        || digits_after("rc")
        || digits_after("r")
}

/// Whether `token` can be part of a name in a file name: a letter, then letters, digits,
/// `_` or `.`.
fn is_name_token(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_alphabetic())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// The package name and version in an archive's file name, after syft's `archiveFilename`:
/// `commons-io-2.8.0.jar` is (`commons-io`, `2.8.0`), `guava-31.1-jre.jar` is (`guava`,
/// `31.1-jre`), `foo_1.2.jar` is (`foo`, `1.2`); names that do not fit give empty strings.
fn archive_file_name(file_name: &str) -> (String, String) {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    let parts: Vec<&str> = stem.split('-').collect();
    let split = (1..parts.len()).find(|&i| is_version_start(&parts[i..].join("-")));
    let (mut name, mut version) = match split {
        Some(i) if parts[..i].iter().all(|p| is_name_token(p)) => {
            (parts[..i].join("-"), parts[i..].join("-"))
        }
        None if parts.iter().all(|p| is_name_token(p)) => (stem.to_owned(), String::new()),
        _ => (String::new(), String::new()),
    };
    if version.is_empty()
        && let Some(at) = name
            .char_indices()
            .find(|&(i, c)| matches!(c, '.' | '_' | '-') && is_version_start(&name[i + 1..]))
            .map(|(i, _)| i)
    {
        version = name[at + 1..].to_owned();
        name.truncate(at);
    }
    (name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_file_names() {
        for (file, name, version) in [
            ("commons-io-2.8.0.jar", "commons-io", "2.8.0"),
            ("guava-31.1-jre.jar", "guava", "31.1-jre"),
            ("my-http2-server-5.jar", "my-http2-server", "5"),
            ("jetpack-build235-rc5.jar", "jetpack", "build235-rc5"),
            ("prefix.thing-4.jar", "prefix.thing", "4"),
            ("foo_bar.1.2.jar", "foo_bar", "1.2"),
            ("app.jar", "app", ""),
            ("spring-boot-rc3.jar", "spring-boot", "rc3"),
            ("1-2.jar", "", ""),
        ] {
            assert_eq!(
                archive_file_name(file),
                (name.to_string(), version.to_string()),
                "{file}"
            );
        }
        assert_eq!(name_from_file_name("com.example.lib"), "lib");
        assert_eq!(name_from_file_name("org.eclipse.osgi"), "org.eclipse.osgi");
        assert_eq!(name_from_file_name("lib.2"), "lib.2");
    }

    #[test]
    fn manifests_with_continuations_and_sections() {
        let manifest = Manifest::parse(
            "Manifest-Version: 1.0\r\nImplementation-Title: A very long\r\n  title\r\nBundle-SymbolicName: org.example.lib;singleton:=true\r\n\r\nName: org/example/\r\nSpecification-Version: 3.1\r\n",
        );
        assert_eq!(
            manifest.get("Implementation-Title"),
            Some("A very longtitle")
        );
        assert_eq!(manifest.get("Name"), None);
        assert_eq!(
            manifest.first(&["Implementation-Version", "Specification-Version"]),
            Some("3.1".into())
        );
        assert_eq!(manifest.group_id(), Some("org.example.lib".into()));
    }

    #[test]
    fn pom_properties() {
        let pom = PomProperties::parse(
            "#Generated by Maven\n#Mon Jan 01 00:00:00 UTC 2024\nversion=2.8.0\ngroupId=commons-io\nartifactId = commons-io\n",
        );
        assert_eq!(
            pom,
            PomProperties {
                group_id: "commons-io".into(),
                artifact_id: "commons-io".into(),
                version: "2.8.0".into()
            }
        );
        assert!(pom.is_complete());
        assert_eq!(pom.group().as_deref(), Some("commons-io"));
        assert!(!PomProperties::parse("artifactId=x").is_complete());
    }

    #[test]
    fn archive_extensions() {
        assert!(is_archive("app/lib/a-1.jar"));
        assert!(is_archive("A.WAR"));
        assert!(is_archive("x/plugin.hpi"));
        assert!(!is_archive("x/.jar"));
        assert!(!is_archive("x/a.jar.sha1"));
        assert!(!is_archive("jar"));
    }
}
