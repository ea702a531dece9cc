//! SLSA provenance against real provenance from slsa-verifier's test data, the in-toto
//! attestation vectors and the SLSA spec's examples (tests/data/slsa/README.md,
//! tests/data/in-toto-attestation/README.md), and the provenance builders against what
//! GitHub and GitLab write.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vouch_attestations::AttestationError;
use vouch_attestations::dsse::Envelope;
use vouch_attestations::intoto::{ResourceDescriptor, Statement};
use vouch_attestations::slsa::build::{self, Ci, GenericBuild};
use vouch_attestations::slsa::{
    AnyProvenance, GENERIC_BUILD_TYPE, PROVENANCE_V0_2, PROVENANCE_V1, Source, v0_2, v1,
};
use vouch_keys::Digest;

fn data_dir(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn data(path: &str) -> Vec<u8> {
    let full = data_dir(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn json_file(path: &str) -> Value {
    serde_json::from_slice(&data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Reads `provenance` back from its own JSON and checks that it is the JSON it was read from.
fn assert_round_trip(name: &str, predicate: &Value, provenance: &AnyProvenance) {
    assert_eq!(&provenance.to_value(), predicate, "{name}: not lossless");
    let again = AnyProvenance::from_predicate(provenance.predicate_type(), predicate).unwrap();
    assert_eq!(&again, provenance, "{name}");
    // serde::Serialize writes the same JSON.
    let serialized = match provenance {
        AnyProvenance::V1(p) => serde_json::to_value(p).unwrap(),
        AnyProvenance::V0_2(p) => serde_json::to_value(p).unwrap(),
    };
    assert_eq!(&serialized, predicate, "{name}");
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The DSSE envelopes a slsa-verifier provenance file holds: a bare envelope
/// (`*.intoto.jsonl` of the legacy generators), a Sigstore bundle whose `dsseEnvelope` is
/// one (`*.intoto.jsonl` since generator v2, `*.build.slsa`), or npm's
/// `{"attestations":[{"bundle":…}]}`.
fn envelopes(document: &Value) -> Vec<Envelope> {
    let read = |value: &Value| Envelope::from_slice(&serde_json::to_vec(value).unwrap()).unwrap();
    if let Some(envelope) = document.get("dsseEnvelope") {
        vec![read(envelope)]
    } else if document.get("payload").is_some() {
        vec![read(document)]
    } else if let Some(attestations) = document.get("attestations") {
        attestations
            .as_array()
            .unwrap()
            .iter()
            .map(|attestation| read(&attestation["bundle"]["dsseEnvelope"]))
            .collect()
    } else {
        panic!("no envelope in {document}")
    }
}

/// Every statement in the slsa-verifier files: (file path under cli-testdata, statement).
fn slsa_verifier_statements() -> Vec<(String, Statement)> {
    let root = data_dir("slsa/slsa-verifier/cli-testdata");
    let mut statements = Vec::new();
    for path in files_under(&root) {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for envelope in envelopes(&document) {
            let statement =
                Statement::from_envelope(&envelope).unwrap_or_else(|e| panic!("{name}: {e}"));
            statements.push((name.clone(), statement));
        }
    }
    statements
}

/// What slsa-verifier's tests expect of each provenance (slsa-verifier README.txt): the
/// source repository, the ref, and the start of the builder id.
fn expected_source_and_builder(name: &str) -> (&'static str, &'static str, String) {
    const GENERATOR: &str =
        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/";
    let example_package = "https://github.com/slsa-framework/example-package";
    let tag_or_main = || {
        for tag in ["v13.0.30", "v14.2", "v14"] {
            if name.contains(&format!("push-{tag}.")) {
                return match tag {
                    "v13.0.30" => "refs/tags/v13.0.30",
                    "v14.2" => "refs/tags/v14.2",
                    _ => "refs/tags/v14",
                };
            }
        }
        assert!(name.contains("workflow_dispatch"), "{name}");
        "refs/heads/main"
    };
    let (directory, _) = name.split_once('/').unwrap_or(("", name));
    let builder = match directory {
        "gha_generic" => "generator_generic_slsa3.yml@refs/tags/v2.1.0",
        "gha_go" => "builder_go_slsa3.yml@refs/tags/v2.1.0",
        "gha_maven" => "builder_maven_slsa3.yml@refs/tags/v2.1.0",
        "gha_gradle" => "builder_gradle_slsa3.yml@refs/tags/v2.1.0",
        "gha_container-based" => "builder_container-based_slsa3.yml@refs/tags/v2.1.0",
        "gha_delegator" => {
            // BYOB: the trusted reusable workflow, outside slsa-github-generator.
            return (
                example_package,
                tag_or_main(),
                "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml"
                    .to_owned(),
            );
        }
        _ => "",
    };
    if !builder.is_empty() {
        return (
            example_package,
            tag_or_main(),
            format!("{GENERATOR}{builder}"),
        );
    }
    let (repository, git_ref, builder) = match name {
        "bcr/MODULE.bazel.intoto.jsonl" | "bcr/MODULE-wrong-signer.bazel.intoto.jsonl" => (
            "https://github.com/aspect-build/rules_lint",
            "refs/heads/publish-to-bcr",
            "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml",
        ),
        "bcr/rules_lint-v1.3.1.tar.gz.intoto.jsonl" => (
            "https://github.com/aspect-build/rules_lint",
            "refs/heads/publish-to-bcr",
            "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml",
        ),
        "annotated-tag.intoto.jsonl" => (
            "https://github.com/asraa/slsa-on-github-test",
            "refs/tags/v1.5.0",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml",
        ),
        "workflow-inputs.intoto.jsonl" => (
            "https://github.com/laurentsimon/slsa-on-github-test",
            "refs/heads/main",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml",
        ),
        "binary-linux-amd64-multi-subject-first.intoto.jsonl"
        | "binary-linux-amd64-multi-subject-second.intoto.jsonl" => (
            example_package,
            "refs/heads/main",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml",
        ),
        "binary-linux-amd64-e2e-builder-repo.intoto.jsonl" => (
            example_package,
            "refs/heads/main",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml",
        ),
        // Provenance for expired-cert, no-tlog-upload, untrusted-builder and sharded: the
        // README names no source; these are what the files say.
        "binary-linux-amd64-expired-cert.intoto.jsonl"
        | "binary-linux-amd64-no-tlog-upload.intoto.jsonl"
        | "binary-linux-amd64-untrusted-builder.intoto.jsonl" => (
            "https://github.com/asraa/slsa-on-github-test",
            "refs/heads/main",
            "https://github.com/asraa/slsa-github-generator/.github/workflows/builder_go_slsa3.yml",
        ),
        "binary-linux-amd64-sharded.intoto.jsonl" => (
            "https://github.com/slsa-framework/slsa-verifier",
            "refs/tags/v1.0.1",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml",
        ),
        "npm/gha/gundam-visor-cli-v1-tag.tgz.json" => (
            "https://github.com/ramonpetgrave64/gundam-visor",
            "refs/tags/v1.0.1",
            "https://github.com/actions/runner/github-hosted",
        ),
        "npm/gha/supreme-googles-cli-v02-tag.tgz.json" => (
            "https://github.com/trishankatdatadog/supreme-goggles",
            "refs/tags/v1.0.5",
            "https://github.com/actions/runner",
        ),
        "npm/gha/provenance-npm-test-cli-v02-prega.tgz.json" => (
            "https://github.com/laurentsimon/provenance-npm-test",
            "refs/heads/main",
            "https://github.com/actions/runner",
        ),
        "npm/gha/provenance-npm-test-cli-v1-prega.tgz.json" => (
            "https://github.com/sigstore/sigstore-js",
            "refs/heads/main",
            "https://github.com/actions/runner/github-hosted",
        ),
        "npm/gha/provenance-npm-test-ossf.tgz.json" => (
            "https://github.com/laurentsimon/provenance-npm-test",
            "refs/heads/main",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_nodejs_slsa3.yml",
        ),
        other => panic!("no expectation for {other}"),
    };
    (repository, git_ref, builder.to_owned())
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn slsa_verifier_provenance_round_trips_with_its_source_and_builder() {
    let (mut v1, mut v0_2, mut npm_publish) = (0, 0, 0);
    for (name, statement) in slsa_verifier_statements() {
        if statement.predicate_type()
            == "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"
        {
            // npm's publish attestation sits next to the provenance: not provenance.
            assert!(matches!(
                AnyProvenance::from_statement(&statement),
                Err(AttestationError::NotProvenance { .. })
            ));
            npm_publish += 1;
            continue;
        }
        let provenance =
            AnyProvenance::from_statement(&statement).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_round_trip(&name, statement.predicate().unwrap(), &provenance);
        match provenance.predicate_type() {
            PROVENANCE_V1 => v1 += 1,
            PROVENANCE_V0_2 => v0_2 += 1,
            other => panic!("{other}"),
        }

        let (repository, git_ref, builder) = expected_source_and_builder(&name);
        let source = provenance
            .source()
            .unwrap_or_else(|| panic!("{name}: no source"));
        assert_eq!(source.repository, repository, "{name}");
        assert_eq!(source.git_ref, Some(git_ref), "{name}");
        assert!(source.commit.is_some_and(is_commit), "{name}: {source:?}");
        if name.starts_with("gha_") {
            // One commit of example-package, read from a v0.2 `sha1` or a v1 `gitCommit`.
            assert_eq!(
                source.commit,
                Some("4d329c75e7ec1725f7c9ce917a8799d408d06be3"),
                "{name}"
            );
        }
        assert!(
            provenance.builder_id().starts_with(&builder),
            "{name}: {}",
            provenance.builder_id()
        );
        assert!(!provenance.build_type().is_empty());
    }
    assert_eq!((v1, v0_2, npm_publish), (21, 20, 5));
}

#[test]
fn real_statements_round_trip_and_v0_1_is_refused() {
    let index = String::from_utf8(data("in-toto-attestation/real-statements/INDEX.tsv")).unwrap();
    let mut round_tripped = 0;
    for line in index.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        let statement = Statement::from_slice(&data(&format!(
            "in-toto-attestation/real-statements/{file}"
        )))
        .unwrap();
        let result = AnyProvenance::from_statement(&statement);
        if !file.starts_with("slsa-provenance-v1") && !file.starts_with("slsa-provenance-v0.2") {
            // v0.1 (Google Cloud Build), npm publish, the VSA, cosign predicates.
            assert_eq!(
                result,
                Err(AttestationError::NotProvenance {
                    found: statement.predicate_type().to_owned()
                }),
                "{file}"
            );
            continue;
        }
        let provenance = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_round_trip(file, statement.predicate().unwrap(), &provenance);
        round_tripped += 1;
    }
    assert_eq!(round_tripped, 8);

    // The per-version readers check the predicate type too.
    let v0_2 = Statement::from_slice(&data(
        "in-toto-attestation/real-statements/slsa-provenance-v0.2_gha-go.json",
    ))
    .unwrap();
    assert!(v0_2::Provenance::from_statement(&v0_2).is_ok());
    assert!(matches!(
        v1::Provenance::from_statement(&v0_2),
        Err(AttestationError::NotProvenance { .. })
    ));
    let go = v0_2::Provenance::from_statement(&v0_2).unwrap();
    let metadata = go.metadata().unwrap();
    // in-toto-golang spells it buildInvocationID: kept as written, read by the accessor.
    assert_eq!(metadata.build_invocation_id, None);
    assert!(metadata.extra.contains_key("buildInvocationID"));
    assert!(metadata.invocation_id().is_some());
    assert_eq!(go.build_config().unwrap()["version"], json!(1));
}

#[test]
fn slsa_spec_examples() {
    // Partial statements from the SLSA repository, predicateType ".../v1?draft": the
    // predicate is v1 in shape, read with the v1 reader directly.
    let github = json_file("slsa/slsa-spec-examples/github-actions-workflow-v1-example.json");
    assert_eq!(
        github["predicateType"],
        "https://slsa.dev/provenance/v1?draft"
    );
    assert!(matches!(
        AnyProvenance::from_predicate("https://slsa.dev/provenance/v1?draft", &github["predicate"]),
        Err(AttestationError::NotProvenance { .. })
    ));
    let provenance = v1::Provenance::from_predicate(&github["predicate"]).unwrap();
    assert_round_trip(
        "github-actions-workflow-v1-example",
        &github["predicate"],
        &AnyProvenance::V1(provenance.clone()),
    );
    // The draft's `systemParameters` (renamed internalParameters in v1.0) is kept.
    assert!(
        provenance
            .build_definition()
            .extra
            .contains_key("systemParameters")
    );
    assert_eq!(
        provenance
            .run_details()
            .metadata
            .as_ref()
            .unwrap()
            .started_on_seconds(),
        Some(1_672_576_496)
    );
    // The draft build type is not the v1 one: the first git+ dependency is the source.
    assert_eq!(
        provenance.source(),
        Some(Source {
            repository: "https://github.com/octocat/hello-world",
            git_ref: Some("refs/heads/main"),
            commit: Some("c27d339ee6075c1f744c5d4b200f7901aad2c369"),
        })
    );

    // The GCB example names no builder, which v1 requires (runDetails.builder.id).
    let gcb = json_file("slsa/slsa-spec-examples/gcb-triggered-build-v1-example.json");
    assert_eq!(
        v1::Provenance::from_predicate(&gcb["predicate"])
            .unwrap_err()
            .to_string(),
        "malformed SLSA provenance v1: missing field runDetails.builder"
    );
}

#[test]
fn provenance_v1_validation_vectors() {
    let expected: Vec<(String, String)> =
        String::from_utf8(data("in-toto-attestation/validation/EXPECTED.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut columns = line.split('\t');
                let file = columns
                    .next()?
                    .strip_prefix("slsa_provenance_v1_predicate/")?;
                Some((file.to_owned(), columns.next()?.to_owned()))
            })
            .collect();
    assert_eq!(expected.len(), 7, "EXPECTED.tsv changed: review the table");
    for (file, upstream) in expected {
        let predicate = json_file(&format!(
            "in-toto-attestation/validation/slsa_provenance_v1_predicate/{file}"
        ));
        let result = v1::Provenance::from_predicate(&predicate);
        let refused_naming = |field: &str| match &result {
            Err(AttestationError::Malformed { format, reason }) => {
                assert_eq!(*format, "SLSA provenance v1");
                assert_eq!(reason, field, "{file}");
            }
            other => panic!("{file}: {other:?}"),
        };
        match file.as_str() {
            "valid_provenance.json" => {
                assert!(upstream.starts_with("PARSES"));
                let provenance = result.unwrap();
                assert_round_trip(&file, &predicate, &AnyProvenance::V1(provenance.clone()));
                assert_eq!(provenance.builder_id(), "theId");
                assert_eq!(provenance.build_type(), "theBuildType");
                let builder = &provenance.run_details().builder;
                assert_eq!(builder.version.as_ref().unwrap()["theComponent"], "v0.1");
                // "alg1" is not an algorithm digest_set.md defines: kept as written.
                let dependency = &provenance
                    .build_definition()
                    .resolved_dependencies
                    .as_ref()
                    .unwrap()[0];
                assert_eq!(dependency.digest.as_ref().unwrap()["alg1"], "abc123");
                assert_eq!(dependency.name.as_deref(), Some("theResource"));
                // Nothing names a source repository.
                assert_eq!(provenance.source(), None);
            }
            // Upstream's Go test sets no BuildDefinition (ErrBuildDefinitionRequired); its
            // JSON is `"buildDefinition":{}`, which vouch reads as present and empty, so the
            // first missing field inside is named. Both refuse.
            "no_buildDefinition.json" => {
                assert_eq!(upstream, "ErrBuildDefinitionRequired");
                refused_naming("missing field buildDefinition.buildType");
            }
            "buildDefinition_missing_buildType_required_field.json" => {
                assert_eq!(upstream, "ErrBuildTypeRequired");
                refused_naming("missing field buildDefinition.buildType");
            }
            "buildDefinition_missing_externalParameters_required_field.json" => {
                assert_eq!(upstream, "ErrExternalParamsRequired");
                refused_naming("missing field buildDefinition.externalParameters");
            }
            // As above: `"runDetails":{}` is present and empty; its builder is missing.
            "no_runDetails.json" => {
                assert_eq!(upstream, "ErrRunDetailsRequired");
                refused_naming("missing field runDetails.builder");
            }
            // `"builder":{}`: present, without id.
            "runDetails_missing_builder_required_field.json" => {
                assert_eq!(upstream, "ErrBuilderRequired");
                refused_naming("missing field runDetails.builder.id");
            }
            "runDetails.builder_missing_id_required_field.json" => {
                assert_eq!(upstream, "ErrBuilderIdRequired");
                refused_naming("runDetails.builder.id is empty");
            }
            other => panic!("no expectation for {other}"),
        }
    }
}

// --- Builders -------------------------------------------------------------------------

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The GitHub Actions variables of the run that made the bcr vector (aspect-build/rules_lint,
/// run 14095611671), as GitHub sets them; the job ran in bazel-contrib's reusable workflow.
const BCR_ENV: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "aspect-build/rules_lint"),
    ("GITHUB_REF", "refs/heads/publish-to-bcr"),
    ("GITHUB_SHA", "8f70009fde0c94ade6ce2a054b94718c819126ec"),
    (
        "GITHUB_WORKFLOW_REF",
        "aspect-build/rules_lint/.github/workflows/release.yml@refs/heads/publish-to-bcr",
    ),
    ("GITHUB_RUN_ID", "14095611671"),
    ("GITHUB_RUN_ATTEMPT", "1"),
    ("GITHUB_EVENT_NAME", "workflow_dispatch"),
    ("GITHUB_REPOSITORY_ID", "631710741"),
    ("GITHUB_REPOSITORY_OWNER_ID", "60951090"),
    ("RUNNER_ENVIRONMENT", "github-hosted"),
    (
        build::GITHUB_JOB_WORKFLOW_REF,
        "bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1",
    ),
    // Variables the builder does not read.
    ("GITHUB_ACTOR", "someone"),
    ("PATH", "/usr/bin"),
];

fn subjects_of(statement: &Statement) -> Vec<ResourceDescriptor> {
    statement.subjects().to_vec()
}

/// `statement`'s provenance, read back from the statement's bytes as a verifier would.
fn read_back(statement: &Statement) -> (Value, v1::Provenance) {
    let received = Statement::from_slice(&statement.to_vec()).unwrap();
    assert_eq!(&received, statement);
    let predicate = received.predicate().unwrap().clone();
    let provenance = v1::Provenance::from_statement(&received).unwrap();
    assert_round_trip("built", &predicate, &AnyProvenance::V1(provenance.clone()));
    (predicate, provenance)
}

#[test]
fn github_actions_provenance_is_what_github_writes() {
    let vector = Statement::from_slice(&data(
        "in-toto-attestation/real-statements/slsa-provenance-v1_github-actions-workflow-v1_bcr.json",
    ))
    .unwrap();
    let expected = vector.predicate().unwrap();
    let now = at(1_743_000_000);
    let statement = build::github_actions(&env(BCR_ENV), subjects_of(&vector), now).unwrap();
    assert_eq!(statement.subjects(), vector.subjects());
    assert_eq!(statement.predicate_type(), PROVENANCE_V1);
    let (predicate, provenance) = read_back(&statement);

    // Field for field what actions/attest-build-provenance wrote, plus finishedOn.
    assert_eq!(predicate["buildDefinition"], expected["buildDefinition"]);
    assert_eq!(
        predicate["runDetails"]["builder"],
        expected["runDetails"]["builder"]
    );
    let mut metadata = expected["runDetails"]["metadata"].clone();
    metadata["finishedOn"] = json!("2025-03-26T14:40:00Z");
    assert_eq!(predicate["runDetails"]["metadata"], metadata);
    assert_eq!(
        provenance.source(),
        AnyProvenance::from_statement(&vector).unwrap().source()
    );

    // The conformance vector's job ran in its own workflow: without the job workflow ref,
    // the builder is the workflow of GITHUB_WORKFLOW_REF.
    let conformance = Statement::from_slice(&data(
        "in-toto-attestation/real-statements/slsa-provenance-v1_conformance-happy-path.json",
    ))
    .unwrap();
    let conformance_env = env(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com/"),
        ("GITHUB_REPOSITORY", "loosebazooka/aa-test"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", "ebff8dfbd609b7b22237c7719ce07f2dc7934f5f"),
        (
            "GITHUB_WORKFLOW_REF",
            "loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main",
        ),
        ("GITHUB_RUN_ID", "11941425487"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("GITHUB_REPOSITORY_ID", "891715444"),
        ("GITHUB_REPOSITORY_OWNER_ID", "1304826"),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
        (build::GITHUB_JOB_WORKFLOW_REF, ""),
    ]);
    let statement =
        build::github_actions(&conformance_env, subjects_of(&conformance), at(0)).unwrap();
    let (mut predicate, _) = read_back(&statement);
    assert_eq!(
        predicate["runDetails"]["metadata"]["finishedOn"],
        "1970-01-01T00:00:00Z"
    );
    predicate["runDetails"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("finishedOn");
    assert_eq!(&predicate, conformance.predicate().unwrap());
}

#[test]
fn github_actions_refuses_a_missing_or_malformed_variable() {
    let subjects = || vec![ResourceDescriptor::for_digest("a", &Digest::sha256(b"a"))];
    let base = env(BCR_ENV);
    for name in [
        "GITHUB_ACTIONS",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_REF",
        "GITHUB_SHA",
        "GITHUB_WORKFLOW_REF",
        "GITHUB_RUN_ID",
        "GITHUB_RUN_ATTEMPT",
        "GITHUB_EVENT_NAME",
        "GITHUB_REPOSITORY_ID",
        "GITHUB_REPOSITORY_OWNER_ID",
        "RUNNER_ENVIRONMENT",
    ] {
        for unset in [None, Some("")] {
            let mut env = base.clone();
            match unset {
                None => env.remove(name),
                Some(empty) => env.insert(name.to_owned(), empty.to_owned()),
            };
            let error = build::github_actions(&env, subjects(), at(0)).unwrap_err();
            assert_eq!(error, AttestationError::MissingBuildFact { name }, "{name}");
            assert_eq!(error.to_string(), format!("{name} is not set"));
        }
    }
    // Several unset: all named at once, in the order the builder reads them.
    let mut env = base.clone();
    for name in ["RUNNER_ENVIRONMENT", "GITHUB_SHA", "GITHUB_RUN_ID"] {
        env.remove(name);
    }
    let error = build::github_actions(&env, subjects(), at(0)).unwrap_err();
    assert_eq!(
        error,
        AttestationError::MissingBuildFacts {
            names: vec!["GITHUB_SHA", "GITHUB_RUN_ID", "RUNNER_ENVIRONMENT"]
        }
    );
    assert_eq!(
        error.to_string(),
        "GITHUB_SHA, GITHUB_RUN_ID, RUNNER_ENVIRONMENT are not set"
    );
    for (name, value, reason) in [
        ("GITHUB_ACTIONS", "false", "expected \"true\""),
        ("GITHUB_SHA", "8f70009f", "commit id"),
        (
            "GITHUB_SHA",
            "8F70009FDE0C94ADE6CE2A054B94718C819126EC",
            "commit id",
        ),
        ("GITHUB_SHA", &"g".repeat(40), "commit id"),
        ("GITHUB_RUN_ID", "14095611671a", "decimal number"),
        ("GITHUB_RUN_ATTEMPT", "-1", "decimal number"),
        ("GITHUB_REPOSITORY_ID", "0x1f", "decimal number"),
        ("GITHUB_REPOSITORY", "rules_lint", "OWNER/REPO"),
        ("GITHUB_REPOSITORY", "a/b/c", "OWNER/REPO"),
        ("GITHUB_SERVER_URL", "github.com", "http(s) URL"),
        (
            "GITHUB_WORKFLOW_REF",
            "other/repo/.github/workflows/release.yml@refs/heads/main",
            "GITHUB_REPOSITORY/PATH@REF",
        ),
        (
            "GITHUB_WORKFLOW_REF",
            "aspect-build/rules_lint/.github/workflows/release.yml",
            "GITHUB_REPOSITORY/PATH@REF",
        ),
        (
            build::GITHUB_JOB_WORKFLOW_REF,
            "publish.yaml",
            "OWNER/REPO/PATH@REF",
        ),
    ] {
        let mut env = base.clone();
        env.insert(name.to_owned(), value.to_owned());
        match build::github_actions(&env, subjects(), at(0)) {
            Err(AttestationError::InvalidBuildFact {
                name: found,
                value: found_value,
                reason: found_reason,
            }) => {
                assert_eq!(found, name);
                assert_eq!(found_value, value);
                assert!(
                    found_reason.contains(reason),
                    "{name}={value}: {found_reason}"
                );
            }
            other => panic!("{name}={value}: {other:?}"),
        }
    }
    // A tag holding `@` stays whole in the workflow ref.
    let mut env = base.clone();
    env.insert(
        "GITHUB_WORKFLOW_REF".into(),
        "aspect-build/rules_lint/.github/workflows/release.yml@refs/tags/pkg@1.0.0".into(),
    );
    let (predicate, _) = read_back(&build::github_actions(&env, subjects(), at(0)).unwrap());
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["workflow"]["ref"],
        "refs/tags/pkg@1.0.0"
    );
    // No subject: refused as a statement without subject is.
    assert_eq!(
        build::github_actions(&base, Vec::new(), at(0)),
        Err(AttestationError::NoSubject)
    );
}

/// A GitLab CI job's variables, as GitLab sets them.
const GITLAB_ENV: &[(&str, &str)] = &[
    ("GITLAB_CI", "true"),
    ("CI_PROJECT_URL", "https://gitlab.example.com/group/project"),
    ("CI_JOB_NAME", "build-job"),
    ("CI_COMMIT_SHA", "a288201509dd9a85da4141e07522bad412938dbe"),
    ("CI_COMMIT_REF_NAME", "main"),
    ("CI_COMMIT_BRANCH", "main"),
    ("CI_JOB_ID", "412"),
    (
        "CI_JOB_URL",
        "https://gitlab.example.com/group/project/-/jobs/412",
    ),
    ("CI_JOB_STARTED_AT", "2025-06-05T01:33:18Z"),
    ("CI_RUNNER_ID", "33"),
    ("CI_RUNNER_REVISION", "4d7093e1"),
    ("CI_RUNNER_DESCRIPTION", "9-mfdkBG"),
    ("CI_RUNNER_EXECUTABLE_ARCH", "linux/arm64"),
    ("CI_PIPELINE_ID", "576"),
    ("CI_PIPELINE_SOURCE", "push"),
    ("CI_CONFIG_PATH", ".gitlab-ci.yml"),
    ("CI_JOB_TOKEN", "secret, never written"),
];

#[test]
fn gitlab_ci_provenance_follows_gitlab_documented_format() {
    let digest = Digest::sha256(b"artifacts.zip");
    let subjects = vec![ResourceDescriptor::for_digest("artifacts.zip", &digest)];
    let statement = build::gitlab_ci(&env(GITLAB_ENV), subjects, at(1_749_087_203)).unwrap();
    let (predicate, provenance) = read_back(&statement);
    assert_eq!(
        predicate,
        json!({
            "buildDefinition": {
                "buildType": "https://gitlab.com/gitlab-org/gitlab-runner/-/blob/4d7093e1/PROVENANCE.md",
                "externalParameters": {
                    "source": "https://gitlab.example.com/group/project",
                    "entryPoint": "build-job",
                    "variables": {
                        "CI_COMMIT_SHA": "a288201509dd9a85da4141e07522bad412938dbe",
                        "CI_COMMIT_REF_NAME": "main",
                        "CI_COMMIT_BRANCH": "main",
                        "CI_CONFIG_PATH": ".gitlab-ci.yml",
                        "CI_PIPELINE_ID": "576",
                        "CI_PIPELINE_SOURCE": "push"
                    }
                },
                "internalParameters": {
                    "job": "412",
                    "name": "9-mfdkBG",
                    "architecture": "linux/arm64"
                },
                "resolvedDependencies": [{
                    "uri": "git+https://gitlab.example.com/group/project@refs/heads/main",
                    "digest": {"gitCommit": "a288201509dd9a85da4141e07522bad412938dbe"}
                }]
            },
            "runDetails": {
                "builder": {
                    "id": "https://gitlab.example.com/group/project/-/runners/33",
                    "version": {"gitlab-runner": "4d7093e1"}
                },
                "metadata": {
                    "invocationId": "https://gitlab.example.com/group/project/-/jobs/412",
                    "startedOn": "2025-06-05T01:33:18Z",
                    "finishedOn": "2025-06-05T01:33:23Z"
                }
            }
        })
    );
    assert_eq!(
        provenance.source(),
        Some(Source {
            repository: "https://gitlab.example.com/group/project",
            git_ref: Some("refs/heads/main"),
            commit: Some("a288201509dd9a85da4141e07522bad412938dbe"),
        })
    );
    assert_eq!(
        provenance
            .run_details()
            .metadata
            .as_ref()
            .unwrap()
            .started_on_seconds(),
        Some(1_749_087_198)
    );
}

#[test]
fn gitlab_ci_optional_variables_and_refs() {
    let subjects = || vec![ResourceDescriptor::for_digest("a", &Digest::sha256(b"a"))];
    let mut minimal = env(GITLAB_ENV);
    for name in [
        "CI_COMMIT_BRANCH",
        "CI_JOB_URL",
        "CI_JOB_STARTED_AT",
        "CI_RUNNER_DESCRIPTION",
        "CI_RUNNER_EXECUTABLE_ARCH",
        "CI_PIPELINE_ID",
        "CI_PIPELINE_SOURCE",
        "CI_CONFIG_PATH",
    ] {
        minimal.remove(name);
    }
    minimal.insert("CI_COMMIT_REF_NAME".into(), "feature/x".into());
    let (predicate, _) = read_back(&build::gitlab_ci(&minimal, subjects(), at(0)).unwrap());
    // A merge request pipeline: no branch or tag variable, the ref name as GitLab gives it.
    assert_eq!(
        predicate["buildDefinition"]["resolvedDependencies"][0]["uri"],
        "git+https://gitlab.example.com/group/project@feature/x"
    );
    assert_eq!(
        predicate["buildDefinition"]["internalParameters"],
        json!({"job": "412"})
    );
    assert_eq!(
        predicate["runDetails"]["metadata"],
        json!({
            "invocationId": "https://gitlab.example.com/group/project/-/jobs/412",
            "finishedOn": "1970-01-01T00:00:00Z"
        })
    );
    // A tag pipeline.
    let mut tagged = minimal.clone();
    tagged.insert("CI_COMMIT_TAG".into(), "v1.2.3".into());
    tagged.insert("CI_COMMIT_REF_NAME".into(), "v1.2.3".into());
    let statement = build::gitlab_ci(&tagged, subjects(), at(0)).unwrap();
    let source = AnyProvenance::from_statement(&statement).unwrap();
    assert_eq!(source.source().unwrap().git_ref, Some("refs/tags/v1.2.3"));

    for name in [
        "GITLAB_CI",
        "CI_PROJECT_URL",
        "CI_JOB_NAME",
        "CI_COMMIT_SHA",
        "CI_COMMIT_REF_NAME",
        "CI_JOB_ID",
        "CI_RUNNER_ID",
        "CI_RUNNER_REVISION",
    ] {
        let mut env = minimal.clone();
        env.remove(name);
        assert_eq!(
            build::gitlab_ci(&env, subjects(), at(0)),
            Err(AttestationError::MissingBuildFact { name }),
            "{name}"
        );
    }
    let mut env = minimal.clone();
    env.remove("CI_JOB_ID");
    env.remove("CI_PROJECT_URL");
    assert_eq!(
        build::gitlab_ci(&env, subjects(), at(0)),
        Err(AttestationError::MissingBuildFacts {
            names: vec!["CI_PROJECT_URL", "CI_JOB_ID"]
        })
    );
    for (name, value) in [
        ("CI_COMMIT_SHA", "a2882015"),
        ("CI_JOB_ID", "412x"),
        ("CI_RUNNER_ID", "#33"),
        ("CI_JOB_STARTED_AT", "2025-06-05 01:33:18"),
        ("CI_PROJECT_URL", "gitlab.example.com/group/project"),
        ("GITLAB_CI", "1"),
    ] {
        let mut env = minimal.clone();
        env.insert(name.to_owned(), value.to_owned());
        assert!(
            matches!(
                build::gitlab_ci(&env, subjects(), at(0)),
                Err(AttestationError::InvalidBuildFact { name: found, .. }) if found == name
            ),
            "{name}={value}"
        );
    }
}

#[test]
fn generic_provenance_from_given_facts() {
    let digest = Digest::sha256(b"app.tar");
    let subjects = || vec![ResourceDescriptor::for_digest("app.tar", &digest)];
    let build = GenericBuild {
        builder_id: "https://ci.example.com/builders/linux".into(),
        build_type: None,
        source_uri: "git+https://git.example.com/app@refs/tags/v2.0.0".into(),
        source_digest: BTreeMap::from([(
            "gitCommit".into(),
            "c27d339ee6075c1f744c5d4b200f7901aad2c369".into(),
        )]),
        parameters: BTreeMap::from([
            ("target".into(), "release".into()),
            ("features".into(), "a=b".into()),
        ]),
        invocation_id: Some("https://ci.example.com/runs/77".into()),
        started_on: Some("2025-01-02T03:04:05Z".into()),
    };
    let statement = build::generic(&build, subjects(), at(1_735_787_106)).unwrap();
    let (predicate, provenance) = read_back(&statement);
    assert_eq!(
        predicate,
        json!({
            "buildDefinition": {
                "buildType": GENERIC_BUILD_TYPE,
                "externalParameters": {
                    "source": "git+https://git.example.com/app@refs/tags/v2.0.0",
                    "parameters": {"features": "a=b", "target": "release"}
                },
                "resolvedDependencies": [{
                    "uri": "git+https://git.example.com/app@refs/tags/v2.0.0",
                    "digest": {"gitCommit": "c27d339ee6075c1f744c5d4b200f7901aad2c369"}
                }]
            },
            "runDetails": {
                "builder": {"id": "https://ci.example.com/builders/linux"},
                "metadata": {
                    "invocationId": "https://ci.example.com/runs/77",
                    "startedOn": "2025-01-02T03:04:05Z",
                    "finishedOn": "2025-01-02T03:05:06Z"
                }
            }
        })
    );
    assert_eq!(
        provenance.source(),
        Some(Source {
            repository: "https://git.example.com/app",
            git_ref: Some("refs/tags/v2.0.0"),
            commit: Some("c27d339ee6075c1f744c5d4b200f7901aad2c369"),
        })
    );

    // Only the required facts, an archive as source, a build type of one's own.
    let archive = GenericBuild {
        builder_id: "urn:example:builder".into(),
        build_type: Some("https://example.com/buildtypes/make/v1".into()),
        source_uri: "https://example.com/app-2.0.0.tar.gz".into(),
        source_digest: BTreeMap::from([("sha256".into(), digest.hex().to_owned())]),
        ..GenericBuild::default()
    };
    let (predicate, provenance) = read_back(&build::generic(&archive, subjects(), at(0)).unwrap());
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"],
        json!({"source": "https://example.com/app-2.0.0.tar.gz"})
    );
    assert_eq!(
        predicate["runDetails"]["metadata"],
        json!({"finishedOn": "1970-01-01T00:00:00Z"})
    );
    // Not a git+ URI under a build type vouch does not know: no source to report.
    assert_eq!(provenance.source(), None);

    for (field, change) in [
        (
            "builder_id",
            (|b: &mut GenericBuild| b.builder_id.clear()) as fn(&mut GenericBuild),
        ),
        ("source_uri", |b| b.source_uri.clear()),
        ("source_digest", |b| b.source_digest.clear()),
    ] {
        let mut incomplete = build.clone();
        change(&mut incomplete);
        assert_eq!(
            build::generic(&incomplete, subjects(), at(0)),
            Err(AttestationError::MissingBuildFact { name: field })
        );
    }
    for (field, change) in [
        (
            "source_digest",
            (|b: &mut GenericBuild| {
                b.source_digest.insert("gitCommit".into(), "abc".into());
            }) as fn(&mut GenericBuild),
        ),
        ("source_digest", |b| {
            b.source_digest.insert("sha256".into(), "A".repeat(64));
        }),
        ("source_digest", |b| {
            b.source_digest.insert(String::new(), "x".into());
        }),
        ("parameters", |b| {
            b.parameters.insert(String::new(), "x".into());
        }),
        ("started_on", |b| b.started_on = Some("yesterday".into())),
    ] {
        let mut bad = build.clone();
        change(&mut bad);
        assert!(
            matches!(
                build::generic(&bad, subjects(), at(0)),
                Err(AttestationError::InvalidBuildFact { name, .. }) if name == field
            ),
            "{field}"
        );
    }
}

#[test]
fn the_ci_system_is_detected_from_its_marker_variable() {
    let subjects = || vec![ResourceDescriptor::for_digest("a", &Digest::sha256(b"a"))];
    assert_eq!(build::detect(&env(BCR_ENV)), Ok(Ci::GitHubActions));
    assert_eq!(build::detect(&env(GITLAB_ENV)), Ok(Ci::GitLabCi));
    let both: BTreeMap<_, _> = env(GITLAB_ENV).into_iter().chain(env(BCR_ENV)).collect();
    assert_eq!(build::detect(&both), Ok(Ci::GitHubActions));

    let statement = build::from_ci_environment(&env(GITLAB_ENV), subjects(), at(0)).unwrap();
    assert!(
        AnyProvenance::from_statement(&statement)
            .unwrap()
            .builder_id()
            .ends_with("/-/runners/33")
    );

    for outside in [
        env(&[]),
        env(&[
            ("GITHUB_ACTIONS", "1"),
            ("GITLAB_CI", "yes"),
            ("CI", "true"),
        ]),
    ] {
        assert_eq!(build::detect(&outside), Err(AttestationError::NoCiDetected));
        let error = build::from_ci_environment(&outside, subjects(), at(0)).unwrap_err();
        assert_eq!(error, AttestationError::NoCiDetected);
        assert!(error.to_string().contains("generic"), "{error}");
    }
}
