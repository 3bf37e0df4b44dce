//! Group commit for changes: applied one at a time, made durable together.
//!
//! A command applies its change under the engine lock (so commands stay
//! serialised and each sees the one before), but the sync that makes it
//! durable no longer happens under that lock. The change is handed here as
//! "applied up to commit N"; one syncer thread makes everything applied so
//! far durable with one flush + fdatasync, and every change it covered is
//! answered together. While one sync is in flight the next commands apply,
//! and the following sync covers all of them: a burst of 200 commands costs
//! a handful of syncs instead of 200 in a row (before this, the 200th
//! command of a burst waited for 199 syncs).
//!
//! Nobody may act on a change before it is durable: the front end answers
//! the user, and the outbox relay sends posts, only after [`Durable`] says
//! so. Reads in between may see applied changes; that is safe because a
//! later change can only become durable together with, or after, every
//! change applied before it (sled's log is written in order).
//!
//! A sync that fails answers every change it would have covered with the
//! error; the next change tries again, and a later success covers the
//! earlier changes too (they were applied, only not acknowledged).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use super::StoreError;

/// How far changes have been made durable.
#[derive(Clone, Debug, Default)]
struct Progress {
    /// Every change up to this commit count is durable.
    synced: u64,
    /// The last failed sync: the commit count it tried to reach, and why.
    failed: Option<(u64, Arc<str>)>,
}

impl Progress {
    /// The answer for the change at `commit`, if there is one yet.
    fn answer(&self, commit: u64) -> Option<Result<(), StoreError>> {
        if self.synced >= commit {
            return Some(Ok(()));
        }
        match &self.failed {
            Some((reached, why)) if *reached >= commit => Some(Err(StoreError::Backend(format!(
                "the change was not made durable: {why}"
            )))),
            _ => None,
        }
    }
}

struct State {
    /// The commit count of the last applied change.
    applied: u64,
    /// The commit count the last sync (finished or in flight) aimed at.
    attempted: u64,
    progress: Progress,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the syncer (a change was applied) and blocked waiters (a sync
    /// finished).
    changed: Condvar,
    /// The same progress, for async waiters.
    progress: tokio::sync::watch::Sender<Progress>,
    /// Syncs that succeeded since start.
    syncs: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The syncer of one store; stops (after a last sync) when dropped.
pub(crate) struct SyncPoint {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl SyncPoint {
    /// Starts the syncer. `commits` is the store's commit count at open
    /// (everything up to it is durable); `sync(n)` must make every applied
    /// change durable and is told the commit count `n` it covers.
    pub(crate) fn start<S>(commits: u64, mut sync: S) -> Result<SyncPoint, StoreError>
    where
        S: FnMut(u64) -> Result<(), StoreError> + Send + 'static,
    {
        let progress = Progress {
            synced: commits,
            failed: None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                applied: commits,
                attempted: commits,
                progress: progress.clone(),
                stop: false,
            }),
            changed: Condvar::new(),
            progress: tokio::sync::watch::Sender::new(progress),
            syncs: AtomicU64::new(0),
        });
        let syncer = shared.clone();
        let thread = thread::Builder::new()
            .name("mailcall-sync".into())
            .spawn(move || loop {
                let target = {
                    let mut state = syncer.lock();
                    while state.applied == state.attempted && !state.stop {
                        state = syncer
                            .changed
                            .wait(state)
                            .unwrap_or_else(|p| p.into_inner());
                    }
                    if state.applied == state.attempted {
                        return;
                    }
                    state.attempted = state.applied;
                    state.applied
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sync(target)))
                    .unwrap_or_else(|_| {
                        Err(StoreError::Backend("the sync panicked".into()))
                    });
                let mut state = syncer.lock();
                match result {
                    Ok(()) => {
                        state.progress.synced = state.progress.synced.max(target);
                        syncer.syncs.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a sync of the store failed; the changes it covered were refused");
                        state.progress.failed = Some((target, e.to_string().into()));
                    }
                }
                syncer.progress.send_replace(state.progress.clone());
                drop(state);
                syncer.changed.notify_all();
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the store's syncer: {e}")))?;
        Ok(SyncPoint {
            shared,
            thread: Some(thread),
        })
    }

    /// Records that the change with commit count `commit` was applied; the
    /// syncer makes it durable soon.
    pub(crate) fn applied(&self, commit: u64) {
        let mut state = self.shared.lock();
        state.applied = state.applied.max(commit);
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Why the last sync failed, while no sync has succeeded since.
    pub(crate) fn failure(&self) -> Option<String> {
        let state = self.shared.lock();
        match &state.progress.failed {
            Some((reached, why)) if *reached > state.progress.synced => Some(why.to_string()),
            _ => None,
        }
    }

    /// Syncs that succeeded since start.
    pub(crate) fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// A handle on the durability of everything applied so far.
    pub(crate) fn durable(&self) -> Durable {
        let state = self.shared.lock();
        if state.progress.synced >= state.applied {
            return Durable::ready();
        }
        Durable {
            commit: state.applied,
            shared: Some(self.shared.clone()),
        }
    }
}

impl Drop for SyncPoint {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Resolves once the changes it was taken for are durable (see the module
/// docs): wait on it before telling anyone a change was made.
#[must_use = "a change is not acknowledged until it is durable"]
pub struct Durable {
    commit: u64,
    /// `None` when it was durable already.
    shared: Option<Arc<Shared>>,
}

impl Durable {
    /// Already durable (nothing was waiting, or a store that is always in
    /// sync, such as the in-memory one).
    pub fn ready() -> Durable {
        Durable {
            commit: 0,
            shared: None,
        }
    }

    /// Blocks the thread until durable, or the sync's error.
    pub fn wait(self) -> Result<(), StoreError> {
        let Some(shared) = self.shared else {
            return Ok(());
        };
        let mut state = shared.lock();
        loop {
            if let Some(answer) = state.progress.answer(self.commit) {
                return answer;
            }
            if state.stop && state.applied == state.attempted {
                return Err(stopped());
            }
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits without holding a thread, until durable or the sync's error.
    pub async fn wait_async(self) -> Result<(), StoreError> {
        let Some(shared) = self.shared else {
            return Ok(());
        };
        let mut progress = shared.progress.subscribe();
        let commit = self.commit;
        // Dropping the store drops the sender only after a last sync, so a
        // closed channel with no answer means the syncer is gone.
        match progress
            .wait_for(|p| p.answer(commit).is_some())
            .await
            .map(|p| p.answer(commit))
        {
            Ok(Some(answer)) => answer,
            _ => Err(stopped()),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the store's syncer has stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn a_change_is_answered_only_after_a_sync_that_covers_it() {
        let synced_to = Arc::new(AtomicU64::new(0));
        let seen = synced_to.clone();
        let point = SyncPoint::start(0, move |n| {
            std::thread::sleep(Duration::from_millis(5));
            seen.store(n, Ordering::SeqCst);
            Ok(())
        })
        .expect("syncer starts");
        point.applied(1);
        point.durable().wait().expect("durable");
        assert!(synced_to.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn a_burst_of_changes_shares_few_syncs() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let counted = syncs.clone();
        let point = Arc::new(
            SyncPoint::start(0, move |_| {
                std::thread::sleep(Duration::from_millis(10));
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .expect("syncer starts"),
        );
        let waiters: Vec<_> = (1..=50)
            .map(|commit| {
                point.applied(commit);
                let durable = point.durable();
                std::thread::spawn(move || durable.wait())
            })
            .collect();
        for waiter in waiters {
            waiter.join().expect("no panic").expect("durable");
        }
        let syncs = syncs.load(Ordering::SeqCst);
        assert!(syncs < 50, "50 changes took {syncs} syncs");
        assert_eq!(point.syncs(), syncs as u64);
    }

    #[test]
    fn a_failed_sync_refuses_the_changes_it_covered_and_the_next_sync_tries_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let point = SyncPoint::start(3, move |_| {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(StoreError::Backend("No space left on device".into()))
            } else {
                Ok(())
            }
        })
        .expect("syncer starts");
        point.applied(4);
        let refused = point.durable().wait().expect_err("the first sync fails");
        assert!(refused.to_string().contains("No space left"), "{refused}");
        assert_eq!(
            point.failure().as_deref(),
            Some("the store failed: No space left on device"),
            "the failure is told while no sync has succeeded since"
        );
        point.applied(5);
        point.durable().wait().expect("the second sync succeeds");
        assert_eq!(point.failure(), None, "a successful sync ends it");
    }

    #[tokio::test]
    async fn async_waiters_are_answered_too() {
        let point = SyncPoint::start(0, |_| Ok(())).expect("syncer starts");
        point.applied(1);
        point.durable().wait_async().await.expect("durable");
        assert!(point.durable().shared.is_none(), "nothing left to wait for");
    }
}
