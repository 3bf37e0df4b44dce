//! Turns one outbox post (an engine effect) into Discord posts, edits and
//! threads.
//!
//! The outbox relay ([`crate::service::relay`]) applies posts one at a
//! time, in the order the engine committed them, so an announcement is
//! never left showing an older state than the thread (two concurrent edits
//! could otherwise land out of order). Message and thread ids are kept in
//! the store next to the incidents, so after a restart the bot still edits
//! the same announcements and posts in the same thread.
//!
//! A request is retried here only on 429 (the request was not carried out,
//! so a retry cannot duplicate the post). In production serenity's own rate
//! limiter waits out 429s before they reach this code; with a test
//! `api_base` the limiter is off (serenity ignores the base otherwise) and
//! this loop does the waiting, with exponential backoff because serenity's
//! error value does not carry Discord's `retry_after`. Anything else that
//! may pass (a 5xx, the network) is handed back to the relay as
//! [`Delivery::Retry`], which keeps the post in the outbox and tries again
//! later.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serenity::builder::{CreateMessage, CreateThread};
use serenity::http::{Http, HttpError};
use serenity::model::channel::{AutoArchiveDuration, Nonce};
use serenity::model::id::{ChannelId, MessageId, RoleId, UserId};

use super::view;
use crate::alert::AlertEffect;
use crate::command::{Effect, Engine};
use crate::config::DiscordConfig;
use crate::domain::{Incident, IncidentId, Team};
use crate::service::{on_engine, Delivery};
use crate::store::{IncidentStore, SledStore};

/// Attempts per request when Discord answers 429.
const ATTEMPTS: u32 = 6;
/// First wait after a 429; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Where an incident's messages are, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRefs {
    /// (channel, message) of each announcement.
    pub announcements: Vec<(u64, u64)>,
    /// The incident's thread.
    pub thread: Option<u64>,
}

fn refs_key(id: IncidentId) -> String {
    format!("discord:incident:{}", id.get())
}

/// Where an alert's posts are: (channel, message) per team.
fn alert_refs_key(id: u64) -> String {
    format!("discord:alert:{id}")
}

/// Runs `request` until it succeeds, fails for a reason other than 429, or
/// runs out of attempts.
pub async fn with_retry<T, F, Fut>(what: &str, mut request: F) -> serenity::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = serenity::Result<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match request().await {
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response)))
                if response.status_code.as_u16() == 429 && attempt < ATTEMPTS =>
            {
                let jitter = Duration::from_millis(fastrand::u64(0..50));
                tracing::warn!(
                    what,
                    attempt,
                    wait_ms = (backoff + jitter).as_millis() as u64,
                    "Discord answered 429; retrying"
                );
                tokio::time::sleep(backoff + jitter).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Applies effects to Discord.
pub struct Poster {
    pub http: Arc<Http>,
    pub config: DiscordConfig,
    pub engine: Arc<Mutex<Engine<SledStore>>>,
    /// What alert posts quote.
    pub runbooks: Arc<crate::alerting::runbooks::Runbooks>,
}

impl Poster {
    /// Reads one of the adapter's records from the store (on the blocking
    /// pool: the store is behind the engine's lock). A missing or unreadable
    /// record reads as empty, logged, so a damaged record costs an edit,
    /// never the post.
    async fn read_record<T: serde::de::DeserializeOwned + Default>(&self, key: String) -> T {
        let what = key.clone();
        let read = on_engine(&self.engine, move |engine| engine.store().get_extra(&key)).await;
        match read {
            Ok(Ok(Some(bytes))) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(record = %what, error = %e, "stored Discord message ids are unreadable; starting afresh");
                T::default()
            }),
            Ok(Ok(None)) => T::default(),
            Ok(Err(e)) => {
                tracing::error!(record = %what, error = %e, "cannot read Discord message ids");
                T::default()
            }
            Err(e) => {
                tracing::error!(record = %what, error = %e, "reading Discord message ids panicked");
                T::default()
            }
        }
    }

    /// Writes one of the adapter's records, durably.
    async fn write_record<T: Serialize>(&self, key: String, value: &T) {
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let what = key.clone();
        let written = on_engine(&self.engine, move |engine| {
            engine.store_mut().put_extra(&key, &bytes)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(record = %what, "cannot store Discord message ids; later edits may miss this post");
        }
    }

    fn team_channel(&self, team: Team) -> Option<(ChannelId, RoleId)> {
        self.config
            .teams
            .get(&team)
            .map(|t| (ChannelId::new(t.channel.0), RoleId::new(t.role.0)))
    }

    /// Applies one effect: posts, edits and threads, in order. Says
    /// [`Delivery::Retry`] when Discord could not take the effect's first
    /// post for a passing reason (429 after the retries, a 5xx, the network):
    /// nothing of it was sent, or, for announcements and alerts, what was
    /// sent is recorded and skipped on the next attempt. Later steps that
    /// fail (an edit, a stakeholder notice) are logged, not retried, so a
    /// retry never posts the same thing twice.
    ///
    /// `post` is the effect's outbox id: every message it creates carries a
    /// nonce made from it, the same on every attempt, so a resend after a
    /// lost answer or a crash before the outbox recorded the delivery
    /// returns the message Discord already made instead of a second one.
    pub async fn apply(&self, post: u64, effect: Effect) -> Delivery {
        match effect {
            Effect::Announce { incident, teams } => self.announce(post, &incident, &teams).await,
            Effect::ThreadPost {
                incident,
                text,
                stakeholders,
            } => self.thread_post(post, &incident, &text, stakeholders).await,
            Effect::Alert(alert) => self.alert(post, *alert).await,
            Effect::TeamPost {
                team,
                mention,
                text,
                mention_admin,
                buttons,
            } => {
                self.team_post(post, team, &mention, &text, mention_admin, &buttons)
                    .await
            }
            Effect::Summary(summary) => self.summary(post, &summary).await,
            Effect::QualityPost {
                mention,
                text,
                mention_admin,
                buttons,
            } => {
                let Some(channel) = self.quality_channel() else {
                    return Delivery::Done;
                };
                self.duty_post(post, channel, &mention, &text, mention_admin, &buttons)
                    .await
            }
        }
    }

    /// The weekly summary in the summary channel (`[summary]`, else the
    /// stakeholder channel, else development's): its text split into
    /// messages within Discord's limit, the chart on the first, and a
    /// thread on the first for discussion. Only the owners of open
    /// prevention actions are pinged.
    async fn summary(&self, post: u64, summary: &crate::summary::WeeklySummary) -> Delivery {
        let Some(channel) = self.quality_channel() else {
            return Delivery::Done;
        };
        let owners: Vec<UserId> = summary.owners().iter().filter_map(discord_user).collect();
        let full = crate::command::summary::markdown_attachment(summary);
        let text = crate::summary::render::chat_markdown(
            summary,
            &|actor| match discord_user(actor) {
                Some(user) => format!("<@{}>", user.get()),
                None => actor.to_string(),
            },
            &full.filename,
        );
        let parts = crate::summary::render::messages(&text, super::limits::CONTENT);
        // The first message carries the chart and the whole summary as a
        // file (every stream, for the record and for search).
        let files: Vec<crate::command::Attachment> =
            crate::command::summary::chart_attachment(summary)
                .into_iter()
                .chain([full])
                .collect();
        let mut first = None;
        for (index, part) in parts.iter().enumerate() {
            let attached: &[crate::command::Attachment] = if index == 0 { &files } else { &[] };
            let message = view::summary_part(part, &owners, attached);
            let step = format!("s{index}");
            match with_retry("weekly summary", || {
                channel.send_message(&self.http, once(post, &step, message.clone()))
            })
            .await
            {
                Ok(message) => {
                    if index == 0 {
                        first = Some(message.id);
                    }
                }
                Err(e) if index == 0 => return failed("weekly summary", &e),
                Err(e) => {
                    tracing::error!(week = %summary.week, part = index + 1, error = %e, "a part of the weekly summary was not posted");
                }
            }
        }
        if let Some(first) = first {
            if let Err(e) = with_retry("summary thread", || {
                channel.create_thread_from_message(
                    &self.http,
                    first,
                    CreateThread::new(format!("Weekly summary {}: discussion", summary.week))
                        .auto_archive_duration(AutoArchiveDuration::OneWeek),
                )
            })
            .await
            {
                tracing::error!(week = %summary.week, error = %e, "the summary's thread was not started");
            }
        }
        Delivery::Done
    }

    /// A duty post in a team's channel, mentioning the members it names
    /// who are Discord users, and nobody else.
    async fn team_post(
        &self,
        post: u64,
        team: Team,
        mention: &[crate::domain::Actor],
        text: &str,
        mention_admin: bool,
        buttons: &[crate::command::PostButton],
    ) -> Delivery {
        let Some((channel, _)) = self.team_channel(team) else {
            return Delivery::Done;
        };
        self.duty_post(post, channel, mention, text, mention_admin, buttons)
            .await
    }

    /// The quality channel: the weekly summary's (`[summary]`), else the
    /// stakeholder channel, else development's.
    fn quality_channel(&self) -> Option<ChannelId> {
        self.config
            .summary_channel
            .or(self.config.stakeholder_channel)
            .map(|c| ChannelId::new(c.0))
            .or_else(|| self.team_channel(Team::Development).map(|(c, _)| c))
    }

    /// A duty post in `channel`, mentioning the members it names who are
    /// Discord users (and incident-admin when asked), and nobody else.
    async fn duty_post(
        &self,
        post: u64,
        channel: ChannelId,
        mention: &[crate::domain::Actor],
        text: &str,
        mention_admin: bool,
        buttons: &[crate::command::PostButton],
    ) -> Delivery {
        let users: Vec<UserId> = mention.iter().filter_map(discord_user).collect();
        let admin = mention_admin
            .then(|| self.config.admin_roles.first().map(|r| RoleId::new(r.0)))
            .flatten();
        let message = view::team_post(text, &users, admin, buttons);
        match with_retry("duty post", || {
            channel.send_message(&self.http, once(post, "t", message.clone()))
        })
        .await
        {
            Ok(_) => Delivery::Done,
            Err(e) => failed("duty post", &e),
        }
    }

    /// Posts, edits, reminds about and escalates alerts.
    async fn alert(&self, post: u64, effect: AlertEffect) -> Delivery {
        let Some(alert) = effect.alert().cloned() else {
            // Silences starting and ending are announced where status news go.
            let channel = self
                .config
                .stakeholder_channel
                .map(|c| ChannelId::new(c.0))
                .or_else(|| self.team_channel(Team::Development).map(|(c, _)| c));
            if let Some(channel) = channel {
                let text = crate::alerting::render::effect_line(&effect);
                if let Err(e) = with_retry("silence notice", || {
                    channel.send_message(&self.http, once(post, "n", view::post(&text)))
                })
                .await
                {
                    return failed("silence notice", &e);
                }
            }
            return Delivery::Done;
        };
        match &effect {
            AlertEffect::Open { .. } => {
                // Each owning team's channel, mentioning its role, then the
                // copy where all alerts go, mentioning nobody.
                type Target = (
                    ChannelId,
                    String,
                    Option<RoleId>,
                    Option<UserId>,
                    &'static str,
                );
                let mut targets: Vec<Target> = alert
                    .teams
                    .iter()
                    .filter_map(|team| {
                        let (channel, role) = self.team_channel(*team)?;
                        let on_duty = on_duty_user(&alert, *team);
                        // `[alerts] mention = "on-duty"`: the member instead of
                        // the role, where there is one.
                        let role = (!alert.on_duty_only || on_duty.is_none()).then_some(role);
                        Some((channel, team_step("o", *team), role, on_duty, "alert"))
                    })
                    .collect();
                if let Some(all) = self.config.all_alerts_channel {
                    targets.push((ChannelId::new(all.0), "oa".into(), None, None, "alert copy"));
                }
                // Channels posted to by an earlier attempt are skipped.
                let mut refs = self
                    .read_record::<Vec<(u64, u64)>>(alert_refs_key(alert.id))
                    .await;
                for (channel, step, role, on_duty, what) in targets {
                    if refs.iter().any(|(c, _)| *c == channel.get()) {
                        continue;
                    }
                    match with_retry(what, || {
                        channel.send_message(
                            &self.http,
                            once(
                                post,
                                &step,
                                view::alert_post(&alert, role, on_duty, &self.runbooks),
                            ),
                        )
                    })
                    .await
                    {
                        Ok(message) => {
                            refs.push((channel.get(), message.id.get()));
                            self.write_record(alert_refs_key(alert.id), &refs).await;
                        }
                        Err(e) => {
                            let verdict = failed(what, &e);
                            if matches!(verdict, Delivery::Retry(_)) {
                                return verdict;
                            }
                        }
                    }
                }
            }
            AlertEffect::Update { .. } | AlertEffect::Recovered { .. } => {
                // (The all-alerts copy is among the alert's messages, so it
                // is refreshed with the teams' posts.)
                for (index, (channel, message)) in self
                    .read_record::<Vec<(u64, u64)>>(alert_refs_key(alert.id))
                    .await
                    .into_iter()
                    .enumerate()
                {
                    let (channel, message) = (ChannelId::new(channel), MessageId::new(message));
                    if let Err(e) = with_retry("alert edit", || {
                        channel.edit_message(
                            &self.http,
                            message,
                            view::alert_edit(&alert, &self.runbooks),
                        )
                    })
                    .await
                    {
                        tracing::error!(alert = alert.id, error = %e, "alert not refreshed");
                    }
                    if matches!(effect, AlertEffect::Recovered { .. }) {
                        let text = crate::alerting::render::effect_line(&effect);
                        let step = format!("r{index}");
                        let _ = with_retry("recovery", || {
                            channel.send_message(&self.http, once(post, &step, view::post(&text)))
                        })
                        .await;
                    }
                }
            }
            AlertEffect::Remind { .. } => {
                for team in &alert.teams {
                    if let Some((channel, role)) = self.team_channel(*team) {
                        // The team role, and again the member on duty.
                        let on_duty = on_duty_user(&alert, *team);
                        let tags = match on_duty {
                            Some(user) => format!("<@&{}> <@{}>", role.get(), user.get()),
                            None => format!("<@&{}>", role.get()),
                        };
                        let text =
                            format!("{tags} {}", crate::alerting::render::effect_line(&effect));
                        let message = CreateMessage::new()
                            .content(super::limits::fit(&text, super::limits::CONTENT))
                            .allowed_mentions(view::only_role(role).users(on_duty));
                        let message = once(post, &team_step("m", *team), message);
                        let _ = with_retry("reminder", || {
                            channel.send_message(&self.http, message.clone())
                        })
                        .await;
                    }
                }
            }
            AlertEffect::Escalate { .. } => {
                let Some((channel, _)) = alert.teams.first().and_then(|t| self.team_channel(*t))
                else {
                    return Delivery::Done;
                };
                let text = crate::alerting::render::effect_line(&effect);
                let message = match self.config.admin_roles.first() {
                    Some(admin) => {
                        let admin = RoleId::new(admin.0);
                        CreateMessage::new()
                            .content(super::limits::fit(
                                &format!("<@&{}> {text}", admin.get()),
                                super::limits::CONTENT,
                            ))
                            .allowed_mentions(view::only_role(admin))
                    }
                    None => view::post(&text),
                };
                let message = once(post, "e", message);
                if let Err(e) = with_retry("escalation", || {
                    channel.send_message(&self.http, message.clone())
                })
                .await
                {
                    return failed("escalation", &e);
                }
            }
            AlertEffect::SilenceStarted { .. } | AlertEffect::SilenceEnded { .. } => {}
        }
        Delivery::Done
    }

    /// Posts the announcement in each team's channel (the owner's first) and
    /// starts the incident's thread on the first one.
    async fn announce(
        &self,
        post: u64,
        incident: &Incident,
        teams: &std::collections::BTreeSet<Team>,
    ) -> Delivery {
        let mut refs = self.read_record::<MessageRefs>(refs_key(incident.id)).await;
        let mut ordered: Vec<Team> = teams
            .iter()
            .copied()
            .filter(|t| *t == incident.owner)
            .collect();
        ordered.extend(teams.iter().copied().filter(|t| *t != incident.owner));
        for team in ordered {
            let Some((channel, role)) = self.team_channel(team) else {
                continue;
            };
            // The team's assignee (its member on duty when the incident
            // opened) is mentioned with the role.
            let assignee = incident.assignees.get(&team).and_then(discord_user);
            // Announced by an earlier attempt of this post.
            if refs.announcements.iter().any(|(c, _)| *c == channel.get()) {
                continue;
            }
            let sent = with_retry("announcement", || {
                channel.send_message(
                    &self.http,
                    once(
                        post,
                        &team_step("a", team),
                        view::announcement(incident, role, assignee),
                    ),
                )
            })
            .await;
            let message = match sent {
                Ok(message) => message,
                Err(e) => {
                    let verdict = failed("announcement", &e);
                    if matches!(verdict, Delivery::Retry(_)) {
                        return verdict;
                    }
                    continue;
                }
            };
            refs.announcements.push((channel.get(), message.id.get()));
            if refs.thread.is_none() {
                let thread = with_retry("thread", || {
                    channel.create_thread_from_message(
                        &self.http,
                        message.id,
                        CreateThread::new(view::thread_name(incident))
                            .auto_archive_duration(AutoArchiveDuration::OneWeek),
                    )
                })
                .await;
                match thread {
                    Ok(thread) => refs.thread = Some(thread.id.get()),
                    Err(e) => {
                        tracing::error!(incident = %incident.id, error = %e, "thread not started")
                    }
                }
            }
            self.write_record(refs_key(incident.id), &refs).await;
        }
        Delivery::Done
    }

    /// Posts a change in the thread, refreshes every announcement, and tells
    /// the stakeholder channel about status and severity changes.
    async fn thread_post(
        &self,
        post: u64,
        incident: &Incident,
        text: &str,
        stakeholders: bool,
    ) -> Delivery {
        let refs = self.read_record::<MessageRefs>(refs_key(incident.id)).await;
        let thread = refs
            .thread
            .map(ChannelId::new)
            .or_else(|| self.team_channel(incident.owner).map(|(c, _)| c));
        if let Some(thread) = thread {
            if let Err(e) = with_retry("thread post", || {
                thread.send_message(&self.http, once(post, "t", view::post(text)))
            })
            .await
            {
                let verdict = failed("thread post", &e);
                if matches!(verdict, Delivery::Retry(_)) {
                    return verdict;
                }
            }
        }
        for (channel, message) in &refs.announcements {
            let (channel, message) = (ChannelId::new(*channel), MessageId::new(*message));
            let edited = with_retry("announcement edit", || {
                channel.edit_message(&self.http, message, view::announcement_edit(incident))
            })
            .await;
            if let Err(e) = edited {
                tracing::error!(incident = %incident.id, error = %e, "announcement not refreshed");
            }
        }
        if let (true, Some(channel)) = (stakeholders, self.config.stakeholder_channel) {
            let channel = ChannelId::new(channel.0);
            let notice = format!(
                "{} · {} · {} — {}: {text}",
                incident.id, incident.severity, incident.status, incident.title
            );
            if let Err(e) = with_retry("stakeholder post", || {
                channel.send_message(&self.http, once(post, "s", view::post(&notice)))
            })
            .await
            {
                tracing::error!(incident = %incident.id, error = %e, "stakeholder post failed");
            }
        }
        Delivery::Done
    }
}

/// One message of outbox post `post`, made idempotent: Discord, told to
/// enforce the nonce, returns the message an earlier attempt with the same
/// nonce created instead of creating another. At most 25 characters: the id
/// in hex (16) and a short step name.
fn once(post: u64, step: &str, message: CreateMessage) -> CreateMessage {
    message
        .nonce(Nonce::String(format!("{post:x}{step}")))
        .enforce_nonce(true)
}

/// A step name per team, stable across attempts.
fn team_step(prefix: &str, team: Team) -> String {
    let index = Team::ALL.iter().position(|t| *t == team).unwrap_or(0);
    format!("{prefix}{index}")
}

/// What a failed first post of an effect means: worth retrying later (a 429
/// that outlasted the retries, a 5xx, the network), or never going to work
/// (a 4xx such as a missing permission or an unknown channel: reported and
/// dropped).
fn failed(what: &str, error: &serenity::Error) -> Delivery {
    let passing = match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let status = response.status_code.as_u16();
            status == 429 || status >= 500
        }
        serenity::Error::Http(HttpError::Request(_)) => true,
        _ => false,
    };
    if passing {
        Delivery::Retry(format!("{what}: {error}"))
    } else {
        tracing::error!(error = %error, "{what} refused by Discord; it is dropped");
        Delivery::Done
    }
}

/// The Discord user an actor is; `None` for a console member (no Discord
/// id), who is named but cannot be mentioned.
fn discord_user(actor: &crate::domain::Actor) -> Option<UserId> {
    actor
        .id
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(UserId::new)
}

/// The member on duty for `team` that an alert mentions, if a Discord user.
fn on_duty_user(alert: &crate::alert::AlertView, team: Team) -> Option<UserId> {
    alert.on_duty.get(&team).and_then(discord_user)
}
