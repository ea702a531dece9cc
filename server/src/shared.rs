//! Decisions shared between replicas through Redis (`--cache redis://HOST:PORT`).
//!
//! A replica that misses looks in Redis; on a miss there it takes a short lock for the key
//! (`SET ... NX PX`), so that of all the replicas asking for one digest at once only one
//! evaluates it, and the others wait for its answer. What is stored is the decision's outcome
//! (verdict, allowed, reason and where it failed, denial, scope, mode), not its per-check report, which the
//! replica that evaluated logs. Redis being slow or down is a miss with a logged warning,
//! never an answer: the replica then decides for itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vouch_keys::Digest;
use vouch_policy::Decision;
use vouch_policy::cache::CacheKey;
use vouch_policy::decision::{Denial, FailingLink, SCHEMA_VERSION, Verdict};
use vouch_policy::policy::Mode;

/// How long one Redis command may take before it counts as a failure.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long after a failure Redis is left alone before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long a replica holds the evaluation lock of a key at most.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(30);

/// The outcome of a decision, as replicas share it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SharedOutcome {
    image: String,
    digest: Option<Digest>,
    policy: String,
    policy_digest: String,
    scope: Option<String>,
    mode: Mode,
    verdict: Verdict,
    allowed: bool,
    denial: Option<Denial>,
    reason: Option<String>,
    /// Absent from what replicas of an older vouch stored.
    #[serde(default)]
    failing: Option<FailingLink>,
    warnings: Vec<String>,
    decided_at: i64,
}

impl SharedOutcome {
    pub(crate) fn of(decision: &Decision) -> Self {
        Self {
            image: decision.image.clone(),
            digest: decision.digest.clone(),
            policy: decision.policy.clone(),
            policy_digest: decision.policy_digest.clone(),
            scope: decision.scope.clone(),
            mode: decision.mode,
            verdict: decision.verdict,
            allowed: decision.allowed,
            denial: decision.denial,
            reason: decision.reason.clone(),
            failing: decision.failing.clone(),
            warnings: decision.warnings.clone(),
            decided_at: decision.decided_at,
        }
    }

    /// The decision, without the per-check report (which the replica that evaluated it has
    /// logged); a warning says where it came from.
    pub(crate) fn into_decision(self) -> Decision {
        Decision {
            schema_version: SCHEMA_VERSION,
            image: self.image,
            digest: self.digest,
            policy: self.policy,
            policy_digest: self.policy_digest,
            scope: self.scope,
            mode: self.mode,
            verdict: self.verdict,
            allowed: self.allowed,
            denial: self.denial,
            reason: self.reason,
            failing: self.failing,
            authorities: Vec::new(),
            threshold: None,
            evidence: Vec::new(),
            attestations: Vec::new(),
            platforms: Vec::new(),
            warnings: self.warnings,
            error: None,
            decided_at: self.decided_at,
        }
    }
}

/// A Redis connection that reconnects after failures, slowly.
pub(crate) struct Redis {
    client: redis::Client,
    url: String,
    ttl: Duration,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    failed_at: Mutex<Option<Instant>>,
}

/// What a look-up found.
pub(crate) enum Lookup {
    /// Another replica decided it.
    Found(Box<Decision>),
    /// Not there; this replica holds the lock and should evaluate (`true`), or could not get
    /// it (`false`) because another replica is evaluating.
    Missing { locked: bool },
    /// Redis could not be asked.
    Unavailable,
}

impl Redis {
    /// A client for `url` (`redis://HOST:PORT[/DB]`); nothing is connected yet.
    pub(crate) fn new(url: &str, ttl: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        // The URL without a password, for messages.
        let shown = match url.split_once('@') {
            Some((_, host)) => format!("redis://…@{host}"),
            None => url.to_owned(),
        };
        Ok(Self {
            client,
            url: shown,
            ttl,
            connection: tokio::sync::Mutex::new(None),
            failed_at: Mutex::new(None),
        })
    }

    fn key(key: &CacheKey) -> String {
        format!(
            "vouch:decision:{}",
            Digest::sha256(key.as_str().as_bytes()).hex()
        )
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        if let Some(at) = *self.failed_at.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < RETRY_AFTER
        {
            return None;
        }
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Some(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(connection) => {
                *slot = Some(connection.clone());
                Some(connection)
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    fn failed(&self, e: &redis::RedisError) {
        let mut at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        if at.is_none_or(|t| t.elapsed() >= RETRY_AFTER) {
            tracing::warn!(
                "the shared decision cache {} is unavailable ({e}); deciding in this replica",
                self.url
            );
        }
        *at = Some(Instant::now());
    }

    async fn forget_connection(&self, e: &redis::RedisError) {
        self.failed(e);
        *self.connection.lock().await = None;
    }

    /// Looks `key` up; on a miss, tries to take its evaluation lock.
    pub(crate) async fn lookup(&self, key: &CacheKey) -> Lookup {
        let Some(mut connection) = self.connection().await else {
            return Lookup::Unavailable;
        };
        let name = Self::key(key);
        let found: Result<Option<String>, _> = redis::cmd("GET")
            .arg(&name)
            .query_async(&mut connection)
            .await;
        match found {
            Ok(Some(text)) => match serde_json::from_str::<SharedOutcome>(&text) {
                Ok(outcome) => return Lookup::Found(Box::new(outcome.into_decision())),
                Err(e) => tracing::warn!("ignoring a malformed shared decision: {e}"),
            },
            Ok(None) => {}
            Err(e) => {
                self.forget_connection(&e).await;
                return Lookup::Unavailable;
            }
        }
        let locked: Result<Option<String>, _> = redis::cmd("SET")
            .arg(format!("{name}:lock"))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(&mut connection)
            .await;
        match locked {
            Ok(answer) => Lookup::Missing {
                locked: answer.is_some(),
            },
            Err(e) => {
                self.forget_connection(&e).await;
                Lookup::Unavailable
            }
        }
    }

    /// Stores `decision` under `key` for the TTL and releases the key's lock.
    pub(crate) async fn store(&self, key: &CacheKey, decision: &Decision) {
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let name = Self::key(key);
        let text = match serde_json::to_string(&SharedOutcome::of(decision)) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!("a decision does not serialize for the shared cache: {e}");
                return;
            }
        };
        let stored: Result<(), _> = redis::pipe()
            .cmd("SET")
            .arg(&name)
            .arg(text)
            .arg("EX")
            .arg(self.ttl.as_secs().max(1))
            .ignore()
            .cmd("DEL")
            .arg(format!("{name}:lock"))
            .ignore()
            .query_async(&mut connection)
            .await;
        if let Err(e) = stored {
            self.forget_connection(&e).await;
        }
    }

    /// Stores `entries` (name, JSON) for `ttl`, in one round trip.
    pub(crate) async fn publish(&self, entries: &[(String, String)], ttl: Duration) {
        if entries.is_empty() {
            return;
        }
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let mut pipe = redis::pipe();
        for (name, value) in entries {
            pipe.cmd("SET")
                .arg(name)
                .arg(value)
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .ignore();
        }
        let stored: Result<(), _> = pipe.query_async(&mut connection).await;
        if let Err(e) = stored {
            self.forget_connection(&e).await;
        }
    }

    /// The JSON stored under `name`, if any (and Redis can be asked).
    pub(crate) async fn fetch(&self, name: &str) -> Option<String> {
        let mut connection = self.connection().await?;
        let found: Result<Option<String>, _> = redis::cmd("GET")
            .arg(name)
            .query_async(&mut connection)
            .await;
        match found {
            Ok(found) => found,
            Err(e) => {
                self.forget_connection(&e).await;
                None
            }
        }
    }

    /// Releases the key's lock without storing (the evaluation failed).
    pub(crate) async fn release(&self, key: &CacheKey) {
        let Some(mut connection) = self.connection().await else {
            return;
        };
        let released: Result<(), _> = redis::cmd("DEL")
            .arg(format!("{}:lock", Self::key(key)))
            .query_async(&mut connection)
            .await;
        if let Err(e) = released {
            self.forget_connection(&e).await;
        }
    }
}
