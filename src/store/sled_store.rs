//! The durable [`IncidentStore`]: sled on disk.
//!
//! Layout (one sled tree, so one batch covers every write of a command):
//!
//! | key                          | value                                          |
//! |------------------------------|------------------------------------------------|
//! | `meta:schema`                | `{"schema":1}`                                 |
//! | `meta:state`                 | `{"schema":1,"next_id":8,"commits":31}`        |
//! | `inc:` + id (u64 BE)         | `{"schema":1,"timeline_len":5,"incident":{…}}` |
//! | `tl:` + id (u64 BE) + n (u32 BE) | `{"schema":1,"entry":{…}}`                 |
//! | `audit:` + n (u64 BE)        | `{"schema":1,"denial":{…}}`                    |
//! | `ext:` + name                | an adapter's own record (e.g. Discord message ids) |
//!
//! The metric history lives in its own tree, `metrics`: samples under
//! `h␟account␟stream␟start␟width`, and each account's poll state under
//! `p␟account`, with the list of the account's streams that have history
//! (so listing streams reads one small record per account, not every
//! sample key) and how far its samples were pruned. An earlier build kept
//! the stream list as `s␟account␟stream` keys; they are still read.
//!
//! The incident record holds everything but the timeline; each timeline
//! entry is its own record, written once. A command therefore writes the
//! small incident record, its one new timeline entry and the state record,
//! not the whole history: the cost of a change does not grow with the
//! incident's age (measured: rewriting whole incidents made a note on a
//! 100-entry incident cost 2.5× a raw fsync). `timeline_len` lets the open
//! check prove that every entry the incident claims is present.
//!
//! Values are JSON with a schema version, so a later mailcall can migrate
//! them and an older one refuses them instead of misreading them.
//!
//! Durability: every commit is one `apply_batch` (atomic in sled), then
//! `flush`, then an `fdatasync` of sled's log file by mailcall itself. The
//! last step is needed because sled 0.34's `flush` on Linux ends in
//! `sync_file_range` (read in `pagecache/iobuf.rs`, confirmed with strace:
//! no fsync or fdatasync per flush), which flushes neither the device's
//! write cache nor the file's metadata, so a "flushed" write can still be
//! lost to a power cut. sled's background flusher is off; the fdatasync is
//! the acknowledgement point. Done by the syncer of `sync_point`, it costs
//! one fdatasync per group of concurrent changes (see the README's figures).
//!
//! Loss detection: sled treats a damaged stretch of its log like a torn
//! tail and silently recovers to the state before it (measured: flipping
//! bytes in the middle of the log made it reopen without the incidents
//! written after the damage, and the next incident reused their id). So
//! every commit also counts itself (`commits`), and after the flush the count
//! is written to `mailcall.commits` beside the database. That file is written
//! only after sled's fsync returns, so it can lag sled (a crash between the
//! two) but never lead it, unless sled lost writes it had acknowledged. On
//! open, a sidecar count above sled's means exactly that, and the store
//! refuses to open instead of reusing ids. The sidecar is not fsynced: it is a
//! tripwire, not a second copy, and costs one small write per command.
//!
//! Reads come from memory: every record is decoded once at open (which also
//! proves the store readable) and kept in a write-through cache. The lock
//! below makes this process the only writer, so the cache cannot go stale,
//! and a command costs one encode of the record it changes plus sled's
//! batch and flush, instead of a decode of the whole incident each time.
//!
//! Exclusivity: a `mailcall.lock` file in the directory is locked before sled
//! opens, so a second process gets a clear "in use" error instead of sled's
//! generic one (or, on some platforms, a wait).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use super::group_commit::{GroupCommit, Job};
use super::history::{
    self, MetricsHistory, PendingWrite, PollState, PollStateRecord, SampleRecord,
};
use super::sync_point::{Durable, SyncPoint};
use super::{IncidentStore, StoreError, Write};
use crate::delivery::{Sample, StreamKey};
use crate::domain::{Denial, Incident, IncidentId, TimelineEntry};

/// The schema this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

const KEY_SCHEMA: &[u8] = b"meta:schema";
const KEY_STATE: &[u8] = b"meta:state";
const SIDECAR: &str = "mailcall.commits";
const INCIDENT_PREFIX: &[u8] = b"inc:";
const TIMELINE_PREFIX: &[u8] = b"tl:";
const AUDIT_PREFIX: &[u8] = b"audit:";
const EXTRA_PREFIX: &[u8] = b"ext:";
/// Posts committed with a change and not yet delivered, by outbox id.
const OUTBOX_PREFIX: &[u8] = b"out:";

/// sled's page cache; incidents are small and the working set is the active
/// ones, so a modest cache keeps memory flat.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct SchemaRecord {
    schema: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct StateRecord {
    schema: u32,
    next_id: u64,
    /// Commits applied so far; compared with the sidecar on open.
    commits: u64,
}

/// An incident without its timeline (which is stored entry by entry).
#[derive(Deserialize)]
struct IncidentRecord {
    schema: u32,
    timeline_len: u32,
    incident: Incident,
}

/// The same record, serialised from a borrow so a commit does not clone.
#[derive(Serialize)]
struct IncidentRecordRef<'a> {
    schema: u32,
    timeline_len: u32,
    incident: &'a Incident,
}

#[derive(Deserialize)]
struct EntryRecord {
    schema: u32,
    entry: TimelineEntry,
}

#[derive(Serialize)]
struct EntryRecordRef<'a> {
    schema: u32,
    entry: &'a TimelineEntry,
}

/// Incidents in a sled database under one directory.
pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    /// Held for the life of the store; the OS releases it if we die.
    _lock: File,
    /// `mailcall.commits`, rewritten in place after each durable sync.
    sidecar: Arc<File>,
    /// sled's log file (`db`), opened again so mailcall can fdatasync it;
    /// shared with the metric history handle.
    log: Arc<File>,
    /// Every incident, decoded; updated only after a commit is durable.
    incidents: BTreeMap<IncidentId, Incident>,
    /// The state record as last committed.
    state: StateRecord,
    /// The change in progress (see [`IncidentStore::begin`]).
    staged: Option<Staged>,
    /// Makes applied changes durable, many at a time; started at open.
    syncer: Option<SyncPoint>,
    /// Whether `finish` leaves the wait for durability to its caller (see
    /// [`IncidentStore::defer_sync`]).
    deferred: bool,
    /// The commit count at open.
    opened_at: u64,
}

/// How many changes this store committed since it was opened, and how many
/// syncs made them durable (fewer when changes commit in groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteStats {
    pub changes: u64,
    pub syncs: u64,
}

impl Drop for SledStore {
    /// The syncer makes its last sync and stops before the lock file is
    /// released, so no other process opens the store while it still writes.
    fn drop(&mut self) {
        self.syncer.take();
    }
}

/// One change's writes, not yet on disk, and what reads must see meanwhile.
struct Staged {
    batch: sled::Batch,
    /// Whether anything was staged: a change that wrote nothing and posts
    /// nothing (a read-only command) costs no write and no sync.
    dirty: bool,
    state: StateRecord,
    incidents: BTreeMap<IncidentId, Incident>,
    extras: BTreeMap<String, Vec<u8>>,
}

fn outbox_key(id: u64) -> Vec<u8> {
    let mut key = OUTBOX_PREFIX.to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn extra_key(name: &str) -> Vec<u8> {
    let mut key = EXTRA_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

fn incident_key(id: IncidentId) -> Vec<u8> {
    let mut key = INCIDENT_PREFIX.to_vec();
    key.extend_from_slice(&id.get().to_be_bytes());
    key
}

fn entry_key(id: IncidentId, index: usize) -> Vec<u8> {
    let mut key = TIMELINE_PREFIX.to_vec();
    key.extend_from_slice(&id.get().to_be_bytes());
    // Timelines are bounded by MAX_TIMELINE, far below u32::MAX.
    key.extend_from_slice(&(index as u32).to_be_bytes());
    key
}

/// Splits a `tl:` key into its incident id and entry index.
fn parse_entry_key(key: &[u8]) -> Option<(u64, u32)> {
    let rest = key.strip_prefix(TIMELINE_PREFIX)?;
    let id = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let index = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
    (rest.len() == 12).then_some((id, index))
}

/// Printable form of a key for error messages: `inc:7`, `tl:7/3`.
fn show_key(key: &[u8]) -> String {
    if let Some((id, index)) = parse_entry_key(key) {
        return format!("tl:{id}/{index}");
    }
    match key
        .strip_prefix(INCIDENT_PREFIX)
        .and_then(|r| r.try_into().ok())
    {
        Some(bytes) => format!("inc:{}", u64::from_be_bytes(bytes)),
        None => String::from_utf8_lossy(key).into_owned(),
    }
}

impl SledStore {
    /// Opens the store at `dir` only if one is there: for commands that
    /// read a store (`metrics`, `backup`, `replay`), where a mistyped path
    /// must be an error, not a new empty store.
    pub fn open_existing(dir: &Path) -> Result<SledStore, StoreError> {
        if !dir.exists() {
            return Err(StoreError::Missing {
                path: dir.to_path_buf(),
            });
        }
        SledStore::open(dir)
    }

    /// Opens (or creates) the store in `dir`, checks that it is a mailcall
    /// store of a schema this build understands, and reads every record once
    /// so damage is reported at start-up rather than mid-incident.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let path = dir.to_path_buf();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotADirectory { path });
        }
        fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("mailcall.lock"))
            .map_err(io)?;
        match lock.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) => return Err(StoreError::InUse { path }),
            Err(source) => return Err(StoreError::Io { path, source }),
        }

        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
        let db = match open_sled(&config) {
            Ok(db) => db,
            Err(Ok(sled::Error::Io(source))) => return Err(StoreError::Io { path, source }),
            Err(Ok(e)) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: e.to_string(),
                })
            }
            Err(_) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: "the storage engine could not recover its log".into(),
                })
            }
        };
        let sidecar = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(SIDECAR))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let sidecar = Arc::new(sidecar);
        let log = Arc::new(File::open(dir.join("db")).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?);
        let mut store = SledStore {
            db,
            path,
            _lock: lock,
            sidecar,
            log,
            incidents: BTreeMap::new(),
            state: StateRecord {
                schema: SCHEMA_VERSION,
                next_id: IncidentId::FIRST.get(),
                commits: 0,
            },
            staged: None,
            syncer: None,
            deferred: false,
            opened_at: 0,
        };
        store.state = store.read_state()?;
        // Compare before anything is written, so a store that lost data is
        // left exactly as found.
        store.check_for_lost_commits()?;
        store.check_schema()?;
        store.incidents = store.read_incidents()?;
        store.syncer = Some(store.start_syncer()?);
        store.opened_at = store.state.commits;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes committed and syncs made since open.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            changes: self.state.commits - self.opened_at,
            syncs: self.syncer.as_ref().map_or(0, SyncPoint::syncs),
        }
    }

    /// Why changes could not be made durable, while that lasts (sled keeps
    /// an I/O failure for good, so in practice until the store is closed).
    pub fn sync_failure(&self) -> Option<String> {
        self.syncer.as_ref().and_then(SyncPoint::failure)
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        sled_error(&self.path, e)
    }

    /// Writes the schema marker into a fresh store; refuses stores from the
    /// future and directories holding something other than mailcall's data.
    fn check_schema(&self) -> Result<(), StoreError> {
        match self.db.get(KEY_SCHEMA).map_err(|e| self.backend(e))? {
            Some(bytes) => {
                let record: SchemaRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| self.corrupt(format!("schema marker unreadable: {e}")))?;
                if record.schema > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        path: self.path.clone(),
                        found: record.schema,
                        supported: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None if self.db.is_empty() => {
                let marker = encode(&SchemaRecord {
                    schema: SCHEMA_VERSION,
                })?;
                self.db
                    .insert(KEY_SCHEMA, marker)
                    .map_err(|e| self.backend(e))?;
                self.db.flush().map_err(|e| self.backend(e))?;
                Ok(())
            }
            None => Err(self.corrupt("it holds data but no mailcall schema marker".into())),
        }
    }

    /// Decodes every incident and reattaches its timeline, checking that
    /// each incident has exactly the entries it claims.
    fn read_incidents(&self) -> Result<BTreeMap<IncidentId, Incident>, StoreError> {
        let mut incidents = BTreeMap::new();
        let mut claimed = BTreeMap::new();
        for item in self.db.scan_prefix(INCIDENT_PREFIX) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let record: IncidentRecord = self.decode(&key, &value)?;
            self.check_version(record.schema)?;
            claimed.insert(record.incident.id, record.timeline_len as usize);
            incidents.insert(record.incident.id, record.incident);
        }
        for item in self.db.scan_prefix(TIMELINE_PREFIX) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let (id, index) = parse_entry_key(&key)
                .ok_or_else(|| self.corrupt(format!("malformed key {}", show_key(&key))))?;
            let incident = IncidentId::new(id)
                .and_then(|id| incidents.get_mut(&id))
                .ok_or_else(|| {
                    self.corrupt(format!("record {} belongs to no incident", show_key(&key)))
                })?;
            if index as usize != incident.timeline.len() {
                return Err(self.corrupt(format!("record {} is out of sequence", show_key(&key))));
            }
            let record: EntryRecord = self.decode(&key, &value)?;
            self.check_version(record.schema)?;
            incident.timeline.push(record.entry);
        }
        for (id, incident) in &incidents {
            let expected = claimed.get(id).copied().unwrap_or(0);
            if incident.timeline.len() != expected || expected == 0 {
                return Err(self.corrupt(format!(
                    "{id} claims {expected} timeline entries but {} are stored",
                    incident.timeline.len()
                )));
            }
        }
        Ok(incidents)
    }

    fn read_state(&self) -> Result<StateRecord, StoreError> {
        match self.db.get(KEY_STATE).map_err(|e| self.backend(e))? {
            None => Ok(StateRecord {
                schema: SCHEMA_VERSION,
                next_id: IncidentId::FIRST.get(),
                commits: 0,
            }),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.corrupt(format!("store state unreadable: {e}"))),
        }
    }

    /// The commit count recorded in the sidecar; `None` when it is absent or
    /// unreadable (a first run, or a power cut mid-write: the tripwire is
    /// then re-armed rather than trusted).
    fn sidecar_commits(&self) -> Option<u64> {
        use std::io::Read;
        let mut text = String::new();
        (&*self.sidecar).read_to_string(&mut text).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    fn check_for_lost_commits(&self) -> Result<(), StoreError> {
        let state = self.state;
        match self.sidecar_commits() {
            Some(acknowledged) if acknowledged > state.commits => Err(self.corrupt(format!(
                "the database holds {} commits but {acknowledged} were acknowledged, so writes were lost; \
                 the log is probably damaged",
                state.commits
            ))),
            _ => self.write_sidecar(state.commits),
        }
    }

    fn write_sidecar(&self, commits: u64) -> Result<(), StoreError> {
        write_sidecar(&self.sidecar, &self.path, commits)
    }

    /// The syncer that makes applied changes durable: sled's flush, our
    /// fdatasync, then the tripwire count of what is now durable.
    fn start_syncer(&self) -> Result<SyncPoint, StoreError> {
        let (db, log, sidecar, path) = (
            self.db.clone(),
            self.log.clone(),
            self.sidecar.clone(),
            self.path.clone(),
        );
        SyncPoint::start(self.state.commits, move |commits| {
            sync_log(&db, &log, &path)?;
            // The change is durable, so a failure to re-arm the tripwire
            // must not turn it into a reported failure; it only means a
            // later loss could go unnoticed until the next sync re-arms it.
            let _ = write_sidecar(&sidecar, &path, commits);
            Ok(())
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(bytes)
            .map_err(|e| self.corrupt(format!("record {} is unreadable: {e}", show_key(key))))
    }

    fn check_version(&self, schema: u32) -> Result<(), StoreError> {
        if schema > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: schema,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }
}

/// How long to wait for a just-dropped `sled::Db` of this process to let go
/// of its file lock.
const SLED_LOCK_GRACE: Duration = Duration::from_secs(5);

/// Opens sled, turning its recovery panics into errors.
///
/// sled keeps a clone of its file in background threads (segment
/// truncation) that can outlive a dropped `Db` for a moment, so reopening in
/// the same process may briefly find sled's own lock taken. By the time this
/// runs we hold `mailcall.lock`, so no other process can be the holder: the
/// lock is retried for a short grace period instead of being reported as
/// "in use".
/// Rewrites the sidecar in place: a fixed-width record, so the file never
/// needs truncating and one small write replaces it.
fn write_sidecar(sidecar: &File, dir: &Path, commits: u64) -> Result<(), StoreError> {
    use std::os::unix::fs::FileExt;
    let record = format!("{commits:020}\n");
    sidecar
        .write_all_at(record.as_bytes(), 0)
        .map_err(|source| StoreError::Io {
            path: dir.join(SIDECAR),
            source,
        })
}

/// sled's flush, then the fdatasync that makes it durable (see the module
/// docs for why sled's flush alone is not enough).
fn sync_log(db: &sled::Db, log: &File, dir: &Path) -> Result<(), StoreError> {
    db.flush().map_err(|e| sled_error(dir, e))?;
    log.sync_data().map_err(|source| StoreError::Io {
        path: dir.join("db"),
        source,
    })
}

fn open_sled(config: &sled::Config) -> Result<sled::Db, std::thread::Result<sled::Error>> {
    let started = Instant::now();
    loop {
        // sled reports most damage as errors, but some malformed files make it
        // panic while recovering; either way the answer is "damaged".
        match panic::catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => return Ok(db),
            Ok(Err(sled::Error::Io(e)))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < SLED_LOCK_GRACE =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(Err(e)) => return Err(Ok(e)),
            Err(panic) => return Err(Err(panic)),
        }
    }
}

/// A sled error as a store error naming the directory: I/O as I/O, damage
/// as damage, anything else as a backend failure. One mapping for the
/// incident records and the metric history.
fn sled_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(source) => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        other => StoreError::Backend(other.to_string()),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

#[derive(Serialize, Deserialize)]
struct DenialRecord {
    schema: u32,
    denial: Denial,
}

impl SledStore {
    /// A handle on the metric history in this store. It is independent of
    /// the incident records (its own sled tree) and safe to use from many
    /// threads, so polling never waits for incident commands.
    pub fn history(&self) -> Result<SledHistory, StoreError> {
        let tree = self.db.open_tree("metrics").map_err(|e| self.backend(e))?;
        let (db, log, path) = (self.db.clone(), self.log.clone(), self.path.clone());
        let commits = GroupCommit::start(tree.clone(), move || sync_log(&db, &log, &path))?;
        Ok(SledHistory {
            tree,
            path: self.path.clone(),
            commits: Arc::new(commits),
            keep: DEFAULT_KEEP,
        })
    }

    /// Makes everything written so far durable, on this thread.
    fn sync(&self) -> Result<(), StoreError> {
        sync_log(&self.db, &self.log, &self.path)
    }
}

impl SledStore {
    /// Runs `stage` inside a change: the one in progress, or a change of
    /// its own that is finished (written and synced) at once.
    fn staging(
        &mut self,
        stage: impl FnOnce(&Self, &mut Staged) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let own = self.staged.is_none();
        self.begin();
        let mut staged = self
            .staged
            .take()
            .ok_or_else(|| StoreError::Backend("no change in progress".into()))?;
        let result = stage(self, &mut staged);
        staged.dirty = true;
        self.staged = Some(staged);
        match (result, own) {
            (Err(e), true) => {
                self.abort();
                Err(e)
            }
            (Err(e), false) => Err(e),
            (Ok(()), true) => self.finish(Vec::new()).map(|_| ()),
            (Ok(()), false) => Ok(()),
        }
    }

    /// An incident as the change in progress sees it.
    fn current(&self, id: IncidentId) -> Option<&Incident> {
        self.staged
            .as_ref()
            .and_then(|s| s.incidents.get(&id))
            .or_else(|| self.incidents.get(&id))
    }
}

impl IncidentStore for SledStore {
    fn begin(&mut self) {
        if self.staged.is_none() {
            self.staged = Some(Staged {
                batch: sled::Batch::default(),
                dirty: false,
                state: self.state,
                incidents: BTreeMap::new(),
                extras: BTreeMap::new(),
            });
        }
    }

    fn finish(&mut self, posts: Vec<Vec<u8>>) -> Result<Vec<u64>, StoreError> {
        let Some(mut staged) = self.staged.take() else {
            return Err(StoreError::Backend(
                "finish without a change in progress".into(),
            ));
        };
        if !staged.dirty && posts.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(posts.len());
        for post in posts {
            let id = self.db.generate_id().map_err(|e| self.backend(e))?;
            staged.batch.insert(outbox_key(id), post);
            ids.push(id);
        }
        let mut state = staged.state;
        state.schema = SCHEMA_VERSION;
        state.commits += 1;
        staged.batch.insert(KEY_STATE, encode(&state)?);
        self.db
            .apply_batch(staged.batch)
            .map_err(|e| self.backend(e))?;
        // Applied: later changes build on it (see `sync_point`), and it is
        // durable once the syncer's next sync returns.
        self.state = state;
        self.incidents.extend(staged.incidents);
        let syncer = self
            .syncer
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the store's syncer is not running".into()))?;
        syncer.applied(state.commits);
        if !self.deferred {
            syncer.durable().wait()?;
        }
        Ok(ids)
    }

    fn abort(&mut self) {
        self.staged = None;
    }

    fn defer_sync(&mut self, defer: bool) {
        self.deferred = defer;
    }

    fn durable(&self) -> Durable {
        self.syncer
            .as_ref()
            .map_or_else(Durable::ready, SyncPoint::durable)
    }

    fn outbox(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.db
            .scan_prefix(OUTBOX_PREFIX)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.backend(e))?;
                let id = key
                    .get(OUTBOX_PREFIX.len()..)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| {
                        self.corrupt(format!("outbox key {} is malformed", show_key(&key)))
                    })?;
                Ok((id, value.to_vec()))
            })
            .collect()
    }

    fn delivered(&mut self, id: u64, records: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.staging(|_, staged| {
            staged.batch.remove(outbox_key(id));
            for (name, value) in records {
                staged.batch.insert(extra_key(&name), value.clone());
                staged.extras.insert(name, value);
            }
            Ok(())
        })
    }

    /// Writes, durably, a record that belongs to a front end rather than to
    /// the incident model (the Discord adapter keeps its message ids here so
    /// edits and buttons survive a restart).
    fn put_extra(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.staging(|_, staged| {
            staged.batch.insert(extra_key(name), value);
            staged.extras.insert(name.to_string(), value.to_vec());
            Ok(())
        })
    }

    /// Reads a record written with [`SledStore::put_extra`].
    fn get_extra(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.staged.as_ref().and_then(|s| s.extras.get(name)) {
            return Ok(Some(value.clone()));
        }
        Ok(self
            .db
            .get(extra_key(name))
            .map_err(|e| self.backend(e))?
            .map(|v| v.to_vec()))
    }

    fn record_denial(&mut self, denial: Denial) -> Result<(), StoreError> {
        let id = self.db.generate_id().map_err(|e| self.backend(e))?;
        let mut key = AUDIT_PREFIX.to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        let record = encode(&DenialRecord {
            schema: SCHEMA_VERSION,
            denial,
        })?;
        self.staging(|_, staged| {
            staged.batch.insert(key, record);
            Ok(())
        })
    }

    fn denials(&self) -> Result<Vec<Denial>, StoreError> {
        self.db
            .scan_prefix(AUDIT_PREFIX)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.backend(e))?;
                let record: DenialRecord = self.decode(&key, &value)?;
                Ok(record.denial)
            })
            .collect()
    }

    fn load(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        Ok(self.current(id).cloned())
    }

    fn all(&self) -> Result<Vec<Incident>, StoreError> {
        let mut all = self.incidents.clone();
        if let Some(staged) = &self.staged {
            all.extend(staged.incidents.iter().map(|(k, v)| (*k, v.clone())));
        }
        Ok(all.into_values().collect())
    }

    fn next_id(&self) -> Result<IncidentId, StoreError> {
        let next = self
            .staged
            .as_ref()
            .map_or(self.state.next_id, |s| s.state.next_id);
        IncidentId::new(next).ok_or_else(|| self.corrupt("id counter is zero".into()))
    }

    fn commit(&mut self, write: Write) -> Result<(), StoreError> {
        self.staging(|store, staged| {
            let (mut incident, written_before) = match write {
                Write::Create(incident) => {
                    if incident.id.get() != staged.state.next_id {
                        return Err(StoreError::Conflict(format!(
                            "new incident {} but the next id is INC-{}",
                            incident.id, staged.state.next_id
                        )));
                    }
                    staged.state.next_id = incident.id.next().get();
                    (incident, 0)
                }
                Write::Update(incident) => {
                    let stored = staged
                        .incidents
                        .get(&incident.id)
                        .or_else(|| store.incidents.get(&incident.id));
                    match stored {
                        Some(stored) if stored.timeline.len() <= incident.timeline.len() => {
                            let before = stored.timeline.len();
                            (incident, before)
                        }
                        Some(_) => {
                            return Err(StoreError::Conflict(format!(
                                "{}: the timeline may only grow",
                                incident.id
                            )));
                        }
                        None => {
                            return Err(StoreError::Conflict(format!(
                                "{} does not exist",
                                incident.id
                            )))
                        }
                    }
                }
            };
            for (index, entry) in incident.timeline.iter().enumerate().skip(written_before) {
                let record = encode(&EntryRecordRef {
                    schema: SCHEMA_VERSION,
                    entry,
                })?;
                staged.batch.insert(entry_key(incident.id, index), record);
            }
            // The incident record is written without its timeline; take it
            // out for the encode and put it back, rather than clone it.
            let timeline = std::mem::take(&mut incident.timeline);
            let head = encode(&IncidentRecordRef {
                schema: SCHEMA_VERSION,
                timeline_len: timeline.len() as u32,
                incident: &incident,
            });
            incident.timeline = timeline;
            staged.batch.insert(incident_key(incident.id), head?);
            staged.incidents.insert(incident.id, incident);
            Ok(())
        })
    }
}

/// The first line of a backup file.
const BACKUP_MAGIC: &[u8] = b"mailcall-backup 1\n";
/// The end marker: a backup without it was cut short.
const BACKUP_END: &[u8] = b"\nend of mailcall backup\n";

/// One key and value of a tree in a backup.
type Record = (Vec<u8>, Vec<u8>);

/// What a backup or restore moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    pub trees: usize,
    pub records: usize,
}

fn put_chunk(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_be_bytes())?;
    out.write_all(bytes)
}

fn get_chunk(input: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_be_bytes(len);
    // A record is never near this size; a bigger length is damage.
    if len > 1 << 30 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a record length is implausible",
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

impl SledStore {
    /// Writes every tree of the store (incidents, audit log, alert state,
    /// outbox, metric history) to `out`: a self-describing file that
    /// [`restore_backup`] turns back into a store. Taken while the store is
    /// in use; each tree is read in one pass, and the caller holds the
    /// engine's lock, so no change to incidents lands half in it.
    pub fn write_backup(&self, out: &mut impl std::io::Write) -> Result<BackupStats, StoreError> {
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let mut stats = BackupStats::default();
        out.write_all(BACKUP_MAGIC).map_err(io)?;
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name).map_err(|e| self.backend(e))?;
            out.write_all(&[1]).map_err(io)?;
            put_chunk(out, &name).map_err(io)?;
            for item in tree.iter() {
                let (key, value) = item.map_err(|e| self.backend(e))?;
                out.write_all(&[2]).map_err(io)?;
                put_chunk(out, &key).map_err(io)?;
                put_chunk(out, &value).map_err(io)?;
                stats.records += 1;
            }
            stats.trees += 1;
        }
        out.write_all(&[0]).map_err(io)?;
        out.write_all(BACKUP_END).map_err(io)?;
        Ok(stats)
    }
}

/// Creates the store in `dir` from a backup written by
/// [`SledStore::write_backup`]. `dir` must not exist or be empty: a restore
/// never mixes with or replaces a store (move the old one aside first). A
/// damaged or cut-short backup is refused and the half-made directory
/// removed; the restored store is then opened and checked like any other.
pub fn restore_backup(
    dir: &Path,
    input: &mut impl std::io::Read,
) -> Result<BackupStats, StoreError> {
    let refused = |reason: &str| StoreError::Refused {
        path: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    if dir.exists() {
        let empty = fs::read_dir(dir)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(refused(
                "it is not empty; a restore only makes a new store (move the old one aside first)",
            ));
        }
    }
    let damaged = |detail: String| StoreError::Corrupt {
        path: dir.to_path_buf(),
        detail: format!("the backup is damaged or cut short: {detail}"),
    };
    let mut magic = vec![0u8; BACKUP_MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|e| damaged(e.to_string()))?;
    if magic != BACKUP_MAGIC {
        return Err(refused("the file is not a mailcall backup"));
    }
    // Read it all before writing anything, so a bad backup leaves nothing.
    let mut trees: Vec<(Vec<u8>, Vec<Record>)> = Vec::new();
    let mut stats = BackupStats::default();
    loop {
        let mut tag = [0u8; 1];
        input
            .read_exact(&mut tag)
            .map_err(|e| damaged(e.to_string()))?;
        match tag[0] {
            0 => break,
            1 => {
                let name = get_chunk(input).map_err(|e| damaged(e.to_string()))?;
                trees.push((name, Vec::new()));
                stats.trees += 1;
            }
            2 => {
                let key = get_chunk(input).map_err(|e| damaged(e.to_string()))?;
                let value = get_chunk(input).map_err(|e| damaged(e.to_string()))?;
                let Some((_, records)) = trees.last_mut() else {
                    return Err(damaged("a record before any tree".into()));
                };
                records.push((key, value));
                stats.records += 1;
            }
            other => return Err(damaged(format!("unknown record tag {other}"))),
        }
    }
    let mut end = vec![0u8; BACKUP_END.len()];
    input
        .read_exact(&mut end)
        .map_err(|e| damaged(format!("no end marker ({e})")))?;
    if end != BACKUP_END {
        return Err(damaged("no end marker".into()));
    }
    let created = !dir.exists();
    let written = (|| -> Result<(), StoreError> {
        let store = SledStore::open(dir)?;
        for (name, records) in &trees {
            let tree = store.db.open_tree(name).map_err(|e| store.backend(e))?;
            let mut batch = sled::Batch::default();
            for (key, value) in records {
                batch.insert(key.as_slice(), value.as_slice());
            }
            tree.apply_batch(batch).map_err(|e| store.backend(e))?;
        }
        store.sync()?;
        drop(store);
        // Opened again, it is checked like any store: schema, records.
        SledStore::open(dir).map(drop)
    })();
    if let Err(e) = written {
        if created {
            let _ = fs::remove_dir_all(dir);
        }
        return Err(e);
    }
    Ok(stats)
}

/// The metric history of a [`SledStore`]; see [`MetricsHistory`].
#[derive(Clone)]
pub struct SledHistory {
    tree: sled::Tree,
    path: PathBuf,
    /// Durable writes go through one committer (see `group_commit`).
    commits: Arc<GroupCommit>,
    /// How long samples are kept (see [`SledHistory::keeping`]).
    keep: chrono::Duration,
}

/// How long the history keeps samples unless configured: 400 days, so a
/// year-on-year comparison still has last year's same week, while hourly
/// samples of a thousand streams do not grow the store without end (about
/// 8.8 million samples a year, some 3.5 GB of records at ~400 bytes each).
pub const DEFAULT_KEEP: chrono::Duration = chrono::Duration::days(400);

/// Pruning an account's old samples runs at most this often.
const PRUNE_EVERY: chrono::Duration = chrono::Duration::days(1);

impl SledHistory {
    /// This history, keeping samples for `keep`: a poll of an account that
    /// starts at T removes the account's samples whose bucket starts before
    /// T − `keep` (at most once a day, in the same atomic write as the
    /// poll), and does not store fetched samples that old.
    pub fn keeping(mut self, keep: chrono::Duration) -> SledHistory {
        self.keep = keep;
        self
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        sled_error(&self.path, e)
    }

    fn corrupt(&self, key: &[u8], e: serde_json::Error) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "metric record {} is unreadable: {e}",
                String::from_utf8_lossy(key).replace('\u{1f}', "/")
            ),
        }
    }
}

impl SledHistory {
    /// The samples under the keys in `range` (one series' range), in key
    /// order, which is bucket order.
    fn samples_in(&self, range: std::ops::Range<Vec<u8>>) -> Result<Vec<Sample>, StoreError> {
        let mut samples = Vec::new();
        for item in self.tree.range(range) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let record: SampleRecord =
                serde_json::from_slice(&value).map_err(|e| self.corrupt(&key, e))?;
            samples.push(record.sample);
        }
        Ok(samples)
    }

    /// Decodes the poll state record stored under `key`.
    fn decode_state(&self, key: &[u8], bytes: &[u8]) -> Result<PollStateRecord, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(key, e))
    }

    /// The stored poll state record of `account`, if it was ever polled.
    fn state_record(&self, account: &str) -> Result<Option<PollStateRecord>, StoreError> {
        let key = history::state_key(account);
        match self.tree.get(&key).map_err(|e| self.backend(e))? {
            None => Ok(None),
            Some(bytes) => self.decode_state(&key, &bytes).map(Some),
        }
    }

    /// The committer job that writes `state` for `account` with one poll's
    /// samples, encoded here on the caller's thread so the committer only
    /// compares and writes.
    ///
    /// The job adds the samples' streams to the account's stream list in
    /// the stored state record. It runs on the history committer, which
    /// alone writes this tree, so its read of the stored record and its
    /// write of the merged one cannot interleave with another writer's.
    /// Samples whose stored record is already identical are not rewritten.
    fn poll_job(
        &self,
        account: &str,
        samples: &[Sample],
        state: &PollState,
    ) -> Result<Job, StoreError> {
        let cutoff = state.last_attempt.map(|at| at - self.keep);
        let mut records = Vec::with_capacity(samples.len());
        let mut new_streams = BTreeSet::new();
        for sample in samples {
            if cutoff.is_some_and(|cutoff| sample.bucket.start < cutoff) {
                continue;
            }
            let record = encode(&SampleRecord {
                schema: SCHEMA_VERSION,
                sample: sample.clone(),
            })?;
            records.push((history::sample_key(account, sample), record));
            new_streams.insert(sample.stream.as_str().to_string());
        }
        let key = history::state_key(account);
        let account = account.to_string();
        let state = state.clone();
        let history = self.clone();
        Ok(Box::new(move |staging| {
            let stored = match staging.get(&key).map_err(|e| history.backend(e))? {
                Some(bytes) => Some(history.decode_state(&key, &bytes)?),
                None => None,
            };
            // An account without a state record has never stored a sample
            // (every write of samples writes the record too), so it has
            // nothing to prune and nothing to compare with.
            let first_write = stored.is_none();
            let (mut streams, mut pruned_before) = match stored {
                Some(record) => (record.streams, record.pruned_before),
                None => (BTreeSet::new(), cutoff),
            };
            streams.extend(new_streams);
            for (sample_key, record) in records {
                if first_write {
                    staging.insert(sample_key, record);
                } else {
                    staging
                        .insert_if_changed(sample_key, record)
                        .map_err(|e| history.backend(e))?;
                }
            }
            if let Some(cutoff) = cutoff {
                if pruned_before.is_none_or(|done| cutoff - done >= PRUNE_EVERY) {
                    let mut emptied = Vec::new();
                    for name in &streams {
                        let stream = StreamKey::new(name.as_str());
                        let (from, to) = history::series_before(&account, &stream, cutoff);
                        let old = staging
                            .stored_keys(&from, &to)
                            .map_err(|e| history.backend(e))?;
                        if old.is_empty() {
                            continue;
                        }
                        for key in old {
                            staging.remove(key);
                        }
                        // A stream with nothing left is no longer listed.
                        let (from, to) = history::series_from(&account, &stream, cutoff);
                        if !staging.any_in(&from, &to).map_err(|e| history.backend(e))? {
                            emptied.push(name.clone());
                        }
                    }
                    for name in emptied {
                        streams.remove(&name);
                    }
                    pruned_before = Some(cutoff);
                }
            }
            staging.insert(
                key,
                encode(&PollStateRecord {
                    schema: SCHEMA_VERSION,
                    state,
                    streams,
                    pruned_before,
                })?,
            );
            Ok(())
        }))
    }
}

impl MetricsHistory for SledHistory {
    fn record_poll(
        &self,
        account: &str,
        samples: &[Sample],
        state: &PollState,
    ) -> Result<(), StoreError> {
        self.commits.commit(self.poll_job(account, samples, state)?)
    }

    fn record_state(&self, account: &str, state: &PollState) -> Result<(), StoreError> {
        self.record_poll(account, &[], state)
    }

    fn submit_poll(&self, account: &str, samples: &[Sample], state: &PollState) -> PendingWrite {
        match self.poll_job(account, samples, state) {
            Ok(job) => PendingWrite::committing(self.commits.submit(job)),
            Err(e) => PendingWrite::done(Err(e)),
        }
    }

    fn submit_state(&self, account: &str, state: &PollState) -> PendingWrite {
        self.submit_poll(account, &[], state)
    }

    fn poll_state(&self, account: &str) -> Result<Option<PollState>, StoreError> {
        Ok(self.state_record(account)?.map(|record| record.state))
    }

    fn series(
        &self,
        account: &str,
        stream: &StreamKey,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        // Sample keys sort by bucket start within a series, so only the
        // asked-for range is read and decoded (not the whole retained
        // history, which grows to `keep_days` of samples per stream).
        let (from, to) = history::series_from(account, stream, since);
        self.samples_in(from..to)
    }

    fn series_between(
        &self,
        account: &str,
        stream: &StreamKey,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        if until <= from {
            return Ok(Vec::new());
        }
        let (start, _) = history::series_from(account, stream, from);
        let (_, end) = history::series_before(account, stream, until);
        self.samples_in(start..end)
    }

    fn streams_of(&self, account: &str) -> Result<Vec<StreamKey>, StoreError> {
        let mut streams = self
            .state_record(account)?
            .map(|record| record.streams)
            .unwrap_or_default();
        for item in self
            .tree
            .scan_prefix(history::legacy_stream_prefix(account))
        {
            let (key, _) = item.map_err(|e| self.backend(e))?;
            if let Some((_, stream)) = history::parse_legacy_stream_key(&key) {
                streams.insert(stream);
            }
        }
        Ok(streams.into_iter().map(StreamKey::new).collect())
    }

    fn streams(&self) -> Result<Vec<(String, StreamKey)>, StoreError> {
        let mut streams = BTreeSet::new();
        for item in self.tree.scan_prefix(history::STATE_PREFIX) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            let Some(account) = history::parse_state_key(&key) else {
                continue;
            };
            for stream in self.decode_state(&key, &value)?.streams {
                streams.insert((account.clone(), stream));
            }
        }
        // The stream index an earlier build kept beside the state records.
        for item in self.tree.scan_prefix(history::LEGACY_STREAM_INDEX) {
            let (key, _) = item.map_err(|e| self.backend(e))?;
            if let Some((account, stream)) = history::parse_legacy_stream_key(&key) {
                streams.insert((account, stream));
            }
        }
        Ok(streams
            .into_iter()
            .map(|(account, stream)| (account, StreamKey::new(stream)))
            .collect())
    }
}
