//! The Discord front end: the incident engine behind slash commands,
//! buttons and threads, through the real serenity client.
//!
//! - [`handler`]: registers `commands/*.json` on READY and answers
//!   interactions (commands, autocomplete, buttons, the resolve modal).
//! - [`poster`]: turns the engine's effects into announcements, thread posts
//!   and edits, in commit order, remembering message ids across restarts.
//! - [`view`]: what incidents look like (embeds, buttons, `custom_id`s).
//! - [`convert`]: serenity's interaction types to mailcall's.
//! - [`limits`]: Discord's size limits, enforced before sending.
//!
//! [`run`] takes a shutdown future, so tests start the whole bot in-process
//! against a fake Discord and stop it at will.

pub mod convert;
pub mod handler;
pub mod limits;
pub mod poster;
pub mod view;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serenity::client::ClientBuilder;
use serenity::http::HttpBuilder;
use serenity::prelude::GatewayIntents;
use tokio::sync::mpsc;

use crate::clock::{Clock, SystemClock};
use crate::command::manifest::EMBEDDED;
use crate::command::{Effect, Engine, TeamDirectory};
use crate::config::{Config, DiscordConfig, TokenSource};
use crate::poll::FeedEvent;
use crate::poll::Poller;
use crate::store::{SledStore, StoreError};

/// How long queued posts may take to go out after shutdown is asked for.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the bot could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Token(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Boxed: serenity's error is large, and this one is returned often.
    #[error("Discord: {0}")]
    Serenity(Box<serenity::Error>),
}

impl From<serenity::Error> for DiscordError {
    fn from(e: serenity::Error) -> Self {
        DiscordError::Serenity(Box::new(e))
    }
}

/// The bot token. Its `Debug` never shows the value, so it cannot leak into
/// a log line by accident.
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// Reads the token from where the configuration says. Errors name the
    /// variable or file, never the content.
    pub fn read(source: &TokenSource) -> Result<Token, DiscordError> {
        let token = match source {
            TokenSource::Env(name) => std::env::var(name).map_err(|_| {
                DiscordError::Token(format!(
                    "the Discord token is missing: set the environment variable {name}"
                ))
            })?,
            TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                DiscordError::Token(format!(
                    "cannot read the Discord token file {}: {e}",
                    path.display()
                ))
            })?,
        };
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(DiscordError::Token("the Discord token is empty".into()));
        }
        Ok(Token(token))
    }
}

/// The manifests as JSON values, exactly as in `commands/`.
pub fn manifests_json() -> Vec<serde_json::Value> {
    EMBEDDED
        .iter()
        .filter_map(|(_, json)| serde_json::from_str(json).ok())
        .collect()
}

/// Runs the bot until `shutdown` completes or the gateway fails for good.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DiscordError> {
    let discord: DiscordConfig = config.discord.clone().ok_or_else(|| {
        DiscordError::Config(format!(
            "{} has no [discord] table; see data/mailcall.example.toml",
            config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the configuration".into())
        ))
    })?;
    let token = Token::read(&discord.token)?;

    let store = {
        let path = config.store_path.clone();
        tokio::task::spawn_blocking(move || SledStore::open(&path))
            .await
            .map_err(|e| DiscordError::Config(format!("opening the store panicked: {e}")))??
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let history = Arc::new(store.history()?.keeping(config.keep_history));
    let alert_tick = discord.alert_tick;
    let directory = TeamDirectory {
        teams: discord
            .teams
            .iter()
            .map(|(team, t)| {
                (
                    *team,
                    (format!("<#{}>", t.channel.0), format!("<@&{}>", t.role.0)),
                )
            })
            .collect(),
        admin: discord
            .admin_roles
            .first()
            .map(|r| format!("<@&{}>", r.0))
            .unwrap_or_default(),
    };
    let engine = Engine::new(store, clock.clone())
        .with_history(history.clone())
        .with_directory(directory)
        .with_alerts(config.alerting.clone(), config.quiet_windows.clone())
        .map_err(DiscordError::Store)?;
    let engine = Arc::new(Mutex::new(engine));
    let planned = config
        .esp
        .iter()
        .map(|esp| esp.plan(clock.now()))
        .collect::<Result<Vec<_>, String>>()
        .map_err(DiscordError::Config)?;
    let (feed_tx, feed_rx) = mpsc::unbounded_channel();
    let poller = Arc::new(Poller::new(
        planned,
        config.poll.clone(),
        history,
        clock,
        feed_tx,
    ));
    let (stop_polling, polling_stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(poller.run(async move {
        let mut stopped = polling_stopped;
        let _ = stopped.changed().await;
    }));

    let mut http = HttpBuilder::new(&token.0);
    if let Some(base) = &discord.api_base {
        // serenity only honours the base URL with its rate limiter off
        // (serenity#1739); the poster then retries 429s itself.
        tracing::warn!(api_base = %base, "using a non-default Discord API base");
        http = http.proxy(base.clone()).ratelimiter_disabled(true);
    }
    let http = http.build();

    let (effects_tx, effects_rx) = mpsc::unbounded_channel();
    let alert_effects = effects_tx.clone();
    let engine_for_alerts = engine.clone();
    let stop_ticking = stop_polling.subscribe();
    let handler = handler::Handler {
        engine: engine.clone(),
        config: discord.clone(),
        manifests: manifests_json(),
        effects: effects_tx,
    };
    // Built from our Http, so the base URL applies to every request,
    // including the gateway lookup (`GET /gateway`).
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
        .event_handler(handler)
        .await?;
    let poster = poster::Poster {
        http: client.http.clone(),
        config: discord,
        engine,
    };
    let posting = tokio::spawn(poster.run(effects_rx));
    let detecting = tokio::spawn(detect_after_polls(
        engine_for_alerts.clone(),
        feed_rx,
        alert_effects.clone(),
    ));
    let ticking = tokio::spawn(tick_alerts(
        engine_for_alerts,
        alert_effects,
        stop_ticking,
        alert_tick,
    ));
    let shards = client.shard_manager.clone();

    let result = tokio::select! {
        started = client.start() => started.map_err(DiscordError::from),
        () = shutdown => {
            shards.shutdown_all().await;
            Ok(())
        }
    };
    // Stop polling first (its feed sender goes with it), then drop the
    // client, and with it the handler's effects sender: the poster finishes
    // what is queued, then stops.
    let _ = stop_polling.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, polling).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, detecting).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, ticking).await;
    drop(client);
    if tokio::time::timeout(SHUTDOWN_GRACE, posting).await.is_err() {
        tracing::warn!("posts still pending at shutdown were dropped");
    }
    result
}

/// Runs `work` against the engine on the blocking pool and hands its
/// effects to the poster while the engine is still locked, so post order is
/// commit order. A failure is logged as `what`.
async fn on_engine<F>(
    engine: &Arc<Mutex<Engine<SledStore>>>,
    effects: &mpsc::UnboundedSender<Effect>,
    what: &'static str,
    work: F,
) where
    F: FnOnce(&mut Engine<SledStore>) -> Result<Vec<Effect>, crate::command::CommandError>
        + Send
        + 'static,
{
    let engine = engine.clone();
    let effects = effects.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        match work(&mut engine) {
            Ok(list) => list.into_iter().for_each(|e| {
                // A closed channel means shutdown: nobody is left to post for.
                let _ = effects.send(e);
            }),
            Err(e) => tracing::error!(error = %e, "{what} failed"),
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "{what} task failed");
    }
}

/// Runs detection after each poll, and turns feed events into alerts.
async fn detect_after_polls(
    engine: Arc<Mutex<Engine<SledStore>>>,
    mut feed: mpsc::UnboundedReceiver<FeedEvent>,
    effects: mpsc::UnboundedSender<Effect>,
) {
    while let Some(event) = feed.recv().await {
        on_engine(&engine, &effects, "detection", move |engine| match &event {
            FeedEvent::Polled { account } => engine.after_poll(account),
            other => engine.feed_event(other),
        })
        .await;
    }
}

/// Checks alert timers until shutdown.
async fn tick_alerts(
    engine: Arc<Mutex<Engine<SledStore>>>,
    effects: mpsc::UnboundedSender<Effect>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    every: std::time::Duration,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(every) => {}
        }
        on_engine(&engine, &effects, "alert tick", |engine| {
            engine.alert_tick()
        })
        .await;
    }
}
