//! The vocabulary detection and alerting share: which metric, which kind of
//! anomaly, how bad, and the figures behind it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::StreamKey;
use crate::domain::Team;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// (hard + soft) / sent, or hard / sent where soft is unknown.
    Bounce,
    /// complaints / delivered.
    Complaint,
    /// deferred events / sent.
    Deferral,
    /// blocked / sent.
    Block,
    /// unique opens / delivered.
    Open,
    /// unique clicks / delivered.
    Click,
    /// unsubscribes / delivered.
    Unsubscribe,
    /// messages sent.
    Volume,
    /// the ESP feed itself (polling).
    Feed,
    /// A mailbox provider's own user-reported spam rate (Gmail Postmaster
    /// Tools; the upper end of its interval where given).
    SpamRate,
    /// A mailbox provider's reputation of the sending domain.
    DomainReputation,
    /// A mailbox provider's reputation of the sending IPs (the worst).
    IpReputation,
    /// A mailbox provider's bulk-sender requirements.
    Compliance,
}

/// Which detector found it. Also the runbook's name (`data/runbooks/<kind>.md`)
/// and the routing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// A rate crossed a fixed threshold (Gmail/Yahoo spam rate, SES review levels).
    HardLimit,
    /// A rate is significantly above (or, for opens/clicks, below) the stream's
    /// own weekday/hour baseline, given the volume behind it.
    Baseline,
    /// The stream sends far less than usual at this weekday and hour, or nothing.
    VolumeDrop,
    /// The stream sends several times its usual volume: a looping
    /// automation, a list sent twice.
    VolumeSpike,
    /// Opens or clicks collapsed while deliveries look normal.
    EngagementCollapse,
    /// The ESP feed failed repeatedly (from polling).
    StaleFeed,
    /// A mailbox provider lowered its reputation of the domain or its IPs
    /// (HIGH → MEDIUM → LOW → BAD).
    ReputationDrop,
    /// A mailbox provider says a bulk-sender requirement needs work.
    ComplianceNeedsWork,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 8] = [
        AnomalyKind::HardLimit,
        AnomalyKind::Baseline,
        AnomalyKind::VolumeDrop,
        AnomalyKind::VolumeSpike,
        AnomalyKind::EngagementCollapse,
        AnomalyKind::StaleFeed,
        AnomalyKind::ReputationDrop,
        AnomalyKind::ComplianceNeedsWork,
    ];

    /// The spelling in configuration, commands and runbook file names.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::HardLimit => "hard-limit",
            AnomalyKind::Baseline => "baseline",
            AnomalyKind::VolumeDrop => "volume-drop",
            AnomalyKind::VolumeSpike => "volume-spike",
            AnomalyKind::EngagementCollapse => "engagement-collapse",
            AnomalyKind::StaleFeed => "stale-feed",
            AnomalyKind::ReputationDrop => "reputation-drop",
            AnomalyKind::ComplianceNeedsWork => "compliance-needs-work",
        }
    }
}

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::Bounce,
        Metric::Complaint,
        Metric::Deferral,
        Metric::Block,
        Metric::Open,
        Metric::Click,
        Metric::Unsubscribe,
        Metric::Volume,
        Metric::Feed,
        Metric::SpamRate,
        Metric::DomainReputation,
        Metric::IpReputation,
        Metric::Compliance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Bounce => "bounce",
            Metric::Complaint => "complaint",
            Metric::Deferral => "deferral",
            Metric::Block => "block",
            Metric::Open => "open",
            Metric::Click => "click",
            Metric::Unsubscribe => "unsubscribe",
            Metric::Volume => "volume",
            Metric::Feed => "feed",
            Metric::SpamRate => "spam-rate",
            Metric::DomainReputation => "domain-reputation",
            Metric::IpReputation => "ip-reputation",
            Metric::Compliance => "compliance",
        }
    }

    /// The teams that own trouble with this metric, by default: bounces,
    /// deferrals and blocks → integration and development; complaints and
    /// unsubscribes → marketing; opens → marketing and design; clicks →
    /// design and integration; volume → development and integration; the
    /// feed → development; a mailbox provider's spam rate → marketing and
    /// integration; its reputations and bulk-sender requirements →
    /// integration and marketing.
    pub fn default_owners(self) -> &'static [Team] {
        match self {
            Metric::Bounce | Metric::Deferral | Metric::Block => {
                &[Team::Integration, Team::Development]
            }
            Metric::Complaint | Metric::Unsubscribe => &[Team::Marketing],
            Metric::Open => &[Team::Marketing, Team::Design],
            Metric::Click => &[Team::Design, Team::Integration],
            Metric::Volume => &[Team::Development, Team::Integration],
            Metric::Feed => &[Team::Development],
            Metric::SpamRate => &[Team::Marketing, Team::Integration],
            Metric::DomainReputation | Metric::IpReputation | Metric::Compliance => {
                &[Team::Integration, Team::Marketing]
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Critical,
}

/// What identifies one alert: repeated findings with the same key are the
/// same alert (its post is edited, not repeated).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    pub account: String,
    pub stream: StreamKey,
    pub metric: Metric,
    pub kind: AnomalyKind,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} {} {}",
            self.account, self.stream, self.metric, self.kind
        )
    }
}

/// One detector's verdict on one bucket of one stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub key: AlertKey,
    pub level: Level,
    /// The bucket the finding is about.
    pub bucket_start: DateTime<Utc>,
    /// The metric's value now (a fraction for rates, a count for volume).
    pub value: Option<f64>,
    /// What the stream usually shows at this weekday and hour.
    pub baseline: Option<f64>,
    /// The fixed threshold crossed, for hard limits.
    pub threshold: Option<f64>,
    /// The volume behind the figure (sent or delivered, as the rate uses).
    pub volume: Option<u64>,
    /// How anomalous, 0 (normal) to 1 (certain).
    pub score: f64,
    /// Recent values of the metric, oldest first, for a sparkline
    /// (`None` where a bucket is missing).
    pub recent: Vec<Option<f64>>,
    /// One sentence for people: "bounces 9.1% on 1,204 sent, usually 0.7%".
    pub summary: String,
}
