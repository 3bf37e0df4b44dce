//! The program's entry points, one per subcommand of the binary, built from
//! the library's parts. `main.rs` only parses flags and calls these.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::command::render;
use crate::command::Engine;
use crate::config::Config;
use crate::console::{self, tour, Session};
use crate::delivery::BucketWidth;
use crate::domain::{Actor, Caller};
use crate::esp::account::{Account, Credential, Provider, StreamSelection};
use crate::esp::client::Window;
use crate::esp::sandbox::Scenario;
use crate::poll::{PlannedAccount, PollOutcome, Poller, PollerSettings};
use crate::report::SeriesFilter;
use crate::schedule::Schedule;
use crate::store::{MetricsHistory, SledHistory};
use crate::store::{SledStore, StoreError};

pub use crate::report::MetricsFormat;

/// An error and its causes as one sentence for the terminal. A cause whose
/// text the message already holds is not repeated (`cannot read x: it does
/// not exist`, not `…: No such file or directory (os error 2)` twice), and
/// an operating-system cause reads as words ([`crate::os_error::reason`]).
pub fn error_sentence(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = match cause.downcast_ref::<io::Error>() {
            Some(io_error) => crate::os_error::reason(io_error),
            None => cause.to_string(),
        };
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `mailcall metrics`: the stored series, as a table or CSV. A store held
/// by a running bot is read through the bot's `[http] listen` address.
pub fn metrics(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    filter: &SeriesFilter,
    format: MetricsFormat,
) -> anyhow::Result<()> {
    let config = load_config(config_path, data)?;
    let mut out = io::stdout().lock();
    match SledStore::open_existing(&config.store_path) {
        Ok(store) => {
            let history = store.history()?;
            crate::report::write_series(&history, filter, format, chrono::Utc::now(), &mut out)?;
        }
        Err(StoreError::InUse { path }) => {
            let mut query = vec![("format", format.name().to_string())];
            if let Some(account) = &filter.account {
                query.push(("account", account.clone()));
            }
            if let Some(stream) = &filter.stream {
                query.push(("stream", stream.clone()));
            }
            if let Some(since) = filter.since {
                query.push(("since", since.to_rfc3339()));
            }
            let text = ask_running_bot(&config, &path, "read its metrics", |client, base| {
                client.get(format!("{base}/admin/metrics")).query(&query)
            })?;
            use std::io::Write as _;
            out.write_all(text.as_bytes())?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Sends the request `build` makes to the bot that holds the store at
/// `path`, through its `[http] listen` address; returns the answer's text
/// (an error with the bot's own words if it refused).
fn ask_running_bot(
    config: &Config,
    path: &Path,
    what: &str,
    build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> anyhow::Result<String> {
    let Some(address) = config.http_listen else {
        anyhow::bail!(
            "{} is in use by a running mailcall, and the configuration has no [http] listen through which it could be asked to {what}; set one (and restart the bot once), or stop the bot",
            path.display()
        );
    };
    let base = format!("http://{address}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let response = build(&client, &base)
            .send()
            .await
            .with_context(|| format!("cannot ask the running bot at {base} to {what}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("the running bot answered {status}: {}", text.trim());
        }
        Ok(text)
    })
}

/// `mailcall backfill`: fetches the last `days` days for each configured
/// account (or one), a week at a time, with a progress bar on stderr. A
/// store held by a running bot is backfilled by the bot itself, through its
/// `[http] listen` address, so the bot need not stop.
pub fn backfill(config_path: &Path, days: u32, account: Option<&str>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    if chrono::Duration::days(i64::from(days)) > config.keep_history {
        anyhow::bail!(
            "backfill --days {days} reaches past the {} days of history {} keeps; raise [poll] keep_days first",
            config.keep_history.num_days(),
            config_path.display()
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let planned: Vec<PlannedAccount> = config
        .esp
        .iter()
        .filter(|e| account.is_none_or(|a| a == e.name))
        .map(|e| e.plan(now).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    if planned.is_empty() {
        anyhow::bail!(
            "no ESP account{} in {}",
            account.map(|a| format!(" named {a}")).unwrap_or_default(),
            config_path.display()
        );
    }
    let store = match SledStore::open(&config.store_path) {
        Ok(store) => store,
        Err(StoreError::InUse { path }) => {
            eprintln!(
                "{} is held by the running bot; asking it to backfill (this can take a while)…",
                path.display()
            );
            let mut query = vec![("days", days.to_string())];
            if let Some(account) = account {
                query.push(("account", account.to_string()));
            }
            let text = ask_running_bot(&config, &path, "backfill", |client, base| {
                client.post(format!("{base}/admin/backfill")).query(&query)
            })?;
            print!("{}", crate::redact::redact(&text));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let history = Arc::new(store.history()?.keeping(config.keep_history));
    let windows = crate::poll::backfill::windows(now, days);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(crate::poll::backfill::run(
        &planned,
        config.poll.clone(),
        history,
        clock,
        &windows,
        |done, total, account, window| {
            let filled = done * 30 / total.max(1);
            eprint!(
                "\r[{}{}] {done}/{total} {account} {}",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                window.start.format("%Y-%m-%d")
            );
        },
    ));
    eprintln!();
    for failure in &report.failures {
        eprintln!("{}", crate::redact::redact(&failure.to_string()));
    }
    println!("{}", report.summary(days));
    if !report.failures.is_empty() {
        anyhow::bail!(
            "{} backfill window(s) failed; see the messages above",
            report.failures.len()
        );
    }
    Ok(())
}

/// Where `mailcall demo` keeps its database unless told otherwise.
pub const DEFAULT_DEMO_DATA: &str = "data/demo.db";

/// `mailcall demo` settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The demo database directory.
    pub data: PathBuf,
    /// Continue the previous demo database instead of starting fresh.
    pub keep: bool,
    /// Play this file instead of the built-in tour.
    pub script: Option<PathBuf>,
}

/// The file that marks a store directory as the demo's own. The demo writes
/// it before the store exists and refuses every directory without it, so
/// `--data` pointed at a real store (made by `console` or `run`) can never
/// be wiped or filled with demo data.
pub const DEMO_MARKER: &str = "mailcall-demo-store";

/// Opens the demo store, wiping a previous demo first unless `keep`.
///
/// Only a directory that is empty or carries [`DEMO_MARKER`] is used, and a
/// previous demo is wiped only after taking its lock, so a typo in `--data`
/// cannot delete unrelated files, a real store is never touched, and a
/// running demo is not pulled from under its feet.
pub fn open_demo_store(dir: &Path, keep: bool) -> Result<SledStore, StoreError> {
    let io_error = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        let is_demo = dir.join(DEMO_MARKER).is_file();
        let is_empty = std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if !is_demo && !is_empty {
            let why = if dir.join("mailcall.lock").exists() {
                "it is a mailcall store the demo did not create (it has no demo marker), so the demo will not touch it; give the demo another --data directory"
            } else {
                "it is not a mailcall demo store and not empty, so the demo will not touch it; give the demo another --data directory"
            };
            return Err(StoreError::Refused {
                path: dir.to_path_buf(),
                reason: why.into(),
            });
        }
        if is_demo && !keep {
            // Opening takes the lock; dropping the store releases it just
            // before removal. A second process started in that instant would
            // fail to open a half-removed store, which is acceptable for a
            // demo.
            drop(SledStore::open(dir)?);
            std::fs::remove_dir_all(dir).map_err(io_error)?;
        }
    }
    // The marker goes in before the store, so a store the demo made always
    // carries it, even if the demo is killed while creating it.
    std::fs::create_dir_all(dir).map_err(io_error)?;
    std::fs::write(
        dir.join(DEMO_MARKER),
        "This directory was created by `mailcall demo`, which may wipe it.\n",
    )
    .map_err(io_error)?;
    SledStore::open(dir)
}

/// The demo's rotations: two console members per team and a quality
/// reviewer drawn across the teams, weekly, handing over on Mondays at
/// 09:00 UTC, started two weeks before `now` so `/duty` has history.
fn demo_rotations(now: chrono::DateTime<chrono::Utc>) -> Vec<crate::duty::Rotation> {
    use chrono::Datelike as _;
    let today = now.date_naive();
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let start = monday - chrono::Duration::weeks(2);
    let rotation = |name, members: &[&str]| {
        let handoff = crate::schedule::Schedule::parse("0 9 * * MON", "UTC").ok()?;
        Some(crate::duty::Rotation {
            name,
            members: members.iter().map(|m| Actor::console(m)).collect(),
            timing: crate::duty::Timing {
                shift_days: 7,
                handoff,
                start,
            },
            working_hours: Default::default(),
            gap_notice_days: crate::duty::rotation::GAP_NOTICE_DAYS,
            changes: Vec::new(),
            retimings: Vec::new(),
        })
    };
    use crate::domain::Team;
    use crate::duty::RotationName;
    [
        rotation(RotationName::Team(Team::Marketing), &["maya", "marc"]),
        rotation(RotationName::Team(Team::Design), &["dana", "dev"]),
        rotation(RotationName::Team(Team::Integration), &["ines", "ivan"]),
        rotation(RotationName::Team(Team::Development), &["diego", "dora"]),
        rotation(
            RotationName::QualityReviewer,
            &["maya", "ines", "diego", "dana"],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `mailcall demo`: a fresh store, then the interactive console on a
/// terminal or the scripted tour without one.
pub fn demo(options: &DemoOptions) -> anyhow::Result<()> {
    let store = open_demo_store(&options.data, options.keep)?;
    let config = Config {
        store_path: options.data.clone(),
        rotations: demo_rotations(chrono::Utc::now()),
        ..Config::default()
    };
    let history = Arc::new(store.history()?);
    fill_demo_history(history.clone(), options.keep)?;
    let mut engine = Engine::new(store, Arc::new(SystemClock))
        .with_history(history)
        .with_directory(console_directory(&config))
        .with_alerts(demo_alerting(), Vec::new())?
        .with_rotations(config.rotations.clone())?
        .with_summary(config.summary.clone());
    let alerts = engine.after_poll("demo-esp")?;
    let caller = Caller::operator(Actor::console("you"));
    let stdout = io::stdout();
    let mut session = Session::new(engine, config, caller, stdout.lock());
    session.print_effects(
        "# Detection ran on the sandbox ESP's newest hour; alerts went to the owning teams:",
        &alerts,
    )?;
    session.mark_all_delivered()?;
    if let Some(script) = &options.script {
        let file = std::fs::File::open(script)
            .with_context(|| format!("cannot open script {}", script.display()))?;
        session.run_script(io::BufReader::new(file))?;
    } else if io::stdin().is_terminal() && io::stdout().is_terminal() {
        println!("mailcall demo — the terminal is the chat. Type /help, or /quit to leave.");
        println!(
            "Data: {} (fresh each run; --keep to continue)",
            options.data.display()
        );
        console::interactive(
            &mut session,
            Some(&options.data.join("console-history.txt")),
            None,
        )?;
    } else {
        session.run_script(io::Cursor::new(tour::TOUR))?;
    }
    Ok(())
}

/// Alerting as the demo runs it: the shipped defaults, with the sandbox's
/// counts final as soon as its hour ends.
fn demo_alerting() -> crate::alerting::AlertingConfig {
    let mut config = crate::alerting::AlertingConfig::default();
    config
        .settle
        .insert("demo-esp".into(), chrono::Duration::zero());
    config
}

/// How the terminal names team channels and roles.
pub fn console_directory(config: &Config) -> crate::command::TeamDirectory {
    crate::command::TeamDirectory {
        teams: crate::domain::Team::ALL
            .iter()
            .map(|t| (*t, (format!("#{}", config.channel(*t)), format!("@{t}"))))
            .collect(),
        admin: "@incident-admin".into(),
    }
}

/// The demo's sandbox ESP account: four streams, with the demo scenario
/// (a bounce spike on the welcome series, a silent onboarding automation)
/// anchored at `now`.
pub fn demo_account(now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<PlannedAccount> {
    Ok(PlannedAccount {
        account: Account {
            name: "demo-esp".into(),
            provider: Provider::Sandbox,
            base_url: "sandbox:".into(),
            credential: Credential::new(""),
            domain: None,
            streams: StreamSelection::AllDiscovered,
            bucket: BucketWidth::Hour,
            window: Duration::from_secs(48 * 3600),
            timeout: Duration::from_secs(5),
            key_pair: None,
            subject: None,
        },
        schedule: Schedule::parse("0 * * * *", "UTC")?,
        scenario: Some(Scenario::demo(now)),
    })
}

/// Polls the demo's sandbox ESP: four weeks of history on a fresh demo, a
/// catch-up poll on a kept one.
fn fill_demo_history(history: Arc<SledHistory>, keep: bool) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let planned = demo_account(now)?;
    let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
    let poller = Poller::new(
        vec![planned.clone()],
        PollerSettings::default(),
        history,
        clock,
        events,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let window = (!keep).then(|| Window {
        start: now - chrono::Duration::days(28),
        end: now,
    });
    let report = runtime.block_on(poller.poll_window(&planned, window));
    match report.outcome {
        PollOutcome::Stored { samples, .. } => {
            println!(
                "# The sandbox ESP \"demo-esp\" reported {samples} hourly samples ({} to {}).",
                render::timestamp(report.window.start),
                render::timestamp(report.window.end)
            );
            Ok(())
        }
        other => anyhow::bail!("the sandbox ESP could not be polled: {other:?}"),
    }
}

/// The configuration (or the defaults), with `--data` overriding the store.
fn load_config(config_path: Option<&Path>, data: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = match config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(data) = data {
        config.store_path = data;
    }
    Ok(config)
}

/// `mailcall console`: the terminal chat against a configured store,
/// with the service running behind it as under `mailcall run`: each
/// configured ESP account is polled on its schedule, detection runs after
/// every poll and alert timers tick, and the posts they cause are printed
/// (alerts with their buttons as commands to type). Reads a pipe as a
/// script when stdin is not a terminal.
pub fn console(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    name: &str,
) -> anyhow::Result<()> {
    let config = load_config(config_path, data)?;
    let history = config.store_path.join("console-history.txt");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let service =
        crate::service::Service::open(&config, console_directory(&config), Arc::new(SystemClock))?;
    if service.accounts() > 0 {
        println!(
            "# Polling {} ESP account(s) on their schedules; alerts are printed as they are raised.",
            service.accounts()
        );
        println!("# {}", config.alerting.runbooks.describe());
    }
    let posts = console::Posts::default();
    let telemetry = service.telemetry.clone();
    let outbox = Arc::new(tokio::sync::Notify::new());
    let (engine, jobs) = {
        let _inside = runtime.enter();
        service.start(outbox.clone())
    };
    // Posts no command of this session caused (alerts after a poll,
    // reminders, and any left undelivered by a previous run) come through
    // the outbox, like Discord's; the session prints its own commands'
    // posts itself and marks them delivered.
    let (stop_relay, relay_stopped) = tokio::sync::watch::channel(false);
    let printing = {
        let posts = posts.clone();
        let config = config.clone();
        runtime.spawn(crate::service::relay(
            engine.clone(),
            outbox,
            telemetry,
            relay_stopped,
            move |_post, effect| {
                let narration = format!("# mailcall, {}:", render::timestamp(chrono::Utc::now()));
                posts.print_effects(&config, &narration, &[effect]);
                std::future::ready(crate::service::Delivery::Done)
            },
        ))
    };
    let caller = Caller::operator(Actor::console(name));
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout());
    let mut session = Session::shared(engine, config, caller, out);
    let result = if io::stdin().is_terminal() {
        console::interactive(&mut session, Some(&history), Some(&posts))
    } else {
        session.run_script(io::stdin().lock()).map_err(Into::into)
    };
    // The jobs stop first; the relay then prints what they left and ends.
    runtime.block_on(async {
        jobs.stop().await;
        let _ = stop_relay.send(true);
        let _ = tokio::time::timeout(crate::service::SHUTDOWN_GRACE, printing).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Why `mailcall check-config` refused a file.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file does not parse or validate.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// It validates, but secrets it names cannot be read: each line names
    /// the variable or file, never a value.
    #[error("{}", .problems.iter().map(|p| format!("{}: {p}", .file.display())).collect::<Vec<_>>().join("\n"))]
    Secrets {
        file: PathBuf,
        problems: Vec<String>,
    },
}

/// `mailcall duty ical TEAM`: a rotation's shifts over `weeks` weeks from
/// `from` as an iCalendar file, to `out` (written completely or not at
/// all) or to stdout. The same answers as `/duty schedule`.
pub fn duty_ical(
    config_path: Option<&Path>,
    rotation: &str,
    from: chrono::DateTime<chrono::Utc>,
    weeks: u32,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let config = load_config(config_path, None)?;
    let name: crate::duty::RotationName = rotation.parse().map_err(anyhow::Error::msg)?;
    if !config.rotations.iter().any(|r| r.name == name) {
        let where_ = config_path.map_or_else(
            || "the built-in defaults".to_string(),
            |p| p.display().to_string(),
        );
        anyhow::bail!("{where_} has no [rotations.{name}] table");
    }
    if !(1..=104).contains(&weeks) {
        anyhow::bail!("--weeks {weeks}: export 1 to 104 weeks");
    }
    // Overrides, swaps and member changes live in the store: read them
    // there, or ask the bot that holds it; a store that does not exist yet
    // has none.
    let book: Option<Vec<u8>> = match SledStore::open_existing(&config.store_path) {
        Ok(store) => crate::store::IncidentStore::get_extra(&store, crate::command::duty::RECORD)?,
        Err(StoreError::Missing { .. }) => None,
        Err(StoreError::InUse { path }) => Some(
            ask_running_bot(&config, &path, "give its duty book", |client, base| {
                client.get(format!("{base}/admin/duty/book"))
            })?
            .into_bytes(),
        ),
        Err(e) => return Err(e.into()),
    };
    let state = crate::duty::DutyState::restore(config.rotations.clone(), book.as_deref())
        .map_err(anyhow::Error::msg)?;
    let roster = state.roster();
    let to = from + chrono::Duration::weeks(i64::from(weeks));
    let text = crate::duty::ical::export(roster, name, from, to, chrono::Utc::now());
    match out {
        Some(out) => crate::atomic_file::write_with(out, |file| {
            use std::io::Write as _;
            file.write_all(text.as_bytes())?;
            Ok::<_, anyhow::Error>(())
        }),
        None => {
            use std::io::Write as _;
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// `mailcall export incidents`: the incident log as CSV, Markdown or JSON,
/// to `out` (written completely or not at all) or stdout. A store held by a
/// running bot is read through its `[http] listen` address.
pub fn export_incidents(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    format: &str,
    since: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let config = load_config(config_path, data)?;
    let format: crate::command::log::ExportFormat = format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let since = since
        .map(|s| {
            chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| anyhow::anyhow!("--since: `{s}` is not a date; use YYYY-MM-DD"))
        })
        .transpose()?;
    let bytes = match SledStore::open_existing(&config.store_path) {
        Ok(store) => {
            let incidents = crate::store::IncidentStore::all(&store)?;
            crate::command::log::export(&incidents, since, format)?
        }
        Err(StoreError::InUse { path }) => {
            let mut query = vec![("format", format.name().to_string())];
            if let Some(since) = since {
                query.push(("since", since.to_string()));
            }
            ask_running_bot(&config, &path, "export its incidents", |client, base| {
                client.get(format!("{base}/admin/incidents")).query(&query)
            })?
            .into_bytes()
        }
        Err(e) => return Err(e.into()),
    };
    use std::io::Write as _;
    match out {
        Some(out) => crate::atomic_file::write_with(out, |file| {
            file.write_all(&bytes)?;
            Ok::<_, anyhow::Error>(())
        }),
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// `mailcall summary`: a week's summary (the week just ended by default)
/// as Markdown and its chart as PNG, written into `out` as
/// `summary-<week>.md` and `summary-<week>.png`, each completely or not at
/// all. A store held by a running bot is asked for the summary through its
/// `[http] listen` address.
pub fn summary(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    week: Option<&str>,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let config = load_config(config_path, data)?;
    let week = week
        .map(|w| w.parse::<crate::summary::Week>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--week: {e}"))?;
    let summary = match SledStore::open_existing(&config.store_path) {
        Ok(store) => {
            let history = Arc::new(store.history()?);
            let engine = Engine::new(store, Arc::new(SystemClock))
                .with_history(history)
                .with_rotations(config.rotations.clone())?
                .with_summary(config.summary.clone());
            let week = week.unwrap_or_else(|| engine.week_before(chrono::Utc::now()));
            engine.weekly_summary(week)?
        }
        Err(StoreError::InUse { path }) => {
            let query: Vec<(&str, String)> = week.iter().map(|w| ("week", w.to_string())).collect();
            let text =
                ask_running_bot(&config, &path, "give its weekly summary", |client, base| {
                    client.get(format!("{base}/admin/summary")).query(&query)
                })?;
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the running bot's summary is unreadable: {e}"))?
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(out).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {}: {}",
            out.display(),
            crate::os_error::reason(&e)
        )
    })?;
    let text = crate::summary::render::markdown(&summary, &|actor| format!("@{actor}"));
    let chart =
        crate::summary::chart::render(&summary.chart_data()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let markdown_path = out.join(format!("summary-{}.md", summary.week));
    let chart_path = out.join(format!("summary-{}.png", summary.week));
    for (path, bytes) in [
        (&markdown_path, text.as_bytes()),
        (&chart_path, chart.as_slice()),
    ] {
        crate::atomic_file::write_with(path, |file| {
            use std::io::Write as _;
            file.write_all(bytes)?;
            Ok::<_, anyhow::Error>(())
        })?;
    }
    Ok(vec![markdown_path, chart_path])
}

/// `mailcall backup`: the whole store to `out`, written completely or not
/// at all. A store held by a running bot is asked for its backup over its
/// `[http] listen` address, so a backup never needs the bot stopped.
pub fn backup(config_path: Option<&Path>, data: Option<PathBuf>, out: &Path) -> anyhow::Result<()> {
    let config = load_config(config_path, data)?;
    let stats = match SledStore::open_existing(&config.store_path) {
        Ok(store) => crate::atomic_file::write_with(out, |file| {
            let mut writer = io::BufWriter::new(file);
            let stats = store.write_backup(&mut writer)?;
            use std::io::Write as _;
            writer.flush()?;
            Ok::<_, anyhow::Error>(format!(
                "{} records in {} trees",
                stats.records, stats.trees
            ))
        })?,
        Err(StoreError::InUse { path }) => {
            let Some(address) = config.http_listen else {
                anyhow::bail!(
                    "{} is in use by a running mailcall, and the configuration has no [http] listen through which it could be asked for a backup; set one (and restart the bot once), or stop the bot",
                    path.display()
                );
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let url = format!("http://{address}/admin/backup");
            let bytes = runtime.block_on(async {
                let response = reqwest::get(&url)
                    .await
                    .with_context(|| format!("cannot ask the running bot for a backup at {url}"))?;
                let status = response.status();
                let bytes = response.bytes().await?;
                if !status.is_success() {
                    anyhow::bail!(
                        "the running bot answered {status}: {}",
                        String::from_utf8_lossy(&bytes).trim()
                    );
                }
                Ok(bytes)
            })?;
            if !bytes.starts_with(b"mailcall-backup 1\n")
                || !bytes.ends_with(b"\nend of mailcall backup\n")
            {
                anyhow::bail!("the running bot at {url} did not send a complete backup");
            }
            crate::atomic_file::write_with(out, |file| {
                use std::io::Write as _;
                file.write_all(&bytes)?;
                Ok::<_, anyhow::Error>(format!("{} bytes from the running bot", bytes.len()))
            })?
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("backup: {} written to {}", stats, out.display());
    Ok(())
}

/// `mailcall restore FILE`: a new store made from a backup, where the
/// configuration (or `--data`) says. The directory must not hold a store:
/// a restore never overwrites one.
pub fn restore(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    file: &Path,
) -> anyhow::Result<()> {
    let config = load_config(config_path, data)?;
    let input = std::fs::File::open(file)
        .with_context(|| format!("cannot open the backup {}", file.display()))?;
    let stats = crate::store::restore_backup(&config.store_path, &mut io::BufReader::new(input))?;
    eprintln!(
        "restore: {} records in {} trees restored into {}",
        stats.records,
        stats.trees,
        config.store_path.display()
    );
    Ok(())
}

/// `mailcall check-config FILE`: a one-line summary, or what is wrong. Besides
/// the file itself, every secret it names (the Discord token, each ESP
/// account's key) must be readable where it says: an unset variable or a
/// missing file is found here, not when `run` starts.
pub fn check_config(path: &Path) -> Result<String, CheckError> {
    let config = Config::load(path)?;
    let mut problems = Vec::new();
    if let Some(discord) = &config.discord {
        if let Err(e) = crate::discord::Token::read(&discord.token) {
            problems.push(e.to_string());
        }
    }
    for esp in &config.esp {
        if let Err(e) = esp.plan(chrono::Utc::now()) {
            problems.push(e);
        }
    }
    if !problems.is_empty() {
        return Err(CheckError::Secrets {
            file: path.to_path_buf(),
            problems,
        });
    }
    Ok(format!(
        "{}: OK — store {}, {} team channels{}{}, weekly summary in #{} ({}, {})\n{}",
        path.display(),
        config.store_path.display(),
        config.teams.len(),
        config
            .stakeholder_channel
            .as_deref()
            .map(|c| format!(", stakeholders in #{c}"))
            .unwrap_or_default(),
        match config.esp.len() {
            0 => String::new(),
            n => format!(", {n} ESP account(s) with readable keys"),
        },
        config.summary_channel_name(),
        config
            .summary
            .schedule
            .as_ref()
            .map_or(crate::command::summary::DEFAULT_SCHEDULE, |s| s
                .expression()),
        config.summary.zone,
        config.alerting.runbooks.describe()
    ))
}

/// `mailcall run`: the Discord bot, until Ctrl-C or SIGTERM.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let shutdown = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            tracing::info!("shutting down");
        };
        crate::service::run(config, shutdown).await
    })?;
    Ok(())
}

/// `mailcall detect`: the detectors over a CSV, for tuning and for scoring
/// against labelled benchmarks. `-` as the input reads standard input;
/// without an output (or with `-`) the scored rows go to standard output.
/// A summary goes to stderr, with one warning if some timestamps were not
/// after the row before.
pub fn detect(input: &Path, output: Option<&Path>, config: Option<&Path>) -> anyhow::Result<()> {
    let settings = match config {
        Some(path) => Config::load(path)?.alerting.detector,
        None => crate::detect::DetectorSettings::default(),
    };
    let stats = crate::detect::detect_path(input, output.unwrap_or(Path::new("-")), &settings)?;
    if let Some(warning) = stats.unordered_warning() {
        eprintln!("detect: {warning}");
    }
    for warning in stats.doubtful_warnings() {
        eprintln!("detect: {warning}");
    }
    let streams = if stats.streams > 1 {
        format!(" in {} streams", stats.streams)
    } else {
        String::new()
    };
    eprintln!(
        "detect: {} rows{streams} ({} missing, {} judged), {} flagged",
        stats.rows, stats.missing, stats.judged, stats.flagged
    );
    if !stats.ignored_columns.is_empty() {
        eprintln!(
            "detect: ignored columns: {}",
            stats.ignored_columns.join(", ")
        );
    }
    Ok(())
}

/// How `mailcall replay` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFormat {
    Table,
    Jsonl,
    Csv,
}

/// `mailcall replay`: the live alert path over the stored history (see
/// [`crate::alerting::replay`]), printing the alerts it would have posted.
pub fn replay(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    account: Option<&str>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    format: ReplayFormat,
) -> anyhow::Result<()> {
    use crate::alerting::replay::{self as backtest, ReplayRange};
    let config = load_config(config_path, data)?;
    let store = SledStore::open_existing(&config.store_path)?;
    let history = store.history()?;
    let until = until.unwrap_or_else(chrono::Utc::now);
    let since = since.unwrap_or(until - chrono::Duration::days(28));
    if since > until {
        anyhow::bail!("--since is after --until: nothing to replay");
    }
    // The baselines reach back as far as the longest configured one, plus a
    // day for pooled spans.
    let weeks = config
        .alerting
        .overrides
        .iter()
        .map(|o| o.settings.baseline_weeks)
        .chain([config.alerting.detector.baseline_weeks])
        .max()
        .unwrap_or(4)
        .min(crate::detect::baseline::MAX_BASELINE_WEEKS);
    let from = since - chrono::Duration::weeks(weeks as i64 + 1) - chrono::Duration::days(1);
    let mut samples = Vec::new();
    let mut streams = 0;
    for (name, stream) in history.streams()? {
        if account.is_some_and(|a| a != name) {
            continue;
        }
        streams += 1;
        for sample in history.series(&name, &stream, from)? {
            samples.push((name.clone(), sample));
        }
    }
    if streams == 0 {
        anyhow::bail!(
            "no stored history{} in {}; run `mailcall backfill` first",
            account
                .map(|a| format!(" for account {a}"))
                .unwrap_or_default(),
            config.store_path.display()
        );
    }
    let silences = match crate::store::IncidentStore::get_extra(&store, crate::alerting::RECORD)? {
        Some(bytes) => Some(
            crate::alerting::AlertDesk::restore(config.alerting.clone(), Some(&bytes))?
                .state
                .silences,
        ),
        None => None,
    };
    let alerts = backtest::replay(
        samples,
        config.alerting.clone(),
        config.quiet_windows.clone(),
        silences,
        &ReplayRange { since, until },
    )?;
    let text = match format {
        ReplayFormat::Table => backtest::table(&alerts),
        ReplayFormat::Csv => backtest::csv(&alerts),
        ReplayFormat::Jsonl => {
            let mut out = String::new();
            for alert in &alerts {
                out.push_str(&serde_json::to_string(alert)?);
                out.push('\n');
            }
            out
        }
    };
    use std::io::Write as _;
    io::stdout().lock().write_all(text.as_bytes())?;
    eprintln!(
        "replay: {streams} stream(s), hourly polls from {} to {}: {} alert(s)",
        since.format("%Y-%m-%d %H:%M UTC"),
        until.format("%Y-%m-%d %H:%M UTC"),
        alerts.len()
    );
    Ok(())
}
