//! cosign's signature storage ("tag-based discovery", cosign `specs/SIGNATURE_SPEC.md`): the
//! signatures of the manifest `sha256:<hex>` live in one image manifest tagged
//! `sha256-<hex>.sig` in the same repository, one layer per signature. Each layer's blob is
//! the signed payload (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]); the base64 signature is the
//! layer annotation [`SIGNATURE_ANNOTATION`].
//!
//! Reading is bounded ([`Limits`](crate::Limits)): the manifest size, the number of layers and
//! each payload's size. Appending keeps every layer already there, and survives concurrent
//! writers: a layout is updated under its lock; a registry, which has no compare-and-swap, is
//! written optimistically and re-read after a settling delay longer than the writer's own
//! read-to-write window, merging again if another writer's stale manifest replaced ours (the
//! loop is shared with the referrers tag schema, in `settle.rs`).

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
use vouch_keys::Digest;

use crate::RegistryError;
use crate::manifest::{Descriptor, FetchedManifest, ImageManifest, Manifest, media_types};
use crate::settle::{Append, append_settled};
use crate::store::{ManifestRef, Store};

/// Media type of a signature layer: the simple-signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature over the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding a PEM signing certificate (keyless signatures).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM certificate chain.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding a Rekor bundle.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// How many payload blobs are fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// The tag of the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().name(), digest.hex())
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

/// One layer of a signature manifest, with its payload when it could be fetched.
#[derive(Debug)]
pub struct SignatureLayer {
    /// Position in the manifest, from 0.
    pub index: usize,
    /// The layer descriptor, with its annotations.
    pub descriptor: Descriptor,
    /// The payload bytes, or why they could not be had (missing blob, too large, wrong
    /// digest). Failures to reach the store are not here: they fail the whole read.
    pub payload: Result<Vec<u8>, RegistryError>,
}

impl SignatureLayer {
    /// The base64 signature annotation, if present.
    pub fn signature(&self) -> Option<&str> {
        self.descriptor
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .map(String::as_str)
    }
}

/// Everything stored under an image's signature tag.
#[derive(Debug)]
pub struct SignatureSet {
    /// The tag read (`sha256-<hex>.sig`).
    pub tag: String,
    /// The signature manifest's digest; `None` when there is no signature manifest.
    pub manifest_digest: Option<Digest>,
    /// The layers, in manifest order.
    pub layers: Vec<SignatureLayer>,
}

/// Reads the signature manifest of `digest` and fetches every layer's payload (up to
/// eight at a time). No manifest means an empty set. Refuses a manifest over
/// the size limit, one that is not an image manifest, and one with more layers than
/// [`Limits::max_signature_layers`](crate::Limits).
pub async fn read_signatures(
    store: &Store,
    digest: &Digest,
) -> Result<SignatureSet, RegistryError> {
    let tag = signature_tag(digest);
    let Some(fetched) = store.manifest(&ManifestRef::Tag(tag.clone())).await? else {
        return Ok(SignatureSet {
            tag,
            manifest_digest: None,
            layers: Vec::new(),
        });
    };
    let manifest = signature_manifest(store, &tag, &fetched)?;
    let limit = store.limits().max_signature_blob_bytes;
    let layers = futures_util::stream::iter(manifest.layers.into_iter().enumerate())
        .map(|(index, descriptor)| async move {
            let payload = match store.blob(&descriptor, limit).await {
                Ok(bytes) => Ok(bytes),
                Err(
                    e @ (RegistryError::NotFound { .. }
                    | RegistryError::TooLarge { .. }
                    | RegistryError::DigestMismatch { .. }),
                ) => Err(e),
                Err(e) => return Err(e),
            };
            Ok(SignatureLayer {
                index,
                descriptor,
                payload,
            })
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(SignatureSet {
        tag,
        manifest_digest: Some(fetched.digest),
        layers,
    })
}

/// Parses a signature manifest and applies the layer limit.
fn signature_manifest(
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
                reason: "a signature tag must hold an image manifest, not an index".into(),
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

/// What [`attach_signature`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The signature tag written.
    pub tag: String,
    /// The digest of the signature manifest that holds the signature.
    pub manifest_digest: Digest,
    /// How many layers that manifest has.
    pub layers: usize,
    /// True when an identical layer (same payload, same signature) was already there, so
    /// nothing was written.
    pub already_present: bool,
}

impl NewSignature {
    fn layer(&self, payload: &Descriptor) -> Descriptor {
        let mut layer = payload.clone();
        layer.annotations = self.annotations.clone();
        layer
            .annotations
            .insert(SIGNATURE_ANNOTATION.into(), self.signature.clone());
        layer
    }
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

/// The layers of `current` followed by `ours`.
fn merged_layers(current: Option<&ImageManifest>, ours: &Descriptor) -> Vec<Descriptor> {
    let mut layers = current.map(|m| m.layers.clone()).unwrap_or_default();
    layers.push(ours.clone());
    layers
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

fn attached(
    tag: &str,
    fetched: &FetchedManifest,
    layers: usize,
    already_present: bool,
) -> Attached {
    Attached {
        tag: tag.to_owned(),
        manifest_digest: fetched.digest.clone(),
        layers,
        already_present,
    }
}

/// Appends `signature` to the signature manifest of `digest`, keeping every layer already
/// there; does nothing if an identical layer exists. See the module docs for how concurrent
/// writers are handled; gives [`RegistryError::Contention`] if they never settle.
pub async fn attach_signature(
    store: &Store,
    digest: &Digest,
    signature: &NewSignature,
) -> Result<Attached, RegistryError> {
    let tag = signature_tag(digest);
    let manifest_ref = ManifestRef::Tag(tag.clone());
    let payload = store
        .put_blob(SIMPLE_SIGNING_MEDIA_TYPE, &signature.payload)
        .await?;
    let ours = signature.layer(&payload);

    if let Store::Layout { layout, limits } = store {
        // The layout lock makes the read-modify-write atomic among vouch writers.
        return layout.locked(|| {
            let current = layout.read_tagged_manifest(&tag, limits.max_manifest_bytes)?;
            let current = match current {
                Some(fetched) => {
                    let manifest = signature_manifest(store, &tag, &fetched)?;
                    if contains(&manifest.layers, &ours) {
                        return Ok(attached(&tag, &fetched, manifest.layers.len(), true));
                    }
                    Some(manifest)
                }
                None => None,
            };
            let layers = merged_layers(current.as_ref(), &ours);
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
            })
        });
    }

    let append = SignatureAppend {
        store,
        tag: &tag,
        manifest_ref: &manifest_ref,
        ours: &ours,
    };
    let settled = append_settled(&store.describe(&manifest_ref), &append).await?;
    let (fetched, manifest) = &settled.current;
    Ok(attached(
        &tag,
        fetched,
        manifest.layers.len(),
        settled.already_present,
    ))
}

/// Appending one layer to a registry's signature manifest.
struct SignatureAppend<'a> {
    store: &'a Store,
    tag: &'a str,
    manifest_ref: &'a ManifestRef,
    ours: &'a Descriptor,
}

impl Append for SignatureAppend<'_> {
    type Current = (FetchedManifest, ImageManifest);

    async fn read(&self) -> Result<Option<Self::Current>, RegistryError> {
        match self.store.manifest(self.manifest_ref).await? {
            Some(fetched) => {
                let manifest = signature_manifest(self.store, self.tag, &fetched)?;
                Ok(Some((fetched, manifest)))
            }
            None => Ok(None),
        }
    }

    fn holds_ours(&self, (_, manifest): &Self::Current) -> bool {
        contains(&manifest.layers, self.ours)
    }

    async fn write(&self, current: Option<Self::Current>) -> Result<(), RegistryError> {
        let current = current.map(|(_, manifest)| manifest);
        let layers = merged_layers(current.as_ref(), self.ours);
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
