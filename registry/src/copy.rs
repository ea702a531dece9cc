//! Copying an image and everything stored about it, between registries and OCI layouts in any
//! direction: the image (every platform of an index, or one), cosign's `.sig`, `.att` and
//! `.sbom` tags, OCI 1.1 referrers (listed by the referrers API or the tag schema), and the
//! referrers and tags of those in turn.
//!
//! # What a copy guarantees
//!
//! * **Digests are kept.** Every manifest and blob is stored byte for byte; the image has the
//!   same digest at the destination, so its signatures still name it.
//! * **Only what is missing is sent.** A blob or manifest the destination has is not sent
//!   again; a manifest it has is taken to have its blobs (a registry refuses a manifest whose
//!   blobs it lacks, and a copy stores children before parents). Between two repositories of
//!   one registry, blobs are mounted (distribution-spec "Mounting a blob from another
//!   repository") where the registry agrees.
//! * **Nothing is replaced.** A cosign tag at the destination keeps its layers, and the
//!   source's missing layers are added to it; a referrers tag schema index keeps its entries,
//!   and the copied referrers are added; both with the same concurrent-writer protocol as
//!   signing ([`crate::cosign`]), so concurrent copies into one destination lose nothing. A
//!   destination with the referrers API lists copied referrers itself (it answers their
//!   `PUT` with `OCI-Subject`). The image's tag is refused when it names another image, unless
//!   [`CopyOptions::force`].
//! * **The image's tag comes last**: after its manifests, blobs and evidence are stored, so a
//!   verifier never sees the tag before the signatures. A failed copy leaves at most
//!   untagged content, never a tag half-written, and a layout it created but wrote nothing
//!   into is removed again ([`CreatedLayout`]). The evidence is written first; the checks
//!   that it survived concurrent writers (the settling delays of [`crate::cosign`]) run while
//!   the image's layers stream, and hold before the tag is written.
//! * **Every read is bounded**: manifests by [`Limits::max_manifest_bytes`](crate::Limits),
//!   blobs by their descriptor's size and checked against its digest as they stream (a
//!   mismatching blob is never stored), referrers by [`Limits::max_referrers`](crate::Limits),
//!   and the walk by [`MAX_MANIFESTS`] manifests and [`MAX_EVIDENCE_DEPTH`] levels of evidence
//!   about evidence.
//! * **The same copy twice changes nothing** at the destination.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{BoxFuture, try_join_all};
use vouch_keys::Digest;

use crate::RegistryError;
use crate::client::{RegistryClient, UploadStart};
use crate::cosign::{Attachment, Merged, merge_attachment, sbom_tag};
use crate::layers::PlatformSpec;
use crate::layout::Layout;
use crate::manifest::{Descriptor, FetchedManifest, Manifest, media_types};
use crate::reference::ImageReference;
use crate::referrers::{self, ReferrerSource};
use crate::settle::Pending;
use crate::store::{ManifestRef, Store, Target};
use crate::stream::BlobStream;

/// Most manifests one copy walks (image, platforms, evidence and evidence about evidence).
pub const MAX_MANIFESTS: usize = 10_000;
/// How deep evidence about evidence is followed: the image's referrers are level 1, their
/// referrers level 2, and so on.
pub const MAX_EVIDENCE_DEPTH: usize = 4;
/// Blobs up to this size take their permits from a pool of their own.
const SMALL_BLOB: u64 = 1024 * 1024;
/// Small blobs transferred at once.
const SMALL_BLOB_CONCURRENCY: usize = 8;
/// Blob transfer rate assumed when a blob's time allowance is computed: a blob gets the
/// client's request timeout plus one second per MiB.
const ASSUMED_BYTES_PER_SECOND: u64 = 1024 * 1024;

/// Which kinds of evidence a copy carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceKinds {
    /// cosign signatures (`sha256-<hex>.sig`).
    pub signatures: bool,
    /// cosign attestations (`sha256-<hex>.att`).
    pub attestations: bool,
    /// cosign SBOM attachments (`sha256-<hex>.sbom`).
    pub sboms: bool,
    /// OCI 1.1 referrers (Sigstore bundles and any other artifact about the image).
    pub referrers: bool,
}

impl EvidenceKinds {
    /// Every kind.
    pub const ALL: Self = Self {
        signatures: true,
        attestations: true,
        sboms: true,
        referrers: true,
    };

    /// The cosign tags wanted, each with how its name is made from a digest.
    fn tags(self) -> impl Iterator<Item = (EvidenceKind, TagOf)> {
        let tags: [(bool, EvidenceKind, TagOf); 3] = [
            (self.signatures, EvidenceKind::Signatures, |d| {
                Attachment::Signatures.tag(d)
            }),
            (self.attestations, EvidenceKind::Attestations, |d| {
                Attachment::Attestations.tag(d)
            }),
            (self.sboms, EvidenceKind::Sboms, sbom_tag),
        ];
        tags.into_iter()
            .filter_map(|(wanted, kind, tag)| wanted.then_some((kind, tag)))
    }
}

/// How a cosign tag's name is made from the digest it is about.
type TagOf = fn(&Digest) -> String;

/// What a copy does.
#[derive(Clone)]
pub struct CopyOptions {
    /// Copy the image itself (its manifests and blobs) and tag it. Without it, only the
    /// evidence is copied (cosign's `copy --only`), for an image already at the destination.
    pub image: bool,
    /// Which evidence to carry.
    pub evidence: EvidenceKinds,
    /// Copy only this platform's manifest of an index (it becomes the image at the
    /// destination, with the evidence about it); `None` copies the whole index.
    pub platform: Option<PlatformSpec>,
    /// Point the destination tag at the image even when it names another image.
    pub force: bool,
    /// Blobs transferred at once.
    pub concurrency: usize,
    /// Told about each blob as it is copied (a progress bar).
    pub progress: Option<Arc<dyn CopyProgress>>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            image: true,
            evidence: EvidenceKinds::ALL,
            platform: None,
            force: false,
            concurrency: 4,
            progress: None,
        }
    }
}

impl std::fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("image", &self.image)
            .field("evidence", &self.evidence)
            .field("platform", &self.platform)
            .field("force", &self.force)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Receives the progress of a copy's blob transfers. Called from the copy's tasks; must not
/// block.
pub trait CopyProgress: Send + Sync {
    /// A blob of `size` bytes is about to be sent.
    fn blob_started(&self, size: u64);
    /// `bytes` more bytes were sent.
    fn bytes_sent(&self, bytes: u64);
    /// A blob needed no sending: the destination has it, or mounted it.
    fn blob_skipped(&self, size: u64);
}

/// Which kind of evidence a [`CopiedEvidence`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A cosign `.sig` tag.
    Signatures,
    /// A cosign `.att` tag.
    Attestations,
    /// A cosign `.sbom` tag.
    Sboms,
    /// An OCI 1.1 referrer.
    Referrer,
}

impl EvidenceKind {
    /// `signatures`, `attestations`, `sboms` or `referrer`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Signatures => "signatures",
            Self::Attestations => "attestations",
            Self::Sboms => "sboms",
            Self::Referrer => "referrer",
        }
    }
}

/// What happened to one piece of evidence at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceOutcome {
    /// It was not there and was stored as it is.
    Written,
    /// The destination's tag held other layers; the source's missing ones were added.
    Merged,
    /// The destination already had it.
    Unchanged,
}

impl EvidenceOutcome {
    /// `written`, `merged` or `unchanged`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Written => "written",
            Self::Merged => "merged",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One piece of evidence a copy carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedEvidence {
    /// The manifest it is about.
    pub subject: Digest,
    /// Its kind.
    pub kind: EvidenceKind,
    /// The tag (cosign's layout) or the referrer manifest's digest.
    pub name: String,
    /// A referrer's artifact type.
    pub artifact_type: Option<String>,
    /// What happened at the destination.
    pub outcome: EvidenceOutcome,
    /// How deep: 1 for evidence about the image, 2 for evidence about that, ...
    pub depth: usize,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source, as named.
    pub source: String,
    /// The destination image, by tag when it has one.
    pub destination: String,
    /// The image's digest (the platform manifest's, with [`CopyOptions::platform`]).
    pub digest: Digest,
    /// The destination tag, when the image was tagged.
    pub tag: Option<String>,
    /// True when the destination tag was written (false when it already named the image).
    pub tag_written: bool,
    /// Manifests stored at the destination.
    pub manifests_written: usize,
    /// Manifests the destination already had.
    pub manifests_present: usize,
    /// Blobs sent.
    pub blobs_sent: usize,
    /// Blobs the destination mounted from the source repository.
    pub blobs_mounted: usize,
    /// Blobs the destination already had.
    pub blobs_present: usize,
    /// Bytes of blobs sent.
    pub bytes_sent: u64,
    /// The evidence carried, in the order found.
    pub evidence: Vec<CopiedEvidence>,
    /// Things the operator should know (a referrer listed without `artifactType`, a
    /// non-distributable layer left behind).
    pub notes: Vec<String>,
}

impl CopyReport {
    /// True when the copy stored nothing at the destination.
    pub fn unchanged(&self) -> bool {
        !self.tag_written
            && self.manifests_written == 0
            && self.blobs_sent == 0
            && self.blobs_mounted == 0
            && self
                .evidence
                .iter()
                .all(|e| e.outcome == EvidenceOutcome::Unchanged)
    }
}

/// Opens the destination of a copy: a registry repository, or an OCI layout, created (with
/// its directory) when `oci:DIR` does not exist yet. A directory that exists and is neither
/// empty nor a layout is refused. A layout created here comes with its [`CreatedLayout`],
/// which removes it again if the copy fails before writing into it.
pub fn open_destination(
    client: &RegistryClient,
    image: &ImageReference,
) -> Result<(Target, Option<CreatedLayout>), RegistryError> {
    let mut created = None;
    if let ImageReference::Layout(layout) = image {
        let root = &layout.path;
        let (empty_or_missing, missing) = match std::fs::read_dir(root) {
            Ok(mut entries) => (entries.next().is_none(), false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (true, true),
            Err(_) => (false, false),
        };
        if empty_or_missing {
            created = Some(CreatedLayout {
                layout: Some(Layout::create(root)?),
                made_root: missing,
            });
        }
    }
    Ok((Store::open(client, image)?, created))
}

/// An OCI layout [`open_destination`] created for a copy. Dropped without
/// [`CreatedLayout::keep`] (the copy failed, or was stopped at its deadline), it removes the
/// layout again if nothing was written into it, and its directory if it made it: a copy
/// refused before its first write leaves nothing behind.
pub struct CreatedLayout {
    layout: Option<Layout>,
    made_root: bool,
}

impl CreatedLayout {
    /// Keeps the layout: the copy succeeded.
    pub fn keep(mut self) {
        self.layout = None;
    }
}

impl Drop for CreatedLayout {
    fn drop(&mut self) {
        if let Some(layout) = self.layout.take()
            && let Err(e) = layout.remove_if_unused(self.made_root)
        {
            tracing::warn!(
                "the layout {} created for the copy was not removed: {e}",
                layout.root().display()
            );
        }
    }
}

/// Copies the image `source` names, and the evidence about it that `options` asks for, to
/// `destination` (see the module docs for what is guaranteed). The destination's tag is the
/// one it names, else the source's; an image named by digest alone is stored by digest
/// (listed untagged in a layout). A destination named by digest must name the image's.
pub async fn copy(
    source: &Target,
    destination: &Target,
    options: &CopyOptions,
) -> Result<CopyReport, RegistryError> {
    let resolved = source.resolve().await?;
    let top = match &options.platform {
        Some(platform) => {
            let (fetched, _) =
                crate::layers::image_manifest(&source.store, &resolved.manifest, platform).await?;
            fetched
        }
        None => resolved.manifest,
    };
    let tag = match (&destination.manifest, &source.manifest) {
        (ManifestRef::Tag(tag), _) => Some(tag.clone()),
        (ManifestRef::Digest(digest), _) => {
            if *digest != top.digest {
                return Err(RegistryError::CopyRefused {
                    destination: destination.describe(),
                    reason: format!("the image to copy is {}, not that digest", top.digest),
                });
            }
            None
        }
        (ManifestRef::Default, ManifestRef::Tag(tag)) => Some(tag.clone()),
        (ManifestRef::Default, ManifestRef::Default) => match &source.store {
            Store::Registry { .. } => Some("latest".to_owned()),
            // A layout's only image, by the name its index gives it, if any.
            Store::Layout { layout, .. } => layout
                .sole_image()?
                .annotations
                .get(crate::manifest::REF_NAME_ANNOTATION)
                .cloned(),
        },
        (ManifestRef::Default, ManifestRef::Digest(_)) => None,
    };
    let dst = &destination.store;
    let copier = Copier {
        source: &source.store,
        destination: dst,
        options,
        blobs: Mutex::default(),
        manifests: Mutex::default(),
        semaphore: tokio::sync::Semaphore::new(options.concurrency.max(1)),
        small: tokio::sync::Semaphore::new(SMALL_BLOB_CONCURRENCY),
        counts: Counts::default(),
        evidence: Mutex::default(),
        notes: Mutex::default(),
        pending: Mutex::default(),
    };

    // A tag naming another image is refused before anything is stored.
    let mut tag_current = None;
    if options.image
        && let Some(tag) = &tag
        && let Some(current) = dst.manifest(&ManifestRef::Tag(tag.clone())).await?
    {
        if current.digest != top.digest && !options.force {
            return Err(RegistryError::CopyRefused {
                destination: dst.describe(&ManifestRef::Tag(tag.clone())),
                reason: format!(
                    "the tag names {}, not the image copied ({}); use --force to move it",
                    current.digest, top.digest
                ),
            });
        }
        tag_current = Some(current.digest);
    }

    // The manifests evidence may be about: the image, and each platform of an index.
    let mut subjects = vec![top.digest.clone()];
    if let Manifest::Index(index) = top.parse()? {
        subjects.extend(index.manifests.iter().map(|m| m.digest.clone()));
    }

    // The evidence first: its small writes land before the image's layers load the
    // destination, and their settling delays (checks against concurrent writers) then run
    // while the layers stream. The tag is written once both are done.
    let mut evidence = Vec::with_capacity(subjects.len());
    for subject in subjects {
        evidence.push(copier.evidence(subject, 1));
    }
    try_join_all(evidence).await?;
    let pending = std::mem::take(
        &mut *copier
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let image = async {
        if options.image {
            copier
                .manifest(top.digest.clone(), None, Some(top.clone()))
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    tokio::try_join!(image, try_join_all(pending))?;

    let mut tag_written = false;
    if options.image {
        match (&tag, dst) {
            (Some(tag), _) if tag_current.as_ref() == Some(&top.digest) => {}
            (Some(tag), Store::Registry { .. }) => {
                dst.put_manifest(tag, &media_type_of(&top, None), &top.bytes)
                    .await?;
                tag_written = true;
            }
            (Some(tag), Store::Layout { layout, .. }) => {
                layout.set_tag(
                    tag,
                    Descriptor {
                        media_type: media_type_of(&top, None),
                        digest: top.digest.clone(),
                        size: top.bytes.len() as u64,
                        annotations: Default::default(),
                        platform: None,
                        extra: Default::default(),
                    },
                )?;
                tag_written = true;
            }
            (None, Store::Layout { layout, .. }) => {
                layout.add_untagged(Descriptor::of(&media_type_of(&top, None), &top.bytes))?;
            }
            (None, Store::Registry { .. }) => {}
        }
    }

    let counts = &copier.counts;
    let mut evidence = copier
        .evidence
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    evidence.sort_by(|a, b| (a.depth, &a.subject, &a.name).cmp(&(b.depth, &b.subject, &b.name)));
    Ok(CopyReport {
        source: source.describe(),
        destination: match &tag {
            Some(tag) => dst.describe(&ManifestRef::Tag(tag.clone())),
            None => dst.describe(&ManifestRef::Digest(top.digest.clone())),
        },
        digest: top.digest,
        tag,
        tag_written,
        manifests_written: counts.manifests_written.load(Ordering::Relaxed),
        manifests_present: counts.manifests_present.load(Ordering::Relaxed),
        blobs_sent: counts.blobs_sent.load(Ordering::Relaxed),
        blobs_mounted: counts.blobs_mounted.load(Ordering::Relaxed),
        blobs_present: counts.blobs_present.load(Ordering::Relaxed),
        bytes_sent: counts.bytes_sent.load(Ordering::Relaxed),
        evidence,
        notes: copier
            .notes
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    })
}

#[derive(Default)]
struct Counts {
    manifests_written: AtomicUsize,
    manifests_present: AtomicUsize,
    blobs_sent: AtomicUsize,
    blobs_mounted: AtomicUsize,
    blobs_present: AtomicUsize,
    bytes_sent: AtomicU64,
}

/// A blob once copied (or found present) by this copy: later requests for it wait for the
/// first and do not send it again.
type BlobDone = Arc<tokio::sync::OnceCell<()>>;

struct Copier<'a> {
    source: &'a Store,
    destination: &'a Store,
    options: &'a CopyOptions,
    blobs: Mutex<HashMap<Digest, BlobDone>>,
    /// Every manifest walked, to bound the walk and visit each once.
    manifests: Mutex<BTreeSet<Digest>>,
    /// Permits for blob transfers ([`CopyOptions::concurrency`]).
    semaphore: tokio::sync::Semaphore,
    /// Permits for blobs of at most [`SMALL_BLOB`] bytes (signature payloads, envelopes,
    /// bundles, configs): they do not queue behind an image's large layers, so the evidence
    /// is stored while the layers still stream.
    small: tokio::sync::Semaphore,
    counts: Counts,
    evidence: Mutex<Vec<CopiedEvidence>>,
    notes: Mutex<Vec<String>>,
    /// Confirmations of tag and index writes, run while the image is copied.
    pending: Mutex<Vec<Pending>>,
}

impl Copier<'_> {
    fn note(&self, note: String) {
        let mut notes = self
            .notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// Counts `digest` against [`MAX_MANIFESTS`]; false when it was walked already.
    fn first_visit(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let mut seen = self
            .manifests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(digest) {
            return Ok(false);
        }
        if seen.len() >= MAX_MANIFESTS {
            return Err(RegistryError::CopyRefused {
                destination: self.destination.describe(&ManifestRef::Default),
                reason: format!(
                    "the image and its evidence hold more than {MAX_MANIFESTS} manifests"
                ),
            });
        }
        seen.insert(digest.clone());
        Ok(true)
    }

    /// Copies the manifest `digest` (given when already fetched) with everything it names,
    /// children first, unless the destination has it; true when it had it (false too when
    /// this copy walked it already).
    ///
    /// `listed_type` is the media type the manifest was listed with (an index entry, a
    /// referrers listing): a manifest that states none, read from a layout, is stored with it.
    fn manifest(
        &self,
        digest: Digest,
        listed_type: Option<String>,
        fetched: Option<FetchedManifest>,
    ) -> BoxFuture<'_, Result<bool, RegistryError>> {
        Box::pin(async move {
            if !self.first_visit(&digest)? {
                return Ok(false);
            }
            if self.destination.has_manifest(&digest).await? {
                self.counts
                    .manifests_present
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            let fetched = match fetched {
                Some(fetched) => fetched,
                None => self.fetch(&digest).await?,
            };
            match fetched.parse()? {
                Manifest::Image(manifest) => {
                    let mut blobs = vec![manifest.config.clone()];
                    for layer in &manifest.layers {
                        if is_non_distributable(layer) {
                            self.note(format!(
                                "layer {} of {} is non-distributable ({}) and was not copied, \
                                 as skopeo and docker leave it",
                                layer.digest, digest, layer.media_type
                            ));
                        } else {
                            blobs.push(layer.clone());
                        }
                    }
                    // At most `concurrency` transfer at once: the semaphore in `blob`.
                    let mut copies = Vec::with_capacity(blobs.len());
                    for blob in blobs {
                        copies.push(self.blob(blob));
                    }
                    try_join_all(copies).await?;
                }
                Manifest::Index(index) => {
                    let mut children = Vec::with_capacity(index.manifests.len());
                    for child in &index.manifests {
                        children.push(self.manifest(
                            child.digest.clone(),
                            Some(child.media_type.clone()),
                            None,
                        ));
                    }
                    try_join_all(children).await?;
                }
            }
            let media_type = media_type_of(&fetched, listed_type.as_deref());
            self.destination
                .put_manifest_by_digest(&media_type, &fetched.bytes)
                .await?;
            self.counts
                .manifests_written
                .fetch_add(1, Ordering::Relaxed);
            Ok(false)
        })
    }

    async fn fetch(&self, digest: &Digest) -> Result<FetchedManifest, RegistryError> {
        let manifest_ref = ManifestRef::Digest(digest.clone());
        self.source
            .manifest(&manifest_ref)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("manifest {}", self.source.describe(&manifest_ref)),
            })
    }

    /// Copies one blob unless the destination has it (once per copy, whoever asks).
    async fn blob(&self, descriptor: Descriptor) -> Result<(), RegistryError> {
        let cell = self
            .blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(descriptor.digest.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let permits = if descriptor.size <= SMALL_BLOB {
                &self.small
            } else {
                &self.semaphore
            };
            let _permit = permits.acquire().await.map_err(|_| RegistryError::Io {
                path: "copy".into(),
                source: std::io::Error::other("the copy was stopped"),
            })?;
            self.transfer(&descriptor).await
        })
        .await
        .map(|_| ())
    }

    async fn transfer(&self, descriptor: &Descriptor) -> Result<(), RegistryError> {
        let progress = self.options.progress.as_deref();
        if self.destination.has_blob(&descriptor.digest).await? {
            self.counts.blobs_present.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = progress {
                p.blob_skipped(descriptor.size);
            }
            return Ok(());
        }
        match self.destination {
            Store::Registry { client, repository } => {
                let mount_from = match self.source {
                    Store::Registry {
                        repository: from, ..
                    } if from.api_host() == repository.api_host()
                        && from.repository() != repository.repository() =>
                    {
                        Some(from.repository())
                    }
                    _ => None,
                };
                let timeout = client.options().timeout
                    + Duration::from_secs(descriptor.size / ASSUMED_BYTES_PER_SECOND);
                let mounted = crate::client::retrying(client.options(), || {
                    self.upload_once(client, repository, descriptor, mount_from, timeout)
                })
                .await?;
                if mounted {
                    self.counts.blobs_mounted.fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = progress {
                        p.blob_skipped(descriptor.size);
                    }
                    return Ok(());
                }
            }
            Store::Layout { layout, .. } => {
                let mut stream = self.source.stream_blob(descriptor).await?;
                if let Some(p) = progress {
                    p.blob_started(descriptor.size);
                }
                let mut writer = layout.blob_writer(descriptor)?;
                while let Some(chunk) = stream.next_chunk().await? {
                    writer.write(&chunk)?;
                    if let Some(p) = progress {
                        p.bytes_sent(chunk.len() as u64);
                    }
                }
                writer.finish()?;
            }
        }
        self.counts.blobs_sent.fetch_add(1, Ordering::Relaxed);
        self.counts
            .bytes_sent
            .fetch_add(descriptor.size, Ordering::Relaxed);
        Ok(())
    }

    /// Uploads (or mounts) one blob into a registry, once (the caller starts over on a
    /// transient failure); true when it was mounted.
    async fn upload_once(
        &self,
        client: &RegistryClient,
        repository: &crate::reference::Reference,
        descriptor: &Descriptor,
        mount_from: Option<&str>,
        timeout: Duration,
    ) -> Result<bool, RegistryError> {
        let progress = self.options.progress.as_deref();
        let url = match client
            .start_upload(repository, &descriptor.digest, mount_from)
            .await?
        {
            UploadStart::Mounted => return Ok(true),
            UploadStart::Session(url) => url,
        };
        let stream = self.source.stream_blob(descriptor).await?;
        if let Some(p) = progress {
            p.blob_started(descriptor.size);
        }
        let failure = Arc::new(Mutex::new(None));
        let body = upload_body(stream, self.options.progress.clone(), failure.clone());
        let sent = client
            .finish_upload(repository, url, &descriptor.digest, body, timeout)
            .await;
        // A source that broke off or sent other bytes is the error to report,
        // not the upload it cut short.
        let failure = failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match (sent, failure) {
            (_, Some(failure)) => Err(failure),
            (Err(e), None) => Err(e),
            (Ok(()), None) => Ok(false),
        }
    }

    /// Copies the evidence about the manifest `subject` that the options ask for, and, up to
    /// [`MAX_EVIDENCE_DEPTH`], the evidence about each referrer copied.
    fn evidence(&self, subject: Digest, depth: usize) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move {
            let mut tags = Vec::new();
            for (kind, tag_of) in self.options.evidence.tags() {
                tags.push(self.tag(&subject, kind, tag_of, depth));
            }
            let referrers = async {
                if self.options.evidence.referrers {
                    self.referrers(&subject, depth).await
                } else {
                    Ok(())
                }
            };
            tokio::try_join!(try_join_all(tags), referrers).map(|_| ())
        })
    }

    /// Keeps the confirmation of a write, to run while the image is copied.
    fn defer(&self, pending: Option<Pending>) {
        if let Some(pending) = pending {
            self.pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(pending);
        }
    }

    fn record(&self, evidence: CopiedEvidence) {
        self.evidence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(evidence);
    }

    /// Copies cosign's `kind` tag of `subject` (named by `tag_of`), merged into the
    /// destination's.
    async fn tag(
        &self,
        subject: &Digest,
        kind: EvidenceKind,
        tag_of: TagOf,
        depth: usize,
    ) -> Result<(), RegistryError> {
        let tag = tag_of(subject);
        let Some(fetched) = self.source.manifest(&ManifestRef::Tag(tag.clone())).await? else {
            return Ok(());
        };
        if let Manifest::Index(_) = fetched.parse()? {
            return Err(RegistryError::BadManifest {
                what: self.source.describe(&ManifestRef::Tag(tag)),
                reason: "a cosign tag must hold an image manifest, not an index".into(),
            });
        }
        self.manifest(fetched.digest.clone(), None, Some(fetched.clone()))
            .await?;
        let (merged, pending) = merge_attachment(self.destination, &tag, &fetched).await?;
        self.defer(pending);
        let outcome = match merged {
            Merged::Written => EvidenceOutcome::Written,
            Merged::Added => EvidenceOutcome::Merged,
            Merged::Unchanged => EvidenceOutcome::Unchanged,
        };
        self.record(CopiedEvidence {
            subject: subject.clone(),
            kind,
            name: tag,
            artifact_type: None,
            outcome,
            depth,
        });
        Ok(())
    }

    /// Copies the referrers of `subject` and records them for the destination's listing.
    async fn referrers(&self, subject: &Digest, depth: usize) -> Result<(), RegistryError> {
        let listed = referrers::list_referrers(self.source, subject, None).await?;
        if listed.is_empty() {
            return Ok(());
        }
        for referrer in listed.iter().filter(|r| r.artifact_type_from_manifest) {
            self.note(format!(
                "referrer {} of {subject} is listed without artifactType in the {}; its type \
                 ({}) was read from the referrer manifest, and the copy lists it with it",
                referrer.descriptor.digest,
                match referrer.source {
                    ReferrerSource::Api => "referrers API",
                    ReferrerSource::TagSchema => "referrers tag schema index",
                },
                referrer.artifact_type().unwrap_or_default()
            ));
        }
        let mut copies = Vec::with_capacity(listed.len());
        for referrer in &listed {
            let listed = &referrer.descriptor;
            copies.push(self.manifest(
                listed.digest.clone(),
                Some(listed.media_type.clone()),
                None,
            ));
        }
        let present = try_join_all(copies).await?;
        // A destination with the referrers API lists what was stored with a subject; one
        // without gets the tag schema index, merged with what it lists already.
        let by_api = match self.destination {
            Store::Registry { .. } => {
                self.destination
                    .referrers_api(subject, None)
                    .await?
                    .map(|index| {
                        index
                            .manifests
                            .into_iter()
                            .map(|d| d.digest)
                            .collect::<BTreeSet<_>>()
                    })
            }
            Store::Layout { .. } => None,
        };
        let index_unchanged = match by_api {
            Some(api) => {
                if let Some(missing) = listed.iter().find(|r| !api.contains(&r.descriptor.digest)) {
                    return Err(RegistryError::CopyRefused {
                        destination: self.destination.describe(&ManifestRef::Default),
                        reason: format!(
                            "its referrers API does not list {} as a referrer of {subject} \
                             after it was stored",
                            missing.descriptor.digest
                        ),
                    });
                }
                true
            }
            None => {
                let descriptors: Vec<Descriptor> =
                    listed.iter().map(|r| r.descriptor.clone()).collect();
                let (already, pending) =
                    referrers::begin_listing_in_tag_schema(self.destination, subject, &descriptors)
                        .await?;
                self.defer(pending);
                already
            }
        };
        for (referrer, present) in listed.iter().zip(present) {
            self.record(CopiedEvidence {
                subject: subject.clone(),
                kind: EvidenceKind::Referrer,
                name: referrer.descriptor.digest.to_string(),
                artifact_type: referrer.artifact_type().map(str::to_owned),
                outcome: if present && index_unchanged {
                    EvidenceOutcome::Unchanged
                } else {
                    EvidenceOutcome::Written
                },
                depth,
            });
        }
        if depth < MAX_EVIDENCE_DEPTH {
            let mut deeper = Vec::with_capacity(listed.len());
            for referrer in &listed {
                deeper.push(self.evidence(referrer.descriptor.digest.clone(), depth + 1));
            }
            try_join_all(deeper).await?;
        }
        Ok(())
    }
}

/// The media type to store `fetched` with: the one it was fetched with (a registry's
/// `Content-Type`, the manifest's own `mediaType`, a layout's index entry), else the one it
/// was listed with, else what its fields make it (`manifests`: an OCI index; otherwise an OCI
/// image manifest), as a registry needs one to accept it.
fn media_type_of(fetched: &FetchedManifest, listed: Option<&str>) -> String {
    if !fetched.media_type.is_empty() {
        return fetched.media_type.clone();
    }
    if let Some(listed) = listed.filter(|l| !l.is_empty()) {
        return listed.to_owned();
    }
    let is_index = serde_json::from_slice::<serde_json::Value>(&fetched.bytes)
        .ok()
        .is_some_and(|v| v.get("manifests").is_some());
    if is_index {
        media_types::OCI_INDEX
    } else {
        media_types::OCI_MANIFEST
    }
    .to_owned()
}

/// True for layers that registries and copiers leave where they are (docker's foreign
/// layers, OCI's deprecated non-distributable ones), which name URLs to fetch them from.
fn is_non_distributable(layer: &Descriptor) -> bool {
    layer.media_type.contains("foreign") || layer.media_type.contains("nondistributable")
}

/// The body of an upload, streamed from `stream`: each piece is held back until the next one
/// arrives, and the last until the source's size and digest are confirmed, so a source that
/// sends other bytes, too many or too few never completes an upload. Its failure is put in
/// `failure` for the caller to report.
fn upload_body(
    stream: BlobStream,
    progress: Option<Arc<dyn CopyProgress>>,
    failure: Arc<Mutex<Option<RegistryError>>>,
) -> reqwest::Body {
    struct State {
        stream: BlobStream,
        held: Option<Bytes>,
        done: bool,
        failure: Arc<Mutex<Option<RegistryError>>>,
        progress: Option<Arc<dyn CopyProgress>>,
    }
    impl State {
        fn give(self, piece: Bytes) -> Option<(Result<Bytes, std::io::Error>, Self)> {
            if let Some(p) = &self.progress {
                p.bytes_sent(piece.len() as u64);
            }
            Some((Ok(piece), self))
        }
    }
    let state = State {
        stream,
        held: None,
        done: false,
        failure,
        progress,
    };
    let pieces = futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            match state.stream.next_chunk().await {
                Ok(Some(chunk)) if chunk.is_empty() => {}
                Ok(Some(chunk)) => {
                    if let Some(previous) = state.held.replace(chunk) {
                        return state.give(previous);
                    }
                }
                Ok(None) => {
                    state.done = true;
                    let last = state.held.take()?;
                    return state.give(last);
                }
                Err(e) => {
                    state.done = true;
                    let message = e.to_string();
                    *state
                        .failure
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                    return Some((Err(std::io::Error::other(message)), state));
                }
            }
        }
    });
    reqwest::Body::wrap_stream(pieces)
}
