//! OCI image layouts on disk (image-spec `image-layout.md`): `oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`. Tags are the `org.opencontainers.image.ref.name` annotations of
//! `index.json` entries.
//!
//! Writes are crash-safe and safe against concurrent writers: blobs are written to a temporary
//! file and renamed into place, and `index.json` is rewritten the same way while holding an
//! exclusive lock on the `oci-layout` file (which is never replaced, so every writer locks
//! the same inode).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use vouch_keys::Digest;
use vouch_keys::files::{self, InputFile, InputFileError};

use crate::RegistryError;
use crate::manifest::{Descriptor, FetchedManifest, ImageIndex, REF_NAME_ANNOTATION, media_types};

const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
const LAYOUT_VERSION: &str = "1.0.0";
/// `index.json` is read whole; this bounds it like any manifest.
const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// `oci-layout` holds one short JSON object (`{"imageLayoutVersion":"1.0.0"}`); 64 KiB is
/// far more than it ever needs.
const MAX_MARKER_BYTES: u64 = 64 * 1024;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Layout {
    /// Opens an existing layout: `oci-layout` must declare version 1.0.0 and `index.json`
    /// must be an image index.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let layout = Self { root: root.into() };
        let marker = layout.root.join(LAYOUT_FILE);
        layout.refuse_links(&marker)?;
        let bytes = match files::read_capped(&marker, MAX_MARKER_BYTES) {
            Ok(bytes) => bytes,
            Err(InputFileError::Io { source, .. }) => {
                return Err(
                    layout.error(format!("not an OCI image layout ({LAYOUT_FILE}: {source})"))
                );
            }
            Err(e) => return Err(layout.error(e.to_string())),
        };
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_owned));
        if version.as_deref() != Some(LAYOUT_VERSION) {
            return Err(layout.error(format!(
                "{LAYOUT_FILE} does not declare imageLayoutVersion {LAYOUT_VERSION}"
            )));
        }
        layout.index()?;
        Ok(layout)
    }

    /// Creates an empty layout at `root` (the directory may exist but must not already hold
    /// a layout).
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let layout = Self { root: root.into() };
        if layout.root.join(LAYOUT_FILE).exists() {
            return Err(layout.error("already exists".into()));
        }
        fs::create_dir_all(layout.root.join("blobs/sha256")).map_err(io_error(&layout.root))?;
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: Default::default(),
            extra: Default::default(),
        };
        layout.write_atomically(INDEX_FILE, &to_json(&index))?;
        layout.write_atomically(
            LAYOUT_FILE,
            format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}").as_bytes(),
        )?;
        Ok(layout)
    }

    /// Removes this layout again if nothing was written into it since [`Layout::create`]:
    /// its `index.json` lists nothing and `blobs/` holds only an empty `sha256/` (with
    /// `remove_root`, the directory too, when it is then empty). Checked under the layout
    /// lock; a blob written meanwhile keeps the layout. Whether it was removed.
    pub fn remove_if_unused(&self, remove_root: bool) -> Result<bool, RegistryError> {
        let blobs = self.root.join("blobs");
        let sha256 = blobs.join("sha256");
        let removed = self.locked(|| {
            if !self.index()?.manifests.is_empty() {
                return Ok(false);
            }
            let only_sha256 = fs::read_dir(&blobs)
                .map_err(io_error(&blobs))?
                .all(|entry| entry.is_ok_and(|e| e.file_name() == "sha256"));
            // `remove_dir` refuses a folder that is not empty, whoever wrote into it last.
            if !only_sha256 || fs::remove_dir(&sha256).is_err() {
                return Ok(false);
            }
            fs::remove_dir(&blobs).map_err(io_error(&blobs))?;
            let index = self.root.join(INDEX_FILE);
            fs::remove_file(&index).map_err(io_error(&index))?;
            let marker = self.root.join(LAYOUT_FILE);
            fs::remove_file(&marker).map_err(io_error(&marker))?;
            Ok(true)
        })?;
        if removed && remove_root {
            // Left in place if anything else is in it.
            let _ = fs::remove_dir(&self.root);
        }
        Ok(removed)
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn error(&self, reason: String) -> RegistryError {
        RegistryError::Layout {
            path: self.root.clone(),
            reason,
        }
    }

    /// The error for a file of the layout that could not be read: too large, or not a
    /// regular file (a layout that is not one: the user's input), else an I/O failure.
    fn input_error(&self, error: InputFileError) -> RegistryError {
        match error {
            InputFileError::Io { path, source } => RegistryError::Io { path, source },
            InputFileError::TooLarge { path, limit } => RegistryError::TooLarge {
                what: path.display().to_string(),
                limit,
            },
            other => self.error(other.to_string()),
        }
    }

    /// Opens the blob with `digest` for streaming, refusing (without blocking) a blob file
    /// that is not a regular file. `None` if absent. Its size and digest are not checked
    /// here: the reader checks them as it reads.
    pub fn open_blob(&self, digest: &Digest) -> Result<Option<File>, RegistryError> {
        let path = self.blob_path(digest);
        self.refuse_links(&path)?;
        match InputFile::open(&path) {
            Ok(file) => Ok(Some(file.into_file())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.input_error(e)),
        }
    }

    /// Refuses `path` (inside the layout) when a component of it below the layout's root is
    /// a symbolic link: a layout's files are read as they are, never through a link that
    /// could lead out of it (the root itself may be a link the user gave). A missing
    /// component is left to the open that follows, which reports it.
    fn refuse_links(&self, path: &Path) -> Result<(), RegistryError> {
        let Ok(inside) = path.strip_prefix(&self.root) else {
            return Ok(());
        };
        let mut at = self.root.clone();
        for component in inside.components() {
            at.push(component);
            match std::fs::symlink_metadata(&at) {
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    // The component that is the link (`blobs`, `blobs/sha256` or the file).
                    let link = at.strip_prefix(&self.root).unwrap_or(inside);
                    return Err(self.error(format!(
                        "{} is a symbolic link; a layout's files are not read through links",
                        link.display()
                    )));
                }
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<ImageIndex, RegistryError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = read_bounded(self, &path, MAX_INDEX_BYTES)?
            .ok_or_else(|| self.error(format!("{INDEX_FILE} is missing")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("{INDEX_FILE} is not an image index: {e}")))
    }

    /// The `index.json` entry tagged `tag`, if any.
    pub fn find_tag(&self, tag: &str) -> Result<Option<Descriptor>, RegistryError> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag)))
    }

    /// The manifest tagged `tag` (at most `limit` bytes, checked against its digest), if the
    /// tag exists.
    pub fn read_tagged_manifest(
        &self,
        tag: &str,
        limit: u64,
    ) -> Result<Option<crate::manifest::FetchedManifest>, RegistryError> {
        match self.find_tag(tag)? {
            Some(d) => self.read_manifest(&d.digest, &d.media_type, limit),
            None => Ok(None),
        }
    }

    /// The image a reference without tag or digest means: the only entry of `index.json`
    /// that is not a cosign signature, attestation or SBOM tag, nor a referrers tag schema
    /// index (`<alg>-<hex>`, see [`crate::referrers`]).
    pub fn sole_image(&self) -> Result<Descriptor, RegistryError> {
        let images: Vec<Descriptor> = self
            .index()?
            .manifests
            .into_iter()
            .filter(|d| {
                !d.annotations.get(REF_NAME_ANNOTATION).is_some_and(|name| {
                    crate::cosign::is_cosign_tag(name) || crate::referrers::is_referrers_tag(name)
                })
            })
            .collect();
        match <[Descriptor; 1]>::try_from(images) {
            Ok([only]) => Ok(only),
            Err(images) => {
                let tags: Vec<&str> = images
                    .iter()
                    .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str))
                    .collect();
                Err(self.error(format!(
                    "holds {} images; name one as oci:PATH:TAG (tags: {})",
                    images.len(),
                    if tags.is_empty() {
                        "none".to_owned()
                    } else {
                        tags.join(", ")
                    }
                )))
            }
        }
    }

    /// Reads a blob of at most `limit` bytes and checks its digest. `None` if absent.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let path = self.blob_path(digest);
        let Some(bytes) = read_bounded(self, &path, limit).map_err(|e| match e {
            RegistryError::TooLarge { .. } => RegistryError::TooLarge {
                what: format!("blob {digest} in {}", self.root.display()),
                limit,
            },
            other => other,
        })?
        else {
            return Ok(None);
        };
        let mut hasher = digest.hasher();
        hasher.update(&bytes);
        hasher
            .finish()
            .map_err(|found| RegistryError::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.clone(),
                found,
            })?;
        Ok(Some(bytes))
    }

    /// Reads the manifest with `digest` (bounded, digest-checked). Its media type is the one
    /// the manifest states, else `media_type` (from the index entry). `None` if absent.
    pub fn read_manifest(
        &self,
        digest: &Digest,
        media_type: &str,
        limit: u64,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        Ok(self.read_blob(digest, limit)?.map(|bytes| FetchedManifest {
            digest: digest.clone(),
            media_type: crate::manifest::stated_media_type(&bytes)
                .unwrap_or_else(|| media_type.to_owned()),
            bytes,
        }))
    }

    /// Stores `bytes` as a blob (no-op if already present) and returns its descriptor.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, RegistryError> {
        let descriptor = Descriptor::of(media_type, bytes);
        let path = self.blob_path(&descriptor.digest);
        if !path.exists() {
            let relative = Path::new("blobs")
                .join(descriptor.digest.algorithm().name())
                .join(descriptor.digest.hex());
            self.write_atomically(&relative, bytes)?;
        }
        Ok(descriptor)
    }

    /// Whether the layout has a regular file for the blob `digest` (its content is not
    /// checked here: every read checks it).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let path = self.blob_path(digest);
        self.refuse_links(&path)?;
        match fs::symlink_metadata(&path) {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// A writer for the blob `descriptor` names, fed in pieces: the bytes go to a temporary
    /// file, and [`BlobWriter::finish`] moves it into place only once exactly
    /// `descriptor.size` bytes hashing to its digest were written. A writer dropped
    /// unfinished leaves nothing behind.
    pub fn blob_writer(&self, descriptor: &Descriptor) -> Result<BlobWriter, RegistryError> {
        let path = self.blob_path(&descriptor.digest);
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let (temp, file) = tempfile_in(&dir)?;
        Ok(BlobWriter {
            temp: Some(temp),
            file: std::io::BufWriter::with_capacity(256 * 1024, file),
            path,
            hasher: Some(descriptor.digest.hasher()),
            expected: descriptor.digest.clone(),
            size: descriptor.size,
            written: 0,
        })
    }

    /// Lists `descriptor` in `index.json` without a tag, unless an entry without a tag
    /// already lists that digest: how an image copied by digest alone stays reachable.
    pub fn add_untagged(&self, descriptor: Descriptor) -> Result<(), RegistryError> {
        self.locked(|| {
            let mut index = self.index()?;
            if index.manifests.iter().any(|d| {
                d.digest == descriptor.digest && !d.annotations.contains_key(REF_NAME_ANNOTATION)
            }) {
                return Ok(());
            }
            index.manifests.push(descriptor);
            self.write_atomically(INDEX_FILE, &to_json(&index))
        })
    }

    /// Points `tag` at `descriptor` in `index.json`, replacing any entry with that tag, under
    /// the layout lock.
    pub fn set_tag(&self, tag: &str, descriptor: Descriptor) -> Result<(), RegistryError> {
        self.locked(|| self.set_tag_unlocked(tag, descriptor))
    }

    /// Runs `f` holding the exclusive layout lock, for read-modify-write sequences. `f` must
    /// not call [`Layout::set_tag`] (which takes the lock itself).
    pub(crate) fn locked<T>(
        &self,
        f: impl FnOnce() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let lock_path = self.root.join(LAYOUT_FILE);
        // Opened like any input: a FIFO put in its place must not block every writer.
        let lock = InputFile::open(&lock_path)
            .map_err(|e| self.input_error(e))?
            .into_file();
        lock.lock().map_err(io_error(&lock_path))?;
        let result = f();
        drop(lock);
        result
    }

    /// [`Layout::set_tag`] for callers already holding the lock.
    pub(crate) fn set_tag_unlocked(
        &self,
        tag: &str,
        mut descriptor: Descriptor,
    ) -> Result<(), RegistryError> {
        let mut index = self.index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) != Some(tag));
        descriptor
            .annotations
            .insert(REF_NAME_ANNOTATION.into(), tag.into());
        index.manifests.push(descriptor);
        self.write_atomically(INDEX_FILE, &to_json(&index))
    }

    /// Writes `relative` by way of a temporary file in the same directory and a rename, so
    /// readers see the old content or the new, never a mix.
    fn write_atomically(
        &self,
        relative: impl AsRef<Path>,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let path = self.root.join(relative);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut temp = tempfile_in(dir)?;
        temp.1.write_all(bytes).map_err(io_error(&temp.0))?;
        temp.1.sync_all().map_err(io_error(&temp.0))?;
        fs::rename(&temp.0, &path).map_err(|e| {
            let _ = fs::remove_file(&temp.0);
            RegistryError::Io {
                path: path.clone(),
                source: e,
            }
        })
    }
}

/// A blob of a layout being written: see [`Layout::blob_writer`].
pub struct BlobWriter {
    temp: Option<PathBuf>,
    file: std::io::BufWriter<File>,
    path: PathBuf,
    hasher: Option<vouch_keys::Hasher>,
    expected: Digest,
    size: u64,
    written: u64,
}

impl BlobWriter {
    /// Writes the next piece; refuses one that would pass the descriptor's size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), RegistryError> {
        self.written += bytes.len() as u64;
        if self.written > self.size {
            return Err(RegistryError::TooLarge {
                what: format!("blob {}", self.expected),
                limit: self.size,
            });
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(bytes);
        }
        let temp = self.temp.as_deref().unwrap_or(&self.path);
        self.file.write_all(bytes).map_err(io_error(temp))
    }

    /// Checks size and digest, then moves the blob into place.
    pub fn finish(mut self) -> Result<(), RegistryError> {
        let temp = self.temp.clone().unwrap_or_default();
        if self.written != self.size {
            return Err(RegistryError::LayerContent {
                layer: self.expected.clone(),
                reason: format!(
                    "{} bytes arrived, the descriptor says {}",
                    self.written, self.size
                ),
            });
        }
        if let Some(hasher) = self.hasher.take() {
            hasher
                .finish()
                .map_err(|found| RegistryError::DigestMismatch {
                    what: format!("blob {}", self.expected),
                    expected: self.expected.clone(),
                    found,
                })?;
        }
        self.file.flush().map_err(io_error(&temp))?;
        self.file.get_ref().sync_all().map_err(io_error(&temp))?;
        fs::rename(&temp, &self.path).map_err(io_error(&self.path))?;
        self.temp = None;
        Ok(())
    }
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlobWriter({}, {} of {} bytes)",
            self.expected, self.written, self.size
        )
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// A new, uniquely named temporary file in `dir`.
fn tempfile_in(dir: &Path) -> Result<(PathBuf, File), RegistryError> {
    let mut attempt = 0u32;
    loop {
        let mut random = [0u8; 8];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| RegistryError::Io {
            path: dir.to_owned(),
            source: std::io::Error::other("no randomness for a temporary name"),
        })?;
        let path = dir.join(format!(".vouch-tmp-{}", vouch_keys::hex(&random)));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 10 => {
                attempt += 1;
            }
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
}

/// Reads a regular file of at most `limit` bytes; `None` if it does not exist. Anything
/// else (a FIFO, a device, a directory) is refused without blocking on it.
fn read_bounded(
    layout: &Layout,
    path: &Path,
    limit: u64,
) -> Result<Option<Vec<u8>>, RegistryError> {
    layout.refuse_links(path)?;
    match files::read_capped(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(layout.input_error(e)),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data structures always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_write_tag_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("l")).unwrap();
        let blob = layout.write_blob("x/y", b"hello").unwrap();
        assert_eq!(
            layout.read_blob(&blob.digest, 5).unwrap().unwrap(),
            b"hello"
        );
        assert!(matches!(
            layout.read_blob(&blob.digest, 4),
            Err(RegistryError::TooLarge { .. })
        ));
        layout.set_tag("v1", blob.clone()).unwrap();
        layout.set_tag("v1", blob.clone()).unwrap();
        let reopened = Layout::open(layout.root()).unwrap();
        assert_eq!(reopened.index().unwrap().manifests.len(), 1);
        assert_eq!(
            reopened.find_tag("v1").unwrap().unwrap().digest,
            blob.digest
        );
        assert_eq!(reopened.sole_image().unwrap().digest, blob.digest);
        assert!(reopened.find_tag("v2").unwrap().is_none());
    }

    #[test]
    fn a_corrupted_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let blob = layout.write_blob("x/y", b"hello").unwrap();
        fs::write(layout.blob_path(&blob.digest), b"HELLO").unwrap();
        assert!(matches!(
            layout.read_blob(&blob.digest, 100),
            Err(RegistryError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn a_directory_that_is_not_a_layout_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Layout::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn layout_files_that_are_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let blob = layout.write_blob("x/y", b"hello").unwrap();
        fs::remove_file(layout.blob_path(&blob.digest)).unwrap();
        mkfifo(&layout.blob_path(&blob.digest));
        let err = layout.read_blob(&blob.digest, 100).unwrap_err();
        assert!(err.is_input_error(), "{err}");
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        let err = layout.open_blob(&blob.digest).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");

        fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
        mkfifo(&dir.path().join(INDEX_FILE));
        let err = Layout::open(dir.path()).unwrap_err();
        assert!(err.is_input_error(), "{err}");
        assert!(err.to_string().contains("index.json is a FIFO"), "{err}");

        fs::remove_file(dir.path().join(LAYOUT_FILE)).unwrap();
        mkfifo(&dir.path().join(LAYOUT_FILE));
        let err = Layout::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("oci-layout is a FIFO"), "{err}");
        let err = layout.set_tag("v1", blob).unwrap_err();
        assert!(err.to_string().contains("oci-layout is a FIFO"), "{err}");
    }

    #[test]
    fn concurrent_taggers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        std::thread::scope(|scope| {
            for i in 0..8 {
                let layout = layout.clone();
                scope.spawn(move || {
                    let blob = layout.write_blob("x/y", format!("{i}").as_bytes()).unwrap();
                    layout.set_tag(&format!("t{i}"), blob).unwrap();
                });
            }
        });
        assert_eq!(layout.index().unwrap().manifests.len(), 8);
    }
}
