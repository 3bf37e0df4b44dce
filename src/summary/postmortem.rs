//! A postmortem draft for one incident, as Markdown with a chart.
//!
//! Writing the review is what turns an incident into prevention, and the
//! blank page is what stops a team in a rush from writing it. The draft
//! fills in everything mailcall knows (the facts, the stream's figures
//! before, during and after, the timeline, the root cause, the prevention
//! actions with owners and due dates) and leaves the judgement to the team
//! as prompts. Plain Rust: the engine passes the incident and the samples.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::chart::{AccountSeries, ChartData};
use super::render::{count, duration, percent};
use super::{total, Figures};
use crate::delivery::Sample;
use crate::domain::{defang, Change, Incident};

/// How far before the opening and after the end the figures reach.
pub const AROUND: Duration = Duration::days(7);

/// When the trouble ended, for the "during" window: the latest resolution,
/// else the closing, else `now` (still going).
pub fn end_of(incident: &Incident, now: DateTime<Utc>) -> DateTime<Utc> {
    incident.resolved_at.or(incident.closed_at).unwrap_or(now)
}

fn when(at: DateTime<Utc>) -> String {
    crate::command::render::timestamp(at)
}

fn figures_row(name: &str, samples: &[&Sample]) -> String {
    let counts = total(samples.iter().copied());
    let f = Figures::of(counts.as_ref());
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        count(f.sent),
        percent(f.delivery),
        percent(f.bounce),
        percent(f.complaint),
        percent(f.open),
        percent(f.click)
    )
}

/// The draft's Markdown. `samples` are the incident's stream's, from
/// [`AROUND`] before its opening to [`AROUND`] after its end.
pub fn draft(incident: &Incident, samples: &[Sample], now: DateTime<Utc>) -> String {
    let end = end_of(incident, now);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Postmortem draft: {} {}",
        incident.id, incident.title
    );
    let _ = writeln!(
        out,
        "_Drafted by mailcall on {} from the incident's record. Fill in the prompts, correct what is wrong, then share it._",
        when(now)
    );

    let _ = writeln!(out, "\n## Summary");
    let _ = writeln!(
        out,
        "- Severity {}, status {}; owned by {}; teams: {}.",
        incident.severity,
        incident.status,
        incident.owner,
        crate::domain::incident_team_list(incident)
    );
    let _ = writeln!(out, "- Commander: {}.", incident.commander);
    if !incident.assignees.is_empty() {
        let _ = writeln!(
            out,
            "- Assignees: {}.",
            crate::command::render::assignees(incident).join(", ")
        );
    }
    let since = |at: Option<DateTime<Utc>>| {
        at.map(|at| duration(Some((at - incident.opened_at).num_seconds())))
            .unwrap_or_else(|| "not yet".into())
    };
    let _ = writeln!(
        out,
        "- Opened {}; acknowledged after {}; resolved after {}.",
        when(incident.opened_at),
        since(incident.acknowledged_at),
        since(incident.resolved_at)
    );
    match &incident.resolution {
        Some(resolution) => {
            let _ = writeln!(out, "- Resolution: {resolution}");
        }
        None => {
            let _ = writeln!(out, "- Resolution: not given yet.");
        }
    }

    let _ = writeln!(out, "\n## Impact");
    match (&incident.esp_account, &incident.stream) {
        (Some(account), stream) => {
            let stream = stream
                .as_ref()
                .map_or_else(|| "account".to_string(), |s| s.to_string());
            let _ = writeln!(
                out,
                "ESP account {account}, stream {stream}: the figures the week before, while it lasted ({} to {}), and the week after (so far).",
                when(incident.opened_at),
                when(end)
            );
            let before: Vec<&Sample> = samples
                .iter()
                .filter(|s| {
                    s.bucket.start >= incident.opened_at - AROUND
                        && s.bucket.start < incident.opened_at
                })
                .collect();
            let during: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.bucket.start >= incident.opened_at && s.bucket.start < end)
                .collect();
            let after: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.bucket.start >= end && s.bucket.start < end + AROUND)
                .collect();
            let _ = writeln!(
                out,
                "\n| period | sent | delivered | bounced | complaints | opened | clicked |\n|---|---|---|---|---|---|---|"
            );
            let _ = writeln!(out, "{}", figures_row("week before", &before));
            let _ = writeln!(out, "{}", figures_row("during", &during));
            let _ = writeln!(out, "{}", figures_row("week after", &after));
            if samples.is_empty() {
                let _ = writeln!(out, "\nNo figures were polled for this stream over that time: n/a is unknown, not zero.");
            }
            let _ = writeln!(
                out,
                "\n_Prompt: who was affected (recipients, campaigns, revenue), and for how long?_"
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "No ESP account is recorded on this incident, so mailcall has no figures for it. _Prompt: which stream was hit, and how many recipients?_"
            );
        }
    }

    let _ = writeln!(out, "\n## Timeline");
    for entry in &incident.timeline {
        let _ = writeln!(out, "- {} · {} {}", when(entry.at), entry.by, entry.change);
    }

    let _ = writeln!(out, "\n## Root cause");
    match incident.root_cause {
        Some(cause) => {
            let _ = writeln!(out, "Category: {}.", cause.label());
        }
        None => {
            let _ = writeln!(out, "Category: not given yet.");
        }
    }
    let notes: Vec<String> = incident
        .diagnosis()
        .map(|note| format!("- {} · {}: {}", when(note.at), note.by, note.text))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "Diagnosis notes:\n{}", notes.join("\n"));
    }
    let _ = writeln!(
        out,
        "_Prompt: why did it happen, and why did nothing catch it sooner?_"
    );

    let _ = writeln!(
        out,
        "\n## What went well\n_Prompt: what helped us notice, understand and fix it?_"
    );
    let _ = writeln!(
        out,
        "\n## What went badly\n_Prompt: what slowed us down, and what did we learn late?_"
    );

    let _ = writeln!(out, "\n## Prevention actions");
    if incident.actions.is_empty() {
        let _ = writeln!(
            out,
            "None yet. _Prompt: what will stop this happening again? Add each with `/incident action add`, with an owner and a due date._"
        );
    } else {
        let _ = writeln!(
            out,
            "| # | action | owner | due | status |\n|---|---|---|---|---|"
        );
        for action in &incident.actions {
            let status = match &action.done {
                Some((at, by)) => format!("done {} by {by}", at.format("%Y-%m-%d")),
                None => "open".into(),
            };
            let due = action
                .due
                .map_or_else(|| "none".to_string(), |d| d.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {due} | {status} |",
                action.number,
                // A table cell cannot hold a bare pipe.
                defang(&action.text.to_string()).replace('|', "\\|"),
                action.owner
            );
        }
    }
    let reopened = incident
        .timeline
        .iter()
        .filter(|e| matches!(e.change, Change::Reopened { .. }))
        .count();
    if reopened > 0 {
        let _ = writeln!(
            out,
            "\nReopened {reopened} time(s): _Prompt: why did the first fix not hold?_"
        );
    }
    out
}

/// The chart of the stream's daily figures from a week before the opening
/// to a week after the end; `None` without an ESP account.
pub fn chart(incident: &Incident, samples: &[Sample], now: DateTime<Utc>) -> Option<ChartData> {
    let account = incident.esp_account.as_ref()?;
    let first = (incident.opened_at - AROUND).date_naive();
    let last = (end_of(incident, now) + AROUND).min(now).date_naive();
    let days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .take(120)
        .collect();
    let mut series = AccountSeries {
        name: match &incident.stream {
            Some(stream) => format!("{account} / {stream}"),
            None => account.to_string(),
        },
        bounce: Vec::new(),
        complaint: Vec::new(),
        volume: Vec::new(),
    };
    for day in &days {
        let counts = total(
            samples
                .iter()
                .filter(|s| s.bucket.start.date_naive() == *day),
        );
        let f = Figures::of(counts.as_ref());
        series.bounce.push(f.bounce);
        series.complaint.push(f.complaint);
        series.volume.push(f.sent);
    }
    Some(ChartData {
        title: format!("{} (UTC days)", incident.id),
        days,
        accounts: vec![series],
        bounce_limit: None,
        complaint_limit: None,
    })
}
