//! The detectors: pure functions from one stream's history to findings.
//!
//! [`evaluate`] judges the newest bucket of a stream against its own past
//! and says, per [`AlertKey`], "anomalous" (a [`Finding`]), "normal"
//! (`healthy`) or nothing at all ("not judged": too little volume, no
//! baseline yet, no data). That third answer matters as much as the other
//! two: the alert book only clears an alert on healthy buckets, so a
//! provider outage or a quiet night must not count as recovery, and must
//! not open "volume dropped" alerts either.
//!
//! # The five detectors
//!
//! - **Hard limits** ([`AnomalyKind::HardLimit`]): a rate crossed a fixed
//!   line that somebody else enforces (Gmail/Yahoo bulk-sender spam rate,
//!   SES review levels). Needs `min_volume` behind the rate and at least
//!   [`HARD_LIMIT_MIN_EVENTS`] events: one complaint on 600 deliveries is
//!   0.17%, but it is not a rate anybody can act on.
//! - **Baseline deviation** ([`AnomalyKind::Baseline`]): a rate is
//!   significantly above (opens and clicks: below) the same weekday and hour
//!   of the previous `baseline_weeks` weeks. "Significantly" is a test on
//!   the *counts*, so 3 bounces on 40 sends is noise and 1,200 on 40,000 is
//!   an incident (see [`deviation_z`]).
//! - **Volume drop** ([`AnomalyKind::VolumeDrop`]): sent fell below
//!   `volume_drop_fraction` of the slot's usual volume (warning), or to zero
//!   where zero would be news (critical: an automation that stopped).
//! - **Volume spike** ([`AnomalyKind::VolumeSpike`]): sent reached
//!   `volume_spike_factor` times the slot's usual volume (critical at twice
//!   that) with at least `min_volume` messages: an automation looping or a
//!   list sent twice.
//! - **Engagement collapse** ([`AnomalyKind::EngagementCollapse`]): opens or
//!   clicks fell below `engagement_fraction` of usual while deliveries look
//!   normal: broken tracking or broken links rather than less mail.
//!
//! One problem, one alert: when a metric crosses its hard limit, or its
//! engagement collapses, its [`AnomalyKind::Baseline`] key is left unjudged
//! in that bucket (neither found nor healthy). The hard-limit finding
//! carries the baseline in its figures anyway, and an open baseline alert
//! neither clears nor doubles up.
//!
//! # Statistics, and why
//!
//! - **Baseline rate**: the median of the slot's rates (each past week's
//!   rate at this weekday and hour). The median, because last week's
//!   incident must not become this week's "usual". Where the slot never saw
//!   an event (a median of 0%) the rate is floored at one event over the
//!   slot's pooled volume, so a first complaint is not infinitely surprising.
//! - **Spread**: real rates wander more from week to week than binomial
//!   sampling explains (content, audiences, receivers). Counting noise alone
//!   would make every 10% wobble on 40,000 sends "significant". So the
//!   expected count carries an extra relative spread: the robust coefficient
//!   of variation of the metric over every bucket of the window (median
//!   absolute deviation × 1.4826 / median; the whole window because four
//!   slot points cannot estimate a spread), never below
//!   [`MIN_RELATIVE_SPREAD`], plus the uncertainty of a median of K points.
//! - **Test**: the smaller of two z-scores: a normal approximation with
//!   continuity correction over that inflated variance (right for large
//!   counts), and the exact conditional test of two Poisson counts: of the
//!   events this bucket and its slot saw together, would this many fall in
//!   this bucket if the rate had not changed? (binomial tail; right for
//!   small counts, where the normal approximation is far too eager and a
//!   baseline of a handful of events is itself uncertain). Both must agree
//!   before anything is called significant. z is a one-sided normal
//!   quantile; the default `significance` 3 is p ≈ 0.00135. Volumes use the
//!   same test, with the weeks of the slot as the baseline's exposure.
//! - **Scores** map to [0, 1]: baseline, volume and engagement findings use
//!   a logistic centred on the significance (`1 / (1 + e^-(z - s))`: 0.5 at
//!   the alert line, 0.95 three units beyond); hard limits use
//!   `rate / (rate + warning)` (0.5 at the warning line, 0.75 at three times
//!   it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::baseline::StreamHistory;
use super::stats::{self, deviation_z_parts, MAD_TO_SD};
use super::{AlertKey, AnomalyKind, Finding, Level, Metric};
use crate::delivery::{BucketWidth, Counts, Reported, Reputation, Sample, StreamKey};

/// A fixed line for one rate, as fractions (0.003 is 0.3%). A rate at or
/// above `warning` warns; at or above `critical` it is critical.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warning: f64,
    pub critical: f64,
}

impl Thresholds {
    pub const fn new(warning: f64, critical: f64) -> Thresholds {
        Thresholds { warning, critical }
    }
}

/// Everything the detectors can be tuned with, for one stream. The caller
/// picks the settings per stream (an SES stream gets [`DetectorSettings::ses`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    /// Hard limits per metric (only rates where higher is worse: bounce,
    /// complaint, deferral, block, unsubscribe; entries for opens, clicks,
    /// volume or the feed are ignored: absolute open rates mean little since
    /// Apple's Mail Privacy Protection).
    pub limits: BTreeMap<Metric, Thresholds>,
    /// The least volume behind a rate before any detector judges it: sent
    /// for bounce, deferral and block rates, delivered for complaint,
    /// unsubscribe, open and click rates. Below it the rate is not judged at
    /// all (neither found nor healthy). Volume drops are gated by their own
    /// significance test instead, so quiet streams can still go silent.
    pub min_volume: u64,
    /// How many past weeks of the same weekday and hour (daily buckets: the
    /// same weekday) form the baseline. At least [`MIN_BASELINE_POINTS`] of
    /// them must be present.
    pub baseline_weeks: usize,
    /// The z-score (one-sided standard normal quantile) a deviation must
    /// reach: 3 means p ≤ 0.00135.
    pub significance: f64,
    /// Sent below this fraction of the slot's usual volume is a drop.
    pub volume_drop_fraction: f64,
    /// Sent at or above this multiple of the slot's usual volume is a spike
    /// (a warning; twice the multiple is critical): an automation looping,
    /// a list sent twice, a segment that lost its filter.
    #[serde(default = "default_volume_spike_factor")]
    pub volume_spike_factor: f64,
    /// Opens or clicks below this fraction of the slot's usual rate, with
    /// deliveries in their normal range, is a collapse.
    pub engagement_fraction: f64,
    /// For streams whose buckets are one-off sends (a marketing campaign,
    /// or an audience's campaigns one per bucket): judge each bucket's
    /// rates against up to this many previous buckets of the stream,
    /// whenever they were, instead of the weekly slot. Campaigns keep no
    /// weekday rhythm, so their volume is not judged either. `None`: the
    /// weekly slot.
    #[serde(default)]
    pub previous_sends: Option<usize>,
}

/// The least volume behind a judged rate, by default. A bucket with less is
/// pooled with the buckets before it until it has this much (see
/// `Judge::view`), and the significance test decides from there, so the gate
/// only keeps a handful of messages from passing for a rate. (The
/// reference's guard of 500 per bucket left a welcome series sending 150 an
/// hour blind.)
pub const DEFAULT_MIN_VOLUME: u64 = 200;
/// The fewest slot points (past weeks present) a baseline needs.
pub const MIN_BASELINE_POINTS: usize = 2;
/// Cold start: with fewer than [`MIN_BASELINE_POINTS`] weeks of the slot, a
/// rate is compared with the same hour (daily buckets: the same span) on up
/// to [`COLD_START_DAYS`] previous days, once at least this many exist. The
/// daily cycle is respected from the third day; the weekly one from the
/// third week. Volumes wait for the weekly slot: weekends move them far
/// more than they move rates.
pub const COLD_START_MIN_DAYS: usize = 3;
/// See [`COLD_START_MIN_DAYS`].
pub const COLD_START_DAYS: usize = 7;
/// An hourly rate's weekly baseline reads the same hour ± this many hours in
/// each past week: rates barely move from hour to hour, and four weeks of
/// one hour hold too few events on a quiet stream to tell noise from news.
pub const NEIGHBOUR_HOURS: usize = 1;
/// When the same hour ± [`NEIGHBOUR_HOURS`] of the past weeks holds fewer
/// events than this (a quiet stream, or a rare event such as blocks at
/// 0.1%), an hourly rate's baseline widens to more hours around it, up to
/// [`WIDEST_NEIGHBOUR_HOURS`]. A baseline of four events cannot tell three
/// blocks in an hour from chance; twenty events pin a rate to about ±22%
/// (1/√20), the order of the week-to-week spread every rate is allowed
/// ([`MIN_RELATIVE_SPREAD`]). Rates move far less across a day than a
/// handful of events moves by chance.
pub const BASELINE_EVENTS: u64 = 20;
/// How far (hours each side) an hourly rate's baseline may widen.
pub const WIDEST_NEIGHBOUR_HOURS: usize = 12;
/// The least relative week-to-week spread assumed for any rate or volume:
/// rates never repeat to better than ±15% from week to week, whatever four
/// points happen to say.
pub const MIN_RELATIVE_SPREAD: f64 = 0.15;
/// The fewest window buckets from which the spread is measured; with fewer,
/// the slot's own spread (floored) is used.
pub const MIN_SPREAD_POINTS: usize = 8;
/// How many previous sends a campaign is judged against
/// ([`DetectorSettings::campaigns`]).
pub const CAMPAIGN_BASELINE_SENDS: usize = 10;
/// The fewest events (bounces, complaints, …) a hard-limit finding needs.
pub const HARD_LIMIT_MIN_EVENTS: u64 = 3;
/// Deliveries "look normal" for the engagement detector between these
/// fractions of the slot's usual deliveries.
pub const DELIVERED_NORMAL_RANGE: (f64, f64) = (0.5, 2.0);
/// How many values a finding's sparkline (`recent`) holds.
pub const RECENT_BUCKETS: usize = 24;
/// A baseline deviation is critical when z reaches this multiple of the
/// significance *and* the rate is [`CRITICAL_RATIO`] times usual (or a
/// third of it, for opens and clicks); otherwise it warns.
pub const CRITICAL_Z_FACTOR: f64 = 2.0;
/// See [`CRITICAL_Z_FACTOR`].
pub const CRITICAL_RATIO: f64 = 3.0;

impl Default for DetectorSettings {
    /// Gmail/Yahoo bulk-sender lines for complaints (0.1% warning, 0.3%
    /// critical) and the industry heuristic for bounces (2%, 5%), 500
    /// messages minimum, four weeks of baseline, z ≥ 3, drops below 20% of
    /// usual volume, spikes at 3× usual, engagement below 30% of usual.
    fn default() -> DetectorSettings {
        DetectorSettings {
            limits: BTreeMap::from([
                (Metric::Complaint, Thresholds::new(0.001, 0.003)),
                (Metric::Bounce, Thresholds::new(0.02, 0.05)),
                // Gmail's own lines for its own figure (Postmaster Tools).
                (Metric::SpamRate, Thresholds::new(0.001, 0.003)),
            ]),
            min_volume: DEFAULT_MIN_VOLUME,
            baseline_weeks: 4,
            significance: 3.0,
            volume_drop_fraction: 0.2,
            volume_spike_factor: default_volume_spike_factor(),
            engagement_fraction: 0.3,
            previous_sends: None,
        }
    }
}

/// Three times the usual volume: hourly volumes of a healthy stream wander
/// well inside that, while a looping automation or a doubled send with
/// its retries lands far outside it.
fn default_volume_spike_factor() -> f64 {
    3.0
}

impl DetectorSettings {
    /// The defaults: see [`DetectorSettings::default`].
    pub fn bulk_sender() -> DetectorSettings {
        DetectorSettings::default()
    }

    /// Amazon SES review levels (§11): bounces reviewed at 5% and possibly
    /// paused at 10%; complaints reviewed at 0.1% and possibly paused at
    /// 0.5%. Everything else as the defaults.
    pub fn ses() -> DetectorSettings {
        DetectorSettings::default()
            .with_limit(Metric::Bounce, Thresholds::new(0.05, 0.10))
            .with_limit(Metric::Complaint, Thresholds::new(0.001, 0.005))
    }

    /// One-off campaigns: each send judged against the previous
    /// [`CAMPAIGN_BASELINE_SENDS`] sends of its stream (an audience's
    /// earlier campaigns), not against a weekday and hour; the bulk-sender
    /// limits otherwise.
    pub fn campaigns() -> DetectorSettings {
        DetectorSettings {
            previous_sends: Some(CAMPAIGN_BASELINE_SENDS),
            ..DetectorSettings::default()
        }
    }

    /// These settings with `metric`'s hard limit set (or replaced).
    pub fn with_limit(mut self, metric: Metric, thresholds: Thresholds) -> DetectorSettings {
        self.limits.insert(metric, thresholds);
        self
    }

    /// These settings with no hard limit for `metric`.
    pub fn without_limit(mut self, metric: Metric) -> DetectorSettings {
        self.limits.remove(&metric);
        self
    }
}

/// The verdict on one bucket of one stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// What looks wrong, ordered by metric then kind.
    pub findings: Vec<Finding>,
    /// Keys judged and found normal in this bucket (sorted). Keys in neither
    /// list were not judged (too little volume, no baseline, no data) and
    /// must not move an alert either way.
    pub healthy: Vec<AlertKey>,
    /// The bucket judged: the newest sample of the stream. `None` when the
    /// stream has no samples.
    pub bucket_start: Option<DateTime<Utc>>,
}

/// Judges the newest bucket of one stream against its own history.
///
/// `samples` are the stream's samples in any order, hourly or daily (or
/// weekly, monthly) buckets; samples of other streams, and of other bucket
/// widths than the newest, are ignored. Missing buckets are missing, never
/// zero: the newest sample present is judged, and gaps in history only
/// shorten the baseline. No clock, no I/O.
pub fn evaluate(
    account: &str,
    stream: &StreamKey,
    samples: &[Sample],
    settings: &DetectorSettings,
) -> Evaluation {
    let Some(history) = StreamHistory::new(stream, samples) else {
        return Evaluation::default();
    };
    let judge = Judge {
        account,
        stream,
        history: &history,
        settings,
    };
    let mut out = Outcomes::default();
    out.record(
        &judge,
        Metric::Volume,
        AnomalyKind::VolumeDrop,
        judge.volume_drop(),
    );
    out.record(
        &judge,
        Metric::Volume,
        AnomalyKind::VolumeSpike,
        judge.volume_spike(),
    );
    for spec in &RATES {
        let view = judge.view(spec);
        let (hard, engagement, deviation) = match &view {
            None => (Verdict::NotJudged, Verdict::NotJudged, Verdict::NotJudged),
            Some(view) => {
                let baseline = judge.rate_baseline(spec, view);
                let hard = judge.hard_limit(spec, view, baseline.as_ref());
                let engagement = judge.engagement(spec, view, baseline.as_ref());
                let explained =
                    matches!(hard, Verdict::Found(_)) || matches!(engagement, Verdict::Found(_));
                let deviation = if explained {
                    Verdict::NotJudged
                } else {
                    judge.baseline(spec, view, baseline.as_ref())
                };
                (hard, engagement, deviation)
            }
        };
        out.record(&judge, spec.metric, AnomalyKind::HardLimit, hard);
        out.record(
            &judge,
            spec.metric,
            AnomalyKind::EngagementCollapse,
            engagement,
        );
        out.record(&judge, spec.metric, AnomalyKind::Baseline, deviation);
    }
    out.record(
        &judge,
        Metric::SpamRate,
        AnomalyKind::HardLimit,
        judge.provider_spam_rate(),
    );
    for (metric, pick) in [
        (
            Metric::DomainReputation,
            (|r: &Reported| r.domain_reputation) as fn(&Reported) -> Option<Reputation>,
        ),
        (Metric::IpReputation, |r: &Reported| r.ip_reputation),
    ] {
        out.record(
            &judge,
            metric,
            AnomalyKind::ReputationDrop,
            judge.reputation_drop(metric, pick),
        );
    }
    out.record(
        &judge,
        Metric::Compliance,
        AnomalyKind::ComplianceNeedsWork,
        judge.compliance(),
    );
    out.findings.sort_by_key(|f| (f.key.metric, f.key.kind));
    out.healthy.sort();
    Evaluation {
        findings: out.findings,
        healthy: out.healthy,
        bucket_start: Some(history.start),
    }
}

/// One detector's answer for one key.
enum Verdict {
    Found(Draft),
    Healthy,
    NotJudged,
}

/// A finding before the key and sparkline are attached.
struct Draft {
    level: Level,
    value: f64,
    baseline: Option<f64>,
    threshold: Option<f64>,
    volume: u64,
    score: f64,
    summary: String,
}

#[derive(Default)]
struct Outcomes {
    findings: Vec<Finding>,
    healthy: Vec<AlertKey>,
}

impl Outcomes {
    fn record(&mut self, judge: &Judge<'_>, metric: Metric, kind: AnomalyKind, verdict: Verdict) {
        let key = AlertKey {
            account: judge.account.to_string(),
            stream: judge.stream.clone(),
            metric,
            kind,
        };
        match verdict {
            Verdict::NotJudged => {}
            Verdict::Healthy => self.healthy.push(key),
            Verdict::Found(draft) => {
                let recent = match RATES.iter().find(|spec| spec.metric == metric) {
                    Some(spec) => judge
                        .history
                        .recent(RECENT_BUCKETS, |c| observe(spec, c).map(|o| o.rate())),
                    None if metric == Metric::SpamRate => {
                        judge.history.recent(RECENT_BUCKETS, |c| {
                            c.reported.as_deref().and_then(spam_fraction)
                        })
                    }
                    None => judge
                        .history
                        .recent(RECENT_BUCKETS, |c| c.sent.map(|s| s as f64)),
                };
                self.findings.push(Finding {
                    key,
                    level: draft.level,
                    bucket_start: judge.history.start,
                    value: Some(draft.value),
                    baseline: draft.baseline,
                    threshold: draft.threshold,
                    volume: (draft.volume != NOT_COUNTED).then_some(draft.volume),
                    score: draft.score.clamp(0.0, 1.0),
                    recent,
                    summary: draft.summary,
                });
            }
        }
    }
}

/// A reputation as a number for figures and charts: BAD 0 … HIGH 3.
fn reputation_value(level: Reputation) -> f64 {
    match level {
        Reputation::Bad => 0.0,
        Reputation::Low => 1.0,
        Reputation::Medium => 2.0,
        Reputation::High => 3.0,
    }
}

/// A [`Draft`]'s volume for figures a provider reports as ratios or levels,
/// which stand on no count mailcall knows.
const NOT_COUNTED: u64 = u64::MAX;

/// The provider's spam rate as a fraction: the upper end of its interval
/// where given (the conservative figure), else the figure itself.
fn spam_fraction(reported: &Reported) -> Option<f64> {
    reported
        .spam_upper_ppm
        .or(reported.spam_ppm)
        .map(|ppm| f64::from(ppm) / 1_000_000.0)
}

/// How one rate is computed from counts and which way is bad.
struct RateSpec {
    metric: Metric,
    /// `true` when higher is worse (bounces); `false` for opens and clicks.
    up: bool,
    /// Plural noun of the events, for summaries.
    noun: &'static str,
    /// The denominator's name, for summaries.
    per: &'static str,
    numerator: fn(&Counts) -> Option<u64>,
    denominator: fn(&Counts) -> Option<u64>,
}

/// (hard + soft), or hard alone where soft bounces are unknown (the
/// definition in [`Metric::Bounce`]).
fn bounces(c: &Counts) -> Option<u64> {
    match (c.bounce_hard, c.bounce_soft) {
        (Some(hard), Some(soft)) => hard.checked_add(soft),
        (Some(hard), None) => Some(hard),
        _ => None,
    }
}
fn sent(c: &Counts) -> Option<u64> {
    c.sent
}
fn delivered(c: &Counts) -> Option<u64> {
    c.delivered
}
fn complaints(c: &Counts) -> Option<u64> {
    c.complaints
}
fn deferred(c: &Counts) -> Option<u64> {
    c.deferred
}
fn blocked(c: &Counts) -> Option<u64> {
    c.blocked
}
fn unsubscribes(c: &Counts) -> Option<u64> {
    c.unsubscribes
}
fn opens(c: &Counts) -> Option<u64> {
    c.opens_unique
}
fn clicks(c: &Counts) -> Option<u64> {
    c.clicks_unique
}

/// Every rate the detectors watch, with the canonical denominators of
/// [`crate::delivery::Rates::from_counts`].
const RATES: [RateSpec; 7] = [
    RateSpec {
        metric: Metric::Bounce,
        up: true,
        noun: "bounces",
        per: "sent",
        numerator: bounces,
        denominator: sent,
    },
    RateSpec {
        metric: Metric::Complaint,
        up: true,
        noun: "complaints",
        per: "delivered",
        numerator: complaints,
        denominator: delivered,
    },
    RateSpec {
        metric: Metric::Deferral,
        up: true,
        noun: "deferrals",
        per: "sent",
        numerator: deferred,
        denominator: sent,
    },
    RateSpec {
        metric: Metric::Block,
        up: true,
        noun: "blocks",
        per: "sent",
        numerator: blocked,
        denominator: sent,
    },
    RateSpec {
        metric: Metric::Open,
        up: false,
        noun: "opens",
        per: "delivered",
        numerator: opens,
        denominator: delivered,
    },
    RateSpec {
        metric: Metric::Click,
        up: false,
        noun: "clicks",
        per: "delivered",
        numerator: clicks,
        denominator: delivered,
    },
    RateSpec {
        metric: Metric::Unsubscribe,
        up: true,
        noun: "unsubscribes",
        per: "delivered",
        numerator: unsubscribes,
        denominator: delivered,
    },
];

/// One bucket's events over its volume; `n > 0`.
#[derive(Clone, Copy)]
struct Observation {
    x: u64,
    n: u64,
}

impl Observation {
    fn rate(self) -> f64 {
        self.x as f64 / self.n as f64
    }
}

fn observe(spec: &RateSpec, counts: &Counts) -> Option<Observation> {
    let n = (spec.denominator)(counts)?;
    let x = (spec.numerator)(counts)?;
    (n > 0).then_some(Observation { x, n })
}

/// How many buckets a rate may pool, fewest first, when one bucket holds
/// too little volume for its rate to mean anything: an hourly stream up to a
/// day, a daily one up to a week. See [`Judge::view`].
fn spans(width: BucketWidth) -> &'static [usize] {
    match width {
        BucketWidth::Hour => &[1, 3, 6, 12, 24],
        BucketWidth::Day => &[1, 3, 7],
        BucketWidth::Week | BucketWidth::Month => &[1],
    }
}

/// Which past a baseline is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reference {
    /// The same weekday and hour in previous weeks (the normal case).
    Weekly,
    /// The same hour on previous days: a new stream's first weeks
    /// (cold start), before two weeks of the weekly slot exist.
    Daily,
    /// The stream's previous buckets, whenever they were: one-off sends
    /// ([`DetectorSettings::previous_sends`]).
    Sends,
}

/// What a rate detector looks at: the judged counts, pooled over `span`
/// buckets ending with the judged one, and the same span in the baseline's
/// past periods.
struct View {
    span: usize,
    current: Counts,
    slot: Vec<Counts>,
    reference: Reference,
    /// The denominators of the slot without neighbours (the same span in
    /// each past period), to say what volume is usual.
    slot_volumes: Vec<f64>,
    /// Hours each side of the span the weekly slot reads (hourly rates;
    /// more than [`NEIGHBOUR_HOURS`] when it was widened for events).
    pad: usize,
}

/// What the slot says about one rate.
struct RateBaseline {
    /// Median of the slot's rates.
    rate: f64,
    /// Slot points behind it.
    points: usize,
    /// Sum of the slot's denominators.
    pooled: u64,
    /// Relative spread (coefficient of variation) of the rate.
    spread: f64,
    /// Median of the slot's denominators (usual volume).
    usual_volume: f64,
}

/// Robust relative spread of `values` around their median, or `None` when
/// the median is not positive.
fn relative_spread(values: &mut [f64]) -> Option<f64> {
    let (median, mad) = stats::median_mad(values)?;
    (median > 0.0).then(|| MAD_TO_SD * mad / median)
}

struct Judge<'a> {
    account: &'a str,
    stream: &'a StreamKey,
    history: &'a StreamHistory<'a>,
    settings: &'a DetectorSettings,
}

impl Judge<'_> {
    fn weeks(&self) -> usize {
        self.settings.baseline_weeks
    }

    fn min_points(&self) -> usize {
        MIN_BASELINE_POINTS.min(self.weeks()).max(1)
    }

    fn significance(&self) -> f64 {
        self.settings.significance
    }

    /// "usually 0.7% at this hour (4 weeks)": the weekly slot of one bucket.
    fn usual(&self, figure: &str, points: usize) -> String {
        self.usual_in(figure, points, 1, Reference::Weekly)
    }

    /// "usually 0.7% over the same 6 hours (3 days)": any view.
    fn usual_in(&self, figure: &str, points: usize, span: usize, reference: Reference) -> String {
        let plural = if points == 1 { "" } else { "s" };
        if reference == Reference::Sends {
            return format!("usually {figure} in the previous {points} send{plural}");
        }
        let unit = match (reference, self.history.width) {
            (Reference::Sends, _) => "send",
            (Reference::Daily, _) => "day",
            (Reference::Weekly, BucketWidth::Month) => "month",
            (Reference::Weekly, _) => "week",
        };
        let place = match (self.history.width, reference, span) {
            (BucketWidth::Hour, _, 1) => "at this hour".to_string(),
            (BucketWidth::Hour, _, n) => format!("over the same {n} hours"),
            (BucketWidth::Day, Reference::Weekly, 1) => "on this weekday".to_string(),
            (BucketWidth::Day, Reference::Daily, 1) => "on recent days".to_string(),
            (BucketWidth::Day, _, n) => format!("over the same {n} days"),
            (BucketWidth::Week, _, _) => "in recent weeks".to_string(),
            (BucketWidth::Month, _, _) => "in recent months".to_string(),
        };
        format!("usually {figure} {place} ({points} {unit}{plural})")
    }

    /// " over the last 6 hours" for a pooled view, "" for one bucket.
    fn over(&self, view: &View) -> String {
        match (view.span, self.history.width) {
            (1, _) => String::new(),
            (n, BucketWidth::Hour) => format!(" over the last {n} hours"),
            (n, _) => format!(" over the last {n} days"),
        }
    }

    /// What `spec` is judged on: the judged bucket alone when it holds
    /// `min_volume` (sent or delivered, as the rate's denominator), else the
    /// fewest buckets ending with it that together do (see [`spans`]), so a
    /// stream sending 30 an hour still has its bounce rate judged over the
    /// last few hours instead of never. The baseline is the same span in
    /// the previous weeks, or, for a stream with less than two weeks of
    /// history, in the previous days (at least [`COLD_START_MIN_DAYS`]).
    /// `None` when even the longest span holds too little.
    fn view(&self, spec: &RateSpec) -> Option<View> {
        if let Some(sends) = self.settings.previous_sends {
            return self.sends_view(spec, sends);
        }
        let floor = self.settings.min_volume.max(1);
        let start = self.history.start;
        // The judged bucket must add something new: a quiet hour after a
        // busy one would otherwise re-judge the busy one's mail over and
        // over. It must hold at least its share of the pooled volume (half
        // of an even share).
        let own = (spec.denominator)(self.history.current).filter(|n| *n > 0)?;
        let (span, current) = spans(self.history.width).iter().find_map(|&span| {
            let counts = self.history.pooled(start, span)?;
            let n = (spec.denominator)(&counts)?;
            (n >= floor).then_some((span, counts))
        })?;
        if own.saturating_mul(2 * span as u64) < floor {
            return None;
        }
        let usable = |slot: Vec<Counts>| -> Vec<Counts> {
            slot.into_iter()
                .filter(|c| observe(spec, c).is_some())
                .collect()
        };
        let mut pad = 0;
        let weekly = match self.history.width {
            BucketWidth::Month => usable(
                self.history
                    .slot(self.weeks())
                    .into_iter()
                    .cloned()
                    .collect(),
            ),
            BucketWidth::Hour => {
                let (slot, widest) = self.widened_slot(spec, span, &usable);
                pad = widest;
                slot
            }
            _ => usable(
                self.history
                    .pooled_slot(Duration::days(7), self.weeks(), span),
            ),
        };
        if weekly.len() < self.min_points()
            && matches!(self.history.width, BucketWidth::Hour | BucketWidth::Day)
        {
            let daily = usable(
                self.history
                    .pooled_slot(Duration::days(1), COLD_START_DAYS, span),
            );
            if daily.len() >= COLD_START_MIN_DAYS {
                return Some(View {
                    span,
                    current,
                    slot: daily,
                    reference: Reference::Daily,
                    slot_volumes: Vec::new(),
                    pad: 0,
                });
            }
        }
        let slot_volumes = match self.history.width {
            BucketWidth::Hour => self
                .history
                .pooled_slot(Duration::days(7), self.weeks(), span)
                .iter()
                .filter_map(|c| (spec.denominator)(c))
                .map(|n| n as f64)
                .collect(),
            _ => Vec::new(),
        };
        Some(View {
            span,
            current,
            slot: weekly,
            reference: Reference::Weekly,
            slot_volumes,
            pad,
        })
    }

    /// An hourly rate's weekly slot: the same hours ± [`NEIGHBOUR_HOURS`]
    /// in each past week, widened (3, 6, then [`WIDEST_NEIGHBOUR_HOURS`]
    /// hours each side) while it holds fewer than [`BASELINE_EVENTS`]
    /// events; the widest tried when none does. Returns the slot and the
    /// hours it reads on each side.
    fn widened_slot(
        &self,
        spec: &RateSpec,
        span: usize,
        usable: &dyn Fn(Vec<Counts>) -> Vec<Counts>,
    ) -> (Vec<Counts>, usize) {
        let mut slot = (Vec::new(), NEIGHBOUR_HOURS);
        for pad in [NEIGHBOUR_HOURS, 3, 6, WIDEST_NEIGHBOUR_HOURS] {
            let counts =
                usable(
                    self.history
                        .pooled_slot_around(Duration::days(7), self.weeks(), span, pad),
                );
            let events = counts
                .iter()
                .filter_map(|c| observe(spec, c))
                .fold(0u64, |sum, o| sum.saturating_add(o.x));
            slot = (counts, pad);
            if events >= BASELINE_EVENTS {
                break;
            }
        }
        slot
    }

    /// A one-off send's view: the judged bucket alone (a campaign is not
    /// pooled with the one before it), against up to `sends` previous
    /// buckets of the stream that each hold the minimum volume.
    fn sends_view(&self, spec: &RateSpec, sends: usize) -> Option<View> {
        let floor = self.settings.min_volume.max(1);
        let current = self.history.current.clone();
        if (spec.denominator)(&current)? < floor {
            return None;
        }
        let slot: Vec<Counts> = self
            .history
            .previous(sends)
            .into_iter()
            .filter(|c| observe(spec, c).is_some_and(|o| o.n >= floor))
            .cloned()
            .collect();
        Some(View {
            span: 1,
            current,
            slot,
            reference: Reference::Sends,
            slot_volumes: Vec::new(),
            pad: 0,
        })
    }

    fn rate_baseline(&self, spec: &RateSpec, view: &View) -> Option<RateBaseline> {
        let slot: Vec<Observation> = view.slot.iter().filter_map(|c| observe(spec, c)).collect();
        let needed = match view.reference {
            Reference::Weekly | Reference::Sends => self.min_points(),
            Reference::Daily => COLD_START_MIN_DAYS,
        };
        if slot.len() < needed {
            return None;
        }
        let mut rates: Vec<f64> = slot.iter().map(|o| o.rate()).collect();
        let rate = stats::median_in_place(&mut rates)?;
        let mut volumes: Vec<f64> = if view.slot_volumes.is_empty() {
            slot.iter().map(|o| o.n as f64).collect()
        } else {
            view.slot_volumes.clone()
        };
        let usual_volume = stats::median_in_place(&mut volumes)?;
        let pooled = slot.iter().map(|o| o.n).fold(0u64, u64::saturating_add);
        let floor = self.settings.min_volume.max(1);
        // The spread is measured over every bucket of the window that
        // holds the minimum volume on its own (sampling noise would inflate
        // it otherwise); where too few do, over the slot itself.
        let window_buckets = match view.reference {
            Reference::Sends => self
                .history
                .previous(self.settings.previous_sends.unwrap_or(0)),
            Reference::Weekly | Reference::Daily => self.history.window(self.weeks()),
        };
        let mut window: Vec<f64> = window_buckets
            .into_iter()
            .filter_map(|c| observe(spec, c))
            .filter(|o| o.n >= floor)
            .map(|o| o.rate())
            .collect();
        let measured = if window.len() >= MIN_SPREAD_POINTS {
            relative_spread(&mut window)
        } else {
            relative_spread(&mut rates)
        };
        Some(RateBaseline {
            rate,
            points: slot.len(),
            pooled,
            spread: measured.unwrap_or(0.0).max(MIN_RELATIVE_SPREAD),
            usual_volume,
        })
    }

    /// "usually 0.7% at this hour (4 weeks)" for a rate baseline of `view`.
    /// A baseline widened for events says how far: "usually 0.1% within 6
    /// hours of this hour (4 weeks)".
    fn usual_rate(&self, base: &RateBaseline, view: &View) -> String {
        if view.reference == Reference::Weekly && view.pad > NEIGHBOUR_HOURS {
            let plural = if base.points == 1 { "" } else { "s" };
            let place = match view.span {
                1 => "this hour".to_string(),
                n => format!("the same {n} hours"),
            };
            return format!(
                "usually {} within {} hours of {place} ({} week{plural})",
                pct(base.rate),
                view.pad,
                base.points
            );
        }
        self.usual_in(&pct(base.rate), base.points, view.span, view.reference)
    }

    fn hard_limit(&self, spec: &RateSpec, view: &View, baseline: Option<&RateBaseline>) -> Verdict {
        if !spec.up {
            return Verdict::NotJudged;
        }
        let Some(limits) = self.settings.limits.get(&spec.metric) else {
            return Verdict::NotJudged;
        };
        let Some(obs) = observe(spec, &view.current) else {
            return Verdict::NotJudged;
        };
        let rate = obs.rate();
        // NaN-safe: a NaN threshold never fires.
        if rate.partial_cmp(&limits.warning).is_none_or(|o| o.is_lt()) {
            return Verdict::Healthy;
        }
        if obs.x < HARD_LIMIT_MIN_EVENTS {
            return Verdict::NotJudged;
        }
        // Over the line by chance? On a few hundred messages a stream that
        // usually bounces 0.7% reaches 2% one hour in thirty. With a
        // baseline under the line, crossing it must also be significantly
        // above the stream's usual; a stream that usually sits over the
        // line is reported on the line alone.
        if let Some(base) = baseline.filter(|b| b.rate < limits.warning) {
            if self.deviation(spec, obs, base) < self.significance() {
                return Verdict::Healthy;
            }
        }
        let (level, threshold, line) = if rate >= limits.critical {
            (
                Level::Critical,
                limits.critical,
                format!("critical above {}", pct(limits.critical)),
            )
        } else {
            (
                Level::Warning,
                limits.warning,
                format!(
                    "warning above {}, critical above {}",
                    pct(limits.warning),
                    pct(limits.critical)
                ),
            )
        };
        let usual = match baseline {
            Some(b) => self.usual_rate(b, view),
            None => "no baseline yet".to_string(),
        };
        let summary = format!(
            "{} {} of {} {}{}; {usual}; {line}",
            spec.noun,
            pct(rate),
            thousands(obs.n),
            spec.per,
            self.over(view),
        );
        let warning = limits.warning.max(f64::MIN_POSITIVE);
        Verdict::Found(Draft {
            level,
            value: rate,
            baseline: baseline.map(|b| b.rate),
            threshold: Some(threshold),
            volume: obs.n,
            score: rate / (rate + warning),
            summary,
        })
    }

    /// How far `obs` is from `base`, as a one-sided z in the bad direction
    /// (0 where a fall has nothing to fall from).
    fn deviation(&self, spec: &RateSpec, obs: Observation, base: &RateBaseline) -> f64 {
        // Up: never less than one event over the slot's pooled volume.
        let expected_rate = if spec.up {
            base.rate.max(1.0 / base.pooled.max(1) as f64)
        } else if base.rate > 0.0 {
            base.rate
        } else {
            return 0.0;
        };
        let mu = obs.n as f64 * expected_rate;
        let exposure = base.pooled as f64 / obs.n as f64;
        deviation_z(obs.x, mu, exposure, base.spread, base.points, spec.up)
    }

    fn baseline(&self, spec: &RateSpec, view: &View, baseline: Option<&RateBaseline>) -> Verdict {
        let (Some(obs), Some(base)) = (observe(spec, &view.current), baseline) else {
            return Verdict::NotJudged;
        };
        // Up: never less than one event over the slot's pooled volume.
        // Down: nothing to fall from when the slot shows none.
        let expected_rate = if spec.up {
            base.rate.max(1.0 / base.pooled.max(1) as f64)
        } else if base.rate > 0.0 {
            base.rate
        } else {
            return Verdict::NotJudged;
        };
        let z = self.deviation(spec, obs, base);
        if z < self.significance() {
            return Verdict::Healthy;
        }
        let rate = obs.rate();
        let far = if spec.up {
            rate >= CRITICAL_RATIO * expected_rate
        } else {
            rate * CRITICAL_RATIO <= expected_rate
        };
        let level = if far && z >= CRITICAL_Z_FACTOR * self.significance() {
            Level::Critical
        } else {
            Level::Warning
        };
        let direction = if spec.up { "above" } else { "below" };
        let summary = format!(
            "{} {} of {} {}{}; {}; {:.1}σ {direction} usual (alert at {}σ)",
            spec.noun,
            pct(rate),
            thousands(obs.n),
            spec.per,
            self.over(view),
            self.usual_rate(base, view),
            z,
            trim(self.significance(), 2),
        );
        Verdict::Found(Draft {
            level,
            value: rate,
            baseline: Some(base.rate),
            threshold: None,
            volume: obs.n,
            score: stats::score_from_z(z, self.significance()),
            summary,
        })
    }

    fn engagement(&self, spec: &RateSpec, view: &View, baseline: Option<&RateBaseline>) -> Verdict {
        if spec.up {
            return Verdict::NotJudged;
        }
        let (Some(obs), Some(base)) = (observe(spec, &view.current), baseline) else {
            return Verdict::NotJudged;
        };
        let (low, high) = DELIVERED_NORMAL_RANGE;
        let n = obs.n as f64;
        if base.rate <= 0.0 || n < low * base.usual_volume || n > high * base.usual_volume {
            return Verdict::NotJudged;
        }
        let rate = obs.rate();
        let line = self.settings.engagement_fraction * base.rate;
        let exposure = base.pooled as f64 / n;
        let z = deviation_z(
            obs.x,
            n * base.rate,
            exposure,
            base.spread,
            base.points,
            false,
        );
        if !(rate <= line && z >= self.significance()) {
            return Verdict::Healthy;
        }
        let level = if rate <= line / 2.0 {
            Level::Critical
        } else {
            Level::Warning
        };
        let summary = format!(
            "{} {} of {} {}{}; {}; alert below {} of usual ({})",
            spec.noun,
            pct(rate),
            thousands(obs.n),
            spec.per,
            self.over(view),
            self.usual_rate(base, view),
            pct(self.settings.engagement_fraction),
            pct(line),
        );
        Verdict::Found(Draft {
            level,
            value: rate,
            baseline: Some(base.rate),
            threshold: Some(line),
            volume: obs.n,
            score: stats::score_from_z(z, self.significance()),
            summary,
        })
    }

    /// The slot's usual volume: its median sent, the relative spread, and
    /// how many weeks it covers; `None` when there is no usable baseline.
    fn slot_volume(&self) -> Option<SlotVolume> {
        let mut slot: Vec<f64> = self
            .history
            .slot(self.weeks())
            .into_iter()
            .filter_map(|c| c.sent)
            .map(|s| s as f64)
            .collect();
        let points = slot.len();
        if points < self.min_points() {
            return None;
        }
        let (usual, mad) = stats::median_mad(&mut slot)?;
        if usual <= 0.0 {
            return None;
        }
        Some(SlotVolume {
            usual,
            spread: (MAD_TO_SD * mad / usual).max(MIN_RELATIVE_SPREAD),
            points,
        })
    }

    /// "this hour", "this day"…
    fn this_bucket(&self) -> &'static str {
        match self.history.width {
            BucketWidth::Hour => "this hour",
            BucketWidth::Day => "this day",
            BucketWidth::Week => "this week",
            BucketWidth::Month => "this month",
        }
    }

    /// The provider-reported figures of the judged bucket, if any.
    fn reported(&self) -> Option<&Reported> {
        self.history.current.reported.as_deref()
    }

    /// A mailbox provider's own spam rate against its limits (Gmail: 0.1%
    /// warning, 0.3% critical). The provider only reports it with enough
    /// volume behind it, so no volume gate applies.
    fn provider_spam_rate(&self) -> Verdict {
        let Some(reported) = self.reported() else {
            return Verdict::NotJudged;
        };
        let (Some(rate), Some(limits)) = (
            spam_fraction(reported),
            self.settings.limits.get(&Metric::SpamRate),
        ) else {
            return Verdict::NotJudged;
        };
        if rate < limits.warning {
            return Verdict::Healthy;
        }
        let (level, threshold, line) = if rate >= limits.critical {
            (Level::Critical, limits.critical, "critical")
        } else {
            (Level::Warning, limits.warning, "warning")
        };
        let figure = match (reported.spam_upper_ppm, reported.spam_ppm) {
            (Some(_), Some(mid)) => format!(
                "{} (the upper end of its interval; midpoint {})",
                pct(rate),
                pct(f64::from(mid) / 1_000_000.0)
            ),
            _ => pct(rate),
        };
        Verdict::Found(Draft {
            level,
            value: rate,
            baseline: None,
            threshold: Some(threshold),
            volume: NOT_COUNTED,
            score: rate / (rate + limits.warning.max(f64::MIN_POSITIVE)),
            summary: format!(
                "user-reported spam {figure}, the provider's own figure; {line} at {}",
                pct(threshold)
            ),
        })
    }

    /// A reputation below the best it had in the week before: a drop
    /// (critical at LOW or BAD). A LOW or BAD reputation stays found while
    /// it lasts; a level held for a week becomes the reference.
    fn reputation_drop(
        &self,
        metric: Metric,
        pick: fn(&Reported) -> Option<Reputation>,
    ) -> Verdict {
        let Some(now) = self.reported().and_then(pick) else {
            return Verdict::NotJudged;
        };
        let lookback = match self.history.width {
            BucketWidth::Hour => 7 * 24,
            _ => 7,
        };
        let before = self
            .history
            .previous(lookback)
            .into_iter()
            .filter_map(|c| c.reported.as_deref().and_then(pick))
            .max();
        let what = match metric {
            Metric::IpReputation => "IP reputation",
            _ => "domain reputation",
        };
        let poor = now <= Reputation::Low;
        let summary = match before {
            Some(before) if now < before => {
                format!(
                    "{what} dropped from {} to {}",
                    before.as_str(),
                    now.as_str()
                )
            }
            _ if poor => format!("{what} is {}", now.as_str()),
            _ => return Verdict::Healthy,
        };
        Verdict::Found(Draft {
            level: if poor {
                Level::Critical
            } else {
                Level::Warning
            },
            value: reputation_value(now),
            baseline: before.map(reputation_value),
            threshold: None,
            volume: NOT_COUNTED,
            score: if poor { 0.95 } else { 0.75 },
            summary: format!("{summary} (the provider's own rating)"),
        })
    }

    /// The provider's bulk-sender requirements: any that needs work.
    fn compliance(&self) -> Verdict {
        let Some(needs_work) = self.reported().and_then(|r| r.needs_work.as_ref()) else {
            return Verdict::NotJudged;
        };
        if needs_work.is_empty() {
            return Verdict::Healthy;
        }
        let names: Vec<String> = needs_work
            .iter()
            .map(|name| name.to_lowercase().replace('_', " "))
            .collect();
        Verdict::Found(Draft {
            level: Level::Warning,
            value: needs_work.len() as f64,
            baseline: None,
            threshold: None,
            volume: NOT_COUNTED,
            score: 0.75,
            summary: format!(
                "bulk-sender requirements that need work: {}",
                names.join(", ")
            ),
        })
    }

    fn volume_drop(&self) -> Verdict {
        let Some(sent) = self.history.current.sent else {
            return Verdict::NotJudged;
        };
        if self.settings.previous_sends.is_some() {
            // A campaign's size is the audience's, not a rhythm.
            return Verdict::NotJudged;
        }
        let Some(SlotVolume {
            usual,
            spread,
            points,
        }) = self.slot_volume()
        else {
            return Verdict::NotJudged;
        };
        // Judged only where silence would be news: a quiet slot (a newsletter
        // on Sunday, a trickle at night) says nothing either way.
        let weeks = points as f64;
        if deviation_z(0, usual, weeks, spread, points, false) < self.significance() {
            return Verdict::NotJudged;
        }
        let line = self.settings.volume_drop_fraction * usual;
        let z = deviation_z(sent, usual, weeks, spread, points, false);
        if !(sent as f64 <= line && z >= self.significance()) {
            return Verdict::Healthy;
        }
        let this = self.this_bucket();
        let usual_text = self.usual(&thousands(usual.round() as u64), points);
        let (level, summary) = if sent == 0 {
            (
                Level::Critical,
                format!("sent 0 {this}; {usual_text}: the stream went silent"),
            )
        } else {
            (
                Level::Warning,
                format!(
                    "sent {} {this}; {usual_text}; alert below {} of usual ({})",
                    thousands(sent),
                    pct(self.settings.volume_drop_fraction),
                    thousands(line.floor() as u64),
                ),
            )
        };
        Verdict::Found(Draft {
            level,
            value: sent as f64,
            baseline: Some(usual),
            threshold: Some(line),
            volume: sent,
            score: stats::score_from_z(z, self.significance()),
            summary,
        })
    }

    /// Far more mail than the slot ever sends: a looping automation or a
    /// list sent twice reaches people who should not get it, and complaints
    /// and unsubscribes follow within hours. Judged once the bucket holds
    /// `min_volume` messages (a trickle tripling is not an incident); both
    /// the multiple and the significance test must agree, as for drops. A
    /// slot that usually sends nothing is not judged: a newsletter that went
    /// out an hour late is not a runaway, and no multiple of zero says how
    /// much is too much.
    fn volume_spike(&self) -> Verdict {
        let Some(sent) = self.history.current.sent else {
            return Verdict::NotJudged;
        };
        if sent < self.settings.min_volume || self.settings.previous_sends.is_some() {
            return Verdict::NotJudged;
        }
        let Some(SlotVolume {
            usual,
            spread,
            points,
        }) = self.slot_volume()
        else {
            return Verdict::NotJudged;
        };
        let factor = self.settings.volume_spike_factor;
        let line = factor * usual;
        let z = deviation_z(sent, usual, points as f64, spread, points, true);
        if !(sent as f64 >= line && z >= self.significance()) {
            return Verdict::Healthy;
        }
        let level = if sent as f64 >= 2.0 * line {
            Level::Critical
        } else {
            Level::Warning
        };
        let summary = format!(
            "sent {} {}, {}× the usual; {}; alert at {}× usual ({})",
            thousands(sent),
            self.this_bucket(),
            trim(sent as f64 / usual, 1),
            self.usual(&thousands(usual.round() as u64), points),
            trim(factor, 1),
            thousands(line.ceil() as u64),
        );
        Verdict::Found(Draft {
            level,
            value: sent as f64,
            baseline: Some(usual),
            threshold: Some(line),
            volume: sent,
            score: stats::score_from_z(z, self.significance()),
            summary,
        })
    }
}

/// A slot's usual volume (see `Judge::slot_volume`).
struct SlotVolume {
    usual: f64,
    spread: f64,
    points: usize,
}

/// How surprising `x` events are where `mu` were expected, as a one-sided
/// z-score in the bad direction (`up`: too many; otherwise too few), given a
/// baseline that saw `exposure` times this bucket's traffic.
///
/// The expectation is uncertain three times over: the true rate wanders
/// from week to week (relative `spread`), the baseline is a median of
/// `points` weeks (variance ≈ π/2 · spread² / points), and a baseline of few
/// events is itself a noisy count. The z is the smaller of the normal
/// approximation over Poisson noise plus the first two (with continuity
/// correction) and the exact conditional test of two Poisson counts (for
/// the third; see `stats::deviation_z_parts`), so neither a huge volume nor
/// a tiny count alone makes a deviation significant.
pub(crate) fn deviation_z(
    x: u64,
    mu: f64,
    exposure: f64,
    spread: f64,
    points: usize,
    up: bool,
) -> f64 {
    let (normal, exact) = deviation_z_parts(x, mu, exposure, spread, points.max(1), up);
    normal.min(exact)
}

/// A fraction as a percentage with two significant digits, trailing zeros
/// trimmed: 0.091 → "9.1%", 0.007 → "0.7%", 0.00123 → "0.12%", 0.26 → "26%".
pub(crate) fn pct(fraction: f64) -> String {
    let p = fraction * 100.0;
    if !p.is_finite() || p == 0.0 {
        return format!("{}%", if p.is_finite() { 0.0 } else { p });
    }
    let decimals = (1 - p.abs().log10().floor() as i32).clamp(0, 4) as usize;
    format!("{}%", trim(p, decimals))
}

/// `value` with at most `decimals` decimals, trailing zeros trimmed.
fn trim(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// 1204 → "1,204".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Bucket, Rates, Reported, Reputation};
    use chrono::{Duration, Timelike};

    /// Wednesday 2026-11-18 13:00 UTC.
    fn judged_at() -> DateTime<Utc> {
        "2026-11-18T13:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("instant: {e}"))
    }

    fn sample(start: DateTime<Utc>, counts: Counts) -> Sample {
        Sample {
            stream: StreamKey::new("tag:welcome"),
            bucket: Bucket {
                start,
                width: BucketWidth::Hour,
                provider_tz: "UTC".into(),
            },
            counts,
        }
    }

    /// Counts with `sent` messages and the given event counts; everything
    /// else healthy and proportional.
    fn counts(sent: u64, bounces: u64, complaints: u64) -> Counts {
        let delivered = sent - bounces;
        Counts {
            requested: Some(sent),
            sent: Some(sent),
            delivered: Some(delivered),
            bounce_hard: Some(bounces),
            bounce_soft: Some(0),
            blocked: Some(0),
            deferred: Some(sent / 100),
            dropped: Some(0),
            opens_unique: Some(delivered / 4),
            opens_machine: None,
            clicks_unique: Some(delivered / 30),
            complaints: Some(complaints),
            unsubscribes: Some(delivered / 1000),
            delivered_derived: false,
            reported: None,
        }
    }

    /// Four past weeks of the same slot plus the judged bucket.
    fn slot_history(past: [Counts; 4], now: Counts) -> Vec<Sample> {
        let mut samples: Vec<Sample> = past
            .into_iter()
            .enumerate()
            .map(|(i, c)| sample(judged_at() - Duration::days(7 * (i as i64 + 1)), c))
            .collect();
        samples.push(sample(judged_at(), now));
        samples
    }

    fn kinds(evaluation: &Evaluation) -> Vec<(AnomalyKind, Metric, Level)> {
        evaluation
            .findings
            .iter()
            .map(|f| (f.key.kind, f.key.metric, f.level))
            .collect()
    }

    fn healthy(evaluation: &Evaluation, metric: Metric, kind: AnomalyKind) -> bool {
        evaluation
            .healthy
            .iter()
            .any(|k| k.metric == metric && k.kind == kind)
    }

    fn run(samples: &[Sample], settings: &DetectorSettings) -> Evaluation {
        evaluate("acct", &StreamKey::new("tag:welcome"), samples, settings)
    }

    #[test]
    fn rates_match_the_canonical_model() {
        let c = Counts {
            sent: Some(1000),
            delivered: Some(900),
            bounce_hard: Some(30),
            bounce_soft: Some(20),
            blocked: Some(10),
            deferred: Some(40),
            opens_unique: Some(300),
            clicks_unique: Some(45),
            complaints: Some(2),
            unsubscribes: Some(3),
            ..Counts::default()
        };
        let rates = Rates::from_counts(&c);
        let of = |m: Metric| {
            RATES
                .iter()
                .find(|s| s.metric == m)
                .and_then(|s| observe(s, &c))
                .map(|o| o.rate())
        };
        assert_eq!(of(Metric::Bounce), rates.bounce);
        assert_eq!(of(Metric::Complaint), rates.complaint);
        assert_eq!(of(Metric::Deferral), rates.deferral_events);
        assert_eq!(of(Metric::Block), rates.block);
        assert_eq!(of(Metric::Open), rates.open);
        assert_eq!(of(Metric::Click), rates.click);
        assert_eq!(of(Metric::Unsubscribe), rates.unsubscribe);
        // Soft bounces unknown: hard bounces alone, as Metric::Bounce says.
        let hard_only = Counts {
            bounce_soft: None,
            ..c
        };
        let spec = &RATES[0];
        assert_eq!(observe(spec, &hard_only).map(|o| o.rate()), Some(0.03));
    }

    #[test]
    fn no_samples_no_verdict() {
        let evaluation = run(&[], &DetectorSettings::default());
        assert_eq!(evaluation, Evaluation::default());
    }

    #[test]
    fn significance_respects_volume_both_ways() {
        // Baseline detector alone: no hard limits, no volume gate.
        let settings = DetectorSettings {
            limits: BTreeMap::new(),
            min_volume: 0,
            ..DetectorSettings::default()
        };
        // 0.5% usual. 3 bounces on 100 sent (3%): noise.
        let usual = |sent: u64| [0; 4].map(|_| counts(sent, sent / 200, 0));
        let small = run(&slot_history(usual(200), counts(100, 3, 0)), &settings);
        assert_eq!(kinds(&small), []);
        assert!(healthy(&small, Metric::Bounce, AnomalyKind::Baseline));
        // 1,200 bounces on 40,000 sent (3%): an incident, and six times usual.
        let large = run(
            &slot_history(usual(40_000), counts(40_000, 1_200, 0)),
            &settings,
        );
        assert_eq!(
            kinds(&large),
            [(AnomalyKind::Baseline, Metric::Bounce, Level::Critical)]
        );
        let finding = &large.findings[0];
        assert_eq!(finding.value, Some(0.03));
        assert_eq!(finding.baseline, Some(0.005));
        assert_eq!(finding.volume, Some(40_000));
        assert!(finding.score > 0.99, "{}", finding.score);
        assert!(
            finding
                .summary
                .starts_with("bounces 3% of 40,000 sent; usually 0.5% at this hour (4 weeks); ")
                && finding.summary.ends_with("σ above usual (alert at 3σ)"),
            "{}",
            finding.summary
        );
        // With the default limits, the same bucket is a hard-limit warning
        // (3% ≥ 2%), and the baseline key is left unjudged.
        let defaults = run(
            &slot_history(usual(40_000), counts(40_000, 1_200, 0)),
            &DetectorSettings::default(),
        );
        assert_eq!(
            kinds(&defaults),
            [(AnomalyKind::HardLimit, Metric::Bounce, Level::Warning)]
        );
        assert!(!healthy(&defaults, Metric::Bounce, AnomalyKind::Baseline));
        assert_eq!(
            defaults.findings[0].summary,
            "bounces 3% of 40,000 sent; usually 0.5% at this hour (4 weeks); warning above 2%, critical above 5%"
        );
    }

    #[test]
    fn low_volume_is_not_judged_at_all() {
        // 3 bounces on 40 sends with default settings: below min_volume, so
        // no finding and no healthy key either.
        let past = [
            counts(40, 0, 0),
            counts(41, 1, 0),
            counts(39, 0, 0),
            counts(40, 0, 0),
        ];
        let evaluation = run(
            &slot_history(past, counts(40, 3, 0)),
            &DetectorSettings::default(),
        );
        assert_eq!(kinds(&evaluation), []);
        assert!(evaluation
            .healthy
            .iter()
            .all(|k| k.metric == Metric::Volume));
    }

    #[test]
    fn hard_limit_defaults_for_complaints_and_bounces() {
        let settings = DetectorSettings::default();
        // The slot already runs at the tested rate, so only the hard limit
        // can speak: a fixed line applies however usual the rate is.
        let at = |sent: u64, bounces: u64, complaints: u64| {
            let same = || counts(sent, bounces, complaints);
            run(
                &slot_history([same(), same(), same(), same()], same()),
                &settings,
            )
        };
        let c = |level| vec![(AnomalyKind::HardLimit, Metric::Complaint, level)];
        let b = |level| vec![(AnomalyKind::HardLimit, Metric::Bounce, level)];
        // Complaints over delivered (10,000): 0.09% fine, 0.12% warning,
        // 0.35% critical.
        assert_eq!(kinds(&at(10_000, 0, 9)), []);
        assert!(healthy(
            &at(10_000, 0, 9),
            Metric::Complaint,
            AnomalyKind::HardLimit
        ));
        assert_eq!(kinds(&at(10_000, 0, 12)), c(Level::Warning));
        assert_eq!(kinds(&at(10_000, 0, 35)), c(Level::Critical));
        // Bounces over sent: 1.5% fine, 2.5% warning, 6% critical.
        assert_eq!(kinds(&at(10_000, 150, 0)), []);
        assert_eq!(kinds(&at(10_000, 250, 0)), b(Level::Warning));
        assert_eq!(kinds(&at(10_000, 600, 0)), b(Level::Critical));
        let critical = at(10_000, 600, 0);
        let finding = &critical.findings[0];
        assert_eq!(finding.threshold, Some(0.05));
        assert_eq!(finding.recent.len(), RECENT_BUCKETS);
        assert_eq!(finding.recent.last(), Some(&Some(0.06)));
        assert_eq!(
            finding.summary,
            "bounces 6% of 10,000 sent; usually 6% at this hour (4 weeks); critical above 5%"
        );
        // Two complaints on 600 delivered is 0.33%, but two events are not a
        // rate: not judged.
        let two = at(600, 0, 2);
        assert_eq!(kinds(&two), []);
        assert!(!healthy(&two, Metric::Complaint, AnomalyKind::HardLimit));
    }

    #[test]
    fn ses_overrides_move_the_lines() {
        let ses = DetectorSettings::ses();
        assert_eq!(ses.limits[&Metric::Bounce], Thresholds::new(0.05, 0.10));
        assert_eq!(
            ses.limits[&Metric::Complaint],
            Thresholds::new(0.001, 0.005)
        );
        let at = |settings: &DetectorSettings, bounces: u64, complaints: u64| {
            let same = || counts(10_000, bounces, complaints);
            kinds(&run(
                &slot_history([same(), same(), same(), same()], same()),
                settings,
            ))
        };
        let defaults = DetectorSettings::default();
        let b = |level| vec![(AnomalyKind::HardLimit, Metric::Bounce, level)];
        let c = |level| vec![(AnomalyKind::HardLimit, Metric::Complaint, level)];
        // 3% bounces: a default warning, fine for SES.
        assert_eq!(at(&defaults, 300, 0), b(Level::Warning));
        assert_eq!(at(&ses, 300, 0), []);
        // 6%: default critical, SES warning (review); 11%: SES critical.
        assert_eq!(at(&defaults, 600, 0), b(Level::Critical));
        assert_eq!(at(&ses, 600, 0), b(Level::Warning));
        assert_eq!(at(&ses, 1_100, 0), b(Level::Critical));
        // 0.4% complaints: default critical, SES warning; 0.6% SES critical.
        assert_eq!(at(&defaults, 0, 40), c(Level::Critical));
        assert_eq!(at(&ses, 0, 40), c(Level::Warning));
        assert_eq!(at(&ses, 0, 60), c(Level::Critical));
    }

    #[test]
    fn a_zero_baseline_is_floored_at_one_event() {
        let settings = DetectorSettings {
            limits: BTreeMap::new(),
            ..DetectorSettings::default()
        };
        let quiet = || counts(1_000, 0, 0);
        // No complaint in four weeks of this slot: one or two now is not news.
        let two = run(
            &slot_history([quiet(), quiet(), quiet(), quiet()], counts(1_000, 0, 2)),
            &settings,
        );
        assert_eq!(kinds(&two), []);
        // Eight is (a warning: the baseline is too thin to call it critical).
        let eight = run(
            &slot_history([quiet(), quiet(), quiet(), quiet()], counts(1_000, 0, 8)),
            &settings,
        );
        assert_eq!(
            kinds(&eight),
            [(AnomalyKind::Baseline, Metric::Complaint, Level::Warning)]
        );
    }

    #[test]
    fn one_past_incident_does_not_become_the_baseline() {
        let settings = DetectorSettings {
            limits: BTreeMap::new(),
            ..DetectorSettings::default()
        };
        // Last week bounced 9%; the median still says 0.5%.
        let past = [
            counts(10_000, 900, 0),
            counts(10_000, 50, 0),
            counts(10_000, 50, 0),
            counts(10_000, 50, 0),
        ];
        let evaluation = run(&slot_history(past, counts(10_000, 400, 0)), &settings);
        assert_eq!(
            kinds(&evaluation),
            [(AnomalyKind::Baseline, Metric::Bounce, Level::Critical)]
        );
    }

    #[test]
    fn too_little_baseline_is_not_judged() {
        let samples = vec![
            sample(judged_at() - Duration::days(7), counts(10_000, 50, 0)),
            sample(judged_at(), counts(10_000, 400, 0)),
        ];
        let settings = DetectorSettings {
            limits: BTreeMap::new(),
            ..DetectorSettings::default()
        };
        let evaluation = run(&samples, &settings);
        assert_eq!(kinds(&evaluation), []);
        assert_eq!(evaluation.healthy, []);
        assert_eq!(evaluation.bucket_start, Some(judged_at()));
    }

    #[test]
    fn volume_drop_and_silence() {
        let settings = DetectorSettings::default();
        let usual = || counts(2_000, 10, 0);
        let drop = run(
            &slot_history([usual(), usual(), usual(), usual()], counts(200, 1, 0)),
            &settings,
        );
        assert_eq!(
            kinds(&drop),
            [(AnomalyKind::VolumeDrop, Metric::Volume, Level::Warning)]
        );
        assert_eq!(
            drop.findings[0].summary,
            "sent 200 this hour; usually 2,000 at this hour (4 weeks); alert below 20% of usual (400)"
        );
        let silent = run(
            &slot_history(
                [usual(), usual(), usual(), usual()],
                Counts {
                    sent: Some(0),
                    ..Counts::default()
                },
            ),
            &settings,
        );
        assert_eq!(
            kinds(&silent),
            [(AnomalyKind::VolumeDrop, Metric::Volume, Level::Critical)]
        );
        assert_eq!(silent.findings[0].value, Some(0.0));
        assert_eq!(
            silent.findings[0].summary,
            "sent 0 this hour; usually 2,000 at this hour (4 weeks): the stream went silent"
        );
        // Half of usual is not a drop.
        let half = run(
            &slot_history([usual(), usual(), usual(), usual()], counts(1_000, 5, 0)),
            &settings,
        );
        assert_eq!(kinds(&half), []);
        assert!(healthy(&half, Metric::Volume, AnomalyKind::VolumeDrop));
        // A slot that usually sends 3: silence there is not news, and not
        // "healthy" either.
        let trickle = || counts(3, 0, 0);
        let quiet = run(
            &slot_history(
                [trickle(), trickle(), trickle(), trickle()],
                counts(0, 0, 0),
            ),
            &settings,
        );
        assert_eq!(kinds(&quiet), []);
        assert_eq!(quiet.healthy, []);
    }

    fn postmaster_day(days_ago: i64, reported: Reported) -> Sample {
        Sample {
            stream: StreamKey::new("domain:mail.example.com"),
            bucket: Bucket {
                start: judged_at() - Duration::days(days_ago),
                width: BucketWidth::Day,
                provider_tz: "unspecified".to_owned(),
            },
            counts: Counts {
                reported: Some(Box::new(reported)),
                ..Counts::default()
            },
        }
    }

    fn run_on(samples: &[Sample]) -> Evaluation {
        evaluate(
            "gmail",
            &StreamKey::new("domain:mail.example.com"),
            samples,
            &DetectorSettings::default(),
        )
    }

    #[test]
    fn gmails_spam_rate_is_judged_on_the_upper_end_of_its_interval() {
        let spam = |mid, upper| Reported {
            spam_ppm: Some(mid),
            spam_upper_ppm: upper,
            ..Reported::default()
        };
        let quiet = run_on(&[postmaster_day(0, spam(600, Some(900)))]);
        assert!(quiet.findings.is_empty());
        assert!(healthy(&quiet, Metric::SpamRate, AnomalyKind::HardLimit));
        // Midpoint 0.08%, but the interval reaches 0.12%: a warning.
        let warning = run_on(&[postmaster_day(0, spam(800, Some(1_200)))]);
        assert_eq!(
            kinds(&warning),
            [(AnomalyKind::HardLimit, Metric::SpamRate, Level::Warning)]
        );
        assert!(
            warning.findings[0].summary.contains("midpoint 0.08%"),
            "{}",
            warning.findings[0].summary
        );
        assert_eq!(
            warning.findings[0].volume, None,
            "no count behind a provider's ratio"
        );
        let critical = run_on(&[postmaster_day(0, spam(3_500, None))]);
        assert_eq!(
            kinds(&critical),
            [(AnomalyKind::HardLimit, Metric::SpamRate, Level::Critical)]
        );
        // Counts-only samples leave these keys unjudged.
        let counts_only = run(
            &[sample(judged_at(), counts(1_000, 5, 0))],
            &DetectorSettings::default(),
        );
        assert!(!healthy(
            &counts_only,
            Metric::SpamRate,
            AnomalyKind::HardLimit
        ));
    }

    #[test]
    fn a_reputation_drop_warns_and_low_or_bad_is_critical_while_it_lasts() {
        let domain = |level| Reported {
            domain_reputation: Some(level),
            ip_reputation: Some(Reputation::High),
            ..Reported::default()
        };
        let week = |today| {
            let mut days: Vec<Sample> = (1..=5)
                .map(|d| postmaster_day(d, domain(Reputation::High)))
                .collect();
            days.push(postmaster_day(0, domain(today)));
            days
        };
        let steady = run_on(&week(Reputation::High));
        assert!(steady.findings.is_empty());
        assert!(healthy(
            &steady,
            Metric::DomainReputation,
            AnomalyKind::ReputationDrop
        ));
        assert!(healthy(
            &steady,
            Metric::IpReputation,
            AnomalyKind::ReputationDrop
        ));
        let medium = run_on(&week(Reputation::Medium));
        assert_eq!(
            kinds(&medium),
            [(
                AnomalyKind::ReputationDrop,
                Metric::DomainReputation,
                Level::Warning
            )]
        );
        assert!(medium.findings[0]
            .summary
            .contains("dropped from HIGH to MEDIUM"));
        let bad = run_on(&week(Reputation::Bad));
        assert_eq!(
            kinds(&bad),
            [(
                AnomalyKind::ReputationDrop,
                Metric::DomainReputation,
                Level::Critical
            )]
        );
        // LOW all week: still found, not "recovered".
        let low_all_week: Vec<Sample> = (0..=5)
            .map(|d| postmaster_day(d, domain(Reputation::Low)))
            .collect();
        assert_eq!(
            kinds(&run_on(&low_all_week)),
            [(
                AnomalyKind::ReputationDrop,
                Metric::DomainReputation,
                Level::Critical
            )]
        );
        // MEDIUM for a week becomes the reference.
        let medium_all_week: Vec<Sample> = (0..=5)
            .map(|d| postmaster_day(d, domain(Reputation::Medium)))
            .collect();
        assert!(run_on(&medium_all_week).findings.is_empty());
    }

    #[test]
    fn a_requirement_that_needs_work_is_found() {
        let status = |needs: &[&str]| Reported {
            needs_work: Some(needs.iter().map(|n| n.to_string()).collect()),
            ..Reported::default()
        };
        let fine = run_on(&[postmaster_day(0, status(&[]))]);
        assert!(healthy(
            &fine,
            Metric::Compliance,
            AnomalyKind::ComplianceNeedsWork
        ));
        let work = run_on(&[postmaster_day(
            0,
            status(&["ONE_CLICK_UNSUBSCRIBE", "DMARC_POLICY"]),
        )]);
        assert_eq!(
            kinds(&work),
            [(
                AnomalyKind::ComplianceNeedsWork,
                Metric::Compliance,
                Level::Warning
            )]
        );
        assert!(work.findings[0]
            .summary
            .contains("one click unsubscribe, dmarc policy"));
    }

    #[test]
    fn a_campaign_is_judged_against_the_previous_sends_whenever_they_were() {
        let settings = DetectorSettings::campaigns();
        // Eight campaigns on irregular days and hours, 0.5% bounces each.
        let at = |days: i64, hour: i64| judged_at() - Duration::days(days) + Duration::hours(hour);
        let mut samples: Vec<Sample> = [
            (40, 3),
            (33, 7),
            (25, 1),
            (19, 10),
            (12, 4),
            (9, 6),
            (5, 2),
            (2, 9),
        ]
        .into_iter()
        .map(|(days, hour)| sample(at(days, hour), counts(4_000, 20, 0)))
        .collect();
        // This one bounces 2.5%: under the 5% hard limit, far above usual.
        samples.push(sample(judged_at(), counts(4_000, 100, 0)));
        let evaluation = run(&samples, &settings);
        assert_eq!(
            kinds(&evaluation),
            [(AnomalyKind::HardLimit, Metric::Bounce, Level::Warning)]
        );
        let mut below_limit = samples.clone();
        below_limit.pop();
        below_limit.push(sample(judged_at(), counts(4_000, 60, 0)));
        let evaluation = run(&below_limit, &settings);
        assert_eq!(
            kinds(&evaluation),
            [(AnomalyKind::Baseline, Metric::Bounce, Level::Critical)]
        );
        assert!(
            evaluation.findings[0]
                .summary
                .contains("in the previous 8 sends"),
            "{}",
            evaluation.findings[0].summary
        );
        // A campaign three times the usual size is the audience growing, not
        // a spike, and there is no weekly slot for a drop either.
        let mut bigger = samples.clone();
        bigger.pop();
        bigger.push(sample(judged_at(), counts(12_000, 60, 0)));
        let evaluation = run(&bigger, &settings);
        assert!(evaluation.findings.is_empty(), "{:?}", evaluation.findings);
        assert!(healthy(&evaluation, Metric::Bounce, AnomalyKind::Baseline));
        // The weekly detector sees no slot for the same sends.
        let weekly = run(&below_limit, &DetectorSettings::default());
        assert!(!healthy(&weekly, Metric::Bounce, AnomalyKind::Baseline));
        assert!(weekly.findings.is_empty());
    }

    #[test]
    fn volume_spike_warns_at_three_times_usual_and_is_critical_at_six() {
        let settings = DetectorSettings::default();
        let usual = || counts(2_000, 10, 0);
        let history = |now: Counts| slot_history([usual(), usual(), usual(), usual()], now);
        let spike = run(&history(counts(7_000, 35, 0)), &settings);
        assert_eq!(
            kinds(&spike),
            [(AnomalyKind::VolumeSpike, Metric::Volume, Level::Warning)]
        );
        assert_eq!(
            spike.findings[0].summary,
            "sent 7,000 this hour, 3.5× the usual; usually 2,000 at this hour (4 weeks); \
             alert at 3× usual (6,000)"
        );
        assert_eq!(spike.findings[0].threshold, Some(6_000.0));
        assert!(healthy(&spike, Metric::Volume, AnomalyKind::VolumeDrop));
        let runaway = run(&history(counts(15_000, 75, 0)), &settings);
        assert_eq!(
            kinds(&runaway),
            [(AnomalyKind::VolumeSpike, Metric::Volume, Level::Critical)]
        );
        // Twice the usual is a busy hour, not a spike.
        let busy = run(&history(counts(4_000, 20, 0)), &settings);
        assert_eq!(kinds(&busy), []);
        assert!(healthy(&busy, Metric::Volume, AnomalyKind::VolumeSpike));
    }

    #[test]
    fn volume_spike_needs_volume_and_a_baseline() {
        let settings = DetectorSettings::default();
        // A trickle of 40 that jumps to 150: almost four times, but under
        // the minimum volume, so not judged either way.
        let trickle = || counts(40, 0, 0);
        let small = run(
            &slot_history(
                [trickle(), trickle(), trickle(), trickle()],
                counts(150, 1, 0),
            ),
            &settings,
        );
        assert_eq!(kinds(&small), []);
        assert!(!healthy(&small, Metric::Volume, AnomalyKind::VolumeSpike));
        // No past weeks at this hour: nothing to compare with.
        let alone = run(&[sample(judged_at(), counts(50_000, 10, 0))], &settings);
        assert!(!alone
            .findings
            .iter()
            .any(|f| f.key.kind == AnomalyKind::VolumeSpike));
        assert!(!healthy(&alone, Metric::Volume, AnomalyKind::VolumeSpike));
        // A slot that usually sends nothing (a newsletter an hour late).
        let nothing = || counts(0, 0, 0);
        let late = run(
            &slot_history(
                [nothing(), nothing(), nothing(), nothing()],
                counts(50_000, 100, 0),
            ),
            &settings,
        );
        assert!(!late
            .findings
            .iter()
            .any(|f| f.key.kind == AnomalyKind::VolumeSpike));
        assert!(!healthy(&late, Metric::Volume, AnomalyKind::VolumeSpike));
        // A tunable multiple.
        let touchy = DetectorSettings {
            volume_spike_factor: 1.5,
            ..DetectorSettings::default()
        };
        let usual = || counts(2_000, 10, 0);
        let busy = run(
            &slot_history([usual(), usual(), usual(), usual()], counts(4_000, 20, 0)),
            &touchy,
        );
        assert_eq!(
            kinds(&busy),
            [(AnomalyKind::VolumeSpike, Metric::Volume, Level::Warning)]
        );
    }

    #[test]
    fn engagement_collapse_needs_normal_deliveries() {
        let settings = DetectorSettings::default();
        let usual = || counts(10_000, 50, 0);
        let broken = Counts {
            opens_unique: Some(100),
            clicks_unique: Some(10),
            ..usual()
        };
        let evaluation = run(
            &slot_history([usual(), usual(), usual(), usual()], broken.clone()),
            &settings,
        );
        assert_eq!(
            kinds(&evaluation),
            [
                (
                    AnomalyKind::EngagementCollapse,
                    Metric::Open,
                    Level::Critical
                ),
                (
                    AnomalyKind::EngagementCollapse,
                    Metric::Click,
                    Level::Critical
                ),
            ]
        );
        assert_eq!(
            evaluation.findings[0].summary,
            "opens 1% of 9,950 delivered; usually 25% at this hour (4 weeks); alert below 30% of usual (7.5%)"
        );
        // The baseline keys of opens and clicks are left to the collapse.
        assert!(!healthy(&evaluation, Metric::Open, AnomalyKind::Baseline));
        // Opens at 20% of usual: a warning.
        let weak = Counts {
            opens_unique: Some(9_950 / 20),
            ..usual()
        };
        let evaluation = run(
            &slot_history([usual(), usual(), usual(), usual()], weak),
            &settings,
        );
        assert_eq!(
            kinds(&evaluation),
            [(
                AnomalyKind::EngagementCollapse,
                Metric::Open,
                Level::Warning
            )]
        );
        // Deliveries a quarter of usual: not judged as a collapse (the open
        // rate still is, by the baseline detector), and it is a volume drop.
        let small = Counts {
            sent: Some(2_000),
            delivered: Some(1_990),
            opens_unique: Some(20),
            clicks_unique: Some(2),
            ..usual()
        };
        let evaluation = run(
            &slot_history([usual(), usual(), usual(), usual()], small),
            &settings,
        );
        assert!(!evaluation
            .findings
            .iter()
            .any(|f| f.key.kind == AnomalyKind::EngagementCollapse));
        assert!(evaluation
            .findings
            .iter()
            .any(|f| f.key.kind == AnomalyKind::Baseline && f.key.metric == Metric::Open));
    }

    #[test]
    fn daily_buckets_compare_the_same_weekday() {
        let day = |start: DateTime<Utc>, c: Counts| Sample {
            bucket: Bucket {
                start,
                width: BucketWidth::Day,
                provider_tz: "UTC".into(),
            },
            ..sample(start, c)
        };
        let monday: DateTime<Utc> = "2026-11-16T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut samples = Vec::new();
        for week in 1..=4 {
            for d in 0..7 {
                let start = monday - Duration::days(7 * week) + Duration::days(d);
                // Weekends send a tenth of weekdays.
                let sent = if d >= 5 { 5_000 } else { 50_000 };
                samples.push(day(start, counts(sent, sent / 200, 0)));
            }
        }
        for d in 0..5 {
            samples.push(day(monday + Duration::days(d), counts(50_000, 250, 0)));
        }
        // Saturday at its usual weekend volume: nothing.
        let mut saturday = samples.clone();
        saturday.push(day(monday + Duration::days(5), counts(5_000, 25, 0)));
        let evaluation = run(&saturday, &DetectorSettings::default());
        assert_eq!(kinds(&evaluation), []);
        assert!(healthy(
            &evaluation,
            Metric::Volume,
            AnomalyKind::VolumeDrop
        ));
        // A weekday at weekend volume: a drop.
        let mut friday = samples.clone();
        friday.pop();
        friday.push(day(monday + Duration::days(4), counts(5_000, 25, 0)));
        let evaluation = run(&friday, &DetectorSettings::default());
        assert_eq!(
            kinds(&evaluation),
            [(AnomalyKind::VolumeDrop, Metric::Volume, Level::Warning)]
        );
        assert!(evaluation.findings[0]
            .summary
            .contains("usually 50,000 on this weekday (4 weeks)"));
    }

    #[test]
    fn formatting() {
        assert_eq!(pct(0.091), "9.1%");
        assert_eq!(pct(0.007), "0.7%");
        assert_eq!(pct(0.00123), "0.12%");
        assert_eq!(pct(0.26), "26%");
        assert_eq!(pct(0.05), "5%");
        assert_eq!(pct(0.003), "0.3%");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(40_000), "40,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    /// Every hour of the `days` days before the judged bucket with `past`,
    /// then the judged bucket with `now`.
    fn hourly_history(days: i64, past: impl Fn(i64) -> Counts, now: Counts) -> Vec<Sample> {
        let mut samples: Vec<Sample> = (1..=days * 24)
            .rev()
            .map(|h| sample(judged_at() - Duration::hours(h), past(h)))
            .collect();
        samples.push(sample(judged_at(), now));
        samples
    }

    #[test]
    fn a_low_volume_stream_is_judged_over_pooled_hours() {
        // 150 an hour, 1 bounce each: below the minimum volume of 200 one
        // hour at a time. A twelve-fold bounce spike in the judged hour is
        // still found, over the last 3 hours.
        let samples = hourly_history(35, |_| counts(150, 1, 0), counts(150, 12, 0));
        let evaluation = run(&samples, &DetectorSettings::default());
        let bounce: Vec<&Finding> = evaluation
            .findings
            .iter()
            .filter(|f| f.key.metric == Metric::Bounce)
            .collect();
        assert_eq!(bounce.len(), 1, "{:?}", kinds(&evaluation));
        assert!(
            bounce[0]
                .summary
                .contains("of 450 sent over the last 3 hours"),
            "{}",
            bounce[0].summary
        );
        assert!(
            bounce[0]
                .summary
                .contains("over the same 3 hours (4 weeks)"),
            "{}",
            bounce[0].summary
        );
        // The same stream without the spike: judged, and healthy.
        let calm = hourly_history(35, |_| counts(150, 1, 0), counts(150, 1, 0));
        let evaluation = run(&calm, &DetectorSettings::default());
        assert_eq!(kinds(&evaluation), []);
        assert!(healthy(&evaluation, Metric::Bounce, AnomalyKind::Baseline));
    }

    #[test]
    fn a_rare_event_is_judged_against_a_baseline_widened_until_it_holds_enough() {
        // 300 an hour with one block every tenth hour (0.033%): the same
        // hour ± 1 in four weeks holds one or two blocks, too few to tell
        // three blocks in an hour from chance. Widened to the hours around
        // it, the baseline holds twenty and more, and three blocks on 300
        // sent (1%, thirty times usual) are found in the hour they happen.
        let with_blocks = |sent: u64, blocks: u64| Counts {
            blocked: Some(blocks),
            delivered: Some(sent - blocks),
            ..counts(sent, 0, 0)
        };
        let past = |h: i64| with_blocks(300, u64::from(h % 10 == 0));
        let samples = hourly_history(35, past, with_blocks(300, 3));
        let evaluation = run(&samples, &DetectorSettings::default());
        let block: Vec<&Finding> = evaluation
            .findings
            .iter()
            .filter(|f| f.key.metric == Metric::Block && f.key.kind == AnomalyKind::Baseline)
            .collect();
        assert_eq!(block.len(), 1, "{:?}", kinds(&evaluation));
        assert!(
            block[0]
                .summary
                .contains("within 12 hours of this hour (4 weeks)"),
            "{}",
            block[0].summary
        );
        // One block in the hour is what the stream does now and then.
        let calm = hourly_history(35, past, with_blocks(300, 1));
        let evaluation = run(&calm, &DetectorSettings::default());
        assert!(
            evaluation
                .findings
                .iter()
                .all(|f| f.key.metric != Metric::Block),
            "{:?}",
            kinds(&evaluation)
        );
        assert!(healthy(&evaluation, Metric::Block, AnomalyKind::Baseline));
    }

    #[test]
    fn too_little_volume_even_over_a_day_is_not_judged() {
        let samples = hourly_history(35, |_| counts(5, 0, 0), counts(5, 3, 0));
        let evaluation = run(&samples, &DetectorSettings::default());
        assert!(
            evaluation
                .findings
                .iter()
                .all(|f| f.key.metric == Metric::Volume),
            "{:?}",
            kinds(&evaluation)
        );
        assert!(!healthy(&evaluation, Metric::Bounce, AnomalyKind::Baseline));
    }

    #[test]
    fn a_new_stream_gets_a_daily_cycle_baseline_from_its_third_day() {
        // Four days of history with a strong daily cycle in the bounce rate
        // (nights bounce 2%, days 0.5%): judged against the same hour on
        // previous days, the cycle itself raises nothing.
        let settings = DetectorSettings {
            limits: BTreeMap::new(),
            ..DetectorSettings::default()
        };
        let cycle = |h: i64| {
            let hour = (judged_at() - Duration::hours(h)).hour();
            if hour < 6 {
                counts(1_000, 20, 0)
            } else {
                counts(1_000, 5, 0)
            }
        };
        let calm = hourly_history(4, cycle, counts(1_000, 5, 0));
        let evaluation = run(&calm, &settings);
        assert_eq!(kinds(&evaluation), []);
        assert!(healthy(&evaluation, Metric::Bounce, AnomalyKind::Baseline));
        // A spike at 13:00 is found, and says how much history it stands on.
        let spiked = hourly_history(4, cycle, counts(1_000, 60, 0));
        let evaluation = run(&spiked, &settings);
        let found: Vec<&Finding> = evaluation
            .findings
            .iter()
            .filter(|f| f.key.metric == Metric::Bounce)
            .collect();
        assert_eq!(found.len(), 1, "{:?}", kinds(&evaluation));
        assert!(
            found[0]
                .summary
                .contains("usually 0.5% at this hour (4 days)"),
            "{}",
            found[0].summary
        );
        // Two days are not enough.
        let young = hourly_history(2, cycle, counts(1_000, 60, 0));
        let evaluation = run(&young, &settings);
        assert!(
            !evaluation
                .findings
                .iter()
                .any(|f| f.key.kind == AnomalyKind::Baseline),
            "{:?}",
            kinds(&evaluation)
        );
    }
}
