//! Bytes → a layer blob read by `vouch_registry::layers`' own tar reader (gzip, zstd or
//! plain tar, as its first bytes say), through `layers::fuzz_read_tar`: every member's
//! extension headers (GNU long names, pax records, sparse maps), every regular file read to
//! its end, the layer stacked into a filesystem, within small limits. Errors are expected;
//! a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_registry::layers::{FUZZ_LIMITS, fuzz_read_tar};

fuzz_target!(|data: &[u8]| {
    if let Ok(files) = fuzz_read_tar(data) {
        assert_eq!(files.compressed_bytes, data.len() as u64);
        // The warnings kept, and one saying how many more there were.
        let most = FUZZ_LIMITS.max_layer_warnings + 1;
        assert!(
            files.warnings.len() <= most,
            "{} warnings",
            files.warnings.len()
        );
    }
});
