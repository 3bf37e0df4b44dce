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
    let mut reply = format!(
        "{} opened: {} ({}, {}). Commander: {}.",
        incident.id,
        incident.title,
        incident.severity,
        crate::domain::incident_team_list(incident),
        incident.commander
    );
    if !incident.assignees.is_empty() {
        reply.push_str(&format!(
            " Assignees (on duty): {}.",
            assignees(incident).join(", ")
        ));
    }
    reply
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

/// How much of an answer one page holds: Discord shows at most 2,000
/// characters, and the footer needs room.
pub const PAGE_CHARS: usize = 1_800;

/// Splits `items` into pages of at most `budget` characters (one item per
/// line; an item longer than a page gets a page of its own).
fn pages(items: &[String], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (index, item) in items.iter().enumerate() {
        let cost = item.chars().count() + 1;
        if index > start && used + cost > budget {
            pages.push(start..index);
            start = index;
            used = 0;
        }
        used += cost;
    }
    if start < items.len() {
        pages.push(start..items.len());
    }
    pages
}

/// Writes the items of page `page` (`shown`), one per line, then, when
/// there is more than one page, which items these are and (`more`) how to
/// see the next page.
fn write_page(
    out: &mut String,
    items: &[String],
    shown: &std::ops::Range<usize>,
    page: u32,
    pages: usize,
    what: &str,
    more: impl Fn(usize, u32) -> String,
) {
    for item in &items[shown.clone()] {
        out.push('\n');
        out.push_str(item);
    }
    if pages > 1 {
        let _ = write!(
            out,
            "\n— page {page} of {pages}: {what} {}–{} of {}",
            shown.start + 1,
            shown.end,
            items.len()
        );
        if (page as usize) < pages {
            let _ = write!(out, "; {}", more(items.len() - shown.end, page + 1));
        }
    }
}

/// The answer to `/incident list`: page `page` of the lines, and how many
/// there are on the other pages.
pub fn incident_list(incidents: &[Incident], page: u32) -> String {
    if incidents.is_empty() {
        return "No incidents match.".to_string();
    }
    let lines: Vec<String> = incidents.iter().map(list_line).collect();
    let pages = pages(&lines, PAGE_CHARS - 200);
    let Some(shown) = (page as usize)
        .checked_sub(1)
        .and_then(|index| pages.get(index))
    else {
        return format!(
            "{} incident(s) fit on {} page(s); there is no page {page}.",
            incidents.len(),
            pages.len()
        );
    };
    let mut out = format!("{} incident(s):", incidents.len());
    write_page(
        &mut out,
        &lines,
        shown,
        page,
        pages.len(),
        "incidents",
        |left, next| format!("{left} more: add `page:{next}`"),
    );
    out
}

/// `heading` and page `page` of `lines`, saying what the other pages hold
/// and (`more`) how to see the next.
pub fn paged(
    heading: &str,
    lines: &[String],
    page: u32,
    what: &str,
    more: impl Fn(usize, u32) -> String,
) -> String {
    let pages = pages(lines, PAGE_CHARS - 200);
    let Some(shown) = (page as usize)
        .checked_sub(1)
        .and_then(|index| pages.get(index))
    else {
        return format!(
            "{} {what} fit on {} page(s); there is no page {page}.",
            lines.len(),
            pages.len()
        );
    };
    let mut out = heading.to_string();
    write_page(&mut out, lines, shown, page, pages.len(), what, more);
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

/// `/incident show`: the card, prevention actions and page `page` of the
/// timeline, newest first, saying how many entries the other pages hold.
pub fn incident_log(incident: &Incident, page: u32) -> String {
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
    let entries: Vec<String> = incident
        .timeline
        .iter()
        .rev()
        .map(|entry| format!("  {} · {} {}", timestamp(entry.at), entry.by, entry.change))
        .collect();
    let budget = PAGE_CHARS
        .saturating_sub(out.chars().count() + 200)
        .max(400);
    let pages = pages(&entries, budget);
    let Some(shown) = (page as usize)
        .checked_sub(1)
        .and_then(|index| pages.get(index))
    else {
        let _ = write!(
            out,
            "\nThe timeline ({} entries) fits on {} page(s); there is no page {page}.",
            entries.len(),
            pages.len()
        );
        return out;
    };
    out.push_str("\nTimeline, newest first:");
    write_page(
        &mut out,
        &entries,
        shown,
        page,
        pages.len(),
        "entries",
        |left, next| {
            format!(
                "{left} older: `/incident show id:{} page:{next}`",
                incident.id
            )
        },
    );
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
    if let Some(reported) = latest.counts.reported.as_deref() {
        out.push_str(&reported_figures(reported));
    }
    out
}

/// A mailbox provider's own figures for the bucket (Gmail Postmaster
/// Tools), as it gave them.
fn reported_figures(reported: &crate::delivery::Reported) -> String {
    let ppm = |value: Option<u32>| percent(value.map(|v| f64::from(v) / 1_000_000.0));
    let level = |value: Option<crate::delivery::Reputation>| {
        value.map_or("—", crate::delivery::Reputation::as_str)
    };
    let mut out = String::from("\n  the mailbox provider's own figures:");
    let spam = match reported.spam_upper_ppm {
        Some(_) => format!(
            "{} (up to {})",
            ppm(reported.spam_ppm),
            ppm(reported.spam_upper_ppm)
        ),
        None => ppm(reported.spam_ppm),
    };
    out.push_str(&format!("\n  {:<13} {spam}", "spam reported"));
    out.push_str(&format!(
        "\n  {:<13} domain {}, IPs {}",
        "reputation",
        level(reported.domain_reputation),
        level(reported.ip_reputation)
    ));
    out.push_str(&format!(
        "\n  {:<13} SPF {}, DKIM {}, DMARC {}",
        "authenticated",
        ppm(reported.spf_ppm),
        ppm(reported.dkim_ppm),
        ppm(reported.dmarc_ppm)
    ));
    out.push_str(&format!(
        "\n  {:<13} {}",
        "errors",
        ppm(reported.delivery_error_ppm)
    ));
    if let Some(needs_work) = &reported.needs_work {
        let list = if needs_work.is_empty() {
            "nothing".to_string()
        } else {
            needs_work
                .iter()
                .map(|name| name.to_lowercase().replace('_', " "))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("\n  {:<13} {list}", "needs work"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::summary::StreamSummary;
    use crate::delivery::{
        Bucket, BucketWidth, Counts, Rates, Reported, Reputation, Sample, StreamKey,
    };

    #[test]
    fn metrics_show_a_mailbox_providers_own_figures_as_given() {
        let stream = StreamKey::new("domain:mail.example.com");
        let latest = Sample {
            stream: stream.clone(),
            bucket: Bucket {
                start: "2026-03-02T00:00:00Z".parse().unwrap_or_default(),
                width: BucketWidth::Day,
                provider_tz: "unspecified".into(),
            },
            counts: Counts {
                reported: Some(Box::new(Reported {
                    spam_ppm: Some(1_200),
                    spam_upper_ppm: Some(1_600),
                    domain_reputation: Some(Reputation::Medium),
                    ip_reputation: Some(Reputation::Low),
                    dkim_ppm: Some(970_000),
                    needs_work: Some(vec!["ONE_CLICK_UNSUBSCRIBE".into()]),
                    ..Reported::default()
                })),
                ..Counts::default()
            },
        };
        let text = metrics(
            "gmail",
            &stream,
            &StreamSummary {
                latest: Some(latest),
                median: Rates::default(),
                buckets: 1,
            },
        );
        assert!(text.contains("spam reported 0.12% (up to 0.16%)"), "{text}");
        assert!(text.contains("domain MEDIUM, IPs LOW"), "{text}");
        assert!(text.contains("SPF —, DKIM 97.0%, DMARC —"), "{text}");
        assert!(
            text.contains("needs work    one click unsubscribe"),
            "{text}"
        );
        // A counts-only stream shows none of it.
        let plain = metrics(
            "sg",
            &stream,
            &StreamSummary {
                latest: Some(Sample {
                    stream: stream.clone(),
                    bucket: Bucket {
                        start: "2026-03-02T00:00:00Z".parse().unwrap_or_default(),
                        width: BucketWidth::Day,
                        provider_tz: "UTC".into(),
                    },
                    counts: Counts::default(),
                }),
                median: Rates::default(),
                buckets: 1,
            },
        );
        assert!(!plain.contains("mailbox provider"), "{plain}");
    }
}
