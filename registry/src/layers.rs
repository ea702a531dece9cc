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

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use vouch_keys::Digest;

use crate::RegistryError;
use crate::manifest::{Descriptor, FetchedManifest, ImageManifest, Manifest, Platform};
use crate::store::{BlobSource, ManifestRef, Store};

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
/// filesystem. Fails on the first layer that cannot be fetched, whose bytes are not its
/// digest or size, or whose content is not a readable (gzip, zstd or plain) tar stream.
pub async fn walk_layers<V: FileVisitor>(
    store: &Store,
    manifest: &ImageManifest,
    visitor: Arc<V>,
    options: &WalkOptions,
) -> Result<ImageFiles<V::Output>, RegistryError> {
    let parallel = match options.parallel_layers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let results: Vec<LayerResult<V::Output>> =
        futures_util::stream::iter(manifest.layers.iter().cloned())
            .map(|layer| read_layer(store, layer, visitor.clone(), options.progress.clone()))
            .buffered(parallel)
            .try_collect()
            .await?;
    let compressed_bytes = manifest.layers.iter().map(|l| l.size).sum();
    Ok(merge(results, compressed_bytes))
}

async fn read_layer<V: FileVisitor>(
    store: &Store,
    layer: Descriptor,
    visitor: Arc<V>,
    progress: Option<Progress>,
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
            tokio::task::spawn_blocking(move || read_tar(&layer, file, &*visitor, progress))
                .await
                .map_err(join)?
        }
        BlobSource::Http(mut response) => {
            // The body is pumped into a bounded channel by a task of the runtime, and read
            // synchronously (tar, inflate) on a blocking thread: memory stays at a few chunks.
            let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, String>>(16);
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
                read_tar(&layer_for_read, reader, &*visitor, progress)
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

/// The first integrity failure of a layer's bytes, kept apart from the I/O errors that the
/// decompressor and tar reader turn it into.
type Failure = Arc<Mutex<Option<RegistryError>>>;

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
        let message = error.to_string();
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(error);
        }
        io::Error::other(message)
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

/// Counts the uncompressed bytes the tar reader takes.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A tar path made relative and clean: `./usr/bin/x` and `/usr/bin/x` are `usr/bin/x`;
/// `None` when a component is `..` (it would leave the root).
fn clean_path(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// Reads one layer blob on the current (blocking) thread.
fn read_tar<V: FileVisitor, R: Read>(
    layer: &Descriptor,
    source: R,
    visitor: &V,
    progress: Option<Progress>,
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
    let mut archive = tar::Archive::new(Counted {
        inner: decoder,
        count: 0,
    });
    let mut result = LayerResult {
        digest: layer.digest.clone(),
        found: Vec::new(),
        whiteouts: Vec::new(),
        opaque: Vec::new(),
        present: Vec::new(),
        warnings: Vec::new(),
        tar_bytes: 0,
    };
    let mut found_at: HashMap<String, usize> = HashMap::new();
    let entries = archive.entries().map_err(|e| content_error(kind, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| content_error(kind, e))?;
        let raw = entry.path_bytes().into_owned();
        let Some(path) = clean_path(&raw) else {
            result.warnings.push(format!(
                "layer {}: entry \"{}\" leaves the root (..); skipped",
                layer.digest,
                String::from_utf8_lossy(&raw)
            ));
            continue;
        };
        if path.is_empty() {
            continue;
        }
        let entry_type = entry.header().entry_type();
        let name = path.rsplit('/').next().unwrap_or_default();
        if entry_type.is_dir() {
            continue;
        }
        if name == ".wh..wh..opq" {
            result.opaque.push(parent_of(&path).to_owned());
            continue;
        }
        if let Some(deleted) = name.strip_prefix(".wh.") {
            result.whiteouts.push(join(parent_of(&path), deleted));
            continue;
        }
        result.present.push(path.clone());
        if entry_type.is_file() || entry_type.is_gnu_sparse() || entry_type.is_contiguous() {
            let size = entry.size();
            if visitor.wants(&path, size) {
                let output = visitor.visit(&path, size, &mut entry);
                found_at.insert(path.clone(), result.found.len());
                result.found.push((path, output));
            }
        } else if entry_type.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .and_then(|t| clean_path(&t))
                .unwrap_or_default();
            if let Some(&index) = found_at.get(&target) {
                let output = result.found[index].1.clone();
                found_at.insert(path.clone(), result.found.len());
                result.found.push((path, output));
            }
        } else if entry_type.is_symlink() && visitor.wants(&path, 0) {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            result.warnings.push(format!(
                "layer {}: {path} is a symbolic link to {target}; not followed",
                layer.digest
            ));
        }
    }
    // Read to the end of the decompressed stream, then of the blob, so that its size and
    // digest are checked whatever the tar reader left unread.
    let mut counted = archive.into_inner();
    io::copy(&mut counted, &mut io::sink()).map_err(|e| content_error(kind, e))?;
    result.tar_bytes = counted.count;
    let mut source = counted.inner.into_source();
    io::copy(&mut source, &mut io::sink()).map_err(|e| content_error(kind, e))?;
    if let Some(error) = failure.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(error);
    }
    Ok(result)
}

/// Removes `path` and everything under it from `files`.
fn remove_tree<O>(files: &mut BTreeMap<String, (Digest, O)>, path: &str) {
    files.remove(path);
    let prefix = format!("{path}/");
    let doomed: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        files.remove(&key);
    }
}

/// Stacks the layers, lowest first, into the final filesystem's visited files.
fn merge<O>(layers: Vec<LayerResult<O>>, compressed_bytes: u64) -> ImageFiles<O> {
    let mut files: BTreeMap<String, (Digest, O)> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut tar_bytes = 0;
    for layer in layers {
        for dir in &layer.opaque {
            if dir.is_empty() {
                files.clear();
            } else {
                let prefix = format!("{dir}/");
                files.retain(|k, _| !k.starts_with(&prefix));
            }
        }
        for path in layer.whiteouts.iter().chain(&layer.present) {
            remove_tree(&mut files, path);
        }
        for (path, output) in layer.found {
            files.insert(path, (layer.digest.clone(), output));
        }
        warnings.extend(layer.warnings);
        tar_bytes += layer.tar_bytes;
    }
    ImageFiles {
        files: files
            .into_iter()
            .map(|(path, (layer, output))| FoundFile {
                layer,
                path,
                output,
            })
            .collect(),
        warnings,
        compressed_bytes,
        tar_bytes,
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
}
