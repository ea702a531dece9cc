//! Signatures that must not verify, through the vouch binary and a real registry: each is
//! denied with exit 1 and a reason naming the check that failed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use base64::Engine as _;
use vouch_attestations::simple_signing::SimpleSigning;
use vouch_keys::{Digest, PrivateKeyPem};
use vouch_registry::cosign::{NewSignature, SIGNATURE_ANNOTATION, attach_signature, signature_tag};
use vouch_registry::{ClientOptions, ImageReference, ManifestRef, RegistryClient, Store, Target};
use vouch_tests::{
    Image, KeyPair, Registry, Run, generate_key, push_image, unique, vouch, vouch_with_password,
};

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

fn sign(key: &KeyPair, image: &str, extra: &[&str]) {
    let mut args = vec!["sign", "--key", key.key.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(image);
    vouch_with_password(&key.password, &args).expect_code(0);
}

/// Runs `vouch verify --output json` and returns the single result, asserting exit `code`.
fn verify_json(key: &KeyPair, image: &str, extra: &[&str], code: i32) -> serde_json::Value {
    let mut args = vec![
        "verify",
        "--key",
        key.public.to_str().unwrap(),
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    args.push(image);
    let run = vouch(&args).expect_code(code);
    run.json()[0].clone()
}

fn only_rejection(result: &serde_json::Value) -> (String, String) {
    assert_eq!(result["verified"], false, "{result:#}");
    let rejected = result["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{result:#}");
    (
        rejected[0]["check"].as_str().unwrap().to_owned(),
        rejected[0]["reason"].as_str().unwrap().to_owned(),
    )
}

struct Setup {
    registry: Registry,
    dir: tempfile::TempDir,
    key: KeyPair,
    image: Image,
}

fn setup(name: &str) -> Setup {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "signer", "ecdsa-p256");
    let image = push_image(&registry, &unique(name), "v1");
    Setup {
        registry,
        dir,
        key,
        image,
    }
}

#[test]
fn wrong_key_is_signature_invalid() {
    let s = setup("reject-wrong-key");
    sign(&s.key, &s.image.tagged, &[]);
    let other = generate_key(s.dir.path(), "other", "ecdsa-p256");
    let (check, reason) = only_rejection(&verify_json(&other, &s.image.tagged, &[], 1));
    assert_eq!(check, "artifact-signature");
    assert!(
        reason.contains("does not verify with the ECDSA P-256 key"),
        "{reason}"
    );

    // The text form says the same, on standard output.
    let run = vouch(&[
        "verify",
        "--key",
        other.public.to_str().unwrap(),
        &s.image.tagged,
    ])
    .expect_code(1);
    assert!(run.stdout.contains("DENIED"), "{run:?}");
    assert!(run.stdout.contains("[artifact-signature]"), "{run:?}");
}

#[test]
fn unsigned_image_has_no_signatures() {
    let s = setup("reject-unsigned");
    let result = verify_json(&s.key, &s.image.tagged, &[], 1);
    assert_eq!(result["verified"], false);
    assert!(result["rejected"].as_array().unwrap().is_empty());
    let reason = result["reason"].as_str().unwrap();
    assert!(reason.contains("no signatures found"), "{reason}");
    assert!(
        reason.contains(&signature_tag(&s.image.digest.parse().unwrap())),
        "{reason}"
    );
}

#[test]
fn signature_of_a_copied_to_b_is_digest_mismatch() {
    let s = setup("reject-copied");
    let b = push_image(
        &s.registry,
        s.image.repository.split_once('/').unwrap().1,
        "other",
    );
    assert_ne!(b.digest, s.image.digest);
    sign(&s.key, &s.image.tagged, &[]);

    // The attacker copies A's signature manifest, byte for byte, to B's signature tag.
    let a_digest: Digest = s.image.digest.parse().unwrap();
    let b_digest: Digest = b.digest.parse().unwrap();
    let t = target(&s.image.tagged);
    runtime().block_on(async {
        let manifest = t
            .store
            .manifest(&ManifestRef::Tag(signature_tag(&a_digest)))
            .await
            .unwrap()
            .unwrap();
        t.store
            .put_manifest(
                &signature_tag(&b_digest),
                &manifest.media_type,
                &manifest.bytes,
            )
            .await
            .unwrap();
    });

    let (check, reason) = only_rejection(&verify_json(&s.key, &b.tagged, &[], 1));
    assert_eq!(check, "artifact-digest");
    assert!(
        reason.contains(&s.image.digest) && reason.contains(&b.digest),
        "{reason}"
    );
    // A itself still verifies.
    verify_json(&s.key, &s.image.tagged, &[], 0);
}

fn load_key(key: &KeyPair) -> vouch_keys::PrivateKey {
    match PrivateKeyPem::parse(&std::fs::read_to_string(&key.key).unwrap()).unwrap() {
        PrivateKeyPem::Encrypted(e) => e.decrypt(key.password.as_bytes()).unwrap(),
        PrivateKeyPem::Plain(k) => k,
    }
}

/// Puts a layer with `payload` and `signature` into the image's signature manifest.
fn attach_raw(image: &Image, payload: Vec<u8>, signature: String) {
    let t = target(&image.tagged);
    let digest: Digest = image.digest.parse().unwrap();
    runtime().block_on(async {
        attach_signature(
            &t.store,
            &digest,
            &NewSignature {
                payload,
                signature,
                annotations: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    });
}

#[test]
fn validly_signed_payload_for_another_digest_is_digest_mismatch() {
    let s = setup("reject-other-digest");
    let key = load_key(&s.key);
    let elsewhere = Digest::sha256(b"some other manifest");
    let payload =
        SimpleSigning::new(&s.image.repository, elsewhere.clone(), &BTreeMap::new()).to_vec();
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
    attach_raw(&s.image, payload, signature);

    let (check, reason) = only_rejection(&verify_json(&s.key, &s.image.tagged, &[], 1));
    assert_eq!(check, "artifact-digest");
    assert!(reason.contains(&elsewhere.to_string()), "{reason}");
}

#[test]
fn corrupted_base64_signature_is_signature_encoding() {
    let s = setup("reject-base64");
    sign(&s.key, &s.image.tagged, &[]);
    // Corrupt the stored signature annotation in place.
    let digest: Digest = s.image.digest.parse().unwrap();
    let t = target(&s.image.tagged);
    runtime().block_on(async {
        let tag = signature_tag(&digest);
        let manifest = t
            .store
            .manifest(&ManifestRef::Tag(tag.clone()))
            .await
            .unwrap()
            .unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        let signature = json["layers"][0]["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap()
            .to_owned();
        json["layers"][0]["annotations"][SIGNATURE_ANNOTATION] =
            serde_json::Value::String(format!("*{}", &signature[1..]));
        t.store
            .put_manifest(&tag, &manifest.media_type, json.to_string().as_bytes())
            .await
            .unwrap();
    });
    let (check, _) = only_rejection(&verify_json(&s.key, &s.image.tagged, &[], 1));
    assert_eq!(check, "envelope-format");
}

#[test]
fn missing_or_different_annotation_is_named() {
    let s = setup("reject-annotation");
    sign(&s.key, &s.image.tagged, &["-a", "env=staging"]);
    let (check, reason) = only_rejection(&verify_json(
        &s.key,
        &s.image.tagged,
        &["-a", "team=payments"],
        1,
    ));
    assert_eq!(check, "annotations");
    assert!(reason.contains("team=payments is missing"), "{reason}");
    let (check, reason) = only_rejection(&verify_json(
        &s.key,
        &s.image.tagged,
        &["-a", "env=prod"],
        1,
    ));
    assert_eq!(check, "annotations");
    assert!(reason.contains("has value \"staging\""), "{reason}");
    // The annotation that is there is accepted, alone or with the digest reference.
    verify_json(&s.key, &s.image.tagged, &["-a", "env=staging"], 0);
    verify_json(&s.key, &s.image.by_digest, &["-a", "env=staging"], 0);
}

#[test]
fn one_good_signature_among_bad_ones_verifies_and_lists_the_rest() {
    let s = setup("reject-mixed");
    let other = generate_key(s.dir.path(), "other", "ed25519");
    sign(&other, &s.image.tagged, &[]);
    sign(&s.key, &s.image.tagged, &[]);
    let result = verify_json(&s.key, &s.image.tagged, &[], 0);
    assert_eq!(result["verified"], true);
    assert_eq!(result["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(result["signatures"][0]["layer"], 1);
    assert_eq!(result["rejected"][0]["check"], "artifact-signature");
    let _: &Run = &vouch(&[
        "verify",
        "--key",
        s.key.public.to_str().unwrap(),
        &s.image.tagged,
    ])
    .expect_code(0);
}

#[test]
fn oversized_signature_payload_is_refused_per_layer() {
    let s = setup("reject-big-payload");
    sign(&s.key, &s.image.tagged, &[]);
    // A second layer whose payload blob is over the 4 MiB limit.
    attach_raw(&s.image, vec![b' '; 4 * 1024 * 1024 + 1], "AAAA".into());
    let result = verify_json(&s.key, &s.image.tagged, &[], 0);
    assert_eq!(result["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(result["rejected"][0]["check"], "payload-available");
    let reason = result["rejected"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("larger than the 4194304-byte limit"),
        "{reason}"
    );
}
