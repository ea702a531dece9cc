//! Bytes → every SBOM cataloger, as a file of an image layer: the first byte picks the path
//! (a dpkg status file, an apk database, the three rpm database formats, os-release, Python
//! metadata, an npm package.json, a program that may be a Go or cargo-auditable binary, a Java
//! archive), the rest is the file. Every cataloger that wants the path reads it, as `vouch
//! sbom` does. Errors and warnings are expected; a panic is a bug.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vouch_sbom::{Cataloger, catalog_file, language_catalogers, os_catalogers};

const PATHS: [&str; 12] = [
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/base",
    "lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
    "etc/os-release",
    "usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
    "app/node_modules/left-pad/package.json",
    "usr/local/bin/app",
    "opt/app/lib/app.jar",
    "usr/share/doc/libc6/copyright",
];

static CATALOGERS: LazyLock<Vec<Box<dyn Cataloger>>> = LazyLock::new(|| {
    let mut all = os_catalogers();
    all.extend(language_catalogers());
    all
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(which) % PATHS.len()];
    // A program is wanted only when it is over 4 KiB: pad short inputs so the binary
    // catalogers see them too.
    let mut padded;
    let contents = if path == "usr/local/bin/app" && file.len() <= 4096 {
        padded = file.to_vec();
        padded.resize(4097, 0);
        &padded[..]
    } else {
        file
    };
    let mut reader = contents;
    let findings = catalog_file(&CATALOGERS, path, contents.len() as u64, &mut reader);
    let _ = findings.packages.len();
});
