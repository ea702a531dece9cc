//! cosign's signature storage ("tag-based discovery", cosign `specs/SIGNATURE_SPEC.md`): the
//! signatures of the manifest `sha256:<hex>` live in one image manifest tagged
//! `sha256-<hex>.sig` in the same repository, one layer per signature. Each layer's blob is
//! the signed payload (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]); the base64 signature is the
//! layer annotation [`SIGNATURE_ANNOTATION`]. Attestations live the same way under
//! `sha256-<hex>.att` (cosign `attest`): each layer's blob is a DSSE envelope (media type
//! [`DSSE_LAYER_MEDIA_TYPE`]) annotated with its statement's [`PREDICATE_TYPE_ANNOTATION`].
//! SBOMs attached with `cosign attach sbom` live under `sha256-<hex>.sbom`, one layer per
//! document, of the document's own media type (`text/spdx+json`,
//! `application/vnd.cyclonedx+json`, ...), unsigned ([`read_sboms`]).
//!
//! Reading is bounded ([`Limits`](crate::Limits)): the manifest size, the number of layers and
//! each payload's size. Appending keeps every layer already there, and survives concurrent
//! writers: a layout is updated under its lock; a registry, which has no compare-and-swap, is
//! written optimistically and re-read after a settling delay longer than the writer's own
//! read-to-write window, merging again if another writer's stale manifest replaced ours (the
//! loop is shared with the referrers tag schema, in `settle.rs`).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, TryStreamExt};
use vouch_keys::Digest;

use crate::RegistryError;
use crate::budget::EvidenceBudget;
use crate::manifest::{Descriptor, FetchedManifest, ImageManifest, Manifest, media_types};
use crate::settle::{Append, Begun, Pending, append_settled, begin, confirm};
use crate::store::{ManifestRef, Store};

pub use vouch_attestations::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, DSSE_LAYER_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer,
};

/// How many payload blobs are fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// The tag of the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    Attachment::Signatures.tag(digest)
}

/// The tag of the attestations of `digest`: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &Digest) -> String {
    Attachment::Attestations.tag(digest)
}

/// The tag of the SBOMs attached to `digest` (`cosign attach sbom`): `sha256-<hex>.sbom`.
pub fn sbom_tag(digest: &Digest) -> String {
    format!("{}-{}.sbom", digest.algorithm().name(), digest.hex())
}

/// The largest SBOM layer [`read_sboms`] fetches: 32 MiB. An SBOM is a whole document about
/// every package of an image, far larger than a signature payload, so the per-payload limit
/// of signatures ([`Limits::max_signature_blob_bytes`](crate::Limits)) does not fit it; the
/// evidence budget still bounds all SBOMs of an image together.
pub const MAX_SBOM_BLOB_BYTES: u64 = 32 * 1024 * 1024;

/// Which of cosign's tag-layout manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// Image signatures, `sha256-<hex>.sig`: simple-signing payloads.
    Signatures,
    /// Attestations, `sha256-<hex>.att`: DSSE envelopes.
    Attestations,
}

impl Attachment {
    /// The tag suffix: `sig` or `att`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Signatures => "sig",
            Self::Attestations => "att",
        }
    }

    /// The media type of the layers vouch writes: [`SIMPLE_SIGNING_MEDIA_TYPE`] or
    /// [`DSSE_LAYER_MEDIA_TYPE`].
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Self::Signatures => SIMPLE_SIGNING_MEDIA_TYPE,
            Self::Attestations => DSSE_LAYER_MEDIA_TYPE,
        }
    }

    /// The tag holding this kind of attachment for `digest`: `<alg>-<hex>.<suffix>`.
    pub fn tag(self, digest: &Digest) -> String {
        format!(
            "{}-{}.{}",
            digest.algorithm().name(),
            digest.hex(),
            self.suffix()
        )
    }
}

/// True for cosign's attachment tags: `<alg>-<hex>.sig`, `.att` or `.sbom`.
pub fn is_cosign_tag(tag: &str) -> bool {
    let Some((stem, suffix)) = tag.rsplit_once('.') else {
        return false;
    };
    matches!(suffix, "sig" | "att" | "sbom")
        && stem
            .split_once('-')
            .is_some_and(|(alg, hex)| format!("{alg}:{hex}").parse::<Digest>().is_ok())
}

/// Everything stored under an image's signature (or attestation, or SBOM) tag.
#[derive(Debug)]
pub struct SignatureSet {
    /// The tag read (`sha256-<hex>.sig`, `.att` or `.sbom`).
    pub tag: String,
    /// The tagged manifest's digest; `None` when there is no manifest under the tag.
    pub manifest_digest: Option<Digest>,
    /// The layers, in manifest order.
    pub layers: Vec<SignatureLayer>,
}

/// Reads the signature manifest of `digest` and fetches every layer's payload (up to
/// eight at a time, each distinct blob once). No manifest means an empty set. Refuses a
/// manifest over the size limit, one that is not an image manifest, one with more layers than
/// [`Limits::max_signature_layers`](crate::Limits), and, before fetching any payload, a set
/// whose manifest and payloads together pass what is left of `budget`.
pub async fn read_signatures(
    store: &Store,
    digest: &Digest,
    budget: &EvidenceBudget,
) -> Result<SignatureSet, RegistryError> {
    read_attachments(store, digest, Attachment::Signatures, budget).await
}

/// Reads the attestation manifest of `digest` (`sha256-<hex>.att`) like [`read_signatures`]:
/// each layer's payload is a DSSE envelope, unverified.
pub async fn read_attestations(
    store: &Store,
    digest: &Digest,
    budget: &EvidenceBudget,
) -> Result<SignatureSet, RegistryError> {
    read_attachments(store, digest, Attachment::Attestations, budget).await
}

/// Reads the `kind` manifest of `digest` and fetches every layer's payload, with the limits
/// of [`read_signatures`].
pub async fn read_attachments(
    store: &Store,
    digest: &Digest,
    kind: Attachment,
    budget: &EvidenceBudget,
) -> Result<SignatureSet, RegistryError> {
    let limit = store.limits().max_signature_blob_bytes;
    read_tagged(store, kind.tag(digest), limit, budget).await
}

/// Reads the SBOMs attached to `digest` with `cosign attach sbom` (its `sha256-<hex>.sbom`
/// manifest), with the limits of [`read_signatures`] but for the size of each layer, which
/// may be up to [`MAX_SBOM_BLOB_BYTES`]: each layer's payload is one SBOM document, its
/// media type the layer's. No manifest means an empty set. Nothing here is signed: an SBOM
/// read this way is only as trustworthy as the registry that served it.
pub async fn read_sboms(
    store: &Store,
    digest: &Digest,
    budget: &EvidenceBudget,
) -> Result<SignatureSet, RegistryError> {
    read_tagged(store, sbom_tag(digest), MAX_SBOM_BLOB_BYTES, budget).await
}

/// Reads the tag-layout manifest `tag` and fetches every layer's payload of at most `limit`
/// bytes, with the limits of [`read_signatures`].
async fn read_tagged(
    store: &Store,
    tag: String,
    limit: u64,
    budget: &EvidenceBudget,
) -> Result<SignatureSet, RegistryError> {
    let Some(fetched) = store.manifest(&ManifestRef::Tag(tag.clone())).await? else {
        return Ok(SignatureSet {
            tag,
            manifest_digest: None,
            layers: Vec::new(),
        });
    };
    budget.charge(fetched.bytes.len() as u64)?;
    let manifest = attachment_manifest(store, &tag, &fetched)?;
    // Every payload handed to verification is charged, duplicates included (each is checked
    // again), before anything is fetched; one too large for the per-blob limit is not
    // fetched, so it costs nothing.
    let charged: u64 = manifest
        .layers
        .iter()
        .map(|layer| layer.size)
        .filter(|size| *size <= limit)
        .fold(0, u64::saturating_add);
    budget.charge(charged)?;
    // Each distinct blob is fetched once; `slots[i]` is layer i's place in `distinct`.
    let mut distinct: Vec<&Descriptor> = Vec::new();
    let mut place = BTreeMap::new();
    let slots: Vec<usize> = manifest
        .layers
        .iter()
        .map(|layer| {
            *place.entry((&layer.digest, layer.size)).or_insert_with(|| {
                distinct.push(layer);
                distinct.len() - 1
            })
        })
        .collect();
    // Owned descriptors: a stream over borrowed ones makes a future the compiler cannot
    // prove `Send` for every lifetime, which callers that spawn it need.
    let distinct: Vec<Descriptor> = distinct.into_iter().cloned().collect();
    let payloads: Vec<Result<Vec<u8>, RegistryError>> = futures_util::stream::iter(distinct)
        .map(|descriptor| async move {
            match store.blob(&descriptor, limit).await {
                Ok(bytes) => Ok(Ok(bytes)),
                Err(
                    e @ (RegistryError::NotFound { .. }
                    | RegistryError::TooLarge { .. }
                    | RegistryError::DigestMismatch { .. }),
                ) => Ok(Err(e)),
                Err(e) => Err(e),
            }
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    let layers = manifest
        .layers
        .into_iter()
        .zip(slots)
        .enumerate()
        .map(|(index, (descriptor, slot))| SignatureLayer {
            index,
            media_type: descriptor.media_type,
            digest: descriptor.digest,
            annotations: descriptor.annotations,
            payload: match &payloads[slot] {
                Ok(bytes) => Ok(bytes.clone()),
                Err(e) => Err(e.to_string()),
            },
        })
        .collect();
    Ok(SignatureSet {
        tag,
        manifest_digest: Some(fetched.digest),
        layers,
    })
}

/// Parses a signature, attestation or SBOM manifest and applies the layer limit.
fn attachment_manifest(
    store: &Store,
    tag: &str,
    fetched: &FetchedManifest,
) -> Result<ImageManifest, RegistryError> {
    let what = store.describe(&ManifestRef::Tag(tag.to_owned()));
    let manifest = match fetched.parse()? {
        Manifest::Image(manifest) => manifest,
        Manifest::Index(_) => {
            return Err(RegistryError::BadManifest {
                what,
                reason: "a cosign signature, attestation or SBOM tag must hold an image manifest, not an index".into(),
            });
        }
    };
    let limit = store.limits().max_signature_layers;
    if manifest.layers.len() > limit {
        return Err(RegistryError::TooManyLayers {
            what,
            count: manifest.layers.len(),
            limit,
        });
    }
    Ok(*manifest)
}

/// A signature to attach.
#[derive(Debug, Clone)]
pub struct NewSignature {
    /// The signed payload bytes.
    pub payload: Vec<u8>,
    /// The signature, base64 (standard alphabet, padded), as cosign stores it.
    pub signature: String,
    /// Further layer annotations (certificate, chain, bundle).
    pub annotations: BTreeMap<String, String>,
}

/// An attestation to attach: a signed DSSE envelope, stored as cosign stores attestations.
#[derive(Debug, Clone)]
pub struct NewAttestation {
    /// The DSSE envelope, serialized (the layer's blob).
    pub envelope: Vec<u8>,
    /// The predicate type of the statement inside, recorded in the layer annotation
    /// [`PREDICATE_TYPE_ANNOTATION`].
    pub predicate_type: String,
    /// Further layer annotations (certificate, chain, bundle).
    pub annotations: BTreeMap<String, String>,
}

/// What [`attach_signature`] or [`attach_attestation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The tag written (`sha256-<hex>.sig` or `.att`).
    pub tag: String,
    /// The digest of the manifest that holds the new layer.
    pub manifest_digest: Digest,
    /// How many layers that manifest has.
    pub layers: usize,
    /// True when an identical layer (same payload, same signature) was already there, so
    /// nothing was written.
    pub already_present: bool,
    /// How many earlier layers were removed because the new one replaces them (attestations
    /// of the same predicate type, with `replace`); 0 otherwise.
    pub replaced: usize,
}

/// The layer a new attachment becomes: the payload blob's descriptor with its annotations.
fn layer(payload: &Descriptor, annotations: &BTreeMap<String, String>) -> Descriptor {
    let mut layer = payload.clone();
    layer.annotations = annotations.clone();
    layer
}

/// True when `layers` holds a layer with the same payload digest and signature as `ours`.
fn contains(layers: &[Descriptor], ours: &Descriptor) -> bool {
    layers.iter().any(|l| {
        l.digest == ours.digest
            && l.annotations.get(SIGNATURE_ANNOTATION) == ours.annotations.get(SIGNATURE_ANNOTATION)
    })
}

/// The image configuration cosign (go-containerregistry's `empty.Image` plus one appended layer
/// per signature) writes for a signature image, so that tools that read or extend it see what
/// they expect.
fn signature_config(layers: &[Descriptor]) -> Vec<u8> {
    let epoch = "0001-01-01T00:00:00Z";
    let config = serde_json::json!({
        "architecture": "",
        "created": epoch,
        "history": layers.iter().map(|_| serde_json::json!({"created": epoch})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        },
        "config": {},
    });
    config.to_string().into_bytes()
}

/// The layers of `current` without the `doomed` ones, followed by `ours`.
fn merged_layers(
    current: Option<&ImageManifest>,
    ours: &Descriptor,
    doomed: &BTreeSet<Digest>,
) -> Vec<Descriptor> {
    let kept: Vec<Descriptor> = current
        .map(|m| m.layers.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !doomed.contains(&l.digest))
        .collect();
    with_layers(kept, std::slice::from_ref(ours))
}

/// The signature manifest with `layers` and `config`, keeping the annotations and other
/// fields of `current`.
fn manifest_bytes(
    current: Option<ImageManifest>,
    layers: Vec<Descriptor>,
    config: Descriptor,
) -> Vec<u8> {
    let manifest = match current {
        Some(mut manifest) => {
            manifest.media_type = Some(media_types::OCI_MANIFEST.into());
            manifest.config = config;
            manifest.layers = layers;
            manifest
        }
        None => ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.into()),
            config,
            layers,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        },
    };
    // Plain data structures always serialize.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// Appends `signature` to the signature manifest of `digest`, keeping every layer already
/// there; does nothing if an identical layer exists. See the module docs for how concurrent
/// writers are handled; gives [`RegistryError::Contention`] if they never settle.
pub async fn attach_signature(
    store: &Store,
    digest: &Digest,
    signature: &NewSignature,
) -> Result<Attached, RegistryError> {
    let mut annotations = signature.annotations.clone();
    annotations.insert(SIGNATURE_ANNOTATION.into(), signature.signature.clone());
    attach(
        store,
        digest,
        Attachment::Signatures,
        &signature.payload,
        annotations,
        None,
    )
    .await
}

/// Appends `attestation` to the attestation manifest (`sha256-<hex>.att`) of `digest`, as
/// cosign does: the envelope as a layer of media type [`DSSE_LAYER_MEDIA_TYPE`], annotated
/// with its predicate type and an empty signature annotation (the signatures are inside the
/// envelope). Every layer already there is kept, unless `replace` is set: then the
/// attestations of the same predicate type that were there when the call began are removed
/// (by their annotation, or, for layers written without one, by the statement inside). An
/// attestation written concurrently by another writer is never removed. Does nothing if an
/// identical layer exists and nothing is to be replaced.
pub async fn attach_attestation(
    store: &Store,
    digest: &Digest,
    attestation: &NewAttestation,
    replace: bool,
) -> Result<Attached, RegistryError> {
    let mut annotations = attestation.annotations.clone();
    annotations.insert(SIGNATURE_ANNOTATION.into(), String::new());
    annotations.insert(
        PREDICATE_TYPE_ANNOTATION.into(),
        attestation.predicate_type.clone(),
    );
    let replace = replace.then_some(attestation.predicate_type.as_str());
    attach(
        store,
        digest,
        Attachment::Attestations,
        &attestation.envelope,
        annotations,
        replace,
    )
    .await
}

/// The predicate type of an attestation layer: its annotation, else the `predicateType` of
/// the statement in the envelope `payload` (when it can be read).
fn layer_predicate_type(layer: &Descriptor, payload: Option<&[u8]>) -> Option<String> {
    if let Some(annotated) = layer.annotations.get(PREDICATE_TYPE_ANNOTATION) {
        return Some(annotated.clone());
    }
    use base64::Engine as _;
    let envelope: serde_json::Value = serde_json::from_slice(payload?).ok()?;
    let statement = base64::engine::general_purpose::STANDARD
        .decode(envelope.get("payload")?.as_str()?)
        .ok()?;
    let statement: serde_json::Value = serde_json::from_slice(&statement).ok()?;
    Some(statement.get("predicateType")?.as_str()?.to_owned())
}

/// The layers of `manifest` that an attestation of `predicate_type` replaces (not `ours`).
async fn doomed_layers(
    store: &Store,
    manifest: &ImageManifest,
    ours: &Descriptor,
    predicate_type: &str,
) -> Result<BTreeSet<Digest>, RegistryError> {
    let limit = store.limits().max_signature_blob_bytes;
    let mut doomed = BTreeSet::new();
    for layer in &manifest.layers {
        if layer.digest == ours.digest {
            continue;
        }
        let payload = if layer.annotations.contains_key(PREDICATE_TYPE_ANNOTATION) {
            None
        } else {
            match store.blob(layer, limit).await {
                Ok(bytes) => Some(bytes),
                Err(
                    RegistryError::NotFound { .. }
                    | RegistryError::TooLarge { .. }
                    | RegistryError::DigestMismatch { .. },
                ) => None,
                Err(e) => return Err(e),
            }
        };
        if layer_predicate_type(layer, payload.as_deref()).as_deref() == Some(predicate_type) {
            doomed.insert(layer.digest.clone());
        }
    }
    Ok(doomed)
}

/// Adds the layer of `payload` with `annotations` to the `kind` manifest of `digest`,
/// removing the layers an attestation of predicate type `replace` replaces.
async fn attach(
    store: &Store,
    digest: &Digest,
    kind: Attachment,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
    replace: Option<&str>,
) -> Result<Attached, RegistryError> {
    let tag = kind.tag(digest);
    let manifest_ref = ManifestRef::Tag(tag.clone());
    let blob = store.put_blob(kind.layer_media_type(), payload).await?;
    let ours = layer(&blob, &annotations);

    if let Store::Layout { layout, limits } = store {
        // The layout lock makes the read-modify-write atomic among vouch writers.
        let current = layout.locked(|| {
            layout
                .read_tagged_manifest(&tag, limits.max_manifest_bytes)?
                .map(|fetched| attachment_manifest(store, &tag, &fetched).map(|m| (fetched, m)))
                .transpose()
        })?;
        // Replaced layers are found outside the lock (reading blobs is async), then removed
        // under it; a layer added in between is not of "what was there when we began".
        let doomed = match (&current, replace) {
            (Some((_, manifest)), Some(predicate_type)) => {
                doomed_layers(store, manifest, &ours, predicate_type).await?
            }
            _ => BTreeSet::new(),
        };
        return layout.locked(|| {
            let current = layout
                .read_tagged_manifest(&tag, limits.max_manifest_bytes)?
                .map(|fetched| attachment_manifest(store, &tag, &fetched).map(|m| (fetched, m)))
                .transpose()?;
            if let Some((fetched, manifest)) = &current
                && holds(manifest, &ours, &doomed)
            {
                return Ok(attached(&tag, fetched, manifest.layers.len(), true, 0));
            }
            let current = current.map(|(_, manifest)| manifest);
            let replaced = removed(current.as_ref(), &doomed);
            let layers = merged_layers(current.as_ref(), &ours, &doomed);
            let count = layers.len();
            let config = layout.write_blob(media_types::OCI_CONFIG, &signature_config(&layers))?;
            let bytes = manifest_bytes(current, layers, config);
            let descriptor = layout.write_blob(media_types::OCI_MANIFEST, &bytes)?;
            let manifest_digest = descriptor.digest.clone();
            layout.set_tag_unlocked(&tag, descriptor)?;
            Ok(Attached {
                tag: tag.clone(),
                manifest_digest,
                layers: count,
                already_present: false,
                replaced,
            })
        });
    }

    let mut append = LayerAppend {
        store,
        tag: &tag,
        manifest_ref: &manifest_ref,
        ours: &ours,
        doomed: BTreeSet::new(),
    };
    let mut replaced = 0;
    if let Some(predicate_type) = replace
        && let Some((_, manifest)) = append.read().await?
    {
        append.doomed = doomed_layers(store, &manifest, &ours, predicate_type).await?;
        replaced = removed(Some(&manifest), &append.doomed);
    }
    let settled = append_settled(&store.describe(&manifest_ref), &append).await?;
    let (fetched, manifest) = &settled.current;
    Ok(attached(
        &tag,
        fetched,
        manifest.layers.len(),
        settled.already_present,
        if settled.already_present { 0 } else { replaced },
    ))
}

/// Whether `manifest` has `ours` and none of the `doomed` layers.
fn holds(manifest: &ImageManifest, ours: &Descriptor, doomed: &BTreeSet<Digest>) -> bool {
    contains(&manifest.layers, ours) && !manifest.layers.iter().any(|l| doomed.contains(&l.digest))
}

/// How many layers of `current` are `doomed`.
fn removed(current: Option<&ImageManifest>, doomed: &BTreeSet<Digest>) -> usize {
    current.map_or(0, |m| {
        m.layers
            .iter()
            .filter(|l| doomed.contains(&l.digest))
            .count()
    })
}

fn attached(
    tag: &str,
    fetched: &FetchedManifest,
    layers: usize,
    already_present: bool,
    replaced: usize,
) -> Attached {
    Attached {
        tag: tag.to_owned(),
        manifest_digest: fetched.digest.clone(),
        layers,
        already_present,
        replaced,
    }
}

/// Adding one layer to (and removing the replaced ones from) a registry's tag-layout manifest.
struct LayerAppend<'a> {
    store: &'a Store,
    tag: &'a str,
    manifest_ref: &'a ManifestRef,
    ours: &'a Descriptor,
    doomed: BTreeSet<Digest>,
}

impl Append for LayerAppend<'_> {
    type Current = (FetchedManifest, ImageManifest);

    async fn read(&self) -> Result<Option<Self::Current>, RegistryError> {
        match self.store.manifest(self.manifest_ref).await? {
            Some(fetched) => {
                let manifest = attachment_manifest(self.store, self.tag, &fetched)?;
                Ok(Some((fetched, manifest)))
            }
            None => Ok(None),
        }
    }

    fn holds_ours(&self, (_, manifest): &Self::Current) -> bool {
        holds(manifest, self.ours, &self.doomed)
    }

    async fn write(&self, current: Option<Self::Current>) -> Result<(), RegistryError> {
        let current = current.map(|(_, manifest)| manifest);
        let layers = merged_layers(current.as_ref(), self.ours, &self.doomed);
        let config = self
            .store
            .put_blob(media_types::OCI_CONFIG, &signature_config(&layers))
            .await?;
        let bytes = manifest_bytes(current, layers, config);
        self.store
            .put_manifest(self.tag, media_types::OCI_MANIFEST, &bytes)
            .await
            .map(|_| ())
    }
}

/// What [`merge_attachment`] did to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merged {
    /// The tag did not exist: it now holds the source manifest as it was (same digest).
    Written,
    /// The tag held other layers: the missing ones were added to them.
    Added,
    /// The tag already held every layer.
    Unchanged,
}

/// Makes the cosign tag-layout manifest `tag` of `store` hold every layer of `source` (such
/// a manifest read elsewhere, whose blobs are already in `store`): an absent tag gets
/// `source` as it is, so its digest is kept; a manifest that already has every layer (same
/// payload digest, same signature annotation) is left alone; any other gets the missing
/// layers appended, and none of its own is removed. Concurrent writers as for
/// [`attach_signature`]: under the lock in a layout, by the settling append in a registry,
/// whose confirmation is returned to be run ([`crate::settle::begin`]) once the write landed.
pub(crate) async fn merge_attachment(
    store: &Store,
    tag: &str,
    source: &FetchedManifest,
) -> Result<(Merged, Option<Pending>), RegistryError> {
    let layers = attachment_manifest(store, tag, source)?.layers;
    if let Store::Layout { layout, limits } = store {
        return layout.locked(|| {
            let current = layout
                .read_tagged_manifest(tag, limits.max_manifest_bytes)?
                .map(|fetched| attachment_manifest(store, tag, &fetched))
                .transpose()?;
            let Some(current) = current else {
                let descriptor = layout.write_blob(&source.media_type, &source.bytes)?;
                layout.set_tag_unlocked(tag, descriptor)?;
                return Ok((Merged::Written, None));
            };
            if layers.iter().all(|l| contains(&current.layers, l)) {
                return Ok((Merged::Unchanged, None));
            }
            let merged = with_layers(current.layers.clone(), &layers);
            let config = layout.write_blob(media_types::OCI_CONFIG, &signature_config(&merged))?;
            let bytes = manifest_bytes(Some(current), merged, config);
            let descriptor = layout.write_blob(media_types::OCI_MANIFEST, &bytes)?;
            layout.set_tag_unlocked(tag, descriptor)?;
            Ok((Merged::Added, None))
        });
    }
    let append = CopyAppend {
        store: store.clone(),
        tag: tag.to_owned(),
        source: source.clone(),
        layers,
        wrote_source: std::sync::atomic::AtomicBool::new(false),
    };
    match begin(&append).await? {
        Begun::Present(_) => Ok((Merged::Unchanged, None)),
        Begun::Written(write) => {
            let merged = if append
                .wrote_source
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                Merged::Written
            } else {
                Merged::Added
            };
            let what = store.describe(&ManifestRef::Tag(append.tag.clone()));
            let pending: Pending =
                Box::pin(async move { confirm(&what, &append, write).await.map(|_| ()) });
            Ok((merged, Some(pending)))
        }
    }
}

/// `layers` followed by those of `ours` it does not have ([`contains`]).
fn with_layers(mut layers: Vec<Descriptor>, ours: &[Descriptor]) -> Vec<Descriptor> {
    for layer in ours {
        if !contains(&layers, layer) {
            layers.push(layer.clone());
        }
    }
    layers
}

/// Merging a copied tag-layout manifest into a registry's tag (owning what it needs, so
/// that its confirmation can run later).
struct CopyAppend {
    store: Store,
    tag: String,
    source: FetchedManifest,
    layers: Vec<Descriptor>,
    wrote_source: std::sync::atomic::AtomicBool,
}

impl Append for CopyAppend {
    type Current = (FetchedManifest, ImageManifest);

    async fn read(&self) -> Result<Option<Self::Current>, RegistryError> {
        match self
            .store
            .manifest(&ManifestRef::Tag(self.tag.clone()))
            .await?
        {
            Some(fetched) => {
                let manifest = attachment_manifest(&self.store, &self.tag, &fetched)?;
                Ok(Some((fetched, manifest)))
            }
            None => Ok(None),
        }
    }

    fn holds_ours(&self, (_, manifest): &Self::Current) -> bool {
        self.layers.iter().all(|l| contains(&manifest.layers, l))
    }

    async fn write(&self, current: Option<Self::Current>) -> Result<(), RegistryError> {
        let Some((_, current)) = current else {
            self.wrote_source
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return self
                .store
                .put_manifest(&self.tag, &self.source.media_type, &self.source.bytes)
                .await
                .map(|_| ());
        };
        let layers = with_layers(current.layers.clone(), &self.layers);
        let config = self
            .store
            .put_blob(media_types::OCI_CONFIG, &signature_config(&layers))
            .await?;
        let bytes = manifest_bytes(Some(current), layers, config);
        self.store
            .put_manifest(&self.tag, media_types::OCI_MANIFEST, &bytes)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_cosigns_scheme() {
        let digest = Digest::sha256(b"m");
        let tag = signature_tag(&digest);
        assert_eq!(tag, format!("sha256-{}.sig", digest.hex()));
        assert!(is_cosign_tag(&tag));
        assert!(is_cosign_tag(&tag.replace(".sig", ".att")));
        assert_eq!(sbom_tag(&digest), tag.replace(".sig", ".sbom"));
        assert!(is_cosign_tag(&sbom_tag(&digest)));
        assert!(!is_cosign_tag("v1.0"));
        assert!(!is_cosign_tag("sha256-abc.sig"));
        assert!(!is_cosign_tag(&tag.replace(".sig", ".txt")));
    }

    #[test]
    fn config_lists_each_layer_like_cosign() {
        let a = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, b"a");
        let config = String::from_utf8(signature_config(std::slice::from_ref(&a))).unwrap();
        assert_eq!(
            config,
            format!(
                r#"{{"architecture":"","config":{{}},"created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"diff_ids":["{}"],"type":"layers"}}}}"#,
                a.digest
            )
        );
    }
}
