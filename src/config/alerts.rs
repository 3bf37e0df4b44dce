//! The `[alerts]` table: detection thresholds, routing, escalation delays
//! and recurring quiet windows.
//!
//! ```toml
//! [alerts]
//! min_volume = 200               # least volume behind a judged rate (pooled over hours if need be)
//! clear_after = 3                # healthy buckets before an alert clears
//! remind_minutes = { critical = 15, warning = 60 }
//! escalate_minutes = { critical = 45, warning = 240 }
//! routing = { bounce = ["integration"], stale-feed = ["development"] }
//! mention = "role-and-on-duty"   # or "on-duty": the member on duty instead of the team role
//!
//! [[alerts.stream]]              # per-stream detector settings, first match wins
//! account = "ses-main"
//! preset = "ses"                 # SES review levels: bounce 5%/10%, complaint 0.1%/0.5%
//!
//! [[alerts.quiet]]               # a recurring quiet window
//! match = "stream=tag:newsletter metric=volume"
//! schedule = "0 6 * * SUN"
//! timezone = "Europe/Paris"
//! hours = 8
//! reason = "planned Sunday blast"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::esp::{At, EspConfig};
use super::ConfigError;
use crate::alert::{Matcher, QuietWindow};
use crate::alerting::{AlertingConfig, StreamOverride};
use crate::delivery::StreamKey;
use crate::detect::{AnomalyKind, DetectorSettings, Level, Metric};
use crate::domain::{Actor, Team};
use crate::schedule::Schedule;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    /// Read by [`super::Config::parse`], which resolves it against the
    /// file's directory.
    pub(super) runbook_dir: Option<Spanned<String>>,
    min_volume: Option<Spanned<u64>>,
    clear_after: Option<Spanned<u32>>,
    #[serde(default)]
    remind_minutes: BTreeMap<String, Spanned<u64>>,
    #[serde(default)]
    escalate_minutes: BTreeMap<String, Spanned<u64>>,
    #[serde(default)]
    routing: BTreeMap<Spanned<String>, Vec<String>>,
    #[serde(default)]
    stream: Vec<RawStream>,
    #[serde(default)]
    quiet: Vec<RawQuiet>,
    /// Who a new alert mentions: "role-and-on-duty" (default) or "on-duty".
    mention: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    account: Option<String>,
    stream: Option<String>,
    preset: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiet {
    #[serde(rename = "match")]
    matcher: Spanned<String>,
    schedule: Spanned<String>,
    #[serde(default = "utc")]
    timezone: Spanned<String>,
    hours: Spanned<u64>,
    reason: Spanned<String>,
}

fn utc() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}

fn level(word: &str) -> Option<Level> {
    match word {
        "critical" => Some(Level::Critical),
        "warning" => Some(Level::Warning),
        _ => None,
    }
}

/// Validates `[alerts]`; quiet windows are returned separately because they
/// live in the alert state, where silences are.
pub(super) fn alerting(
    raw: RawAlerts,
    at: At<'_>,
) -> Result<(AlertingConfig, Vec<QuietWindow>), ConfigError> {
    let mut config = AlertingConfig::default();
    if let Some(n) = raw.min_volume {
        config.detector.min_volume = *n.get_ref();
    }
    if let Some(mention) = &raw.mention {
        config.on_duty_only = match mention.get_ref().trim() {
            "role-and-on-duty" => false,
            "on-duty" => true,
            other => {
                return Err(at(
                    mention.span(),
                    Some("alerts.mention".into()),
                    format!(
                        "`{other}` is not a mention setting; use \"role-and-on-duty\" (the team role and the member on duty) or \"on-duty\" (the member on duty instead of the role)"
                    ),
                ))
            }
        };
    }
    if let Some(n) = raw.clear_after {
        if !(1..=100).contains(n.get_ref()) {
            return Err(at(
                n.span(),
                Some("alerts.clear_after".into()),
                "must be between 1 and 100".into(),
            ));
        }
        config.alerts.clear_after = *n.get_ref();
    }
    for (field, raw_map, target) in [
        (
            "remind_minutes",
            &raw.remind_minutes,
            &mut config.alerts.remind_after,
        ),
        (
            "escalate_minutes",
            &raw.escalate_minutes,
            &mut config.alerts.escalate_after,
        ),
    ] {
        for (word, minutes) in raw_map {
            let Some(level) = level(word) else {
                return Err(at(
                    minutes.span(),
                    Some(format!("alerts.{field}.{word}")),
                    "the levels are critical and warning".into(),
                ));
            };
            target.insert(level, Duration::from_secs(*minutes.get_ref() * 60));
        }
    }
    for (name, teams) in raw.routing {
        let key = format!("alerts.routing.{}", name.get_ref());
        let parsed: Result<Vec<Team>, _> = teams.iter().map(|t| t.parse::<Team>()).collect();
        let teams = parsed.map_err(|e| at(name.span(), Some(key.clone()), e.to_string()))?;
        if let Some(kind) = AnomalyKind::ALL
            .iter()
            .find(|k| k.as_str() == name.get_ref())
        {
            config.alerts.routing.by_kind.insert(*kind, teams);
        } else if let Some(metric) = Metric::ALL.iter().find(|m| m.as_str() == name.get_ref()) {
            config.alerts.routing.by_metric.insert(*metric, teams);
        } else {
            return Err(at(
                name.span(),
                Some(key),
                format!("`{}` is neither a metric nor an alert kind", name.get_ref()),
            ));
        }
    }
    for (index, stream) in raw.stream.into_iter().enumerate() {
        let settings = match preset(stream.preset.get_ref()) {
            Some(settings) => settings,
            None => {
                return Err(at(
                    stream.preset.span(),
                    Some(format!("alerts.stream[{index}].preset")),
                    format!(
                        "`{}` is not a preset; use ses, bulk or campaigns",
                        stream.preset.get_ref()
                    ),
                ))
            }
        };
        let mut settings = settings;
        settings.min_volume = config.detector.min_volume;
        config.overrides.push(StreamOverride {
            account: stream.account,
            stream: stream.stream.map(StreamKey::new),
            settings,
        });
    }
    let mut windows = Vec::new();
    for (index, quiet) in raw.quiet.into_iter().enumerate() {
        let key = |field: &str| Some(format!("alerts.quiet[{index}].{field}"));
        let matcher = Matcher::parse(quiet.matcher.get_ref())
            .map_err(|e| at(quiet.matcher.span(), key("match"), e.to_string()))?;
        let schedule = Schedule::parse(quiet.schedule.get_ref(), quiet.timezone.get_ref())
            .map_err(|e| at(quiet.schedule.span(), key("schedule"), e.to_string()))?;
        if !(1..=168).contains(quiet.hours.get_ref()) {
            return Err(at(
                quiet.hours.span(),
                key("hours"),
                "must be between 1 and 168 (a week)".into(),
            ));
        }
        if quiet.reason.get_ref().trim().is_empty() {
            return Err(at(
                quiet.reason.span(),
                key("reason"),
                "say why, for the people whose alerts go quiet".into(),
            ));
        }
        windows.push(QuietWindow {
            matcher,
            schedule,
            duration: Duration::from_secs(quiet.hours.get_ref() * 3600),
            reason: quiet.reason.into_inner(),
            by: Actor::system(),
        });
    }
    Ok((config, windows))
}

/// The detector settings a preset names.
fn preset(name: &str) -> Option<DetectorSettings> {
    match name {
        "ses" => Some(DetectorSettings::ses()),
        "bulk" | "bulk-sender" => Some(DetectorSettings::bulk_sender()),
        "campaigns" => Some(DetectorSettings::campaigns()),
        _ => None,
    }
}

/// Gives each account whose provider has its own review levels (SES) that
/// preset, after the configured `[[alerts.stream]]` entries so that those
/// still win.
pub(super) fn provider_presets(config: &mut AlertingConfig, accounts: &[EspConfig]) {
    for account in accounts {
        let Some(mut settings) = account.provider.alert_preset().and_then(preset) else {
            continue;
        };
        settings.min_volume = config.detector.min_volume;
        config.overrides.push(StreamOverride {
            account: Some(account.name.clone()),
            stream: None,
            settings,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("mc.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn alerts_become_typed_settings() {
        let config = parse(
            "[alerts]\nmin_volume = 100\nclear_after = 2\nremind_minutes = { critical = 10 }\nrouting = { bounce = [\"integration\"], stale-feed = [\"design\"] }\n\n\
             [[alerts.stream]]\naccount = \"ses-main\"\npreset = \"ses\"\n\n\
             [[alerts.quiet]]\nmatch = \"stream=tag:newsletter metric=volume\"\nschedule = \"0 6 * * SUN\"\ntimezone = \"Europe/Paris\"\nhours = 8\nreason = \"planned Sunday blast\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.alerting.detector.min_volume, 100);
        assert_eq!(config.alerting.alerts.clear_after, 2);
        assert_eq!(
            config.alerting.alerts.remind_after.get(&Level::Critical),
            Some(&Duration::from_secs(600))
        );
        assert_eq!(
            config
                .alerting
                .alerts
                .routing
                .by_metric
                .get(&Metric::Bounce),
            Some(&vec![Team::Integration])
        );
        assert_eq!(
            config
                .alerting
                .alerts
                .routing
                .by_kind
                .get(&AnomalyKind::StaleFeed),
            Some(&vec![Team::Design])
        );
        assert_eq!(
            config.alerting.overrides[0].settings,
            DetectorSettings {
                min_volume: 100,
                ..DetectorSettings::ses()
            }
        );
        assert_eq!(config.quiet_windows.len(), 1);
        assert_eq!(
            config.quiet_windows[0].duration,
            Duration::from_secs(8 * 3600)
        );
    }

    #[test]
    fn mention_chooses_the_member_on_duty_with_or_instead_of_the_role() {
        let both = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert!(!both.alerting.on_duty_only, "both by default");
        let only = parse("[alerts]\nmention = \"on-duty\"\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(only.alerting.on_duty_only);
        let e = parse("[alerts]\nmention = \"everyone\"\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("mc.toml:2:11: alerts.mention: `everyone` is not a mention setting"),
            "{e}"
        );
    }

    #[test]
    fn alert_mistakes_are_named() {
        let e = parse("[alerts]\nrouting = { bounces = [\"integration\"] }\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("alerts.routing.bounces: `bounces` is neither a metric nor an alert kind"),
            "{e}"
        );
        let e = parse("[alerts]\nremind_minutes = { urgent = 5 }\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("alerts.remind_minutes.urgent: the levels are critical and warning"),
            "{e}"
        );
        let e = parse("[[alerts.quiet]]\nmatch = \"colour=red\"\nschedule = \"0 6 * * SUN\"\nhours = 8\nreason = \"x\"\n").err().unwrap_or_default();
        assert!(e.starts_with("mc.toml:2:9: alerts.quiet[0].match:"), "{e}");
        let e = parse("[[alerts.stream]]\npreset = \"gmail\"\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("`gmail` is not a preset; use ses, bulk or campaigns"),
            "{e}"
        );
    }
}
