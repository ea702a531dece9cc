//! `vouch download signature|attestation|sbom` against a real registry (distribution 2.8, no
//! referrers API: bundles are found through the referrers tag schema): cosign's lines for
//! tag-layout signatures, bundles from referrers, predicate-type filters, SBOMs from the
//! `.sbom` tag and from SBOM attestations, --platform, --output-file, and exit 2 with the
//! places looked at when nothing is attached.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_tests::{
    Image, KeyPair, Registry, generate_key, push_image, push_index, unique, vouch,
    vouch_with_password,
};

const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Every line of standard output, each parsed as one JSON object.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object a line ({e}):\n{stdout}"))
        })
        .collect()
}

fn sign(key: &KeyPair, extra: &[&str], image: &str) {
    let mut args = vec!["sign", "--key", key.key.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(image);
    vouch_with_password(&key.password, &args).expect_code(0);
}

fn attest(key: &KeyPair, predicate: &Path, kind: &str, extra: &[&str], image: &str) {
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
    vouch_with_password(&key.password, &args).expect_code(0);
}

/// The in-toto statement inside a DSSE envelope as `download attestation` prints it.
fn statement_of(envelope: &Value) -> Value {
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    assert!(envelope["signatures"][0]["sig"].is_string(), "{envelope}");
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn signatures_by_two_keys_print_one_cosign_line_each_that_verifies() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let first = generate_key(dir.path(), "first", "ecdsa-p256");
    let second = generate_key(dir.path(), "second", "ed25519");
    let image = push_image(&registry, &unique("download-sig"), "v1");
    sign(&first, &[], &image.tagged);
    sign(&second, &["-a", "env=prod"], &image.tagged);

    let run = vouch(&["download", "signature", &image.tagged]).expect_code(0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 2, "{run:#?}");
    let keys: Vec<vouch_keys::PublicKey> = [&first, &second]
        .iter()
        .map(|k| vouch_keys::PublicKey::from_pem(&fs::read_to_string(&k.public).unwrap()).unwrap())
        .collect();
    for (line, key) in lines.iter().zip(&keys) {
        let fields: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "Base64Signature",
            "Bundle",
            "Cert",
            "Chain",
            "Payload",
            "RFC3161Timestamp",
        ];
        expected.sort_unstable();
        let mut fields = fields;
        fields.sort_unstable();
        assert_eq!(fields, expected, "{line}");
        // A key signature without a log entry has no certificate, chain, bundle or timestamp.
        for absent in ["Cert", "Chain", "Bundle", "RFC3161Timestamp"] {
            assert!(line[absent].is_null(), "{line}");
        }
        let payload = STANDARD.decode(line["Payload"].as_str().unwrap()).unwrap();
        let document: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            document["critical"]["image"]["docker-manifest-digest"],
            image.digest.as_str()
        );
        assert_eq!(
            document["critical"]["type"],
            "cosign container image signature"
        );
        let signature = STANDARD
            .decode(line["Base64Signature"].as_str().unwrap())
            .unwrap();
        key.verify(&payload, &signature).unwrap();
    }
    // The other key's signature does not verify with this one: the lines are not copies.
    let payload = STANDARD
        .decode(lines[1]["Payload"].as_str().unwrap())
        .unwrap();
    let signature = STANDARD
        .decode(lines[1]["Base64Signature"].as_str().unwrap())
        .unwrap();
    assert!(keys[0].verify(&payload, &signature).is_err());

    // `-o json` prints the same lines, by tag or by digest.
    let json = vouch(&["download", "signature", "-o", "json", &image.by_digest]).expect_code(0);
    assert_eq!(json.stdout, run.stdout);

    // --output-file: the same bytes, never over an existing file without --force.
    let out = dir.path().join("signatures.jsonl");
    let out_arg = out.to_str().unwrap();
    vouch(&[
        "download",
        "signature",
        "--output-file",
        out_arg,
        &image.tagged,
    ])
    .expect_code(0);
    assert_eq!(fs::read_to_string(&out).unwrap(), run.stdout);
    fs::write(&out, "keep me").unwrap();
    let refused = vouch(&[
        "download",
        "signature",
        "--output-file",
        out_arg,
        &image.tagged,
    ])
    .expect_code(2);
    assert!(refused.stderr.contains("already exists"), "{refused:#?}");
    assert!(refused.stderr.contains("--force"), "{refused:#?}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "keep me");
    vouch(&[
        "download",
        "signature",
        "--output-file",
        out_arg,
        "--force",
        &image.tagged,
    ])
    .expect_code(0);
    assert_eq!(fs::read_to_string(&out).unwrap(), run.stdout);
}

#[test]
fn bundle_signatures_and_attestations_are_printed_from_referrers() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "v3", "ecdsa-p256");
    let image = push_image(&registry, &unique("download-v3"), "v1");
    let provenance = dir.path().join("provenance.json");
    fs::write(
        &provenance,
        br#"{"buildDefinition":{"buildType":"https://example.com/b"}}"#,
    )
    .unwrap();
    let bom = dir.path().join("bom.json");
    fs::write(&bom, br#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#).unwrap();
    let v3 = ["--bundle-format", "v3"];
    sign(&key, &v3, &image.tagged);
    attest(&key, &provenance, "slsaprovenance1", &v3, &image.tagged);
    attest(&key, &bom, "cyclonedx", &v3, &image.tagged);

    // The signature: the bundle JSON on one line, of cosign v3's signature predicate type.
    let run = vouch(&["download", "signature", &image.tagged]).expect_code(0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "{run:#?}");
    assert_eq!(lines[0]["mediaType"], BUNDLE_V03);
    let statement = statement_of(&lines[0]["dsseEnvelope"]);
    assert_eq!(statement["predicateType"], COSIGN_SIGN);
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        image.digest.trim_start_matches("sha256:")
    );

    // The attestations: both envelopes, not the signature's.
    let run = vouch(&["download", "attestation", &image.tagged]).expect_code(0);
    let mut types: Vec<String> = json_lines(&run.stdout)
        .iter()
        .map(|e| {
            statement_of(e)["predicateType"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "https://cyclonedx.org/bom",
            "https://slsa.dev/provenance/v1"
        ]
    );

    // Filtered by cosign's short name and by URI.
    for (filter, expected) in [
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("https://cyclonedx.org/bom", "https://cyclonedx.org/bom"),
    ] {
        let run = vouch(&[
            "download",
            "attestation",
            "--predicate-type",
            filter,
            &image.tagged,
        ])
        .expect_code(0);
        let lines = json_lines(&run.stdout);
        assert_eq!(lines.len(), 1, "{filter}: {run:#?}");
        assert_eq!(statement_of(&lines[0])["predicateType"], expected);
    }
    let run = vouch(&[
        "download",
        "attestation",
        "--predicate-type",
        "vuln",
        &image.tagged,
    ])
    .expect_code(2);
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr.contains(
            "no attestations of predicate type https://cosign.sigstore.dev/attestation/vuln/v1"
        ),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("https://slsa.dev/provenance/v1"),
        "{run:#?}"
    );
    let run = vouch(&[
        "download",
        "attestation",
        "--predicate-type",
        "nonsense",
        &image.tagged,
    ])
    .expect_code(2);
    assert!(run.stderr.contains("--predicate-type"), "{run:#?}");
}

#[test]
fn tag_layout_attestations_are_filtered_by_their_statements_predicate_type() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "att", "ecdsa-p256");
    let image = push_image(&registry, &unique("download-att"), "v1");
    let predicate = dir.path().join("result.json");
    fs::write(&predicate, br#"{"passed":true}"#).unwrap();
    attest(&key, &predicate, "custom", &[], &image.tagged);
    attest(&key, &predicate, "vuln", &[], &image.tagged);

    let run = vouch(&["download", "attestation", &image.tagged]).expect_code(0);
    assert_eq!(json_lines(&run.stdout).len(), 2, "{run:#?}");
    let run = vouch(&[
        "download",
        "attestation",
        "--predicate-type",
        "custom",
        &image.tagged,
    ])
    .expect_code(0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "{run:#?}");
    let statement = statement_of(&lines[0]);
    assert_eq!(
        statement["predicateType"],
        "https://cosign.sigstore.dev/attestation/v1"
    );
    assert_eq!(statement["predicate"]["passed"], true);
    // The envelope's signature verifies over its PAE with the attesting key.
    let envelope = vouch_attestations::dsse::Envelope::from_slice(
        run.stdout.lines().next().unwrap().as_bytes(),
    )
    .unwrap();
    let public =
        vouch_keys::PublicKey::from_pem(&fs::read_to_string(&key.public).unwrap()).unwrap();
    envelope.verify(&public).unwrap();
}

/// Pushes `document` as the one SBOM of `image`, as `cosign attach sbom` stores it: a manifest
/// tagged `sha256-<hex>.sbom` whose layer is the document, of media type `media_type`.
fn attach_sbom(image: &Image, media_type: &str, document: &[u8]) {
    use vouch_registry::cosign::sbom_tag;
    use vouch_registry::manifest::media_types;
    use vouch_registry::{ClientOptions, ImageReference, RegistryClient, Store};

    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let target = Store::open(&client, &ImageReference::parse(&image.tagged).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let layer = target.store.put_blob(media_type, document).await.unwrap();
        let config = target
            .store
            .put_blob(media_types::OCI_CONFIG, b"{}")
            .await
            .unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        target
            .store
            .put_manifest(
                &sbom_tag(&image.digest.parse().unwrap()),
                media_types::OCI_MANIFEST,
                manifest.to_string().as_bytes(),
            )
            .await
            .unwrap();
    });
}

#[test]
fn an_sbom_is_printed_from_the_sbom_tag_with_cosigns_warning() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("download-sbom"), "v1");
    let document = br#"{"spdxVersion":"SPDX-2.3","name":"attached"}"#;
    attach_sbom(&image, "text/spdx+json", document);

    let run = vouch(&["download", "sbom", &image.tagged]).expect_code(0);
    assert_eq!(
        run.stdout,
        format!("{}\n", std::str::from_utf8(document).unwrap())
    );
    assert!(
        run.stderr
            .contains("WARNING: Downloading SBOMs this way does not ensure its authenticity"),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains("Found SBOM of media type: text/spdx+json"),
        "{run:#?}"
    );
    // `vouch tree` lists the same tag.
    let tree = vouch(&["tree", "-o", "json", &image.tagged]).expect_code(0);
    let sbom_tag = format!("{}.sbom", image.digest.replace(':', "-"));
    assert_eq!(tree.json()["tags"][&sbom_tag].as_array().unwrap().len(), 1);
}

#[test]
fn without_an_sbom_tag_the_predicates_of_sbom_attestations_are_printed_as_unverified() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "sbom", "ecdsa-p256");
    for format in ["legacy", "v3"] {
        let image = push_image(&registry, &unique("download-sbom-att"), "v1");
        let written = dir.path().join(format!("{format}.cdx.json"));
        vouch_with_password(
            &key.password,
            &[
                "sbom",
                "--attest",
                "--key",
                key.key.to_str().unwrap(),
                "--bundle-format",
                format,
                "--output-file",
                written.to_str().unwrap(),
                &image.tagged,
            ],
        )
        .expect_code(0);
        let run = vouch(&["download", "sbom", &image.tagged]).expect_code(0);
        let printed = json_lines(&run.stdout);
        assert_eq!(printed.len(), 1, "{format}: {run:#?}");
        let expected: Value = serde_json::from_slice(&fs::read(&written).unwrap()).unwrap();
        assert_eq!(printed[0], expected, "{format}");
        assert_eq!(printed[0]["bomFormat"], "CycloneDX");
        assert!(run.stderr.contains("NOT verified"), "{format}: {run:#?}");
        assert!(run.stderr.contains(".sbom"), "{format}: {run:#?}");
    }
}

#[test]
fn platform_picks_the_manifest_of_an_index() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let key = generate_key(dir.path(), "platform", "ecdsa-p256");
    let repo = unique("download-index");
    let (index, children) = push_index(&registry, &repo, "v1");
    let amd64 = format!("{}@{}", index.repository, children[0]);
    sign(&key, &[], &amd64);

    // Without --platform, the index itself: nothing is attached to it.
    let run = vouch(&["download", "signature", &index.tagged]).expect_code(2);
    assert!(run.stderr.contains(&index.digest), "{run:#?}");
    let run = vouch(&[
        "download",
        "signature",
        "--platform",
        "linux/amd64",
        &index.tagged,
    ])
    .expect_code(0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "{run:#?}");
    let payload = STANDARD
        .decode(lines[0]["Payload"].as_str().unwrap())
        .unwrap();
    let document: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        document["critical"]["image"]["docker-manifest-digest"],
        children[0].as_str()
    );
    let run = vouch(&[
        "download",
        "signature",
        "--platform",
        "linux/arm64",
        &index.tagged,
    ])
    .expect_code(2);
    assert!(run.stderr.contains(&children[1]), "{run:#?}");
    let run = vouch(&[
        "download",
        "signature",
        "--platform",
        "linux/s390x",
        &index.tagged,
    ])
    .expect_code(2);
    assert!(run.stderr.contains("linux/s390x"), "{run:#?}");
    // --platform on an image that is not an index is refused, naming it.
    let run = vouch(&["download", "signature", "--platform", "linux/amd64", &amd64]).expect_code(2);
    assert!(
        run.stderr.contains("not a multi-platform image"),
        "{run:#?}"
    );
}

#[test]
fn nothing_attached_or_no_image_exits_2_naming_the_image_and_where_vouch_looked() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("download-none"), "v1");
    let hex = image.digest.trim_start_matches("sha256:");
    for (verb, tag, what) in [
        ("signature", format!("sha256-{hex}.sig"), "no signatures"),
        (
            "attestation",
            format!("sha256-{hex}.att"),
            "no attestations",
        ),
        ("sbom", format!("sha256-{hex}.sbom"), "no SBOMs"),
    ] {
        let run = vouch(&["download", verb, &image.tagged]).expect_code(2);
        assert!(run.stdout.is_empty(), "{verb}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{verb}: {run:#?}");
        for expected in [what, &image.digest, &tag, "referrers"] {
            assert!(run.stderr.contains(expected), "{verb} {expected}: {run:#?}");
        }
    }
    let missing = format!("{}:no-such-tag", image.repository);
    let run = vouch(&["download", "signature", &missing]).expect_code(2);
    assert!(run.stderr.contains("no-such-tag"), "{run:#?}");
    assert!(run.stderr.contains("not found"), "{run:#?}");
}
