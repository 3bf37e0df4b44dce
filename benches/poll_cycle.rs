//! One full poll cycle across many accounts.
//!
//! Run with `cargo bench --bench poll_cycle`. 200 SendGrid accounts with 5
//! categories each (1,000 streams) poll a loopback mock that answers every
//! request after 100 ms with two days of stats for the categories asked.
//! Prints the cycle's wall time beside the slowest account's own sequential
//! time (its requests × 100 ms), and the process's peak RSS (VmHWM).
//!
//! Goal (issue 4): cycle ≤ 1.5× the slowest account's sequential time, peak
//! RSS ≤ 80 MB.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::RawQuery;
use axum::Router;
use mailcall::clock::SystemClock;
use mailcall::esp::account::{Account, Provider, Secret, StreamSelection};
use mailcall::metrics::{BucketWidth, StreamKey};
use mailcall::poll::{PlannedAccount, PollOutcome, Poller, PollerSettings};
use mailcall::schedule::Schedule;
use mailcall::store::SledStore;

const ACCOUNTS: usize = 200;
const STREAMS_PER_ACCOUNT: usize = 5;
const LATENCY: Duration = Duration::from_millis(100);

/// Peak resident set size of this process, from /proc.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Two days of stats for each category in the query.
fn body(query: &str) -> String {
    let categories: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("categories="))
        .collect();
    let today = chrono::Utc::now().date_naive();
    let days: Vec<String> = (0..2)
        .map(|back| {
            let date = today - chrono::Duration::days(back);
            let stats: Vec<String> = categories
                .iter()
                .map(|c| {
                    format!(
                        r#"{{"type":"category","name":"{c}","metrics":{{"blocks":1,"bounce_drops":0,"bounces":12,"clicks":40,"deferred":3,"delivered":980,"invalid_emails":0,"opens":300,"processed":1000,"requests":1005,"spam_report_drops":0,"spam_reports":1,"unique_clicks":30,"unique_opens":250,"unsubscribe_drops":0,"unsubscribes":2}}}}"#
                    )
                })
                .collect();
            format!(r#"{{"date":"{date}","stats":[{}]}}"#, stats.join(","))
        })
        .collect();
    format!("[{}]", days.join(","))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = Arc::new(AtomicUsize::new(0));
    let arrivals: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let arrived = arrivals.clone();
    let answers: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let answered = answers.clone();
    let per_account: Arc<std::sync::Mutex<HashMap<String, usize>>> = Arc::default();
    let counter = requests.clone();
    let seen = per_account.clone();
    let app = Router::new().fallback(
        move |RawQuery(query): RawQuery, headers: axum::http::HeaderMap| {
            let counter = counter.clone();
            let seen = seen.clone();
            let arrived = arrived.clone();
            let answered = answered.clone();
            async move {
                arrived
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Instant::now());
                counter.fetch_add(1, Ordering::SeqCst);
                let who = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                *seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(who)
                    .or_default() += 1;
                tokio::time::sleep(LATENCY).await;
                let reply = (
                    [("content-type", "application/json")],
                    body(&query.unwrap_or_default()),
                );
                answered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Instant::now());
                reply
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let root = std::path::Path::new("target/bench-poll");
    let _ = std::fs::remove_dir_all(root);
    let store = SledStore::open(&root.join("db"))?;
    let history = Arc::new(store.history()?);
    let schedule = Schedule::parse("*/15 * * * *", "UTC")?;
    let accounts: Vec<PlannedAccount> = (0..ACCOUNTS)
        .map(|i| PlannedAccount {
            account: Account {
                name: format!("sg-{i:03}"),
                provider: Provider::SendGrid,
                base_url: format!("http://127.0.0.1:{port}"),
                credential: Secret::new(format!("SG.key-{i}")),
                domain: None,
                streams: StreamSelection::Named(
                    (0..STREAMS_PER_ACCOUNT)
                        .map(|s| StreamKey::new(format!("category:c{s}")))
                        .collect(),
                ),
                bucket: BucketWidth::Day,
                window: Duration::from_secs(48 * 3600),
                timeout: Duration::from_secs(10),
            },
            schedule: schedule.clone(),
            scenario: None,
        })
        .collect();
    let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
    let poller = Arc::new(Poller::new(
        accounts,
        PollerSettings::default(),
        history,
        Arc::new(SystemClock),
        events,
    ));

    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let reports = poller.poll_all().await;
    let cycle = started.elapsed();
    let stored: usize = reports
        .iter()
        .map(|r| match r.outcome {
            PollOutcome::Stored { samples, .. } => samples,
            _ => 0,
        })
        .sum();
    let failed = reports
        .iter()
        .filter(|r| !matches!(r.outcome, PollOutcome::Stored { .. }))
        .count();
    let slowest_requests = per_account
        .lock()
        .map(|m| m.values().copied().max().unwrap_or(0))
        .unwrap_or(0);
    let sequential = LATENCY * slowest_requests as u32;
    println!(
        "poll cycle: {ACCOUNTS} accounts, {} streams, {} requests, {stored} samples stored, {failed} failed",
        ACCOUNTS * STREAMS_PER_ACCOUNT,
        requests.load(Ordering::SeqCst)
    );
    println!(
        "cycle wall time {:.1} ms; slowest account alone: {slowest_requests} request(s) × 100 ms = {:.0} ms; ratio {:.2}x (goal <= 1.50x)",
        cycle.as_secs_f64() * 1000.0,
        sequential.as_secs_f64() * 1000.0,
        cycle.as_secs_f64() / sequential.as_secs_f64().max(f64::EPSILON)
    );
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    if let (Some(first), Some(last)) = (arrivals.iter().min(), arrivals.iter().max()) {
        println!(
            "requests reached the mock between {:.1} ms and {:.1} ms after the cycle began",
            first.duration_since(started).as_secs_f64() * 1000.0,
            last.duration_since(started).as_secs_f64() * 1000.0
        );
    }
    if let Some(last) = answers.lock().ok().and_then(|a| a.iter().max().copied()) {
        println!(
            "the last response left the mock {:.1} ms after the cycle began; storing and reporting took {:.1} ms more",
            last.duration_since(started).as_secs_f64() * 1000.0,
            (cycle.as_secs_f64() - last.duration_since(started).as_secs_f64()) * 1000.0
        );
    }
    println!(
        "peak RSS {:.1} MB (before the cycle {:.1} MB; goal <= 80 MB)",
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
        rss_before.unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}
