//! Replay (backtest): the live alert path over stored history.
//!
//! Teams check thresholds before trusting them, and the tests score
//! detection, by asking one question: "had mailcall been polling all along,
//! which alerts would it have posted, when, and when would they have
//! cleared?" [`replay`] answers it with the very code the bot runs, not a
//! copy: an [`AlertDesk`] with the configured detectors, settle delays,
//! quiet windows and silences is fed the history hour by hour, as hourly
//! polls would have fed it ([`AlertDesk::after_poll`] then
//! [`AlertDesk::tick`] at each poll instant), and every `Open`, `Update` and
//! `Recovered` it emits is collected per alert.
//!
//! At a poll instant the desk sees every stored bucket that had started by
//! then. The store keeps each bucket's final counts only, so a replay
//! cannot show what a poll saw of a bucket still filling or later revised;
//! the desk never judges an incomplete bucket anyway, and revisions are
//! judged live only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use super::{AlertDesk, AlertingConfig};
use crate::alert::{AlertEffect, AlertView, QuietWindow, Silences};
use crate::delivery::{Sample, StreamKey};
use crate::detect::Level;
use crate::store::{MetricsHistory, PollState, StoreError};

/// What to replay.
#[derive(Clone, Debug)]
pub struct ReplayRange {
    /// The first poll instant (rounded up to the hour).
    pub since: DateTime<Utc>,
    /// The last poll instant.
    pub until: DateTime<Utc>,
}

/// One alert the replay would have posted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayedAlert {
    pub account: String,
    pub stream: String,
    pub metric: String,
    pub kind: String,
    /// The highest level it reached.
    pub level: Level,
    /// The poll at which it was first posted.
    #[serde(serialize_with = "rfc3339")]
    pub raised_at: DateTime<Utc>,
    /// The poll at which it cleared; `None` if still open at the end.
    #[serde(serialize_with = "rfc3339_opt")]
    pub cleared_at: Option<DateTime<Utc>>,
    /// The bucket that raised it.
    #[serde(serialize_with = "rfc3339")]
    pub bucket_start: DateTime<Utc>,
    /// The first finding's figures.
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub threshold: Option<f64>,
    pub volume: Option<u64>,
    pub summary: String,
    /// How many times its post would have been edited.
    pub updates: u32,
    /// Why it cleared, when not by healthy buckets.
    pub cleared_because: Option<String>,
}

fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

fn rfc3339_opt<S: serde::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&at.to_rfc3339()),
        None => s.serialize_none(),
    }
}

impl ReplayedAlert {
    fn opened(alert: &AlertView, at: DateTime<Utc>) -> ReplayedAlert {
        let finding = &alert.finding;
        ReplayedAlert {
            account: alert.key.account.clone(),
            stream: alert.key.stream.to_string(),
            metric: alert.key.metric.to_string(),
            kind: alert.key.kind.to_string(),
            level: alert.level,
            raised_at: at,
            cleared_at: None,
            bucket_start: finding.bucket_start,
            value: finding.value,
            baseline: finding.baseline,
            threshold: finding.threshold,
            volume: finding.volume,
            summary: finding.summary.clone(),
            updates: 0,
            cleared_because: None,
        }
    }
}

/// Samples in memory, shown to the desk as a poll at `now` would have seen
/// them: the history a replay walks through, and the desk's tests use.
pub(crate) struct HistoryAsOf {
    samples: Mutex<BTreeMap<(String, StreamKey), Vec<Sample>>>,
    now: Mutex<DateTime<Utc>>,
}

impl HistoryAsOf {
    /// `samples` per account (any order), seen as of `now`.
    pub(crate) fn new(samples: Vec<(String, Sample)>, now: DateTime<Utc>) -> HistoryAsOf {
        let history = HistoryAsOf {
            samples: Mutex::new(BTreeMap::new()),
            now: Mutex::new(now),
        };
        history.put(samples);
        history
    }

    /// Upserts samples by (account, stream, bucket), as a poll would.
    pub(crate) fn put(&self, samples: Vec<(String, Sample)>) {
        let mut all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        for (account, sample) in samples {
            let list = all.entry((account, sample.stream.clone())).or_default();
            match list.binary_search_by_key(&sample.bucket.start, |s| s.bucket.start) {
                Ok(at) => list[at] = sample,
                Err(at) => list.insert(at, sample),
            }
        }
    }

    /// Moves the instant the history is seen at.
    pub(crate) fn set_now(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn accounts(&self) -> Vec<String> {
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = all.keys().map(|(a, _)| a.clone()).collect();
        names.dedup();
        names
    }
}

impl MetricsHistory for HistoryAsOf {
    fn record_poll(&self, _: &str, _: &[Sample], _: &PollState) -> Result<(), StoreError> {
        Err(StoreError::Backend("a replay never writes history".into()))
    }
    fn record_state(&self, _: &str, _: &PollState) -> Result<(), StoreError> {
        Err(StoreError::Backend("a replay never writes history".into()))
    }
    fn poll_state(&self, _: &str) -> Result<Option<PollState>, StoreError> {
        Ok(None)
    }
    fn series(
        &self,
        account: &str,
        stream: &StreamKey,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        let now = self.now();
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all
            .get(&(account.to_string(), stream.clone()))
            .map(|samples| {
                samples
                    .iter()
                    .filter(|s| s.bucket.start >= since && s.bucket.start < now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
    fn streams(&self) -> Result<Vec<(String, StreamKey)>, StoreError> {
        let now = self.now();
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all
            .iter()
            .filter(|(_, samples)| samples.first().is_some_and(|s| s.bucket.start < now))
            .map(|(key, _)| key.clone())
            .collect())
    }
}

/// Replays `samples` (per account and stream, any order) through a fresh
/// desk built from `config`, `quiet` windows and `silences`, polling every
/// account hourly from `range.since` to `range.until`.
pub fn replay(
    samples: Vec<(String, Sample)>,
    config: AlertingConfig,
    quiet: Vec<QuietWindow>,
    silences: Option<Silences>,
    range: &ReplayRange,
) -> Result<Vec<ReplayedAlert>, StoreError> {
    let history = HistoryAsOf::new(samples, range.since);
    let accounts = history.accounts();
    let mut desk = AlertDesk::new(config);
    if let Some(silences) = silences {
        desk.state.silences = silences;
    }
    desk.install_windows(quiet)?;

    let hour = Duration::hours(1);
    let first = range.since.duration_trunc(hour).unwrap_or(range.since);
    let mut at = if first < range.since {
        first + hour
    } else {
        first
    };
    let mut alerts: BTreeMap<u64, ReplayedAlert> = BTreeMap::new();
    while at <= range.until {
        history.set_now(at);
        let mut effects = Vec::new();
        for account in &accounts {
            effects.extend(desk.after_poll(&history, account, at)?);
        }
        effects.extend(desk.tick(at));
        for effect in effects {
            match effect {
                AlertEffect::Open { alert } => {
                    alerts.insert(alert.id, ReplayedAlert::opened(&alert, at));
                }
                AlertEffect::Update { alert } => {
                    if let Some(replayed) = alerts.get_mut(&alert.id) {
                        replayed.updates += 1;
                        replayed.level = replayed.level.max(alert.level);
                    }
                }
                AlertEffect::Recovered { alert } => {
                    if let Some(replayed) = alerts.get_mut(&alert.id) {
                        replayed.cleared_at = Some(at);
                        replayed.cleared_because = alert.cleared_because.clone();
                    }
                }
                _ => {}
            }
        }
        at += hour;
    }
    Ok(alerts.into_values().collect())
}

/// The replayed alerts as a table for people.
pub fn table(alerts: &[ReplayedAlert]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<20} {:<24} {:<12} {:<20} {:<8} {:<17} {:<17} summary\n",
        "account", "stream", "metric", "kind", "level", "raised at", "cleared at"
    ));
    let when = |at: &DateTime<Utc>| at.format("%Y-%m-%d %H:%M").to_string();
    for alert in alerts {
        out.push_str(&format!(
            "{:<20} {:<24} {:<12} {:<20} {:<8} {:<17} {:<17} {}\n",
            alert.account,
            alert.stream,
            alert.metric,
            alert.kind,
            level_name(alert.level),
            when(&alert.raised_at),
            alert
                .cleared_at
                .as_ref()
                .map(when)
                .unwrap_or_else(|| "(open)".into()),
            alert.summary
        ));
    }
    out.push_str(&format!("{} alert(s)\n", alerts.len()));
    out
}

/// The replayed alerts as CSV (RFC 3339 times; empty cells for unknowns).
pub fn csv(alerts: &[ReplayedAlert]) -> String {
    let mut out = String::from(
        "account,stream,metric,kind,level,raised_at,cleared_at,bucket_start,value,baseline,threshold,volume,summary\n",
    );
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    for alert in alerts {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            quote(&alert.account),
            quote(&alert.stream),
            alert.metric,
            alert.kind,
            level_name(alert.level),
            alert.raised_at.to_rfc3339(),
            alert.cleared_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            alert.bucket_start.to_rfc3339(),
            num(alert.value),
            num(alert.baseline),
            num(alert.threshold),
            alert.volume.map(|v| v.to_string()).unwrap_or_default(),
            quote(&alert.summary),
        ));
    }
    out
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Warning => "warning",
        Level::Critical => "critical",
    }
}
