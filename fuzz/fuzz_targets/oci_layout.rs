//! Bytes → an OCI image layout on disk, read as vouch reads a layout it is given: `index.json`
//! (the first part of the input), blobs (each further part, stored under its own SHA-256 so
//! that an index naming it finds it; parts are split at [`SEPARATOR`]), then `Layout::open`,
//! the image a bare `oci:DIR` means, every manifest `index.json` lists, and for each manifest
//! its referrers (tag schema) with their blobs and its cosign `.sig` and `.att` tags with
//! their payloads, within small limits. Errors are expected; a panic or a hang is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_keys::Digest;
use vouch_registry::cosign::{Attachment, read_attachments};
use vouch_registry::manifest::Manifest;
use vouch_registry::referrers::{fetch_referrer_blob, list_referrers};
use vouch_registry::{EvidenceBudget, Layout, Limits, Store};

/// Splits the input into files.
const SEPARATOR: &[u8] = b"\n--8<--\n";

/// Small limits, so that a large input is refused rather than read.
const LIMITS: Limits = Limits {
    max_manifest_bytes: 64 * 1024,
    max_signature_layers: 16,
    max_signature_blob_bytes: 64 * 1024,
    max_referrers: 16,
    max_evidence_bytes: 256 * 1024,
};

/// A directory of this process's own, emptied for each input.
fn directory() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::temp_dir().join(format!("vouch-fuzz-layout-{}", std::process::id()))
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fuzz_target!(|data: &[u8]| {
    let dir = directory();
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("the fuzz directory");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let parts = parts(data);
    std::fs::write(dir.join("index.json"), parts[0]).expect("index.json");
    for blob in &parts[1..] {
        std::fs::write(blobs.join(Digest::sha256(blob).hex()), blob).expect("a blob");
    }

    let Ok(layout) = Layout::open(dir) else {
        return;
    };
    let _ = layout.sole_image();
    let Ok(index) = layout.index() else {
        return;
    };
    let store = Store::Layout {
        layout: layout.clone(),
        limits: LIMITS,
    };
    runtime().block_on(async {
        for entry in index.manifests.iter().take(16) {
            let Ok(Some(fetched)) =
                layout.read_manifest(&entry.digest, &entry.media_type, LIMITS.max_manifest_bytes)
            else {
                continue;
            };
            if let Ok(Manifest::Image(manifest)) = fetched.parse() {
                let _ = (manifest.artifact_type(), manifest.subject());
                let _ = store
                    .blob(&manifest.config, LIMITS.max_manifest_bytes)
                    .await;
            }
            let digest = &fetched.digest;
            let budget = EvidenceBudget::for_image(&store, digest);
            if let Ok(referrers) = list_referrers(&store, digest, None).await {
                assert!(
                    referrers.len() <= LIMITS.max_referrers,
                    "{} referrers",
                    referrers.len()
                );
                for referrer in &referrers {
                    let _ = fetch_referrer_blob(
                        &store,
                        referrer,
                        LIMITS.max_signature_blob_bytes,
                        &budget,
                    )
                    .await;
                }
            }
            for kind in [Attachment::Signatures, Attachment::Attestations] {
                if let Ok(set) = read_attachments(&store, digest, kind, &budget).await {
                    assert!(set.layers.len() <= LIMITS.max_signature_layers);
                }
            }
        }
    });
});
