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
//! The service behind it is built by [`crate::service`]; [`Bot`] is only
//! the way in (interactions) and the way out (posts).

pub mod convert;
pub mod handler;
pub mod limits;
pub mod poster;
pub mod view;

use std::fmt;
use std::future::Future;

use serenity::client::{Client, ClientBuilder};
use serenity::http::HttpBuilder;
use serenity::prelude::GatewayIntents;
use std::sync::Arc;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::command::manifest::EMBEDDED;
use crate::command::TeamDirectory;
use crate::config::{DiscordConfig, TokenSource};
use crate::service::SharedEngine;
use crate::store::StoreError;

/// Why the bot could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Token(String),
    /// Discord could not be reached, or answered the token check with
    /// something other than the bot or a refusal.
    #[error("{0}")]
    Unreachable(String),
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

/// The bot token, in the redaction layer's credential type: its `Debug`
/// never shows the value, and every form of it (`Bot …`) is registered for
/// redaction the moment it is read.
pub struct Token(crate::redact::Credential);

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
        Ok(Token(crate::redact::Credential::new(token)))
    }
}

/// The manifests as JSON values, exactly as in `commands/`.
pub fn manifests_json() -> Vec<serde_json::Value> {
    EMBEDDED
        .iter()
        .filter_map(|(_, json)| serde_json::from_str(json).ok())
        .collect()
}

/// How Discord names team channels and roles in the text of posts.
pub fn directory(discord: &DiscordConfig) -> TeamDirectory {
    TeamDirectory {
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
    }
}

/// serenity's HTTP client for `token`, on the configured base URL. serenity
/// only honours a base URL with its rate limiter off (serenity#1739); the
/// poster then retries 429s itself.
fn http_builder(discord: &DiscordConfig, token: &Token) -> HttpBuilder {
    let http = HttpBuilder::new(token.0.expose());
    match &discord.api_base {
        Some(base) => http.proxy(base.clone()).ratelimiter_disabled(true),
        None => http,
    }
}

/// How long the start-up token check waits for Discord.
const TOKEN_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks Discord who the bot is (`GET /users/@me`) before anything else, so
/// a revoked token or an unreachable Discord stops `mailcall run` at once
/// with a sentence, instead of the gateway retrying silently for ever. The
/// sentence names where the token comes from, never the token, and never
/// Discord's answer body (a proxy may echo the header in it).
pub async fn check_token(discord: &DiscordConfig, token: &Token) -> Result<(), DiscordError> {
    use serenity::http::HttpError;
    let http = http_builder(discord, token).build();
    let base = discord.api_base.as_deref().unwrap_or("https://discord.com");
    let source = match &discord.token {
        TokenSource::Env(name) => format!("the environment variable {name}"),
        TokenSource::File(path) => format!("the file {}", path.display()),
    };
    let answer = tokio::time::timeout(TOKEN_CHECK_TIMEOUT, http.get_current_user()).await;
    drop(http);
    match answer {
        Ok(Ok(user)) => {
            tracing::info!(bot = %user.name, "Discord accepted the bot token");
            Ok(())
        }
        Err(_) => Err(DiscordError::Unreachable(format!(
            "Discord at {base} did not answer within {} s; check the network (or [discord] api_base)",
            TOKEN_CHECK_TIMEOUT.as_secs()
        ))),
        Ok(Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response)))) => {
            let status = response.status_code;
            if status == serenity::http::StatusCode::UNAUTHORIZED {
                Err(DiscordError::Token(format!(
                    "Discord refused the bot token (401 Unauthorized): the token in {source} is wrong or was reset; copy a new one from the Developer Portal"
                )))
            } else {
                Err(DiscordError::Unreachable(format!(
                    "Discord at {base} answered {status} when asked who the bot is; try again later"
                )))
            }
        }
        Ok(Err(serenity::Error::Http(HttpError::Request(e)))) => {
            // reqwest's chain names the URL and the cause (refused,
            // timed out, no such host); it never holds request headers.
            let mut why = String::new();
            let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
            while let Some(c) = cause {
                why = c.to_string();
                cause = c.source();
            }
            Err(DiscordError::Unreachable(format!(
                "cannot reach Discord at {base}: {}",
                if why.is_empty() { "the request failed".to_string() } else { why }
            )))
        }
        Ok(Err(other)) => Err(DiscordError::Unreachable(format!(
            "asking Discord who the bot is failed: {}",
            match other {
                serenity::Error::Http(_) => "an invalid request (check [discord] api_base)".to_string(),
                _ => "an unexpected answer".to_string(),
            }
        ))),
    }
}

/// The Discord front end of a [`crate::service::Service`]: the gateway
/// client whose handler answers interactions, and the poster that applies
/// the engine's effects.
pub struct Bot {
    client: Client,
    posting: JoinHandle<()>,
    stop_relay: watch::Sender<bool>,
    telemetry: Arc<crate::http::Telemetry>,
    /// `[discord] api_base` is set: the gateway address must come from it.
    own_api_base: bool,
}

impl Bot {
    /// Builds the client (the base URL applies to every
    /// request, the gateway lookup included) and starts relaying the
    /// outbox to Discord: what is left from before a restart first, then
    /// each change's posts as `outbox` is woken.
    pub async fn connect(
        discord: &DiscordConfig,
        token: &Token,
        engine: SharedEngine,
        outbox: Arc<Notify>,
        telemetry: Arc<crate::http::Telemetry>,
        runbooks: Arc<crate::alerting::runbooks::Runbooks>,
    ) -> Result<Bot, DiscordError> {
        if let Some(base) = &discord.api_base {
            tracing::warn!(api_base = %base, "using a non-default Discord API base");
        }
        let handler = handler::Handler {
            engine: engine.clone(),
            config: discord.clone(),
            manifests: manifests_json(),
            outbox: outbox.clone(),
            telemetry: telemetry.clone(),
        };
        let http = http_builder(discord, token).build();
        let client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
            .event_handler(handler)
            .await?;
        let poster = Arc::new(poster::Poster {
            http: client.http.clone(),
            config: discord.clone(),
            engine: engine.clone(),
            runbooks,
        });
        let (stop_relay, relay_stopped) = watch::channel(false);
        let posting = tokio::spawn(crate::service::relay(
            engine,
            outbox,
            telemetry.clone(),
            relay_stopped,
            move |post, effect| {
                let poster = poster.clone();
                async move { poster.apply(post, effect).await }
            },
        ));
        Ok(Bot {
            client,
            posting,
            stop_relay,
            telemetry,
            own_api_base: discord.api_base.is_some(),
        })
    }

    /// Runs the gateway until `shutdown` completes or it fails for good.
    pub async fn run_until(
        &mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DiscordError> {
        let shards = self.client.shard_manager.clone();
        let watching = tokio::spawn(watch_connection(shards.clone(), self.telemetry.clone()));
        let _stop_watching = AbortOnDrop(watching);
        let pinned = async {
            if self.own_api_base {
                self.pin_gateway().await;
            }
            self.client.start().await
        };
        tokio::select! {
            started = pinned => started.map_err(DiscordError::from),
            () = shutdown => {
                // An unreachable Discord must not hold the exit up.
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    shards.shutdown_all(),
                )
                .await;
                Ok(())
            }
        }
    }

    /// Asks the configured API base for the gateway address until it
    /// answers, and gives that address to the client. serenity asks once
    /// while the client is built and, if that fails, falls back to
    /// Discord's public gateway (`wss://gateway.discord.gg`), which would
    /// send the token to a host the operator did not configure.
    async fn pin_gateway(&self) {
        let mut wait = std::time::Duration::from_secs(1);
        loop {
            match self.client.http.get_gateway().await {
                Ok(gateway) => {
                    *self.client.ws_url.lock().await = gateway.url;
                    return;
                }
                Err(e) => {
                    tracing::warn!(
                        retry_in_seconds = wait.as_secs(),
                        "the configured Discord API base did not give a gateway address: {e}"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(GATEWAY_RETRY_MAX);
                }
            }
        }
    }

    /// Drops the client, then lets the relay send what is in the outbox for
    /// at most `grace`; what is left stays there for the next start.
    pub async fn close(self, grace: std::time::Duration) {
        drop(self.client);
        let _ = self.stop_relay.send(true);
        if tokio::time::timeout(grace, self.posting).await.is_err() {
            tracing::warn!("posts still in the outbox at shutdown are sent at the next start");
        }
    }
}

/// The longest wait between two gateway-address requests.
const GATEWAY_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// How often the gateway connection is looked at for `/readyz`.
const CONNECTION_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Turns the "Discord connected" flag of `/readyz` off when the gateway
/// is lost. serenity reports a lost connection as a stage change only when
/// the shard itself notices; a shard whose reconnection is refused is
/// restarted by its manager, dropping out of the manager's runners without
/// any event, so the runners are read here. (The runners' stage is not
/// kept current while connected, so READY and stage events, in the
/// handler, are what turn the flag back on.)
async fn watch_connection(
    shards: Arc<serenity::gateway::ShardManager>,
    telemetry: Arc<crate::http::Telemetry>,
) {
    loop {
        let lost = {
            let runners = shards.runners.lock().await;
            runners.is_empty()
                || runners
                    .values()
                    .any(|r| r.stage == serenity::gateway::ConnectionStage::Disconnected)
        };
        if lost {
            telemetry.discord(false);
        }
        tokio::time::sleep(CONNECTION_CHECK).await;
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
