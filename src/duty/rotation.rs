//! One rotation's plain schedule, before overrides: which member holds
//! shift number `k`, and when each shift starts and ends.
//!
//! A shift starts at the first handoff (a cron time in the rotation's own
//! zone) on or after the local midnight that opens it: shift `k` opens on
//! `start + k × shift length` (in local calendar days). So a weekly rotation
//! with `0 9 * * MON` in Europe/Paris changes hands every Monday at 09:00
//! Paris time on both sides of a DST change, and a daily 02:30 handoff on
//! the spring-forward night changes hands once, at 03:00 local, because
//! [`crate::schedule`] resolves wall-clock times that way. Counting shifts
//! in calendar days rather than in 24-hour steps is what keeps a handoff at
//! the same local hour when a day has 23 or 25 hours.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Actor;
use crate::schedule::Schedule;

use super::RotationName;

/// A rotation as configured: who, how long each holds it, when it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    pub name: RotationName,
    /// In order of their turns; the first holds the first shift.
    pub members: Vec<Actor>,
    /// Each shift's length in local calendar days (a week is 7).
    pub shift_days: u32,
    /// When a shift changes hands, in the rotation's zone.
    pub handoff: Schedule,
    /// The local date the first shift opens on.
    pub start: NaiveDate,
    /// When its members work, in the handoff's zone (for duty load).
    pub working_hours: super::load::WorkingHours,
    /// Member lists changed at run time (`/duty join`, `/duty leave`,
    /// `/duty reset`), oldest first. Each applies from its shift on, so a
    /// change never rewrites a shift that has begun.
    pub changes: Vec<MemberChange>,
}

/// A change of a rotation's members at run time: from shift `from_shift`
/// on, turns go through `members` (the configured list when `None`),
/// shift `from_shift` going to `members[first]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    pub from_shift: u64,
    pub members: Option<Vec<Actor>>,
    pub first: usize,
}

/// One plain shift of a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseShift {
    /// The shift's number since the start (0 is the first).
    pub number: u64,
    pub member: Actor,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The most shifts a handoff search walks before giving up (a schedule that
/// never fires in range); far beyond any real horizon.
const MAX_SHIFTS: u64 = 100_000;

impl Rotation {
    /// When shift `number` starts: the first handoff at or after the local
    /// midnight of its opening day. `None` past the schedule's range.
    pub fn shift_start(&self, number: u64) -> Option<DateTime<Utc>> {
        let days = i64::try_from(number)
            .ok()?
            .checked_mul(i64::from(self.shift_days))?;
        let opening = self.start.checked_add_signed(Duration::days(days))?;
        let midnight = local_midnight(&self.handoff, opening)?;
        self.handoff.next_after(midnight - Duration::seconds(1))
    }

    /// The plain shift holding `at`, or `None` before the rotation starts
    /// (or while it has no members).
    pub fn base_shift_at(&self, at: DateTime<Utc>) -> Option<BaseShift> {
        let (number, start, end) = self.shift_at(at)?;
        Some(BaseShift {
            number,
            member: self.member_for(number)?,
            start,
            end,
        })
    }

    /// The number, start and end of the shift holding `at`, whether or not
    /// anyone takes it (a rotation everyone left still counts its shifts);
    /// `None` before the rotation starts.
    pub fn shift_at(&self, at: DateTime<Utc>) -> Option<(u64, DateTime<Utc>, DateTime<Utc>)> {
        if self.shift_days == 0 {
            return None;
        }
        let zone = self.handoff.time_zone();
        let local_day = at.with_timezone(&zone).date_naive();
        let days = (local_day - self.start).num_days();
        if days < 0 {
            return None;
        }
        let mut number = u64::try_from(days / i64::from(self.shift_days)).ok()?;
        // The handoff may fall after the opening midnight: before it, the
        // previous shift still holds.
        while self.shift_start(number)? > at {
            number = number.checked_sub(1)?;
        }
        // A handoff schedule that fires less often than shifts open (a
        // weekly time with daily shifts) gives several shift numbers the
        // same start; the configuration refuses it, but never loop on it.
        let mut end = self.shift_start(number + 1)?;
        let mut guard = 0;
        while end <= at && guard < MAX_SHIFTS {
            number += 1;
            end = self.shift_start(number + 1)?;
            guard += 1;
        }
        Some((number, self.shift_start(number)?, end))
    }

    /// The members taking turns at shift `number`, and the index in that
    /// list of the one whose turn shift `from` (the list's first shift) was.
    fn members_at(&self, number: u64) -> (&[Actor], u64, usize) {
        match self.changes.iter().rev().find(|c| c.from_shift <= number) {
            Some(change) => (
                change.members.as_deref().unwrap_or(&self.members),
                change.from_shift,
                change.first,
            ),
            None => (&self.members, 0, 0),
        }
    }

    /// The members taking turns at shift `number` (after run-time changes).
    pub fn members_for_shift(&self, number: u64) -> &[Actor] {
        self.members_at(number).0
    }

    /// Who holds shift `number`: `None` while the rotation has no members.
    pub fn member_for(&self, number: u64) -> Option<Actor> {
        let (members, from, first) = self.members_at(number);
        let count = u64::try_from(members.len()).ok().filter(|n| *n > 0)?;
        let first = u64::try_from(first).ok()?;
        let index = usize::try_from((first + (number - from)) % count).ok()?;
        members.get(index).cloned()
    }

    /// The change that makes `members` take turns from shift `from_shift`
    /// on, continuing the order: the turn goes to whoever followed the
    /// holder of the shift before in the old order and is still a member
    /// (so nobody is skipped or served twice because someone joined or
    /// left).
    pub fn change_members(&self, from_shift: u64, members: Option<Vec<Actor>>) -> MemberChange {
        let new_list = members.as_deref().unwrap_or(&self.members);
        let first = match from_shift.checked_sub(1) {
            None => 0,
            Some(previous) => {
                let old_list = self.members_for_shift(previous);
                let holder = self.member_for(previous);
                match holder
                    .as_ref()
                    .and_then(|h| new_list.iter().position(|m| m == h))
                {
                    // The holder stays: the one after them in the new order.
                    Some(position) => (position + 1) % new_list.len().max(1),
                    // The holder left: their first successor in the old
                    // order who is still a member.
                    None => {
                        let start = holder
                            .and_then(|h| old_list.iter().position(|m| *m == h))
                            .unwrap_or(0);
                        (1..=old_list.len())
                            .filter_map(|step| old_list.get((start + step) % old_list.len()))
                            .find_map(|m| new_list.iter().position(|n| n == m))
                            .unwrap_or(0)
                    }
                }
            }
        };
        MemberChange {
            from_shift,
            members,
            first,
        }
    }

    /// Checks that every shift in the first `shifts` starts strictly after
    /// the one before (the handoff fires at least once per shift length),
    /// naming the first that does not.
    pub fn check_handoffs(&self, shifts: u64) -> Result<(), String> {
        let mut previous: Option<DateTime<Utc>> = None;
        for number in 0..shifts {
            let Some(start) = self.shift_start(number) else {
                return Err(format!(
                    "the handoff `{}` never fires after {}",
                    self.handoff.expression(),
                    self.start
                ));
            };
            if previous.is_some_and(|p| p >= start) {
                return Err(format!(
                    "the handoff `{}` fires less often than every {} day(s), so shift {} would never start; \
                     use a handoff time that comes round within each shift (a daily time fits any length)",
                    self.handoff.expression(),
                    self.shift_days,
                    number + 1
                ));
            }
            previous = Some(start);
        }
        Ok(())
    }
}

/// The first instant of `date` in the schedule's zone (midnight, or the end
/// of a DST gap that swallows midnight).
fn local_midnight(handoff: &Schedule, date: NaiveDate) -> Option<DateTime<Utc>> {
    let zone = handoff.time_zone();
    (0..4).find_map(|hour| {
        let wall = date.and_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&wall)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}
