//! Group commit for the metric history: many concurrent writers, one batch,
//! one fsync.
//!
//! Every poll ends by writing its samples and poll state durably. Done one
//! by one, 200 accounts finishing together queue up 200 fsyncs behind each
//! other (measured: about 60 ms of a 200-account cycle). Here writers hand
//! their work to one committer thread, which takes every job that is
//! waiting, lets each stage its writes, and applies the whole group as
//! **one** sled batch; a second thread makes applied groups durable with a
//! single flush + fdatasync and only then answers each writer. Nobody is
//! answered before a sync that covers their writes.
//!
//! - **Pipelined**: while one group's fsync is in flight the committer
//!   already applies the next, so storing a wave of polls costs the applies
//!   plus one fsync rather than an fsync per group.
//! - **One batch per group**, not one per writer: sled's `apply_batch` has a
//!   fixed cost (a global write lock, a log reservation for the batch
//!   marker) that, paid 200 times in a row on one thread, was most of the
//!   time a 200-account cycle spent storing.
//! - **Jobs stage against what is already there.** A job is a closure that
//!   sees the tree as it will be after every job staged before it in the
//!   same group ([`Staging::get`]), so it can merge with the stored record
//!   (the account's stream list) and skip a write whose stored value is
//!   already byte-identical (a re-fetched bucket that did not change): with
//!   sled costing several microseconds per written key and about one per
//!   read, not rewriting unchanged history is most of a steady-state
//!   poll's storing. Jobs run one at a time on the committer, so a
//!   read-then-write in a job cannot race another writer.
//! - **A failed job changes nothing.** Its staged writes are dropped and it
//!   alone gets the error; the rest of the group still commits. A job that
//!   panics (sled panics on some damaged files) fails the same way, and the
//!   committer carries on.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use super::StoreError;

/// Where a writer waits for its answer: a blocked thread, or a task.
enum Reply {
    Thread(mpsc::SyncSender<Result<(), StoreError>>),
    Task(tokio::sync::oneshot::Sender<Result<(), StoreError>>),
}

impl Reply {
    /// A writer that gave up waiting is not an error here.
    fn send(self, answer: Result<(), StoreError>) {
        match self {
            Reply::Thread(reply) => drop(reply.send(answer)),
            Reply::Task(reply) => drop(reply.send(answer)),
        }
    }
}

/// A job handed to the committer from async code: await [`Submitted::durable`].
pub(crate) struct Submitted(tokio::sync::oneshot::Receiver<Result<(), StoreError>>);

impl Submitted {
    /// Resolves once the job's writes are durable, or with its error.
    pub(crate) async fn durable(self) -> Result<(), StoreError> {
        self.0.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the history committer has stopped".into())
}

/// One writer's work: stage writes through the [`Staging`] view.
pub(crate) type Job = Box<dyn FnOnce(&mut Staging<'_>) -> Result<(), StoreError> + Send>;

struct Queued {
    job: Job,
    reply: Reply,
}

/// Staged changes by key: `Some(value)` to write, `None` to remove.
type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The tree as a job in a group sees it: its own staged changes first, then
/// those of the jobs before it in the group, then what is stored.
pub(crate) struct Staging<'a> {
    tree: &'a sled::Tree,
    group: &'a Changes,
    mine: Changes,
}

impl Staging<'_> {
    /// The change staged for `key` by this job or an earlier one, if any.
    fn staged(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.mine.get(key).or_else(|| self.group.get(key))
    }

    /// The value `key` will hold if nothing else is staged.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        if let Some(change) = self.staged(key) {
            return Ok(change.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Stages `key = value`.
    pub(crate) fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.mine.insert(key, Some(value));
    }

    /// Stages `key = value` unless `key` already holds exactly `value`.
    pub(crate) fn insert_if_changed(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<(), sled::Error> {
        if self.get(&key)?.as_deref() != Some(value.as_slice()) {
            self.insert(key, value);
        }
        Ok(())
    }

    /// Stages the removal of `key`.
    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.mine.insert(key, None);
    }

    /// Whether any key is stored in `[from, to)`, or staged there by this
    /// job or an earlier one in the group.
    pub(crate) fn any_in(&self, from: &[u8], to: &[u8]) -> Result<bool, sled::Error> {
        let staged = |changes: &Changes| {
            changes
                .range(from.to_vec()..to.to_vec())
                .any(|(_, change)| change.is_some())
        };
        if staged(&self.mine) || staged(self.group) {
            return Ok(true);
        }
        for key in self.tree.range(from..to).keys() {
            let key = key?;
            let removed = matches!(self.staged(&key), Some(None));
            if !removed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The *stored* keys in `[from, to)`: what is on disk, not what this
    /// group has staged (a caller that stages keys in the range must
    /// account for them itself).
    pub(crate) fn stored_keys(&self, from: &[u8], to: &[u8]) -> Result<Vec<Vec<u8>>, sled::Error> {
        self.tree
            .range(from..to)
            .keys()
            .map(|key| key.map(|k| k.to_vec()))
            .collect()
    }
}

/// The handle writers commit through; the committer thread stops when the
/// last handle is dropped.
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the committer for `tree`; `sync` makes applied batches durable.
    pub(crate) fn start<S>(tree: sled::Tree, sync: S) -> Result<GroupCommit, StoreError>
    where
        S: Fn() -> Result<(), StoreError> + Send + 'static,
    {
        let (jobs, waiting) = mpsc::channel::<Queued>();
        let (applied, to_sync) = mpsc::channel::<Applied>();
        thread::Builder::new()
            .name("mailcall-history-sync".into())
            .spawn(move || {
                let mut synced_so_far = true;
                while let Ok(first) = to_sync.recv() {
                    let mut groups = vec![first];
                    groups.extend(to_sync.try_iter());
                    synced_so_far = answer(&sync, groups, synced_so_far);
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the history syncer: {e}")))?;
        thread::Builder::new()
            .name("mailcall-history-commit".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut queued = vec![first];
                    queued.extend(waiting.try_iter());
                    if let Some(group) = stage_and_apply(&tree, queued) {
                        if let Err(mpsc::SendError(group)) = applied.send(group) {
                            for reply in group.replies {
                                reply.send(Err(stopped()));
                            }
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the history committer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `job` on the committer and returns once its writes are durable
    /// (or with the job's own error, having written nothing). Blocks the
    /// thread: async code uses [`GroupCommit::submit`].
    pub(crate) fn commit(&self, job: Job) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Queued {
                job,
                reply: Reply::Thread(reply),
            })
            .map_err(|_| stopped())?;
        answer.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Hands `job` to the committer without blocking; the answer is awaited
    /// on the returned handle. No thread waits meanwhile: a cycle's two
    /// hundred polls finishing together would otherwise each hold a
    /// blocking-pool thread (and, on a fresh pool, make one) just to wait.
    pub(crate) fn submit(&self, job: Job) -> Submitted {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if let Err(mpsc::SendError(queued)) = self.jobs.send(Queued {
            job,
            reply: Reply::Task(reply),
        }) {
            queued.reply.send(Err(stopped()));
        }
        Submitted(answer)
    }
}

/// A group whose batch has been applied (or failed to apply), on its way
/// to the syncer.
struct Applied {
    replies: Vec<Reply>,
    /// Whether the batch wrote anything, or why it could not be applied.
    outcome: Result<bool, String>,
}

/// Stages every job and applies what they staged as one batch. Jobs that
/// fail are answered here; the rest wait for the syncer (`None` when no job
/// is left waiting).
fn stage_and_apply(tree: &sled::Tree, queued: Vec<Queued>) -> Option<Applied> {
    let mut group = Changes::new();
    let mut replies = Vec::with_capacity(queued.len());
    for Queued { job, reply } in queued {
        let mut staging = Staging {
            tree,
            group: &group,
            mine: BTreeMap::new(),
        };
        let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut staging)))
            .unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "the history write failed unexpectedly (a panic while staging it)".into(),
                ))
            });
        match staged {
            Ok(()) => {
                let mine = staging.mine;
                group.extend(mine);
                replies.push(reply);
            }
            Err(e) => reply.send(Err(e)),
        }
    }
    if replies.is_empty() {
        return None;
    }
    let wrote = !group.is_empty();
    let mut batch = sled::Batch::default();
    for (key, change) in group {
        match change {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    let outcome = match wrote {
        false => Ok(false),
        true => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tree.apply_batch(batch)))
            .unwrap_or_else(|_| {
                Err(sled::Error::ReportableBug(
                    "sled panicked while applying a batch".into(),
                ))
            })
            .map(|()| true)
            .map_err(|e| e.to_string()),
    };
    Some(Applied { replies, outcome })
}

/// Makes applied groups durable with one sync and answers their writers.
///
/// This runs on its own thread, so the committer applies the next group
/// while this one's fsync is in flight. A sync started after a group was
/// applied covers it, and groups arrive here only once applied, so no
/// writer is answered before a sync that covers its writes. A group that
/// wrote nothing still waits its turn: what it found unchanged may have
/// been written by a group before it whose sync is this one.
///
/// `synced_so_far` says whether every earlier group was made durable; if
/// the last sync failed, even groups that wrote nothing sync again before
/// being told their (unchanged) data is safe. Returns the same for the
/// next call.
fn answer<S>(sync: &S, groups: Vec<Applied>, synced_so_far: bool) -> bool
where
    S: Fn() -> Result<(), StoreError>,
{
    let synced = if !synced_so_far || groups.iter().any(|g| g.outcome == Ok(true)) {
        sync().map_err(|e| format!("the history could not be made durable: {e}"))
    } else {
        // Every group before these was synced on an earlier turn.
        Ok(())
    };
    let durable = synced.is_ok();
    for group in groups {
        let result = group.outcome.and_then(|_| synced.clone());
        for reply in group.replies {
            reply.send(result.clone().map_err(StoreError::Backend));
        }
    }
    durable
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn committer() -> (tempfile::TempDir, sled::Tree, GroupCommit, Arc<AtomicUsize>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled opens");
        let tree = db.open_tree("t").expect("tree");
        let syncs = Arc::new(AtomicUsize::new(0));
        let counted = syncs.clone();
        let commits = GroupCommit::start(tree.clone(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .expect("committer starts");
        (dir, tree, commits, syncs)
    }

    #[test]
    fn a_job_sees_stored_values_and_writes_what_it_stages() {
        let (_dir, tree, commits, _) = committer();
        tree.insert(b"count", b"1".to_vec()).expect("insert");
        commits
            .commit(Box::new(|staging| {
                let now = staging.get(b"count").expect("read").expect("present");
                let next = format!(
                    "{}",
                    String::from_utf8_lossy(&now).parse::<u32>().unwrap_or(0) + 1
                );
                staging.insert(b"count".to_vec(), next.into_bytes());
                Ok(())
            }))
            .expect("commit");
        assert_eq!(
            tree.get(b"count").expect("read").as_deref(),
            Some(&b"2"[..])
        );
    }

    #[test]
    fn a_write_that_changes_nothing_costs_no_sync() {
        let (_dir, tree, commits, syncs) = committer();
        tree.insert(b"k", b"v".to_vec()).expect("insert");
        commits
            .commit(Box::new(|staging| {
                staging
                    .insert_if_changed(b"k".to_vec(), b"v".to_vec())
                    .map_err(|e| StoreError::Backend(e.to_string()))
            }))
            .expect("commit");
        assert_eq!(syncs.load(Ordering::SeqCst), 0);
        commits
            .commit(Box::new(|staging| {
                staging
                    .insert_if_changed(b"k".to_vec(), b"w".to_vec())
                    .map_err(|e| StoreError::Backend(e.to_string()))
            }))
            .expect("commit");
        assert_eq!(syncs.load(Ordering::SeqCst), 1);
        assert_eq!(tree.get(b"k").expect("read").as_deref(), Some(&b"w"[..]));
    }

    #[test]
    fn a_failed_job_writes_nothing_and_others_still_commit() {
        let (_dir, tree, commits, _) = committer();
        let failed = commits.commit(Box::new(|staging| {
            staging.insert(b"half".to_vec(), b"written".to_vec());
            Err(StoreError::Backend("the job refused".into()))
        }));
        assert!(matches!(failed, Err(StoreError::Backend(m)) if m.contains("refused")));
        assert_eq!(tree.get(b"half").expect("read"), None);
        commits
            .commit(Box::new(|staging| {
                staging.insert(b"whole".to_vec(), b"written".to_vec());
                Ok(())
            }))
            .expect("commit");
        assert!(tree.get(b"whole").expect("read").is_some());
    }

    #[test]
    fn a_job_that_panics_fails_alone_and_the_committer_carries_on() {
        let (_dir, tree, commits, _) = committer();
        let panicked = commits.commit(Box::new(|staging| {
            staging.insert(b"half".to_vec(), b"written".to_vec());
            panic!("a bug while staging");
        }));
        assert!(
            matches!(&panicked, Err(StoreError::Backend(m)) if m.contains("failed unexpectedly")),
            "{panicked:?}"
        );
        assert_eq!(tree.get(b"half").expect("read"), None);
        commits
            .commit(Box::new(|staging| {
                staging.insert(b"after".to_vec(), b"written".to_vec());
                Ok(())
            }))
            .expect("the committer still works");
        assert!(tree.get(b"after").expect("read").is_some());
    }

    #[test]
    fn later_jobs_in_a_group_see_earlier_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled opens");
        let tree = db.open_tree("t").expect("tree");
        let (reply_a, answer_a) = mpsc::sync_channel(1);
        let (reply_b, answer_b) = mpsc::sync_channel(1);
        let seen = Arc::new(std::sync::Mutex::new(None));
        let saw = seen.clone();
        let group = stage_and_apply(
            &tree,
            vec![
                Queued {
                    job: Box::new(|staging| {
                        staging.insert(b"k".to_vec(), b"first".to_vec());
                        Ok(())
                    }),
                    reply: Reply::Thread(reply_a),
                },
                Queued {
                    job: Box::new(move |staging| {
                        *saw.lock().expect("lock") = staging.get(b"k").expect("read");
                        staging.insert(b"k".to_vec(), b"second".to_vec());
                        Ok(())
                    }),
                    reply: Reply::Thread(reply_b),
                },
            ],
        )
        .expect("both jobs wait for the sync");
        assert!(answer(&|| Ok(()), vec![group], true));
        assert!(answer_a.recv().expect("answer").is_ok());
        assert!(answer_b.recv().expect("answer").is_ok());
        assert_eq!(*seen.lock().expect("lock"), Some(b"first".to_vec()));
        assert_eq!(
            tree.get(b"k").expect("read").as_deref(),
            Some(&b"second"[..])
        );
    }

    #[test]
    fn after_a_failed_sync_nothing_is_called_durable_until_a_sync_succeeds() {
        let (reply_a, answer_a) = mpsc::sync_channel(1);
        let failing = || Err(StoreError::Backend("disk gone".into()));
        let wrote = Applied {
            replies: vec![Reply::Thread(reply_a)],
            outcome: Ok(true),
        };
        assert!(!answer(&failing, vec![wrote], true));
        assert!(answer_a.recv().expect("answer").is_err());
        // A group that wrote nothing, next: it may rest on the failed write.
        let (reply_b, answer_b) = mpsc::sync_channel(1);
        let unchanged = || Applied {
            replies: vec![],
            outcome: Ok(false),
        };
        let mut quiet = unchanged();
        quiet.replies.push(Reply::Thread(reply_b));
        assert!(!answer(&failing, vec![quiet], false));
        assert!(answer_b.recv().expect("answer").is_err());
        let syncs = std::cell::Cell::new(0);
        let working = || {
            syncs.set(syncs.get() + 1);
            Ok(())
        };
        assert!(answer(&working, vec![unchanged()], false));
        assert_eq!(
            syncs.get(),
            1,
            "a sync runs before anything is called durable"
        );
        assert!(answer(&working, vec![unchanged()], true));
        assert_eq!(
            syncs.get(),
            1,
            "no sync when nothing changed and all is durable"
        );
    }

    /// The pipelining invariant: whoever is answered finds its write in the
    /// snapshot of a sync that began after the write was applied.
    #[test]
    fn nobody_is_answered_before_a_sync_that_covers_their_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled opens");
        let tree = db.open_tree("t").expect("tree");
        let durable: Arc<std::sync::Mutex<std::collections::BTreeSet<Vec<u8>>>> = Arc::default();
        let (snapshot_tree, snapshot) = (tree.clone(), durable.clone());
        let commits = Arc::new(
            GroupCommit::start(tree, move || {
                // What a sync starting now would make durable.
                let keys: Vec<Vec<u8>> = snapshot_tree
                    .iter()
                    .keys()
                    .filter_map(|k| k.ok().map(|k| k.to_vec()))
                    .collect();
                std::thread::sleep(std::time::Duration::from_millis(2));
                snapshot.lock().expect("lock").extend(keys);
                Ok(())
            })
            .expect("committer starts"),
        );
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let (commits, durable) = (commits.clone(), durable.clone());
                std::thread::spawn(move || {
                    for n in 0..25 {
                        let key = format!("{writer}-{n}").into_bytes();
                        let staged = key.clone();
                        commits
                            .commit(Box::new(move |staging| {
                                staging.insert(staged, b"v".to_vec());
                                Ok(())
                            }))
                            .expect("commit");
                        assert!(
                            durable.lock().expect("lock").contains(&key),
                            "answered before a covering sync"
                        );
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer thread");
        }
    }
}
