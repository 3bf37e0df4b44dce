//! Who hears about an alert, and how patient mailcall is with them.
//!
//! Routing answers "which teams own this?" from the alert's key alone, so
//! that `/route test` can answer it before anything is wrong. The default is
//! [`Metric::default_owners`]; a team can take over a metric ("clicks are
//! ours") or an anomaly kind ("stale feeds go to development, whatever the
//! metric"). A kind override wins over a metric override because the kind
//! says what broke (the feed, a hard limit) while the metric only says where
//! it shows.
//!
//! [`AlertSettings`] gathers that with the lifecycle's timing (flap
//! suppression, reminder and escalation delays), and [`preview`] combines it
//! with the silences for the route-test command.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::{AlertKey, AnomalyKind, Level, Metric};
use crate::domain::Team;

use super::Silences;

/// Which teams own which alerts: overrides on top of
/// [`Metric::default_owners`].
///
/// An override with an empty team list is ignored (the next rule applies):
/// an alert routed to nobody would be an alert nobody sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// Per anomaly kind; wins over everything else.
    #[serde(default)]
    pub by_kind: BTreeMap<AnomalyKind, Vec<Team>>,
    /// Per metric; wins over the metric's default owners.
    #[serde(default)]
    pub by_metric: BTreeMap<Metric, Vec<Team>>,
}

impl Routing {
    /// The teams that own alerts with this key, without duplicates, in the
    /// order configured: the kind's override if any, else the metric's
    /// override, else the metric's default owners.
    pub fn teams_for(&self, key: &AlertKey) -> Vec<Team> {
        let chosen: &[Team] = self
            .by_kind
            .get(&key.kind)
            .filter(|teams| !teams.is_empty())
            .or_else(|| self.by_metric.get(&key.metric).filter(|t| !t.is_empty()))
            .map_or_else(|| key.metric.default_owners(), |teams| teams.as_slice());
        let mut teams = Vec::with_capacity(chosen.len());
        for team in chosen {
            if !teams.contains(team) {
                teams.push(*team);
            }
        }
        teams
    }
}

/// How the alert lifecycle behaves. [`Default`] gives the values in the
/// field docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSettings {
    /// Flap suppression: an alert clears only after this many consecutive
    /// healthy buckets (default 3). 0 is read as 1.
    pub clear_after: u32,
    /// Unacknowledged for this long: one reminder that mentions the team
    /// role again (default: critical 15 min, warning 60 min). A level
    /// missing from the map is never reminded.
    pub remind_after: BTreeMap<Level, Duration>,
    /// Unacknowledged for this long: one escalation to incident-admin
    /// (default: critical 45 min, warning 4 h). A level missing from the
    /// map is never escalated.
    pub escalate_after: BTreeMap<Level, Duration>,
    /// Which teams own which alerts.
    #[serde(default)]
    pub routing: Routing,
}

impl Default for AlertSettings {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        AlertSettings {
            clear_after: 3,
            remind_after: BTreeMap::from([
                (Level::Critical, minutes(15)),
                (Level::Warning, minutes(60)),
            ]),
            escalate_after: BTreeMap::from([
                (Level::Critical, minutes(45)),
                (Level::Warning, minutes(4 * 60)),
            ]),
            routing: Routing::default(),
        }
    }
}

impl AlertSettings {
    /// Healthy buckets needed to clear, at least 1.
    pub fn buckets_to_clear(&self) -> u32 {
        self.clear_after.max(1)
    }
}

/// What would happen to an alert with a given key right now: the answer to
/// `/route test`. The front end adds channels, role mentions and who is on
/// duty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePreview {
    /// The owning teams, as [`Routing::teams_for`] gives them.
    pub teams: Vec<Team>,
    /// The reason of the silence or quiet window that would swallow it.
    pub silenced_by: Option<String>,
    /// Reminder delay per level (levels without one are not reminded).
    pub remind_after: BTreeMap<Level, Duration>,
    /// Escalation delay per level (levels without one are not escalated).
    pub escalate_after: BTreeMap<Level, Duration>,
}

/// Where an alert with this key would go at `now`, and whether it would be
/// silenced. Pure: nothing is recorded.
pub fn preview(
    key: &AlertKey,
    settings: &AlertSettings,
    silences: &Silences,
    now: DateTime<Utc>,
) -> RoutePreview {
    RoutePreview {
        teams: settings.routing.teams_for(key),
        silenced_by: silences.is_silenced(key, now).map(str::to_string),
        remind_after: settings.remind_after.clone(),
        escalate_after: settings.escalate_after.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::{key, utc};
    use crate::alert::Matcher;
    use crate::domain::Actor;

    #[test]
    fn defaults_come_from_the_metric_and_overrides_win_kind_first() {
        let mut routing = Routing::default();
        let stale = key("sg-main", "account", Metric::Volume, AnomalyKind::StaleFeed);
        let clicks = key("sg-main", "account", Metric::Click, AnomalyKind::Baseline);
        assert_eq!(
            routing.teams_for(&stale),
            [Team::Development, Team::Integration]
        );
        assert_eq!(
            routing.teams_for(&clicks),
            [Team::Design, Team::Integration]
        );

        routing
            .by_kind
            .insert(AnomalyKind::StaleFeed, vec![Team::Development]);
        routing
            .by_metric
            .insert(Metric::Click, vec![Team::Marketing, Team::Marketing]);
        routing
            .by_metric
            .insert(Metric::Volume, vec![Team::Marketing]);
        assert_eq!(routing.teams_for(&stale), [Team::Development]);
        assert_eq!(routing.teams_for(&clicks), [Team::Marketing]);
        let volume = key(
            "sg-main",
            "account",
            Metric::Volume,
            AnomalyKind::VolumeDrop,
        );
        assert_eq!(routing.teams_for(&volume), [Team::Marketing]);

        // An empty override falls through to the next rule.
        routing.by_kind.insert(AnomalyKind::StaleFeed, Vec::new());
        assert_eq!(routing.teams_for(&stale), [Team::Marketing]);

        let json = serde_json::to_string(&routing).unwrap();
        assert_eq!(
            json,
            r#"{"by_kind":{"stale-feed":[]},"by_metric":{"click":["marketing","marketing"],"volume":["marketing"]}}"#
        );
        assert_eq!(serde_json::from_str::<Routing>(&json).unwrap(), routing);
    }

    #[test]
    fn preview_reports_teams_silence_and_delays() {
        let settings = AlertSettings::default();
        let mut silences = Silences::new();
        let k = key(
            "sg-main",
            "tag:welcome",
            Metric::Bounce,
            AnomalyKind::HardLimit,
        );
        let now = utc("2026-05-01T10:30:00Z");
        let quiet = preview(&k, &settings, &silences, now);
        assert_eq!(quiet.teams, [Team::Integration, Team::Development]);
        assert_eq!(quiet.silenced_by, None);
        assert_eq!(
            quiet.remind_after.get(&Level::Critical),
            Some(&Duration::from_secs(15 * 60))
        );
        assert_eq!(
            quiet.escalate_after.get(&Level::Warning),
            Some(&Duration::from_secs(4 * 3600))
        );
        silences
            .add(
                Matcher::parse("stream=tag:welcome").unwrap(),
                utc("2026-05-01T10:00:00Z"),
                utc("2026-05-01T11:00:00Z"),
                "welcome flow rebuild",
                &Actor::console("ana"),
            )
            .unwrap();
        assert_eq!(
            preview(&k, &settings, &silences, now)
                .silenced_by
                .as_deref(),
            Some("welcome flow rebuild")
        );
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(
            serde_json::from_str::<AlertSettings>(&json).unwrap(),
            settings
        );
    }
}
