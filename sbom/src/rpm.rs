//! RPM packages, from the rpm database in any of its three formats, read without a C
//! library:
//!
//! * SQLite, `rpmdb.sqlite` (rpm ≥ 4.16: Fedora ≥ 33, RHEL and UBI 9, Amazon Linux 2023):
//!   the blob column of the `Packages` table, read by a minimal reader of the SQLite file
//!   format (table b-trees, overflow pages, records). A write-ahead log (`rpmdb.sqlite-wal`)
//!   is another file and is not read: rpm checkpoints it when it closes the database, so
//!   images normally have an empty one.
//! * ndb, `Packages.db` (SUSE and openSUSE), with each blob's checksum verified.
//! * Berkeley DB hash, `Packages` (RHEL and CentOS ≤ 8, Amazon Linux 2): every hash page's
//!   values, inline or on overflow pages, in either byte order.
//!
//! The format is told by the file's magic, not its name. Paths read: `rpmdb.sqlite`,
//! `Packages.db` and `Packages` under `var/lib/rpm/`, `usr/lib/sysimage/rpm/` (where
//! Fedora ≥ 36 and openSUSE keep the database, `var/lib/rpm` being a symlink) and
//! `usr/share/rpm/`.
//!
//! Each header gives a package: name (`NAME`), version `VERSION-RELEASE`, properties
//! `arch` (`ARCH`), `epoch` (`EPOCH`, when set) and `source_rpm` (`SOURCERPM`), and the
//! `LICENSE` tag as one licence, as written. `gpg-pubkey` entries are public keys rpm
//! stores as headers, not packages, and are left out. A header that cannot be read is
//! skipped with a warning; a database whose structure is broken is an error.
//!
//! A database must be read whole (the formats need random access): files over
//! [`MAX_SIZE`] are skipped with a warning.

mod bdb;
mod header;
mod ndb;
mod sqlite;

use std::io::Read;

use header::Header;

use super::text::{read_at_most, read_failed, too_large};
use super::{Cataloger, Ecosystem, Findings, Package};
use crate::SbomError;

/// Databases larger than this are not read (rpmdb.sqlite is typically 5 to 60 MiB).
pub const MAX_SIZE: u64 = 512 * 1024 * 1024;

/// What a format reader hands each header blob to, or the reason one could not be read.
type BlobSink<'a> = dyn FnMut(Result<&[u8], String>) + 'a;

/// At most this many unreadable headers are named one by one in the warnings.
const MAX_NAMED_PROBLEMS: usize = 20;

/// The rpm cataloger: packages from the rpm database (SQLite, ndb or Berkeley DB).
#[derive(Debug, Clone, Copy, Default)]
pub struct RpmCataloger;

impl Cataloger for RpmCataloger {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn wants(&self, path: &str, _size: u64) -> bool {
        let Some(file) = ["var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/"]
            .iter()
            .find_map(|dir| path.strip_prefix(dir))
        else {
            return false;
        };
        matches!(file, "rpmdb.sqlite" | "Packages.db" | "Packages")
    }

    /// The packages of the database (see the module documentation). Fails when the stream
    /// fails or the file is not a database in one of the three formats.
    fn read(&self, path: &str, size: u64, contents: &mut dyn Read) -> Result<Findings, SbomError> {
        if size > MAX_SIZE {
            return Ok(Findings::warning(too_large("rpm database", size, MAX_SIZE)));
        }
        let Some(bytes) = read_at_most(contents, MAX_SIZE).map_err(|e| read_failed(path, &e))?
        else {
            return Ok(Findings::warning(too_large("rpm database", size, MAX_SIZE)));
        };
        parse_database(path, &bytes)
    }
}

/// The packages of the rpm database at `path` (named in errors), held in `bytes`, in
/// whichever of the three formats its magic says. Fails with
/// [`SbomError::MalformedFile`] when the file is none of them or its structure is
/// broken; headers that cannot be read are skipped with a warning.
pub fn parse_database(path: &str, bytes: &[u8]) -> Result<Findings, SbomError> {
    let malformed = |format: &'static str| {
        move |reason: String| SbomError::MalformedFile {
            path: path.to_owned(),
            format,
            reason,
        }
    };
    let mut findings = Findings::default();
    let mut problems = Vec::new();
    let mut add = |blob: Result<&[u8], String>| match blob.and_then(package) {
        Ok(Some(package)) => findings.packages.push(package),
        Ok(None) => {}
        Err(e) => problems.push(e),
    };
    if bytes.starts_with(b"SQLite format 3\0") {
        let malformed = malformed("rpm sqlite database");
        let database = sqlite::Database::open(bytes).map_err(malformed)?;
        let root = database.table_root("Packages").map_err(malformed)?;
        database
            .walk_table(root, &mut |rowid, payload| {
                let blob = match sqlite::record(payload) {
                    Ok(columns) => match columns.get(1) {
                        Some(sqlite::Value::Blob(blob)) => Ok(*blob),
                        _ => Err("no blob column".to_owned()),
                    },
                    Err(e) => Err(e),
                };
                add(blob.map_err(|e| format!("row {rowid}: {e}")));
            })
            .map_err(malformed)?;
    } else if bytes.starts_with(b"RpmP") {
        ndb::for_each_blob(bytes, &mut add).map_err(malformed("rpm ndb database"))?;
    } else {
        bdb::for_each_value(bytes, &mut add).map_err(malformed("rpm Berkeley DB database"))?;
    }
    for problem in problems.iter().take(MAX_NAMED_PROBLEMS) {
        findings
            .warnings
            .push(format!("a package header was skipped: {problem}"));
    }
    if problems.len() > MAX_NAMED_PROBLEMS {
        findings.warnings.push(format!(
            "{} more package headers were skipped",
            problems.len() - MAX_NAMED_PROBLEMS
        ));
    }
    Ok(findings)
}

/// The package a header blob describes; `None` for a `gpg-pubkey` entry.
fn package(blob: &[u8]) -> Result<Option<Package>, String> {
    let header = Header::parse(blob)?;
    let name = header
        .string(header::NAME)
        .filter(|n| !n.is_empty())
        .ok_or("header without a name")?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = match (
        header.string(header::VERSION).filter(|v| !v.is_empty()),
        header.string(header::RELEASE).filter(|r| !r.is_empty()),
    ) {
        (Some(version), Some(release)) => format!("{version}-{release}"),
        (Some(version), None) => version,
        // A release without a version is no version.
        (None, _) => String::new(),
    };
    let mut package = Package::new(Ecosystem::Rpm, name, version);
    if let Some(epoch) = header.int32(header::EPOCH) {
        package.properties.insert("epoch".into(), epoch.to_string());
    }
    for (key, tag) in [("arch", header::ARCH), ("source_rpm", header::SOURCERPM)] {
        if let Some(value) = header.string(tag).filter(|v| !v.is_empty()) {
            package.properties.insert(key.into(), value);
        }
    }
    if let Some(license) = header.string(header::LICENSE).filter(|l| !l.is_empty()) {
        package.licenses.push(license);
    }
    Ok(Some(package))
}

#[cfg(test)]
mod tests {
    use super::header::tests::blob;
    use super::*;

    #[test]
    fn wants_the_three_files_in_the_three_places() {
        let rpm = RpmCataloger;
        for path in [
            "var/lib/rpm/rpmdb.sqlite",
            "var/lib/rpm/Packages",
            "usr/lib/sysimage/rpm/Packages.db",
            "usr/share/rpm/rpmdb.sqlite",
        ] {
            assert!(rpm.wants(path, 1), "{path}");
        }
        for path in [
            "var/lib/rpm/rpmdb.sqlite-wal",
            "var/lib/rpm/Name",
            "x/var/lib/rpm/Packages",
            "var/lib/rpm/",
        ] {
            assert!(!rpm.wants(path, 1), "{path}");
        }
    }

    #[test]
    fn headers_become_packages() {
        let bash = blob(
            &[
                (header::NAME, "bash"),
                (header::VERSION, "5.1.8"),
                (header::RELEASE, "9.el9"),
                (header::ARCH, "x86_64"),
                (header::SOURCERPM, "bash-5.1.8-9.el9.src.rpm"),
                (header::LICENSE, "GPLv3+"),
            ],
            &[(header::EPOCH, 0)],
        );
        let package = package(&bash).unwrap().unwrap();
        assert_eq!(package.version, "5.1.8-9.el9");
        assert_eq!(package.properties["epoch"], "0");
        assert_eq!(package.properties["source_rpm"], "bash-5.1.8-9.el9.src.rpm");
        assert_eq!(package.licenses, ["GPLv3+"]);
        let key = blob(&[(header::NAME, "gpg-pubkey")], &[]);
        assert_eq!(super::package(&key).unwrap(), None);
        let nameless = blob(&[(header::VERSION, "1")], &[]);
        assert!(super::package(&nameless).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            &b"SQLite format 3\0"[..],
            &b"RpmP"[..],
            &[0u8; 8192][..],
        ] {
            assert!(parse_database("var/lib/rpm/Packages", bytes).is_err());
        }
    }
}
