//! Where incidents are kept: the [`IncidentStore`] boundary and its two
//! implementations, [`SledStore`] (durable, on disk) and [`MemoryStore`]
//! (tests and property checks).
//!
//! The engine decides *what* to write; a store only promises that a
//! [`Write`] is all-or-nothing and, for the durable store, on disk before
//! `commit` returns, or, with group commit ([`IncidentStore::defer_sync`]),
//! before the [`Durable`] taken after it resolves. That promise is what lets
//! a front end answer "done".

mod group_commit;
mod history;
mod memory;
mod sled_store;
mod sync_point;

use std::path::PathBuf;

pub use history::{MetricsHistory, PendingWrite, PollState};
pub use memory::MemoryStore;
pub use sled_store::{
    restore_backup, BackupStats, SledHistory, SledStore, WriteStats, DEFAULT_KEEP, SCHEMA_VERSION,
};
pub use sync_point::Durable;

use crate::domain::{Denial, Incident, IncidentId};

/// One command's changes, applied atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// A new incident whose id must be the store's next id; the counter moves
    /// on in the same atomic step, so ids stay contiguous across crashes.
    Create(Incident),
    /// A new version of an existing incident.
    Update(Incident),
}

/// Why the store could not do what was asked. Messages name the path so an
/// operator knows which directory to look at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use data directory {}: {}", path.display(), crate::os_error::reason(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {} is a file, not a directory: give --data (or [store] path) the directory of a mailcall store; nothing was changed", path.display())]
    NotADirectory { path: PathBuf },
    #[error("there is no mailcall store at {} (nothing was created): check --data or [store] path, or run `mailcall backfill` first to fill it", path.display())]
    Missing { path: PathBuf },
    #[error("data directory {path} is in use by another mailcall process (the bot?); stop it first. `mailcall backup`, `metrics` and `backfill` work while the bot runs, through its [http] listen address")]
    InUse { path: PathBuf },
    #[error("data directory {path} is damaged or not a mailcall store ({detail}); nothing was changed — restore it from a backup or move it aside")]
    Corrupt { path: PathBuf, detail: String },
    #[error("data directory {path} was written by a newer mailcall (schema {found}, this build reads up to {supported})")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store refused the write: {0}")]
    Conflict(String),
    #[error("will not use data directory {path}: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("the store failed: {0}")]
    Backend(String),
}

/// Durable incident storage.
pub trait IncidentStore {
    /// The incident with this id, if it exists.
    fn load(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;
    /// Every incident, in id order.
    fn all(&self) -> Result<Vec<Incident>, StoreError>;
    /// The id the next `Write::Create` must carry.
    fn next_id(&self) -> Result<IncidentId, StoreError>;
    /// Applies one command's writes atomically and durably.
    fn commit(&mut self, write: Write) -> Result<(), StoreError>;
    /// Appends a permission refusal to the audit log, durably.
    fn record_denial(&mut self, denial: Denial) -> Result<(), StoreError>;
    /// The audit log, oldest first.
    fn denials(&self) -> Result<Vec<Denial>, StoreError>;
    /// Writes, durably, a record that belongs to a part of mailcall other
    /// than the incident model (alert state, Discord message ids).
    fn put_extra(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Reads a record written with `put_extra`.
    fn get_extra(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Starts one change: until [`IncidentStore::finish`] or
    /// [`IncidentStore::abort`], `commit`, `put_extra` and `record_denial`
    /// are staged (reads see them) and nothing reaches the disk. Calling it
    /// again inside a change does nothing.
    fn begin(&mut self);
    /// Writes everything staged, plus `posts` appended to the outbox, in
    /// one atomic, durable write; returns the posts' outbox ids, in order.
    /// On failure nothing was written and the staged writes are dropped.
    /// With [`IncidentStore::defer_sync`] on, it returns once the write is
    /// applied (later reads see it) and durability is awaited separately.
    fn finish(&mut self, posts: Vec<Vec<u8>>) -> Result<Vec<u64>, StoreError>;
    /// Drops what is staged.
    fn abort(&mut self);
    /// Group commit: when on, `finish` (and every other write) does not wait
    /// for its sync; the caller must wait on [`IncidentStore::durable`]
    /// before it tells anyone about the change. Many changes then share one
    /// sync. Off by default.
    fn defer_sync(&mut self, defer: bool);
    /// Resolves once every change applied so far is durable.
    fn durable(&self) -> Durable;
    /// The outbox: posts committed but not yet delivered, oldest first.
    fn outbox(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Removes delivered post `id` from the outbox and writes `records`
    /// (what the front end must remember of it: message ids) in one durable
    /// write. Removing an id that is not there is not an error.
    fn delivered(&mut self, id: u64, records: Vec<(String, Vec<u8>)>) -> Result<(), StoreError>;
}
