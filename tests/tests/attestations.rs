//! Attestations in cosign's tag layout (`sha256-<hex>.att`), end to end on a real registry
//! (distribution 2.8): `vouch provenance` under a simulated GitHub Actions run, `vouch attest`
//! (appending, `--replace`), `vouch verify-attestation` with a Rego policy, `vouch tree`;
//! forged attestations denied with exit 1 and the check named; bad predicates refused with
//! exit 2 before anything is pushed; and vouch's envelopes checked by an independent DSSE
//! verifier (Python `cryptography`, computing the PAE itself).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use vouch_attestations::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_keys::{Digest, PrivateKey, PrivateKeyPem};
use vouch_registry::cosign::{NewAttestation, attach_attestation, read_attestations};
use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store, Target};
use vouch_tests::{
    KeyPair, Peer, Registry, Run, generate_key, push_image, unique, vouch, vouch_command,
    vouch_with_password,
};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// The policy of the acceptance test: provenance built by acme/app's release workflow from
/// github.com/acme/app, with a message naming the repository otherwise.
const POLICY: &str = r#"package signature

import rego.v1

default allow := false

allow if {
	input.predicate.runDetails.builder.id == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	input.predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/app"
}

deny contains msg if {
	repository := input.predicate.buildDefinition.externalParameters.workflow.repository
	repository != "https://github.com/acme/app"
	msg := sprintf("provenance is from %s, not https://github.com/acme/app", [repository])
}
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn target(image: &str) -> Target {
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    Store::open(&client, &ImageReference::parse(image).unwrap()).unwrap()
}

/// The environment of a GitHub Actions run of `repository`'s release workflow.
fn github_env(repository: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", repository.into()),
        ("GITHUB_REPOSITORY_ID", "123456789".into()),
        ("GITHUB_REPOSITORY_OWNER_ID", "987654".into()),
        ("GITHUB_REF", "refs/heads/main".into()),
        (
            "GITHUB_SHA",
            "4f5d3c2b1a0918273645546372819a0b1c2d3e4f".into(),
        ),
        (
            "GITHUB_WORKFLOW_REF",
            format!("{repository}/.github/workflows/release.yml@refs/heads/main"),
        ),
        ("GITHUB_RUN_ID", "1122334455".into()),
        ("GITHUB_RUN_ATTEMPT", "1".into()),
        ("GITHUB_EVENT_NAME", "push".into()),
        ("RUNNER_ENVIRONMENT", "github-hosted".into()),
    ]
}

/// Runs `vouch provenance` for `image` in a clean environment holding `env`.
fn provenance(image: &str, output: &Path, env: &[(&str, String)]) -> Run {
    let mut command = vouch_command(&[
        "provenance",
        "--output-file",
        output.to_str().unwrap(),
        image,
    ]);
    command.env_clear();
    for key in ["PATH", "HOME", "DOCKER_CONFIG"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    Run::from(command.output().unwrap())
}

fn attest(key: &KeyPair, predicate: &Path, kind: &str, image: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "attest",
        "--key",
        key.key.to_str().unwrap(),
        "--predicate",
        predicate.to_str().unwrap(),
        "--type",
        kind,
    ];
    args.extend_from_slice(extra);
    args.push(image);
    vouch_with_password(&key.password, &args)
}

fn verify_attestation(key: &KeyPair, image: &str, extra: &[&str], code: i32) -> Run {
    let mut args = vec!["verify-attestation", "--key", key.public.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(image);
    vouch(&args).expect_code(code)
}

#[test]
fn provenance_attested_verified_and_judged_by_a_rego_policy() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let second = generate_key(dir.path(), "second", "ed25519");
    let image = push_image(&registry, &unique("provenance"), "v1");
    let policy = dir.path().join("policy.rego");
    fs::write(&policy, POLICY).unwrap();

    // Two signatures, by two keys.
    for signer in [&key, &second] {
        vouch_with_password(
            &signer.password,
            &["sign", "--key", signer.key.to_str().unwrap(), &image.tagged],
        )
        .expect_code(0);
    }

    // Provenance from a GitHub Actions run of acme/app, about the image's digest.
    let prov = dir.path().join("provenance.json");
    provenance(&image.tagged, &prov, &github_env("acme/app")).expect_code(0);
    let statement: serde_json::Value = serde_json::from_slice(&fs::read(&prov).unwrap()).unwrap();
    assert_eq!(statement["predicateType"], SLSA_V1);
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        image.digest.trim_start_matches("sha256:")
    );

    // Three attestations: the provenance, an SBOM and a vulnerability scan.
    attest(&key, &prov, "slsaprovenance1", &image.tagged, &[]).expect_code(0);
    let sbom = dir.path().join("sbom.json");
    fs::write(
        &sbom,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#,
    )
    .unwrap();
    attest(&key, &sbom, "cyclonedx", &image.tagged, &[]).expect_code(0);
    let vuln = dir.path().join("vuln.json");
    fs::write(
        &vuln,
        br#"{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.50.0","result":[]}}"#,
    )
    .unwrap();
    attest(&key, &vuln, "vuln", &image.tagged, &[]).expect_code(0);

    // tree lists the two signatures and the three attestations with their types.
    let tree = vouch(&["tree", "-o", "json", &image.tagged])
        .expect_code(0)
        .json();
    let hex = image.digest.trim_start_matches("sha256:");
    assert_eq!(
        tree["tags"][format!("sha256-{hex}.sig")]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{tree:#}"
    );
    let attestations = tree["tags"][format!("sha256-{hex}.att")]
        .as_array()
        .unwrap();
    let types: Vec<&str> = attestations
        .iter()
        .map(|a| a["predicate_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            SLSA_V1,
            "https://cyclonedx.org/bom",
            "https://cosign.sigstore.dev/attestation/vuln/v1"
        ]
    );
    let text = vouch(&["tree", &image.tagged]).expect_code(0).stdout;
    assert!(
        text.contains("Attestations") && text.contains(SLSA_V1),
        "{text}"
    );

    // The policy holds: builder and source repository as required.
    let run = verify_attestation(
        &key,
        &image.tagged,
        &[
            "--type",
            "slsaprovenance1",
            "--policy",
            policy.to_str().unwrap(),
            "-o",
            "json",
        ],
        0,
    );
    let report = run.json();
    assert_eq!(report["verified"], true, "{report:#}");
    let verified = report["attestations"].as_array().unwrap();
    assert_eq!(verified.len(), 1, "{report:#}");
    assert_eq!(verified[0]["store"], "tag-layout");
    assert_eq!(verified[0]["policy"]["allowed"], true);
    assert_eq!(
        verified[0]["statement"]["predicate"]["runDetails"]["builder"]["id"],
        "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
    );
    // Text output prints the decoded predicate.
    let text = verify_attestation(
        &key,
        &image.tagged,
        &[
            "--type",
            "slsaprovenance1",
            "--policy",
            policy.to_str().unwrap(),
        ],
        0,
    )
    .stdout;
    assert!(text.contains("policy allows"), "{text}");
    assert!(
        text.contains(
            "built by https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main \
             from https://github.com/acme/app@refs/heads/main \
             (4f5d3c2b1a0918273645546372819a0b1c2d3e4f)"
        ),
        "{text}"
    );
    assert!(text.contains("https://github.com/acme/app"), "{text}");
    // Without a type, all three verify.
    let all = verify_attestation(&key, &image.tagged, &["-o", "json"], 0).json();
    assert_eq!(all["attestations"].as_array().unwrap().len(), 3);

    // Provenance from another repository replaces the first; the policy denies it, with its
    // message, and exit 1.
    let evil = dir.path().join("evil.json");
    provenance(&image.tagged, &evil, &github_env("evil/app")).expect_code(0);
    let replaced = attest(
        &key,
        &evil,
        "slsaprovenance1",
        &image.tagged,
        &["--replace", "-o", "json"],
    )
    .expect_code(0)
    .json();
    assert_eq!(replaced["stored"]["replaced"], 1, "{replaced:#}");
    assert_eq!(replaced["stored"]["layers"], 3, "{replaced:#}");
    let denied = verify_attestation(
        &key,
        &image.tagged,
        &[
            "--type",
            "slsaprovenance1",
            "--policy",
            policy.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        denied.stdout.contains(
            "provenance is from https://github.com/evil/app, not https://github.com/acme/app"
        ),
        "{}",
        denied.stdout
    );
    assert!(denied.stdout.starts_with("DENIED"), "{}", denied.stdout);
    let denied = verify_attestation(
        &key,
        &image.tagged,
        &[
            "--type",
            "slsaprovenance1",
            "--policy",
            policy.to_str().unwrap(),
            "-o",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(denied["verified"], false);
    assert_eq!(denied["attestations"][0]["policy"]["allowed"], false);

    // A policy that cannot be read is an input error, before the registry is asked.
    let broken = dir.path().join("broken.rego");
    fs::write(&broken, "package signature\nallow {{ if\n").unwrap();
    let run = verify_attestation(
        &key,
        &image.tagged,
        &[
            "--type",
            "slsaprovenance1",
            "--policy",
            broken.to_str().unwrap(),
        ],
        2,
    );
    assert!(run.stderr.contains("broken.rego"), "{}", run.stderr);
}

#[test]
fn attestations_on_a_layout_append_and_replace() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    vouch_tests::umoci_image(&layout, "v1", "amd64");
    let image = format!("oci:{}:v1", layout.display());
    let key = generate_key(dir.path(), "key", "ed25519");
    let first = dir.path().join("first.json");
    fs::write(&first, br#"{"run": 1}"#).unwrap();
    let second = dir.path().join("second.json");
    fs::write(&second, br#"{"run": 2}"#).unwrap();
    let sbom = dir.path().join("sbom.json");
    fs::write(&sbom, br#"{"bomFormat":"CycloneDX"}"#).unwrap();

    attest(
        &key,
        &first,
        "https://example.com/TestResult/v1",
        &image,
        &[],
    )
    .expect_code(0);
    attest(&key, &sbom, "cyclonedx", &image, &[]).expect_code(0);
    // The same attestation again (Ed25519 signatures are deterministic: the same envelope)
    // is not a second layer.
    let again = attest(
        &key,
        &first,
        "https://example.com/TestResult/v1",
        &image,
        &["-o", "json"],
    )
    .expect_code(0)
    .json();
    assert_eq!(again["stored"]["layers"], 2, "{again:#}");
    assert_eq!(again["stored"]["already_present"], true, "{again:#}");
    let replaced = attest(
        &key,
        &second,
        "https://example.com/TestResult/v1",
        &image,
        &["--replace", "-o", "json"],
    )
    .expect_code(0)
    .json();
    assert_eq!(replaced["stored"]["replaced"], 1, "{replaced:#}");
    assert_eq!(replaced["stored"]["layers"], 2, "{replaced:#}");

    let report = verify_attestation(&key, &image, &["-o", "json"], 0).json();
    let mut runs: Vec<_> = report["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statement"]["predicate"].clone())
        .collect();
    runs.sort_by_key(|p| p.to_string());
    assert_eq!(
        runs,
        [
            serde_json::json!({"bomFormat": "CycloneDX"}),
            serde_json::json!({"run": 2})
        ]
    );
}

#[test]
fn provenance_names_the_missing_fact_and_covers_files_and_gitlab() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("app.tar.gz");
    fs::write(&artifact, b"release archive").unwrap();
    let artifact_text = artifact.to_str().unwrap();
    let out = dir.path().join("out.json");

    // Outside CI, without the generic facts: refused, pointing at the flags.
    let run = provenance(artifact_text, &out, &[]).expect_code(2);
    assert!(run.stderr.contains("--builder-id"), "{}", run.stderr);
    // A GitHub run without its commit: the variable is named.
    let mut env = github_env("acme/app");
    env.retain(|(k, _)| *k != "GITHUB_SHA");
    let run = provenance(artifact_text, &out, &env).expect_code(2);
    assert!(
        run.stderr.contains("GITHUB_SHA is not set"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written on refusal");
    // Several missing: all named in one run.
    env.retain(|(k, _)| *k != "GITHUB_RUN_ID" && *k != "GITHUB_WORKFLOW_REF");
    let run = provenance(artifact_text, &out, &env).expect_code(2);
    assert!(
        run.stderr
            .contains("GITHUB_SHA, GITHUB_WORKFLOW_REF, GITHUB_RUN_ID are not set"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!out.exists(), "nothing is written on refusal");

    // GitLab CI: the file's digest is the subject, the commit the resolved dependency.
    let gitlab = vec![
        ("GITLAB_CI", "true".to_owned()),
        ("CI_SERVER_URL", "https://gitlab.example".into()),
        ("CI_PROJECT_URL", "https://gitlab.example/acme/app".into()),
        ("CI_PROJECT_PATH", "acme/app".into()),
        ("CI_JOB_NAME", "release".into()),
        ("CI_JOB_ID", "4242".into()),
        (
            "CI_JOB_URL",
            "https://gitlab.example/acme/app/-/jobs/4242".into(),
        ),
        ("CI_JOB_STARTED_AT", "2026-11-29T08:00:00Z".into()),
        (
            "CI_COMMIT_SHA",
            "4f5d3c2b1a0918273645546372819a0b1c2d3e4f".into(),
        ),
        ("CI_COMMIT_REF_NAME", "main".into()),
        ("CI_COMMIT_BRANCH", "main".into()),
        ("CI_RUNNER_ID", "17".into()),
        ("CI_RUNNER_REVISION", "v17.5.0".into()),
        ("CI_JOB_TOKEN", "glcbt-secret-token-value".into()),
    ];
    provenance(artifact_text, &out, &gitlab).expect_code(0);
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("glcbt-secret-token-value"),
        "a secret leaked: {text}"
    );
    let statement: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(statement["subject"][0]["name"], "app.tar.gz");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        Digest::sha256(b"release archive").hex()
    );
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["runDetails"]["builder"]["id"],
        "https://gitlab.example/acme/app/-/runners/17"
    );
    assert_eq!(
        predicate["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"],
        "4f5d3c2b1a0918273645546372819a0b1c2d3e4f"
    );
    assert_eq!(
        predicate["runDetails"]["metadata"]["invocationId"],
        "https://gitlab.example/acme/app/-/jobs/4242"
    );
    // An existing output is kept without --force.
    let run = provenance(artifact_text, &out, &gitlab).expect_code(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&out).unwrap(), text);
}

/// Attaches `envelope` to the image's `.att` tag directly, as an attacker with push access
/// (but not the key) could.
fn plant(image: &str, digest: &Digest, envelope: Vec<u8>, predicate_type: &str) {
    let target = target(image);
    let attestation = NewAttestation {
        envelope,
        predicate_type: predicate_type.into(),
        annotations: BTreeMap::new(),
    };
    runtime()
        .block_on(attach_attestation(
            &target.store,
            digest,
            &attestation,
            false,
        ))
        .unwrap();
}

fn statement(name: &str, digest: &Digest, predicate_type: &str) -> Vec<u8> {
    Statement::new(
        vec![ResourceDescriptor::for_digest(name, digest)],
        predicate_type,
        Some(serde_json::json!({"buildDefinition": {"buildType": "https://example.com/b"}})),
    )
    .unwrap()
    .to_vec()
}

fn edit(envelope: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    f(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn forged_attestations_are_denied_with_the_check_named() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let signer = match PrivateKeyPem::parse(&fs::read_to_string(&key.key).unwrap()).unwrap() {
        PrivateKeyPem::Encrypted(e) => e.decrypt(key.password.as_bytes()).unwrap(),
        PrivateKeyPem::Plain(k) => k,
    };
    let stranger = PrivateKey::generate(vouch_keys::KeyType::EcdsaP256).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;

    struct Case {
        name: &'static str,
        check: &'static str,
        args: Vec<&'static str>,
    }
    let cases = [
        Case {
            name: "other-subject",
            check: "artifact-digest",
            args: vec![],
        },
        Case {
            name: "payload-altered",
            check: "artifact-signature",
            args: vec![],
        },
        Case {
            name: "type-altered",
            check: "artifact-signature",
            args: vec![],
        },
        Case {
            name: "other-predicate",
            check: "predicate-type",
            args: vec!["--type", "slsaprovenance1"],
        },
        Case {
            name: "other-key",
            check: "artifact-signature",
            args: vec![],
        },
    ];
    for case in cases {
        let image = push_image(&registry, &unique(case.name), "v1");
        let digest: Digest = image.digest.parse().unwrap();
        let other_image = Digest::sha256(b"another image's manifest");
        let name = image.repository.as_str();
        let good = || {
            Envelope::sign(
                IN_TOTO_PAYLOAD_TYPE,
                statement(name, &digest, SLSA_V1),
                &signer,
                "",
            )
            .unwrap()
            .to_vec()
        };
        let envelope = match case.name {
            "other-subject" => Envelope::sign(
                IN_TOTO_PAYLOAD_TYPE,
                statement(name, &other_image, SLSA_V1),
                &signer,
                "",
            )
            .unwrap()
            .to_vec(),
            "payload-altered" => edit(&good(), |v| {
                let mut forged: serde_json::Value =
                    serde_json::from_slice(&statement(name, &digest, SLSA_V1)).unwrap();
                forged["predicate"]["buildDefinition"]["buildType"] = "https://evil.example".into();
                v["payload"] = b64.encode(serde_json::to_vec(&forged).unwrap()).into();
            }),
            "type-altered" => edit(&good(), |v| {
                v["payloadType"] = "application/vnd.example+json".into();
            }),
            "other-predicate" => Envelope::sign(
                IN_TOTO_PAYLOAD_TYPE,
                statement(name, &digest, "https://cyclonedx.org/bom"),
                &signer,
                "",
            )
            .unwrap()
            .to_vec(),
            "other-key" => Envelope::sign(
                IN_TOTO_PAYLOAD_TYPE,
                statement(name, &digest, SLSA_V1),
                &stranger,
                "",
            )
            .unwrap()
            .to_vec(),
            _ => unreachable!(),
        };
        plant(&image.tagged, &digest, envelope, SLSA_V1);
        let mut args = case.args.clone();
        args.extend(["-o", "json"]);
        let report = verify_attestation(&key, &image.tagged, &args, 1).json();
        assert_eq!(report["verified"], false, "{}: {report:#}", case.name);
        let rejected = report["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 1, "{}: {report:#}", case.name);
        assert_eq!(
            rejected[0]["check"], case.check,
            "{}: {report:#}",
            case.name
        );
        assert_eq!(rejected[0]["store"], "tag-layout");
        let text = verify_attestation(&key, &image.tagged, &case.args, 1).stdout;
        assert!(text.starts_with("DENIED"), "{}: {text}", case.name);
    }
}

#[test]
fn bad_predicates_are_refused_before_anything_is_pushed() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let image = push_image(&registry, &unique("badpredicate"), "v1");

    let malformed = dir.path().join("malformed.json");
    fs::write(&malformed, br#"{"buildDefinition": {"buildType": }"#).unwrap();
    let duplicate = dir.path().join("duplicate.json");
    fs::write(
        &duplicate,
        br#"{"runDetails": {"builder": {"id": "https://a.example", "id": "https://b.example"}}}"#,
    )
    .unwrap();
    let huge = dir.path().join("huge.json");
    let mut text = String::from("{\"padding\":\"");
    text.push_str(&"a".repeat(16 * 1024 * 1024));
    text.push_str("\"}");
    fs::write(&huge, text).unwrap();
    let elsewhere = dir.path().join("statement.json");
    fs::write(
        &elsewhere,
        statement("x", &Digest::sha256(b"another image"), SLSA_V1),
    )
    .unwrap();

    for (file, kind, expected) in [
        (&malformed, "custom", "malformed predicate"),
        (&duplicate, "custom", "duplicate key \"id\""),
        (&huge, "custom", "over the limit of 16777216 bytes"),
        (
            &elsewhere,
            "slsaprovenance1",
            "is an in-toto statement about sha256:",
        ),
    ] {
        let run = attest(&key, file, kind, &image.tagged, &[]).expect_code(2);
        assert!(
            run.stderr.contains(expected),
            "{}: {}",
            file.display(),
            run.stderr
        );
    }
    let run = attest(&key, &malformed, "no-such-type", &image.tagged, &[]).expect_code(2);
    assert!(run.stderr.contains("no-such-type"), "{}", run.stderr);

    // Nothing was attached.
    let tree = vouch(&["tree", "-o", "json", &image.tagged])
        .expect_code(0)
        .json();
    assert_eq!(tree["tags"], serde_json::json!({}), "{tree:#}");
}

/// Verifies a DSSE envelope with Python's `cryptography`, computing the PAE itself; exits 0
/// when a signature verifies.
const PYTHON_DSSE: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

envelope = json.load(open(sys.argv[1]))
key = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
payload_type = envelope["payloadType"].encode()
payload = base64.b64decode(envelope["payload"])
pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
for signature in envelope["signatures"]:
    sig = base64.b64decode(signature["sig"])
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, pae, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(sig, pae)
    except Exception as error:
        print("signature does not verify:", type(error).__name__)
        continue
    statement = json.loads(payload)
    print("verified", statement["predicateType"], statement["subject"][0]["digest"]["sha256"])
    sys.exit(0)
sys.exit(1)
"#;

#[test]
fn envelopes_verify_with_an_independent_dsse_implementation() {
    let Some(python) = Peer::SigstorePython.install() else {
        return;
    };
    let python = python.dir.join("bin/python");
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("dsse.py");
    fs::write(&script, PYTHON_DSSE).unwrap();
    let predicate = dir.path().join("predicate.json");
    fs::write(&predicate, br#"{"passed": true}"#).unwrap();

    for algorithm in ["ecdsa-p256", "ed25519"] {
        let key = generate_key(dir.path(), algorithm, algorithm);
        let image = push_image(&registry, &unique("independent"), "v1");
        attest(
            &key,
            &predicate,
            "https://example.com/TestResult/v1",
            &image.tagged,
            &[],
        )
        .expect_code(0);
        let digest: Digest = image.digest.parse().unwrap();
        let set = runtime()
            .block_on(async {
                let store = target(&image.tagged).store;
                let budget = vouch_registry::EvidenceBudget::for_image(&store, &digest);
                read_attestations(&store, &digest, &budget).await
            })
            .unwrap();
        assert_eq!(set.layers.len(), 1);
        let envelope = dir.path().join(format!("{algorithm}.dsse.json"));
        fs::write(&envelope, set.layers[0].payload.as_ref().unwrap()).unwrap();

        let run = Run::from(
            Command::new(&python)
                .args([&script, &envelope, &key.public])
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 0, "{algorithm}: {run:#?}");
        assert_eq!(
            run.stdout.trim(),
            format!(
                "verified https://example.com/TestResult/v1 {}",
                digest.hex()
            )
        );

        // And it refuses the same envelope with one payload byte changed.
        let tampered = edit(&fs::read(&envelope).unwrap(), |v| {
            let payload = base64::engine::general_purpose::STANDARD
                .decode(v["payload"].as_str().unwrap())
                .unwrap();
            let text = String::from_utf8(payload).unwrap().replace("true", "false");
            v["payload"] = base64::engine::general_purpose::STANDARD
                .encode(text)
                .into();
        });
        fs::write(&envelope, tampered).unwrap();
        let run = Run::from(
            Command::new(&python)
                .args([&script, &envelope, &key.public])
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 1, "{algorithm}: {run:#?}");
    }
}

#[test]
fn several_images_each_get_their_result_and_the_worst_exit_code() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "att", "ecdsa-p256");
    let predicate = dir.path().join("predicate.json");
    fs::write(&predicate, r#"{"checked":true}"#).unwrap();
    let attested = push_image(&registry, &unique("several-a"), "v1");
    let plain = push_image(&registry, &unique("several-b"), "v1");
    attest(&key, &predicate, "custom", &attested.tagged, &[]).expect_code(0);
    let missing = format!("{}/{}:v1", registry.addr, unique("several-none"));

    // Attested and not attested: denied (1), both reported.
    let public = key.public.to_str().unwrap();
    let several = |images: &[&str], extra: &[&str], code: i32| {
        let mut args = vec!["verify-attestation", "--key", public, "--type", "custom"];
        args.extend_from_slice(extra);
        args.extend_from_slice(images);
        vouch(&args).expect_code(code)
    };
    let run = several(&[&attested.tagged, &plain.tagged], &["-o", "json"], 1);
    let reports = run.json();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert_eq!(reports[0]["verified"], true, "{reports:#?}");
    assert_eq!(reports[0]["digest"], attested.digest);
    assert_eq!(reports[1]["verified"], false);
    assert_eq!(reports[1]["digest"], plain.digest);

    // One that does not exist: its error in its place, exit 2, the others still reported.
    let run = several(
        &[&attested.tagged, &missing, &plain.tagged],
        &["-o", "json"],
        2,
    );
    let reports = run.json();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 3, "{reports:#?}");
    assert_eq!(reports[0]["verified"], true);
    assert_eq!(reports[1]["image"], missing.as_str());
    assert_eq!(reports[1]["exit_code"], 2);
    assert!(
        reports[1]["error"].as_str().unwrap().contains("not found")
            || reports[1]["error"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
        "{reports:#?}"
    );
    assert_eq!(reports[2]["verified"], false);
    assert!(run.stderr.contains(&missing), "{}", run.stderr);

    // Text: a section per image that could be looked at.
    let run = several(&[&attested.tagged, &plain.tagged], &["--summary"], 1);
    assert!(run.stdout.contains(&attested.digest), "{}", run.stdout);
    assert!(run.stdout.contains(&plain.digest), "{}", run.stdout);

    // One image keeps its single JSON object.
    let one = verify_attestation(
        &key,
        &attested.tagged,
        &["--type", "custom", "-o", "json"],
        0,
    );
    assert_eq!(one.json()["verified"], true);
}
