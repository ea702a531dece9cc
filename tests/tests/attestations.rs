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
    KeyPair, Peer, Registry, Run, generate_key, push_image, unique, vouch, vouch_with_password,
};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

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
            check: "subject-mismatch",
            args: vec![],
        },
        Case {
            name: "payload-altered",
            check: "signature-invalid",
            args: vec![],
        },
        Case {
            name: "type-altered",
            check: "signature-invalid",
            args: vec![],
        },
        Case {
            name: "other-predicate",
            check: "predicate-type-mismatch",
            args: vec!["--type", "slsaprovenance1"],
        },
        Case {
            name: "other-key",
            check: "signature-invalid",
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
            .block_on(read_attestations(&target(&image.tagged).store, &digest))
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
