//! OCI 1.1 referrers: artifacts stored as image manifests whose `subject` names the manifest
//! they are about, listed through a registry's referrers API or, where there is none, through
//! an image index kept under the referrers tag schema. This is how cosign v3 stores Sigstore
//! bundles next to an image.
//!
//! # Sources
//!
//! * OCI image-spec v1.1 `manifest.md`: `artifactType` ("MUST be set when `config.mediaType` is
//!   set to the empty value"), `subject` (a descriptor of another manifest, "used by the
//!   `referrers` API"), "Guidance for an Empty Descriptor" (`application/vnd.oci.empty.v1+json`,
//!   content `{}`, digest `sha256:44136fa3…caaff8a`, size 2, optional `data` `e30=`) and
//!   "Guidelines for Artifact Usage" (no config: `artifactType` plus the empty config, the
//!   artifact in `layers`).
//! * OCI distribution-spec v1.1 `spec.md`:
//!   - "Listing Referrers": `GET /v2/<name>/referrers/<digest>[?artifactType=<type>]` answers an
//!     image index whose descriptors carry the referrer's `artifactType` (else its config media
//!     type) and its annotations; a registry with the API never answers 404; filtering is a
//!     SHOULD (`OCI-Filters-Applied: artifactType` when applied), so vouch filters again; more
//!     pages come with `Link: <...>; rel="next"`. "If the referrers API returns a 404, the client
//!     MUST fallback to pulling the referrers tag schema", and when that is not a valid image
//!     index, "the client SHOULD assume there are no referrers".
//!   - "Pushing Manifests with Subject": a registry with the API answers the manifest PUT with
//!     `OCI-Subject: <subject digest>`. Without it the client pulls the tag-schema index (a
//!     404 means an empty one; something other than an image index is a failure), adds a
//!     descriptor of the pushed manifest unless already listed (`artifactType` set as above,
//!     every manifest annotation copied) and pushes the index back under the same tag.
//!   - "Referrers Tag Schema": the tag is the digest algorithm truncated to 32 characters, `-`,
//!     and the encoded part truncated to 64 characters (`sha256-<hex>`). "Protection against race
//!     conditions is the responsibility of clients."
//! * cosign v3 (`specs/BUNDLE_SPEC.md` and `WriteReferrer` / `WriteAttestationNewBundleFormat`
//!   in `pkg/oci/remote/write.go`): a Sigstore bundle is pushed by digest as an image manifest
//!   with `artifactType` [`SIGSTORE_BUNDLE_MEDIA_TYPE`], the empty config, one layer holding
//!   the bundle JSON with that same media type, the image as `subject`, and the manifest
//!   annotations [`CREATED_ANNOTATION`] (RFC 3339, UTC, whole seconds),
//!   [`BUNDLE_CONTENT_ANNOTATION`] (`message-signature` or `dsse-envelope`; cosign writes
//!   `dsse-envelope`) and [`BUNDLE_PREDICATE_TYPE_ANNOTATION`]; see
//!   [`sigstore_bundle_annotations`]. Registries without the API get the tag-schema index
//!   with those annotations copied into the entry.
//!
//! A referrer written by [`attach_referrer`] is therefore:
//!
//! ```json
//! {
//!   "schemaVersion": 2,
//!   "mediaType": "application/vnd.oci.image.manifest.v1+json",
//!   "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa3…",
//!              "size": 2, "data": "e30="},
//!   "layers": [{"mediaType": "<layer media type>", "digest": "sha256:<blob>", "size": 4971}],
//!   "annotations": {"org.opencontainers.image.created": "2024-03-08T18:18:20Z", "…": "…"},
//!   "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//!   "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
//!               "digest": "sha256:<image>", "size": 1234}
//! }
//! ```
//!
//! # Concurrent writers
//!
//! The referrer manifest itself is pushed by digest, so writers never contend for it. The
//! tag-schema index is contended, and is appended to like cosign's signature manifests: under
//! the layout lock in a layout; in a registry by the optimistic write, settle, re-read and
//! merge-again loop shared with [`crate::cosign`] (every entry already listed is kept).
//!
//! # OCI image layouts
//!
//! The image-layout spec (v1.1) defines no way to find referrers: `index.json` lists "refs"
//! and a layout has no referrers API. A proposal to mark referrers responses in `index.json`
//! with annotations (image-spec pull request 1171) is not part of the spec, and other tools
//! differ (oras-go lists untagged referrer manifests in `index.json`; cosign v3 lists none).
//! vouch uses the distribution spec's fallback inside the layout: the referrer manifest is a
//! blob that `index.json` does not list, and the index tagged `<alg>-<hex>` (an `index.json`
//! entry named by `org.opencontainers.image.ref.name`) lists it, so it stays reachable from
//! `index.json`, and a copy of the layout to a registry carries a valid fallback index along.
//! Such tags are not taken for the layout's image (see [`crate::Layout::sole_image`]).

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use futures_util::StreamExt as _;

use vouch_keys::{Digest, DigestAlgorithm};

use crate::RegistryError;
use crate::budget::EvidenceBudget;
use crate::manifest::{
    Descriptor, FetchedManifest, ImageIndex, ImageManifest, Manifest, media_types,
};
use crate::settle::{Append, Begun, Pending, append_settled, begin, confirm};
use crate::store::{ManifestRef, Store};

/// Content of the empty descriptor: the JSON object `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The empty descriptor's optional embedded `data`: base64 of `{}`.
pub const EMPTY_JSON_DATA: &str = "e30=";
/// Media type and `artifactType` of a Sigstore bundle (v0.3), as cosign v3 attaches it.
pub const SIGSTORE_BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Manifest annotation saying what a Sigstore bundle holds: `message-signature` or
/// `dsse-envelope`.
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Manifest annotation giving the in-toto predicate type of a DSSE bundle's statement.
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Pre-defined OCI annotation: when the artifact was created (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The empty descriptor of image-spec v1.1 (`DescriptorEmptyJSON`): media type
/// [`media_types::EMPTY`], digest
/// `sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`, size 2, `data`
/// [`EMPTY_JSON_DATA`].
pub fn empty_descriptor() -> Descriptor {
    let mut descriptor = Descriptor::of(media_types::EMPTY, EMPTY_JSON);
    descriptor
        .extra
        .insert("data".into(), EMPTY_JSON_DATA.into());
    descriptor
}

/// The referrers tag schema's tag for `subject`: its algorithm (at most 32 characters), `-`,
/// and its encoded part truncated to 64 characters, e.g. `sha256-<hex>`. A digest vouch
/// accepts has only characters a tag allows, so nothing needs replacing.
pub fn referrers_tag(subject: &Digest) -> String {
    let algorithm: String = subject.algorithm().name().chars().take(32).collect();
    let encoded: String = subject.hex().chars().take(64).collect();
    format!("{algorithm}-{encoded}")
}

/// True for a tag [`referrers_tag`] can produce: a known digest algorithm, `-`, and 64
/// lowercase hex digits, with no suffix.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(algorithm, encoded)| {
        [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ]
        .iter()
        .any(|a| a.name() == algorithm)
            && encoded.len() == 64
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The manifest annotations cosign v3 puts on a Sigstore bundle referrer: `content`
/// (`message-signature` or `dsse-envelope`) under [`BUNDLE_CONTENT_ANNOTATION`], the in-toto
/// `predicate_type` when given under [`BUNDLE_PREDICATE_TYPE_ANNOTATION`], and `created` as RFC
/// 3339 in UTC with whole seconds (`2024-03-08T18:18:20Z`) under [`CREATED_ANNOTATION`].
pub fn sigstore_bundle_annotations(
    content: &str,
    predicate_type: Option<&str>,
    created: SystemTime,
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([
        (CREATED_ANNOTATION.to_owned(), rfc3339_utc(created)),
        (BUNDLE_CONTENT_ANNOTATION.to_owned(), content.to_owned()),
    ]);
    if let Some(predicate_type) = predicate_type {
        annotations.insert(
            BUNDLE_PREDICATE_TYPE_ANNOTATION.to_owned(),
            predicate_type.to_owned(),
        );
    }
    annotations
}

/// Where a listed referrer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerSource {
    /// The registry's referrers API.
    Api,
    /// The image index under the referrers tag schema (registries without the API, and
    /// layouts).
    TagSchema,
}

/// A referrer as listed for a subject: its descriptor, unchecked until
/// [`fetch_referrer_blob`] fetches the manifest it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The manifest it was listed for.
    pub subject: Digest,
    /// The listed descriptor of the referrer manifest, with its `artifactType` and
    /// annotations as listed.
    pub descriptor: Descriptor,
    /// Which list it came from.
    pub source: ReferrerSource,
    /// True when the list gave no `artifactType` for it (as skopeo 1.9 writes tag-schema
    /// indexes when it copies them) and [`list_referrers`] read the type from the referrer
    /// manifest itself into `descriptor`: the listing was incomplete, which callers report.
    pub artifact_type_from_manifest: bool,
}

impl Referrer {
    /// The `artifactType` it was listed with, if any.
    pub fn artifact_type(&self) -> Option<&str> {
        self.descriptor.artifact_type()
    }
}

/// How an attached referrer was recorded for its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The registry confirmed with `OCI-Subject` that its referrers API lists it.
    Registry,
    /// It is listed in the referrers tag schema index.
    TagSchema {
        /// The tag of the index (`sha256-<hex>`).
        tag: String,
        /// The digest of the index that lists it, as last read.
        index_digest: Digest,
        /// How many referrers that index lists, ours included.
        entries: usize,
        /// True when the index already listed it, so it was not written.
        already_listed: bool,
    },
}

/// What [`attach_referrer`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedReferrer {
    /// The subject's digest.
    pub subject: Digest,
    /// The referrer manifest's descriptor as listed for the subject: media type, digest, size,
    /// `artifactType` and the manifest's annotations.
    pub descriptor: Descriptor,
    /// How the subject's referrers list records it.
    pub recorded: Recorded,
}

/// A referrer's content, fetched and checked by [`fetch_referrer_blob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerBlob {
    /// The referrer manifest's digest (its bytes were checked against it).
    pub manifest_digest: Digest,
    /// The manifest's artifact type (its `artifactType`, else its config media type).
    pub artifact_type: String,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The descriptor of its single layer.
    pub layer: Descriptor,
    /// The layer's bytes, checked against the layer digest.
    pub bytes: Vec<u8>,
}

/// Attaches `blob` to the manifest `subject` describes as an OCI 1.1 referrer: stores the blob
/// (media type `layer_media_type`) and the empty config, then an image manifest with
/// `artifactType` `artifact_type`, the empty config, the blob as its one layer, `subject` (its
/// media type, digest and size only) and `annotations`, by digest (no tag). Unless a registry
/// confirms with `OCI-Subject` that it recorded the subject, adds the manifest's descriptor to
/// the referrers tag schema index, keeping every entry already listed; in a layout always (see
/// the module docs). Attaching the same content twice lists it once.
///
/// Refuses an empty `artifact_type` ([`RegistryError::BadManifest`]), and a tag-schema tag
/// that holds something other than an image index. Gives [`RegistryError::Contention`] when
/// concurrent writers of the index never settle.
pub async fn attach_referrer(
    store: &Store,
    subject: &Descriptor,
    artifact_type: &str,
    layer_media_type: &str,
    blob: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<AttachedReferrer, RegistryError> {
    if artifact_type.is_empty() {
        return Err(RegistryError::BadManifest {
            what: format!("referrer of {}", subject.digest),
            reason: "an artifact with the empty config must have an artifactType".into(),
        });
    }
    let layer = store.put_blob(layer_media_type, blob).await?;
    store.put_blob(media_types::EMPTY, EMPTY_JSON).await?;
    let manifest = referrer_manifest(subject, artifact_type, layer, annotations.clone());
    let bytes = to_json(&manifest);
    let mut descriptor = Descriptor::of(media_types::OCI_MANIFEST, &bytes);
    descriptor.set_artifact_type(artifact_type);
    descriptor.annotations = annotations;

    let tag = referrers_tag(&subject.digest);
    let recorded =
        |fetched: &FetchedManifest, index: &ImageIndex, already_listed: bool| AttachedReferrer {
            subject: subject.digest.clone(),
            descriptor: descriptor.clone(),
            recorded: Recorded::TagSchema {
                tag: tag.clone(),
                index_digest: fetched.digest.clone(),
                entries: index.manifests.len(),
                already_listed,
            },
        };

    let pushed = store
        .put_manifest_by_digest(media_types::OCI_MANIFEST, &bytes)
        .await?;
    if pushed.oci_subject.as_ref() == Some(&subject.digest) {
        return Ok(AttachedReferrer {
            subject: subject.digest.clone(),
            descriptor,
            recorded: Recorded::Registry,
        });
    }
    let listed =
        list_in_tag_schema(store, &subject.digest, std::slice::from_ref(&descriptor)).await?;
    Ok(recorded(
        &listed.index_manifest,
        &listed.index,
        listed.already_listed,
    ))
}

/// The referrers tag schema index after [`list_in_tag_schema`].
#[derive(Debug)]
pub(crate) struct TagSchemaListing {
    /// The index as last read (or written), which lists every descriptor asked for.
    pub(crate) index_manifest: FetchedManifest,
    /// It, parsed.
    pub(crate) index: ImageIndex,
    /// True when it already listed them all, so nothing was written.
    pub(crate) already_listed: bool,
}

/// Makes the referrers tag schema index of `subject` list every one of `ours` (referrer
/// manifests already stored by digest), keeping every entry already listed: in a layout under
/// the layout lock, in a registry by the settling append loop (see the module docs).
pub(crate) async fn list_in_tag_schema(
    store: &Store,
    subject: &Digest,
    ours: &[Descriptor],
) -> Result<TagSchemaListing, RegistryError> {
    let tag = referrers_tag(subject);
    if let Store::Layout { layout, limits } = store {
        // The layout lock makes the read-modify-write of the index atomic among vouch writers.
        return layout.locked(|| {
            let current = layout.read_tagged_manifest(&tag, limits.max_manifest_bytes)?;
            let current = match current {
                Some(fetched) => {
                    let index = tag_schema_index(store, &tag, &fetched)?;
                    if lists_all(&index, ours) {
                        return Ok(TagSchemaListing {
                            index_manifest: fetched,
                            index,
                            already_listed: true,
                        });
                    }
                    Some(index)
                }
                None => None,
            };
            let index = merged_index(current, ours);
            let index_bytes = to_json(&index);
            let index_descriptor = layout.write_blob(media_types::OCI_INDEX, &index_bytes)?;
            layout.set_tag_unlocked(&tag, index_descriptor)?;
            Ok(TagSchemaListing {
                index_manifest: FetchedManifest {
                    digest: Digest::sha256(&index_bytes),
                    media_type: media_types::OCI_INDEX.to_owned(),
                    bytes: index_bytes,
                },
                index,
                already_listed: false,
            })
        });
    }
    let append = IndexAppend::new(store, subject, ours);
    let settled = append_settled(&append.what(), &append).await?;
    let (index_manifest, index) = settled.current;
    Ok(TagSchemaListing {
        index_manifest,
        index,
        already_listed: settled.already_present,
    })
}

/// [`list_in_tag_schema`] for a copy: in a registry, returns once the index with `ours` was
/// written (or found listing them), with the confirmation still to run; in a layout, done
/// under the lock. True when the index already listed them all.
pub(crate) async fn begin_listing_in_tag_schema(
    store: &Store,
    subject: &Digest,
    ours: &[Descriptor],
) -> Result<(bool, Option<Pending>), RegistryError> {
    if let Store::Layout { .. } = store {
        let listed = list_in_tag_schema(store, subject, ours).await?;
        return Ok((listed.already_listed, None));
    }
    let append = IndexAppend::new(store, subject, ours);
    match begin(&append).await? {
        Begun::Present(_) => Ok((true, None)),
        Begun::Written(write) => {
            let what = append.what();
            let pending: Pending =
                Box::pin(async move { confirm(&what, &append, write).await.map(|_| ()) });
            Ok((false, Some(pending)))
        }
    }
}

/// Adding descriptors to a registry's referrers tag schema index (owning what it needs, so
/// that a confirmation can run later).
struct IndexAppend {
    store: Store,
    /// The referrers tag of the subject.
    tag: String,
    ours: Vec<Descriptor>,
}

impl IndexAppend {
    fn new(store: &Store, subject: &Digest, ours: &[Descriptor]) -> Self {
        Self {
            store: store.clone(),
            tag: referrers_tag(subject),
            ours: ours.to_vec(),
        }
    }

    /// The index, for messages.
    fn what(&self) -> String {
        format!(
            "referrers index {}",
            self.store.describe(&ManifestRef::Tag(self.tag.clone()))
        )
    }
}

impl Append for IndexAppend {
    type Current = (FetchedManifest, ImageIndex);

    async fn read(&self) -> Result<Option<Self::Current>, RegistryError> {
        match self
            .store
            .manifest(&ManifestRef::Tag(self.tag.clone()))
            .await?
        {
            Some(fetched) => {
                let index = tag_schema_index(&self.store, &self.tag, &fetched)?;
                Ok(Some((fetched, index)))
            }
            None => Ok(None),
        }
    }

    fn holds_ours(&self, (_, index): &Self::Current) -> bool {
        lists_all(index, &self.ours)
    }

    async fn write(&self, current: Option<Self::Current>) -> Result<(), RegistryError> {
        let index = merged_index(current.map(|(_, index)| index), &self.ours);
        self.store
            .put_manifest(&self.tag, media_types::OCI_INDEX, &to_json(&index))
            .await
            .map(|_| ())
    }
}

/// Lists the referrers of the manifest `subject`, of `artifact_type` only when given: from the
/// registry's referrers API when it has one, else from the referrers tag schema index (always,
/// in a layout). Entries are filtered here whatever the registry did with the filter, listed
/// once each, and at most [`Limits::max_referrers`](crate::Limits) are accepted. No index, or
/// a tag that holds something other than an image index, means no referrers (as the
/// distribution spec says). Nothing listed is trusted yet: see [`fetch_referrer_blob`].
///
/// An entry listed without `artifactType` (image-spec v1.1 says the index entry carries it,
/// but older copiers drop it) is not skipped: its manifest is fetched (bounded by
/// [`Limits::max_manifest_bytes`](crate::Limits), checked against the listed digest) and its
/// `artifactType`, else its config media type, is taken from it, with
/// [`Referrer::artifact_type_from_manifest`] set. An entry whose manifest cannot be read that
/// way is dropped with a warning when filtering by type, and kept untyped otherwise.
pub async fn list_referrers(
    store: &Store,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, RegistryError> {
    let tag = referrers_tag(subject);
    let tag_ref = ManifestRef::Tag(tag.clone());
    let tag_schema = || store.manifest(&tag_ref);
    // While it is not known whether the registry has the API (the first image a command asks
    // about), the tag schema index is asked for at the same time: a registry without the API
    // then costs no second round trip, one with it a GET whose answer is dropped.
    let (api, early) = if store.referrers_api_known().is_none() {
        let (api, early) = tokio::join!(store.referrers_api(subject, artifact_type), tag_schema());
        (api?, Some(early))
    } else {
        (store.referrers_api(subject, artifact_type).await?, None)
    };
    let (index, source) = match api {
        Some(index) => (index, ReferrerSource::Api),
        None => {
            let fetched = match early {
                Some(early) => early?,
                None => tag_schema().await?,
            };
            let Some(fetched) = fetched else {
                return Ok(Vec::new());
            };
            match tag_schema_index(store, &tag, &fetched) {
                Ok(index) => (index, ReferrerSource::TagSchema),
                Err(e @ RegistryError::BadManifest { .. }) => {
                    tracing::warn!(error = %e, "ignoring the referrers tag: not an image index");
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e),
            }
        }
    };
    let mut seen = HashSet::new();
    let listed: Vec<Descriptor> = index
        .manifests
        .into_iter()
        .filter(|d| seen.insert(d.digest.clone()))
        .collect();
    let typed = futures_util::stream::iter(listed)
        .map(|mut descriptor| async move {
            if descriptor.artifact_type().is_some_and(|t| !t.is_empty()) {
                return Ok(Some((descriptor, false)));
            }
            match artifact_type_of(store, &descriptor.digest).await {
                Ok(Some(found)) => {
                    descriptor.set_artifact_type(&found);
                    Ok(Some((descriptor, true)))
                }
                Ok(None) if artifact_type.is_none() => Ok(Some((descriptor, false))),
                Ok(None) => Ok(None),
                Err(e) if e.is_transient() && !e.is_input_error() => Err(e),
                Err(e) => {
                    tracing::warn!(
                        referrer = %descriptor.digest,
                        error = %e,
                        "a referrer listed without artifactType could not be read"
                    );
                    Ok(artifact_type.is_none().then_some((descriptor, false)))
                }
            }
        })
        .buffered(UNTYPED_CONCURRENCY)
        .collect::<Vec<Result<_, RegistryError>>>()
        .await;
    let mut referrers = Vec::new();
    for entry in typed {
        let Some((descriptor, from_manifest)) = entry? else {
            continue;
        };
        if artifact_type.is_some_and(|wanted| descriptor.artifact_type() != Some(wanted)) {
            continue;
        }
        referrers.push(Referrer {
            subject: subject.clone(),
            descriptor,
            source,
            artifact_type_from_manifest: from_manifest,
        });
    }
    Ok(referrers)
}

/// How many untyped referrer manifests [`list_referrers`] reads at once.
const UNTYPED_CONCURRENCY: usize = 8;

/// The artifact type of the manifest `digest` (its `artifactType`, else its config media
/// type); `None` when it does not exist or is not an image manifest.
async fn artifact_type_of(store: &Store, digest: &Digest) -> Result<Option<String>, RegistryError> {
    let Some(fetched) = store.manifest(&ManifestRef::Digest(digest.clone())).await? else {
        return Ok(None);
    };
    Ok(match fetched.parse()? {
        Manifest::Image(manifest) => Some(manifest.artifact_type().to_owned()),
        Manifest::Index(_) => None,
    })
}

/// Fetches a listed referrer's manifest (at most [`Limits::max_manifest_bytes`](crate::Limits),
/// checked against the listed digest) and its single layer (at most `limit` bytes and the
/// layer's stated size, checked against the layer digest), each charged to `budget` (the
/// manifest once read, the layer before it is fetched).
///
/// Refuses, before fetching the layer: a manifest that is not an image manifest; one whose
/// `subject` is not the digest it was listed for ([`RegistryError::SubjectMismatch`]); one
/// whose artifact type is not the one it was listed with; one without exactly one layer.
pub async fn fetch_referrer_blob(
    store: &Store,
    referrer: &Referrer,
    limit: u64,
    budget: &EvidenceBudget,
) -> Result<ReferrerBlob, RegistryError> {
    let manifest_ref = ManifestRef::Digest(referrer.descriptor.digest.clone());
    let what = format!("referrer {}", store.describe(&manifest_ref));
    let bad = |reason: String| RegistryError::BadManifest {
        what: what.clone(),
        reason,
    };
    let fetched = store
        .manifest(&manifest_ref)
        .await?
        .ok_or_else(|| RegistryError::NotFound { what: what.clone() })?;
    budget.charge(fetched.bytes.len() as u64)?;
    let manifest = match fetched.parse()? {
        Manifest::Image(manifest) => *manifest,
        Manifest::Index(_) => {
            return Err(bad(
                "it is an image index; a referrer vouch reads is an image manifest".into(),
            ));
        }
    };
    let found = manifest.subject().map(|s| s.digest);
    if found.as_ref() != Some(&referrer.subject) {
        return Err(RegistryError::SubjectMismatch {
            what,
            expected: referrer.subject.clone(),
            found,
        });
    }
    let artifact_type = manifest.artifact_type().to_owned();
    if let Some(listed) = referrer.artifact_type()
        && listed != artifact_type
    {
        return Err(bad(format!(
            "listed as {listed}, but its artifact type is {artifact_type}"
        )));
    }
    let layer = match <[Descriptor; 1]>::try_from(manifest.layers) {
        Ok([layer]) => layer,
        Err(layers) => {
            return Err(bad(format!(
                "it has {} layers; a referrer vouch reads has exactly one",
                layers.len()
            )));
        }
    };
    if layer.size <= limit {
        budget.charge(layer.size)?;
    }
    let bytes = store.blob(&layer, limit).await?;
    Ok(ReferrerBlob {
        manifest_digest: fetched.digest,
        artifact_type,
        annotations: manifest.annotations,
        layer,
        bytes,
    })
}

/// The referrer manifest: `artifactType`, the empty config, one layer, `subject` reduced to
/// media type, digest and size, and the annotations.
fn referrer_manifest(
    subject: &Descriptor,
    artifact_type: &str,
    layer: Descriptor,
    annotations: BTreeMap<String, String>,
) -> ImageManifest {
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        annotations: BTreeMap::new(),
        platform: None,
        extra: BTreeMap::new(),
    };
    let extra = BTreeMap::from([
        ("artifactType".to_owned(), artifact_type.into()),
        (
            "subject".to_owned(),
            serde_json::to_value(subject).unwrap_or_default(),
        ),
    ]);
    ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.into()),
        config: empty_descriptor(),
        layers: vec![layer],
        annotations,
        extra,
    }
}

/// Parses the manifest under the referrers tag: it must be an image index listing at most
/// [`Limits::max_referrers`](crate::Limits) manifests.
fn tag_schema_index(
    store: &Store,
    tag: &str,
    fetched: &FetchedManifest,
) -> Result<ImageIndex, RegistryError> {
    let what = store.describe(&ManifestRef::Tag(tag.to_owned()));
    let index = match fetched.parse() {
        Ok(Manifest::Index(index)) => *index,
        Ok(Manifest::Image(_)) => {
            return Err(RegistryError::BadManifest {
                what,
                reason: "the referrers tag holds an image manifest, not an image index".into(),
            });
        }
        Err(RegistryError::BadManifest { reason, .. }) => {
            return Err(RegistryError::BadManifest { what, reason });
        }
        Err(e) => return Err(e),
    };
    let limit = store.limits().max_referrers;
    if index.manifests.len() > limit {
        return Err(RegistryError::TooManyReferrers {
            what,
            limit,
            counted: "referrers",
        });
    }
    Ok(index)
}

/// True when `index` lists every manifest of `ours`.
fn lists_all(index: &ImageIndex, ours: &[Descriptor]) -> bool {
    ours.iter()
        .all(|o| index.manifests.iter().any(|d| d.digest == o.digest))
}

/// `current` (or a new, empty index) with each of `ours` appended unless already listed; every entry,
/// annotation and unknown field of `current` is kept.
fn merged_index(current: Option<ImageIndex>, ours: &[Descriptor]) -> ImageIndex {
    let mut index = current.unwrap_or_else(|| ImageIndex {
        schema_version: 2,
        media_type: None,
        manifests: Vec::new(),
        annotations: BTreeMap::new(),
        extra: BTreeMap::new(),
    });
    index.media_type = Some(media_types::OCI_INDEX.into());
    for descriptor in ours {
        if !index
            .manifests
            .iter()
            .any(|d| d.digest == descriptor.digest)
        {
            index.manifests.push(descriptor.clone());
        }
    }
    index
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data structures always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

/// RFC 3339 in UTC with whole seconds, as Go's `time.RFC3339` prints a UTC time (a time
/// before 1970 is written as the epoch).
fn rfc3339_utc(time: SystemTime) -> String {
    vouch_keys::time::format_rfc3339(vouch_keys::time::unix_secs(time).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(n: u8) -> Descriptor {
        let mut d = Descriptor::of(media_types::OCI_MANIFEST, &[n]);
        d.set_artifact_type("application/x.test");
        d.annotations.insert("n".into(), n.to_string());
        d
    }

    #[test]
    fn the_empty_descriptor_is_the_specs() {
        let d = empty_descriptor();
        assert_eq!(
            d.digest.to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(d.size, 2);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                "size": 2,
                "data": "e30=",
            })
        );
    }

    #[test]
    fn tags_follow_the_referrers_tag_schema() {
        let digest = Digest::sha256(b"m");
        let tag = referrers_tag(&digest);
        assert_eq!(tag, format!("sha256-{}", digest.hex()));
        assert!(is_referrers_tag(&tag));
        let long = Digest::compute(DigestAlgorithm::Sha512, b"m");
        let tag = referrers_tag(&long);
        assert_eq!(tag, format!("sha512-{}", &long.hex()[..64]));
        assert!(is_referrers_tag(&tag));
        assert!(!is_referrers_tag(&format!("sha256-{}.sig", digest.hex())));
        assert!(!is_referrers_tag("sha256-abc"));
        assert!(!is_referrers_tag(&format!("md5-{}", digest.hex())));
        assert!(!is_referrers_tag(&format!(
            "sha256-{}",
            digest.hex().to_uppercase()
        )));
        assert!(!is_referrers_tag("latest"));
    }

    #[test]
    fn merging_keeps_every_entry_and_field_and_adds_ours_once() {
        let mut current = merged_index(None, &[entry(1)]);
        current.manifests.push(entry(2));
        current.annotations.insert("keep".into(), "me".into());
        current
            .extra
            .insert("x-other".into(), serde_json::json!({"a": 1}));
        let merged = merged_index(Some(current.clone()), &[entry(3)]);
        assert_eq!(merged.manifests, vec![entry(1), entry(2), entry(3)]);
        assert_eq!(merged.annotations, current.annotations);
        assert_eq!(merged.extra, current.extra);
        assert_eq!(merged.media_type.as_deref(), Some(media_types::OCI_INDEX));
        let again = merged_index(Some(merged.clone()), &[entry(2)]);
        assert_eq!(again.manifests, merged.manifests);
        let parsed: ImageIndex = serde_json::from_slice(&to_json(&again)).unwrap();
        assert_eq!(
            parsed.manifests[2].artifact_type(),
            Some("application/x.test")
        );
        assert_eq!(parsed.manifests[2].annotations["n"], "3");
    }

    #[test]
    fn the_referrer_manifest_has_the_cosign_v3_shape() {
        let subject = Descriptor {
            annotations: BTreeMap::from([("dropped".into(), "yes".into())]),
            ..Descriptor::of(media_types::OCI_INDEX, b"image")
        };
        let layer = Descriptor::of(SIGSTORE_BUNDLE_MEDIA_TYPE, b"{\"bundle\":1}");
        let annotations = sigstore_bundle_annotations(
            "dsse-envelope",
            Some("https://slsa.dev/provenance/v1"),
            UNIX_EPOCH + Duration::from_secs(1_709_921_900),
        );
        let manifest = referrer_manifest(
            &subject,
            SIGSTORE_BUNDLE_MEDIA_TYPE,
            layer.clone(),
            annotations,
        );
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "config": serde_json::to_value(empty_descriptor()).unwrap(),
                "layers": [serde_json::to_value(&layer).unwrap()],
                "subject": {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": subject.digest.to_string(),
                    "size": 5,
                },
                "annotations": {
                    "dev.sigstore.bundle.content": "dsse-envelope",
                    "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
                    "org.opencontainers.image.created": "2024-03-08T18:18:20Z",
                },
            })
        );
        assert_eq!(manifest.subject().unwrap().digest, subject.digest);
        assert_eq!(manifest.artifact_type(), SIGSTORE_BUNDLE_MEDIA_TYPE);
    }

    /// The public futures can be spawned on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Layout {
            layout: crate::Layout::create(dir.path()).unwrap(),
            limits: crate::Limits::default(),
        };
        let subject = entry(1);
        let referrer = Referrer {
            subject: subject.digest.clone(),
            descriptor: entry(2),
            source: ReferrerSource::TagSchema,
            artifact_type_from_manifest: false,
        };
        send(store.manifest(&ManifestRef::Default));
        send(attach_referrer(
            &store,
            &subject,
            "a/b",
            "a/b",
            b"x",
            BTreeMap::new(),
        ));
        send(list_referrers(&store, &subject.digest, None));
        let budget = EvidenceBudget::new("subject", 1);
        send(fetch_referrer_blob(&store, &referrer, 1, &budget));
        let signature = crate::cosign::NewSignature {
            payload: Vec::new(),
            signature: String::new(),
            annotations: BTreeMap::new(),
        };
        send(crate::cosign::attach_signature(
            &store,
            &subject.digest,
            &signature,
        ));
    }

    #[test]
    fn created_times_print_like_go_rfc3339() {
        let at = |secs| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_921_900), "2024-03-08T18:18:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn a_tag_that_is_not_an_index_is_refused_for_appending() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Layout {
            layout: crate::Layout::create(dir.path()).unwrap(),
            limits: crate::Limits::default(),
        };
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let fetched = FetchedManifest {
            digest: Digest::sha256(image),
            media_type: media_types::OCI_MANIFEST.into(),
            bytes: image.to_vec(),
        };
        assert!(matches!(
            tag_schema_index(&store, "sha256-x", &fetched),
            Err(RegistryError::BadManifest { .. })
        ));
        let limits = crate::Limits {
            max_referrers: 1,
            ..Default::default()
        };
        let small = Store::Layout {
            layout: crate::Layout::open(dir.path()).unwrap(),
            limits,
        };
        let mut index = merged_index(None, &[entry(1)]);
        index.manifests.push(entry(2));
        let bytes = to_json(&index);
        let fetched = FetchedManifest {
            digest: Digest::sha256(&bytes),
            media_type: media_types::OCI_INDEX.into(),
            bytes,
        };
        assert!(matches!(
            tag_schema_index(&small, "sha256-x", &fetched),
            Err(RegistryError::TooManyReferrers { limit: 1, .. })
        ));
    }
}
