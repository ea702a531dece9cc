//! policy-controller's ClusterImagePolicy, read by `vouch-policy` and decided with its own
//! semantics: every matching policy must pass, any authority of one suffices, an authority
//! with attestations needs them (and their Rego), `static` decides alone, `warn` allows with a
//! warning; what vouch cannot do is refused by name with its line.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{add, manifest_digest};
use vouch_keys::{KeyType, PrivateKey};
use vouch_policy::evidence::MemorySource;
use vouch_policy::policy::{Combination, Requirement};
use vouch_policy::{Decision, ImageName, TrustPolicy};
use vouch_tests::scenarios::EvidenceSpec;
use vouch_verifier::time::UnixTime;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/cluster-image-policy")
            .join(name),
    )
    .unwrap()
}

/// `text` with each KEY placeholder replaced by that key's PEM, indented as the block wants.
fn with_keys(text: &str, keys: &[(&str, &PrivateKey)]) -> String {
    let mut text = text.to_owned();
    for (placeholder, key) in keys {
        let pem = key.public_key().to_pem();
        let indented = pem.trim_end().replace('\n', "\n          ");
        text = text.replace(placeholder, &indented);
    }
    text
}

fn load(name: &str, text: &str) -> TrustPolicy {
    TrustPolicy::from_bytes(name, Path::new("."), text.as_bytes())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn spec(by: &str) -> EvidenceSpec {
    serde_json::from_value(serde_json::json!({"by": by})).unwrap()
}

fn attestation(by: &str, predicate_type: &str, predicate: serde_json::Value) -> EvidenceSpec {
    serde_json::from_value(serde_json::json!({
        "by": by, "kind": "attestation", "type": predicate_type, "predicate": predicate
    }))
    .unwrap()
}

/// Decides `image` with evidence made by `specs` (signer names map to `keys`).
fn decide(
    policy: &TrustPolicy,
    image: &str,
    specs: &[EvidenceSpec],
    keys: &BTreeMap<&str, PrivateKey>,
) -> Decision {
    let name = ImageName::parse(image).unwrap();
    let digest = manifest_digest(&name.display, None);
    let mut source = MemorySource {
        name: name.display.clone(),
        digest: Some(digest.clone()),
        ..MemorySource::default()
    };
    for spec in specs {
        add(
            source.evidence.entry(digest.clone()).or_default(),
            spec,
            keys,
            None,
            &name,
            &digest,
            "",
        );
    }
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(policy.decide(&name, &source, now))
}

fn keys() -> BTreeMap<&'static str, PrivateKey> {
    ["release", "scanner", "security", "mallory"]
        .into_iter()
        .map(|n| (n, PrivateKey::generate(KeyType::EcdsaP256).unwrap()))
        .collect()
}

#[test]
fn keyless_policies_read_as_the_documentation_writes_them() {
    let policy = load("signed-keyless.yaml", &fixture("signed-keyless.yaml"));
    assert_eq!(policy.combination, Combination::AllMatching);
    assert!(policy.scope_for("docker.io/library/nginx").is_some());
    let policy = load(
        "enforce-signer-oidc.yaml",
        &fixture("enforce-signer-oidc.yaml"),
    );
    // index.docker.io globs are Docker Hub names, spelled docker.io.
    assert!(policy.scope_for("docker.io/acme/app").is_some());
    assert!(policy.scope_for("ghcr.io/acme/a/b").is_some());
    assert!(policy.scope_for("ghcr.io/other/app").is_none());
    // One authority per identity, any of which passes.
    assert_eq!(policy.authorities.len(), 2);
    let Requirement::AnyOf(alternatives) = &policy.scopes[0].requirement else {
        panic!("a ClusterImagePolicy's authorities are alternatives");
    };
    assert_eq!(alternatives.len(), 1);
    // An image no policy covers is denied; an unsigned covered image names the policy.
    let keys = keys();
    let other = decide(&policy, "ghcr.io/other/app:v1", &[], &keys);
    assert_eq!(other.denial, Some(vouch_policy::Denial::NoScope));
    let unsigned = decide(&policy, "ghcr.io/acme/app:v1", &[], &keys);
    assert!(!unsigned.allowed);
    assert!(
        unsigned
            .reason
            .as_deref()
            .unwrap()
            .contains("enforce-signer-oidc/authority-0"),
        "{unsigned:#?}"
    );
    // A key signature is no keyless signature.
    let key_signed = decide(&policy, "ghcr.io/acme/app:v1", &[spec("release")], &keys);
    assert!(!key_signed.allowed);
}

#[test]
fn any_authority_of_a_policy_suffices_and_attestations_need_their_rego() {
    let keys = keys();
    let text = with_keys(
        &fixture("key-and-attestation.yaml"),
        &[
            ("RELEASE_KEY", &keys["release"]),
            ("SCANNER_KEY", &keys["scanner"]),
        ],
    );
    let policy = load("key-and-attestation.yaml", &text);
    let clean = serde_json::json!({"scanner": {"result": {"Results": []}}});
    let dirty = serde_json::json!({"scanner": {"result": {"Results": [{"Target": "openssl"}]}}});
    let vuln = "https://cosign.sigstore.dev/attestation/vuln/v1";
    let image = "registry.test/prod/app:v1";

    // The release key's signature alone passes.
    assert!(decide(&policy, image, &[spec("release")], &keys).allowed);
    // The scanner's authority needs its attestation, not a signature.
    let scanner_signed = decide(&policy, image, &[spec("scanner")], &keys);
    assert!(!scanner_signed.allowed, "{scanner_signed:#?}");
    let scanned = decide(
        &policy,
        image,
        &[attestation("scanner", vuln, clean.clone())],
        &keys,
    );
    assert!(
        scanned.allowed,
        "{}",
        serde_json::to_string_pretty(&scanned).unwrap()
    );
    // A scan with findings is denied by the Rego, and the reason says which alternative.
    let denied = decide(
        &policy,
        image,
        &[attestation("scanner", vuln, dirty)],
        &keys,
    );
    assert!(!denied.allowed);
    let reason = denied.reason.as_deref().unwrap();
    assert!(
        reason.contains("none of the 2 alternatives holds"),
        "{reason}"
    );
    assert!(
        reason.contains("image-is-signed-and-scanned/scanner"),
        "{reason}"
    );
    assert!(reason.contains("isCompliant"), "{reason}");
    // Signed by someone else.
    let forged = decide(
        &policy,
        image,
        &[attestation("mallory", vuln, clean)],
        &keys,
    );
    assert!(!forged.allowed);
    // The warn-mode policy fails statically and allows, saying so.
    let sandbox = decide(&policy, "registry.test/sandbox/tool:v1", &[], &keys);
    assert!(sandbox.allowed);
    assert!(
        sandbox
            .warnings
            .iter()
            .any(|w| w.contains("allowed in warn mode")),
        "{sandbox:#?}"
    );
}

#[test]
fn every_matching_policy_must_pass() {
    let keys = keys();
    let text = with_keys(
        &fixture("two-policies-and.yaml"),
        &[
            ("RELEASE_KEY", &keys["release"]),
            ("SECURITY_KEY", &keys["security"]),
        ],
    );
    let policy = load("two-policies-and.yaml", &text);
    assert!(
        decide(
            &policy,
            "registry.test/dev/app:v1",
            &[spec("release")],
            &keys
        )
        .allowed
    );
    let prod = decide(
        &policy,
        "registry.test/prod/app:v1",
        &[spec("release")],
        &keys,
    );
    assert!(!prod.allowed);
    assert!(
        prod.reason
            .as_deref()
            .unwrap()
            .starts_with("scope registry.test/prod/**:"),
        "{prod:#?}"
    );
    assert!(
        decide(
            &policy,
            "registry.test/prod/app:v1",
            &[spec("release"), spec("security")],
            &keys
        )
        .allowed
    );
    let only_security = decide(
        &policy,
        "registry.test/prod/app:v1",
        &[spec("security")],
        &keys,
    );
    assert!(!only_security.allowed);
    assert!(
        only_security
            .reason
            .as_deref()
            .unwrap()
            .starts_with("scope registry.test/**:"),
        "{only_security:#?}"
    );
}

#[test]
fn what_vouch_cannot_do_is_refused_by_name_with_its_line() {
    let base = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n    - glob: \"**\"\n  authorities:\n";
    let cases = [
        (
            "    - key:\n        kms: gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k\n",
            "key.kms is not supported",
            10,
        ),
        (
            "    - key:\n        secretRef:\n          name: cosign-pub\n",
            "key.secretRef is not supported",
            10,
        ),
        (
            "    - keyless:\n        trustRootRef: private-sigstore\n",
            "keyless.trustRootRef is not supported",
            10,
        ),
        (
            "    - keyless:\n        url: https://fulcio.internal.example\n",
            "keyless.url https://fulcio.internal.example is not supported",
            10,
        ),
        (
            "    - keyless: {}\n      source:\n        - oci: registry.example/signatures\n",
            "source is not supported",
            11,
        ),
        (
            "    - keyless: {}\n      attestations:\n        - name: a\n          predicateType: custom\n          policy:\n            type: cue\n            data: \"predicateType: x\"\n",
            "CUE policies are not supported",
            14,
        ),
        (
            "    - keyless: {}\n      attestations:\n        - name: a\n          predicateType: custom\n          policy:\n            type: rego\n            url: https://example.com/p.rego\n",
            "policy.url",
            14,
        ),
        (
            "    - keyless: {}\n      colour: blue\n",
            "unknown field",
            10,
        ),
        (
            "    - keyless: {}\n      static: {action: pass}\n",
            "exactly one of key, keyless and static",
            9,
        ),
    ];
    for (authority, says, line) in cases {
        let text = format!("{base}{authority}");
        let error =
            TrustPolicy::from_bytes("cip.yaml", Path::new("."), text.as_bytes()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(says), "{says}: {message}");
        assert!(
            message.starts_with(&format!("cip.yaml:{line}:")),
            "{says}: {message}"
        );
        assert!(error.is_input_error());
    }
    let spec_policy = format!("{base}    - keyless: {{}}\n  policy:\n    type: cue\n    data: x\n");
    let error =
        TrustPolicy::from_bytes("cip.yaml", Path::new("."), spec_policy.as_bytes()).unwrap_err();
    assert!(
        error.to_string().contains("spec.policy is not supported"),
        "{error}"
    );
}
