//! The release pipelines in `examples/ci/` cannot rot: every vouch command line in them
//! parses with this vouch (each is run as written, with `--help` appended, which checks every
//! flag and value before it and prints the subcommand's help instead of running it), and the
//! trust policy they verify with loads and decides.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use vouch_tests::{Registry, push_image, unique, vouch, vouch_bin, workspace_dir};

/// The vouch command lines of a CI file: `run: vouch ...` (GitHub) and `- vouch ...`
/// (GitLab script entries).
fn vouch_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let command = line
                .strip_prefix("run: ")
                .or_else(|| line.strip_prefix("- "))?;
            command.starts_with("vouch ").then(|| command.to_owned())
        })
        .collect()
}

/// Runs `command` through bash with the variables the pipelines set, `--help` appended.
fn dry_run(command: &str) -> vouch_tests::Run {
    let bin_dir = vouch_bin().parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    vouch_tests::Run::from(
        std::process::Command::new("bash")
            .args(["-c", &format!("set -u; {command} --help")])
            .env("PATH", path)
            .env("IMAGE", "ghcr.io/acme/app")
            .env("DIGEST", format!("sha256:{}", "a".repeat(64)))
            .output()
            .unwrap(),
    )
}

#[test]
fn every_vouch_command_in_the_ci_examples_parses() {
    let dir = workspace_dir().join("examples/ci");
    let mut verbs = Vec::new();
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let lines = vouch_lines(&dir.join(name));
        assert!(lines.len() >= 5, "{name}: {lines:?}");
        for command in lines {
            let run = dry_run(&command);
            assert_eq!(run.code, 0, "{name}: `{command}` does not parse:\n{run:#?}");
            let verb = command.split_whitespace().nth(1).unwrap().to_owned();
            assert!(
                run.stdout.contains(&format!("Usage: vouch {verb}")),
                "{name}: `{command}`:\n{run:#?}"
            );
            verbs.push(verb);
        }
    }
    // Each pipeline signs, writes and attests provenance and an SBOM, and verifies.
    for verb in ["sign", "provenance", "attest", "sbom", "verify"] {
        assert_eq!(
            verbs.iter().filter(|v| *v == verb).count(),
            2,
            "{verb}: {verbs:?}"
        );
    }
    // The control: a flag vouch does not have fails the same dry run.
    let run = dry_run("vouch sign --no-such-flag \"$IMAGE@$DIGEST\"");
    assert_eq!(run.code, 2, "{run:#?}");
}

#[test]
fn the_example_policy_loads_and_denies_what_its_release_workflow_did_not_sign() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("example-policy"), "v1");
    let policy = workspace_dir().join("examples/ci/policy.yaml");
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("ghcr.io/acme/app", &format!("{}/**", registry.addr));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("policy.yaml");
    std::fs::write(&local, text).unwrap();
    let run = vouch(&[
        "verify",
        "-o",
        "json",
        "--policy",
        local.to_str().unwrap(),
        &image.tagged,
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
}
