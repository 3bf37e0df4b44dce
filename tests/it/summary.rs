//! The weekly quality summary: `mailcall summary` writes the Markdown and
//! a chart that agree, and the service posts each week exactly once across
//! restarts, catching up a week missed while it was down.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mailcall::clock::ManualClock;
use mailcall::command::{Effect, Engine};
use mailcall::config::Config;
use mailcall::service::SharedEngine;
use mailcall::store::SledStore;
use mailcall::summary::{render, Week};

use super::common::mailcall;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Width, height and the variance of the grey level of a PNG.
fn png_facts(bytes: &[u8]) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{e}"));
    let mut buffer = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buffer)
        .unwrap_or_else(|e| panic!("{e}"));
    let channels = frame.color_type.samples();
    let pixels = &buffer[..frame.buffer_size()];
    let grey: Vec<f64> = pixels
        .chunks(channels)
        .map(|p| p.iter().take(3).map(|&c| f64::from(c)).sum::<f64>() / 3.0)
        .collect();
    let mean = grey.iter().sum::<f64>() / grey.len() as f64;
    let variance = grey.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / grey.len() as f64;
    (frame.width, frame.height, variance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_command_writes_markdown_and_a_chart_that_agree() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("db");
    // Wednesday of W48: four weeks of sandbox history cover W44 to W48.
    let clock = Arc::new(ManualClock::new(at("2026-11-25T12:00:00Z")));
    {
        let (store, history) = super::alerts::store_with_demo_history(&db, &clock).await;
        // The incident and its action come on Wednesday of W47.
        clock.set(at("2026-11-18T10:00:00Z"));
        let mut engine = Engine::new(store, clock.clone()).with_history(history);
        super::alerts::as_operator(
            &mut engine,
            "/incident open title:\"Welcome series stopped\" severity:SEV2 team:integration",
        );
        super::alerts::as_operator(
            &mut engine,
            "/incident action add id:INC-1 text:\"Watch the series\" owner:dana due:2026-11-20",
        );
    }
    let out = dir.path().join("out");
    let run = mailcall()
        .args(["summary", "--week", "2026-W47", "--data"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("summary-2026-W47.md") && stdout.contains("summary-2026-W47.png"));
    let markdown =
        std::fs::read_to_string(out.join("summary-2026-W47.md")).unwrap_or_else(|e| panic!("{e}"));
    let chart = std::fs::read(out.join("summary-2026-W47.png")).unwrap_or_else(|e| panic!("{e}"));

    let (width, height, variance) = png_facts(&chart);
    assert_eq!((width, height), mailcall::summary::chart::SIZE);
    assert!(variance > 100.0, "the chart is blank (variance {variance})");
    assert!(
        markdown
            .starts_with("# Weekly quality summary, 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026, UTC)"),
        "{markdown}"
    );
    assert!(markdown.contains("**demo-esp / account**"), "{markdown}");
    // The action was due on the Friday and is still open: overdue.
    assert!(markdown.contains("Opened 1 (SEV2 1)"), "{markdown}");
    assert!(
        markdown.contains("- INC-1 #1: Watch the series (@dana, **overdue**, due 2026-11-20)"),
        "{markdown}"
    );

    // The text and the chart come from one summary: the figures the chart
    // draws are the ones the text gives.
    let store = SledStore::open_existing(&db).unwrap_or_else(|e| panic!("{e}"));
    let history = Arc::new(store.history().unwrap_or_else(|e| panic!("{e}")));
    let engine = Engine::new(store, clock.clone()).with_history(history);
    let week: Week = "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"));
    let summary = engine
        .weekly_summary(week)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(render::markdown(&summary, &|a| format!("@{a}")), markdown);
    let data = summary.chart_data();
    assert_eq!(
        mailcall::summary::chart::render(&data).unwrap_or_else(|e| panic!("{e}")),
        chart
    );
    let account = data
        .accounts
        .iter()
        .find(|a| a.name == "demo-esp")
        .unwrap_or_else(|| panic!("no demo-esp in the chart"));
    let week_sent: u64 = account.volume.iter().map(|v| v.unwrap_or(0)).sum();
    assert!(week_sent > 0);
    assert!(
        markdown.contains(&format!("sent {}", render::count(Some(week_sent)))),
        "the chart's {week_sent} messages are not the text's: {markdown}"
    );
}

#[test]
fn a_week_that_is_not_a_week_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = mailcall()
        .args(["summary", "--week", "2026-W60", "--data"])
        .arg(dir.path().join("db"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--week: `2026-W60` is not a week: that year has no such week"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("db").exists(),
        "a store was created by a refused command"
    );
}

/// The weeks of the summaries waiting in the outbox.
fn summaries(engine: &SharedEngine) -> Vec<String> {
    let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    engine
        .pending_posts()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter_map(|(_, effect)| match effect {
            Ok(Effect::Summary(summary)) => Some(summary.week.clone()),
            _ => None,
        })
        .collect()
}

async fn wait_for_summaries(engine: &SharedEngine, count: usize) -> Vec<String> {
    super::common::wait_for_at_least(count, || summaries(engine)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_week_is_summarised_once_across_restarts_and_a_missed_week_at_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        store_path: dir.path().join("db"),
        ..Config::parse(
            std::path::Path::new("mc.toml"),
            "[summary]\ntimezone = \"Europe/Paris\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let start = |clock: Arc<ManualClock>| super::duty::handoffs::start_service(&config, clock);

    // Monday 23 Nov, 08:50 in Paris: nothing yet.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T07:50:00Z")));
    let (engine, jobs) = start(clock.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(summaries(&engine).is_empty(), "{:?}", summaries(&engine));
    // 09:00 Paris: the summary of the week that just ended.
    clock.set(at("2026-11-23T08:00:02Z"));
    assert_eq!(wait_for_summaries(&engine, 1).await, ["2026-W47"]);
    jobs.stop().await;
    drop(engine);

    // A restart the same morning posts nothing again.
    clock.set(at("2026-11-23T09:30:00Z"));
    let (engine, jobs) = start(clock.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(summaries(&engine), ["2026-W47"], "a week was posted twice");
    jobs.stop().await;
    drop(engine);

    // Down from before Monday 30 Nov 09:00 until Tuesday: W48's summary
    // is posted once at start.
    clock.set(at("2026-12-01T10:00:00Z"));
    let (engine, jobs) = start(clock.clone());
    assert_eq!(
        wait_for_summaries(&engine, 2).await,
        ["2026-W47", "2026-W48"]
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(summaries(&engine).len(), 2, "the missed week was repeated");
    jobs.stop().await;
}

/// Alerts raised by detection are counted in the week's summary; one
/// marked a false alarm, and one whose incident was resolved as a false
/// alarm, count as false alarms; acknowledging counts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_false_alarms_are_counted_in_the_summary() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Wednesday of W47, when the sandbox's scripted incidents fire.
    let clock = Arc::new(ManualClock::new(at("2026-11-18T15:20:00Z")));
    let mut config = mailcall::alerting::AlertingConfig::default();
    config.detector.min_volume = 50;
    let mut engine =
        super::alerts::engine_with_rotations(&dir.path().join("db"), &clock, config, "").await;
    let opened = engine
        .after_poll("demo-esp")
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u64> = opened
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(a) => a.alert().map(|v| v.id),
            _ => None,
        })
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let week: Week = "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"));
    let before = engine
        .weekly_summary(week)
        .unwrap_or_else(|e| panic!("{e}"))
        .alerts;
    assert_eq!(before.fired, ids.len());
    assert_eq!((before.acknowledged, before.false_alarms), (0, 0));
    assert!(before.detection_delay.median.is_some());

    super::alerts::as_operator(&mut engine, &format!("/alert false-alarm id:{}", ids[0]));
    // Again, on the now acknowledged alert: accepted, counted once.
    super::alerts::as_operator(&mut engine, &format!("/alert false-alarm id:{}", ids[0]));
    super::alerts::as_operator(&mut engine, &format!("/alert incident id:{}", ids[1]));
    super::alerts::as_operator(
        &mut engine,
        "/incident resolve id:INC-1 resolution:\"seed addresses, nothing wrong\" root_cause:false-alarm",
    );
    let after = engine
        .weekly_summary(week)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.alerts.false_alarms, 2);
    assert_eq!(after.alerts.acknowledged, 1);
    assert_eq!(after.incidents.false_alarms, 1);
    // Not counted in the week after.
    let next = engine
        .weekly_summary(week.next())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.alerts.fired, 0);
}
