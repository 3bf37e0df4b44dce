//! Metric history: one normalised sample per (account, stream, bucket), and
//! each account's poll state.
//!
//! Samples are upserted by their key, so a later poll that re-fetches the
//! trailing window revises buckets the provider counted late, and a restart
//! that fetches an overlapping window cannot duplicate anything. A bucket the
//! provider never returned is simply absent: history never holds a
//! fabricated zero. One poll's samples and its new poll state are written in
//! one atomic batch, then made durable, before the poll counts as a success.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::delivery::{Sample, StreamKey};

/// What mailcall remembers about polling one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// When a poll last started.
    pub last_attempt: Option<DateTime<Utc>>,
    /// When a poll last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The end of the last window fetched successfully: the next poll
    /// catches up from here (minus the account's trailing window).
    pub covered_until: Option<DateTime<Utc>>,
    /// Polls that failed in a row since the last success.
    pub consecutive_failures: u32,
    /// The last failure, as an operator should read it (never a credential).
    pub last_error: Option<String>,
}

/// Stored metric history.
pub trait MetricsHistory: Send + Sync {
    /// Upserts `samples` for `account` and records `state`, atomically and
    /// durably.
    fn record_poll(
        &self,
        account: &str,
        samples: &[Sample],
        state: &PollState,
    ) -> Result<(), StoreError>;
    /// Records `state` alone (a failed poll).
    fn record_state(&self, account: &str, state: &PollState) -> Result<(), StoreError>;
    /// [`MetricsHistory::record_poll`] for async callers: hands the write
    /// over and returns at once; await [`PendingWrite::durable`]. The
    /// default writes right away, on the caller's thread.
    fn submit_poll(&self, account: &str, samples: &[Sample], state: &PollState) -> PendingWrite {
        PendingWrite::done(self.record_poll(account, samples, state))
    }
    /// [`MetricsHistory::record_state`] for async callers, like
    /// [`MetricsHistory::submit_poll`].
    fn submit_state(&self, account: &str, state: &PollState) -> PendingWrite {
        PendingWrite::done(self.record_state(account, state))
    }
    /// The poll state of `account`, if it was ever polled.
    fn poll_state(&self, account: &str) -> Result<Option<PollState>, StoreError>;
    /// One stream's samples with buckets starting at or after `since`, oldest
    /// first.
    fn series(
        &self,
        account: &str,
        stream: &StreamKey,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError>;
    /// One stream's samples with buckets starting in `[from, until)`, oldest
    /// first. The default filters [`MetricsHistory::series`]; a store whose
    /// keys sort by time reads only that range.
    fn series_between(
        &self,
        account: &str,
        stream: &StreamKey,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        let mut samples = self.series(account, stream, from)?;
        samples.retain(|s| s.bucket.start < until);
        Ok(samples)
    }
    /// Every (account, stream) with history, in order.
    fn streams(&self) -> Result<Vec<(String, StreamKey)>, StoreError>;
    /// The streams of `account` with history, in order. The default filters
    /// [`MetricsHistory::streams`]; a store that keeps them per account
    /// answers without reading every account's.
    fn streams_of(&self, account: &str) -> Result<Vec<StreamKey>, StoreError> {
        Ok(self
            .streams()?
            .into_iter()
            .filter(|(name, _)| name == account)
            .map(|(_, stream)| stream)
            .collect())
    }
}

/// A history write handed over by `submit_*`: await it to learn that it is
/// durable (or why not).
pub struct PendingWrite(Pending);

enum Pending {
    Done(Result<(), StoreError>),
    Committing(super::group_commit::Submitted),
}

impl PendingWrite {
    /// A write that has already ended.
    pub fn done(result: Result<(), StoreError>) -> PendingWrite {
        PendingWrite(Pending::Done(result))
    }

    pub(crate) fn committing(submitted: super::group_commit::Submitted) -> PendingWrite {
        PendingWrite(Pending::Committing(submitted))
    }

    /// Resolves once the write is durable, or with the reason it is not.
    pub async fn durable(self) -> Result<(), StoreError> {
        match self.0 {
            Pending::Done(result) => result,
            Pending::Committing(submitted) => submitted.durable().await,
        }
    }
}

/// The separator inside keys; account and stream names cannot contain it
/// (they are validated to be free of control characters).
const SEP: u8 = 0x1f;

/// The key of one sample: `h␟account␟stream␟` + start (biased big-endian,
/// so keys sort by time) + width.
pub(crate) fn sample_key(account: &str, sample: &Sample) -> Vec<u8> {
    let mut key = series_prefix(account, &sample.stream);
    key.extend_from_slice(&biased(sample.bucket.start).to_be_bytes());
    key.push(sample.bucket.width as u8);
    key
}

pub(crate) fn series_prefix(account: &str, stream: &StreamKey) -> Vec<u8> {
    let mut key = vec![b'h', SEP];
    key.extend_from_slice(account.as_bytes());
    key.push(SEP);
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(SEP);
    key
}

/// The keys of one series' samples that start before `before`: the range
/// `[from, to)`. Sample keys sort by start within a series.
pub(crate) fn series_before(
    account: &str,
    stream: &StreamKey,
    before: DateTime<Utc>,
) -> (Vec<u8>, Vec<u8>) {
    let from = series_prefix(account, stream);
    let mut to = from.clone();
    to.extend_from_slice(&biased(before).to_be_bytes());
    (from, to)
}

/// The keys of one series' samples that start at or after `from`.
pub(crate) fn series_from(
    account: &str,
    stream: &StreamKey,
    from: DateTime<Utc>,
) -> (Vec<u8>, Vec<u8>) {
    let prefix = series_prefix(account, stream);
    let mut start = prefix.clone();
    start.extend_from_slice(&biased(from).to_be_bytes());
    // Just past every key with this prefix: the prefix ends with SEP, and
    // no key of the series has anything but sample bytes after it.
    let mut end = prefix;
    end.pop();
    end.push(SEP + 1);
    (start, end)
}

/// A bucket start as a key part: the sign bit flipped, so big-endian bytes
/// sort in time order across the epoch.
fn biased(start: DateTime<Utc>) -> u64 {
    (start.timestamp() as u64) ^ (1 << 63)
}

pub(crate) fn state_key(account: &str) -> Vec<u8> {
    let mut key = STATE_PREFIX.to_vec();
    key.extend_from_slice(account.as_bytes());
    key
}

/// The prefix of every poll state key.
pub(crate) const STATE_PREFIX: [u8; 2] = [b'p', SEP];

/// The account a poll state key belongs to.
pub(crate) fn parse_state_key(key: &[u8]) -> Option<String> {
    let account = key.strip_prefix(&STATE_PREFIX)?;
    std::str::from_utf8(account).ok().map(str::to_string)
}

/// The prefix of the stream index an earlier build wrote
/// (`s␟account␟stream`, one key per stream); read, no longer written.
pub(crate) const LEGACY_STREAM_INDEX: [u8; 2] = [b's', SEP];

/// The prefix of one account's keys in the legacy stream index.
pub(crate) fn legacy_stream_prefix(account: &str) -> Vec<u8> {
    let mut key = LEGACY_STREAM_INDEX.to_vec();
    key.extend_from_slice(account.as_bytes());
    key.push(SEP);
    key
}

/// Splits a legacy stream index key into its account and stream.
pub(crate) fn parse_legacy_stream_key(key: &[u8]) -> Option<(String, String)> {
    let rest = key.strip_prefix(&LEGACY_STREAM_INDEX)?;
    let mut parts = rest.splitn(2, |b| *b == SEP);
    let account = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    Some((account.to_string(), stream.to_string()))
}

/// A stored sample record.
#[derive(Serialize, Deserialize)]
pub(crate) struct SampleRecord {
    pub schema: u32,
    pub sample: Sample,
}

/// A stored poll state record.
#[derive(Serialize, Deserialize)]
pub(crate) struct PollStateRecord {
    pub schema: u32,
    pub state: PollState,
    /// The account's streams that have history, by name. Kept here, in the
    /// record every poll rewrites anyway, rather than as a key per stream:
    /// each written key costs sled several microseconds, and a poll writes
    /// this record regardless.
    #[serde(default)]
    pub streams: BTreeSet<String>,
    /// Samples starting before this were removed (see `SledHistory`'s
    /// retention); pruning runs again once this is a day behind.
    #[serde(default)]
    pub pruned_before: Option<DateTime<Utc>>,
}
