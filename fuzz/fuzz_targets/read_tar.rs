//! Bytes → up to four layer blobs (split at a separator line) read by
//! `vouch_registry::layers`' own tar reader (gzip, zstd or plain tar, as its first bytes say)
//! and stacked as the layer walker stacks an image's layers, through
//! `layers::fuzz_read_tar`: every member's extension headers (GNU long names, pax records,
//! sparse maps), every regular file read to its end, each layer's whiteouts and opaque
//! folders applied to the layers below it, within small limits shared by the layers. Errors
//! are expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_registry::layers::{FUZZ_LAYER_SEPARATOR, FUZZ_LIMITS, FUZZ_MAX_LAYERS, fuzz_read_tar};

/// How many separators `data` holds, found left to right, each after the one before.
fn separators(mut data: &[u8]) -> usize {
    let mut found = 0;
    while let Some(at) = data
        .windows(FUZZ_LAYER_SEPARATOR.len())
        .position(|w| w == FUZZ_LAYER_SEPARATOR)
    {
        found += 1;
        data = &data[at + FUZZ_LAYER_SEPARATOR.len()..];
    }
    found
}

fuzz_target!(|data: &[u8]| {
    if let Ok(files) = fuzz_read_tar(data) {
        // Split at the first separators only, up to the most layers read.
        let splits = separators(data).min(FUZZ_MAX_LAYERS - 1);
        let expected = data.len() - splits * FUZZ_LAYER_SEPARATOR.len();
        assert_eq!(files.compressed_bytes, expected as u64);
        // Each layer's warnings kept, and one saying how many more there were.
        let most = (splits + 1) * (FUZZ_LIMITS.max_layer_warnings + 1);
        assert!(
            files.warnings.len() <= most,
            "{} warnings",
            files.warnings.len()
        );
    }
});
