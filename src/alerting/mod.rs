//! Alerting, assembled: detection after every poll, the alert book and the
//! silences, kept together and persisted as one record.
//!
//! The pure parts live elsewhere ([`crate::detect`] judges a stream,
//! [`crate::alert`] decides what to post); this desk feeds one into the
//! other with the rules that need memory:
//!
//! - **Only complete buckets are judged.** A bucket is complete once it has
//!   ended in the provider's own time zone (bucket starts are the provider's
//!   boundaries converted to UTC, so a Postmark day ends at midnight EST)
//!   plus the account's settle delay for late counts (`settle_minutes`,
//!   by default 60 for the daily SendGrid and Postmark APIs, 20 for
//!   Mailgun and SparkPost, 0 for the sandbox). An hour polled five minutes
//!   in, or a day polled at 00:05, holds a fraction of its mail and would
//!   read as a volume drop; it is simply not judged yet.
//! - **Every complete bucket is judged once, in order**: after a poll the
//!   desk judges each bucket that completed since the last one it judged
//!   (at most [`MAX_CATCH_UP`], the newest), so healthy buckets are counted
//!   one by one toward clearing an alert. A stream seen for the first time
//!   has only its newest complete bucket judged (no flood from history).
//! - **Revisions are judged again.** Every poll re-fetches the trailing
//!   window; when the newest judged bucket comes back with different counts
//!   (late bounces, a provider correcting itself) and nothing newer is
//!   complete, it is judged again. An alert raised by the revision says so
//!   in its figures; one cleared by it says so in its recovery notice.
//! - **Every alert can clear.** Besides healthy buckets, an alert whose
//!   newest anomalous bucket is more than [`UNSEEN_CLEAR_AFTER`] old clears
//!   as "no longer seen" (a stream that stopped being judged must not hold
//!   an alert open for good), so a later problem on the same key opens a
//!   new alert.
//! - **Stale feeds become alerts** (`stale-feed` kind, routed to
//!   development by default), and clear when the feed recovers.
//! - **One cause, one alert.** An account total that moves on the same
//!   metric, in the same bucket, as one of its streams is not a second
//!   alert: its figures join the stream's alert (see
//!   [`fold_account_findings_into_streams`]).
//! - **Per-stream detector settings**: SES streams get SES's review levels.

pub mod render;
pub mod replay;
pub mod runbooks;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{AlertBook, AlertEffect, AlertSettings, Silences};
use crate::delivery::{BucketWidth, Counts, Sample, StreamKey};
use crate::detect::{
    evaluate, AlertKey, AnomalyKind, DetectorSettings, Evaluation, Finding, Level, Metric,
};
use crate::poll::FeedEvent;
use crate::store::{MetricsHistory, StoreError};

/// The store record the desk is kept in.
pub const RECORD: &str = "alerts:desk";

/// The most buckets of one stream judged after one poll (the newest ones):
/// two days of hourly buckets, enough to catch up after an outage without
/// replaying weeks of history as fresh alerts.
pub const MAX_CATCH_UP: usize = 48;

/// An alert whose newest anomalous bucket is older than this clears as "no
/// longer seen": three days, longer than any daily stream needs to be judged
/// again.
pub fn unseen_clear_after() -> Duration {
    Duration::days(3)
}

/// See [`unseen_clear_after`].
pub const UNSEEN_CLEAR_AFTER: &str = "3 days";

/// The settle delay for accounts the configuration does not name.
pub fn default_settle() -> Duration {
    Duration::minutes(20)
}

/// Detection settings for the streams a matcher selects.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamOverride {
    pub account: Option<String>,
    pub stream: Option<StreamKey>,
    pub settings: DetectorSettings,
}

/// Everything alerting is configured with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertingConfig {
    pub alerts: AlertSettings,
    pub detector: DetectorSettings,
    /// First match wins.
    pub overrides: Vec<StreamOverride>,
    /// Per account: how long after a bucket ends it is judged (see the
    /// module documentation); [`default_settle`] for the rest.
    pub settle: BTreeMap<String, Duration>,
    /// The runbooks alerts quote (`[alerts] runbook_dir`, read at start).
    pub runbooks: std::sync::Arc<runbooks::Runbooks>,
    /// `[alerts] mention = "on-duty"`: a new alert mentions each team's
    /// member on duty instead of the team role (the role still where
    /// nobody is on duty, and in reminders). The default mentions both.
    pub on_duty_only: bool,
}

impl AlertingConfig {
    fn detector_for(&self, account: &str, stream: &StreamKey) -> &DetectorSettings {
        self.overrides
            .iter()
            .find(|o| {
                o.account.as_deref().is_none_or(|a| a == account)
                    && o.stream.as_ref().is_none_or(|s| s == stream)
            })
            .map(|o| &o.settings)
            .unwrap_or(&self.detector)
    }

    /// The settle delay for `account`.
    pub fn settle_for(&self, account: &str) -> Duration {
        self.settle
            .get(account)
            .copied()
            .unwrap_or_else(default_settle)
    }
}

/// How far back a stream judged against its previous sends
/// ([`DetectorSettings::previous_sends`]) is read.
pub const PREVIOUS_SENDS_LOOKBACK_DAYS: i64 = 400;

/// The samples the detectors read to judge `bucket` (see
/// [`crate::detect::baseline`]): for hourly buckets the eight days before it
/// (pooled spans, the daily cold-start baseline, the sparkline) and, in
/// each earlier week of the baseline, the same hours with a day of pooling
/// and the neighbouring hours; for wider buckets every bucket of the
/// baseline's weeks; for streams of one-off sends, their previous sends
/// within [`PREVIOUS_SENDS_LOOKBACK_DAYS`]. Reading only these keeps a poll's cost independent of
/// how much history is kept. `recent` holds the stream's samples from
/// `recent_from` on, already read by the caller; they are not read again.
fn detector_input(
    history: &dyn MetricsHistory,
    account: &str,
    stream: &StreamKey,
    bucket: DateTime<Utc>,
    width: BucketWidth,
    settings: &DetectorSettings,
    (recent, recent_from): (&[Sample], DateTime<Utc>),
) -> Result<Vec<Sample>, StoreError> {
    let until = bucket + Duration::seconds(1);
    let weeks = settings
        .baseline_weeks
        .min(crate::detect::baseline::MAX_BASELINE_WEEKS) as i64;
    // Everything from `from` up to the judged bucket: the older part from
    // the store, the part `recent` already holds from there.
    let up_to_bucket = |from: DateTime<Utc>| -> Result<Vec<Sample>, StoreError> {
        let mut samples = history.series_between(account, stream, from, until.min(recent_from))?;
        samples.extend(
            recent
                .iter()
                .filter(|s| s.bucket.start >= from && s.bucket.start < until)
                .cloned(),
        );
        Ok(samples)
    };
    if settings.previous_sends.is_some() {
        // One-off sends: their previous sends, however long ago (such a
        // stream holds one bucket per send, so a year is a short read).
        return up_to_bucket(bucket - Duration::days(PREVIOUS_SENDS_LOOKBACK_DAYS));
    }
    if width != BucketWidth::Hour {
        return up_to_bucket(bucket - Duration::weeks(weeks + 1) - Duration::days(1));
    }
    let mut samples = up_to_bucket(bucket - Duration::days(8))?;
    for week in 2..=weeks {
        let same = bucket - Duration::weeks(week);
        samples.extend(history.series_between(
            account,
            stream,
            same - Duration::hours(26),
            same + Duration::hours(2),
        )?);
    }
    Ok(samples)
}

/// When a bucket starting at `start` ends.
pub fn bucket_end(start: DateTime<Utc>, width: BucketWidth) -> DateTime<Utc> {
    match width {
        BucketWidth::Hour => start + Duration::hours(1),
        BucketWidth::Day => start + Duration::days(1),
        BucketWidth::Week => start + Duration::weeks(1),
        BucketWidth::Month => start
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(start + Duration::days(31)),
    }
}

/// The persistent part of the desk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeskState {
    pub book: AlertBook,
    pub silences: Silences,
    /// The newest bucket fed to the book, per "account/stream".
    judged: BTreeMap<String, DateTime<Utc>>,
    /// The counts that bucket had when it was judged, to notice revisions.
    #[serde(default)]
    judged_counts: BTreeMap<String, Counts>,
}

/// Alert state plus configuration.
#[derive(Clone, Debug)]
pub struct AlertDesk {
    pub state: DeskState,
    pub config: AlertingConfig,
}

impl AlertDesk {
    pub fn new(config: AlertingConfig) -> AlertDesk {
        AlertDesk {
            state: DeskState::default(),
            config,
        }
    }

    /// Restores the state saved with [`AlertDesk::snapshot`].
    pub fn restore(config: AlertingConfig, bytes: Option<&[u8]>) -> Result<AlertDesk, StoreError> {
        let state = match bytes {
            None => DeskState::default(),
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                StoreError::Backend(format!("the stored alert state is unreadable: {e}"))
            })?,
        };
        Ok(AlertDesk { state, config })
    }

    /// Installs the configuration's quiet windows, replacing the ones an
    /// earlier start installed (those made by mailcall itself), so a restart
    /// neither loses nor duplicates them. Windows people added stay.
    pub fn install_windows(
        &mut self,
        windows: Vec<crate::alert::QuietWindow>,
    ) -> Result<(), StoreError> {
        let system = crate::domain::Actor::system();
        let old: Vec<u64> = self
            .state
            .silences
            .windows()
            .filter(|(_, w)| w.by == system)
            .map(|(id, _)| id)
            .collect();
        for id in old {
            let _ = self.state.silences.remove(id);
        }
        for window in windows {
            self.state
                .silences
                .add_window(window)
                .map_err(|e| StoreError::Backend(format!("quiet window refused: {e}")))?;
        }
        Ok(())
    }

    /// The state as bytes for the store.
    pub fn snapshot(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&self.state)
            .map_err(|e| StoreError::Backend(format!("cannot encode the alert state: {e}")))
    }

    /// Judges every bucket of every stream of `account` that completed
    /// since the last judgement, and the newest judged one again if a poll
    /// revised it (see the module documentation); then clears the
    /// account's alerts that are no longer seen.
    pub fn after_poll(
        &mut self,
        history: &dyn MetricsHistory,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertEffect>, StoreError> {
        let mut effects = Vec::new();
        let settle = self.config.settle_for(account);
        let mut judged = Vec::new();
        for stream in history.streams_of(account)? {
            let settings = self.config.detector_for(account, &stream).clone();
            // What is due is decided on the last few days; each due bucket
            // then reads only what its detectors look at.
            let recent_from = now - Duration::days(3);
            let recent = history.series(account, &stream, recent_from)?;
            let judged_key = format!("{account}/{stream}");
            for (bucket, revised) in self.due(&judged_key, &stream, &recent, settle, now) {
                let width = recent
                    .iter()
                    .find(|s| s.bucket.start == bucket)
                    .map_or(BucketWidth::Hour, |s| s.bucket.width);
                let upto = detector_input(
                    history,
                    account,
                    &stream,
                    bucket,
                    width,
                    &settings,
                    (&recent, recent_from),
                )?;
                let mut evaluation = evaluate(account, &stream, &upto, &settings);
                if evaluation.bucket_start != Some(bucket) {
                    continue;
                }
                if revised {
                    for finding in &mut evaluation.findings {
                        finding
                            .summary
                            .push_str(" (figures revised by a later poll of this bucket)");
                    }
                }
                let counts = upto
                    .iter()
                    .rev()
                    .find(|s| s.bucket.start == bucket)
                    .map(|s| s.counts.clone())
                    .unwrap_or_default();
                self.state.judged.insert(judged_key.clone(), bucket);
                self.state.judged_counts.insert(judged_key.clone(), counts);
                judged.push((evaluation, revised));
            }
        }
        fold_account_findings_into_streams(&mut judged);
        for (evaluation, revised) in judged {
            let observed = self.state.book.observe(
                &evaluation.findings,
                &evaluation.healthy,
                now,
                &self.config.alerts,
                &self.state.silences,
            );
            for mut effect in observed {
                if let (true, AlertEffect::Recovered { alert }) = (revised, &mut effect) {
                    let why = "the provider revised the counts of its bucket";
                    self.state.book.note_cleared(alert.id, why);
                    alert.cleared_because = Some(why.to_string());
                }
                effects.push(effect);
            }
        }
        effects.extend(
            self.state
                .book
                .expire_unseen(Some(account), now, unseen_clear_after()),
        );
        Ok(effects)
    }

    /// The buckets of one stream to judge now, oldest first, each with
    /// whether it is a revision of a bucket judged before.
    fn due(
        &self,
        judged_key: &str,
        stream: &StreamKey,
        samples: &[Sample],
        settle: Duration,
        now: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, bool)> {
        let mine = || samples.iter().filter(|s| &s.stream == stream);
        let Some(width) = mine()
            .max_by_key(|s| s.bucket.start)
            .map(|s| s.bucket.width)
        else {
            return Vec::new();
        };
        let mut complete: Vec<DateTime<Utc>> = mine()
            .filter(|s| {
                s.bucket.width == width && bucket_end(s.bucket.start, width) + settle <= now
            })
            .map(|s| s.bucket.start)
            .collect();
        complete.sort();
        complete.dedup();
        let Some(last) = self.state.judged.get(judged_key).copied() else {
            return complete
                .last()
                .map(|b| vec![(*b, false)])
                .unwrap_or_default();
        };
        let newer: Vec<(DateTime<Utc>, bool)> = complete
            .iter()
            .filter(|b| **b > last)
            .map(|b| (*b, false))
            .collect();
        if !newer.is_empty() {
            let skip = newer.len().saturating_sub(MAX_CATCH_UP);
            return newer[skip..].to_vec();
        }
        let now_counts = mine()
            .rfind(|s| s.bucket.start == last && s.bucket.width == width)
            .map(|s| &s.counts);
        match (now_counts, self.state.judged_counts.get(judged_key)) {
            (Some(current), Some(before)) if current != before => vec![(last, true)],
            _ => Vec::new(),
        }
    }

    /// A feed going stale opens a `stale-feed` alert; recovering clears it.
    pub fn feed(&mut self, event: &FeedEvent, now: DateTime<Utc>) -> Vec<AlertEffect> {
        let key = |account: &str| AlertKey {
            account: account.to_string(),
            stream: StreamKey::account(),
            metric: Metric::Feed,
            kind: AnomalyKind::StaleFeed,
        };
        match event {
            FeedEvent::Stale {
                account,
                failures,
                last_error,
                last_success,
            } => {
                let finding = Finding {
                    key: key(account),
                    level: Level::Critical,
                    bucket_start: now,
                    value: Some(f64::from(*failures)),
                    baseline: None,
                    threshold: None,
                    volume: None,
                    score: 1.0,
                    recent: Vec::new(),
                    summary: format!(
                        "{account}: {failures} polls failed in a row (last error: {last_error}); last success {}. Its metrics are missing, not zero.",
                        last_success.map(crate::command::render::timestamp).unwrap_or_else(|| "never".into())
                    ),
                };
                self.state.book.observe(
                    &[finding],
                    &[],
                    now,
                    &self.config.alerts,
                    &self.state.silences,
                )
            }
            FeedEvent::Recovered { account } => {
                // A recovered feed is healthy at once: count enough healthy
                // observations to clear it now rather than in K polls.
                let healthy = [key(account)];
                (0..self.config.alerts.buckets_to_clear())
                    .flat_map(|_| {
                        self.state.book.observe(
                            &[],
                            &healthy,
                            now,
                            &self.config.alerts,
                            &self.state.silences,
                        )
                    })
                    .collect()
            }
            FeedEvent::Polled { .. } => Vec::new(),
        }
    }

    /// Time passing: reminders, escalations, silences starting and ending.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<AlertEffect> {
        self.state
            .book
            .tick(now, &self.config.alerts, &self.state.silences)
    }
}

/// One cause, one alert: when a stream of the account is anomalous on a
/// metric in a bucket, the account total moving on the same metric in the
/// same bucket is that stream's trouble seen from further away. The account
/// finding is dropped and its figures are added to the stream's finding
/// (the stream names what to pause; the account adds how far it reaches).
/// An account finding with no stream behind it (several streams drifting
/// together, a stream too small to judge alone) still alerts.
fn fold_account_findings_into_streams(judged: &mut [(Evaluation, bool)]) {
    let account = StreamKey::account();
    let mut folded: Vec<(Metric, DateTime<Utc>, String)> = Vec::new();
    for (evaluation, _) in judged.iter() {
        for finding in &evaluation.findings {
            if finding.key.stream != account {
                continue;
            }
            let explained = judged.iter().any(|(other, _)| {
                other.findings.iter().any(|f| {
                    f.key.stream != account
                        && f.key.metric == finding.key.metric
                        && f.bucket_start == finding.bucket_start
                })
            });
            if explained {
                folded.push((
                    finding.key.metric,
                    finding.bucket_start,
                    finding.summary.clone(),
                ));
            }
        }
    }
    if folded.is_empty() {
        return;
    }
    for (evaluation, _) in judged.iter_mut() {
        evaluation.findings.retain(|finding| {
            finding.key.stream != account
                || !folded.iter().any(|(metric, at, _)| {
                    *metric == finding.key.metric && *at == finding.bucket_start
                })
        });
        for finding in &mut evaluation.findings {
            if finding.key.stream == account {
                continue;
            }
            let mut seen = Vec::new();
            for (metric, at, summary) in &folded {
                if *metric == finding.key.metric
                    && *at == finding.bucket_start
                    && !seen.contains(&summary)
                {
                    seen.push(summary);
                    finding
                        .summary
                        .push_str(&format!("; the account total moves with it: {summary}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DurationRound, TimeZone};

    use super::replay::HistoryAsOf;
    use super::*;
    use crate::alert::AlertView;
    use crate::esp::sandbox::{self, Event, EventKind, Scenario};

    /// The desk's history: in memory, seen from the far future (the desk
    /// decides what is complete from the `now` it is given).
    fn history() -> HistoryAsOf {
        HistoryAsOf::new(Vec::new(), DateTime::<Utc>::MAX_UTC)
    }

    fn put(history: &HistoryAsOf, samples: Vec<Sample>) {
        history.put(
            samples
                .into_iter()
                .map(|s| (ACCOUNT.to_string(), s))
                .collect(),
        );
    }

    const ACCOUNT: &str = "acct";

    fn welcome_only(mut scenario: Scenario) -> Scenario {
        scenario.streams.retain(|s| s.key.as_str() == "tag:welcome");
        scenario
    }

    /// A Tuesday 14:00 UTC, when the welcome series is busy.
    fn afternoon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 17, 14, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn desk() -> AlertDesk {
        let mut config = AlertingConfig::default();
        config.settle.insert(ACCOUNT.into(), Duration::zero());
        AlertDesk::new(config)
    }

    /// Five weeks of the scenario up to `now`, polled at `now`.
    fn polled(scenario: &Scenario, now: DateTime<Utc>) -> HistoryAsOf {
        let history = history();
        let start = now - Duration::weeks(5);
        put(
            &history,
            sandbox::poll(ACCOUNT, scenario, start, now, now, None),
        );
        history
    }

    fn opened(effects: &[AlertEffect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                AlertEffect::Open { alert } => Some(format!(
                    "{} {}: {}",
                    alert.key.metric, alert.key.kind, alert.finding.summary
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_account_total_moved_by_one_stream_joins_that_streams_alert() {
        use crate::esp::account::StreamSelection;
        let now = afternoon();
        let mut scenario = Scenario::steady();
        scenario.events = vec![Event {
            stream: StreamKey::tag("welcome"),
            start: now - Duration::hours(2),
            end: None,
            kind: EventKind::BounceSpike {
                hard_bounce_rate: 0.12,
            },
        }];
        let polled_as = |selection: &StreamSelection| {
            let history = history();
            let samples = sandbox::poll_selection(
                ACCOUNT,
                &scenario,
                now - Duration::weeks(5),
                now,
                now,
                selection,
            );
            put(&history, samples);
            let effects = desk()
                .after_poll(&history, ACCOUNT, now)
                .unwrap_or_else(|e| panic!("{e}"));
            effects
                .iter()
                .filter_map(|e| match e {
                    AlertEffect::Open { alert } if alert.key.metric == Metric::Bounce => {
                        Some((alert.key.stream.to_string(), alert.finding.summary.clone()))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        };

        let everything = polled_as(&StreamSelection::AllDiscovered);
        assert_eq!(everything.len(), 1, "{everything:?}");
        assert_eq!(everything[0].0, "tag:welcome");
        assert!(
            everything[0]
                .1
                .contains("the account total moves with it: bounces"),
            "{}",
            everything[0].1
        );

        // With no stream to explain it, the account total alerts alone.
        let account_only = polled_as(&StreamSelection::Account);
        assert_eq!(account_only.len(), 1, "{account_only:?}");
        assert_eq!(account_only[0].0, "account");
        assert!(!account_only[0].1.contains("moves with it"));
    }

    #[test]
    fn a_bucket_polled_minutes_in_is_not_judged_as_a_drop() {
        let scenario = welcome_only(Scenario::steady());
        let now = afternoon() + Duration::minutes(5);
        let history = polled(&scenario, now);
        let mut desk = desk();
        let effects = desk
            .after_poll(&history, ACCOUNT, now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(opened(&effects).is_empty(), "{:?}", opened(&effects));
        assert_eq!(
            desk.state.judged.get("acct/tag:welcome").copied(),
            Some(afternoon() - Duration::hours(1)),
            "the last complete hour was judged, not the one five minutes old"
        );
    }

    #[test]
    fn a_bucket_is_judged_only_once_its_settle_delay_has_passed() {
        let scenario = welcome_only(Scenario::steady());
        let now = afternoon() + Duration::minutes(10);
        let history = polled(&scenario, now);
        let mut config = AlertingConfig::default();
        config.settle.insert(ACCOUNT.into(), Duration::minutes(20));
        let mut desk = AlertDesk::new(config);
        let _ = desk.after_poll(&history, ACCOUNT, now);
        assert_eq!(
            desk.state.judged.get("acct/tag:welcome").copied(),
            Some(afternoon() - Duration::hours(2)),
            "13:00 ended ten minutes ago and is still settling"
        );
        let _ = desk.after_poll(&history, ACCOUNT, afternoon() + Duration::minutes(20));
        assert_eq!(
            desk.state.judged.get("acct/tag:welcome").copied(),
            Some(afternoon() - Duration::hours(1))
        );
    }

    #[test]
    fn every_newly_complete_bucket_is_judged_in_order_and_a_revision_is_judged_again() {
        let mut scenario = welcome_only(Scenario::steady());
        let history = polled(&scenario, afternoon());
        let mut desk = desk();
        let first = desk
            .after_poll(&history, ACCOUNT, afternoon())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(opened(&first).is_empty(), "{:?}", opened(&first));

        // Two hours pass; both are judged. Then the provider revises the
        // newest one: late bounces arrive for it.
        let later = afternoon() + Duration::hours(2);
        put(
            &history,
            sandbox::poll(ACCOUNT, &scenario, afternoon(), later, later, None),
        );
        let _ = desk.after_poll(&history, ACCOUNT, later);
        assert_eq!(
            desk.state.judged.get("acct/tag:welcome").copied(),
            Some(later - Duration::hours(1))
        );
        scenario.events.push(Event {
            stream: StreamKey::tag("welcome"),
            start: later - Duration::hours(1),
            end: Some(later),
            kind: EventKind::BounceSpike {
                hard_bounce_rate: 0.12,
            },
        });
        let revised_at = later + Duration::minutes(10);
        put(
            &history,
            sandbox::poll(
                ACCOUNT,
                &scenario,
                later - Duration::hours(1),
                later,
                revised_at,
                None,
            ),
        );
        let revision = desk
            .after_poll(&history, ACCOUNT, revised_at)
            .unwrap_or_else(|e| panic!("{e}"));
        let raised = opened(&revision);
        assert!(
            raised
                .iter()
                .any(|a| a.starts_with("bounce") && a.contains("revised by a later poll")),
            "{raised:?}"
        );
        // Polled again unchanged: nothing new.
        let again = desk
            .after_poll(&history, ACCOUNT, revised_at + Duration::minutes(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(opened(&again).is_empty(), "{:?}", opened(&again));
    }

    #[test]
    fn an_alert_no_longer_seen_clears_and_the_same_key_can_fire_again() {
        let now = afternoon();
        let mut scenario = welcome_only(Scenario::steady());
        scenario.events.push(Event {
            stream: StreamKey::tag("welcome"),
            start: now - Duration::hours(1),
            end: Some(now),
            kind: EventKind::BounceSpike {
                hard_bounce_rate: 0.12,
            },
        });
        let history = polled(&scenario, now);
        let mut desk = desk();
        let effects = desk
            .after_poll(&history, ACCOUNT, now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            opened(&effects).iter().any(|a| a.starts_with("bounce")),
            "{:?}",
            opened(&effects)
        );
        // The stream then reports nothing for four days.
        let quiet = now + Duration::days(4);
        let effects = desk
            .after_poll(&history, ACCOUNT, quiet)
            .unwrap_or_else(|e| panic!("{e}"));
        let cleared: Vec<&AlertView> = effects
            .iter()
            .filter_map(|e| match e {
                AlertEffect::Recovered { alert } => Some(alert),
                _ => None,
            })
            .collect();
        assert!(!cleared.is_empty(), "{effects:?}");
        assert!(cleared.iter().all(|a| a
            .cleared_because
            .as_deref()
            .is_some_and(|w| w.contains("no longer seen"))));
        assert!(desk.state.book.active().is_empty(), "nothing stays open");

        // A new spike on the same stream opens a new alert.
        let back = quiet.duration_trunc(Duration::hours(1)).unwrap_or(quiet);
        scenario.events.push(Event {
            stream: StreamKey::tag("welcome"),
            start: back - Duration::hours(1),
            end: Some(back),
            kind: EventKind::BounceSpike {
                hard_bounce_rate: 0.12,
            },
        });
        put(
            &history,
            sandbox::poll(
                ACCOUNT,
                &scenario,
                back - Duration::weeks(5),
                back,
                back,
                None,
            ),
        );
        let effects = desk
            .after_poll(&history, ACCOUNT, back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            opened(&effects).iter().any(|a| a.starts_with("bounce")),
            "{:?}",
            opened(&effects)
        );
    }
}
