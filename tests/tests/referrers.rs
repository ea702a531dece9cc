//! OCI 1.1 referrers through `vouch_registry::referrers`: on the real registry (distribution
//! 2.8, which has no referrers API, so the referrers tag schema is used and must survive
//! concurrent writers), in an OCI layout, and on a fake registry that has the API.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vouch_registry::manifest::{Descriptor, media_types};
use vouch_registry::referrers::{
    AttachedReferrer, BUNDLE_CONTENT_ANNOTATION, BUNDLE_PREDICATE_TYPE_ANNOTATION,
    CREATED_ANNOTATION, Recorded, Referrer, ReferrerSource, SIGSTORE_BUNDLE_MEDIA_TYPE,
    attach_referrer, fetch_referrer_blob, list_referrers, referrers_tag,
    sigstore_bundle_annotations,
};
use vouch_registry::{
    ClientOptions, Digest, ImageReference, RegistryClient, RegistryError, Store, Target,
};
use vouch_tests::{FakeBehavior, FakeRegistry, Registry, push_image, tool, unique};

const SBOM: &str = "application/spdx+json";
const LIMIT: u64 = 1024 * 1024;

/// A fresh evidence budget of the default size.
fn budget() -> vouch_registry::EvidenceBudget {
    vouch_registry::EvidenceBudget::new(
        "subject",
        vouch_registry::Limits::default().max_evidence_bytes,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn open(image: &str) -> Target {
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    Store::open(&client, &ImageReference::parse(image).unwrap()).unwrap()
}

/// The descriptor of the image a target names, as a referrer's `subject`.
async fn subject_of(target: &Target) -> Descriptor {
    let resolved = target.resolve().await.unwrap();
    Descriptor {
        media_type: resolved.manifest.media_type.clone(),
        digest: resolved.digest.clone(),
        size: resolved.manifest.bytes.len() as u64,
        annotations: BTreeMap::new(),
        platform: None,
        extra: BTreeMap::new(),
    }
}

/// A fake Sigstore bundle: distinct content per `n`.
fn bundle(n: usize) -> Vec<u8> {
    format!(r#"{{"mediaType":"{SIGSTORE_BUNDLE_MEDIA_TYPE}","n":{n}}}"#).into_bytes()
}

fn created(n: usize) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_709_921_900 + n as u64)
}

/// Attaches two Sigstore bundles (a DSSE attestation and a message signature) and an SBOM.
async fn attach_three(store: &Store, subject: &Descriptor) -> Vec<(AttachedReferrer, Vec<u8>)> {
    let mut attached = Vec::new();
    let kinds = [
        (
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            sigstore_bundle_annotations(
                "dsse-envelope",
                Some("https://slsa.dev/provenance/v1"),
                created(1),
            ),
            bundle(1),
        ),
        (
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            sigstore_bundle_annotations("message-signature", None, created(2)),
            bundle(2),
        ),
        (
            SBOM,
            BTreeMap::from([(CREATED_ANNOTATION.to_owned(), "2024-03-08T18:18:23Z".into())]),
            br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec(),
        ),
    ];
    for (artifact_type, annotations, blob) in kinds {
        let done = attach_referrer(
            store,
            subject,
            artifact_type,
            artifact_type,
            &blob,
            annotations,
        )
        .await
        .unwrap();
        assert_eq!(done.subject, subject.digest);
        assert_eq!(done.descriptor.artifact_type(), Some(artifact_type));
        attached.push((done, blob));
    }
    attached
}

/// Lists, filters and fetches the three referrers of [`attach_three`], expecting `source`.
async fn check_three(
    store: &Store,
    subject: &Digest,
    attached: &[(AttachedReferrer, Vec<u8>)],
    source: ReferrerSource,
) {
    let listed = list_referrers(store, subject, None).await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:#?}");
    for (done, blob) in attached {
        let referrer = listed
            .iter()
            .find(|r| r.descriptor.digest == done.descriptor.digest)
            .unwrap();
        assert_eq!(referrer.source, source);
        assert_eq!(&referrer.subject, subject);
        assert_eq!(referrer.artifact_type(), done.descriptor.artifact_type());
        assert_eq!(referrer.descriptor.annotations, done.descriptor.annotations);
        assert_eq!(referrer.descriptor.size, done.descriptor.size);
        let fetched = fetch_referrer_blob(store, referrer, LIMIT, &budget())
            .await
            .unwrap();
        assert_eq!(&fetched.bytes, blob);
        assert_eq!(fetched.manifest_digest, done.descriptor.digest);
        assert_eq!(
            Some(fetched.artifact_type.as_str()),
            referrer.artifact_type()
        );
        assert_eq!(fetched.annotations, done.descriptor.annotations);
        assert_eq!(fetched.layer.media_type, fetched.artifact_type);
    }
    let bundles = list_referrers(store, subject, Some(SIGSTORE_BUNDLE_MEDIA_TYPE))
        .await
        .unwrap();
    assert_eq!(bundles.len(), 2);
    assert!(
        bundles
            .iter()
            .all(|r| r.artifact_type() == Some(SIGSTORE_BUNDLE_MEDIA_TYPE))
    );
    let contents: Vec<&str> = bundles
        .iter()
        .map(|r| r.descriptor.annotations[BUNDLE_CONTENT_ANNOTATION].as_str())
        .collect();
    assert!(contents.contains(&"dsse-envelope") && contents.contains(&"message-signature"));
    let sboms = list_referrers(store, subject, Some(SBOM)).await.unwrap();
    assert_eq!(sboms.len(), 1);
    assert!(
        list_referrers(store, subject, Some("application/x.none"))
            .await
            .unwrap()
            .is_empty()
    );
}

fn skopeo_raw(reference: &str) -> serde_json::Value {
    let raw = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    serde_json::from_str(&raw).unwrap()
}

#[test]
fn three_referrers_on_distribution_use_the_tag_schema() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("referrers"), "v1");
    let target = open(&image.tagged);
    runtime().block_on(async {
        let store = &target.store;
        let subject = subject_of(&target).await;
        assert!(
            list_referrers(store, &subject.digest, None)
                .await
                .unwrap()
                .is_empty()
        );
        let attached = attach_three(store, &subject).await;
        for (n, (done, _)) in attached.iter().enumerate() {
            let Recorded::TagSchema {
                tag,
                entries,
                already_listed,
                ..
            } = &done.recorded
            else {
                panic!("distribution 2.8 has no referrers API: {done:#?}");
            };
            assert_eq!(tag, &referrers_tag(&subject.digest));
            assert_eq!(*entries, n + 1);
            assert!(!already_listed);
        }
        check_three(store, &subject.digest, &attached, ReferrerSource::TagSchema).await;

        // The same referrer again is listed once.
        let again = attach_referrer(
            store,
            &subject,
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            &bundle(1),
            attached[0].0.descriptor.annotations.clone(),
        )
        .await
        .unwrap();
        assert_eq!(again.descriptor, attached[0].0.descriptor);
        assert!(matches!(
            again.recorded,
            Recorded::TagSchema {
                entries: 3,
                already_listed: true,
                ..
            }
        ));

        // What another tool sees: the fallback index and a cosign v3 shaped manifest.
        let index = skopeo_raw(&format!(
            "{}:{}",
            image.repository,
            referrers_tag(&subject.digest)
        ));
        assert_eq!(index["mediaType"], media_types::OCI_INDEX);
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        let first = &entries[0];
        assert_eq!(first["mediaType"], media_types::OCI_MANIFEST);
        assert_eq!(first["artifactType"], SIGSTORE_BUNDLE_MEDIA_TYPE);
        assert_eq!(
            first["annotations"][BUNDLE_PREDICATE_TYPE_ANNOTATION],
            "https://slsa.dev/provenance/v1"
        );
        let manifest = skopeo_raw(&format!(
            "{}@{}",
            image.repository,
            first["digest"].as_str().unwrap()
        ));
        assert_eq!(manifest["artifactType"], SIGSTORE_BUNDLE_MEDIA_TYPE);
        assert_eq!(
            manifest["config"],
            serde_json::json!({
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                "size": 2,
                "data": "e30=",
            })
        );
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            SIGSTORE_BUNDLE_MEDIA_TYPE
        );
        assert_eq!(manifest["subject"]["digest"], image.digest);
        assert_eq!(
            manifest["annotations"][CREATED_ANNOTATION],
            "2024-03-08T18:18:21Z"
        );
    });
}

/// Attaches `count` distinct bundles to `subject` at once, from spawned tasks with their own
/// store handles, and checks that every one is listed afterwards.
async fn attach_concurrently(target: &Target, subject: &Descriptor, count: usize, before: usize) {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let store = target.store.clone();
            let subject = subject.clone();
            tokio::spawn(async move {
                let annotations = sigstore_bundle_annotations("dsse-envelope", None, created(n));
                attach_referrer(
                    &store,
                    &subject,
                    SIGSTORE_BUNDLE_MEDIA_TYPE,
                    SIGSTORE_BUNDLE_MEDIA_TYPE,
                    &bundle(100 + n),
                    annotations,
                )
                .await
            })
        })
        .collect();
    let mut digests = Vec::new();
    for task in tasks {
        let done = task.await.unwrap().unwrap();
        assert!(matches!(done.recorded, Recorded::TagSchema { .. }));
        digests.push(done.descriptor.digest);
    }
    let listed = list_referrers(&target.store, &subject.digest, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), before + count, "{listed:#?}");
    for digest in &digests {
        assert!(
            listed.iter().any(|r| &r.descriptor.digest == digest),
            "{digest} was lost"
        );
    }
}

#[test]
fn ten_concurrent_attachers_on_distribution_keep_every_entry() {
    let registry = Registry::start();
    let image = push_image(&registry, &unique("referrers-concurrent"), "v1");
    let target = open(&image.tagged);
    runtime().block_on(async {
        let subject = subject_of(&target).await;
        attach_concurrently(&target, &subject, 10, 0).await;
    });
    let index = skopeo_raw(&format!(
        "{}:{}",
        image.repository,
        image.digest.replace(':', "-")
    ));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 10);
}

#[test]
fn a_layout_gets_the_same_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    vouch_tests::umoci_image(&layout, "v1", "amd64");
    let target = open(&format!("oci:{}:v1", layout.display()));
    runtime().block_on(async {
        let store = &target.store;
        let subject = subject_of(&target).await;
        let attached = attach_three(store, &subject).await;
        for (n, (done, _)) in attached.iter().enumerate() {
            assert!(
                matches!(done.recorded, Recorded::TagSchema { entries, already_listed: false, .. } if entries == n + 1),
                "{done:#?}"
            );
        }
        check_three(store, &subject.digest, &attached, ReferrerSource::TagSchema).await;
        attach_concurrently(&target, &subject, 10, 3).await;

        // index.json names the image and the referrers index, never a referrer manifest.
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let names: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        let tag = referrers_tag(&subject.digest);
        assert_eq!(names, vec!["v1", tag.as_str()]);

        // A reference without a tag still means the image, not the referrers index.
        let default = open(&format!("oci:{}", layout.display()));
        assert_eq!(default.resolve().await.unwrap().digest, subject.digest);
    });
}

#[test]
fn a_referrer_whose_subject_is_another_manifest_is_refused() {
    let registry = Registry::start();
    let repo = unique("referrers-subject");
    let a = push_image(&registry, &repo, "a");
    let b = push_image(&registry, &repo, "b");
    let (target_a, target_b) = (open(&a.tagged), open(&b.tagged));
    runtime().block_on(async {
        let store = &target_a.store;
        let (subject_a, subject_b) = (subject_of(&target_a).await, subject_of(&target_b).await);
        let for_b = attach_referrer(
            store,
            &subject_b,
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            &bundle(7),
            sigstore_bundle_annotations("message-signature", None, created(7)),
        )
        .await
        .unwrap();
        // Someone lists B's referrer under A's referrers tag.
        put_tag_schema_index(
            store,
            &subject_a.digest,
            serde_json::json!([for_b.descriptor]),
        )
        .await;
        let listed = list_referrers(store, &subject_a.digest, None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        let err = fetch_referrer_blob(store, &listed[0], LIMIT, &budget())
            .await
            .unwrap_err();
        match &err {
            RegistryError::SubjectMismatch {
                expected, found, ..
            } => {
                assert_eq!(expected, &subject_a.digest);
                assert_eq!(found.as_ref(), Some(&subject_b.digest));
            }
            other => panic!("expected a subject mismatch, got {other:?}"),
        }
        assert!(err.to_string().contains("refused"), "{err}");

        // Listed for B, the same referrer is fine; a made-up entry names no manifest.
        let for_b_listed = list_referrers(store, &subject_b.digest, None)
            .await
            .unwrap();
        assert_eq!(
            fetch_referrer_blob(store, &for_b_listed[0], LIMIT, &budget())
                .await
                .unwrap()
                .bytes,
            bundle(7)
        );
        let made_up = Referrer {
            descriptor: Descriptor::of(media_types::OCI_MANIFEST, b"nothing"),
            ..listed[0].clone()
        };
        assert!(matches!(
            fetch_referrer_blob(store, &made_up, LIMIT, &budget()).await,
            Err(RegistryError::NotFound { .. })
        ));
        // A blob over the caller's limit is not read.
        assert!(matches!(
            fetch_referrer_blob(store, &for_b_listed[0], 4, &budget()).await,
            Err(RegistryError::TooLarge { .. })
        ));
    });
}

/// Writes an image index of `manifests` (a JSON array of descriptors) under `subject`'s
/// referrers tag, as another tool (or a stale copy) would have left it.
async fn put_tag_schema_index(
    store: &Store,
    subject: &vouch_registry::Digest,
    manifests: serde_json::Value,
) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": manifests,
    });
    store
        .put_manifest(
            &referrers_tag(subject),
            media_types::OCI_INDEX,
            index.to_string().as_bytes(),
        )
        .await
        .unwrap();
}

fn fake_target(fake: &FakeRegistry) -> Target {
    open(&format!("{}/fake/app:v1", fake.addr))
}

fn fake_subject() -> Descriptor {
    Descriptor::of(media_types::OCI_MANIFEST, br#"{"schemaVersion":2}"#)
}

#[test]
fn a_registry_with_the_referrers_api_records_referrers_itself() {
    let fake = FakeRegistry::start(FakeBehavior::Referrers {
        page_size: 2,
        filter: true,
    });
    let target = fake_target(&fake);
    let subject = fake_subject();
    runtime().block_on(async {
        let store = &target.store;
        let attached = attach_three(store, &subject).await;
        for (done, _) in &attached {
            assert_eq!(done.recorded, Recorded::Registry);
        }
        check_three(store, &subject.digest, &attached, ReferrerSource::Api).await;
    });
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| !(r.starts_with("PUT") && r.contains("/manifests/sha256-"))),
        "a tag-schema index was written: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET") && r.contains("/referrers/") && r.contains("page=1")),
        "the second page was not fetched: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("artifactType=application%2Fspdx%2Bjson")),
        "the filter was not sent: {requests:#?}"
    );
}

#[test]
fn a_registry_that_ignores_the_filter_is_filtered_by_the_client() {
    let fake = FakeRegistry::start(FakeBehavior::Referrers {
        page_size: 10,
        filter: false,
    });
    let target = fake_target(&fake);
    let subject = fake_subject();
    runtime().block_on(async {
        let attached = attach_three(&target.store, &subject).await;
        check_three(
            &target.store,
            &subject.digest,
            &attached,
            ReferrerSource::Api,
        )
        .await;
    });
}

#[test]
fn a_registry_with_the_api_is_believed_over_a_stale_tag_schema_index() {
    // While a client does not know whether the registry has the API, it asks for the tag
    // schema index at the same time; a registry with the API is still believed alone.
    let fake = FakeRegistry::start(FakeBehavior::Referrers {
        page_size: 10,
        filter: true,
    });
    let subject = fake_subject();
    let attached = runtime().block_on(async {
        let target = fake_target(&fake);
        let attached = attach_three(&target.store, &subject).await;
        // A stale index under the tag-schema tag, listing a referrer the API does not know.
        let stale = serde_json::json!([{
            "mediaType": media_types::OCI_MANIFEST,
            "digest": format!("sha256:{}", "ab".repeat(32)),
            "size": 100,
            "artifactType": SIGSTORE_BUNDLE_MEDIA_TYPE,
        }]);
        put_tag_schema_index(&target.store, &subject.digest, stale).await;
        attached
    });
    let before = fake.requests().len();
    runtime().block_on(async {
        // A new client, which knows nothing of the registry yet.
        let target = fake_target(&fake);
        check_three(
            &target.store,
            &subject.digest,
            &attached,
            ReferrerSource::Api,
        )
        .await;
    });
    let tag_gets = |requests: &[String]| {
        requests
            .iter()
            .filter(|r| r.starts_with("GET") && r.contains("/manifests/sha256-"))
            .count()
    };
    let requests = fake.requests()[before..].to_vec();
    // `check_three` lists four times; only the first, before the API answered, asked for
    // the tag.
    assert_eq!(tag_gets(&requests), 1, "{requests:#?}");
}
