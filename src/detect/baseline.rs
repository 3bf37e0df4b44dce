//! One stream's history as the detectors read it: the judged bucket, the
//! same slot in previous weeks, the recent window, and the sparkline.
//!
//! Email traffic has a strong weekly rhythm (busy weekday afternoons, quiet
//! nights and weekends), so "usual" only means something at the same weekday
//! and hour. The *slot* of a bucket is therefore the bucket exactly 7, 14,
//! 21, … days earlier: the same weekday and hour for hourly buckets, the
//! same weekday for daily ones, simply the previous weeks for weekly ones.
//! Buckets are UTC instants, so "exactly 7 days earlier" has no daylight
//! saving ambiguity, and a provider that draws its days in EST still gets
//! its own days compared with each other.
//!
//! History is looked up, never filled: a bucket the provider did not report
//! is absent, not zero. A slot with a missing week simply has fewer points,
//! and the detectors decide whether the rest are enough.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::delivery::{BucketWidth, Counts, Sample, StreamKey};

/// The most weeks of history a baseline reaches back (ten years); larger
/// settings are clamped, so date arithmetic can never overflow.
pub const MAX_BASELINE_WEEKS: usize = 520;

/// One stream's samples, indexed by bucket start, with the newest bucket
/// singled out as the one being judged.
#[derive(Debug)]
pub(crate) struct StreamHistory<'a> {
    /// Start of the judged (newest) bucket.
    pub(crate) start: DateTime<Utc>,
    /// Width of the judged bucket; history of other widths is ignored.
    pub(crate) width: BucketWidth,
    /// Counts of the judged bucket.
    pub(crate) current: &'a Counts,
    by_start: BTreeMap<DateTime<Utc>, &'a Counts>,
}

impl<'a> StreamHistory<'a> {
    /// The history of `stream` in `samples` (any order; samples of other
    /// streams are ignored). The newest bucket is judged; of two samples for
    /// the same bucket the later in `samples` wins, as a re-poll would.
    /// `None` when the stream has no samples.
    pub(crate) fn new(stream: &StreamKey, samples: &'a [Sample]) -> Option<StreamHistory<'a>> {
        let mine = || samples.iter().filter(move |s| &s.stream == stream);
        let newest = mine().fold(None::<&Sample>, |best, s| match best {
            Some(b) if b.bucket.start > s.bucket.start => Some(b),
            _ => Some(s),
        })?;
        let width = newest.bucket.width;
        let by_start: BTreeMap<DateTime<Utc>, &Counts> = mine()
            .filter(|s| s.bucket.width == width)
            .map(|s| (s.bucket.start, &s.counts))
            .collect();
        let start = newest.bucket.start;
        let current = by_start.get(&start).copied()?;
        Some(StreamHistory {
            start,
            width,
            current,
            by_start,
        })
    }

    /// One bucket's length, for widths with a fixed one (not months).
    pub(crate) fn step(&self) -> Option<Duration> {
        match self.width {
            BucketWidth::Hour => Some(Duration::hours(1)),
            BucketWidth::Day => Some(Duration::days(1)),
            BucketWidth::Week => Some(Duration::days(7)),
            BucketWidth::Month => None,
        }
    }

    /// The counts of the `span` buckets ending with the one that starts at
    /// `end` (that bucket and the `span - 1` before it), summed over those
    /// present; `None` when none is. A span of 1 is the bucket itself.
    /// Months only pool a span of 1.
    pub(crate) fn pooled(&self, end: DateTime<Utc>, span: usize) -> Option<Counts> {
        let step = match (self.step(), span) {
            (_, 0) => return None,
            (_, 1) => return self.by_start.get(&end).map(|c| (*c).clone()),
            (Some(step), _) => step,
            (None, _) => return None,
        };
        let from = end.checked_sub_signed(step.checked_mul(span as i32 - 1)?)?;
        self.by_start
            .range(from..=end)
            .map(|(_, c)| *c)
            .fold(None, |sum: Option<Counts>, c| {
                Some(sum.map_or_else(|| c.clone(), |s| s.plus(c)))
            })
    }

    /// [`StreamHistory::pooled`] over `span` buckets in each of up to
    /// `count` earlier periods of `period` (a week for the weekly slot, a
    /// day for the daily one), newest first, only those with data.
    pub(crate) fn pooled_slot(&self, period: Duration, count: usize, span: usize) -> Vec<Counts> {
        self.pooled_slot_around(period, count, span, 0)
    }

    /// [`StreamHistory::pooled_slot`] widened by `pad` buckets on each side
    /// in every past period: the same hour ± `pad` hours. Rates (not
    /// volumes) barely move from one hour to the next, so the neighbours
    /// triple the baseline's volume for the same weeks of history.
    pub(crate) fn pooled_slot_around(
        &self,
        period: Duration,
        count: usize,
        span: usize,
        pad: usize,
    ) -> Vec<Counts> {
        let Some(step) = self.step() else {
            return self.slot(count).into_iter().cloned().collect();
        };
        let forward = step.checked_mul(pad as i32).unwrap_or(Duration::zero());
        (1..=count.min(MAX_BASELINE_WEEKS * 7) as i32)
            .filter_map(|k| period.checked_mul(k))
            .filter_map(|back| self.start.checked_sub_signed(back))
            .filter_map(|at| at.checked_add_signed(forward))
            .filter_map(|at| self.pooled(at, span + 2 * pad))
            .collect()
    }

    /// `start - days`, or `None` at the edge of representable time.
    fn days_before(&self, days: i64) -> Option<DateTime<Utc>> {
        self.start.checked_sub_signed(Duration::try_days(days)?)
    }

    /// The same slot in up to `weeks` previous weeks, newest first, only the
    /// buckets present. Monthly buckets have no weekly slot: their slot is
    /// the previous `weeks` months.
    pub(crate) fn slot(&self, weeks: usize) -> Vec<&'a Counts> {
        let weeks = weeks.min(MAX_BASELINE_WEEKS);
        match self.width {
            BucketWidth::Month => self
                .by_start
                .range(..self.start)
                .rev()
                .take(weeks)
                .map(|(_, c)| *c)
                .collect(),
            BucketWidth::Hour | BucketWidth::Day | BucketWidth::Week => (1..=weeks as i64)
                .filter_map(|k| self.days_before(7 * k))
                .filter_map(|at| self.by_start.get(&at).copied())
                .collect(),
        }
    }

    /// Up to `count` buckets before the judged one, newest first, however
    /// far back: the previous sends of a one-off stream.
    pub(crate) fn previous(&self, count: usize) -> Vec<&'a Counts> {
        self.by_start
            .range(..self.start)
            .rev()
            .take(count)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Every bucket present in the `weeks` weeks before the judged one
    /// (monthly buckets: the previous `weeks` months), whatever the slot.
    /// Used to measure how much a rate wanders from bucket to bucket.
    pub(crate) fn window(&self, weeks: usize) -> Vec<&'a Counts> {
        let weeks = weeks.min(MAX_BASELINE_WEEKS);
        match self.width {
            BucketWidth::Month => self.slot(weeks),
            BucketWidth::Hour | BucketWidth::Day | BucketWidth::Week => {
                let from = self
                    .days_before(7 * weeks as i64)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                self.by_start
                    .range(from..self.start)
                    .map(|(_, c)| *c)
                    .collect()
            }
        }
    }

    /// The metric over the last `n` buckets, oldest first, ending with the
    /// judged one; `None` where a bucket is missing or has no value.
    /// Monthly buckets (uneven lengths) use the last `n` months present.
    pub(crate) fn recent(
        &self,
        n: usize,
        value: impl Fn(&Counts) -> Option<f64>,
    ) -> Vec<Option<f64>> {
        let step = match self.width {
            BucketWidth::Hour => Duration::hours(1),
            BucketWidth::Day => Duration::days(1),
            BucketWidth::Week => Duration::days(7),
            BucketWidth::Month => {
                let mut values: Vec<Option<f64>> = self
                    .by_start
                    .range(..=self.start)
                    .rev()
                    .take(n)
                    .map(|(_, c)| value(c))
                    .collect();
                values.reverse();
                return values;
            }
        };
        let mut values = Vec::with_capacity(n);
        for back in (0..n as i32).rev() {
            let at = step
                .checked_mul(back)
                .and_then(|d| self.start.checked_sub_signed(d));
            values.push(
                at.and_then(|at| self.by_start.get(&at))
                    .and_then(|c| value(c)),
            );
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Bucket;

    fn sample(stream: &str, start: &str, width: BucketWidth, sent: u64) -> Sample {
        Sample {
            stream: StreamKey::new(stream),
            bucket: Bucket {
                start: start.parse().unwrap_or_else(|e| panic!("{start}: {e}")),
                width,
                provider_tz: "UTC".into(),
            },
            counts: Counts {
                sent: Some(sent),
                ..Counts::default()
            },
        }
    }

    fn sent(counts: &[&Counts]) -> Vec<u64> {
        counts.iter().filter_map(|c| c.sent).collect()
    }

    #[test]
    fn the_slot_is_the_same_weekday_and_hour_and_skips_missing_weeks() {
        let h = BucketWidth::Hour;
        let samples = vec![
            sample("a", "2026-11-18T13:00:00Z", h, 100), // judged (Wednesday)
            sample("a", "2026-11-18T12:00:00Z", h, 1),
            sample("a", "2026-11-11T13:00:00Z", h, 2),
            // 2026-11-04 13:00 is missing
            sample("a", "2026-10-28T13:00:00Z", h, 4),
            sample("a", "2026-10-21T13:00:00Z", h, 5),
            sample("a", "2026-10-21T14:00:00Z", h, 6),
            sample("b", "2026-11-11T13:00:00Z", h, 7), // another stream
        ];
        let history =
            StreamHistory::new(&StreamKey::new("a"), &samples).unwrap_or_else(|| panic!("history"));
        assert_eq!(history.current.sent, Some(100));
        assert_eq!(sent(&history.slot(4)), [2, 4, 5]);
        assert_eq!(sent(&history.slot(2)), [2]);
        assert_eq!(history.window(4).len(), 5);
        let recent = history.recent(3, |c| c.sent.map(|s| s as f64));
        assert_eq!(recent, [None, Some(1.0), Some(100.0)]);
    }

    #[test]
    fn duplicates_keep_the_later_sample_and_other_widths_are_ignored() {
        let samples = vec![
            sample("a", "2026-11-18T00:00:00Z", BucketWidth::Day, 1),
            sample("a", "2026-11-11T00:00:00Z", BucketWidth::Day, 2),
            sample("a", "2026-11-18T00:00:00Z", BucketWidth::Day, 3),
            sample("a", "2026-11-11T00:00:00Z", BucketWidth::Hour, 9),
        ];
        let history =
            StreamHistory::new(&StreamKey::new("a"), &samples).unwrap_or_else(|| panic!("history"));
        assert_eq!(history.current.sent, Some(3));
        assert_eq!(sent(&history.slot(4)), [2]);
        assert!(StreamHistory::new(&StreamKey::new("none"), &samples).is_none());
    }

    #[test]
    fn monthly_buckets_use_the_previous_months() {
        let m = BucketWidth::Month;
        let samples = vec![
            sample("a", "2026-09-01T00:00:00Z", m, 1),
            sample("a", "2026-10-01T00:00:00Z", m, 2),
            sample("a", "2026-11-01T00:00:00Z", m, 3),
        ];
        let history =
            StreamHistory::new(&StreamKey::new("a"), &samples).unwrap_or_else(|| panic!("history"));
        assert_eq!(sent(&history.slot(4)), [2, 1]);
        assert_eq!(
            history.recent(24, |c| c.sent.map(|s| s as f64)),
            [Some(1.0), Some(2.0), Some(3.0)]
        );
    }
}
