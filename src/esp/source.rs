//! One interface per statistics source.
//!
//! A source module (`sendgrid.rs`, `mailgun.rs`, `postmark.rs`,
//! `sparkpost.rs`, `ses.rs`, `mailchimp.rs`, `mandrill.rs`, `brevo.rs`, `postmaster.rs`)
//! owns everything about its provider: the requests a poll
//! makes (paging, discovery), the parsing of the answers, how it
//! authenticates, and what its rate-limit signal means. [`super::client`]
//! only runs one fetch attempt through a [`Source`]: it sends what the
//! source asks for, turns HTTP failures into typed errors and keeps
//! credentials out of them. The poller, history and detection see
//! normalised samples and those errors, never a provider. Adding a source
//! is a new module and one line in [`for_provider`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::RequestBuilder;

use super::account::{Account, Provider};
use super::client::{FetchError, Plan, Session, Window};
use crate::delivery::Sample;

/// What a source's fetch returns: its samples for the window, or the first
/// error.
pub(crate) type SourceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Sample>, FetchError>> + Send + 'a>>;

/// Requests of one fetch in flight at once for a provider that states no
/// limit on how many may be open: its limits, where documented, count
/// requests per minute or hour, which spreading one poll's requests out
/// would not lower.
pub(crate) const NO_STATED_LIMIT: usize = 10;

/// A provider's statistics API, as one fetch attempt needs it.
pub(crate) trait Source: Sync {
    /// Its name in messages: "SendGrid".
    fn name(&self) -> &'static str;

    /// The stream kinds it can filter by (`category`, `tag`, …), as in
    /// `category:<name>`.
    fn stream_kinds(&self) -> &'static [&'static str];

    /// `request` with the credential added the way the provider documents
    /// (marked sensitive, so no HTTP layer prints it). The error says why
    /// the credential cannot be sent, never what it is.
    fn authorize(
        &self,
        request: RequestBuilder,
        credential: &str,
    ) -> Result<RequestBuilder, String>;

    /// Its production API base in `region` (`"us"`, `"eu"`, `"eu-west-1"`);
    /// `None` for a region it does not have.
    fn base_url(&self, region: &str) -> Option<String>;

    /// The region an account is in unless it names one; `""` for a source
    /// whose key names its region ([`Source::base_url_for_credential`]).
    fn default_region(&self) -> &'static str {
        "us"
    }

    /// The API base a key names (Mailchimp's keys end in their data
    /// centre), for an account that sets neither region nor base URL.
    fn base_url_for_credential(&self, _credential: &str) -> Option<String> {
        None
    }

    /// Whether a credential has the shape this source needs (a service
    /// account's key file, say), so that a wrong file is refused when the
    /// configuration is read rather than at the first poll. The error
    /// names what is wrong, never a value.
    fn check_credential(&self, _credential: &str) -> Result<(), String> {
        Ok(())
    }

    /// Where a key pair's parts are read from when the account does not
    /// say (the provider's own environment variables); `None` for a source
    /// that authenticates with one secret.
    fn key_pair(&self) -> Option<KeyPairDefaults> {
        None
    }

    /// How far back each poll re-fetches unless the account says, in hours:
    /// long enough for late figures to be revised.
    fn default_window_hours(&self) -> u64 {
        48
    }

    /// Whether it authenticates as a service account acting for a user
    /// (the account's `subject`).
    fn acts_for_a_user(&self) -> bool {
        false
    }

    /// The alert preset its accounts get unless the configuration gives
    /// one (`"ses"`: the provider's own review levels).
    fn alert_preset(&self) -> Option<&'static str> {
        None
    }

    /// Authentication that needs the finished request: a signature over
    /// its method, URL, headers and body (SigV4), or a key carried inside
    /// the body. Runs after [`Source::authorize`]; the error says why the
    /// request cannot be signed, never with what.
    fn sign(
        &self,
        _request: &mut reqwest::Request,
        _account: &Account,
        _now: DateTime<Utc>,
    ) -> Result<(), String> {
        Ok(())
    }

    /// What a non-2xx answer means when the provider says it in the body
    /// rather than the status (Mandrill's HTTP 500 `Invalid_Key`, SES's
    /// HTTP 400 `Throttling`); `None` to go by the status.
    fn refusal(&self, _status: u16, _body: &[u8]) -> Option<Refusal> {
        None
    }

    /// How long after a bucket ends its counts are final enough to judge,
    /// unless the account sets `settle_minutes`.
    fn settle_minutes(&self) -> u64;

    /// Whether an account must name its sending domain.
    fn needs_domain(&self) -> bool {
        false
    }

    /// Whether it can list an account's streams (`streams = "all"`).
    fn lists_streams(&self) -> bool {
        true
    }

    /// The most requests of one fetch in flight at once, where they do not
    /// depend on each other (paging and discovery stay in order). Unless
    /// the provider states a limit, [`NO_STATED_LIMIT`].
    fn concurrency(&self) -> usize {
        NO_STATED_LIMIT
    }

    /// A path prefix the account's base URL gets unless it already ends
    /// with it.
    fn path_prefix(&self) -> &'static str {
        ""
    }

    /// The wait its own rate-limit signal asks for, when the answer carries
    /// no `Retry-After`.
    fn rate_limit_wait(
        &self,
        _headers: &HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Option<Duration> {
        None
    }

    /// The window's samples for the plan: every request, page and
    /// discovery step, through `session`.
    fn fetch<'a>(
        &'a self,
        session: &'a Session<'_>,
        plan: &'a Plan,
        window: Window,
    ) -> SourceFuture<'a>;
}

/// What an error answer means, read from its body by [`Source::refusal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The credential was refused: never retried.
    Credential,
    /// Rate limited: retried after the provider's wait.
    RateLimited,
    /// The request was refused for another reason: not retried.
    Rejected,
    /// A transient fault on the provider's side: retried.
    Server,
}

/// The environment variables a key pair's parts are read from by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPairDefaults {
    /// The public half (AWS access key ID).
    pub key_id_env: &'static str,
    /// The secret half.
    pub secret_env: &'static str,
    /// A session token for temporary credentials, read when set.
    pub session_token_env: &'static str,
}

/// The source that fetches `provider`'s statistics over HTTP; `None` for
/// the sandbox, which the poller generates itself.
pub(crate) fn for_provider(provider: Provider) -> Option<&'static dyn Source> {
    match provider {
        Provider::SendGrid => Some(&super::sendgrid::source::SendGrid),
        Provider::Mailgun => Some(&super::mailgun::source::Mailgun { legacy: false }),
        Provider::MailgunLegacy => Some(&super::mailgun::source::Mailgun { legacy: true }),
        Provider::Postmark => Some(&super::postmark::source::Postmark),
        Provider::SparkPost => Some(&super::sparkpost::source::SparkPost),
        Provider::Ses => Some(&super::ses::source::Ses),
        Provider::Mandrill => Some(&super::mandrill::source::Mandrill),
        Provider::Brevo => Some(&super::brevo::source::Brevo),
        Provider::Mailchimp => Some(&super::mailchimp::source::Mailchimp),
        Provider::GmailPostmaster => Some(&super::postmaster::source::Postmaster),
        Provider::Sandbox => None,
    }
}

/// A header value that carries a secret: marked sensitive.
pub(crate) fn sensitive(value: String) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        "the credential contains characters an HTTP header cannot carry".to_string()
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `request` asking for JSON.
pub(crate) fn accept_json(request: RequestBuilder) -> RequestBuilder {
    request.header(ACCEPT, HeaderValue::from_static("application/json"))
}
