//! The OS catalogers (os-release, dpkg, apk, rpm) against syft's fixtures and expectations
//! (tests/data/sbom/README.md), rpm databases made by rpm itself (tests/data/rpm/README.md),
//! this machine's own dpkg database, and malformed input.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vouch_sbom::apk::ApkCataloger;
use vouch_sbom::dpkg::{self, DpkgCataloger};
use vouch_sbom::os_release::OsReleaseCataloger;
use vouch_sbom::rpm::{self, RpmCataloger};
use vouch_sbom::{
    Cataloger, Distro, Ecosystem, Findings, Inventory, Location, Package, assemble, os_catalogers,
};

fn data_dir(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn data(path: &str) -> Vec<u8> {
    let full = data_dir(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every regular file under `root`, as (path relative to it, contents), sorted.
fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Offers each file to every OS cataloger, as a layer reader would, and assembles.
fn catalog(files: Vec<(String, Vec<u8>)>) -> Inventory {
    let catalogers = os_catalogers();
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    for (path, bytes) in files {
        for cataloger in &catalogers {
            if !cataloger.wants(&path, bytes.len() as u64) {
                continue;
            }
            match cataloger.read(&path, bytes.len() as u64, &mut &bytes[..]) {
                Ok(findings) => found.push((
                    Location {
                        layer: None,
                        path: path.clone(),
                    },
                    findings,
                )),
                Err(e) => warnings.push(e.to_string()),
            }
        }
    }
    assemble(found, warnings)
}

/// How each syft fixture is run: a directory scanned as a root filesystem, or one file
/// given to the catalogers at the path it has in an image.
enum Run {
    Rootfs(&'static str),
    FileAt(&'static str),
}

fn run_of(fixture: &str) -> Run {
    match fixture {
        "alpine/testdata/single"
        | "alpine/testdata/empty-deps-and-provides"
        | "alpine/testdata/base" => Run::FileAt("lib/apk/db/installed"),
        // syft's TestApkDBCataloger scans the directory testdata/multiple-1.
        "alpine/testdata/multiple-1/lib/apk/db/installed" => {
            Run::Rootfs("alpine/testdata/multiple-1")
        }
        "debian/testdata/var/lib/dpkg/status.d/single" => {
            Run::FileAt("var/lib/dpkg/status.d/single")
        }
        "debian/testdata/var/lib/dpkg/status.d/multiple" => {
            Run::FileAt("var/lib/dpkg/status.d/multiple")
        }
        "debian/testdata/var/lib/dpkg/status.d/deinstall" => {
            Run::FileAt("var/lib/dpkg/status.d/deinstall")
        }
        "debian/testdata/var/lib/opkg/status" => Run::FileAt("var/lib/opkg/status"),
        "debian/testdata/image-dpkg/" => Run::Rootfs("debian/testdata/image-dpkg"),
        other => panic!("EXPECTED.json case {other} has no run: add it to run_of"),
    }
}

fn expected_cases() -> Vec<Value> {
    let expected: Value = serde_json::from_slice(&data("sbom/EXPECTED.json")).unwrap();
    expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| {
            let fixture = case["fixture"].as_str().unwrap();
            fixture.starts_with("debian/") || fixture.starts_with("alpine/")
        })
        .cloned()
        .collect()
}

fn inventory_of(fixture: &str) -> Inventory {
    match run_of(fixture) {
        Run::Rootfs(dir) => catalog(files_under(&data_dir(&format!("sbom/{dir}")))),
        Run::FileAt(path) => catalog(vec![(path.to_owned(), data(&format!("sbom/{fixture}")))]),
    }
}

/// Every EXPECTED.json case for dpkg, opkg and apk gives exactly syft's set of name,
/// version and purl ("" where syft has none: no os-release in the fixture), and the
/// architecture, origin, source and licences it lists.
#[test]
fn syft_fixtures_give_syft_packages() {
    let cases = expected_cases();
    assert_eq!(
        cases.len(),
        9,
        "the debian and alpine cases of EXPECTED.json"
    );
    for case in cases {
        let fixture = case["fixture"].as_str().unwrap();
        let inventory = inventory_of(fixture);
        assert!(
            inventory.warnings.is_empty(),
            "{fixture}: {:?}",
            inventory.warnings
        );
        let got: BTreeSet<(String, String, String)> = inventory
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.version.clone(),
                    p.purl.clone().unwrap_or_default(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String, String)> = case["expected_packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                (field("name"), field("version"), field("purl"))
            })
            .collect();
        assert_eq!(got, want, "{fixture}");
        assert_eq!(
            inventory.packages.len(),
            case["count"].as_u64().unwrap() as usize
        );

        for expected in case["expected_packages"].as_array().unwrap() {
            let name = expected["name"].as_str().unwrap();
            let package = inventory.packages.iter().find(|p| p.name == name).unwrap();
            for (key, property) in [("arch", "arch"), ("origin", "origin"), ("source", "source")] {
                if let Some(value) = expected.get(key).and_then(Value::as_str) {
                    assert_eq!(
                        package.properties.get(property).map(String::as_str),
                        Some(value),
                        "{fixture} {name} {key}"
                    );
                }
            }
            // opkg's License field, as written.
            if let Some(license) = expected.get("license").and_then(Value::as_str) {
                assert_eq!(package.licenses, [license], "{fixture} {name}");
            }
            if let Some(licenses) = expected.get("licenses").and_then(Value::as_array) {
                let mut want: Vec<&str> = licenses.iter().map(|l| l.as_str().unwrap()).collect();
                if package.ecosystem == Ecosystem::Deb {
                    // syft reports the names it greps, GPL-1 included because the GPL-2
                    // text mentions /usr/share/common-licenses/GPL-1; vouch reads the
                    // DEP-5 License fields only and writes SPDX identifiers.
                    assert_eq!(want, ["GPL-1", "GPL-2", "LGPL-2.1"]);
                    want = vec!["GPL-2.0-only", "LGPL-2.1-only"];
                }
                let mut got: Vec<&str> = package.licenses.iter().map(String::as_str).collect();
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want, "{fixture} {name}");
            }
        }
    }
}

#[test]
fn image_dpkg_distro_comes_from_os_release() {
    let inventory = inventory_of("debian/testdata/image-dpkg/");
    let distro = inventory.distro.unwrap();
    assert_eq!(distro.id, "debian");
    assert_eq!(distro.version_id, "12");
    assert_eq!(
        distro.pretty_name.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
}

/// The apk fixtures with a distribution: purls as syft writes them with one.
#[test]
fn apk_purls_with_a_distro() {
    let mut files = files_under(&data_dir("sbom/alpine/testdata/multiple-1"));
    files.push((
        "etc/os-release".to_owned(),
        b"ID=alpine\nVERSION_ID=3.19.0\n".to_vec(),
    ));
    let inventory = catalog(files);
    let purls: BTreeSet<String> = inventory
        .packages
        .iter()
        .map(|p| p.purl.clone().unwrap())
        .collect();
    assert_eq!(
        purls,
        BTreeSet::from([
            "pkg:apk/alpine/bash@5.2.21-r0?arch=x86_64&distro=alpine-3.19.0".to_owned(),
            "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.0&upstream=busybox"
                .to_owned(),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.0".to_owned(),
            "pkg:apk/alpine/readline@8.2.1-r2?arch=x86_64&distro=alpine-3.19.0".to_owned(),
        ])
    );
}

/// This machine's dpkg database gives exactly what dpkg-query lists as installed.
#[test]
fn this_machines_dpkg_status_matches_dpkg_query() {
    let status = Path::new("/var/lib/dpkg/status");
    let output = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"])
        .output();
    let output = match output {
        Ok(output) if output.status.success() && status.is_file() => {
            vouch_tests::peer_ran("dpkg-query");
            output
        }
        _ => {
            vouch_tests::unavailable(
                "dpkg-query and /var/lib/dpkg/status",
                "the comparison with dpkg's own view needs a Debian machine",
            );
            return;
        }
    };
    // dpkg's abbreviation: want (i install, h hold), then state (i installed, U unpacked,
    // F half-configured, W triggers-awaited, t triggers-pending): files on disk, not being
    // removed.
    let want: BTreeSet<(String, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let abbrev = fields.next()?.as_bytes();
            let (name, version) = (fields.next()?, fields.next()?);
            (matches!(abbrev.first(), Some(b'i' | b'h'))
                && matches!(abbrev.get(1), Some(b'i' | b'U' | b'F' | b'W' | b't')))
            .then(|| (name.to_owned(), version.to_owned()))
        })
        .collect();
    let bytes = std::fs::read(status).unwrap();
    let findings = DpkgCataloger
        .read("var/lib/dpkg/status", bytes.len() as u64, &mut &bytes[..])
        .unwrap();
    assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    let got: BTreeSet<(String, String)> = findings
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    println!(
        "this machine: {} installed packages, the same set as dpkg-query",
        got.len()
    );
}

/// One row of tests/data/rpm/expected.tsv, as `rpm -qa --qf` printed it.
type RpmRow = (String, String, String, String, String, String);

fn rpm_expected() -> BTreeSet<RpmRow> {
    String::from_utf8(data("rpm/expected.tsv"))
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 6, "{line}");
            (
                f[0].into(),
                f[1].into(),
                f[2].into(),
                f[3].into(),
                f[4].into(),
                f[5].into(),
            )
        })
        .collect()
}

fn rpm_rows(packages: &[Package]) -> BTreeSet<RpmRow> {
    packages
        .iter()
        .map(|p| {
            let property = |k: &str| p.properties.get(k).cloned().unwrap_or_default();
            assert_eq!(p.ecosystem, Ecosystem::Rpm);
            (
                p.name.clone(),
                p.version.clone(),
                property("epoch"),
                property("arch"),
                property("source_rpm"),
                p.licenses.join(" "),
            )
        })
        .collect()
}

/// rpm's sqlite database (with an interior page and overflow pages), the same headers in
/// Berkeley DB hash files (both byte orders; headers on overflow pages and inline) and in an
/// ndb file: each gives what `rpm -qa`
/// printed.
#[test]
fn rpm_databases_give_what_rpm_lists() {
    let expected = rpm_expected();
    assert_eq!(expected.len(), 12);
    for (file, path) in [
        ("rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"),
        ("rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("rpm/Packages", "var/lib/rpm/Packages"),
        ("rpm/Packages.be", "var/lib/rpm/Packages"),
        ("rpm/Packages.16k", "var/lib/rpm/Packages"),
        ("rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db"),
    ] {
        let bytes = data(file);
        assert!(RpmCataloger.wants(path, bytes.len() as u64));
        let findings = RpmCataloger
            .read(path, bytes.len() as u64, &mut &bytes[..])
            .unwrap();
        assert!(
            findings.warnings.is_empty(),
            "{file}: {:?}",
            findings.warnings
        );
        assert_eq!(findings.packages.len(), 12, "{file}");
        assert_eq!(rpm_rows(&findings.packages), expected, "{file}");
    }
}

#[test]
fn rpm_purls_name_the_distro_epoch_and_source_rpm() {
    let inventory = catalog(vec![
        ("var/lib/rpm/rpmdb.sqlite".into(), data("rpm/rpmdb.sqlite")),
        (
            "etc/os-release".into(),
            b"NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n".to_vec(),
        ),
    ]);
    let purl = |name: &str| {
        inventory
            .packages
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.purl.clone())
            .unwrap()
    };
    assert_eq!(
        purl("vouch-hello"),
        "pkg:rpm/fedora/vouch-hello@1.2.3-4.fc40?arch=noarch&distro=fedora-40&epoch=2&upstream=vouch-hello-1.2.3-4.fc40.src.rpm"
    );
    assert_eq!(
        purl("vouch-big"),
        "pkg:rpm/fedora/vouch-big@10.0-1.el9?arch=x86_64&distro=fedora-40&upstream=vouch-big-10.0-1.el9.src.rpm"
    );
}

/// The corruption a hostile or damaged image can carry: truncated and bit-flipped rpm
/// databases give an error or warnings, never a panic or a runaway allocation.
#[test]
fn damaged_rpm_databases_do_not_panic() {
    for file in [
        "rpm/rpmdb.sqlite",
        "rpm/Packages",
        "rpm/Packages.be",
        "rpm/Packages.16k",
        "rpm/Packages.db",
    ] {
        let original = data(file);
        let step = original.len() / 61 + 1;
        let mut noticed = 0;
        for cut in (0..original.len()).step_by(step) {
            // A cut may remove only pages the packages do not use; most do not.
            match rpm::parse_database(file, &original[..cut]) {
                Ok(findings) if findings.warnings.is_empty() && findings.packages.len() == 12 => {}
                _ => noticed += 1,
            }
        }
        assert!(noticed > 30, "{file}: only {noticed} of 62 cuts noticed");
        // Deterministic pseudo-random positions and bytes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut damaged = original.clone();
            let at = (state % damaged.len() as u64) as usize;
            damaged[at] ^= (state >> 32) as u8 | 1;
            let at = ((state >> 20) % damaged.len() as u64) as usize;
            damaged[at] = 0xff;
            let _ = rpm::parse_database(file, &damaged);
        }
    }
}

fn garbage(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Binary garbage at every path the OS catalogers read: warnings or an error, no panic.
#[test]
fn binary_garbage_gives_warnings_or_errors() {
    let bytes = garbage(256 * 1024);
    for path in [
        "etc/os-release",
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/x",
        "usr/share/doc/x/copyright",
        "lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
    ] {
        let mut wanted = 0;
        for cataloger in os_catalogers() {
            if !cataloger.wants(path, bytes.len() as u64) {
                continue;
            }
            wanted += 1;
            match cataloger.read(path, bytes.len() as u64, &mut &bytes[..]) {
                Ok(findings) => {
                    // A copyright file that is not DEP-5 gives no licences and needs no
                    // warning; the package databases and os-release must complain.
                    if !path.ends_with("copyright") {
                        assert!(!findings.warnings.is_empty(), "{path}");
                    }
                    assert!(findings.licenses.is_empty(), "{path}");
                }
                Err(e) => assert!(path.starts_with("var/lib/rpm/"), "{path}: {e}"),
            }
        }
        assert_eq!(wanted, 1, "{path} is wanted by exactly one cataloger");
    }
}

#[test]
fn truncated_stanza_is_reported() {
    let status = b"Package: complete\nStatus: install ok installed\nVersion: 1.0\n\n\
                   Package: cut\nStatus: install ok inst";
    let findings = dpkg::parse_status(&status[..]).unwrap();
    let names: Vec<&str> = findings.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["complete"]);
    assert_eq!(findings.warnings.len(), 1, "{:?}", findings.warnings);
    assert!(findings.warnings[0].contains("install ok inst"));

    let cut_in_field_name = b"Package: complete\nVersion: 1.0\n\nPackage: cut\nVersi";
    let findings = dpkg::parse_status(&cut_in_field_name[..]).unwrap();
    assert_eq!(findings.packages.len(), 2);
    assert_eq!(findings.warnings.len(), 1, "{:?}", findings.warnings);
}

#[test]
fn huge_lines_are_cut_with_a_warning() {
    let mut status =
        b"Package: big\nStatus: install ok installed\nVersion: 1\nDescription: ".to_vec();
    status.extend(std::iter::repeat_n(b'x', 3 * dpkg::MAX_LINE));
    status.extend_from_slice(b"\n\nPackage: after\nVersion: 2\n");
    let findings = DpkgCataloger
        .read("var/lib/dpkg/status", status.len() as u64, &mut &status[..])
        .unwrap();
    assert_eq!(findings.packages.len(), 2);
    assert!(findings.warnings.iter().any(|w| w.contains("cut")));

    let mut apk = b"P:big\nV:1\nT:".to_vec();
    apk.extend(std::iter::repeat_n(b'y', 3 * 1024 * 1024));
    apk.push(b'\n');
    let findings = ApkCataloger
        .read("lib/apk/db/installed", apk.len() as u64, &mut &apk[..])
        .unwrap();
    assert_eq!(findings.packages.len(), 1);
    assert!(findings.warnings.iter().any(|w| w.contains("cut")));
}

#[test]
fn oversized_files_are_skipped_with_a_warning() {
    for (cataloger, path, size) in [
        (
            &DpkgCataloger as &dyn Cataloger,
            "var/lib/dpkg/status",
            dpkg::MAX_STATUS_SIZE + 1,
        ),
        (
            &DpkgCataloger,
            "usr/share/doc/x/copyright",
            dpkg::MAX_COPYRIGHT_SIZE + 1,
        ),
        (&ApkCataloger, "lib/apk/db/installed", 256 * 1024 * 1024 + 1),
        (&RpmCataloger, "var/lib/rpm/rpmdb.sqlite", rpm::MAX_SIZE + 1),
        (&OsReleaseCataloger, "etc/os-release", 64 * 1024 + 1),
    ] {
        let findings: Findings = cataloger.read(path, size, &mut &b""[..]).unwrap();
        assert!(findings.packages.is_empty());
        assert_eq!(findings.warnings.len(), 1, "{path}");
        assert!(findings.warnings[0].contains("over the limit"), "{path}");
    }
}

/// Distroless images: one status.d file per package, md5sums beside them ignored, and the
/// licence from the copyright file attached by assemble.
#[test]
fn distroless_status_d_with_copyright() {
    let inventory = catalog(vec![
        (
            "etc/os-release".into(),
            b"PRETTY_NAME=\"Distroless\"\nID=debian\nVERSION_ID=\"12\"\n".to_vec(),
        ),
        (
            "var/lib/dpkg/status.d/libssl3".into(),
            b"Package: libssl3\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\n\
              Source: openssl (3.0.15-1~deb12u1)\nStatus: install ok installed\n"
                .to_vec(),
        ),
        (
            "var/lib/dpkg/status.d/libssl3.md5sums".into(),
            b"0123  usr/lib/libssl.so.3\n".to_vec(),
        ),
        (
            "usr/share/doc/libssl3/copyright".into(),
            b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
              Files: *\nLicense: Apache-2.0\n"
                .to_vec(),
        ),
    ]);
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
    assert_eq!(inventory.packages.len(), 1);
    let package = &inventory.packages[0];
    assert_eq!(
        package.purl.as_deref(),
        Some(
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
        )
    );
    assert_eq!(package.licenses, ["Apache-2.0"]);
    assert_eq!(
        inventory.distro,
        Some(Distro {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: Some("Distroless".into()),
            id_like: Vec::new(),
        })
    );
}

/// The catalogers' paths do not overlap, and each says its name.
#[test]
fn os_catalogers_are_distinct() {
    let names: BTreeMap<&str, usize> = os_catalogers()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name(), i))
        .collect();
    assert_eq!(
        names.keys().copied().collect::<Vec<_>>(),
        ["apk", "dpkg", "os-release", "rpm"]
    );
}
