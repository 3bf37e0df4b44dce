//! Alerts: from detection's findings to the posts people see, and back.
//!
//! Detection says, after every poll, which keys look wrong and which look
//! fine. Turning that into messages naively goes wrong in familiar ways: a
//! post per poll for the same problem, an alert that opens and clears every
//! fifteen minutes because the rate hovers at the threshold, a provider
//! outage that "clears" every alert, a planned Sunday blast that pages
//! somebody every week, an alert nobody looks at and nobody is told about
//! again. This module holds the rules against each, as plain data and
//! methods with `now` passed in, so every rule is tested with a hand-wound
//! clock and the state is one serde record the caller persists.
//!
//! - [`book`]: the [`AlertBook`] state machine, its [`AlertEffect`]s (what
//!   to post or edit) and [`AlertView`]s (what to show).
//! - [`silence`]: one-off [`Silence`]s and recurring [`QuietWindow`]s,
//!   selected by a [`Matcher`] typed as text.
//! - [`routing`]: which teams own an alert ([`Routing`]), the timing
//!   settings ([`AlertSettings`]) and the route [`preview`].
//!
//! Nothing here talks to Discord: the front end turns effects into posts,
//! adds channels, role mentions and who is on duty, and calls back with
//! acknowledgements and snoozes from buttons.

pub mod book;
pub mod routing;
pub mod silence;
mod time;

pub use book::{AlertBook, AlertEffect, AlertError, AlertView, MAX_CLEARED};
pub use routing::{preview, AlertSettings, RoutePreview, Routing};
pub use silence::{Matcher, MatcherError, QuietWindow, Removed, Silence, SilenceError, Silences};
pub use time::{MAX_QUIET_WINDOW, MAX_SNOOZE};

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the alert tests.

    use chrono::{DateTime, Utc};

    use crate::delivery::StreamKey;
    use crate::detect::{AlertKey, AnomalyKind, Finding, Level, Metric};

    /// An instant from RFC 3339 text; panics on a typo, which is a test bug.
    pub fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test instant {text}: {e}"))
    }

    pub fn key(account: &str, stream: &str, metric: Metric, kind: AnomalyKind) -> AlertKey {
        AlertKey {
            account: account.to_string(),
            stream: StreamKey::new(stream),
            metric,
            kind,
        }
    }

    /// A finding whose figures differ only by `value`.
    pub fn finding(key: &AlertKey, level: Level, value: f64) -> Finding {
        Finding {
            key: key.clone(),
            level,
            bucket_start: utc("2026-05-01T09:00:00Z"),
            value: Some(value),
            baseline: Some(0.007),
            threshold: None,
            volume: Some(1204),
            score: 0.9,
            recent: vec![Some(0.007), None, Some(value)],
            summary: format!("{} at {value}", key.metric),
        }
    }
}
