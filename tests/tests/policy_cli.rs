//! `vouch policy lint`, `vouch policy test`, and how a policy that does not load is refused:
//! with FILE:LINE:COLUMN, exit 2, before any registry is asked; ClusterImagePolicies (with the
//! TrustRoots they name) and containers' policy.json deciding images on a registry.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use vouch_tests::fake_sigstore::FakeSigstore;
use vouch_tests::scenarios::{EvidenceSpec, Sigstores, push_keyless};
use vouch_tests::{generate_key, umoci_image, vouch, vouch_with_password, workspace_dir};

const GOOD: &str = r#"apiVersion: vouch.dev/v1
kind: TrustPolicy
authorities:
  release: {key: {path: release.pub}}
  unused: {key: {path: release.pub}}
scopes:
  - images: ["registry.example/**"]
    authorities: [release]
  - images: ["registry.example/**"]
    action: allow
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn lint_warns_with_lines_and_refuses_what_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    assert!(key.public.ends_with("release.pub"));
    let good = write(dir.path(), "policy.yaml", GOOD);

    let run = vouch(&["policy", "lint", &good]).expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "{good}:5:11: warning: authority unused is not used"
        )),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(&format!(
            "{good}:9:14: warning: pattern \"registry.example/**\" is also in scope 1"
        )),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("ok (2 authorities, 2 scopes, 2 warnings)"),
        "{run:#?}"
    );
    vouch(&["policy", "lint", "--strict", &good]).expect_code(1);
    let json = vouch(&["policy", "lint", "-o", "json", &good])
        .expect_code(0)
        .json();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 2);
    assert_eq!(json["warnings"][0]["line"], 5);

    // Each of these is refused with the place and what is wrong, exit 2.
    let cases: [(&str, &str, &str); 6] = [
        (
            "unknown-field.yaml",
            "  - images: [\"registry.example/**\"]\n    authorties: [release]\n",
            "unknown field",
        ),
        (
            "undefined.yaml",
            "  - images: [\"registry.example/**\"]\n    authorities: [relase]\n",
            "authority \"relase\" is not defined",
        ),
        (
            "regex.yaml",
            "  - images: [\"registry.example/**\"]\n    authorities: [ci]\n",
            "subjectRegExp",
        ),
        (
            "duplicate.yaml",
            "  - images: [\"registry.example/**\"]\n    authorities: [release]\n    authorities: [release]\n",
            "duplicate",
        ),
        (
            "pattern.yaml",
            "  - images: [\"registry.example/app:v1\"]\n    authorities: [release]\n",
            "tag or digest",
        ),
        (
            "rego.yaml",
            "  - images: [\"registry.example/**\"]\n    authorities: [release]\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n        rego: broken.rego\n",
            "broken.rego",
        ),
    ];
    write(
        dir.path(),
        "broken.rego",
        "package signature\nallow {{ if\n",
    );
    for (name, scopes, says) in cases {
        let ci = if name == "regex.yaml" {
            "  ci: {keyless: {issuer: https://token.actions.githubusercontent.com, subjectRegExp: \"^(unclosed\"}}\n"
        } else {
            ""
        };
        let text = format!(
            "apiVersion: vouch.dev/v1\nkind: TrustPolicy\nauthorities:\n  release: {{key: {{path: release.pub}}}}\n{ci}scopes:\n{scopes}"
        );
        let path = write(dir.path(), name, &text);
        let run = vouch(&["policy", "lint", &path]).expect_code(2);
        assert!(run.stderr.contains(says), "{name}: {run:#?}");
        assert!(
            run.stderr.contains(&format!("{path}:")),
            "{name} names the file and line: {run:#?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{name}: one line: {run:#?}");
        // verify --policy refuses it the same way before asking any registry (the image is on
        // a port nothing listens on: a request would be a registry error, exit 3).
        let run = vouch(&["verify", "--policy", &path, "127.0.0.1:1/app:v1"]).expect_code(2);
        assert!(run.stderr.contains(says), "{name}: {run:#?}");
    }
}

#[test]
fn policy_test_decides_each_case_from_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let policy = write(
        dir.path(),
        "policy.yaml",
        &GOOD
            .replace("  unused: {key: {path: release.pub}}\n", "")
            .replace(
                "  - images: [\"registry.example/**\"]\n    action: allow\n",
                "  - images: [\"registry.example/sandbox/**\"]\n    action: allow\n",
            ),
    );
    let cases = dir.path().join("cases");
    let case = |name: &str, image: &str, expect: &str, signed: bool| {
        let case_dir = cases.join(name);
        fs::create_dir_all(&case_dir).unwrap();
        let layout = case_dir.join("layout");
        umoci_image(&layout, "v1", "amd64");
        if signed {
            vouch_with_password(
                &key.password,
                &[
                    "sign",
                    "--key",
                    key.key.to_str().unwrap(),
                    "--sign-container-identity",
                    "registry.example/app",
                    &format!("oci:{}:v1", layout.display()),
                ],
            )
            .expect_code(0);
        }
        fs::write(
            case_dir.join("case.yaml"),
            format!("image: {image}\ntag: v1\nexpect: {expect}\n"),
        )
        .unwrap();
    };
    case("signed", "registry.example/app:v1", "{allowed: true}", true);
    case(
        "unsigned",
        "registry.example/app:v1",
        "{allowed: false, denial: no-signatures}",
        false,
    );
    case(
        "sandbox",
        "registry.example/sandbox/tool:v1",
        "{allowed: true}",
        false,
    );
    // Signed for registry.example/app, decided as registry.example/other: the signed name
    // does not fit, and the reason names the check that said so.
    case(
        "renamed",
        "registry.example/other:v1",
        "{allowed: false, denial: no-accepted-signature, reason: signed-identity}",
        true,
    );
    // An expectation the policy does not meet: that case fails, the others pass.
    case("wrong", "registry.example/app:v1", "{allowed: true}", false);
    let cases_dir = cases.to_str().unwrap();
    let run = vouch(&["policy", "test", &policy, cases_dir]);
    for name in ["renamed", "sandbox", "signed", "unsigned"] {
        assert!(
            run.stdout.contains(&format!("PASS {name}\n")),
            "{name}: {run:#?}"
        );
    }
    assert!(
        run.stdout
            .contains("FAIL wrong: denied where allowed was expected"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("4 passed, 1 failed"), "{run:#?}");
    assert_eq!(run.code, 1, "{run:#?}");
    fs::remove_dir_all(cases.join("wrong")).unwrap();
    let run = vouch(&["policy", "test", "-o", "json", &policy, cases_dir]).expect_code(0);
    let report = run.json();
    assert_eq!(report["passed"], 4, "{report:#}");
    let renamed = &report["cases"][0];
    assert_eq!(renamed["case"], "renamed");
    assert_eq!(
        renamed["decision"]["evidence"][0]["results"][0]["check"], "signed-identity",
        "{renamed:#}"
    );
}

#[test]
fn a_cluster_image_policy_decides_images_on_the_registry() {
    let registry = vouch_tests::Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let signed = vouch_tests::push_image(&registry, &vouch_tests::unique("cip-signed"), "v1");
    let unsigned = vouch_tests::push_image(&registry, &vouch_tests::unique("cip-unsigned"), "v1");
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &signed.tagged],
    )
    .expect_code(0);
    let pem = fs::read_to_string(&key.public).unwrap();
    let policy = write(
        dir.path(),
        "cip.yaml",
        &format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: release-signed\nspec:\n  images:\n    - glob: \"{}/**\"\n  authorities:\n    - name: release\n      key:\n        data: |\n          {}\n",
            registry.addr,
            pem.trim_end().replace('\n', "\n          ")
        ),
    );
    let run = vouch(&["verify", "--policy", &policy, "-o", "json", &signed.tagged]).expect_code(0);
    assert_eq!(run.json()[0]["decision"]["verdict"], "pass", "{run:#?}");
    let run = vouch(&["verify", "--policy", &policy, &unsigned.tagged]).expect_code(1);
    assert!(
        run.stdout
            .contains("release-signed/release: no signatures found"),
        "{run:#?}"
    );
}

/// The TrustRoot fixture of `vouch-policy`'s tests filled with `sigstore`'s trust material
/// (base64 of the PEM chains and keys, as policy-controller's `sigstoreKeys` takes them), its
/// ClusterImagePolicy covering the images under `addr`.
fn private_sigstore_policy(sigstore: &FakeSigstore, addr: &str) -> String {
    sigstore
        .fill_trust_root_template(
            &fs::read_to_string(
                workspace_dir()
                    .join("policy/tests/data/cluster-image-policy/private-sigstore.yaml"),
            )
            .unwrap(),
        )
        .replace("registry.test/**", &format!("{addr}/**"))
}

#[test]
fn a_cluster_image_policy_trusts_the_trust_root_it_names() {
    let registry = vouch_tests::Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let sigstores = Sigstores::default();
    let evidence = |instance: &str| -> EvidenceSpec {
        serde_json::from_value(serde_json::json!({"keyless": {
            "subject": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1",
            "issuer": "https://token.actions.githubusercontent.com",
            "instance": instance,
        }}))
        .unwrap()
    };
    let private = vouch_tests::push_image(&registry, &vouch_tests::unique("cip-private"), "v1");
    push_keyless(&evidence("private"), &sigstores, &private.by_digest, "");
    let other = vouch_tests::push_image(&registry, &vouch_tests::unique("cip-other"), "v1");
    push_keyless(&evidence("test"), &sigstores, &other.by_digest, "");
    let policy = write(
        dir.path(),
        "cip.yaml",
        &private_sigstore_policy(sigstores.get("private"), &registry.addr),
    );

    let run = vouch(&["verify", "--policy", &policy, "-o", "json", &private.tagged]);
    let decision = &run.json()[0]["decision"];
    assert_eq!(run.code, 0, "{decision:#}");
    assert_eq!(decision["verdict"], "pass", "{decision:#}");
    assert_eq!(
        decision["authorities"][0]["name"], "private-keyless/release",
        "{decision:#}"
    );
    let run = vouch(&["verify", "--policy", &policy, &other.tagged]).expect_code(1);
    assert!(
        run.stdout
            .contains("private-keyless/release: 1 signature found, none by an accepted authority"),
        "{run:#?}"
    );

    // A trustRootRef to a TrustRoot the file does not have is refused before any request.
    let text = fs::read_to_string(&policy).unwrap();
    let misnamed = write(
        dir.path(),
        "misnamed.yaml",
        &text.replace(
            "trustRootRef: private-sigstore\n        identities",
            "trustRootRef: private\n        identities",
        ),
    );
    let run = vouch(&["verify", "--policy", &misnamed, &private.tagged]).expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{misnamed}:39:23: keyless.trustRootRef private names no TrustRoot of this file"
        )),
        "{run:#?}"
    );
}

#[test]
fn containers_policy_json_decides_images_on_the_registry() {
    let registry = vouch_tests::Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "release", "ecdsa-p256");
    let repo = vouch_tests::unique("podman-signed");
    let signed = vouch_tests::push_image(&registry, &repo, "v1");
    let unsigned =
        vouch_tests::push_image(&registry, &vouch_tests::unique("podman-unsigned"), "v1");
    vouch_with_password(
        &key.password,
        &["sign", "--key", key.key.to_str().unwrap(), &signed.tagged],
    )
    .expect_code(0);
    // As podman's policy.json says it: reject by default, sigstore signatures for one
    // repository.
    let policy = write(
        dir.path(),
        "policy.json",
        &format!(
            r#"{{
  "default": [{{"type": "reject"}}],
  "transports": {{
    "docker": {{
      "{}/{repo}": [{{"type": "sigstoreSigned", "keyPath": "{}", "signedIdentity": {{"type": "matchRepository"}}}}]
    }}
  }}
}}"#,
            registry.addr,
            key.public.display()
        ),
    );
    vouch(&["verify", "--policy", &policy, &signed.tagged]).expect_code(0);
    let run = vouch(&[
        "verify",
        "--policy",
        &policy,
        "-o",
        "json",
        &unsigned.tagged,
    ])
    .expect_code(1);
    assert_eq!(run.json()[0]["decision"]["denial"], "no-scope", "{run:#?}");
    // A requirement vouch cannot enforce is refused with its place, before any request.
    let gpg = write(
        dir.path(),
        "gpg.json",
        "{\n  \"default\": [\n    {\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": \"/k.gpg\"}\n  ]\n}\n",
    );
    let run = vouch(&["verify", "--policy", &gpg, "127.0.0.1:1/app:v1"]).expect_code(2);
    assert!(run.stderr.contains("gpg.json:3:"), "{run:#?}");
    assert!(run.stderr.contains("signedBy"), "{run:#?}");
}
