//! Appending to a tagged manifest in a registry that has no compare-and-swap: the loop that
//! [`crate::cosign`] (signature manifests) and [`crate::referrers`] (referrers tag schema
//! indexes) share.
//!
//! Each attempt reads the current manifest, writes it back with our entry merged in, waits a
//! settling delay longer than a writer's own read-to-write window, and reads again. If our
//! entry survived, any writer that read before our write has written by then, so nothing can
//! still replace it; if it did not, another writer's stale manifest replaced ours and we merge
//! again, after a random pause so that the writers that lost the same round do not collide
//! again in lockstep.

use std::time::{Duration, Instant};

use crate::RegistryError;

/// How many times an append is tried against writers that keep replacing the manifest.
pub(crate) const MAX_APPEND_ATTEMPTS: u32 = 10;
/// Bounds of the settling delay after an optimistic write.
const MIN_SETTLE: Duration = Duration::from_millis(150);
/// How many times, a settling delay apart, our entry must be seen to survive.
const CONFIRMATIONS: usize = 2;
const MAX_SETTLE: Duration = Duration::from_secs(5);

/// The manifest that [`append_settled`] left holding our entry.
#[derive(Debug)]
pub(crate) struct Settled<M> {
    /// The manifest as last read, with our entry in it.
    pub(crate) current: M,
    /// True when the entry was already there at the first read, so nothing was written.
    pub(crate) already_present: bool,
}

/// One append for [`append_settled`]: how to read the current manifest, whether it holds our
/// entry, and how to write it back with our entry merged in. (A trait rather than async
/// closures, so that the callers' futures stay `Send` and can be spawned.)
pub(crate) trait Append {
    /// The manifest as read.
    type Current;
    /// Fetches the current manifest; `None` when there is none yet.
    fn read(&self) -> impl Future<Output = Result<Option<Self::Current>, RegistryError>>;
    /// Whether `current` has our entry.
    fn holds_ours(&self, current: &Self::Current) -> bool;
    /// Stores `current` (or a new manifest) with our entry merged in, keeping every entry
    /// already there.
    fn write(
        &self,
        current: Option<Self::Current>,
    ) -> impl Future<Output = Result<(), RegistryError>>;
}

/// Runs the optimistic append loop described in the module docs. Gives
/// [`RegistryError::Contention`] naming `what` when concurrent writers never settle within
/// [`MAX_APPEND_ATTEMPTS`].
pub(crate) async fn append_settled<A: Append>(
    what: &str,
    append: &A,
) -> Result<Settled<A::Current>, RegistryError> {
    match begin(append).await? {
        Begun::Present(current) => Ok(Settled {
            current,
            already_present: true,
        }),
        Begun::Written(write) => Ok(Settled {
            current: confirm(what, append, write).await?,
            already_present: false,
        }),
    }
}

/// What the first attempt of an append did.
#[derive(Debug)]
pub(crate) enum Begun<C> {
    /// Our entry was there already; nothing was written.
    Present(C),
    /// Our write landed; [`confirm`] is still to check that it survives.
    Written(Write),
}

/// A write [`begin`] made: when it landed, and how long its read-to-write window was (which
/// sets the settling delay).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write {
    landed: Instant,
    window: Duration,
}

/// The first attempt of [`append_settled`]: reads, and writes our entry merged in unless it
/// is there. Its caller must then [`confirm`] a write, but may do other work first (a copy
/// writes the image's tag once its evidence is written, while the writes settle).
pub(crate) async fn begin<A: Append>(append: &A) -> Result<Begun<A::Current>, RegistryError> {
    let started = Instant::now();
    match append.read().await? {
        Some(current) if append.holds_ours(&current) => Ok(Begun::Present(current)),
        other => {
            append.write(other).await?;
            Ok(Begun::Written(Write {
                landed: Instant::now(),
                window: started.elapsed(),
            }))
        }
    }
}

/// Confirms a write [`begin`] made as the module docs describe, merging again while
/// concurrent writers replace it; the manifest as last read, with our entry. The settling
/// delays count from when the write landed, so a confirmation run later waits no longer.
pub(crate) async fn confirm<A: Append>(
    what: &str,
    append: &A,
    write: Write,
) -> Result<A::Current, RegistryError> {
    let mut write = write;
    for attempt in 1..=MAX_APPEND_ATTEMPTS {
        if attempt > 1 {
            let started = Instant::now();
            match append.read().await? {
                Some(current) if append.holds_ours(&current) => return Ok(current),
                other => append.write(other).await?,
            }
            write = Write {
                landed: Instant::now(),
                window: started.elapsed(),
            };
        }
        // Another writer that read before our write landed may still overwrite it; such a
        // writer's own read-to-write window is about as long as ours. Wait well past it, then
        // check that our entry survived.
        // Checked twice, a settling delay apart: a writer stalled (a loaded machine, a slow
        // link) for longer than one delay is still caught by the second look.
        let settle = (write.window * 4).clamp(MIN_SETTLE, MAX_SETTLE);
        let mut survived = None;
        let mut due = write.landed + settle;
        for _ in 0..CONFIRMATIONS {
            // A settling delay after the write landed (a confirmation run later has waited
            // part of it already), then after each look.
            tokio::time::sleep_until(due.into()).await;
            survived = match append.read().await? {
                Some(current) if append.holds_ours(&current) => Some(current),
                _ => None,
            };
            due = Instant::now() + settle;
            if survived.is_none() {
                break;
            }
        }
        if let Some(current) = survived {
            return Ok(current);
        }
        tracing::info!(
            attempt,
            what,
            "replaced by a concurrent writer; merging again"
        );
        tokio::time::sleep(jitter(settle)).await;
    }
    Err(RegistryError::Contention {
        what: what.to_owned(),
        attempts: MAX_APPEND_ATTEMPTS,
    })
}

/// A confirmation still to run: see [`begin`].
pub(crate) type Pending = futures_util::future::BoxFuture<'static, Result<(), RegistryError>>;

/// A random duration below `bound` (zero if no randomness can be had).
fn jitter(bound: Duration) -> Duration {
    let mut random = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut random).is_err() {
        return Duration::ZERO;
    }
    bound.mul_f64(f64::from(u32::from_le_bytes(random)) / (f64::from(u32::MAX) + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
    }

    /// A shared "manifest" (a list of entries) in memory. `lose_first` makes a rival
    /// overwrite our first write with a stale copy; `never` makes every write vanish.
    struct Shared {
        entries: Mutex<Option<Vec<u32>>>,
        writes: Mutex<u32>,
        lose_first: bool,
        never: bool,
    }

    impl Shared {
        fn new(entries: Option<Vec<u32>>, lose_first: bool, never: bool) -> Self {
            Self {
                entries: Mutex::new(entries),
                writes: Mutex::new(0),
                lose_first,
                never,
            }
        }
    }

    impl Append for Shared {
        type Current = Vec<u32>;

        async fn read(&self) -> Result<Option<Vec<u32>>, RegistryError> {
            Ok(self.entries.lock().unwrap().clone())
        }

        fn holds_ours(&self, current: &Vec<u32>) -> bool {
            current.contains(&7)
        }

        async fn write(&self, current: Option<Vec<u32>>) -> Result<(), RegistryError> {
            let mut writes = self.writes.lock().unwrap();
            *writes += 1;
            if self.never {
                return Ok(());
            }
            let mut entries = current.unwrap_or_default();
            entries.push(7);
            // A rival that read before our first write and adds 2 lands after it.
            *self.entries.lock().unwrap() = Some(if self.lose_first && *writes == 1 {
                vec![1, 2]
            } else {
                entries
            });
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_entry_replaced_by_a_stale_writer_is_merged_again() {
        let shared = Shared::new(Some(vec![1]), true, false);
        let settled = append_settled("test", &shared).await.unwrap();
        assert_eq!(settled.current, vec![1, 2, 7]);
        assert!(!settled.already_present);
        assert_eq!(*shared.writes.lock().unwrap(), 2);
    }

    #[tokio::test]
    async fn an_entry_already_there_is_not_written_again() {
        let shared = Shared::new(Some(vec![7]), false, false);
        let settled = append_settled("test", &shared).await.unwrap();
        assert!(settled.already_present);
        assert_eq!(*shared.writes.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn writers_that_never_settle_give_contention() {
        let shared = Shared::new(None, false, true);
        let err = append_settled("the index", &shared).await.unwrap_err();
        assert!(matches!(
            err,
            RegistryError::Contention {
                attempts: MAX_APPEND_ATTEMPTS,
                ..
            }
        ));
        assert_eq!(*shared.writes.lock().unwrap(), MAX_APPEND_ATTEMPTS);
    }
}
