//! policy-controller's ClusterImagePolicy, read by `vouch-policy` and decided with its own
//! semantics: every matching policy must pass, any authority of one suffices, an authority
//! with attestations needs them (and their Rego), `static` decides alone, `warn` allows with a
//! warning; what vouch cannot do is refused by name with its line. A `trustRootRef` names a
//! policy-controller `TrustRoot` of the same file, whose Sigstore instance the authority then
//! trusts instead of the public-good one.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{add, manifest_digest};
use vouch_keys::{Digest, KeyType, PrivateKey};
use vouch_policy::evidence::MemorySource;
use vouch_policy::policy::{Combination, Requirement, Tlog};
use vouch_policy::{Decision, ImageName, TrustPolicy};
use vouch_tests::fake_sigstore::FakeSigstore;
use vouch_tests::scenarios::{EvidenceSpec, Sigstores};
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
    decide_with(policy, image, specs, keys, None)
}

/// [`decide`], with keyless evidence made by the instances of `sigstores`.
fn decide_with(
    policy: &TrustPolicy,
    image: &str,
    specs: &[EvidenceSpec],
    keys: &BTreeMap<&str, PrivateKey>,
    sigstores: Option<&Sigstores>,
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
            sigstores,
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
    // One alternative: said in the singular, never "none of the 1 alternatives".
    assert!(
        unsigned
            .reason
            .as_deref()
            .unwrap()
            .starts_with("the only alternative does not hold: enforce-signer-oidc/authority-0: "),
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
            "keyless.trustRootRef private-sigstore names no TrustRoot of this file (it has none)",
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

/// The TrustRoot fixture's placeholders filled with `sigstore`'s trust material, as
/// policy-controller's `sigstoreKeys` wants it: base64 of the PEM chain or key.
fn with_trust_root(text: &str, sigstore: &FakeSigstore) -> String {
    sigstore.fill_trust_root_template(text)
}

fn keyless(instance: &str, subject: &str, store: &str) -> EvidenceSpec {
    serde_json::from_value(serde_json::json!({
        "keyless": {
            "subject": subject,
            "issuer": "https://token.actions.githubusercontent.com",
            "instance": instance,
        },
        "store": store,
    }))
    .unwrap()
}

#[test]
fn a_trust_root_in_the_file_is_what_its_authorities_trust() {
    let sigstores = Sigstores::default();
    let text = with_trust_root(&fixture("private-sigstore.yaml"), sigstores.get("private"));
    let policy = load("private-sigstore.yaml", &text);
    assert!(policy.warnings.is_empty(), "{:?}", policy.warnings);
    // The TrustRoot's four parts, as a trusted root: the logs known by their derived ids.
    let authority = &policy.authorities[0];
    assert_eq!(authority.tlog, Tlog::Required);
    let root = &authority.trusted_root;
    assert_eq!(root.certificate_authorities.len(), 1);
    assert_eq!(
        root.certificate_authorities[0].uri,
        "https://fulcio.private.test"
    );
    assert_eq!(root.timestamp_authorities[0].cert_chain.len(), 2);
    let private = sigstores.get("private").trusted_root();
    for (section, logs) in [("tlogs", &root.tlogs), ("ctlogs", &root.ctlogs)] {
        let spki = STANDARD
            .decode(
                private[section][0]["publicKey"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            logs[0].log_id,
            Digest::sha256(&spki).to_bytes(),
            "{section}"
        );
    }

    let keys = keys();
    let subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
    let image = "registry.test/acme/app:v1";
    for store in ["tag", "bundle"] {
        let signed = decide_with(
            &policy,
            image,
            &[keyless("private", subject, store)],
            &keys,
            Some(&sigstores),
        );
        assert!(
            signed.allowed,
            "{store}: {}",
            serde_json::to_string_pretty(&signed).unwrap()
        );
    }
    // The same identity from another Sigstore instance is not trusted; nor is another
    // identity from the private one.
    let other = decide_with(
        &policy,
        image,
        &[keyless("test", subject, "tag")],
        &keys,
        Some(&sigstores),
    );
    assert!(!other.allowed, "{other:#?}");
    assert!(
        other
            .reason
            .as_deref()
            .unwrap()
            .contains("private-keyless/release"),
        "{other:#?}"
    );
    let stranger = decide_with(
        &policy,
        image,
        &[keyless("private", "https://github.com/mallory/x", "tag")],
        &keys,
        Some(&sigstores),
    );
    assert!(!stranger.allowed, "{stranger:#?}");

    // Each part of the trusted root from the field that names it: the certificate authority
    // from keyless.trustRootRef, the transparency log from ctlog.trustRootRef. A signature of
    // the test instance then has a trusted log entry and an untrusted certificate.
    let (private_root, cip) = text.split_once("---\n").unwrap();
    let test_root = with_trust_root(
        &fixture("private-sigstore.yaml").replace("private-sigstore", "test-sigstore"),
        sigstores.get("test"),
    );
    let test_root = test_root.split_once("---\n").unwrap().0;
    let mixed = format!(
        "{private_root}---\n{test_root}---\n{}",
        cip.replace(
            "        url: https://rekor.private.test\n        trustRootRef: private-sigstore\n",
            "        trustRootRef: test-sigstore\n",
        )
    );
    let policy = load("mixed.yaml", &mixed);
    assert!(policy.warnings.is_empty(), "{:?}", policy.warnings);
    let root = &policy.authorities[0].trusted_root;
    let test = sigstores.get("test").trusted_root();
    let test_rekor = STANDARD
        .decode(test["tlogs"][0]["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(root.tlogs[0].log_id, Digest::sha256(&test_rekor).to_bytes());
    assert_eq!(
        root.certificate_authorities[0].uri,
        "https://fulcio.private.test"
    );
    for instance in ["test", "private"] {
        let decision = decide_with(
            &policy,
            image,
            &[keyless(instance, subject, "tag")],
            &keys,
            Some(&sigstores),
        );
        assert!(!decision.allowed, "{decision:#?}");
        let reason = decision.reason.as_deref().unwrap();
        assert_eq!(
            reason.contains("[tlog-entry]"),
            instance == "private",
            "{instance}: {reason}"
        );
    }

    // Without the TrustRoot's logs (only its certificate authority and CT log), the private
    // Rekor's entries are not trusted: ctlog.url names the public-good Rekor.
    let public_rekor = text.replace(
        "        url: https://rekor.private.test\n        trustRootRef: private-sigstore\n",
        "        url: https://rekor.sigstore.dev\n",
    );
    assert_ne!(public_rekor, text);
    let policy = load("public-rekor.yaml", &public_rekor);
    let root = &policy.authorities[0].trusted_root;
    assert_eq!(root.certificate_authorities.len(), 1);
    assert_ne!(
        root.tlogs,
        load("p.yaml", &text).authorities[0].trusted_root.tlogs
    );
    let unlogged = decide_with(
        &policy,
        image,
        &[keyless("private", subject, "tag")],
        &keys,
        Some(&sigstores),
    );
    assert!(!unlogged.allowed, "{unlogged:#?}");
}

#[test]
fn trust_roots_are_checked_and_refused_with_their_place() {
    let sigstores = Sigstores::default();
    let text = with_trust_root(&fixture("private-sigstore.yaml"), sigstores.get("private"));
    let (trust_root, policy) = text.split_once("---\n").unwrap();
    let refused = |text: &str| {
        let error =
            TrustPolicy::from_bytes("cip.yaml", Path::new("."), text.as_bytes()).unwrap_err();
        assert!(error.is_input_error());
        error.to_string()
    };
    // Where `needle` is in `text`, as a whole word (not inside the base64 of a key or a
    // certificate, which may hold any short text): line and column, from 1.
    let place_of = |text: &str, needle: &str| {
        let word =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
        let at = text
            .match_indices(needle)
            .map(|(at, _)| at)
            .find(|&at| {
                !word(text[..at].chars().next_back())
                    && !word(text[at + needle.len()..].chars().next())
            })
            .unwrap_or_else(|| panic!("no {needle}"));
        let line = text[..at].matches('\n').count() + 1;
        let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
        format!("cip.yaml:{line}:{column}: ")
    };

    // A trustRootRef to a name no TrustRoot of the file has.
    let misnamed = text.replacen(
        "trustRootRef: private-sigstore",
        "trustRootRef: privat-sigstore",
        1,
    );
    let message = refused(&misnamed);
    assert!(
        message.starts_with(&place_of(&misnamed, "privat-sigstore")),
        "{message}"
    );
    assert!(
        message.contains(
            "keyless.trustRootRef privat-sigstore names no TrustRoot of this file (it has private-sigstore)"
        ),
        "{message}"
    );
    let message = refused(&format!("{policy}---\n"));
    assert!(message.contains("(it has none)"), "{message}");

    // The TUF forms are refused by name, at the field.
    for (form, value) in [
        ("repository", "\n    root: e30=\n    mirrorFS: e30=\n"),
        (
            "remote",
            "\n    root: e30=\n    mirror: https://tuf.example\n",
        ),
    ] {
        let tuf = format!(
            "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: private-sigstore\nspec:\n  {form}:{value}---\n{policy}"
        );
        let message = refused(&tuf);
        assert!(message.starts_with("cip.yaml:7:5: "), "{form}: {message}");
        assert!(
            message.contains(&format!(
                "TrustRoot private-sigstore: spec.{form} is not supported"
            )),
            "{message}"
        );
    }

    // Two TrustRoots of one name.
    let twice = format!("{trust_root}---\n{trust_root}---\n{policy}");
    let message = refused(&twice);
    let second = trust_root.lines().count() + 2 + 3;
    assert!(
        message.starts_with(&format!("cip.yaml:{second}:9: ")),
        "{message}"
    );
    assert!(
        message.contains("TrustRoot private-sigstore is defined twice (first at line 4)"),
        "{message}"
    );

    // Keys and certificates that do not read, and fields policy-controller does not have.
    let chain = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certChain: "))
        .unwrap()
        .to_owned();
    let rekor_key = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("publicKey: "))
        .unwrap()
        .to_owned();
    let not_a_key = STANDARD.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    let cases = [
        (
            text.replacen(&rekor_key, &not_a_key, 1),
            not_a_key.clone(),
            "TrustRoot private-sigstore tLogs[0].publicKey is not a PEM public key",
        ),
        (
            text.replacen(&chain, "\"-----BEGIN CERTIFICATE-----\"", 1),
            "\"-----BEGIN".to_owned(),
            "certificateAuthorities[0].certChain is not base64 of PEM text (it is PEM text itself)",
        ),
        (
            text.replacen("sha-256", "md5", 1),
            "md5".to_owned(),
            "tLogs[0].hashAlgorithm \"md5\" is not sha-256, sha-384 or sha-512",
        ),
        (
            text.replacen(
                "        uri: https://fulcio.private.test\n",
                "        uri: https://fulcio.private.test\n        validFor: {start: \"2024-01-01T00:00:00Z\"}\n",
                1,
            ),
            "validFor".to_owned(),
            "unknown field",
        ),
    ];
    for (text, needle, says) in &cases {
        let message = refused(text);
        assert!(message.contains(says), "{says}: {message}");
        let line = place_of(text, needle);
        let line = line.rsplitn(3, ':').nth(2).unwrap();
        assert!(
            message.starts_with(&format!("{line}:")),
            "{says}: {message}"
        );
    }
    // A certificate chain that does not end in its root.
    let tsa_chain = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("certChain: "))
        .nth(1)
        .unwrap()
        .to_owned();
    let tsa_pem = String::from_utf8(STANDARD.decode(&tsa_chain).unwrap()).unwrap();
    let leaf_only =
        STANDARD.encode(&tsa_pem[..tsa_pem.find("-----END CERTIFICATE-----").unwrap() + 26]);
    let message = refused(&text.replacen(&chain, &leaf_only, 1));
    assert!(
        message.contains("the last certificate of a certificate chain must be the root"),
        "{message}"
    );

    // A TrustRoot nothing names is a warning; one alone is no policy.
    let unused = text.replace("trustRootRef: private-sigstore", "trustRootRef: other");
    let unused = format!(
        "{}---\n{unused}",
        trust_root.replace("name: private-sigstore", "name: other")
    );
    let policy = load("unused.yaml", &unused);
    assert_eq!(policy.warnings.len(), 1, "{:?}", policy.warnings);
    assert!(
        policy.warnings[0]
            .message
            .contains("TrustRoot private-sigstore is not named by any trustRootRef")
    );
    let message = refused(trust_root);
    assert!(message.contains("holds no ClusterImagePolicy"), "{message}");
}
