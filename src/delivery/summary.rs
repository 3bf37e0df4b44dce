//! A stream's latest rates against its own four-week median: the figures
//! behind `/metrics`.
//!
//! The median is taken per rate over the buckets of the last 28 days that
//! have that rate (a bucket with no mail has no bounce rate, and is not a
//! 0% bucket). The latest bucket is the newest one that exists; if the
//! stream has been silent, "latest" says so instead of inventing zeros.

use chrono::{DateTime, Duration, Utc};

use super::{Rates, Sample};

/// Rates of the latest bucket beside the four-week medians.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    /// The newest bucket, if the stream has any history in the period.
    pub latest: Option<Sample>,
    /// Median of each rate over the period's buckets that have it.
    pub median: Rates,
    /// Buckets the medians were taken over.
    pub buckets: usize,
}

/// The length of the baseline.
pub const BASELINE: Duration = Duration::days(28);

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Summarises `samples` (one stream, any order) as of `now`.
pub fn summarise(samples: &[Sample], now: DateTime<Utc>) -> StreamSummary {
    let recent: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.bucket.start >= now - BASELINE && s.bucket.start <= now)
        .collect();
    let rates: Vec<Rates> = recent.iter().map(|s| s.counts.rates()).collect();
    let of = |pick: fn(&Rates) -> Option<f64>| median(rates.iter().filter_map(pick).collect());
    StreamSummary {
        latest: recent
            .iter()
            .max_by_key(|s| s.bucket.start)
            .map(|s| (*s).clone()),
        median: Rates {
            delivery: of(|r| r.delivery),
            bounce: of(|r| r.bounce),
            hard_bounce: of(|r| r.hard_bounce),
            soft_bounce: of(|r| r.soft_bounce),
            block: of(|r| r.block),
            deferral_events: of(|r| r.deferral_events),
            drop: of(|r| r.drop),
            open: of(|r| r.open),
            click: of(|r| r.click),
            complaint: of(|r| r.complaint),
            unsubscribe: of(|r| r.unsubscribe),
        },
        buckets: recent.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Bucket, BucketWidth, Counts, StreamKey};

    fn sample(hours_ago: i64, sent: u64, hard: u64) -> Sample {
        let now: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().unwrap_or_default();
        Sample {
            stream: StreamKey::new("tag:welcome"),
            bucket: Bucket {
                start: now - Duration::hours(hours_ago),
                width: BucketWidth::Hour,
                provider_tz: "UTC".into(),
            },
            counts: Counts {
                sent: Some(sent),
                bounce_hard: Some(hard),
                ..Counts::default()
            },
        }
    }

    #[test]
    fn latest_against_the_median_of_buckets_that_have_the_rate() {
        let now: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().unwrap_or_default();
        let samples = vec![
            sample(5, 100, 1),
            sample(4, 100, 2),
            sample(3, 0, 0), // silent hour: no rate, not 0%
            sample(2, 100, 3),
            sample(1, 100, 9),
            sample(24 * 40, 100, 50), // older than the baseline
        ];
        let summary = summarise(&samples, now);
        assert_eq!(summary.buckets, 5);
        assert_eq!(summary.latest.map(|s| s.counts.bounce_hard), Some(Some(9)));
        assert_eq!(summary.median.hard_bounce, Some(0.025));
        assert_eq!(summary.median.complaint, None, "no complaint counts at all");
    }

    #[test]
    fn no_history_is_not_zero() {
        let summary = summarise(&[], "2026-11-20T12:00:00Z".parse().unwrap_or_default());
        assert_eq!(summary.latest, None);
        assert_eq!(summary.median.bounce, None);
    }
}
