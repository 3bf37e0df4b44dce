//! How alerts read, in the terminal and in Discord posts: the headline, the
//! figures with a sparkline, the alert's state, and the runbook for its
//! kind. All text from ESPs passes through [`defang`] so it cannot ping.

use crate::alert::{AlertEffect, AlertView};
use crate::command::render::timestamp;
use crate::detect::{AnomalyKind, Level};
use crate::domain::defang;

/// The runbooks shipped in `data/runbooks/`, embedded so a binary without
/// the repository still has them.
const EMBEDDED_RUNBOOKS: [(AnomalyKind, &str); 6] = [
    (
        AnomalyKind::HardLimit,
        include_str!("../../data/runbooks/hard-limit.md"),
    ),
    (
        AnomalyKind::Baseline,
        include_str!("../../data/runbooks/baseline.md"),
    ),
    (
        AnomalyKind::VolumeDrop,
        include_str!("../../data/runbooks/volume-drop.md"),
    ),
    (
        AnomalyKind::VolumeSpike,
        include_str!("../../data/runbooks/volume-spike.md"),
    ),
    (
        AnomalyKind::EngagementCollapse,
        include_str!("../../data/runbooks/engagement-collapse.md"),
    ),
    (
        AnomalyKind::StaleFeed,
        include_str!("../../data/runbooks/stale-feed.md"),
    ),
];

/// The runbook for a kind: `data/runbooks/<kind>.md` as the team edited it,
/// else the shipped copy.
pub fn runbook(kind: AnomalyKind) -> String {
    let path = std::path::Path::new("data/runbooks").join(format!("{}.md", kind.as_str()));
    std::fs::read_to_string(path).unwrap_or_else(|_| {
        EMBEDDED_RUNBOOKS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, text)| text.to_string())
            .unwrap_or_default()
    })
}

/// The runbook's "Check first" steps (or its opening), for a post.
pub fn runbook_excerpt(kind: AnomalyKind) -> String {
    let text = runbook(kind);
    let steps = text.split("## Check first").nth(1).map(|rest| {
        rest.split("\n## ")
            .next()
            .unwrap_or(rest)
            .trim()
            .to_string()
    });
    steps.unwrap_or_else(|| text.lines().take(8).collect::<Vec<_>>().join("\n"))
}

/// ▁▂▃▄▅▆▇█ for the values, a space for a missing bucket.
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let present: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (Some(low), Some(high)) = (
        present.iter().copied().reduce(f64::min),
        present.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    values
        .iter()
        .map(|v| match v {
            Some(v) if v.is_finite() => {
                let span = (high - low).max(f64::EPSILON);
                BARS[(((v - low) / span) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
            _ => ' ',
        })
        .collect()
}

fn level_mark(level: Level) -> &'static str {
    match level {
        Level::Critical => "🔴 CRITICAL",
        Level::Warning => "🟠 WARNING",
    }
}

/// "🔴 CRITICAL · alert #3 · demo-esp/tag:welcome · bounce (baseline)".
pub fn headline(view: &AlertView) -> String {
    let mark = if view.is_active() {
        level_mark(view.level)
    } else {
        "✅ RECOVERED"
    };
    defang(&format!(
        "{mark} · alert #{} · {}/{} · {} ({})",
        view.id, view.key.account, view.key.stream, view.key.metric, view.key.kind
    ))
}

/// The figures and the alert's state, several lines.
pub fn details(view: &AlertView) -> String {
    let mut lines = vec![defang(&view.finding.summary)];
    let spark = sparkline(&view.finding.recent);
    if !spark.trim().is_empty() {
        lines.push(format!(
            "last {} buckets: {spark}",
            view.finding.recent.len()
        ));
    }
    lines.push(format!(
        "teams: {} · opened {}",
        view.teams
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        timestamp(view.opened_at)
    ));
    if let Some((at, by)) = &view.acknowledged {
        lines.push(format!("acknowledged by {by} at {}", timestamp(*at)));
    }
    if let Some(until) = view.snoozed_until {
        lines.push(format!("snoozed until {}", timestamp(until)));
    }
    if let Some(reason) = &view.silence_reason {
        lines.push(format!("silenced: {}", defang(reason)));
    }
    if let Some(incident) = &view.incident {
        lines.push(format!("incident: {incident}"));
    }
    if let Some(cleared) = view.cleared_at {
        match &view.cleared_because {
            Some(why) => lines.push(format!("cleared at {} ({why})", timestamp(cleared))),
            None => lines.push(format!("cleared at {}", timestamp(cleared))),
        }
    }
    lines.join("\n")
}

/// A one-line description of an effect, for logs and the terminal.
pub fn effect_line(effect: &AlertEffect) -> String {
    match effect {
        AlertEffect::Open { alert } => headline(alert),
        AlertEffect::Update { alert } => format!("(edited) {}", headline(alert)),
        AlertEffect::Recovered { alert } => match &alert.cleared_because {
            Some(why) => format!("{} — cleared: {why}", headline(alert)),
            None => format!("{} — back to normal", headline(alert)),
        },
        AlertEffect::Remind { alert } => {
            format!("⏰ reminder: alert #{} is not acknowledged", alert.id)
        }
        AlertEffect::Escalate { alert } => format!(
            "📣 escalated to incident-admin: alert #{} is not acknowledged",
            alert.id
        ),
        AlertEffect::SilenceStarted { silence } => {
            format!(
                "🔕 silence #{} started until {}: {} ({})",
                silence.id,
                timestamp(silence.end),
                silence.matcher,
                defang(&silence.reason)
            )
        }
        AlertEffect::SilenceEnded { silence } => {
            format!("🔔 silence #{} ended ({})", silence.id, silence.matcher)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_and_show_gaps() {
        assert_eq!(sparkline(&[Some(0.0), Some(0.5), None, Some(1.0)]), "▁▅ █");
        assert_eq!(sparkline(&[None, None]), "");
    }

    #[test]
    fn every_kind_has_a_runbook_with_steps() {
        for kind in AnomalyKind::ALL {
            assert!(runbook_excerpt(kind).contains("1."), "{kind}");
        }
    }
}
