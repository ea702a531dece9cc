//! The trust decision: given an image's digest, what is stored about it, and the trust
//! material the caller chose, say yes or no, and why.
//!
//! The core is sans-I/O: callers fetch signature layers with `vouch-registry` (or any other
//! way) and hand them in; nothing here reads the network, the filesystem or the clock. Every
//! rejection names the check that failed ([`cosign::Rejection`]), and a passing result is a
//! [`Verified`] value that only this crate can construct, so code downstream (printing,
//! policy) cannot be handed an unchecked signature by mistake.
//!
//! ```
//! use std::collections::BTreeMap;
//! use base64::Engine as _;
//! use vouch_attestations::simple_signing::SimpleSigning;
//! use vouch_keys::{Digest, KeyType, PrivateKey};
//! use vouch_registry::cosign::{SignatureLayer, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
//! use vouch_registry::manifest::Descriptor;
//! use vouch_verifier::cosign::{verify_image_signatures, CosignRequirements};
//!
//! let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
//! let image = Digest::sha256(b"an image manifest");
//! let payload = SimpleSigning::new("example.com/app", image.clone(), &BTreeMap::new()).to_vec();
//!
//! let mut descriptor = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, &payload);
//! let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
//! descriptor.annotations.insert(SIGNATURE_ANNOTATION.into(), signature);
//! let layer = SignatureLayer { index: 0, descriptor, payload: Ok(payload) };
//!
//! let requirements = CosignRequirements { key: key.public_key().clone(), annotations: BTreeMap::new() };
//! let verdict = verify_image_signatures(&image, &[layer], &requirements);
//! assert!(verdict.is_verified());
//! ```

pub mod bundle;
pub mod checkpoint;
pub mod cosign;
pub mod entry;
pub mod error;
pub mod identity;
pub mod merkle;
pub mod rekor;
pub mod sct;
pub mod time;
pub mod trust_root;
pub mod tsa;
pub mod verify;
pub mod x509;

pub use error::VerifyError;

/// A value that passed verification. Only `vouch-verifier` constructs it; read it through
/// `Deref` or [`Verified::get`].
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// The verified value.
    pub fn get(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
