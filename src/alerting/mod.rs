//! Alerting, assembled: detection after every poll, the alert book and the
//! silences, kept together and persisted as one record.
//!
//! The pure parts live elsewhere ([`crate::detect`] judges a stream,
//! [`crate::alert`] decides what to post); this desk feeds one into the
//! other with the rules that need memory:
//!
//! - **Each bucket is judged once.** Every poll re-fetches the trailing
//!   window, so the newest bucket is often the same as last time; the desk
//!   remembers the newest bucket it fed per stream and skips a repeat (the
//!   book counts healthy buckets, and a bucket counted twice would clear an
//!   alert too early).
//! - **Stale feeds become alerts** (`stale-feed` kind, routed to
//!   development by default), and clear when the feed recovers.
//! - **Per-stream detector settings**: SES streams get SES's review levels.

pub mod render;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{AlertBook, AlertEffect, AlertSettings, Silences};
use crate::detect::{evaluate, AlertKey, AnomalyKind, DetectorSettings, Finding, Level, Metric};
use crate::metrics::StreamKey;
use crate::poll::FeedEvent;
use crate::store::{MetricsHistory, StoreError};

/// The store record the desk is kept in.
pub const RECORD: &str = "alerts:desk";

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
}

/// The persistent part of the desk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeskState {
    pub book: AlertBook,
    pub silences: Silences,
    /// The newest bucket fed to the book, per "account/stream".
    judged: BTreeMap<String, DateTime<Utc>>,
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

    /// Judges the newest bucket of every stream of `account` not judged yet.
    pub fn after_poll(
        &mut self,
        history: &dyn MetricsHistory,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertEffect>, StoreError> {
        let mut effects = Vec::new();
        for stream in history.streams_of(account)? {
            let settings = self.config.detector_for(account, &stream).clone();
            let since = now - Duration::weeks(settings.baseline_weeks as i64 + 1);
            let samples = history.series(account, &stream, since)?;
            let evaluation = evaluate(account, &stream, &samples, &settings);
            let Some(bucket) = evaluation.bucket_start else {
                continue;
            };
            let judged_key = format!("{account}/{stream}");
            if self
                .state
                .judged
                .get(&judged_key)
                .is_some_and(|seen| *seen >= bucket)
            {
                continue;
            }
            self.state.judged.insert(judged_key, bucket);
            effects.extend(self.state.book.observe(
                &evaluation.findings,
                &evaluation.healthy,
                now,
                &self.config.alerts,
                &self.state.silences,
            ));
        }
        Ok(effects)
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
