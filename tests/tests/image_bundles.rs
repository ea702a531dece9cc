//! Sigstore bundles on images, cosign v3's way, against a real registry (distribution 2.8,
//! which has no referrers API, so the referrers tag schema is used) and an OCI layout:
//! `sign --bundle-format v3`, `attest`, `verify`, `verify-attestation`, `tree`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::process::{Child, Stdio};

use vouch_tests::{
    KeyPair, Registry, generate_key, push_image, umoci_image, unique, vouch, vouch_command,
    vouch_with_password,
};

fn attest(key: &KeyPair, predicate: &str, kind: &str, image: &str) -> Child {
    vouch_command(&[
        "attest",
        "--bundle-format",
        "v3",
        "--key",
        key.key.to_str().unwrap(),
        "--predicate",
        predicate,
        "--type",
        kind,
        image,
    ])
    .env("VOUCH_PASSWORD", &key.password)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

fn wait_ok(child: Child) {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "vouch failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Signs with v3 bundles, attests twice, and checks what verify, verify-attestation and
/// tree report for `image`.
fn sign_attest_verify(key: &KeyPair, other: &KeyPair, image: &str, dir: &std::path::Path) {
    let provenance = dir.join("provenance.json");
    fs::write(
        &provenance,
        br#"{"buildDefinition":{"buildType":"https://example.com/b"}}"#,
    )
    .unwrap();
    let sbom = dir.join("sbom.json");
    fs::write(&sbom, br#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#).unwrap();
    let public = key.public.to_str().unwrap();

    vouch_with_password(
        &key.password,
        &[
            "sign",
            "--key",
            key.key.to_str().unwrap(),
            "--bundle-format",
            "v3",
            "-a",
            "env=prod",
            image,
        ],
    )
    .expect_code(0);
    wait_ok(attest(
        key,
        provenance.to_str().unwrap(),
        "slsaprovenance1",
        image,
    ));
    wait_ok(attest(key, sbom.to_str().unwrap(), "cyclonedx", image));

    let run = vouch(&[
        "verify", "--key", public, "-a", "env=prod", "-o", "json", image,
    ])
    .expect_code(0);
    let report = &run.json()[0];
    assert_eq!(report["verified"], true);
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{report:#}");
    assert_eq!(signatures[0]["source"], "referrers-tag-schema");
    assert_eq!(
        signatures[0]["statement"]["predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    // Another key, or an annotation the signature does not carry: denied with the reason.
    let denied = vouch(&[
        "verify",
        "--key",
        other.public.to_str().unwrap(),
        "-o",
        "json",
        image,
    ])
    .expect_code(1);
    assert_eq!(
        denied.json()[0]["rejected"][0]["check"],
        "artifact-signature"
    );
    let denied = vouch(&["verify", "--key", public, "-a", "env=dev", image]).expect_code(1);
    assert!(denied.stdout.contains("[annotations]"), "{}", denied.stdout);

    let run = vouch(&[
        "verify-attestation",
        "--key",
        public,
        "--type",
        "slsaprovenance1",
        "-o",
        "json",
        image,
    ])
    .expect_code(0);
    let attestations = run.json()["attestations"].as_array().unwrap().clone();
    assert_eq!(attestations.len(), 1);
    assert_eq!(
        attestations[0]["statement"]["predicate"]["buildDefinition"]["buildType"],
        "https://example.com/b"
    );
    let run = vouch(&["verify-attestation", "--key", public, "-o", "json", image]).expect_code(0);
    assert_eq!(run.json()["attestations"].as_array().unwrap().len(), 2);
    vouch(&[
        "verify-attestation",
        "--key",
        public,
        "--type",
        "spdxjson",
        image,
    ])
    .expect_code(1);
    vouch(&[
        "verify-attestation",
        "--key",
        other.public.to_str().unwrap(),
        image,
    ])
    .expect_code(1);

    let tree = vouch(&["tree", "-o", "json", image]).expect_code(0).json();
    let referrers = tree["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 3, "{tree:#}");
    let mut types: Vec<&str> = referrers
        .iter()
        .map(|r| r["predicate_type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "https://cyclonedx.org/bom",
            "https://sigstore.dev/cosign/sign/v1",
            "https://slsa.dev/provenance/v1"
        ]
    );
    let text = vouch(&["tree", image]).expect_code(0).stdout;
    assert!(text.contains("https://slsa.dev/provenance/v1"), "{text}");
}

#[test]
fn bundles_on_a_registry_image_verify_and_are_listed() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "key", "ecdsa-p256");
    let other = generate_key(dir.path(), "other", "ed25519");
    let image = push_image(&registry, &unique("bundles"), "v1");
    sign_attest_verify(&key, &other, &image.tagged, dir.path());
}

#[test]
fn bundles_on_a_layout_image_verify_and_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    umoci_image(&layout, "v1", "amd64");
    let key = generate_key(dir.path(), "key", "ed25519");
    let other = generate_key(dir.path(), "other", "ecdsa-p256");
    sign_attest_verify(
        &key,
        &other,
        &format!("oci:{}:v1", layout.display()),
        dir.path(),
    );
}

#[test]
fn ten_concurrent_attesters_leave_ten_referrers() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "key", "ecdsa-p256");
    let image = push_image(&registry, &unique("attesters"), "v1");
    let children: Vec<Child> = (0..10)
        .map(|i| {
            let predicate = dir.path().join(format!("p{i}.json"));
            fs::write(&predicate, format!(r#"{{"run":{i}}}"#)).unwrap();
            attest(
                &key,
                predicate.to_str().unwrap(),
                "custom",
                &image.by_digest,
            )
        })
        .collect();
    for child in children {
        wait_ok(child);
    }
    let tree = vouch(&["tree", "-o", "json", &image.by_digest])
        .expect_code(0)
        .json();
    assert_eq!(tree["referrers"].as_array().unwrap().len(), 10, "{tree:#}");
    let run = vouch(&[
        "verify-attestation",
        "--key",
        key.public.to_str().unwrap(),
        "-o",
        "json",
        &image.by_digest,
    ])
    .expect_code(0);
    let mut runs: Vec<i64> = run.json()["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statement"]["predicate"]["run"].as_i64().unwrap())
        .collect();
    runs.sort_unstable();
    assert_eq!(runs, (0..10).collect::<Vec<_>>());
}

/// The attack: a key holder blob-signs bytes of the attacker's choosing (here, the image's
/// own manifest), and the message-signature bundle is served as a Sigstore bundle referrer
/// of the image, unannotated and annotated as cosign's image signature. Neither may count as
/// an image signature or an attestation: only a DSSE in-toto statement about the image does.
#[test]
fn blob_signed_manifest_served_as_a_bundle_referrer_is_not_an_image_signature() {
    use vouch_registry::manifest::Descriptor;
    use vouch_registry::referrers::{
        SIGSTORE_BUNDLE_MEDIA_TYPE, attach_referrer, sigstore_bundle_annotations,
    };
    use vouch_registry::{ClientOptions, ImageReference, ManifestRef, RegistryClient, Store};

    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "key", "ecdsa-p256");
    let image = push_image(&registry, &unique("blob-as-image"), "v1");
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let target = Store::open(&client, &ImageReference::parse(&image.by_digest).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let digest = image.digest.parse().unwrap();
    let manifest = runtime
        .block_on(target.store.manifest(&ManifestRef::Digest(digest)))
        .unwrap()
        .unwrap();
    let manifest_file = dir.path().join("manifest.json");
    fs::write(&manifest_file, &manifest.bytes).unwrap();

    // What the key holder signs, in good faith: a file.
    let bundle = dir.path().join("b.json");
    vouch_with_password(
        &key.password,
        &[
            "sign-blob",
            "--key",
            key.key.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            manifest_file.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let bundle = fs::read(&bundle).unwrap();
    let subject = Descriptor::of(&manifest.media_type, &manifest.bytes);
    for predicate_type in [None, Some("https://sigstore.dev/cosign/sign/v1")] {
        let annotations = sigstore_bundle_annotations(
            "message-signature",
            predicate_type,
            std::time::SystemTime::now(),
        );
        runtime
            .block_on(attach_referrer(
                &target.store,
                &subject,
                SIGSTORE_BUNDLE_MEDIA_TYPE,
                SIGSTORE_BUNDLE_MEDIA_TYPE,
                &bundle,
                annotations,
            ))
            .unwrap();
    }

    let public = key.public.to_str().unwrap();
    let run = vouch(&["verify", "--key", public, "-o", "json", &image.tagged]).expect_code(1);
    let report = &run.json()[0];
    assert_eq!(report["verified"], false, "{report:#}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{report:#}");
    for entry in rejected {
        assert_eq!(entry["check"], "statement", "{entry:#}");
    }
    let run = vouch(&["verify-attestation", "--key", public, &image.tagged]).expect_code(1);
    assert!(run.stdout.contains("DENIED"), "{run:#?}");
}
