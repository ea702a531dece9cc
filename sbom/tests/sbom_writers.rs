//! vouch's CycloneDX and SPDX documents against the official validators, run for real:
//! cyclonedx-python-lib 11.12.0's strict JSON schema validator for CycloneDX 1.6
//! (`tests/peers/sbom/validate_cyclonedx.py`) and spdx-tools 0.8.5's `pyspdxtools` for
//! SPDX 2.3, pinned in `tests/peers/sbom/requirements.txt` and installed into a venv under
//! the peers folder by `tests/peers/install.sh sbom` (which `.ci/run` runs first).
//!
//! The inventory has a package of every ecosystem, licences of every kind (SPDX identifiers,
//! an expression, DEP-5 and RPM short names, names that are no SPDX licence, none, and every
//! identifier and exception `sbom::license` knows), warnings, and packages found at two
//! places. Each validator must accept vouch's document and refuse a broken copy of it, so a
//! validator that accepts anything fails the test.
//!
//! When the validators cannot be installed here (no Python, no package index), the tests
//! print `SKIPPED` and pass.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use vouch_keys::Digest;
use vouch_sbom::license::{EXCEPTION_IDS, LICENSE_IDS};
use vouch_sbom::purl::{Purl, os_package};
use vouch_sbom::{
    Distro, Ecosystem, Inventory, Location, Package, Subject, cyclonedx_json, spdx_json,
};

/// The validators' venv (`vouch_tests::Peer::SbomValidators`, installed once per test
/// process); `None` when they cannot be installed here, which fails the test under
/// `VOUCH_REQUIRE_PEERS=1` and skips it otherwise.
fn validators() -> Option<PathBuf> {
    vouch_tests::Peer::SbomValidators
        .install()
        .map(|peer| peer.dir)
}

/// A verdict: whether the validator accepted, and everything it said.
struct Verdict {
    valid: bool,
    said: String,
}

fn verdict(output: Output) -> Verdict {
    Verdict {
        valid: output.status.success(),
        said: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Writes `document` to a file named `name` (its extension tells pyspdxtools the format).
fn write(name: &str, document: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sbom-writers");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, document).unwrap();
    path
}

fn validate_cyclonedx(venv: &Path, name: &str, document: &[u8]) -> Verdict {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/sbom/validate_cyclonedx.py");
    verdict(
        Command::new(venv.join("bin/python"))
            .arg(script)
            .arg(write(name, document))
            .output()
            .unwrap(),
    )
}

fn validate_spdx(venv: &Path, name: &str, document: &[u8]) -> Verdict {
    verdict(
        Command::new(venv.join("bin/pyspdxtools"))
            .arg("-i")
            .arg(write(name, document))
            .output()
            .unwrap(),
    )
}

fn subject() -> Subject {
    Subject {
        name: "registry.example:5000/team/app".into(),
        digest: Digest::sha256(b"the image manifest"),
        tag: Some("v1.2.3".into()),
    }
}

fn at(layer: &[u8], path: &str) -> Location {
    Location {
        layer: Some(Digest::sha256(layer)),
        path: path.into(),
    }
}

fn package(
    ecosystem: Ecosystem,
    name: &str,
    version: &str,
    purl: String,
    licenses: &[&str],
    location: Location,
) -> Package {
    let mut package = Package::new(ecosystem, name, version);
    package.purl = Some(purl);
    package.licenses = licenses.iter().map(|l| (*l).to_owned()).collect();
    package.locations = vec![location];
    package
}

/// Packages of every ecosystem, licences of every kind, warnings, two locations.
fn inventory() -> Inventory {
    let debian = Distro {
        id: "debian".into(),
        version_id: "12".into(),
        pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
        id_like: Vec::new(),
    };
    let alpine = Distro {
        id: "alpine".into(),
        version_id: "3.20.3".into(),
        pretty_name: None,
        id_like: Vec::new(),
    };
    let rhel = Distro {
        id: "rhel".into(),
        version_id: "9.4".into(),
        pretty_name: None,
        id_like: vec!["fedora".into()],
    };
    let os = |mut package: Package, distro: &Distro| {
        package.purl = Some(os_package(&package, distro));
        package
    };
    let dpkg = || at(b"base layer", "var/lib/dpkg/status");

    let mut zlib = Package::new(Ecosystem::Deb, "zlib1g", "1:1.2.13.dfsg-1");
    zlib.properties.insert("arch".into(), "amd64".into());
    zlib.properties.insert("source".into(), "zlib".into());
    zlib.licenses = vec!["Zlib".into()];
    zlib.locations = vec![dpkg()];
    let zlib = os(zlib, &debian);

    let mut perl = Package::new(Ecosystem::Deb, "perl-base", "5.36.0-7+deb12u1");
    perl.properties.insert("arch".into(), "amd64".into());
    perl.properties.insert("source".into(), "perl".into());
    // DEP-5 names: one maps to an SPDX identifier, the others are no SPDX licence.
    perl.licenses = vec![
        "GPL-1+".into(),
        "Artistic".into(),
        "GPL-1+ or Artistic".into(),
        "public-domain".into(),
    ];
    perl.locations = vec![dpkg()];
    let perl = os(perl, &debian);

    let mut musl = Package::new(Ecosystem::Apk, "musl", "1.2.5-r0");
    musl.properties.insert("arch".into(), "x86_64".into());
    musl.licenses = vec!["MIT".into()];
    musl.locations = vec![at(b"apk layer", "lib/apk/db/installed")];
    let musl = os(musl, &alpine);

    let mut bash = Package::new(Ecosystem::Rpm, "bash", "5.1.8-9.el9");
    bash.properties.insert("arch".into(), "x86_64".into());
    bash.properties.insert("epoch".into(), "1".into());
    bash.properties
        .insert("source_rpm".into(), "bash-5.1.8-9.el9.src.rpm".into());
    bash.licenses = vec!["GPLv3+".into()];
    bash.locations = vec![at(b"rpm layer", "var/lib/rpm/rpmdb.sqlite")];
    let bash = os(bash, &rhel);

    // Found at two places: two locations.
    let mut requests = package(
        Ecosystem::Python,
        "requests",
        "2.32.3",
        Purl::new("pypi", "requests", "2.32.3").to_string(),
        &["Apache-2.0"],
        at(
            b"app layer",
            "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
        ),
    );
    requests.locations.push(Location {
        layer: None,
        path: "opt/venv/lib/python3.11/site-packages/requests-2.32.3.dist-info/METADATA".into(),
    });

    let babel = package(
        Ecosystem::Npm,
        "@babel/core",
        "7.24.0",
        Purl::new("npm", "core", "7.24.0")
            .namespace("@babel")
            .to_string(),
        &["MIT OR Apache-2.0"],
        at(b"app layer", "app/node_modules/@babel/core/package.json"),
    );

    // No licence.
    let mut cobra = package(
        Ecosystem::Go,
        "github.com/spf13/cobra",
        "v1.8.0",
        Purl::new("golang", "cobra", "v1.8.0")
            .namespace("github.com/spf13")
            .to_string(),
        &[],
        at(b"app layer", "usr/local/bin/app"),
    );
    cobra
        .properties
        .insert("go_version".into(), "go1.22.5".into());

    let serde = package(
        Ecosystem::Rust,
        "serde",
        "1.0.200",
        Purl::new("cargo", "serde", "1.0.200").to_string(),
        &["MIT OR Apache-2.0", "Unicode-3.0"],
        at(b"app layer", "usr/local/bin/server"),
    );

    let mut jackson = package(
        Ecosystem::Java,
        "jackson-databind",
        "2.17.0",
        Purl::new("maven", "jackson-databind", "2.17.0")
            .namespace("com.fasterxml.jackson.core")
            .to_string(),
        &[
            "The Apache Software License, Version 2.0",
            "GPL 2+ (see COPYING)",
        ],
        at(b"app layer", "app/lib/jackson-databind-2.17.0.jar"),
    );
    jackson
        .properties
        .insert("group".into(), "com.fasterxml.jackson.core".into());

    // Every identifier and exception the licence module knows, to check its lists against
    // the validators' copies of the SPDX lists.
    let everything = package(
        Ecosystem::Npm,
        "every-license",
        "1.0.0",
        Purl::new("npm", "every-license", "1.0.0").to_string(),
        LICENSE_IDS,
        at(b"app layer", "app/node_modules/every-license/package.json"),
    );
    let exceptions: Vec<String> = EXCEPTION_IDS
        .iter()
        .map(|exception| format!("GPL-2.0-or-later WITH {exception}"))
        .collect();
    let exceptions: Vec<&str> = exceptions.iter().map(String::as_str).collect();
    let every_exception = package(
        Ecosystem::Npm,
        "every-exception",
        "1.0.0",
        Purl::new("npm", "every-exception", "1.0.0").to_string(),
        &exceptions,
        at(
            b"app layer",
            "app/node_modules/every-exception/package.json",
        ),
    );

    Inventory {
        distro: Some(debian),
        packages: vec![
            zlib,
            perl,
            musl,
            bash,
            requests,
            babel,
            cobra,
            serde,
            jackson,
            everything,
            every_exception,
        ],
        warnings: vec![
            "var/lib/dpkg/status.d/broken: no Package field".into(),
            "usr/local/bin/app: Go build information is truncated".into(),
        ],
    }
}

const CREATED: i64 = 1_714_564_800;

fn cyclonedx() -> Vec<u8> {
    cyclonedx_json(&inventory(), &subject(), CREATED, "0.1.0")
}

fn spdx() -> Vec<u8> {
    spdx_json(&inventory(), &subject(), CREATED, "0.1.0")
}

/// `document` parsed, changed by `change`, and written again.
fn broken(document: &[u8], change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(document).unwrap();
    change(&mut value);
    serde_json::to_vec_pretty(&value).unwrap()
}

#[test]
fn cyclonedx_document_passes_the_cyclonedx_validator() {
    let Some(venv) = validators() else { return };
    let venv = venv.as_path();
    let document = cyclonedx();
    let value: Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(value["specVersion"], "1.6");
    let verdict = validate_cyclonedx(venv, "vouch.cdx.json", &document);
    assert!(verdict.valid, "{}", verdict.said);
}

#[test]
fn cyclonedx_validator_rejects_broken_documents() {
    let Some(venv) = validators() else { return };
    let venv = venv.as_path();
    let document = cyclonedx();
    let unknown_version = broken(&document, |bom| bom["specVersion"] = "9.9".into());
    let verdict = validate_cyclonedx(venv, "spec-version-9.9.cdx.json", &unknown_version);
    assert!(!verdict.valid, "{}", verdict.said);
    assert!(
        verdict.said.contains("not a CycloneDX version"),
        "{}",
        verdict.said
    );

    // What vouch must never write: a licence id that is not on the SPDX list.
    let bad_license_id = broken(&document, |bom| {
        bom["components"][1]["licenses"][0]["license"]["id"] = "GPL-2+".into();
    });
    let verdict = validate_cyclonedx(venv, "license-id-not-spdx.cdx.json", &bad_license_id);
    assert!(!verdict.valid, "{}", verdict.said);
    assert!(verdict.said.contains("GPL-2+"), "{}", verdict.said);
}

#[test]
fn spdx_document_passes_pyspdxtools() {
    let Some(venv) = validators() else { return };
    let venv = venv.as_path();
    let document = spdx();
    let value: Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(value["spdxVersion"], "SPDX-2.3");
    let verdict = validate_spdx(venv, "vouch.spdx.json", &document);
    assert!(verdict.valid, "{}", verdict.said);
}

#[test]
fn pyspdxtools_rejects_broken_documents() {
    let Some(venv) = validators() else { return };
    let venv = venv.as_path();
    let document = spdx();
    let no_spdx_id = broken(&document, |doc| {
        doc["packages"][2].as_object_mut().unwrap().remove("SPDXID");
    });
    let verdict = validate_spdx(venv, "package-without-spdxid.spdx.json", &no_spdx_id);
    assert!(!verdict.valid, "{}", verdict.said);
    assert!(verdict.said.contains("spdx_id"), "{}", verdict.said);

    // What vouch must never write: a licence reference that the document does not define.
    let undefined_ref = broken(&document, |doc| {
        doc["packages"][2]["licenseDeclared"] = "LicenseRef-undefined".into();
    });
    let verdict = validate_spdx(venv, "undefined-license-ref.spdx.json", &undefined_ref);
    assert!(!verdict.valid, "{}", verdict.said);
    assert!(
        verdict.said.contains("LicenseRef-undefined"),
        "{}",
        verdict.said
    );
}
