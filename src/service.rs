//! The composition root: one place that builds mailcall from its
//! configuration (store, metric history, engine, poller) and runs the
//! background work (polls, detection after each poll, alert timers) for
//! whichever front end drives it.
//!
//! Front ends only add a way in and a way out: Discord turns interactions
//! into engine calls and effects into posts; the console does the same with
//! lines of text. Both get the same [`Service`], so `mailcall console
//! --config` polls, detects and raises alerts exactly as `mailcall run`
//! does, and a team can watch its real accounts before wiring Discord.
//!
//! Effects (posts) travel from the engine to the front end through one
//! channel, queued while the engine is still locked, so the order of posts
//! is the order of commits.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::command::{CommandError, Effect, Engine, TeamDirectory};
use crate::config::Config;
use crate::discord::{self, Bot, DiscordError, Token};
use crate::poll::{FeedEvent, Poller};
use crate::store::{SledStore, StoreError};

/// The engine, shared by the front end and the background jobs. Every
/// change goes through its lock, so changes are serialised.
pub type SharedEngine = Arc<Mutex<Engine<SledStore>>>;

/// How long each stage of shutdown may take (background jobs, then queued
/// posts), so the whole process is gone within 5 s of SIGTERM: Docker's
/// default stop timeout is 10 s, and systemd's is longer.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Discord(#[from] DiscordError),
}

/// mailcall, built from a configuration and not yet running.
pub struct Service {
    /// The engine every front end drives.
    pub engine: SharedEngine,
    poller: Arc<Poller>,
    feed: mpsc::UnboundedReceiver<FeedEvent>,
    alert_tick: Duration,
}

impl Service {
    /// Opens the store named by `config` and builds the engine and poller.
    /// `directory` is how the front end names team channels and roles in
    /// the text of posts. Blocking (opening sled reads its log): call it
    /// from a blocking context or through [`Service::open_async`].
    pub fn open(
        config: &Config,
        directory: TeamDirectory,
        clock: Arc<dyn Clock>,
    ) -> Result<Service, ServiceError> {
        let planned = config
            .esp
            .iter()
            .map(|esp| esp.plan(clock.now()))
            .collect::<Result<Vec<_>, String>>()
            .map_err(ServiceError::Config)?;
        let store = SledStore::open(&config.store_path)?;
        let history = Arc::new(store.history()?.keeping(config.keep_history));
        let engine = Engine::new(store, clock.clone())
            .with_history(history.clone())
            .with_directory(directory)
            .with_alerts(config.alerting.clone(), config.quiet_windows.clone())?;
        let (feed_tx, feed) = mpsc::unbounded_channel();
        let poller = Arc::new(Poller::new(
            planned,
            config.poll.clone(),
            history,
            clock,
            feed_tx,
        ));
        Ok(Service {
            engine: Arc::new(Mutex::new(engine)),
            poller,
            feed,
            alert_tick: config.alert_tick,
        })
    }

    /// [`Service::open`] on the blocking pool.
    pub async fn open_async(
        config: Config,
        directory: TeamDirectory,
        clock: Arc<dyn Clock>,
    ) -> Result<Service, ServiceError> {
        tokio::task::spawn_blocking(move || Service::open(&config, directory, clock))
            .await
            .map_err(|e| ServiceError::Config(format!("opening the store failed: {e}")))?
    }

    /// How many ESP accounts the service polls.
    pub fn accounts(&self) -> usize {
        self.poller.accounts().len()
    }

    /// Starts the background jobs: each account polled at start and on its
    /// schedule, detection after every poll and feed event, and the alert
    /// timers (reminders, escalation, silences ending). Their posts go to
    /// `posts`. Must be called inside a tokio runtime.
    pub fn start(self, posts: mpsc::UnboundedSender<Effect>) -> (SharedEngine, Jobs) {
        let (stop, stopped) = watch::channel(false);
        let polling = {
            let mut stopped = stopped.clone();
            tokio::spawn(self.poller.run(async move {
                let _ = stopped.changed().await;
            }))
        };
        let detecting = tokio::spawn(detect_after_polls(
            self.engine.clone(),
            self.feed,
            posts.clone(),
        ));
        let ticking = tokio::spawn(tick_alerts(
            self.engine.clone(),
            posts,
            stopped,
            self.alert_tick,
        ));
        (
            self.engine,
            Jobs {
                stop,
                tasks: vec![polling, detecting, ticking],
            },
        )
    }
}

/// `mailcall run`: the service with Discord as its front end, until
/// `shutdown` completes or the gateway fails for good. Tests run it
/// in-process against a fake Discord and stop it at will.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let settings = config.discord.clone().ok_or_else(|| {
        ServiceError::Config(format!(
            "{} has no [discord] table; see data/mailcall.example.toml",
            config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the configuration".into())
        ))
    })?;
    let token = Token::read(&settings.token)?;
    let service =
        Service::open_async(config, discord::directory(&settings), Arc::new(SystemClock)).await?;
    let (posts, queued) = mpsc::unbounded_channel();
    let mut bot = Bot::connect(
        &settings,
        &token,
        service.engine.clone(),
        posts.clone(),
        queued,
    )
    .await?;
    let (_engine, jobs) = service.start(posts);
    let result = bot.run_until(shutdown).await;
    // Jobs first (their posts senders go with them), then the client and
    // the handler's sender: the poster finishes what is queued, then stops.
    jobs.stop().await;
    bot.close(SHUTDOWN_GRACE).await;
    Ok(result?)
}

/// The running background jobs.
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Stops polling and the timers, lets detection finish what the last
    /// polls stored, and waits for them (at most [`SHUTDOWN_GRACE`]). The
    /// posts senders they held are dropped with them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for task in self.tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a background job did not stop in time");
            }
        }
    }
}

/// Runs `work` against the engine on the blocking pool and queues its
/// effects while the engine is still locked, so post order is commit order.
/// A failure is logged as `what`.
pub async fn with_engine<F>(
    engine: &SharedEngine,
    posts: &mpsc::UnboundedSender<Effect>,
    what: &'static str,
    work: F,
) where
    F: FnOnce(&mut Engine<SledStore>) -> Result<Vec<Effect>, CommandError> + Send + 'static,
{
    let engine = engine.clone();
    let posts = posts.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        match work(&mut engine) {
            Ok(list) => list.into_iter().for_each(|e| {
                // A closed channel means shutdown: nobody is left to post for.
                let _ = posts.send(e);
            }),
            Err(e) => tracing::error!(error = %e, "{what} failed"),
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "{what} task failed");
    }
}

/// Runs detection after each poll, and turns feed events into alerts. Ends
/// when the poller (the feed's only sender) is gone.
async fn detect_after_polls(
    engine: SharedEngine,
    mut feed: mpsc::UnboundedReceiver<FeedEvent>,
    posts: mpsc::UnboundedSender<Effect>,
) {
    while let Some(event) = feed.recv().await {
        with_engine(&engine, &posts, "detection", move |engine| match &event {
            FeedEvent::Polled { account } => engine.after_poll(account),
            other => engine.feed_event(other),
        })
        .await;
    }
}

/// Checks alert timers until shutdown.
async fn tick_alerts(
    engine: SharedEngine,
    posts: mpsc::UnboundedSender<Effect>,
    mut stop: watch::Receiver<bool>,
    every: Duration,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(every) => {}
        }
        with_engine(&engine, &posts, "alert tick", |engine| engine.alert_tick()).await;
    }
}
