//! One full poll cycle across many accounts.
//!
//! Run with `cargo bench --bench poll_cycle`. 200 SendGrid accounts with 5
//! categories each (1,000 streams) poll a loopback mock that answers every
//! request after 100 ms with two days of stats for the categories asked.
//! The mock runs in a child process, as a provider would be elsewhere: in
//! the poller's own runtime its scheduling delays were counted against the
//! poller. (It still shares this machine's cores.)
//!
//! Each of several rounds opens a fresh store and polls twice: the first
//! cycle writes every sample; the second re-fetches the same window, as
//! every scheduled poll does, and finds history already there. Prints each
//! cycle's wall time beside the slowest account's own sequential time (its
//! requests × 100 ms), the median and worst of each kind, and the process's
//! peak RSS (VmHWM).
//!
//! Goal (issue 4): cycle ≤ 1.5× the slowest account's sequential time, peak
//! RSS ≤ 80 MB.
//!
//! Then the same with the providers mixed (issue 14): 50 accounts each of
//! SendGrid, Mailgun, Postmark and SparkPost, 5 named streams each. The
//! mock answers Mailgun, Postmark and SparkPost with the documented
//! payloads of the test fixtures; their dates fall outside the polled
//! window, so those samples are fetched and parsed but not stored (the
//! SendGrid samples are). No account's requests depend on each other here
//! (no paging, no discovery), so the longest chain that must follow one
//! another is one request: goal ≤ 1.5 × 100 ms, peak RSS ≤ 50 MB.
//!
//! And with every source mixed (`-- all`): the same 200 accounts spread
//! over the nine HTTP sources (SendGrid, Mailgun, Postmark, SparkPost,
//! Amazon SES, Mailchimp, Mandrill, Brevo, Gmail Postmaster Tools), 1,000
//! streams in all: SES's account alone, five tags for Postmark (its 25
//! requests at once), five or six named streams for the others, each
//! within its source's limit of requests at once. The mock answers
//! each with its test fixture (dates outside the window: fetched and
//! parsed, not stored) and Gmail's token endpoint with a token; Gmail's
//! grant must come before its domain requests, so the longest chain is two
//! requests: goal ≤ 1.5 × 200 ms, peak RSS ≤ 50 MB. The next cycle uses
//! the access token the first kept, a chain of one: goal ≤ 1.5 × 100 ms.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::RawQuery;
use axum::Router;
use mailcall::clock::SystemClock;
use mailcall::delivery::{BucketWidth, StreamKey};
use mailcall::esp::account::{Account, Credential, KeyPair, Provider, StreamSelection};
use mailcall::poll::{PlannedAccount, PollOutcome, Poller, PollerSettings};
use mailcall::schedule::Schedule;
use mailcall::store::SledStore;

const ACCOUNTS: usize = 200;
/// The providers of the mixed cycle, an equal share of the accounts each.
const MIXED: [Provider; 4] = [
    Provider::SendGrid,
    Provider::Mailgun,
    Provider::Postmark,
    Provider::SparkPost,
];
/// Every HTTP source, for `-- all`.
const ALL_SOURCES: [Provider; 9] = [
    Provider::SendGrid,
    Provider::Mailgun,
    Provider::Postmark,
    Provider::SparkPost,
    Provider::Ses,
    Provider::Mailchimp,
    Provider::Mandrill,
    Provider::Brevo,
    Provider::GmailPostmaster,
];
const SES_STATISTICS: &str = include_str!("../tests/fixtures/esp/ses/get_send_statistics.xml");
const MAILCHIMP_REPORTS: &str = include_str!("../tests/fixtures/esp/mailchimp/reports.json");
const MANDRILL_SERIES: &str = include_str!("../tests/fixtures/esp/mandrill/tags_time_series.json");
const BREVO_REPORTS: &str = include_str!("../tests/fixtures/esp/brevo/reports.json");
const POSTMASTER_TRAFFIC: &str =
    include_str!("../tests/fixtures/esp/postmaster/traffic_stats.json");
const POSTMASTER_COMPLIANCE: &str =
    include_str!("../tests/fixtures/esp/postmaster/compliance_status.json");
const POSTMASTER_KEY: &str =
    include_str!("../tests/fixtures/esp/postmaster/service_account.json.template");
const MAILGUN_METRICS: &str = include_str!("../tests/fixtures/esp/mailgun/analytics_metrics.json");
const POSTMARK_SENDS: &str = include_str!("../tests/fixtures/esp/postmark/outbound_sends.json");
const POSTMARK_OPENS: &str = include_str!("../tests/fixtures/esp/postmark/outbound_opens.json");
const POSTMARK_EMPTY: &str = include_str!("../tests/fixtures/esp/postmark/outbound_bounces.json");
const SPARKPOST_TIME_SERIES: &str =
    include_str!("../tests/fixtures/esp/sparkpost/time_series.json");

/// The mock's answer to a request for `path`?`query`.
fn answer(path: &str, query: &str) -> String {
    match path {
        "/v1/analytics/metrics" => MAILGUN_METRICS.to_string(),
        "/stats/outbound/sends" => POSTMARK_SENDS.to_string(),
        "/stats/outbound/opens" => POSTMARK_OPENS.to_string(),
        p if p.starts_with("/stats/outbound/") => POSTMARK_EMPTY.to_string(),
        "/api/v1/metrics/deliverability/time-series" => SPARKPOST_TIME_SERIES.to_string(),
        "/" => SES_STATISTICS.to_string(),
        "/3.0/reports" => MAILCHIMP_REPORTS.to_string(),
        p if p.starts_with("/api/1.3/") => MANDRILL_SERIES.to_string(),
        "/v3/smtp/statistics/reports" => BREVO_REPORTS.to_string(),
        "/token" => r#"{"access_token":"ya29.bench","expires_in":3599}"#.to_string(),
        p if p.ends_with("/trafficStats") => POSTMASTER_TRAFFIC.to_string(),
        p if p.ends_with("/complianceStatus") => POSTMASTER_COMPLIANCE.to_string(),
        _ => body(query),
    }
}
/// Streams over all accounts, as in issue 14's benchmark.
const STREAMS: usize = 1_000;
/// Postmark's streams per account: five statistics endpoints each fill its
/// 25 requests at once; a sixth stream would add a second wave.
const POSTMARK_STREAMS: usize = 5;

/// How many streams each account polls so that they add up to [`STREAMS`]:
/// one for SES (its statistics cover the account alone), five for
/// Postmark, and the rest shared evenly by the others (five each when no
/// account is SES's, six for some when some are).
fn stream_counts(providers: &[Provider]) -> Vec<usize> {
    let of = |i: usize| providers[i % providers.len()];
    let fixed = |provider: Provider| match provider {
        Provider::Ses => Some(1),
        Provider::Postmark => Some(POSTMARK_STREAMS),
        _ => None,
    };
    let taken: usize = (0..ACCOUNTS).filter_map(|i| fixed(of(i))).sum();
    let sharing = (0..ACCOUNTS).filter(|i| fixed(of(*i)).is_none()).count();
    let (each, left_over) = (
        (STREAMS - taken) / sharing.max(1),
        (STREAMS - taken) % sharing.max(1),
    );
    let mut nth_sharing = 0;
    (0..ACCOUNTS)
        .map(|i| {
            fixed(of(i)).unwrap_or_else(|| {
                nth_sharing += 1;
                each + usize::from(nth_sharing <= left_over)
            })
        })
        .collect()
}
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

/// Microseconds since the Unix epoch: comparable across the two processes.
fn epoch_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What the mock saw, read back by the bench after the cycle.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct MockLog {
    /// When each request reached the handler, epoch µs.
    arrivals: Vec<u64>,
    /// When each answer was ready, epoch µs.
    answers: Vec<u64>,
    /// Requests per credential (one credential per account).
    per_account: HashMap<String, usize>,
}

/// The mock provider, run in a child process: a real provider does not
/// share the poller's runtime, so the bench must not make it.
/// Prints its port on stdout; `GET /__log` returns the [`MockLog`] of the
/// requests since the last `GET /__log`.
fn run_mock() -> Result<(), Box<dyn std::error::Error>> {
    // About 1,400 connections at once: more than a desktop session's soft
    // limit of 1,024 open files.
    mailcall::open_files::raise()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let log: Arc<std::sync::Mutex<MockLog>> = Arc::default();
        let read_log = log.clone();
        let app = Router::new()
            .route(
                "/__log",
                axum::routing::get(move || {
                    let log = read_log.clone();
                    async move {
                        let seen =
                            std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
                        axum::Json(seen)
                    }
                }),
            )
            .fallback(
                move |uri: axum::http::Uri,
                      RawQuery(query): RawQuery,
                      headers: axum::http::HeaderMap| {
                    let log = log.clone();
                    async move {
                        let arrived = epoch_micros();
                        let who = ["authorization", "x-postmark-server-token", "api-key"]
                            .iter()
                            .find_map(|name| headers.get(*name)?.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        tokio::time::sleep(LATENCY).await;
                        let reply = (
                            [("content-type", "application/json")],
                            answer(uri.path(), &query.unwrap_or_default()),
                        );
                        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                        log.arrivals.push(arrived);
                        log.answers.push(epoch_micros());
                        *log.per_account.entry(who).or_default() += 1;
                        reply
                    }
                },
            );
        // A provider's front door takes a burst of connections: with the
        // default backlog (128) the kernel drops the handshakes of a
        // 200-account burst, and the dropped clients wait for a pooled
        // connection to come free (measured: the cycle doubles).
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.1:0".parse()?)?;
        let listener = socket.listen(4096)?;
        println!("{}", listener.local_addr()?.port());
        use std::io::Write;
        std::io::stdout().flush()?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Kills the mock when the bench ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the mock in a child process and returns it with its port.
fn spawn_mock() -> Result<(Child, u16), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let mut child = Child(
        std::process::Command::new(std::env::current_exe()?)
            .env(MOCK_ROLE, "1")
            .stdout(std::process::Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or("the mock has no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let port = line.trim().parse()?;
    Ok((child, port))
}

/// Set in the child process that plays the provider.
const MOCK_ROLE: &str = "MAILCALL_POLL_BENCH_MOCK";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(MOCK_ROLE).is_some() {
        return run_mock();
    }
    let (_mock, port) = spawn_mock()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench(port))
}

/// The figures of one cycle.
struct Cycle {
    wall: Duration,
    requests: usize,
    stored: usize,
    failed: usize,
    /// Requests made by the account that made the most.
    slowest_requests: usize,
    /// When the first and last request reached the mock, and when the last
    /// answer left it, in ms after the cycle began.
    first_arrival: f64,
    last_arrival: f64,
    last_answer: f64,
}

impl Cycle {
    /// The slowest account's own sequential time.
    fn sequential(&self) -> Duration {
        LATENCY * self.slowest_requests as u32
    }

    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.sequential().as_secs_f64().max(f64::EPSILON)
    }
}

/// 200 accounts of 1,000 streams in all ([`stream_counts`]), against the
/// mock: all SendGrid, or the providers of `providers` in turn.
fn accounts(
    port: u16,
    providers: &[Provider],
) -> Result<Vec<PlannedAccount>, Box<dyn std::error::Error>> {
    let schedule = Schedule::parse("*/15 * * * *", "UTC")?;
    let streams = stream_counts(providers);
    Ok((0..ACCOUNTS)
        .map(|i| {
            let provider = providers[i % providers.len()];
            let kind = match provider {
                Provider::SendGrid => "category",
                Provider::SparkPost => "campaign",
                Provider::Mailchimp => "audience",
                Provider::GmailPostmaster => "domain",
                _ => "tag",
            };
            (i, provider, kind)
        })
        .map(|(i, provider, kind)| PlannedAccount {
            account: Account {
                name: format!("{provider}-{i:03}"),
                provider,
                base_url: format!("http://127.0.0.1:{port}"),
                credential: Credential::new(match provider {
                    Provider::GmailPostmaster => POSTMASTER_KEY
                        .replace("TOKEN_URI", &format!("http://127.0.0.1:{port}/token")),
                    _ => format!("key-{provider}-{i}"),
                }),
                domain: (provider == Provider::Mailgun).then(|| "example.com".to_string()),
                // SES's statistics cover the whole account only.
                streams: if provider == Provider::Ses {
                    StreamSelection::Account
                } else {
                    StreamSelection::Named(
                        (0..streams[i])
                            .map(|s| StreamKey::new(format!("{kind}:c{s}")))
                            .collect(),
                    )
                },
                bucket: BucketWidth::Day,
                window: Duration::from_secs(48 * 3600),
                timeout: Duration::from_secs(10),
                key_pair: (provider == Provider::Ses).then(|| KeyPair {
                    key_id: format!("AKID{i}"),
                    session_token: None,
                    region: "eu-west-1".to_string(),
                }),
                subject: (provider == Provider::GmailPostmaster)
                    .then(|| "postmaster@example.com".to_string()),
            },
            schedule: schedule.clone(),
            scenario: None,
        })
        .collect())
}

/// Polls every account once and reads back what the mock saw of it.
async fn cycle(poller: &Arc<Poller>, port: u16) -> Result<Cycle, Box<dyn std::error::Error>> {
    let started_epoch = epoch_micros();
    let started = Instant::now();
    let reports = poller.poll_all().await;
    let wall = started.elapsed();
    // `/__log` hands over what the mock saw since it was last asked.
    let log: MockLog = reqwest::get(format!("http://127.0.0.1:{port}/__log"))
        .await?
        .json()
        .await?;
    let after_start = |at: u64| at.saturating_sub(started_epoch) as f64 / 1000.0;
    Ok(Cycle {
        wall,
        requests: log.arrivals.len(),
        stored: reports
            .iter()
            .map(|r| match r.outcome {
                PollOutcome::Stored { samples, .. } => samples,
                _ => 0,
            })
            .sum(),
        failed: reports
            .iter()
            .filter(|r| !matches!(r.outcome, PollOutcome::Stored { .. }))
            .count(),
        slowest_requests: log.per_account.values().copied().max().unwrap_or(0),
        first_arrival: log.arrivals.iter().min().map_or(0.0, |a| after_start(*a)),
        last_arrival: log.arrivals.iter().max().map_or(0.0, |a| after_start(*a)),
        last_answer: log.answers.iter().max().map_or(0.0, |a| after_start(*a)),
    })
}

/// Rounds measured: each opens a fresh store and polls twice.
const ROUNDS: usize = 7;

/// The pause before each measured cycle. Dropping a round's poller closes
/// its ~1,300 connections, and the poller and the mock finish that work in
/// the background: without the pause it ran into the next round's first
/// cycle (measured: its first request reached the mock 36–53 ms in,
/// against 1–6 ms with it). A bot polls minutes apart, so no cycle of its
/// own starts during such a teardown.
const SETTLE: Duration = Duration::from_millis(500);

/// `cargo bench --bench poll_cycle -- mixed` (or `-- sendgrid`, `-- all`)
/// runs one setup alone, so its peak RSS is its own; without any, all run
/// and each peak includes the ones before.
async fn bench(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let only = |name: &str| args.iter().any(|a| a == name);
    let every = !only("mixed") && !only("sendgrid") && !only("all");
    if every || only("sendgrid") {
        bench_setup(port, "SendGrid only", &[Provider::SendGrid], None).await?;
    }
    if every || only("mixed") {
        // No request of the mixed cycle depends on another: a chain of one.
        bench_setup(port, "providers mixed", &MIXED, Some((1, 1))).await?;
    }
    if every || only("all") {
        // Gmail's grant, then its domains: a chain of two. The next cycle
        // uses the token the first one kept: a chain of one.
        bench_setup(port, "every source", &ALL_SOURCES, Some((2, 1))).await?;
    }
    Ok(())
}

/// `-- all --max-connections N`: the poller's `[poll] max_connections`,
/// to measure time against memory; unset, as many as the open-file limit
/// allows, as in the service.
fn max_connections_arg() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == "--max-connections")
        .and_then(|pair| pair[1].parse().ok())
}

/// Rounds of one setup. `chain` is the longest run of requests one account
/// must make one after another in the first cycle and in the next, when
/// known; otherwise the slowest account's request count is used (SendGrid:
/// one request per account).
async fn bench_setup(
    port: u16,
    setup: &str,
    providers: &[Provider],
    chain: Option<(usize, usize)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let max_connections = max_connections_arg();
    println!(
        "== {setup}{}",
        max_connections
            .map(|n| format!(", [poll] max_connections = {n}"))
            .unwrap_or_default()
    );
    let settings = PollerSettings {
        max_connections: max_connections.unwrap_or(usize::MAX),
        ..PollerSettings::default()
    };
    let rss_before = peak_rss_kib();
    let mut first_round_rss = None;
    let mut first_cycles = Vec::new();
    let mut next_cycles = Vec::new();
    for round in 0..ROUNDS {
        let root = std::path::PathBuf::from(format!("target/bench-poll/{round}"));
        let _ = std::fs::remove_dir_all(&root);
        let store = SledStore::open(&root.join("db"))?;
        let history = Arc::new(store.history()?);
        let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
        let poller = Arc::new(Poller::new(
            accounts(port, providers)?,
            // As the service builds it: within the open-file limit.
            mailcall::service::within_open_file_limit(settings.clone()),
            history,
            Arc::new(SystemClock),
            events,
        ));
        for (label, cycles, chain) in [
            ("empty store", &mut first_cycles, chain.map(|c| c.0)),
            ("history present", &mut next_cycles, chain.map(|c| c.1)),
        ] {
            tokio::time::sleep(SETTLE).await;
            let mut figures = cycle(&poller, port).await?;
            if let Some(chain) = chain {
                figures.slowest_requests = chain;
            }
            println!(
                "round {round}, {label:>15}: {:6.1} ms, ratio {:.2}x; {} requests, {} samples stored, {} failed; requests reached the mock {:.1}–{:.1} ms in, the last answer left it at {:.1} ms",
                figures.wall.as_secs_f64() * 1000.0,
                figures.ratio(),
                figures.requests,
                figures.stored,
                figures.failed,
                figures.first_arrival,
                figures.last_arrival,
                figures.last_answer,
            );
            cycles.push(figures);
        }
        drop(poller);
        drop(store);
        let _ = std::fs::remove_dir_all(&root);
        if round == 0 {
            first_round_rss = peak_rss_kib();
        }
    }
    println!(
        "poll cycle ({setup}): {ACCOUNTS} accounts, {} streams; the longest chain of requests one account makes in turn: {} × 100 ms in the first cycle, {} × 100 ms in the next; goal: cycle <= 1.50x that",
        accounts(port, providers)?
            .iter()
            .map(|a| match &a.account.streams {
                StreamSelection::Named(streams) => streams.len(),
                _ => 1,
            })
            .sum::<usize>(),
        first_cycles.first().map_or(0, |c| c.slowest_requests),
        next_cycles.first().map_or(0, |c| c.slowest_requests),
    );
    for (label, cycles) in [
        ("first cycle (empty store)", &mut first_cycles),
        ("next cycle (history present)", &mut next_cycles),
    ] {
        cycles.sort_by_key(|c| c.wall);
        let ms = |c: &Cycle| c.wall.as_secs_f64() * 1000.0;
        if let (Some(best), Some(median), Some(worst)) =
            (cycles.first(), cycles.get(cycles.len() / 2), cycles.last())
        {
            println!(
                "{label}: median {:.1} ms ({:.2}x), best {:.1} ms, worst {:.1} ms ({:.2}x) over {} rounds",
                ms(median),
                median.ratio(),
                ms(best),
                ms(worst),
                worst.ratio(),
                cycles.len()
            );
        }
    }
    let mb = |kib: Option<u64>| kib.unwrap_or(0) as f64 / 1024.0;
    println!(
        "peak RSS {:.1} MB after the first round (one store, two cycles; {:.1} MB before it; goal <= 80 MB, mixed <= 50 MB), {:.1} MB after all {ROUNDS} (each round opens and drops its own store; freed memory is not all returned to the system)",
        mb(first_round_rss),
        mb(rss_before),
        mb(peak_rss_kib()),
    );
    Ok(())
}
