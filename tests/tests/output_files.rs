//! Output files: every file vouch writes is staged beside its destination and moved into
//! place, never written through a symbolic link, and never replaces anything (a file, a
//! symlink, dangling or not) without `--force`; with `--force` a symlink is itself replaced.
//! Signing happens in an OCI layout, so no registry is needed.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use vouch_tests::{KeyPair, Run, generate_key, vouch_with_password};

const VICTIM: &str = "the victim's file; vouch must not change it\n";

/// A one-image layout `dir/layout`, as `oci:PATH:v1`.
fn layout_image(dir: &Path) -> String {
    let layout = dir.join("layout");
    vouch_tests::umoci_image(&layout, "v1", "amd64");
    format!("oci:{}:v1", layout.display())
}

/// `dir/victim` (holding [`VICTIM`]) and `dir/<name>`, a symlink to it.
fn link_to_victim(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let victim = dir.join(format!("{name}.victim"));
    std::fs::write(&victim, VICTIM).unwrap();
    let link = dir.join(name);
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    (victim, link)
}

fn assert_refused(run: &Run, path: &Path) {
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("already exists; pass --force"),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(path.to_str().unwrap()),
        "the message names {}: {run:#?}",
        path.display()
    );
}

fn assert_victim_untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), VICTIM);
}

/// `path` is now a regular file of its own, not a symlink.
fn assert_replaced_link(path: &Path) {
    let metadata = std::fs::symlink_metadata(path).unwrap();
    assert!(
        metadata.file_type().is_file(),
        "{} is not a regular file",
        path.display()
    );
}

fn sign_args<'a>(key: &'a KeyPair, flag: &'a str, path: &'a Path, image: &'a str) -> Vec<&'a str> {
    vec![
        "sign",
        "--upload=false",
        "--key",
        key.key.to_str().unwrap(),
        flag,
        path.to_str().unwrap(),
        image,
    ]
}

#[test]
fn sign_output_signature_through_symlink_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = layout_image(dir.path());
    let (victim, link) = link_to_victim(dir.path(), "out.sig");

    let args = sign_args(&key, "--output-signature", &link, &image);
    let run = Run::from(
        vouch_tests::vouch_command(&args)
            .env("VOUCH_PASSWORD", &key.password)
            .output()
            .unwrap(),
    );
    assert_refused(&run, &link);
    assert_victim_untouched(&victim);

    // --force replaces the link itself; the file it pointed to is left alone.
    let mut forced = args.clone();
    forced.insert(1, "--force");
    vouch_with_password(&key.password, &forced).expect_code(0);
    assert_victim_untouched(&victim);
    assert_replaced_link(&link);
    let signature = std::fs::read_to_string(&link).unwrap();
    assert!(!signature.is_empty() && signature != VICTIM);
}

#[test]
fn sign_output_payload_exists_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = layout_image(dir.path());
    let payload = dir.path().join("payload.json");
    std::fs::write(&payload, VICTIM).unwrap();

    let args = sign_args(&key, "--output-payload", &payload, &image);
    let run = vouch_with_password(&key.password, &args);
    assert_refused(&run, &payload);
    assert_victim_untouched(&payload);

    let mut forced = args.clone();
    forced.insert(1, "--force");
    vouch_with_password(&key.password, &forced).expect_code(0);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
    assert_eq!(
        written["critical"]["type"],
        "cosign container image signature"
    );
}

#[test]
fn sign_output_refused_before_anything_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = layout_image(dir.path());
    let layout = dir.path().join("layout");
    let index_before = std::fs::read(layout.join("index.json")).unwrap();
    let signature = dir.path().join("sig");
    std::fs::write(&signature, VICTIM).unwrap();
    // --upload=true: the refusal must come before the signature is stored in the layout.
    let run = vouch_with_password(
        &key.password,
        &[
            "sign",
            "--key",
            key.key.to_str().unwrap(),
            "--output-signature",
            signature.to_str().unwrap(),
            &image,
        ],
    );
    assert_refused(&run, &signature);
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        index_before
    );
}

#[test]
fn sign_output_to_dangling_symlink_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "k", "ecdsa-p256");
    let image = layout_image(dir.path());
    let target = dir.path().join("created-through-the-link");
    let link = dir.path().join("dangling.sig");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let run = vouch_with_password(
        &key.password,
        &sign_args(&key, "--output-signature", &link, &image),
    );
    assert_refused(&run, &link);
    assert!(!target.exists(), "written through a dangling symlink");
}

#[test]
fn every_output_refuses_a_symlink_and_force_replaces_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = generate_key(d, "k", "ecdsa-p256");
    let image = layout_image(d);
    let artifact = d.join("artifact.txt");
    std::fs::write(&artifact, b"an artifact\n").unwrap();
    // A plain PEM key to import: one of cosign's key-import vectors.
    let plain = d.join("plain.pem");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../keys/tests/data/cosign-keys/validecp256.key"),
        &plain,
    )
    .unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    // (name of the output, the command with OUT where the output goes)
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "gen.key",
            vec![
                "generate-key-pair".into(),
                "--output-key-prefix".into(),
                s(&d.join("gen")),
            ],
        ),
        (
            "imp.pub",
            vec![
                "import-key-pair".into(),
                "--key".into(),
                s(&plain),
                "--output-key-prefix".into(),
                s(&d.join("imp")),
            ],
        ),
        (
            "pub.pem",
            vec![
                "public-key".into(),
                "--key".into(),
                s(&key.key),
                "--outfile".into(),
                "OUT".into(),
            ],
        ),
        (
            "blob.bundle",
            vec![
                "sign-blob".into(),
                "--key".into(),
                s(&key.key),
                "--bundle".into(),
                "OUT".into(),
                s(&artifact),
            ],
        ),
        (
            "attest.bundle",
            vec![
                "attest-blob".into(),
                "--key".into(),
                s(&key.key),
                "--predicate".into(),
                s(&artifact.with_extension("predicate.json")),
                "--bundle".into(),
                "OUT".into(),
                s(&artifact),
            ],
        ),
        (
            "provenance.json",
            vec![
                "provenance".into(),
                "--builder-id".into(),
                "https://ci.example/builder".into(),
                "--source-uri".into(),
                "git+https://git.example/repo@refs/heads/main".into(),
                "--source-digest".into(),
                format!("gitCommit={}", "a".repeat(40)),
                "--output-file".into(),
                "OUT".into(),
                s(&artifact),
            ],
        ),
        (
            "sbom.json",
            vec![
                "sbom".into(),
                "--output-file".into(),
                "OUT".into(),
                image.clone(),
            ],
        ),
        (
            "sign.sig",
            vec![
                "sign".into(),
                "--upload=false".into(),
                "--key".into(),
                s(&key.key),
                "--output-signature".into(),
                "OUT".into(),
                image.clone(),
            ],
        ),
    ];
    std::fs::write(artifact.with_extension("predicate.json"), b"{\"a\": 1}").unwrap();

    for (name, command) in cases {
        let (victim, link) = link_to_victim(d, name);
        let args: Vec<String> = command
            .iter()
            .map(|a| if a == "OUT" { s(&link) } else { a.clone() })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = vouch_with_password(&key.password, &args);
        assert_refused(&run, &link);
        assert_victim_untouched(&victim);

        let mut forced = args.clone();
        forced.insert(1, "--force");
        let run = vouch_with_password(&key.password, &forced);
        assert_eq!(run.code, 0, "{name} with --force: {run:#?}");
        assert_victim_untouched(&victim);
        assert_replaced_link(&link);
    }
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".vouch-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
