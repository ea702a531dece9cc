//! Decisions kept for a while: a [`DecisionCache`] keyed by what a decision depends on (the
//! manifest digest, the policy digest, the image name the policy saw), so a front end that is
//! asked about the same image again answers without fetching or verifying anything. The
//! in-process [`MemoryCache`] is bounded in entries and time; a shared store (Redis) can
//! implement the trait.
//!
//! A decision's trust-root digest is part of the policy digest: the policy records every trust
//! root file it names, and the embedded public-good root changes only with the binary.
//!
//! ```
//! use std::time::Duration;
//! use vouch_policy::cache::{CacheKey, DecisionCache, MemoryCache};
//! # use vouch_keys::Digest;
//!
//! let cache = MemoryCache::new(1000, Duration::from_secs(300));
//! let key = CacheKey::new("registry.example/app", &Digest::sha256(b"m"), &Digest::sha256(b"p"));
//! assert!(cache.get(&key).is_none());
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vouch_keys::Digest;

use crate::decision::Decision;

/// What a cached decision depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key for the repository `name` at manifest `digest` under the policy with digest
    /// `policy`.
    pub fn new(name: &str, digest: &Digest, policy: &Digest) -> Self {
        Self(format!("{policy}\n{name}\n{digest}"))
    }

    /// The key as text, for stores that take strings.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A store of recent decisions. Only decisions with a verdict of pass or fail are worth
/// keeping; one whose evidence could not be gathered should be retried.
pub trait DecisionCache: Send + Sync {
    /// The decision stored under `key`, if it has not expired.
    fn get(&self, key: &CacheKey) -> Option<Decision>;
    /// Stores `decision` under `key`.
    fn put(&self, key: CacheKey, decision: Decision);
}

/// An in-process cache of at most `capacity` decisions, each kept for `ttl`; the oldest
/// entry goes first when it is full.
pub struct MemoryCache {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: BTreeMap<CacheKey, (Instant, Decision)>,
    order: VecDeque<CacheKey>,
}

impl MemoryCache {
    /// A cache of `capacity` entries (at least 1) kept `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            inner: Mutex::new(Entries::default()),
        }
    }
}

impl DecisionCache for MemoryCache {
    fn get(&self, key: &CacheKey) -> Option<Decision> {
        let entries = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .map
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, d)| d.clone())
    }

    fn put(&self, key: CacheKey, decision: Decision) {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries
            .map
            .insert(key.clone(), (Instant::now(), decision))
            .is_none()
        {
            entries.order.push_back(key);
        }
        while entries.map.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.map.remove(&oldest);
        }
    }
}
