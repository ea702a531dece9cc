//! `vouch copy` against real registries (distribution 2.8, three of them), OCI layouts, and
//! the engines that pull the copies (skopeo, podman): every kind of evidence travels, the
//! decision is the same everywhere, concurrent copies lose nothing, a second copy changes
//! nothing, and what would replace something or is corrupt is refused with nothing written.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use vouch_registry::manifest::media_types;
use vouch_registry::{ImageReference, ManifestRef, RegistryClient, Store};
use vouch_tests::{
    FakeBehavior, FakeRegistry, Image, KeyPair, Registry, generate_key, peer_ran,
    push_index_with_layers, run, unavailable, unique, vouch, vouch_with_password,
};

const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn store(image: &str) -> Store {
    let client = RegistryClient::new(Default::default()).unwrap();
    Store::open(&client, &ImageReference::parse(image).unwrap())
        .unwrap()
        .store
}

/// Pushes a cosign `.sbom` attachment (as `cosign attach sbom` writes it) for `digest`.
fn attach_sbom_tag(repository: &str, digest: &str) {
    let store = store(&format!("{repository}:x"));
    let sbom = br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#;
    runtime().block_on(async {
        let layer = store
            .put_blob("application/vnd.cyclonedx+json", sbom)
            .await
            .unwrap();
        let config = store
            .put_blob(
                media_types::OCI_CONFIG,
                b"{\"architecture\":\"\",\"os\":\"\"}",
            )
            .await
            .unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        store
            .put_manifest(
                &format!("{}.sbom", digest.replace(':', "-")),
                media_types::OCI_MANIFEST,
                &serde_json::to_vec(&manifest).unwrap(),
            )
            .await
            .unwrap();
    });
}

/// A two-platform image with every kind of evidence vouch and cosign store: tag-layout
/// signature and attestation, v3 bundle signature and attestation (referrers), an SBOM
/// attestation of the amd64 platform, a `.sbom` tag, a signature of a bundle referrer and an
/// attestation about it (evidence about evidence).
struct Signed {
    image: Image,
    children: Vec<String>,
    key: KeyPair,
    dir: tempfile::TempDir,
}

fn signed_index(registry: &Registry, layer_bytes: usize) -> Signed {
    let dir = tempfile::tempdir().unwrap();
    let (image, children) =
        push_index_with_layers(registry, &unique("copy-src"), "v1", layer_bytes);
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"built":"here"}"#).unwrap();
    let k = key.key.to_str().unwrap();
    let sign = |args: &[&str]| {
        vouch_with_password(&key.password, args).expect_code(0);
    };
    sign(&["sign", "--key", k, "-y", &image.tagged]);
    sign(&[
        "sign",
        "--key",
        k,
        "-y",
        "--bundle-format",
        "v3",
        &image.tagged,
    ]);
    let p = predicate.to_str().unwrap();
    sign(&[
        "attest",
        "--key",
        k,
        "-y",
        "--predicate",
        p,
        "--type",
        "custom",
        &image.tagged,
    ]);
    sign(&[
        "attest",
        "--key",
        k,
        "-y",
        "--predicate",
        p,
        "--type",
        "custom",
        "--bundle-format",
        "v3",
        &image.tagged,
    ]);
    let sbom = dir.path().join("sbom.json");
    sign(&[
        "sbom",
        "--attest",
        "--key",
        k,
        "--output-file",
        sbom.to_str().unwrap(),
        &image.tagged,
    ]);
    attach_sbom_tag(&image.repository, &image.digest);
    // Evidence about evidence: the first bundle referrer gets a signature and an attestation.
    let tree = vouch(&["tree", "-o", "json", &image.tagged])
        .expect_code(0)
        .json();
    let referrer = tree["referrers"][0]["digest"].as_str().unwrap().to_owned();
    let referrer = format!("{}@{referrer}", image.repository);
    sign(&["sign", "--key", k, "-y", &referrer]);
    sign(&[
        "attest",
        "--key",
        k,
        "-y",
        "--predicate",
        p,
        "--type",
        "custom",
        "--bundle-format",
        "v3",
        &referrer,
    ]);
    Signed {
        image,
        children,
        key,
        dir,
    }
}

/// A policy for the image wherever it is copied: signed by `release`, with an attestation of
/// `attestation`, and (as a mirror's policy must say) signed for the repository it was
/// signed in, `signed_repository`, whatever repository it is verified in.
fn policy(dir: &Path, name: &str, attestation: &str, signed_repository: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "apiVersion: vouch.dev/v1\nkind: TrustPolicy\nauthorities:\n  release: {{key: {{path: release.pub}}}}\nscopes:\n  - images: [\"**\"]\n    authorities: [release]\n    signedIdentity: {{type: exactRepository, dockerRepository: \"{signed_repository}\"}}\n    attestations:\n      - type: {attestation}\n"
        ),
    )
    .unwrap();
    path
}

/// The parts of a decision that do not depend on where the image is.
fn decision_summary(decision: &serde_json::Value) -> serde_json::Value {
    let evidence: Vec<serde_json::Value> = decision["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::json!({
                "kind": e["kind"],
                "location": e["location"],
                "predicateType": e["predicateType"],
                "subject": e["subject"],
                "statuses": e["results"].as_array().unwrap().iter()
                    .map(|r| r["status"].clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "digest": decision["digest"],
        "allowed": decision["allowed"],
        "verdict": decision["verdict"],
        "denial": decision["denial"],
        "authorities": decision["authorities"],
        "attestations": decision["attestations"].as_array().unwrap().iter()
            .map(|a| serde_json::json!({"type": a["predicateType"], "satisfied": a["satisfied"]}))
            .collect::<Vec<_>>(),
        "evidence": evidence,
    })
}

fn decide(policy: &Path, image: &str) -> serde_json::Value {
    let run = vouch(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "-o",
        "json",
        image,
    ]);
    assert!(run.code == 0 || run.code == 1, "{run:#?}");
    decision_summary(&run.json()[0]["decision"])
}

/// What `vouch tree -o json` lists, without the image's name.
fn tree(image: &str) -> serde_json::Value {
    let mut tree = vouch(&["tree", "-o", "json", image]).expect_code(0).json();
    tree.as_object_mut().unwrap().remove("image");
    tree
}

fn copy(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["copy", "-o", "json"];
    all.extend_from_slice(args);
    vouch(&all).expect_code(0).json()
}

#[test]
fn evidence_travels_registry_to_registry_to_layout_to_registry_and_decides_the_same() {
    let a = Registry::start();
    let b = Registry::spawn("");
    let c = Registry::spawn("");
    let s = signed_index(&a, 64 * 1024);
    let repository = &s.image.repository;
    let allow = policy(s.dir.path(), "allow.yaml", CUSTOM, repository);
    let slsa = "https://slsa.dev/provenance/v1";
    let deny = policy(s.dir.path(), "deny.yaml", slsa, repository);
    let layout = s.dir.path().join("mirror");

    let on_b = format!("{}/mirror/app:v1", b.addr);
    let in_layout = format!("oci:{}:v1", layout.display());
    let on_c = format!("{}/air-gapped/app:v1", c.addr);
    let first = copy(&[&s.image.tagged, &on_b]);
    assert_eq!(first["digest"], s.image.digest);
    assert_eq!(first["tagWritten"], true);
    let kinds: Vec<(&str, u64)> = first["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["depth"].as_u64().unwrap()))
        .collect();
    for wanted in [
        ("signatures", 1),
        ("attestations", 1),
        ("sboms", 1),
        ("referrer", 1),
        ("signatures", 2),
        ("referrer", 2),
    ] {
        assert!(kinds.contains(&wanted), "{wanted:?} not copied: {first:#}");
    }
    copy(&[&on_b, &in_layout]);
    copy(&[&in_layout, &on_c]);

    let places = [&s.image.tagged, &on_b, &in_layout, &on_c];
    for policy in [&allow, &deny] {
        let decisions: Vec<_> = places.iter().map(|p| decide(policy, p)).collect();
        for (place, decision) in places.iter().zip(&decisions) {
            assert_eq!(decision, &decisions[0], "{place} decides otherwise");
        }
        let expected = policy == &allow;
        assert_eq!(decisions[0]["allowed"], expected, "{:#}", decisions[0]);
    }
    let trees: Vec<_> = places.iter().map(|p| tree(p)).collect();
    for (place, listed) in places.iter().zip(&trees) {
        assert_eq!(listed, &trees[0], "{place} lists other evidence");
    }
    // Evidence about a platform manifest (the amd64 SBOM attestation) and about a referrer
    // (its signature) travelled too.
    let amd64 = &s.children[0];
    let att = vouch(&[
        "verify-attestation",
        "--key",
        s.key.public.to_str().unwrap(),
        "--type",
        "cyclonedx",
        &format!("{}/air-gapped/app@{amd64}", c.addr),
    ]);
    assert_eq!(att.code, 0, "{att:#?}");

    // Engines pull the copies.
    for (from, registry) in [(&on_b, &b), (&on_c, &c)] {
        let out = s.dir.path().join(unique("pulled"));
        let pulled = run(
            "skopeo",
            &[
                "copy",
                "--all",
                "--src-tls-verify=false",
                &format!("docker://{from}"),
                &format!("oci:{}:v1", out.display()),
            ],
        );
        assert_eq!(pulled.code, 0, "skopeo from {}: {pulled:#?}", registry.addr);
    }
    podman_pulls(&on_c, s.dir.path());
}

fn podman_pulls(image: &str, dir: &Path) {
    if run("podman", &["--version"]).code != 0 {
        unavailable("podman", "Debian's podman package is not installed");
        return;
    }
    peer_ran("podman");
    let root = dir.join("podman-root");
    let runroot = dir.join("podman-runroot");
    let pulled = run(
        "podman",
        &[
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            runroot.to_str().unwrap(),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "pull",
            "--tls-verify=false",
            image,
        ],
    );
    assert_eq!(pulled.code, 0, "podman pull {image}: {pulled:#?}");
}

#[test]
fn copying_again_changes_nothing_and_a_moved_tag_needs_force() {
    let a = Registry::start();
    let b = Registry::spawn("");
    let s = signed_index(&a, 0);
    let dst = format!("{}/again/app:v1", b.addr);
    let layout = s.dir.path().join("l");
    let in_layout = format!("oci:{}:v1", layout.display());
    copy(&[&s.image.tagged, &dst]);
    copy(&[&s.image.tagged, &in_layout]);
    let index_json = std::fs::read(layout.join("index.json")).unwrap();
    let blobs = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count();
    let tags = vouch(&["tree", "-o", "json", &dst]).expect_code(0).json();

    for place in [&dst, &in_layout] {
        let second = copy(&[&s.image.tagged, place]);
        assert_eq!(second["unchanged"], true, "{second:#}");
        assert_eq!(second["blobs"]["sent"], 0);
        assert_eq!(second["manifests"]["written"], 0);
    }
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        index_json
    );
    assert_eq!(
        std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs
    );
    assert_eq!(
        vouch(&["tree", "-o", "json", &dst]).expect_code(0).json(),
        tags
    );

    // A layout named without a tag gives its only image, and that image's name.
    let named = copy(&[
        &format!("oci:{}", layout.display()),
        &format!("{}/from-layout/app", b.addr),
    ]);
    assert_eq!(named["tag"], "v1", "{named:#}");
    assert_eq!(named["digest"], s.image.digest);

    // The destination tag names another image: refused, nothing moved; --force moves it.
    let other = vouch_tests::push_image(&a, &unique("other"), "v1");
    let refused = vouch(&["copy", &other.tagged, &dst]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&s.image.digest),
        "{}",
        refused.stderr
    );
    assert_eq!(tree(&dst)["digest"], s.image.digest, "the tag moved");
    let moved = copy(&["--force", &other.tagged, &dst]);
    assert_eq!(moved["digest"], other.digest);
    assert_eq!(moved["tagWritten"], true);
}

#[test]
fn concurrent_copies_into_one_destination_lose_nothing() {
    // The same image, signed by a different key in each of three places (a registry and two
    // layouts), copied into one repository at once: every signature and bundle survives.
    let a = Registry::start();
    let c = Registry::spawn("");
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = push_index_with_layers(&a, &unique("race"), "v1", 0);
    let mut sources = vec![image.tagged.clone()];
    for i in 0..2 {
        let layout = format!("oci:{}:v1", dir.path().join(format!("l{i}")).display());
        copy(&[&image.tagged, &layout]);
        sources.push(layout);
    }
    let mut keys = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let key = generate_key(dir.path(), &format!("k{i}"), "ecdsa-p256");
        for format in ["legacy", "v3"] {
            vouch_with_password(
                &key.password,
                &[
                    "sign",
                    "--key",
                    key.key.to_str().unwrap(),
                    "-y",
                    "--bundle-format",
                    format,
                    source,
                ],
            )
            .expect_code(0);
        }
        keys.push(key);
    }
    let dst = format!("{}/race/app:v1", c.addr);
    std::thread::scope(|scope| {
        for source in &sources {
            let dst = &dst;
            scope.spawn(move || copy(&[source, dst]));
        }
    });
    for key in &keys {
        let verified = vouch(&[
            "verify",
            "--key",
            key.public.to_str().unwrap(),
            "-o",
            "json",
            &dst,
        ]);
        assert_eq!(verified.code, 0, "{verified:#?}");
        let text = verified.stdout;
        assert!(
            text.contains(".sig layer"),
            "tag-layout signature lost: {text}"
        );
        assert!(text.contains("referrer sha256:"), "bundle lost: {text}");
    }
    let listed = tree(&dst);
    assert_eq!(
        listed["referrers"].as_array().unwrap().len(),
        3,
        "{listed:#}"
    );
    let sig_tag = format!("{}.sig", image.digest.replace(':', "-"));
    assert_eq!(
        listed["tags"][&sig_tag].as_array().unwrap().len(),
        3,
        "{listed:#}"
    );
}

#[test]
fn only_and_platform_choose_what_is_copied() {
    let a = Registry::start();
    let b = Registry::spawn("");
    let s = signed_index(&a, 0);
    // One platform: its manifest becomes the image, with the evidence about it.
    let arm = format!("{}/arm/app:v1", b.addr);
    let one = copy(&["--platform", "linux/arm64", &s.image.tagged, &arm]);
    assert_eq!(one["digest"], s.children[1]);
    let amd = format!("{}/amd/app:v1", b.addr);
    let one = copy(&["--platform", "linux/amd64", &s.image.tagged, &amd]);
    assert_eq!(one["digest"], s.children[0]);
    let att = vouch(&[
        "verify-attestation",
        "--key",
        s.key.public.to_str().unwrap(),
        "--type",
        "cyclonedx",
        &amd,
    ]);
    assert_eq!(att.code, 0, "{att:#?}");
    let none = vouch(&["copy", "--platform", "linux/s390x", &s.image.tagged, &arm]);
    assert_eq!(none.code, 2, "{none:#?}");
    assert!(none.stderr.contains("linux/s390x"), "{}", none.stderr);

    // --only sig onto an image already there: the signatures, nothing else.
    let dst = format!("{}/only/app:v1", b.addr);
    let plain = run(
        "skopeo",
        &[
            "copy",
            "--all",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}", s.image.tagged),
            &format!("docker://{dst}"),
        ],
    );
    assert_eq!(plain.code, 0, "{plain:#?}");
    let only = copy(&["--only", "sig", &s.image.tagged, &dst]);
    assert_eq!(only["tagWritten"], false);
    assert!(
        only["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "signatures"),
        "{only:#}"
    );
    let listed = tree(&dst);
    assert!(
        listed["referrers"].as_array().unwrap().is_empty(),
        "{listed:#}"
    );
    assert_eq!(listed["tags"].as_object().unwrap().len(), 1, "{listed:#}");
    vouch(&["verify", "--key", s.key.public.to_str().unwrap(), &dst]).expect_code(0);
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_is_tagged() {
    let a = Registry::spawn("");
    let b = Registry::spawn("");
    let (image, children) = push_index_with_layers(&a, &unique("corrupt"), "v1", 4096);
    // Overwrite the amd64 image's layer in the source registry's storage.
    let manifest = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}@{}", image.repository, children[0]),
        ],
    );
    let manifest: serde_json::Value = serde_json::from_str(&manifest.stdout).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let file = a.blob_file(layer).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let dst = format!("{}/corrupt/app:v1", b.addr);
    let refused = vouch(&["copy", &image.tagged, &dst]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains(layer), "{}", refused.stderr);
    let missing = vouch(&["tree", &dst]);
    assert_eq!(missing.code, 2, "the tag was written: {missing:#?}");
    let layout = tempfile::tempdir().unwrap();
    let refused = vouch(&[
        "copy",
        &image.tagged,
        &format!("oci:{}:v1", layout.path().join("l").display()),
    ]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    let blob = layout
        .path()
        .join("l/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    assert!(!blob.exists(), "the corrupt blob was stored");
    // A layout the copy wrote nothing into is removed again; one it wrote into has no tag.
    match std::fs::read_to_string(layout.path().join("l/index.json")) {
        Ok(index) => assert!(!index.contains("\"v1\""), "{index}"),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
            assert!(!layout.path().join("l").exists(), "a layout half removed");
        }
    }
}

#[test]
fn a_referrer_listed_without_artifact_type_is_read_from_its_manifest_and_noted() {
    // As skopeo 1.9 copies a tag-schema index: every entry's artifactType dropped.
    let a = Registry::start();
    let b = Registry::spawn("");
    let dir = tempfile::tempdir().unwrap();
    let image = vouch_tests::push_image(&a, &unique("untyped"), "v1");
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    vouch_with_password(
        &key.password,
        &[
            "sign",
            "--key",
            key.key.to_str().unwrap(),
            "-y",
            "--bundle-format",
            "v3",
            &image.tagged,
        ],
    )
    .expect_code(0);
    let index_tag = image.digest.replace(':', "-");
    let store = store(&image.tagged);
    runtime().block_on(async {
        let fetched = store
            .manifest(&ManifestRef::Tag(index_tag.clone()))
            .await
            .unwrap()
            .unwrap();
        let mut index: serde_json::Value = serde_json::from_slice(&fetched.bytes).unwrap();
        for entry in index["manifests"].as_array_mut().unwrap() {
            entry.as_object_mut().unwrap().remove("artifactType");
        }
        store
            .put_manifest(
                &index_tag,
                media_types::OCI_INDEX,
                &serde_json::to_vec(&index).unwrap(),
            )
            .await
            .unwrap();
    });
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: vouch.dev/v1\nkind: TrustPolicy\nauthorities:\n  release: {key: {path: release.pub}}\nscopes:\n  - images: [\"**\"]\n    authorities: [release]\n",
    )
    .unwrap();
    let decided = vouch(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        &image.tagged,
    ]);
    assert_eq!(decided.code, 0, "{decided:#?}");
    assert!(
        decided.stdout.contains("gives no artifactType"),
        "{}",
        decided.stdout
    );
    let json = vouch(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "-o",
        "json",
        &image.tagged,
    ])
    .expect_code(0)
    .json();
    assert!(
        json.to_string().contains("read from the referrer manifest"),
        "{json:#}"
    );
    let listed = tree(&image.tagged);
    assert_eq!(
        listed["referrers"][0]["artifact_type"], BUNDLE,
        "{listed:#}"
    );
    assert_eq!(listed["referrers"][0]["artifact_type_from_manifest"], true);

    // The copy lists it with its type again.
    let dst = format!("{}/typed/app:v1", b.addr);
    let copied = copy(&[&image.tagged, &dst]);
    assert!(
        copied["notes"][0]
            .as_str()
            .unwrap()
            .contains("without artifactType"),
        "{copied:#}"
    );
    let listed = tree(&dst);
    assert_eq!(
        listed["referrers"][0]["artifact_type"], BUNDLE,
        "{listed:#}"
    );
    assert_eq!(listed["referrers"][0]["artifact_type_from_manifest"], false);
}

#[test]
fn bad_destinations_are_refused_before_anything_is_written() {
    let a = Registry::start();
    let image = vouch_tests::push_image(&a, &unique("bad-dst"), "v1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let refused = vouch(&[
        "copy",
        &image.tagged,
        &format!("oci:{}", dir.path().display()),
    ]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains("not an OCI image layout"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let missing = vouch(&[
        "copy",
        &format!("{}/nothing-here:v1", a.addr),
        &format!("{}/x:v1", a.addr),
    ]);
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    // Into a layout the copy would create, in a new folder or an empty one: none is left.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let new = dir.path().join("new");
    for layout in [&new, &empty] {
        let missing = vouch(&[
            "copy",
            &format!("{}/nothing-here:v1", a.addr),
            &format!("oci:{}:v1", layout.display()),
        ]);
        assert_eq!(missing.code, 2, "{missing:#?}");
        assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    }
    assert!(!new.exists(), "a layout was left at {new:?}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let usage = vouch(&["copy", "--only", "everything", &image.tagged, &image.tagged]);
    assert_eq!(usage.code, 2, "{usage:#?}");
}

#[test]
fn a_destination_with_the_referrers_api_lists_copied_referrers_itself() {
    let a = Registry::start();
    let s = signed_index(&a, 0);
    let fake = FakeRegistry::start(FakeBehavior::Referrers {
        page_size: 2,
        filter: true,
    });
    let dst = format!("{}/api/app:v1", fake.addr);
    let first = copy(&[&s.image.tagged, &dst]);
    let referrers = first["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "referrer")
        .count();
    assert!(referrers >= 3, "{first:#}");
    let requests = fake.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with("PUT") && r.contains("/manifests/sha256-") && !r.contains('.')),
        "a referrers tag-schema index was written: {requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r.contains("/referrers/")),
        "{requests:#?}"
    );
    let verified = vouch(&["verify", "--key", s.key.public.to_str().unwrap(), &dst]);
    assert_eq!(verified.code, 0, "{verified:#?}");
    assert!(
        verified.stdout.contains("(referrers-api)"),
        "{}",
        verified.stdout
    );
    let listed = tree(&dst);
    assert_eq!(
        listed["referrers"][0]["source"], "referrers-api",
        "{listed:#}"
    );
    assert_eq!(
        listed["referrers"].as_array().unwrap().len(),
        tree(&s.image.tagged)["referrers"].as_array().unwrap().len()
    );
    let again = copy(&[&s.image.tagged, &dst]);
    assert_eq!(again["unchanged"], true, "{again:#}");
}

#[test]
fn blobs_are_mounted_between_repositories_of_one_registry() {
    let a = Registry::start();
    let s = signed_index(&a, 4096);
    let dst = format!("{}/{}:v1", a.addr, unique("mounted"));
    let copied = copy(&[&s.image.tagged, &dst]);
    assert!(
        copied["blobs"]["mounted"].as_u64().unwrap() > 0,
        "{copied:#}"
    );
    assert_eq!(copied["blobs"]["sent"], 0, "{copied:#}");
    vouch(&["verify", "--key", s.key.public.to_str().unwrap(), &dst]).expect_code(0);
}
