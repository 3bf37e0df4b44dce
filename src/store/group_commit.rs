//! Group commit for the metric history: many concurrent writers, one fsync.
//!
//! Every poll ends by writing its samples and poll state durably. Done one
//! by one, 200 accounts finishing together queue up 200 fsyncs behind each
//! other (measured: about 60 ms of a 200-account cycle). Here writers hand
//! their batch to one committer thread, which applies every batch that is
//! waiting (each stays atomic on its own), makes them durable with a single
//! flush + fdatasync, and only then answers each writer. Nobody is answered
//! before the sync that covers their batch.

use std::sync::mpsc;
use std::thread;

use super::StoreError;

type Reply = mpsc::SyncSender<Result<(), StoreError>>;

struct Job {
    batch: sled::Batch,
    reply: Reply,
}

/// The handle writers commit through; the committer thread stops when the
/// last handle is dropped.
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committer for `tree`; `sync` makes applied batches durable.
    pub(crate) fn start<S>(tree: sled::Tree, sync: S) -> Result<GroupCommit, StoreError>
    where
        S: Fn() -> Result<(), StoreError> + Send + 'static,
    {
        let (jobs, waiting) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("mailcall-history-commit".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut group = vec![first];
                    group.extend(waiting.try_iter());
                    let applied: Vec<(Reply, Result<(), StoreError>)> = group
                        .into_iter()
                        .map(|job| {
                            let result = tree
                                .apply_batch(job.batch)
                                .map_err(|e| StoreError::Backend(e.to_string()));
                            (job.reply, result)
                        })
                        .collect();
                    let synced = sync();
                    for (reply, result) in applied {
                        let answer = result.and_then(|()| match &synced {
                            Ok(()) => Ok(()),
                            Err(e) => Err(StoreError::Backend(format!(
                                "the history could not be made durable: {e}"
                            ))),
                        });
                        // A writer that gave up waiting is not an error here.
                        let _ = reply.send(answer);
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the history committer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Applies `batch` atomically and returns once it is durable.
    pub(crate) fn commit(&self, batch: sled::Batch) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Job { batch, reply })
            .map_err(|_| StoreError::Backend("the history committer has stopped".into()))?;
        answer.recv().unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the history committer has stopped".into(),
            ))
        })
    }
}
