//! On-duty rotations: who is on point for a team, and who is the quality
//! reviewer, at any instant.
//!
//! Errors run unseen for months when each team assumes another is looking;
//! a named person on duty per team, and a reviewer who steps back each
//! week, is the remedy. People trust a rotation only if every place that
//! names the person on duty agrees, so there is exactly one answer:
//! [`Roster::on_duty`]. The schedule view ([`Roster::schedule`]) and the
//! iCalendar export are built by asking it, never by recomputing turns.
//!
//! Plain Rust: no Discord, disk or clock. Instants go in; people come out.

pub mod book;
pub mod checklist;
pub mod ical;
pub mod load;
pub mod rotation;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Actor, Team};

pub use book::{affected_members, DutyAudit, DutyBook, DutyState, Swap, SwapState};
pub use checklist::{Checklist, ChecklistBook, ChecklistItem};
pub use load::{DutyLoad, Period, Received, WorkingHours};
pub use rotation::{BaseShift, MemberChange, Retiming, Rotation, Timing};

/// Which rotation: one per team, and the quality reviewer drawn across
/// all teams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RotationName {
    Team(Team),
    QualityReviewer,
}

impl RotationName {
    /// Every rotation name, teams first.
    pub fn all() -> Vec<RotationName> {
        Team::ALL
            .iter()
            .map(|t| RotationName::Team(*t))
            .chain([RotationName::QualityReviewer])
            .collect()
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RotationName::Team(team) => team.as_str(),
            RotationName::QualityReviewer => "quality-reviewer",
        }
    }
}

impl fmt::Display for RotationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RotationName {
    type Err = String;

    fn from_str(text: &str) -> Result<RotationName, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("quality-reviewer") {
            return Ok(RotationName::QualityReviewer);
        }
        text.parse::<Team>().map(RotationName::Team).map_err(|_| {
            format!(
                "`{text}` is not a rotation; use one of {}",
                RotationName::all()
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

/// Someone taking a rotation over for a while (a swap, a sick day, a
/// holiday). The newest override covering an instant wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub id: u64,
    pub rotation: RotationName,
    pub member: Actor,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Who set it, and why (shown in `/duty schedule` and the export).
    pub by: Actor,
    pub reason: String,
    /// `member` is *away* over the period rather than on duty: whoever
    /// the rotation or an older override names, if it is them, nobody is
    /// on duty then (a gap, announced ahead), until a newer override puts
    /// someone on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub away: bool,
}

impl Override {
    fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// Who is on duty, since when, until when, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnDuty {
    pub member: Actor,
    /// When this stretch began (the shift's start, or the override's).
    pub since: DateTime<Utc>,
    /// When it ends: the next handoff or the override's end, whichever is
    /// first.
    pub until: DateTime<Utc>,
    /// The override in force, if any.
    pub by_override: Option<u64>,
}

/// One stretch of a schedule: one person, one reason, no change inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stretch {
    pub member: Actor,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub by_override: Option<u64>,
}

/// Every rotation and every override.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roster {
    rotations: BTreeMap<RotationName, Rotation>,
    overrides: Vec<Override>,
}

impl Roster {
    pub fn new(rotations: Vec<Rotation>, overrides: Vec<Override>) -> Roster {
        Roster {
            rotations: rotations.into_iter().map(|r| (r.name, r)).collect(),
            overrides,
        }
    }

    pub fn rotation(&self, name: RotationName) -> Option<&Rotation> {
        self.rotations.get(&name)
    }

    pub fn rotations(&self) -> impl Iterator<Item = &Rotation> {
        self.rotations.values()
    }

    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// Adds an override; it wins over every older one where they overlap.
    pub fn add_override(&mut self, new: Override) {
        self.overrides.push(new);
    }

    /// The one answer to "who is on duty for this rotation at this
    /// instant": the newest override covering it, else the rotation's
    /// plain shift. `None` when the rotation is not configured, has not
    /// started, or has no members, and no override covers the instant.
    pub fn on_duty(&self, name: RotationName, at: DateTime<Utc>) -> Option<OnDuty> {
        let duty = self.on_duty_unless_away(name, at)?;
        let away = self.overrides.iter().any(|o| {
            o.away
                && o.rotation == name
                && o.covers(at)
                && o.member.is_same_person(&duty.member)
                && duty.by_override.is_none_or(|id| o.id > id)
        });
        (!away).then_some(duty)
    }

    /// [`Roster::on_duty`] before anyone's time away is taken out.
    fn on_duty_unless_away(&self, name: RotationName, at: DateTime<Utc>) -> Option<OnDuty> {
        let base = self.rotation(name).and_then(|r| r.base_shift_at(at));
        let covering = self
            .overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.away && o.rotation == name && o.covers(at))
            .max_by_key(|(index, o)| (o.id, *index))
            .map(|(_, o)| o);
        // The stretch ends at the first instant where the answer may change:
        // the shift's end, the override's end, or a newer override starting.
        let newer_start = |id: Option<u64>| {
            self.overrides
                .iter()
                .filter(|o| o.rotation == name && o.from > at)
                .filter(|o| id.is_none_or(|id| o.id > id))
                .map(|o| o.from)
                .min()
        };
        match covering {
            Some(o) => {
                let mut until = o.to;
                if let Some(next) = newer_start(Some(o.id)) {
                    until = until.min(next);
                }
                Some(OnDuty {
                    member: o.member.clone(),
                    since: o.from,
                    until,
                    by_override: Some(o.id),
                })
            }
            None => {
                let shift = base?;
                let mut until = shift.end;
                if let Some(next) = newer_start(None) {
                    until = until.min(next);
                }
                let since = self
                    .overrides
                    .iter()
                    .filter(|o| o.rotation == name && o.to > shift.start && o.to <= at)
                    .map(|o| o.to)
                    .max()
                    .unwrap_or(shift.start);
                Some(OnDuty {
                    member: shift.member,
                    since,
                    until,
                    by_override: None,
                })
            }
        }
    }

    /// Who is on duty over `[from, to)`, as consecutive stretches, each
    /// answered by [`Roster::on_duty`]. A time nobody covers is left out
    /// (the stretches then have a gap).
    pub fn schedule(
        &self,
        name: RotationName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Stretch> {
        // Every instant where the answer may change: shift boundaries and
        // override edges. Between two of them, the answer is constant.
        let mut edges = vec![from];
        if let Some(rotation) = self.rotation(name) {
            if let Some(first) = rotation.base_shift_at(from) {
                let mut number = first.number + 1;
                while let Some(start) = rotation.shift_start(number) {
                    if start >= to {
                        break;
                    }
                    edges.push(start);
                    number += 1;
                }
            } else {
                // Not started yet at `from`: its first shift may start inside.
                let mut number = 0;
                while let Some(start) = rotation.shift_start(number) {
                    if start >= to {
                        break;
                    }
                    if start > from {
                        edges.push(start);
                    }
                    number += 1;
                }
            }
        }
        for o in self.overrides.iter().filter(|o| o.rotation == name) {
            for edge in [o.from, o.to] {
                if from < edge && edge < to {
                    edges.push(edge);
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let mut stretches: Vec<Stretch> = Vec::new();
        for (index, start) in edges.iter().enumerate() {
            let end = edges.get(index + 1).copied().unwrap_or(to);
            let Some(duty) = self.on_duty(name, *start) else {
                continue;
            };
            match stretches.last_mut() {
                Some(last)
                    if last.end == *start
                        && last.member == duty.member
                        && last.by_override == duty.by_override
                        && duty.by_override.is_some() =>
                {
                    last.end = end;
                }
                _ => stretches.push(Stretch {
                    member: duty.member,
                    start: *start,
                    end,
                    by_override: duty.by_override,
                }),
            }
        }
        stretches
    }
}

#[cfg(test)]
mod tests;
