//! Software bills of materials: what is installed in an image, found by catalogers reading the
//! files of its final filesystem, and written as CycloneDX or SPDX.
//!
//! The flow is streaming. Whoever reads the layers (`vouch-registry`) offers every regular
//! file to each [`Cataloger`] by path and size ([`Cataloger::wants`]); a cataloger that wants
//! it reads it once, as it streams by, into small [`Findings`] (packages, the distribution,
//! licences). Nothing else is kept. Once every layer is read, [`assemble`] takes the findings
//! of the files that survive in the final filesystem (later layers override earlier ones,
//! whiteouts delete) and makes the [`Inventory`]: packages with their purls, the layer and
//! path each was found at, and their licences.
//!
//! [`cyclonedx_json`] and [`spdx_json`] write the inventory of an image (its [`Subject`]) as
//! CycloneDX 1.6 or SPDX 2.3 JSON, to attest with [`cyclonedx::PREDICATE_TYPE`] or
//! [`spdx::PREDICATE_TYPE`]; [`license`] decides which licences they may write as SPDX.
//!
//! The crate reads bytes it is handed and writes JSON: the layers themselves are walked by
//! `vouch-registry::layers`, which bounds what a hostile layer can cost.
//!
//! ```
//! use vouch_sbom::{assemble, Ecosystem, Findings, Location, Package};
//!
//! let mut package = Package::new(Ecosystem::Python, "requests", "2.32.3");
//! package.purl = Some("pkg:pypi/requests@2.32.3".into());
//! let findings = Findings { packages: vec![package], ..Findings::default() };
//! let location = Location { layer: None, path: "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA".into() };
//! let inventory = assemble(vec![(location, findings)], Vec::new());
//! assert_eq!(inventory.packages[0].purl.as_deref(), Some("pkg:pypi/requests@2.32.3"));
//! assert_eq!(inventory.packages[0].locations[0].path, "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA");
//! ```

pub mod apk;
pub mod cyclonedx;
pub mod dpkg;
mod elf;
pub mod golang;
pub mod java;
pub mod license;
pub mod npm;
pub mod os_release;
pub mod purl;
pub mod python;
pub mod rpm;
pub mod rust;
pub mod spdx;
mod stream;
mod text;
mod writer;

pub use cyclonedx::cyclonedx_json;
pub use spdx::spdx_json;
pub use writer::{
    PROPERTY_DISTRO_ID_LIKE, PROPERTY_ECOSYSTEM, PROPERTY_LOCATION_PREFIX, PROPERTY_PACKAGE_PREFIX,
    PROPERTY_WARNING, Subject,
};

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use vouch_keys::Digest;

/// Why a file could not be catalogued, or a document not written. Each variant names the file
/// or format and what was wrong; messages carry text from the image only truncated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SbomError {
    /// The bytes are not a valid document of the format (a package manifest that is not JSON,
    /// a missing or mistyped field).
    #[error("malformed {format}: {reason}")]
    Malformed {
        /// Which format was expected.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The file is larger than the cataloger's limit; it was not parsed.
    #[error("{format} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Which format was being read.
        format: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A file a cataloger reads (a package database, an os-release file) is not in its
    /// format, or is corrupt past the point where anything can be read from it.
    #[error("{path}: malformed {format}: {reason}")]
    MalformedFile {
        /// The file's path in the image, without a leading `/`.
        path: String,
        /// Which format was expected (`rpm sqlite database`).
        format: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file a cataloger reads could not be read: the stream failed or ended early.
    #[error("reading {path} failed: {reason}")]
    ReadFailed {
        /// The file's path in the image, without a leading `/`.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A file's contents could not be read from the stream underneath (an I/O error of the
    /// layer being read, not a problem of the file's format).
    #[error("reading {what} failed: {reason}")]
    Io {
        /// What was being read.
        what: &'static str,
        /// The I/O error's message.
        reason: String,
    },
}

/// `text` cut to at most `max` characters, for error messages about untrusted input.
fn truncated(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The kind of package: which ecosystem's rules name it, version it and give it a purl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ecosystem {
    /// A Debian package (dpkg).
    Deb,
    /// An Alpine package (apk).
    Apk,
    /// An RPM package.
    Rpm,
    /// A Python distribution (PyPI).
    Python,
    /// An npm package.
    Npm,
    /// A Go module (from a binary's build information).
    Go,
    /// A Rust crate (from cargo-auditable data in a binary).
    Rust,
    /// A Java archive (Maven coordinates).
    Java,
}

impl Ecosystem {
    /// The purl type of the ecosystem (`deb`, `apk`, `rpm`, `pypi`, `npm`, `golang`, `cargo`,
    /// `maven`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "golang",
            Ecosystem::Rust => "cargo",
            Ecosystem::Java => "maven",
        }
    }

    /// True for the packages of an operating system's package manager, whose purls name
    /// the distribution.
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
    }
}

/// Where a package was found: the layer that holds the file in the final filesystem, and the
/// file's path (relative to the root, no leading `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The digest of the layer (its blob), when read from an image.
    pub layer: Option<Digest>,
    /// The path, without a leading `/`: `var/lib/dpkg/status`.
    pub path: String,
}

/// The operating system of the image, from `etc/os-release` (or `usr/lib/os-release`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Distro {
    /// `ID`: `debian`, `alpine`, `rhel`.
    pub id: String,
    /// `VERSION_ID`: `12`, `3.20.3`; empty when not given (a rolling release).
    pub version_id: String,
    /// `PRETTY_NAME`, when given.
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The name, as the ecosystem writes it (Python names normalized per PEP 503).
    pub name: String,
    /// The version, as the ecosystem writes it (dpkg with its epoch: `1:1.2.13.dfsg-1`); may
    /// be empty when the source gives none.
    pub version: String,
    /// The package URL. For OS packages [`assemble`] sets it from the distribution; language
    /// catalogers set it themselves.
    pub purl: Option<String>,
    /// Licences: SPDX expressions where the source is machine-readable, else the names it
    /// gives.
    pub licenses: Vec<String>,
    /// Where it was found (set by [`assemble`]; catalogers leave it empty).
    pub locations: Vec<Location>,
    /// Ecosystem facts that purls and documents use: `arch`, `source` (the source package),
    /// `source_version`, `upstream`, `group` (Maven group id), `main_module`,
    /// `go_version`, ... Keys are the catalogers' own; writers put them in properties.
    pub properties: BTreeMap<String, String>,
}

impl Package {
    /// A package with no purl, licences, locations or properties yet.
    pub fn new(ecosystem: Ecosystem, name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            ecosystem,
            name: name.into(),
            version: version.into(),
            purl: None,
            licenses: Vec::new(),
            locations: Vec::new(),
            properties: BTreeMap::new(),
        }
    }
}

/// What a cataloger found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    /// Packages the file records.
    pub packages: Vec<Package>,
    /// The distribution, when the file is an os-release file.
    pub distro: Option<Distro>,
    /// Licences of packages recorded elsewhere (dpkg's `usr/share/doc/<name>/copyright`):
    /// ecosystem, package name, licences.
    pub licenses: Vec<(Ecosystem, String, Vec<String>)>,
    /// Problems worth telling the user that did not stop the file being read.
    pub warnings: Vec<String>,
    /// Purl qualifiers a file gives the packages recorded beside it, in the same directory
    /// (Python's `direct_url.json` gives `vcs_url` to the distribution whose `METADATA` is
    /// next to it): ecosystem, qualifier key, value. [`assemble`] adds them to the purls of
    /// the packages of that ecosystem found in files of that directory.
    pub sibling_qualifiers: Vec<(Ecosystem, String, String)>,
}

impl Findings {
    /// Findings of nothing but one warning (a file skipped, and why).
    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            warnings: vec![text.into()],
            ..Self::default()
        }
    }

    /// Adds `other`'s findings to these (the first distribution found stays).
    pub fn merge(&mut self, other: Findings) {
        self.packages.extend(other.packages);
        if self.distro.is_none() {
            self.distro = other.distro;
        }
        self.licenses.extend(other.licenses);
        self.warnings.extend(other.warnings);
        self.sibling_qualifiers.extend(other.sibling_qualifiers);
    }
}

/// Reads the file at `path` with every cataloger of `catalogers` that wants it, reading
/// `contents` once: a file two catalogers want (an ELF binary: Go build info and
/// cargo-auditable data) is teed to them chunk by chunk, each on its own thread, so no file
/// is held whole. A cataloger's error becomes a warning naming it.
pub fn catalog_file(
    catalogers: &[Box<dyn Cataloger>],
    path: &str,
    size: u64,
    contents: &mut dyn Read,
) -> Findings {
    let wanting: Vec<&dyn Cataloger> = catalogers
        .iter()
        .filter(|c| c.wants(path, size))
        .map(AsRef::as_ref)
        .collect();
    match wanting.as_slice() {
        [] => Findings::default(),
        [one] => read_with(*one, path, size, contents),
        many => tee(many, path, size, contents),
    }
}

fn read_with(
    cataloger: &dyn Cataloger,
    path: &str,
    size: u64,
    contents: &mut dyn Read,
) -> Findings {
    cataloger
        .read(path, size, contents)
        .unwrap_or_else(|e| Findings::warning(format!("{} cataloger: {e}", cataloger.name())))
}

/// A chunk of a teed file, or the read error that ended it.
type Chunk = Result<std::sync::Arc<[u8]>, String>;

/// A `Read` over the chunks a tee sends.
struct TeeReader {
    receiver: std::sync::mpsc::Receiver<Chunk>,
    current: std::sync::Arc<[u8]>,
    offset: usize,
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.offset == self.current.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.offset = 0;
                }
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.offset);
        buf[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

fn tee(catalogers: &[&dyn Cataloger], path: &str, size: u64, contents: &mut dyn Read) -> Findings {
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(catalogers.len());
        let mut readers = Vec::with_capacity(catalogers.len());
        for &cataloger in catalogers {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Chunk>(4);
            senders.push(Some(sender));
            readers.push(scope.spawn(move || {
                let mut reader = TeeReader {
                    receiver,
                    current: std::sync::Arc::from(Vec::new()),
                    offset: 0,
                };
                read_with(cataloger, path, size, &mut reader)
            }));
        }
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let chunk: Chunk = match contents.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => Ok(std::sync::Arc::from(&buffer[..n])),
                Err(e) => Err(e.to_string()),
            };
            let failed = chunk.is_err();
            let mut listening = false;
            for slot in &mut senders {
                // A cataloger that has what it needs stops reading: stop sending to it.
                if let Some(sender) = slot {
                    if sender.send(chunk.clone()).is_ok() {
                        listening = true;
                    } else {
                        *slot = None;
                    }
                }
            }
            if failed || !listening {
                break;
            }
        }
        drop(senders);
        let mut findings = Findings::default();
        for (reader, cataloger) in readers.into_iter().zip(catalogers) {
            match reader.join() {
                Ok(found) => findings.merge(found),
                Err(_) => findings
                    .warnings
                    .push(format!("{} cataloger stopped on {path}", cataloger.name())),
            }
        }
        findings
    })
}

/// A reader of one kind of file. Implementations are small and pure: bytes in, findings out.
pub trait Cataloger: Send + Sync {
    /// A short name for messages and properties (`dpkg`, `python`).
    fn name(&self) -> &'static str;

    /// Whether the cataloger reads the regular file at `path` (relative, no leading `/`) of
    /// `size` bytes. Called for every regular file of every layer: must be cheap.
    fn wants(&self, path: &str, size: u64) -> bool;

    /// Reads the file's `contents` (the stream is exactly `size` bytes; read what is needed
    /// and no more than bounded memory allows) into findings. An error is reported as a
    /// warning naming the file; it does not stop the other files.
    fn read(&self, path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError>;
}

/// The catalogers of operating-system packages and the distribution: os-release, dpkg
/// (with opkg and Debian copyright files), apk and rpm. Their paths do not overlap: each
/// file is wanted by at most one of them.
pub fn os_catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(os_release::OsReleaseCataloger),
        Box::new(dpkg::DpkgCataloger),
        Box::new(apk::ApkCataloger),
        Box::new(rpm::RpmCataloger),
    ]
}

/// The packages of an image's final filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Inventory {
    /// The distribution, when an os-release file was found.
    pub distro: Option<Distro>,
    /// The packages, sorted by ecosystem, name, version and first location; packages with
    /// the same ecosystem, name, version and purl found at several places are one package
    /// with several locations.
    pub packages: Vec<Package>,
    /// Files that could not be read, and other problems, one sentence each.
    pub warnings: Vec<String>,
}

/// The inventory of the final filesystem, given the findings of the files in it (each with
/// its location) and the warnings gathered while reading. Sets OS packages' purls from the
/// distribution (`etc/os-release` preferred over `usr/lib/os-release`), attaches licences
/// recorded apart from their packages, and merges duplicates.
pub fn assemble(files: Vec<(Location, Findings)>, mut warnings: Vec<String>) -> Inventory {
    let mut distro: Option<(bool, Distro)> = None;
    let mut licenses: BTreeMap<(Ecosystem, String), Vec<String>> = BTreeMap::new();
    let mut qualifiers: BTreeMap<(String, Ecosystem), Vec<(String, String)>> = BTreeMap::new();
    let mut found: Vec<Package> = Vec::new();
    for (location, findings) in files {
        if let Some(d) = findings.distro {
            let preferred = location.path == "etc/os-release";
            if distro
                .as_ref()
                .is_none_or(|(was_preferred, _)| preferred && !was_preferred)
            {
                distro = Some((preferred, d));
            }
        }
        for (ecosystem, name, list) in findings.licenses {
            licenses.entry((ecosystem, name)).or_default().extend(list);
        }
        for (ecosystem, key, value) in findings.sibling_qualifiers {
            qualifiers
                .entry((parent_dir(&location.path).to_owned(), ecosystem))
                .or_default()
                .push((key, value));
        }
        warnings.extend(
            findings
                .warnings
                .into_iter()
                .map(|w| format!("{}: {w}", location.path)),
        );
        for mut package in findings.packages {
            package.locations = vec![location.clone()];
            found.push(package);
        }
    }
    let distro = distro.map(|(_, d)| d);

    for package in &mut found {
        if package.licenses.is_empty()
            && let Some(list) = licenses.get(&(package.ecosystem, package.name.clone()))
        {
            package.licenses = list.clone();
        }
        package.licenses.sort();
        package.licenses.dedup();
        if package.ecosystem.is_os() && package.purl.is_none() {
            package.purl = distro.as_ref().map(|d| purl::os_package(package, d));
        }
        if !qualifiers.is_empty()
            && let (Some(purl), Some(location)) = (&package.purl, package.locations.first())
            && let Some(list) =
                qualifiers.get(&(parent_dir(&location.path).to_owned(), package.ecosystem))
        {
            package.purl = Some(
                list.iter()
                    .fold(purl.clone(), |p, (k, v)| purl::with_qualifier(&p, k, v)),
            );
        }
    }

    found.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.purl, &a.locations).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.purl,
            &b.locations,
        ))
    });
    let mut packages: Vec<Package> = Vec::with_capacity(found.len());
    for package in found {
        match packages.last_mut() {
            Some(last)
                if last.ecosystem == package.ecosystem
                    && last.name == package.name
                    && last.version == package.version
                    && last.purl == package.purl =>
            {
                last.locations.extend(package.locations);
                for license in package.licenses {
                    if !last.licenses.contains(&license) {
                        last.licenses.push(license);
                    }
                }
            }
            _ => packages.push(package),
        }
    }
    Inventory {
        distro,
        packages,
        warnings,
    }
}

/// The directory part of a relative path (`""` for a file at the root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The catalogers of language ecosystems' installed packages: Python distributions
/// ([`python`]), npm packages in `node_modules` ([`npm`]), Go modules in Go binaries
/// ([`golang`]), Rust crates in cargo-auditable binaries ([`rust`]) and Java archives
/// ([`java`]), with their default limits.
pub fn language_catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(python::PythonCataloger),
        Box::new(npm::NpmCataloger),
        Box::new(golang::GoCataloger),
        Box::new(rust::RustCataloger),
        Box::new(java::JavaCataloger::default()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Location {
        Location {
            layer: None,
            path: path.into(),
        }
    }

    #[test]
    fn os_packages_get_purls_from_the_preferred_os_release() {
        let mut zlib = Package::new(Ecosystem::Deb, "zlib1g", "1:1.2.13.dfsg-1");
        zlib.properties.insert("arch".into(), "amd64".into());
        let distro = |version: &str| Findings {
            distro: Some(Distro {
                id: "debian".into(),
                version_id: version.into(),
                ..Distro::default()
            }),
            ..Findings::default()
        };
        let inventory = assemble(
            vec![
                (at("etc/os-release"), distro("12")),
                (at("usr/lib/os-release"), distro("11")),
                (
                    at("var/lib/dpkg/status"),
                    Findings {
                        packages: vec![zlib],
                        ..Findings::default()
                    },
                ),
                (
                    at("usr/share/doc/zlib1g/copyright"),
                    Findings {
                        licenses: vec![(Ecosystem::Deb, "zlib1g".into(), vec!["Zlib".into()])],
                        ..Findings::default()
                    },
                ),
            ],
            Vec::new(),
        );
        let package = &inventory.packages[0];
        assert_eq!(
            package.purl.as_deref(),
            Some("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12")
        );
        assert_eq!(package.licenses, ["Zlib"]);
        assert_eq!(package.locations[0].path, "var/lib/dpkg/status");
    }

    #[test]
    fn sibling_qualifiers_reach_the_packages_of_their_directory_and_ecosystem() {
        let package = |name: &str, ecosystem| {
            let mut package = Package::new(ecosystem, name, "1.0");
            package.purl = Some(format!("pkg:{}/{name}@1.0", ecosystem.purl_type()));
            Findings {
                packages: vec![package],
                ..Findings::default()
            }
        };
        let direct_url = Findings {
            sibling_qualifiers: vec![(
                Ecosystem::Python,
                "vcs_url".into(),
                "git+https://example.com/a.git@abc".into(),
            )],
            ..Findings::default()
        };
        let inventory = assemble(
            vec![
                (
                    at("site/a-1.0.dist-info/METADATA"),
                    package("a", Ecosystem::Python),
                ),
                (at("site/a-1.0.dist-info/direct_url.json"), direct_url),
                (
                    at("site/b-1.0.dist-info/METADATA"),
                    package("b", Ecosystem::Python),
                ),
                (
                    at("site/a-1.0.dist-info/package.json"),
                    package("c", Ecosystem::Npm),
                ),
            ],
            Vec::new(),
        );
        let purls: Vec<_> = inventory
            .packages
            .iter()
            .map(|p| p.purl.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:pypi/a@1.0?vcs_url=git%2Bhttps%3A%2F%2Fexample.com%2Fa.git%40abc",
                "pkg:pypi/b@1.0",
                "pkg:npm/c@1.0",
            ]
        );
    }

    #[test]
    fn the_same_package_found_twice_is_one_with_two_locations() {
        let package = || Findings {
            packages: vec![Package::new(Ecosystem::Npm, "left-pad", "1.3.0")],
            ..Findings::default()
        };
        let inventory = assemble(
            vec![
                (at("app/node_modules/left-pad/package.json"), package()),
                (at("lib/node_modules/left-pad/package.json"), package()),
            ],
            Vec::new(),
        );
        assert_eq!(inventory.packages.len(), 1);
        assert_eq!(inventory.packages[0].locations.len(), 2);
    }

    /// Counts the bytes it reads, up to `stop_after`, and reports them as a package version.
    struct Counter {
        name: &'static str,
        stop_after: usize,
    }

    impl Cataloger for Counter {
        fn name(&self) -> &'static str {
            self.name
        }

        fn wants(&self, path: &str, _size: u64) -> bool {
            path == "usr/bin/tool"
        }

        fn read(
            &self,
            _path: &str,
            _size: u64,
            contents: &mut dyn Read,
        ) -> Result<Findings, SbomError> {
            let mut read = 0;
            let mut buf = [0u8; 1000];
            while read < self.stop_after {
                let n = contents.read(&mut buf).map_err(|e| SbomError::Io {
                    what: "test file",
                    reason: e.to_string(),
                })?;
                if n == 0 {
                    break;
                }
                read += n;
            }
            Ok(Findings {
                packages: vec![Package::new(Ecosystem::Go, self.name, read.to_string())],
                ..Findings::default()
            })
        }
    }

    #[test]
    fn a_file_two_catalogers_want_is_read_once_by_both() {
        let catalogers: Vec<Box<dyn Cataloger>> = vec![
            Box::new(Counter {
                name: "all",
                stop_after: usize::MAX,
            }),
            Box::new(Counter {
                name: "early",
                stop_after: 1,
            }),
        ];
        let data = vec![7u8; 300_000];
        let findings = catalog_file(&catalogers, "usr/bin/tool", 300_000, &mut &data[..]);
        let versions: Vec<(&str, &str)> = findings
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(versions[0], ("all", "300000"));
        assert_eq!(versions[1].0, "early");
        assert!(
            catalog_file(&catalogers, "usr/bin/other", 1, &mut &data[..])
                .packages
                .is_empty()
        );
    }
}
