//! One rotation's plain schedule, before overrides: which member holds
//! shift number `k`, and when each shift starts and ends.
//!
//! A [`Timing`] says when shifts change hands: its shift `k` starts at the
//! first handoff (a cron time in the timing's own zone) on or after the
//! local midnight that opens it, `start + k × shift length` (in local
//! calendar days). So a weekly rotation with `0 9 * * MON` in Europe/Paris
//! changes hands every Monday at 09:00 Paris time on both sides of a DST
//! change, and a daily 02:30 handoff on the spring-forward night changes
//! hands once, at 03:00 local, because [`crate::schedule`] resolves
//! wall-clock times that way. Counting shifts in calendar days rather than
//! in 24-hour steps is what keeps a handoff at the same local hour when a
//! day has 23 or 25 hours.
//!
//! Admins may change a rotation's timing at run time (`/duty timing`). A
//! rotation is then a list of dated segments: the configured timing, then
//! each [`Retiming`] from its first shift on. Shift numbers run on across
//! segments, so turns continue in order and member changes (which count in
//! shift numbers) keep their meaning; the shift in progress when a new
//! timing begins ends at its first handoff. Every question about shifts
//! (when shift `k` starts, which shift holds an instant, the next handoff)
//! goes through the segments, so the roster, the handoff job and the
//! iCalendar export agree across a change.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::Actor;
use crate::schedule::Schedule;

use super::RotationName;

/// How many shifts ahead a timing's handoff is checked to come round once
/// per shift: four years of weekly shifts.
pub const CHECKED_SHIFTS: u64 = 200;

/// When a rotation's shifts change hands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredTiming", into = "StoredTiming")]
pub struct Timing {
    /// Each shift's length in local calendar days (a week is 7).
    pub shift_days: u32,
    /// When a shift changes hands, in the timing's zone.
    pub handoff: Schedule,
    /// The local date its shift 0 opens on (later shifts open every
    /// `shift_days` after it).
    pub start: NaiveDate,
}

/// A rotation as configured: who, how long each holds it, when it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    pub name: RotationName,
    /// In order of their turns; the first holds the first shift.
    pub members: Vec<Actor>,
    /// The configured timing, in force until the first retiming.
    pub timing: Timing,
    /// When its members work, in the handoff's zone (for duty load).
    pub working_hours: super::load::WorkingHours,
    /// How many days ahead a time with nobody on duty is announced.
    pub gap_notice_days: u32,
    /// Member lists changed at run time (`/duty join`, `/duty leave`,
    /// `/duty reset`), oldest first. Each applies from its shift on, so a
    /// change never rewrites a shift that has begun.
    pub changes: Vec<MemberChange>,
    /// Timings changed at run time (`/duty timing`, `/duty reset`), in
    /// order of their first shifts, each in force until the next.
    pub retimings: Vec<Retiming>,
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

/// A change of a rotation's timing at run time: from shift `from_shift`
/// on, shift `n` is the timing's own shift `origin + (n − from_shift)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retiming {
    pub from_shift: u64,
    pub origin: u64,
    pub timing: Timing,
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

/// How far ahead a time with nobody on duty is announced, unless the
/// rotation says otherwise (`gap_notice`).
pub const GAP_NOTICE_DAYS: u32 = 14;

/// "3d" → 3, "2w" → 14: a length in days or weeks, from 1 day to a year,
/// as written in the configuration and in `/duty timing`; `what` names it
/// in the error ("a shift length").
pub fn parse_days(text: &str, what: &str) -> Result<u32, String> {
    let text = text.trim();
    let wrong = || format!("`{text}` is not {what}; write days (\"3d\") or weeks (\"1w\")");
    let unit = text.chars().last().ok_or_else(wrong)?;
    let number: u32 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| wrong())?;
    let days = match unit {
        'd' => number,
        'w' => number.checked_mul(7).ok_or_else(wrong)?,
        _ => return Err(wrong()),
    };
    if !(1..=366).contains(&days) {
        return Err(format!(
            "`{text}` is {days} day(s); {what} runs from 1 day to a year"
        ));
    }
    Ok(days)
}

/// A shift length: [`parse_days`].
pub fn parse_shift_length(text: &str) -> Result<u32, String> {
    parse_days(text, "a shift length")
}

impl Timing {
    /// The zone its handoffs (and its members' working hours) are in.
    pub fn zone(&self) -> Tz {
        self.handoff.time_zone()
    }

    /// "every 7 days, at `0 9 * * MON` (Europe/Paris), counted from
    /// 2026-03-02".
    pub fn describe(&self) -> String {
        let length = match self.shift_days {
            1 => "every day".to_string(),
            days if days % 7 == 0 && days > 7 => format!("every {} weeks", days / 7),
            7 => "every week".to_string(),
            days => format!("every {days} days"),
        };
        format!(
            "{length}, at `{}` ({}), counted from {}",
            self.handoff.expression(),
            self.zone(),
            self.start
        )
    }

    /// When its shift `k` starts: the first handoff at or after the local
    /// midnight of its opening day. `None` past the schedule's range.
    fn shift_start(&self, k: u64) -> Option<DateTime<Utc>> {
        let days = i64::try_from(k)
            .ok()?
            .checked_mul(i64::from(self.shift_days))?;
        let opening = self.start.checked_add_signed(Duration::days(days))?;
        let midnight = local_midnight(&self.handoff, opening)?;
        self.handoff.next_after(midnight - Duration::seconds(1))
    }

    /// The number, start and end of its shift holding `at`; `None` before
    /// its shift 0.
    fn shift_at(&self, at: DateTime<Utc>) -> Option<(u64, DateTime<Utc>, DateTime<Utc>)> {
        if self.shift_days == 0 {
            return None;
        }
        let local_day = at.with_timezone(&self.zone()).date_naive();
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

    /// Its first shift starting strictly after `after`.
    fn first_shift_after(&self, after: DateTime<Utc>) -> Option<u64> {
        if self.shift_days == 0 {
            return None;
        }
        match self.shift_at(after) {
            Some((k, ..)) => k.checked_add(1),
            None => Some(0),
        }
    }

    /// Checks that every shift in the first `shifts` starts strictly after
    /// the one before (the handoff fires at least once per shift length),
    /// naming the first that does not.
    pub fn check(&self, shifts: u64) -> Result<(), String> {
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

/// A timing as the store keeps it: the handoff as its cron text and zone.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredTiming {
    shift_days: u32,
    handoff: String,
    timezone: String,
    start: NaiveDate,
}

impl From<Timing> for StoredTiming {
    fn from(timing: Timing) -> StoredTiming {
        StoredTiming {
            shift_days: timing.shift_days,
            handoff: timing.handoff.expression().to_string(),
            timezone: timing.zone().name().to_string(),
            start: timing.start,
        }
    }
}

impl TryFrom<StoredTiming> for Timing {
    type Error = String;

    fn try_from(stored: StoredTiming) -> Result<Timing, String> {
        let handoff = Schedule::parse(&stored.handoff, &stored.timezone)
            .map_err(|e| format!("a stored rotation timing: {e}"))?;
        Ok(Timing {
            shift_days: stored.shift_days,
            handoff,
            start: stored.start,
        })
    }
}

/// One stretch of a rotation under one timing: shifts `from..` (up to the
/// next segment's first) are the timing's own shifts `origin..`.
struct Segment<'a> {
    from: u64,
    origin: u64,
    timing: &'a Timing,
}

impl Rotation {
    /// The configured timing, then each retiming, oldest first.
    fn segments(&self) -> Vec<Segment<'_>> {
        std::iter::once(Segment {
            from: 0,
            origin: 0,
            timing: &self.timing,
        })
        .chain(self.retimings.iter().map(|r| Segment {
            from: r.from_shift,
            origin: r.origin,
            timing: &r.timing,
        }))
        .collect()
    }

    /// The timing that governs from now on: the newest.
    pub fn latest_timing(&self) -> &Timing {
        self.retimings.last().map_or(&self.timing, |r| &r.timing)
    }

    /// The zone times are shown in: the newest timing's.
    pub fn zone(&self) -> Tz {
        self.latest_timing().zone()
    }

    /// The timing shift `number` is under.
    fn segment_of(&self, number: u64) -> Segment<'_> {
        self.segments()
            .into_iter()
            .rev()
            .find(|s| s.from <= number)
            .unwrap_or(Segment {
                from: 0,
                origin: 0,
                timing: &self.timing,
            })
    }

    /// When shift `number` starts, under the timing in force for it.
    /// `None` past the schedule's range.
    pub fn shift_start(&self, number: u64) -> Option<DateTime<Utc>> {
        let segment = self.segment_of(number);
        segment
            .timing
            .shift_start(segment.origin.checked_add(number - segment.from)?)
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
    /// `None` before the rotation starts. The last shift under one timing
    /// ends where the next timing's first begins.
    pub fn shift_at(&self, at: DateTime<Utc>) -> Option<(u64, DateTime<Utc>, DateTime<Utc>)> {
        let segments = self.segments();
        for (index, segment) in segments.iter().enumerate().rev() {
            if index > 0 && segment.timing.shift_start(segment.origin)? > at {
                continue;
            }
            let (k, start, end) = segment.timing.shift_at(at)?;
            let number = segment.from.checked_add(k.checked_sub(segment.origin)?)?;
            let Some(next) = segments.get(index + 1) else {
                return Some((number, start, end));
            };
            // This timing's last shift runs on until the next timing
            // begins (its own later handoffs were dropped). A timing with
            // no shift of its own (changed again before it began) has
            // nothing to run on: nobody holds `at`.
            let begins = next.timing.shift_start(next.origin)?;
            let last = next.from.checked_sub(1).filter(|n| *n >= segment.from)?;
            if number < last {
                return Some((number, start, end.min(begins)));
            }
            let start = segment
                .timing
                .shift_start(segment.origin.checked_add(last - segment.from)?)?;
            return Some((last, start, begins));
        }
        None
    }

    /// The first handoff (a shift starting) strictly after `after`.
    pub fn next_handoff_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.shift_at(after) {
            Some((.., end)) => Some(end),
            None => self.shift_start(0).filter(|start| *start > after),
        }
    }

    /// The retiming that puts `timing` in force from its first handoff
    /// after `now` (and not before its start date): the shift holding the
    /// later of now and that date runs until then, handoffs of the old
    /// timing in between are dropped, and shift numbers run on. Refused
    /// if the timing's handoff does not come round once per shift.
    pub fn retime(&self, now: DateTime<Utc>, timing: Timing) -> Result<Retiming, String> {
        timing.check(CHECKED_SHIFTS)?;
        let never = || {
            format!(
                "the handoff `{}` never fires after {}",
                timing.handoff.expression(),
                now
            )
        };
        let origin = timing.first_shift_after(now).ok_or_else(never)?;
        let begins = timing.shift_start(origin).ok_or_else(never)?;
        let effective = local_midnight(&timing.handoff, timing.start)
            .map_or(now, |midnight| midnight.max(now))
            .min(begins);
        let from_shift = match self.shift_at(effective) {
            // A shift of the old timing that would start as the new one
            // does gives way to it.
            Some((number, start, _)) if start >= begins => number,
            Some((number, ..)) => number + 1,
            None => 0,
        };
        Ok(Retiming {
            from_shift,
            origin,
            timing,
        })
    }

    /// Puts `retiming` in force, replacing any later one, and returns the
    /// instant it begins (its first shift's start).
    pub fn add_retiming(&mut self, retiming: Retiming) -> Option<DateTime<Utc>> {
        let from_shift = retiming.from_shift;
        self.retimings.retain(|r| r.from_shift < from_shift);
        self.retimings.push(retiming);
        self.shift_start(from_shift)
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
