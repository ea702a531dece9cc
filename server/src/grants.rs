//! What this process has decided may be served: manifests allowed by a decision (and the
//! platform manifests of an allowed index), evidence manifests, and the blobs they reference.
//! A blob is served only when a granted manifest lists it. Entries expire after a TTL, and the
//! tables are bounded: when full, expired entries go first, then the oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vouch_keys::Digest;
use vouch_registry::manifest::{Descriptor, Manifest};

/// Where something lives: upstream name, repository, digest.
pub(crate) type Key = (String, String, Digest);

/// One grant, as replicas share it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Granted {
    /// A manifest may be served.
    Manifest(Key, Grant),
    /// A blob may be served; its descriptor (size, digest) is what the stream is checked by.
    Blob(Key, Descriptor),
}

impl Granted {
    /// The name of a grant in the shared store: what kind, where.
    pub(crate) fn name(kind: &str, key: &Key) -> String {
        let (upstream, repository, digest) = key;
        format!(
            "vouch:grant:{}",
            Digest::sha256(format!("{kind}\n{upstream}\n{repository}\n{digest}").as_bytes()).hex()
        )
    }

    /// This grant's name in the shared store.
    pub(crate) fn shared_name(&self) -> String {
        match self {
            Granted::Manifest(key, _) => Self::name("manifest", key),
            Granted::Blob(key, _) => Self::name("blob", key),
        }
    }
}

/// Why a manifest may be served.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Grant {
    /// A decision allowed it (or the index that lists it); the warning of a `warn` decision.
    Allowed {
        /// `Some` when the decision allowed a failing image (`warn`/`audit`).
        warning: Option<String>,
    },
    /// A signature, attestation, SBOM or referrer, served so clients can verify themselves.
    Evidence,
}

struct Table<V> {
    entries: HashMap<Key, (V, Instant)>,
    order: VecDeque<Key>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V: Clone> Table<V> {
    fn get(&self, key: &Key, now: Instant) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(v, _)| v.clone())
    }

    fn put(&mut self, key: Key, value: V, expires: Instant, capacity: usize, now: Instant) {
        if self.entries.insert(key.clone(), (value, expires)).is_none() {
            self.order.push_back(key);
        }
        if self.entries.len() > capacity {
            self.entries.retain(|_, (_, e)| *e > now);
            self.order.retain(|k| self.entries.contains_key(k));
        }
        while self.entries.len() > capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

#[derive(Default)]
struct Tables {
    manifests: Table<Grant>,
    blobs: Table<Descriptor>,
}

/// The grants of one server process.
pub(crate) struct Grants {
    ttl: Duration,
    capacity: usize,
    tables: Mutex<Tables>,
}

impl Grants {
    /// Grants kept for `ttl`, at most `capacity` manifests and as many blobs.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The grant of a manifest, if it has one.
    pub(crate) fn manifest(&self, key: &Key) -> Option<Grant> {
        self.lock().manifests.get(key, Instant::now())
    }

    /// The descriptor of a blob a granted manifest lists, if one does.
    pub(crate) fn blob(&self, key: &Key) -> Option<Descriptor> {
        self.lock().blobs.get(key, Instant::now())
    }

    /// Grants the manifest `key` (parsed as `manifest`): the blobs of an image manifest, and,
    /// for an allowed index, the manifests it lists, under the same grant. Gives what it
    /// granted beside the manifest itself, for other replicas.
    pub(crate) fn grant(&self, key: &Key, manifest: &Manifest, grant: Grant) -> Vec<Granted> {
        let (upstream, repository, _) = key;
        let at = |digest: &Digest| (upstream.clone(), repository.clone(), digest.clone());
        let mut granted = vec![Granted::Manifest(key.clone(), grant.clone())];
        match manifest {
            Manifest::Image(image) => {
                for descriptor in std::iter::once(&image.config).chain(&image.layers) {
                    granted.push(Granted::Blob(at(&descriptor.digest), descriptor.clone()));
                }
            }
            Manifest::Index(index) => {
                for child in &index.manifests {
                    granted.push(Granted::Manifest(at(&child.digest), grant.clone()));
                }
            }
        }
        self.insert(&granted);
        granted
    }

    /// Records grants (made here, or by another replica).
    pub(crate) fn insert(&self, granted: &[Granted]) {
        let now = Instant::now();
        let expires = now + self.ttl;
        let mut tables = self.lock();
        for entry in granted {
            match entry {
                Granted::Manifest(key, grant) => {
                    tables
                        .manifests
                        .put(key.clone(), grant.clone(), expires, self.capacity, now);
                }
                Granted::Blob(key, descriptor) => {
                    tables
                        .blobs
                        .put(key.clone(), descriptor.clone(), expires, self.capacity, now);
                }
            }
        }
    }

    /// Marks the manifests `digests` of `upstream`/`repository` as evidence (listed referrers).
    pub(crate) fn evidence(&self, upstream: &str, repository: &str, digests: &[Digest]) {
        let now = Instant::now();
        let mut tables = self.lock();
        for digest in digests {
            let key = (upstream.to_owned(), repository.to_owned(), digest.clone());
            if tables.manifests.get(&key, now).is_none() {
                tables
                    .manifests
                    .put(key, Grant::Evidence, now + self.ttl, self.capacity, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        ("up".into(), "app".into(), Digest::sha256(&[n]))
    }

    #[test]
    fn the_tables_stay_within_their_capacity_dropping_the_oldest() {
        let grants = Grants::new(Duration::from_secs(60), 3);
        let empty: Manifest = Manifest::Index(Box::new(
            serde_json::from_str(r#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
        ));
        for n in 0..5 {
            grants.grant(&key(n), &empty, Grant::Evidence);
        }
        assert_eq!(grants.manifest(&key(0)), None);
        assert_eq!(grants.manifest(&key(1)), None);
        assert_eq!(grants.manifest(&key(4)), Some(Grant::Evidence));
    }

    #[test]
    fn grants_expire() {
        let grants = Grants::new(Duration::ZERO, 10);
        grants.evidence("up", "app", &[Digest::sha256(b"x")]);
        assert_eq!(
            grants.manifest(&("up".into(), "app".into(), Digest::sha256(b"x"))),
            None
        );
    }
}
