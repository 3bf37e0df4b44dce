//! The duty book: everything about rotations decided at run time
//! (overrides, swaps, member changes, the audit of who changed what, and
//! the gaps already announced), kept as one record beside the configured
//! rotations.
//!
//! The configuration says who takes turns; the book says what admins and
//! members changed since. [`DutyState`] joins the two into the [`Roster`]
//! that answers "who is on duty", so a change is made by editing a copy of
//! the book and building the roster again: the old state stays whole until
//! the new one is stored.
//!
//! Plain Rust: no Discord, disk or clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rotation::{MemberChange, Retiming};
use super::{Override, Roster, Rotation, RotationName};
use crate::domain::Actor;

/// A member asking another to take their duty over a period. Accepted, it
/// becomes an override; declined, withdrawn or expired, it changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    pub id: u64,
    pub rotation: RotationName,
    /// Who asked (on duty over some of `[from, to)`).
    pub asked_by: Actor,
    /// Who is asked to take it.
    pub asked: Actor,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    /// Unanswered by then, the request lapses.
    pub expires_at: DateTime<Utc>,
    pub state: SwapState,
}

/// Where a swap request stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SwapState {
    Pending,
    /// Accepted: the override it became.
    Accepted {
        at: DateTime<Utc>,
        override_id: u64,
    },
    Declined {
        at: DateTime<Utc>,
    },
    /// Taken back by the member who asked.
    Withdrawn {
        at: DateTime<Utc>,
    },
    Expired {
        at: DateTime<Utc>,
    },
}

/// One run-time change to a rotation, for the audit (`/duty schedule`
/// and the admin HTTP view show them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyAudit {
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub rotation: RotationName,
    pub what: String,
}

/// What the store keeps. Fields added after the first version default, so
/// a record written before swaps existed still reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DutyBook {
    /// The last id given to an override or a swap (one sequence).
    pub next_id: u64,
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub swaps: Vec<Swap>,
    /// Per rotation (keyed by its name as text: JSON keys are strings),
    /// the member changes made at run time; they win over the configured
    /// list until `/duty reset`.
    #[serde(default)]
    pub member_changes: BTreeMap<String, Vec<MemberChange>>,
    /// Per rotation (by name), the timings changed at run time; they win
    /// over the configured timing from their first shift on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retimings: BTreeMap<String, Vec<Retiming>>,
    #[serde(default)]
    pub audit: Vec<DutyAudit>,
    /// Per rotation (by name), the start of the latest gap (time with
    /// nobody on duty) already announced, so it is announced once.
    #[serde(default)]
    pub gaps_announced: BTreeMap<String, DateTime<Utc>>,
}

impl DutyBook {
    /// The next id for an override or a swap.
    pub fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn swap(&self, id: u64) -> Option<&Swap> {
        self.swaps.iter().find(|s| s.id == id)
    }

    pub fn swap_mut(&mut self, id: u64) -> Option<&mut Swap> {
        self.swaps.iter_mut().find(|s| s.id == id)
    }
}

/// The configured rotations, the book, and the roster built from both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DutyState {
    configured: Vec<Rotation>,
    book: DutyBook,
    roster: Roster,
}

impl DutyState {
    /// The state from the configured rotations and the stored book (if any).
    pub fn restore(configured: Vec<Rotation>, saved: Option<&[u8]>) -> Result<DutyState, String> {
        let book = match saved {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| format!("the duty record is unreadable: {e}"))?,
            None => DutyBook::default(),
        };
        Ok(DutyState::build(configured, book))
    }

    fn build(configured: Vec<Rotation>, book: DutyBook) -> DutyState {
        let rotations = configured
            .iter()
            .cloned()
            .map(|mut rotation| {
                rotation.changes = book
                    .member_changes
                    .get(rotation.name.as_str())
                    .cloned()
                    .unwrap_or_default();
                rotation.retimings = book
                    .retimings
                    .get(rotation.name.as_str())
                    .cloned()
                    .unwrap_or_default();
                rotation
            })
            .collect();
        let roster = Roster::new(rotations, book.overrides.clone());
        DutyState {
            configured,
            book,
            roster,
        }
    }

    /// The bytes the store keeps.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&self.book).map_err(|e| format!("cannot encode the duty record: {e}"))
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn book(&self) -> &DutyBook {
        &self.book
    }

    pub fn configured(&self) -> &[Rotation] {
        &self.configured
    }

    /// A new state with `edit` applied to a copy of the book; `self` is
    /// left as it was (the caller keeps it if the new one cannot be stored).
    pub fn changed<T>(&self, edit: impl FnOnce(&mut DutyBook) -> T) -> (DutyState, T) {
        let mut book = self.book.clone();
        let value = edit(&mut book);
        (DutyState::build(self.configured.clone(), book), value)
    }
}

/// The members whose duty differs between two rosters over `[from, to)`:
/// anyone who gains or loses a stretch, in order of first appearance.
/// These are the people to tell about a change.
pub fn affected_members(
    before: &Roster,
    after: &Roster,
    name: RotationName,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Actor> {
    let plain = |roster: &Roster| -> Vec<(DateTime<Utc>, DateTime<Utc>, Actor)> {
        roster
            .schedule(name, from, to)
            .into_iter()
            .map(|s| (s.start, s.end, s.member))
            .collect()
    };
    let (old, new) = (plain(before), plain(after));
    // Compare who is on duty at every edge of either schedule.
    let mut edges: Vec<DateTime<Utc>> = old
        .iter()
        .chain(new.iter())
        .map(|(start, _, _)| *start)
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let holder = |list: &[(DateTime<Utc>, DateTime<Utc>, Actor)], at: DateTime<Utc>| {
        list.iter()
            .find(|(start, end, _)| *start <= at && at < *end)
            .map(|(_, _, m)| m.clone())
    };
    let mut people: Vec<Actor> = Vec::new();
    for at in edges {
        let (was, is) = (holder(&old, at), holder(&new, at));
        if was != is {
            for member in [was, is].into_iter().flatten() {
                if !people.contains(&member) {
                    people.push(member);
                }
            }
        }
    }
    people
}
