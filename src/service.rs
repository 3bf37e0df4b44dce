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
//! Posts are not handed from the engine to the front end in memory: every
//! change commits the posts it causes to the store's outbox in the same
//! durable write, and [`relay`] delivers them from there, oldest first, and
//! removes each once delivered. A crash between the commit and the send
//! loses nothing: the post is sent at the next start.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::command::{CommandError, Effect, Engine, TeamDirectory};
use crate::config::Config;
use crate::discord::{self, Bot, DiscordError, Token};
use crate::http::Telemetry;
use crate::poll::{FeedEvent, PlannedAccount, Poller, PollerSettings};
use crate::schedule;
use crate::scheduler::{Cadence, Job, Missed, Scheduler};
use crate::store::{IncidentStore, SledStore, StoreError};

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
    #[error("mailcall stopped because the store could not write ({0}); every change answered before it is on disk. Free the space (or fix the disk) and start it again")]
    StoreFailed(String),
}

/// mailcall, built from a configuration and not yet running.
pub struct Service {
    /// The engine every front end drives.
    pub engine: SharedEngine,
    poller: Arc<Poller>,
    feed: mpsc::UnboundedReceiver<FeedEvent>,
    alert_tick: Duration,
    clock: Arc<dyn Clock>,
    /// Counters and health flags for `/metrics` and `/readyz`.
    pub telemetry: Arc<Telemetry>,
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
            .with_alerts(config.alerting.clone(), config.quiet_windows.clone())?
            .with_rotations(config.rotations.clone())?
            .with_summary(config.summary.clone());
        // Group commit: every front end and job waits for durability
        // through `on_engine` (or `Durable`) with the lock released.
        let mut engine = engine;
        engine.store_mut().defer_sync(true);
        let (feed_tx, feed) = mpsc::unbounded_channel();
        let poller = Arc::new(Poller::new(
            planned,
            within_open_file_limit(config.poll.clone()),
            history,
            clock.clone(),
            feed_tx,
        ));
        Ok(Service {
            engine: Arc::new(Mutex::new(engine)),
            poller,
            feed,
            alert_tick: config.alert_tick,
            clock,
            telemetry: Arc::new(Telemetry::new(
                config.discord.is_some(),
                config.poll.stale_after,
            )),
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

    /// Starts the background jobs through one scheduler (see
    /// [`crate::scheduler`]): each account polled on its schedule (and at
    /// once on a first start or after a missed run), the alert timers
    /// (reminders, escalation, silences ending); and detection after every
    /// poll and feed event. Each of their
    /// changes commits its posts to the outbox and wakes `outbox`. Must be
    /// called inside a tokio runtime.
    pub fn start(self, outbox: Arc<Notify>) -> (SharedEngine, Jobs) {
        let (stop, stopped) = watch::channel(false);
        let detecting = tokio::spawn(detect_after_polls(
            self.engine.clone(),
            self.feed,
            outbox.clone(),
            self.telemetry.clone(),
        ));
        let scheduling = tokio::spawn(run_jobs(
            self.engine.clone(),
            self.poller,
            outbox,
            self.clock,
            stopped,
            self.alert_tick,
            self.telemetry,
        ));
        (
            self.engine,
            Jobs {
                stop,
                tasks: vec![scheduling, detecting],
            },
        )
    }
}

/// The rotations as they stand, run-time changes included (none if the
/// engine cannot be reached: there are then no handoff jobs to run).
async fn current_rotations(engine: &SharedEngine) -> Vec<crate::duty::Rotation> {
    on_engine(engine, |engine| {
        engine.roster().rotations().cloned().collect()
    })
    .await
    .unwrap_or_default()
}

/// The scheduled job that checks alert timers.
pub const ALERT_TICK_JOB: &str = "alert-tick";

/// The scheduled job that polls `account`.
pub fn poll_job(account: &str) -> String {
    format!("poll:{account}")
}

/// `poll` with its connections bounded by what the process may open, after
/// raising the open-file limit as far as allowed (see
/// [`crate::open_files`]).
pub fn within_open_file_limit(mut poll: PollerSettings) -> PollerSettings {
    match crate::open_files::raise() {
        Ok(limit) => {
            let budget = crate::open_files::connection_budget(limit.now);
            poll.max_connections = poll.max_connections.min(budget);
            tracing::info!(
                "open-file limit {} (was {}, hard {}): at most {} ESP requests at once",
                limit.now,
                limit.before,
                limit.hard,
                poll.max_connections
            );
        }
        Err(error) => tracing::warn!(
            %error,
            "cannot read or raise the open-file limit; ESP requests are not bounded by it"
        ),
    }
    poll
}

/// The longest the job runner sleeps before looking at the clock again, so
/// a test that moves an injected clock sees jobs run within a second.
const RUNNER_NAP: Duration = Duration::from_secs(1);

/// Runs every scheduled job through one [`Scheduler`]: each ESP account's
/// poll on its cron schedule (a run missed while the bot was down runs once
/// at start) and the alert timers every `alert_tick` (missed ticks are
/// skipped: the next one sees the same state). The records of which due
/// times have run are committed with the tick's own changes and posts.
async fn run_jobs(
    engine: SharedEngine,
    poller: Arc<Poller>,
    outbox: Arc<Notify>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    alert_tick: Duration,
    telemetry: Arc<Telemetry>,
) {
    let mut jobs: Vec<Job> = poller
        .accounts()
        .iter()
        .map(|planned| Job {
            name: poll_job(&planned.account.name),
            cadence: Cadence::Cron(Box::new(planned.schedule.clone())),
            missed: Missed::RunOnce,
        })
        .collect();
    let mut rotations = current_rotations(&engine).await;
    for rotation in &rotations {
        jobs.push(Job {
            name: crate::command::duty::handoff_job(rotation.name),
            cadence: Cadence::Handoffs(Box::new(rotation.clone())),
            // A handoff missed while the bot was down is posted once.
            missed: Missed::RunOnce,
        });
    }
    match on_engine(&engine, |engine| engine.summary_settings().schedule()).await {
        Ok(Ok(schedule)) => jobs.push(Job {
            name: crate::command::summary::JOB.into(),
            cadence: Cadence::Cron(Box::new(schedule)),
            // A week missed while the bot was down is posted once at start.
            missed: Missed::RunOnce,
        }),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the weekly summary's schedule is invalid; no summary will be posted")
        }
        Err(e) => tracing::error!(error = %e, "cannot read the weekly summary's schedule"),
    }
    jobs.push(Job {
        name: ALERT_TICK_JOB.into(),
        cadence: Cadence::Every(
            chrono::Duration::from_std(alert_tick).unwrap_or(chrono::Duration::seconds(30)),
        ),
        missed: Missed::Skip,
    });
    let records = on_engine(&engine, |engine| engine.job_records())
        .await
        .unwrap_or_default();
    // An account polled for the first time (a first start, or an account
    // added to the configuration) is polled at once rather than at its next
    // due time, which for a daily schedule could be a day away.
    let first_polls: Vec<PlannedAccount> = poller
        .accounts()
        .iter()
        .filter(|p| !records.last_due.contains_key(&poll_job(&p.account.name)))
        .cloned()
        .collect();
    let mut saved = records.clone();
    let mut scheduler = Scheduler::new(jobs, records);
    for planned in first_polls {
        let poller = poller.clone();
        tokio::spawn(async move { poller.poll(&planned).await });
    }
    let mut rng = fastrand::Rng::new();
    loop {
        let now = clock.now();
        let before = scheduler.records().clone();
        let runs = scheduler.due(now);
        let mut tick = false;
        let mut polls = Vec::new();
        let mut handoffs = Vec::new();
        let mut summary = None;
        for run in &runs {
            let late = (now - run.due).num_milliseconds() as f64 / 1000.0;
            telemetry.job_ran(&run.job, late);
            if run.job == ALERT_TICK_JOB {
                tick = true;
                continue;
            }
            if run.job == crate::command::summary::JOB {
                summary = Some(run.due);
                continue;
            }
            if let Some(rotation) = rotations
                .iter()
                .find(|r| crate::command::duty::handoff_job(r.name) == run.job)
            {
                handoffs.push(crate::command::duty::HandoffRun {
                    rotation: rotation.name,
                    due: run.due,
                    previous: before.last_due.get(&run.job).copied(),
                });
                continue;
            }
            let Some(planned) = poller
                .accounts()
                .iter()
                .find(|p| poll_job(&p.account.name) == run.job)
                .cloned()
            else {
                continue;
            };
            // Late runs (missed while down) go at once; on-time ones after
            // a random delay.
            let delay = if run.missed > 0 || now - run.due > crate::scheduler::ON_TIME {
                Duration::ZERO
            } else {
                schedule::jitter(poller.jitter(), &mut rng)
            };
            polls.push((planned, delay));
        }
        // The record that these due times have run is durable before any
        // poll starts: a crash then cannot make a due time run twice (a poll
        // it cut short is made good by the next poll's catch-up window).
        // The alert tick's changes and posts commit with the record.
        // The summary's deliverability figures (five weeks of every
        // stream) are read without holding the engine, so commands are not
        // kept waiting; the rest is built and committed under it.
        let summary = match summary {
            Some(due) => Some(summary_due(&engine, due).await),
            None => None,
        };
        if tick || !handoffs.is_empty() || summary.is_some() || scheduler.records() != &saved {
            let records = scheduler.records().clone();
            saved = records.clone();
            with_engine(&engine, &outbox, "scheduled jobs", move |engine| {
                engine.scheduled(tick, &handoffs, summary, &records)
            })
            .await;
        }
        if tick {
            // An admin may have changed a rotation's timing (`/duty
            // timing`): its handoff job follows. A handoff the change
            // brought forward past this instant runs at once, once.
            let latest = current_rotations(&engine).await;
            if latest != rotations {
                for rotation in &latest {
                    scheduler.set_cadence(
                        &crate::command::duty::handoff_job(rotation.name),
                        Cadence::Handoffs(Box::new(rotation.clone())),
                    );
                }
                rotations = latest;
            }
        }
        for (planned, delay) in polls {
            let poller = poller.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                poller.poll(&planned).await;
            });
        }
        let wait = scheduler
            .next_wake(clock.now())
            .and_then(|next| (next - clock.now()).to_std().ok())
            .unwrap_or(RUNNER_NAP)
            .min(RUNNER_NAP);
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A due weekly summary with its figures read off the engine's lock (on
/// the blocking pool); without them (no history, or a read that failed,
/// logged) the engine reads them itself.
async fn summary_due(
    engine: &SharedEngine,
    due: chrono::DateTime<chrono::Utc>,
) -> crate::command::summary::SummaryDue {
    let found = on_engine(engine, move |engine| {
        (
            engine.history().cloned(),
            engine.week_before(due),
            engine.summary_zone(),
        )
    })
    .await;
    let figures = match found {
        Ok((Some(history), week, zone)) => tokio::task::spawn_blocking(move || {
            crate::command::summary::week_figures(history.as_ref(), week, zone).map(|f| (week, f))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| tracing::error!(error = %e, "the summary's figures could not be read ahead"))
        .ok(),
        _ => None,
    };
    crate::command::summary::SummaryDue { due, figures }
}

/// `mailcall run`: the service with Discord as its front end, and the
/// HTTP endpoint when `[http] listen` is set, until `shutdown` completes or
/// the gateway fails for good.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let http = match config.http_listen {
        Some(address) => Some(tokio::net::TcpListener::bind(address).await.map_err(|e| {
            ServiceError::Config(format!("cannot listen on {address} ([http] listen): {e}"))
        })?),
        None => None,
    };
    serve(config, http, shutdown).await
}

/// [`run`] with the HTTP endpoint on `http`, already bound (tests bind port
/// 0 and read the address back).
pub async fn serve(
    config: Config,
    http: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
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
    // Before the store is opened (or created): a refused token or an
    // unreachable Discord leaves nothing behind.
    discord::check_token(&settings, &token).await?;
    let accounts: Vec<String> = config.esp.iter().map(|e| e.name.clone()).collect();
    let backfill = Arc::new(crate::http::BackfillSetup {
        // A bad account fails `Service::open` just below.
        accounts: config
            .esp
            .iter()
            .filter_map(|e| e.plan(chrono::Utc::now()).ok())
            .collect(),
        settings: config.poll.clone(),
        keep: config.keep_history,
    });
    let runbooks = config.alerting.runbooks.clone();
    tracing::info!("{}", runbooks.describe());
    let service =
        Service::open_async(config, discord::directory(&settings), Arc::new(SystemClock)).await?;
    let telemetry = service.telemetry.clone();
    let outbox = Arc::new(Notify::new());
    let mut bot = Bot::connect(
        &settings,
        &token,
        service.engine.clone(),
        outbox.clone(),
        telemetry.clone(),
        runbooks,
    )
    .await?;
    let (stop_http, http_stopped) = watch::channel(false);
    let endpoint = http.map(|listener| {
        let endpoint = crate::http::Endpoint {
            engine: service.engine.clone(),
            telemetry: telemetry.clone(),
            accounts,
            backfill,
        };
        let mut stopped = http_stopped;
        tokio::spawn(crate::http::serve(listener, endpoint, async move {
            let _ = stopped.changed().await;
        }))
    });
    let (engine, jobs) = service.start(outbox);
    // Every path that writes (commands, polls, alert timers, the relay)
    // ends in the store's syncer: watch it, not each caller.
    // A weak reference: the watcher must not keep the store open after
    // the bot has stopped.
    let watching = {
        let telemetry = telemetry.clone();
        let engine = Arc::downgrade(&engine);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(STORE_CHECK).await;
                let engine = engine.clone();
                let failure = tokio::task::spawn_blocking(move || {
                    let engine = engine.upgrade()?;
                    let failure = engine
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .store()
                        .sync_failure();
                    failure
                })
                .await;
                if let Ok(Some(why)) = failure {
                    telemetry.store_failed(&why);
                    return;
                }
            }
        })
    };
    let mut store_failure = None;
    let result = bot
        .run_until(async {
            tokio::select! {
                () = shutdown => {}
                why = telemetry.store_failure() => store_failure = Some(why),
            }
        })
        .await;
    // Jobs first, then the client; the relay sends what the outbox holds
    // within the grace, and leaves the rest for the next start.
    let _ = stop_http.send(true);
    jobs.stop().await;
    bot.close(SHUTDOWN_GRACE).await;
    if let Some(endpoint) = endpoint {
        let _ = tokio::time::timeout(Duration::from_millis(500), endpoint).await;
    }
    watching.abort();
    let _ = watching.await;
    if let Some(why) = store_failure {
        return Err(ServiceError::StoreFailed(why));
    }
    Ok(result?)
}

/// How often the bot looks at whether the store still makes changes
/// durable.
const STORE_CHECK: Duration = Duration::from_millis(500);

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

/// Why work on the engine gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkFailed {
    #[error("the work on the engine panicked: {0}")]
    Panicked(#[from] tokio::task::JoinError),
    /// What the work did, or read, could not be made durable.
    #[error(transparent)]
    NotDurable(#[from] StoreError),
}

/// Runs `work` on the engine, locked, on the blocking pool (a change may
/// read the store, which must not stall the async workers), then waits,
/// with the lock released, until everything it did or read is durable
/// (group commit: see `store::sync_point`). So what `work` returns can be
/// acted on: a reply, a post sent from the outbox.
pub async fn on_engine<T, F>(engine: &SharedEngine, work: F) -> Result<T, WorkFailed>
where
    T: Send + 'static,
    F: FnOnce(&mut Engine<SledStore>) -> T + Send + 'static,
{
    let engine = engine.clone();
    let (value, durable) = tokio::task::spawn_blocking(move || {
        let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        let value = work(&mut engine);
        (value, engine.store().durable())
    })
    .await?;
    durable.wait_async().await?;
    Ok(value)
}

/// Runs `work` against the engine on the blocking pool, then wakes the
/// outbox relay: the posts `work` caused were committed with it. A failure
/// is logged as `what`.
pub async fn with_engine<F>(engine: &SharedEngine, outbox: &Notify, what: &'static str, work: F)
where
    F: FnOnce(&mut Engine<SledStore>) -> Result<Vec<Effect>, CommandError> + Send + 'static,
{
    match on_engine(engine, work).await {
        Ok(Ok(effects)) => {
            if !effects.is_empty() {
                outbox.notify_one();
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "{what} failed"),
        Err(e) => tracing::error!(error = %e, "{what} task failed"),
    }
}

/// How often the relay looks at the outbox without being woken (a post
/// whose delivery could not be recorded is retried then).
const RELAY_IDLE: Duration = Duration::from_secs(5);
/// The first wait before a post that failed for a passing reason is tried
/// again; doubled each time up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Attempts after which a post that keeps failing is reported as an error
/// (it is still kept and retried: posts are never dropped for a passing
/// failure).
const RETRY_REPORT_AFTER: u32 = 5;

/// What became of one attempt to deliver a post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered (or refused for good, and reported): remove it.
    Done,
    /// Not delivered for a passing reason: keep it and try again later.
    Retry(String),
}

/// Delivers the outbox: every post committed and not yet delivered, oldest
/// first (commit order), through `deliver`; each is then removed from the
/// outbox in a durable write. What is left from before a restart goes
/// first; after that the relay runs whenever `wake` is notified. When
/// `stop` turns true it makes one last pass and returns; whatever its
/// caller's grace does not allow stays in the outbox for the next start.
///
/// A post that fails for a passing reason stays in the outbox and is tried
/// again after a growing wait (0.5 s, doubling, at most five minutes); the
/// posts of the same incident or alert wait behind it, so their order is
/// kept, while other incidents' and alerts' posts go on (see [`Lane`]).
pub async fn relay<F, Fut>(
    engine: SharedEngine,
    wake: Arc<Notify>,
    telemetry: Arc<Telemetry>,
    mut stop: watch::Receiver<bool>,
    mut deliver: F,
) where
    F: FnMut(u64, Effect) -> Fut,
    Fut: Future<Output = Delivery>,
{
    // Lanes whose head post is waiting to be tried again: attempts so far
    // and when the next attempt may be made.
    let mut waiting: HashMap<Lane, (u32, tokio::time::Instant)> = HashMap::new();
    // When this process first saw each post waiting, for the outbox's age.
    let mut first_seen: HashMap<u64, tokio::time::Instant> = HashMap::new();
    loop {
        let stopping = *stop.borrow_and_update();
        let pending = on_engine(&engine, |engine| engine.pending_posts()).await;
        match pending {
            Ok(Ok(posts)) => {
                let seen = tokio::time::Instant::now();
                let present: HashSet<u64> = posts.iter().map(|(id, _)| *id).collect();
                first_seen.retain(|id, _| present.contains(id));
                for (id, _) in &posts {
                    first_seen.entry(*id).or_insert(seen);
                }
                let mut sent = HashSet::new();
                // Lanes that must not move on in this pass: a head post
                // failed (or waits), so the posts behind it wait too.
                let mut held: HashSet<Lane> = HashSet::new();
                let now = tokio::time::Instant::now();
                for (id, post) in posts {
                    let lane = match &post {
                        Ok(effect) => Lane::of(effect),
                        Err(_) => Lane::Unreadable,
                    };
                    if held.contains(&lane) {
                        continue;
                    }
                    if waiting.get(&lane).is_some_and(|(_, next)| *next > now) {
                        held.insert(lane);
                        continue;
                    }
                    match post {
                        Ok(effect) => {
                            if let Delivery::Retry(why) = deliver(id, effect).await {
                                let attempts = waiting.get(&lane).map_or(0, |(a, _)| *a) + 1;
                                let backoff = RETRY_FIRST
                                    .saturating_mul(1 << (attempts - 1).min(16))
                                    .min(RETRY_MAX);
                                waiting.insert(
                                    lane,
                                    (attempts, tokio::time::Instant::now() + backoff),
                                );
                                held.insert(lane);
                                let wait_ms = backoff.as_millis() as u64;
                                if attempts >= RETRY_REPORT_AFTER {
                                    tracing::error!(post = id, attempts, wait_ms, "a post keeps failing ({why}); it stays in the outbox and is tried again");
                                } else {
                                    tracing::warn!(
                                        post = id,
                                        attempts,
                                        wait_ms,
                                        "a post was not delivered ({why}); trying again"
                                    );
                                }
                                continue;
                            }
                        }
                        // Reported, then moved out of the way: it can never
                        // be sent, and must not block the posts behind it.
                        Err(why) => tracing::error!(post = id, "{why}; it is dropped"),
                    }
                    let recorded =
                        on_engine(&engine, move |engine| engine.delivered(id, Vec::new())).await;
                    if !matches!(recorded, Ok(Ok(()))) {
                        tracing::error!(post = id, "a delivered post could not be removed from the outbox; it may be sent again");
                        held.insert(lane);
                        continue;
                    }
                    waiting.remove(&lane);
                    sent.insert(id);
                }
                telemetry.outbox_attempts(waiting.values().map(|(a, _)| *a).max());
                // What this pass did not deliver is still waiting.
                first_seen.retain(|id, _| !sent.contains(id));
                let oldest = first_seen.values().min().map(|at| at.elapsed());
                telemetry.outbox_oldest(oldest.unwrap_or_default());
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot read the outbox"),
            Err(e) => tracing::error!(error = %e, "reading the outbox failed"),
        }
        if stopping {
            return;
        }
        // The next retry, if sooner than the idle look.
        let next_retry = waiting.values().map(|(_, next)| *next).min();
        let idle = tokio::time::Instant::now() + RELAY_IDLE;
        let until = next_retry.map_or(idle, |next| next.min(idle));
        tokio::select! {
            () = wake.notified() => {}
            _ = stop.changed() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

/// What must be posted in order: the posts of one incident (its
/// announcements, thread and edits), of one alert, or the silence notices.
/// A post that is being retried holds up only its own lane; other
/// incidents' and alerts' posts go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Lane {
    Incident(u64),
    Alert(u64),
    Notices,
    Unreadable,
}

impl Lane {
    fn of(effect: &Effect) -> Lane {
        match effect {
            Effect::Announce { incident, .. } | Effect::ThreadPost { incident, .. } => {
                Lane::Incident(incident.id.get())
            }
            Effect::Alert(alert) => match alert.alert() {
                Some(view) => Lane::Alert(view.id),
                None => Lane::Notices,
            },
            Effect::TeamPost { .. } | Effect::Summary(_) | Effect::QualityPost { .. } => {
                Lane::Notices
            }
        }
    }
}

/// Runs detection after each poll, and turns feed events into alerts. Ends
/// when the poller (the feed's only sender) is gone.
async fn detect_after_polls(
    engine: SharedEngine,
    mut feed: mpsc::UnboundedReceiver<FeedEvent>,
    outbox: Arc<Notify>,
    telemetry: Arc<Telemetry>,
) {
    while let Some(event) = feed.recv().await {
        if let FeedEvent::Polled { account } = &event {
            telemetry.polled(account);
        }
        with_engine(&engine, &outbox, "detection", move |engine| match &event {
            FeedEvent::Polled { account } => engine.after_poll(account),
            other => engine.feed_event(other),
        })
        .await;
    }
}
