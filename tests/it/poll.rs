//! The poller: retries, stale feeds, no overlapping polls, bounded
//! concurrency, and history that survives restarts without duplicating or
//! losing a bucket. Providers are the sandbox or a loopback mock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use mailcall::clock::{Clock, ManualClock};
use mailcall::delivery::{BucketWidth, StreamKey};
use mailcall::esp::account::{Account, Credential, Provider, StreamSelection};
use mailcall::esp::sandbox::Scenario;
use mailcall::poll::{FeedEvent, PlannedAccount, PollOutcome, Poller, PollerSettings};
use mailcall::schedule::Schedule;
use mailcall::store::{MetricsHistory, SledStore};

const SECRET: &str = "SG.very-secret-key";

fn now() -> DateTime<Utc> {
    "2026-11-20T12:00:00Z".parse().unwrap_or_default()
}

fn hourly() -> Schedule {
    Schedule::parse("0 * * * *", "Europe/Paris").unwrap_or_else(|e| panic!("{e}"))
}

fn sandbox(name: &str) -> PlannedAccount {
    PlannedAccount {
        account: Account {
            name: name.into(),
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
        schedule: hourly(),
        scenario: Some(Scenario::steady()),
    }
}

fn sendgrid(name: &str, port: u16) -> PlannedAccount {
    PlannedAccount {
        account: Account {
            name: name.into(),
            provider: Provider::SendGrid,
            base_url: format!("http://127.0.0.1:{port}"),
            credential: Credential::new(SECRET),
            domain: None,
            streams: StreamSelection::Account,
            bucket: BucketWidth::Day,
            window: Duration::from_secs(48 * 3600),
            timeout: Duration::from_secs(2),
            key_pair: None,
            subject: None,
        },
        schedule: hourly(),
        scenario: None,
    }
}

fn quick() -> PollerSettings {
    PollerSettings {
        attempts: 3,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        stale_after: 3,
        jitter: Duration::ZERO,
        ..PollerSettings::default()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: SledStore,
    clock: Arc<ManualClock>,
    events: mpsc::UnboundedReceiver<FeedEvent>,
    poller: Arc<Poller>,
}

fn setup(accounts: Vec<PlannedAccount>, settings: PollerSettings) -> Setup {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let history = store.history().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(now()));
    let (tx, events) = mpsc::unbounded_channel();
    let poller = Arc::new(Poller::new(
        accounts,
        settings,
        Arc::new(history),
        clock.clone(),
        tx,
    ));
    Setup {
        _dir: dir,
        store,
        clock,
        events,
        poller,
    }
}

/// One scripted answer: a status and an optional Retry-After.
type Step = (u16, Option<&'static str>);

/// A SendGrid-shaped mock: answers with `script` statuses in turn (then
/// 200s), serving one day of global stats dated inside the test window.
#[derive(Clone, Default)]
struct Mock {
    script: Arc<Mutex<Vec<Step>>>,
    hits: Arc<Mutex<Vec<Instant>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    delay: Duration,
    body: Option<&'static str>,
}

const STATS: &str = r#"[{"date":"2026-11-19","stats":[{"metrics":{"blocks":1,"bounce_drops":0,"bounces":12,"clicks":40,"deferred":3,"delivered":980,"invalid_emails":0,"opens":300,"processed":1000,"requests":1005,"spam_report_drops":0,"spam_reports":1,"unique_clicks":30,"unique_opens":250,"unsubscribe_drops":0,"unsubscribes":2}}]}]"#;

impl Mock {
    async fn serve(self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let mock = self.clone();
        let app = Router::new().fallback(move |headers: HeaderMap| {
            let mock = mock.clone();
            async move { mock.answer(headers).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        port
    }

    async fn answer(&self, headers: HeaderMap) -> Response {
        self.hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        let now_in = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now_in, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {SECRET}"))
        {
            return (StatusCode::UNAUTHORIZED, "{}").into_response();
        }
        let next = {
            let mut script = self.script.lock().unwrap_or_else(|p| p.into_inner());
            if script.is_empty() {
                None
            } else {
                Some(script.remove(0))
            }
        };
        match next {
            Some((status, retry_after)) => {
                let mut response = (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    r#"{"errors":[{"message":"scripted"}]}"#,
                )
                    .into_response();
                if let Some(value) = retry_after.and_then(|v| v.parse().ok()) {
                    response.headers_mut().insert("retry-after", value);
                }
                response
            }
            None => (
                StatusCode::OK,
                [("content-type", "application/json")],
                self.body.unwrap_or(STATS),
            )
                .into_response(),
        }
    }

    fn hits(&self) -> Vec<Instant> {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn script(&self, steps: &[Step]) {
        *self.script.lock().unwrap_or_else(|p| p.into_inner()) = steps.to_vec();
    }
}

fn series(store: &SledStore, account: &str, stream: &str) -> Vec<mailcall::delivery::Sample> {
    let history = store.history().unwrap_or_else(|e| panic!("{e}"));
    history
        .series(account, &StreamKey::new(stream), DateTime::<Utc>::MIN_UTC)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_stores_one_sample_per_stream_and_hour() {
    let mut s = setup(vec![sandbox("demo-esp")], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    assert!(
        matches!(report.outcome, PollOutcome::Stored { samples: 240, .. }),
        "{report:?}"
    );
    let welcome = series(&s.store, "demo-esp", "tag:welcome");
    assert_eq!(welcome.len(), 48);
    // Four tag streams and the account total, 48 hours each.
    assert_eq!(series(&s.store, "demo-esp", "account").len(), 48);
    assert_eq!(
        welcome[0].bucket.start,
        "2026-11-18T12:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default()
    );
    // A success announces the poll (detection runs on it) and nothing else.
    assert_eq!(
        s.events.try_recv().ok(),
        Some(FeedEvent::Polled {
            account: "demo-esp".into()
        })
    );
    assert!(
        s.events.try_recv().is_err(),
        "no other feed events on success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_resume_without_duplicating_or_losing_buckets() {
    let s = setup(vec![sandbox("demo-esp")], quick());
    let _ = s.poller.poll(&s.poller.accounts()[0]).await;
    let first = series(&s.store, "demo-esp", "tag:welcome");
    // Down for five days, then a new poller on the same store.
    let clock = s.clock.clone();
    clock.advance(chrono::Duration::days(5));
    let (tx, _events) = mpsc::unbounded_channel();
    let history = s.store.history().unwrap_or_else(|e| panic!("{e}"));
    let restarted = Arc::new(Poller::new(
        vec![sandbox("demo-esp")],
        quick(),
        Arc::new(history),
        clock.clone(),
        tx,
    ));
    let report = restarted.poll(&restarted.accounts()[0]).await;
    assert!(
        matches!(report.outcome, PollOutcome::Stored { .. }),
        "{report:?}"
    );
    // The catch-up window starts where the last poll ended, minus the
    // trailing window: 48 h before 2026-11-20 12:00.
    assert_eq!(
        report.window.start,
        "2026-11-18T12:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default()
    );
    let after = series(&s.store, "demo-esp", "tag:welcome");
    let hours: Vec<i64> = after
        .iter()
        .map(|x| x.bucket.start.timestamp() / 3600)
        .collect();
    let expected: Vec<i64> = (hours[0]..hours[0] + hours.len() as i64).collect();
    assert_eq!(hours, expected, "every hour exactly once, none missing");
    assert_eq!(after.len(), 48 + 5 * 24);
    assert_eq!(
        &after[..first.len()],
        &first[..],
        "re-fetched buckets were upserted, unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let mock = Mock::default();
    mock.script(&[(429, Some("1"))]);
    let port = mock.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    match report.outcome {
        PollOutcome::Stored {
            samples, attempts, ..
        } => {
            assert_eq!(attempts, 2);
            assert_eq!(samples, 1);
        }
        other => panic!("{other:?}"),
    }
    let hits = mock.hits();
    assert_eq!(hits.len(), 2);
    assert!(
        hits[1] - hits[0] >= Duration::from_millis(950),
        "retried before Retry-After: {:?}",
        hits[1] - hits[0]
    );
    let stored = series(&s.store, "sg", "account");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].counts.sent, Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_and_give_up_without_storing_anything() {
    let mock = Mock::default();
    mock.script(&[(500, None), (502, None), (503, None)]);
    let port = mock.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    assert!(
        matches!(report.outcome, PollOutcome::Failed { attempts: 3, .. }),
        "{report:?}"
    );
    let hits = mock.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits[2] - hits[1] > hits[1] - hits[0], "backoff grows");
    assert!(
        series(&s.store, "sg", "account").is_empty(),
        "a failed poll stores no samples"
    );
    let state = s
        .store
        .history()
        .ok()
        .and_then(|h| h.poll_state("sg").ok().flatten())
        .unwrap_or_default();
    assert_eq!(state.consecutive_failures, 1);
    assert!(state
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("sg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_and_bad_payloads_are_not_retried() {
    let mock = Mock::default();
    mock.script(&[(401, None)]);
    let port = mock.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    assert!(
        matches!(report.outcome, PollOutcome::Failed { attempts: 1, .. }),
        "{report:?}"
    );

    let garbled = Mock {
        body: Some(r#"[{"date":"2026-11-19","stats":[{"metrics":{"processed":"many"}}]}]"#),
        ..Mock::default()
    };
    let port = garbled.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    match &report.outcome {
        PollOutcome::Failed { attempts: 1, error } => {
            assert!(error.contains("SendGrid"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(series(&s.store, "sg", "account").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_failures_announce_a_stale_feed_once_then_recovery() {
    let mock = Mock::default();
    mock.script(&[(500, None); 4]);
    let port = mock.clone().serve().await;
    let settings = PollerSettings {
        attempts: 1,
        ..quick()
    };
    let mut s = setup(vec![sendgrid("sg", port)], settings);
    for _ in 0..4 {
        let _ = s.poller.poll(&s.poller.accounts()[0]).await;
    }
    match s.events.try_recv() {
        Ok(FeedEvent::Stale {
            account,
            failures,
            last_error,
            last_success,
        }) => {
            assert_eq!((account.as_str(), failures, last_success), ("sg", 3, None));
            assert!(!last_error.contains(SECRET));
        }
        other => panic!("expected one stale event, got {other:?}"),
    }
    assert!(
        s.events.try_recv().is_err(),
        "announced once, not on every failure"
    );
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    assert!(
        matches!(report.outcome, PollOutcome::Stored { .. }),
        "{report:?}"
    );
    assert_eq!(
        s.events.try_recv().ok(),
        Some(FeedEvent::Recovered {
            account: "sg".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_polls_of_one_account_never_overlap() {
    let mock = Mock {
        delay: Duration::from_millis(400),
        ..Mock::default()
    };
    let port = mock.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let (a, b) = tokio::join!(
        s.poller.poll(&s.poller.accounts()[0]),
        s.poller.poll(&s.poller.accounts()[0])
    );
    let skipped = [&a.outcome, &b.outcome]
        .iter()
        .filter(|o| matches!(o, PollOutcome::Skipped))
        .count();
    assert_eq!(skipped, 1, "{a:?} {b:?}");
    assert_eq!(mock.hits().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_across_accounts_is_bounded() {
    let mock = Mock {
        delay: Duration::from_millis(150),
        ..Mock::default()
    };
    let port = mock.clone().serve().await;
    let accounts: Vec<PlannedAccount> = (0..6).map(|i| sendgrid(&format!("sg{i}"), port)).collect();
    let s = setup(
        accounts,
        PollerSettings {
            max_concurrent: 2,
            ..quick()
        },
    );
    let reports = s.poller.poll_all().await;
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, PollOutcome::Stored { .. })),
        "{reports:?}"
    );
    assert_eq!(mock.hits().len(), 6);
    assert_eq!(mock.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_never_reaches_errors_or_stored_state() {
    let mock = Mock::default();
    mock.script(&[(403, None)]);
    let port = mock.clone().serve().await;
    let s = setup(vec![sendgrid("sg", port)], quick());
    let report = s.poller.poll(&s.poller.accounts()[0]).await;
    assert!(!format!("{report:?}").contains(SECRET));
    assert!(!format!("{:?}", s.poller.accounts()[0]).contains(SECRET));
    let state = s
        .store
        .history()
        .ok()
        .and_then(|h| h.poll_state("sg").ok().flatten());
    assert!(!format!("{state:?}").contains(SECRET));
    let _ = s.clock.now();
}
