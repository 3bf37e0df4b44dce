//! Small, saturating time arithmetic between `DateTime<Utc>` (instants) and
//! `std::time::Duration` (configured spans), so no overflow can panic and no
//! caller has to handle an error that cannot happen with sane settings.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The longest a quiet window may last: a week, so that a weekly window
/// never overlaps its own next occurrence by more than a day's typo.
pub const MAX_QUIET_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest a snooze may last. Longer than that is not "later", it is
/// "never": acknowledge the alert or silence it instead.
pub const MAX_SNOOZE: Duration = Duration::from_secs(7 * 24 * 3600);

/// `at + span`, saturating at the end of time.
pub fn plus(at: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// At least `span` has passed from `since` to `now`.
pub fn has_elapsed(since: DateTime<Utc>, now: DateTime<Utc>, span: Duration) -> bool {
    plus(since, span) <= now
}
