//! Plain-text renderings of incidents, shared by the terminal and by Discord
//! replies. All user text passes through the domain types' `Display`, which
//! defangs mentions.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::domain::{Incident, Status};

/// "integration: bob", one per assigned team.
pub fn assignees(incident: &Incident) -> Vec<String> {
    incident
        .assignees
        .iter()
        .map(|(t, a)| format!("{t}: {a}"))
        .collect()
}

/// "2026-11-22 14:05 UTC".
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_marker(status: Status) -> &'static str {
    match status {
        Status::Open => "🔴",
        Status::Investigating => "🟠",
        Status::Mitigated => "🟡",
        Status::Resolved => "🟢",
        Status::Closed => "⚪",
    }
}

/// The reply to `/incident open`.
pub fn opened_reply(incident: &Incident) -> String {
    format!(
        "{} opened: {} ({}, {}). Commander: {}.",
        incident.id,
        incident.title,
        incident.severity,
        crate::domain::incident_team_list(incident),
        incident.commander
    )
}

/// One line for `/incident list`.
pub fn list_line(incident: &Incident) -> String {
    format!(
        "{} {} · {} · {} · {} · {}",
        status_marker(incident.status),
        incident.id,
        incident.severity,
        incident.status,
        crate::domain::incident_team_list(incident),
        incident.title
    )
}

/// The answer to `/incident list`.
pub fn incident_list(incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return "No incidents match.".to_string();
    }
    let mut out = format!("{} incident(s):", incidents.len());
    for incident in incidents {
        out.push('\n');
        out.push_str(&list_line(incident));
    }
    out
}

/// The facts of an incident, as a short block.
pub fn incident_card(incident: &Incident) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} {} · {} · {} — {}",
        status_marker(incident.status),
        incident.id,
        incident.severity,
        incident.status,
        incident.title
    );
    let _ = write!(
        out,
        "Teams: {} · Commander: {}",
        crate::domain::incident_team_list(incident),
        incident.commander
    );
    if !incident.assignees.is_empty() {
        let _ = write!(out, " · Assignees: {}", assignees(incident).join(", "));
    }
    if incident.esp_account.is_some() || incident.stream.is_some() {
        let esp = incident
            .esp_account
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into());
        match &incident.stream {
            Some(stream) => {
                let _ = write!(out, "\nESP: {esp} · stream {stream}");
            }
            None => {
                let _ = write!(out, "\nESP: {esp}");
            }
        }
    }
    if let Some(cause) = incident.root_cause {
        let _ = write!(out, "\nRoot cause: {}", cause.label());
    }
    if let Some(resolution) = &incident.resolution {
        let _ = write!(out, "\nResolution: {resolution}");
    }
    out
}

/// The card, prevention actions and the full timeline: `/incident show`.
pub fn incident_log(incident: &Incident) -> String {
    let mut out = incident_card(incident);
    if !incident.actions.is_empty() {
        out.push_str("\nPrevention actions:");
        for action in &incident.actions {
            let mark = if action.done.is_some() { "☑" } else { "☐" };
            let _ = write!(
                out,
                "\n  {mark} #{} {} — {}",
                action.number, action.text, action.owner
            );
            if let Some(due) = action.due {
                let _ = write!(out, " (due {due})");
            }
        }
    }
    out.push_str("\nTimeline:");
    for entry in &incident.timeline {
        let _ = write!(
            out,
            "\n  {} · {} {}",
            timestamp(entry.at),
            entry.by,
            entry.change
        );
    }
    out
}

/// "9.1%", or "—" for a rate that does not exist.
fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r >= 0.1 => format!("{:.1}%", r * 100.0),
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "—".to_string(),
    }
}

/// The answer to `/metrics`.
pub fn metrics(
    account: &str,
    stream: &crate::delivery::StreamKey,
    summary: &crate::delivery::summary::StreamSummary,
) -> String {
    let Some(latest) = &summary.latest else {
        return format!("{account} / {stream}: no buckets in the last four weeks.");
    };
    let now = latest.counts.rates();
    let m = &summary.median;
    let volume = latest
        .counts
        .sent
        .map(|s| s.to_string())
        .unwrap_or_else(|| "?".into());
    let mut out = format!(
        "{account} / {stream} — latest bucket {} ({volume} sent); four-week median over {} buckets in brackets",
        timestamp(latest.bucket.start),
        summary.buckets
    );
    for (name, value, median) in [
        ("delivered", now.delivery, m.delivery),
        (
            "bounced",
            now.bounce.or(now.hard_bounce),
            m.bounce.or(m.hard_bounce),
        ),
        ("deferred", now.deferral_events, m.deferral_events),
        ("complaints", now.complaint, m.complaint),
        ("opens", now.open, m.open),
        ("clicks", now.click, m.click),
        ("unsubscribes", now.unsubscribe, m.unsubscribe),
    ] {
        out.push_str(&format!(
            "\n  {name:<13} {:>7}  ({})",
            percent(value),
            percent(median)
        ));
    }
    out
}
