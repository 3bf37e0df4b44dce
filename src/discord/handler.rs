//! The serenity event handler: registers the manifests on READY and answers
//! every interaction.
//!
//! Each interaction is answered within Discord's 3 seconds: the engine runs
//! on a blocking thread (a command waits for its fsync), and if it has not
//! finished after `defer_after` (2 s by default) the interaction is deferred and the answer
//! edited in when it is ready. Effects (posts in team channels and threads)
//! are handed to the poster after the answer, so they never delay it.

use std::sync::{Arc, Mutex};

use serenity::all::{
    CommandInteraction, ComponentInteraction, Context, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseMessage, EditInteractionResponse,
    EventHandler, GuildId, Interaction, ModalInteraction, Ready,
};
use serenity::async_trait;
use serenity::gateway::{ConnectionStage, ShardStageUpdateEvent};
use serenity::model::application::ActionRowComponent;

use super::convert;
use super::limits;
use super::poster::with_retry;
use super::view::{self, Route};
use crate::command::{Command, CommandError, Engine, IncidentCommand, Outcome, Visibility};
use crate::config::DiscordConfig;
use crate::domain::{Caller, IncidentId, Op, Team, Text};
use crate::service::{on_engine, WorkFailed};
use crate::store::{IncidentStore, SledStore};

/// State shared by every interaction.
pub struct Handler {
    pub engine: Arc<Mutex<Engine<SledStore>>>,
    pub config: DiscordConfig,
    /// The manifests in `commands/`, registered verbatim.
    pub manifests: Vec<serde_json::Value>,
    /// Woken after each change: its posts are in the store's outbox.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Command latency and the gateway's state, for `/metrics` and `/readyz`.
    pub telemetry: Arc<crate::http::Telemetry>,
}

/// A finished piece of engine work, or its refusal.
type Answer = Result<Outcome, CommandError>;

impl Handler {
    /// Runs `work` against the engine on a blocking thread, then waits for
    /// its change to be durable (group commit: the lock is not held while
    /// waiting, so other commands apply meanwhile and share the sync). Its
    /// posts were committed to the outbox with it; the relay is woken to
    /// send them.
    fn spawn_work<F>(&self, work: F) -> tokio::task::JoinHandle<Answer>
    where
        F: FnOnce(&mut Engine<SledStore>) -> Answer + Send + 'static,
    {
        let engine = self.engine.clone();
        let outbox = self.outbox.clone();
        let telemetry = self.telemetry.clone();
        let arrived = std::time::Instant::now();
        tokio::spawn(async move {
            let answer = match on_engine(&engine, work).await {
                Ok(answer) => answer,
                Err(WorkFailed::NotDurable(e)) => Err(CommandError::Store(e)),
                Err(WorkFailed::Panicked(e)) => flatten(Err(e)),
            };
            telemetry.command(arrived.elapsed().as_secs_f64());
            if matches!(&answer, Ok(outcome) if !outcome.posted.is_empty()) {
                outbox.notify_one();
            }
            answer
        })
    }

    /// The message an answer becomes: public or private, never pinging.
    fn message(answer: &Answer) -> CreateInteractionResponseMessage {
        let (text, private) = match answer {
            Ok(outcome) => (
                outcome.reply.text.clone(),
                outcome.reply.visibility == Visibility::Private,
            ),
            Err(e) => (format!("⚠ {e}"), true),
        };
        let message = CreateInteractionResponseMessage::new()
            .content(limits::fit(&text, limits::CONTENT))
            .ephemeral(private)
            .allowed_mentions(view::no_pings());
        let files = answer
            .as_ref()
            .map(|o| o.attachments.as_slice())
            .unwrap_or_default();
        files.iter().fold(message, |message, file| {
            message.add_file(serenity::all::CreateAttachment::bytes(
                file.bytes.clone(),
                file.filename.clone(),
            ))
        })
    }

    async fn answer_command(&self, ctx: &Context, interaction: &CommandInteraction) {
        let caller = convert::caller(
            &interaction.user,
            interaction.member.as_deref(),
            &self.config,
        );
        let invocation = convert::invocation(&interaction.data);
        let private_hint = matches!(
            invocation.path.first().map(String::as_str),
            Some("show" | "list")
        );
        let task = self.spawn_work(move |engine| engine.handle(&caller, &invocation));
        tokio::pin!(task);
        // The deadline is polled first: when the work finishes exactly as the
        // deadline passes, deferring is harmless. A zero deadline always
        // defers (which the tests rely on): it is ready at the first poll,
        // where a zero-length timer waits for the timer driver's next tick,
        // by which time fast work may have finished.
        let defer_after = self.config.defer_after;
        let deadline = async move {
            if !defer_after.is_zero() {
                tokio::time::sleep(defer_after).await;
            }
        };
        tokio::select! {
            biased;
            () = deadline => {
                let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(private_hint));
                if let Err(e) = with_retry("defer", || interaction.create_response(&ctx.http, defer.clone())).await {
                    tracing::error!(error = %e, "could not defer an interaction");
                }
                let answer = flatten(task.await);
                log_refusal(&answer);
                let text = match &answer {
                    Ok(outcome) => outcome.reply.text.clone(),
                    Err(e) => format!("⚠ {e}"),
                };
                let mut edit = EditInteractionResponse::new()
                    .content(limits::fit(&text, limits::CONTENT))
                    .allowed_mentions(view::no_pings());
                for file in answer.as_ref().map(|o| o.attachments.as_slice()).unwrap_or_default() {
                    edit = edit.new_attachment(serenity::all::CreateAttachment::bytes(
                        file.bytes.clone(),
                        file.filename.clone(),
                    ));
                }
                if let Err(e) = with_retry("deferred reply", || interaction.edit_response(&ctx.http, edit.clone())).await {
                    tracing::error!(error = %e, "could not complete a deferred interaction");
                }
            }
            joined = &mut task => {
                let answer = flatten(joined);
                log_refusal(&answer);
                let response = CreateInteractionResponse::Message(Self::message(&answer));
                if let Err(e) = with_retry("interaction reply", || interaction.create_response(&ctx.http, response.clone())).await {
                    tracing::error!(error = %e, "could not answer an interaction");
                }
            }
        }
    }

    /// Suggests incident ids (active ones first, then the newest) and teams.
    async fn answer_autocomplete(&self, ctx: &Context, interaction: &CommandInteraction) {
        let Some(focused) = interaction.data.autocomplete() else {
            return;
        };
        let partial = focused.value.trim().to_lowercase();
        let choices: Vec<(String, String)> = match focused.name {
            "id" => {
                let engine = self.engine.clone();
                let listed = tokio::task::spawn_blocking(move || {
                    let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
                    engine.store().all()
                })
                .await;
                let mut incidents = match listed {
                    Ok(Ok(incidents)) => incidents,
                    _ => Vec::new(),
                };
                incidents.sort_by_key(|i| (!i.status.is_active(), std::cmp::Reverse(i.id)));
                incidents
                    .iter()
                    .filter(|i| {
                        partial.is_empty()
                            || i.id.to_string().to_lowercase().contains(&partial)
                            || i.title.as_str().to_lowercase().contains(&partial)
                    })
                    .take(25)
                    .map(|i| {
                        let name =
                            format!("{} · {} · {} — {}", i.id, i.severity, i.status, i.title);
                        (limits::fit(&name, limits::CHOICE_NAME), i.id.to_string())
                    })
                    .collect()
            }
            "also" => {
                // Complete the last element of a comma-separated list, with
                // teams not named yet: neither in the list nor as the owner.
                let (done, last) = match focused.value.rsplit_once(',') {
                    Some((done, last)) => (format!("{},", done.trim()), last.trim().to_lowercase()),
                    None => (String::new(), partial.clone()),
                };
                let mut named: Vec<String> = done
                    .split(',')
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect();
                named.extend(
                    option_text(&interaction.data.options(), "team").map(|t| t.to_lowercase()),
                );
                Team::ALL
                    .iter()
                    .filter(|t| !named.iter().any(|n| n == t.as_str()))
                    .filter(|t| t.as_str().starts_with(&last))
                    .map(|t| {
                        let value = format!("{done}{t}");
                        (value.clone(), value)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let mut response = CreateAutocompleteResponse::new();
        for (name, value) in choices {
            response = response.add_string_choice(name, value);
        }
        let response = CreateInteractionResponse::Autocomplete(response);
        if let Err(e) = with_retry("autocomplete", || {
            interaction.create_response(&ctx.http, response.clone())
        })
        .await
        {
            tracing::warn!(error = %e, "autocomplete not answered");
        }
    }

    async fn answer_button(&self, ctx: &Context, interaction: &ComponentInteraction) {
        let Some(route) = Route::parse(&interaction.data.custom_id) else {
            tracing::warn!(custom_id = %interaction.data.custom_id, "a button mailcall did not make");
            return;
        };
        let caller = convert::caller(&interaction.user, interaction.member.as_ref(), &self.config);
        let alert_command = match route {
            Route::AlertAck(id) => Some(crate::command::AlertCommand::Acknowledge { id }),
            Route::AlertSnooze(id, hours) => {
                Some(crate::command::AlertCommand::Snooze { id, hours })
            }
            Route::AlertIncident(id) => Some(crate::command::AlertCommand::OpenIncident { id }),
            Route::AlertFalseAlarm(id) => Some(crate::command::AlertCommand::FalseAlarm { id }),
            _ => None,
        };
        if let Some(command) = alert_command {
            let answer = flatten(
                self.spawn_work(move |engine| engine.execute(&caller, Command::Alert(command)))
                    .await,
            );
            log_refusal(&answer);
            let response =
                CreateInteractionResponse::Message(Self::message(&answer).ephemeral(true));
            if let Err(e) = with_retry("alert button reply", || {
                interaction.create_response(&ctx.http, response.clone())
            })
            .await
            {
                tracing::error!(error = %e, "could not answer an alert button");
            }
            return;
        }
        let answer = match route {
            Route::AlertAck(_)
            | Route::AlertSnooze(..)
            | Route::AlertIncident(_)
            | Route::AlertFalseAlarm(_) => return,
            Route::Duty(button) => {
                let command = Command::Duty(button.command());
                flatten(
                    self.spawn_work(move |engine| engine.execute(&caller, command))
                        .await,
                )
            }
            Route::AskResolution(id) => {
                // Refused before the form, not after the typing.
                let asked = caller.clone();
                let allowed = flatten(
                    self.spawn_work(move |engine| {
                        engine
                            .refuse_without_team_role(
                                &asked,
                                "resolve incidents",
                                format!("/incident resolve {id} (button)"),
                            )
                            .map(|()| crate::command::Outcome {
                                reply: crate::command::Reply {
                                    text: String::new(),
                                    visibility: Visibility::Private,
                                },
                                effects: Vec::new(),
                                posted: Vec::new(),
                                attachments: Vec::new(),
                            })
                    })
                    .await,
                );
                if allowed.is_err() {
                    // The refusal is answered below, like any button's.
                    allowed
                } else {
                    let modal = CreateInteractionResponse::Modal(view::resolve_modal(id));
                    if let Err(e) = with_retry("resolve modal", || {
                        interaction.create_response(&ctx.http, modal.clone())
                    })
                    .await
                    {
                        tracing::error!(error = %e, "could not open the resolve modal");
                    }
                    return;
                }
            }
            Route::Acknowledge(id) => self.change(caller, id, |_, _| Op::Acknowledge).await,
            Route::AssignToMe(id) => {
                self.change(caller, id, |incident_teams, caller| {
                    // Act for a team the caller belongs to, preferring one
                    // already involved; without any team role the engine
                    // refuses (and audits) whatever team is named.
                    let team = caller
                        .teams
                        .iter()
                        .find(|t| incident_teams.contains(t))
                        .or_else(|| caller.teams.iter().next())
                        .copied()
                        .unwrap_or(Team::Integration);
                    Op::Assign {
                        team,
                        to: caller.actor.clone(),
                    }
                })
                .await
            }
            Route::Resolve(_) => return,
        };
        log_refusal(&answer);
        let response = CreateInteractionResponse::Message(Self::message(&answer).ephemeral(true));
        if let Err(e) = with_retry("button reply", || {
            interaction.create_response(&ctx.http, response.clone())
        })
        .await
        {
            tracing::error!(error = %e, "could not answer a button");
        }
    }

    async fn answer_modal(&self, ctx: &Context, interaction: &ModalInteraction) {
        let Some(Route::Resolve(id)) = Route::parse(&interaction.data.custom_id) else {
            return;
        };
        let caller = convert::caller(&interaction.user, interaction.member.as_ref(), &self.config);
        let resolution = interaction
            .data
            .components
            .iter()
            .flat_map(|row| row.components.iter())
            .find_map(|c| match c {
                ActionRowComponent::InputText(input)
                    if input.custom_id == view::RESOLUTION_INPUT =>
                {
                    input.value.clone()
                }
                _ => None,
            })
            .unwrap_or_default();
        let answer = match Text::new(&resolution) {
            Ok(resolution) => {
                self.change(caller, id, move |_, _| Op::Resolve {
                    resolution,
                    root_cause: None,
                })
                .await
            }
            Err(e) => Err(CommandError::Parse(crate::command::ParseError::BadValue {
                command: format!("Resolve {id}"),
                name: "resolution".into(),
                reason: e.to_string(),
            })),
        };
        log_refusal(&answer);
        let response = CreateInteractionResponse::Message(Self::message(&answer).ephemeral(true));
        if let Err(e) = with_retry("modal reply", || {
            interaction.create_response(&ctx.http, response.clone())
        })
        .await
        {
            tracing::error!(error = %e, "could not answer a modal");
        }
    }

    /// Runs a change to one incident; `op` is chosen with the incident's
    /// teams in view (for "assign to me").
    async fn change<F>(&self, caller: Caller, id: IncidentId, op: F) -> Answer
    where
        F: FnOnce(&std::collections::BTreeSet<Team>, &Caller) -> Op + Send + 'static,
    {
        flatten(
            self.spawn_work(move |engine| {
                let teams = engine
                    .store()
                    .load(id)?
                    .map(|i| i.teams)
                    .unwrap_or_default();
                let op = op(&teams, &caller);
                engine.execute(
                    &caller,
                    Command::Incident(IncidentCommand::Change { id, op }),
                )
            })
            .await,
        )
    }
}

/// The text given for option `name`, looking inside subcommands.
fn option_text<'a>(options: &[serenity::all::ResolvedOption<'a>], name: &str) -> Option<&'a str> {
    options.iter().find_map(|option| match &option.value {
        serenity::all::ResolvedValue::String(text) if option.name == name => Some(*text),
        serenity::all::ResolvedValue::SubCommand(inner)
        | serenity::all::ResolvedValue::SubCommandGroup(inner) => option_text(inner, name),
        _ => None,
    })
}

fn flatten(joined: Result<Answer, tokio::task::JoinError>) -> Answer {
    joined.unwrap_or_else(|e| {
        Err(CommandError::Store(crate::store::StoreError::Backend(
            format!("the command failed: {e}"),
        )))
    })
}

fn log_refusal(answer: &Answer) {
    match answer {
        Err(e) if e.is_user_error() => tracing::info!(refusal = %e, "command refused"),
        Err(e) => tracing::error!(error = %e, "command failed"),
        Ok(_) => {}
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "connected to Discord");
        self.telemetry.discord(true);
        let guild = GuildId::new(self.config.guild_id.0);
        match with_retry("command registration", || {
            ctx.http.create_guild_commands(guild, &self.manifests)
        })
        .await
        {
            Ok(commands) => tracing::info!(count = commands.len(), "slash commands registered"),
            Err(e) => tracing::error!(error = %e, "slash commands not registered"),
        }
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        self.telemetry
            .discord(matches!(event.new, ConnectionStage::Connected));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(command) => self.answer_command(&ctx, &command).await,
            Interaction::Autocomplete(command) => self.answer_autocomplete(&ctx, &command).await,
            Interaction::Component(component) => self.answer_button(&ctx, &component).await,
            Interaction::Modal(modal) => self.answer_modal(&ctx, &modal).await,
            _ => {}
        }
    }
}
