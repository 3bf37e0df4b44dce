//! Turns the engine's effects into Discord posts, in order.
//!
//! One task applies effects one at a time, in the order the engine committed
//! them, so an announcement is never left showing an older state than the
//! thread (two concurrent edits could otherwise land out of order). Message
//! and thread ids are kept in the store next to the incidents, so after a
//! restart the bot still edits the same announcements and posts in the same
//! thread.
//!
//! Sending is retried only on 429 (the request was not carried out, so a
//! retry cannot duplicate the post). In production serenity's own rate
//! limiter waits out 429s before they reach this code; with a test
//! `api_base` the limiter is off (serenity ignores the base otherwise) and
//! this loop does the waiting, with exponential backoff because serenity's
//! error value does not carry Discord's `retry_after`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serenity::builder::CreateThread;
use serenity::http::{Http, HttpError};
use serenity::model::channel::AutoArchiveDuration;
use serenity::model::id::{ChannelId, MessageId, RoleId};
use tokio::sync::mpsc;

use super::view;
use crate::command::{Effect, Engine};
use crate::config::DiscordConfig;
use crate::domain::{Incident, IncidentId, Team};
use crate::poll::FeedEvent;
use crate::store::SledStore;

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
}

impl Poster {
    /// Applies effects and posts feed events until both channels close.
    pub async fn run(
        self,
        mut effects: mpsc::UnboundedReceiver<Effect>,
        mut feed: mpsc::UnboundedReceiver<FeedEvent>,
    ) {
        let mut feed_open = true;
        loop {
            tokio::select! {
                effect = effects.recv() => match effect {
                    Some(effect) => self.apply(effect).await,
                    None => break,
                },
                event = feed.recv(), if feed_open => match event {
                    Some(event) => self.feed(event).await,
                    None => feed_open = false,
                },
            }
        }
    }

    /// Tells development (who owns the integrations) that an ESP feed went
    /// stale or came back. Alert routing, mentions and escalation come with
    /// anomaly detection; this post only makes sure a dead feed is seen.
    async fn feed(&self, event: FeedEvent) {
        let text = match event {
            FeedEvent::Stale {
                account,
                failures,
                last_error,
                last_success,
            } => format!(
                "⚠ ESP feed stale: {account} failed {failures} polls in a row (last error: {last_error}). \
                 Last success: {}. Its metrics are missing from then on, not zero.",
                last_success.map(crate::command::render::timestamp).unwrap_or_else(|| "never".into())
            ),
            FeedEvent::Recovered { account } => format!("✅ ESP feed recovered: {account} is polling again."),
        };
        let Some((channel, _role)) = self.team_channel(Team::Development) else {
            return;
        };
        if let Err(e) = with_retry("feed notice", || {
            channel.send_message(&self.http, view::post(&text))
        })
        .await
        {
            tracing::error!(error = %e, "feed notice not posted");
        }
    }

    async fn load_refs(&self, id: IncidentId) -> MessageRefs {
        let engine = self.engine.clone();
        let read = tokio::task::spawn_blocking(move || {
            let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.store().get_extra(&refs_key(id))
        })
        .await;
        match read {
            Ok(Ok(Some(bytes))) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(incident = %id, error = %e, "stored Discord message ids are unreadable; starting afresh");
                MessageRefs::default()
            }),
            Ok(Ok(None)) => MessageRefs::default(),
            Ok(Err(e)) => {
                tracing::error!(incident = %id, error = %e, "cannot read Discord message ids");
                MessageRefs::default()
            }
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "reading Discord message ids panicked");
                MessageRefs::default()
            }
        }
    }

    async fn save_refs(&self, id: IncidentId, refs: &MessageRefs) {
        let Ok(bytes) = serde_json::to_vec(refs) else {
            return;
        };
        let engine = self.engine.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.store_mut().put_extra(&refs_key(id), &bytes)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(incident = %id, "cannot store Discord message ids; later edits may miss this announcement");
        }
    }

    fn team_channel(&self, team: Team) -> Option<(ChannelId, RoleId)> {
        self.config
            .teams
            .get(&team)
            .map(|t| (ChannelId::new(t.channel.0), RoleId::new(t.role.0)))
    }

    async fn apply(&self, effect: Effect) {
        match effect {
            Effect::Announce { incident, teams } => self.announce(&incident, &teams).await,
            Effect::ThreadPost {
                incident,
                text,
                stakeholders,
            } => self.thread_post(&incident, &text, stakeholders).await,
        }
    }

    /// Posts the announcement in each team's channel (the owner's first) and
    /// starts the incident's thread on the first one.
    async fn announce(&self, incident: &Incident, teams: &std::collections::BTreeSet<Team>) {
        let mut refs = self.load_refs(incident.id).await;
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
            let sent = with_retry("announcement", || {
                channel.send_message(&self.http, view::announcement(incident, role))
            })
            .await;
            let message = match sent {
                Ok(message) => message,
                Err(e) => {
                    tracing::error!(incident = %incident.id, %team, error = %e, "announcement not posted");
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
            self.save_refs(incident.id, &refs).await;
        }
    }

    /// Posts a change in the thread, refreshes every announcement, and tells
    /// the stakeholder channel about status and severity changes.
    async fn thread_post(&self, incident: &Incident, text: &str, stakeholders: bool) {
        let refs = self.load_refs(incident.id).await;
        let thread = refs
            .thread
            .map(ChannelId::new)
            .or_else(|| self.team_channel(incident.owner).map(|(c, _)| c));
        if let Some(thread) = thread {
            if let Err(e) = with_retry("thread post", || {
                thread.send_message(&self.http, view::post(text))
            })
            .await
            {
                tracing::error!(incident = %incident.id, error = %e, "thread post failed");
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
                channel.send_message(&self.http, view::post(&notice))
            })
            .await
            {
                tracing::error!(incident = %incident.id, error = %e, "stakeholder post failed");
            }
        }
    }
}
