//! The local HTTP endpoint, for the orchestrator and the monitoring that
//! watch mailcall: `/healthz` (the process answers), `/readyz` (it can do
//! its job: the store answers, Discord is connected, every ESP feed is
//! fresh, the outbox is not stuck) and `/metrics` (Prometheus text format,
//! through the official `prometheus-client` crate); and `/admin/backup`, a
//! backup of the store taken while the bot holds it (`mailcall backup`
//! uses it then).
//!
//! Counters that only the running service sees (polls, commands and their
//! latency, scheduled job runs and their lateness) live in [`Telemetry`];
//! everything the store already knows (incidents by status, active alerts
//! by kind and level, outbox depth, each feed's failures and age) is read
//! at scrape time, so the figures can never drift from the data.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::service::SharedEngine;
use crate::store::IncidentStore;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabel {
    kind: String,
    level: String,
}

/// What the running service counts, and the health flags `/readyz` reads.
pub struct Telemetry {
    polls: Family<AccountLabel, Counter>,
    commands: Counter,
    command_seconds: Histogram,
    job_runs: Family<JobLabel, Counter>,
    job_lateness_seconds: Histogram,
    /// `None` without a Discord front end (the console).
    discord_connected: Option<AtomicBool>,
    /// Failed attempts in a row of the post at the head of the outbox.
    outbox_failures: AtomicU32,
    /// How long the oldest post in the outbox has waited, in seconds, as
    /// this process has seen it (the relay's last look).
    outbox_oldest_seconds: std::sync::atomic::AtomicU64,
    /// Failures in a row that make a feed stale (`[poll] stale_after`).
    stale_after: u32,
    /// Set when the store could not make a change durable: sled keeps such
    /// an error for good, so the bot stops (and its supervisor restarts it
    /// once the cause, a full disk say, is gone) rather than refuse every
    /// later command.
    store_failure: std::sync::Mutex<Option<String>>,
    store_failed: tokio::sync::Notify,
}

/// Failed attempts of one post after which the outbox counts as stuck.
const OUTBOX_STUCK_AFTER: u32 = 5;

impl Telemetry {
    /// Records that a change could not be made durable, and wakes
    /// [`Telemetry::store_failure`]'s waiter.
    pub fn store_failed(&self, why: &str) {
        let mut failure = self.store_failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert_with(|| why.to_owned());
        self.store_failed.notify_one();
    }

    /// Resolves with the reason once a change could not be made durable.
    pub async fn store_failure(&self) -> String {
        loop {
            let notified = self.store_failed.notified();
            if let Some(why) = self
                .store_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return why;
            }
            notified.await;
        }
    }

    /// Counters at zero. `with_discord`: whether a Discord connection is
    /// part of being ready.
    pub fn new(with_discord: bool, stale_after: u32) -> Telemetry {
        Telemetry {
            polls: Family::default(),
            commands: Counter::default(),
            command_seconds: Histogram::new(exponential_buckets(0.000_5, 2.0, 14)),
            job_runs: Family::default(),
            job_lateness_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            discord_connected: with_discord.then(|| AtomicBool::new(false)),
            outbox_failures: AtomicU32::new(0),
            outbox_oldest_seconds: std::sync::atomic::AtomicU64::new(0),
            stale_after: stale_after.max(1),
            store_failure: std::sync::Mutex::new(None),
            store_failed: tokio::sync::Notify::new(),
        }
    }

    /// A poll of `account` stored its samples.
    pub fn polled(&self, account: &str) {
        self.polls
            .get_or_create(&AccountLabel {
                account: account.to_string(),
            })
            .inc();
    }

    /// A command (or button) took `seconds` from arrival to commit.
    pub fn command(&self, seconds: f64) {
        self.commands.inc();
        self.command_seconds.observe(seconds);
    }

    /// A scheduled job ran, `late_seconds` after its due time.
    pub fn job_ran(&self, job: &str, late_seconds: f64) {
        self.job_runs
            .get_or_create(&JobLabel {
                job: job.to_string(),
            })
            .inc();
        self.job_lateness_seconds.observe(late_seconds.max(0.0));
    }

    /// The Discord gateway connected or went away.
    pub fn discord(&self, connected: bool) {
        if let Some(flag) = &self.discord_connected {
            flag.store(connected, Ordering::Relaxed);
        }
    }

    /// How long the oldest waiting post has waited (zero: none waits).
    pub fn outbox_oldest(&self, waited: std::time::Duration) {
        self.outbox_oldest_seconds
            .store(waited.as_secs(), Ordering::Relaxed);
    }

    /// The post at the head of the outbox failed again (`Some(n)`: `n`
    /// attempts in a row) or went out (`None`).
    pub fn outbox_attempts(&self, failed: Option<u32>) {
        self.outbox_failures
            .store(failed.unwrap_or(0), Ordering::Relaxed);
    }
}

/// What `/readyz` and `/metrics` read.
#[derive(Clone)]
pub struct Endpoint {
    pub engine: SharedEngine,
    pub telemetry: Arc<Telemetry>,
    /// The configured ESP accounts, whose feeds must be fresh.
    pub accounts: Vec<String>,
    /// What `/admin/backfill` needs to poll on its own.
    pub backfill: Arc<BackfillSetup>,
}

/// The configured accounts and poll settings, for `/admin/backfill`.
pub struct BackfillSetup {
    pub accounts: Vec<crate::poll::PlannedAccount>,
    pub settings: crate::poll::PollerSettings,
    /// How much history the store keeps; a backfill may not reach past it.
    pub keep: chrono::Duration,
}

/// The routes.
pub fn router(endpoint: Endpoint) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/backup", get(backup))
        .route("/admin/metrics", get(admin_metrics))
        .route("/admin/duty/book", get(admin_duty_book))
        .route("/admin/summary", get(admin_summary))
        .route("/admin/incidents", get(admin_incidents))
        .route("/admin/backfill", axum::routing::post(admin_backfill))
        .with_state(endpoint)
}

/// Serves the routes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    endpoint: Endpoint,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(endpoint))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Why the service is not ready, one sentence each; empty when it is.
fn unready(endpoint: &Endpoint) -> Vec<String> {
    let mut reasons = Vec::new();
    let telemetry = &endpoint.telemetry;
    if let Some(flag) = &telemetry.discord_connected {
        if !flag.load(Ordering::Relaxed) {
            reasons.push("Discord is not connected".to_string());
        }
    }
    let failures = telemetry.outbox_failures.load(Ordering::Relaxed);
    if failures >= OUTBOX_STUCK_AFTER {
        reasons.push(format!(
            "the outbox is stuck: its oldest post failed {failures} times in a row"
        ));
    }
    let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = engine.store().get_extra(crate::scheduler::RECORD) {
        reasons.push(format!("the store does not answer: {e}"));
    }
    if let Some(history) = engine.history() {
        match history.streams() {
            Err(e) => reasons.push(format!("the metric history does not answer: {e}")),
            Ok(_) => {
                for account in &endpoint.accounts {
                    if let Ok(Some(state)) = history.poll_state(account) {
                        if state.consecutive_failures >= telemetry.stale_after {
                            reasons.push(format!(
                                "the feed of {account} is stale: {} polls failed in a row",
                                state.consecutive_failures
                            ));
                        }
                    }
                }
            }
        }
    }
    reasons
}

async fn readyz(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    let reasons = tokio::task::spawn_blocking(move || unready(&endpoint))
        .await
        .unwrap_or_else(|e| vec![format!("the readiness check failed: {e}")]);
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", reasons.join("\n")),
        )
    }
}

/// The exposition: the service's counters plus gauges read now.
fn exposition(endpoint: &Endpoint) -> Result<String, String> {
    let telemetry = &endpoint.telemetry;
    let mut registry = Registry::with_prefix("mailcall");
    registry.register(
        "polls",
        "Polls that stored an account's samples",
        telemetry.polls.clone(),
    );
    registry.register(
        "commands",
        "Commands and buttons handled",
        telemetry.commands.clone(),
    );
    registry.register(
        "command_seconds",
        "Time from a command's arrival to its answer being ready (its change durable)",
        telemetry.command_seconds.clone(),
    );
    registry.register(
        "job_runs",
        "Scheduled job runs, by job",
        telemetry.job_runs.clone(),
    );
    registry.register(
        "job_lateness_seconds",
        "How long after its due time a scheduled job ran",
        telemetry.job_lateness_seconds.clone(),
    );

    let incidents = Family::<StatusLabel, Gauge>::default();
    let alerts = Family::<AlertLabel, Gauge>::default();
    let outbox = Gauge::<i64>::default();
    let oldest = Gauge::<i64>::default();
    oldest.set(
        i64::try_from(telemetry.outbox_oldest_seconds.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
    );
    let (changes, syncs) = (Counter::<u64>::default(), Counter::<u64>::default());
    let failures = Family::<AccountLabel, Gauge>::default();
    let age = Family::<AccountLabel, Gauge>::default();
    {
        let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
        for incident in engine.store().all().map_err(|e| e.to_string())? {
            incidents
                .get_or_create(&StatusLabel {
                    status: incident.status.to_string(),
                })
                .inc();
        }
        for alert in engine.active_alerts() {
            alerts
                .get_or_create(&AlertLabel {
                    kind: alert.key.kind.to_string(),
                    level: format!("{:?}", alert.level).to_lowercase(),
                })
                .inc();
        }
        let depth = engine.store().outbox().map_err(|e| e.to_string())?.len();
        outbox.set(depth as i64);
        let written = engine.store().write_stats();
        changes.inc_by(written.changes);
        syncs.inc_by(written.syncs);
        if let Some(history) = engine.history() {
            let now = chrono::Utc::now();
            for account in &endpoint.accounts {
                let label = AccountLabel {
                    account: account.clone(),
                };
                if let Ok(Some(state)) = history.poll_state(account) {
                    failures
                        .get_or_create(&label)
                        .set(i64::from(state.consecutive_failures));
                    if let Some(success) = state.last_success {
                        age.get_or_create(&label)
                            .set((now - success).num_seconds().max(0));
                    }
                }
            }
        }
    }
    registry.register("incidents", "Incidents by status", incidents);
    registry.register("alerts_active", "Active alerts by kind and level", alerts);
    registry.register(
        "outbox_depth",
        "Posts committed and not yet delivered",
        outbox,
    );
    registry.register(
        "outbox_oldest_seconds",
        "How long the oldest undelivered post has waited, as this process has seen it (0: none waits)",
        oldest,
    );
    registry.register(
        "store_changes",
        "Changes committed to the incident store since start",
        changes,
    );
    registry.register(
        "store_syncs",
        "Syncs (flush + fdatasync) that made those changes durable: fewer than changes when concurrent commands commit in groups",
        syncs,
    );
    registry.register(
        "poll_consecutive_failures",
        "Polls of an account that failed in a row",
        failures,
    );
    registry.register(
        "feed_age_seconds",
        "Seconds since an account's last successful poll",
        age,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|e| e.to_string())?;
    Ok(text)
}

/// A backup of the whole store, taken while the bot runs (what `mailcall
/// backup` asks for when the store is held). The engine's lock is held
/// while it is written, so no change lands half in it.
async fn backup(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    let written = tokio::task::spawn_blocking(move || {
        let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
        let mut bytes = Vec::new();
        engine
            .store()
            .write_backup(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match written {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("backup failed: {e}\n").into_bytes(),
        ),
    }
}

/// An admin route's read of the engine: `read` runs on the blocking pool
/// with the engine held; its text is answered as `content_type`, its
/// refusal with its status and "cannot {what}: …" as plain text.
async fn engine_read(
    endpoint: Endpoint,
    what: &'static str,
    content_type: &'static str,
    read: impl FnOnce(
            &crate::command::Engine<crate::store::SledStore>,
        ) -> Result<String, (StatusCode, String)>
        + Send
        + 'static,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let answer = tokio::task::spawn_blocking(move || {
        let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
        read(&engine)
    })
    .await
    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    .and_then(|r| r);
    match answer {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], text),
        Err((status, e)) => plain(status, format!("cannot {what}: {e}\n")),
    }
}

/// An error the engine or an encoder reported: the server's fault.
fn internal(error: impl ToString) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// The duty book (overrides, swaps, member changes) as JSON, for
/// `mailcall duty ical` when the bot holds the store.
async fn admin_duty_book(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    engine_read(
        endpoint,
        "give the duty book",
        "application/json",
        |engine| serde_json::to_string(engine.duty_book()).map_err(internal),
    )
    .await
}

/// `GET /admin/summary?week=2026-W47`: a week's summary as JSON (the week
/// just ended by default), for `mailcall summary` while the bot holds the
/// store.
async fn admin_summary(
    State(endpoint): State<Endpoint>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> impl IntoResponse {
    engine_read(
        endpoint,
        "give the summary",
        "application/json",
        move |engine| {
            let week = match query.get("week") {
                Some(text) => text
                    .parse::<crate::summary::Week>()
                    .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?,
                None => engine.week_before(chrono::Utc::now()),
            };
            let summary = engine.weekly_summary(week).map_err(internal)?;
            serde_json::to_string(&summary).map_err(internal)
        },
    )
    .await
}

/// `GET /admin/incidents?format=csv&since=2026-11-01`: the incident log,
/// for `mailcall export incidents` while the bot holds the store.
async fn admin_incidents(
    State(endpoint): State<Endpoint>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> impl IntoResponse {
    engine_read(
        endpoint,
        "export the incidents",
        "text/plain; charset=utf-8",
        move |engine| {
            let format: crate::command::log::ExportFormat = query
                .get("format")
                .map_or("csv", String::as_str)
                .parse()
                .map_err(|e: String| (StatusCode::BAD_REQUEST, e))?;
            let since = query
                .get("since")
                .map(|s| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map_err(|_| (StatusCode::BAD_REQUEST, format!("`{s}` is not a date")))
                })
                .transpose()?;
            let incidents = crate::store::IncidentStore::all(engine.store()).map_err(internal)?;
            let bytes = crate::command::log::export(&incidents, since, format).map_err(internal)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        },
    )
    .await
}

async fn metrics(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    let text = tokio::task::spawn_blocking(move || exposition(&endpoint))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    match text {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("metrics unavailable: {e}\n"),
        ),
    }
}

/// The query of `/admin/metrics`: what `mailcall metrics` was asked.
#[derive(serde::Deserialize)]
struct SeriesQuery {
    account: Option<String>,
    stream: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    format: Option<String>,
}

fn plain(
    status: StatusCode,
    text: String,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
}

/// The stored series as `mailcall metrics` prints them, for the CLI when
/// the bot holds the store.
async fn admin_metrics(
    State(endpoint): State<Endpoint>,
    axum::extract::Query(query): axum::extract::Query<SeriesQuery>,
) -> impl IntoResponse {
    let format = match query.format.as_deref() {
        None | Some("table") => crate::report::MetricsFormat::Table,
        Some("csv") => crate::report::MetricsFormat::Csv,
        Some(other) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("unknown format {other:?}: use table or csv\n"),
            )
        }
    };
    let filter = crate::report::SeriesFilter {
        account: query.account,
        stream: query.stream,
        since: query.since,
    };
    let written = tokio::task::spawn_blocking(move || {
        let history = {
            let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.history().cloned()
        };
        let Some(history) = history else {
            return Err("this bot polls no ESP account, so it keeps no metric history".to_string());
        };
        let mut out = Vec::new();
        crate::report::write_series(
            history.as_ref(),
            &filter,
            format,
            chrono::Utc::now(),
            &mut out,
        )
        .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match written {
        Ok(text) => plain(StatusCode::OK, text),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// The query of `/admin/backfill`.
#[derive(serde::Deserialize)]
struct BackfillQuery {
    days: u32,
    account: Option<String>,
}

/// Backfills the last `days` days (of one account, or all) into the
/// running bot's history, and answers with the summary once done.
async fn admin_backfill(
    State(endpoint): State<Endpoint>,
    axum::extract::Query(query): axum::extract::Query<BackfillQuery>,
) -> impl IntoResponse {
    let setup = endpoint.backfill.clone();
    if chrono::Duration::days(i64::from(query.days)) > setup.keep {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "backfill --days {} reaches past the {} days of history the bot keeps; raise [poll] keep_days first\n",
                query.days,
                setup.keep.num_days()
            ),
        );
    }
    let accounts: Vec<_> = setup
        .accounts
        .iter()
        .filter(|p| query.account.as_deref().is_none_or(|a| a == p.account.name))
        .cloned()
        .collect();
    if accounts.is_empty() {
        return plain(
            StatusCode::BAD_REQUEST,
            match &query.account {
                Some(name) => format!("the bot polls no ESP account named {name}\n"),
                None => "the bot polls no ESP account\n".to_string(),
            },
        );
    }
    let history = {
        let engine = endpoint.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.history().cloned()
    };
    let Some(history) = history else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the bot keeps no metric history\n".to_string(),
        );
    };
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let windows = crate::poll::backfill::windows(clock.now(), query.days);
    tracing::info!(
        days = query.days,
        accounts = accounts.len(),
        "backfill asked over HTTP"
    );
    let report = crate::poll::backfill::run(
        &accounts,
        setup.settings.clone(),
        history,
        clock,
        &windows,
        |_, _, _, _| {},
    )
    .await;
    let mut text = String::new();
    for failure in &report.failures {
        text.push_str(failure);
        text.push('\n');
    }
    text.push_str(&report.summary(query.days));
    text.push('\n');
    let status = if report.failures.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    plain(status, text)
}
