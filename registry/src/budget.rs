//! A byte budget for the evidence read about one image.
//!
//! Per-object limits are not limits: a signature manifest of 1,000 layers, each naming the
//! same 4 MiB payload, stays under every one of them and costs 4 GiB. Every read of evidence
//! about one image (signature and attestation manifests and payloads, referrer manifests
//! and bundles) is charged to one [`EvidenceBudget`] before it is made, and the first read
//! that would pass [`Limits::max_evidence_bytes`](crate::Limits) stops the verification of
//! that image with [`RegistryError::EvidenceTooLarge`].

use std::sync::atomic::{AtomicU64, Ordering};

use vouch_keys::Digest;

use crate::RegistryError;
use crate::store::{ManifestRef, Store};

/// The bytes of evidence still allowed for one image. Shared by reference between the
/// concurrent reads of that image; charges never exceed the limit in total.
#[derive(Debug)]
pub struct EvidenceBudget {
    image: String,
    limit: u64,
    used: AtomicU64,
}

impl EvidenceBudget {
    /// A budget of `limit` bytes for the image named `image` (for messages).
    pub fn new(image: impl Into<String>, limit: u64) -> Self {
        Self {
            image: image.into(),
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The budget of the manifest `digest` in `store`: the store's
    /// [`Limits::max_evidence_bytes`](crate::Limits).
    pub fn for_image(store: &Store, digest: &Digest) -> Self {
        Self::new(
            store.describe(&ManifestRef::Digest(digest.clone())),
            store.limits().max_evidence_bytes,
        )
    }

    /// Takes `bytes` from the budget, or refuses with [`RegistryError::EvidenceTooLarge`]
    /// (taking nothing) when that would pass the limit.
    pub fn charge(&self, bytes: u64) -> Result<(), RegistryError> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| RegistryError::EvidenceTooLarge {
                image: self.image.clone(),
                limit: self.limit,
            })
    }

    /// The bytes charged so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_to_the_limit_and_no_further() {
        let budget = EvidenceBudget::new("app", 10);
        assert!(budget.charge(4).is_ok());
        assert!(budget.charge(6).is_ok());
        assert!(matches!(
            budget.charge(1),
            Err(RegistryError::EvidenceTooLarge { limit: 10, .. })
        ));
        // A refused charge takes nothing; an overflowing one is refused too.
        assert_eq!(budget.used(), 10);
        assert!(budget.charge(u64::MAX).is_err());
        assert!(budget.charge(0).is_ok());
    }
}
