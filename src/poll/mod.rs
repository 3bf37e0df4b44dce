//! The poller: fetches ESP accounts and keeps the metric history. When
//! each account is polled is the scheduler's business
//! ([`crate::service`] runs one poll job per account through
//! [`crate::scheduler`]).
//!
//! - **One poll per account at a time.** A poll that is still running when
//!   its account's next run comes due is not doubled; the run is skipped and
//!   logged (the next poll re-fetches the trailing window anyway).
//! - **Within the open-file limit.** Each request in flight holds a
//!   connection, an open file; at most `max_connections` are in flight at
//!   once across all accounts (the service derives it from the process's
//!   limit, [`crate::open_files`]), and the rest wait their turn rather
//!   than fail with "too many open files".
//! - **Bounded concurrency across accounts** (a semaphore); the service
//!   adds a random delay ([`Poller::jitter`]) before each on-time poll so
//!   hundreds of accounts on the same schedule do not hit their providers
//!   in the same second.
//! - **Catch-up.** Each poll fetches from where the last successful one
//!   ended, minus the account's trailing window (late data revises past
//!   buckets), bounded by `max_catch_up`; on start every account is polled
//!   once, so downtime is filled at once.
//! - **Faults.** Timeouts, 5xx, network errors and 429s are retried: a 429
//!   waits for the provider's Retry-After (or reset header) when it gave
//!   one, everything else backs off exponentially with jitter. Auth failures,
//!   other 4xx and malformed payloads are not retried. A failed poll writes
//!   no samples (never a fabricated zero) and counts towards "feed stale",
//!   announced once when an account reaches `stale_after` failures in a row,
//!   and "recovered" on its next success.
//! - **Atomic history.** A successful poll's samples and the account's new
//!   poll state are one batch in the store.

pub mod backfill;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Mutex, Semaphore};

use crate::clock::Clock;
use crate::delivery::Sample;
use crate::esp::account::{Account, Provider};
use crate::esp::client::{self, FetchError, Window};
use crate::esp::sandbox::{self, Scenario};
use crate::schedule::{self, Schedule};
use crate::store::{MetricsHistory, PollState, StoreError};

/// An account with its schedule (and, for the sandbox, its traffic).
#[derive(Clone, Debug)]
pub struct PlannedAccount {
    pub account: Account,
    pub schedule: Schedule,
    /// The generated traffic, for `Provider::Sandbox` accounts.
    pub scenario: Option<Scenario>,
}

/// How the poller behaves; the defaults suit production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollerSettings {
    /// Polls running at once across all accounts.
    pub max_concurrent: usize,
    /// Upper bound of the random delay before a scheduled poll.
    pub jitter: Duration,
    /// Attempts per poll (the first try included).
    pub attempts: u32,
    /// First backoff after a retryable failure; doubled each time.
    pub first_backoff: Duration,
    /// Longest single wait, for backoff and for a provider's Retry-After
    /// (a longer Retry-After ends the poll; the next scheduled one retries).
    pub max_backoff: Duration,
    /// Consecutive failed polls after which the feed is announced stale.
    pub stale_after: u32,
    /// How far back a catch-up may reach.
    pub max_catch_up: Duration,
    /// ESP requests in flight at once across all accounts, each on a
    /// connection (an open file) of its own; one beyond waits its turn.
    /// Unbounded by default: the service sets it from the open-file limit
    /// ([`crate::open_files::connection_budget`]).
    pub max_connections: usize,
}

impl Default for PollerSettings {
    fn default() -> Self {
        PollerSettings {
            // Polls wait on the network, not the CPU: a wide bound lets a
            // thousand streams finish in about one request's time.
            max_concurrent: 256,
            jitter: Duration::from_secs(20),
            attempts: 4,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            stale_after: 3,
            max_catch_up: Duration::from_secs(31 * 86_400),
            max_connections: usize::MAX,
        }
    }
}

/// What alerting needs to hear about a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// `failures` polls in a row failed; the history has a hole since
    /// `last_success`.
    Stale {
        account: String,
        failures: u32,
        last_error: String,
        last_success: Option<DateTime<Utc>>,
    },
    /// A stale account polled successfully again.
    Recovered { account: String },
    /// A poll stored new samples: time to run detection on the account.
    Polled { account: String },
}

/// The result of one poll, for logs, `backfill` and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct PollReport {
    pub account: String,
    pub window: Window,
    pub outcome: PollOutcome,
}

/// How a poll ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PollOutcome {
    /// Samples stored; requests made (pages and retries included).
    Stored {
        samples: usize,
        requests: usize,
        attempts: u32,
    },
    /// The poll failed; nothing was stored.
    Failed { error: String, attempts: u32 },
    /// A poll of this account was already running.
    Skipped,
}

/// Idle connections kept per host for reuse, so that they and the
/// requests in flight together stay within twice `max_connections`: the
/// budget shared among the hosts the accounts name, plus one for a token
/// endpoint elsewhere.
fn idle_per_host(accounts: &[PlannedAccount], max_connections: usize) -> usize {
    let hosts: std::collections::BTreeSet<(String, Option<u16>)> = accounts
        .iter()
        .filter_map(|planned| reqwest::Url::parse(&planned.account.base_url).ok())
        .map(|url| {
            (
                url.host_str().unwrap_or_default().to_owned(),
                url.port_or_known_default(),
            )
        })
        .collect();
    (max_connections / (hosts.len() + 1)).max(1)
}

/// Polls accounts and records what they report.
pub struct Poller {
    accounts: Vec<PlannedAccount>,
    settings: PollerSettings,
    http: client::Http,
    /// Access tokens kept between polls (Gmail's OAuth exchange).
    tokens: client::TokenCache,
    history: Arc<dyn MetricsHistory>,
    clock: Arc<dyn Clock>,
    events: mpsc::UnboundedSender<FeedEvent>,
    /// One lock per account: held for the whole poll.
    running: HashMap<String, Arc<Mutex<()>>>,
    slots: Arc<Semaphore>,
}

impl Poller {
    pub fn new(
        accounts: Vec<PlannedAccount>,
        settings: PollerSettings,
        history: Arc<dyn MetricsHistory>,
        clock: Arc<dyn Clock>,
        events: mpsc::UnboundedSender<FeedEvent>,
    ) -> Poller {
        let running = accounts
            .iter()
            .map(|a| (a.account.name.clone(), Arc::new(Mutex::new(()))))
            .collect();
        Poller {
            slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            http: client::Http::limited(
                settings.max_connections,
                idle_per_host(&accounts, settings.max_connections),
            ),
            accounts,
            settings,
            tokens: client::TokenCache::default(),
            history,
            clock,
            events,
            running,
        }
    }

    /// The accounts, in configuration order.
    pub fn accounts(&self) -> &[PlannedAccount] {
        &self.accounts
    }

    /// The most a scheduled poll is delayed at random, so accounts on the
    /// same schedule do not all hit their providers at once.
    pub fn jitter(&self) -> Duration {
        self.settings.jitter
    }

    /// The window the next poll of `account` should fetch at `now`.
    fn window_for(&self, account: &Account, state: &PollState, now: DateTime<Utc>) -> Window {
        let trailing =
            chrono::Duration::from_std(account.window).unwrap_or(chrono::Duration::days(2));
        let oldest = now
            - chrono::Duration::from_std(self.settings.max_catch_up)
                .unwrap_or(chrono::Duration::days(31));
        let from_last = state.covered_until.map(|c| c - trailing);
        let start = [Some(now - trailing), from_last]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now - trailing);
        Window {
            start: start.max(oldest),
            end: now,
        }
    }

    /// Polls one account now (waiting for a concurrency slot), unless a poll
    /// of it is already running.
    pub async fn poll(&self, planned: &PlannedAccount) -> PollReport {
        self.poll_window(planned, None).await
    }

    /// Polls one account over `window` (or the catch-up window).
    pub async fn poll_window(
        &self,
        planned: &PlannedAccount,
        window: Option<Window>,
    ) -> PollReport {
        let account = &planned.account;
        let now = self.clock.now();
        let Some(lock) = self.running.get(&account.name) else {
            return self.failed(
                account,
                Window {
                    start: now,
                    end: now,
                },
                "unknown account".into(),
                0,
            );
        };
        let Ok(_running) = lock.clone().try_lock_owned() else {
            tracing::info!(account = %account.name, "previous poll still running; skipped");
            return PollReport {
                account: account.name.clone(),
                window: Window {
                    start: now,
                    end: now,
                },
                outcome: PollOutcome::Skipped,
            };
        };
        // The semaphore is never closed, so acquiring only waits.
        let _slot = self.slots.clone().acquire_owned().await.ok();

        // A read (no fsync) is cheap enough to do on the runtime.
        let mut state = match self.history.poll_state(&account.name) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => {
                return self.failed(
                    account,
                    Window {
                        start: now,
                        end: now,
                    },
                    format!("cannot read poll state: {e}"),
                    0,
                )
            }
        };
        let window = window.unwrap_or_else(|| self.window_for(account, &state, now));
        state.last_attempt = Some(now);

        let (result, attempts) = self.fetch_with_retries(planned, window).await;
        match result {
            Ok((samples, requests)) => {
                let was_stale = state.consecutive_failures >= self.settings.stale_after;
                state.last_success = Some(self.clock.now());
                state.covered_until = Some(
                    state
                        .covered_until
                        .map_or(window.end, |c| c.max(window.end)),
                );
                state.consecutive_failures = 0;
                state.last_error = None;
                let stored = samples.len();
                if let Err(e) = self.store(&account.name, Some(samples), &state).await {
                    return self.failed(
                        account,
                        window,
                        format!("cannot store samples: {e}"),
                        attempts,
                    );
                }
                if was_stale {
                    let _ = self.events.send(FeedEvent::Recovered {
                        account: account.name.clone(),
                    });
                }
                let _ = self.events.send(FeedEvent::Polled {
                    account: account.name.clone(),
                });
                tracing::info!(account = %account.name, samples = stored, requests, "poll stored");
                PollReport {
                    account: account.name.clone(),
                    window,
                    outcome: PollOutcome::Stored {
                        samples: stored,
                        requests,
                        attempts,
                    },
                }
            }
            Err(error) => {
                let message = error.to_string();
                state.consecutive_failures += 1;
                state.last_error = Some(message.clone());
                if let Err(e) = self.store(&account.name, None, &state).await {
                    tracing::error!(account = %account.name, error = %e, "cannot record the failed poll");
                }
                if state.consecutive_failures == self.settings.stale_after {
                    let _ = self.events.send(FeedEvent::Stale {
                        account: account.name.clone(),
                        failures: state.consecutive_failures,
                        last_error: message.clone(),
                        last_success: state.last_success,
                    });
                }
                tracing::warn!(account = %account.name, attempts, error = %message, "poll failed");
                self.failed(account, window, message, attempts)
            }
        }
    }

    /// Writes a poll's samples (if any) and state, durably. The write ends
    /// in an fsync, done by the history's committer thread; this task only
    /// awaits it, so the runtime's workers never stall and no thread waits.
    async fn store(
        &self,
        account: &str,
        samples: Option<Vec<Sample>>,
        state: &PollState,
    ) -> Result<(), StoreError> {
        match samples {
            Some(samples) => self.history.submit_poll(account, &samples, state),
            None => self.history.submit_state(account, state),
        }
        .durable()
        .await
    }

    fn failed(
        &self,
        account: &Account,
        window: Window,
        error: String,
        attempts: u32,
    ) -> PollReport {
        PollReport {
            account: account.name.clone(),
            window,
            outcome: PollOutcome::Failed { error, attempts },
        }
    }

    /// Fetches with retries; returns the samples and requests made, or the
    /// last error, and the attempts used.
    async fn fetch_with_retries(
        &self,
        planned: &PlannedAccount,
        window: Window,
    ) -> (Result<(Vec<Sample>, usize), FetchError>, u32) {
        let account = &planned.account;
        if account.provider == Provider::Sandbox {
            let scenario = planned.scenario.clone().unwrap_or_else(Scenario::steady);
            let samples = sandbox::poll_selection(
                &account.name,
                &scenario,
                window.start,
                window.end,
                self.clock.now(),
                &account.streams,
            );
            return (Ok((samples, 0)), 1);
        }
        let mut backoff = self.settings.first_backoff;
        let mut requests = 0;
        let mut attempt = 1;
        loop {
            match client::fetch(&self.http, &self.tokens, account, window, self.clock.now()).await {
                Ok(fetched) => {
                    return (Ok((fetched.samples, requests + fetched.requests)), attempt)
                }
                Err(error) => {
                    requests += 1;
                    if !error.is_retryable() || attempt >= self.settings.attempts {
                        return (Err(error), attempt);
                    }
                    let wait = match &error {
                        FetchError::RateLimited {
                            retry_after: Some(wait),
                            ..
                        } => {
                            if *wait > self.settings.max_backoff {
                                return (Err(error), attempt);
                            }
                            *wait
                        }
                        _ => {
                            let jitter = schedule::jitter(backoff / 2, &mut fastrand::Rng::new());
                            let wait = (backoff + jitter).min(self.settings.max_backoff);
                            backoff = (backoff * 2).min(self.settings.max_backoff);
                            wait
                        }
                    };
                    tracing::info!(account = %account.name, attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Polls every account once, concurrently (bounded), and returns the
    /// reports in configuration order.
    pub async fn poll_all(self: &Arc<Self>) -> Vec<PollReport> {
        let mut tasks = Vec::new();
        for index in 0..self.accounts.len() {
            let poller = self.clone();
            tasks.push(tokio::spawn(async move {
                poller.poll(&poller.accounts[index]).await
            }));
        }
        let mut reports = Vec::new();
        for task in tasks {
            if let Ok(report) = task.await {
                reports.push(report);
            }
        }
        reports
    }
}
