//! Scenario tests: the detectors over weeks of realistic generated traffic.
//!
//! The unit tests beside each detector pin its arithmetic on hand-made
//! slots. These run [`evaluate`] the way the poller will, bucket after
//! bucket, over the sandbox's traffic (weekly rhythm, quiet weekends,
//! noise in every count) with scripted incidents, and assert two things:
//! every injected kind is found, with the right kind, metric and level,
//! within one bucket of its start; and nothing else is ever found: not on
//! weekend dips, not on low-volume noise, not on gaps in the data.

use chrono::{DateTime, Duration, Utc};

use super::detectors::{pct, thousands};
use super::{evaluate, AnomalyKind, DetectorSettings, Evaluation, Level, Metric};
use crate::delivery::{Counts, Sample, StreamKey};
use crate::esp::sandbox::{generate, Event, EventKind, Profile, SandboxStream, Scenario};

const ACCOUNT: &str = "acct";

fn at(text: &str) -> DateTime<Utc> {
    text.parse()
        .unwrap_or_else(|e| panic!("bad test instant {text}: {e}"))
}

/// Wednesday 2026-11-18 13:00 UTC: where incidents start.
fn incident_start() -> DateTime<Utc> {
    at("2026-11-18T13:00:00Z")
}

/// Five weeks of history before Monday 2026-11-16, and that whole week.
fn history_start() -> DateTime<Utc> {
    at("2026-10-12T00:00:00Z")
}

fn history_end() -> DateTime<Utc> {
    at("2026-11-23T00:00:00Z")
}

fn key(name: &str) -> StreamKey {
    StreamKey::new(name)
}

/// The samples of `scenario`, one vector per stream.
fn traffic(scenario: &Scenario) -> Vec<(StreamKey, Vec<Sample>)> {
    let samples = generate(ACCOUNT, scenario, history_start(), history_end(), None);
    scenario
        .streams
        .iter()
        .map(|s| {
            let mine = samples
                .iter()
                .filter(|sample| sample.stream == s.key)
                .cloned()
                .collect();
            (s.key.clone(), mine)
        })
        .collect()
}

/// Judges `stream` at `when`, with only what the poller would have had
/// then: the samples up to and including `when`.
fn judge_at(stream: &StreamKey, samples: &[Sample], when: DateTime<Utc>) -> Evaluation {
    let known: Vec<Sample> = samples
        .iter()
        .filter(|s| s.bucket.start <= when && s.bucket.start > when - Duration::weeks(5))
        .cloned()
        .collect();
    evaluate(ACCOUNT, stream, &known, &DetectorSettings::default())
}

fn kinds(evaluation: &Evaluation) -> Vec<(AnomalyKind, Metric, Level)> {
    evaluation
        .findings
        .iter()
        .map(|f| (f.key.kind, f.key.metric, f.level))
        .collect()
}

/// Applies `change` to the stream's counts from `start` on.
fn bend(samples: &mut [Sample], start: DateTime<Utc>, change: impl Fn(&mut Counts)) {
    for sample in samples.iter_mut().filter(|s| s.bucket.start >= start) {
        change(&mut sample.counts);
    }
}

/// Evaluates every hour from three hours before `start` to three after and
/// checks: nothing before the start; from the first detection (at `start`
/// or the hour after) to the end, exactly `expected` every hour.
fn assert_detected(
    stream: &StreamKey,
    samples: &[Sample],
    start: DateTime<Utc>,
    expected: &[(AnomalyKind, Metric, Level)],
) {
    for back in 1..=3 {
        let when = start - Duration::hours(back);
        let evaluation = judge_at(stream, samples, when);
        assert_eq!(
            kinds(&evaluation),
            [],
            "{stream} at {when}, before the incident"
        );
    }
    let first = (0..=1)
        .map(|h| start + Duration::hours(h))
        .find(|&when| !judge_at(stream, samples, when).findings.is_empty())
        .unwrap_or_else(|| panic!("{stream}: nothing found within one bucket of {start}"));
    for h in 0..=3 {
        let when = first + Duration::hours(h);
        let evaluation = judge_at(stream, samples, when);
        assert_eq!(evaluation.bucket_start, Some(when));
        assert_eq!(kinds(&evaluation), expected, "{stream} at {when}");
        for finding in &evaluation.findings {
            assert!(finding.score >= 0.5 && finding.score <= 1.0, "{finding:?}");
            assert_eq!(finding.recent.len(), 24);
            assert_eq!(finding.bucket_start, when);
        }
    }
}

fn one_incident(stream: &str, kind: EventKind) -> Scenario {
    let mut scenario = Scenario::steady();
    scenario.events = vec![Event {
        stream: key(stream),
        start: incident_start(),
        end: None,
        kind,
    }];
    scenario
}

fn samples_of(traffic: Vec<(StreamKey, Vec<Sample>)>, stream: &str) -> Vec<Sample> {
    traffic
        .into_iter()
        .find(|(k, _)| k.as_str() == stream)
        .map(|(_, samples)| samples)
        .unwrap_or_default()
}

#[test]
fn a_steady_week_raises_nothing_weekends_included() {
    let scenario = Scenario::steady();
    let monday = at("2026-11-16T00:00:00Z");
    let mut judged_weekend_volume = 0;
    for (stream, samples) in traffic(&scenario) {
        for hour in 0..(7 * 24) {
            let when = monday + Duration::hours(hour);
            let evaluation = judge_at(&stream, &samples, when);
            assert_eq!(kinds(&evaluation), [], "{stream} at {when}");
            let weekend = hour >= 5 * 24;
            if weekend
                && evaluation
                    .healthy
                    .iter()
                    .any(|k| k.kind == AnomalyKind::VolumeDrop)
            {
                judged_weekend_volume += 1;
            }
        }
    }
    // Weekend volumes were judged (and found normal) hour after hour for
    // the automation and transactional streams, not merely skipped.
    assert!(
        judged_weekend_volume >= 3 * 48 - 10,
        "{judged_weekend_volume}"
    );
}

#[test]
fn a_weekend_dip_is_judged_against_weekends() {
    let welcome = samples_of(traffic(&Scenario::steady()), "tag:welcome");
    let sent_at = |when: &str| {
        welcome
            .iter()
            .find(|s| s.bucket.start == at(when))
            .and_then(|s| s.counts.sent)
            .unwrap_or_default()
    };
    let friday = sent_at("2026-11-20T14:00:00Z");
    let saturday = sent_at("2026-11-21T14:00:00Z");
    assert!(
        (saturday as f64) < 0.65 * friday as f64,
        "{saturday} vs {friday}"
    );
    let evaluation = judge_at(&key("tag:welcome"), &welcome, at("2026-11-21T14:00:00Z"));
    assert_eq!(kinds(&evaluation), []);
    assert!(evaluation
        .healthy
        .iter()
        .any(|k| k.metric == Metric::Volume && k.kind == AnomalyKind::VolumeDrop));
    // Receipts dip less but send enough at weekends for every rate to be
    // judged too: all normal.
    let receipts = samples_of(traffic(&Scenario::steady()), "tag:receipts");
    let evaluation = judge_at(&key("tag:receipts"), &receipts, at("2026-11-21T14:00:00Z"));
    assert_eq!(kinds(&evaluation), []);
    for metric in [Metric::Volume, Metric::Bounce, Metric::Open, Metric::Click] {
        assert!(
            evaluation.healthy.iter().any(|k| k.metric == metric),
            "{metric} judged healthy on Saturday"
        );
    }
    // The newsletter does not send at weekends: nothing found and no
    // silence alert. Its volume is not judged; its rates are, pooled over
    // the last day (Friday's sends), and are normal.
    let newsletter = samples_of(traffic(&Scenario::steady()), "tag:newsletter");
    let evaluation = judge_at(
        &key("tag:newsletter"),
        &newsletter,
        at("2026-11-21T14:00:00Z"),
    );
    assert_eq!(kinds(&evaluation), []);
    assert!(
        evaluation
            .healthy
            .iter()
            .all(|k| k.metric != Metric::Volume),
        "{:?}",
        evaluation.healthy
    );
}

#[test]
fn a_bounce_spike_is_a_critical_hard_limit() {
    let scenario = one_incident(
        "tag:welcome",
        EventKind::BounceSpike {
            hard_bounce_rate: 0.09,
        },
    );
    let samples = samples_of(traffic(&scenario), "tag:welcome");
    assert_detected(
        &key("tag:welcome"),
        &samples,
        incident_start(),
        &[(AnomalyKind::HardLimit, Metric::Bounce, Level::Critical)],
    );
    let finding = judge_at(&key("tag:welcome"), &samples, incident_start())
        .findings
        .remove(0);
    let figure = |v: Option<f64>| pct(v.unwrap_or(f64::NAN));
    assert_eq!(
        finding.summary,
        format!(
            "bounces {} of {} sent; usually {} at this hour (4 weeks); critical above 5%",
            figure(finding.value),
            thousands(finding.volume.unwrap_or_default()),
            figure(finding.baseline),
        )
    );
    assert!(finding.value.unwrap_or_default() > 0.05);
    assert!(finding.baseline.unwrap_or(1.0) < 0.01);
    // The sparkline shows the jump in its last value only.
    let recent: Vec<f64> = finding.recent.iter().flatten().copied().collect();
    assert_eq!(recent.len(), 24);
    assert!(recent[..23].iter().all(|&r| r < 0.02) && recent[23] > 0.05);
}

#[test]
fn a_smaller_bounce_rise_is_a_baseline_deviation() {
    // 1.5% bounces on the receipts stream (usually 0.7%): under every hard
    // limit, but far outside its own history at ~1,900 sent an hour.
    let scenario = one_incident(
        "tag:receipts",
        EventKind::BounceSpike {
            hard_bounce_rate: 0.013,
        },
    );
    let samples = samples_of(traffic(&scenario), "tag:receipts");
    assert_detected(
        &key("tag:receipts"),
        &samples,
        incident_start(),
        &[(AnomalyKind::Baseline, Metric::Bounce, Level::Warning)],
    );
}

#[test]
fn a_complaint_rise_above_the_gmail_line_is_critical() {
    let mut samples = samples_of(traffic(&Scenario::steady()), "tag:newsletter");
    // 0.4% of delivered complain from 13:00 on (usually 0.02%).
    bend(&mut samples, incident_start(), |c| {
        c.complaints = c.delivered.map(|d| d * 4 / 1000);
    });
    assert_detected(
        &key("tag:newsletter"),
        &samples,
        incident_start(),
        &[(AnomalyKind::HardLimit, Metric::Complaint, Level::Critical)],
    );
    // 0.2%: a warning.
    let mut samples = samples_of(traffic(&Scenario::steady()), "tag:newsletter");
    bend(&mut samples, incident_start(), |c| {
        c.complaints = c.delivered.map(|d| d * 2 / 1000);
    });
    let evaluation = judge_at(&key("tag:newsletter"), &samples, incident_start());
    assert_eq!(
        kinds(&evaluation),
        [(AnomalyKind::HardLimit, Metric::Complaint, Level::Warning)]
    );
}

#[test]
fn silence_is_a_critical_volume_drop() {
    let scenario = one_incident("tag:onboarding-day-3", EventKind::Silence);
    let samples = samples_of(traffic(&scenario), "tag:onboarding-day-3");
    assert_detected(
        &key("tag:onboarding-day-3"),
        &samples,
        incident_start(),
        &[(AnomalyKind::VolumeDrop, Metric::Volume, Level::Critical)],
    );
    // Still silent at night: still critical (the slot usually sends ~60).
    let night = judge_at(
        &key("tag:onboarding-day-3"),
        &samples,
        at("2026-11-19T03:00:00Z"),
    );
    assert_eq!(
        kinds(&night),
        [(AnomalyKind::VolumeDrop, Metric::Volume, Level::Critical)]
    );
}

#[test]
fn a_drop_to_a_tenth_is_a_volume_warning() {
    let mut samples = samples_of(traffic(&Scenario::steady()), "tag:receipts");
    bend(&mut samples, incident_start(), |c| {
        for count in [
            &mut c.requested,
            &mut c.sent,
            &mut c.delivered,
            &mut c.bounce_hard,
            &mut c.bounce_soft,
            &mut c.blocked,
            &mut c.deferred,
            &mut c.opens_unique,
            &mut c.opens_machine,
            &mut c.clicks_unique,
            &mut c.complaints,
            &mut c.unsubscribes,
        ] {
            *count = count.map(|n| n / 10);
        }
    });
    assert_detected(
        &key("tag:receipts"),
        &samples,
        incident_start(),
        &[(AnomalyKind::VolumeDrop, Metric::Volume, Level::Warning)],
    );
}

#[test]
fn a_looping_automation_is_a_volume_spike() {
    let scenario = one_incident("tag:welcome", EventKind::Runaway { factor: 8.0 });
    let samples = samples_of(traffic(&scenario), "tag:welcome");
    assert_detected(
        &key("tag:welcome"),
        &samples,
        incident_start(),
        &[(AnomalyKind::VolumeSpike, Metric::Volume, Level::Critical)],
    );
    // Four times usual: a warning.
    let scenario = one_incident("tag:receipts", EventKind::Runaway { factor: 4.0 });
    let samples = samples_of(traffic(&scenario), "tag:receipts");
    assert_detected(
        &key("tag:receipts"),
        &samples,
        incident_start(),
        &[(AnomalyKind::VolumeSpike, Metric::Volume, Level::Warning)],
    );
}

#[test]
fn broken_tracking_is_an_engagement_collapse() {
    let scenario = one_incident(
        "tag:newsletter",
        EventKind::TrackingBroken { fraction: 0.05 },
    );
    let samples = samples_of(traffic(&scenario), "tag:newsletter");
    assert_detected(
        &key("tag:newsletter"),
        &samples,
        incident_start(),
        &[
            (
                AnomalyKind::EngagementCollapse,
                Metric::Open,
                Level::Critical,
            ),
            (
                AnomalyKind::EngagementCollapse,
                Metric::Click,
                Level::Critical,
            ),
        ],
    );
}

#[test]
fn low_volume_noise_raises_nothing() {
    // A stream of ~40 messages an hour where, every few days, one hour
    // bounces 2 of 40 (5%) and draws a complaint: noise at this volume.
    // Its rates are judged over pooled hours, and nothing is found.
    let scenario = Scenario {
        streams: vec![SandboxStream {
            key: key("tag:tiny"),
            peak_hourly: 45,
            profile: Profile::Automation,
        }],
        events: Vec::new(),
    };
    let mut samples = samples_of(traffic(&scenario), "tag:tiny");
    for (i, sample) in samples.iter_mut().enumerate() {
        if i % 71 == 0 {
            sample.counts.bounce_hard = sample.counts.sent.map(|s| s.min(2));
            sample.counts.complaints = Some(1);
        }
    }
    let monday = at("2026-11-16T00:00:00Z");
    let mut judged_rates = 0;
    for hour in 0..(7 * 24) {
        let when = monday + Duration::hours(hour);
        let evaluation = judge_at(&key("tag:tiny"), &samples, when);
        assert_eq!(kinds(&evaluation), [], "at {when}");
        judged_rates += usize::from(
            evaluation
                .healthy
                .iter()
                .any(|k| k.metric == Metric::Bounce),
        );
    }
    // Every busy hour is judged, over pooled hours; the quietest night
    // hours hold too little of their own window to be judged at all.
    assert!(
        (7 * 24 * 3 / 4..7 * 24).contains(&judged_rates),
        "the bounce rate is judged in {judged_rates} of 168 hours"
    );
}

#[test]
fn missing_data_is_never_an_alert() {
    let mut welcome = samples_of(traffic(&Scenario::steady()), "tag:welcome");
    // The feed lost all of Tuesday, three hours on Wednesday morning, and
    // this slot two and three weeks ago.
    let lost = |start: DateTime<Utc>| {
        let tuesday = at("2026-11-17T00:00:00Z");
        let wednesday_gap = at("2026-11-18T09:00:00Z");
        (start >= tuesday && start < tuesday + Duration::days(1))
            || (start >= wednesday_gap && start < wednesday_gap + Duration::hours(3))
            || start == incident_start() - Duration::weeks(2)
            || start == incident_start() - Duration::weeks(3)
    };
    welcome.retain(|s| !lost(s.bucket.start));
    let stream = key("tag:welcome");
    for hour in 0..(2 * 24) {
        let when = at("2026-11-17T00:00:00Z") + Duration::hours(hour);
        let evaluation = judge_at(&stream, &welcome, when);
        assert_eq!(kinds(&evaluation), [], "at {when}");
        if lost(when) {
            // The newest sample present is judged, not the missing hour.
            assert_ne!(evaluation.bucket_start, Some(when));
        }
    }
    // Wednesday 13:00 with two of its four weeks missing: still judged on
    // the two that remain, and normal.
    let evaluation = judge_at(&stream, &welcome, incident_start());
    assert!(evaluation
        .healthy
        .iter()
        .any(|k| k.metric == Metric::Volume && k.kind == AnomalyKind::VolumeDrop));
    // A stalled feed (nothing after 08:00) is judged as of 08:00, not as a
    // silent 11:00.
    let stalled: Vec<Sample> = welcome
        .iter()
        .filter(|s| s.bucket.start <= at("2026-11-18T08:00:00Z"))
        .cloned()
        .collect();
    let evaluation = judge_at(&stream, &stalled, at("2026-11-18T11:00:00Z"));
    assert_eq!(evaluation.bucket_start, Some(at("2026-11-18T08:00:00Z")));
    assert_eq!(kinds(&evaluation), []);
}

#[test]
fn the_demo_story_is_found() {
    let now = at("2026-11-18T15:20:00Z");
    let scenario = Scenario::demo(now);
    let samples = generate(ACCOUNT, &scenario, now - Duration::weeks(5), now, None);
    let mut found = Vec::new();
    for stream in &scenario.streams {
        let mine: Vec<Sample> = samples
            .iter()
            .filter(|s| s.stream == stream.key)
            .cloned()
            .collect();
        let evaluation = evaluate(ACCOUNT, &stream.key, &mine, &DetectorSettings::default());
        assert_eq!(evaluation.bucket_start, Some(at("2026-11-18T14:00:00Z")));
        found.extend(
            evaluation
                .findings
                .iter()
                .map(|f| (f.key.stream.to_string(), f.key.kind, f.key.metric, f.level)),
        );
    }
    assert_eq!(
        found,
        [
            (
                "tag:welcome".to_string(),
                AnomalyKind::HardLimit,
                Metric::Bounce,
                Level::Critical
            ),
            (
                "tag:onboarding-day-3".to_string(),
                AnomalyKind::VolumeDrop,
                Metric::Volume,
                Level::Critical
            ),
        ]
    );
}
