//! How incidents look in Discord: the announcement embed, its buttons, the
//! resolve modal, and the `custom_id` scheme that routes button presses.
//!
//! Buttons carry everything needed to act in their `custom_id`
//! (`incident:ack:7`), so they keep working after a restart: no collector,
//! no in-memory state. All user text arrives here already defanged by the
//! domain types' `Display`, and every message also sets allowed mentions
//! explicitly (see [`no_pings`] and [`only_role`]).

use crate::alerting::runbooks::Runbooks;
use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateInputText, CreateMessage, CreateModal, EditMessage,
};
use serenity::model::application::{ButtonStyle, InputTextStyle};
use serenity::model::id::{RoleId, UserId};

use super::limits::{self, EmbedText};
use crate::command::render;
use crate::domain::{Incident, IncidentId, Severity, Status};

/// What a button or modal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Alert buttons: `alert:ack:3`, `alert:snooze:3:1`, `alert:incident:3`.
    AlertAck(u64),
    AlertSnooze(u64, u32),
    AlertIncident(u64),
    /// `alert:false-alarm:3`.
    AlertFalseAlarm(u64),
    Acknowledge(IncidentId),
    AssignToMe(IncidentId),
    /// The Resolve button: answered with the modal.
    AskResolution(IncidentId),
    /// The modal's submission.
    Resolve(IncidentId),
    /// A duty post's button: `duty:swap-accept:7`, `duty:swap-decline:7`.
    Duty(crate::command::PostButton),
}

impl Route {
    /// The `custom_id` for this route (at most 100 characters: ids are short).
    pub fn custom_id(self) -> String {
        let (verb, id) = match self {
            Route::AlertAck(id) => return format!("alert:ack:{id}"),
            Route::AlertSnooze(id, hours) => return format!("alert:snooze:{id}:{hours}"),
            Route::AlertIncident(id) => return format!("alert:incident:{id}"),
            Route::AlertFalseAlarm(id) => return format!("alert:false-alarm:{id}"),
            Route::Duty(crate::command::PostButton::SwapAccept(id)) => {
                return format!("duty:swap-accept:{id}")
            }
            Route::Duty(crate::command::PostButton::SwapDecline(id)) => {
                return format!("duty:swap-decline:{id}")
            }
            Route::Duty(crate::command::PostButton::ChecklistTick(id, item)) => {
                return format!("duty:tick:{id}:{item}")
            }
            Route::Acknowledge(id) => ("ack", id),
            Route::AssignToMe(id) => ("mine", id),
            Route::AskResolution(id) => ("resolve", id),
            Route::Resolve(id) => ("resolution", id),
        };
        format!("incident:{verb}:{}", id.get())
    }

    /// Parses a `custom_id`; `None` for anything mailcall did not make.
    pub fn parse(custom_id: &str) -> Option<Route> {
        if let Some(rest) = custom_id.strip_prefix("alert:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let id = |text: &str| text.parse::<u64>().ok().filter(|n| *n > 0);
            return match parts.as_slice() {
                ["ack", n] => id(n).map(Route::AlertAck),
                ["incident", n] => id(n).map(Route::AlertIncident),
                ["false-alarm", n] => id(n).map(Route::AlertFalseAlarm),
                ["snooze", n, "1"] => id(n).map(|n| Route::AlertSnooze(n, 1)),
                ["snooze", n, "24"] => id(n).map(|n| Route::AlertSnooze(n, 24)),
                _ => None,
            };
        }
        if let Some(rest) = custom_id.strip_prefix("duty:") {
            use crate::command::PostButton;
            let id = |text: &str| text.parse::<u64>().ok().filter(|n| *n > 0);
            return match rest.split(':').collect::<Vec<_>>().as_slice() {
                ["swap-accept", n] => id(n).map(|n| Route::Duty(PostButton::SwapAccept(n))),
                ["swap-decline", n] => id(n).map(|n| Route::Duty(PostButton::SwapDecline(n))),
                ["tick", n, item] => {
                    let item = item.parse::<u8>().ok().filter(|i| *i > 0)?;
                    id(n).map(|n| Route::Duty(PostButton::ChecklistTick(n, item)))
                }
                _ => None,
            };
        }
        let mut parts = custom_id.split(':');
        if parts.next()? != "incident" {
            return None;
        }
        let verb = parts.next()?;
        let id = IncidentId::new(parts.next()?.parse().ok()?)?;
        if parts.next().is_some() {
            return None;
        }
        match verb {
            "ack" => Some(Route::Acknowledge(id)),
            "mine" => Some(Route::AssignToMe(id)),
            "resolve" => Some(Route::AskResolution(id)),
            "resolution" => Some(Route::Resolve(id)),
            _ => None,
        }
    }
}

/// An alert's embed: headline, figures, runbook steps.
pub fn alert_embed(alert: &crate::alert::AlertView, runbooks: &Runbooks) -> CreateEmbed {
    use crate::alerting::render;
    let text = EmbedText {
        title: render::headline(alert),
        description: render::details(alert),
        fields: vec![(
            format!("Check first ({})", alert.key.kind),
            runbooks.excerpt(alert.key.kind),
        )],
        footer: format!(
            "alert #{} · runbook {} ({})",
            alert.id,
            alert.key.kind,
            runbooks.origin(alert.key.kind)
        ),
    }
    .fitted();
    let colour = match (alert.is_active(), alert.level) {
        (false, _) => 0x2ecc71,
        (true, crate::detect::Level::Critical) => 0xe02424,
        (true, crate::detect::Level::Warning) => 0xf97316,
    };
    let mut embed = CreateEmbed::new()
        .title(text.title)
        .description(text.description)
        .colour(colour)
        .footer(CreateEmbedFooter::new(text.footer));
    for (name, value) in text.fields {
        embed = embed.field(name, value, false);
    }
    embed
}

/// An alert's buttons; those that no longer apply are disabled.
pub fn alert_buttons(alert: &crate::alert::AlertView) -> Vec<CreateActionRow> {
    let active = alert.is_active();
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(Route::AlertAck(alert.id).custom_id())
            .label("Acknowledge")
            .style(ButtonStyle::Primary)
            .disabled(!active || alert.acknowledged.is_some()),
        CreateButton::new(Route::AlertSnooze(alert.id, 1).custom_id())
            .label("Snooze 1 h")
            .style(ButtonStyle::Secondary)
            .disabled(!active),
        CreateButton::new(Route::AlertSnooze(alert.id, 24).custom_id())
            .label("Snooze 24 h")
            .style(ButtonStyle::Secondary)
            .disabled(!active),
        CreateButton::new(Route::AlertIncident(alert.id).custom_id())
            .label("Open incident")
            .style(ButtonStyle::Danger)
            .disabled(alert.incident.is_some()),
        CreateButton::new(Route::AlertFalseAlarm(alert.id).custom_id())
            .label("False alarm")
            .style(ButtonStyle::Secondary)
            .disabled(!active),
    ])]
}

/// A new alert in a team's channel, mentioning only that team's role and
/// the team's member on duty (when a rotation names a Discord user); or,
/// with no role, the copy in the all-alerts channel, which pings nobody.
pub fn alert_post(
    alert: &crate::alert::AlertView,
    role: Option<RoleId>,
    on_duty: Option<UserId>,
    runbooks: &Runbooks,
) -> CreateMessage {
    let headline = crate::alerting::render::headline(alert);
    let (content, mentions) = match (role, on_duty) {
        (Some(role), Some(user)) => (
            format!("<@&{}> <@{}> (on duty) {headline}", role.get(), user.get()),
            CreateAllowedMentions::new().roles([role]).users([user]),
        ),
        (Some(role), None) => (format!("<@&{}> {headline}", role.get()), only_role(role)),
        (None, Some(user)) => (
            format!("<@{}> (on duty) {headline}", user.get()),
            CreateAllowedMentions::new().users([user]),
        ),
        (None, None) => (headline, no_pings()),
    };
    CreateMessage::new()
        .content(limits::fit(&content, limits::CONTENT))
        .embed(alert_embed(alert, runbooks))
        .components(alert_buttons(alert))
        .allowed_mentions(mentions)
}

/// A duty post (a handoff, an override) in a team's channel: it mentions
/// `users`, and nothing in the text can ping anyone else.
/// One message of the weekly summary: pings only `owners` (the owners of
/// open prevention actions the text mentions), with `files` (the chart and
/// the whole summary, on the first).
pub fn summary_part(
    text: &str,
    owners: &[UserId],
    files: &[crate::command::Attachment],
) -> CreateMessage {
    let message = CreateMessage::new()
        .content(limits::fit(text, limits::CONTENT))
        .allowed_mentions(CreateAllowedMentions::new().users(owners.iter().copied()));
    files.iter().fold(message, |message, file| {
        message.add_file(serenity::all::CreateAttachment::bytes(
            file.bytes.clone(),
            file.filename.clone(),
        ))
    })
}

pub fn team_post(
    text: &str,
    users: &[UserId],
    admin: Option<RoleId>,
    buttons: &[crate::command::PostButton],
) -> CreateMessage {
    let mut tags: Vec<String> = users.iter().map(|u| format!("<@{}>", u.get())).collect();
    let mut mentions = CreateAllowedMentions::new().users(users.iter().copied());
    if let Some(admin) = admin {
        tags.push(format!("<@&{}>", admin.get()));
        mentions = mentions.roles([admin]);
    }
    let content = if tags.is_empty() {
        text.to_string()
    } else {
        format!("{} {text}", tags.join(" "))
    };
    let mut message = CreateMessage::new()
        .content(limits::fit(&content, limits::CONTENT))
        .allowed_mentions(mentions);
    if !buttons.is_empty() {
        use crate::command::PostButton;
        // Discord allows five buttons a row and five rows.
        let rows = buttons
            .chunks(5)
            .take(5)
            .map(|chunk| {
                let row = chunk
                    .iter()
                    .map(|b| {
                        let (label, style) = match b {
                            PostButton::SwapAccept(_) => {
                                ("Accept".to_string(), ButtonStyle::Success)
                            }
                            PostButton::SwapDecline(_) => {
                                ("Decline".to_string(), ButtonStyle::Secondary)
                            }
                            PostButton::ChecklistTick(_, item) => {
                                (format!("Tick {item}"), ButtonStyle::Secondary)
                            }
                        };
                        CreateButton::new(Route::Duty(*b).custom_id())
                            .label(label)
                            .style(style)
                    })
                    .collect();
                CreateActionRow::Buttons(row)
            })
            .collect();
        message = message.components(rows);
    }
    message
}

/// The edit that refreshes an alert post; edits never ping.
pub fn alert_edit(alert: &crate::alert::AlertView, runbooks: &Runbooks) -> EditMessage {
    EditMessage::new()
        .embed(alert_embed(alert, runbooks))
        .components(alert_buttons(alert))
        .allowed_mentions(no_pings())
}

/// The text input's `custom_id` inside the resolve modal.
pub const RESOLUTION_INPUT: &str = "resolution";

/// Allowed mentions that let nothing ping: for every post with user or ESP
/// text in it.
pub fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Allowed mentions that let exactly one role ping: the team being told.
pub fn only_role(role: RoleId) -> CreateAllowedMentions {
    CreateAllowedMentions::new().roles([role])
}

/// Embed colour by severity: red, orange, yellow, blue; grey once resolved.
fn colour(incident: &Incident) -> u32 {
    if !incident.status.is_active() {
        return 0x95a5a6;
    }
    match incident.severity {
        Severity::Sev1 => 0xe02424,
        Severity::Sev2 => 0xf97316,
        Severity::Sev3 => 0xeab308,
        Severity::Sev4 => 0x3b82f6,
    }
}

/// The announcement embed's text, fitted to Discord's limits.
pub fn embed_text(incident: &Incident) -> EmbedText {
    let mut fields = vec![
        ("Status".to_string(), incident.status.to_string()),
        (
            "Severity".to_string(),
            format!("{} ({})", incident.severity, incident.severity.label()),
        ),
        (
            "Teams".to_string(),
            crate::domain::incident_team_list(incident),
        ),
        ("Commander".to_string(), incident.commander.to_string()),
    ];
    if !incident.assignees.is_empty() {
        fields.push((
            "Assignees".to_string(),
            render::assignees(incident).join("\n"),
        ));
    }
    if let Some(esp) = &incident.esp_account {
        fields.push(("ESP account".to_string(), esp.to_string()));
    }
    if let Some(stream) = &incident.stream {
        fields.push(("Stream".to_string(), stream.to_string()));
    }
    if let Some(cause) = incident.root_cause {
        fields.push(("Root cause".to_string(), cause.label().to_string()));
    }
    // A reopened incident keeps its last resolution (the timeline has it),
    // but the announcement must not present it as the current state.
    if let Some(resolution) = incident
        .resolution
        .as_ref()
        .filter(|_| !incident.status.is_active())
    {
        fields.push(("Resolution".to_string(), resolution.to_string()));
    }
    let open_actions = incident.open_actions().count();
    if !incident.actions.is_empty() {
        fields.push((
            "Prevention actions".to_string(),
            format!("{} open of {}", open_actions, incident.actions.len()),
        ));
    }
    let latest = incident
        .timeline
        .last()
        .map(|e| format!("Latest: {} {}", e.by, e.change))
        .unwrap_or_default();
    EmbedText {
        title: format!(
            "{} · {} — {}",
            incident.id, incident.severity, incident.title
        ),
        description: latest,
        fields,
        footer: format!("Opened {}", render::timestamp(incident.opened_at)),
    }
    .fitted()
}

/// The embed itself.
pub fn embed(incident: &Incident) -> CreateEmbed {
    let text = embed_text(incident);
    let mut embed = CreateEmbed::new()
        .title(text.title)
        .description(text.description)
        .colour(colour(incident))
        .footer(CreateEmbedFooter::new(text.footer));
    for (name, value) in text.fields {
        let inline = value.chars().count() < 40;
        embed = embed.field(name, value, inline);
    }
    embed
}

/// The buttons under an announcement; those that cannot apply are disabled.
pub fn buttons(incident: &Incident) -> Vec<CreateActionRow> {
    let id = incident.id;
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(Route::Acknowledge(id).custom_id())
            .label("Acknowledge")
            .style(ButtonStyle::Primary)
            .disabled(incident.status != Status::Open),
        CreateButton::new(Route::AssignToMe(id).custom_id())
            .label("Assign to me")
            .style(ButtonStyle::Secondary)
            .disabled(incident.status == Status::Closed),
        CreateButton::new(Route::AskResolution(id).custom_id())
            .label("Resolve")
            .style(ButtonStyle::Success)
            .disabled(!incident.status.is_active()),
    ])]
}

/// The announcement posted in a team's channel, mentioning only that team's
/// role.
pub fn announcement(incident: &Incident, role: RoleId, assignee: Option<UserId>) -> CreateMessage {
    let (tags, mentions) = match assignee {
        Some(user) => (
            format!("<@&{}> <@{}>", role.get(), user.get()),
            only_role(role).users([user]),
        ),
        None => (format!("<@&{}>", role.get()), only_role(role)),
    };
    CreateMessage::new()
        .content(limits::fit(
            &format!("{tags} new incident {}: {}", incident.id, incident.title),
            limits::CONTENT,
        ))
        .embed(embed(incident))
        .components(buttons(incident))
        .allowed_mentions(mentions)
}

/// The edit that refreshes an announcement after a change. The content (and
/// its one role mention) is left as it was; edits never ping.
pub fn announcement_edit(incident: &Incident) -> EditMessage {
    EditMessage::new()
        .embed(embed(incident))
        .components(buttons(incident))
        .allowed_mentions(no_pings())
}

/// A plain post (thread update, stakeholder notice) that can ping nobody.
pub fn post(text: &str) -> CreateMessage {
    CreateMessage::new()
        .content(limits::fit(text, limits::CONTENT))
        .allowed_mentions(no_pings())
}

/// The name of the incident's thread.
pub fn thread_name(incident: &Incident) -> String {
    limits::fit(
        &format!("{} {}", incident.id, incident.title),
        limits::THREAD_NAME,
    )
}

/// The modal the Resolve button opens.
pub fn resolve_modal(id: IncidentId) -> CreateModal {
    CreateModal::new(
        Route::Resolve(id).custom_id(),
        limits::fit(&format!("Resolve {id}"), limits::MODAL_TITLE),
    )
    .components(vec![CreateActionRow::InputText(
        CreateInputText::new(
            InputTextStyle::Paragraph,
            "How was it fixed?",
            RESOLUTION_INPUT,
        )
        .required(true)
        .max_length(crate::domain::Text::MAX_CHARS as u16),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_reject_strangers() {
        let id = IncidentId::new(42).unwrap_or(IncidentId::FIRST);
        for route in [
            Route::Acknowledge(id),
            Route::AssignToMe(id),
            Route::AskResolution(id),
            Route::Resolve(id),
            Route::Duty(crate::command::PostButton::SwapAccept(7)),
            Route::Duty(crate::command::PostButton::SwapDecline(7)),
            Route::Duty(crate::command::PostButton::ChecklistTick(7, 3)),
        ] {
            assert_eq!(Route::parse(&route.custom_id()), Some(route));
        }
        for stranger in [
            "",
            "incident",
            "incident:ack",
            "incident:ack:0",
            "incident:ack:x",
            "other:ack:1",
            "incident:ack:1:2",
            "incident:nuke:1",
            "duty:swap-accept:0",
            "duty:swap-accept:",
            "duty:swap-nuke:1",
            "duty:swap-accept:1:2",
            "duty:tick:1:0",
            "duty:tick:1",
            "duty:tick:1:300",
        ] {
            assert_eq!(Route::parse(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn allowed_mentions_are_explicit() {
        let none = serde_json::to_value(no_pings()).unwrap_or_default();
        assert_eq!(
            none,
            serde_json::json!({"parse": [], "users": [], "roles": []})
        );
        let one = serde_json::to_value(only_role(RoleId::new(7))).unwrap_or_default();
        assert_eq!(
            one,
            serde_json::json!({"parse": [], "users": [], "roles": ["7"]})
        );
    }
}
