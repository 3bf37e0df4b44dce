//! The durable [`IncidentStore`]: sled on disk.
//!
//! Layout (one sled tree, so one batch covers every write of a command):
//!
//! | key                 | value                                        |
//! |---------------------|----------------------------------------------|
//! | `meta:schema`       | `{"schema":1}`                               |
//! | `meta:state`        | `{"schema":1,"next_id":8,"commits":31}`      |
//! | `inc:` + u64 BE     | `{"schema":1,"incident":{…}}`                |
//!
//! Values are JSON with a schema version, so a later mailcall can migrate
//! them and an older one refuses them instead of misreading them.
//!
//! Durability: every commit is one `apply_batch` (atomic in sled) followed by
//! `flush` (which writes sled's log and fsyncs it). sled's own background
//! flusher is turned off; the explicit flush is the acknowledgement point.
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
//! Exclusivity: a `mailcall.lock` file in the directory is locked before sled
//! opens, so a second process gets a clear "in use" error instead of sled's
//! generic one (or, on some platforms, a wait).

use std::fs::{self, File, OpenOptions};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use super::{IncidentStore, StoreError, Write};
use crate::domain::{Incident, IncidentId};

/// The schema this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

const KEY_SCHEMA: &[u8] = b"meta:schema";
const KEY_STATE: &[u8] = b"meta:state";
const SIDECAR: &str = "mailcall.commits";
const INCIDENT_PREFIX: &[u8] = b"inc:";

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

#[derive(Serialize, Deserialize)]
struct IncidentRecord {
    schema: u32,
    incident: Incident,
}

/// Incidents in a sled database under one directory.
pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    /// Held for the life of the store; the OS releases it if we die.
    _lock: File,
    /// `mailcall.commits`, rewritten in place after each commit.
    sidecar: File,
}

fn incident_key(id: IncidentId) -> Vec<u8> {
    let mut key = INCIDENT_PREFIX.to_vec();
    key.extend_from_slice(&id.get().to_be_bytes());
    key
}

impl SledStore {
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
            return Err(StoreError::Corrupt {
                path,
                detail: "it is a file, not a directory".into(),
            });
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
        // sled reports most damage as errors, but some malformed files make it
        // panic while recovering; either way the answer is "damaged".
        let opened = panic::catch_unwind(AssertUnwindSafe(|| config.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Io(source))) => return Err(StoreError::Io { path, source }),
            Ok(Err(e)) => {
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
        let store = SledStore {
            db,
            path,
            _lock: lock,
            sidecar,
        };
        // Compare before anything is written, so a store that lost data is
        // left exactly as found.
        store.check_for_lost_commits()?;
        store.check_schema()?;
        store.all()?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(source) => StoreError::Io {
                path: self.path.clone(),
                source,
            },
            sled::Error::Corruption { .. } => self.corrupt(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
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

    fn state(&self) -> Result<StateRecord, StoreError> {
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
        (&self.sidecar).read_to_string(&mut text).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    fn check_for_lost_commits(&self) -> Result<(), StoreError> {
        let state = self.state()?;
        match self.sidecar_commits() {
            Some(acknowledged) if acknowledged > state.commits => Err(self.corrupt(format!(
                "the database holds {} commits but {acknowledged} were acknowledged, so writes were lost; \
                 the log is probably damaged",
                state.commits
            ))),
            _ => self.write_sidecar(state.commits),
        }
    }

    /// Rewrites the sidecar in place: a fixed-width record, so the file never
    /// needs truncating and one small write replaces it.
    fn write_sidecar(&self, commits: u64) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        let record = format!("{commits:020}\n");
        self.sidecar
            .write_all_at(record.as_bytes(), 0)
            .map_err(|source| StoreError::Io {
                path: self.path.join(SIDECAR),
                source,
            })
    }

    fn decode_incident(&self, key: &[u8], bytes: &[u8]) -> Result<Incident, StoreError> {
        let record: IncidentRecord = serde_json::from_slice(bytes).map_err(|e| {
            self.corrupt(format!(
                "record {} is unreadable: {e}",
                String::from_utf8_lossy(key)
            ))
        })?;
        if record.schema > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: record.schema,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(record.incident)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

impl IncidentStore for SledStore {
    fn load(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let key = incident_key(id);
        match self.db.get(&key).map_err(|e| self.backend(e))? {
            Some(bytes) => self.decode_incident(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn all(&self) -> Result<Vec<Incident>, StoreError> {
        self.db
            .scan_prefix(INCIDENT_PREFIX)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.backend(e))?;
                self.decode_incident(&key, &value)
            })
            .collect()
    }

    fn next_id(&self) -> Result<IncidentId, StoreError> {
        let state = self.state()?;
        IncidentId::new(state.next_id).ok_or_else(|| self.corrupt("id counter is zero".into()))
    }

    fn commit(&mut self, write: Write) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut state = self.state()?;
        state.schema = SCHEMA_VERSION;
        state.commits += 1;
        match write {
            Write::Create(incident) => {
                if incident.id.get() != state.next_id {
                    return Err(StoreError::Conflict(format!(
                        "new incident {} but the next id is INC-{}",
                        incident.id, state.next_id
                    )));
                }
                state.next_id = incident.id.next().get();
                batch.insert(
                    incident_key(incident.id),
                    encode(&IncidentRecord {
                        schema: SCHEMA_VERSION,
                        incident,
                    })?,
                );
            }
            Write::Update(incident) => {
                let key = incident_key(incident.id);
                if !self.db.contains_key(&key).map_err(|e| self.backend(e))? {
                    return Err(StoreError::Conflict(format!(
                        "{} does not exist",
                        incident.id
                    )));
                }
                batch.insert(
                    key,
                    encode(&IncidentRecord {
                        schema: SCHEMA_VERSION,
                        incident,
                    })?,
                );
            }
        }
        batch.insert(KEY_STATE, encode(&state)?);
        self.db.apply_batch(batch).map_err(|e| self.backend(e))?;
        self.db.flush().map_err(|e| self.backend(e))?;
        self.write_sidecar(state.commits)
    }
}
