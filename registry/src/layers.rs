//! An image's files, read straight from its layer blobs: no container engine, nothing
//! unpacked to disk.
//!
//! Each layer blob is streamed (from the registry or the layout), its size and digest checked
//! as it goes by, decompressed (gzip or zstd, recognized by their magic bytes; plain tar
//! otherwise), and its tar entries offered to a [`FileVisitor`] by path and size. The visitor
//! reads the files it wants as they stream past and keeps whatever small result it likes;
//! nothing else is kept but the paths each layer adds or deletes. Layers are read in
//! parallel. The results are then combined into the final filesystem as the OCI image-spec
//! (`layer.md`) defines it: a later layer's file replaces an earlier one at the same path or
//! under a path it makes a non-directory, a whiteout `.wh.NAME` deletes `NAME` (and all under
//! it) from the layers below, an opaque marker `.wh..wh..opq` empties its directory of what
//! the layers below put there.
//!
//! Entries are never written anywhere, so hostile paths cannot escape a root: a path with a
//! `..` component is skipped with a warning, and symbolic links are never followed (a link
//! at a path the visitor wants is reported as a warning).
//!
//! The work a hostile layer can cause is bounded by [`LayerLimits`]: tar headers are read by
//! a small reader of this module (POSIX ustar and pax, GNU long names and sparse files) that
//! never holds more of an extension header than [`MAX_NAME_BYTES`] or
//! [`MAX_PAX_HEADER_BYTES`] (a member described by a longer one is skipped with a warning),
//! and a compressed layer may not decompress to more than its share
//! ([`MIN_LAYER_EXPANSION_BYTES`], [`LAYER_EXPANSION_RATIO`]) nor the image's layers to more
//! than [`MAX_IMAGE_EXPANSION_BYTES`] together ([`RegistryError::LayerTooLarge`]). What is
//! kept of the layers is bounded too: the paths they list, [`MAX_PATH_BYTES`] for the image
//! ([`RegistryError::LayerContent`] past it), and their warnings, [`MAX_LAYER_WARNINGS`] a
//! layer (the rest counted in one more).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use vouch_keys::Digest;

use crate::RegistryError;
use crate::manifest::{Descriptor, FetchedManifest, ImageManifest, Manifest, Platform};
use crate::store::{BlobSource, ManifestRef, Store};

mod tar_reader;
use tar_reader::*;

/// Reads the files it wants out of the layers as they stream by.
pub trait FileVisitor: Send + Sync + 'static {
    /// What the visitor keeps of one file.
    type Output: Clone + Send + 'static;

    /// Whether to read the regular file at `path` (relative to the root, no leading `/`),
    /// `size` bytes long. Called for every regular file of every layer: must be cheap.
    fn wants(&self, path: &str, size: u64) -> bool;

    /// Reads the file: `contents` yields at most `size` bytes. Whatever is not read is
    /// skipped.
    fn visit(&self, path: &str, size: u64, contents: &mut dyn Read) -> Self::Output;
}

/// Called with the number of compressed bytes read since the last call, from any thread.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How [`walk_layers`] reads.
#[derive(Clone, Default)]
pub struct WalkOptions {
    /// How many layers are read at once; 0 means one per CPU.
    pub parallel_layers: usize,
    /// Told of the bytes read, for a progress bar.
    pub progress: Option<Progress>,
}

/// The longest name read from a GNU long name or long link name (`L`/`K` member, its size
/// with the closing NUL) or a pax `path`/`linkpath` record, in bytes: 64 KiB, 16 times
/// Linux's `PATH_MAX`. A member with a longer name is skipped with a warning, the name never
/// held in memory.
pub const MAX_NAME_BYTES: u64 = 64 * 1024;

/// The largest pax extended header (`x` member) read, in bytes: 1 MiB. Real ones hold a
/// path, times and extended attributes (SELinux labels, capabilities, ACLs: a few KiB). The
/// member a larger one describes is skipped with a warning; the header is read through for
/// its `size` record only (so the member's data is skipped by the length a runtime would
/// use), never held in memory. Global headers (`g`) are skipped unread whatever their size,
/// as container runtimes ignore them.
pub const MAX_PAX_HEADER_BYTES: u64 = 1024 * 1024;

/// What any compressed (gzip, zstd) layer may decompress to, in bytes, however small it is:
/// 4 GiB, about a second or two of decompression.
pub const MIN_LAYER_EXPANSION_BYTES: u64 = 4 << 30;

/// How many times its compressed size a compressed layer may decompress to, when that is
/// more than [`MIN_LAYER_EXPANSION_BYTES`]: 100. Layers of real images expand 2 to 10 times;
/// a long run of one byte is what reaches 100 (gzip can reach about 1,000, zstd about
/// 30,000: a zstd layer of 100 MiB can stand for 3 TiB).
pub const LAYER_EXPANSION_RATIO: u64 = 100;

/// What the compressed layers of one image may decompress to together, in bytes: 32 GiB.
/// Plain tar layers are not counted: their size is their descriptor's, read as it is.
pub const MAX_IMAGE_EXPANSION_BYTES: u64 = 32 << 30;

/// What the paths kept of an image's layers may add up to, in bytes: 128 MiB, about 1.2
/// million paths of 64 bytes, each counted with [`PATH_OVERHEAD_BYTES`] more. Real images
/// have a few thousand to a few hundred thousand files. Every non-directory path of a layer
/// is kept until the layer is stacked on those below it (each hides what they have there),
/// so is every whiteout and opaque directory, and a path the visitor read is kept twice more
/// (with what it kept): a layer that expands to 4 GiB of entries named by 64 KiB GNU long
/// names would otherwise keep 4 GiB of names. Past it, the walk fails
/// ([`RegistryError::LayerContent`], naming the limit).
pub const MAX_PATH_BYTES: u64 = 128 << 20;

/// What each path kept counts for beside its bytes, against [`LayerLimits::max_path_bytes`]:
/// 48 bytes, about what the `String` holding it and its allocation cost, so that millions of
/// one-byte names are bounded too.
pub const PATH_OVERHEAD_BYTES: u64 = 48;

/// How many warnings (entries skipped, sparse files not read, links not followed) are kept
/// of one layer: 100. Past them, one more warning says how many more there were.
pub const MAX_LAYER_WARNINGS: usize = 100;

/// Bounds on the work that hostile layers can cause [`walk_layers`]. The defaults are the
/// constants of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerLimits {
    /// The longest GNU long name, long link name or pax `path`/`linkpath` read; a member with
    /// a longer one is skipped with a warning.
    pub max_name_bytes: u64,
    /// The largest pax extended header read; the member a larger one describes is skipped
    /// with a warning.
    pub max_pax_header_bytes: u64,
    /// What any compressed layer may decompress to.
    pub min_layer_expansion_bytes: u64,
    /// How many times its compressed size a compressed layer may decompress to, when that is
    /// more than `min_layer_expansion_bytes`.
    pub layer_expansion_ratio: u64,
    /// What all compressed layers of the image may decompress to together.
    pub max_image_expansion_bytes: u64,
    /// What the paths kept of all the image's layers may add up to, each counted with
    /// [`PATH_OVERHEAD_BYTES`] more; past it the walk fails.
    pub max_path_bytes: u64,
    /// How many warnings are kept of one layer; the rest are counted in one more.
    pub max_layer_warnings: usize,
}

impl Default for LayerLimits {
    fn default() -> Self {
        Self {
            max_name_bytes: MAX_NAME_BYTES,
            max_pax_header_bytes: MAX_PAX_HEADER_BYTES,
            min_layer_expansion_bytes: MIN_LAYER_EXPANSION_BYTES,
            layer_expansion_ratio: LAYER_EXPANSION_RATIO,
            max_image_expansion_bytes: MAX_IMAGE_EXPANSION_BYTES,
            max_path_bytes: MAX_PATH_BYTES,
            max_layer_warnings: MAX_LAYER_WARNINGS,
        }
    }
}

impl LayerLimits {
    /// What a compressed layer of `compressed` bytes may decompress to.
    pub fn layer_expansion_bytes(&self, compressed: u64) -> u64 {
        self.min_layer_expansion_bytes
            .max(compressed.saturating_mul(self.layer_expansion_ratio))
    }
}

/// Which expansion limit of [`LayerLimits`] a layer went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpansionScope {
    /// The layer's own: [`LayerLimits::layer_expansion_bytes`].
    Layer,
    /// The image's, all layers together: [`LayerLimits::max_image_expansion_bytes`].
    Image,
}

impl std::fmt::Display for ExpansionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExpansionScope::Layer => "per-layer",
            ExpansionScope::Image => "per-image (all layers together)",
        })
    }
}

/// A file of the final filesystem that the visitor read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile<O> {
    /// The layer that holds it in the final filesystem.
    pub layer: Digest,
    /// Its path, relative, no leading `/`.
    pub path: String,
    /// What the visitor kept of it.
    pub output: O,
}

/// What [`walk_layers`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFiles<O> {
    /// The visited files that survive in the final filesystem, sorted by path.
    pub files: Vec<FoundFile<O>>,
    /// Entries skipped and links not followed, one sentence each.
    pub warnings: Vec<String>,
    /// Compressed bytes read (the layers' total size).
    pub compressed_bytes: u64,
    /// Uncompressed tar bytes read.
    pub tar_bytes: u64,
}

/// A platform to choose from a multi-platform index: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v8`, `v7`, ... when asked for.
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Self {
                    os: (*os).to_owned(),
                    architecture: (*arch).to_owned(),
                    variant: Some((*variant).to_owned()),
                })
            }
            _ => Err(format!("platform \"{text}\" is not os/arch[/variant]")),
        }
    }

    /// The platform of this machine, in OCI terms (`linux/amd64` on x86-64 Linux).
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    fn matches(&self, platform: &Platform) -> bool {
        platform.os == self.os
            && platform.architecture == self.architecture
            && self
                .variant
                .as_ref()
                .is_none_or(|v| platform.variant.as_deref() == Some(v))
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The image manifest to read for `fetched`, as fetched (digest, media type, bytes) and
/// parsed: `fetched` itself when it is an image manifest, else the entry of the index for
/// `platform` (fetched and checked by digest). Refuses an index with no entry for the
/// platform ([`RegistryError::NoPlatform`]).
pub async fn image_manifest(
    store: &Store,
    fetched: &FetchedManifest,
    platform: &PlatformSpec,
) -> Result<(FetchedManifest, ImageManifest), RegistryError> {
    let index = match fetched.parse()? {
        Manifest::Image(manifest) => return Ok((fetched.clone(), *manifest)),
        Manifest::Index(index) => index,
    };
    let what = store.describe(&ManifestRef::Digest(fetched.digest.clone()));
    let entry = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .ok_or_else(|| RegistryError::NoPlatform {
            what: what.clone(),
            platform: platform.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let manifest_ref = ManifestRef::Digest(entry.digest.clone());
    let child = store
        .manifest(&manifest_ref)
        .await?
        .ok_or_else(|| RegistryError::NotFound {
            what: store.describe(&manifest_ref),
        })?;
    match child.parse()? {
        Manifest::Image(manifest) => Ok((child, *manifest)),
        Manifest::Index(_) => Err(RegistryError::BadManifest {
            what: store.describe(&manifest_ref),
            reason: format!("the entry for {platform} of {what} is itself an index"),
        }),
    }
}

/// What one layer adds and deletes.
struct LayerResult<O> {
    digest: Digest,
    found: Vec<(String, O)>,
    whiteouts: Vec<String>,
    opaque: Vec<String>,
    /// Every non-directory path of the layer: each hides what the layers below have at that
    /// path and under it.
    present: Vec<String>,
    warnings: Vec<String>,
    tar_bytes: u64,
}

/// Reads every layer of `manifest` with `visitor` and gives the visited files of the final
/// filesystem, within the default [`LayerLimits`]. Fails on the first layer that cannot be
/// fetched, whose bytes are not its digest or size, whose content is not a readable (gzip,
/// zstd or plain) tar stream, that decompresses past a limit
/// ([`RegistryError::LayerTooLarge`]), or whose paths take the image's past
/// [`LayerLimits::max_path_bytes`] ([`RegistryError::LayerContent`]).
pub async fn walk_layers<V: FileVisitor>(
    store: &Store,
    manifest: &ImageManifest,
    visitor: Arc<V>,
    options: &WalkOptions,
) -> Result<ImageFiles<V::Output>, RegistryError> {
    walk_layers_within(store, manifest, visitor, options, &LayerLimits::default()).await
}

/// [`walk_layers`] within `limits`.
pub async fn walk_layers_within<V: FileVisitor>(
    store: &Store,
    manifest: &ImageManifest,
    visitor: Arc<V>,
    options: &WalkOptions,
    limits: &LayerLimits,
) -> Result<ImageFiles<V::Output>, RegistryError> {
    let parallel = match options.parallel_layers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let budget = Budget::new(*limits);
    // Largest first (longest processing time first): read in manifest order, a large layer
    // listed late runs alone while the other cores idle. Each layer is stacked, and dropped, as
    // soon as every layer below it is in, so only layers read out of order are held at once.
    let count = manifest.layers.len();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(manifest.layers[i].size));
    let mut layers = std::pin::pin!(
        futures_util::stream::iter(order)
            .map(|i| {
                let read = read_layer(
                    store,
                    manifest.layers[i].clone(),
                    visitor.clone(),
                    options.progress.clone(),
                    budget.clone(),
                );
                async move { read.await.map(|layer| (i, layer)) }
            })
            .buffer_unordered(parallel)
    );
    let mut read: Vec<Option<LayerResult<V::Output>>> = (0..count).map(|_| None).collect();
    let mut stacked = 0;
    let mut stack = Stack::default();
    while let Some((i, layer)) = layers.try_next().await? {
        read[i] = Some(layer);
        while let Some(layer) = read.get_mut(stacked).and_then(Option::take) {
            stack.push(layer);
            stacked += 1;
        }
    }
    let compressed_bytes = manifest.layers.iter().map(|l| l.size).sum();
    Ok(stack.finish(compressed_bytes))
}

/// The limits of one walk, what its layers have decompressed so far and the bytes of the
/// paths they keep: shared by the layers read in parallel, so the image's limits hold for
/// all of them together.
#[derive(Clone)]
struct Budget {
    limits: LayerLimits,
    expanded: Arc<AtomicU64>,
    paths: Arc<AtomicU64>,
}

impl Budget {
    fn new(limits: LayerLimits) -> Self {
        Self {
            limits,
            expanded: Arc::new(AtomicU64::new(0)),
            paths: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts `path`, about to be kept for `layer`, against [`LayerLimits::max_path_bytes`].
    fn keep_path(&self, layer: &Digest, path: &str) -> Result<(), RegistryError> {
        let cost = (path.len() as u64).saturating_add(PATH_OVERHEAD_BYTES);
        let total = self
            .paths
            .fetch_add(cost, Ordering::Relaxed)
            .saturating_add(cost);
        if total > self.limits.max_path_bytes {
            return Err(RegistryError::LayerContent {
                layer: layer.clone(),
                reason: format!(
                    "the paths kept of the image's layers add up to more than the per-image \
                     limit of {} bytes (all layers together, each path counted with \
                     {PATH_OVERHEAD_BYTES} bytes more); refused",
                    self.limits.max_path_bytes
                ),
            });
        }
        Ok(())
    }
}

/// The warnings of one layer: the first [`LayerLimits::max_layer_warnings`], and how many
/// more there were.
struct Warnings {
    kept: Vec<String>,
    max: usize,
    more: u64,
}

impl Warnings {
    fn new(max: usize) -> Self {
        Self {
            kept: Vec::new(),
            max,
            more: 0,
        }
    }

    /// Keeps the warning `text` makes, or counts it past the limit (unwritten).
    fn push(&mut self, text: impl FnOnce() -> String) {
        if self.kept.len() < self.max {
            self.kept.push(text());
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self, layer: &Digest) -> Vec<String> {
        if self.more > 0 {
            self.kept.push(format!(
                "layer {layer}: and {} more entries skipped, not read or not followed (the \
                 first {} warnings of a layer are listed)",
                self.more, self.max
            ));
        }
        self.kept
    }
}

async fn read_layer<V: FileVisitor>(
    store: &Store,
    layer: Descriptor,
    visitor: Arc<V>,
    progress: Option<Progress>,
    budget: Budget,
) -> Result<LayerResult<V::Output>, RegistryError> {
    let source = store.open_blob(&layer).await?;
    let what = format!("layer {}", layer.digest);
    let join = |e: tokio::task::JoinError| RegistryError::LayerContent {
        layer: layer.digest.clone(),
        reason: format!("reading stopped: {e}"),
    };
    match source {
        BlobSource::File(file) => {
            let layer = layer.clone();
            tokio::task::spawn_blocking(move || {
                read_tar(&layer, file, &*visitor, progress, &budget)
            })
            .await
            .map_err(join)?
        }
        BlobSource::Http(mut response) => {
            // The body is pumped into a bounded channel by a task of the runtime, and read
            // synchronously (tar, inflate) on a blocking thread: memory stays at a few chunks.
            // A chunk can be a few hundred KiB (hyper's read buffer grows on a fast link), and
            // the network outpaces inflating, so the channel is nearly always full: four
            // chunks keep the reader fed (sixteen cost ~10 MiB of peak RSS, no time).
            let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, String>>(4);
            let pump = tokio::spawn(async move {
                loop {
                    let next = match response.chunk().await {
                        Ok(Some(chunk)) => Ok(chunk),
                        Ok(None) => break,
                        Err(e) => Err(format!("reading {what}: {e}")),
                    };
                    let failed = next.is_err();
                    if sender.send(next).await.is_err() || failed {
                        break;
                    }
                }
            });
            let layer_for_read = layer.clone();
            let result = tokio::task::spawn_blocking(move || {
                let reader = ChannelReader {
                    receiver,
                    current: bytes::Bytes::new(),
                };
                read_tar(&layer_for_read, reader, &*visitor, progress, &budget)
            })
            .await
            .map_err(join)?;
            pump.abort();
            result
        }
    }
}

/// A `Read` over the chunks a pump task sends.
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// The first integrity failure of a layer's bytes (or the first limit it passed), kept apart
/// from the I/O errors that the decompressor and tar reader turn it into.
type Failure = Arc<Mutex<Option<RegistryError>>>;

/// Keeps `error` in `failure` unless an earlier one is there, and gives the I/O error that
/// carries it up through the readers.
fn fail(failure: &Failure, error: RegistryError) -> io::Error {
    let message = error.to_string();
    if let Ok(mut slot) = failure.lock() {
        slot.get_or_insert(error);
    }
    io::Error::other(message)
}

/// Counts and hashes a blob as it is read; at its end, checks the size and digest of the
/// descriptor. Refuses to read past the size.
struct Checked<R> {
    inner: R,
    layer: Descriptor,
    hasher: Option<vouch_keys::Hasher>,
    read: u64,
    progress: Option<Progress>,
    failure: Failure,
}

impl<R: Read> Checked<R> {
    fn fail(&self, error: RegistryError) -> io::Error {
        fail(&self.failure, error)
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                return Err(self.fail(RegistryError::LayerContent {
                    layer: self.layer.digest.clone(),
                    reason: e.to_string(),
                }));
            }
        };
        self.read += n as u64;
        if self.read > self.layer.size {
            return Err(self.fail(RegistryError::LayerContent {
                layer: self.layer.digest.clone(),
                reason: format!(
                    "more than the {} bytes its descriptor says",
                    self.layer.size
                ),
            }));
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        if let Some(progress) = &self.progress {
            progress(n as u64);
        }
        if n == 0
            && !buf.is_empty()
            && let Some(hasher) = self.hasher.take()
        {
            if self.read != self.layer.size {
                return Err(self.fail(RegistryError::LayerContent {
                    layer: self.layer.digest.clone(),
                    reason: format!(
                        "{} bytes, not the {} its descriptor says (truncated)",
                        self.read, self.layer.size
                    ),
                }));
            }
            if let Err(found) = hasher.finish() {
                return Err(self.fail(RegistryError::DigestMismatch {
                    what: format!("layer {}", self.layer.digest),
                    expected: self.layer.digest.clone(),
                    found,
                }));
            }
        }
        Ok(n)
    }
}

/// The decompressed stream of a layer, of whichever compression its first bytes show.
enum Decoder<R: BufRead> {
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, R>>),
    Plain(R),
}

impl<R: BufRead> Decoder<R> {
    fn new(mut source: R) -> io::Result<Self> {
        let head = source.fill_buf()?;
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(source)))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Decoder::Zstd(Box::new(zstd::stream::read::Decoder::with_buffer(source)?))
        } else {
            Decoder::Plain(source)
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Decoder::Gzip(_) => "gzip",
            Decoder::Zstd(_) => "zstd",
            Decoder::Plain(_) => "tar",
        }
    }

    fn into_source(self) -> R {
        match self {
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
            Decoder::Plain(r) => r,
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Plain(r) => r.read(buf),
        }
    }
}

/// Counts the decompressed bytes of a layer as the tar reader takes them, and stops with
/// [`RegistryError::LayerTooLarge`] past the layer's limit or past the image's (counted
/// across the layers read in parallel).
struct Expanded<R> {
    inner: R,
    count: u64,
    layer: Digest,
    /// The layer's limit; `None` for a plain tar layer, whose size is its descriptor's.
    limit: Option<u64>,
    /// The image's limit and count; `None` for a plain tar layer.
    image: Option<(u64, Arc<AtomicU64>)>,
    failure: Failure,
}

impl<R: Read> Read for Expanded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Asks for no more than one byte past the layer's limit, however large `buf` is.
        let allowed = self.limit.map_or(buf.len(), |limit| {
            let left = limit.saturating_sub(self.count).saturating_add(1);
            buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
        });
        let n = self.inner.read(&mut buf[..allowed])?;
        self.count += n as u64;
        if let Some(limit) = self.limit
            && self.count > limit
        {
            return Err(fail(
                &self.failure,
                RegistryError::LayerTooLarge {
                    layer: self.layer.clone(),
                    scope: ExpansionScope::Layer,
                    limit,
                    expanded: self.count,
                },
            ));
        }
        if let Some((limit, image)) = &self.image {
            let total = image
                .fetch_add(n as u64, Ordering::Relaxed)
                .saturating_add(n as u64);
            if total > *limit {
                return Err(fail(
                    &self.failure,
                    RegistryError::LayerTooLarge {
                        layer: self.layer.clone(),
                        scope: ExpansionScope::Image,
                        limit: *limit,
                        expanded: total,
                    },
                ));
            }
        }
        Ok(n)
    }
}

/// Reads one layer blob on the current (blocking) thread, within `budget`.
fn read_tar<V: FileVisitor, R: Read>(
    layer: &Descriptor,
    source: R,
    visitor: &V,
    progress: Option<Progress>,
    budget: &Budget,
) -> Result<LayerResult<V::Output>, RegistryError> {
    let failure: Failure = Arc::new(Mutex::new(None));
    let checked = Checked {
        inner: source,
        layer: layer.clone(),
        hasher: Some(layer.digest.hasher()),
        read: 0,
        progress,
        failure: failure.clone(),
    };
    let content_error = |kind: &str, e: io::Error| {
        failure
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| RegistryError::LayerContent {
                layer: layer.digest.clone(),
                reason: format!("not a readable {kind} stream: {e}"),
            })
    };
    let decoder = Decoder::new(BufReader::with_capacity(256 * 1024, checked))
        .map_err(|e| content_error("layer", e))?;
    let kind = decoder.kind();
    let compressed = !matches!(decoder, Decoder::Plain(_));
    let expanded = Expanded {
        inner: decoder,
        count: 0,
        layer: layer.digest.clone(),
        limit: compressed.then(|| budget.limits.layer_expansion_bytes(layer.size)),
        image: compressed.then(|| {
            (
                budget.limits.max_image_expansion_bytes,
                budget.expanded.clone(),
            )
        }),
        failure: failure.clone(),
    };
    let mut tar = TarReader::new(
        BufReader::with_capacity(64 * 1024, expanded),
        &budget.limits,
    );
    let mut result = LayerResult {
        digest: layer.digest.clone(),
        found: Vec::new(),
        whiteouts: Vec::new(),
        opaque: Vec::new(),
        present: Vec::new(),
        warnings: Vec::new(),
        tar_bytes: 0,
    };
    let mut warnings = Warnings::new(budget.limits.max_layer_warnings);
    // Where each visited path is in `found`, for hard links to it.
    let mut found_at: HashMap<String, usize> = HashMap::new();
    let keep = |path: &str| budget.keep_path(&layer.digest, path);
    while let Some(member) = tar.next_member().map_err(|e| content_error(kind, e))? {
        if let Some(reason) = &member.refused {
            warnings.push(|| {
                format!(
                    "layer {}: entry \"{}\" {reason}; skipped",
                    layer.digest,
                    shown(&member.path)
                )
            });
            continue;
        }
        let Some(path) = clean_path(&member.path) else {
            warnings.push(|| {
                format!(
                    "layer {}: entry \"{}\" leaves the root (..); skipped",
                    layer.digest,
                    shown(&member.path)
                )
            });
            continue;
        };
        if path.is_empty() || member.kind == typeflag::DIRECTORY {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or_default();
        if name == ".wh..wh..opq" {
            let dir = parent_of(&path);
            keep(dir)?;
            result.opaque.push(dir.to_owned());
            continue;
        }
        if let Some(deleted) = name.strip_prefix(".wh.") {
            let deleted = join(parent_of(&path), deleted);
            keep(&deleted)?;
            result.whiteouts.push(deleted);
            continue;
        }
        keep(&path)?;
        result.present.push(path.clone());
        if let Some(real_size) = member.sparse {
            // Its data is the sparse map's pieces, not the file: nothing to give the visitor.
            if visitor.wants(&path, real_size.unwrap_or(0)) {
                warnings
                    .push(|| format!("layer {}: {path} is a sparse file; not read", layer.digest));
            }
        } else if matches!(member.kind, typeflag::REGULAR | typeflag::CONTIGUOUS) {
            let size = tar.data_size();
            if visitor.wants(&path, size) {
                // Kept twice more: in `found` and in `found_at`.
                keep(&path)?;
                keep(&path)?;
                let output = visitor.visit(&path, size, &mut tar.data());
                found_at.insert(path.clone(), result.found.len());
                result.found.push((path, output));
            }
        } else if member.kind == typeflag::HARD_LINK {
            let target = clean_path(&member.link).unwrap_or_default();
            if let Some(&index) = found_at.get(&target) {
                keep(&path)?;
                keep(&path)?;
                let output = result.found[index].1.clone();
                found_at.insert(path.clone(), result.found.len());
                result.found.push((path, output));
            }
        } else if member.kind == typeflag::SYMLINK && visitor.wants(&path, 0) {
            warnings.push(|| {
                format!(
                    "layer {}: {path} is a symbolic link to {}; not followed",
                    layer.digest,
                    shown(&member.link)
                )
            });
        }
    }
    if let Some(reason) = tar.dangling.take() {
        warnings.push(|| format!("layer {}: the last entry {reason}; skipped", layer.digest));
    }
    result.warnings = warnings.finish(&layer.digest);
    // Read to the end of the decompressed stream, then of the blob, so that its size and
    // digest are checked whatever the tar stream left after its end (within the limits).
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| content_error(kind, e))?;
    let expanded = rest.into_inner();
    result.tar_bytes = expanded.count;
    let mut source = expanded.inner.into_source();
    io::copy(&mut source, &mut io::sink()).map_err(|e| content_error(kind, e))?;
    if let Some(error) = failure.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(error);
    }
    Ok(result)
}

/// Separates the layers of [`fuzz_read_tar`]'s input.
#[doc(hidden)]
pub const FUZZ_LAYER_SEPARATOR: &[u8] = b"\n--8<-- layer --8<--\n";

/// The most layers [`fuzz_read_tar`] reads from one input; parts past them are ignored.
#[doc(hidden)]
pub const FUZZ_MAX_LAYERS: usize = 4;

/// For the `read_tar` fuzz target only (`fuzz/fuzz_targets/read_tar.rs`); not part of the
/// API. Reads `bytes`, split at [`FUZZ_LAYER_SEPARATOR`] into up to [`FUZZ_MAX_LAYERS`]
/// layer blobs, as the walker reads an image's layers: each a layer blob (gzip, zstd or plain
/// tar; its descriptor made from it, so its digest and size hold) read with a visitor that
/// reads every regular file whole, all within one budget of small limits ([`FUZZ_LIMITS`]) so
/// that no input costs more than a few MiB, and each stacked on the ones before it (whiteouts
/// and opaque folders removing what those hold). Panics only on a bug: a member giving more
/// bytes than its size.
#[doc(hidden)]
pub fn fuzz_read_tar(bytes: &[u8]) -> Result<ImageFiles<u64>, RegistryError> {
    /// Reads every file to its end; keeps how many bytes it gave.
    struct ReadAll;

    impl FileVisitor for ReadAll {
        type Output = u64;

        fn wants(&self, _path: &str, _size: u64) -> bool {
            true
        }

        fn visit(&self, path: &str, size: u64, contents: &mut dyn Read) -> u64 {
            let read = io::copy(contents, &mut io::sink()).unwrap_or(0);
            assert!(read <= size, "{path}: {read} bytes read of {size}");
            read
        }
    }

    let mut parts = Vec::new();
    let mut rest = bytes;
    while parts.len() + 1 < FUZZ_MAX_LAYERS {
        let Some(at) = rest
            .windows(FUZZ_LAYER_SEPARATOR.len())
            .position(|w| w == FUZZ_LAYER_SEPARATOR)
        else {
            break;
        };
        parts.push(&rest[..at]);
        rest = &rest[at + FUZZ_LAYER_SEPARATOR.len()..];
    }
    parts.push(rest);
    let budget = Budget::new(FUZZ_LIMITS);
    let mut stack = Stack::default();
    let mut compressed_bytes = 0;
    for part in parts {
        let layer = Descriptor::of("application/vnd.oci.image.layer.v1.tar", part);
        compressed_bytes += layer.size;
        stack.push(read_tar(&layer, part, &ReadAll, None, &budget)?);
    }
    Ok(stack.finish(compressed_bytes))
}

/// The limits of [`fuzz_read_tar`]: small, so that the fuzzer reaches them with small inputs.
#[doc(hidden)]
pub const FUZZ_LIMITS: LayerLimits = LayerLimits {
    max_name_bytes: 4096,
    max_pax_header_bytes: 16 * 1024,
    min_layer_expansion_bytes: 16 << 20,
    layer_expansion_ratio: LAYER_EXPANSION_RATIO,
    max_image_expansion_bytes: 16 << 20,
    max_path_bytes: 1 << 20,
    max_layer_warnings: 8,
};

/// Removes everything under the directory `dir` from `files` (everything, for the root).
fn remove_under<O>(files: &mut BTreeMap<String, (Digest, O)>, dir: &str) {
    if dir.is_empty() {
        files.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        files.remove(&key);
    }
}

/// Removes `path` and everything under it from `files`.
fn remove_tree<O>(files: &mut BTreeMap<String, (Digest, O)>, path: &str) {
    files.remove(path);
    if !path.is_empty() {
        remove_under(files, path);
    }
}

/// The final filesystem's visited files, as the layers are stacked on it, lowest first.
struct Stack<O> {
    files: BTreeMap<String, (Digest, O)>,
    warnings: Vec<String>,
    tar_bytes: u64,
}

impl<O> Default for Stack<O> {
    fn default() -> Self {
        Self {
            files: BTreeMap::new(),
            warnings: Vec::new(),
            tar_bytes: 0,
        }
    }
}

impl<O> Stack<O> {
    /// Stacks `layer` on the layers pushed before it.
    fn push(&mut self, layer: LayerResult<O>) {
        let files = &mut self.files;
        for dir in &layer.opaque {
            remove_under(files, dir);
        }
        for path in layer.whiteouts.iter().chain(&layer.present) {
            remove_tree(files, path);
        }
        for (path, output) in layer.found {
            files.insert(path, (layer.digest.clone(), output));
        }
        self.warnings.extend(layer.warnings);
        self.tar_bytes += layer.tar_bytes;
    }

    fn finish(self, compressed_bytes: u64) -> ImageFiles<O> {
        ImageFiles {
            files: self
                .files
                .into_iter()
                .map(|(path, (layer, output))| FoundFile {
                    layer,
                    path,
                    output,
                })
                .collect(),
            warnings: self.warnings,
            compressed_bytes,
            tar_bytes: self.tar_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> LayerResult<u8> {
        LayerResult {
            digest: Digest::sha256(&[n]),
            found: Vec::new(),
            whiteouts: Vec::new(),
            opaque: Vec::new(),
            present: Vec::new(),
            warnings: Vec::new(),
            tar_bytes: 0,
        }
    }

    /// Stacks `layers`, lowest first.
    fn merge<O>(layers: Vec<LayerResult<O>>, compressed_bytes: u64) -> ImageFiles<O> {
        let mut stack = Stack::default();
        for layer in layers {
            stack.push(layer);
        }
        stack.finish(compressed_bytes)
    }

    fn paths(files: &ImageFiles<u8>) -> Vec<(String, u8)> {
        files
            .files
            .iter()
            .map(|f| (f.path.clone(), f.output))
            .collect()
    }

    #[test]
    fn later_layers_override_and_whiteouts_delete() {
        let mut base = layer(0);
        for (path, n) in [
            ("etc/os-release", 1),
            ("usr/lib/a/METADATA", 2),
            ("usr/lib/b/METADATA", 3),
            ("opt/x/package.json", 4),
            ("srv/f", 5),
        ] {
            base.present.push(path.into());
            base.found.push((path.into(), n));
        }
        let mut upper = layer(1);
        upper.present.push("etc/os-release".into());
        upper.found.push(("etc/os-release".into(), 10));
        upper.whiteouts.push("usr/lib/a".into());
        upper.opaque.push("opt/x".into());
        // srv becomes a symbolic link: what was under it is gone.
        upper.present.push("srv".into());
        let merged = merge(vec![base, upper], 0);
        assert_eq!(
            paths(&merged),
            [
                ("etc/os-release".to_owned(), 10),
                ("usr/lib/b/METADATA".to_owned(), 3)
            ]
        );
        assert_eq!(merged.files[0].layer, Digest::sha256(&[1]));
    }

    #[test]
    fn a_whiteout_deletes_only_below_its_own_layer() {
        let mut base = layer(0);
        base.found.push(("a/f".into(), 1));
        let mut upper = layer(1);
        upper.whiteouts.push("a".into());
        upper.found.push(("a/f".into(), 2));
        assert_eq!(paths(&merge(vec![base, upper], 0)), [("a/f".to_owned(), 2)]);
    }

    #[test]
    fn paths_are_cleaned_and_escapes_refused() {
        assert_eq!(clean_path(b"./usr/bin/x").as_deref(), Some("usr/bin/x"));
        assert_eq!(
            clean_path(b"/etc//os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(clean_path(b"../../etc/passwd"), None);
        assert_eq!(clean_path(b"usr/../../x"), None);
    }

    #[test]
    fn platforms_parse_and_default_to_the_host() {
        assert_eq!(
            PlatformSpec::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!(PlatformSpec::parse("linux").is_err());
        assert!(PlatformSpec::parse("linux//v8").is_err());
        assert_eq!(PlatformSpec::host().os, std::env::consts::OS);
    }

    // Layers read with `read_tar` from tar streams made here, block by block.

    use std::io::Write;

    const MIB: u64 = 1 << 20;

    /// Wants every file; keeps its text.
    struct Texts;

    impl FileVisitor for Texts {
        type Output = String;

        fn wants(&self, _path: &str, _size: u64) -> bool {
            true
        }

        fn visit(&self, _path: &str, _size: u64, contents: &mut dyn Read) -> String {
            // A broken stream fails the whole layer afterwards; the visitor just says so.
            let mut bytes = Vec::new();
            match contents.read_to_end(&mut bytes) {
                Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("unreadable: {e}"),
            }
        }
    }

    fn read_as(
        descriptor: &Descriptor,
        blob: &[u8],
        budget: &Budget,
    ) -> Result<LayerResult<String>, RegistryError> {
        read_tar(descriptor, blob, &Texts, None, budget)
    }

    fn read_within(blob: &[u8], limits: LayerLimits) -> Result<LayerResult<String>, RegistryError> {
        read_as(&descriptor(blob), blob, &Budget::new(limits))
    }

    fn read(blob: &[u8]) -> LayerResult<String> {
        match read_within(blob, LayerLimits::default()) {
            Ok(result) => result,
            Err(e) => panic!("{e}"),
        }
    }

    fn refused(result: Result<LayerResult<String>, RegistryError>) -> RegistryError {
        match result {
            Ok(read) => panic!("read, not refused: {:?}", found(&read)),
            Err(e) => e,
        }
    }

    fn descriptor(blob: &[u8]) -> Descriptor {
        Descriptor::of("application/vnd.oci.image.layer.v1.tar", blob)
    }

    fn found(result: &LayerResult<String>) -> Vec<(&str, &str)> {
        result
            .found
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect()
    }

    /// Sets the checksum of a header block.
    fn seal(block: &mut [u8; BLOCK]) {
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    /// A POSIX ustar header block.
    fn header(name: &[u8], kind: u8, size: u64) -> [u8; BLOCK] {
        let mut block = [0u8; BLOCK];
        block[..name.len()].copy_from_slice(name);
        block[100..108].copy_from_slice(b"0000644\0");
        block[108..116].copy_from_slice(b"0000000\0");
        block[116..124].copy_from_slice(b"0000000\0");
        block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        block[136..148].copy_from_slice(b"00000000000\0");
        block[156] = kind;
        block[257..265].copy_from_slice(b"ustar\x0000");
        seal(&mut block);
        block
    }

    /// A member: its header, its data, padding.
    fn member(name: &str, kind: u8, data: &[u8]) -> Vec<u8> {
        let mut out = header(name.as_bytes(), kind, data.len() as u64).to_vec();
        out.extend_from_slice(data);
        out.resize(out.len() + padding_of(data.len() as u64) as usize, 0);
        out
    }

    fn file(name: &str, data: &[u8]) -> Vec<u8> {
        member(name, typeflag::REGULAR, data)
    }

    /// The end of an archive: two zero blocks.
    const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

    fn tar(members: &[Vec<u8>]) -> Vec<u8> {
        let mut out = members.concat();
        out.extend_from_slice(&END);
        out
    }

    /// The length prefix of a pax record `LEN key=value\n` whose value is `value_len`
    /// bytes: it counts the whole record, its own digits included.
    fn pax_length(key: &str, value_len: u64) -> u64 {
        let rest = 1 + key.len() as u64 + 1 + value_len + 1;
        let mut length = rest + 1;
        while length != rest + length.to_string().len() as u64 {
            length = rest + length.to_string().len() as u64;
        }
        length
    }

    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        let mut record = format!("{} {key}=", pax_length(key, value.len() as u64)).into_bytes();
        record.extend_from_slice(value);
        record.push(b'\n');
        record
    }

    /// Writes `count` bytes of `byte`, a MiB at a time: never the whole in memory.
    fn repeat(out: &mut dyn Write, byte: u8, count: u64) {
        let chunk = vec![byte; MIB as usize];
        let mut left = count;
        while left > 0 {
            let n = left.min(MIB);
            out.write_all(&chunk[..n as usize]).unwrap();
            left -= n;
        }
    }

    /// A zstd layer (level 1) of what `write` writes, compressed as it is written.
    fn zstd_layer(write: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        write(&mut encoder);
        encoder.finish().unwrap()
    }

    /// A zstd layer of one file of `size` zeros.
    fn zeros_layer(size: u64) -> Vec<u8> {
        zstd_layer(|out| {
            out.write_all(&header(b"zeros.bin", typeflag::REGULAR, size))
                .unwrap();
            repeat(out, 0, size + padding_of(size));
            out.write_all(&END).unwrap();
        })
    }

    #[test]
    fn gnu_long_name_bomb_is_skipped() {
        // A 64 MiB name, 1,000 times the limit, in a zstd layer of a few KiB: the member it
        // names is skipped with a warning, never held; the members around it are read.
        const NAME: u64 = 64 * MIB;
        let blob = zstd_layer(|out| {
            out.write_all(&file("before.txt", b"before")).unwrap();
            out.write_all(&header(b"././@LongLink", typeflag::GNU_LONG_NAME, NAME + 1))
                .unwrap();
            repeat(out, b'a', NAME);
            repeat(out, 0, 1 + padding_of(NAME + 1));
            out.write_all(&file("bomb.txt", b"bomb")).unwrap();
            out.write_all(&file("after.txt", b"after")).unwrap();
            out.write_all(&END).unwrap();
        });
        assert!(blob.len() < 64 * 1024, "{} bytes", blob.len());
        let result = read(&blob);
        assert_eq!(
            found(&result),
            [("before.txt", "before"), ("after.txt", "after")]
        );
        assert_eq!(result.present, ["before.txt", "after.txt"]);
        assert_eq!(
            result.warnings,
            [format!(
                "layer {}: entry \"bomb.txt\" has a 67108865-byte GNU long name, more than the \
                 65536-byte limit; skipped",
                Digest::sha256(&blob)
            )]
        );
        // Everything was read, the skipped name included.
        assert_eq!(result.tar_bytes, NAME + 8 * BLOCK as u64 + 1024);
    }

    #[test]
    fn gnu_long_link_name_bomb_is_skipped() {
        let limits = LayerLimits {
            max_name_bytes: 1024,
            ..LayerLimits::default()
        };
        let blob = tar(&[
            member("././@LongLink", typeflag::GNU_LONG_LINK, &[b'l'; 1025]),
            member("link", typeflag::SYMLINK, b""),
            file("after.txt", b"after"),
        ]);
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [("after.txt", "after")]);
        assert_eq!(result.present, ["after.txt"]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(
            result.warnings[0].contains("entry \"link\" has a 1025-byte GNU long link name"),
            "{:?}",
            result.warnings
        );
    }

    #[test]
    fn long_names_up_to_the_limit_are_read() {
        let limits = LayerLimits {
            max_name_bytes: 1024,
            ..LayerLimits::default()
        };
        // 1,023 bytes and the NUL: the limit exactly.
        let name = format!("{}/f.txt", "d".repeat(1017));
        let mut long = name.clone().into_bytes();
        long.push(0);
        let blob = tar(&[
            member("././@LongLink", typeflag::GNU_LONG_NAME, &long),
            file("truncated", b"long"),
            member("././@LongLink", typeflag::GNU_LONG_NAME, &[b'x'; 1025]),
            file("over", b"over"),
        ]);
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [(name.as_str(), "long")]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(result.warnings[0].contains("\"over\" has a 1025-byte GNU long name"));
    }

    #[test]
    fn pax_header_bomb_is_skipped() {
        // A pax `path` record of 64 MiB, 64 times the header limit, in a zstd layer.
        const PATH: u64 = 64 * MIB;
        let length = pax_length("path", PATH);
        let blob = zstd_layer(|out| {
            out.write_all(&file("before.txt", b"before")).unwrap();
            out.write_all(&header(b"PaxHeaders/bomb.txt", typeflag::PAX_LOCAL, length))
                .unwrap();
            out.write_all(format!("{length} path=").as_bytes()).unwrap();
            repeat(out, b'a', PATH);
            out.write_all(b"\n").unwrap();
            repeat(out, 0, padding_of(length));
            out.write_all(&file("bomb.txt", b"bomb")).unwrap();
            out.write_all(&file("after.txt", b"after")).unwrap();
            out.write_all(&END).unwrap();
        });
        assert!(blob.len() < 64 * 1024, "{} bytes", blob.len());
        let result = read(&blob);
        assert_eq!(
            found(&result),
            [("before.txt", "before"), ("after.txt", "after")]
        );
        assert_eq!(
            result.warnings,
            [format!(
                "layer {}: entry \"bomb.txt\" has a {length}-byte pax extended header, more \
                 than the 1048576-byte limit; skipped",
                Digest::sha256(&blob)
            )]
        );
    }

    #[test]
    fn a_member_after_a_pax_header_bomb_is_skipped_by_its_pax_size() {
        // The runtime reads the member's size from the pax header, so the data after it is
        // the member's, even when it looks like a member itself; so it is here, the header
        // over the limit streamed through for its `size` record alone.
        let limits = LayerLimits {
            max_pax_header_bytes: 1024,
            ..LayerLimits::default()
        };
        let fake = file("fake.txt", b"not a member");
        let mut records = pax_record("SCHILY.xattr.user.big", &[b'x'; 2000]);
        records.extend(pax_record("aaaaaaaaaaaaaaaaaaaaasize", b"7"));
        records.extend(pax_record("size", fake.len().to_string().as_bytes()));
        records.extend(pax_record("comment", b""));
        let mut bomb = header(b"bomb", typeflag::REGULAR, 0).to_vec();
        bomb.extend_from_slice(&fake);
        let blob = tar(&[
            member("PaxHeaders/bomb", typeflag::PAX_LOCAL, &records),
            bomb,
            file("after.txt", b"after"),
        ]);
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [("after.txt", "after")]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(result.warnings[0].contains("\"bomb\" has a"));
        // Read whole (under the default limit), the same header gives the same member.
        let whole = read(&blob);
        let data = String::from_utf8_lossy(&fake).into_owned();
        assert_eq!(
            found(&whole),
            [("bomb", data.as_str()), ("after.txt", "after")]
        );
        // A malformed record is refused all the same.
        let mut broken = records.clone();
        broken.extend_from_slice(b"9 x=y\n");
        let blob = tar(&[
            member("PaxHeaders/bomb", typeflag::PAX_LOCAL, &broken),
            file("bomb", b""),
        ]);
        let error = refused(read_within(&blob, limits));
        assert!(
            error.to_string().contains("malformed pax record"),
            "{error}"
        );
    }

    #[test]
    fn pax_paths_over_the_name_limit_are_skipped() {
        let limits = LayerLimits {
            max_name_bytes: 1024,
            ..LayerLimits::default()
        };
        let blob = tar(&[
            member(
                "PaxHeaders/x",
                typeflag::PAX_LOCAL,
                &pax_record("path", &[b'p'; 2000]),
            ),
            file("x", b"x"),
            member(
                "PaxHeaders/y",
                typeflag::PAX_LOCAL,
                &pax_record("path", b"from/pax.txt"),
            ),
            file("y", b"y"),
        ]);
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [("from/pax.txt", "y")]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(
            result.warnings[0].contains("\"x\" has a 2000-byte pax path"),
            "{:?}",
            result.warnings
        );
    }

    #[test]
    fn a_bomb_at_the_end_of_the_archive_is_a_warning() {
        let limits = LayerLimits {
            max_pax_header_bytes: 1024,
            ..LayerLimits::default()
        };
        let blob = tar(&[
            file("a.txt", b"a"),
            member(
                "PaxHeaders/x",
                typeflag::PAX_LOCAL,
                &pax_record("comment", &[b'x'; 2030]),
            ),
        ]);
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [("a.txt", "a")]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(
            result.warnings[0].contains("the last entry has a 2044-byte pax extended header"),
            "{:?}",
            result.warnings
        );
    }

    #[test]
    fn a_skipped_member_is_still_hashed() {
        // The skipped bytes are still part of the blob: a wrong digest is still found.
        let limits = LayerLimits {
            max_name_bytes: 1024,
            ..LayerLimits::default()
        };
        let blob = tar(&[
            member("././@LongLink", typeflag::GNU_LONG_NAME, &[b'n'; 4096]),
            file("x", b"x"),
        ]);
        let mut claimed = descriptor(&blob);
        claimed.digest = Digest::sha256(b"another layer");
        let error = refused(read_as(&claimed, &blob, &Budget::new(limits)));
        assert!(
            matches!(&error, RegistryError::DigestMismatch { expected, .. } if *expected == claimed.digest),
            "{error}"
        );
    }

    #[test]
    fn zstd_expansion_bomb_is_refused() {
        // 64 MiB of zeros in a few KiB; the layer may expand to 1 MiB.
        let blob = zeros_layer(64 * MIB);
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            ..LayerLimits::default()
        };
        assert_eq!(limits.layer_expansion_bytes(blob.len() as u64), MIB);
        let error = refused(read_within(&blob, limits));
        match &error {
            RegistryError::LayerTooLarge {
                layer,
                scope: ExpansionScope::Layer,
                limit,
                expanded,
            } => {
                assert_eq!(*layer, Digest::sha256(&blob));
                assert_eq!(*limit, MIB);
                assert_eq!(*expanded, MIB + 1);
            }
            other => panic!("{other}"),
        }
        let message = error.to_string();
        assert!(
            message.contains(&Digest::sha256(&blob).to_string())
                && message.contains("per-layer limit of 1048576 bytes"),
            "{message}"
        );
    }

    #[test]
    fn gzip_expansion_bomb_is_refused() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(&header(b"zeros.bin", typeflag::REGULAR, 64 * MIB))
            .unwrap();
        repeat(&mut encoder, 0, 64 * MIB);
        encoder.write_all(&END).unwrap();
        let blob = encoder.finish().unwrap();
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            ..LayerLimits::default()
        };
        // gzip reaches 1,000 times: the limit here is 100 times the compressed size.
        let limit = limits.layer_expansion_bytes(blob.len() as u64);
        assert!(limit > MIB && limit < 64 * MIB, "{limit}");
        let error = refused(read_within(&blob, limits));
        assert!(
            matches!(
                error,
                RegistryError::LayerTooLarge {
                    scope: ExpansionScope::Layer,
                    limit: l,
                    expanded,
                    ..
                } if l == limit && expanded == limit + 1
            ),
            "{error}"
        );
    }

    #[test]
    fn the_expansion_limit_grows_with_the_compressed_size() {
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            layer_expansion_ratio: 10,
            ..LayerLimits::default()
        };
        assert_eq!(limits.layer_expansion_bytes(1000), MIB);
        assert_eq!(limits.layer_expansion_bytes(1 << 30), 10 << 30);
        assert_eq!(limits.layer_expansion_bytes(u64::MAX), u64::MAX);
        // 4 MiB of zeros in a few hundred bytes: over 1 MiB, but not over 100,000 times
        // its compressed size.
        let blob = zeros_layer(4 * MIB);
        assert!(read_within(&blob, limits).is_err());
        let generous = LayerLimits {
            layer_expansion_ratio: 100_000,
            ..limits
        };
        assert!(generous.layer_expansion_bytes(blob.len() as u64) > 4 * MIB + 4096);
        assert_eq!(
            read_within(&blob, generous).unwrap().tar_bytes,
            4 * MIB + 3 * BLOCK as u64
        );
    }

    #[test]
    fn layers_past_the_image_limit_together_are_refused() {
        // Each layer is under its own limit (1 MiB); the image may expand to 1.5 MiB.
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            max_image_expansion_bytes: 3 * MIB / 2,
            ..LayerLimits::default()
        };
        let budget = Budget::new(limits);
        let layer = zeros_layer(MIB - 8 * 1024);
        let first = read_as(&descriptor(&layer), &layer, &budget).unwrap();
        assert_eq!(first.tar_bytes, MIB - 8 * 1024 + 3 * BLOCK as u64);
        let error = refused(read_as(&descriptor(&layer), &layer, &budget));
        match error {
            RegistryError::LayerTooLarge {
                scope: ExpansionScope::Image,
                limit,
                expanded,
                ..
            } => {
                assert_eq!(limit, 3 * MIB / 2);
                assert!(expanded > limit, "{expanded}");
            }
            other => panic!("{other}"),
        }
        // A plain tar layer is not decompressed: neither limit applies.
        let plain = tar(&[file("big.bin", &vec![0; 2 * MIB as usize])]);
        let read = read_as(&descriptor(&plain), &plain, &budget).unwrap();
        assert_eq!(read.tar_bytes, plain.len() as u64);
    }

    #[test]
    fn the_image_limit_holds_for_layers_read_in_parallel() {
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            max_image_expansion_bytes: 2 * MIB,
            ..LayerLimits::default()
        };
        let budget = Budget::new(limits);
        let layer = zeros_layer(MIB - 8 * 1024);
        let results: Vec<_> = std::thread::scope(|scope| {
            let readers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| read_as(&descriptor(&layer), &layer, &budget)))
                .collect();
            readers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let read = results.iter().filter(|r| r.is_ok()).count();
        assert!(read <= 2, "{read} layers of 1 MiB read under a 2 MiB limit");
        for result in results {
            if let Err(e) = result {
                assert!(
                    matches!(
                        e,
                        RegistryError::LayerTooLarge {
                            scope: ExpansionScope::Image,
                            ..
                        }
                    ),
                    "{e}"
                );
            }
        }
    }

    /// Walks an OCI layout (written here) of the zstd `layers`, all at once, within `limits`.
    fn walk_within(
        layers: &[Vec<u8>],
        limits: &LayerLimits,
    ) -> Result<ImageFiles<String>, RegistryError> {
        walk_within_at(layers, limits, layers.len())
    }

    /// [`walk_within`] with `parallel` layers read at once.
    fn walk_within_at(
        layers: &[Vec<u8>],
        limits: &LayerLimits,
        parallel: usize,
    ) -> Result<ImageFiles<String>, RegistryError> {
        const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
        let dir = tempfile::tempdir().unwrap();
        let layout = crate::Layout::create(dir.path()).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": layout.write_blob("application/vnd.oci.image.config.v1+json", config).unwrap(),
            "layers": layers
                .iter()
                .map(|layer| layout.write_blob(ZSTD, layer).unwrap())
                .collect::<Vec<_>>(),
        });
        let manifest: ImageManifest = serde_json::from_value(manifest).unwrap();
        let store = Store::Layout {
            layout,
            limits: crate::Limits::default(),
        };
        let options = WalkOptions {
            parallel_layers: parallel,
            progress: None,
        };
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(walk_layers_within(
                &store,
                &manifest,
                Arc::new(Texts),
                &options,
                limits,
            ))
    }

    #[test]
    fn layers_read_largest_first_are_stacked_in_manifest_order() {
        // The upper layer is the larger, so it is read first (one at a time here, and first
        // of two at once); its whiteout and its file must still apply over the lower layer.
        let zstd_tar =
            |members: &[Vec<u8>]| zstd_layer(|out| out.write_all(&tar(members)).unwrap());
        let lower = zstd_tar(&[file("a", b"lower a"), file("b", b"lower b")]);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..256 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let upper = zstd_tar(&[
            file(".wh.a", b""),
            file("b", b"upper b"),
            file("noise", &noise),
        ]);
        assert!(upper.len() > 10 * lower.len());
        for parallel in [1, 2] {
            let files = walk_within_at(
                &[lower.clone(), upper.clone()],
                &LayerLimits::default(),
                parallel,
            )
            .unwrap();
            let texts: Vec<(&str, &str)> = files
                .files
                .iter()
                .filter(|f| f.path != "noise")
                .map(|f| (f.path.as_str(), f.output.as_str()))
                .collect();
            assert_eq!(texts, [("b", "upper b")], "{parallel} at once");
        }
    }

    #[test]
    fn the_layers_of_one_walk_share_the_image_limit() {
        let limits = LayerLimits {
            min_layer_expansion_bytes: MIB,
            max_image_expansion_bytes: 2 * MIB,
            ..LayerLimits::default()
        };
        // Four layers under their own limit, over the image's together.
        let layers: Vec<Vec<u8>> = (0..4).map(|n| zeros_layer(MIB - 8 * 1024 - n)).collect();
        let error = walk_within(&layers, &limits).unwrap_err();
        assert!(
            matches!(
                error,
                RegistryError::LayerTooLarge {
                    scope: ExpansionScope::Image,
                    ..
                }
            ),
            "{error}"
        );
        let generous = LayerLimits {
            max_image_expansion_bytes: 4 * MIB,
            ..limits
        };
        let files = walk_within(&layers, &generous).unwrap();
        assert_eq!(files.files.len(), 1);
    }

    #[test]
    fn members_written_by_the_tar_crate_are_read_as_it_reads_them() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |mut header: tar::Header, path: &str, data: &[u8]| {
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, data).unwrap();
        };
        // A long path: a GNU long name member.
        let long = format!("usr/lib/{}/long.txt", "d".repeat(150));
        add(tar::Header::new_gnu(), &long, b"long");
        // A long path in a ustar header: split into prefix and name.
        let prefixed = format!("{}/prefixed.txt", "p".repeat(120));
        add(tar::Header::new_ustar(), &prefixed, b"prefixed");
        add(tar::Header::new_gnu(), "./etc/.wh.gone", b"");
        add(tar::Header::new_gnu(), "opt/.wh..wh..opq", b"");
        add(tar::Header::new_gnu(), "./", b"");
        let mut builder = builder;
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        builder.append_data(&mut dir, "var/", &b""[..]).unwrap();
        // A pax header naming the next member.
        let records = pax_record("path", b"from/pax.txt");
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_path("PaxHeaders/ignored").unwrap();
        pax.set_cksum();
        builder.append(&pax, &records[..]).unwrap();
        let mut named = tar::Header::new_ustar();
        named.set_size(3);
        builder
            .append_data(&mut named, "ignored.txt", &b"pax"[..])
            .unwrap();
        // A hard link to the long file, and a symbolic link with a long target.
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        builder.append_link(&mut link, "hard.txt", &long).unwrap();
        let mut symlink = tar::Header::new_gnu();
        symlink.set_entry_type(tar::EntryType::Symlink);
        symlink.set_size(0);
        let target = format!("/{}", "t".repeat(200));
        builder
            .append_link(&mut symlink, "sym.txt", &target)
            .unwrap();
        let blob = builder.into_inner().unwrap();

        let result = read(&blob);
        assert_eq!(
            found(&result),
            [
                (long.as_str(), "long"),
                (prefixed.as_str(), "prefixed"),
                ("from/pax.txt", "pax"),
                ("hard.txt", "long"),
            ]
        );
        assert_eq!(
            result.present,
            [
                long.as_str(),
                &prefixed,
                "from/pax.txt",
                "hard.txt",
                "sym.txt"
            ]
        );
        assert_eq!(result.whiteouts, ["etc/gone"]);
        assert_eq!(result.opaque, ["opt"]);
        assert_eq!(
            result.warnings,
            [format!(
                "layer {}: sym.txt is a symbolic link to {target}; not followed",
                Digest::sha256(&blob)
            )]
        );
        assert_eq!(result.tar_bytes, blob.len() as u64);
    }

    #[test]
    fn mutated_streams_are_read_or_refused_never_a_panic() {
        let records = pax_record("path", b"pax/name.txt");
        let blob = tar(&[
            file("a.txt", b"a"),
            member("././@LongLink", typeflag::GNU_LONG_NAME, b"long/name.txt\0"),
            file("ignored", b"long"),
            member("PaxHeaders/x", typeflag::PAX_LOCAL, &records),
            file("x", b"pax"),
            member("l", typeflag::SYMLINK, b""),
        ]);
        let limits = LayerLimits {
            max_name_bytes: 8,
            max_pax_header_bytes: 16,
            ..LayerLimits::default()
        };
        for at in 0..blob.len() - END.len() {
            for value in [0x80, 0xff, b'7', b'\n'] {
                let mut mutated = blob.clone();
                mutated[at] = value;
                let _ = read_within(&mutated, limits);
            }
            let _ = read_within(&blob[..at], LayerLimits::default());
        }
    }

    #[test]
    fn members_with_no_data_hide_nothing_behind_a_size() {
        // Go's archive/tar (so the runtime) reads no data after a link whatever its size
        // field says: the member after it is unpacked, so it must be seen here too.
        let mut link = header(b"link", typeflag::SYMLINK, 2 * BLOCK as u64);
        link[157..163].copy_from_slice(b"target");
        seal(&mut link);
        let mut blob = link.to_vec();
        blob.extend(file("hidden.txt", b"seen"));
        blob.extend_from_slice(&END);
        let result = read(&blob);
        assert_eq!(found(&result), [("hidden.txt", "seen")]);
    }

    #[test]
    fn old_style_directories_and_global_headers_are_not_files() {
        let blob = tar(&[
            member("dir/", typeflag::REGULAR_OLD, b""),
            member(
                "pax_global_header",
                typeflag::PAX_GLOBAL,
                &pax_record("comment", &[b'c'; 4096]),
            ),
            member("old.txt", typeflag::REGULAR_OLD, b"old"),
            member("fifo", typeflag::FIFO, b""),
        ]);
        let result = read(&blob);
        assert_eq!(found(&result), [("old.txt", "old")]);
        assert_eq!(result.present, ["old.txt", "fifo"]);
    }

    #[test]
    fn base_256_sizes_are_read() {
        let mut block = header(b"a.txt", typeflag::REGULAR, 0);
        block[124..136].fill(0);
        block[124] = 0x80;
        block[135] = 5;
        seal(&mut block);
        let mut blob = block.to_vec();
        blob.extend_from_slice(b"hello");
        blob.resize(2 * BLOCK, 0);
        blob.extend_from_slice(&END);
        assert_eq!(found(&read(&blob)), [("a.txt", "hello")]);
        assert!(number(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(number(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert_eq!(number(b"  0017 \0").unwrap(), 15);
        assert!(number(b"0019\0").is_err());
        assert!(number(b"+17\0").is_err());
    }

    #[test]
    fn gnu_sparse_files_are_present_but_not_read() {
        // GNU `S` header with one extension block of the sparse map; 512 bytes stored.
        let mut block = header(b"sparse.txt", typeflag::GNU_SPARSE, BLOCK as u64);
        block[257..265].copy_from_slice(b"ustar  \0");
        block[482] = 1;
        block[483..495].copy_from_slice(b"00010000000\0");
        seal(&mut block);
        let mut blob = block.to_vec();
        let mut extension = [0u8; BLOCK];
        extension[504] = 0;
        blob.extend_from_slice(&extension);
        blob.extend_from_slice(&[b's'; BLOCK]);
        blob.extend(file("after.txt", b"after"));
        blob.extend_from_slice(&END);
        let result = read(&blob);
        assert_eq!(found(&result), [("after.txt", "after")]);
        assert_eq!(result.present, ["sparse.txt", "after.txt"]);
        assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
        assert!(result.warnings[0].contains("sparse.txt is a sparse file; not read"));
    }

    #[test]
    fn broken_tar_streams_are_refused() {
        let good = tar(&[file("a.txt", b"a")]);
        // A header whose checksum does not match.
        let mut corrupt = good.clone();
        corrupt[0] = b'b';
        let error = refused(read_within(&corrupt, LayerLimits::default()));
        assert!(error.to_string().contains("checksum"), "{error}");
        // Data cut short, a header cut short.
        for cut in [BLOCK + 1, BLOCK / 2] {
            let error = refused(read_within(&good[..cut], LayerLimits::default()));
            assert!(
                matches!(error, RegistryError::LayerContent { .. }),
                "{error}"
            );
        }
        // A malformed pax record.
        let blob = tar(&[
            member("PaxHeaders/x", typeflag::PAX_LOCAL, b"99 path=x\n"),
            file("x", b"x"),
        ]);
        let error = refused(read_within(&blob, LayerLimits::default()));
        assert!(error.to_string().contains("pax"), "{error}");
        // Extension headers describing nothing.
        let blob = tar(&[member("././@LongLink", typeflag::GNU_LONG_NAME, b"name\0")]);
        assert!(read_within(&blob, LayerLimits::default()).is_err());
    }

    #[test]
    fn pax_records_parse_by_their_length() {
        let mut data = pax_record("path", b"a\nb=c");
        data.extend(pax_record("size", b"12"));
        data.extend(pax_record("linkpath", b""));
        data.extend(pax_record("SCHILY.xattr.user.x", b"y"));
        let pax = Pax::parse(&data).unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"a\nb=c"[..]));
        assert_eq!(pax.size, Some(12));
        assert_eq!(pax.linkpath, None);
        assert!(!pax.sparse);
        assert!(Pax::parse(b"5 a=b\n").is_err());
        assert!(Pax::parse(b"6 a=b\n\0").is_err());
        assert!(Pax::parse(&pax_record("size", b"-1")).is_err());
    }

    /// A GNU long name member naming the empty file after it `name`.
    fn long_named(name: &str) -> Vec<u8> {
        let mut long = name.as_bytes().to_vec();
        long.push(0);
        let mut out = member("././@LongLink", typeflag::GNU_LONG_NAME, &long);
        out.extend(file("short", b""));
        out
    }

    fn path_limit_error(error: &RegistryError, limit: u64) {
        assert!(
            matches!(error, RegistryError::LayerContent { .. })
                && error.to_string().contains(&format!(
                    "the paths kept of the image's layers add up to more than the per-image \
                     limit of {limit} bytes"
                )),
            "{error}"
        );
    }

    #[test]
    fn a_layer_of_many_long_paths_is_refused_past_the_path_limit() {
        // 64 entries named by 4 KiB GNU long names (under the name limit), in a zstd layer
        // of a few KiB: 256 KiB of paths, past a limit of 128 KiB (kept three times, as
        // the visitor reads every file: present, and found).
        let limits = LayerLimits {
            max_path_bytes: 128 * 1024,
            ..LayerLimits::default()
        };
        let blob = zstd_layer(|out| {
            for n in 0..64 {
                out.write_all(&long_named(&format!("{n:04}/{}", "a".repeat(4091))))
                    .unwrap();
            }
            out.write_all(&END).unwrap();
        });
        assert!(blob.len() < 16 * 1024, "{} bytes", blob.len());
        let error = refused(read_within(&blob, limits));
        path_limit_error(&error, 128 * 1024);
        assert!(
            error
                .to_string()
                .starts_with(&format!("layer {}: the paths kept", Digest::sha256(&blob))),
            "{error}"
        );
        // Within a limit of 1 MiB, all are read.
        let generous = LayerLimits {
            max_path_bytes: MIB,
            ..limits
        };
        assert_eq!(read_within(&blob, generous).unwrap().present.len(), 64);
        // Whiteouts and opaque directories are kept, so counted, the same.
        let dir = "d".repeat(4000);
        let deletions: Vec<Vec<u8>> = (0..64)
            .map(|n| long_named(&format!("{dir}/{n:02}/.wh..wh..opq")))
            .chain((0..64).map(|n| long_named(&format!("{dir}/.wh.{n:02}"))))
            .collect();
        let blob = tar(&deletions);
        let error = refused(read_within(&blob, limits));
        path_limit_error(&error, 128 * 1024);
        let read = read_within(&blob, generous).unwrap();
        assert_eq!((read.opaque.len(), read.whiteouts.len()), (64, 64));
    }

    #[test]
    fn one_byte_paths_are_counted_with_their_overhead() {
        // 2,000 one-byte names: 2,000 bytes of text, but 98,000 bytes kept as strings.
        let limits = LayerLimits {
            max_path_bytes: 64 * 1024,
            ..LayerLimits::default()
        };
        let blob = tar(&vec![member("x", typeflag::FIFO, b""); 2000]);
        path_limit_error(&refused(read_within(&blob, limits)), 64 * 1024);
        let blob = tar(&vec![member("x", typeflag::FIFO, b""); 1000]);
        assert_eq!(read_within(&blob, limits).unwrap().present.len(), 1000);
    }

    #[test]
    fn the_layers_of_one_walk_share_the_path_limit() {
        // Four layers of 100 files of 1 KiB paths, each path kept three times (present, and
        // found by the visitor, which wants every file): 310 KiB or so a layer, 1.2 MiB
        // together.
        let limits = LayerLimits {
            max_path_bytes: 512 * 1024,
            ..LayerLimits::default()
        };
        let layers: Vec<Vec<u8>> = (0..4)
            .map(|layer| {
                zstd_layer(|out| {
                    for n in 0..100 {
                        let name = format!("{layer}/{n:03}/{}", "p".repeat(1000));
                        out.write_all(&long_named(&name)).unwrap();
                    }
                    out.write_all(&END).unwrap();
                })
            })
            .collect();
        path_limit_error(&walk_within(&layers, &limits).unwrap_err(), 512 * 1024);
        for layer in &layers {
            read_within(layer, limits).unwrap();
        }
        let generous = LayerLimits {
            max_path_bytes: 2 * MIB,
            ..limits
        };
        let files = walk_within(&layers, &generous).unwrap();
        // Texts reads every file: the 400 of the four layers.
        assert_eq!(files.files.len(), 400);
    }

    #[test]
    fn warnings_for_a_flood_of_bomb_entries_are_capped() {
        // 10,000 entries with 2 KiB GNU long names, over a limit of 1 KiB, each a warning;
        // and 10,000 entries that leave the root.
        let limits = LayerLimits {
            max_name_bytes: 1024,
            ..LayerLimits::default()
        };
        let blob = zstd_layer(|out| {
            let bomb = [
                member("././@LongLink", typeflag::GNU_LONG_NAME, &[b'n'; 2048]),
                file("bomb", b""),
            ]
            .concat();
            let escape = file("../escape", b"");
            for _ in 0..10_000 {
                out.write_all(&bomb).unwrap();
                out.write_all(&escape).unwrap();
            }
            out.write_all(&file("after.txt", b"after")).unwrap();
            out.write_all(&END).unwrap();
        });
        let result = read_within(&blob, limits).unwrap();
        assert_eq!(found(&result), [("after.txt", "after")]);
        assert_eq!(result.warnings.len(), MAX_LAYER_WARNINGS + 1);
        assert!(result.warnings[0].contains("entry \"bomb\" has a 2048-byte GNU long name"));
        assert!(result.warnings[1].contains("entry \"../escape\" leaves the root"));
        assert_eq!(
            result.warnings[MAX_LAYER_WARNINGS],
            format!(
                "layer {}: and 19900 more entries skipped, not read or not followed (the first \
                 100 warnings of a layer are listed)",
                Digest::sha256(&blob)
            )
        );
        // At the limit exactly, no summary.
        let blob = tar(&vec![file("../escape", b""); 3]);
        let three = LayerLimits {
            max_layer_warnings: 3,
            ..limits
        };
        assert_eq!(read_within(&blob, three).unwrap().warnings.len(), 3);
    }

    #[test]
    fn opaque_directories_empty_only_their_own_tree() {
        let mut base = layer(0);
        for (path, n) in [("a/f", 1), ("a/b/g", 2), ("ab/h", 3), ("a", 4)] {
            base.found.push((path.into(), n));
        }
        let mut upper = layer(1);
        upper.opaque.push("a".into());
        assert_eq!(
            paths(&merge(vec![base, upper], 0)),
            [("a".to_owned(), 4), ("ab/h".to_owned(), 3)]
        );
        let mut base = layer(0);
        base.found.push(("x/y".into(), 1));
        let mut upper = layer(1);
        upper.opaque.push(String::new());
        upper.found.push(("z".into(), 2));
        assert_eq!(paths(&merge(vec![base, upper], 0)), [("z".to_owned(), 2)]);
    }

    #[test]
    fn the_fuzz_entry_point_reads_every_file() {
        let blob = tar(&[
            file("a.txt", b"a"),
            file("../x", b""),
            member("l", typeflag::HARD_LINK, b""),
        ]);
        let files = fuzz_read_tar(&blob).unwrap();
        assert_eq!(files.files.len(), 1);
        assert_eq!(files.files[0].output, 1);
        assert_eq!(files.warnings.len(), 1);
        assert!(fuzz_read_tar(&blob[..700]).is_err());
        let bomb = zeros_layer(32 * MIB);
        assert!(matches!(
            fuzz_read_tar(&bomb),
            Err(RegistryError::LayerTooLarge { .. })
        ));
    }

    #[test]
    fn the_fuzz_entry_point_stacks_the_layers_its_input_is_split_into() {
        let lower = tar(&[file("etc/gone", b"1"), file("etc/kept", b"22")]);
        let upper = tar(&[file("etc/.wh.gone", b""), file("new", b"333")]);
        let input = [&lower[..], &upper[..]].join(FUZZ_LAYER_SEPARATOR);
        let files = fuzz_read_tar(&input).unwrap();
        let found: Vec<(&str, u64)> = files
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.output))
            .collect();
        assert_eq!(found, [("etc/kept", 2), ("new", 3)]);
        assert_eq!(files.files[1].layer, Digest::sha256(&upper));
        assert_eq!(files.compressed_bytes, (lower.len() + upper.len()) as u64);
        // Past the most layers, the rest is read as one last layer, separators and all.
        let many = [&lower[..]; FUZZ_MAX_LAYERS + 1].join(FUZZ_LAYER_SEPARATOR);
        let read = fuzz_read_tar(&many).unwrap().compressed_bytes;
        let split = (FUZZ_MAX_LAYERS - 1) * FUZZ_LAYER_SEPARATOR.len();
        assert_eq!(read, (many.len() - split) as u64);
    }
}
