//! The formats of signed evidence about images: what gets signed, byte for byte.
//!
//! For now this is cosign's "simple signing" payload ([`simple_signing`]), the document a
//! cosign image signature covers. Pure data in, data out: nothing here touches the network
//! or the filesystem, and parsing is strict where the specification says consumers must be.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vouch_attestations::simple_signing::SimpleSigning;
//! use vouch_keys::Digest;
//!
//! let digest = Digest::sha256(b"an image manifest");
//! let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
//! let payload = SimpleSigning::new("registry.example/app", digest.clone(), &annotations);
//!
//! let parsed = SimpleSigning::from_slice(&payload.to_vec()).unwrap();
//! assert_eq!(parsed.digest(), &digest);
//! assert_eq!(parsed.annotation("env"), Some(&serde_json::json!("prod")));
//! ```

pub mod simple_signing;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The bytes are not a valid document of the format.
    #[error("malformed {format}: {reason}")]
    Malformed {
        /// Which format was expected.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
}
