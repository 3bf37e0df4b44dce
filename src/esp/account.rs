//! An ESP account as mailcall polls it: which provider, where, with what
//! credential, which streams, on what schedule. Built once from the
//! configuration; every other part (clients, poller, sandbox) reads it.

use std::fmt;
use std::time::Duration;

use crate::delivery::{BucketWidth, StreamKey};

/// The providers mailcall can poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    SendGrid,
    Mailgun,
    /// Mailgun's deprecated v3 stats API (`/v3/{domain}/stats/total`), for
    /// accounts that still use it.
    MailgunLegacy,
    Postmark,
    SparkPost,
    /// Amazon SES's v1 Query API (`GetSendStatistics`), signed with SigV4.
    Ses,
    /// Mailchimp Marketing's campaign reports.
    Mailchimp,
    /// Gmail Postmaster Tools: Gmail's own view of each sending domain.
    GmailPostmaster,
    /// Mailchimp Transactional (Mandrill).
    Mandrill,
    /// Brevo's transactional statistics.
    Brevo,
    /// Generated traffic for `mailcall demo` and tests (no network).
    Sandbox,
}

impl Provider {
    /// How long after a bucket ends its counts are final enough to judge,
    /// unless the account sets `settle_minutes`. Bounces and complaints
    /// trickle in after the send; the hourly APIs catch up within minutes,
    /// the daily ones (SendGrid, Postmark) are judged well after midnight in
    /// their own zone. The sandbox's counts are final at once.
    pub fn default_settle_minutes(self) -> u64 {
        super::source::for_provider(self).map_or(0, |source| source.settle_minutes())
    }

    /// Its name in messages: "SendGrid", "the sandbox".
    pub fn display_name(self) -> &'static str {
        super::source::for_provider(self).map_or("the sandbox", |source| source.name())
    }

    /// Whether an account must name its sending domain (Mailgun's stats
    /// are per domain).
    pub fn needs_domain(self) -> bool {
        super::source::for_provider(self).is_some_and(|source| source.needs_domain())
    }

    /// Whether `streams = "all"` can list the account's streams.
    pub fn lists_streams(self) -> bool {
        super::source::for_provider(self).is_none_or(|source| source.lists_streams())
    }

    /// Every provider, in the order the configuration documents them.
    pub const ALL: [Provider; 11] = [
        Provider::SendGrid,
        Provider::Mailgun,
        Provider::MailgunLegacy,
        Provider::Postmark,
        Provider::SparkPost,
        Provider::Ses,
        Provider::Mailchimp,
        Provider::Mandrill,
        Provider::Brevo,
        Provider::GmailPostmaster,
        Provider::Sandbox,
    ];

    /// The spelling used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::SendGrid => "sendgrid",
            Provider::Mailgun => "mailgun",
            Provider::MailgunLegacy => "mailgun-legacy",
            Provider::Postmark => "postmark",
            Provider::SparkPost => "sparkpost",
            Provider::Ses => "ses",
            Provider::Mailchimp => "mailchimp",
            Provider::Mandrill => "mandrill",
            Provider::Brevo => "brevo",
            Provider::GmailPostmaster => "gmail-postmaster",
            Provider::Sandbox => "sandbox",
        }
    }

    /// The provider's production API base, by region (`"us"`, `"eu"`,
    /// `"eu-west-1"`); `None` for a region the provider does not have.
    pub fn default_base_url(self, region: &str) -> Option<String> {
        match super::source::for_provider(self) {
            Some(source) => source.base_url(region),
            None => Some("sandbox:".to_owned()),
        }
    }

    /// The API base `credential` names, for a provider whose keys carry
    /// their data centre (Mailchimp); `None` otherwise.
    pub fn base_url_for_credential(self, credential: &str) -> Option<String> {
        super::source::for_provider(self)
            .and_then(|source| source.base_url_for_credential(credential))
    }

    /// Whether `credential` has the shape the provider's source needs; the
    /// error names what is wrong, never a value.
    pub fn check_credential(self, credential: &str) -> Result<(), String> {
        super::source::for_provider(self)
            .map_or(Ok(()), |source| source.check_credential(credential))
    }

    /// The region an account is in unless it names one; `""` when its key
    /// says.
    pub fn default_region(self) -> &'static str {
        super::source::for_provider(self).map_or("us", |source| source.default_region())
    }

    /// Where a key pair's parts are read by default, for a provider that
    /// signs with one (SES); `None` for a one-secret provider.
    pub fn key_pair(self) -> Option<super::source::KeyPairDefaults> {
        super::source::for_provider(self).and_then(|source| source.key_pair())
    }

    /// How far back each poll re-fetches unless the account says, in hours.
    pub fn default_window_hours(self) -> u64 {
        super::source::for_provider(self).map_or(48, |source| source.default_window_hours())
    }

    /// Whether its accounts name the user a service account acts for.
    pub fn acts_for_a_user(self) -> bool {
        super::source::for_provider(self).is_some_and(|source| source.acts_for_a_user())
    }

    /// The alert preset its accounts get unless configured otherwise.
    pub fn alert_preset(self) -> Option<&'static str> {
        super::source::for_provider(self).and_then(|source| source.alert_preset())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::redact::Credential;

/// Which streams of an account to poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamSelection {
    /// The account as a whole (one stream, `StreamKey::account()`).
    Account,
    /// These streams: `tag:…` (Mailgun, Postmark), `category:…` (SendGrid),
    /// `campaign:…` (SparkPost), or `message-stream:…` (Postmark).
    Named(Vec<StreamKey>),
    /// Every tag/category/campaign the provider reports, plus the account.
    AllDiscovered,
}

/// A validated ESP account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The name people use for it (`sendgrid-main`); unique in the config.
    pub name: String,
    pub provider: Provider,
    /// The API base without a trailing slash: the provider's default, its EU
    /// host, or any URL (tests point it at a loopback mock).
    pub base_url: String,
    /// The API key or token, resolved from the environment or a file.
    pub credential: Credential,
    /// Mailgun only: the sending domain the stats are for.
    pub domain: Option<String>,
    pub streams: StreamSelection,
    /// The bucket size to ask for (hour where the provider allows it).
    pub bucket: BucketWidth,
    /// How far back each poll re-fetches, so late data revises past buckets
    /// and a restart catches up.
    pub window: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The rest of a key pair, for a provider that signs its requests
    /// (SES); `credential` is then the secret half.
    pub key_pair: Option<KeyPair>,
    /// The user a service account acts for (Gmail Postmaster Tools, with
    /// domain-wide delegation): the `sub` of its signed grant.
    pub subject: Option<String>,
}

/// The public parts of a signing key pair and what the signature is
/// scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The access key ID (not secret: it names the key).
    pub key_id: String,
    /// The session token of temporary credentials.
    pub session_token: Option<Credential>,
    /// The region the signature is for (`eu-west-1`).
    pub region: String,
}
