//! containers-policy.json(5) read into vouch trust policies: the manual's examples
//! (`tests/data/containers-policy/`, see its README), loaded or refused by name with the
//! line, and decisions made in memory with keys generated for the run, signatures stored as
//! cosign stores them (simple-signing layers of the `.sig` tag), some with a Rekor entry
//! whose signed entry timestamp a log key generated for the run signs.
//!
//! `fulcio` requirements are decided with a real public-good keyless signature (the
//! conformance case `happy-path-v0.1` of `verifier/tests/data`, carried as cosign carries it
//! in a `.sig` layer) against the public-good Fulcio CA certificates and Rekor key, written
//! to PEM files from the embedded public-good trusted root for each run (see
//! [`public_good_files`]).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use vouch_attestations::bundle::{KindVersion, TransparencyLogEntry};
use vouch_attestations::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE,
    SignatureLayer,
};
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, KeyType, PrivateKey};
use vouch_policy::containers::from_containers_policy;
use vouch_policy::decision::Status;
use vouch_policy::evidence::{Evidence, MemorySource, TagEvidence};
use vouch_policy::policy::Signer;
use vouch_policy::policy::{Action, Requirement, SignedIdentity, Tlog};
use vouch_policy::{Decision, Denial, ImageName, PolicyError, TrustPolicy, Verdict};
use vouch_verifier::check::Check;
use vouch_verifier::time::UnixTime;
use vouch_verifier::trust_root::TrustedRoot;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/containers-policy");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(DATA).join(name)).unwrap()
}

fn key() -> PrivateKey {
    PrivateKey::generate(KeyType::EcdsaP256).unwrap()
}

fn load(dir: &Path, text: &str) -> Result<TrustPolicy, PolicyError> {
    from_containers_policy("policy.json", dir, text.as_bytes())
}

/// The 1-based line of the first line of `text` holding `marker`.
fn line_of(text: &str, marker: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker:?} is not in the text")) as u64
        + 1
}

/// The refusal of `text`, which must be [`PolicyError::Invalid`].
fn refusal(dir: &Path, text: &str) -> (Option<(u64, u64)>, String) {
    match load(dir, text) {
        Err(PolicyError::Invalid { file, line, reason }) => {
            assert_eq!(file, "policy.json");
            (line, reason)
        }
        Err(other) => panic!("not refused as invalid: {other}"),
        Ok(_) => panic!("not refused:\n{text}"),
    }
}

/// The digest an image's manifest has in memory.
fn manifest_digest(image: &str) -> Digest {
    Digest::sha256(format!("manifest of {image}").as_bytes())
}

/// A cosign simple-signing layer by `key` for `signed_for` and `digest`.
fn signature(key: &PrivateKey, signed_for: &str, digest: &Digest) -> SignatureLayer {
    let payload = SimpleSigning::new(signed_for, digest.clone(), &BTreeMap::new()).to_vec();
    SignatureLayer {
        index: 0,
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        digest: Digest::sha256(&payload),
        annotations: BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            STANDARD.encode(key.sign(&payload).unwrap()),
        )]),
        payload: Ok(payload),
    }
}

/// `layer` with the Rekor bundle annotation cosign adds: a `hashedrekord` entry of its
/// signature, and a signed entry timestamp by `log`.
fn logged(mut layer: SignatureLayer, signer: &PrivateKey, log: &PrivateKey) -> SignatureLayer {
    let payload = layer.payload.clone().unwrap();
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": Digest::sha256(&payload).hex()}},
            "signature": {
                "content": layer.annotations[SIGNATURE_ANNOTATION],
                "publicKey": {"content": STANDARD.encode(signer.public_key().to_pem())},
            },
        },
    })
    .to_string()
    .into_bytes();
    let integrated_time = UnixTime::from_system_time(std::time::SystemTime::now()).secs() - 60;
    let entry = TransparencyLogEntry {
        log_index: 7,
        log_id: Digest::sha256(log.public_key().spki_der()).to_bytes(),
        kind_version: KindVersion {
            kind: "hashedrekord".into(),
            version: "0.0.1".into(),
        },
        integrated_time: integrated_time as u64,
        inclusion_promise: None,
        inclusion_proof: None,
        canonicalized_body: body.clone(),
    };
    let set_payload = vouch_verifier::rekor::signed_entry_timestamp_payload(&entry).unwrap();
    let bundle = json!({
        "SignedEntryTimestamp": STANDARD.encode(log.sign(set_payload.as_bytes()).unwrap()),
        "Payload": {
            "body": STANDARD.encode(&body),
            "integratedTime": integrated_time,
            "logIndex": 7,
            "logID": vouch_keys::hex(&entry.log_id),
        },
    });
    layer
        .annotations
        .insert(BUNDLE_ANNOTATION.to_owned(), bundle.to_string());
    layer
}

/// Decides `image` (resolving to [`manifest_digest`]) with `layers` under its `.sig` tag.
fn decide(policy: &TrustPolicy, image: &str, layers: Vec<SignatureLayer>) -> Decision {
    let name = ImageName::parse(image).unwrap();
    let digest = manifest_digest(image);
    let layers = layers
        .into_iter()
        .enumerate()
        .map(|(index, layer)| SignatureLayer { index, ..layer })
        .collect::<Vec<_>>();
    let source = MemorySource {
        name: image.to_owned(),
        digest: Some(digest.clone()),
        evidence: BTreeMap::from([(
            digest.clone(),
            Evidence {
                signatures: TagEvidence {
                    tag: format!("sha256-{}.sig", digest.hex()),
                    found: !layers.is_empty(),
                    layers,
                },
                ..Evidence::default()
            },
        )]),
        ..MemorySource::default()
    };
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(policy.decide(&name, &source, now))
}

/// Decides `image` signed by `key` for `signed_for` (the image's own name when `None`).
fn decide_signed(
    policy: &TrustPolicy,
    image: &str,
    keys: &[&PrivateKey],
    signed_for: Option<&str>,
) -> Decision {
    let digest = manifest_digest(image);
    let layers = keys
        .iter()
        .map(|k| signature(k, signed_for.unwrap_or(image), &digest))
        .collect();
    decide(policy, image, layers)
}

#[track_caller]
fn assert_allowed(decision: &Decision) {
    assert!(
        decision.allowed && decision.verdict == Verdict::Pass,
        "{}",
        serde_json::to_string_pretty(decision).unwrap()
    );
}

#[track_caller]
fn assert_denied(decision: &Decision, denial: Denial) {
    assert!(
        !decision.allowed && decision.denial == Some(denial),
        "expected {denial:?}: {}",
        serde_json::to_string_pretty(decision).unwrap()
    );
}

/// The locked-down example without some of its docker scopes (and transports), as pretty
/// JSON.
fn locked_down_without(scopes: &[&str], transports: &[&str]) -> String {
    let mut value: Value = serde_json::from_str(&fixture("locked-down.json")).unwrap();
    let all = value["transports"].as_object_mut().unwrap();
    for transport in transports {
        all.remove(*transport).unwrap();
    }
    let docker = all["docker"].as_object_mut().unwrap();
    for scope in scopes {
        docker.remove(*scope).unwrap();
    }
    serde_json::to_string_pretty(&value).unwrap()
}

const FULCIO_SCOPES: [&str; 2] = [
    "hostname:5000/myns/sigstore-signed-fulcio-rekor",
    "hostname:5000/myns/sigstore-signed-fulcio-rekor- allows-malicious-tag-substitution",
];
const PKI_SCOPE: &str = "hostname:5000/myns/sigstore-signed-byopki";

/// The subject alternative name of the `happy-path-v0.1` certificate: a URI (a GitHub
/// workflow), not an email. vouch compares `subjectEmail` with every subject alternative
/// name (a documented difference from containers/image, which compares email names only),
/// which is what lets this real certificate stand in for a Fulcio email identity here.
const KEYLESS_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const KEYLESS_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn conformance(path: &str) -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../verifier/tests/data/conformance"
    );
    std::fs::read(Path::new(dir).join(path)).unwrap()
}

fn certificate_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// PEM files made from the embedded public-good trusted root, in `dir`.
struct PublicGoodFiles {
    /// The current Fulcio's intermediate and root (which issued the `happy-path-v0.1`
    /// certificate), then the first Fulcio's root: two self-signed certificates.
    ca: PathBuf,
    /// The first Fulcio's root alone (it did not issue the certificate).
    old_ca: PathBuf,
    /// The current Fulcio's intermediate alone (no root).
    intermediate: PathBuf,
    /// The key of rekor.sigstore.dev (Rekor v1), which logged the signature.
    rekor: PathBuf,
}

fn public_good_files(dir: &Path) -> PublicGoodFiles {
    let root = TrustedRoot::public_good().unwrap();
    let current = &root.certificate_authorities[1].cert_chain;
    let first = &root.certificate_authorities[0].cert_chain;
    assert_eq!((current.len(), first.len()), (2, 1));
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let rekor = root
        .tlogs
        .iter()
        .find(|log| log.base_url == "https://rekor.sigstore.dev")
        .unwrap();
    let rekor_key = vouch_keys::PublicKey::from_spki_der(&rekor.public_key.raw_bytes).unwrap();
    PublicGoodFiles {
        ca: write(
            "fulcio.pem",
            format!(
                "# sigstore-intermediate, sigstore (current Fulcio), sigstore (first Fulcio)\n{}{}{}",
                certificate_pem(&current[0]),
                certificate_pem(&current[1]),
                certificate_pem(&first[0])
            ),
        ),
        old_ca: write("fulcio-v1-root.pem", certificate_pem(&first[0])),
        intermediate: write("fulcio-intermediate.pem", certificate_pem(&current[0])),
        rekor: write("rekor.pub", rekor_key.to_pem()),
    }
}

/// The keyless signature of `happy-path-v0.1` as a cosign `.sig` layer (signature,
/// certificate and Rekor bundle annotations, as `cosign sign` writes them). Its payload is a
/// text file, not a simple-signing document: every check up to the signature's identity
/// can pass, and then the `statement` check refuses it.
fn keyless_layer() -> SignatureLayer {
    let bundle: Value =
        serde_json::from_slice(&conformance("happy-path-v0.1/bundle.sigstore.json")).unwrap();
    let material = &bundle["verificationMaterial"];
    let cert = STANDARD
        .decode(
            material["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let entry = &material["tlogEntries"][0];
    let log_id = STANDARD
        .decode(entry["logId"]["keyId"].as_str().unwrap())
        .unwrap();
    let rekor_bundle = json!({
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
            "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
            "logID": vouch_keys::hex(&log_id),
        }
    });
    let payload = conformance("a.txt");
    SignatureLayer {
        index: 0,
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        digest: Digest::sha256(&payload),
        annotations: BTreeMap::from([
            (
                SIGNATURE_ANNOTATION.to_owned(),
                bundle["messageSignature"]["signature"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            (CERTIFICATE_ANNOTATION.to_owned(), certificate_pem(&cert)),
            (BUNDLE_ANNOTATION.to_owned(), rekor_bundle.to_string()),
        ]),
        payload: Ok(payload),
    }
}

/// The check the only authority failed on the only piece of evidence of `decision`, which
/// denied the image for want of an accepted signature.
#[track_caller]
fn failed_check(decision: &Decision) -> Check {
    assert_denied(decision, Denial::NoAcceptedSignature);
    assert_eq!(decision.evidence.len(), 1, "{decision:?}");
    let results = &decision.evidence[0].results;
    assert_eq!(results.len(), 1, "{decision:?}");
    assert_eq!(results[0].status, Status::Fail, "{decision:?}");
    results[0].check.unwrap()
}

#[test]
fn the_manual_locked_down_example_refuses_pki_and_signed_by_by_name_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    // The whole file: its fulcio requirements pass the checks made before any file is read,
    // and its pki requirement is refused.
    let text = fixture("locked-down.json");
    let (line, reason) = refusal(dir.path(), &text);
    assert_eq!(line.unwrap().0, line_of(&text, "\"pki\""), "{reason}");
    assert!(
        reason.starts_with("pki (certificates from a private PKI"),
        "{reason}"
    );

    // (Without preserve_order, serde_json writes the transports sorted: atomic first.)
    let text = locked_down_without(&[PKI_SCOPE], &[]);
    let (line, reason) = refusal(dir.path(), &text);
    assert_eq!(
        line.unwrap().0,
        line_of(&text, "\"signedBy\""),
        "{reason}\n{text}"
    );
    assert_eq!(
        reason,
        "signedBy (GPG signatures) is not supported: vouch verifies sigstore signatures (sigstoreSigned) only"
    );
    let error = load(dir.path(), &text).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("policy.json:{}:", line_of(&text, "\"signedBy\""))),
        "{error}"
    );

    // Without them: the scope with a space in it (a typo of the manual's) is refused, since
    // no image name could be in it.
    let text = locked_down_without(&[PKI_SCOPE], &["atomic"]);
    let (line, reason) = refusal(dir.path(), &text);
    assert_eq!(line.unwrap().0, line_of(&text, "rekor- allows"), "{reason}");
    assert!(
        reason.ends_with("holds ' ', which no image name has"),
        "{reason}"
    );

    // Without it too, its fulcio requirement reads its files: the manual's paths do not
    // exist here.
    let text = locked_down_without(&[PKI_SCOPE, FULCIO_SCOPES[1]], &["atomic"]);
    let error = load(dir.path(), &text).unwrap_err();
    assert!(matches!(error, PolicyError::Read { .. }), "{error}");
}

#[test]
fn the_manual_locked_down_example_decides_as_the_manual_says_without_its_unsupported_parts() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key();
    let key_file = dir.path().join("sigstore-pubkey.pub");
    std::fs::write(&key_file, signer.public_key().to_pem()).unwrap();
    let files = public_good_files(dir.path());
    let text = locked_down_without(&[PKI_SCOPE, FULCIO_SCOPES[1]], &["atomic"])
        .replace("/path/to/sigstore-pubkey.pub", key_file.to_str().unwrap())
        .replace("/path/to/fulcio_v1.crt.pem", files.ca.to_str().unwrap())
        .replace("/path/to/rekor.pub", files.rekor.to_str().unwrap());
    let policy = load(dir.path(), &text).unwrap();
    assert_eq!(policy.default, Action::Deny);
    assert_eq!(policy.warnings.len(), 1, "{:?}", policy.warnings);
    assert!(
        policy.warnings[0]
            .message
            .starts_with("transports.dir is not used"),
        "{:?}",
        policy.warnings
    );

    // "Allow installing images from a specific repository namespace, without cryptographic
    // verification."
    let d = decide(
        &policy,
        "docker.io/openshift/hello-openshift:latest",
        vec![],
    );
    assert_allowed(&d);
    assert_eq!(d.scope.as_deref(), Some("docker.io/openshift/**"));
    // "Similarly, allow installing the 'official' busybox images."
    assert_allowed(&decide(&policy, "busybox:latest", vec![]));
    assert_allowed(&decide(&policy, "docker.io/library/busybox:1.36", vec![]));
    // "Allow installing images from all subdomains".
    let d = decide(
        &policy,
        "a.b.temporary-project.example.com/team/app:1",
        vec![],
    );
    assert_allowed(&d);
    assert_eq!(
        d.scope.as_deref(),
        Some("*.temporary-project.example.com/**")
    );
    assert_allowed(&decide(
        &policy,
        "x.temporary-project.example.com:5000/app:1",
        vec![],
    ));
    // "Other docker: images use the global default policy and are rejected".
    for image in [
        "temporary-project.example.com/app:1",
        "docker.io/library/alpine:3",
        "docker.io/openshiftx/app:1",
        "hostname:5000/myns/other:1",
    ] {
        assert_denied(&decide(&policy, image, vec![]), Denial::NoScope);
    }

    // "A sigstore-signed repository": signed for the full reference.
    let full = "hostname:5000/myns/sigstore-signed-with-full-references";
    assert_allowed(&decide_signed(
        &policy,
        &format!("{full}:v1"),
        &[&signer],
        None,
    ));
    assert_denied(
        &decide(&policy, &format!("{full}:v1"), vec![]),
        Denial::NoSignatures,
    );
    let d = decide_signed(
        &policy,
        &format!("{full}:v1"),
        &[&signer],
        Some(&format!("{full}:v2")),
    );
    assert_denied(&d, Denial::NoAcceptedSignature);
    assert!(
        d.reason.as_deref().unwrap().contains("signed-identity"),
        "{d:?}"
    );
    assert_denied(
        &decide_signed(&policy, &format!("{full}:v1"), &[&key()], None),
        Denial::NoAcceptedSignature,
    );

    // "accepts signatures by /usr/bin/cosign": matchRepository takes another tag.
    let any_tag = "hostname:5000/myns/sigstore-signed-allows-malicious-tag-substitution";
    assert_allowed(&decide_signed(
        &policy,
        &format!("{any_tag}:latest"),
        &[&signer],
        Some(&format!("{any_tag}:v1")),
    ));

    // "A sigstore-signed repository using the community Fulcio+Rekor servers": a keyless
    // authority for test-user@example.com from GitHub's OAuth issuer. The public-good
    // signature here is by a GitHub workflow: refused at its identity, past its certificate
    // chain and its log entry.
    let image = format!("{}:v1", FULCIO_SCOPES[0]);
    assert_denied(&decide(&policy, &image, vec![]), Denial::NoSignatures);
    let d = decide(&policy, &image, vec![keyless_layer()]);
    assert_eq!(failed_check(&d), Check::CertificateIdentity, "{d:?}");
    assert_eq!(
        d.authorities[0].name,
        format!(
            "docker:{} #1 fulcio test-user@example.com issued by https://github.com/login/oauth",
            FULCIO_SCOPES[0]
        )
    );
}

#[test]
fn the_manual_insecure_example_allows_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let policy = load(dir.path(), &fixture("insecure-accept-anything.json")).unwrap();
    assert_eq!(policy.default, Action::Allow);
    assert!(policy.scopes.is_empty());
    assert!(policy.authorities.is_empty());
    assert!(policy.warnings.is_empty());
    assert_allowed(&decide(&policy, "docker.io/library/alpine:3", vec![]));
    assert_allowed(&decide(&policy, "quay.io/any/thing:1", vec![]));
}

#[test]
fn the_usual_distribution_policy_allows_every_image_and_says_docker_daemon_is_not_used() {
    // What podman and skopeo packages install as /etc/containers/policy.json.
    let text = r#"{
    "default": [
        {
            "type": "insecureAcceptAnything"
        }
    ],
    "transports":
        {
            "docker-daemon":
                {
                    "": [{"type":"insecureAcceptAnything"}]
                }
        }
}"#;
    let dir = tempfile::tempdir().unwrap();
    let policy = load(dir.path(), text).unwrap();
    assert_eq!(policy.default, Action::Allow);
    assert!(policy.scopes.is_empty());
    assert_eq!(policy.warnings.len(), 1);
    assert_eq!(
        policy.warnings[0].line.unwrap().0,
        line_of(text, "\"docker-daemon\"") + 1
    );
    assert!(
        policy.warnings[0]
            .message
            .starts_with("transports.docker-daemon is not used"),
        "{:?}",
        policy.warnings
    );
    assert_allowed(&decide(&policy, "docker.io/library/alpine:3", vec![]));
}

#[test]
fn a_reject_default_denies_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let policy = load(dir.path(), r#"{"default": [{"type": "reject"}]}"#).unwrap();
    assert_eq!(policy.default, Action::Deny);
    assert_denied(
        &decide(&policy, "docker.io/library/alpine:3", vec![]),
        Denial::NoScope,
    );
    // reject wins over anything else in its list.
    let policy = load(
        dir.path(),
        r#"{"default": [{"type": "insecureAcceptAnything"}, {"type": "reject"}]}"#,
    )
    .unwrap();
    assert_eq!(policy.default, Action::Deny);
}

#[test]
fn a_docker_key_scope_passes_signed_images_and_denies_unsigned_ones() {
    let dir = tempfile::tempdir().unwrap();
    let team = key();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/team.pub"), team.public_key().to_pem()).unwrap();
    let text = r#"{
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                "registry.example/team": [
                    {"type": "sigstoreSigned", "keyPath": "keys/team.pub"}
                ]
            }
        }
    }"#;
    let policy = load(dir.path(), text).unwrap();
    assert_eq!(policy.authorities.len(), 1);
    let authority = &policy.authorities[0];
    assert_eq!(
        authority.name,
        "docker:registry.example/team #1 keyPath keys/team.pub"
    );
    assert_eq!(authority.tlog, Tlog::Optional);
    // No Rekor key in the file: the public-good root (its logs checked when an entry is
    // present).
    assert!(!authority.trusted_root.tlogs.is_empty());
    let Requirement::Signed(requirement) = &policy.scopes[0].requirement else {
        panic!("not a signed scope");
    };
    assert_eq!((requirement.threshold, requirement.require.len()), (1, 0));
    assert_eq!(
        requirement.signed_identity,
        Some(SignedIdentity::MatchRepoDigestOrExact)
    );

    let image = "registry.example/team/app:v1";
    assert_allowed(&decide_signed(&policy, image, &[&team], None));
    let d = decide(&policy, image, vec![]);
    assert_denied(&d, Denial::NoSignatures);
    assert_eq!(d.scope.as_deref(), Some("registry.example/team/**"));
    assert_denied(
        &decide_signed(&policy, image, &[&key()], None),
        Denial::NoAcceptedSignature,
    );
    // The repository the scope names is in it too.
    assert_denied(
        &decide(&policy, "registry.example/team:v1", vec![]),
        Denial::NoSignatures,
    );
    // Outside the scope: the default.
    assert_allowed(&decide(&policy, "registry.example/other/app:v1", vec![]));
    assert_allowed(&decide(&policy, "registry.example/teams/app:v1", vec![]));
}

#[test]
fn the_most_specific_scope_decides() {
    let dir = tempfile::tempdir().unwrap();
    let team = key();
    std::fs::write(dir.path().join("team.pub"), team.public_key().to_pem()).unwrap();
    // The wildcards are written least specific first: containers ranks them by domain.
    let text = r#"{
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                "registry.example": [{"type": "reject"}],
                "registry.example/team": [{"type": "sigstoreSigned", "keyPath": "team.pub"}],
                "registry.example/team/app": [{"type": "insecureAcceptAnything"}],
                "*.example.com": [{"type": "reject"}],
                "*.cdn.example.com": [{"type": "insecureAcceptAnything"}],
                "registry.cdn.example.com": [{"type": "sigstoreSigned", "keyPath": "team.pub"}]
            }
        }
    }"#;
    let policy = load(dir.path(), text).unwrap();
    let cases: [(&str, Option<Denial>, &str); 9] = [
        (
            "registry.example/other:1",
            Some(Denial::StaticDeny),
            "registry.example/**",
        ),
        (
            "registry.example/team/svc:1",
            Some(Denial::NoSignatures),
            "registry.example/team/**",
        ),
        (
            "registry.example/team/app:1",
            None,
            "registry.example/team/app",
        ),
        (
            "registry.example/team/app/sub:1",
            None,
            "registry.example/team/app/**",
        ),
        ("x.cdn.example.com/a:1", None, "*.cdn.example.com/**"),
        (
            "x.y.cdn.example.com:443/a:1",
            None,
            "*.cdn.example.com:*/**",
        ),
        (
            "x.example.com/a:1",
            Some(Denial::StaticDeny),
            "*.example.com/**",
        ),
        (
            "cdn.example.com/a:1",
            Some(Denial::StaticDeny),
            "*.example.com/**",
        ),
        (
            "registry.cdn.example.com/a:1",
            Some(Denial::NoSignatures),
            "registry.cdn.example.com/**",
        ),
    ];
    for (image, denial, scope) in cases {
        let d = decide(&policy, image, vec![]);
        assert_eq!(d.scope.as_deref(), Some(scope), "{image}");
        match denial {
            None => assert_allowed(&d),
            Some(denial) => assert_denied(&d, denial),
        }
    }
    assert_allowed(&decide_signed(
        &policy,
        "registry.example/team/svc:1",
        &[&team],
        None,
    ));
    // No scope: the default.
    let d = decide(&policy, "example.com/a:1", vec![]);
    assert_eq!(d.scope, None);
    assert_allowed(&d);
}

#[test]
fn a_signed_default_covers_every_name_and_yields_to_every_docker_scope() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key();
    std::fs::write(dir.path().join("k.pub"), signer.public_key().to_pem()).unwrap();
    let text = r#"{
        "default": [{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "matchRepository"}}],
        "transports": {
            "docker": {
                "*.example.com": [{"type": "insecureAcceptAnything"}],
                "*.internal.example.com": [{"type": "reject"}]
            }
        }
    }"#;
    let policy = load(dir.path(), text).unwrap();
    assert_eq!(policy.default, Action::Deny);
    assert_allowed(&decide(&policy, "a.example.com/x:1", vec![]));
    assert_allowed(&decide(&policy, "a.example.com:5000/x:1", vec![]));
    assert_denied(
        &decide(&policy, "a.internal.example.com/x:1", vec![]),
        Denial::StaticDeny,
    );
    assert_denied(
        &decide(&policy, "quay.io/x/y:1", vec![]),
        Denial::NoSignatures,
    );
    assert_allowed(&decide_signed(&policy, "quay.io/x/y:1", &[&signer], None));
    // OCI layouts: the default decides them.
    for name in ["oci:layout", "oci:./layout", "oci:/var/lib/layout"] {
        let (scope, _) = policy.scope_for(name).unwrap();
        assert!(
            matches!(scope.requirement, Requirement::Signed(_)),
            "{name}"
        );
    }

    // transports.docker[""] takes the place of the default, which a warning says is unused.
    let text = r#"{
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {"": [{"type": "sigstoreSigned", "keyPath": "k.pub"}]}
        }
    }"#;
    let policy = load(dir.path(), text).unwrap();
    assert_eq!(policy.warnings.len(), 1);
    assert_eq!(policy.warnings[0].line.unwrap().0, 2);
    assert!(
        policy.warnings[0]
            .message
            .starts_with("default is not used")
    );
    assert_denied(
        &decide(&policy, "quay.io/x/y:1", vec![]),
        Denial::NoSignatures,
    );
    assert_allowed(&decide_signed(&policy, "quay.io/x/y:1", &[&signer], None));
}

#[test]
fn remap_identity_accepts_signatures_made_for_the_upstream_name() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = key();
    std::fs::write(dir.path().join("vendor.pub"), vendor.public_key().to_pem()).unwrap();
    let text = r#"{
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                "mirror.local:5000/vendor-mirror": [
                    {
                        "type": "sigstoreSigned",
                        "keyPath": "vendor.pub",
                        "signedIdentity": {
                            "type": "remapIdentity",
                            "prefix": "mirror.local:5000/vendor-mirror",
                            "signedPrefix": "vendor.example.com"
                        }
                    }
                ]
            }
        }
    }"#;
    let policy = load(dir.path(), text).unwrap();
    let image = "mirror.local:5000/vendor-mirror/product/app:v1";
    assert_allowed(&decide_signed(
        &policy,
        image,
        &[&vendor],
        Some("vendor.example.com/product/app:v1"),
    ));
    for signed_for in [
        "mirror.local:5000/vendor-mirror/product/app:v1",
        "vendor.example.com/product/app:v2",
        "vendor.example.com/product/other:v1",
    ] {
        let d = decide_signed(&policy, image, &[&vendor], Some(signed_for));
        assert_denied(&d, Denial::NoAcceptedSignature);
        assert!(
            d.reason.as_deref().unwrap().contains("signed-identity"),
            "{signed_for}: {:?}",
            d.reason
        );
    }
}

#[test]
fn every_sigstore_requirement_of_a_list_must_hold() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, c] = [key(), key(), key()];
    for (name, k) in [("a", &a), ("b", &b), ("c", &c)] {
        std::fs::write(
            dir.path().join(format!("{name}.pub")),
            k.public_key().to_pem(),
        )
        .unwrap();
    }
    let image = "registry.example/app:v1";

    // Two keys, both required.
    let text = r#"{"default": [
        {"type": "sigstoreSigned", "keyPath": "a.pub"},
        {"type": "sigstoreSigned", "keyPath": "b.pub"}
    ]}"#;
    let policy = load(dir.path(), text).unwrap();
    let Requirement::Signed(requirement) = &policy.scopes[0].requirement else {
        panic!("not a signed scope");
    };
    assert_eq!(
        (requirement.threshold, requirement.require.clone()),
        (2, vec![0, 1])
    );
    assert_allowed(&decide_signed(&policy, image, &[&a, &b], None));
    assert_denied(
        &decide_signed(&policy, image, &[&a], None),
        Denial::ThresholdNotMet,
    );
    assert_denied(
        &decide_signed(&policy, image, &[&b, &c], None),
        Denial::ThresholdNotMet,
    );

    // Any of a and b, and c.
    let text = r#"{"default": [
        {"type": "sigstoreSigned", "keyPaths": ["a.pub", "b.pub"]},
        {"type": "insecureAcceptAnything"},
        {"type": "sigstoreSigned", "keyPath": "c.pub"}
    ]}"#;
    let policy = load(dir.path(), text).unwrap();
    let names: Vec<&str> = policy.authorities.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default #1 keyPaths[0] a.pub",
            "default #1 keyPaths[1] b.pub",
            "default #2 keyPath c.pub"
        ]
    );
    assert_allowed(&decide_signed(&policy, image, &[&a, &c], None));
    assert_allowed(&decide_signed(&policy, image, &[&b, &c], None));
    assert_allowed(&decide_signed(&policy, image, &[&a, &b, &c], None));
    assert_denied(
        &decide_signed(&policy, image, &[&a, &b], None),
        Denial::RequiredAuthorityMissing,
    );
    assert_denied(
        &decide_signed(&policy, image, &[&c], None),
        Denial::ThresholdNotMet,
    );

    // One requirement with several keys: any one of them.
    let text = r#"{"default": [{"type": "sigstoreSigned", "keyPaths": ["a.pub", "b.pub"]}]}"#;
    let policy = load(dir.path(), text).unwrap();
    assert_allowed(&decide_signed(&policy, image, &[&b], None));
    assert_denied(
        &decide_signed(&policy, image, &[&c], None),
        Denial::NoAcceptedSignature,
    );
}

#[test]
fn rekor_keys_make_a_trusted_root_and_require_a_log_entry_signed_by_one_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let [signer, other_signer, log, other_log] = [key(), key(), key(), key()];
    let b64_pem = |k: &PrivateKey| STANDARD.encode(k.public_key().to_pem());
    let text = format!(
        r#"{{"default": [{{
            "type": "sigstoreSigned",
            "keyDatas": ["{}", "{}"],
            "rekorPublicKeyData": "{}",
            "signedIdentity": {{"type": "matchRepository"}}
        }}]}}"#,
        b64_pem(&signer),
        b64_pem(&other_signer),
        b64_pem(&log)
    );
    let policy = load(dir.path(), &text).unwrap();
    assert_eq!(policy.authorities.len(), 2);
    assert_eq!(policy.authorities[0].name, "default #1 keyDatas[0]");
    let root = &policy.authorities[0].trusted_root;
    assert!(std::sync::Arc::ptr_eq(
        root,
        &policy.authorities[1].trusted_root
    ));
    assert_eq!(policy.authorities[0].tlog, Tlog::Required);
    assert_eq!(root.tlogs.len(), 1);
    assert!(root.ctlogs.is_empty() && root.certificate_authorities.is_empty());
    assert_eq!(
        root.tlogs[0].log_id,
        Digest::sha256(log.public_key().spki_der()).to_bytes()
    );
    assert_eq!(
        root.tlogs[0].base_url,
        "the Rekor log of rekorPublicKeyData"
    );

    let image = "registry.example/app:v1";
    let digest = manifest_digest(image);
    let signed = |k: &PrivateKey| signature(k, image, &digest);
    assert_allowed(&decide(
        &policy,
        image,
        vec![logged(signed(&signer), &signer, &log)],
    ));
    assert_allowed(&decide(
        &policy,
        image,
        vec![logged(signed(&other_signer), &other_signer, &log)],
    ));
    let d = decide(&policy, image, vec![signed(&signer)]);
    assert_denied(&d, Denial::NoAcceptedSignature);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("no transparency-log entry"),
        "{:?}",
        d.reason
    );
    let d = decide(
        &policy,
        image,
        vec![logged(signed(&signer), &signer, &other_log)],
    );
    assert_denied(&d, Denial::NoAcceptedSignature);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("has no transparency log"),
        "{:?}",
        d.reason
    );

    // Without a Rekor key the same logged signature is checked against the public-good
    // root, which does not know this log; the unlogged one is trusted on the key alone.
    let text = format!(
        r#"{{"default": [{{"type": "sigstoreSigned", "keyData": "{}"}}]}}"#,
        b64_pem(&signer)
    );
    let policy = load(dir.path(), &text).unwrap();
    assert_eq!(policy.authorities[0].tlog, Tlog::Optional);
    assert_allowed(&decide(&policy, image, vec![signed(&signer)]));
    assert_denied(
        &decide(&policy, image, vec![logged(signed(&signer), &signer, &log)]),
        Denial::NoAcceptedSignature,
    );

    // A Rekor key must be ECDSA, as containers/image requires.
    let ed25519 = PrivateKey::generate(KeyType::Ed25519).unwrap();
    std::fs::write(dir.path().join("rekor.pub"), ed25519.public_key().to_pem()).unwrap();
    let text = format!(
        r#"{{"default": [{{"type": "sigstoreSigned", "keyData": "{}",
            "rekorPublicKeyPaths": ["rekor.pub"]}}]}}"#,
        b64_pem(&signer)
    );
    let (line, reason) = refusal(dir.path(), &text);
    assert_eq!(line.unwrap().0, 2);
    assert!(
        reason.starts_with("rekorPublicKeyPaths[0] rekor.pub: a Rekor key must be ECDSA"),
        "{reason}"
    );
}

#[test]
fn the_digest_covers_the_policy_and_every_key_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pub"), key().public_key().to_pem()).unwrap();
    let text = r#"{"default": [{"type": "sigstoreSigned", "keyPath": "k.pub"}]}"#;
    let first = load(dir.path(), text).unwrap().digest;
    assert_eq!(load(dir.path(), text).unwrap().digest, first);
    std::fs::write(dir.path().join("k.pub"), key().public_key().to_pem()).unwrap();
    assert_ne!(load(dir.path(), text).unwrap().digest, first);

    // A key file that cannot be read, or is not a key.
    std::fs::remove_file(dir.path().join("k.pub")).unwrap();
    assert!(matches!(
        load(dir.path(), text),
        Err(PolicyError::Read { .. })
    ));
    std::fs::write(dir.path().join("k.pub"), "not a key").unwrap();
    let (line, reason) = refusal(dir.path(), text);
    let column = text.find("\"k.pub\"").unwrap() as u64 + 1;
    assert_eq!(line, Some((1, column)));
    assert!(
        reason.starts_with("keyPath k.pub: not a public key"),
        "{reason}"
    );
}

#[test]
fn what_vouch_cannot_enforce_is_refused_by_name_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pub"), key().public_key().to_pem()).unwrap();
    // (policy, the text on the line the refusal names, what the refusal says)
    let in_scope = |requirement: &str| {
        format!(
            "{{\n  \"default\": [{{\"type\": \"reject\"}}],\n  \"transports\": {{\"docker\": {{\n    \"registry.example/app\": [\n      {requirement}\n    ]\n  }}}}\n}}"
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            in_scope(r#"{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/k.gpg"}"#),
            "signedBy",
            "signedBy (GPG signatures) is not supported",
        ),
        (
            in_scope(r#"{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}}"#),
            "signedBaseLayer",
            "signedBaseLayer is not supported",
        ),
        (
            in_scope(r#"{"type": "sigstoreSignedV2", "keyPath": "k.pub"}"#),
            "sigstoreSignedV2",
            "policy requirement type \"sigstoreSignedV2\" is not one of",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "pki": {"caRootsPath": "/r.pem", "subjectEmail": "a@b"}}"#),
            "pki",
            "pki (certificates from a private PKI",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem", "oidcIssuer": "https://issuer", "subjectEmail": "a@b"}}"#,
            ),
            "fulcio",
            "fulcio needs one of rekorPublicKeyPath",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/rekor.pub"}"#,
            ),
            "fulcio",
            "fulcio needs oidcIssuer",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "matchExact"}}"#),
            "matchExact",
            "signedIdentity matchExact is not supported",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "matchAnything"}}"#),
            "matchAnything",
            "signedIdentity type \"matchAnything\" is not one of",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "exactReference", "dockerReference": "registry.example/app"}}"#,
            ),
            "exactReference",
            "dockerReference \"registry.example/app\" has neither a tag nor a digest",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "remapIdentity", "prefix": "registry.example"}}"#,
            ),
            "remapIdentity",
            "signedIdentity remapIdentity needs signedPrefix",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "matchRepository", "dockerRepository": "registry.example/app"}}"#,
            ),
            "matchRepository",
            "signedIdentity matchRepository has no field dockerRepository",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPaths": []}"#),
            "keyPaths",
            "keyPaths lists no keys",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "keyData": "AAAA"}"#),
            "keyPath",
            "sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki (2 given)",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyData": "not base64!"}"#),
            "keyData",
            "keyData is not base64 of a PEM public key",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyType": "GPGKeys", "keyPath": "k.pub"}"#),
            "keyType",
            "a sigstoreSigned requirement has no field keyType",
        ),
        (
            in_scope(r#"{"type": "reject", "keyPath": "k.pub"}"#),
            "\"keyPath\"",
            "a reject requirement has no field keyPath",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPathz": "k.pub"}"#),
            "keyPathz",
            "unknown field `keyPathz`",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "keyPaths": ["k.pub", "k.pub"]},
      {"type": "sigstoreSigned", "keyDatas": ["AAAA", "AAAA"]}"#,
            ),
            "keyDatas",
            "both list several keys",
        ),
        (
            in_scope(
                r#"{"type": "sigstoreSigned", "keyPath": "k.pub"},
      {"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "matchRepository"}}"#,
            ),
            "matchRepository",
            "must have the same signedIdentity",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transports\": {\"docker\": {\n    \"docker.io/library/busybox:latest\": [{\"type\": \"insecureAcceptAnything\"}]\n  }}\n}".into(),
            "busybox:latest",
            "names a tag or digest",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transports\": {\"docker\": {\n    \"example*.*.com\": [{\"type\": \"insecureAcceptAnything\"}]\n  }}\n}".into(),
            "example*",
            "`*` is only valid as the first label of a domain",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transports\": {\"containers-storage\": {\n    \"\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"k.pub\"}]\n  }}\n}".into(),
            "sigstoreSigned",
            "transports.containers-storage[\"\"]: outside the docker transport only insecureAcceptAnything and reject are accepted",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transports\": {\"atomic\": {\n    \"registry.example/app\": [{\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": \"/k.gpg\"}]\n  }}\n}".into(),
            "signedBy",
            "signedBy (GPG signatures) is not supported",
        ),
        (
            "{\n  \"default\": []\n}".into(),
            "\"default\"",
            "default: a list of policy requirements must not be empty",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transport\": {}\n}".into(),
            "\"transport\"",
            "unknown field `transport`",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}], /* reject */\n  \"transports\": {}\n}".into(),
            "/* reject */",
            "(policy.json is strict JSON: no comments, no trailing commas)",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\",}]\n}".into(),
            ",}]",
            "not JSON: key must be a string",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"default\": [{\"type\": \"reject\"}]\n}".into(),
            "",
            "repeated key default",
        ),
        (
            "{\n  \"default\": [{\"type\": \"reject\"}],\n  \"transports\": {\"docker\": {\n    \"a.io/x\": [{\"type\": \"reject\"}],\n    \"a.io/x\": [{\"type\": \"insecureAcceptAnything\"}]\n  }}\n}".into(),
            "insecureAcceptAnything",
            "repeated key a.io/x",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": null}"#),
            "null",
            "null is not a value policy.json takes",
        ),
        (
            in_scope(r#"{"type": "sigstoreSigned", "keyPath": 5}"#),
            "keyPath",
            "a number is not a value policy.json takes",
        ),
        (
            "{\n  \"transports\": {}\n}".into(),
            "",
            "missing field `default`",
        ),
    ];
    for (text, marker, says) in cases {
        let (line, reason) = refusal(dir.path(), &text);
        assert!(reason.contains(says), "{says:?} not in {reason:?}\n{text}");
        if !marker.is_empty() {
            assert_eq!(
                line.map(|(l, _)| l),
                Some(line_of(&text, marker)),
                "{reason}\n{text}"
            );
        }
    }
}

#[test]
fn a_fulcio_requirement_is_a_keyless_authority_of_its_ca_file_and_rekor_keys() {
    let dir = tempfile::tempdir().unwrap();
    let files = public_good_files(dir.path());
    let policy_text = |ca: &Path, email: &str, issuer: &str, rekor: &Path| {
        format!(
            r#"{{
    "default": [{{"type": "reject"}}],
    "transports": {{"docker": {{"registry.example/app": [{{
        "type": "sigstoreSigned",
        "fulcio": {{"caPath": "{}", "oidcIssuer": "{issuer}", "subjectEmail": "{email}"}},
        "rekorPublicKeyPath": "{}"
    }}]}}}}
}}"#,
            ca.file_name().unwrap().to_str().unwrap(),
            rekor.file_name().unwrap().to_str().unwrap()
        )
    };
    let load_with = |ca: &Path, email: &str, issuer: &str, rekor: &Path| {
        load(dir.path(), &policy_text(ca, email, issuer, rekor)).unwrap()
    };
    let image = "registry.example/app:v1";

    let policy = load_with(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &files.rekor);
    assert_eq!(policy.authorities.len(), 1);
    let authority = &policy.authorities[0];
    assert_eq!(
        authority.name,
        format!(
            "docker:registry.example/app #1 fulcio {KEYLESS_IDENTITY} issued by {KEYLESS_ISSUER}"
        )
    );
    assert!(matches!(&authority.signer, Signer::Keyless(_)));
    assert_eq!(authority.tlog, Tlog::Required);
    assert!(!authority.require_sct);
    // Two self-signed certificates, two authorities; the intermediate before its root.
    let root = &authority.trusted_root;
    assert_eq!(root.certificate_authorities.len(), 2);
    assert_eq!(root.certificate_authorities[0].cert_chain.len(), 2);
    assert_eq!(root.certificate_authorities[1].cert_chain.len(), 1);
    assert_eq!(
        root.certificate_authorities[0].common_name,
        "sigstore (fulcio caPath fulcio.pem)"
    );
    assert_eq!(root.tlogs.len(), 1);
    assert_eq!(
        root.tlogs[0].base_url,
        "the Rekor log of rekorPublicKeyPath rekor.pub"
    );
    assert!(root.ctlogs.is_empty() && root.timestamp_authorities.is_empty());

    // The real signature passes the certificate chain (to the public-good Fulcio at the
    // log's time), the signed entry timestamp (by the Rekor key), the OIDC issuer and the
    // subject, with no SCT asked for; it is refused at its payload, a text file and not a
    // simple-signing document, the first check after those.
    let d = decide(&policy, image, vec![keyless_layer()]);
    assert_eq!(failed_check(&d), Check::Statement, "{d:?}");
    assert!(d.authorities[0].by.is_empty());

    // Another subject or issuer: refused at the identity.
    for (email, issuer) in [
        ("test-user@example.com", KEYLESS_ISSUER),
        (KEYLESS_IDENTITY, "https://github.com/login/oauth"),
    ] {
        let policy = load_with(&files.ca, email, issuer, &files.rekor);
        let d = decide(&policy, image, vec![keyless_layer()]);
        assert_eq!(failed_check(&d), Check::CertificateIdentity, "{d:?}");
    }
    // A CA file whose root did not issue it: refused at the certificate chain.
    let policy = load_with(
        &files.old_ca,
        KEYLESS_IDENTITY,
        KEYLESS_ISSUER,
        &files.rekor,
    );
    let d = decide(&policy, image, vec![keyless_layer()]);
    assert_eq!(failed_check(&d), Check::CertificateChain, "{d:?}");
    // A Rekor key that is not the log's: refused at the log entry.
    let other = dir.path().join("other-rekor.pub");
    std::fs::write(&other, key().public_key().to_pem()).unwrap();
    let policy = load_with(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &other);
    let d = decide(&policy, image, vec![keyless_layer()]);
    assert_eq!(failed_check(&d), Check::TlogEntry, "{d:?}");
    // No log entry at all: the same.
    let mut unlogged = keyless_layer();
    unlogged.annotations.remove(BUNDLE_ANNOTATION);
    let policy = load_with(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &files.rekor);
    let d = decide(&policy, image, vec![unlogged]);
    assert_eq!(failed_check(&d), Check::TlogEntry, "{d:?}");

    // caData is the CA file's contents in base64, and decides the same.
    let data = STANDARD.encode(std::fs::read(&files.ca).unwrap());
    let text = policy_text(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &files.rekor).replace(
        "\"caPath\": \"fulcio.pem\"",
        &format!("\"caData\": \"{data}\""),
    );
    let policy = load(dir.path(), &text).unwrap();
    assert_eq!(
        policy.authorities[0].trusted_root.certificate_authorities[0].common_name,
        "sigstore (fulcio caData)"
    );
    let d = decide(&policy, image, vec![keyless_layer()]);
    assert_eq!(failed_check(&d), Check::Statement, "{d:?}");

    // The CA file is part of the policy's digest.
    let first = load_with(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &files.rekor).digest;
    std::fs::copy(&files.old_ca, &files.ca).unwrap();
    let second = load_with(&files.ca, KEYLESS_IDENTITY, KEYLESS_ISSUER, &files.rekor).digest;
    assert_ne!(first, second);
}

#[test]
fn fulcio_requirements_vouch_cannot_use_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let files = public_good_files(dir.path());
    let in_scope = |fulcio: &str, rest: &str| {
        format!(
            "{{\n  \"default\": [{{\"type\": \"reject\"}}],\n  \"transports\": {{\"docker\": {{\n    \"registry.example/app\": [\n      {{\"type\": \"sigstoreSigned\",\n       \"fulcio\": {fulcio}{rest}}}\n    ]\n  }}}}\n}}"
        )
    };
    let rekor = ",\n       \"rekorPublicKeyPath\": \"rekor.pub\"";
    let ca = |path: &Path| path.file_name().unwrap().to_str().unwrap().to_owned();
    let with_ca = |ca: &str| {
        format!(r#"{{"caPath": "{ca}", "oidcIssuer": "https://issuer", "subjectEmail": "a@b"}}"#)
    };
    // (policy, the text on the line the refusal names, what the refusal says)
    let cases: Vec<(String, &str, String)> = vec![
        (
            in_scope(&with_ca(&ca(&files.ca)), ""),
            "sigstoreSigned",
            "fulcio needs one of rekorPublicKeyPath".into(),
        ),
        (
            in_scope(r#"{"caPath": "x.pem", "subjectEmail": "a@b"}"#, rekor),
            "fulcio",
            "fulcio needs oidcIssuer".into(),
        ),
        (
            in_scope(
                r#"{"caPath": "x.pem", "oidcIssuer": "https://issuer", "subjectEmail": ""}"#,
                rekor,
            ),
            "fulcio",
            "fulcio needs subjectEmail".into(),
        ),
        (
            in_scope(
                r#"{"oidcIssuer": "https://issuer", "subjectEmail": "a@b"}"#,
                rekor,
            ),
            "fulcio",
            "fulcio needs caPath or caData".into(),
        ),
        (
            in_scope(
                r#"{"caPath": "x.pem", "caData": "AAAA", "oidcIssuer": "https://issuer", "subjectEmail": "a@b"}"#,
                rekor,
            ),
            "fulcio",
            "fulcio takes caPath or caData, not both".into(),
        ),
        (
            in_scope(&with_ca(""), rekor),
            "fulcio",
            "fulcio caPath is empty".into(),
        ),
        (
            in_scope(
                r#"{"caData": "not base64!", "oidcIssuer": "https://issuer", "subjectEmail": "a@b"}"#,
                rekor,
            ),
            "fulcio",
            "fulcio caData is not base64".into(),
        ),
        (
            in_scope(
                r#"{"caPath": "x.pem", "oidcIssuer": "https://issuer", "subjectEmail": "a@b", "subjectHostname": "h"}"#,
                rekor,
            ),
            "fulcio",
            "unknown field `subjectHostname`".into(),
        ),
        (
            in_scope(&with_ca(&ca(&files.intermediate)), rekor),
            "fulcio",
            "fulcio caPath fulcio-intermediate.pem: holds no self-signed (root) certificate".into(),
        ),
        (
            in_scope(&with_ca("rekor.pub"), rekor),
            "fulcio",
            "fulcio caPath rekor.pub: PEM block 1 is \"PUBLIC KEY\", not CERTIFICATE".into(),
        ),
        (
            in_scope(
                &with_ca(&ca(&files.ca)),
                ",\n       \"rekorPublicKeyPath\": \"fulcio.pem\"",
            ),
            "rekorPublicKeyPath",
            "rekorPublicKeyPath fulcio.pem: not a public key".into(),
        ),
    ];
    for (text, marker, says) in cases {
        let (line, reason) = refusal(dir.path(), &text);
        assert!(reason.contains(&says), "{says:?} not in {reason:?}\n{text}");
        assert_eq!(
            line.map(|(l, _)| l),
            Some(line_of(&text, marker)),
            "{reason}\n{text}"
        );
    }

    // A CA file that does not exist fails the load, as a key file does.
    let text = in_scope(&with_ca("missing.pem"), rekor);
    assert!(matches!(
        load(dir.path(), &text),
        Err(PolicyError::Read { .. })
    ));
}
