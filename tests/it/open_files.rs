//! The open-file limit: `mailcall run` (a child process, Discord against
//! the fake) polls 40 Postmark accounts of five tags on its first start,
//! 1,000 requests that would all go out at once, each on a connection of
//! its own. Under a soft limit too low for that, the bot raises it; under a
//! hard limit too low, it keeps its requests within what the limit allows
//! instead of failing some with "too many open files". Either way every
//! account's 25 requests reach the provider once: no attempt failed and
//! was retried.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailcall::open_files::connection_budget;

use super::chaos::discord_section;
use super::fake_discord::FakeDiscord;

const ACCOUNTS: usize = 40;
/// Five tags, five statistics endpoints each.
const REQUESTS_PER_ACCOUNT: usize = 25;
const LATENCY: Duration = Duration::from_millis(50);

/// What the provider saw.
#[derive(Default)]
struct Seen {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Requests per server token (one token per account).
    per_account: Mutex<HashMap<String, usize>>,
}

impl Seen {
    fn requests(&self) -> usize {
        self.per_account
            .lock()
            .map(|seen| seen.values().sum())
            .unwrap_or(0)
    }
}

/// A Postmark that answers every statistics request after [`LATENCY`].
async fn postmark(seen: Arc<Seen>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(LATENCY).await;
                let token = headers
                    .get("x-postmark-server-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if let Ok(mut per_account) = seen.per_account.lock() {
                    *per_account.entry(token).or_default() += 1;
                }
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                let body = match uri.path() {
                    "/stats/outbound/sends" => {
                        include_str!("../fixtures/esp/postmark/outbound_sends.json")
                    }
                    "/stats/outbound/opens" => {
                        include_str!("../fixtures/esp/postmark/outbound_opens.json")
                    }
                    _ => include_str!("../fixtures/esp/postmark/outbound_bounces.json"),
                };
                ([("content-type", "application/json")], body)
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// Discord against `fake`, and [`ACCOUNTS`] Postmark accounts on `address`
/// polled once a year (so only the first poll at start runs).
fn config(dir: &Path, fake: &FakeDiscord, address: SocketAddr) -> PathBuf {
    std::fs::write(dir.join("token"), "fake-token\n").unwrap_or_else(|e| panic!("{e}"));
    let mut text = discord_section(fake, "token_file = \"token\"");
    for i in 0..ACCOUNTS {
        let key = format!("pm-{i}.key");
        std::fs::write(dir.join(&key), format!("server-token-{i}"))
            .unwrap_or_else(|e| panic!("{e}"));
        text.push_str(&format!(
            "[[esp]]\nname = \"pm-{i}\"\nprovider = \"postmark\"\nbase_url = \"http://{address}\"\n\
             credential_file = \"{key}\"\nschedule = \"0 0 1 1 *\"\ntimeout_seconds = 20\n\
             streams = [\"tag:a\", \"tag:b\", \"tag:c\", \"tag:d\", \"tag:e\"]\n\n"
        ));
    }
    let path = dir.join("mailcall.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// The fake Discord, the Postmark mock and what it saw, and a directory
/// holding the bot's configuration for both.
async fn bot_with_postmark() -> (FakeDiscord, Arc<Seen>, tempfile::TempDir, PathBuf) {
    // The mock accepts up to 1,000 connections at once, in this process:
    // under a desktop session's soft limit of 1,024 it would run out.
    mailcall::open_files::raise().unwrap_or_else(|e| panic!("{e}"));
    let fake = FakeDiscord::start().await;
    let seen = Arc::new(Seen::default());
    let address = postmark(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config(dir.path(), &fake, address);
    (fake, seen, dir, config)
}

/// `mailcall run --config config` under the shell's `ulimit` command
/// `limit`, logging at info to `dir/stderr.log`.
fn run_under(limit: &str, config: &Path, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap_or_else(|e| panic!("{e}"));
    Command::new("sh")
        .arg("-c")
        .arg(format!("{limit} && exec \"$0\" run --config \"$1\""))
        .arg(env!("CARGO_BIN_EXE_mailcall"))
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mailcall run: {e}"))
}

/// Waits until the provider has seen every account's requests (or 60 s),
/// stops the bot with SIGTERM and returns its log.
async fn until_polled(mut bot: Child, seen: &Seen, dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.requests() < ACCOUNTS * REQUESTS_PER_ACCOUNT && Instant::now() < deadline {
        if let Ok(Some(status)) = bot.try_wait() {
            panic!(
                "the bot exited ({status}):\n{}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Requests of a failed attempt would come again after a backoff of
    // about two seconds: give them the time to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = Command::new("kill").arg(bot.id().to_string()).status();
    let stop = Instant::now() + Duration::from_secs(20);
    while matches!(bot.try_wait(), Ok(None)) && Instant::now() < stop {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = bot.kill();
    let _ = bot.wait();
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every account's requests reached the provider exactly once each.
fn each_account_polled_once(seen: &Seen, log: &str) {
    let per_account = seen
        .per_account
        .lock()
        .map(|seen| seen.clone())
        .unwrap_or_default();
    for i in 0..ACCOUNTS {
        assert_eq!(
            per_account.get(&format!("server-token-{i}")).copied(),
            Some(REQUESTS_PER_ACCOUNT),
            "account pm-{i}: every request once, none retried\n{log}"
        );
    }
    assert!(!log.contains("poll failed"), "{log}");
    assert!(!log.to_lowercase().contains("too many open files"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_hard_limit_too_low_for_every_request_at_once_the_requests_wait_their_turn() {
    let (_fake, seen, dir, config) = bot_with_postmark().await;

    // Soft and hard: nothing to raise. 1,000 connections at once would
    // need four times what the process may open.
    let bot = run_under("ulimit -n 256", &config, dir.path());
    let log = until_polled(bot, &seen, dir.path()).await;

    each_account_polled_once(&seen, &log);
    let most = seen.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most <= connection_budget(256),
        "{most} requests were in flight at once, more than the {} the limit allows",
        connection_budget(256)
    );
    assert!(
        log.contains("open-file limit 256 (was 256, hard 256): at most 96 ESP requests at once"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_limit_below_the_hard_one_is_raised_at_start() {
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|e| panic!("{e}"));
    let raised_to = match hard.parse::<u64>() {
        Ok(hard) => hard.min(mailcall::open_files::WANTED),
        Err(_) => mailcall::open_files::WANTED, // "unlimited"
    };
    let (_fake, seen, dir, config) = bot_with_postmark().await;

    let bot = run_under("ulimit -Sn 128", &config, dir.path());
    let log = until_polled(bot, &seen, dir.path()).await;

    each_account_polled_once(&seen, &log);
    assert!(
        log.contains(&format!(
            "open-file limit {raised_to} (was 128, hard {hard})"
        )),
        "{log}"
    );
    // More at once than the soft limit it started with would have allowed.
    let most = seen.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most > connection_budget(128),
        "only {most} requests in flight at once: the limit was not raised"
    );
}
