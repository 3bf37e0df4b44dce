//! Detection quality, measured end to end: labelled incidents and benign
//! events in generated traffic, served by a Mailgun Metrics API on loopback,
//! polled hourly by the real poller through the real client into a real
//! store, judged live by the engine's alert desk, and replayed afterwards
//! with `replay` (the same desk over the stored history). Each incident is
//! caught or missed, with its delay; every other alert is a false alarm.
//!
//! The traffic: nine hourly streams (20 to 20,000 messages an hour at a
//! weekday peak; automations, transactional mail, newsletters with no
//! weekend sends) and two daily-only streams, with binomial event counts
//! (so low volumes are as noisy as real ones), the provider's own quirks
//! (soft bounces include blocks; the current hour is partial; counts of
//! the last quarter hour are still arriving), five weeks of history before
//! four scored weeks (which contain both European and US DST changes; the
//! buckets are UTC, so they do not move).
//!
//! The scores are printed (`cargo test detection_suite -- --nocapture`) and
//! written to the README; the assertions pin the goals the detectors meet,
//! so a regression fails here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Timelike, Utc, Weekday};
use serde_json::{json, Value};

use mailcall::alert::AlertEffect;
use mailcall::alerting::replay::{replay, ReplayRange};
use mailcall::clock::{Clock, ManualClock};
use mailcall::command::{Effect, Engine};
use mailcall::config::Config;
use mailcall::delivery::StreamKey;
use mailcall::poll::{Poller, PollerSettings};
use mailcall::store::{MetricsHistory, SledStore};

// ---------------------------------------------------------------------------
// The traffic.

#[derive(Clone, Copy, PartialEq)]
enum Profile {
    Automation,
    Transactional,
    Newsletter,
}

struct Stream {
    account: &'static str,
    tag: &'static str,
    peak: f64,
    profile: Profile,
}

const HOURLY: &str = "mg-hourly";
const DAILY: &str = "mg-daily";

const STREAMS: [Stream; 11] = [
    Stream {
        account: HOURLY,
        tag: "welcome",
        peak: 900.0,
        profile: Profile::Automation,
    },
    Stream {
        account: HOURLY,
        tag: "welcome-small",
        peak: 150.0,
        profile: Profile::Automation,
    },
    Stream {
        account: HOURLY,
        tag: "tiny",
        peak: 20.0,
        profile: Profile::Automation,
    },
    Stream {
        account: HOURLY,
        tag: "onboarding",
        peak: 300.0,
        profile: Profile::Automation,
    },
    Stream {
        account: HOURLY,
        tag: "reminders",
        peak: 500.0,
        profile: Profile::Automation,
    },
    Stream {
        account: HOURLY,
        tag: "receipts",
        peak: 2_000.0,
        profile: Profile::Transactional,
    },
    Stream {
        account: HOURLY,
        tag: "resets",
        peak: 60.0,
        profile: Profile::Transactional,
    },
    Stream {
        account: HOURLY,
        tag: "newsletter",
        peak: 12_000.0,
        profile: Profile::Newsletter,
    },
    Stream {
        account: HOURLY,
        tag: "promo",
        peak: 20_000.0,
        profile: Profile::Newsletter,
    },
    Stream {
        account: DAILY,
        tag: "digest",
        peak: 400.0,
        profile: Profile::Automation,
    },
    Stream {
        account: DAILY,
        tag: "statements",
        peak: 100.0,
        profile: Profile::Transactional,
    },
];

/// What happens to a stream for a while.
#[derive(Clone, Copy, Debug)]
enum Trouble {
    /// Hard bounce rate times this.
    Bounce(f64),
    Complaint(f64),
    Deferral(f64),
    Block(f64),
    /// Opens times this (broken tracking).
    Opens(f64),
    /// Clicks times this (broken links).
    Clicks(f64),
    Unsubscribe(f64),
    Silence,
    /// Volume times this: a runaway automation (an incident) or a planned
    /// campaign, a holiday (benign).
    Volume(f64),
    /// The provider reports nothing for these buckets.
    Missing,
}

struct Episode {
    tag: &'static str,
    trouble: Trouble,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The metrics an alert must name to catch it; `None` for benign events.
    incident: Option<&'static [&'static str]>,
    label: &'static str,
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad date"))
}

/// History starts on a Monday; five weeks of warm-up, then four scored.
fn history_start() -> DateTime<Utc> {
    at(2026, 9, 7, 0)
}
fn scored_start() -> DateTime<Utc> {
    history_start() + Duration::weeks(5)
}
fn scored_end() -> DateTime<Utc> {
    scored_start() + Duration::weeks(4)
}

fn episodes() -> Vec<Episode> {
    let incident = |tag, trouble, start: DateTime<Utc>, hours: i64, metrics, label| Episode {
        tag,
        trouble,
        start,
        end: start + Duration::hours(hours),
        incident: Some(metrics),
        label,
    };
    let benign = |tag, trouble, start: DateTime<Utc>, hours: i64, label| Episode {
        tag,
        trouble,
        start,
        end: start + Duration::hours(hours),
        incident: None,
        label,
    };
    let mut all = vec![
        incident(
            "welcome",
            Trouble::Bounce(12.0),
            at(2026, 10, 13, 14),
            6,
            &["bounce"][..],
            "bounce spike, 900/h",
        ),
        incident(
            "welcome-small",
            Trouble::Bounce(12.0),
            at(2026, 10, 14, 15),
            6,
            &["bounce"][..],
            "bounce spike, 150/h",
        ),
        incident(
            "tiny",
            Trouble::Bounce(12.0),
            at(2026, 10, 15, 13),
            12,
            &["bounce"][..],
            "bounce spike, 20/h",
        ),
        incident(
            "receipts",
            Trouble::Complaint(15.0),
            at(2026, 10, 19, 10),
            6,
            &["complaint"][..],
            "complaint spike",
        ),
        incident(
            "receipts",
            Trouble::Deferral(10.0),
            at(2026, 10, 20, 3),
            4,
            &["deferral"][..],
            "deferrals at night",
        ),
        incident(
            "onboarding",
            Trouble::Block(20.0),
            at(2026, 10, 21, 11),
            6,
            &["block"][..],
            "blocks",
        ),
        incident(
            "newsletter",
            Trouble::Opens(0.05),
            at(2026, 10, 22, 9),
            8,
            &["open"][..],
            "tracking broken",
        ),
        incident(
            "promo",
            Trouble::Clicks(0.05),
            at(2026, 10, 27, 9),
            8,
            &["click"][..],
            "links broken",
        ),
        incident(
            "newsletter",
            Trouble::Unsubscribe(12.0),
            at(2026, 10, 28, 10),
            4,
            &["unsubscribe"][..],
            "unsubscribe spike",
        ),
        incident(
            "onboarding",
            Trouble::Silence,
            at(2026, 10, 30, 8),
            72,
            &["volume"][..],
            "automation silent",
        ),
        incident(
            "reminders",
            Trouble::Volume(6.0),
            at(2026, 11, 3, 14),
            3,
            &["volume"][..],
            "runaway automation",
        ),
        incident(
            "resets",
            Trouble::Bounce(12.0),
            at(2026, 11, 4, 12),
            6,
            &["bounce"][..],
            "bounce spike, 60/h",
        ),
        incident(
            "digest",
            Trouble::Bounce(10.0),
            at(2026, 10, 15, 0),
            48,
            &["bounce"][..],
            "daily: bounce spike",
        ),
        incident(
            "digest",
            Trouble::Silence,
            at(2026, 10, 29, 0),
            72,
            &["volume"][..],
            "daily: silent",
        ),
        benign(
            "newsletter",
            Trouble::Volume(2.0),
            at(2026, 10, 13, 9),
            8,
            "a bigger newsletter than usual",
        ),
        benign(
            "promo",
            Trouble::Volume(4.0),
            at(2026, 10, 29, 10),
            3,
            "planned campaign in a quiet window",
        ),
        benign(
            "welcome",
            Trouble::Missing,
            at(2026, 10, 26, 0),
            6,
            "6 hours missing from the feed",
        ),
    ];
    // A holiday: every stream at half its volume for a day.
    for stream in &STREAMS {
        all.push(benign(
            stream.tag,
            Trouble::Volume(0.5),
            at(2026, 11, 5, 0),
            24,
            "holiday",
        ));
    }
    all
}

/// How busy this hour is for this profile, 0..=1 (weekday UTC rhythm).
fn rhythm(profile: Profile, hour: DateTime<Utc>) -> f64 {
    let weekend = matches!(hour.weekday(), Weekday::Sat | Weekday::Sun);
    let h = f64::from(hour.hour());
    let day = 0.12 + 0.88 * (-((h - 14.0) / 4.5).powi(2)).exp();
    match profile {
        Profile::Automation => day * if weekend { 0.55 } else { 1.0 },
        Profile::Transactional => (0.4 + 0.6 * day) * if weekend { 0.8 } else { 1.0 },
        Profile::Newsletter if weekend || !(8.0..18.0).contains(&h) => 0.0,
        Profile::Newsletter => day,
    }
}

fn rng_for(tag: &str, hour: DateTime<Utc>) -> fastrand::Rng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tag.bytes().chain(hour.timestamp().to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    fastrand::Rng::with_seed(hash)
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(1e-12);
    let v = rng.f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Binomial(n, p), drawn as Poisson for small means, normal for large.
fn draw(rng: &mut fastrand::Rng, n: u64, p: f64) -> u64 {
    let mean = n as f64 * p.clamp(0.0, 1.0);
    let x = if mean < 30.0 {
        let limit = (-mean).exp();
        let mut k = 0u64;
        let mut product = rng.f64();
        while product > limit {
            k += 1;
            product *= rng.f64();
        }
        k
    } else {
        (mean + (mean * (1.0 - p)).sqrt() * normal(rng))
            .round()
            .max(0.0) as u64
    };
    x.min(n)
}

/// One hour's final counts of one stream, in Mailgun's terms.
#[derive(Clone, Copy, Default)]
struct Hour {
    sent: u64,
    delivered: u64,
    hard: u64,
    soft_only: u64,
    blocks: u64,
    deferred: u64,
    opens: u64,
    clicks: u64,
    complaints: u64,
    unsubscribes: u64,
}

fn hour_counts(stream: &Stream, hour: DateTime<Utc>, episodes: &[Episode]) -> Option<Hour> {
    let active: Vec<Trouble> = episodes
        .iter()
        .filter(|e| e.tag == stream.tag && e.start <= hour && hour < e.end)
        .map(|e| e.trouble)
        .collect();
    if active.iter().any(|t| matches!(t, Trouble::Missing)) {
        return None;
    }
    let factor =
        |pick: fn(&Trouble) -> Option<f64>| active.iter().filter_map(pick).product::<f64>();
    let mut rng = rng_for(stream.tag, hour);
    let silent = active.iter().any(|t| matches!(t, Trouble::Silence));
    let volume_factor = factor(|t| match t {
        Trouble::Volume(f) => Some(*f),
        _ => None,
    });
    let mean = stream.peak * rhythm(stream.profile, hour) * volume_factor;
    let sent = if silent || mean <= 0.0 {
        0
    } else {
        (mean * (1.0 + 0.08 * normal(&mut rng))).round().max(0.0) as u64
    };
    let rate = |base: f64, pick: fn(&Trouble) -> Option<f64>| base * factor(pick);
    let hard = draw(
        &mut rng,
        sent,
        rate(0.003, |t| match t {
            Trouble::Bounce(f) => Some(*f),
            _ => None,
        }),
    );
    let soft_only = draw(&mut rng, sent - hard, 0.004);
    let blocks = draw(
        &mut rng,
        sent - hard - soft_only,
        rate(0.001, |t| match t {
            Trouble::Block(f) => Some(*f),
            _ => None,
        }),
    );
    let delivered = sent - hard - soft_only - blocks;
    Some(Hour {
        sent,
        delivered,
        hard,
        soft_only,
        blocks,
        deferred: draw(
            &mut rng,
            sent,
            rate(0.01, |t| match t {
                Trouble::Deferral(f) => Some(*f),
                _ => None,
            }),
        ),
        opens: draw(
            &mut rng,
            delivered,
            rate(0.25, |t| match t {
                Trouble::Opens(f) => Some(*f),
                _ => None,
            }),
        ),
        clicks: draw(
            &mut rng,
            delivered,
            rate(0.03, |t| match t {
                Trouble::Clicks(f) => Some(*f),
                _ => None,
            }),
        ),
        complaints: draw(
            &mut rng,
            delivered,
            rate(0.0002, |t| match t {
                Trouble::Complaint(f) => Some(*f),
                _ => None,
            }),
        ),
        unsubscribes: draw(
            &mut rng,
            delivered,
            rate(0.0015, |t| match t {
                Trouble::Unsubscribe(f) => Some(*f),
                _ => None,
            }),
        ),
    })
}

/// A bucket as Mailgun would report it at `now`: the part of it that has
/// happened, and of its last quarter hour only 70% of the events (they are
/// still being counted).
fn reported(
    stream: &Stream,
    start: DateTime<Utc>,
    width: Duration,
    now: DateTime<Utc>,
    episodes: &[Episode],
) -> Option<Value> {
    let mut total = Hour::default();
    let mut any = false;
    let mut hour = start;
    while hour < start + width && hour < now {
        if let Some(h) = hour_counts(stream, hour, episodes) {
            any = true;
            let elapsed = ((now - hour).num_seconds() as f64 / 3600.0).min(1.0);
            let lag = if now - hour < Duration::minutes(75) {
                0.7
            } else {
                1.0
            };
            let part = |n: u64, lagged: bool| {
                let x = n as f64 * elapsed;
                (if lagged { x * lag } else { x }).floor() as u64
            };
            total.sent += part(h.sent, false);
            total.delivered += part(h.delivered, false);
            total.hard += part(h.hard, true);
            total.soft_only += part(h.soft_only, true);
            total.blocks += part(h.blocks, true);
            total.deferred += part(h.deferred, true);
            total.opens += part(h.opens, true);
            total.clicks += part(h.clicks, true);
            total.complaints += part(h.complaints, true);
            total.unsubscribes += part(h.unsubscribes, true);
        }
        hour += Duration::hours(1);
    }
    if !any {
        return None;
    }
    let time = start.format("%a, %d %b %Y %H:%M:%S +0000").to_string();
    Some(json!({
        "dimensions": [{"dimension": "time", "value": time, "display_value": time}],
        "metrics": {
            "accepted_outgoing_count": total.sent,
            "sent_count": total.sent,
            "delivered_count": total.delivered,
            "hard_bounces_count": total.hard,
            // Mailgun's soft bounces include the blocks.
            "soft_bounces_count": total.soft_only + total.blocks,
            "permanent_failed_esp_block_count": total.blocks,
            "temporary_failed_count": total.deferred,
            "suppressed_bounces_count": 0,
            "suppressed_unsubscribed_count": 0,
            "suppressed_complaints_count": 0,
            "unique_opened_count": total.opens,
            "unique_clicked_count": total.clicks,
            "complained_count": total.complaints,
            "unsubscribed_count": total.unsubscribes,
        }
    }))
}

// ---------------------------------------------------------------------------
// The provider on loopback.

#[derive(Clone)]
struct Provider {
    clock: Arc<ManualClock>,
    episodes: Arc<Vec<Episode>>,
    requests: Arc<Mutex<u64>>,
}

async fn metrics(State(provider): State<Provider>, Json(body): Json<Value>) -> Json<Value> {
    if let Ok(mut n) = provider.requests.lock() {
        *n += 1;
    }
    let now = provider.clock.now();
    let time = |key: &str| {
        body[key]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
            .map(|t| t.to_utc())
    };
    let (Some(start), Some(end)) = (time("start"), time("end")) else {
        return Json(json!({"message": "start and end are required"}));
    };
    let width = match body["resolution"].as_str() {
        Some("day") => Duration::days(1),
        _ => Duration::hours(1),
    };
    let tag = body["filter"]["AND"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["attribute"] == "tag")
        .and_then(|f| f["values"][0]["value"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut items = Vec::new();
    if let Some(stream) = STREAMS.iter().find(|s| s.tag == tag) {
        let mut bucket = start.duration_trunc(width).unwrap_or(start);
        while bucket < end && bucket < now {
            if let Some(item) = reported(stream, bucket, width, now, &provider.episodes) {
                items.push(item);
            }
            bucket += width;
        }
    }
    let total = items.len();
    Json(json!({
        "start": body["start"], "end": body["end"], "resolution": body["resolution"],
        "items": items,
        "pagination": {"sort": "time:asc", "skip": 0, "limit": 1500, "total": total},
    }))
}

// ---------------------------------------------------------------------------
// Scoring.

#[derive(Clone, Debug)]
struct Raised {
    stream: String,
    metric: String,
    kind: String,
    raised_at: DateTime<Utc>,
    summary: String,
}

struct Score {
    caught: Vec<(String, Option<Duration>)>,
    false_alarms: Vec<Raised>,
    benign_hits: Vec<(String, Raised)>,
}

fn score(raised: &[Raised], episodes: &[Episode]) -> Score {
    let matches = |r: &Raised, e: &Episode| {
        r.stream == format!("tag:{}", e.tag)
            && r.raised_at >= e.start
            && r.raised_at <= e.end + Duration::days(1)
    };
    let caught = episodes
        .iter()
        .filter_map(|e| e.incident.map(|metrics| (e, metrics)))
        .map(|(e, metrics)| {
            let first = raised
                .iter()
                .filter(|r| matches(r, e) && metrics.contains(&r.metric.as_str()))
                .map(|r| r.raised_at - e.start)
                .min();
            (format!("{} ({})", e.label, e.tag), first)
        })
        .collect();
    let mut false_alarms = Vec::new();
    let mut benign_hits = Vec::new();
    for r in raised {
        let explained = episodes
            .iter()
            .filter(|e| e.incident.is_some())
            .any(|e| matches(r, e));
        if explained {
            continue;
        }
        match episodes
            .iter()
            .find(|e| e.incident.is_none() && matches(r, e))
        {
            Some(e) => benign_hits.push((e.label.to_string(), r.clone())),
            None => false_alarms.push(r.clone()),
        }
    }
    Score {
        caught,
        false_alarms,
        benign_hits,
    }
}

fn report(name: &str, score: &Score) -> String {
    let mut out = format!("\n{name}\n| incident | caught after |\n|---|---|\n");
    for (label, delay) in &score.caught {
        let delay = delay
            .map(|d| format!("{} h {:02} min", d.num_hours(), d.num_minutes() % 60))
            .unwrap_or_else(|| "**missed**".into());
        out.push_str(&format!("| {label} | {delay} |\n"));
    }
    let stream_months = STREAMS.len() as f64 * 28.0 / 30.0;
    out.push_str(&format!(
        "false alarms: {} ({:.2} per stream-month); on benign events: {}\n",
        score.false_alarms.len(),
        score.false_alarms.len() as f64 / stream_months,
        score.benign_hits.len()
    ));
    for r in &score.false_alarms {
        out.push_str(&format!(
            "  false alarm: {} {} {} at {}: {}\n",
            r.stream, r.metric, r.kind, r.raised_at, r.summary
        ));
    }
    for (label, r) in &score.benign_hits {
        out.push_str(&format!(
            "  on benign event \"{label}\": {} {} {} at {}: {}\n",
            r.stream, r.metric, r.kind, r.raised_at, r.summary
        ));
    }
    out
}

fn config_text(dir: &std::path::Path, port: u16) -> String {
    let tags = |account: &str| {
        STREAMS
            .iter()
            .filter(|s| s.account == account)
            .map(|s| format!("\"tag:{}\"", s.tag))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"[store]
path = {store:?}

[[esp]]
name = "{HOURLY}"
provider = "mailgun"
domain = "mg.example.com"
base_url = "http://127.0.0.1:{port}"
credential_file = {key:?}
streams = [{hourly}]
bucket = "hour"
window_hours = 6
schedule = "25 * * * *"

[[esp]]
name = "{DAILY}"
provider = "mailgun"
domain = "mg.example.com"
base_url = "http://127.0.0.1:{port}"
credential_file = {key:?}
streams = [{daily}]
bucket = "day"
window_hours = 96
settle_minutes = 60
schedule = "25 * * * *"

[[alerts.quiet]]
match = "stream=tag:promo metric=volume"
schedule = "0 10 * * THU"
timezone = "UTC"
hours = 3
reason = "planned Thursday campaign"
"#,
        store = dir.join("db").display().to_string(),
        key = dir.join("mailgun.key").display().to_string(),
        hourly = tags(HOURLY),
        daily = tags(DAILY),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_incidents_are_caught_within_one_complete_bucket_and_benign_events_stay_quiet() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(scored_start() + Duration::minutes(25)));
    let provider = Provider {
        clock: clock.clone(),
        episodes: Arc::new(episodes()),
        requests: Arc::new(Mutex::new(0)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let app = Router::new()
        .route("/v1/analytics/metrics", post(metrics))
        .with_state(provider.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    std::fs::write(dir.path().join("mailgun.key"), "key-suite\n").unwrap_or_else(|e| panic!("{e}"));
    let config_file = dir.path().join("mailcall.toml");
    std::fs::write(&config_file, config_text(dir.path(), port)).unwrap_or_else(|e| panic!("{e}"));
    let config = Config::load(&config_file).unwrap_or_else(|e| panic!("{e}"));

    let store = SledStore::open(&config.store_path).unwrap_or_else(|e| panic!("{e}"));
    let history = Arc::new(
        store
            .history()
            .unwrap_or_else(|e| panic!("{e}"))
            .keeping(config.keep_history),
    );
    let planned: Vec<_> = config
        .esp
        .iter()
        .map(|e| e.plan(clock.now()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let (events, _feed) = tokio::sync::mpsc::unbounded_channel();
    let settings = PollerSettings {
        jitter: std::time::Duration::ZERO,
        attempts: 1,
        ..PollerSettings::default()
    };
    let poller = Poller::new(
        planned.clone(),
        settings,
        history.clone(),
        clock.clone(),
        events,
    );

    let started = std::time::Instant::now();
    // Warm-up: five weeks of history, fetched a week at a time.
    let mut from = history_start();
    while from < scored_start() {
        let window = mailcall::esp::client::Window {
            start: from,
            end: (from + Duration::weeks(1)).min(scored_start()),
        };
        for account in &planned {
            let report = poller.poll_window(account, Some(window)).await;
            assert!(
                matches!(report.outcome, mailcall::poll::PollOutcome::Stored { .. }),
                "warm-up poll of {} failed: {:?}",
                account.account.name,
                report.outcome
            );
        }
        from += Duration::weeks(1);
    }

    eprintln!("warm-up: {:?}", started.elapsed());
    // Four weeks of hourly polls at HH:25, judged live after each.
    let mut engine = Engine::new(store, clock.clone())
        .with_history(history.clone())
        .with_alerts(config.alerting.clone(), config.quiet_windows.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut live: BTreeMap<u64, Raised> = BTreeMap::new();
    let mut now = scored_start() + Duration::minutes(25);
    while now < scored_end() {
        clock.set(now);
        for account in &planned {
            let report = poller.poll_window(account, None).await;
            assert!(
                matches!(report.outcome, mailcall::poll::PollOutcome::Stored { .. }),
                "poll of {} at {now} failed: {:?}",
                account.account.name,
                report.outcome
            );
            let effects = engine
                .after_poll(&account.account.name)
                .unwrap_or_else(|e| panic!("{e}"));
            for effect in effects
                .iter()
                .chain(engine.alert_tick().unwrap_or_else(|e| panic!("{e}")).iter())
            {
                if let Effect::Alert(alert) = effect {
                    if let AlertEffect::Open { alert } = alert.as_ref() {
                        live.insert(
                            alert.id,
                            Raised {
                                stream: alert.key.stream.to_string(),
                                metric: alert.key.metric.to_string(),
                                kind: alert.key.kind.to_string(),
                                raised_at: now,
                                summary: alert.finding.summary.clone(),
                            },
                        );
                    }
                }
            }
        }
        now += Duration::hours(1);
    }
    server.abort();
    eprintln!("live: {:?}", started.elapsed());

    // Provider truth: every stored hourly bucket holds exactly the counts
    // behind the provider's answers, per canonical field (soft bounces net
    // of the blocks Mailgun puts inside them, blocks once, deferrals), and
    // the buckets the provider did not report are absent, not zero.
    let truth_episodes = episodes();
    let mut checked = 0;
    for stream in STREAMS.iter().filter(|s| s.account == HOURLY) {
        let stored = history
            .series(HOURLY, &StreamKey::tag(stream.tag), scored_start())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut hour = scored_start();
        while hour < scored_end() - Duration::hours(1) {
            let sample = stored.iter().find(|s| s.bucket.start == hour);
            match (hour_counts(stream, hour, &truth_episodes), sample) {
                (None, None) => {}
                (Some(truth), Some(sample)) => {
                    let c = &sample.counts;
                    assert_eq!(
                        (
                            c.sent,
                            c.delivered,
                            c.bounce_hard,
                            c.bounce_soft,
                            c.blocked,
                            c.deferred
                        ),
                        (
                            Some(truth.sent),
                            Some(truth.delivered),
                            Some(truth.hard),
                            Some(truth.soft_only),
                            Some(truth.blocks),
                            Some(truth.deferred)
                        ),
                        "{} at {hour}",
                        stream.tag
                    );
                    assert_eq!(
                        (
                            c.opens_unique,
                            c.clicks_unique,
                            c.complaints,
                            c.unsubscribes
                        ),
                        (
                            Some(truth.opens),
                            Some(truth.clicks),
                            Some(truth.complaints),
                            Some(truth.unsubscribes)
                        ),
                        "{} at {hour}",
                        stream.tag
                    );
                    checked += 1;
                }
                (truth, sample) => panic!(
                    "{} at {hour}: provider {} but store {}",
                    stream.tag,
                    if truth.is_some() {
                        "reported it"
                    } else {
                        "did not"
                    },
                    if sample.is_some() {
                        "has it"
                    } else {
                        "does not"
                    }
                ),
            }
            hour += Duration::hours(1);
        }
    }
    assert!(checked > 9 * 600, "{checked} buckets checked");

    // The same history, replayed.
    let mut samples = Vec::new();
    for (account, stream) in history.streams().unwrap_or_else(|e| panic!("{e}")) {
        for sample in history
            .series(&account, &stream, history_start())
            .unwrap_or_else(|e| panic!("{e}"))
        {
            samples.push((account.clone(), sample));
        }
    }
    let replayed = replay(
        samples,
        config.alerting.clone(),
        config.quiet_windows.clone(),
        None,
        &ReplayRange {
            since: scored_start() + Duration::minutes(25),
            until: scored_end(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let replayed: Vec<Raised> = replayed
        .into_iter()
        .map(|a| Raised {
            stream: a.stream,
            metric: a.metric,
            kind: a.kind,
            raised_at: a.raised_at,
            summary: a.summary,
        })
        .collect();

    eprintln!("replay: {:?}", started.elapsed());
    let episodes = episodes();
    let live_score = score(&live.into_values().collect::<Vec<_>>(), &episodes);
    let replay_score = score(&replayed, &episodes);
    let text = format!(
        "{}{}",
        report(
            "Live (hourly polls at HH:25, partial and still-counting buckets)",
            &live_score
        ),
        report("Replay over the stored history", &replay_score)
    );
    eprintln!("{text}");

    // The goals: every incident caught within one complete bucket plus
    // the settle delay and the poll interval (hourly streams: 2 hours;
    // daily: by the first poll after the day settles, 26 hours), at most
    // one false alarm per stream-month, none on the benign events. Three
    // incidents miss the delay goal, and the assertions say by how much:
    // twenty times the blocks on 300 an hour (three blocks in the first
    // hour are not yet told from chance, even against a baseline widened
    // to twenty events), and bounce spikes on streams of 60
    // and 20 messages an hour, where one hour holds a handful of events and
    // pooling hours is what makes them visible at all (the 20-an-hour
    // stream is missed: twelve times 0.3% of 20 is under one bounce an
    // hour).
    let ceiling = |label: &str| -> Option<Duration> {
        if label.contains("20/h") {
            None
        } else if label.contains("60/h") {
            Some(Duration::hours(6))
        } else if label.starts_with("blocks") {
            Some(Duration::hours(3))
        } else if label.contains("daily") {
            Some(Duration::hours(26))
        } else {
            Some(Duration::hours(2))
        }
    };
    let stream_months = STREAMS.len() as f64 * 28.0 / 30.0;
    for (name, s) in [("live", &live_score), ("replay", &replay_score)] {
        for (label, delay) in &s.caught {
            if let Some(limit) = ceiling(label) {
                assert!(
                    delay.is_some_and(|d| d <= limit),
                    "{name}: {label} caught after {delay:?}, goal {limit}\n{text}"
                );
            }
        }
        assert!(
            s.false_alarms.len() as f64 / stream_months <= 1.0,
            "{name}: more than one false alarm per stream-month\n{text}"
        );
        assert!(
            s.benign_hits.is_empty(),
            "{name}: alerts on benign events\n{text}"
        );
    }
}
