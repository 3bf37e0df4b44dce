//! Backfill: an account's history fetched a week at a time, for a new
//! account or after an outage. `mailcall backfill` runs it with its own
//! poller when the store is free; the running bot runs the same code for
//! `/admin/backfill` when the bot holds the store, so a team can backfill a
//! new account without stopping the bot.
//!
//! A backfill writes history only: its polls raise no feed events, so no
//! alert is judged on weeks-old data, and the scheduled polls' records are
//! left alone.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{PlannedAccount, PollOutcome, Poller, PollerSettings};
use crate::clock::Clock;
use crate::esp::client::Window;
use crate::store::MetricsHistory;

/// The length of one backfill request.
const CHUNK_DAYS: i64 = 7;

/// The windows that cover the last `days` days before `now`, a week at a
/// time. They start on a whole hour, so where two meet is a bucket
/// boundary for every provider (hourly buckets end there; daily APIs take
/// whole dates and fetch every day a window touches).
pub fn windows(now: DateTime<Utc>, days: u32) -> Vec<Window> {
    let start = now - Duration::days(i64::from(days));
    let start = start.duration_trunc(Duration::hours(1)).unwrap_or(start);
    let mut windows = Vec::new();
    let mut from = start;
    while from < now {
        windows.push(Window {
            start: from,
            end: (from + Duration::days(CHUNK_DAYS)).min(now),
        });
        from += Duration::days(CHUNK_DAYS);
    }
    windows
}

/// What a backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackfillReport {
    pub accounts: usize,
    pub windows: usize,
    pub samples: usize,
    /// One sentence per window that failed (nothing of it was stored).
    pub failures: Vec<String>,
}

impl BackfillReport {
    /// The summary line both front ends print.
    pub fn summary(&self, days: u32) -> String {
        format!(
            "backfill: {} samples stored from {} account(s) over {days} days; {} window(s) failed",
            self.samples,
            self.accounts,
            self.failures.len()
        )
    }
}

/// Fetches `windows` for every account in `accounts` into `history`,
/// calling `progress(done, total, account, window)` after each window.
pub async fn run(
    accounts: &[PlannedAccount],
    settings: PollerSettings,
    history: Arc<dyn MetricsHistory>,
    clock: Arc<dyn Clock>,
    windows: &[Window],
    mut progress: impl FnMut(usize, usize, &str, &Window),
) -> BackfillReport {
    // Feed events go nowhere: a backfill judges no alerts.
    let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
    let poller = Poller::new(accounts.to_vec(), settings, history, clock, events);
    let total = windows.len() * accounts.len();
    let mut report = BackfillReport {
        accounts: accounts.len(),
        windows: total,
        ..BackfillReport::default()
    };
    let mut done = 0;
    for account in accounts {
        for window in windows {
            let polled = poller.poll_window(account, Some(*window)).await;
            done += 1;
            match polled.outcome {
                PollOutcome::Stored { samples, .. } => report.samples += samples,
                PollOutcome::Failed { error, .. } => report.failures.push(error),
                PollOutcome::Skipped => {}
            }
            progress(done, total, &account.account.name, window);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_days_a_week_at_a_time_from_a_whole_hour() {
        let now: DateTime<Utc> = "2026-11-24T21:54:00Z".parse().unwrap_or_default();
        let windows = windows(now, 28);
        assert_eq!(windows.len(), 5);
        assert_eq!(windows[0].start.to_rfc3339(), "2026-10-27T21:00:00+00:00");
        for pair in windows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "no hole where windows meet");
        }
        assert_eq!(windows[windows.len() - 1].end, now);
    }
}
