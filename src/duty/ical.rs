//! A rotation's schedule as an iCalendar file, so people see their shifts
//! in the calendar they already read.
//!
//! One event per stretch of [`Roster::schedule`] (itself answered by
//! [`Roster::on_duty`]), so the export can never disagree with
//! `/duty schedule`. Times are UTC (`…Z`): every calendar shows them in the
//! reader's own zone, and no zone definition has to be shipped. The UID is
//! stable (rotation, start, member), so re-importing updates events instead
//! of duplicating them. Built with the `icalendar` crate, which escapes
//! text and folds long lines as RFC 5545 asks.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use super::{Roster, RotationName};

/// The rotation's schedule over `[from, to)` as `.ics` text. `stamp` is
/// the DTSTAMP of every event (when the export was made).
pub fn export(
    roster: &Roster,
    name: RotationName,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    stamp: DateTime<Utc>,
) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&format!("mailcall: {name} on duty"));
    for stretch in roster.schedule(name, from, to) {
        let mut event = Event::new();
        event
            .uid(&format!(
                "mailcall-{name}-{}-{}@mailcall",
                stretch.start.format("%Y%m%dT%H%M%SZ"),
                stretch.member.id
            ))
            .timestamp(stamp)
            .summary(&format!("{} on duty: {name}", stretch.member.name))
            .starts(stretch.start)
            .ends(stretch.end);
        if let Some(id) = stretch.by_override {
            let why = roster
                .overrides()
                .iter()
                .find(|o| o.id == id)
                .map(|o| format!("override #{id} by {}: {}", o.by.name, o.reason))
                .unwrap_or_else(|| format!("override #{id}"));
            event.description(&why);
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}
