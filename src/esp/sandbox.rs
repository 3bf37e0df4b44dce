//! The sandbox provider: realistic generated traffic, with scripted
//! incidents, for `mailcall demo` and for tests. No network.
//!
//! Traffic follows a weekly rhythm (weekdays busy, weekends quiet, a daytime
//! peak in UTC), with noise. Everything is a pure function of the account,
//! the stream and the bucket (the noise is seeded from them), so fetching
//! the same window twice gives the same numbers: re-polls upsert identical
//! samples, exactly as a well-behaved provider's history would.
//!
//! Scripted events bend the traffic from a given instant: a bounce spike
//! (a poisoned list import), silence (an automation that stopped sending:
//! explicit zero volume, because the sandbox knows it sent nothing), or
//! broken tracking (opens and clicks collapse while delivery looks normal).
//! A poll ([`poll`]) answers as providers do: every hour that overlaps the
//! window, the current one with only the part that has happened;
//! [`generate`] gives complete hours only, for tests that want them.
//! [`poll_selection`] adds the account total, the sum of every stream, for
//! an account polled with `streams = "all"` or `"account"`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc, Weekday};

use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};
use crate::esp::account::StreamSelection;

/// How a stream sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Triggered by sign-ups and actions: follows the daily rhythm.
    Automation,
    /// Receipts and resets: steady, lighter at night.
    Transactional,
    /// Marketing sends: weekday working hours only.
    Newsletter,
}

/// One generated stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxStream {
    pub key: StreamKey,
    /// Messages per hour at a weekday peak.
    pub peak_hourly: u64,
    pub profile: Profile,
}

/// Something that goes wrong, from `start` until `end` (open-ended if
/// `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub stream: StreamKey,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub kind: EventKind,
}

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// Hard bounces at this rate (0.08 = 8%).
    BounceSpike { hard_bounce_rate: f64 },
    /// The stream sends nothing.
    Silence,
    /// Opens and clicks fall to this fraction of normal.
    TrackingBroken { fraction: f64 },
    /// The stream sends this many times its normal volume (an automation
    /// looping, a list sent twice).
    Runaway { factor: f64 },
}

/// Streams and events of one sandbox account.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub streams: Vec<SandboxStream>,
    pub events: Vec<Event>,
}

impl Scenario {
    /// Four healthy streams and no incidents.
    pub fn steady() -> Scenario {
        let stream = |key: &str, peak_hourly, profile| SandboxStream {
            key: StreamKey::new(key),
            peak_hourly,
            profile,
        };
        Scenario {
            streams: vec![
                stream("tag:welcome", 900, Profile::Automation),
                stream("tag:onboarding-day-3", 450, Profile::Automation),
                stream("tag:receipts", 2000, Profile::Transactional),
                stream("tag:newsletter", 12_000, Profile::Newsletter),
            ],
            events: Vec::new(),
        }
    }

    /// The demo's story, anchored at `now`: the welcome series starts
    /// bouncing three hours ago (a poisoned import), and the day-3
    /// onboarding automation went silent five hours ago.
    pub fn demo(now: DateTime<Utc>) -> Scenario {
        let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        let mut scenario = Scenario::steady();
        scenario.events = vec![
            Event {
                stream: StreamKey::new("tag:welcome"),
                start: hour - Duration::hours(3),
                end: None,
                kind: EventKind::BounceSpike {
                    hard_bounce_rate: 0.09,
                },
            },
            Event {
                stream: StreamKey::new("tag:onboarding-day-3"),
                start: hour - Duration::hours(5),
                end: None,
                kind: EventKind::Silence,
            },
        ];
        scenario
    }
}

/// How busy this hour is for this profile, 0..=1.
fn rhythm(profile: Profile, at: DateTime<Utc>) -> f64 {
    let weekend = matches!(at.weekday(), Weekday::Sat | Weekday::Sun);
    let hour = at.hour() as f64;
    // A smooth day curve peaking mid-afternoon UTC, never quite zero.
    let day = 0.15 + 0.85 * (-((hour - 14.0) / 4.5).powi(2)).exp();
    match profile {
        Profile::Automation => day * if weekend { 0.55 } else { 1.0 },
        Profile::Transactional => (0.4 + 0.6 * day) * if weekend { 0.8 } else { 1.0 },
        Profile::Newsletter => {
            if weekend || !(8.0..18.0).contains(&hour) {
                0.0
            } else {
                day
            }
        }
    }
}

/// A deterministic generator for one (account, stream, bucket).
fn rng_for(account: &str, stream: &StreamKey, start: DateTime<Utc>) -> fastrand::Rng {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account
        .bytes()
        .chain([0])
        .chain(stream.as_str().bytes())
        .chain(start.timestamp().to_le_bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    fastrand::Rng::with_seed(hash)
}

/// `base × rate`, with ±`spread` relative noise, rounded.
fn around(rng: &mut fastrand::Rng, base: f64, rate: f64, spread: f64) -> u64 {
    let noise = 1.0 + spread * (rng.f64() * 2.0 - 1.0);
    (base * rate * noise).round().max(0.0) as u64
}

/// The counts of one hour of one stream.
fn hour_counts(
    account: &str,
    stream: &SandboxStream,
    events: &[Event],
    start: DateTime<Utc>,
) -> Counts {
    let mut rng = rng_for(account, &stream.key, start);
    let active = |kind: fn(&EventKind) -> bool| {
        events.iter().find(|e| {
            e.stream == stream.key
                && e.start <= start
                && e.end.is_none_or(|end| start < end)
                && kind(&e.kind)
        })
    };
    let silent = active(|k| matches!(k, EventKind::Silence)).is_some();
    let multiple = match active(|k| matches!(k, EventKind::Runaway { .. })).map(|e| e.kind) {
        Some(EventKind::Runaway { factor }) => factor,
        _ => 1.0,
    };
    let volume = if silent {
        0
    } else {
        around(
            &mut rng,
            stream.peak_hourly as f64 * multiple,
            rhythm(stream.profile, start),
            0.12,
        )
    };
    let sent = volume as f64;
    let hard_rate = match active(|k| matches!(k, EventKind::BounceSpike { .. })).map(|e| e.kind) {
        Some(EventKind::BounceSpike { hard_bounce_rate }) => hard_bounce_rate,
        _ => 0.003,
    };
    let bounce_hard = around(&mut rng, sent, hard_rate, 0.3).min(volume);
    let bounce_soft = around(&mut rng, sent, 0.004, 0.3).min(volume - bounce_hard);
    let blocked = around(&mut rng, sent, 0.001, 0.5).min(volume - bounce_hard - bounce_soft);
    let delivered = volume - bounce_hard - bounce_soft - blocked;
    let engagement = match active(|k| matches!(k, EventKind::TrackingBroken { .. })).map(|e| e.kind)
    {
        Some(EventKind::TrackingBroken { fraction }) => fraction,
        _ => 1.0,
    };
    let opens_unique = around(&mut rng, delivered as f64, 0.26 * engagement, 0.15);
    Counts {
        requested: Some(volume),
        sent: Some(volume),
        delivered: Some(delivered),
        bounce_hard: Some(bounce_hard),
        bounce_soft: Some(bounce_soft),
        blocked: Some(blocked),
        deferred: Some(around(&mut rng, sent, 0.01, 0.4)),
        dropped: Some(0),
        opens_unique: Some(opens_unique),
        opens_machine: Some(around(&mut rng, opens_unique as f64, 0.4, 0.1)),
        clicks_unique: Some(around(&mut rng, delivered as f64, 0.032 * engagement, 0.2)),
        complaints: Some(around(&mut rng, delivered as f64, 0.0002, 1.0)),
        unsubscribes: Some(around(&mut rng, delivered as f64, 0.0015, 0.5)),
        delivered_derived: false,
        reported: None,
    }
}

/// The complete hourly buckets in `[start, end)` for every stream of the
/// scenario (only `streams`, if given).
pub fn generate(
    account: &str,
    scenario: &Scenario,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    streams: Option<&[StreamKey]>,
) -> Vec<Sample> {
    let first = start.duration_trunc(Duration::hours(1)).unwrap_or(start);
    let first = if first < start {
        first + Duration::hours(1)
    } else {
        first
    };
    let mut samples = Vec::new();
    for stream in &scenario.streams {
        if streams.is_some_and(|wanted| !wanted.contains(&stream.key)) {
            continue;
        }
        let mut hour = first;
        while hour + Duration::hours(1) <= end {
            samples.push(Sample {
                stream: stream.key.clone(),
                bucket: Bucket {
                    start: hour,
                    width: BucketWidth::Hour,
                    provider_tz: "UTC".into(),
                },
                counts: hour_counts(account, stream, &scenario.events, hour),
            });
            hour += Duration::hours(1);
        }
    }
    samples
}

/// What a poll of the sandbox at `now` returns for the window
/// `[start, end)`, as a real provider answers: every hourly bucket that
/// overlaps the window (so windows that meet never leave a bucket out), up
/// to the hour `now` falls in, which holds only the part of the hour that
/// has happened (its counts pro rata, rounded down), because a provider
/// counts an hour as it goes.
pub fn poll(
    account: &str,
    scenario: &Scenario,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    streams: Option<&[StreamKey]>,
) -> Vec<Sample> {
    let hour = Duration::hours(1);
    let first = start.duration_trunc(hour).unwrap_or(start);
    let until = end.min(now);
    let mut samples = Vec::new();
    for stream in &scenario.streams {
        if streams.is_some_and(|wanted| !wanted.contains(&stream.key)) {
            continue;
        }
        let mut at = first;
        while at < until {
            let full = hour_counts(account, stream, &scenario.events, at);
            let counts = if at + hour <= now {
                full
            } else {
                let elapsed = (now - at).num_seconds() as f64 / 3600.0;
                pro_rata(&full, elapsed)
            };
            samples.push(Sample {
                stream: stream.key.clone(),
                bucket: Bucket {
                    start: at,
                    width: BucketWidth::Hour,
                    provider_tz: "UTC".into(),
                },
                counts,
            });
            at += hour;
        }
    }
    samples
}

/// What a poll of the sandbox returns for this stream selection, as a real
/// provider answers it: the account total is the sum of every stream,
/// bucket by bucket (a provider's account figures cover all its mail), so
/// `Account` alone still adds up every stream; named streams come back
/// alone; `AllDiscovered` gives every stream plus the account total.
pub fn poll_selection(
    account: &str,
    scenario: &Scenario,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    selection: &StreamSelection,
) -> Vec<Sample> {
    let every = poll(account, scenario, start, end, now, None);
    let wants_total = match selection {
        StreamSelection::Account | StreamSelection::AllDiscovered => true,
        StreamSelection::Named(named) => named.contains(&StreamKey::account()),
    };
    let keep = |key: &StreamKey| match selection {
        StreamSelection::Account => false,
        StreamSelection::AllDiscovered => true,
        StreamSelection::Named(named) => named.contains(key),
    };
    let total = if wants_total {
        account_total(&every)
    } else {
        Vec::new()
    };
    let mut samples: Vec<Sample> = every.into_iter().filter(|s| keep(&s.stream)).collect();
    samples.extend(total);
    samples
}

/// One `account` sample per bucket: the sum of every stream's counts in it.
fn account_total(samples: &[Sample]) -> Vec<Sample> {
    let mut totals: BTreeMap<DateTime<Utc>, Sample> = BTreeMap::new();
    for sample in samples {
        totals
            .entry(sample.bucket.start)
            .and_modify(|total| total.counts = total.counts.plus(&sample.counts))
            .or_insert_with(|| Sample {
                stream: StreamKey::account(),
                bucket: sample.bucket.clone(),
                counts: sample.counts.clone(),
            });
    }
    totals.into_values().collect()
}

/// The counts of an hour `fraction` of the way through.
fn pro_rata(full: &Counts, fraction: f64) -> Counts {
    let part = |count: Option<u64>| count.map(|c| (c as f64 * fraction).floor() as u64);
    Counts {
        requested: part(full.requested),
        sent: part(full.sent),
        delivered: part(full.delivered),
        bounce_hard: part(full.bounce_hard),
        bounce_soft: part(full.bounce_soft),
        blocked: part(full.blocked),
        deferred: part(full.deferred),
        dropped: part(full.dropped),
        opens_unique: part(full.opens_unique),
        opens_machine: part(full.opens_machine),
        clicks_unique: part(full.clicks_unique),
        complaints: part(full.complaints),
        unsubscribes: part(full.unsubscribes),
        delivered_derived: full.delivered_derived,
        reported: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_same_window_always_gives_the_same_numbers() {
        let scenario = Scenario::steady();
        let a = generate(
            "acct",
            &scenario,
            at("2026-11-16T00:00:00Z"),
            at("2026-11-17T00:00:00Z"),
            None,
        );
        let b = generate(
            "acct",
            &scenario,
            at("2026-11-16T00:00:00Z"),
            at("2026-11-17T00:00:00Z"),
            None,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 4 * 24);
        let other = generate(
            "other",
            &scenario,
            at("2026-11-16T00:00:00Z"),
            at("2026-11-17T00:00:00Z"),
            None,
        );
        assert_ne!(a, other, "accounts get their own noise");
    }

    #[test]
    fn only_complete_hours_inside_the_window() {
        let samples = generate(
            "a",
            &Scenario::steady(),
            at("2026-11-16T10:30:00Z"),
            at("2026-11-16T13:15:00Z"),
            None,
        );
        let starts: Vec<u32> = samples
            .iter()
            .filter(|s| s.stream.as_str() == "tag:welcome")
            .map(|s| s.bucket.start.hour())
            .collect();
        assert_eq!(starts, [11, 12]);
    }

    #[test]
    fn weekends_are_quiet_and_newsletters_stay_in_office_hours() {
        let scenario = Scenario::steady();
        let volume = |from: &str, stream: &str| -> u64 {
            let start = at(from);
            generate(
                "a",
                &scenario,
                start,
                start + Duration::days(1),
                Some(&[StreamKey::new(stream)]),
            )
            .iter()
            .filter_map(|s| s.counts.sent)
            .sum()
        };
        // 2026-11-16 is a Monday, 2026-11-22 a Sunday.
        assert!(
            volume("2026-11-22T00:00:00Z", "tag:welcome")
                < volume("2026-11-16T00:00:00Z", "tag:welcome")
        );
        assert_eq!(volume("2026-11-22T00:00:00Z", "tag:newsletter"), 0);
        assert!(volume("2026-11-16T00:00:00Z", "tag:newsletter") > 10_000);
    }

    #[test]
    fn the_account_total_adds_up_every_stream_whatever_is_selected() {
        let scenario = Scenario::steady();
        let now = at("2026-11-16T15:30:00Z");
        let start = now - Duration::hours(3);
        let poll_with = |selection: &StreamSelection| {
            poll_selection("a", &scenario, start, now, now, selection)
        };
        let sent_in = |samples: &[Sample], stream: &str| -> Vec<Option<u64>> {
            samples
                .iter()
                .filter(|s| s.stream.as_str() == stream)
                .map(|s| s.counts.sent)
                .collect()
        };
        let all = poll_with(&StreamSelection::AllDiscovered);
        let total = sent_in(&all, "account");
        assert_eq!(
            total.len(),
            4,
            "one total per hour, the current one in part"
        );
        for (hour, sent) in total.iter().enumerate() {
            let by_stream: u64 = scenario
                .streams
                .iter()
                .map(|s| sent_in(&all, s.key.as_str())[hour].unwrap_or(0))
                .sum();
            assert_eq!(*sent, Some(by_stream));
        }
        assert_eq!(all.len(), 4 * 5);

        let account_only = poll_with(&StreamSelection::Account);
        assert_eq!(sent_in(&account_only, "account"), total);
        assert_eq!(account_only.len(), 4);

        let named = poll_with(&StreamSelection::Named(vec![
            StreamKey::account(),
            StreamKey::tag("welcome"),
        ]));
        assert_eq!(sent_in(&named, "account"), total);
        assert_eq!(named.len(), 8);
        let tag_only = poll_with(&StreamSelection::Named(vec![StreamKey::tag("welcome")]));
        assert!(tag_only.iter().all(|s| s.stream.as_str() == "tag:welcome"));
    }

    #[test]
    fn scripted_events_bend_the_traffic() {
        let now = at("2026-11-18T15:20:00Z");
        let scenario = Scenario::demo(now);
        let samples = generate("a", &scenario, now - Duration::hours(8), now, None);
        let of = |stream: &str, hour: u32| {
            samples
                .iter()
                .find(|s| s.stream.as_str() == stream && s.bucket.start.hour() == hour)
                .map(|s| s.counts.clone())
                .unwrap_or_default()
        };
        // Silence from 10:00: explicit zeros, not missing data.
        assert_eq!(of("tag:onboarding-day-3", 10).sent, Some(0));
        assert!(of("tag:onboarding-day-3", 9).sent.unwrap_or(0) > 0);
        // Bounce spike from 12:00.
        let rate = |c: Counts| c.bounce_hard.unwrap_or(0) as f64 / c.sent.unwrap_or(1) as f64;
        assert!(
            rate(of("tag:welcome", 12)) > 0.05,
            "{}",
            rate(of("tag:welcome", 12))
        );
        assert!(rate(of("tag:welcome", 11)) < 0.02);
    }

    #[test]
    fn a_poll_returns_every_overlapping_hour_and_the_current_one_in_part() {
        let now = at("2026-11-16T13:15:00Z");
        let samples = poll(
            "a",
            &Scenario::steady(),
            at("2026-11-16T10:30:00Z"),
            at("2026-11-16T14:00:00Z"),
            now,
            Some(&[StreamKey::tag("welcome")]),
        );
        let hours: Vec<u32> = samples.iter().map(|s| s.bucket.start.hour()).collect();
        assert_eq!(hours, vec![10, 11, 12, 13]);
        let full = generate(
            "a",
            &Scenario::steady(),
            at("2026-11-16T13:00:00Z"),
            at("2026-11-16T14:00:00Z"),
            Some(&[StreamKey::tag("welcome")]),
        );
        let whole = full[0].counts.sent.unwrap_or(0);
        let part = samples[3].counts.sent.unwrap_or(0);
        assert_eq!(part, whole / 4, "a quarter of the hour has happened");
        assert!(
            whole >= 4,
            "the steady welcome stream sends at 13:00: {whole}"
        );
    }
}
