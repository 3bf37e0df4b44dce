//! The alert ledger: one small row per alert raised, kept for the weekly
//! summary after the alert book has let the alert go.
//!
//! The alert book keeps active alerts and the latest cleared ones, which is
//! what posts and buttons need; a busy week can clear more than it keeps.
//! The summary needs every alert of the week and the one before: when it
//! was raised, whether anyone acknowledged, snoozed or silenced it, whether
//! it was a false alarm, and how long detection took. The engine updates
//! the ledger from each alert post in the change that makes the post.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{AlertSection, Spread};
use crate::alert::AlertView;

/// How long rows are kept: the summary reads two weeks; a missed summary
/// posted late needs a few more.
pub const KEEP: Duration = Duration::weeks(8);

/// What the summary needs to know of one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    pub raised_at: DateTime<Utc>,
    /// From the start of the bucket that showed the trouble to the alert.
    pub detection_delay_seconds: i64,
    #[serde(default)]
    pub acknowledged: bool,
    #[serde(default)]
    pub snoozed: bool,
    #[serde(default)]
    pub silenced: bool,
    #[serde(default)]
    pub false_alarm: bool,
    /// The incident opened from it (`INC-7`): an incident resolved as a
    /// false alarm makes its alerts false alarms too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// Every alert raised in the last [`KEEP`], by alert id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLedger {
    pub rows: BTreeMap<u64, AlertRow>,
}

impl AlertLedger {
    /// Records what `alert` shows now; the first sight of it is its raising.
    /// Acknowledged, snoozed and silenced stay set once seen.
    pub fn observe(&mut self, alert: &AlertView) {
        let row = self.rows.entry(alert.id).or_insert_with(|| AlertRow {
            raised_at: alert.opened_at,
            detection_delay_seconds: (alert.opened_at - alert.finding.bucket_start)
                .num_seconds()
                .max(0),
            acknowledged: false,
            snoozed: false,
            silenced: false,
            false_alarm: false,
            incident: None,
        });
        if alert.incident.is_some() {
            row.incident.clone_from(&alert.incident);
        }
        row.acknowledged |= alert.acknowledged.is_some();
        row.snoozed |= alert.snoozed_until.is_some();
        row.silenced |= alert.silenced;
    }

    /// Marks an alert a false alarm (its incident closed as one, or someone
    /// said so). Unknown ids are ignored: the alert is older than the ledger.
    pub fn false_alarm(&mut self, id: u64) -> bool {
        match self.rows.get_mut(&id) {
            Some(row) => {
                row.false_alarm = true;
                true
            }
            None => false,
        }
    }

    /// Drops rows raised before `now - KEEP`.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.rows.retain(|_, row| row.raised_at >= now - KEEP);
    }

    /// The alerts raised in `[from, to)`; those whose incident is among
    /// `false_incidents` count as false alarms.
    pub fn section(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        false_incidents: &std::collections::BTreeSet<String>,
    ) -> AlertSection {
        let week: Vec<&AlertRow> = self
            .rows
            .values()
            .filter(|row| row.raised_at >= from && row.raised_at < to)
            .collect();
        let count = |pick: fn(&AlertRow) -> bool| week.iter().filter(|r| pick(r)).count();
        AlertSection {
            fired: week.len(),
            acknowledged: count(|r| r.acknowledged),
            snoozed: count(|r| r.snoozed),
            silenced: count(|r| r.silenced),
            false_alarms: week
                .iter()
                .filter(|r| {
                    r.false_alarm
                        || r.incident
                            .as_ref()
                            .is_some_and(|i| false_incidents.contains(i))
                })
                .count(),
            detection_delay: Spread::of(week.iter().map(|r| r.detection_delay_seconds).collect()),
        }
    }
}
