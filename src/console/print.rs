//! How outcomes look in the terminal: the reply, then each post labelled with
//! the channel it goes to (`[#integration]`, `[thread INC-3]`).

use std::io::{self, Write};

use crate::alert::AlertEffect;
use crate::alerting::render as alert_render;
use crate::command::{render, Effect, Manifests, Outcome, Visibility};
use crate::config::Config;

/// Writes `text` with every line after the first indented under the label,
/// through the redaction layer (a poll failure's text came from an ESP).
fn labelled(out: &mut impl Write, label: &str, text: &str) -> io::Result<()> {
    let text = crate::redact::redact(text);
    let mut lines = text.lines();
    writeln!(out, "  {label} {}", lines.next().unwrap_or(""))?;
    for line in lines {
        writeln!(out, "      {line}")?;
    }
    Ok(())
}

/// Prints a command's reply and the posts it caused.
///
/// The terminal has no channels to type in, so the console behaves as if
/// the person typed in the incident's thread: a public reply to a change is
/// the thread post itself and is printed once, as the thread post.
pub fn outcome(out: &mut impl Write, config: &Config, outcome: &Outcome) -> io::Result<()> {
    let posts_in_thread = outcome
        .effects
        .iter()
        .any(|e| matches!(e, Effect::ThreadPost { .. }));
    match outcome.reply.visibility {
        Visibility::Public if posts_in_thread => {}
        Visibility::Public => labelled(out, "[reply]", &outcome.reply.text)?,
        Visibility::Private => labelled(out, "[reply, only you]", &outcome.reply.text)?,
    }
    for file in &outcome.attachments {
        // A Markdown draft is text: shown in full. Other files are named,
        // with the command that writes them to disk.
        let shown = match file.filename.rsplit_once('.').map(|(_, ext)| ext) {
            Some("md") => format!(
                "{}:\n{}",
                file.filename,
                String::from_utf8_lossy(&file.bytes)
            ),
            Some("ics") => format!(
                "{} ({} bytes); at the terminal, `mailcall duty ical` writes it to a file",
                file.filename,
                file.bytes.len()
            ),
            _ if file.filename.starts_with("mailcall-summary-") => format!(
                "{} ({} bytes; an image, attached in Discord; `mailcall summary --out DIR` writes it to a file)",
                file.filename,
                file.bytes.len()
            ),
            _ => format!(
                "{} ({} bytes; an image, attached in Discord)",
                file.filename,
                file.bytes.len()
            ),
        };
        labelled(out, "[file]", &shown)?;
    }
    effects(out, config, &outcome.effects)
}

/// Prints posts caused by something other than a command (detection after a
/// poll, time passing).
pub fn effects(out: &mut impl Write, config: &Config, effects: &[Effect]) -> io::Result<()> {
    for effect in effects {
        match effect {
            Effect::Alert(alert) => alert_post(out, config, alert)?,
            Effect::TeamPost {
                team,
                mention,
                text,
                mention_admin,
                buttons,
            } => duty_post(
                out,
                config.channel(*team),
                mention,
                text,
                *mention_admin,
                buttons,
            )?,
            Effect::QualityPost {
                mention,
                text,
                mention_admin,
                buttons,
            } => duty_post(
                out,
                config.summary_channel_name(),
                mention,
                text,
                *mention_admin,
                buttons,
            )?,
            Effect::Summary(summary) => {
                let text = crate::summary::render::markdown(summary, &|a| format!("@{a}"));
                labelled(
                    out,
                    &format!("[#{}]", config.summary_channel_name()),
                    &format!(
                        "{text}(the chart is attached in Discord; `mailcall summary --week {} --out DIR` writes it)",
                        summary.week
                    ),
                )?;
            }
            Effect::Announce { incident, teams } => {
                for team in teams {
                    let text = format!(
                        "🚨 @{team} new incident\n{}",
                        render::incident_card(incident)
                    );
                    labelled(out, &format!("[#{}]", config.channel(*team)), &text)?;
                }
            }
            Effect::ThreadPost {
                incident,
                text,
                stakeholders,
            } => {
                labelled(out, &format!("[thread {}]", incident.id), text)?;
                if let (true, Some(channel)) = (*stakeholders, &config.stakeholder_channel) {
                    let text = format!(
                        "{} · {} · {} — {}: {text}",
                        incident.id, incident.severity, incident.status, incident.title
                    );
                    labelled(out, &format!("[#{channel}]"), &text)?;
                }
            }
        }
    }
    Ok(())
}

/// A duty post in `channel`: its mentions, its text, and its buttons as
/// the commands to type.
fn duty_post(
    out: &mut impl Write,
    channel: &str,
    mention: &[crate::domain::Actor],
    text: &str,
    mention_admin: bool,
    buttons: &[crate::command::PostButton],
) -> io::Result<()> {
    let mut mention: String = mention.iter().map(|m| format!("@{m} ")).collect();
    if mention_admin {
        mention.push_str("@incident-admin ");
    }
    let answers: String = buttons
        .iter()
        .map(|b| format!("\n  {}", b.typed()))
        .collect();
    labelled(
        out,
        &format!("[#{channel}]"),
        &format!("{mention}{text}{answers}"),
    )
}

/// `/help`: every command and subcommand from the manifests, with options.
pub fn help(manifests: &Manifests) -> String {
    let mut out = String::from("Commands (options in [brackets] are optional):");
    for leaf in manifests.leaves() {
        out.push_str(&format!(
            "\n  {} {}\n      {}",
            leaf.shown,
            leaf.usage(),
            leaf.description
        ));
    }
    out.push_str("\nConsole only: /as NAME [TEAM…|admin|none] · /help · /quit");
    out
}

/// An alert as the terminal shows it: in each owning team's channel, with
/// the buttons Discord would show written as their console commands.
fn alert_post(out: &mut impl Write, config: &Config, effect: &AlertEffect) -> io::Result<()> {
    let Some(alert) = effect.alert() else {
        return labelled(out, "[alerts]", &alert_render::effect_line(effect));
    };
    for (index, team) in alert.teams.iter().enumerate() {
        let label = format!("[#{}]", config.channel(*team));
        // The runbook is shown once per alert: in the first team's channel.
        let runbook = if index == 0 {
            format!(
                "\nCheck first ({}):\n{}",
                alert.key.kind,
                config.alerting.runbooks.excerpt(alert.key.kind)
            )
        } else {
            String::new()
        };
        let text = match effect {
            AlertEffect::Open { .. } => format!(
                "🚨 {} {}\n{}{runbook}\n[Acknowledge: /alert ack id:{id}] [Snooze 1 h: /alert snooze id:{id} for:1h] [Snooze 24 h: /alert snooze id:{id} for:24h] [Open incident: /alert incident id:{id}] [False alarm: /alert false-alarm id:{id}]",
                match (alert.on_duty.get(team), alert.on_duty_only) {
                    (Some(member), true) => format!("@{member} (on duty)"),
                    (Some(member), false) => format!("@{team} @{member} (on duty)"),
                    (None, _) => format!("@{team}"),
                },
                alert_render::headline(alert),
                alert_render::details(alert),
                id = alert.id
            ),
            AlertEffect::Remind { .. } => format!(
                "⏰ @{team}{} {}",
                alert
                    .on_duty
                    .get(team)
                    .map(|member| format!(" @{member}"))
                    .unwrap_or_default(),
                alert_render::effect_line(effect)
            ),
            AlertEffect::Escalate { .. } => format!("📣 @incident-admin {}", alert_render::effect_line(effect)),
            _ => format!("{}\n{}", alert_render::effect_line(effect), alert_render::details(alert)),
        };
        labelled(out, &label, &text)?;
    }
    // A copy of each new alert, without a mention, where all alerts go.
    if let (AlertEffect::Open { .. }, Some(channel)) = (effect, &config.all_alerts_channel) {
        labelled(
            out,
            &format!("[#{channel}]"),
            &format!(
                "🚨 {} (teams: {})
{}",
                alert_render::headline(alert),
                alert
                    .teams
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                alert_render::details(alert)
            ),
        )?;
    }
    Ok(())
}
