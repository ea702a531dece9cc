//! Gathering what is stored about an image: the [`EvidenceSource`] trait, the plain data it
//! gives ([`Subject`], [`Evidence`]), and its implementation for registries and OCI layouts
//! ([`StoreSource`], over `vouch-registry`). Tests and embedders implement the trait in memory.
//!
//! Nothing gathered is trusted: the decision verifies every layer and bundle itself.

use std::future::Future;

use futures_util::StreamExt as _;
use vouch_attestations::cosign::SignatureLayer;
use vouch_keys::Digest;
use vouch_registry::cosign::{Attachment, read_attachments};
use vouch_registry::manifest::Manifest;
use vouch_registry::referrers::{
    self, BUNDLE_PREDICATE_TYPE_ANNOTATION, ReferrerSource, SIGSTORE_BUNDLE_MEDIA_TYPE,
};
use vouch_registry::{
    EvidenceBudget, ImageReference, ManifestRef, RegistryClient, RegistryError, Store, Target,
};

use crate::error::EvidenceError;

/// An image manifest resolved to its digest: what is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The manifest digest.
    pub digest: Digest,
}

/// One manifest of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// Its digest.
    pub digest: Digest,
    /// `os/architecture[/variant]`, or `unknown` when the index does not say.
    pub platform: String,
}

/// Which evidence a decision needs, so a source fetches no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// cosign's signature tag (`sha256-<hex>.sig`).
    pub signatures: bool,
    /// cosign's attestation tag (`sha256-<hex>.att`).
    pub attestations: bool,
}

/// One of cosign's tag-layout manifests (`.sig` or `.att`) for a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagEvidence {
    /// The tag read.
    pub tag: String,
    /// Whether the tag exists.
    pub found: bool,
    /// Its layers, in order, with their payloads as fetched.
    pub layers: Vec<SignatureLayer>,
}

/// One Sigstore bundle attached to a digest as an OCI referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEvidence {
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// How it was listed: `referrers-api` or `referrers-tag-schema`.
    pub listing: String,
    /// The predicate type its listing is annotated with (unauthenticated: only says under
    /// which heading a bundle that fails verification is reported).
    pub annotated_predicate_type: Option<String>,
    /// The bundle's bytes, or why they could not be had.
    pub bytes: Result<Vec<u8>, String>,
    /// Something the operator should know about how it was found: its listing gave no
    /// `artifactType`, so it was read from the referrer manifest.
    pub note: Option<String>,
}

/// Everything stored about one manifest digest that may vouch for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// cosign signature layers (empty and not found when not wanted).
    pub signatures: TagEvidence,
    /// cosign attestation layers (empty and not found when not wanted).
    pub attestations: TagEvidence,
    /// Sigstore bundle referrers: signatures and attestations alike.
    pub bundles: Vec<BundleEvidence>,
}

/// Where an image and the evidence about it are read from. Implemented by [`StoreSource`]
/// for registries and OCI layouts; a test implements it over values in memory.
pub trait EvidenceSource: Sync {
    /// The image as the source names it, for messages.
    fn describe(&self) -> String;

    /// Resolves the image to its manifest digest: a tag is read once; an image named by
    /// digest needs no request. An image that does not exist is an input error.
    fn resolve(&self) -> impl Future<Output = Result<Subject, EvidenceError>> + Send;

    /// The platform manifests the manifest `digest` lists when it is an index; empty for an
    /// image manifest.
    fn platforms(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<Vec<PlatformManifest>, EvidenceError>> + Send;

    /// Everything stored about the manifest `digest` of this image's repository that `wanted`
    /// asks for, with bundle referrers always. A layer or bundle whose payload cannot be had
    /// is given with the reason; a store that fails as a whole is an error.
    fn evidence(
        &self,
        digest: &Digest,
        wanted: Wanted,
    ) -> impl Future<Output = Result<Evidence, EvidenceError>> + Send;
}

/// An image in a registry or an OCI layout, read through `vouch-registry` with its limits.
pub struct StoreSource {
    target: Target,
    /// The manifest the image's tag resolved to: the platforms of that digest are read from
    /// it rather than fetched again (the bytes are the ones the digest names).
    resolved: std::sync::Mutex<Option<vouch_registry::manifest::FetchedManifest>>,
}

/// How many referrer blobs of one image are fetched at once.
const REFERRER_CONCURRENCY: usize = 8;

impl StoreSource {
    /// The source for `image`, reached with `client`. Opening a layout checks that it is one;
    /// nothing is fetched from a registry yet.
    pub fn open(client: &RegistryClient, image: &ImageReference) -> Result<Self, EvidenceError> {
        let target =
            Store::open(client, image).map_err(|e| evidence_error(&image.to_string(), &e))?;
        Ok(Self {
            target,
            resolved: std::sync::Mutex::default(),
        })
    }

    /// The store and manifest read.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn error(&self, e: &RegistryError) -> EvidenceError {
        evidence_error(&self.describe(), e)
    }

    async fn bundles(
        &self,
        digest: &Digest,
        budget: &EvidenceBudget,
    ) -> Result<Vec<BundleEvidence>, RegistryError> {
        let store = &self.target.store;
        let listed =
            referrers::list_referrers(store, digest, Some(SIGSTORE_BUNDLE_MEDIA_TYPE)).await?;
        let limit = store.limits().max_signature_blob_bytes;
        let fetched: Vec<_> = futures_util::stream::iter(listed)
            .map(|referrer| async move {
                let blob = referrers::fetch_referrer_blob(store, &referrer, limit, budget).await;
                (referrer, blob)
            })
            .buffered(REFERRER_CONCURRENCY)
            .collect()
            .await;
        let mut bundles = Vec::with_capacity(fetched.len());
        for (referrer, blob) in fetched {
            let bytes = match blob {
                Err(e @ RegistryError::EvidenceTooLarge { .. }) => return Err(e),
                Err(e) if !e.is_input_error() && e.is_transient() => return Err(e),
                Err(e) => Err(e.to_string()),
                Ok(blob) => Ok(blob.bytes),
            };
            bundles.push(BundleEvidence {
                referrer: referrer.descriptor.digest.clone(),
                listing: match referrer.source {
                    ReferrerSource::Api => "referrers-api",
                    ReferrerSource::TagSchema => "referrers-tag-schema",
                }
                .to_owned(),
                annotated_predicate_type: referrer
                    .descriptor
                    .annotations
                    .get(BUNDLE_PREDICATE_TYPE_ANNOTATION)
                    .cloned(),
                bytes,
                note: referrer.artifact_type_from_manifest.then(|| {
                    format!(
                        "the {} listing gives no artifactType for this referrer (as older \
                         copiers write it); its type was read from the referrer manifest",
                        match referrer.source {
                            ReferrerSource::Api => "referrers API",
                            ReferrerSource::TagSchema => "referrers tag schema",
                        }
                    )
                }),
            });
        }
        Ok(bundles)
    }
}

fn evidence_error(image: &str, e: &RegistryError) -> EvidenceError {
    EvidenceError {
        image: image.to_owned(),
        reason: e.to_string(),
        input: e.is_input_error(),
    }
}

async fn tag(
    store: &Store,
    digest: &Digest,
    kind: Attachment,
    wanted: bool,
    budget: &EvidenceBudget,
) -> Result<TagEvidence, RegistryError> {
    if !wanted {
        return Ok(TagEvidence {
            tag: kind.tag(digest),
            ..TagEvidence::default()
        });
    }
    let set = read_attachments(store, digest, kind, budget).await?;
    Ok(TagEvidence {
        tag: set.tag,
        found: set.manifest_digest.is_some(),
        layers: set.layers,
    })
}

impl EvidenceSource for StoreSource {
    fn describe(&self) -> String {
        self.target.describe()
    }

    async fn resolve(&self) -> Result<Subject, EvidenceError> {
        let digest = match &self.target.manifest {
            ManifestRef::Digest(digest) => digest.clone(),
            _ => {
                let resolved = self.target.resolve().await.map_err(|e| self.error(&e))?;
                *self
                    .resolved
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(resolved.manifest);
                resolved.digest
            }
        };
        Ok(Subject { digest })
    }

    async fn platforms(&self, digest: &Digest) -> Result<Vec<PlatformManifest>, EvidenceError> {
        let resolved = self
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|manifest| manifest.digest == *digest)
            .cloned();
        let fetched = match resolved {
            Some(manifest) => manifest,
            None => self
                .target
                .store
                .manifest(&ManifestRef::Digest(digest.clone()))
                .await
                .map_err(|e| self.error(&e))?
                .ok_or_else(|| EvidenceError {
                    image: self.describe(),
                    reason: "the image does not exist".into(),
                    input: true,
                })?,
        };
        Ok(match fetched.parse().map_err(|e| self.error(&e))? {
            Manifest::Image(_) => Vec::new(),
            Manifest::Index(index) => index
                .manifests
                .iter()
                .map(|m| PlatformManifest {
                    digest: m.digest.clone(),
                    platform: m
                        .platform
                        .as_ref()
                        .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                })
                .collect(),
        })
    }

    async fn evidence(&self, digest: &Digest, wanted: Wanted) -> Result<Evidence, EvidenceError> {
        let store = &self.target.store;
        let budget = EvidenceBudget::for_image(store, digest);
        let (signatures, attestations, bundles) = tokio::try_join!(
            tag(
                store,
                digest,
                Attachment::Signatures,
                wanted.signatures,
                &budget
            ),
            tag(
                store,
                digest,
                Attachment::Attestations,
                wanted.attestations,
                &budget
            ),
            self.bundles(digest, &budget),
        )
        .map_err(|e| self.error(&e))?;
        Ok(Evidence {
            signatures,
            attestations,
            bundles,
        })
    }
}

/// Evidence held in memory: for tests, for policy test cases, and for programs that gather
/// evidence their own way.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// The image's name, for messages.
    pub name: String,
    /// The manifest digest the image resolves to; `None` when it does not exist.
    pub digest: Option<Digest>,
    /// The platform manifests each index lists.
    pub platforms: std::collections::BTreeMap<Digest, Vec<PlatformManifest>>,
    /// What is stored about each digest (nothing for a digest not listed).
    pub evidence: std::collections::BTreeMap<Digest, Evidence>,
    /// When set, every read fails with this error (an unreachable registry).
    pub failure: Option<EvidenceError>,
}

impl MemorySource {
    fn fail(&self) -> Result<(), EvidenceError> {
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl EvidenceSource for MemorySource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn resolve(&self) -> Result<Subject, EvidenceError> {
        self.fail()?;
        let digest = self.digest.clone().ok_or_else(|| EvidenceError {
            image: self.name.clone(),
            reason: "the image does not exist".into(),
            input: true,
        })?;
        Ok(Subject { digest })
    }

    async fn platforms(&self, digest: &Digest) -> Result<Vec<PlatformManifest>, EvidenceError> {
        self.fail()?;
        Ok(self.platforms.get(digest).cloned().unwrap_or_default())
    }

    async fn evidence(&self, digest: &Digest, wanted: Wanted) -> Result<Evidence, EvidenceError> {
        self.fail()?;
        let mut evidence = self.evidence.get(digest).cloned().unwrap_or_default();
        for (tag, kind) in [
            (&mut evidence.signatures, Attachment::Signatures),
            (&mut evidence.attestations, Attachment::Attestations),
        ] {
            if tag.tag.is_empty() {
                tag.tag = kind.tag(digest);
            }
        }
        if !wanted.attestations {
            evidence.attestations.found = false;
            evidence.attestations.layers.clear();
        }
        Ok(evidence)
    }
}
