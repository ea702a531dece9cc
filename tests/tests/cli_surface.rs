//! What the command line itself says and refuses, before any work: help texts that match what
//! the commands do, and option values that could only fail later.
#![allow(clippy::unwrap_used)]

use vouch_tests::vouch;

#[test]
fn attest_help_names_the_attestation_tag() {
    let help = vouch(&["attest", "--help"]).expect_code(0).stdout;
    let legacy = help
        .lines()
        .find(|l| l.contains("legacy"))
        .unwrap_or_else(|| panic!("no legacy format in:\n{help}"));
    assert!(
        help.contains("sha256-<hex>.att"),
        "attest --help must say attestations go to .att:\n{help}"
    );
    assert!(!legacy.ends_with("(`sha256-<hex>.sig`)"), "{legacy}");
}

#[test]
fn a_registry_timeout_of_zero_is_refused_before_anything_is_fetched() {
    for value in ["0", "3601"] {
        let run = vouch(&[
            "verify",
            "--key",
            "/nonexistent.pub",
            "--registry-timeout",
            value,
            "127.0.0.1:1/app:v1",
        ])
        .expect_code(2);
        assert!(run.stderr.contains("--registry-timeout"), "{run:#?}");
        assert!(run.stderr.contains(value), "{run:#?}");
    }
}

#[test]
fn a_rego_policy_that_does_not_parse_is_one_line_and_cue_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = vouch_tests::generate_key(dir.path(), "k", "ecdsa-p256");
    let public = key.public.to_str().unwrap();
    let bad = dir.path().join("bad.rego");
    std::fs::write(&bad, "package signature\n\nallow if {\n  input.x ==\n}\n").unwrap();
    let cue = dir.path().join("policy.cue");
    std::fs::write(&cue, "package signature\nallow: true\n").unwrap();
    let image = "oci:/nonexistent-layout:v1";

    let with_policy = |policy: &std::path::Path| {
        vouch(&[
            "verify-attestation",
            "--key",
            public,
            "--type",
            "custom",
            "--policy",
            policy.to_str().unwrap(),
            image,
        ])
    };
    let run = with_policy(&bad).expect_code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "vouch: {}:5:1: does not parse as Rego: ",
            bad.display()
        )),
        "{run:#?}"
    );

    let run = with_policy(&cue).expect_code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr.contains("CUE policies are not supported"),
        "{run:#?}"
    );
}

#[test]
fn completions_man_pages_and_version_come_from_the_command_definitions() {
    let bash = vouch(&["completion", "bash"]).expect_code(0).stdout;
    assert!(
        bash.contains("_vouch()") && bash.contains("verify-attestation"),
        "{bash}"
    );
    // Commands' arguments are built only when needed (deferred): completions still have them,
    // down to subcommands of subcommands.
    assert!(
        bash.contains("--certificate-identity") && bash.contains("--mirror"),
        "{bash}"
    );
    let help = vouch(&["verify-blob", "--help"]).expect_code(0).stdout;
    assert!(
        help.contains("--bundle") && help.contains("--timeout"),
        "{help}"
    );
    let zsh = vouch(&["completion", "zsh"]).expect_code(0).stdout;
    assert!(zsh.starts_with("#compdef vouch"), "{zsh}");
    let fish = vouch(&["completion", "fish"]).expect_code(0).stdout;
    assert!(fish.contains("complete -c vouch"), "{fish}");
    vouch(&["completion", "tcsh"]).expect_code(2);

    let page = vouch(&["man"]).expect_code(0).stdout;
    assert!(page.contains(".TH vouch 1"), "{page}");
    assert!(
        page.contains("verify\\-blob"),
        "every command is listed: {page}"
    );
    let verify = vouch(&["man", "verify"]).expect_code(0).stdout;
    assert!(verify.contains(".TH vouch-verify 1"), "{verify}");
    assert!(
        verify.contains("\\-\\-key") && verify.contains("\\-\\-timeout"),
        "{verify}"
    );
    let unknown = vouch(&["man", "nosuch"]).expect_code(2);
    assert!(unknown.stderr.contains("nosuch"), "{unknown:#?}");

    let version = vouch(&["version", "-o", "json"]).expect_code(0).json();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    for field in ["git_commit", "rustc", "target", "profile"] {
        assert!(
            version[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {version:#}"
        );
    }
    assert!(
        version["rustc"].as_str().unwrap().starts_with("rustc "),
        "{version:#}"
    );
    // The commit is the checkout's own (in a git worktree too), or unknown outside one.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let expected = if head.status.success() {
        String::from_utf8(head.stdout).unwrap().trim().to_owned()
    } else {
        "unknown".to_owned()
    };
    assert_eq!(version["git_commit"], expected.as_str(), "{version:#}");
}

#[test]
fn document_commands_take_a_format_with_o_and_a_file_with_output_file() {
    let dir = tempfile::tempdir().unwrap();
    // A layer whose tar is empty (two zero blocks): no packages, a header only.
    let (_, image) = vouch_tests::empty_layer_image(dir.path());

    // `-o FILE`, the old spelling, is refused with the flag that writes a file: no file named
    // after it is written.
    let out = dir.path().join("out.json");
    let run = vouch(&["sbom", "-o", out.to_str().unwrap(), &image]).expect_code(2);
    assert!(run.stderr.contains("--output-file"), "{run:#?}");
    assert!(!out.exists());
    let json = vouch(&["sbom", "-o", "json", &image]).expect_code(0);
    assert!(json.stdout.contains("\"bomFormat\""), "{json:#?}");
    let text = vouch(&["sbom", "-o", "text", &image]).expect_code(0);
    assert!(text.stdout.starts_with("NAME"), "{text:#?}");
    vouch(&["sbom", "--output-file", out.to_str().unwrap(), &image]).expect_code(0);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("\"bomFormat\"")
    );

    let provenance = [
        "provenance",
        "--builder-id",
        "https://ci.example/builder",
        "--source-uri",
        "git+https://git.example/repo@refs/heads/main",
        "--source-digest",
        "gitCommit=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ];
    let mut args = provenance.to_vec();
    args.extend(["-o", "text", &image]);
    let run = vouch(&args).expect_code(2);
    assert!(run.stderr.contains("JSON document"), "{run:#?}");
    let mut args = provenance.to_vec();
    args.extend(["-o", "json", &image]);
    let run = vouch(&args).expect_code(0);
    assert!(
        run.stdout.contains("https://slsa.dev/provenance/v1"),
        "{run:#?}"
    );
}

#[test]
fn a_cosign_flag_vouch_does_not_take_is_named_with_what_vouch_offers() {
    let run = vouch(&[
        "sign",
        "--key",
        "k.key",
        "--allow-insecure-registry",
        "registry.example/app:v1",
    ])
    .expect_code(2);
    assert!(
        run.stderr.contains(
            "--allow-insecure-registry is cosign's flag: vouch's flag is --allow-http-registry"
        ),
        "{run:#?}"
    );
    // The verify commands take the keyless flags, but not together with a key.
    for verb in ["verify", "verify-attestation", "verify-blob"] {
        let run = vouch(&[
            verb,
            "--key",
            "k.pub",
            "--certificate-identity=someone@example.com",
            "registry.example/app:v1",
        ])
        .expect_code(2);
        assert!(
            run.stderr.contains("cannot be used with"),
            "{verb}: {run:#?}"
        );
    }
    // A flag that is nobody's gets clap's error alone.
    let run = vouch(&["verify", "--key", "k.pub", "--no-such-flag", "x"]).expect_code(2);
    assert!(!run.stderr.contains("cosign's flag"), "{run:#?}");
}

#[test]
fn counts_of_one_are_said_in_the_singular() {
    let dir = tempfile::tempdir().unwrap();
    let (_, image) = vouch_tests::empty_layer_image(dir.path());
    let mut said = Vec::new();

    // The SBOM's summary: an image of one layer.
    let sbom = vouch(&["sbom", &image]).expect_code(0);
    assert!(sbom.stderr.contains(" (1 layer, "), "{sbom:#?}");
    said.push(sbom.stderr);

    // Ed25519 signatures are deterministic: signing again finds the one already there.
    let key = vouch_tests::generate_key(dir.path(), "k", "ed25519");
    let sign = ["sign", "--key", key.key.to_str().unwrap(), &image];
    let first = vouch_tests::vouch_with_password(&key.password, &sign).expect_code(0);
    assert!(
        first.stdout.contains(" now holds 1 signature)"),
        "{first:#?}"
    );
    let again = vouch_tests::vouch_with_password(&key.password, &sign).expect_code(0);
    assert!(
        again
            .stdout
            .contains("this signature was already present in ")
            && again.stdout.trim_end().ends_with("(1 signature)"),
        "{again:#?}"
    );
    said.extend([first.stdout, again.stdout]);

    // Checked against another key: the one signature and the one attestation are named so.
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, br#"{"passed":true}"#).unwrap();
    let attest = [
        "attest",
        "--key",
        key.key.to_str().unwrap(),
        "--predicate",
        predicate.to_str().unwrap(),
        &image,
    ];
    vouch_tests::vouch_with_password(&key.password, &attest).expect_code(0);
    let other = vouch_tests::generate_key(dir.path(), "other", "ecdsa-p256");
    let other = other.public.to_str().unwrap();
    let denied = vouch(&["verify", "--key", other, &image]).expect_code(1);
    assert!(
        denied
            .stdout
            .contains(": 1 signature found, none by an accepted authority"),
        "{denied:#?}"
    );
    let attestation = vouch(&["verify-attestation", "--key", other, &image]).expect_code(1);
    assert!(
        attestation
            .stdout
            .contains(": the only attestation does not hold"),
        "{attestation:#?}"
    );
    said.extend([denied.stdout, attestation.stdout]);
    for text in said {
        for wrong in [
            "1 layers",
            "1 signatures",
            "1 attestations",
            "none of the 1 ",
        ] {
            assert!(!text.contains(wrong), "{wrong:?} in {text}");
        }
    }
}

/// The executable is position-dependent on Linux with glibc unless built with `VOUCH_PIE=1`: a
/// position-independent one has the loader rewrite ~140 pages of its data at every start.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_executable_is_position_dependent_unless_built_with_vouch_pie() {
    use std::io::Read as _;
    let mut header = [0u8; 18];
    std::fs::File::open(vouch_tests::vouch_bin())
        .and_then(|mut file| file.read_exact(&mut header))
        .unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    // e_type, little-endian: 2 is ET_EXEC (fixed address), 3 is ET_DYN (PIE).
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    let expected = if std::env::var("VOUCH_PIE").as_deref() == Ok("1") {
        3
    } else {
        2
    };
    assert_eq!(
        e_type,
        expected,
        "ELF type of {}",
        vouch_tests::vouch_bin().display()
    );
}
