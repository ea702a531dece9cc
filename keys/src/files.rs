//! Reading the files a user names as input (keys, bundles, predicates, policies, trusted
//! roots, the files of an OCI layout) without trusting what they are.
//!
//! A path can name a FIFO, which blocks `open` until a writer appears (forever, if none
//! does), or a character device such as `/dev/zero`, which never ends. [`InputFile::open`]
//! therefore:
//!
//! * refuses anything `stat` does not call a regular file before opening it (opening some
//!   devices has effects of its own);
//! * opens with `O_NONBLOCK` (so a FIFO swapped in after that check cannot block the open)
//!   and `O_NOCTTY`;
//! * checks the opened handle again with `fstat`, so what is read is what was checked.
//!
//! Reads are then bounded: [`InputFile::read_capped`] reads at most `limit + 1` bytes and
//! refuses a file over `limit`; [`InputFile::read_whole`] and [`InputFile::digest`] read no
//! more than the size the file had when it was opened, so a file that keeps growing is
//! refused rather than read forever. Symbolic links are followed: a key in a Kubernetes
//! secret volume is a symlink, and what matters is the file it leads to.
//!
//! ```no_run
//! use vouch_keys::files::{self, MAX_KEY_FILE_BYTES};
//!
//! # fn main() -> Result<(), files::InputFileError> {
//! let pem = files::read_capped("cosign.key".as_ref(), MAX_KEY_FILE_BYTES)?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroize as _;

use crate::{Digest, DigestAlgorithm};

/// The largest key file read (private or public, PEM): 64 KiB. An encrypted RSA-4096 key is
/// under 4 KiB; anything near this limit is not a key.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// What a path turned out to be when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device (a disk).
    BlockDevice,
    /// A Unix domain socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl FileKind {
    fn of(metadata: &Metadata) -> Option<FileKind> {
        let file_type = metadata.file_type();
        if file_type.is_file() {
            return None;
        }
        if file_type.is_dir() {
            return Some(FileKind::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if file_type.is_fifo() {
                return Some(FileKind::Fifo);
            }
            if file_type.is_char_device() {
                return Some(FileKind::CharDevice);
            }
            if file_type.is_block_device() {
                return Some(FileKind::BlockDevice);
            }
            if file_type.is_socket() {
                return Some(FileKind::Socket);
            }
        }
        Some(FileKind::Other)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Why an input file was not read. Every message names the path; none carries the content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputFileError {
    /// The file could not be opened or read (it does not exist, permission denied, I/O).
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path is not a regular file.
    #[error("{} is {kind}, not a regular file; refused", .path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// The file is larger than the limit for what it holds.
    #[error("{} is larger than {}; refused", .path.display(), human_size(*.limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file grew while it was read: what was read would not be what is there.
    #[error("{} grew while it was read; refused", .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
}

impl InputFileError {
    /// True when the file does not exist (callers for whom absence is an answer, not an
    /// error, check this).
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputFileError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputFileError::Io { path, .. }
            | InputFileError::NotRegular { path, .. }
            | InputFileError::TooLarge { path, .. }
            | InputFileError::Changed { path } => path,
        }
    }
}

/// `65536` as `64 KiB`, `4194304` as `4 MiB`; other sizes in bytes.
fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A regular file, opened for reading without blocking (see the [module docs](self)).
#[derive(Debug)]
pub struct InputFile {
    file: File,
    metadata: Metadata,
    path: PathBuf,
}

impl InputFile {
    /// Opens `path` for reading. Refuses, without blocking, anything that is not a regular
    /// file (after following symbolic links): [`InputFileError::NotRegular`] names what it is.
    pub fn open(path: &Path) -> Result<InputFile, InputFileError> {
        let io = |source| InputFileError::Io {
            path: path.to_owned(),
            source,
        };
        let refuse_irregular = |metadata: &Metadata| match FileKind::of(metadata) {
            Some(kind) => Err(InputFileError::NotRegular {
                path: path.to_owned(),
                kind,
            }),
            None => Ok(()),
        };
        // Before opening: opening a device can do something (rewind a tape, claim a tty).
        refuse_irregular(&std::fs::metadata(path).map_err(io)?)?;
        let mut options = File::options();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            // O_NONBLOCK: a FIFO put in place after the check above must not block the open
            // (it has no effect on reading a regular file). O_NOCTTY: nor become our terminal.
            options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        }
        let file = options.open(path).map_err(io)?;
        // What is read is what the handle is, whatever the path names by now.
        let metadata = file.metadata().map_err(io)?;
        refuse_irregular(&metadata)?;
        Ok(InputFile {
            file,
            metadata,
            path: path.to_owned(),
        })
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The opened file's metadata (from `fstat`): its size when opened, its mode.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The opened file, to read as a stream (the caller bounds what it reads).
    pub fn into_file(self) -> File {
        self.file
    }

    /// The permission bits of the opened file (`0o644`, ...).
    #[cfg(unix)]
    pub fn mode(&self) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        self.metadata.permissions().mode() & 0o7777
    }

    /// Reads the whole file if it is at most `limit` bytes; else
    /// [`InputFileError::TooLarge`]. At most `limit + 1` bytes are read, whatever the size
    /// the file claims. What was read of a refused file is zeroed before it is freed (it may
    /// be a key).
    pub fn read_capped(self, limit: u64) -> Result<Vec<u8>, InputFileError> {
        let mut bytes = self.read_at_most(limit)?;
        if bytes.len() as u64 > limit {
            bytes.zeroize();
            return Err(InputFileError::TooLarge {
                path: self.path,
                limit,
            });
        }
        Ok(bytes)
    }

    /// Reads the whole file, however large, but no more than the size it had when it was
    /// opened: a file that grows meanwhile is [`InputFileError::Changed`], so reading ends.
    /// For artifacts, whose size is the user's business; memory use is the file's size.
    pub fn read_whole(self) -> Result<Vec<u8>, InputFileError> {
        let size = self.metadata.len();
        let bytes = self.read_at_most(size)?;
        if bytes.len() as u64 > size {
            return Err(InputFileError::Changed { path: self.path });
        }
        Ok(bytes)
    }

    /// The file's digest with `algorithm`, read in pieces (memory use does not depend on
    /// the file's size), and no more than the size it had when it was opened: a file that
    /// grows meanwhile is [`InputFileError::Changed`].
    pub fn digest(self, algorithm: DigestAlgorithm) -> Result<Digest, InputFileError> {
        let size = self.metadata.len();
        let mut context = aws_lc_rs::digest::Context::new(algorithm.lc());
        let mut reader = (&self.file).take(size.saturating_add(1));
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(InputFileError::Io {
                        path: self.path,
                        source,
                    });
                }
            };
            total += n as u64;
            if total > size {
                return Err(InputFileError::Changed { path: self.path });
            }
            context.update(&buffer[..n]);
        }
        Digest::from_bytes(algorithm, context.finish().as_ref()).map_err(|e| InputFileError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Reads at most `limit + 1` bytes, into a buffer sized from the file's size so that
    /// reading a file that is what it claims never reallocates (no stray copies of a key).
    fn read_at_most(&self, limit: u64) -> Result<Vec<u8>, InputFileError> {
        let expected = self.metadata.len().min(limit).saturating_add(1);
        let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        (&self.file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| InputFileError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes)
    }
}

/// Opens `path` with [`InputFile::open`] and reads it with [`InputFile::read_capped`]: a
/// regular file of at most `limit` bytes, or an error naming the path and why.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, InputFileError> {
    InputFile::open(path)?.read_capped(limit)
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_regular_file_under_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), b"hello");
        assert_eq!(
            InputFile::open(&path).unwrap().read_whole().unwrap(),
            b"hello"
        );
        assert_eq!(
            InputFile::open(&path)
                .unwrap()
                .digest(DigestAlgorithm::Sha256)
                .unwrap(),
            Digest::sha256(b"hello")
        );
        assert_eq!(read_capped(&path, 0).map(|_| ()).unwrap_err().path(), path);
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 65 * 1024]).unwrap();
        let err = read_capped(&path, MAX_KEY_FILE_BYTES).unwrap_err();
        assert!(
            matches!(err, InputFileError::TooLarge { limit, .. } if limit == MAX_KEY_FILE_BYTES)
        );
        let message = err.to_string();
        assert!(message.contains("larger than 64 KiB"), "{message}");
        assert!(message.contains("big"), "{message}");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        mkfifo(&path);
        let start = Instant::now();
        let err = read_capped(&path, 10).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(
                err,
                InputFileError::NotRegular {
                    kind: FileKind::Fifo,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("is a FIFO"), "{err}");
    }

    #[test]
    fn a_symlink_to_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let link = dir.path().join("key");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let err = read_capped(&link, 10).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
    }

    #[test]
    fn dev_zero_and_directories_are_refused() {
        let err = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(
            err.to_string()
                .contains("/dev/zero is a character device, not a regular file"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read_capped(dir.path(), 10).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let err = InputFile::open(Path::new("/dev/zero"))
            .map(|_| ())
            .unwrap_err();
        assert!(!err.is_not_found());
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_capped(&dir.path().join("missing"), 10).unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().starts_with("cannot read "), "{err}");
    }

    #[test]
    fn the_mode_is_the_opened_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, b"k").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(InputFile::open(&path).unwrap().mode(), 0o640);
    }

    #[test]
    fn sizes_are_named_for_people() {
        assert_eq!(human_size(64 * 1024), "64 KiB");
        assert_eq!(human_size(32 * 1024 * 1024), "32 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }
}
