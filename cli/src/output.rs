//! Human and JSON output, and the one way output files are written ([`Staged`]).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::SystemTime;

use clap::ValueEnum;

use crate::error::CliError;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Readable lines.
    Text,
    /// One JSON document on standard output.
    Json,
}

/// What `--output` takes for a command whose result is a document (`sbom`, `provenance`): a
/// format, never a file (that is `--output-file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DocumentFormat {
    /// The document itself, JSON (the default).
    Json,
    /// A summary for people.
    Text,
}

/// Parses `--output` of a document command. A value that is not a format is refused with the
/// flag that writes a file: `sbom -o out.json IMAGE` must not go unnoticed, nor write a file
/// named `json` as it once did for `-o json`.
pub(crate) fn parse_document_format(text: &str) -> Result<DocumentFormat, String> {
    match text {
        "json" => Ok(DocumentFormat::Json),
        "text" => Ok(DocumentFormat::Text),
        other => Err(format!(
            "\"{other}\" is not an output format (json, text); to write the document to a file, \
             use --output-file {other}"
        )),
    }
}

/// Set once standard output's reader has gone: what is left to print is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to standard output. When its reader has gone (a closed pipe, as in
/// `vouch verify IMAGE | head -1`), this and all later output is dropped quietly and the
/// command still ends with its own exit code; any other write error is reported once on
/// standard error. Never panics, unlike `print!`.
pub(crate) fn write_stdout(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(bytes).and_then(|()| out.flush())
        && !STDOUT_CLOSED.swap(true, Ordering::Relaxed)
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("vouch: cannot write to standard output: {error}");
    }
}

/// [`println!`] through [`write_stdout`]: a closed standard output ends the printing quietly.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
pub(crate) use outln;

/// "none of the N things holds", or "the only thing does not hold" for one: the summary of a
/// denial in which every one of `n` pieces of evidence (`thing`, singular) failed.
pub(crate) fn none_holds(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("the only {thing} does not hold")
    } else {
        format!("none of the {n} {thing}s holds")
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 layer", "3 layers".
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A size for people: bytes below 1 KiB, then KiB, MiB or GiB with one decimal.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return count(usize::try_from(bytes).unwrap_or(usize::MAX), "byte");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Prints `value` as pretty JSON on standard output.
pub(crate) fn print_json(value: &serde_json::Value) {
    // A Value always serializes.
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Refuses `path` when something is there and `force` is not given. Nothing at all counts as
/// free: a symbolic link, even a dangling one, is something (it is never followed).
/// [`Staged::commit`] makes the same check atomically; this one lets a command fail before it
/// does any work (asks for a password, signs, pushes).
pub(crate) fn refuse_existing(path: &Path, force: bool) -> Result<(), CliError> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(CliError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes `contents` to `destination` by way of [`Staged`]: mode `mode` (before the umask),
/// never through a symbolic link, replacing what is there only with `force`.
pub(crate) fn write_file(
    destination: &Path,
    contents: &[u8],
    mode: u32,
    force: bool,
) -> Result<(), CliError> {
    Staged::write(destination, contents, mode)?.commit(force)
}

/// An output file written next to its destination, then moved into place. Every file vouch
/// writes goes through here, so that none is written through a symbolic link or replaces a
/// file without `--force`, and none is ever seen half-written.
pub(crate) struct Staged {
    temp: PathBuf,
    destination: PathBuf,
}

impl Staged {
    /// Writes `contents` to a new temporary file in `destination`'s directory (created with
    /// `O_EXCL`, so never through a link an attacker put at that name), synced to disk.
    pub(crate) fn write(destination: &Path, contents: &[u8], mode: u32) -> Result<Self, CliError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let write_error = |source| CliError::Write {
            path: destination.to_owned(),
            source,
        };
        let dir = destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = destination.file_name().ok_or_else(|| {
            CliError::Usage(format!("{} is not a file name", destination.display()))
        })?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut attempt = 0;
        let (temp, mut file) = loop {
            let temp = dir.join(format!(
                ".{}.vouch-{}-{nanos:x}-{}",
                name.to_string_lossy(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&temp)
            {
                Ok(file) => break (temp, file),
                // A name taken (by a leftover, or by someone guessing ours): take another.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(source) => return Err(write_error(source)),
            }
        };
        let staged = Self {
            temp,
            destination: destination.to_owned(),
        };
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(write_error)?;
        Ok(staged)
    }

    /// Moves the file into place. Without `force` a hard link, which never replaces anything
    /// (not a file, not a symbolic link, dangling or not): an existing destination is
    /// [`CliError::Exists`]. With `force` a rename, which replaces the directory entry
    /// itself: a symbolic link there is replaced, not written through.
    pub(crate) fn commit(self, force: bool) -> Result<(), CliError> {
        let result = if force {
            fs::rename(&self.temp, &self.destination)
        } else {
            fs::hard_link(&self.temp, &self.destination)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::Exists {
                path: self.destination.clone(),
            }),
            Err(source) => Err(CliError::Write {
                path: self.destination.clone(),
                source,
            }),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a rename there is nothing left to remove; after a hard link, the temporary
        // name goes and the destination keeps the file.
        let _ = fs::remove_file(&self.temp);
    }
}

#[cfg(test)]
mod tests {
    use super::{count, none_holds, size};

    #[test]
    fn counts_and_sizes_read_as_english() {
        assert_eq!(
            none_holds(1, "signature"),
            "the only signature does not hold"
        );
        assert_eq!(
            none_holds(3, "attestation"),
            "none of the 3 attestations holds"
        );
        assert_eq!(count(1, "layer"), "1 layer");
        assert_eq!(count(0, "layer"), "0 layers");
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(size(5 << 30), "5.0 GiB");
    }
}
