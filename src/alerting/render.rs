//! How alerts read, in the terminal and in Discord posts: the headline, the
//! figures with a sparkline, the alert's state (the runbook excerpt comes
//! from [`super::runbooks`]). All text from ESPs passes through [`defang`] so it cannot ping.

use crate::alert::{AlertEffect, AlertView};
use crate::command::render::timestamp;
use crate::detect::Level;
use crate::domain::defang;

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
}
