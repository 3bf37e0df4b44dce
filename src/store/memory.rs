//! An in-memory [`IncidentStore`] with the same contract as the durable one,
//! for tests that exercise the rules rather than the disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{IncidentStore, StoreError, Write};
use crate::domain::{Denial, Incident, IncidentId};

/// Incidents in a map; commits are trivially atomic.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    /// Shared, so the snapshot a change takes (for abort) copies pointers,
    /// not every incident's history.
    incidents: BTreeMap<IncidentId, Arc<Incident>>,
    next_id: IncidentId,
    denials: Vec<Denial>,
    extras: BTreeMap<String, Vec<u8>>,
    outbox: BTreeMap<u64, Vec<u8>>,
    next_post: u64,
    /// The state before the change in progress, restored on abort.
    before: Option<Box<MemoryStore>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            incidents: BTreeMap::new(),
            next_id: IncidentId::FIRST,
            denials: Vec::new(),
            extras: BTreeMap::new(),
            outbox: BTreeMap::new(),
            next_post: 1,
            before: None,
        }
    }
}

impl IncidentStore for MemoryStore {
    fn begin(&mut self) {
        if self.before.is_none() {
            let mut copy = self.clone();
            copy.before = None;
            self.before = Some(Box::new(copy));
        }
    }

    fn finish(&mut self, posts: Vec<Vec<u8>>) -> Result<Vec<u64>, StoreError> {
        self.before = None;
        let mut ids = Vec::with_capacity(posts.len());
        for post in posts {
            let id = self.next_post;
            self.next_post += 1;
            self.outbox.insert(id, post);
            ids.push(id);
        }
        Ok(ids)
    }

    fn abort(&mut self) {
        if let Some(before) = self.before.take() {
            *self = *before;
        }
    }

    /// Nothing to sync: every write is "durable" at once.
    fn defer_sync(&mut self, _defer: bool) {}

    fn durable(&self) -> super::Durable {
        super::Durable::ready()
    }

    fn outbox(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self.outbox.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    fn delivered(&mut self, id: u64, records: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.outbox.remove(&id);
        self.extras.extend(records);
        Ok(())
    }

    fn record_denial(&mut self, denial: Denial) -> Result<(), StoreError> {
        self.denials.push(denial);
        Ok(())
    }

    fn denials(&self) -> Result<Vec<Denial>, StoreError> {
        Ok(self.denials.clone())
    }

    fn put_extra(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.extras.insert(name.to_string(), value.to_vec());
        Ok(())
    }

    fn get_extra(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.extras.get(name).cloned())
    }

    fn load(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        Ok(self.incidents.get(&id).map(|i| Incident::clone(i)))
    }

    fn all(&self) -> Result<Vec<Incident>, StoreError> {
        Ok(self
            .incidents
            .values()
            .map(|i| Incident::clone(i))
            .collect())
    }

    fn next_id(&self) -> Result<IncidentId, StoreError> {
        Ok(self.next_id)
    }

    fn commit(&mut self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::Create(incident) => {
                if incident.id != self.next_id {
                    return Err(StoreError::Conflict(format!(
                        "new incident {} but the next id is {}",
                        incident.id, self.next_id
                    )));
                }
                self.next_id = incident.id.next();
                self.incidents.insert(incident.id, Arc::new(incident));
            }
            Write::Update(incident) => {
                if !self.incidents.contains_key(&incident.id) {
                    return Err(StoreError::Conflict(format!(
                        "{} does not exist",
                        incident.id
                    )));
                }
                self.incidents.insert(incident.id, Arc::new(incident));
            }
        }
        Ok(())
    }
}
