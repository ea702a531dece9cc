//! The language catalogers (`sbom::{python, npm, golang, rust, java}`) against syft's
//! expectations for its fixtures (tests/data/sbom/README.md), against files written here, and
//! against real installations when the tools are on this machine: a Python virtual
//! environment checked with `pip list`, npm's own `node_modules` checked with `npm query`,
//! Go binaries checked with `go version -m`, a `cargo auditable` build checked with its
//! `Cargo.lock`, and system jars checked with Python's `zipfile`. A missing tool or network
//! skips that comparison with a note on stderr.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress};
use serde_json::Value;
use vouch_sbom::golang::GoCataloger;
use vouch_sbom::java::JavaCataloger;
use vouch_sbom::npm::NpmCataloger;
use vouch_sbom::python::{PythonCataloger, normalize_name};
use vouch_sbom::rust::RustCataloger;
use vouch_sbom::{
    Cataloger, Ecosystem, Findings, Inventory, Location, Package, assemble, language_catalogers,
};

fn data_dir(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sbom")
        .join(path)
}

/// Offers every regular file under `root` (symbolic links are not followed, as in a layer)
/// to the catalogers, as the layer reader does, and assembles the inventory.
fn scan(root: &Path, catalogers: &[Box<dyn Cataloger>]) -> Inventory {
    scan_as(root, "", catalogers)
}

/// [`scan`], with `prefix` before the paths relative to `root` (as if `root` were at
/// `prefix` in an image).
fn scan_as(root: &Path, prefix: &str, catalogers: &[Box<dyn Cataloger>]) -> Inventory {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            let relative = format!(
                "{prefix}{}",
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            );
            for cataloger in catalogers {
                if !cataloger.wants(&relative, meta.len()) {
                    continue;
                }
                let mut file = File::open(&path).unwrap();
                match cataloger.read(&relative, meta.len(), &mut file) {
                    Ok(findings) => files.push((
                        Location {
                            layer: None,
                            path: relative.clone(),
                        },
                        findings,
                    )),
                    Err(e) => {
                        warnings.push(format!("{relative}: {} cataloger: {e}", cataloger.name()))
                    }
                }
            }
        }
    }
    assemble(files, warnings)
}

/// Reads one file with one cataloger.
fn read_file(cataloger: &dyn Cataloger, path: &Path, as_path: &str) -> Findings {
    let size = std::fs::metadata(path).unwrap().len();
    assert!(cataloger.wants(as_path, size), "{as_path} not wanted");
    cataloger
        .read(as_path, size, &mut File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn triples(packages: &[Package]) -> BTreeSet<(String, String, String)> {
    packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.purl.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn pairs<'a>(packages: impl IntoIterator<Item = &'a Package>) -> BTreeSet<(String, String)> {
    packages
        .into_iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn set<const N: usize>(items: [(&str, &str, &str); N]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// Runs a command that a comparison needs, and records the real tool as a peer of the test
/// ([`vouch_tests::peer_ran`]); `None` when it cannot start or fails, which fails the test
/// under `VOUCH_REQUIRE_PEERS=1` and skips `what` otherwise ([`vouch_tests::unavailable`]).
fn run(command: &mut Command, what: &str) -> Option<Output> {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    match command.output() {
        Ok(output) if output.status.success() => {
            vouch_tests::peer_ran(&program);
            Some(output)
        }
        Ok(output) => {
            let why = format!(
                "{command:?} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            vouch_tests::unavailable(what, &why);
            None
        }
        Err(e) => {
            vouch_tests::unavailable(what, &format!("{program} did not start: {e}"));
            None
        }
    }
}

fn cache_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------
// syft's fixtures

/// The EXPECTED.json cases of syft's fixtures that the language catalogers cover: installed
/// packages. The other cases are lock files and manifests (Cargo.lock, go.mod,
/// package-lock.json, requirements.txt, Pipfile.lock, Gemfile.lock) and OS package databases,
/// which these catalogers do not read.
const COVERED: [&str; 1] = ["python/testdata/site-packages/nested/"];

#[test]
fn syft_expected_cases_give_exactly_the_expected_packages() {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(data_dir("syft/EXPECTED.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let fixture = case["fixture"].as_str().unwrap();
        if !COVERED.contains(&fixture) {
            continue;
        }
        let inventory = scan(&data_dir("syft").join(fixture), &language_catalogers());
        assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
        let want: BTreeSet<_> = case["expected_packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
                    p["purl"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(triples(&inventory.packages), want, "{fixture}");
        for p in case["expected_packages"].as_array().unwrap() {
            if let Some(licenses) = p["licenses"].as_array() {
                let found = inventory
                    .packages
                    .iter()
                    .find(|f| f.name == p["name"].as_str().unwrap())
                    .unwrap();
                let licenses: Vec<_> = licenses.iter().map(|l| l.as_str().unwrap()).collect();
                assert_eq!(found.licenses, licenses, "{fixture}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, COVERED.len());
}

// ---------------------------------------------------------------------------------------
// Python

fn write(root: &Path, path: &str, contents: &[u8]) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[test]
fn python_site_packages_written_here() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let site = "usr/lib/python3/dist-packages";
    write(
        root,
        &format!("{site}/Zope.Interface-5.4.0.dist-info/METADATA"),
        b"Metadata-Version: 2.1\nName: zope.interface\nVersion: 5.4.0+local\nLicense: ZPL 2.1\n\nName: not-this\n",
    );
    write(
        root,
        &format!("{site}/old_pkg-1.0-py3.11.egg-info"),
        b"Metadata-Version: 1.0\nName: Old_Pkg\nVersion: 1.0\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\n",
    );
    write(
        root,
        &format!("{site}/Python-3.11.egg-info"),
        b"Name: Python\nVersion: 3.11\n",
    );
    write(
        root,
        &format!("{site}/git_dep-0.1.dist-info/METADATA"),
        b"Name: git-dep\nVersion: 0.1\nLicense-Expression: Apache-2.0\n",
    );
    write(
        root,
        &format!("{site}/git_dep-0.1.dist-info/direct_url.json"),
        br#"{"url": "https://example.com/git-dep.git", "vcs_info": {"vcs": "git", "commit_id": "0123abc"}}"#,
    );
    write(root, &format!("{site}/six.py"), b"# not metadata\n");
    let inventory = scan(root, &language_catalogers());
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
    assert_eq!(
        triples(&inventory.packages),
        set([
            (
                "git-dep",
                "0.1",
                "pkg:pypi/git-dep@0.1?vcs_url=git%2Bhttps%3A%2F%2Fexample.com%2Fgit-dep.git%400123abc"
            ),
            ("old-pkg", "1.0", "pkg:pypi/old-pkg@1.0"),
            (
                "zope-interface",
                "5.4.0+local",
                "pkg:pypi/zope-interface@5.4.0%2Blocal"
            ),
        ])
    );
    let licenses: BTreeMap<_, _> = inventory
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.licenses.clone()))
        .collect();
    assert_eq!(licenses["old-pkg"], ["MIT License"]);
    assert_eq!(licenses["git-dep"], ["Apache-2.0"]);
    assert_eq!(licenses["zope-interface"], ["ZPL 2.1"]);
}

#[test]
fn python_virtual_environment_matches_pip_list() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    if run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "the Python venv comparison",
    )
    .is_none()
    {
        return;
    }
    let pip = venv.join("bin/pip");
    if run(
        Command::new(&pip).args([
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "six==1.16.0",
            "idna==3.7",
            "PyYAML==6.0.2",
        ]),
        "the Python venv comparison (PyPI unreachable?)",
    )
    .is_none()
    {
        return;
    }
    let Some(listed) = run(
        Command::new(&pip).args(["list", "--format", "json", "--disable-pip-version-check"]),
        "the Python venv comparison",
    ) else {
        return;
    };
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let pip_list: BTreeSet<(String, String)> = listed
        .iter()
        .map(|p| {
            (
                normalize_name(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let catalogers: Vec<Box<dyn Cataloger>> = vec![Box::new(PythonCataloger)];
    let inventory = scan(&venv, &catalogers);
    assert!(inventory.warnings.is_empty(), "{:?}", inventory.warnings);
    let found = pairs(&inventory.packages);
    for wanted in [("six", "1.16.0"), ("idna", "3.7"), ("pyyaml", "6.0.2")] {
        assert!(
            pip_list.contains(&(wanted.0.to_string(), wanted.1.to_string())),
            "{wanted:?} not in pip list {pip_list:?}"
        );
    }
    let missing: Vec<_> = pip_list.difference(&found).collect();
    assert!(missing.is_empty(), "pip lists {missing:?}, not found");
    // Anything found beyond pip's list is vendored inside another distribution.
    for package in &inventory.packages {
        if !pip_list.contains(&(package.name.clone(), package.version.clone())) {
            assert!(
                package
                    .locations
                    .iter()
                    .all(|l| l.path.contains("/_vendor/")),
                "{package:?} found but not listed by pip"
            );
        }
        let purl = format!("pkg:pypi/{}@{}", package.name, package.version);
        assert_eq!(package.purl.as_deref(), Some(purl.as_str()));
    }
    eprintln!(
        "python venv: {} packages listed by pip, {} found",
        pip_list.len(),
        found.len()
    );
}

// ---------------------------------------------------------------------------------------
// npm

#[test]
fn npm_node_modules_written_here() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/package.json",
        br#"{"name": "my-app", "version": "1.0.0"}"#,
    );
    write(
        root,
        "app/node_modules/left-pad/package.json",
        br#"{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}"#,
    );
    write(
        root,
        "app/node_modules/@babel/core/package.json",
        br#"{"name": "@babel/core", "version": "7.24.0", "license": {"type": "MIT"}, "readme": "a long text"}"#,
    );
    write(
        root,
        "app/node_modules/@babel/core/node_modules/semver/package.json",
        br#"{"name": "semver", "version": "6.3.1", "licenses": [{"type": "ISC"}]}"#,
    );
    write(
        root,
        "app/node_modules/@babel/core/lib/package.json",
        br#"{"type": "commonjs"}"#,
    );
    write(root, "app/node_modules/broken/package.json", b"{\"name\": ");
    let inventory = scan(root, &language_catalogers());
    assert_eq!(
        triples(&inventory.packages),
        set([
            ("@babel/core", "7.24.0", "pkg:npm/%40babel/core@7.24.0"),
            ("left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"),
            ("semver", "6.3.1", "pkg:npm/semver@6.3.1"),
        ])
    );
    let licenses: Vec<_> = inventory
        .packages
        .iter()
        .map(|p| p.licenses.clone())
        .collect();
    assert_eq!(licenses, [vec!["MIT"], vec!["WTFPL"], vec!["ISC"]]);
    assert_eq!(inventory.warnings.len(), 1, "{:?}", inventory.warnings);
    assert!(inventory.warnings[0].starts_with("app/node_modules/broken/package.json"));
}

/// The executable `name` on `PATH`, if any.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[test]
fn npm_own_node_modules_match_npm_query() {
    // npm's own package: `npm` is `<root>/bin/npm-cli.js` behind a link (nodesource puts it in
    // /usr/lib/node_modules/npm, Debian in /usr/share/nodejs/npm).
    let npm_root = which("npm")
        .and_then(|npm| std::fs::canonicalize(npm).ok())
        .and_then(|cli| cli.parent()?.parent().map(Path::to_owned))
        .filter(|root| root.join("package.json").is_file());
    let Some(npm_root) = npm_root else {
        vouch_tests::unavailable(
            "the npm comparison",
            "no npm with its package.json installed",
        );
        return;
    };
    let npm_root = npm_root.as_path();
    let Some(output) = run(
        Command::new("npm")
            .arg("query")
            .arg("*")
            .current_dir(npm_root),
        "the npm comparison",
    ) else {
        return;
    };
    let nodes: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let queried: BTreeSet<(String, String)> = nodes
        .iter()
        .filter_map(|n| {
            Some((
                n["name"].as_str()?.to_owned(),
                n["version"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let catalogers: Vec<Box<dyn Cataloger>> = vec![Box::new(NpmCataloger)];
    let inventory = scan_as(
        Path::new("/usr/lib/node_modules"),
        "usr/lib/node_modules/",
        &catalogers,
    );
    let found: BTreeSet<_> = pairs(inventory.packages.iter().filter(|p| {
        p.locations
            .iter()
            .any(|l| l.path.starts_with("usr/lib/node_modules/npm/"))
    }));
    let missing: Vec<_> = queried.difference(&found).collect();
    assert!(missing.is_empty(), "npm query lists {missing:?}, not found");
    // Extra finds are package.json files inside a package's own directories, which npm does
    // not count as packages (syft reports them too).
    for package in &inventory.packages {
        if package
            .locations
            .iter()
            .any(|l| l.path.starts_with("usr/lib/node_modules/npm/"))
            && !queried.contains(&(package.name.clone(), package.version.clone()))
        {
            eprintln!(
                "npm: also found {} {} at {:?}",
                package.name, package.version, package.locations
            );
        }
    }
    eprintln!(
        "npm: {} packages from npm query, {} found",
        queried.len(),
        found.len()
    );
}

// ---------------------------------------------------------------------------------------
// Go

/// `go version -m`'s view of a binary: the Go version and the (name, version) pairs syft
/// and vouch report: main module (or the `path` package at `(devel)`), dependencies with
/// replacements applied, `stdlib`.
fn go_version_m(binary: &Path) -> Option<(String, BTreeSet<(String, String)>)> {
    let output = run(
        Command::new("go").arg("version").arg("-m").arg(binary),
        "the go version -m comparison",
    )?;
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let go_version = lines
        .next()?
        .rsplit(": ")
        .next()?
        .split(' ')
        .next()?
        .to_owned();
    let mut path = None;
    let mut modules: Vec<(String, String)> = Vec::new();
    let mut has_main = false;
    for line in lines {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match fields.as_slice() {
            ["path", p, ..] => path = Some(p.to_string()),
            ["mod", p, v, ..] => {
                has_main = true;
                modules.push((p.to_string(), v.to_string()));
            }
            ["dep", p, v, ..] => modules.push((p.to_string(), v.to_string())),
            ["=>", p, rest @ ..] => {
                let last = modules.last_mut().unwrap();
                *last = (p.to_string(), rest.first().unwrap_or(&"").to_string());
            }
            _ => {}
        }
    }
    if !has_main && let Some(path) = path {
        modules.push((path, "(devel)".into()));
    }
    if !modules.is_empty() {
        modules.push(("stdlib".into(), go_version.clone()));
    }
    Some((go_version, modules.into_iter().collect()))
}

fn assert_matches_go_version_m(binary: &Path) {
    let Some((go_version, want)) = go_version_m(binary) else {
        return;
    };
    let started = Instant::now();
    let findings = read_file(&GoCataloger, binary, "usr/bin/app");
    assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    assert_eq!(pairs(&findings.packages), want, "{}", binary.display());
    for package in &findings.packages {
        assert_eq!(package.properties["go_version"], go_version);
        assert!(package.purl.as_deref().unwrap().starts_with("pkg:golang/"));
    }
    eprintln!(
        "go: {} ({go_version}): {} packages, as go version -m, in {:?}",
        binary.display(),
        findings.packages.len(),
        started.elapsed()
    );
}

#[test]
fn go_binaries_on_this_machine_match_go_version_m() {
    let mut compared = 0;
    for binary in [
        "/usr/local/bin/docker",
        "/usr/bin/docker",
        "/usr/bin/skopeo",
        "/usr/bin/umoci",
    ] {
        let binary = Path::new(binary);
        if binary.is_file() {
            assert_matches_go_version_m(binary);
            compared += 1;
        }
    }
    if compared == 0 {
        // skopeo and umoci, which .ci/run installs, are Go binaries.
        vouch_tests::unavailable("a Go binary on this machine", "no skopeo, umoci or docker");
    }
}

/// Publishes `module@version` (a package of the same last name with `func Name() string`)
/// in a Go module proxy directory (the GOPROXY protocol, served with `file://`).
fn publish_go_module(proxy: &Path, module: &str, version: &str) {
    let name = module.rsplit('/').next().unwrap();
    let go_mod = format!("module {module}\n\ngo 1.19\n");
    let source =
        format!("package {name}\n\nfunc Name() string {{ return \"{module}@{version}\" }}\n");
    let mut zip = Zip::default();
    zip.add(
        &format!("{module}@{version}/go.mod"),
        go_mod.as_bytes(),
        Method::Deflated,
    )
    .add(
        &format!("{module}@{version}/{name}.go"),
        source.as_bytes(),
        Method::Deflated,
    );
    let dir = format!("{module}/@v");
    write(proxy, &format!("{dir}/{version}.mod"), go_mod.as_bytes());
    write(proxy, &format!("{dir}/{version}.zip"), &zip.finish());
    write(
        proxy,
        &format!("{dir}/{version}.info"),
        format!("{{\"Version\":\"{version}\",\"Time\":\"2024-01-01T00:00:00Z\"}}").as_bytes(),
    );
    let list = proxy.join(format!("{dir}/list"));
    let mut versions = std::fs::read_to_string(&list).unwrap_or_default();
    versions.push_str(&format!("{version}\n"));
    std::fs::write(list, versions).unwrap();
}

#[test]
fn go_binary_built_here_matches_go_version_m() {
    if run(Command::new("go").arg("version"), "the Go build comparison").is_none() {
        return;
    }
    let cache = cache_dir("go-cache");
    let dir = tempfile::tempdir().unwrap();
    let proxy = dir.path().join("proxy");
    publish_go_module(&proxy, "example.com/other", "v0.1.0");
    publish_go_module(&proxy, "example.com/dep", "v1.2.3");
    publish_go_module(&proxy, "example.com/dep", "v1.3.0");
    let src = dir.path().join("src");
    write(
        &src,
        "go.mod",
        b"module example.com/vouchtest\n\ngo 1.19\n\nrequire (\n\texample.com/dep v1.2.3\n\texample.com/other v0.1.0\n\texample.com/local v0.0.0\n)\n\nreplace example.com/local => ./local\n\nreplace example.com/dep v1.2.3 => example.com/dep v1.3.0\n",
    );
    write(
        &src,
        "main.go",
        b"package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n\t\"example.com/local\"\n\t\"example.com/other\"\n)\n\nfunc main() { fmt.Println(dep.Name(), local.Name(), other.Name()) }\n",
    );
    write(
        &src,
        "local/go.mod",
        b"module example.com/local\n\ngo 1.19\n",
    );
    write(
        &src,
        "local/local.go",
        b"package local\n\nfunc Name() string { return \"local\" }\n",
    );
    let go = |args: &[&str]| {
        let mut command = Command::new("go");
        command
            .args(args)
            .current_dir(&src)
            .env("GOPATH", cache.join("gopath"))
            .env("GOMODCACHE", dir.path().join("modcache"))
            .env("GOCACHE", cache.join("build"))
            .env("GOPROXY", format!("file://{}", proxy.display()))
            .env("GOSUMDB", "off")
            .env("GOFLAGS", "-mod=mod -modcacherw")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0");
        command
    };
    if run(&mut go(&["mod", "tidy"]), "the Go build comparison").is_none()
        || run(
            &mut go(&["build", "-o", "app", "."]),
            "the Go build comparison",
        )
        .is_none()
    {
        return;
    }
    let binary = src.join("app");
    assert_matches_go_version_m(&binary);
    let findings = read_file(&GoCataloger, &binary, "app");
    let found = pairs(&findings.packages);
    for (name, version) in [
        ("example.com/vouchtest", "(devel)"),
        ("example.com/other", "v0.1.0"),
        ("example.com/dep", "v1.3.0"),
        // Go records a replacement by a directory at version (devel).
        ("./local", "(devel)"),
    ] {
        assert!(
            found.contains(&(name.to_string(), version.to_string())),
            "{name} {version} not in {found:?}"
        );
    }
    let dep = findings
        .packages
        .iter()
        .find(|p| p.name == "example.com/dep")
        .unwrap();
    assert_eq!(
        dep.purl.as_deref(),
        Some("pkg:golang/example.com/dep@v1.3.0")
    );
    assert_eq!(dep.properties["main_module"], "example.com/vouchtest");
}

// ---------------------------------------------------------------------------------------
// Rust

/// The (name, version) pairs of a `Cargo.lock`.
fn cargo_lock_packages(lock: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(name) = name.take()
        {
            out.insert((name, value.trim_matches('"').to_owned()));
        }
    }
    out
}

#[test]
fn cargo_auditable_binary_built_here_matches_its_lock_file() {
    if run(
        Command::new("cargo").args(["auditable", "--version"]),
        "the cargo-auditable comparison (cargo install cargo-auditable)",
    )
    .is_none()
    {
        return;
    }
    let dir = cache_dir("auditable-hello");
    write(
        &dir,
        "Cargo.toml",
        b"[package]\nname = \"vouch-auditable-hello\"\nversion = \"0.3.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\n\n[workspace]\n",
    );
    write(
        &dir,
        "src/main.rs",
        b"fn main() {\n    println!(\"{}\", itoa::Buffer::new().format(42));\n}\n",
    );
    if run(
        Command::new("cargo")
            .args(["auditable", "build", "--release", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .env_remove("RUSTFLAGS"),
        "the cargo-auditable comparison (crates.io unreachable?)",
    )
    .is_none()
    {
        return;
    }
    let binary = dir.join("target/release/vouch-auditable-hello");
    let want = cargo_lock_packages(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap());
    assert_eq!(want.len(), 2, "{want:?}");
    let findings = read_file(
        &RustCataloger,
        &binary,
        "usr/local/bin/vouch-auditable-hello",
    );
    assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    assert_eq!(pairs(&findings.packages), want);
    let root = findings
        .packages
        .iter()
        .find(|p| p.name == "vouch-auditable-hello")
        .unwrap();
    assert_eq!(
        root.purl.as_deref(),
        Some("pkg:cargo/vouch-auditable-hello@0.3.0")
    );
    assert_eq!(root.properties["source"], "local");

    // The same binary stripped: only .dep-v0, .shstrtab and the section headers remain
    // after the loaded segments.
    let stripped = dir.join("stripped");
    if run(
        Command::new("strip").arg("-o").arg(&stripped).arg(&binary),
        "the stripped cargo-auditable comparison",
    )
    .is_some()
    {
        let findings = read_file(&RustCataloger, &stripped, "app");
        assert_eq!(pairs(&findings.packages), want);
    }
    // Every other binary is left without findings or warnings.
    for other in ["/usr/bin/ls", "/usr/bin/skopeo"] {
        let path = Path::new(other);
        if path.is_file() {
            assert_eq!(
                read_file(&RustCataloger, path, "usr/bin/x"),
                Findings::default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Java

/// A zip archive writer: entries stored or deflated, with or without data descriptors, and
/// a central directory so that other tools can read the result.
#[derive(Default)]
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Stored,
    Deflated,
    /// Deflated, sizes and CRC in a data descriptor after the data.
    DeflatedWithDescriptor,
}

impl Zip {
    fn add(&mut self, name: &str, data: &[u8], method: Method) -> &mut Self {
        let mut crc = Crc::new();
        crc.update(data);
        let compressed = match method {
            Method::Stored => data.to_vec(),
            _ => {
                let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
                encoder.write_all(data).unwrap();
                encoder.finish().unwrap()
            }
        };
        self.add_raw(name, &compressed, data.len() as u64, crc.sum(), method)
    }

    fn add_raw(
        &mut self,
        name: &str,
        compressed: &[u8],
        size: u64,
        crc: u32,
        method: Method,
    ) -> &mut Self {
        let descriptor = method == Method::DeflatedWithDescriptor;
        let code: u16 = if method == Method::Stored { 0 } else { 8 };
        let flags: u16 = if descriptor { 8 } else { 0 };
        let offset = self.out.len() as u32;
        let (header_crc, header_csize, header_size) = if descriptor {
            (0, 0, 0)
        } else {
            (crc, compressed.len() as u32, size as u32)
        };
        let mut local = Vec::new();
        local.extend(0x0403_4b50u32.to_le_bytes());
        local.extend(20u16.to_le_bytes());
        local.extend(flags.to_le_bytes());
        local.extend(code.to_le_bytes());
        local.extend([0u8; 4]);
        local.extend(header_crc.to_le_bytes());
        local.extend(header_csize.to_le_bytes());
        local.extend(header_size.to_le_bytes());
        local.extend((name.len() as u16).to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(name.as_bytes());
        self.out.extend(&local);
        self.out.extend(compressed);
        if descriptor {
            self.out.extend(0x0807_4b50u32.to_le_bytes());
            self.out.extend(crc.to_le_bytes());
            self.out.extend((compressed.len() as u32).to_le_bytes());
            self.out.extend((size as u32).to_le_bytes());
        }
        let mut central = Vec::new();
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(flags.to_le_bytes());
        central.extend(code.to_le_bytes());
        central.extend([0u8; 4]);
        central.extend(crc.to_le_bytes());
        central.extend((compressed.len() as u32).to_le_bytes());
        central.extend((size as u32).to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0u8; 12]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
        self.central.extend(central);
        self.entries += 1;
        self
    }

    fn finish(&self) -> Vec<u8> {
        let mut out = self.out.clone();
        let start = out.len() as u32;
        out.extend(&self.central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend(self.entries.to_le_bytes());
        out.extend(self.entries.to_le_bytes());
        out.extend((self.central.len() as u32).to_le_bytes());
        out.extend(start.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }
}

fn pom(group: &str, artifact: &str, version: &str) -> Vec<u8> {
    format!("#Generated by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n")
        .into_bytes()
}

fn read_jar(cataloger: JavaCataloger, path: &str, bytes: &[u8]) -> Findings {
    assert!(cataloger.wants(path, bytes.len() as u64));
    cataloger
        .read(path, bytes.len() as u64, &mut &bytes[..])
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn java_archives_written_here_with_nested_jars() {
    let manifest = |title: &str| {
        format!("Manifest-Version: 1.0\r\nImplementation-Title: {title}\r\n\r\n").into_bytes()
    };
    let mut inner = Zip::default();
    inner
        .add(
            "META-INF/MANIFEST.MF",
            &manifest("inner"),
            Method::DeflatedWithDescriptor,
        )
        .add(
            "META-INF/maven/org.example/inner/pom.properties",
            &pom("org.example", "inner", "1.0"),
            Method::DeflatedWithDescriptor,
        )
        .add(
            "org/example/Inner.class",
            &[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52],
            Method::DeflatedWithDescriptor,
        );
    let inner = inner.finish();
    let mut shaded = Zip::default();
    shaded
        .add("META-INF/MANIFEST.MF", &manifest("shaded"), Method::Stored)
        .add(
            "META-INF/maven/com.acme/shaded/pom.properties",
            &pom("com.acme", "shaded", "2.0"),
            Method::Stored,
        )
        .add(
            "META-INF/maven/com.google.guava/guava/pom.properties",
            &pom("com.google.guava", "guava", "31.1-jre"),
            Method::Deflated,
        );
    let shaded = shaded.finish();
    let mut deeper = Zip::default();
    deeper
        .add("META-INF/MANIFEST.MF", &manifest("deeper"), Method::Stored)
        .add("lib/deepest-9.jar", &inner, Method::Stored);
    let deeper = deeper.finish();

    let mut war = Zip::default();
    war.add("META-INF/", b"", Method::Stored)
        .add(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nBundle-License: Apache-2.0\n",
            Method::DeflatedWithDescriptor,
        )
        .add(
            "WEB-INF/lib/inner-1.0.jar",
            &inner,
            Method::DeflatedWithDescriptor,
        )
        .add("BOOT-INF/lib/shaded-2.0.jar", &shaded, Method::Stored)
        .add("WEB-INF/lib/deeper-3.jar", &deeper, Method::Deflated)
        .add(
            "META-INF/maven/com.acme/webapp/pom.properties",
            &pom("com.acme", "webapp", "4.5.6"),
            Method::Deflated,
        )
        .add(
            "META-INF/maven/com.acme/incomplete/pom.properties",
            b"groupId=com.acme\nartifactId=incomplete\n",
            Method::Deflated,
        );
    let war = war.finish();
    let findings = read_jar(JavaCataloger::default(), "opt/app/webapp-4.5.6.war", &war);
    assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    assert_eq!(
        triples(&findings.packages),
        set([
            ("webapp", "4.5.6", "pkg:maven/com.acme/webapp@4.5.6"),
            ("inner", "1.0", "pkg:maven/org.example/inner@1.0"),
            ("shaded", "2.0", "pkg:maven/com.acme/shaded@2.0"),
            (
                "guava",
                "31.1-jre",
                "pkg:maven/com.google.guava/guava@31.1-jre"
            ),
            // A manifest and no pom.properties: named by its file name.
            ("deeper", "3", "pkg:maven/deeper/deeper@3"),
        ])
    );
    let by_name: BTreeMap<_, _> = findings
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    assert_eq!(by_name["webapp"].licenses, ["Apache-2.0"]);
    assert_eq!(
        by_name["inner"].properties["nested_archive"],
        "WEB-INF/lib/inner-1.0.jar"
    );
    assert_eq!(by_name["guava"].properties["group"], "com.google.guava");
    assert!(!by_name["webapp"].properties.contains_key("nested_archive"));

    // A launcher script before the first entry (a "fully executable" jar).
    let mut executable = b"#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n".to_vec();
    executable.extend(&inner);
    let findings = read_jar(JavaCataloger::default(), "app/bin/inner.jar", &executable);
    assert_eq!(
        pairs(&findings.packages),
        [("inner".to_string(), "1.0".to_string())].into()
    );
}

#[test]
fn java_archives_that_are_not_zip_files_are_warnings() {
    for (bytes, why) in [
        (&b""[..], "empty"),
        (&b"not a zip file at all"[..], "no local file header"),
        (&b"PK\x03\x04\x14\x00"[..], "cut short"),
    ] {
        let findings = read_jar(JavaCataloger::default(), "a.jar", bytes);
        assert!(findings.packages.is_empty());
        assert_eq!(findings.warnings.len(), 1);
        assert!(
            findings.warnings[0].contains(why),
            "{:?}",
            findings.warnings
        );
    }
    // A truncated archive keeps what was read before the cut.
    let mut zip = Zip::default();
    zip.add(
        "META-INF/maven/g/a/pom.properties",
        &pom("g", "a", "1"),
        Method::Deflated,
    )
    .add(
        "big.bin",
        &vec![7u8; 100_000],
        Method::DeflatedWithDescriptor,
    );
    let bytes = zip.finish();
    // In the data descriptor of the last entry, and in its data.
    for cut in [zip.out.len() - 5, zip.out.len() - 40] {
        let findings = read_jar(JavaCataloger::default(), "a.jar", &bytes[..cut]);
        assert_eq!(
            pairs(&findings.packages),
            [("a".to_string(), "1".to_string())].into()
        );
        assert_eq!(findings.warnings.len(), 1, "{:?}", findings.warnings);
    }
}

/// A raw deflate stream of `mib` MiB of zeros, built without inflating or compressing it
/// all: one 1 MiB block, fully flushed (so it stands alone), repeated, then the final block.
fn deflated_zeros(mib: usize) -> Vec<u8> {
    let mut compress = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 20);
    compress
        .compress_vec(&vec![0u8; 1 << 20], &mut block, FlushCompress::Full)
        .unwrap();
    assert_eq!(compress.total_in(), 1 << 20);
    let mut end = Vec::with_capacity(64);
    compress
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .unwrap();
    let mut out = Vec::with_capacity(block.len() * mib + end.len());
    for _ in 0..mib {
        out.extend(&block);
    }
    out.extend(end);
    out
}

/// The peak resident set size of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn java_zip_bomb_stops_at_the_inflation_limit() {
    // Sanity check of the bomb: 3 MiB of zeros inflate from it.
    let small = deflated_zeros(3);
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::DeflateDecoder::new(&small[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated.len(), 3 << 20);
    assert!(inflated.iter().all(|&b| b == 0));

    // 1.5 GiB of zeros in about 1.5 MB, its size known only after it.
    let bomb = deflated_zeros(1536);
    eprintln!(
        "zip bomb: {} bytes of deflate for {} bytes",
        bomb.len(),
        1536u64 << 20
    );
    let mut zip = Zip::default();
    zip.add(
        "META-INF/maven/g/before/pom.properties",
        &pom("g", "before", "1"),
        Method::Deflated,
    )
    .add_raw(
        "zeros.bin",
        &bomb,
        1536 << 20,
        0,
        Method::DeflatedWithDescriptor,
    )
    .add(
        "META-INF/maven/g/after/pom.properties",
        &pom("g", "after", "2"),
        Method::Deflated,
    );
    let bytes = zip.finish();
    let started = Instant::now();
    let findings = read_jar(JavaCataloger::default(), "bomb.jar", &bytes);
    let elapsed = started.elapsed();
    eprintln!(
        "zip bomb: stopped after {elapsed:?}: {:?}",
        findings.warnings
    );
    assert_eq!(
        pairs(&findings.packages),
        [("before".to_string(), "1".to_string())].into()
    );
    assert_eq!(findings.warnings.len(), 1);
    assert!(
        findings.warnings[0].contains("inflated"),
        "{:?}",
        findings.warnings
    );
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");

    // A smaller limit stops sooner.
    let started = Instant::now();
    let findings = read_jar(
        JavaCataloger::with_inflate_limit(64 << 20),
        "bomb.jar",
        &bytes,
    );
    assert_eq!(findings.warnings.len(), 1);
    assert!(started.elapsed() < elapsed);

    // With its size in the local header, the bomb is skipped without being inflated, and
    // the entries after it are read.
    let mut zip = Zip::default();
    zip.add_raw("zeros.bin", &bomb, 1536 << 20, 0, Method::Deflated)
        .add(
            "META-INF/maven/g/after/pom.properties",
            &pom("g", "after", "2"),
            Method::Deflated,
        );
    let started = Instant::now();
    let findings = read_jar(JavaCataloger::default(), "bomb.jar", &zip.finish());
    assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    assert_eq!(
        pairs(&findings.packages),
        [("after".to_string(), "2".to_string())].into()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A bomb in place of a pom.properties: kept entries are capped at 1 MiB.
    let mut zip = Zip::default();
    zip.add_raw(
        "META-INF/maven/g/x/pom.properties",
        &deflated_zeros(64),
        64 << 20,
        0,
        Method::Deflated,
    )
    .add(
        "META-INF/maven/g/after/pom.properties",
        &pom("g", "after", "2"),
        Method::Deflated,
    );
    let findings = read_jar(JavaCataloger::default(), "bomb.jar", &zip.finish());
    assert_eq!(
        pairs(&findings.packages),
        [("after".to_string(), "2".to_string())].into()
    );
    assert_eq!(findings.warnings.len(), 1, "{:?}", findings.warnings);

    if let Some(peak) = peak_rss() {
        eprintln!("zip bomb: peak RSS of the test process {} MiB", peak >> 20);
        // The whole test process, other tests running alongside included.
        assert!(peak < 100 << 20, "peak RSS {} MiB", peak >> 20);
    }
}

#[test]
fn java_archives_made_by_jar_and_zip_tools() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "content/META-INF/maven/com.example/demo/pom.properties",
        &pom("com.example", "demo", "1.2.3"),
    );
    write(
        root,
        "content/META-INF/maven/org.dep/dep/pom.properties",
        &pom("org.dep", "dep", "0.9"),
    );
    write(root, "content/com/example/Demo.txt", &vec![b'x'; 50_000]);
    write(
        root,
        "manifest.txt",
        b"Implementation-Title: demo\nImplementation-Version: 1.2.3\n",
    );
    let want: BTreeSet<(String, String, String)> = set([
        ("demo", "1.2.3", "pkg:maven/com.example/demo@1.2.3"),
        ("dep", "0.9", "pkg:maven/org.dep/dep@0.9"),
    ]);
    let mut made = 0;
    // `jar` writes deflated entries with data descriptors (java.util.zip.ZipOutputStream).
    if run(
        Command::new("jar")
            .args([
                "cfm",
                "demo-1.2.3.jar",
                "manifest.txt",
                "-C",
                "content",
                ".",
            ])
            .current_dir(root),
        "the jar tool comparison",
    )
    .is_some()
    {
        let findings = read_file(
            &JavaCataloger::default(),
            &root.join("demo-1.2.3.jar"),
            "app/demo-1.2.3.jar",
        );
        assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
        assert_eq!(triples(&findings.packages), want);
        made += 1;
    }
    // `zip` writes sizes in the local headers; -0 stores, the default deflates.
    for (name, flag) in [("stored-1.jar", "-0"), ("deflated-1.jar", "-6")] {
        if run(
            Command::new("zip")
                .args(["-q", "-r", flag])
                .arg(root.join(name))
                .arg(".")
                .current_dir(root.join("content")),
            "the zip tool comparison",
        )
        .is_some()
        {
            // No manifest: the pom.properties only.
            let findings = read_file(&JavaCataloger::default(), &root.join(name), name);
            assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
            assert_eq!(triples(&findings.packages), want, "{name}");
            made += 1;
        }
    }
    eprintln!("java: {made} archives made by jar/zip read");
}

#[test]
fn java_system_jars_match_python_zipfile() {
    let jars = Path::new("/usr/share/java");
    let Ok(entries) = std::fs::read_dir(jars) else {
        vouch_tests::unavailable(
            "the system jar comparison",
            &format!(
                "no {} (a Debian Java library package installs it)",
                jars.display()
            ),
        );
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jar")
                && std::fs::symlink_metadata(p).unwrap().is_file()
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        vouch_tests::unavailable(
            "the system jar comparison",
            &format!("no jar in {}", jars.display()),
        );
        return;
    }
    // Python's zipfile reads the central directory: an independent view of the entries.
    let script = r##"
import json, sys, zipfile
out = {}
for path in sys.argv[1:]:
    poms = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                props = {}
                for line in z.read(name).decode("utf-8", "replace").splitlines():
                    line = line.strip()
                    if not line or line[0] in "#!":
                        continue
                    for sep in "=:":
                        if sep in line:
                            k, v = line.split(sep, 1)
                            props[k.strip()] = v.strip()
                            break
                if props.get("artifactId") and props.get("version"):
                    poms.append([props["artifactId"], props["version"]])
    out[path] = poms
print(json.dumps(out))
"##;
    let Some(output) = run(
        Command::new("python3").arg("-c").arg(script).args(&paths),
        "the system jar comparison",
    ) else {
        return;
    };
    let expected: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_slice(&output.stdout).unwrap();
    let mut poms = 0;
    for path in &paths {
        let as_path = format!(
            "usr/share/java/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let findings = read_file(&JavaCataloger::default(), path, &as_path);
        assert!(
            findings.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            findings.warnings
        );
        let found = pairs(&findings.packages);
        for coordinates in &expected[path.to_str().unwrap()] {
            assert!(
                found.contains(coordinates),
                "{}: {coordinates:?} not in {found:?}",
                path.display()
            );
            poms += 1;
        }
        for package in &findings.packages {
            assert_eq!(package.ecosystem, Ecosystem::Java);
            assert!(package.purl.as_deref().unwrap().starts_with("pkg:maven/"));
        }
    }
    eprintln!(
        "java: {} system jars, {poms} pom.properties found as zipfile reads them",
        paths.len()
    );
}
