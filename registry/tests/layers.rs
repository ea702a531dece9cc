//! Reading an image's files from its layers, on OCI layouts written by the test: the final
//! filesystem across layers (overrides, whiteouts, opaque directories), gzip, zstd and plain
//! layers, and hostile or broken layers (wrong digest, truncated gzip, `..` paths, symbolic
//! links, a 2 GiB sparse file), each refused with a clear error or skipped with a warning.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vouch_keys::Digest;
use vouch_registry::layers::{FileVisitor, ImageFiles, WalkOptions, walk_layers};
use vouch_registry::manifest::{Descriptor, ImageManifest};
use vouch_registry::{ClientOptions, ImageReference, RegistryClient, RegistryError, Store};

/// Wants files named `*.txt` under 1 MiB and `wanted/link`; keeps their text.
struct TextFiles;

impl FileVisitor for TextFiles {
    type Output = String;

    fn wants(&self, path: &str, size: u64) -> bool {
        (path.ends_with(".txt") && size < 1 << 20) || path == "wanted/link"
    }

    fn visit(&self, _path: &str, _size: u64, contents: &mut dyn Read) -> String {
        // A broken stream fails the whole layer afterwards; the visitor just says so.
        let mut text = String::new();
        match contents.read_to_string(&mut text) {
            Ok(_) => text,
            Err(e) => format!("unreadable: {e}"),
        }
    }
}

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Raw(&'a str, &'a [u8]),
}

fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::File(path, bytes) => {
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                builder.append_data(&mut header, path, *bytes).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_size(0);
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Raw(path, bytes) => {
                // A name written into the header as is, bypassing the builder's checks.
                header.set_size(bytes.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                let name = &mut header.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, *bytes).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes an OCI layout at `dir` with one image of `layers` (blob bytes, media type, and
/// the descriptor's digest and size, which a test may falsify), tagged `v1`.
/// A layer blob, its media type, and the digest and size its descriptor claims (the real
/// ones when `None`).
type LayerSpec<'a> = (Vec<u8>, &'a str, Option<Digest>, Option<u64>);

fn layout(dir: &Path, layers: &[LayerSpec<'_>]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write = |bytes: &[u8]| {
        let digest = Digest::sha256(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        digest
    };
    let mut descriptors = Vec::new();
    for (bytes, media_type, digest, size) in layers {
        let real = write(bytes);
        let digest = digest.clone().unwrap_or(real.clone());
        if digest != real {
            // The falsified digest names a blob file with these (wrong) bytes.
            std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        }
        descriptors.push(serde_json::json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": size.unwrap_or(bytes.len() as u64),
        }));
    }
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = write(config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    let manifest_digest = write(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest.to_string(),
                "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
}

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn walk(dir: &Path) -> Result<ImageFiles<String>, RegistryError> {
    walk_with(dir, &WalkOptions::default())
}

fn walk_with(dir: &Path, options: &WalkOptions) -> Result<ImageFiles<String>, RegistryError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let image = ImageReference::parse(&format!("oci:{}:v1", dir.display())).unwrap();
        let target = Store::open(&client, &image).unwrap();
        let resolved = target.resolve().await?;
        let manifest: ImageManifest = serde_json::from_slice(&resolved.manifest.bytes).unwrap();
        walk_layers(&target.store, &manifest, Arc::new(TextFiles), options).await
    })
}

fn texts(files: &ImageFiles<String>) -> Vec<(String, String)> {
    files
        .files
        .iter()
        .map(|f| (f.path.clone(), f.output.clone()))
        .collect()
}

#[test]
fn the_final_filesystem_is_what_the_layers_stack_up_to() {
    let dir = tempfile::tempdir().unwrap();
    let base = tar_of(&[
        Entry::File("./etc/a.txt", b"base a"),
        Entry::File("etc/b.txt", b"base b"),
        Entry::File("opt/app/c.txt", b"base c"),
        Entry::File("opt/app/sub/d.txt", b"base d"),
        Entry::File("srv/e.txt", b"base e"),
        Entry::File("usr/big.bin", &[0u8; 4096]),
    ]);
    let middle = tar_of(&[
        Entry::File("etc/a.txt", b"middle a"),
        Entry::File("etc/.wh.b.txt", b""),
        Entry::File("opt/app/.wh..wh..opq", b""),
        Entry::File("opt/app/new.txt", b"middle new"),
        Entry::Symlink("srv", "/elsewhere"),
    ]);
    let upper = tar_of(&[Entry::File("etc/b.txt", b"upper b")]);
    let zstd_layer = zstd::encode_all(&upper[..], 3).unwrap();
    layout(
        dir.path(),
        &[
            (gzip(&base), GZIP, None, None),
            (middle, "application/vnd.oci.image.layer.v1.tar", None, None),
            (
                zstd_layer,
                "application/vnd.oci.image.layer.v1.tar+zstd",
                None,
                None,
            ),
        ],
    );
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let files = walk_with(
        dir.path(),
        &WalkOptions {
            parallel_layers: 2,
            progress: Some(Arc::new(move |n| {
                counter.fetch_add(n, Ordering::Relaxed);
            })),
        },
    )
    .unwrap();
    assert_eq!(
        texts(&files),
        [
            ("etc/a.txt".to_owned(), "middle a".to_owned()),
            ("etc/b.txt".to_owned(), "upper b".to_owned()),
            ("opt/app/new.txt".to_owned(), "middle new".to_owned()),
        ]
    );
    assert_eq!(read.load(Ordering::Relaxed), files.compressed_bytes);
    assert!(files.warnings.is_empty(), "{:?}", files.warnings);
}

#[test]
fn a_layer_whose_bytes_are_not_its_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = gzip(&tar_of(&[Entry::File("a.txt", b"a")]));
    let claimed = Digest::sha256(b"some other layer");
    layout(dir.path(), &[(good, GZIP, Some(claimed.clone()), None)]);
    let error = walk(dir.path()).unwrap_err();
    assert!(
        matches!(&error, RegistryError::DigestMismatch { expected, .. } if *expected == claimed),
        "{error}"
    );
    assert!(error.to_string().contains(&claimed.to_string()), "{error}");
}

#[test]
fn truncated_and_oversized_layers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let whole = gzip(&tar_of(&[Entry::File("a.txt", &[b'x'; 100_000])]));
    let truncated = whole[..whole.len() / 2].to_vec();
    layout(dir.path(), &[(truncated, GZIP, None, None)]);
    let error = walk(dir.path()).unwrap_err();
    assert!(
        matches!(error, RegistryError::LayerContent { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("gzip"), "{error}");

    // More bytes than the descriptor says.
    let dir = tempfile::tempdir().unwrap();
    let size = whole.len() as u64 - 10;
    layout(dir.path(), &[(whole, GZIP, None, Some(size))]);
    let error = walk(dir.path()).unwrap_err();
    assert!(error.to_string().contains("descriptor"), "{error}");
}

#[test]
fn escaping_paths_are_skipped_and_links_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let layer = tar_of(&[
        Entry::Raw("../../escape.txt", b"outside"),
        Entry::File("inside.txt", b"inside"),
        Entry::Symlink("wanted/link", "/etc/shadow"),
    ]);
    layout(dir.path(), &[(gzip(&layer), GZIP, None, None)]);
    let files = walk(dir.path()).unwrap();
    assert_eq!(
        texts(&files),
        [("inside.txt".to_owned(), "inside".to_owned())]
    );
    assert_eq!(files.warnings.len(), 2, "{:?}", files.warnings);
    assert!(
        files.warnings[0].contains("../../escape.txt"),
        "{:?}",
        files.warnings
    );
    assert!(
        files.warnings[1].contains("not followed"),
        "{:?}",
        files.warnings
    );
}

#[test]
fn a_sparse_file_of_2_gib_is_not_expanded() {
    // GNU tar writes the sparse file; its data is a few blocks.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let sparse = std::fs::File::create(root.join("huge.bin")).unwrap();
    sparse.set_len(2 << 30).unwrap();
    std::fs::write(root.join("small.txt"), b"small").unwrap();
    let tar_path = dir.path().join("layer.tar");
    let status = std::process::Command::new("tar")
        .args(["--sparse", "-cf"])
        .arg(&tar_path)
        .args(["-C"])
        .arg(&root)
        .args(["huge.bin", "small.txt"])
        .status();
    let Ok(status) = status else {
        eprintln!("SKIPPED: no tar command");
        return;
    };
    assert!(status.success());
    let tar = std::fs::read(&tar_path).unwrap();
    assert!(
        tar.len() < 1 << 20,
        "the sparse tar is small: {}",
        tar.len()
    );
    let image = dir.path().join("image");
    layout(&image, &[(gzip(&tar), GZIP, None, None)]);
    let files = walk(&image).unwrap();
    assert_eq!(
        texts(&files),
        [("small.txt".to_owned(), "small".to_owned())]
    );
    assert!(files.tar_bytes < 1 << 20, "{}", files.tar_bytes);
}

#[test]
fn layers_missing_from_the_store_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let layer = gzip(&tar_of(&[Entry::File("a.txt", b"a")]));
    layout(dir.path(), &[(layer.clone(), GZIP, None, None)]);
    std::fs::remove_file(
        dir.path()
            .join("blobs/sha256")
            .join(Digest::sha256(&layer).hex()),
    )
    .unwrap();
    let error = walk(dir.path()).unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error}");
    let _ = Descriptor::of(GZIP, &layer);
}
