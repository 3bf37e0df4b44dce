//! The weekly summary as Markdown, and split into chat messages.
//!
//! Every front end shows the same text; only how a person is named differs
//! (a Discord mention for an action's owner, a name at the console), so the
//! caller passes that in. Text that came from ESPs or users (stream names,
//! titles, action texts) is defanged: it never pings anyone. Long summaries
//! are split at line ends into messages within the chat's limit, each
//! saying which part it is; nothing is cut.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Figures, Spread, StreamLine, WeeklySummary};
use crate::domain::{defang, Actor};

/// How a relative change must be, at least, to get a direction mark.
const MOVE: f64 = 0.10;

/// A rate as a percentage, with the precision small rates need.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        None => "n/a".into(),
        Some(r) => {
            let p = r * 100.0;
            if p != 0.0 && p.abs() < 0.1 {
                format!("{p:.3}%")
            } else if p.abs() < 10.0 {
                format!("{p:.2}%")
            } else {
                format!("{p:.1}%")
            }
        }
    }
}

/// A count with thousands separators.
pub fn count(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "n/a".into();
    };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in seconds, in the largest units that read well.
pub fn duration(seconds: Option<i64>) -> String {
    let Some(s) = seconds else {
        return "n/a".into();
    };
    let minutes = s / 60;
    if s < 60 {
        format!("{s} s")
    } else if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{} d {} h", minutes / (24 * 60), (minutes / 60) % 24)
    }
}

/// ▲, ▼ or = for `now` against `before`, with ⚠ when the move is the bad
/// way (`up_is_worse`); empty when either is unknown. A move counts when
/// the figure changed by at least [`MOVE`] of itself.
fn mark(before: Option<f64>, now: Option<f64>, up_is_worse: bool) -> &'static str {
    let (Some(before), Some(now)) = (before, now) else {
        return "";
    };
    let up = if before == 0.0 {
        now > 0.0
    } else {
        (now - before) / before.abs() >= MOVE
    };
    let down = before != 0.0 && (before - now) / before.abs() >= MOVE;
    match (up, down, up_is_worse) {
        (true, _, true) => " ▲⚠",
        (true, _, false) => " ▲",
        (_, true, true) => " ▼",
        (_, true, false) => " ▼⚠",
        _ => " =",
    }
}

/// The mark for the delivery rate, judged on what was *not* delivered: 99%
/// falling to 97.6% is undelivered mail more than doubling, a bad move,
/// though the rate itself moved by less than [`MOVE`].
fn delivery_mark(before: Option<f64>, now: Option<f64>) -> &'static str {
    let undelivered = |d: Option<f64>| d.map(|d| 1.0 - d);
    match mark(undelivered(before), undelivered(now), true) {
        " ▲⚠" => " ▼⚠",
        " ▼" => " ▲",
        other => other,
    }
}

fn figures_line(line: &StreamLine) -> String {
    let (t, l, m): (&Figures, &Figures, &Figures) =
        (&line.this_week, &line.last_week, &line.median);
    let f = |n: Option<u64>| n.map(|n| n as f64);
    let rate = |name: &str, pick: fn(&Figures) -> Option<f64>, up_is_worse: bool| {
        let moved = if name == "delivered" {
            delivery_mark(pick(l), pick(t))
        } else {
            mark(pick(l), pick(t), up_is_worse)
        };
        format!(
            "{name} {}{moved} ({} / {})",
            percent(pick(t)),
            percent(pick(l)),
            percent(pick(m))
        )
    };
    [
        format!(
            "sent {}{} ({} / {})",
            count(t.sent),
            mark(f(l.sent), f(t.sent), false),
            count(l.sent),
            count(m.sent)
        ),
        rate("delivered", |f| f.delivery, false),
        rate("bounced", |f| f.bounce, true),
        rate("complaints", |f| f.complaint, true),
        rate("opened", |f| f.open, false),
        rate("clicked", |f| f.click, false),
    ]
    .join(" · ")
}

fn spread_line(name: &str, this: &Spread, last: &Spread) -> String {
    format!(
        "{name}: median {}, p90 {} ({} incident(s)); last week median {}, p90 {} ({})",
        duration(this.median),
        duration(this.p90),
        this.count,
        duration(last.median),
        duration(last.p90),
        last.count
    )
}

fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%a %d %b %H:%M").to_string()
}

fn counts_by<'a>(map: impl IntoIterator<Item = (&'a String, &'a usize)>) -> String {
    let parts: Vec<String> = map.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// How many stream lines a chat post shows; the rest are in the attached
/// Markdown file.
pub const CHAT_STREAMS: usize = 20;

/// The summary as Markdown, whole; `who` names an action's owner (a
/// mention where the front end pings them).
pub fn markdown(summary: &WeeklySummary, who: &dyn Fn(&Actor) -> String) -> String {
    markdown_with(summary, who, None)
}

/// The summary for a chat: the [`CHAT_STREAMS`] worst movers, and a line
/// saying how many more streams the attached file (`file`) holds.
pub fn chat_markdown(
    summary: &WeeklySummary,
    who: &dyn Fn(&Actor) -> String,
    file: &str,
) -> String {
    markdown_with(summary, who, Some((CHAT_STREAMS, file)))
}

fn markdown_with(
    summary: &WeeklySummary,
    who: &dyn Fn(&Actor) -> String,
    cap: Option<(usize, &str)>,
) -> String {
    let zone: Tz = summary.zone.parse().unwrap_or(chrono_tz::UTC);
    let mut out = String::new();
    let last_day = summary.days.last().copied();
    let _ = writeln!(
        out,
        "# Weekly quality summary, {} ({} to {}, {})",
        summary.week,
        summary
            .days
            .first()
            .map(|d| d.format("%a %d %b").to_string())
            .unwrap_or_default(),
        last_day
            .map(|d| d.format("%a %d %b %Y").to_string())
            .unwrap_or_default(),
        summary.zone
    );

    let _ = writeln!(out, "\n## Deliverability");
    if summary.streams.is_empty() {
        let _ = writeln!(
            out,
            "No figures this week: no ESP account has history for it."
        );
    } else {
        let _ = writeln!(
            out,
            "Each figure: this week, its move against last week (▲ ▼ =, ⚠ the bad way), then (last week / four-week median). Worst movers first."
        );
        let shown = cap.map_or(summary.streams.len(), |(n, _)| n);
        for line in summary.streams.iter().take(shown) {
            let _ = writeln!(
                out,
                "**{} / {}**\n{}",
                defang(&line.account),
                defang(&line.stream),
                figures_line(line)
            );
        }
        if let Some((_, file)) = cap.filter(|_| summary.streams.len() > shown) {
            let _ = writeln!(
                out,
                "…and {} more stream(s), which moved less: every stream is in the attached {file}.",
                summary.streams.len() - shown
            );
        }
    }
    if !summary.quiet.is_empty() {
        let _ = writeln!(
            out,
            "\n**Went quiet** (mail in the four weeks before, none this week):"
        );
        for quiet in &summary.quiet {
            let why = if quiet.polled {
                "polled, no mail"
            } else {
                "no figures arrived: check the feed"
            };
            let _ = writeln!(
                out,
                "- {} / {}: {} sent before; {why}",
                defang(&quiet.account),
                defang(&quiet.stream),
                count(Some(quiet.sent_before))
            );
        }
    }

    if !summary.mailbox.is_empty() {
        let _ = writeln!(
            out,
            "\n**What mailbox providers report** (their own figures; the worst of the week):"
        );
        for view in &summary.mailbox {
            let _ = writeln!(
                out,
                "- {} / {}: {}",
                defang(&view.account),
                defang(&view.stream),
                mailbox_line(view)
            );
        }
    }

    let i = &summary.incidents;
    let _ = writeln!(out, "\n## Incidents");
    let _ = writeln!(
        out,
        "Opened {} ({}), resolved {} (root causes: {}), still open {}.",
        i.opened.len(),
        counts_by(&i.opened_by_severity),
        i.resolved.len(),
        counts_by(&i.resolved_by_cause),
        i.still_open.len()
    );
    for line in &i.still_open {
        let _ = writeln!(
            out,
            "- open: {} {} ({}, {})",
            line.id,
            defang(&line.title),
            line.severity,
            line.status
        );
    }
    let _ = writeln!(
        out,
        "{}",
        spread_line(
            "Time to acknowledge",
            &i.acknowledge,
            &i.acknowledge_last_week
        )
    );
    let _ = writeln!(
        out,
        "{}",
        spread_line("Time to resolve", &i.resolve, &i.resolve_last_week)
    );
    if i.false_alarms > 0 {
        let _ = writeln!(out, "Resolved as false alarms: {}.", i.false_alarms);
    }
    if !i.closed_without_learning.is_empty() {
        let _ = writeln!(
            out,
            "Closed without a root cause or a prevention action: {}.",
            i.closed_without_learning.join(", ")
        );
    }

    let _ = writeln!(out, "\n## Prevention actions");
    let overdue = summary.actions.iter().filter(|a| a.overdue).count();
    if summary.actions.is_empty() {
        let _ = writeln!(out, "None open.");
    } else {
        let _ = writeln!(out, "{} open, {overdue} overdue.", summary.actions.len());
    }
    for action in &summary.actions {
        let due = match (action.due, action.overdue) {
            (Some(due), true) => format!("**overdue**, due {due}"),
            (Some(due), false) => format!("due {due}"),
            (None, _) => "no due date".into(),
        };
        let _ = writeln!(
            out,
            "- {} #{}: {} ({}, {due})",
            action.incident,
            action.number,
            defang(&action.text),
            who(&action.owner)
        );
    }

    let a = &summary.alerts;
    let _ = writeln!(out, "\n## Alerts");
    let _ = writeln!(
        out,
        "Fired {}, acknowledged {}, snoozed {}, silenced {}, false alarms {}. Detection delay: median {}, p90 {}.",
        a.fired,
        a.acknowledged,
        a.snoozed,
        a.silenced,
        a.false_alarms,
        duration(a.detection_delay.median),
        duration(a.detection_delay.p90)
    );

    let _ = writeln!(out, "\n## Coming week on duty");
    if summary.roster.is_empty() {
        let _ = writeln!(out, "No rotations are configured.");
    }
    for duty in &summary.roster {
        let who_when: Vec<String> = duty
            .stretches
            .iter()
            .map(|(member, from, to)| {
                format!("{member} ({} to {})", local(*from, zone), local(*to, zone))
            })
            .collect();
        let text = if who_when.is_empty() {
            "**nobody**".to_string()
        } else {
            who_when.join(", then ")
        };
        let _ = writeln!(out, "- {}: {text}", duty.rotation);
    }
    if let Some(unticked) = &summary.unticked {
        if unticked.items.is_empty() {
            let _ = writeln!(
                out,
                "The quality reviewer ({}) ticked every checklist item.",
                unticked.reviewer
            );
        } else {
            let _ = writeln!(
                out,
                "Checklist items the quality reviewer ({}) left unticked:",
                unticked.reviewer
            );
            for item in &unticked.items {
                let _ = writeln!(out, "- {}", defang(item));
            }
        }
    }
    if !summary.load.is_empty() {
        let _ = writeln!(
            out,
            "Duty load this week (alerts / pages in working, off and sleep hours):"
        );
        for load in &summary.load {
            let _ = writeln!(
                out,
                "- {}: alerts {}/{}/{}, pages {}/{}/{}",
                load.member,
                load.alerts[0],
                load.alerts[1],
                load.alerts[2],
                load.pages[0],
                load.pages[1],
                load.pages[2]
            );
        }
    }
    out
}

/// Splits `text` into messages of at most `limit` characters, at line ends
/// where it can (a longer line is split between characters), each after
/// the first saying which part it is. Nothing is dropped.
pub fn messages(text: &str, limit: usize) -> Vec<String> {
    // Room for "(part 12 of 12)\n".
    const LABEL: usize = 24;
    let room = limit.saturating_sub(LABEL).max(1);
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.lines() {
        let mut rest: Vec<char> = line.chars().collect();
        loop {
            let needed = rest.len() + usize::from(current_len > 0);
            if current_len + needed <= room {
                if current_len > 0 {
                    current.push('\n');
                }
                current.extend(rest.iter());
                current_len += needed;
                break;
            }
            if current_len > 0 {
                chunks.push(std::mem::take(&mut current));
                current_len = 0;
                continue;
            }
            // A line longer than a whole message: split it.
            let head: String = rest.iter().take(room).collect();
            rest.drain(..room.min(rest.len()));
            chunks.push(head);
            if rest.is_empty() {
                break;
            }
        }
    }
    if current_len > 0 || chunks.is_empty() {
        chunks.push(current);
    }
    let total = chunks.len();
    if total == 1 {
        return chunks;
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| format!("(part {} of {total})\n{chunk}", i + 1))
        .collect()
}

/// "spam up to 0.31%, domain MEDIUM, IPs LOW, needs work: dmarc policy".
fn mailbox_line(view: &super::MailboxView) -> String {
    let mut parts = Vec::new();
    if let Some(spam) = view.spam {
        parts.push(format!("spam up to {:.2}%", spam * 100.0));
    }
    if let Some(level) = view.domain_reputation {
        parts.push(format!("domain {}", level.as_str()));
    }
    if let Some(level) = view.ip_reputation {
        parts.push(format!("IPs {}", level.as_str()));
    }
    match view.needs_work.as_deref() {
        Some([]) => parts.push("every requirement met".to_string()),
        Some(names) => parts.push(format!(
            "needs work: {}",
            names
                .iter()
                .map(|name| defang(&name.to_lowercase().replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => {}
    }
    if parts.is_empty() {
        "no figures".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(percent(Some(0.0123)), "1.23%");
        assert_eq!(percent(Some(0.00012)), "0.012%");
        assert_eq!(percent(Some(0.985)), "98.5%");
        assert_eq!(percent(None), "n/a");
        assert_eq!(count(Some(1_234_567)), "1,234,567");
        assert_eq!(count(Some(999)), "999");
        assert_eq!(duration(Some(42)), "42 s");
        assert_eq!(duration(Some(3 * 3600 + 600)), "3 h 10 min");
        assert_eq!(duration(Some(3 * 86400 + 7200)), "3 d 2 h");
    }

    #[test]
    fn marks_say_which_way_and_whether_it_is_bad() {
        assert_eq!(mark(Some(0.01), Some(0.02), true), " ▲⚠");
        assert_eq!(mark(Some(0.5), Some(0.3), false), " ▼⚠");
        assert_eq!(mark(Some(0.5), Some(0.52), false), " =");
        assert_eq!(mark(None, Some(0.52), false), "");
        assert_eq!(mark(Some(0.0), Some(0.01), true), " ▲⚠");
        assert_eq!(delivery_mark(Some(0.99), Some(0.976)), " ▼⚠");
        assert_eq!(delivery_mark(Some(0.976), Some(0.99)), " ▲");
        assert_eq!(delivery_mark(Some(0.99), Some(0.9895)), " =");
    }

    #[test]
    fn long_text_is_split_at_line_ends_and_nothing_is_lost() {
        let lines: Vec<String> = (0..300)
            .map(|i| format!("line {i} {}", "x".repeat(i % 40)))
            .collect();
        let text = lines.join("\n");
        let parts = messages(&text, 2000);
        assert!(parts.len() > 3);
        for (i, part) in parts.iter().enumerate() {
            assert!(part.chars().count() <= 2000, "part {i} is too long");
            assert!(part.starts_with(&format!("(part {} of {})\n", i + 1, parts.len())));
        }
        let rejoined: Vec<&str> = parts.iter().flat_map(|p| p.lines().skip(1)).collect();
        assert_eq!(rejoined.join("\n"), text);
    }

    #[test]
    fn a_line_longer_than_a_message_is_split_not_cut() {
        let text = format!("head\n{}\ntail", "é".repeat(4500));
        let parts = messages(&text, 2000);
        let body: String = parts
            .iter()
            .map(|p| p.split_once('\n').map_or("", |(_, b)| b))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(body.matches('é').count(), 4500);
        assert!(parts.iter().all(|p| p.chars().count() <= 2000));
        assert!(body.starts_with("head") && body.ends_with("tail"));
    }

    #[test]
    fn a_short_text_is_one_message_without_a_label() {
        assert_eq!(
            messages("hello\nworld", 2000),
            vec!["hello\nworld".to_string()]
        );
    }
}
