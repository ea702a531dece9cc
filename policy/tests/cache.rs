//! The decision cache: a decision is reused for the same image name, manifest digest and
//! policy digest without fetching or verifying anything again; a moved tag, another policy, an
//! expired entry or an evidence failure are decided afresh.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vouch_keys::Digest;
use vouch_policy::cache::{CacheKey, DecisionCache, MemoryCache};
use vouch_policy::evidence::{
    Evidence, EvidenceSource, MemorySource, PlatformManifest, Subject, Wanted,
};
use vouch_policy::{EvidenceError, ImageName, TrustPolicy, Verdict};
use vouch_verifier::time::UnixTime;

/// A memory source that counts what it is asked.
struct Counting {
    inner: MemorySource,
    resolves: AtomicUsize,
    evidence: AtomicUsize,
}

impl EvidenceSource for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn resolve(&self) -> Result<Subject, EvidenceError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve().await
    }

    async fn platforms(&self, digest: &Digest) -> Result<Vec<PlatformManifest>, EvidenceError> {
        self.inner.platforms(digest).await
    }

    async fn evidence(&self, digest: &Digest, wanted: Wanted) -> Result<Evidence, EvidenceError> {
        self.evidence.fetch_add(1, Ordering::SeqCst);
        self.inner.evidence(digest, wanted).await
    }
}

fn counting(digest: &str) -> Counting {
    Counting {
        inner: MemorySource {
            name: "registry.test/app:v1".into(),
            digest: Some(Digest::sha256(digest.as_bytes())),
            ..MemorySource::default()
        },
        resolves: AtomicUsize::new(0),
        evidence: AtomicUsize::new(0),
    }
}

fn policy(dir: &std::path::Path, default: &str) -> TrustPolicy {
    let key = vouch_keys::PrivateKey::generate(vouch_keys::KeyType::EcdsaP256).unwrap();
    std::fs::write(dir.join("k.pub"), key.public_key().to_pem()).unwrap();
    let text = format!(
        "apiVersion: vouch.dev/v1\nkind: TrustPolicy\ndefault: {default}\nauthorities:\n  k: {{key: {{path: k.pub}}}}\nscopes:\n  - images: [\"registry.test/**\"]\n    authorities: [k]\n"
    );
    TrustPolicy::from_bytes("p.yaml", dir, text.as_bytes()).unwrap()
}

#[test]
fn a_cached_decision_is_reused_until_the_digest_policy_or_time_changes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "deny");
    let image = ImageName::parse("registry.test/app:v1").unwrap();
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let cache = MemoryCache::new(100, Duration::from_secs(300));

    let source = counting("one");
    let first = runtime.block_on(policy.decide_cached(&cache, &image, &source, now));
    assert_eq!(first.verdict, Verdict::Fail);
    let again = runtime.block_on(policy.decide_cached(&cache, &image, &source, now));
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&again).unwrap()
    );
    // Resolved both times (a tag may move), evidence gathered once.
    assert_eq!(source.resolves.load(Ordering::SeqCst), 2);
    assert_eq!(source.evidence.load(Ordering::SeqCst), 1);

    // The tag moved: another digest is decided afresh.
    let moved = counting("two");
    runtime.block_on(policy.decide_cached(&cache, &image, &moved, now));
    assert_eq!(moved.evidence.load(Ordering::SeqCst), 1);

    // Another policy (another digest): afresh.
    let other = self::policy(dir.path(), "allow");
    assert_ne!(other.digest, policy.digest);
    let source = counting("one");
    runtime.block_on(other.decide_cached(&cache, &image, &source, now));
    assert_eq!(source.evidence.load(Ordering::SeqCst), 1);

    // An entry past its time to live is not used.
    let expiring = MemoryCache::new(100, Duration::ZERO);
    let source = counting("one");
    runtime.block_on(policy.decide_cached(&expiring, &image, &source, now));
    runtime.block_on(policy.decide_cached(&expiring, &image, &source, now));
    assert_eq!(source.evidence.load(Ordering::SeqCst), 2);
}

#[test]
fn evidence_failures_are_not_kept() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "deny");
    let image = ImageName::parse("registry.test/app:v1").unwrap();
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let cache = MemoryCache::new(100, Duration::from_secs(300));
    let source = counting("one");
    // Resolves, then fails to gather evidence: nothing is cached.
    struct Failing(Counting);
    impl EvidenceSource for Failing {
        fn describe(&self) -> String {
            self.0.describe()
        }
        async fn resolve(&self) -> Result<Subject, EvidenceError> {
            self.0.resolve().await
        }
        async fn platforms(&self, d: &Digest) -> Result<Vec<PlatformManifest>, EvidenceError> {
            self.0.platforms(d).await
        }
        async fn evidence(&self, _: &Digest, _: Wanted) -> Result<Evidence, EvidenceError> {
            self.0.evidence.fetch_add(1, Ordering::SeqCst);
            Err(EvidenceError {
                image: "registry.test/app:v1".into(),
                reason: "connection reset".into(),
                input: false,
            })
        }
    }
    let failing = Failing(source);
    for _ in 0..2 {
        let decision = runtime.block_on(policy.decide_cached(&cache, &image, &failing, now));
        assert_eq!(decision.verdict, Verdict::Error);
        assert_eq!(decision.exit_code(), 3);
    }
    assert_eq!(failing.0.evidence.load(Ordering::SeqCst), 2);
}

#[test]
fn the_oldest_entry_goes_first_when_the_cache_is_full() {
    let cache = MemoryCache::new(2, Duration::from_secs(300));
    let policy_digest = Digest::sha256(b"policy");
    let keys: Vec<CacheKey> = (0..3u8)
        .map(|n| CacheKey::new("registry.test/app", &Digest::sha256(&[n]), &policy_digest))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "deny");
    let image = ImageName::parse("registry.test/app:v1").unwrap();
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let made = runtime.block_on(policy.decide(&image, &counting("x"), now));
    for key in &keys {
        cache.put(key.clone(), made.clone());
    }
    assert!(cache.get(&keys[0]).is_none());
    assert!(cache.get(&keys[1]).is_some());
    assert!(cache.get(&keys[2]).is_some());
}

#[test]
fn a_decision_can_be_made_on_any_thread() {
    // A server spawns decisions on a multi-threaded runtime: their futures must be Send.
    fn is_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "deny");
    let image = ImageName::parse("registry.test/app:v1").unwrap();
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let source = counting("one");
    let cache = MemoryCache::new(1, Duration::from_secs(1));
    is_send(&policy.decide(&image, &source, now));
    is_send(&policy.decide_cached(&cache, &image, &source, now));
}
