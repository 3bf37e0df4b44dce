//! The alert book: every alert's lifecycle as a pure state machine.
//!
//! ```text
//!             finding (not silenced)             K healthy buckets in a row
//!   (none) ───────────────────────────► open ───────────────────────────► cleared
//!      │                                 ▲ │ ▲                               (a new finding
//!      │ finding (silenced)              │ │ │ finding: edit the post         opens a new
//!      ▼                                 │ └─┘ (streak back to 0)             alert, new id)
//!   unposted ────────────────────────────┘
//!             silence over (tick) or finding once unsilenced
//! ```
//!
//! Detection yields, per stream and bucket, findings (anomalous keys) and
//! healthy keys. Everything else was *not judged* (missing data, too little
//! volume) and must not move an alert either way, or a provider outage would
//! clear real alerts and open "volume dropped" ones. [`AlertBook::observe`]
//! applies one such evaluation; [`AlertBook::tick`] applies time passing
//! (reminders, escalation, snooze expiry, silence announcements). Neither
//! reads a clock or does I/O: both return [`AlertEffect`]s, which the front
//! end turns into Discord posts and edits, and the caller persists the book
//! (one serde record) after each call.
//!
//! # Rules, including the ones the brief left open
//!
//! - **One alert per key** (account, stream, metric, kind) at a time. While
//!   it is active, new figures are an [`AlertEffect::Update`] (an edit),
//!   never a second [`AlertEffect::Open`]. A finding identical to the last
//!   one (the same bucket read twice) updates nothing.
//! - **Several findings for one key in one evaluation**: the most severe
//!   wins, the later one on a tie. A key both found and healthy in one
//!   evaluation counts as found.
//! - **Flap suppression**: an alert clears after `clear_after` consecutive
//!   healthy buckets; any finding in between restarts the count.
//! - **Recovery**: a cleared alert that was posted gets
//!   [`AlertEffect::Recovered`], even while snoozed or silenced (the post
//!   should not keep showing a problem that is gone). One that was never
//!   posted (silenced all along) clears without a word.
//! - **Attention periods**: reminders and escalation count from the start of
//!   the current attention period, which begins when the alert is posted and
//!   begins again when a snooze expires (from the snooze's end), when a
//!   silence over a posted alert ends (from that tick), and when the level
//!   rises (warning → critical, from that finding). Each period has at most
//!   one [`AlertEffect::Remind`] and one [`AlertEffect::Escalate`]; delays
//!   are those of the alert's current level. A level *drop* does not restart
//!   the period.
//! - **Acknowledgement** stops reminders and escalation for good, and is
//!   kept when the level rises (somebody is on it; the edit shows the new
//!   level). It does not stop edits or the recovery notice.
//! - **Snooze** suppresses reminders, escalation and edits until it ends;
//!   the edits are caught up by one `Update` when it ends (the post also
//!   shows the snooze, so it needs the edit anyway). A level rise cancels
//!   the snooze and is posted at once. Snoozes last at most 7 days.
//! - **Silence**: findings keep the alert's state current but post nothing
//!   and nothing is chased. When the silence is over, the next `tick` (or
//!   finding) posts what is owed: `Open` if the alert was never posted,
//!   `Update` if its figures moved.
//! - **Routing** is decided when the alert is first posted (so an alert born
//!   silenced is routed by the settings in force when it surfaces) and kept:
//!   the posts live in those teams' channels and are edited there.
//! - **Commands** ([`AlertBook::acknowledge`], [`AlertBook::snooze`],
//!   [`AlertBook::link_incident`]) return the new [`AlertView`]; the front
//!   end edits the posts from it, so they return no effects.
//! - **Ids** start at 1 and are contiguous. The book keeps the latest
//!   [`MAX_CLEARED`] cleared alerts (for `get`, and to link incidents after
//!   recovery); an older id is still known to have cleared.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::{AlertKey, Finding, Level};
use crate::domain::{Actor, Team};

use super::time::{has_elapsed, plus, MAX_SNOOZE};
use super::{AlertSettings, Silence, Silences};

/// How many cleared alerts the book keeps. Every change rewrites the whole
/// record, so it must not grow without bound.
pub const MAX_CLEARED: usize = 200;

/// An alert as the front end shows it, and as commands return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// Stable and contiguous within the book, from 1; used in button ids
    /// such as `alert:ack:17`.
    pub id: u64,
    /// What the alert is about.
    pub key: AlertKey,
    /// How bad it is now (the latest finding's level).
    pub level: Level,
    /// The latest figures.
    pub finding: Finding,
    /// The teams whose channels it is posted in (see the module docs).
    pub teams: Vec<Team>,
    /// The first finding.
    pub opened_at: DateTime<Utc>,
    /// The latest finding that changed the figures.
    pub updated_at: DateTime<Utc>,
    /// When, and by whom.
    pub acknowledged: Option<(DateTime<Utc>, Actor)>,
    /// No reminders, escalation or edits until then.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Who snoozed it, while it is snoozed.
    pub snoozed_by: Option<Actor>,
    /// The incident opened from it, such as `INC-7`.
    pub incident: Option<String>,
    /// A silence or quiet window covers it (as of the last observe or tick).
    pub silenced: bool,
    /// That silence's reason.
    pub silence_reason: Option<String>,
    /// An [`AlertEffect::Open`] was emitted for it, so posts exist to edit.
    pub posted: bool,
    /// Consecutive healthy buckets so far.
    pub healthy_streak: u32,
    /// The latest reminder.
    pub reminded_at: Option<DateTime<Utc>>,
    /// The latest escalation to incident-admin.
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it cleared; `None` while active.
    pub cleared_at: Option<DateTime<Utc>>,
    /// Why it cleared, when it was not the usual healthy buckets in a row
    /// (revised counts, or nothing judged for a long time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_because: Option<String>,
    /// Who was on duty for each team when the alert was raised, mentioned
    /// beside the team role. Filled by the engine from its roster (the
    /// book itself knows no rotations); empty where no rotation applies.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub on_duty: std::collections::BTreeMap<Team, Actor>,
    /// Mention the member on duty instead of the team role where there is
    /// one (`[alerts] mention = "on-duty"`); set by the engine like
    /// `on_duty`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_duty_only: bool,
}

impl AlertView {
    /// Not cleared yet.
    pub fn is_active(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// What the front end must post.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum AlertEffect {
    /// A new alert: post it in each owning team's channel, mentioning the
    /// team role, with buttons.
    Open { alert: AlertView },
    /// The same alert with new figures (or no longer snoozed): edit the
    /// existing posts, never post again.
    Update { alert: AlertView },
    /// Cleared: edit the posts and add a short recovery notice.
    Recovered { alert: AlertView },
    /// Unacknowledged for `remind_after`: mention the team role again.
    Remind { alert: AlertView },
    /// Unacknowledged for `escalate_after`: mention incident-admin.
    Escalate { alert: AlertView },
    /// A silence or quiet-window occurrence has begun.
    SilenceStarted { silence: Silence },
    /// It is over (or was removed: then `end` is when that was noticed).
    SilenceEnded { silence: Silence },
}

impl AlertEffect {
    /// The variant's name, for logs and tests: `"Open"`, `"Update"`, …
    pub fn name(&self) -> &'static str {
        match self {
            AlertEffect::Open { .. } => "Open",
            AlertEffect::Update { .. } => "Update",
            AlertEffect::Recovered { .. } => "Recovered",
            AlertEffect::Remind { .. } => "Remind",
            AlertEffect::Escalate { .. } => "Escalate",
            AlertEffect::SilenceStarted { .. } => "SilenceStarted",
            AlertEffect::SilenceEnded { .. } => "SilenceEnded",
        }
    }

    /// The alert it is about, unless it is a silence announcement.
    pub fn alert(&self) -> Option<&AlertView> {
        match self {
            AlertEffect::Open { alert }
            | AlertEffect::Update { alert }
            | AlertEffect::Recovered { alert }
            | AlertEffect::Remind { alert }
            | AlertEffect::Escalate { alert } => Some(alert),
            AlertEffect::SilenceStarted { .. } | AlertEffect::SilenceEnded { .. } => None,
        }
    }
}

/// Why a command on an alert was refused. Each message is a sentence for
/// the person who clicked or typed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// No alert ever had this id.
    #[error("there is no alert #{0}")]
    Unknown(u64),
    /// The alert is over; nothing left to acknowledge or snooze.
    #[error("alert #{0} has already cleared")]
    Cleared(u64),
    /// Somebody was quicker.
    #[error("alert #{id} was already acknowledged by {by}")]
    AlreadyAcknowledged {
        /// The alert.
        id: u64,
        /// Who acknowledged it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The snooze would end now or in the past.
    #[error("a snooze must end in the future; alert #{id} was left as it was")]
    SnoozeNotInFuture {
        /// The alert.
        id: u64,
    },
    /// Longer than [`MAX_SNOOZE`].
    #[error(
        "alert #{id} can be snoozed for at most 7 days; acknowledge it, or silence it for longer"
    )]
    SnoozeTooLong {
        /// The alert.
        id: u64,
    },
    /// No incident id was given.
    #[error("say which incident to link alert #{id} to, such as INC-7")]
    NoIncident {
        /// The alert.
        id: u64,
    },
    /// Already linked to another incident.
    #[error("alert #{id} is already linked to {incident}")]
    AlreadyLinked {
        /// The alert.
        id: u64,
        /// The incident it is linked to.
        incident: String,
    },
}

/// One alert with the bookkeeping the view does not show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Alert {
    view: AlertView,
    /// Start of the current attention period; `None` until posted.
    attention_since: Option<DateTime<Utc>>,
    /// A reminder was sent in the current attention period.
    reminded: bool,
    /// An escalation was sent in the current attention period.
    escalated: bool,
    /// The posts do not show the latest state yet.
    stale: bool,
}

impl Alert {
    fn new(id: u64, finding: &Finding, now: DateTime<Utc>, settings: &AlertSettings) -> Alert {
        Alert {
            view: AlertView {
                id,
                key: finding.key.clone(),
                level: finding.level,
                finding: finding.clone(),
                teams: settings.routing.teams_for(&finding.key),
                opened_at: now,
                updated_at: now,
                acknowledged: None,
                snoozed_until: None,
                snoozed_by: None,
                incident: None,
                silenced: false,
                silence_reason: None,
                posted: false,
                healthy_streak: 0,
                reminded_at: None,
                escalated_at: None,
                cleared_at: None,
                cleared_because: None,
                on_duty: std::collections::BTreeMap::new(),
                on_duty_only: false,
            },
            attention_since: None,
            reminded: false,
            escalated: false,
            stale: false,
        }
    }

    fn snoozed(&self, now: DateTime<Utc>) -> bool {
        self.view.snoozed_until.is_some_and(|until| until > now)
    }

    /// A new attention period from `from`, if people have been told at all.
    fn restart_attention(&mut self, from: DateTime<Utc>) {
        if self.view.posted {
            self.attention_since = Some(from);
            self.reminded = false;
            self.escalated = false;
        }
    }

    /// Brings the time-dependent state up to `now`: snooze expiry and
    /// whether a silence covers the alert.
    fn settle(&mut self, now: DateTime<Utc>, silence: Option<&str>) {
        if let Some(until) = self.view.snoozed_until.filter(|until| *until <= now) {
            self.view.snoozed_until = None;
            self.view.snoozed_by = None;
            self.restart_attention(until);
            self.stale = true;
        }
        let was_silenced = self.view.silenced;
        self.view.silenced = silence.is_some();
        self.view.silence_reason = silence.map(str::to_string);
        if was_silenced && silence.is_none() {
            self.restart_attention(now);
        }
    }

    /// Takes in a finding for this alert's key.
    fn record(&mut self, finding: &Finding, now: DateTime<Utc>) {
        self.view.healthy_streak = 0;
        if *finding == self.view.finding {
            return;
        }
        let rose = finding.level > self.view.level;
        self.view.level = finding.level;
        self.view.finding = finding.clone();
        self.view.updated_at = now;
        self.stale = true;
        if rose {
            self.view.snoozed_until = None;
            self.view.snoozed_by = None;
            self.restart_attention(now);
        }
    }

    /// The post the alert is owed, if it may be posted now.
    fn flush(&mut self, now: DateTime<Utc>, settings: &AlertSettings) -> Option<AlertEffect> {
        if self.view.silenced {
            return None;
        }
        if !self.view.posted {
            self.view.posted = true;
            self.view.teams = settings.routing.teams_for(&self.view.key);
            self.stale = false;
            self.restart_attention(now);
            return Some(AlertEffect::Open {
                alert: self.view.clone(),
            });
        }
        if self.stale && !self.snoozed(now) {
            self.stale = false;
            return Some(AlertEffect::Update {
                alert: self.view.clone(),
            });
        }
        None
    }

    /// The reminder and escalation that are due.
    fn chase(&mut self, now: DateTime<Utc>, settings: &AlertSettings) -> Vec<AlertEffect> {
        let mut effects = Vec::new();
        let Some(since) = self.attention_since else {
            return effects;
        };
        if self.view.silenced || self.view.acknowledged.is_some() || self.snoozed(now) {
            return effects;
        }
        let due = |delays: &BTreeMap<Level, std::time::Duration>| {
            delays
                .get(&self.view.level)
                .is_some_and(|delay| has_elapsed(since, now, *delay))
        };
        let remind = !self.reminded && due(&settings.remind_after);
        let escalate = !self.escalated && due(&settings.escalate_after);
        if remind {
            self.reminded = true;
            self.view.reminded_at = Some(now);
            effects.push(AlertEffect::Remind {
                alert: self.view.clone(),
            });
        }
        if escalate {
            self.escalated = true;
            self.view.escalated_at = Some(now);
            effects.push(AlertEffect::Escalate {
                alert: self.view.clone(),
            });
        }
        effects
    }
}

/// Every active alert and the recently cleared ones, plus which silence
/// periods have been announced. Persist it whole after each call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    /// The last id handed out; ids are contiguous from 1.
    last_id: u64,
    /// Active and kept cleared alerts, by id.
    alerts: BTreeMap<u64, Alert>,
    /// Silence periods announced as started and not yet as ended.
    announced: Vec<Silence>,
}

impl AlertBook {
    /// An empty book.
    pub fn new() -> AlertBook {
        AlertBook::default()
    }

    /// Feeds one evaluation (one stream, one bucket) and returns what to
    /// post. Keys in neither `findings` nor `healthy` are left untouched.
    pub fn observe(
        &mut self,
        findings: &[Finding],
        healthy: &[AlertKey],
        now: DateTime<Utc>,
        settings: &AlertSettings,
        silences: &Silences,
    ) -> Vec<AlertEffect> {
        let mut effects = Vec::new();

        let mut chosen: Vec<&Finding> = Vec::new();
        for finding in findings {
            match chosen.iter_mut().find(|c| c.key == finding.key) {
                Some(c) if finding.level >= c.level => *c = finding,
                Some(_) => {}
                None => chosen.push(finding),
            }
        }
        for finding in chosen {
            let silence = silences.covers_finding(&finding.key, now, finding.bucket_start);
            let id = match self.active_id(&finding.key) {
                Some(id) => id,
                None => {
                    self.last_id += 1;
                    let alert = Alert::new(self.last_id, finding, now, settings);
                    self.alerts.insert(self.last_id, alert);
                    self.last_id
                }
            };
            if let Some(alert) = self.alerts.get_mut(&id) {
                alert.settle(now, silence);
                alert.record(finding, now);
                effects.extend(alert.flush(now, settings));
            }
        }

        let mut seen: Vec<&AlertKey> = Vec::new();
        for key in healthy {
            if seen.contains(&key) || findings.iter().any(|f| f.key == *key) {
                continue;
            }
            seen.push(key);
            let Some(alert) = self.active_id(key).and_then(|id| self.alerts.get_mut(&id)) else {
                continue;
            };
            alert.view.healthy_streak += 1;
            if alert.view.healthy_streak >= settings.buckets_to_clear() {
                alert.view.cleared_at = Some(now);
                if alert.view.posted {
                    effects.push(AlertEffect::Recovered {
                        alert: alert.view.clone(),
                    });
                }
            }
        }

        self.forget_old_cleared();
        effects
    }

    /// Clears every active alert whose latest finding is about a bucket
    /// that started more than `unseen` before `now` (stale-feed alerts
    /// excepted: they clear when the feed recovers). A stream that stopped
    /// being judged (it went quiet, its volume fell below what can be
    /// judged) must not keep an alert open for good, where it would hide the
    /// next real problem on the same key. Only `account`'s alerts, when
    /// given.
    pub fn expire_unseen(
        &mut self,
        account: Option<&str>,
        now: DateTime<Utc>,
        unseen: chrono::Duration,
    ) -> Vec<AlertEffect> {
        let mut effects = Vec::new();
        for alert in self.alerts.values_mut().filter(|a| a.view.is_active()) {
            let key = &alert.view.key;
            if key.kind == crate::detect::AnomalyKind::StaleFeed
                || account.is_some_and(|a| a != key.account)
                || now - alert.view.finding.bucket_start <= unseen
            {
                continue;
            }
            alert.view.cleared_at = Some(now);
            alert.view.cleared_because = Some(format!(
                "nothing anomalous judged since the bucket of {}; cleared as no longer seen",
                alert.view.finding.bucket_start.format("%Y-%m-%d %H:%M UTC")
            ));
            if alert.view.posted {
                effects.push(AlertEffect::Recovered {
                    alert: alert.view.clone(),
                });
            }
        }
        self.forget_old_cleared();
        effects
    }

    /// Records why alert `id` cleared (see [`AlertView::cleared_because`]).
    pub fn note_cleared(&mut self, id: u64, because: &str) {
        if let Some(alert) = self.alerts.get_mut(&id) {
            if alert.view.cleared_at.is_some() {
                alert.view.cleared_because = Some(because.to_string());
            }
        }
    }

    /// Applies time passing up to `now`: silence announcements (ended
    /// first, then started), then per alert, by id: snooze expiry, posts
    /// owed once a silence is over, reminders and escalations. Calling it
    /// again at the same `now` yields nothing.
    pub fn tick(
        &mut self,
        now: DateTime<Utc>,
        settings: &AlertSettings,
        silences: &Silences,
    ) -> Vec<AlertEffect> {
        let mut effects = self.announce(now, silences);
        for alert in self.alerts.values_mut().filter(|a| a.view.is_active()) {
            let silence =
                silences.covers_finding(&alert.view.key, now, alert.view.finding.bucket_start);
            alert.settle(now, silence);
            effects.extend(alert.flush(now, settings));
            effects.extend(alert.chase(now, settings));
        }
        effects
    }

    /// Marks alert `id` acknowledged by `by`: no more reminders or
    /// escalation for it.
    pub fn acknowledge(
        &mut self,
        id: u64,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<AlertView, AlertError> {
        let alert = self.active_mut(id)?;
        if let Some((at, who)) = &alert.view.acknowledged {
            return Err(AlertError::AlreadyAcknowledged {
                id,
                by: who.clone(),
                at: *at,
            });
        }
        alert.view.acknowledged = Some((now, by.clone()));
        Ok(alert.view.clone())
    }

    /// Snoozes alert `id` until `until` (at most 7 days ahead): no
    /// reminders, escalation or edits until then, unless its level rises.
    /// Snoozing a snoozed alert replaces the end.
    pub fn snooze(
        &mut self,
        id: u64,
        until: DateTime<Utc>,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<AlertView, AlertError> {
        let alert = self.active_mut(id)?;
        if until <= now {
            return Err(AlertError::SnoozeNotInFuture { id });
        }
        if until > plus(now, MAX_SNOOZE) {
            return Err(AlertError::SnoozeTooLong { id });
        }
        alert.view.snoozed_until = Some(until);
        alert.view.snoozed_by = Some(by.clone());
        Ok(alert.view.clone())
    }

    /// Records that incident `incident` (such as `INC-7`) was opened from
    /// alert `id`. Works on cleared alerts the book still keeps; linking
    /// the same incident again changes nothing.
    pub fn link_incident(&mut self, id: u64, incident: &str) -> Result<AlertView, AlertError> {
        let incident = incident.trim();
        let alert = match self.alerts.get_mut(&id) {
            Some(alert) => alert,
            None => return Err(self.missing(id)),
        };
        if incident.is_empty() {
            return Err(AlertError::NoIncident { id });
        }
        match &alert.view.incident {
            Some(linked) if linked != incident => Err(AlertError::AlreadyLinked {
                id,
                incident: linked.clone(),
            }),
            _ => {
                alert.view.incident = Some(incident.to_string());
                Ok(alert.view.clone())
            }
        }
    }

    /// Alert `id`, active or recently cleared.
    pub fn get(&self, id: u64) -> Option<AlertView> {
        self.alerts.get(&id).map(|alert| alert.view.clone())
    }

    /// The active alerts, by id.
    pub fn active(&self) -> Vec<AlertView> {
        self.alerts
            .values()
            .filter(|alert| alert.view.is_active())
            .map(|alert| alert.view.clone())
            .collect()
    }

    /// The active alert for `key`, if any.
    pub fn active_for(&self, key: &AlertKey) -> Option<AlertView> {
        self.active_id(key).and_then(|id| self.get(id))
    }

    fn active_id(&self, key: &AlertKey) -> Option<u64> {
        self.alerts
            .values()
            .find(|alert| alert.view.is_active() && alert.view.key == *key)
            .map(|alert| alert.view.id)
    }

    fn active_mut(&mut self, id: u64) -> Result<&mut Alert, AlertError> {
        let missing = self.missing(id);
        match self.alerts.get_mut(&id) {
            Some(alert) if alert.view.is_active() => Ok(alert),
            Some(_) => Err(AlertError::Cleared(id)),
            None => Err(missing),
        }
    }

    /// The error for an id the book does not hold: ids below the next one
    /// were handed out, so they belong to alerts that cleared long ago.
    fn missing(&self, id: u64) -> AlertError {
        if (1..=self.last_id).contains(&id) {
            AlertError::Cleared(id)
        } else {
            AlertError::Unknown(id)
        }
    }

    fn forget_old_cleared(&mut self) {
        let cleared: Vec<u64> = self
            .alerts
            .values()
            .filter(|alert| !alert.view.is_active())
            .map(|alert| alert.view.id)
            .collect();
        let excess = cleared.len().saturating_sub(MAX_CLEARED);
        for id in cleared.into_iter().take(excess) {
            self.alerts.remove(&id);
        }
    }

    /// Announces silence periods that ended or started since the last call.
    fn announce(&mut self, now: DateTime<Utc>, silences: &Silences) -> Vec<AlertEffect> {
        let in_force = silences.active(now);
        let same = |a: &Silence, b: &Silence| a.id == b.id && a.start == b.start;
        let mut effects = Vec::new();
        let mut still = Vec::new();
        for period in std::mem::take(&mut self.announced) {
            match in_force.iter().find(|p| same(p, &period)) {
                Some(current) => still.push(current.clone()),
                None => {
                    let mut ended = period;
                    // Removed before its end: it ended when we noticed.
                    ended.end = ended.end.min(now);
                    effects.push(AlertEffect::SilenceEnded { silence: ended });
                }
            }
        }
        for period in in_force {
            if !still.iter().any(|p| same(p, &period)) {
                effects.push(AlertEffect::SilenceStarted {
                    silence: period.clone(),
                });
                still.push(period);
            }
        }
        self.announced = still;
        effects
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alert::test_support::{finding, key, utc};
    use crate::alert::{Matcher, QuietWindow};
    use crate::detect::{AnomalyKind, Metric};
    use crate::schedule::Schedule;

    fn kinds(effects: &[AlertEffect]) -> Vec<&'static str> {
        effects.iter().map(AlertEffect::name).collect()
    }

    fn ids(effects: &[AlertEffect]) -> Vec<u64> {
        effects
            .iter()
            .filter_map(|e| e.alert().map(|a| a.id))
            .collect()
    }

    fn bounce() -> AlertKey {
        key("sg-main", "account", Metric::Bounce, AnomalyKind::Baseline)
    }

    fn minutes(m: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(m)
    }

    /// A book, default settings, no silences, and 10:00Z on 1 May 2026.
    fn setup() -> (AlertBook, AlertSettings, Silences, DateTime<Utc>) {
        (
            AlertBook::new(),
            AlertSettings::default(),
            Silences::new(),
            utc("2026-05-01T10:00:00Z"),
        )
    }

    #[test]
    fn repeated_findings_open_once_then_update() {
        let (mut book, settings, silences, t0) = setup();
        let first = book.observe(
            &[finding(&bounce(), Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        assert_eq!(kinds(&first), ["Open"]);
        let view = first[0].alert().unwrap();
        assert_eq!(view.id, 1);
        assert_eq!(view.teams, [Team::Integration, Team::Development]);
        assert!(view.posted);

        let second = book.observe(
            &[finding(&bounce(), Level::Warning, 0.06)],
            &[],
            t0 + minutes(5),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&second), ["Update"]);
        assert_eq!(ids(&second), [1]);
        assert_eq!(second[0].alert().unwrap().finding.value, Some(0.06));

        // The same figures again (the same bucket re-read): nothing to edit.
        let again = book.observe(
            &[finding(&bounce(), Level::Warning, 0.06)],
            &[],
            t0 + minutes(6),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&again), Vec::<&str>::new());

        // Warning → critical is an update too, on the same alert.
        let worse = book.observe(
            &[finding(&bounce(), Level::Critical, 0.12)],
            &[],
            t0 + minutes(10),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&worse), ["Update"]);
        assert_eq!(worse[0].alert().unwrap().level, Level::Critical);
        assert_eq!(book.active().len(), 1);

        // Two findings for one key in one evaluation: the worst one counts.
        let clicks = key("sg-main", "account", Metric::Click, AnomalyKind::Baseline);
        let both = book.observe(
            &[
                finding(&clicks, Level::Critical, 0.01),
                finding(&clicks, Level::Warning, 0.02),
            ],
            &[],
            t0 + minutes(15),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&both), ["Open"]);
        assert_eq!(both[0].alert().unwrap().level, Level::Critical);
        assert_eq!(ids(&both), [2]);
    }

    #[test]
    fn flapping_clears_only_after_k_healthy_buckets_in_a_row() {
        let (mut book, settings, silences, t0) = setup();
        let k = bounce();
        let mut t = t0;
        let mut step = |book: &mut AlertBook, found: Option<f64>| {
            t += minutes(15);
            match found {
                Some(v) => book.observe(
                    &[finding(&k, Level::Warning, v)],
                    &[],
                    t,
                    &settings,
                    &silences,
                ),
                None => book.observe(&[], std::slice::from_ref(&k), t, &settings, &silences),
            }
        };
        let mut all: Vec<Vec<&str>> = [Some(0.05), None, Some(0.07), None, None]
            .into_iter()
            .map(|found| kinds(&step(&mut book, found)))
            .collect();
        assert_eq!(book.get(1).map(|a| a.healthy_streak), Some(2));
        all.push(kinds(&step(&mut book, None)));
        assert_eq!(
            all,
            [
                vec!["Open"],
                vec![],
                vec!["Update"],
                vec![],
                vec![],
                vec!["Recovered"]
            ]
        );
        let cleared = book.get(1).unwrap();
        assert_eq!(cleared.cleared_at, Some(t0 + minutes(90)));
        assert!(book.active().is_empty());

        // Healthy again: nothing left to clear.
        assert!(step(&mut book, None).is_empty());
        // A new finding after clearing is a new alert.
        let reopened = step(&mut book, Some(0.09));
        assert_eq!(kinds(&reopened), ["Open"]);
        assert_eq!(ids(&reopened), [2]);
    }

    #[test]
    fn missing_data_neither_opens_nor_clears_nor_counts() {
        let (mut book, settings, silences, t0) = setup();
        let k = bounce();
        let other = key(
            "sg-main",
            "account",
            Metric::Volume,
            AnomalyKind::VolumeDrop,
        );
        book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        book.observe(
            &[],
            std::slice::from_ref(&k),
            t0 + minutes(15),
            &settings,
            &silences,
        );
        let before = book.clone();
        // Buckets where the key was not judged (no data, too little volume).
        for i in 2..10 {
            let effects = book.observe(
                &[],
                std::slice::from_ref(&other),
                t0 + minutes(15 * i),
                &settings,
                &silences,
            );
            assert!(effects.is_empty());
        }
        assert_eq!(book, before);
        assert_eq!(book.get(1).map(|a| a.healthy_streak), Some(1));
        // Found and healthy in one evaluation: found wins.
        let effects = book.observe(
            &[finding(&k, Level::Warning, 0.06)],
            std::slice::from_ref(&k),
            t0 + minutes(200),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&effects), ["Update"]);
        assert_eq!(book.get(1).map(|a| a.healthy_streak), Some(0));
    }

    #[test]
    fn clear_after_zero_means_one_healthy_bucket() {
        let (mut book, mut settings, silences, t0) = setup();
        settings.clear_after = 0;
        book.observe(
            &[finding(&bounce(), Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        let effects = book.observe(
            &[],
            &[bounce(), bounce()],
            t0 + minutes(15),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&effects), ["Recovered"]);
    }

    #[test]
    fn silence_covering_the_start_then_ending_posts_the_open_afterwards() {
        let (mut book, settings, mut silences, t0) = setup();
        let k = bounce();
        let silence = silences
            .add(
                Matcher::parse("account=sg-main metric=bounce").unwrap(),
                t0,
                t0 + minutes(60),
                "list import",
                &Actor::console("ana"),
            )
            .unwrap();

        let started = book.tick(t0, &settings, &silences);
        assert_eq!(kinds(&started), ["SilenceStarted"]);
        assert_eq!(
            started[0],
            AlertEffect::SilenceStarted {
                silence: silence.clone()
            }
        );
        assert!(book.tick(t0, &settings, &silences).is_empty());

        let quiet = book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0 + minutes(10),
            &settings,
            &silences,
        );
        assert!(quiet.is_empty());
        let view = book.get(1).unwrap();
        assert!(view.silenced && !view.posted);
        assert_eq!(view.silence_reason.as_deref(), Some("list import"));
        let quiet = book.observe(
            &[finding(&k, Level::Critical, 0.09)],
            &[],
            t0 + minutes(20),
            &settings,
            &silences,
        );
        assert!(quiet.is_empty());
        // No reminders while silenced, however long.
        assert!(book.tick(t0 + minutes(59), &settings, &silences).is_empty());

        let ended = book.tick(t0 + minutes(60), &settings, &silences);
        assert_eq!(kinds(&ended), ["SilenceEnded", "Open"]);
        assert_eq!(ended[0], AlertEffect::SilenceEnded { silence });
        let open = ended[1].alert().unwrap();
        assert_eq!(
            (open.id, open.level, open.silenced),
            (1, Level::Critical, false)
        );
        assert_eq!(open.opened_at, t0 + minutes(10));
        assert!(book.tick(t0 + minutes(60), &settings, &silences).is_empty());

        // Reminders count from the post, not from the first finding.
        assert!(book.tick(t0 + minutes(74), &settings, &silences).is_empty());
        assert_eq!(
            kinds(&book.tick(t0 + minutes(75), &settings, &silences)),
            ["Remind"]
        );
    }

    #[test]
    fn silence_over_a_posted_alert_holds_edits_until_it_ends() {
        let (mut book, settings, mut silences, t0) = setup();
        let k = bounce();
        book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        silences
            .add(
                Matcher::all(),
                t0 + minutes(5),
                t0 + minutes(120),
                "ESP maintenance",
                &Actor::console("bo"),
            )
            .unwrap();
        assert_eq!(
            kinds(&book.tick(t0 + minutes(5), &settings, &silences)),
            ["SilenceStarted"]
        );
        assert!(book
            .observe(
                &[finding(&k, Level::Warning, 0.07)],
                &[],
                t0 + minutes(15),
                &settings,
                &silences
            )
            .is_empty());
        // The warning reminder (60 min) would be due at 11:00: held.
        assert!(book.tick(t0 + minutes(61), &settings, &silences).is_empty());
        let ended = book.tick(t0 + minutes(120), &settings, &silences);
        assert_eq!(kinds(&ended), ["SilenceEnded", "Update"]);
        assert_eq!(ended[1].alert().unwrap().finding.value, Some(0.07));
        // Attention restarts at the end of the silence.
        assert!(book
            .tick(t0 + minutes(179), &settings, &silences)
            .is_empty());
        assert_eq!(
            kinds(&book.tick(t0 + minutes(180), &settings, &silences)),
            ["Remind"]
        );
    }

    #[test]
    fn an_alert_silenced_all_along_clears_without_a_word() {
        let (mut book, settings, mut silences, t0) = setup();
        let k = bounce();
        silences
            .add(
                Matcher::all(),
                t0,
                t0 + minutes(600),
                "migration",
                &Actor::console("bo"),
            )
            .unwrap();
        book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        for i in 1..=3 {
            assert!(book
                .observe(
                    &[],
                    std::slice::from_ref(&k),
                    t0 + minutes(15 * i),
                    &settings,
                    &silences
                )
                .is_empty());
        }
        assert!(book.active().is_empty());
        // A posted alert that recovers during a silence does get its notice.
        let mut loud = AlertBook::new();
        let none = Silences::new();
        loud.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &none,
        );
        for i in 1..=2 {
            assert!(loud
                .observe(
                    &[],
                    std::slice::from_ref(&k),
                    t0 + minutes(15 * i),
                    &settings,
                    &silences
                )
                .is_empty());
        }
        assert_eq!(
            kinds(&loud.observe(
                &[],
                std::slice::from_ref(&k),
                t0 + minutes(45),
                &settings,
                &silences
            )),
            ["Recovered"]
        );
    }

    #[test]
    fn removing_an_announced_silence_ends_it_at_the_next_tick() {
        let (mut book, settings, mut silences, t0) = setup();
        let s = silences
            .add(
                Matcher::all(),
                t0,
                t0 + minutes(600),
                "migration",
                &Actor::console("bo"),
            )
            .unwrap();
        assert_eq!(
            kinds(&book.tick(t0, &settings, &silences)),
            ["SilenceStarted"]
        );
        silences.remove(s.id).unwrap();
        let ended = book.tick(t0 + minutes(30), &settings, &silences);
        assert_eq!(
            ended,
            [AlertEffect::SilenceEnded {
                silence: Silence {
                    end: t0 + minutes(30),
                    ..s
                }
            }]
        );
        assert!(book.tick(t0 + minutes(30), &settings, &silences).is_empty());
    }

    #[test]
    fn sunday_quiet_window_in_paris_is_announced_per_occurrence_across_dst() {
        let settings = AlertSettings::default();
        let mut silences = Silences::new();
        let id = silences
            .add_window(QuietWindow {
                matcher: Matcher::parse("metric=volume").unwrap(),
                schedule: Schedule::parse("0 6 * * SUN", "Europe/Paris").unwrap(),
                duration: Duration::from_secs(8 * 3600),
                reason: "planned Sunday blast".into(),
                by: Actor::console("ana"),
            })
            .unwrap();
        let drop = key(
            "sg-main",
            "account",
            Metric::Volume,
            AnomalyKind::VolumeDrop,
        );
        let mut book = AlertBook::new();
        let mut log = Vec::new();
        // Tick every 15 minutes across two Sundays: 22 March (CET) and
        // 29 March 2026 (CEST, the clocks went forward at 02:00).
        let mut t = utc("2026-03-22T00:00:00Z");
        while t <= utc("2026-03-30T00:00:00Z") {
            for effect in book.tick(t, &settings, &silences) {
                let silence = match &effect {
                    AlertEffect::SilenceStarted { silence }
                    | AlertEffect::SilenceEnded { silence } => silence.clone(),
                    other => panic!("unexpected {other:?}"),
                };
                assert_eq!(silence.id, id);
                log.push((effect.name(), t, silence.start, silence.end));
            }
            t += minutes(15);
        }
        let (s1, e1) = (utc("2026-03-22T05:00:00Z"), utc("2026-03-22T13:00:00Z"));
        let (s2, e2) = (utc("2026-03-29T04:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(
            log,
            [
                ("SilenceStarted", s1, s1, e1),
                ("SilenceEnded", e1, s1, e1),
                ("SilenceStarted", s2, s2, e2),
                ("SilenceEnded", e2, s2, e2),
            ]
        );

        // A volume drop during the blast is held, and posted once it is over.
        let mut book = AlertBook::new();
        let during = utc("2026-03-29T05:00:00Z");
        assert_eq!(
            kinds(&book.tick(during, &settings, &silences)),
            ["SilenceStarted"]
        );
        assert!(book
            .observe(
                &[finding(&drop, Level::Critical, 10.0)],
                &[],
                during,
                &settings,
                &silences
            )
            .is_empty());
        // The occurrence ends at 14:00 Paris time: 12:00Z in summer time
        // (it was 13:00Z the week before).
        assert!(book
            .tick(utc("2026-03-29T11:59:00Z"), &settings, &silences)
            .is_empty());
        assert_eq!(
            kinds(&book.tick(utc("2026-03-29T12:00:00Z"), &settings, &silences)),
            ["SilenceEnded", "Open"]
        );
    }

    #[test]
    fn escalation_timeline_reminds_once_then_escalates_once() {
        let (mut book, settings, silences, t0) = setup();
        book.observe(
            &[finding(&bounce(), Level::Critical, 0.2)],
            &[],
            t0,
            &settings,
            &silences,
        );
        let mut timeline = Vec::new();
        for m in 0..=120 {
            for effect in book.tick(t0 + minutes(m), &settings, &silences) {
                timeline.push((m, effect.name()));
            }
        }
        assert_eq!(timeline, [(15, "Remind"), (45, "Escalate")]);
        let view = book.get(1).unwrap();
        assert_eq!(view.reminded_at, Some(t0 + minutes(15)));
        assert_eq!(view.escalated_at, Some(t0 + minutes(45)));

        // Warning: 60 min and 4 h. A late tick delivers both, in order.
        let (mut book, settings, silences, t0) = setup();
        book.observe(
            &[finding(&bounce(), Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        assert!(book.tick(t0 + minutes(59), &settings, &silences).is_empty());
        assert_eq!(
            kinds(&book.tick(t0 + minutes(300), &settings, &silences)),
            ["Remind", "Escalate"]
        );
        assert!(book
            .tick(t0 + minutes(300), &settings, &silences)
            .is_empty());
        assert!(book
            .tick(t0 + minutes(3000), &settings, &silences)
            .is_empty());
    }

    #[test]
    fn acknowledgement_stops_reminders_and_escalation() {
        let (mut book, settings, silences, t0) = setup();
        book.observe(
            &[finding(&bounce(), Level::Critical, 0.2)],
            &[],
            t0,
            &settings,
            &silences,
        );
        assert_eq!(
            kinds(&book.tick(t0 + minutes(15), &settings, &silences)),
            ["Remind"]
        );
        let ana = Actor::console("ana");
        let view = book.acknowledge(1, &ana, t0 + minutes(20)).unwrap();
        assert_eq!(view.acknowledged, Some((t0 + minutes(20), ana.clone())));
        for m in 20..=600 {
            assert!(book.tick(t0 + minutes(m), &settings, &silences).is_empty());
        }
        assert_eq!(
            book.acknowledge(1, &Actor::console("bo"), t0 + minutes(30))
                .unwrap_err()
                .to_string(),
            "alert #1 was already acknowledged by ana"
        );
        // Still edited while the anomaly persists, and still recovers.
        assert_eq!(
            kinds(&book.observe(
                &[finding(&bounce(), Level::Critical, 0.3)],
                &[],
                t0 + minutes(30),
                &settings,
                &silences
            )),
            ["Update"]
        );
    }

    #[test]
    fn snooze_holds_reminders_and_edits_then_expiry_restarts_the_clock() {
        let (mut book, settings, silences, t0) = setup();
        let k = bounce();
        book.observe(
            &[finding(&k, Level::Critical, 0.2)],
            &[],
            t0,
            &settings,
            &silences,
        );
        let bo = Actor::console("bo");
        let until = t0 + minutes(5 + 60);
        let view = book.snooze(1, until, &bo, t0 + minutes(5)).unwrap();
        assert_eq!(
            (view.snoozed_until, view.snoozed_by.clone()),
            (Some(until), Some(bo))
        );

        // No edits while snoozed, no reminder at 15 or escalation at 45 min.
        assert!(book
            .observe(
                &[finding(&k, Level::Critical, 0.25)],
                &[],
                t0 + minutes(10),
                &settings,
                &silences
            )
            .is_empty());
        for m in 5..65 {
            assert!(
                book.tick(t0 + minutes(m), &settings, &silences).is_empty(),
                "minute {m}"
            );
        }
        // Expiry: one edit with the latest figures and no snooze.
        let expired = book.tick(until, &settings, &silences);
        assert_eq!(kinds(&expired), ["Update"]);
        let view = expired[0].alert().unwrap();
        assert_eq!((view.snoozed_until, view.finding.value), (None, Some(0.25)));
        // Reminders count from the expiry: 15 and 45 minutes after it.
        let mut timeline = Vec::new();
        for m in 65..=200 {
            for effect in book.tick(t0 + minutes(m), &settings, &silences) {
                timeline.push((m, effect.name()));
            }
        }
        assert_eq!(timeline, [(80, "Remind"), (110, "Escalate")]);
    }

    #[test]
    fn snooze_expiry_noticed_by_a_finding_posts_one_update() {
        let (mut book, settings, silences, t0) = setup();
        let k = bounce();
        book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        book.snooze(1, t0 + minutes(60), &Actor::console("bo"), t0)
            .unwrap();
        let effects = book.observe(
            &[finding(&k, Level::Warning, 0.06)],
            &[],
            t0 + minutes(75),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&effects), ["Update"]);
        assert!(book.tick(t0 + minutes(75), &settings, &silences).is_empty());
        assert_eq!(
            kinds(&book.tick(t0 + minutes(120), &settings, &silences)),
            ["Remind"]
        );
    }

    #[test]
    fn a_level_increase_breaks_through_the_snooze() {
        let (mut book, settings, silences, t0) = setup();
        let k = bounce();
        book.observe(
            &[finding(&k, Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        book.snooze(
            1,
            t0 + minutes(24 * 60),
            &Actor::console("bo"),
            t0 + minutes(1),
        )
        .unwrap();
        assert!(book
            .observe(
                &[finding(&k, Level::Warning, 0.06)],
                &[],
                t0 + minutes(15),
                &settings,
                &silences
            )
            .is_empty());

        let worse = book.observe(
            &[finding(&k, Level::Critical, 0.15)],
            &[],
            t0 + minutes(30),
            &settings,
            &silences,
        );
        assert_eq!(kinds(&worse), ["Update"]);
        let view = worse[0].alert().unwrap();
        assert_eq!((view.level, view.snoozed_until), (Level::Critical, None));
        // Critical delays, counted from the rise.
        let mut timeline = Vec::new();
        for m in 30..=120 {
            for effect in book.tick(t0 + minutes(m), &settings, &silences) {
                timeline.push((m, effect.name()));
            }
        }
        assert_eq!(timeline, [(45, "Remind"), (75, "Escalate")]);

        // Going back down to warning while snoozed stays quiet.
        book.snooze(
            1,
            t0 + minutes(24 * 60),
            &Actor::console("bo"),
            t0 + minutes(120),
        )
        .unwrap();
        assert!(book
            .observe(
                &[finding(&k, Level::Warning, 0.06)],
                &[],
                t0 + minutes(135),
                &settings,
                &silences
            )
            .is_empty());
    }

    #[test]
    fn commands_refuse_with_sentences() {
        let (mut book, settings, silences, t0) = setup();
        let bo = Actor::console("bo");
        assert_eq!(
            book.acknowledge(1, &bo, t0).unwrap_err().to_string(),
            "there is no alert #1"
        );
        book.observe(
            &[finding(&bounce(), Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        assert_eq!(
            book.snooze(1, t0, &bo, t0).unwrap_err().to_string(),
            "a snooze must end in the future; alert #1 was left as it was"
        );
        assert_eq!(
            book.snooze(1, t0 + minutes(8 * 24 * 60), &bo, t0)
                .unwrap_err()
                .to_string(),
            "alert #1 can be snoozed for at most 7 days; acknowledge it, or silence it for longer"
        );
        assert_eq!(
            book.link_incident(1, "  ").unwrap_err().to_string(),
            "say which incident to link alert #1 to, such as INC-7"
        );
        assert_eq!(
            book.link_incident(1, "INC-7").unwrap().incident.as_deref(),
            Some("INC-7")
        );
        assert!(book.link_incident(1, "INC-7").is_ok());
        assert_eq!(
            book.link_incident(1, "INC-8").unwrap_err().to_string(),
            "alert #1 is already linked to INC-7"
        );
        for i in 1..=3 {
            book.observe(&[], &[bounce()], t0 + minutes(15 * i), &settings, &silences);
        }
        assert_eq!(
            book.acknowledge(1, &bo, t0).unwrap_err().to_string(),
            "alert #1 has already cleared"
        );
        assert_eq!(
            book.snooze(1, t0 + minutes(600), &bo, t0).unwrap_err(),
            AlertError::Cleared(1)
        );
        assert_eq!(
            book.get(1).and_then(|a| a.incident),
            Some("INC-7".to_string())
        );
        assert_eq!(
            book.acknowledge(2, &bo, t0).unwrap_err(),
            AlertError::Unknown(2)
        );
        assert_eq!(
            book.acknowledge(0, &bo, t0).unwrap_err(),
            AlertError::Unknown(0)
        );
    }

    #[test]
    fn old_cleared_alerts_are_forgotten_but_still_known_to_have_cleared() {
        let (mut book, mut settings, silences, t0) = setup();
        settings.clear_after = 1;
        for i in 0..(MAX_CLEARED as i64 + 5) {
            let t = t0 + minutes(2 * i);
            book.observe(
                &[finding(&bounce(), Level::Warning, 0.05)],
                &[],
                t,
                &settings,
                &silences,
            );
            book.observe(&[], &[bounce()], t + minutes(1), &settings, &silences);
        }
        assert_eq!(book.get(1), None);
        assert!(book.get(6).is_some());
        assert_eq!(
            book.link_incident(1, "INC-1").unwrap_err(),
            AlertError::Cleared(1)
        );
        assert_eq!(book.alerts.len(), MAX_CLEARED);
    }

    #[test]
    fn the_whole_book_round_trips_through_serde() {
        let (mut book, settings, mut silences, t0) = setup();
        book.observe(
            &[finding(&bounce(), Level::Critical, 0.2)],
            &[],
            t0,
            &settings,
            &silences,
        );
        let clicks = key(
            "sg-main",
            "tag:welcome",
            Metric::Click,
            AnomalyKind::EngagementCollapse,
        );
        silences
            .add(
                Matcher::parse("metric=click").unwrap(),
                t0,
                t0 + minutes(60),
                "redesign",
                &Actor::console("ana"),
            )
            .unwrap();
        book.tick(t0, &settings, &silences);
        book.observe(
            &[finding(&clicks, Level::Warning, 0.001)],
            &[],
            t0 + minutes(1),
            &settings,
            &silences,
        );
        book.acknowledge(1, &Actor::console("ana"), t0 + minutes(2))
            .unwrap();
        book.link_incident(1, "INC-7").unwrap();
        book.snooze(2, t0 + minutes(90), &Actor::console("bo"), t0 + minutes(3))
            .unwrap();

        let json = serde_json::to_string(&book).unwrap();
        let mut back: AlertBook = serde_json::from_str(&json).unwrap();
        assert_eq!(back, book);
        // And it carries on identically.
        let later = t0 + minutes(120);
        assert_eq!(
            back.tick(later, &settings, &silences),
            book.tick(later, &settings, &silences)
        );
        assert_eq!(back, book);

        let effect = AlertEffect::Open {
            alert: book.get(1).unwrap(),
        };
        let json = serde_json::to_string(&effect).unwrap();
        assert!(json.starts_with(r#"{"effect":"open","#), "{json}");
        assert_eq!(serde_json::from_str::<AlertEffect>(&json).unwrap(), effect);
    }

    #[test]
    fn routing_is_taken_from_the_settings_when_first_posted() {
        let (mut book, mut settings, mut silences, t0) = setup();
        silences
            .add(
                Matcher::all(),
                t0,
                t0 + minutes(30),
                "migration",
                &Actor::console("bo"),
            )
            .unwrap();
        book.observe(
            &[finding(&bounce(), Level::Warning, 0.05)],
            &[],
            t0,
            &settings,
            &silences,
        );
        settings
            .routing
            .by_metric
            .insert(Metric::Bounce, vec![Team::Marketing]);
        // No tick saw the silence in force, so it is neither announced as
        // started nor as ended; the alert it held is posted all the same.
        let effects = book.tick(t0 + minutes(30), &settings, &silences);
        assert_eq!(kinds(&effects), ["Open"]);
        assert_eq!(effects[0].alert().unwrap().teams, [Team::Marketing]);
        // Later routing changes do not move posted alerts.
        settings
            .routing
            .by_metric
            .insert(Metric::Bounce, vec![Team::Design]);
        let update = book.observe(
            &[finding(&bounce(), Level::Warning, 0.07)],
            &[],
            t0 + minutes(45),
            &settings,
            &silences,
        );
        assert_eq!(update[0].alert().unwrap().teams, [Team::Marketing]);
    }
}
