//! The service's scheduled jobs, driven by an injected clock: each ESP
//! account is polled once per due time of its schedule, across a restart;
//! a run missed while the bot was down runs once at start; a new account
//! is polled at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use mailcall::clock::{Clock, ManualClock};
use mailcall::command::TeamDirectory;
use mailcall::config::Config;
use mailcall::service::{Service, SharedEngine};

fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, d, h, m, 0)
        .single()
        .unwrap_or_else(|| panic!("bad time"))
}

fn config(dir: &std::path::Path) -> Config {
    let text = "[[esp]]\nname = \"sb\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n";
    let parsed =
        Config::parse(std::path::Path::new("jobs.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    Config {
        store_path: dir.join("db"),
        esp: parsed.esp,
        poll: mailcall::poll::PollerSettings {
            jitter: Duration::ZERO,
            ..parsed.poll
        },
        ..Config::default()
    }
}

/// The end of the last window the service fetched for `sb`.
fn covered(engine: &SharedEngine) -> Option<DateTime<Utc>> {
    let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    engine
        .history()
        .and_then(|h| h.poll_state("sb").ok().flatten())
        .and_then(|s| s.covered_until)
}

/// Waits (real time, at most 10 s) until `sb` has been polled up to `when`.
async fn polled_until(engine: &SharedEngine, when: DateTime<Utc>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if covered(engine) == Some(when) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_run_once_per_due_time_across_a_restart_and_missed_runs_once_at_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at(7, 9, 20)));
    let start = |clock: Arc<ManualClock>| {
        let service = Service::open(
            &config(dir.path()),
            TeamDirectory::default(),
            clock as Arc<dyn Clock>,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        service.start(Arc::new(tokio::sync::Notify::new()))
    };

    // First start: the new account is polled at once.
    let (engine, jobs) = start(clock.clone());
    assert!(polled_until(&engine, at(7, 9, 20)).await, "no first poll");
    // Its due time comes: one poll.
    clock.set(at(7, 10, 0) + chrono::Duration::seconds(5));
    assert!(
        polled_until(&engine, clock.now()).await,
        "the 10:00 poll did not run"
    );
    jobs.stop().await;
    drop(engine);

    // A restart within the same hour: the 10:00 run is done, nothing runs.
    clock.set(at(7, 10, 30));
    let (engine, jobs) = start(clock.clone());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        covered(&engine),
        Some(at(7, 10, 0) + chrono::Duration::seconds(5)),
        "a due time ran twice after the restart"
    );
    jobs.stop().await;
    drop(engine);

    // Down over 11:00 and 12:00: one catch-up poll at start, not two.
    clock.set(at(7, 12, 10));
    let (engine, jobs) = start(clock.clone());
    assert!(
        polled_until(&engine, at(7, 12, 10)).await,
        "the missed runs did not run at start"
    );
    let records = engine
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .job_records();
    assert_eq!(records.last_due.get("poll:sb"), Some(&at(7, 12, 0)));
    jobs.stop().await;
}
