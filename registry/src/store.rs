//! One interface over the two places images live: a registry repository, or an OCI layout.

use std::fmt;

use vouch_keys::Digest;

use crate::RegistryError;
use crate::client::{Limits, RegistryClient};
use crate::layout::Layout;
use crate::manifest::{Descriptor, FetchedManifest, ImageIndex};
use crate::reference::{ImageReference, Reference};

/// A repository in a registry, or an OCI layout directory: where manifests and blobs are read
/// and written. Every read is bounded by the client's [`Limits`] and digest-checked.
#[derive(Clone)]
pub enum Store {
    /// A repository (`registry/repository`) reached through a client.
    Registry {
        /// The client.
        client: RegistryClient,
        /// The repository (tag and digest are ignored).
        repository: Reference,
    },
    /// An OCI image layout directory.
    Layout {
        /// The layout.
        layout: Layout,
        /// Read limits.
        limits: Limits,
    },
}

/// Which manifest of a store: by tag, by digest, or the store's default (`latest` in a
/// registry, the only image in a layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
    /// No tag or digest was given.
    Default,
}

/// An image in a store, as the user named it.
#[derive(Clone)]
pub struct Target {
    /// Where it lives.
    pub store: Store,
    /// Which manifest.
    pub manifest: ManifestRef,
}

/// An image resolved to its digest, with the manifest bytes that digest covers.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The manifest digest: from here on, the image's only name.
    pub digest: Digest,
    /// The manifest as fetched.
    pub manifest: FetchedManifest,
}

/// A manifest stored by digest, and what the store said about its `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The digest of the bytes stored: the manifest's name from now on.
    pub digest: Digest,
    /// The `OCI-Subject` header of a registry's answer, when it sent one with a digest: the
    /// registry says it recorded the manifest as a referrer of that subject itself
    /// (distribution-spec v1.1). Always `None` for a layout and for registries without the
    /// referrers API.
    pub oci_subject: Option<Digest>,
}

impl Store {
    /// The store and manifest an image reference names. Opening a layout checks that it is
    /// one; nothing is fetched from a registry yet.
    pub fn open(client: &RegistryClient, image: &ImageReference) -> Result<Target, RegistryError> {
        Ok(match image {
            ImageReference::Registry(reference) => Target {
                store: Store::Registry {
                    client: client.clone(),
                    repository: reference.clone(),
                },
                manifest: match (reference.digest(), reference.tag()) {
                    (Some(digest), _) => ManifestRef::Digest(digest.clone()),
                    (None, Some(tag)) => ManifestRef::Tag(tag.to_owned()),
                    (None, None) => ManifestRef::Default,
                },
            },
            ImageReference::Layout(layout) => Target {
                store: Store::Layout {
                    layout: Layout::open(&layout.path)?,
                    limits: client.options().limits,
                },
                manifest: match (&layout.digest, &layout.tag) {
                    (Some(digest), _) => ManifestRef::Digest(digest.clone()),
                    (None, Some(tag)) => ManifestRef::Tag(tag.clone()),
                    (None, None) => ManifestRef::Default,
                },
            },
        })
    }

    /// The limits reads are held to.
    pub fn limits(&self) -> Limits {
        match self {
            Store::Registry { client, .. } => client.options().limits,
            Store::Layout { limits, .. } => *limits,
        }
    }

    /// The repository name a signature payload records as `docker-reference`: cosign's form
    /// (`registry/repository`) for registries, `oci:PATH` for layouts.
    pub fn docker_reference(&self) -> String {
        match self {
            Store::Registry { repository, .. } => repository.cosign_repository_name(),
            Store::Layout { layout, .. } => format!("oci:{}", layout.root().display()),
        }
    }

    /// A readable name for a manifest of this store, for messages.
    pub fn describe(&self, manifest: &ManifestRef) -> String {
        match self {
            Store::Registry { repository, .. } => {
                let name = format!("{}/{}", repository.registry(), repository.repository());
                match manifest {
                    ManifestRef::Tag(tag) => format!("{name}:{tag}"),
                    ManifestRef::Digest(digest) => format!("{name}@{digest}"),
                    ManifestRef::Default => format!("{name}:latest"),
                }
            }
            Store::Layout { layout, .. } => {
                let name = format!("oci:{}", layout.root().display());
                match manifest {
                    ManifestRef::Tag(tag) => format!("{name}:{tag}"),
                    ManifestRef::Digest(digest) => format!("{name}@{digest}"),
                    ManifestRef::Default => name,
                }
            }
        }
    }

    /// Fetches a manifest; `None` when it does not exist.
    pub async fn manifest(
        &self,
        manifest: &ManifestRef,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                let reference = match manifest {
                    ManifestRef::Tag(tag) => repository.with_tag(tag),
                    ManifestRef::Digest(digest) => repository.with_digest(digest.clone()),
                    ManifestRef::Default => repository.with_tag("latest"),
                };
                client.get_manifest(&reference).await
            }
            Store::Layout { layout, limits } => {
                let (digest, media_type) = match manifest {
                    ManifestRef::Tag(tag) => match layout.find_tag(tag)? {
                        Some(d) => (d.digest, d.media_type),
                        None => return Ok(None),
                    },
                    ManifestRef::Digest(digest) => (digest.clone(), String::new()),
                    ManifestRef::Default => {
                        let d = layout.sole_image()?;
                        (d.digest, d.media_type)
                    }
                };
                layout.read_manifest(&digest, &media_type, limits.max_manifest_bytes)
            }
        }
    }

    /// Fetches a blob of at most `limit` bytes (and at most the descriptor's size), checked
    /// against its digest.
    pub async fn blob(
        &self,
        descriptor: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client.get_blob(repository, descriptor, limit).await
            }
            Store::Layout { layout, .. } => {
                let what = || format!("blob {} in {}", descriptor.digest, layout.root().display());
                if descriptor.size > limit {
                    return Err(RegistryError::TooLarge {
                        what: what(),
                        limit,
                    });
                }
                layout
                    .read_blob(&descriptor.digest, descriptor.size)?
                    .ok_or_else(|| RegistryError::NotFound { what: what() })
            }
        }
    }

    /// Opens a blob for streaming: an HTTP body from a registry, the file of a layout. Its
    /// size and digest are not checked here; [`crate::layers`] checks them as it reads.
    pub(crate) async fn open_blob(
        &self,
        descriptor: &Descriptor,
    ) -> Result<BlobSource, RegistryError> {
        match self {
            Store::Registry { client, repository } => Ok(BlobSource::Http(
                client.open_blob(repository, descriptor).await?,
            )),
            Store::Layout { layout, .. } => match layout.open_blob(&descriptor.digest)? {
                Some(file) => Ok(BlobSource::File(file)),
                None => Err(RegistryError::NotFound {
                    what: format!("blob {} in {}", descriptor.digest, layout.root().display()),
                }),
            },
        }
    }

    /// Whether the store has the blob `digest` (asked with push access in a registry, as
    /// a copy asks before sending it).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client.has_blob(repository, digest, true).await
            }
            Store::Layout { layout, .. } => layout.has_blob(digest),
        }
    }

    /// Whether the store has the manifest `digest`.
    pub async fn has_manifest(&self, digest: &Digest) -> Result<bool, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client.has_manifest(repository, digest, true).await
            }
            Store::Layout { layout, .. } => layout.has_blob(digest),
        }
    }

    /// Stores a blob (skipped when already present) and returns its descriptor.
    pub async fn put_blob(
        &self,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Descriptor, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client.put_blob(repository, media_type, bytes).await
            }
            Store::Layout { layout, .. } => layout.write_blob(media_type, bytes),
        }
    }

    /// Stores a manifest and points `tag` at it; returns its digest.
    pub async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        match self {
            Store::Registry { client, repository } => Ok(client
                .put_manifest(repository, Some(tag), media_type, bytes)
                .await?
                .digest),
            Store::Layout { layout, .. } => {
                let descriptor = layout.write_blob(media_type, bytes)?;
                let digest = descriptor.digest.clone();
                layout.set_tag(tag, descriptor)?;
                Ok(digest)
            }
        }
    }

    /// Stores a manifest under its digest only, with no tag: in a registry a PUT by digest,
    /// in a layout a blob that `index.json` does not list. Says whether a registry confirmed
    /// with `OCI-Subject` that it recorded the manifest's `subject`.
    pub async fn put_manifest_by_digest(
        &self,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PushedManifest, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client
                    .put_manifest(repository, None, media_type, bytes)
                    .await
            }
            Store::Layout { layout, .. } => Ok(PushedManifest {
                digest: layout.write_blob(media_type, bytes)?.digest,
                oci_subject: None,
            }),
        }
    }

    /// The referrers of `subject` as the registry's referrers API lists them (bounded, every
    /// page followed; see [`crate::referrers`]). `None` when there is no such API: the
    /// registry answered 404, or the store is a layout.
    pub(crate) async fn referrers_api(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<ImageIndex>, RegistryError> {
        match self {
            Store::Registry { client, repository } => {
                client
                    .get_referrers(repository, subject, artifact_type)
                    .await
            }
            Store::Layout { .. } => Ok(None),
        }
    }

    /// Whether [`referrers_api`](Self::referrers_api) is known to find an API (`Some(true)`)
    /// or known to find none (`Some(false)`: a layout, or a registry that answered 404); `None`
    /// while it is not known.
    pub(crate) fn referrers_api_known(&self) -> Option<bool> {
        match self {
            Store::Registry { client, repository } => client.referrers_api_known(repository),
            Store::Layout { .. } => Some(false),
        }
    }
}

/// Where a streamed blob's bytes come from.
pub(crate) enum BlobSource {
    /// A registry's response body.
    Http(reqwest::Response),
    /// A layout's blob file.
    File(std::fs::File),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&ManifestRef::Default))
    }
}

impl Target {
    /// Fetches the manifest and fixes the image's digest; from here on, work by digest only.
    /// An image that does not exist is [`RegistryError::NotFound`].
    pub async fn resolve(&self) -> Result<ResolvedImage, RegistryError> {
        let manifest =
            self.store
                .manifest(&self.manifest)
                .await?
                .ok_or_else(|| RegistryError::NotFound {
                    what: format!("image {}", self.store.describe(&self.manifest)),
                })?;
        Ok(ResolvedImage {
            digest: manifest.digest.clone(),
            manifest,
        })
    }

    /// A readable name for the image.
    pub fn describe(&self) -> String {
        self.store.describe(&self.manifest)
    }

    /// The same store at another manifest.
    pub fn at(&self, manifest: ManifestRef) -> Target {
        Target {
            store: self.store.clone(),
            manifest,
        }
    }
}
