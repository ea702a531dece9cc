//! `vouch sbom` on OCI layouts holding hostile layers, with the default limits of
//! `vouch_registry::layers` (`LayerLimits`): a GNU long name of 1 GiB in a zstd layer of
//! 35 KiB is skipped with a warning and the rest of the layer is read; a zstd layer of a few
//! hundred KiB that expands to 6 GiB is refused by name once past the per-layer limit; a
//! zstd layer of 4 MiB listing 256 MiB of 64 KiB paths is refused by name once past the
//! per-image limit on the paths kept.
//!
//! The layers are zstd frames written here by hand (RFC 8878): raw blocks for the tar
//! headers, RLE blocks for long runs of one byte, so that a layer standing for GiBs costs
//! KiBs and no encoder.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use vouch_tests::{one_layer_layout, vouch};

/// A package the layers' dpkg database lists, to show the rest of a layer is read.
const STATUS: &[u8] = b"Package: hostile-layers-canary\n\
Status: install ok installed\n\
Version: 1.2.3-1\n\
Architecture: amd64\n\n";

const BLOCK: u64 = 512;

/// zstd's largest block, and the window that allows it (RFC 8878, 3.1.1.2 "Block_Size").
const MAX_ZSTD_BLOCK: u64 = 128 * 1024;

/// A zstd frame (RFC 8878, 3.1.1) written block by block.
struct ZstdFrame(Vec<u8>);

impl ZstdFrame {
    fn new() -> Self {
        // Magic number; Frame_Header_Descriptor 0 (no content size, no checksum, no
        // dictionary, not single-segment); Window_Descriptor 0x38: 2^(10 + 7) = 128 KiB.
        ZstdFrame(vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])
    }

    /// A Block_Header (RFC 8878, 3.1.1.2): Last_Block, Block_Type, Block_Size, little-endian.
    fn block_header(&mut self, last: bool, kind: u32, size: u64) {
        let value = (size as u32) << 3 | kind << 1 | u32::from(last);
        self.0.extend_from_slice(&value.to_le_bytes()[..3]);
    }

    /// `bytes` as they are: Raw_Blocks.
    fn raw(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(MAX_ZSTD_BLOCK as usize) {
            self.block_header(false, 0, chunk.len() as u64);
            self.0.extend_from_slice(chunk);
        }
    }

    /// `count` times `byte`: RLE_Blocks of 4 bytes each.
    fn run(&mut self, byte: u8, count: u64) {
        let mut left = count;
        while left > 0 {
            let n = left.min(MAX_ZSTD_BLOCK);
            self.block_header(false, 1, n);
            self.0.push(byte);
            left -= n;
        }
    }

    /// The frame, closed by an empty last block.
    fn finish(mut self) -> Vec<u8> {
        self.block_header(true, 0, 0);
        self.0
    }
}

/// A POSIX ustar header block (`pax`, "ustar Interchange Format").
fn header(name: &str, kind: u8, size: u64) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK as usize];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..108].copy_from_slice(b"0000644\0");
    block[108..116].copy_from_slice(b"0000000\0");
    block[116..124].copy_from_slice(b"0000000\0");
    block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    block[136..148].copy_from_slice(b"00000000000\0");
    block[156] = kind;
    block[257..265].copy_from_slice(b"ustar\x0000");
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

/// A regular file member: header, data, padding.
fn file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(name, b'0', data.len() as u64);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK as usize), 0);
    out
}

/// Writes an OCI layout at `dir` with one image of one zstd layer, tagged `v1`; gives the
/// layer's digest.
fn layout(dir: &Path, layer: &[u8]) -> String {
    let (_, layer) = one_layer_layout(dir, "application/vnd.oci.image.layer.v1.tar+zstd", layer);
    layer.digest.to_string()
}

#[test]
fn sbom_gnu_long_name_bomb_in_a_zstd_layer_is_skipped() {
    // A GNU long name ('L') of 1 GiB names the member after it; the tar crate would read
    // it whole into memory (4.6 GiB of RSS in vouch 0.1).
    const NAME: u64 = 1 << 30;
    let mut frame = ZstdFrame::new();
    frame.raw(&header("././@LongLink", b'L', NAME + 1));
    frame.run(b'a', NAME);
    frame.run(0, 1 + (BLOCK - 1));
    frame.raw(&file("bomb", b"never read"));
    frame.raw(&file("var/lib/dpkg/status", STATUS));
    frame.raw(&[0; 2 * BLOCK as usize]);
    let layer = frame.finish();
    assert!(layer.len() < 40 * 1024, "{} bytes", layer.len());

    let dir = tempfile::tempdir().unwrap();
    let digest = layout(dir.path(), &layer);
    let run = vouch(&["sbom", &format!("oci:{}:v1", dir.path().display())]).expect_code(0);
    let document = run.json();
    let names: Vec<&str> = document["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"hostile-layers-canary"), "{names:?}");
    let warnings: Vec<&str> = document["metadata"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"].as_str())
        .collect();
    let expected = format!(
        "layer {digest}: entry \"bomb\" has a {}-byte GNU long name, more than the 65536-byte \
         limit; skipped",
        NAME + 1
    );
    assert!(warnings.contains(&expected.as_str()), "{warnings:?}");
}

#[test]
fn sbom_zstd_expansion_bomb_is_refused() {
    // One file of 6 GiB of zeros in a zstd layer of under 200 KiB: past the default
    // per-layer limit of 4 GiB (the layer's 100 times is far less).
    const SIZE: u64 = 6 << 30;
    let mut frame = ZstdFrame::new();
    frame.raw(&header("zeros.bin", b'0', SIZE));
    frame.run(0, SIZE + 2 * BLOCK);
    let layer = frame.finish();
    assert!(layer.len() < 200 * 1024, "{} bytes", layer.len());

    let dir = tempfile::tempdir().unwrap();
    let digest = layout(dir.path(), &layer);
    let started = std::time::Instant::now();
    let run = vouch(&["sbom", &format!("oci:{}:v1", dir.path().display())]).expect_code(3);
    assert!(
        run.stderr.contains(&format!(
            "layer {digest}: decompressed past the per-layer limit of 4294967296 bytes \
             (4294967297 bytes read); refused"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing is written: {}", run.stdout);
    eprintln!("refused in {:?}", started.elapsed());
}

#[test]
fn sbom_layer_of_many_64_kib_paths_is_refused_past_the_path_limit() {
    // 4,096 entries, each named by a GNU long name of 64 KiB (the longest read): 256 MiB of
    // paths, twice the default limit of 128 MiB on the paths kept of an image, in a zstd
    // layer of about 4 MiB. vouch 0.1 kept them all: 4 GiB of them, 4.2 GB of RSS, for
    // 65,536 such entries.
    const ENTRIES: u64 = 4096;
    const NAME: u64 = 64 * 1024;
    let mut frame = ZstdFrame::new();
    let long_name = header("././@LongLink", b'L', NAME);
    let entry = header("short", b'0', 0);
    for _ in 0..ENTRIES {
        frame.raw(&long_name);
        frame.run(b'a', NAME - 1);
        frame.raw(&[0]);
        frame.raw(&entry);
    }
    frame.raw(&file("var/lib/dpkg/status", STATUS));
    frame.raw(&[0; 2 * BLOCK as usize]);
    let layer = frame.finish();
    assert!(layer.len() < 5 << 20, "{} bytes", layer.len());

    let dir = tempfile::tempdir().unwrap();
    let digest = layout(dir.path(), &layer);
    let run = vouch(&["sbom", &format!("oci:{}:v1", dir.path().display())]).expect_code(3);
    assert!(
        run.stderr.contains(&format!(
            "layer {digest}: the paths kept of the image's layers add up to more than the \
             per-image limit of 134217728 bytes (all layers together, each path counted with \
             48 bytes more); refused"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing is written: {}", run.stdout);
}
