//! The canonical statistics model every email service provider (ESP) is
//! mapped onto: a [`Sample`] is "these counts, for this stream, in this time
//! bucket".
//!
//! Providers disagree on almost everything: which counts exist, what they are
//! called, which time zone a "day" is in, and whether a rate is a fraction, a
//! percentage or a string. The bot compares providers and alerts on rates, so
//! the provider-specific parsers in [`crate::esp`] translate into this one
//! model and nothing downstream ever sees a provider's vocabulary.
//!
//! Two rules keep the model honest:
//!
//! - A count the provider did not supply is `None`, never `0`. "Nobody
//!   complained" and "we were not told about complaints" lead to different
//!   decisions, so they must stay different values.
//! - Rates are only ever computed here, from counts, with the denominator the
//!   canonical table names ([`Rates::from_counts`]). Provider rate fields are
//!   never read: they are percentages in one place, fractions in another and
//!   strings in a third.

pub mod summary;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a bucket is. Sub-hour precisions are not modelled: the bot polls
/// no finer than hourly.
///
/// `Week` and `Month` exist because providers document them as bucket
/// resolutions (Mailgun `resolution=month`, SendGrid `aggregated_by=week`,
/// SparkPost `precision=week|month`), and the published sample payloads use
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketWidth {
    Hour,
    Day,
    Week,
    Month,
}

/// One time bucket, as the provider counted it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bucket {
    /// The instant the bucket starts, converted to UTC.
    pub start: DateTime<Utc>,
    /// How long the bucket is.
    pub width: BucketWidth,
    /// The time zone the provider drew the bucket boundaries in, as the
    /// provider (or our reference) states it: for example `"UTC"`, `"EST"`
    /// (Postmark, a fixed UTC-05:00), `"-04:00"` (an offset the payload
    /// carried), or `"unspecified"` when the provider does not say. A Postmark
    /// day and a Mailgun day with the same date are different 24 hours; this
    /// field is how a reader finds out.
    pub provider_tz: String,
}

/// Which slice of the traffic a sample describes: the whole account, or one
/// tag, category or campaign.
///
/// The text is `"account"` or `"<kind>:<name>"` (`"tag:welcome"`,
/// `"category:docs"`, `"campaign:spring-sale"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamKey(String);

impl StreamKey {
    /// A stream key from its full text, for scopes the helpers below do not
    /// cover (a Mailgun domain, a SendGrid subuser, several dimensions).
    pub fn new(text: impl Into<String>) -> StreamKey {
        StreamKey(text.into())
    }

    /// All traffic the credentials can see.
    pub fn account() -> StreamKey {
        StreamKey::new("account")
    }

    /// Traffic carrying one tag (Mailgun, Postmark).
    pub fn tag(name: &str) -> StreamKey {
        StreamKey::new(format!("tag:{name}"))
    }

    /// Traffic in one category (SendGrid).
    pub fn category(name: &str) -> StreamKey {
        StreamKey::new(format!("category:{name}"))
    }

    /// Traffic in one campaign (SparkPost).
    pub fn campaign(id: &str) -> StreamKey {
        StreamKey::new(format!("campaign:{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The canonical counts for one stream in one bucket. Every field is `None`
/// when the provider did not supply it (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    /// Send requests accepted by the ESP, before suppressions and drops.
    pub requested: Option<u64>,
    /// Messages the ESP attempted to deliver (a.k.a. processed, attempted).
    pub sent: Option<u64>,
    /// Messages the receiving MTA accepted.
    pub delivered: Option<u64>,
    /// Permanent failures: bad address.
    pub bounce_hard: Option<u64>,
    /// Provider-classified soft bounces (permanent after retries).
    pub bounce_soft: Option<u64>,
    /// Rejections for policy or reputation (blocks).
    pub blocked: Option<u64>,
    /// Temporary failures that will be retried. Counts *events*, so it can
    /// exceed the number of messages.
    pub deferred: Option<u64>,
    /// Suppressed by the ESP before any attempt (earlier bounce, unsubscribe,
    /// complaint, invalid address).
    pub dropped: Option<u64>,
    /// Unique opens, including machine opens (Apple MPP and other prefetch).
    pub opens_unique: Option<u64>,
    /// The part of `opens_unique` the provider identified as machine or
    /// prefetched opens, where it separates them.
    pub opens_machine: Option<u64>,
    /// Unique clicks or clickers.
    pub clicks_unique: Option<u64>,
    /// Feedback-loop spam reports.
    pub complaints: Option<u64>,
    /// Unsubscribe events.
    pub unsubscribes: Option<u64>,
    /// `delivered` was not reported by the provider but derived by mailcall
    /// from what it does report (Postmark: sent − hard − soft bounces), so
    /// displays can say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delivered_derived: bool,
    /// Figures a provider reports as ratios and levels rather than counts
    /// (Gmail Postmaster Tools), kept as the provider gave them: never
    /// turned into counts, never added up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Box<Reported>>,
}

/// A mailbox provider's own view of a sender (Gmail Postmaster Tools), for
/// one domain and day. Ratios are in millionths (1,200 is 0.12%), as exact
/// as the provider's own decimals need; a figure the provider did not give
/// is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reported {
    /// User-reported spam over mail delivered to the inbox (DKIM-signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_ppm: Option<u32>,
    /// The upper end of the provider's 95% interval for it, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_upper_ppm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_reputation: Option<Reputation>,
    /// The worst reputation any of the sending IPs has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_reputation: Option<Reputation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf_ppm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim_ppm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc_ppm: Option<u32>,
    /// All delivery errors over authenticated traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error_ppm: Option<u32>,
    /// The bulk-sender requirements the provider says need work (`SPF`,
    /// `ONE_CLICK_UNSUBSCRIBE`, …); `None` when compliance was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_work: Option<Vec<String>>,
}

/// A reputation level, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Reputation {
    Bad,
    Low,
    Medium,
    High,
}

impl Reputation {
    pub fn as_str(self) -> &'static str {
        match self {
            Reputation::Bad => "BAD",
            Reputation::Low => "LOW",
            Reputation::Medium => "MEDIUM",
            Reputation::High => "HIGH",
        }
    }
}

/// `fraction` (0.0012) in millionths (1,200); `None` outside 0..=1.
pub fn to_ppm(fraction: f64) -> Option<u32> {
    (fraction.is_finite() && (0.0..=1.0).contains(&fraction))
        .then(|| (fraction * 1_000_000.0).round() as u32)
}

impl Counts {
    /// The count fields by name, in declaration order: the count columns
    /// `mailcall metrics --csv` writes and `mailcall detect` reads.
    pub const FIELDS: [&'static str; 13] = [
        "requested",
        "sent",
        "delivered",
        "bounce_hard",
        "bounce_soft",
        "blocked",
        "deferred",
        "dropped",
        "opens_unique",
        "opens_machine",
        "clicks_unique",
        "complaints",
        "unsubscribes",
    ];

    /// The counts in [`Counts::FIELDS`] order.
    pub fn fields(&self) -> [Option<u64>; 13] {
        [
            self.requested,
            self.sent,
            self.delivered,
            self.bounce_hard,
            self.bounce_soft,
            self.blocked,
            self.deferred,
            self.dropped,
            self.opens_unique,
            self.opens_machine,
            self.clicks_unique,
            self.complaints,
            self.unsubscribes,
        ]
    }

    /// The count named `Counts::FIELDS[index]` (the last for an index past
    /// the end).
    pub fn field_mut(&mut self, index: usize) -> &mut Option<u64> {
        match index {
            0 => &mut self.requested,
            1 => &mut self.sent,
            2 => &mut self.delivered,
            3 => &mut self.bounce_hard,
            4 => &mut self.bounce_soft,
            5 => &mut self.blocked,
            6 => &mut self.deferred,
            7 => &mut self.dropped,
            8 => &mut self.opens_unique,
            9 => &mut self.opens_machine,
            10 => &mut self.clicks_unique,
            11 => &mut self.complaints,
            _ => &mut self.unsubscribes,
        }
    }

    /// The rates these counts support; see [`Rates::from_counts`].
    pub fn rates(&self) -> Rates {
        Rates::from_counts(self)
    }

    /// The counts of two buckets together: each count is the sum where both
    /// are known, and unknown where either is (a sum with an unknown part is
    /// unknown, never a smaller number).
    pub fn plus(&self, other: &Counts) -> Counts {
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => a.checked_add(b),
            _ => None,
        };
        Counts {
            requested: add(self.requested, other.requested),
            sent: add(self.sent, other.sent),
            delivered: add(self.delivered, other.delivered),
            bounce_hard: add(self.bounce_hard, other.bounce_hard),
            bounce_soft: add(self.bounce_soft, other.bounce_soft),
            blocked: add(self.blocked, other.blocked),
            deferred: add(self.deferred, other.deferred),
            dropped: add(self.dropped, other.dropped),
            opens_unique: add(self.opens_unique, other.opens_unique),
            opens_machine: add(self.opens_machine, other.opens_machine),
            clicks_unique: add(self.clicks_unique, other.clicks_unique),
            complaints: add(self.complaints, other.complaints),
            unsubscribes: add(self.unsubscribes, other.unsubscribes),
            delivered_derived: self.delivered_derived || other.delivered_derived,
            // Ratios and levels do not add up: a pooled figure is known only
            // where one side alone had it.
            reported: match (&self.reported, &other.reported) {
                (Some(one), None) | (None, Some(one)) => Some(one.clone()),
                _ => None,
            },
        }
    }
}

/// One normalised observation: these counts, for this stream, in this bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sample {
    pub stream: StreamKey,
    pub bucket: Bucket,
    pub counts: Counts,
}

/// Rates as fractions (0.25 means 25%), each computed from [`Counts`] with the
/// canonical denominator written next to it.
///
/// A rate is `None` when its numerator or denominator is missing, or when the
/// denominator is 0: "no mail, so no rate" is not the same as "a rate of 0".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// `delivered / sent`.
    pub delivery: Option<f64>,
    /// `(bounce_hard + bounce_soft) / sent`; `None` unless both are known.
    pub bounce: Option<f64>,
    /// `bounce_hard / sent`.
    pub hard_bounce: Option<f64>,
    /// `bounce_soft / sent`.
    pub soft_bounce: Option<f64>,
    /// `blocked / sent`.
    pub block: Option<f64>,
    /// `deferred / sent`. Deferrals are events, so this can exceed 1.
    pub deferral_events: Option<f64>,
    /// `dropped / requested`.
    pub drop: Option<f64>,
    /// `opens_unique / delivered`.
    pub open: Option<f64>,
    /// `clicks_unique / delivered`.
    pub click: Option<f64>,
    /// `complaints / delivered`.
    pub complaint: Option<f64>,
    /// `unsubscribes / delivered`.
    pub unsubscribe: Option<f64>,
}

impl Rates {
    /// Computes every rate the counts support, with the canonical
    /// denominators.
    pub fn from_counts(counts: &Counts) -> Rates {
        let all_bounces = match (counts.bounce_hard, counts.bounce_soft) {
            (Some(hard), Some(soft)) => hard.checked_add(soft),
            _ => None,
        };
        Rates {
            delivery: ratio(counts.delivered, counts.sent),
            bounce: ratio(all_bounces, counts.sent),
            hard_bounce: ratio(counts.bounce_hard, counts.sent),
            soft_bounce: ratio(counts.bounce_soft, counts.sent),
            block: ratio(counts.blocked, counts.sent),
            deferral_events: ratio(counts.deferred, counts.sent),
            drop: ratio(counts.dropped, counts.requested),
            open: ratio(counts.opens_unique, counts.delivered),
            click: ratio(counts.clicks_unique, counts.delivered),
            complaint: ratio(counts.complaints, counts.delivered),
            unsubscribe: ratio(counts.unsubscribes, counts.delivered),
        }
    }
}

/// `numerator / denominator`, or `None` when either is unknown or the
/// denominator is 0.
fn ratio(numerator: Option<u64>, denominator: Option<u64>) -> Option<f64> {
    match (numerator, denominator) {
        // Counts are far below 2^53, where u64 -> f64 starts to round.
        (Some(numerator), Some(denominator)) if denominator > 0 => {
            Some(numerator as f64 / denominator as f64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|actual| (actual - expected).abs() < 1e-12)
    }

    #[test]
    fn rates_use_the_canonical_denominators() {
        let counts = Counts {
            requested: Some(1000),
            sent: Some(800),
            delivered: Some(700),
            bounce_hard: Some(40),
            bounce_soft: Some(20),
            blocked: Some(16),
            deferred: Some(1600),
            dropped: Some(200),
            opens_unique: Some(350),
            opens_machine: Some(100),
            clicks_unique: Some(70),
            complaints: Some(7),
            unsubscribes: Some(14),
            delivered_derived: false,
            reported: None,
        };
        let rates = counts.rates();
        assert!(close(rates.delivery, 0.875)); // 700 / 800
        assert!(close(rates.bounce, 0.075)); // (40 + 20) / 800
        assert!(close(rates.hard_bounce, 0.05)); // 40 / 800
        assert!(close(rates.soft_bounce, 0.025)); // 20 / 800
        assert!(close(rates.block, 0.02)); // 16 / 800
        assert!(close(rates.deferral_events, 2.0)); // 1600 / 800: events
        assert!(close(rates.drop, 0.2)); // 200 / 1000 requested
        assert!(close(rates.open, 0.5)); // 350 / 700 delivered
        assert!(close(rates.click, 0.1)); // 70 / 700
        assert!(close(rates.complaint, 0.01)); // 7 / 700
        assert!(close(rates.unsubscribe, 0.02)); // 14 / 700
    }

    #[test]
    fn a_missing_count_gives_no_rate_rather_than_zero() {
        let counts = Counts {
            sent: Some(100),
            bounce_hard: Some(5),
            complaints: Some(1),
            ..Counts::default()
        };
        let rates = counts.rates();
        assert!(close(rates.hard_bounce, 0.05));
        assert_eq!(rates.bounce, None, "soft bounces are unknown");
        assert_eq!(rates.complaint, None, "delivered is unknown");
        assert_eq!(rates.delivery, None);
        assert_eq!(rates.drop, None);
        assert_eq!(Counts::default().rates(), Rates::default());
    }

    #[test]
    fn a_zero_denominator_gives_no_rate() {
        let counts = Counts {
            sent: Some(0),
            delivered: Some(0),
            bounce_hard: Some(0),
            bounce_soft: Some(0),
            complaints: Some(0),
            ..Counts::default()
        };
        let rates = counts.rates();
        assert_eq!(rates.delivery, None);
        assert_eq!(rates.bounce, None);
        assert_eq!(rates.complaint, None);
    }

    #[test]
    fn a_zero_numerator_over_known_traffic_is_a_real_zero() {
        let counts = Counts {
            delivered: Some(50),
            complaints: Some(0),
            ..Counts::default()
        };
        assert_eq!(counts.rates().complaint, Some(0.0));
    }

    #[test]
    fn stream_keys_say_what_they_cover() {
        assert_eq!(StreamKey::account().as_str(), "account");
        assert_eq!(StreamKey::tag("welcome").to_string(), "tag:welcome");
        assert_eq!(StreamKey::category("docs").as_str(), "category:docs");
        assert_eq!(StreamKey::campaign("spring").as_str(), "campaign:spring");
    }
}
