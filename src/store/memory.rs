//! An in-memory [`IncidentStore`] with the same contract as the durable one,
//! for tests that exercise the rules rather than the disk.

use std::collections::BTreeMap;

use super::{IncidentStore, StoreError, Write};
use crate::domain::{Denial, Incident, IncidentId};

/// Incidents in a map; commits are trivially atomic.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    incidents: BTreeMap<IncidentId, Incident>,
    next_id: IncidentId,
    denials: Vec<Denial>,
    extras: BTreeMap<String, Vec<u8>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            incidents: BTreeMap::new(),
            next_id: IncidentId::FIRST,
            denials: Vec::new(),
            extras: BTreeMap::new(),
        }
    }
}

impl IncidentStore for MemoryStore {
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
        Ok(self.incidents.get(&id).cloned())
    }

    fn all(&self) -> Result<Vec<Incident>, StoreError> {
        Ok(self.incidents.values().cloned().collect())
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
                self.incidents.insert(incident.id, incident);
            }
            Write::Update(incident) => {
                if !self.incidents.contains_key(&incident.id) {
                    return Err(StoreError::Conflict(format!(
                        "{} does not exist",
                        incident.id
                    )));
                }
                self.incidents.insert(incident.id, incident);
            }
        }
        Ok(())
    }
}
