//! The weekly summary on a busy store: how long it takes to build (read
//! five weeks of hourly history for every stream and aggregate it), to
//! render as Markdown, and to draw the chart.
//!
//! Run with `cargo bench --bench weekly_summary`. Fills a temporary store
//! with 5 weeks of hourly samples for 200 accounts of 5 streams each
//! (1,000 streams, 840,000 samples), then builds the summary of the last
//! full week three times and prints each phase's time: reading and
//! aggregating the history (`week_figures`, which the service does without
//! holding the engine), the rest of the summary (under the engine, with
//! the commit: how long commands wait once a week), the Markdown and the
//! chart.
//!
//! Nothing is asserted: timings depend on the machine; the figures are for
//! reading.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use mailcall::clock::ManualClock;
use mailcall::command::Engine;
use mailcall::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};
use mailcall::store::{MetricsHistory, PollState, SledStore};
use mailcall::summary::Week;

const ACCOUNTS: usize = 200;
const STREAMS: [&str; 5] = [
    "account",
    "tag:welcome",
    "tag:newsletter",
    "tag:receipts",
    "tag:reset",
];
const RUNS: u32 = 3;

fn main() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return eprintln!("cannot make a temporary directory: {e}"),
    };
    let now: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap_or_default();
    let week: Week = match "2026-W47".parse() {
        Ok(week) => week,
        Err(e) => return eprintln!("{e}"),
    };
    let (_, end) = week.bounds(chrono_tz::UTC);
    let start = end - Duration::weeks(5);
    let store = match SledStore::open(&dir.path().join("db")) {
        Ok(store) => store,
        Err(e) => return eprintln!("{e}"),
    };
    let history = match store.history() {
        Ok(history) => Arc::new(history),
        Err(e) => return eprintln!("{e}"),
    };
    let filling = Instant::now();
    let hours = (end - start).num_hours();
    for account in 0..ACCOUNTS {
        let name = format!("account-{account:03}");
        let mut samples = Vec::new();
        for (index, stream) in STREAMS.iter().enumerate() {
            for hour in 0..hours {
                let sent = 100 + ((hour * 7 + index as i64 * 13 + account as i64) % 50) as u64;
                samples.push(Sample {
                    stream: StreamKey::new(*stream),
                    bucket: Bucket {
                        start: start + Duration::hours(hour),
                        width: BucketWidth::Hour,
                        provider_tz: "UTC".into(),
                    },
                    counts: Counts {
                        sent: Some(sent),
                        delivered: Some(sent - 1),
                        bounce_hard: Some(1),
                        bounce_soft: Some(0),
                        complaints: Some(u64::from(hour % 24 == 0)),
                        opens_unique: Some(sent / 4),
                        clicks_unique: Some(sent / 30),
                        ..Counts::default()
                    },
                });
            }
        }
        if let Err(e) = history.record_poll(&name, &samples, &PollState::default()) {
            return eprintln!("{e}");
        }
    }
    let samples = ACCOUNTS * STREAMS.len() * hours as usize;
    println!(
        "filled {ACCOUNTS} accounts x {} streams, {samples} hourly samples, in {:.1} s",
        STREAMS.len(),
        filling.elapsed().as_secs_f64()
    );
    let clock = Arc::new(ManualClock::new(now));
    let engine = Engine::new(store, clock).with_history(history.clone());
    for run in 1..=RUNS {
        let t0 = Instant::now();
        let figures = match mailcall::command::summary::week_figures(
            history.as_ref(),
            week,
            chrono_tz::UTC,
        ) {
            Ok(figures) => figures,
            Err(e) => return eprintln!("{e}"),
        };
        let read = t0.elapsed();
        let t1 = Instant::now();
        let summary = match engine.weekly_summary_with(week, figures) {
            Ok(summary) => summary,
            Err(e) => return eprintln!("{e}"),
        };
        let built = t1.elapsed();
        let t2 = Instant::now();
        let text = mailcall::summary::render::markdown(&summary, &|a| a.to_string());
        let chat = mailcall::summary::render::chat_markdown(&summary, &|a| a.to_string(), "x.md");
        let parts = mailcall::summary::render::messages(&chat, 2000);
        let rendered = t2.elapsed();
        let t3 = Instant::now();
        let chart = match mailcall::summary::chart::render(&summary.chart_data()) {
            Ok(chart) => chart,
            Err(e) => return eprintln!("{e}"),
        };
        let drawn = t3.elapsed();
        println!(
            "run {run}: figures {:.0} ms (off the engine), rest {:.1} ms (under it), markdown {:.1} ms ({} stream lines, {} chars in the file, {} chat messages), chart {:.0} ms ({} accounts drawn, {} KB PNG)",
            read.as_secs_f64() * 1000.0,
            built.as_secs_f64() * 1000.0,
            rendered.as_secs_f64() * 1000.0,
            summary.streams.len(),
            text.chars().count(),
            parts.len(),
            drawn.as_secs_f64() * 1000.0,
            summary.chart_data().accounts.len(),
            chart.len() / 1024,
        );
    }
}
