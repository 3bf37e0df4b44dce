//! The quality reviewer's weekly checklist: what to step back and look at,
//! and which items the reviewer has ticked.
//!
//! The reviewer rotation exists so that someone looks at quality as a
//! whole once a week. The engine builds the items from the store and the
//! alert desk at the reviewer's handoff; this module keeps the lists and
//! their ticks, so what stays unticked can be carried into the weekly
//! summary.
//!
//! Plain Rust: no Discord, disk or clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Actor;

/// One thing to review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// 1-based, as the buttons and `/duty tick` name it.
    pub number: u8,
    pub text: String,
    /// Who ticked it, and when.
    pub ticked: Option<(Actor, DateTime<Utc>)>,
}

/// One week's checklist, for one reviewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub id: u64,
    pub reviewer: Actor,
    pub posted_at: DateTime<Utc>,
    pub items: Vec<ChecklistItem>,
}

impl Checklist {
    /// The items nobody has ticked.
    pub fn unticked(&self) -> impl Iterator<Item = &ChecklistItem> {
        self.items.iter().filter(|i| i.ticked.is_none())
    }
}

/// What the store keeps: every checklist (the newest last, a year kept)
/// and the detector settings the last one saw, to say when they changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistBook {
    pub next_id: u64,
    pub lists: Vec<Checklist>,
    /// A fingerprint of the detector settings at the last checklist.
    pub detector_settings: Option<String>,
}

/// How many checklists are kept.
const KEPT: usize = 53;

impl ChecklistBook {
    /// Adds a checklist of `items` for `reviewer`; returns its id.
    pub fn add(&mut self, reviewer: Actor, at: DateTime<Utc>, items: Vec<String>) -> u64 {
        self.next_id += 1;
        let items = items
            .into_iter()
            .zip(1u8..)
            .map(|(text, number)| ChecklistItem {
                number,
                text,
                ticked: None,
            })
            .collect();
        self.lists.push(Checklist {
            id: self.next_id,
            reviewer,
            posted_at: at,
            items,
        });
        if self.lists.len() > KEPT {
            self.lists.remove(0);
        }
        self.next_id
    }

    pub fn get(&self, id: u64) -> Option<&Checklist> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// Ticks item `number` of checklist `id` for `by`.
    pub fn tick(
        &mut self,
        id: u64,
        number: u8,
        by: &Actor,
        at: DateTime<Utc>,
    ) -> Result<String, String> {
        let list = self
            .lists
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or_else(|| format!("there is no checklist #{id}"))?;
        let item = list
            .items
            .iter_mut()
            .find(|i| i.number == number)
            .ok_or_else(|| format!("checklist #{id} has no item {number}"))?;
        if let Some((who, _)) = &item.ticked {
            return Err(format!(
                "item {number} of checklist #{id} is already ticked by {who}"
            ));
        }
        item.ticked = Some((by.clone(), at));
        Ok(item.text.clone())
    }

    /// The latest checklist, if any.
    pub fn latest(&self) -> Option<&Checklist> {
        self.lists.last()
    }
}
