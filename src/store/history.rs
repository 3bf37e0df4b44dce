//! Metric history: one normalised sample per (account, stream, bucket), and
//! each account's poll state.
//!
//! Samples are upserted by their key, so a later poll that re-fetches the
//! trailing window revises buckets the provider counted late, and a restart
//! that fetches an overlapping window cannot duplicate anything. A bucket the
//! provider never returned is simply absent: history never holds a
//! fabricated zero. One poll's samples and its new poll state are written in
//! one atomic batch, then made durable, before the poll counts as a success.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::metrics::{Sample, StreamKey};

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
    /// Every (account, stream) with history, in order.
    fn streams(&self) -> Result<Vec<(String, StreamKey)>, StoreError>;
}

/// The separator inside keys; account and stream names cannot contain it
/// (they are validated to be free of control characters).
const SEP: u8 = 0x1f;

/// The key of one sample: `h␟account␟stream␟` + start (biased big-endian,
/// so keys sort by time) + width.
pub(crate) fn sample_key(account: &str, sample: &Sample) -> Vec<u8> {
    let mut key = series_prefix(account, &sample.stream);
    let biased = (sample.bucket.start.timestamp() as u64) ^ (1 << 63);
    key.extend_from_slice(&biased.to_be_bytes());
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

pub(crate) fn state_key(account: &str) -> Vec<u8> {
    let mut key = vec![b'p', SEP];
    key.extend_from_slice(account.as_bytes());
    key
}

/// The index entry naming one (account, stream) that has history:
/// `s␟account␟stream`. Written in the same batch as the stream's samples, so
/// listing streams reads this small index instead of every sample key.
pub(crate) fn stream_key(account: &str, stream: &StreamKey) -> Vec<u8> {
    let mut key = vec![b's', SEP];
    key.extend_from_slice(account.as_bytes());
    key.push(SEP);
    key.extend_from_slice(stream.as_str().as_bytes());
    key
}

/// The prefix of every stream index entry.
pub(crate) const STREAM_INDEX: [u8; 2] = [b's', SEP];

/// Splits a stream index key into its account and stream.
pub(crate) fn parse_stream_key(key: &[u8]) -> Option<(String, StreamKey)> {
    let rest = key.strip_prefix(&STREAM_INDEX)?;
    let mut parts = rest.splitn(2, |b| *b == SEP);
    let account = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    Some((account.to_string(), StreamKey::new(stream)))
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
}
