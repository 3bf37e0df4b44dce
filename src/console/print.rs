//! How outcomes look in the terminal: the reply, then each post labelled with
//! the channel it goes to (`[#integration]`, `[thread INC-3]`).

use std::io::{self, Write};

use crate::command::{render, Effect, Manifests, Outcome, Visibility};
use crate::config::Config;

/// Writes `text` with every line after the first indented under the label.
fn labelled(out: &mut impl Write, label: &str, text: &str) -> io::Result<()> {
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
    for effect in &outcome.effects {
        match effect {
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
