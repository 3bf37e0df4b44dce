//! One fetch attempt against a statistics source: the `Session` a
//! [`super::source::Source`] sends its requests through (URL, credential,
//! timeout, body limits, typed errors with nothing secret in them), and the
//! `Plan` of which streams to ask for. What is asked, how it is paged and
//! how the answers are read live in each source's module
//! ([`super::sendgrid`], [`super::mailgun`], [`super::postmark`],
//! [`super::sparkpost`], [`super::ses`], [`super::mailchimp`],
//! [`super::mandrill`], [`super::brevo`], [`super::postmaster`]); nothing
//! here names a provider.
//!
//! Why it is shaped like this:
//!
//! - **One attempt, no retries.** [`fetch`] never sleeps and never retries. A
//!   429 comes back as [`FetchError::RateLimited`] with the wait the provider
//!   asked for, and the poller's retry loop (which owns backoff, jitter and
//!   the rate budget shared across accounts) decides what to do. Keeping
//!   retries out of here keeps one poll's cost predictable and the tests
//!   honest.
//! - **No secrets in errors or logs.** Errors and `tracing` events name the
//!   account and the documented path template ([`Endpoint`], e.g.
//!   `SendGrid /v3/stats`), never a URL with its query string, a header or
//!   the credential. Provider error messages and network error texts are
//!   scrubbed of the credential and of the request URL before they are kept.
//!   Redirects are not followed: reqwest strips `Authorization` on a
//!   cross-host redirect but not Postmark's `X-Postmark-Server-Token`.
//! - **Only what the provider said.** Samples come from the parsers
//!   unchanged; buckets the provider did not return stay absent (no zero
//!   filling), and buckets that do not overlap the window are dropped.
//!
//! # What is requested, per provider (each in its source module)
//!
//! | Provider | Account-wide | Named streams | All discovered |
//! |---|---|---|---|
//! | SendGrid | `GET /v3/stats` (paged, `limit`/`offset`) | `GET /v3/categories/stats`, `categories=` repeated, ≤ 10 per request | `GET /v3/categories/stats/sums` (paged) to list categories, then as named, plus account-wide |
//! | Mailgun | `POST /v1/analytics/metrics`, `dimensions: ["time"]` | the same, filtered to one tag per request | the same with `dimensions: ["time","tag"]`, plus account-wide |
//! | Postmark | `GET /stats/outbound/{sends,bounces,spam,opens,clicks}` | the same with `tag=` or `messagestream=` | refused by the configuration: Postmark documents no tag listing |
//! | SparkPost | `GET /api/v1/metrics/deliverability/time-series` | the same with `campaigns=` | `GET /api/v1/metrics/deliverability/campaign` to list campaigns, then as named, plus account-wide |
//! | Amazon SES | `POST /` `Action=GetSendStatistics` (SigV4) | refused: the API covers the account only | refused by the configuration |
//! | Mailchimp | `GET /3.0/reports` (sent in the window, paged) | audiences from the same list; campaigns by `GET /3.0/reports/{id}` | every campaign and audience of the window, plus account-wide |
//! | Mandrill | `POST /tags/all-time-series` | `POST /tags/time-series`, `/senders/time-series` | `POST /tags/list`, then as named, plus account-wide |
//! | Brevo | `GET /v3/smtp/statistics/reports` (≤ 30 days a request, paged) | the same with `tag=` | refused by the configuration: Brevo documents no tag listing |
//! | Gmail Postmaster | every domain: `GET /v1/domains`, then as named | `GET /v1/domains/{d}/trafficStats` (paged) and `GET /v2/domains/{d}/complianceStatus`, after the token grant | as account-wide |
//!
//! Paged sequences stop after [`MAX_PAGES`] pages with a
//! [`FetchError::Payload`], so a provider whose paging never ends cannot keep
//! a poll running forever.

// `FetchError::Payload` carries the parser's `PayloadError` by value, as the
// poller matches on it; errors are one per fetch, so their size is no cost.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::account::{Account, StreamSelection};
use super::source::{Refusal, Source};
use super::{Endpoint, PayloadError};
use crate::delivery::{Bucket, BucketWidth, Sample, StreamKey};

/// A half-open UTC window `[start, end)` to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window of length `length` that ends at `end` (an account's
    /// trailing [`Account::window`] ending now). A length too large for the
    /// calendar starts at the earliest representable time.
    pub fn ending_at(end: DateTime<Utc>, length: Duration) -> Window {
        let start = chrono::Duration::from_std(length)
            .ok()
            .and_then(|length| end.checked_sub_signed(length))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Window { start, end }
    }

    /// Whether a bucket overlaps the window. A bucket that merely starts
    /// before the window (the day a mid-day window begins in) still counts:
    /// the provider reports whole buckets, and that day is the one asked for.
    pub fn overlaps(&self, bucket: &Bucket) -> bool {
        bucket.start < self.end && bucket_end(bucket) > self.start
    }
}

/// What one fetch brought back.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// Every sample whose bucket overlaps the window, in the order fetched.
    pub samples: Vec<Sample>,
    /// HTTP requests made, pages included.
    pub requests: usize,
}

/// Why a fetch failed. The `account` is the account's configured name.
///
/// No variant ever holds the credential, a request header or a URL with its
/// query string; `detail` texts are scrubbed of the credential and the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No complete answer within `account.timeout` (per request).
    #[error("{account}: the provider did not answer in time")]
    Timeout { account: String },
    /// HTTP 429. `retry_after` is the provider's requested wait: from
    /// `Retry-After` (seconds or an HTTP date), else the provider's own
    /// signal (SendGrid `X-RateLimit-Reset`, Mailgun's "try again after N
    /// seconds" message), else `None` (Postmark and SparkPost document no
    /// header; see [`sparkpost::RATE_LIMIT_FIRST_WAIT_MIN`]).
    #[error("{account}: rate limited by the provider{}", retry_after_text(.retry_after))]
    RateLimited {
        account: String,
        retry_after: Option<Duration>,
    },
    /// HTTP 401 or 403: the credential was refused. Never retried.
    #[error("{account}: the provider refused the credential (HTTP {status})")]
    Auth { account: String, status: u16 },
    /// HTTP 5xx.
    #[error("{account}: provider error (HTTP {status})")]
    Server { account: String, status: u16 },
    /// Any other refusal: a 4xx other than 401, 403 and 429, an unexpected
    /// redirect, or (with `status` [`NO_HTTP_STATUS`]) a request that could
    /// not be made at all (the sandbox, an unsupported stream, a credential
    /// or base URL that cannot go into a request). `detail` is the
    /// provider's error message, cut to 200 characters.
    #[error("{account}: request rejected{}: {detail}", status_text(.status))]
    Rejected {
        account: String,
        status: u16,
        detail: String,
    },
    /// A 2xx body that does not match the provider's documented shape.
    #[error("{account}: {error}")]
    Payload {
        account: String,
        error: PayloadError,
    },
    /// The connection failed (refused, reset, DNS, TLS, a broken body).
    #[error("{account}: network error: {detail}")]
    Network { account: String, detail: String },
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {}s)", wait.as_secs()),
        None => " (no wait given)".to_owned(),
    }
}

fn status_text(status: &u16) -> String {
    if *status == NO_HTTP_STATUS {
        " before any request".to_owned()
    } else {
        format!(" (HTTP {status})")
    }
}

impl FetchError {
    /// Whether the caller's retry loop may try again: timeouts, rate limits,
    /// server errors and network failures. Refused credentials, rejected
    /// requests and malformed bodies will not get better by repeating them.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Timeout { .. }
                | FetchError::RateLimited { .. }
                | FetchError::Server { .. }
                | FetchError::Network { .. }
        )
    }

    /// The account the error is about.
    pub fn account(&self) -> &str {
        match self {
            FetchError::Timeout { account }
            | FetchError::RateLimited { account, .. }
            | FetchError::Auth { account, .. }
            | FetchError::Server { account, .. }
            | FetchError::Rejected { account, .. }
            | FetchError::Payload { account, .. }
            | FetchError::Network { account, .. } => account,
        }
    }
}

/// The `status` of a [`FetchError::Rejected`] raised before any HTTP request
/// was made.
pub const NO_HTTP_STATUS: u16 = 0;

/// The most pages one paged sequence (one endpoint, one set of filters) is
/// followed for. Beyond it the fetch fails with a [`FetchError::Payload`]
/// rather than loop on a provider whose paging never ends.
pub const MAX_PAGES: usize = 1000;

/// The largest successful response body read; a larger one is a
/// [`FetchError::Payload`]. Daily or hourly stats over days are kilobytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of an error response body is read (for its message).
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The longest `detail` kept from a provider's error message, in characters.
const MAX_DETAIL_CHARS: usize = 200;

/// The HTTP client the sources share, and how many requests may be in
/// flight through it at once.
///
/// Over HTTP/1.1 every request in flight holds a connection of its own,
/// and so an open file: a cold cycle over 200 accounts opens about 1,300.
/// Where the process may open fewer files than that ([`crate::open_files`]),
/// the poller gives the client a budget, and a request beyond it waits for
/// one to finish instead of failing with "too many open files". Idle
/// connections kept for reuse are bounded per host by the caller too.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    in_flight: Arc<Semaphore>,
}

impl Http {
    /// At most `in_flight` requests at once (at least one), and at most
    /// `idle_per_host` idle connections kept per host.
    pub fn limited(in_flight: usize, idle_per_host: usize) -> Http {
        Http {
            client: reqwest_client(idle_per_host),
            in_flight: Arc::new(Semaphore::new(in_flight.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }
}

/// The shared HTTP client with no budget of its own (tests, one-off tools).
pub fn http_client() -> Http {
    Http::limited(Semaphore::MAX_PERMITS, usize::MAX)
}

/// rustls, no proxy taken from the environment (a stray `HTTPS_PROXY`
/// must not see credentials), no redirects, and the user agent
/// `mailcall/<version>`. Per-request timeouts come from each account.
fn reqwest_client(idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mailcall/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(idle_per_host)
        .build()
        // No outside input reaches this builder: the settings are constants
        // and rustls uses its bundled roots, so it fails only on a bug (as
        // `reqwest::Client::new` would).
        .expect("the fixed HTTP client configuration builds")
}

/// Fetches `window` for `account`: one attempt, pages and streams included,
/// no retries (see the module documentation for what is requested).
///
/// `now` is only used to turn a provider's absolute "retry at" time
/// (SendGrid `X-RateLimit-Reset`, an HTTP-date `Retry-After`) into a wait.
/// An empty window (`end <= start`) needs no request and fetches nothing.
///
/// The poller handles [`Provider::Sandbox`] itself; called for it, this
/// returns [`FetchError::Rejected`] with status [`NO_HTTP_STATUS`].
///
/// `tokens` keeps the access tokens sources obtain (Gmail's OAuth
/// exchange) for the caller's later fetches: the poller passes its own.
pub async fn fetch(
    http: &Http,
    tokens: &TokenCache,
    account: &Account,
    window: Window,
    now: DateTime<Utc>,
) -> Result<Fetched, FetchError> {
    let Some(source) = super::source::for_provider(account.provider) else {
        return Err(rejected_locally(
            account,
            "the sandbox is not fetched over HTTP",
        ));
    };
    if window.end <= window.start {
        return Ok(Fetched {
            samples: Vec::new(),
            requests: 0,
        });
    }
    let plan = Plan::for_account(account, source)?;
    let session = Session {
        http,
        tokens,
        account,
        source,
        now,
        requests: AtomicUsize::new(0),
        bearer: std::sync::Mutex::new(None),
    };
    let samples = source.fetch(&session, &plan, window).await?;
    let fetched = samples.len();
    let samples: Vec<Sample> = samples
        .into_iter()
        .filter(|sample| window.overlaps(&sample.bucket))
        .collect();
    tracing::debug!(
        account = %account.name,
        provider = %account.provider,
        requests = session.requests(),
        samples = samples.len(),
        outside_window = fetched - samples.len(),
        "fetched ESP statistics"
    );
    Ok(Fetched {
        samples,
        requests: session.requests(),
    })
}

// ---------------------------------------------------------------------------
// Which streams to request.

/// The account's stream selection, checked against what the provider can
/// filter by.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Fetch the account-wide series.
    pub(crate) account_wide: bool,
    /// `(kind, name)` of each named stream, in order, without repeats.
    pub(crate) named: Vec<(&'static str, String)>,
    /// Fetch the provider's breakdown and every stream it lists.
    pub(crate) discover: bool,
}

impl Plan {
    fn for_account(account: &Account, source: &dyn Source) -> Result<Plan, FetchError> {
        let kinds = source.stream_kinds();
        match &account.streams {
            StreamSelection::Account => Ok(Plan {
                account_wide: true,
                named: Vec::new(),
                discover: false,
            }),
            StreamSelection::AllDiscovered => Ok(Plan {
                account_wide: true,
                named: Vec::new(),
                discover: true,
            }),
            StreamSelection::Named(streams) => {
                let mut plan = Plan {
                    account_wide: false,
                    named: Vec::new(),
                    discover: false,
                };
                for stream in streams {
                    if *stream == StreamKey::account() {
                        plan.account_wide = true;
                        continue;
                    }
                    let parsed = stream.as_str().split_once(':').and_then(|(kind, name)| {
                        let kind = kinds.iter().copied().find(|known| *known == kind)?;
                        (!name.is_empty()).then(|| (kind, name.to_owned()))
                    });
                    let Some(named) = parsed else {
                        let wanted = kinds
                            .iter()
                            .map(|kind| format!("`{kind}:<name>`"))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        return Err(rejected_locally(
                            account,
                            &format!(
                                "stream `{}` is not something {} can filter by (use `account` or {wanted})",
                                stream,
                                source.name()
                            ),
                        ));
                    };
                    if !plan.named.contains(&named) {
                        plan.named.push(named);
                    }
                }
                Ok(plan)
            }
        }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|(_, name)| name.as_str())
    }
}

pub(crate) fn rejected_locally(account: &Account, detail: &str) -> FetchError {
    FetchError::Rejected {
        account: account.name.clone(),
        status: NO_HTTP_STATUS,
        detail: cut(detail, MAX_DETAIL_CHARS),
    }
}

// ---------------------------------------------------------------------------
// Windows, dates and buckets.

/// The first and last calendar dates the window touches, in a zone
/// `offset_hours` east of UTC (SendGrid 0, Postmark's EST −5), for APIs whose
/// end date is inclusive.
pub(crate) fn inclusive_dates(window: Window, offset_hours: i64) -> (NaiveDate, NaiveDate) {
    let shift = chrono::Duration::hours(offset_hours);
    let local = |time: DateTime<Utc>| time.checked_add_signed(shift).unwrap_or(time).date_naive();
    let last_instant = window
        .end
        .checked_sub_signed(chrono::Duration::nanoseconds(1))
        .unwrap_or(window.end);
    (local(window.start), local(last_instant.max(window.start)))
}

pub(crate) fn ymd(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Where a bucket ends.
fn bucket_end(bucket: &Bucket) -> DateTime<Utc> {
    let start = bucket.start;
    let end = match bucket.width {
        BucketWidth::Hour => start.checked_add_signed(chrono::Duration::hours(1)),
        BucketWidth::Day => start.checked_add_signed(chrono::Duration::days(1)),
        BucketWidth::Week => start.checked_add_signed(chrono::Duration::weeks(1)),
        BucketWidth::Month => start.checked_add_months(Months::new(1)),
    };
    end.unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---------------------------------------------------------------------------
// Sending one request.

/// What a request carries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body<'b> {
    Empty,
    /// A JSON document (`application/json`).
    Json(&'b Value),
    /// Form fields (`application/x-www-form-urlencoded`).
    Form(&'b [(&'b str, &'b str)]),
}

/// Access tokens that sources obtained (an OAuth exchange), kept between
/// fetches until [`TOKEN_MARGIN_SECONDS`] before they expire, as every
/// OAuth client keeps them: a poll every 15 minutes then makes one
/// exchange an hour instead of four, and its data requests need not wait
/// for one. Keyed by whatever the source says a token is good for; each
/// kept token stays registered for redaction while it is kept. One per
/// poller (its owner), so separate pollers, and tests, share nothing.
#[derive(Default)]
pub struct TokenCache {
    tokens: std::sync::Mutex<std::collections::HashMap<String, KeptToken>>,
}

/// How long before its expiry a kept token is no longer used.
pub const TOKEN_MARGIN_SECONDS: i64 = 300;

struct KeptToken {
    token: crate::redact::Credential,
    expires_at: DateTime<Utc>,
}

impl TokenCache {
    /// The token kept under `key`, unless it expires within the margin
    /// of `now` (then it is dropped).
    pub(crate) fn kept(&self, key: &str, now: DateTime<Utc>) -> Option<crate::redact::Credential> {
        let mut tokens = self.tokens.lock().ok()?;
        let fresh = |kept: &&KeptToken| {
            now.checked_add_signed(chrono::Duration::seconds(TOKEN_MARGIN_SECONDS))
                .is_some_and(|soon| soon < kept.expires_at)
        };
        if let Some(kept) = tokens.get(key).filter(fresh) {
            return Some(kept.token.clone());
        }
        tokens.remove(key);
        None
    }

    /// Keeps `token` under `key` until `expires_at`.
    pub(crate) fn keep(
        &self,
        key: &str,
        token: crate::redact::Credential,
        expires_at: DateTime<Utc>,
    ) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(key.to_owned(), KeptToken { token, expires_at });
        }
    }

    /// Drops the token kept under `key` (the provider refused it).
    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(key);
        }
    }
}

/// The state of one fetch: where to send, with what, and how many requests
/// so far.
pub(crate) struct Session<'a> {
    http: &'a Http,
    /// Access tokens kept between fetches.
    pub(crate) tokens: &'a TokenCache,
    pub(crate) account: &'a Account,
    source: &'a dyn Source,
    now: DateTime<Utc>,
    /// Requests sent so far (they may be in flight together).
    requests: AtomicUsize,
    /// An access token the source obtained in this fetch ([`Session::use_bearer`]).
    bearer: std::sync::Mutex<Option<crate::redact::Credential>>,
}

impl Session<'_> {
    /// How many independent requests may be in flight at once.
    pub(crate) fn concurrency(&self) -> usize {
        self.source.concurrency().max(1)
    }

    /// The fetch's "now" (the injected clock's).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Requests sent so far.
    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// The bodies of independent `GET`s, in order, at most the source's
    /// [`Source::concurrency`] in flight at once; the first error ends
    /// them all.
    pub(crate) async fn get_all(
        &self,
        requests: Vec<(Endpoint, Vec<(&'static str, String)>)>,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let pending: Vec<_> = requests
            .into_iter()
            .map(|(endpoint, query)| self.get_owned(endpoint, query))
            .collect();
        self.together(pending).await
    }

    /// The results of independent request sequences (each a future that
    /// may page on its own), in order, at most the source's
    /// [`Source::concurrency`] running at once; the first error ends them
    /// all. Build the futures first and pass them in.
    pub(crate) async fn together<F, T>(&self, pending: Vec<F>) -> Result<Vec<T>, FetchError>
    where
        F: std::future::Future<Output = Result<T, FetchError>>,
    {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(pending)
            .buffered(self.concurrency())
            .try_collect()
            .await
    }

    /// `GET` of `path`, an instance of `endpoint`'s documented template
    /// (`/reports/{campaign_id}` → `/reports/42694e9e57`).
    pub(crate) async fn get_at(
        &self,
        endpoint: Endpoint,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, FetchError> {
        self.send(endpoint, Method::GET, path, query, Body::Empty)
            .await
    }

    /// [`Session::get`] owning its query (a request waiting its turn).
    async fn get_owned(
        &self,
        endpoint: Endpoint,
        query: Vec<(&'static str, String)>,
    ) -> Result<Vec<u8>, FetchError> {
        self.get(endpoint, &query).await
    }

    /// `GET` of an endpoint whose documented path is the request path.
    pub(crate) async fn get(
        &self,
        endpoint: Endpoint,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, FetchError> {
        self.get_at(endpoint, endpoint.path, query).await
    }

    /// Sends one request and returns the body of a 2xx answer; any other
    /// answer, a timeout or a network failure is the matching error.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Vec<u8>, FetchError> {
        let url = self.url(path, query)?;
        let mut request = self
            .http
            .client
            .request(method, url.clone())
            .timeout(self.account.timeout);
        request = self.authorize(request)?;
        request = match body {
            Body::Empty => request,
            Body::Json(json) => request.json(json),
            Body::Form(fields) => request.form(fields),
        };
        let mut request = request
            .build()
            .map_err(|_| rejected_locally(self.account, "the request could not be built"))?;
        self.source
            .sign(&mut request, self.account, self.now)
            .map_err(|why| rejected_locally(self.account, &why))?;
        self.execute(endpoint, request, &url).await
    }

    /// Posts a form to an absolute URL outside the API (an OAuth token
    /// endpoint), with no credential but what the form carries. `url` must
    /// be http(s).
    pub(crate) async fn post_form_to(
        &self,
        endpoint: Endpoint,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, FetchError> {
        let url = Url::parse(url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                rejected_locally(self.account, "the token URL is not a valid http(s) URL")
            })?;
        let request = self
            .http
            .client
            .post(url.clone())
            .timeout(self.account.timeout)
            .form(form)
            .build()
            .map_err(|_| rejected_locally(self.account, "the request could not be built"))?;
        self.execute(endpoint, request, &url).await
    }

    /// From now on in this fetch, requests carry `token` as a bearer token
    /// instead of the source's own authentication (an OAuth access token
    /// the source obtained, a [`crate::redact::Credential`] so that it is
    /// redacted while it is in use).
    pub(crate) fn use_bearer(&self, token: crate::redact::Credential) {
        if let Ok(mut bearer) = self.bearer.lock() {
            *bearer = Some(token);
        }
    }

    /// Sends a built request: the answer's body when 2xx, else the error.
    async fn execute(
        &self,
        endpoint: Endpoint,
        request: reqwest::Request,
        url: &Url,
    ) -> Result<Vec<u8>, FetchError> {
        let number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            account = %self.account.name,
            %endpoint,
            request = number,
            "ESP request"
        );

        // Held until the body is read and the connection is free again. The
        // semaphore is never closed, so acquiring only waits; the wait is
        // for a connection of this process, not the provider's time.
        let _connection = self.http.in_flight.acquire().await.ok();
        let attempt = async {
            let mut response = self.http.client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let limit = if status.is_success() {
                MAX_BODY_BYTES
            } else {
                MAX_ERROR_BODY_BYTES
            };
            let (body, complete) = read_capped(&mut response, limit).await?;
            Ok::<_, reqwest::Error>((status, headers, body, complete))
        };
        let (status, headers, body, complete) =
            match tokio::time::timeout(self.account.timeout, attempt).await {
                Err(_elapsed) => return Err(self.timed_out(endpoint)),
                Ok(Err(error)) if error.is_timeout() => return Err(self.timed_out(endpoint)),
                Ok(Err(error)) => return Err(self.network_error(endpoint, error, url)),
                Ok(Ok(answer)) => answer,
            };

        if status.is_success() {
            if !complete {
                return Err(FetchError::Payload {
                    account: self.account.name.clone(),
                    error: PayloadError {
                        endpoint,
                        item: None,
                        field: None,
                        problem: format!("response body larger than {MAX_BODY_BYTES} bytes"),
                    },
                });
            }
            return Ok(body);
        }
        tracing::warn!(
            account = %self.account.name,
            %endpoint,
            status = status.as_u16(),
            "ESP request failed"
        );
        Err(self.status_error(status, &headers, &body))
    }

    /// The request URL: the account's base URL, the provider's prefix, the
    /// path and the query. Never logged.
    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, FetchError> {
        let base = self.account.base_url.trim_end_matches('/');
        let prefix = match self.source.path_prefix() {
            prefix if base.ends_with(prefix) => "",
            prefix => prefix,
        };
        let mut url = Url::parse(&format!("{base}{prefix}{path}")).map_err(|_| {
            rejected_locally(
                self.account,
                "the account's base URL is not a valid http(s) URL",
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(rejected_locally(
                self.account,
                "the account's base URL is not a valid http(s) URL",
            ));
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }

    /// Adds the provider's authentication, marked sensitive so it is never
    /// printed by the HTTP stack either.
    fn authorize(&self, request: RequestBuilder) -> Result<RequestBuilder, FetchError> {
        let request = self
            .source
            .authorize(request, self.account.credential.expose())
            .map_err(|why| rejected_locally(self.account, &why))?;
        let bearer = self
            .bearer
            .lock()
            .ok()
            .and_then(|bearer| bearer.as_ref().map(|token| token.expose().to_owned()));
        match bearer {
            Some(token) => {
                let value = super::source::sensitive(format!("Bearer {token}"))
                    .map_err(|why| rejected_locally(self.account, &why))?;
                Ok(request.header(reqwest::header::AUTHORIZATION, value))
            }
            None => Ok(request),
        }
    }

    /// Fails once a paged sequence reaches [`MAX_PAGES`].
    pub(crate) fn check_page(&self, endpoint: Endpoint, page: usize) -> Result<(), FetchError> {
        if page < MAX_PAGES {
            return Ok(());
        }
        tracing::warn!(account = %self.account.name, %endpoint, "paging did not end");
        Err(FetchError::Payload {
            account: self.account.name.clone(),
            error: PayloadError {
                endpoint,
                item: None,
                field: None,
                problem: format!("paging did not end after {MAX_PAGES} pages"),
            },
        })
    }

    /// A parser's result; its error (which may quote the body) scrubbed of
    /// the credential, in case a provider ever echoes it.
    pub(crate) fn payload<T>(&self, parsed: Result<T, PayloadError>) -> Result<T, FetchError> {
        parsed.map_err(|mut error| {
            error.problem = self.scrub(&error.problem, None);
            error.item = error.item.map(|item| self.scrub(&item, None));
            error.field = error.field.map(|field| self.scrub(&field, None));
            tracing::warn!(account = %self.account.name, %error, "unexpected ESP response body");
            FetchError::Payload {
                account: self.account.name.clone(),
                error,
            }
        })
    }

    fn timed_out(&self, endpoint: Endpoint) -> FetchError {
        tracing::warn!(
            account = %self.account.name,
            %endpoint,
            timeout_ms = u64::try_from(self.account.timeout.as_millis()).unwrap_or(u64::MAX),
            "ESP request timed out"
        );
        FetchError::Timeout {
            account: self.account.name.clone(),
        }
    }

    fn network_error(&self, endpoint: Endpoint, error: reqwest::Error, url: &Url) -> FetchError {
        let kind = if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "the response broke off"
        } else {
            "the request failed"
        };
        // reqwest's own text names the URL; drop it, then describe the
        // causes (which name no URL) and scrub anyway.
        let error = error.without_url();
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let cause = causes.last().cloned().unwrap_or_else(|| error.to_string());
        let detail = self.scrub(&format!("{endpoint}: {kind}: {cause}"), Some(url));
        tracing::warn!(account = %self.account.name, %endpoint, %detail, "ESP request failed");
        FetchError::Network {
            account: self.account.name.clone(),
            detail: cut(&detail, MAX_DETAIL_CHARS),
        }
    }

    fn status_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> FetchError {
        let account = self.account.name.clone();
        let code = status.as_u16();
        match self.source.refusal(code, body) {
            Some(Refusal::Credential) => {
                return FetchError::Auth {
                    account,
                    status: code,
                }
            }
            Some(Refusal::RateLimited) => {
                return FetchError::RateLimited {
                    account,
                    retry_after: self.rate_limit_wait(headers, body),
                }
            }
            Some(Refusal::Server) => {
                return FetchError::Server {
                    account,
                    status: code,
                }
            }
            Some(Refusal::Rejected) => {
                return FetchError::Rejected {
                    account,
                    status: code,
                    detail: cut(&self.scrub(&error_message(body), None), MAX_DETAIL_CHARS),
                }
            }
            None => {}
        }
        match code {
            401 | 403 => FetchError::Auth {
                account,
                status: code,
            },
            429 => FetchError::RateLimited {
                account,
                retry_after: self.rate_limit_wait(headers, body),
            },
            500..=599 => FetchError::Server {
                account,
                status: code,
            },
            300..=399 => FetchError::Rejected {
                account,
                status: code,
                detail: "unexpected redirect (redirects are not followed; check the base URL)"
                    .to_owned(),
            },
            _ => FetchError::Rejected {
                account,
                status: code,
                detail: cut(&self.scrub(&error_message(body), None), MAX_DETAIL_CHARS),
            },
        }
    }

    /// `Retry-After` first, then the provider's own signal.
    fn rate_limit_wait(&self, headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        if let Some(wait) = header(RETRY_AFTER.as_str()).and_then(|v| retry_after(v, self.now)) {
            return Some(wait);
        }
        self.source.rate_limit_wait(headers, body, self.now)
    }

    /// The text with the credential (and the request URL, if given) replaced.
    fn scrub(&self, text: &str, url: Option<&Url>) -> String {
        // Every form of every credential (Basic's base64 of `api:KEY`,
        // URL-encoded, JSON-escaped), not only this account's raw key.
        let mut text = crate::redact::redact(text).into_owned();
        let key = self.account.credential.expose();
        // A very short "key" would mangle ordinary words; real keys are long.
        if key.chars().count() >= 4 {
            text = text.replace(key, crate::redact::MARK);
        }
        if let Some(url) = url {
            text = text.replace(url.as_str(), "[url]");
            if let Some(query) = url.query().filter(|query| !query.is_empty()) {
                text = text.replace(query, "[query]");
            }
        }
        text
    }
}

/// Reads the body, stopping after `limit` bytes. `false` when it was longer.
async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// A wait from a `Retry-After` value: delay-seconds, or an HTTP date (IMF
/// fixdate, RFC 850 or asctime) turned into a wait from `now`. A date in the
/// past means no wait.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .into_iter()
                .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
                .map(|at| Utc.from_utc_datetime(&at))
        })?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The provider's error message from an error body:
/// `{"errors":[{"message","field"|"description"}]}` (SendGrid, SparkPost),
/// `{"message"}` (Mailgun), `{"ErrorCode","Message"}` (Postmark), an XML
/// `<Error>` (AWS), else the body's text.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|json| json_error_message(&json))
        .or_else(|| xml_error_message(&text));
    let message = from_json.unwrap_or_else(|| text.trim().to_owned());
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if message.trim().is_empty() {
        "(no error message)".to_owned()
    } else {
        message.trim().to_owned()
    }
}

/// `Code: Message` from an XML error body (`<Error><Code>…</Code>
/// <Message>…</Message></Error>`, as AWS's Query APIs answer).
fn xml_error_message(text: &str) -> Option<String> {
    let document = roxmltree::Document::parse(text.trim()).ok()?;
    let error = document
        .descendants()
        .find(|node| node.is_element() && node.tag_name().name() == "Error")?;
    let field = |name: &str| {
        error
            .children()
            .find(|node| node.is_element() && node.tag_name().name() == name)
            .and_then(|node| node.text())
            .map(|text| text.trim().to_owned())
    };
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (code, message) => code.or(message),
    }
}

fn json_error_message(json: &Value) -> Option<String> {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(errors) = json.get("errors").and_then(Value::as_array) {
        let parts: Vec<String> = errors
            .iter()
            .filter_map(|error| {
                let message = text(error, "message")?;
                Some(match (text(error, "field"), text(error, "description")) {
                    (_, Some(description)) => format!("{message}: {description}"),
                    (Some(field), None) => format!("{message} (field `{field}`)"),
                    (None, None) => message,
                })
            })
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    // Google APIs: `{"error":{"code","message","status"}}`; OAuth token
    // endpoints: `{"error":"invalid_grant","error_description"}`.
    if let Some(error) = json.get("error") {
        if let Some(message) = text(error, "message") {
            return Some(message);
        }
        if let Some(code) = error.as_str() {
            return Some(match text(json, "error_description") {
                Some(description) => format!("{code}: {description}"),
                None => code.to_owned(),
            });
        }
    }
    // RFC 7807 problem details (Mailchimp): `title` and `detail`.
    if let Some(detail) = text(json, "detail") {
        return Some(match text(json, "title") {
            Some(title) => format!("{title}: {detail}"),
            None => detail,
        });
    }
    if let Some(message) = text(json, "Message") {
        return Some(match json.get("ErrorCode") {
            Some(code) => format!("ErrorCode {code}: {message}"),
            None => message,
        });
    }
    text(json, "message")
}

/// At most `longest` characters, with `…` marking a cut.
fn cut(text: &str, longest: usize) -> String {
    if text.chars().count() <= longest {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(longest.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::account::{Credential, Provider};
    use crate::esp::mailgun::source::rfc2822;
    use crate::esp::sendgrid;
    use crate::esp::sparkpost::source::{
        sparkpost_list_filter, sparkpost_minute, sparkpost_precision,
    };

    fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
            .single()
            .unwrap_or_else(|| panic!("bad test time"))
    }

    fn source_of(provider: Provider) -> &'static dyn Source {
        crate::esp::source::for_provider(provider)
            .unwrap_or_else(|| panic!("{provider} is fetched over HTTP"))
    }

    fn account(provider: Provider, streams: StreamSelection) -> Account {
        Account {
            name: "acct".into(),
            provider,
            base_url: "http://127.0.0.1:9".into(),
            credential: Credential::new("KEY-abcdef-123"),
            domain: None,
            streams,
            bucket: BucketWidth::Day,
            window: Duration::from_secs(2 * 86_400),
            timeout: Duration::from_secs(2),
            key_pair: None,
            subject: None,
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = utc(1994, 11, 6, 8, 49);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        // 37 s after `now`, in all three HTTP date formats.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means no wait"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("", now), None);
    }

    #[test]
    fn inclusive_dates_cover_the_window_in_the_providers_zone() {
        let window = Window {
            start: utc(2024, 3, 3, 0, 0),
            end: utc(2024, 3, 5, 0, 0),
        };
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(
            inclusive_dates(window, 0),
            (day(2024, 3, 3), day(2024, 3, 4))
        );
        // 2024-03-03T00:00Z is 2024-03-02 19:00 EST.
        assert_eq!(
            inclusive_dates(window, -5),
            (day(2024, 3, 2), day(2024, 3, 4))
        );
        let mid_day = Window {
            start: utc(2024, 3, 3, 10, 0),
            end: utc(2024, 3, 3, 10, 30),
        };
        assert_eq!(
            inclusive_dates(mid_day, 0),
            (day(2024, 3, 3), day(2024, 3, 3))
        );
    }

    #[test]
    fn sparkpost_minutes_round_outwards() {
        let start = utc(2024, 3, 3, 10, 5) + chrono::Duration::seconds(30);
        assert_eq!(sparkpost_minute(start, false), "2024-03-03T10:05");
        assert_eq!(sparkpost_minute(start, true), "2024-03-03T10:06");
        assert_eq!(
            sparkpost_minute(utc(2024, 3, 3, 10, 5), true),
            "2024-03-03T10:05"
        );
    }

    #[test]
    fn sparkpost_hours_only_for_windows_up_to_31_days() {
        let window = |days| Window {
            start: utc(2024, 1, 1, 0, 0),
            end: utc(2024, 1, 1, 0, 0) + chrono::Duration::days(days),
        };
        assert_eq!(
            sparkpost_precision(BucketWidth::Hour, window(31)),
            (BucketWidth::Hour, "hour")
        );
        assert_eq!(
            sparkpost_precision(BucketWidth::Hour, window(32)),
            (BucketWidth::Day, "day")
        );
        assert_eq!(
            sparkpost_precision(BucketWidth::Month, window(32)),
            (BucketWidth::Month, "month")
        );
    }

    #[test]
    fn mailgun_times_are_rfc_2822_with_two_digit_days() {
        assert_eq!(
            rfc2822(utc(2024, 3, 4, 0, 0)),
            "Mon, 04 Mar 2024 00:00:00 +0000"
        );
    }

    #[test]
    fn buckets_that_overlap_the_window_are_kept() {
        let window = Window {
            start: utc(2024, 3, 3, 10, 0),
            end: utc(2024, 3, 5, 10, 0),
        };
        let bucket = |start, width| Bucket {
            start,
            width,
            provider_tz: "UTC".to_owned(),
        };
        assert!(window.overlaps(&bucket(utc(2024, 3, 3, 0, 0), BucketWidth::Day)));
        assert!(window.overlaps(&bucket(utc(2024, 3, 5, 0, 0), BucketWidth::Day)));
        assert!(!window.overlaps(&bucket(utc(2024, 3, 2, 0, 0), BucketWidth::Day)));
        assert!(!window.overlaps(&bucket(utc(2024, 3, 5, 10, 0), BucketWidth::Hour)));
        assert!(window.overlaps(&bucket(utc(2024, 3, 1, 0, 0), BucketWidth::Month)));
        assert!(!window.overlaps(&bucket(utc(2024, 2, 1, 0, 0), BucketWidth::Month)));
        assert!(window.overlaps(&bucket(utc(2024, 2, 27, 0, 0), BucketWidth::Week)));
    }

    #[test]
    fn a_trailing_window_ends_where_asked() {
        let end = utc(2024, 3, 5, 0, 0);
        let window = Window::ending_at(end, Duration::from_secs(2 * 86_400));
        assert_eq!(window.start, utc(2024, 3, 3, 0, 0));
        assert_eq!(window.end, end);
        assert_eq!(
            Window::ending_at(end, Duration::MAX).start,
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn provider_error_messages_are_extracted() {
        assert_eq!(
            error_message(br#"{"errors":[{"field":"sort_by","message":"invalid sort value"}]}"#),
            "invalid sort value (field `sort_by`)"
        );
        assert_eq!(
            error_message(
                br#"{"errors":[{"message":"required field is missing","description":"content object or template_id required","code":"1400"}]}"#
            ),
            "required field is missing: content object or template_id required"
        );
        assert_eq!(
            error_message(br#"{"message":"reason for bad request"}"#),
            "reason for bad request"
        );
        assert_eq!(
            error_message(br#"{"ErrorCode": 300, "Message": "Invalid 'From' address"}"#),
            "ErrorCode 300: Invalid 'From' address"
        );
        assert_eq!(
            error_message(b"<html>\nBad\r\nGateway</html>"),
            "<html> Bad  Gateway</html>"
        );
        assert_eq!(
            error_message(
                b"<ErrorResponse><Error><Type>Sender</Type><Code>MessageRejected</Code><Message>Email address is not verified.</Message></Error></ErrorResponse>"
            ),
            "MessageRejected: Email address is not verified."
        );
        assert_eq!(error_message(b""), "(no error message)");
        assert_eq!(error_message(b"\xff\xfe"), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn details_are_cut_to_200_characters() {
        let long = "é".repeat(500);
        let detail = cut(&long, MAX_DETAIL_CHARS);
        assert_eq!(detail.chars().count(), 200);
        assert!(detail.ends_with('…'));
        assert_eq!(cut("short", 200), "short");
    }

    #[test]
    fn stream_selections_become_plans() {
        let plan =
            |provider, streams| Plan::for_account(&account(provider, streams), source_of(provider));
        assert_eq!(
            plan(
                Provider::SendGrid,
                StreamSelection::Named(vec![
                    StreamKey::category("a"),
                    StreamKey::account(),
                    StreamKey::category("a"),
                    StreamKey::category("b"),
                ])
            )
            .ok(),
            Some(Plan {
                account_wide: true,
                named: vec![("category", "a".into()), ("category", "b".into())],
                discover: false,
            })
        );
        assert_eq!(
            plan(
                Provider::Postmark,
                StreamSelection::Named(vec![StreamKey::new("message-stream:broadcast")])
            )
            .ok()
            .map(|plan| plan.named),
            Some(vec![("message-stream", "broadcast".into())])
        );
        for (provider, stream) in [
            (Provider::SendGrid, StreamKey::tag("x")),
            (Provider::Mailgun, StreamKey::category("x")),
            (Provider::SparkPost, StreamKey::tag("x")),
            (Provider::Postmark, StreamKey::new("tag:")),
            (Provider::Mailgun, StreamKey::new("welcome")),
        ] {
            match plan(provider, StreamSelection::Named(vec![stream.clone()])) {
                Err(FetchError::Rejected { status, detail, .. }) => {
                    assert_eq!(status, NO_HTTP_STATUS);
                    assert!(detail.contains(stream.as_str()), "{detail}");
                }
                other => panic!("{provider} {stream}: {other:?}"),
            }
        }
    }

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        let account = || "a".to_owned();
        let payload = PayloadError {
            endpoint: sendgrid::GLOBAL_STATS,
            item: None,
            field: None,
            problem: "x".into(),
        };
        let cases = [
            (FetchError::Timeout { account: account() }, true),
            (
                FetchError::RateLimited {
                    account: account(),
                    retry_after: None,
                },
                true,
            ),
            (
                FetchError::Server {
                    account: account(),
                    status: 503,
                },
                true,
            ),
            (
                FetchError::Network {
                    account: account(),
                    detail: "x".into(),
                },
                true,
            ),
            (
                FetchError::Auth {
                    account: account(),
                    status: 401,
                },
                false,
            ),
            (
                FetchError::Rejected {
                    account: account(),
                    status: 400,
                    detail: "x".into(),
                },
                false,
            ),
            (
                FetchError::Payload {
                    account: account(),
                    error: payload,
                },
                false,
            ),
        ];
        for (error, retryable) in cases {
            assert_eq!(error.is_retryable(), retryable, "{error}");
            assert_eq!(error.account(), "a");
        }
    }

    #[test]
    fn scrubbing_removes_the_credential_and_the_url() {
        let account = account(Provider::SendGrid, StreamSelection::Account);
        let client = http_client();
        let tokens = TokenCache::default();
        let session = Session {
            http: &client,
            tokens: &tokens,
            account: &account,
            source: source_of(account.provider),
            now: utc(2024, 1, 1, 0, 0),
            requests: AtomicUsize::new(0),
            bearer: std::sync::Mutex::new(None),
        };
        let url = session
            .url("/v3/stats", &[("start_date", "2024-01-01".to_owned())])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v3/stats?start_date=2024-01-01"
        );
        let text = format!("bad key KEY-abcdef-123 for {url} (start_date=2024-01-01)");
        assert_eq!(
            session.scrub(&text, Some(&url)),
            "bad key [redacted] for [url] ([query])"
        );
    }

    #[test]
    fn sparkpost_urls_get_the_api_prefix_once() {
        let client = http_client();
        for (base, expected) in [
            ("http://127.0.0.1:9", "http://127.0.0.1:9/api/v1/metrics"),
            ("http://127.0.0.1:9/", "http://127.0.0.1:9/api/v1/metrics"),
            (
                "http://127.0.0.1:9/api/v1",
                "http://127.0.0.1:9/api/v1/metrics",
            ),
        ] {
            let mut account = account(Provider::SparkPost, StreamSelection::Account);
            account.base_url = base.to_owned();
            let tokens = TokenCache::default();
            let session = Session {
                http: &client,
                tokens: &tokens,
                account: &account,
                source: source_of(account.provider),
                now: utc(2024, 1, 1, 0, 0),
                requests: AtomicUsize::new(0),
                bearer: std::sync::Mutex::new(None),
            };
            let url = session
                .url("/metrics", &[])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn campaign_ids_with_commas_get_another_delimiter() {
        assert_eq!(
            sparkpost_list_filter("campaigns", "spring"),
            vec![("campaigns", "spring".to_owned())]
        );
        assert_eq!(
            sparkpost_list_filter("campaigns", "a,b"),
            vec![
                ("campaigns", "a,b".to_owned()),
                ("delimiter", "|".to_owned())
            ]
        );
    }

    #[test]
    fn the_fetch_future_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let client = http_client();
        let account = account(Provider::SendGrid, StreamSelection::Account);
        let window = Window {
            start: utc(2024, 1, 1, 0, 0),
            end: utc(2024, 1, 2, 0, 0),
        };
        let tokens = TokenCache::default();
        let future = fetch(&client, &tokens, &account, window, utc(2024, 1, 2, 0, 0));
        assert_send(&future);
    }
}
