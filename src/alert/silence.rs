//! Silences: "we know, stop telling us" for a while.
//!
//! Two shapes, because teams need both:
//!
//! - a one-off [`Silence`] for a known event ("the migration on sg-main runs
//!   until 18:00"), with a start, an end, a reason and who asked for it;
//! - a recurring [`QuietWindow`] for planned traffic that would otherwise
//!   alert every week ("the Sunday blast at 06:00 Paris time drops volume
//!   for 8 hours"), a cron [`Schedule`] plus a duration.
//!
//! Both select alerts with a [`Matcher`], typed as text in a command
//! (`account=sg-main stream=tag:welcome metric=volume`), so its parser says
//! exactly which word is wrong and what would have been accepted.
//!
//! [`Silences`] holds both under one id space, so `/silence remove 4` works
//! whichever kind #4 is. It only answers "is this key silenced at this
//! instant, and why?" and "which silence periods are in force now?"; the
//! announcements ("silence started", "silence ended") are the
//! [`AlertBook`](super::AlertBook)'s job, because announcing changes state
//! and this type is meant to be read-only while alerts are evaluated.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::StreamKey;
use crate::detect::{AlertKey, AnomalyKind, Metric};
use crate::domain::Actor;
use crate::schedule::{Schedule, ScheduleError};

use super::time::{plus, MAX_QUIET_WINDOW};

/// Which alerts a silence or quiet window covers: every field that is given
/// must match the alert's key; a field left out matches anything.
///
/// The text form is `account=<name> stream=<key> metric=<metric>
/// kind=<kind>` in any order, each at most once, or `all` for everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Matcher {
    /// The account's configured name, such as `sg-main`.
    pub account: Option<String>,
    /// The stream, such as `tag:welcome` or `account`.
    pub stream: Option<StreamKey>,
    /// The metric, such as `volume`.
    pub metric: Option<Metric>,
    /// The anomaly kind, such as `volume-drop`.
    pub kind: Option<AnomalyKind>,
}

/// Why a matcher's text was refused. Each message quotes the offending word
/// and says what would be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Nothing was given.
    #[error(
        "say what to match: give at least one of account=, stream=, metric=, kind= \
         (such as `account=sg-main metric=volume`), or `all` for every alert"
    )]
    Empty,
    /// A word without `=`.
    #[error(
        "`{word}` is not a field=value pair; write account=, stream=, metric= or kind= \
         followed by a value, such as `metric=volume`"
    )]
    NotAPair {
        /// The word as typed.
        word: String,
    },
    /// A field name that is not one of the four.
    #[error(
        "`{field}` is not something alerts can be matched on; use account, stream, metric or kind"
    )]
    UnknownField {
        /// The field name as typed.
        field: String,
    },
    /// `field=` with nothing after it.
    #[error("`{field}=` has no value; give one, such as `{example}`")]
    MissingValue {
        /// The field name, lowercased.
        field: String,
        /// A well-formed example for that field.
        example: &'static str,
    },
    /// The same field twice.
    #[error("`{field}` is given twice; a matcher takes one value per field")]
    Repeated {
        /// The field name, lowercased.
        field: String,
    },
    /// A metric name that does not exist.
    #[error("`{word}` is not a metric; expected one of: {expected}")]
    UnknownMetric {
        /// The value as typed.
        word: String,
        /// The accepted spellings, comma separated.
        expected: String,
    },
    /// An anomaly kind that does not exist.
    #[error("`{word}` is not an anomaly kind; expected one of: {expected}")]
    UnknownKind {
        /// The value as typed.
        word: String,
        /// The accepted spellings, comma separated.
        expected: String,
    },
    /// `all` together with fields.
    #[error(
        "`all` matches every alert and cannot be combined with fields; drop `all` or the fields"
    )]
    AllWithFields,
}

impl Matcher {
    /// A matcher that matches every alert.
    pub fn all() -> Matcher {
        Matcher::default()
    }

    /// No field is given: every alert matches.
    pub fn is_all(&self) -> bool {
        *self == Matcher::default()
    }

    /// Every given field equals the key's.
    pub fn matches(&self, key: &AlertKey) -> bool {
        self.account.as_ref().is_none_or(|a| *a == key.account)
            && self.stream.as_ref().is_none_or(|s| *s == key.stream)
            && self.metric.is_none_or(|m| m == key.metric)
            && self.kind.is_none_or(|k| k == key.kind)
    }

    /// Parses `account=sg-main stream=tag:welcome metric=volume kind=volume-drop`
    /// (any subset, any order, whitespace separated) or `all`.
    ///
    /// Field names, metrics and kinds are case-insensitive; account names
    /// and stream keys are taken as typed, because that is how they are
    /// configured.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Err(MatcherError::Empty);
        }
        if words.iter().any(|w| w.eq_ignore_ascii_case("all")) {
            return if words.len() == 1 {
                Ok(Matcher::all())
            } else {
                Err(MatcherError::AllWithFields)
            };
        }
        let mut matcher = Matcher::default();
        for word in words {
            let Some((field, value)) = word.split_once('=') else {
                return Err(MatcherError::NotAPair {
                    word: word.to_string(),
                });
            };
            let field = field.to_ascii_lowercase();
            let example = match field.as_str() {
                "account" => "account=sg-main",
                "stream" => "stream=tag:welcome",
                "metric" => "metric=volume",
                "kind" => "kind=volume-drop",
                _ => return Err(MatcherError::UnknownField { field }),
            };
            if value.is_empty() {
                return Err(MatcherError::MissingValue { field, example });
            }
            let repeated = match field.as_str() {
                "account" => matcher.account.replace(value.to_string()).is_some(),
                "stream" => matcher.stream.replace(StreamKey::new(value)).is_some(),
                "metric" => matcher.metric.replace(parse_metric(value)?).is_some(),
                _ => matcher.kind.replace(parse_kind(value)?).is_some(),
            };
            if repeated {
                return Err(MatcherError::Repeated { field });
            }
        }
        Ok(matcher)
    }
}

fn parse_metric(word: &str) -> Result<Metric, MatcherError> {
    Metric::ALL
        .iter()
        .copied()
        .find(|m| m.as_str().eq_ignore_ascii_case(word))
        .ok_or_else(|| MatcherError::UnknownMetric {
            word: word.to_string(),
            expected: Metric::ALL.map(Metric::as_str).join(", "),
        })
}

fn parse_kind(word: &str) -> Result<AnomalyKind, MatcherError> {
    AnomalyKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str().eq_ignore_ascii_case(word))
        .ok_or_else(|| MatcherError::UnknownKind {
            word: word.to_string(),
            expected: AnomalyKind::ALL.map(AnomalyKind::as_str).join(", "),
        })
}

impl FromStr for Matcher {
    type Err = MatcherError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Matcher::parse(s)
    }
}

impl fmt::Display for Matcher {
    /// The canonical text, which [`Matcher::parse`] reads back:
    /// `account=sg-main metric=volume`, or `all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let mut parts = Vec::new();
        if let Some(account) = &self.account {
            parts.push(format!("account={account}"));
        }
        if let Some(stream) = &self.stream {
            parts.push(format!("stream={stream}"));
        }
        if let Some(metric) = self.metric {
            parts.push(format!("metric={metric}"));
        }
        if let Some(kind) = self.kind {
            parts.push(format!("kind={kind}"));
        }
        f.write_str(&parts.join(" "))
    }
}

/// A one-off silence, or one occurrence of a [`QuietWindow`] (then `id` is
/// the window's id and `start`/`end` are that occurrence's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// The id in [`Silences`], shared with quiet windows.
    pub id: u64,
    /// Which alerts it covers.
    pub matcher: Matcher,
    /// In force from this instant (inclusive)…
    pub start: DateTime<Utc>,
    /// …until this one (exclusive).
    pub end: DateTime<Utc>,
    /// Why, for the people who will wonder where their alerts went.
    pub reason: String,
    /// Who asked for it.
    pub by: Actor,
}

impl Silence {
    /// In force at `now`: `start <= now < end`.
    pub fn covers(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.end
    }
}

/// A recurring silence: from each run of `schedule`, for `duration`.
///
/// Stored as its expression and time zone (a [`Schedule`] is parsed, not
/// serialised), so a stored window is re-validated when it is read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QuietWindowRecord", into = "QuietWindowRecord")]
pub struct QuietWindow {
    /// Which alerts it covers.
    pub matcher: Matcher,
    /// When each occurrence starts, in the team's time zone.
    pub schedule: Schedule,
    /// How long each occurrence lasts.
    pub duration: Duration,
    /// Why, such as "planned Sunday blast".
    pub reason: String,
    /// Who set it up.
    pub by: Actor,
}

/// The stored form of a [`QuietWindow`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct QuietWindowRecord {
    matcher: Matcher,
    expression: String,
    time_zone: String,
    duration: Duration,
    reason: String,
    by: Actor,
}

impl From<QuietWindow> for QuietWindowRecord {
    fn from(window: QuietWindow) -> Self {
        QuietWindowRecord {
            matcher: window.matcher,
            expression: window.schedule.expression().to_string(),
            time_zone: window.schedule.time_zone().name().to_string(),
            duration: window.duration,
            reason: window.reason,
            by: window.by,
        }
    }
}

impl TryFrom<QuietWindowRecord> for QuietWindow {
    type Error = ScheduleError;

    fn try_from(record: QuietWindowRecord) -> Result<Self, Self::Error> {
        Ok(QuietWindow {
            matcher: record.matcher,
            schedule: Schedule::parse(&record.expression, &record.time_zone)?,
            duration: record.duration,
            reason: record.reason,
            by: record.by,
        })
    }
}

impl QuietWindow {
    /// The occurrences in force at `now`, earliest first: runs `s` of the
    /// schedule with `s <= now < s + duration`. Usually none or one; more
    /// only if the duration is longer than the gap between runs.
    fn occurrences_at(&self, id: u64, now: DateTime<Utc>) -> Vec<Silence> {
        let Ok(span) = chrono::TimeDelta::from_std(self.duration) else {
            return Vec::new();
        };
        let Some(earliest) = now.checked_sub_signed(span) else {
            return Vec::new();
        };
        // `runs_between` is half-open, (earliest, now], which is exactly
        // the runs whose occurrence has not ended by `now`.
        self.schedule
            .runs_between(earliest, now)
            .into_iter()
            .map(|start| Silence {
                id,
                matcher: self.matcher.clone(),
                start,
                end: plus(start, self.duration),
                reason: self.reason.clone(),
                by: self.by.clone(),
            })
            .collect()
    }
}

/// Why a silence or quiet window was refused, or could not be removed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// The end is not after the start.
    #[error("a silence must end after it starts; {start} to {end} is empty")]
    EndsBeforeStart {
        /// The requested start.
        start: DateTime<Utc>,
        /// The requested end.
        end: DateTime<Utc>,
    },
    /// No reason was given.
    #[error("say why: a silence needs a reason, such as \"planned migration of sg-main\"")]
    NoReason,
    /// A quiet window of zero length.
    #[error("a quiet window must last some time, such as 8h")]
    EmptyWindow,
    /// A quiet window longer than [`MAX_QUIET_WINDOW`].
    #[error("a quiet window lasts at most 7 days; use a one-off silence for longer")]
    WindowTooLong,
    /// No silence or window with this id.
    #[error("there is no silence or quiet window #{0}")]
    Unknown(u64),
}

/// What [`Silences::remove`] took out.
#[derive(Clone, Debug, PartialEq)]
pub enum Removed {
    /// A one-off silence.
    Silence(Silence),
    /// A recurring quiet window (boxed: it is several times a silence's size).
    Window(Box<QuietWindow>),
}

/// The one-off silences and recurring quiet windows, under one id space
/// (ids start at 1 and are never reused).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Silences {
    /// The last id handed out.
    last_id: u64,
    silences: BTreeMap<u64, Silence>,
    windows: BTreeMap<u64, QuietWindow>,
}

impl Silences {
    /// An empty set.
    pub fn new() -> Silences {
        Silences::default()
    }

    /// Adds a one-off silence for `[start, end)` and returns it with its id.
    pub fn add(
        &mut self,
        matcher: Matcher,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: &str,
        by: &Actor,
    ) -> Result<Silence, SilenceError> {
        if end <= start {
            return Err(SilenceError::EndsBeforeStart { start, end });
        }
        let reason = checked_reason(reason)?;
        self.last_id += 1;
        let silence = Silence {
            id: self.last_id,
            matcher,
            start,
            end,
            reason,
            by: by.clone(),
        };
        self.silences.insert(silence.id, silence.clone());
        Ok(silence)
    }

    /// Adds a recurring quiet window and returns its id.
    pub fn add_window(&mut self, mut window: QuietWindow) -> Result<u64, SilenceError> {
        if window.duration.is_zero() {
            return Err(SilenceError::EmptyWindow);
        }
        if window.duration > MAX_QUIET_WINDOW {
            return Err(SilenceError::WindowTooLong);
        }
        window.reason = checked_reason(&window.reason)?;
        self.last_id += 1;
        self.windows.insert(self.last_id, window);
        Ok(self.last_id)
    }

    /// Removes the silence or quiet window `id`. An announced silence that
    /// is removed early is announced as ended by the next
    /// [`AlertBook::tick`](super::AlertBook::tick).
    pub fn remove(&mut self, id: u64) -> Result<Removed, SilenceError> {
        if let Some(silence) = self.silences.remove(&id) {
            return Ok(Removed::Silence(silence));
        }
        self.windows
            .remove(&id)
            .map(|window| Removed::Window(Box::new(window)))
            .ok_or(SilenceError::Unknown(id))
    }

    /// Drops one-off silences that ended at or before `now`, and returns
    /// them. Quiet windows stay until removed.
    pub fn remove_expired(&mut self, now: DateTime<Utc>) -> Vec<Silence> {
        let expired: Vec<u64> = self
            .silences
            .values()
            .filter(|s| s.end <= now)
            .map(|s| s.id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.silences.remove(&id))
            .collect()
    }

    /// The one-off silences, by id.
    pub fn silences(&self) -> impl Iterator<Item = &Silence> {
        self.silences.values()
    }

    /// The quiet windows with their ids, by id.
    pub fn windows(&self) -> impl Iterator<Item = (u64, &QuietWindow)> {
        self.windows.iter().map(|(id, window)| (*id, window))
    }

    /// Every silence period in force at `now`: one-off silences covering
    /// it and the current occurrences of quiet windows, by id then start.
    pub fn active(&self, now: DateTime<Utc>) -> Vec<Silence> {
        let mut periods: Vec<Silence> = self
            .silences
            .values()
            .filter(|s| s.covers(now))
            .cloned()
            .collect();
        for (id, window) in &self.windows {
            periods.extend(window.occurrences_at(*id, now));
        }
        periods.sort_by_key(|p| (p.id, p.start));
        periods
    }

    /// Why `key` is silenced at `now`, if it is: the reason of the
    /// lowest-numbered one-off silence or quiet window covering it.
    /// Whether an alert about `key` whose figures are about the bucket that
    /// started at `bucket_start` is muted at `now`: a silence or window in
    /// force now, or one that covered the bucket's time. A bucket is judged
    /// after it ends (and settles), so a planned send inside a quiet window
    /// is often judged just after the window closed; it is still the
    /// planned send.
    pub fn covers_finding(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        bucket_start: DateTime<Utc>,
    ) -> Option<&str> {
        self.is_silenced(key, now)
            .or_else(|| self.is_silenced(key, bucket_start))
    }

    pub fn is_silenced(&self, key: &AlertKey, now: DateTime<Utc>) -> Option<&str> {
        let one_off = self
            .silences
            .values()
            .find(|s| s.covers(now) && s.matcher.matches(key))
            .map(|s| (s.id, s.reason.as_str()));
        let window = self
            .windows
            .iter()
            .find(|(id, w)| w.matcher.matches(key) && !w.occurrences_at(**id, now).is_empty())
            .map(|(id, w)| (*id, w.reason.as_str()));
        match (one_off, window) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a.1 } else { b.1 }),
            (a, b) => a.or(b).map(|(_, reason)| reason),
        }
    }
}

fn checked_reason(reason: &str) -> Result<String, SilenceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err(SilenceError::NoReason)
    } else {
        Ok(reason.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::{key, utc};

    #[test]
    fn matcher_parses_any_subset_in_any_order_and_prints_canonically() {
        let m = Matcher::parse("metric=VOLUME  account=sg-main stream=tag:welcome").unwrap();
        assert_eq!(
            m,
            Matcher {
                account: Some("sg-main".into()),
                stream: Some(StreamKey::tag("welcome")),
                metric: Some(Metric::Volume),
                kind: None,
            }
        );
        assert_eq!(
            m.to_string(),
            "account=sg-main stream=tag:welcome metric=volume"
        );
        assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m);
        assert_eq!(
            "Kind=stale-feed".parse::<Matcher>().unwrap().kind,
            Some(AnomalyKind::StaleFeed)
        );
        assert!(Matcher::parse(" all ").unwrap().is_all());
        assert_eq!(Matcher::all().to_string(), "all");
    }

    #[test]
    fn matcher_matches_every_given_field() {
        let k = key(
            "sg-main",
            "tag:welcome",
            Metric::Volume,
            AnomalyKind::VolumeDrop,
        );
        assert!(Matcher::all().matches(&k));
        assert!(Matcher::parse("account=sg-main").unwrap().matches(&k));
        assert!(Matcher::parse(
            "account=sg-main stream=tag:welcome metric=volume kind=volume-drop"
        )
        .unwrap()
        .matches(&k));
        assert!(!Matcher::parse("account=sg-main metric=bounce")
            .unwrap()
            .matches(&k));
        assert!(!Matcher::parse("stream=tag:Welcome").unwrap().matches(&k));
    }

    #[test]
    fn matcher_errors_say_what_is_wrong_and_what_would_do() {
        let error = |text: &str| Matcher::parse(text).unwrap_err().to_string();
        assert_eq!(
            error("  "),
            "say what to match: give at least one of account=, stream=, metric=, kind= \
             (such as `account=sg-main metric=volume`), or `all` for every alert"
        );
        assert_eq!(
            error("sg-main"),
            "`sg-main` is not a field=value pair; write account=, stream=, metric= or kind= \
             followed by a value, such as `metric=volume`"
        );
        assert_eq!(
            error("team=design"),
            "`team` is not something alerts can be matched on; use account, stream, metric or kind"
        );
        assert_eq!(
            error("stream="),
            "`stream=` has no value; give one, such as `stream=tag:welcome`"
        );
        assert_eq!(
            error("metric=volume Metric=bounce"),
            "`metric` is given twice; a matcher takes one value per field"
        );
        assert_eq!(
            error("metric=volumes"),
            "`volumes` is not a metric; expected one of: bounce, complaint, deferral, block, \
             open, click, unsubscribe, volume, feed, spam-rate, domain-reputation, ip-reputation, \
             compliance"
        );
        assert_eq!(
            error("kind=spike"),
            "`spike` is not an anomaly kind; expected one of: hard-limit, baseline, \
             volume-drop, volume-spike, engagement-collapse, stale-feed, reputation-drop, compliance-needs-work"
        );
        assert_eq!(
            error("all metric=volume"),
            "`all` matches every alert and cannot be combined with fields; drop `all` or the fields"
        );
    }

    #[test]
    fn one_off_silences_cover_a_half_open_span_and_share_ids_with_windows() {
        let mut silences = Silences::new();
        let by = Actor::console("ana");
        let k = key("sg-main", "account", Metric::Bounce, AnomalyKind::Baseline);
        assert_eq!(
            silences
                .add(Matcher::all(), utc("2026-05-01T10:00:00Z"), utc("2026-05-01T10:00:00Z"), "x", &by)
                .unwrap_err()
                .to_string(),
            "a silence must end after it starts; 2026-05-01 10:00:00 UTC to 2026-05-01 10:00:00 UTC is empty"
        );
        assert_eq!(
            silences
                .add(
                    Matcher::all(),
                    utc("2026-05-01T10:00:00Z"),
                    utc("2026-05-01T11:00:00Z"),
                    " ",
                    &by
                )
                .unwrap_err(),
            SilenceError::NoReason
        );
        let s = silences
            .add(
                Matcher::parse("account=sg-main").unwrap(),
                utc("2026-05-01T10:00:00Z"),
                utc("2026-05-01T11:00:00Z"),
                " migration ",
                &by,
            )
            .unwrap();
        assert_eq!((s.id, s.reason.as_str()), (1, "migration"));
        assert_eq!(silences.is_silenced(&k, utc("2026-05-01T09:59:59Z")), None);
        assert_eq!(
            silences.is_silenced(&k, utc("2026-05-01T10:00:00Z")),
            Some("migration")
        );
        assert_eq!(silences.is_silenced(&k, utc("2026-05-01T11:00:00Z")), None);

        let window = QuietWindow {
            matcher: Matcher::all(),
            schedule: Schedule::parse("0 6 * * SUN", "Europe/Paris").unwrap(),
            duration: Duration::from_secs(8 * 3600),
            reason: "Sunday blast".into(),
            by: by.clone(),
        };
        assert_eq!(
            silences.add_window(QuietWindow {
                duration: Duration::ZERO,
                ..window.clone()
            }),
            Err(SilenceError::EmptyWindow)
        );
        assert_eq!(silences.add_window(window.clone()), Ok(2));
        assert_eq!(
            silences.remove(7).unwrap_err().to_string(),
            "there is no silence or quiet window #7"
        );
        assert_eq!(silences.remove(2), Ok(Removed::Window(Box::new(window))));
        assert_eq!(
            silences.remove_expired(utc("2026-05-01T11:00:00Z")).len(),
            1
        );
        assert_eq!(silences.silences().count(), 0);
    }

    #[test]
    fn sunday_quiet_window_follows_paris_wall_clock_across_dst() {
        // 29 March 2026: Paris goes from CET (UTC+1) to CEST (UTC+2).
        let mut silences = Silences::new();
        let id = silences
            .add_window(QuietWindow {
                matcher: Matcher::parse("metric=volume").unwrap(),
                schedule: Schedule::parse("0 6 * * SUN", "Europe/Paris").unwrap(),
                duration: Duration::from_secs(8 * 3600),
                reason: "Sunday blast".into(),
                by: Actor::console("ana"),
            })
            .unwrap();
        let volume = key(
            "sg-main",
            "account",
            Metric::Volume,
            AnomalyKind::VolumeDrop,
        );
        let bounce = key("sg-main", "account", Metric::Bounce, AnomalyKind::Baseline);
        // Before the change: 06:00 CET is 05:00Z, until 13:00Z.
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-22T04:59:00Z")),
            None
        );
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-22T05:00:00Z")),
            Some("Sunday blast")
        );
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-22T12:59:00Z")),
            Some("Sunday blast")
        );
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-22T13:00:00Z")),
            None
        );
        assert_eq!(
            silences.is_silenced(&bounce, utc("2026-03-22T06:00:00Z")),
            None
        );
        // After: 06:00 CEST is 04:00Z, until 12:00Z.
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-29T03:59:00Z")),
            None
        );
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-29T04:00:00Z")),
            Some("Sunday blast")
        );
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-29T12:00:00Z")),
            None
        );
        // Not on Mondays.
        assert_eq!(
            silences.is_silenced(&volume, utc("2026-03-30T05:00:00Z")),
            None
        );
        let active = silences.active(utc("2026-03-29T11:00:00Z"));
        assert_eq!(active.len(), 1);
        assert_eq!(
            (active[0].id, active[0].start, active[0].end),
            (id, utc("2026-03-29T04:00:00Z"), utc("2026-03-29T12:00:00Z"))
        );
    }

    #[test]
    fn silences_survive_serde_and_a_broken_stored_window_is_an_error() {
        let mut silences = Silences::new();
        silences
            .add_window(QuietWindow {
                matcher: Matcher::parse("kind=volume-drop").unwrap(),
                schedule: Schedule::parse("0 6 * * SUN", "Europe/Paris").unwrap(),
                duration: Duration::from_secs(8 * 3600),
                reason: "Sunday blast".into(),
                by: Actor::console("ana"),
            })
            .unwrap();
        silences
            .add(
                Matcher::all(),
                utc("2026-05-01T10:00:00Z"),
                utc("2026-05-01T11:00:00Z"),
                "maintenance",
                &Actor::console("bo"),
            )
            .unwrap();
        let json = serde_json::to_string(&silences).unwrap();
        assert!(json.contains("\"expression\":\"0 6 * * SUN\""), "{json}");
        assert!(json.contains("\"time_zone\":\"Europe/Paris\""), "{json}");
        let back: Silences = serde_json::from_str(&json).unwrap();
        assert_eq!(back, silences);

        let broken = json.replace("0 6 * * SUN", "0 6 * * SUNDAY");
        let error = serde_json::from_str::<Silences>(&broken)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SUNDAY"), "{error}");
    }
}
