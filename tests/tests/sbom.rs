//! `vouch sbom` on real data, end to end: an image built in the test from this machine's own
//! dpkg database (and its copyright files) and a Python venv of real PyPI packages, pushed to
//! the real registry, must list exactly what `dpkg-query -W` and `pip list` report; a
//! package deleted in an upper layer (whiteout) is absent and one reinstalled at another
//! version shows the upper version. The SBOM is then attested and verified, and broken
//! layers are refused by name.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use vouch_tests::{
    Registry, generate_key, run, skopeo_push, tool, unique, vouch, vouch_with_password,
};

/// Python packages installed into the test venv (small, pure Python, no build step).
const PYTHON_PACKAGES: &[&str] = &[
    "six==1.16.0",
    "idna==3.7",
    "certifi==2024.7.4",
    "charset-normalizer==3.3.2",
    "urllib3==2.2.2",
    "requests==2.32.3",
    "packaging==24.1",
    "attrs==23.2.0",
    "pyparsing==3.1.2",
    "click==8.1.7",
    "MarkupSafe==2.1.5",
    "Jinja2==3.1.4",
    "zipp==3.19.2",
];

/// The site-packages path inside the image.
const SITE: &str = "usr/local/lib/python3.11/site-packages";

/// Installed Debian packages as `dpkg-query` reports them: (name, version).
fn dpkg_installed() -> Option<BTreeSet<(String, String)>> {
    let output = match Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"])
        .output()
    {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            vouch_tests::unavailable("dpkg's package database", why.trim());
            return None;
        }
        Err(e) => {
            vouch_tests::unavailable("dpkg-query", &e.to_string());
            return None;
        }
    };
    vouch_tests::peer_ran("dpkg-query");
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("ii"))
            .map(|l| {
                let mut parts = l.split('\t').skip(1);
                (
                    parts.next().unwrap().to_owned(),
                    parts.next().unwrap().to_owned(),
                )
            })
            .collect(),
    )
}

/// A venv in `dir` with `packages` from PyPI; its site-packages directory, or `None` (and a
/// test fails under `VOUCH_REQUIRE_PEERS=1`, else is skipped) when PyPI cannot be reached.
fn venv(dir: &Path, packages: &[&str]) -> Option<PathBuf> {
    tool("python3", &["-m", "venv", dir.to_str().unwrap()]);
    let mut args = vec![
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
    ];
    args.extend_from_slice(packages);
    let pip = run(dir.join("bin/pip"), &args);
    if pip.code != 0 {
        vouch_tests::unavailable(
            "packages from PyPI",
            pip.stderr.lines().last().unwrap_or_default(),
        );
        return None;
    }
    vouch_tests::peer_ran("pip");
    let lib = dir.join("lib");
    let python = fs::read_dir(&lib).unwrap().next().unwrap().unwrap().path();
    Some(python.join("site-packages"))
}

/// `pip list` of a venv's site-packages: normalized name (PEP 503) and version.
fn pip_list(site: &Path) -> BTreeSet<(String, String)> {
    let venv = site.ancestors().nth(3).unwrap();
    let output = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "list",
            "--format",
            "json",
            "--disable-pip-version-check",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                normalize(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// PEP 503 name normalization.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Copies `from` (a file or directory) to `root/to`.
fn stage(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .args(["-a", "--no-dereference"])
        .arg(from)
        .arg(&dest)
        .status()
        .unwrap();
    assert!(status.success());
}

/// An OCI layout `dir/layout` with an empty image tagged `v1`.
fn empty_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    tool("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    tool(
        "umoci",
        &["new", "--image", &format!("{}:v1", layout.display())],
    );
    layout
}

/// Appends `root`'s tree as one uncompressed tar layer (umoci gzips it) to `layout:tag`.
fn add_layer(layout: &Path, tag: &str, root: &Path) {
    let tar = root.with_extension("tar");
    tool(
        "tar",
        &[
            "--numeric-owner",
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    tool(
        "umoci",
        &[
            "raw",
            "add-layer",
            "--image",
            &format!("{}:{tag}", layout.display()),
            tar.to_str().unwrap(),
        ],
    );
}

fn dist_info(site: &Path, name: &str) -> String {
    fs::read_dir(site)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|f| {
            f.ends_with(".dist-info") && normalize(f.split('-').next().unwrap()) == normalize(name)
        })
        .unwrap_or_else(|| panic!("no dist-info for {name} in {}", site.display()))
}

/// The modules `go version -m` reports for a binary (main module, dependencies with their
/// replacements applied, and the standard library as `stdlib`), when `go` is installed.
fn go_version_m(binary: &Path) -> Option<BTreeSet<(String, String)>> {
    let output = match Command::new("go")
        .arg("version")
        .arg("-m")
        .arg(binary)
        .output()
    {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            vouch_tests::unavailable("go version -m", why.trim());
            return None;
        }
        Err(e) => {
            vouch_tests::unavailable("go", &e.to_string());
            return None;
        }
    };
    vouch_tests::peer_ran("go version -m");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut modules = BTreeSet::new();
    let mut lines = text.lines();
    let go = lines.next()?.rsplit(' ').next()?.to_owned();
    modules.insert(("stdlib".to_owned(), go));
    let mut path = None;
    let mut last = None;
    for line in lines {
        let fields: Vec<&str> = line.trim().split('\t').collect();
        match fields.as_slice() {
            ["path", p, ..] => path = Some((*p).to_owned()),
            ["mod" | "dep", name, version, ..] => {
                let module = ((*name).to_owned(), (*version).to_owned());
                modules.insert(module.clone());
                last = Some(module);
            }
            ["=>", name, version, ..] => {
                // The replacement of the module just above wins.
                if let Some(replaced) = last.take() {
                    modules.remove(&replaced);
                }
                modules.insert(((*name).to_owned(), (*version).to_owned()));
            }
            _ => {}
        }
    }
    if modules.len() == 1
        && let Some(path) = path
    {
        modules.insert((path, "(devel)".to_owned()));
    }
    Some(modules)
}

/// Checks a CycloneDX document with cyclonedx-python-lib's strict validator (when the pinned
/// validators can be installed here).
fn assert_valid_cyclonedx(path: &Path) {
    if let Some(validators) = vouch_tests::Peer::SbomValidators.install() {
        let script = vouch_tests::workspace_dir().join("tests/peers/sbom/validate_cyclonedx.py");
        validators
            .run(&[script.to_str().unwrap(), path.to_str().unwrap()])
            .expect_code(0);
    }
}

/// Runs `vouch ARGS` (an sbom command printing CycloneDX), checks the document with the
/// validator, and returns it.
fn cyclonedx_of(args: &[&str]) -> serde_json::Value {
    let run = vouch(args).expect_code(0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sbom.cdx.json");
    fs::write(&path, &run.stdout).unwrap();
    assert_valid_cyclonedx(&path);
    run.json()
}

struct Built {
    _dir: tempfile::TempDir,
    go_binary: PathBuf,
    image: vouch_tests::Image,
    dpkg: BTreeSet<(String, String)>,
    python: BTreeSet<(String, String)>,
}

/// Builds and pushes the three-layer image; `None` when this machine lacks dpkg or PyPI.
fn build(registry: &Registry) -> Option<Built> {
    let dpkg = dpkg_installed()?;
    let dir = tempfile::tempdir().unwrap();
    let site = venv(&dir.path().join("venv"), PYTHON_PACKAGES)?;
    let older = venv(&dir.path().join("older"), &["packaging==23.2"])?;

    let layout = empty_layout(dir.path());

    // Layer 1: the OS: os-release, the dpkg database, the copyright files.
    let os = dir.path().join("os");
    // As on the machine: etc/os-release is a link to usr/lib/os-release (links are not
    // followed; the file itself is read).
    stage(&os, Path::new("/etc/os-release"), "etc/os-release");
    stage(&os, Path::new("/usr/lib/os-release"), "usr/lib/os-release");
    stage(
        &os,
        Path::new("/var/lib/dpkg/status"),
        "var/lib/dpkg/status",
    );
    for entry in fs::read_dir("/usr/share/doc").unwrap() {
        let entry = entry.unwrap();
        let copyright = entry.path().join("copyright");
        if copyright.is_file() {
            let name = entry.file_name().into_string().unwrap();
            stage(&os, &copyright, &format!("usr/share/doc/{name}/copyright"));
        }
    }
    add_layer(&layout, "v1", &os);

    // Layer 2: the Python packages.
    let python = dir.path().join("python");
    stage(&python, &site, SITE);
    add_layer(&layout, "v1", &python);

    // Layer 3: six removed (a whiteout), packaging reinstalled at 23.2.
    let upper = dir.path().join("upper");
    fs::create_dir_all(upper.join(SITE)).unwrap();
    let six = dist_info(&site, "six");
    fs::write(upper.join(SITE).join(format!(".wh.{six}")), b"").unwrap();
    let packaging = dist_info(&site, "packaging");
    fs::write(upper.join(SITE).join(format!(".wh.{packaging}")), b"").unwrap();
    let older_packaging = dist_info(&older, "packaging");
    stage(
        &upper,
        &older.join(&older_packaging),
        &format!("{SITE}/{older_packaging}"),
    );
    add_layer(&layout, "v1", &upper);

    // Layer 4: a Go binary: Google Cloud SDK's cbt (built in module mode: 45 modules) where
    // this machine has it, else umoci, which the tests use anyway (built outside module mode:
    // its main package and the Go standard library only).
    let go = dir.path().join("go");
    let binary = [Path::new("/usr/lib/google-cloud-sdk/bin/cbt")]
        .into_iter()
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(tool("sh", &["-c", "command -v umoci"]).trim()));
    stage(&go, &binary, "usr/local/bin/tool");
    add_layer(&layout, "v1", &go);

    let mut expected_python = pip_list(&site);
    expected_python.retain(|(name, _)| name != "six" && name != "packaging");
    expected_python.insert(("packaging".into(), "23.2".into()));

    let image = skopeo_push(&layout, "v1", registry, &unique("sbom"));
    Some(Built {
        _dir: dir,
        go_binary: binary,
        image,
        dpkg,
        python: expected_python,
    })
}

/// The (name, version) pairs of a CycloneDX document's components whose purl is of `kind`.
fn cyclonedx_packages(document: &serde_json::Value, kind: &str) -> BTreeSet<(String, String)> {
    document["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("pkg:{kind}/")))
        })
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The same from an SPDX document, by the packages' purl external references.
fn spdx_packages(document: &serde_json::Value, kind: &str) -> BTreeSet<(String, String)> {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["externalRefs"].as_array().is_some_and(|refs| {
                refs.iter().any(|r| {
                    r["referenceLocator"]
                        .as_str()
                        .is_some_and(|l| l.starts_with(&format!("pkg:{kind}/")))
                })
            })
        })
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["versionInfo"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn difference(found: &BTreeSet<(String, String)>, expected: &BTreeSet<(String, String)>) -> String {
    format!(
        "missing: {:?}\nextra: {:?}",
        expected.difference(found).collect::<Vec<_>>(),
        found.difference(expected).collect::<Vec<_>>()
    )
}

#[test]
fn an_image_of_real_packages_lists_exactly_what_is_installed() {
    let registry = Registry::start();
    let Some(built) = build(&registry) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cdx = dir.path().join("sbom.cdx.json");
    let run = vouch(&[
        "sbom",
        "--format",
        "cyclonedx-json",
        "--output-file",
        cdx.to_str().unwrap(),
        &built.image.tagged,
    ])
    .expect_code(0);
    assert!(run.stderr.contains("packages in"), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_slice(&fs::read(&cdx).unwrap()).unwrap();
    assert_eq!(document["specVersion"], "1.6");

    let deb = cyclonedx_packages(&document, "deb");
    assert_eq!(deb, built.dpkg, "{}", difference(&deb, &built.dpkg));
    let python = cyclonedx_packages(&document, "pypi");
    assert_eq!(
        python,
        built.python,
        "{}",
        difference(&python, &built.python)
    );
    assert!(!python.iter().any(|(name, _)| name == "six"));

    // Debian purls name the distribution; licences come from the copyright files.
    let release = fs::read_to_string("/etc/os-release").unwrap();
    let version_id = release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    let components = document["components"].as_array().unwrap();
    let dpkg = components
        .iter()
        .find(|c| c["name"] == "dpkg")
        .expect("dpkg itself is installed");
    let purl = dpkg["purl"].as_str().unwrap();
    assert!(
        purl.starts_with("pkg:deb/debian/dpkg@")
            && purl.contains(&format!("distro=debian-{version_id}")),
        "{purl}"
    );
    assert!(
        components
            .iter()
            .any(|c| c["licenses"].as_array().is_some_and(|l| !l.is_empty())),
        "some Debian package has a machine-readable licence"
    );

    // SPDX lists the same.
    let spdx = dir.path().join("sbom.spdx.json");
    vouch(&[
        "sbom",
        "--format",
        "spdx-json",
        "--output-file",
        spdx.to_str().unwrap(),
        &built.image.tagged,
    ])
    .expect_code(0);
    let document: serde_json::Value = serde_json::from_slice(&fs::read(&spdx).unwrap()).unwrap();
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx_packages(&document, "deb"), built.dpkg);
    assert_eq!(spdx_packages(&document, "pypi"), built.python);

    // Both documents pass the official validators.
    assert_valid_cyclonedx(&cdx);
    if let Some(validators) = vouch_tests::Peer::SbomValidators.install() {
        let pyspdxtools = validators.dir.join("bin/pyspdxtools");
        let checked = vouch_tests::run(&pyspdxtools, &["-i", spdx.to_str().unwrap()]);
        assert_eq!(checked.code, 0, "pyspdxtools: {checked:#?}");
    }

    // An existing output is kept without --force.
    let again = vouch(&[
        "sbom",
        "--output-file",
        cdx.to_str().unwrap(),
        &built.image.tagged,
    ])
    .expect_code(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
}

/// The (name, version) pairs of the components of a CycloneDX document by Trivy whose purl
/// is of `kind`. Trivy names Python packages as written (normalized here); the Trivy build
/// of the npm registry has no OS detection, so its OS packages have `pkg:none/` purls (and
/// are taken as Debian's here: the image is Debian's).
fn trivy_packages(document: &serde_json::Value, kind: &str) -> BTreeSet<(String, String)> {
    let mut found = cyclonedx_packages(document, kind);
    if kind == "deb" {
        // Trivy writes a Debian epoch as a purl qualifier, not in the version.
        for component in document["components"].as_array().unwrap() {
            let Some(purl) = component["purl"].as_str() else {
                continue;
            };
            if !(purl.starts_with("pkg:none/") || purl.starts_with("pkg:deb/")) {
                continue;
            }
            let version = component["version"].as_str().unwrap_or_default();
            let epoch = purl
                .split(['?', '&'])
                .find_map(|q| q.strip_prefix("epoch="));
            let name = component["name"].as_str().unwrap().to_owned();
            found.remove(&(name.clone(), version.to_owned()));
            found.insert(match epoch {
                Some(epoch) => (name, format!("{epoch}:{version}")),
                None => (name, version.to_owned()),
            });
        }
    }
    if kind == "pypi" {
        found = found
            .into_iter()
            .map(|(name, version)| (normalize(&name), version))
            .collect();
    }
    found
}

#[test]
fn vouch_lists_every_package_trivy_lists() {
    let Some(trivy) = vouch_tests::Peer::Trivy.install() else {
        return;
    };
    let registry = Registry::start();
    let Some(built) = build(&registry) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("trivy.json");
    trivy
        .run(&[
            "image",
            "--image-src",
            "remote",
            "--insecure",
            "--format",
            "cyclonedx",
            "--scanners",
            "license",
            "--offline-scan",
            "--quiet",
            "--cache-dir",
            dir.path().join("cache").to_str().unwrap(),
            "-o",
            theirs.to_str().unwrap(),
            &built.image.tagged,
        ])
        .expect_code(0);
    let theirs: serde_json::Value = serde_json::from_slice(&fs::read(&theirs).unwrap()).unwrap();
    let ours = cyclonedx_of(&["sbom", &built.image.tagged]);

    for (kind, real) in [
        ("deb", Some(&built.dpkg)),
        ("pypi", Some(&built.python)),
        ("golang", None),
    ] {
        let mine = cyclonedx_packages(&ours, kind);
        let trivys = trivy_packages(&theirs, kind);
        let missing: Vec<_> = trivys.difference(&mine).collect();
        assert!(
            missing.is_empty(),
            "{kind}: Trivy lists what vouch does not: {missing:?}"
        );
        // Whatever vouch lists beyond Trivy is really installed.
        let extra: BTreeSet<_> = mine.difference(&trivys).cloned().collect();
        if let Some(real) = real {
            assert!(
                extra.is_subset(real),
                "{kind}: vouch lists packages that are not installed: {:?}",
                extra.difference(real).collect::<Vec<_>>()
            );
        }
        eprintln!(
            "{kind}: vouch {}, Trivy {}, only vouch: {extra:?}",
            mine.len(),
            trivys.len()
        );
    }
    assert!(
        !cyclonedx_packages(&ours, "golang").is_empty(),
        "the Go binary's modules are listed"
    );
    assert!(
        !trivy_packages(&theirs, "deb").is_empty(),
        "Trivy's Debian packages are compared"
    );
    // Go: what vouch lists beyond Trivy (the main module, the standard library) is in the
    // binary, as Go's own `go version -m` reads it.
    if let Some(expected) = go_version_m(&built.go_binary) {
        let mine = cyclonedx_packages(&ours, "golang");
        assert_eq!(mine, expected, "{}", difference(&mine, &expected));
    }
}

#[test]
fn a_multi_platform_image_is_read_for_the_platform_asked() {
    let registry = Registry::start();
    let (index, children) = vouch_tests::push_index(&registry, &unique("platforms"), "v1");
    for (platform, digest) in [("linux/amd64", &children[0]), ("linux/arm64", &children[1])] {
        let document = cyclonedx_of(&["sbom", "--platform", platform, &index.tagged]);
        assert_eq!(
            document["metadata"]["component"]["version"], *digest,
            "{platform}: {document:#}"
        );
    }
    let run = vouch(&["sbom", "--platform", "linux/s390x", &index.tagged]).expect_code(2);
    assert!(
        run.stderr.contains("linux/s390x") && run.stderr.contains("linux/arm64"),
        "{}",
        run.stderr
    );
    let run = vouch(&["sbom", "--platform", "linux", &index.tagged]).expect_code(2);
    assert!(run.stderr.contains("os/arch"), "{}", run.stderr);
}

#[test]
fn a_broken_layer_stops_the_sbom_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let layout = empty_layout(dir.path());
    let os = dir.path().join("os");
    stage(&os, Path::new("/usr/lib/os-release"), "usr/lib/os-release");
    add_layer(&layout, "v1", &os);
    // Corrupt the layer blob in place: its bytes no longer hash to its digest.
    let blobs = layout.join("blobs/sha256");
    let layer = fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
        .unwrap();
    let mut bytes = fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&layer, bytes).unwrap();
    let run = vouch(&["sbom", &format!("oci:{}:v1", layout.display())]).expect_code(3);
    let name = layer.file_name().unwrap().to_str().unwrap();
    assert!(run.stderr.contains(name), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing is written: {}", run.stdout);
}

#[test]
fn an_sbom_is_attested_in_one_step_and_verifies() {
    let registry = Registry::start();
    let Some(built) = build(&registry) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "sbom", "ecdsa-p256");
    let out = dir.path().join("sbom.json");
    vouch_with_password(
        &key.password,
        &[
            "sbom",
            "--attest",
            "--key",
            key.key.to_str().unwrap(),
            "--output-file",
            out.to_str().unwrap(),
            &built.image.tagged,
        ],
    )
    .expect_code(0);
    let report = vouch(&[
        "verify-attestation",
        "--key",
        key.public.to_str().unwrap(),
        "--type",
        "cyclonedx",
        "-o",
        "json",
        &built.image.tagged,
    ])
    .expect_code(0)
    .json();
    let statement = &report["attestations"][0]["statement"];
    assert_eq!(statement["predicateType"], "https://cyclonedx.org/bom");
    let written: serde_json::Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(statement["predicate"], written);
    assert_valid_cyclonedx(&out);
}
