//! The README's first command, word for word: `bash examples/quickstart.sh` must succeed.
#![allow(clippy::unwrap_used)]

#[test]
fn quickstart_runs() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    // Make sure the binary the script builds is fresh, in this test's target directory.
    let vouch = vouch_tests::vouch_bin();
    let target_dir = vouch.parent().unwrap().parent().unwrap();
    let output = std::process::Command::new("bash")
        .arg("examples/quickstart.sh")
        .current_dir(repo)
        .env("WORK", work.path())
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("VOUCH_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Verified oci:"), "{stdout}");
    // The trust policy step: it lints clean, allows the image and denies the tampered one.
    assert!(
        stdout.contains("trust.yaml: ok (1 authority, 1 scope, 0 warnings)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  policy ") && stdout.contains(" scope **"),
        "{stdout}"
    );
    assert!(
        stdout.contains("by the key and by the trust policy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Verified 1 attestation of type https://slsa.dev/provenance/v1"),
        "{stdout}"
    );
    assert!(stdout.contains("policy allows"), "{stdout}");
    assert!(stdout.contains("[artifact-digest]"), "{stdout}");
    assert!(stdout.contains("the tampered image was denied"), "{stdout}");
    // Not a terminal: no escape codes in what a log or CI keeps.
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
}

#[test]
fn quickstart_reuses_a_built_binary_without_cargo() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    // A `cargo` first on PATH that fails: the script must not build when given a binary.
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho cargo was run >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let vouch = vouch_tests::vouch_bin();
    let output = std::process::Command::new("bash")
        .arg("examples/quickstart.sh")
        .current_dir(repo)
        .env("WORK", work.path().join("work"))
        .env("VOUCH_BIN", vouch)
        .env("PATH", path)
        .env_remove("VOUCH_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("== Using {}", vouch.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("Building vouch"), "{stdout}");
    assert!(!stderr.contains("cargo was run"), "{stderr}");
    assert!(stdout.contains("the tampered image was denied"), "{stdout}");
}
