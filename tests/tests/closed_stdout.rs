//! A reader that goes away (`vouch verify IMAGE | head -1`) ends vouch's printing quietly: no
//! panic, no "Broken pipe" message, and the command still ends with its own exit code (0
//! verified, 1 denied), so a script under `set -o pipefail` learns the verdict, not a crash.
//! The pipe's read end is closed before vouch starts, so every write it makes fails.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::process::Stdio;

use vouch_tests::{Run, generate_key, one_layer_layout, vouch_command, vouch_with_password};

/// Runs vouch with `args` (and `password` in the environment) writing into a pipe nobody
/// reads.
fn into_closed_pipe(args: &[&str], password: Option<&str>) -> Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = vouch_command(args);
    if let Some(password) = password {
        command.env("VOUCH_PASSWORD", password);
    }
    let output = command
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let run = Run::from(output);
    assert!(!run.stderr.contains("panicked"), "{run:#?}");
    assert!(!run.stderr.contains("Broken pipe"), "{run:#?}");
    assert!(!run.stderr.contains("broken pipe"), "{run:#?}");
    run
}

#[test]
fn every_command_that_prints_ends_quietly_with_its_own_exit_code_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    one_layer_layout(
        &d.join("layout"),
        "application/vnd.oci.image.layer.v1.tar",
        b"",
    );
    let image = format!("oci:{}:v1", d.join("layout").display());
    let key = generate_key(d, "signer", "ecdsa-p256");
    let other = generate_key(d, "other", "ecdsa-p256");
    let (key_file, public) = (key.key.to_str().unwrap(), key.public.to_str().unwrap());
    let predicate = d.join("predicate.json");
    fs::write(&predicate, br#"{"passed":true}"#).unwrap();
    let predicate = predicate.to_str().unwrap();

    let sign = ["sign", "--key", key_file, &image];
    into_closed_pipe(&sign, Some(&key.password)).expect_code(0);
    let attest = [
        "attest",
        "--key",
        key_file,
        "--predicate",
        predicate,
        "--type",
        "https://example.com/TestResult/v1",
        &image,
    ];
    vouch_with_password(&key.password, &attest).expect_code(0);

    for format in ["text", "json"] {
        into_closed_pipe(&["verify", "--key", public, "-o", format, &image], None).expect_code(0);
        let other_public = other.public.to_str().unwrap();
        into_closed_pipe(
            &["verify", "--key", other_public, "-o", format, &image],
            None,
        )
        .expect_code(1);
        into_closed_pipe(
            &["verify-attestation", "--key", public, "-o", format, &image],
            None,
        )
        .expect_code(0);
        into_closed_pipe(&["tree", "-o", format, &image], None).expect_code(0);
    }
    for verb in ["signature", "attestation"] {
        into_closed_pipe(&["download", verb, &image], None).expect_code(0);
    }
    into_closed_pipe(&["public-key", "--key", key_file], Some(&key.password)).expect_code(0);
    let sbom = ["sbom", &image];
    into_closed_pipe(&sbom, None).expect_code(0);
}
