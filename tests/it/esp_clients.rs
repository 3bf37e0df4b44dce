//! The ESP clients (`mailcall::esp::client::fetch`) against loopback mocks
//! of SendGrid, Mailgun, Postmark, SparkPost, Amazon SES, Mandrill and
//! Brevo (the last three's own requests are in `esp_sources.rs`).
//!
//! Each mock is an axum server on `127.0.0.1:0` that answers only when the
//! provider's authentication is exactly right (the SES signature recomputed
//! from the request, Mandrill's key read from the body; otherwise the
//! provider's documented refusal), records
//! every request (method, path, decoded query, headers, body) and replies
//! with the providers' own published sample payloads from
//! `tests/fixtures/esp/` (see its README for provenance). Expected numbers are
//! written out by hand from those fixtures, not recomputed by the parsers.
//!
//! Retrying is the poller's job, so these tests only check that one fetch
//! reports the right error (and that a second call can succeed). Every error
//! is also checked for the credential and for request URLs, which must never
//! reach an error text.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use mailcall::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};
use mailcall::esp::account::{Account, Credential, KeyPair, Provider, StreamSelection};
use mailcall::esp::client::{
    fetch, http_client, FetchError, Fetched, TokenCache, Window, NO_HTTP_STATUS,
};

const SENDGRID_GLOBAL_STATS: &str = include_str!("../fixtures/esp/sendgrid/global_stats.json");
const SENDGRID_CATEGORY_STATS: &str =
    include_str!("../fixtures/esp/sendgrid/categories_stats.json");
const SENDGRID_CATEGORY_SUMS: &str = include_str!("../fixtures/esp/sendgrid/category_sums.json");
const MAILGUN_METRICS: &str = include_str!("../fixtures/esp/mailgun/analytics_metrics.json");
const MAILGUN_LEGACY_TOTAL: &str = include_str!("../fixtures/esp/mailgun/stats_total.json");
const MAILGUN_LEGACY_TAG: &str = include_str!("../fixtures/esp/mailgun/tag_stats.json");
const MAILGUN_RATE_LIMITED: &str = include_str!("../fixtures/esp/mailgun/rate_limited_429.json");
const POSTMARK_SENDS: &str = include_str!("../fixtures/esp/postmark/outbound_sends.json");
const POSTMARK_OPENS: &str = include_str!("../fixtures/esp/postmark/outbound_opens.json");
/// The recorded `/stats/outbound/bounces` answer when there were none:
/// `{"Days":[]}`. The spam and clicks mocks answer the same way.
const POSTMARK_NO_DAYS: &str = include_str!("../fixtures/esp/postmark/outbound_bounces.json");
const SPARKPOST_TIME_SERIES: &str = include_str!("../fixtures/esp/sparkpost/time_series.json");
const SPARKPOST_BY_CAMPAIGN: &str = include_str!("../fixtures/esp/sparkpost/by_campaign.json");
pub(super) const SES_STATISTICS: &str = include_str!("../fixtures/esp/ses/get_send_statistics.xml");
pub(super) const MANDRILL_TAG_SERIES: &str =
    include_str!("../fixtures/esp/mandrill/tags_time_series.json");
pub(super) const MANDRILL_INVALID_KEY: &str =
    include_str!("../fixtures/esp/mandrill/invalid_key_500.json");
pub(super) const BREVO_REPORTS: &str = include_str!("../fixtures/esp/brevo/reports.json");
pub(super) const MAILCHIMP_REPORTS: &str = include_str!("../fixtures/esp/mailchimp/reports.json");
const POSTMASTER_TRAFFIC: &str = include_str!("../fixtures/esp/postmaster/traffic_stats.json");

const SENDGRID_KEY: &str = "SG.test-key-123";
const MAILGUN_KEY: &str = "key-mg-test-456";
/// `Basic ` + base64 of `api:key-mg-test-456`, written out.
const MAILGUN_BASIC: &str = "Basic YXBpOmtleS1tZy10ZXN0LTQ1Ng==";
const POSTMARK_TOKEN: &str = "pm-server-token-789";
const SPARKPOST_KEY: &str = "sp-test-key-abc";

pub(super) const SES_KEY_ID: &str = "AKIDEXAMPLE-mailcall";
pub(super) const SES_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub(super) const SES_REGION: &str = "eu-west-1";
pub(super) const MANDRILL_KEY: &str = "md-test-key-def";
pub(super) const BREVO_KEY: &str = "xkeysib-test-key-ghi";
pub(super) const MAILCHIMP_KEY: &str = "mc0123456789abcdef-us6";
/// `Basic ` + base64 of `api:mc0123456789abcdef-us6`, written out.
const MAILCHIMP_BASIC: &str = "Basic YXBpOm1jMDEyMzQ1Njc4OWFiY2RlZi11czY=";

const PROVIDERS: [Provider; 9] = [
    Provider::SendGrid,
    Provider::Mailgun,
    Provider::Postmark,
    Provider::SparkPost,
    Provider::Ses,
    Provider::Mandrill,
    Provider::Brevo,
    Provider::Mailchimp,
    Provider::GmailPostmaster,
];

/// The mailcall-side "now" every fetch is given.
pub(super) fn now() -> DateTime<Utc> {
    utc(2024, 3, 5, 12)
}

pub(super) fn utc(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad test time {year}-{month}-{day} {hour}h"))
}

pub(super) fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
    Window { start, end }
}

/// A window the fault tests use; nothing in it matters.
pub(super) fn any_window() -> Window {
    window(utc(2024, 3, 3, 0), utc(2024, 3, 5, 0))
}

fn credential(provider: Provider) -> &'static str {
    match provider {
        Provider::SendGrid => SENDGRID_KEY,
        Provider::Mailgun | Provider::MailgunLegacy => MAILGUN_KEY,
        Provider::Postmark => POSTMARK_TOKEN,
        Provider::SparkPost => SPARKPOST_KEY,
        Provider::Ses => SES_SECRET,
        Provider::Mandrill => MANDRILL_KEY,
        Provider::Brevo => BREVO_KEY,
        Provider::Mailchimp => MAILCHIMP_KEY,
        Provider::GmailPostmaster => "postmaster-service-account-json",
        Provider::Sandbox => "sandbox-key",
    }
}

pub(super) fn account(provider: Provider, port: u16, streams: StreamSelection) -> Account {
    let credential = match provider {
        // A service-account key whose token URL is the mock's.
        Provider::GmailPostmaster => super::esp_sources::service_account_key(port),
        _ => credential(provider).to_owned(),
    };
    Account {
        name: format!("{provider}-test"),
        provider,
        base_url: format!("http://127.0.0.1:{port}"),
        credential: Credential::new(credential),
        domain: None,
        streams,
        bucket: BucketWidth::Day,
        window: Duration::from_secs(2 * 86_400),
        timeout: Duration::from_secs(2),
        key_pair: (provider == Provider::Ses).then(|| KeyPair {
            key_id: SES_KEY_ID.to_owned(),
            session_token: None,
            region: SES_REGION.to_owned(),
        }),
        subject: (provider == Provider::GmailPostmaster)
            .then(|| super::esp_sources::POSTMASTER_SUBJECT.to_owned()),
    }
}

pub(super) async fn run(account: &Account, window: Window) -> Result<Fetched, FetchError> {
    // A cache of its own: no token is kept from one test's fetch to another's.
    fetch(
        &http_client(),
        &TokenCache::default(),
        account,
        window,
        now(),
    )
    .await
}

pub(super) async fn fetched(account: &Account, window: Window) -> Fetched {
    run(account, window)
        .await
        .unwrap_or_else(|e| panic!("{}: fetch failed: {e}", account.name))
}

pub(super) async fn failed(account: &Account, window: Window) -> FetchError {
    match run(account, window).await {
        Ok(fetched) => panic!("{}: expected an error, got {fetched:?}", account.name),
        Err(error) => {
            assert_clean(&error, account.credential.expose());
            error
        }
    }
}

/// Neither the credential nor a request URL or query string may appear in
/// an error's Display or Debug text.
fn assert_clean(error: &FetchError, secret: &str) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(secret), "credential in error text: {text}");
        for leak in ["http://", "127.0.0.1", "start_date=", "fromdate=", "from="] {
            assert!(!text.contains(leak), "`{leak}` in error text: {text}");
        }
    }
}

pub(super) fn streams(samples: &[Sample]) -> BTreeSet<String> {
    samples
        .iter()
        .map(|sample| sample.stream.as_str().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// The mock provider.

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Seen {
    /// The one value of a query parameter.
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        let values = self.params(key);
        assert!(values.len() <= 1, "{key} repeated in {:?}", self.query);
        values.first().copied()
    }

    /// Every value of a (repeatable) query parameter, in order.
    pub(super) fn params(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    pub(super) fn number(&self, key: &str) -> usize {
        self.param(key)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no numeric `{key}` in {:?}", self.query))
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {:?}", self.body))
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// What the mock answers.
pub(super) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    pub(super) fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    pub(super) fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// `name` must be lower case.
    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub(super) fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Responder = dyn Fn(&Seen) -> Reply + Send + Sync;

#[derive(Clone)]
struct MockState {
    provider: Provider,
    seen: Arc<Mutex<Vec<Seen>>>,
    respond: Arc<Responder>,
}

/// A provider on loopback. Stops when dropped.
pub(super) struct Mock {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Mock {
    pub(super) async fn start(
        provider: Provider,
        respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("mock cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("mock has no address: {e}"))
            .port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = MockState {
            provider,
            seen: Arc::clone(&seen),
            respond: Arc::new(respond),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Mock { port, seen, server }
    }

    pub(super) fn account(&self, provider: Provider, streams: StreamSelection) -> Account {
        account(provider, self.port, streams)
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|e| panic!("mock log poisoned: {e}"))
            .clone()
    }
}

async fn handle(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = reqwest::Url::parse(&format!("http://mock/?{}", uri.query().unwrap_or("")))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body,
    };
    state
        .seen
        .lock()
        .unwrap_or_else(|e| panic!("mock log poisoned: {e}"))
        .push(seen.clone());
    if !authorized(state.provider, &seen) {
        return refused(state.provider);
    }
    let reply = (state.respond)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status)
        .unwrap_or_else(|e| panic!("bad mock status {}: {e}", reply.status));
    let mut response = (status, reply.body).into_response();
    for (name, value) in reply.headers {
        let value =
            HeaderValue::from_str(&value).unwrap_or_else(|e| panic!("bad mock header: {e}"));
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    response
}

/// Exactly the documented authentication, and nothing that would leak a
/// credential into another scheme.
fn authorized(provider: Provider, seen: &Seen) -> bool {
    let authorization = seen.header("authorization");
    match provider {
        // "The API key must be sent as a bearer token in the Authorization header."
        Provider::SendGrid => authorization == Some("Bearer SG.test-key-123"),
        // HTTP Basic, user `api`, the key as password.
        Provider::Mailgun | Provider::MailgunLegacy => authorization == Some(MAILGUN_BASIC),
        // The server token header, JSON accepted, no Authorization.
        Provider::Postmark => {
            seen.header("x-postmark-server-token") == Some(POSTMARK_TOKEN)
                && seen.header("accept") == Some("application/json")
                && authorization.is_none()
        }
        // The raw key, no scheme.
        Provider::SparkPost => authorization == Some(SPARKPOST_KEY),
        // SigV4: the signature recomputed here from what was received.
        Provider::Ses => super::esp_sources::sigv4_signature_holds(seen, SES_SECRET, now()),
        // The key inside the JSON body; no header.
        Provider::Mandrill => {
            authorization.is_none()
                && serde_json::from_slice::<Value>(&seen.body)
                    .is_ok_and(|body| body["key"] == MANDRILL_KEY)
        }
        // HTTP Basic, any user, the key as password.
        Provider::Mailchimp => authorization == Some(MAILCHIMP_BASIC),
        // The token endpoint takes the signed grant in its form (checked by
        // the test's responder); the API takes the token it issued.
        Provider::GmailPostmaster => {
            seen.path == "/token" || authorization == Some(super::esp_sources::POSTMASTER_BEARER)
        }
        // The `api-key` header.
        Provider::Brevo => seen.header("api-key") == Some(BREVO_KEY) && authorization.is_none(),
        Provider::Sandbox => false,
    }
}

/// How each provider refuses a credential: Mandrill with HTTP 500
/// `Invalid_Key`, SES with a 403 Query-API error, the others with 401.
fn refused(provider: Provider) -> Response {
    match provider {
        Provider::Mandrill => (
            StatusCode::INTERNAL_SERVER_ERROR,
            MANDRILL_INVALID_KEY.to_owned(),
        )
            .into_response(),
        Provider::Ses => (
            StatusCode::FORBIDDEN,
            "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error></ErrorResponse>".to_owned(),
        )
            .into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"message":"authorization required"}]}"#.to_owned(),
        )
            .into_response(),
    }
}

/// The status each provider refuses a credential with.
fn refusal_status(provider: Provider) -> u16 {
    match provider {
        Provider::Mandrill => 500,
        Provider::Ses => 403,
        _ => 401,
    }
}

// ---------------------------------------------------------------------------
// Fixture helpers.

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
}

/// The SendGrid category-stats fixture's one row, for `date` and `names`.
fn sendgrid_category_rows(date: &str, names: &[&str]) -> Value {
    let template = parse(SENDGRID_CATEGORY_STATS)[0]["stats"][0].clone();
    let stats: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut stat = template.clone();
            stat["name"] = json!(name);
            stat
        })
        .collect();
    json!([{ "date": date, "stats": stats }])
}

/// What the SendGrid fixtures (every metric 0) normalise to.
fn sendgrid_zero_counts() -> Counts {
    Counts {
        requested: Some(0),
        sent: Some(0),
        delivered: Some(0),
        bounce_hard: Some(0),
        bounce_soft: None,
        blocked: Some(0),
        deferred: Some(0),
        dropped: Some(0),
        opens_unique: Some(0),
        opens_machine: None,
        clicks_unique: Some(0),
        complaints: Some(0),
        unsubscribes: Some(0),
        delivered_derived: false,
        reported: None,
    }
}

fn day(date: &str) -> NaiveDate {
    NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_else(|e| panic!("{date}: {e}"))
}

// ---------------------------------------------------------------------------
// SendGrid.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_account_stats_normalise_from_the_documented_request() {
    let mock = Mock::start(Provider::SendGrid, |seen| {
        assert_eq!(seen.path, "/v3/stats");
        Reply::json(SENDGRID_GLOBAL_STATS)
    })
    .await;
    let account = mock.account(Provider::SendGrid, StreamSelection::Account);
    let result = fetched(&account, window(utc(2015, 11, 3, 0), utc(2015, 11, 5, 0))).await;

    // The sample has 2015-11-03 only; 2015-11-04 was not returned, so it
    // stays absent rather than becoming a day of zeros.
    assert_eq!(
        result,
        Fetched {
            samples: vec![Sample {
                stream: StreamKey::account(),
                bucket: Bucket {
                    start: utc(2015, 11, 3, 0),
                    width: BucketWidth::Day,
                    provider_tz: "unspecified".to_owned(),
                },
                counts: sendgrid_zero_counts(),
            }],
            requests: 1,
        }
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.param("start_date"), Some("2015-11-03"));
    assert_eq!(request.param("end_date"), Some("2015-11-04"), "inclusive");
    assert_eq!(request.param("aggregated_by"), Some("day"));
    assert_eq!(request.param("offset"), Some("0"));
    assert!(request.number("limit") > 0);
    assert_eq!(
        request.header("authorization"),
        Some("Bearer SG.test-key-123")
    );
    let agent = request.header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("mailcall/"), "{agent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_paging_follows_offsets_to_the_last_page() {
    // The mock honours `limit`/`offset` over 2 × limit + 3 consecutive days.
    let mock = Mock::start(Provider::SendGrid, |seen| {
        let limit = seen.number("limit");
        let offset = seen.number("offset");
        let total = 2 * limit + 3;
        let template = parse(SENDGRID_GLOBAL_STATS)[0].clone();
        let rows: Vec<Value> = (offset..total.min(offset + limit))
            .map(|index| {
                let mut row = template.clone();
                let date = day("2015-01-01") + chrono::Duration::days(index as i64);
                row["date"] = json!(date.format("%Y-%m-%d").to_string());
                row
            })
            .collect();
        Reply::json(Value::Array(rows).to_string())
    })
    .await;
    let account = mock.account(Provider::SendGrid, StreamSelection::Account);
    let result = fetched(&account, window(utc(2015, 1, 1, 0), utc(2024, 1, 1, 0))).await;

    let seen = mock.seen();
    let limit = seen[0].number("limit");
    let offsets: Vec<usize> = seen
        .iter()
        .map(|request| request.number("offset"))
        .collect();
    assert_eq!(offsets, vec![0, limit, 2 * limit], "three pages");
    assert_eq!(result.requests, 3, "one request per page");
    assert_eq!(result.samples.len(), 2 * limit + 3, "every row arrives");
    assert_eq!(result.samples[0].bucket.start, utc(2015, 1, 1, 0));
    let last = result.samples.last().map(|sample| sample.bucket.start);
    assert_eq!(
        last,
        Some(utc(2015, 1, 1, 0) + chrono::Duration::days(2 * limit as i64 + 2))
    );
    assert!(result
        .samples
        .iter()
        .all(|sample| sample.counts == sendgrid_zero_counts()));
    for request in &seen {
        assert_eq!(request.param("start_date"), Some("2015-01-01"));
        assert_eq!(request.param("end_date"), Some("2023-12-31"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_named_categories_go_at_most_ten_to_a_request() {
    let mock = Mock::start(Provider::SendGrid, |seen| {
        assert_eq!(seen.path, "/v3/categories/stats");
        Reply::json(sendgrid_category_rows("2015-10-01", &seen.params("categories")).to_string())
    })
    .await;
    let names: Vec<String> = (1..=12).map(|n| format!("c{n:02}")).collect();
    let mut account = mock.account(
        Provider::SendGrid,
        StreamSelection::Named(names.iter().map(|name| StreamKey::category(name)).collect()),
    );
    // SendGrid has no hourly stats: hours are asked for as days.
    account.bucket = BucketWidth::Hour;
    let result = fetched(&account, window(utc(2015, 10, 1, 0), utc(2015, 10, 2, 0))).await;

    // The two batches are independent and go out together: in any order.
    let mut seen = mock.seen();
    seen.sort_by_key(|request| std::cmp::Reverse(request.params("categories").len()));
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].params("categories"), names[..10].to_vec());
    assert_eq!(seen[1].params("categories"), names[10..].to_vec());
    for request in &seen {
        assert_eq!(request.param("aggregated_by"), Some("day"));
        assert_eq!(request.param("start_date"), Some("2015-10-01"));
        assert_eq!(request.param("end_date"), Some("2015-10-01"));
    }
    assert_eq!(result.requests, 2);
    let expected: BTreeSet<String> = names
        .iter()
        .map(|name| format!("category:{name}"))
        .collect();
    assert_eq!(streams(&result.samples), expected);
    assert!(result.samples.iter().all(|sample| {
        sample.counts == sendgrid_zero_counts()
            && sample.bucket.width == BucketWidth::Day
            && sample.bucket.start == utc(2015, 10, 1, 0)
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_discovery_lists_categories_then_fetches_them_and_the_account() {
    let mock = Mock::start(Provider::SendGrid, |seen| match seen.path.as_str() {
        "/v3/stats" => Reply::json(SENDGRID_GLOBAL_STATS),
        "/v3/categories/stats/sums" => Reply::json(SENDGRID_CATEGORY_SUMS),
        "/v3/categories/stats" => Reply::json(
            sendgrid_category_rows("2015-10-01", &seen.params("categories")).to_string(),
        ),
        other => Reply::status(404, format!(r#"{{"errors":[{{"message":"no {other}"}}]}}"#)),
    })
    .await;
    let account = mock.account(Provider::SendGrid, StreamSelection::AllDiscovered);
    let result = fetched(&account, window(utc(2015, 10, 1, 0), utc(2015, 11, 4, 0))).await;

    assert_eq!(
        streams(&result.samples),
        BTreeSet::from(["account".to_owned(), "category:cat1".to_owned()])
    );
    assert_eq!(result.requests, 3);
    let seen = mock.seen();
    let sums = seen
        .iter()
        .find(|request| request.path == "/v3/categories/stats/sums")
        .unwrap_or_else(|| panic!("no discovery request in {seen:?}"));
    assert_eq!(sums.param("start_date"), Some("2015-10-01"));
    assert_eq!(sums.param("end_date"), Some("2015-11-03"));
    assert_eq!(sums.param("offset"), Some("0"));
    let stats = seen
        .iter()
        .find(|request| request.path == "/v3/categories/stats")
        .unwrap_or_else(|| panic!("no category request in {seen:?}"));
    assert_eq!(stats.params("categories"), vec!["cat1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_429_with_only_the_reset_header_waits_until_the_reset() {
    let reset = (now().timestamp() + 42).to_string();
    let mock = Mock::start(Provider::SendGrid, move |_| {
        Reply::status(
            429,
            r#"{"errors":[{"field":null,"message":"too many requests"}]}"#,
        )
        .header("x-ratelimit-limit", "150")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", reset.clone())
    })
    .await;
    let account = mock.account(Provider::SendGrid, StreamSelection::Account);
    let error = failed(&account, any_window()).await;
    assert!(
        matches!(
            error,
            FetchError::RateLimited { ref account, retry_after: Some(wait) }
                if account == "sendgrid-test" && wait == Duration::from_secs(42)
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_wins_over_the_providers_own_signal() {
    let reset = (now().timestamp() + 42).to_string();
    let sendgrid = Mock::start(Provider::SendGrid, move |_| {
        Reply::status(429, "{}")
            .header("retry-after", "7")
            .header("x-ratelimit-reset", reset.clone())
    })
    .await;
    let mailgun = Mock::start(Provider::Mailgun, |_| {
        Reply::status(429, MAILGUN_RATE_LIMITED).header("retry-after", "7")
    })
    .await;
    for (mock, provider) in [
        (&sendgrid, Provider::SendGrid),
        (&mailgun, Provider::Mailgun),
    ] {
        let error = failed(
            &mock.account(provider, StreamSelection::Account),
            any_window(),
        )
        .await;
        assert!(
            matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(7)),
            "{provider}: {error:?}"
        );
    }
    // An HTTP date is a wait from `now`.
    let dated = Mock::start(Provider::Postmark, |_| {
        Reply::status(429, "").header("retry-after", "Tue, 05 Mar 2024 12:01:30 GMT")
    })
    .await;
    let error = failed(
        &dated.account(Provider::Postmark, StreamSelection::Account),
        any_window(),
    )
    .await;
    assert!(
        matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(90)),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_reported_not_retried_and_the_next_call_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let mock = Mock::start(Provider::SendGrid, move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::status(
                429,
                r#"{"errors":[{"field":null,"message":"too many requests"}]}"#,
            )
            .header("retry-after", "7")
        } else {
            Reply::json(SENDGRID_GLOBAL_STATS)
        }
    })
    .await;
    let account = mock.account(Provider::SendGrid, StreamSelection::Account);
    let range = window(utc(2015, 11, 3, 0), utc(2015, 11, 5, 0));

    let error = failed(&account, range).await;
    assert!(
        matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(7)),
        "{error:?}"
    );
    assert_eq!(mock.seen().len(), 1, "fetch itself does not retry");

    let result = fetched(&account, range).await;
    assert_eq!(result.requests, 1);
    assert_eq!(result.samples.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------
// Mailgun.

const MAILGUN_MAPPED_METRICS: [&str; 14] = [
    "accepted_outgoing_count",
    "sent_count",
    "delivered_count",
    "hard_bounces_count",
    "soft_bounces_count",
    "permanent_failed_esp_block_count",
    "temporary_failed_count",
    "suppressed_bounces_count",
    "suppressed_unsubscribed_count",
    "suppressed_complaints_count",
    "unique_opened_count",
    "unique_clicked_count",
    "complained_count",
    "unsubscribed_count",
];

fn mailgun_time(date: NaiveDate) -> String {
    date.format("%a, %d %b %Y 00:00:00 +0000").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_metrics_normalise_from_the_documented_request() {
    let mock = Mock::start(Provider::Mailgun, |_| Reply::json(MAILGUN_METRICS)).await;
    let mut account = mock.account(Provider::Mailgun, StreamSelection::Account);
    account.domain = Some("example.com".to_owned());
    let result = fetched(&account, window(utc(2023, 11, 13, 0), utc(2023, 11, 15, 0))).await;

    // The documented item is the month of November 2023, which overlaps the
    // window. accepted_outgoing_count 30 → requested, delivered_count 60 →
    // delivered; the rest of the sample's metrics have no canonical field.
    assert_eq!(
        result,
        Fetched {
            samples: vec![Sample {
                stream: StreamKey::account(),
                bucket: Bucket {
                    start: utc(2023, 11, 1, 0),
                    width: BucketWidth::Month,
                    provider_tz: "UTC".to_owned(),
                },
                counts: Counts {
                    requested: Some(30),
                    delivered: Some(60),
                    ..Counts::default()
                },
            }],
            requests: 1,
        }
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/v1/analytics/metrics");
    assert_eq!(request.header("authorization"), Some(MAILGUN_BASIC));
    assert!(request
        .header("content-type")
        .is_some_and(|value| value.starts_with("application/json")));
    assert_eq!(
        request.json(),
        json!({
            "start": "Mon, 13 Nov 2023 00:00:00 +0000",
            "end": "Wed, 15 Nov 2023 00:00:00 +0000",
            "resolution": "day",
            "dimensions": ["time"],
            "metrics": MAILGUN_MAPPED_METRICS,
            "include_aggregates": false,
            "filter": {"AND": [{
                "attribute": "domain",
                "comparator": "=",
                "values": [{"label": "example.com", "value": "example.com"}],
            }]},
            "pagination": {"sort": "time:asc", "skip": 0, "limit": 1500},
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_paging_follows_skip_to_the_last_page() {
    // Honours pagination.skip/limit over 2 × limit + 1 days; item i has
    // delivered_count i.
    let mock = Mock::start(Provider::Mailgun, |seen| {
        let request = seen.json();
        let limit = request["pagination"]["limit"].as_u64().unwrap_or(0) as usize;
        let skip = request["pagination"]["skip"].as_u64().unwrap_or(0) as usize;
        let total = 2 * limit + 1;
        let items: Vec<Value> = (skip..total.min(skip + limit))
            .map(|index| {
                let time = mailgun_time(day("2015-01-01") + chrono::Duration::days(index as i64));
                json!({
                    "dimensions": [{"dimension": "time", "value": time, "display_value": time}],
                    "metrics": {"delivered_count": index},
                })
            })
            .collect();
        Reply::json(
            json!({
                "resolution": "day",
                "pagination": {"sort": "time:asc", "skip": skip, "limit": limit, "total": total},
                "items": items,
            })
            .to_string(),
        )
    })
    .await;
    let account = mock.account(Provider::Mailgun, StreamSelection::Account);
    let result = fetched(&account, window(utc(2015, 1, 1, 0), utc(2024, 1, 1, 0))).await;

    let seen = mock.seen();
    let skips: Vec<u64> = seen
        .iter()
        .map(|request| {
            request.json()["pagination"]["skip"]
                .as_u64()
                .unwrap_or(u64::MAX)
        })
        .collect();
    let limit = seen[0].json()["pagination"]["limit"].as_u64().unwrap_or(0);
    assert_eq!(skips, vec![0, limit, 2 * limit]);
    assert_eq!(result.requests, 3);
    let delivered: Vec<Option<u64>> = result
        .samples
        .iter()
        .map(|sample| sample.counts.delivered)
        .collect();
    let expected: Vec<Option<u64>> = (0..=2 * limit).map(Some).collect();
    assert_eq!(delivered, expected, "every item, once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_named_tags_are_filtered_one_per_request() {
    let mock = Mock::start(Provider::Mailgun, |_| Reply::json(MAILGUN_METRICS)).await;
    let mut account = mock.account(
        Provider::Mailgun,
        StreamSelection::Named(vec![StreamKey::tag("welcome"), StreamKey::tag("receipts")]),
    );
    account.bucket = BucketWidth::Hour;
    let result = fetched(&account, window(utc(2023, 11, 13, 0), utc(2023, 11, 15, 0))).await;

    assert_eq!(
        streams(&result.samples),
        BTreeSet::from(["tag:receipts".to_owned(), "tag:welcome".to_owned()])
    );
    assert_eq!(result.requests, 2);
    // The two queries are independent and go out together: in any order.
    let mut seen = mock.seen();
    seen.sort_by_key(|request| request.json()["filter"].to_string());
    for (request, tag) in seen.iter().zip(["receipts", "welcome"]) {
        let body = request.json();
        assert_eq!(body["resolution"], "hour");
        assert_eq!(body["dimensions"], json!(["time"]));
        assert_eq!(
            body["filter"],
            json!({"AND": [{"attribute": "tag", "comparator": "=", "values": [{"label": tag, "value": tag}]}]})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_discovery_adds_the_tag_dimension() {
    let mock = Mock::start(Provider::Mailgun, |seen| {
        let body = seen.json();
        if body["dimensions"] == json!(["time", "tag"]) {
            let mut page = parse(MAILGUN_METRICS);
            let template = page["items"][0].clone();
            let items: Vec<Value> = ["welcome", "receipts"]
                .into_iter()
                .map(|tag| {
                    let mut item = template.clone();
                    if let Some(dimensions) = item["dimensions"].as_array_mut() {
                        dimensions
                            .push(json!({"dimension": "tag", "value": tag, "display_value": tag}));
                    }
                    item
                })
                .collect();
            page["items"] = Value::Array(items);
            Reply::json(page.to_string())
        } else {
            Reply::json(MAILGUN_METRICS)
        }
    })
    .await;
    let account = mock.account(Provider::Mailgun, StreamSelection::AllDiscovered);
    let result = fetched(&account, window(utc(2023, 11, 13, 0), utc(2023, 11, 15, 0))).await;

    assert_eq!(
        streams(&result.samples),
        BTreeSet::from([
            "account".to_owned(),
            "tag:receipts".to_owned(),
            "tag:welcome".to_owned()
        ])
    );
    assert_eq!(result.requests, 2);
    let by_tag = mock
        .seen()
        .into_iter()
        .find(|request| request.json()["dimensions"] == json!(["time", "tag"]))
        .unwrap_or_else(|| panic!("no request by tag"));
    assert!(
        by_tag.json().get("filter").is_none(),
        "no domain, no filter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_429_message_says_how_long_to_wait() {
    let mock = Mock::start(Provider::Mailgun, |_| {
        Reply::status(429, MAILGUN_RATE_LIMITED)
    })
    .await;
    let error = failed(
        &mock.account(Provider::Mailgun, StreamSelection::Account),
        any_window(),
    )
    .await;
    assert!(
        matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(120)),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Postmark.

fn postmark_recorded(seen: &Seen) -> Reply {
    match seen.path.as_str() {
        "/stats/outbound/sends" => Reply::json(POSTMARK_SENDS),
        "/stats/outbound/opens" => Reply::json(POSTMARK_OPENS),
        "/stats/outbound/bounces" | "/stats/outbound/spam" | "/stats/outbound/clicks" => {
            Reply::json(POSTMARK_NO_DAYS)
        }
        other => Reply::status(
            404,
            format!(r#"{{"ErrorCode":404,"Message":"no {other}"}}"#),
        ),
    }
}

/// A Postmark day: 00:00 EST, 05:00 UTC.
fn postmark_day(year: i32, month: u32, day: u32, sent: u64, opens_unique: u64) -> Sample {
    Sample {
        stream: StreamKey::account(),
        bucket: Bucket {
            start: utc(year, month, day, 5),
            width: BucketWidth::Day,
            provider_tz: "EST".to_owned(),
        },
        counts: Counts {
            sent: Some(sent),
            // Postmark reports no deliveries: sent − hard − soft bounces.
            delivered: Some(sent),
            delivered_derived: true,
            bounce_hard: Some(0),
            bounce_soft: Some(0),
            deferred: Some(0),
            complaints: Some(0),
            opens_unique: Some(opens_unique),
            clicks_unique: Some(0),
            ..Counts::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmark_days_merge_from_the_documented_requests() {
    let mock = Mock::start(Provider::Postmark, postmark_recorded).await;
    let account = mock.account(Provider::Postmark, StreamSelection::Account);
    let result = fetched(&account, window(utc(2017, 1, 30, 5), utc(2017, 2, 2, 5))).await;

    // Sent 37/54/2 from /sends, Unique 3/13/3 from /opens; /bounces, /spam
    // and /clicks were fetched and empty, so their counts are 0.
    assert_eq!(
        result,
        Fetched {
            samples: vec![
                postmark_day(2017, 1, 30, 37, 3),
                postmark_day(2017, 1, 31, 54, 13),
                postmark_day(2017, 2, 1, 2, 3),
            ],
            requests: 5,
        }
    );
    // The five requests are independent and go out together: each once,
    // in any order.
    let seen = mock.seen();
    let paths: BTreeSet<&str> = seen.iter().map(|request| request.path.as_str()).collect();
    assert_eq!(seen.len(), 5);
    assert_eq!(
        paths,
        BTreeSet::from([
            "/stats/outbound/sends",
            "/stats/outbound/bounces",
            "/stats/outbound/spam",
            "/stats/outbound/opens",
            "/stats/outbound/clicks",
        ])
    );
    for request in &seen {
        assert_eq!(request.method, Method::GET);
        assert_eq!(request.param("fromdate"), Some("2017-01-30"));
        assert_eq!(
            request.param("todate"),
            Some("2017-02-01"),
            "inclusive, EST"
        );
        assert_eq!(request.param("tag"), None);
        assert_eq!(request.param("messagestream"), None);
        assert_eq!(
            request.header("x-postmark-server-token"),
            Some(POSTMARK_TOKEN)
        );
        assert_eq!(request.header("accept"), Some("application/json"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmark_named_tags_and_message_streams_filter_every_request() {
    let mock = Mock::start(Provider::Postmark, postmark_recorded).await;
    let account = mock.account(
        Provider::Postmark,
        StreamSelection::Named(vec![
            StreamKey::tag("welcome"),
            StreamKey::new("message-stream:broadcast"),
        ]),
    );
    // A window of UTC days: 2017-01-30 00:00 UTC is 19:00 EST on the 29th,
    // and its last instant is 18:59 EST on the 31st.
    let result = fetched(&account, window(utc(2017, 1, 30, 0), utc(2017, 2, 1, 0))).await;

    assert_eq!(result.requests, 10);
    assert_eq!(
        streams(&result.samples),
        BTreeSet::from([
            "message-stream:broadcast".to_owned(),
            "tag:welcome".to_owned()
        ])
    );
    // Ten independent requests, in any order: five per stream.
    let seen = mock.seen();
    let filters = |tag, stream| {
        seen.iter()
            .filter(|r| r.param("tag") == tag && r.param("messagestream") == stream)
            .count()
    };
    assert_eq!(filters(Some("welcome"), None), 5);
    assert_eq!(filters(None, Some("broadcast")), 5);
    for request in &seen {
        assert_eq!(request.param("fromdate"), Some("2017-01-29"));
        assert_eq!(request.param("todate"), Some("2017-01-31"));
    }
    // The mock returned 2017-02-01 too; that EST day starts at 05:00 UTC on
    // 2017-02-01, after the window, so it is dropped.
    let days: BTreeSet<DateTime<Utc>> = result
        .samples
        .iter()
        .map(|sample| sample.bucket.start)
        .collect();
    assert_eq!(
        days,
        BTreeSet::from([utc(2017, 1, 30, 5), utc(2017, 1, 31, 5)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmark_discovery_is_the_account_alone() {
    // Postmark documents no way to list tags, so AllDiscovered is the
    // account-wide series.
    let mock = Mock::start(Provider::Postmark, postmark_recorded).await;
    let account = mock.account(Provider::Postmark, StreamSelection::AllDiscovered);
    let result = fetched(&account, window(utc(2017, 1, 30, 5), utc(2017, 2, 2, 5))).await;
    assert_eq!(result.requests, 5);
    assert_eq!(
        streams(&result.samples),
        BTreeSet::from(["account".to_owned()])
    );
}

// ---------------------------------------------------------------------------
// SparkPost.

const SPARKPOST_MAPPED_METRICS: &str = "count_targeted,count_sent,count_delivered,\
count_hard_bounce,count_soft_bounce,count_block_bounce,count_delayed,count_rejected,\
count_unique_confirmed_opened,count_nonprefetched_unique_confirmed_opened,\
count_unique_clicked,count_spam_complaint,count_unsubscribe";

fn sparkpost_documented(seen: &Seen) -> Reply {
    match seen.path.as_str() {
        "/api/v1/metrics/deliverability/time-series" => Reply::json(SPARKPOST_TIME_SERIES),
        "/api/v1/metrics/deliverability/campaign" => Reply::json(SPARKPOST_BY_CAMPAIGN),
        other => Reply::status(
            404,
            format!(r#"{{"errors":[{{"message":"resource not found","description":"{other}"}}]}}"#),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkpost_time_series_normalises_from_the_documented_request() {
    let mock = Mock::start(Provider::SparkPost, sparkpost_documented).await;
    let account = mock.account(Provider::SparkPost, StreamSelection::Account);
    let result = fetched(&account, window(utc(2020, 10, 4, 0), utc(2020, 10, 6, 0))).await;

    assert_eq!(
        result,
        Fetched {
            samples: vec![Sample {
                stream: StreamKey::account(),
                bucket: Bucket {
                    // "ts": "2020-10-04T00:00:00-04:00"
                    start: utc(2020, 10, 4, 4),
                    width: BucketWidth::Day,
                    provider_tz: "-04:00".to_owned(),
                },
                counts: Counts {
                    requested: Some(248_998),   // count_targeted
                    sent: Some(241_693),        // count_sent
                    delivered: Some(219_916),   // count_delivered
                    bounce_hard: Some(4_296),   // count_hard_bounce
                    bounce_soft: Some(1_961),   // count_soft_bounce
                    blocked: Some(16_789),      // count_block_bounce
                    deferred: Some(61_224),     // count_delayed
                    dropped: Some(2_316),       // count_rejected
                    opens_unique: Some(81_140), // count_unique_confirmed_opened
                    opens_machine: None,        // no nonprefetched count in the sample
                    clicks_unique: Some(9_123), // count_unique_clicked
                    complaints: Some(3),        // count_spam_complaint
                    unsubscribes: Some(1),      // count_unsubscribe
                    delivered_derived: false,
                    reported: None,
                },
            }],
            requests: 1,
        }
    );
    let seen = mock.seen();
    let request = &seen[0];
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.path, "/api/v1/metrics/deliverability/time-series");
    assert_eq!(request.param("from"), Some("2020-10-04T00:00"));
    assert_eq!(request.param("to"), Some("2020-10-06T00:00"));
    assert_eq!(request.param("precision"), Some("day"));
    assert_eq!(request.param("timezone"), Some("UTC"));
    assert_eq!(request.param("metrics"), Some(SPARKPOST_MAPPED_METRICS));
    assert_eq!(request.param("campaigns"), None);
    assert_eq!(request.header("authorization"), Some(SPARKPOST_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkpost_named_campaigns_are_filtered_one_per_request() {
    let mock = Mock::start(Provider::SparkPost, sparkpost_documented).await;
    let mut account = mock.account(
        Provider::SparkPost,
        StreamSelection::Named(vec![
            StreamKey::campaign("spring-sale"),
            StreamKey::campaign("welcome"),
        ]),
    );
    account.bucket = BucketWidth::Hour;
    let result = fetched(&account, window(utc(2020, 10, 4, 0), utc(2020, 10, 6, 0))).await;

    assert_eq!(result.requests, 2);
    assert_eq!(
        streams(&result.samples),
        BTreeSet::from([
            "campaign:spring-sale".to_owned(),
            "campaign:welcome".to_owned()
        ])
    );
    let seen = mock.seen();
    // Independent requests, made together: in any order.
    let campaigns: BTreeSet<Option<&str>> = seen
        .iter()
        .map(|request| request.param("campaigns"))
        .collect();
    assert_eq!(
        campaigns,
        BTreeSet::from([Some("spring-sale"), Some("welcome")])
    );
    assert!(seen
        .iter()
        .all(|request| request.param("precision") == Some("hour")));
    // The sample labels its bucket as the request's precision.
    assert!(result
        .samples
        .iter()
        .all(|sample| sample.bucket.width == BucketWidth::Hour));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkpost_discovery_lists_campaigns_then_fetches_them_and_the_account() {
    let mock = Mock::start(Provider::SparkPost, sparkpost_documented).await;
    let account = mock.account(Provider::SparkPost, StreamSelection::AllDiscovered);
    let result = fetched(&account, window(utc(2020, 10, 4, 0), utc(2020, 10, 6, 0))).await;

    assert_eq!(
        streams(&result.samples),
        BTreeSet::from(["account".to_owned(), "campaign:campaign-0".to_owned()])
    );
    assert_eq!(result.requests, 3);
    let seen = mock.seen();
    let discovery = seen
        .iter()
        .find(|request| request.path == "/api/v1/metrics/deliverability/campaign")
        .unwrap_or_else(|| panic!("no discovery request in {seen:?}"));
    assert_eq!(discovery.param("from"), Some("2020-10-04T00:00"));
    assert_eq!(discovery.param("to"), Some("2020-10-06T00:00"));
    assert!(discovery.param("metrics").is_some(), "metrics is required");
    let per_campaign: Vec<&Seen> = seen
        .iter()
        .filter(|request| request.param("campaigns").is_some())
        .collect();
    assert_eq!(per_campaign.len(), 1);
    assert_eq!(per_campaign[0].param("campaigns"), Some("campaign-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_outside_the_window_are_dropped() {
    let mock = Mock::start(Provider::SparkPost, sparkpost_documented).await;
    let account = mock.account(Provider::SparkPost, StreamSelection::Account);
    // The documented bucket is 2020-10-04 04:00 UTC + 1 day.
    let later = fetched(&account, window(utc(2020, 10, 5, 4), utc(2020, 10, 7, 0))).await;
    assert_eq!(later.samples, vec![]);
    assert_eq!(later.requests, 1);
    let overlapping = fetched(&account, window(utc(2020, 10, 5, 3), utc(2020, 10, 7, 0))).await;
    assert_eq!(
        overlapping.samples.len(),
        1,
        "an overlapping bucket is kept"
    );
}

// ---------------------------------------------------------------------------
// Independent requests go out together, within each source's limit.

/// The most requests in flight at once at a mock that answers each one
/// `hold` after it arrives, from their arrival times.
fn most_in_flight(arrivals: &[Instant], hold: Duration) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|other| *other >= start && **other < *start + hold)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_requests_go_out_together_up_to_the_sources_limit() {
    // Each answer is held a second: requests made one after another would
    // never overlap.
    let hold = Duration::from_secs(1);
    for (provider, streams, expected) in [
        // Postmark: five requests per stream, none depending on another;
        // two streams make ten, all at once.
        (
            Provider::Postmark,
            vec![StreamKey::tag("welcome"), StreamKey::tag("receipts")],
            10,
        ),
        // SparkPost: one time series per campaign, at most 8 at once.
        (
            Provider::SparkPost,
            (1..=12)
                .map(|n| StreamKey::campaign(&format!("c{n}")))
                .collect(),
            8,
        ),
    ] {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen_at = Arc::clone(&arrivals);
        let mock = Mock::start(provider, move |seen| {
            seen_at
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(Instant::now());
            let mut reply = match provider {
                Provider::Postmark => postmark_recorded(seen),
                _ => sparkpost_documented(seen),
            };
            reply.delay = hold;
            reply
        })
        .await;
        let account = mock.account(provider, StreamSelection::Named(streams));
        let result = fetched(&account, window(utc(2017, 1, 30, 0), utc(2017, 2, 1, 0))).await;
        let arrivals = arrivals.lock().unwrap_or_else(|e| panic!("{e}")).clone();
        assert_eq!(arrivals.len(), result.requests, "{provider}");
        assert_eq!(
            most_in_flight(&arrivals, hold),
            expected,
            "{provider}: {} requests",
            arrivals.len()
        );
    }
}

// ---------------------------------------------------------------------------
// Faults, for every provider.

/// Runs one fetch per provider against a mock answering `reply`.
async fn each_provider_fails_with(
    reply: impl Fn(Provider, &Seen) -> Reply + Send + Sync + Clone + 'static,
    timeout: Duration,
) -> Vec<(Provider, FetchError, usize)> {
    let mut errors = Vec::new();
    for provider in PROVIDERS {
        let reply = reply.clone();
        let mock = Mock::start(provider, move |seen| reply(provider, seen)).await;
        let mut account = mock.account(provider, StreamSelection::Account);
        account.timeout = timeout;
        let error = failed(&account, any_window()).await;
        errors.push((provider, error, repeats(&mock.seen())));
    }
    errors
}

/// How many requests were sent again (same method, path, query and body):
/// a fetch is one attempt, so none. Independent requests of one fetch may
/// all be in flight when one fails, so counting requests would not do.
fn repeats(seen: &[Seen]) -> usize {
    let distinct: BTreeSet<String> = seen
        .iter()
        .map(|r| format!("{} {} {:?} {:?}", r.method, r.path, r.query, r.body))
        .collect();
    seen.len() - distinct.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_server_errors() {
    for status in [500, 503] {
        let errors = each_provider_fails_with(
            move |_, _| Reply::status(status, "internal error"),
            Duration::from_secs(2),
        )
        .await;
        for (provider, error, repeated) in errors {
            assert!(
                matches!(error, FetchError::Server { status: got, .. } if got == status),
                "{provider}: {error:?}"
            );
            assert!(error.is_retryable());
            assert_eq!(repeated, 0, "{provider}: one attempt");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_seconds_is_rate_limited_for_every_provider() {
    let errors = each_provider_fails_with(
        |_, _| Reply::status(429, r#"{"message":"slow down"}"#).header("retry-after", "7"),
        Duration::from_secs(2),
    )
    .await;
    for (provider, error, repeated) in errors {
        assert!(
            matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(7)),
            "{provider}: {error:?}"
        );
        assert_eq!(repeated, 0, "{provider}: one attempt");
    }
    // Without any signal there is no wait to report (Postmark and SparkPost
    // document none; the caller backs off on its own).
    let errors =
        each_provider_fails_with(|_, _| Reply::status(429, "{}"), Duration::from_secs(2)).await;
    for (provider, error, _) in errors {
        assert!(
            matches!(
                error,
                FetchError::RateLimited {
                    retry_after: None,
                    ..
                }
            ),
            "{provider}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_auth_errors() {
    // A wrong credential: the mock's own check answers 401. (Gmail's
    // refused grants have their own test in `esp_sources.rs`: its
    // credential is a key file, and a wrong one is refused by its token
    // endpoint.)
    for provider in PROVIDERS
        .into_iter()
        .filter(|p| *p != Provider::GmailPostmaster)
    {
        let mock = Mock::start(provider, |_| Reply::json("{}")).await;
        let mut account = mock.account(provider, StreamSelection::Account);
        account.credential = Credential::new("wrong-credential-000");
        let error = failed(&account, any_window()).await;
        assert!(
            matches!(error, FetchError::Auth { status, .. } if status == refusal_status(provider)),
            "{provider}: {error:?}"
        );
        assert!(!error.is_retryable());
        assert!(!error.to_string().contains("wrong-credential-000"));
    }
    let errors = each_provider_fails_with(
        |_, _| Reply::status(403, r#"{"message":"Forbidden"}"#),
        Duration::from_secs(2),
    )
    .await;
    for (provider, error, _) in errors {
        assert!(
            matches!(error, FetchError::Auth { status: 403, .. }),
            "{provider}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_4xx_are_rejected_with_the_providers_message() {
    let errors = each_provider_fails_with(
        |provider, _| match provider {
            Provider::SendGrid => Reply::status(
                400,
                r#"{"errors":[{"field":"sort_by","message":"invalid sort value"}]}"#,
            ),
            Provider::Mailgun => Reply::status(400, r#"{"message":"reason for bad request"}"#),
            Provider::Postmark => Reply::status(
                422,
                r#"{"ErrorCode": 300, "Message": "Invalid 'From' address"}"#,
            ),
            Provider::SparkPost => Reply::status(
                400,
                r#"{"errors":[{"message":"required field is missing","description":"content object or template_id required","code":"1400"}]}"#,
            ),
            Provider::Ses => Reply::status(
                400,
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>Invalid action</Message></Error></ErrorResponse>",
            ),
            // Mandrill refuses requests with HTTP 500 and a name.
            Provider::Mandrill => Reply::status(
                500,
                r#"{"status":"error","code":-2,"name":"ValidationError","message":"You must specify a tag value"}"#,
            ),
            Provider::Brevo => Reply::status(
                400,
                r#"{"code":"invalid_parameter","message":"startDate is later than endDate"}"#,
            ),
            Provider::Mailchimp => Reply::status(
                400,
                r#"{"type":"https://mailchimp.com/developer/marketing/docs/errors/","title":"Invalid Resource","status":400,"detail":"The resource submitted could not be validated.","instance":"995c5cb0-3280-4a6e-808b-3b096d0bb219"}"#,
            ),
            _ => Reply::status(
                400,
                r#"{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}"#,
            ),
        },
        Duration::from_secs(2),
    )
    .await;
    let expected = [
        (400, "invalid sort value (field `sort_by`)"),
        (400, "reason for bad request"),
        (422, "ErrorCode 300: Invalid 'From' address"),
        (
            400,
            "required field is missing: content object or template_id required",
        ),
        (400, "InvalidParameterValue: Invalid action"),
        (500, "You must specify a tag value"),
        (400, "startDate is later than endDate"),
        (
            400,
            "Invalid Resource: The resource submitted could not be validated.",
        ),
        (400, "Request contains an invalid argument."),
    ];
    for ((provider, error, _), (want_status, want_detail)) in errors.into_iter().zip(expected) {
        match &error {
            FetchError::Rejected { status, detail, .. } => {
                assert_eq!(*status, want_status, "{provider}");
                assert_eq!(detail, want_detail, "{provider}");
            }
            other => panic!("{provider}: {other:?}"),
        }
        assert!(!error.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_or_credential_echoing_message_is_cut_and_scrubbed() {
    let long = Mock::start(Provider::Mailgun, |_| {
        Reply::status(400, json!({ "message": "x".repeat(500) }).to_string())
    })
    .await;
    match failed(
        &long.account(Provider::Mailgun, StreamSelection::Account),
        any_window(),
    )
    .await
    {
        FetchError::Rejected { detail, .. } => assert_eq!(detail.chars().count(), 200),
        other => panic!("{other:?}"),
    }
    let echo = Mock::start(Provider::SendGrid, |_| {
        Reply::status(
            400,
            r#"{"errors":[{"field":"authorization","message":"key SG.test-key-123 is not valid"}]}"#,
        )
    })
    .await;
    match failed(
        &echo.account(Provider::SendGrid, StreamSelection::Account),
        any_window(),
    )
    .await
    {
        FetchError::Rejected { detail, .. } => {
            assert_eq!(
                detail,
                "key [redacted] is not valid (field `authorization`)"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_timeout_is_a_timeout() {
    let started = Instant::now();
    let errors = each_provider_fails_with(
        |_, _| Reply::json("{}").after(Duration::from_secs(3)),
        Duration::from_millis(150),
    )
    .await;
    for (provider, error, _) in errors {
        assert!(
            matches!(error, FetchError::Timeout { .. }),
            "{provider}: {error:?}"
        );
        assert!(error.is_retryable());
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "each fetch gave up after its own timeout: {:?}",
        started.elapsed()
    );
}

/// A body whose `field` has the wrong type, and where the error points.
fn wrong_types(provider: Provider) -> (&'static str, &'static str, &'static str) {
    match provider {
        Provider::SendGrid => (
            r#"[{"date":"2024-03-03","stats":[{"metrics":{"delivered":"3"}}]}]"#,
            "SendGrid /v3/stats",
            "stats[0].metrics.delivered",
        ),
        Provider::Mailgun => (
            r#"{"resolution":"day","pagination":{"skip":0,"limit":1500,"total":1},"items":[{"dimensions":[{"dimension":"time","value":"Mon, 04 Mar 2024 00:00:00 +0000"}],"metrics":{"delivered_count":true}}]}"#,
            "Mailgun /v1/analytics/metrics",
            "metrics.delivered_count",
        ),
        Provider::Postmark => (
            r#"{"Days":[{"Date":"2024-03-04","Sent":"37"}]}"#,
            "Postmark /stats/outbound/sends",
            "Sent",
        ),
        Provider::SparkPost => (
            r#"{"results":[{"ts":"2024-03-04T00:00:00Z","count_sent":"1"}]}"#,
            "SparkPost /metrics/deliverability/time-series",
            "count_sent",
        ),
        Provider::Ses => (
            "<GetSendStatisticsResponse><GetSendStatisticsResult><SendDataPoints><member><Timestamp>2024-03-04T00:13:00Z</Timestamp><DeliveryAttempts>many</DeliveryAttempts></member></SendDataPoints></GetSendStatisticsResult></GetSendStatisticsResponse>",
            "Amazon SES / (Action=GetSendStatistics)",
            "DeliveryAttempts",
        ),
        Provider::Mandrill => (
            r#"[{"time":"2024-03-04 00:00:00","sent":"1"}]"#,
            "Mandrill /tags/all-time-series",
            "sent",
        ),
        Provider::Brevo => (
            r#"{"reports":[{"date":"2024-03-04","requests":1.5}]}"#,
            "Brevo /v3/smtp/statistics/reports",
            "requests",
        ),
        Provider::Mailchimp => (
            r#"{"reports":[{"id":"42694e9e57","send_time":"2024-03-04T14:00:00+00:00","emails_sent":"12"}],"total_items":1}"#,
            "Mailchimp /reports",
            "emails_sent",
        ),
        // The first answer Gmail's fetch reads is its token endpoint's.
        _ => (
            r#"{"access_token":5,"expires_in":3599}"#,
            "Gmail Postmaster Tools token endpoint (jwt-bearer grant)",
            "access_token",
        ),
    }
}

fn documented_body(provider: Provider) -> &'static str {
    match provider {
        Provider::SendGrid => SENDGRID_GLOBAL_STATS,
        Provider::Mailgun => MAILGUN_METRICS,
        Provider::Postmark => POSTMARK_SENDS,
        Provider::SparkPost => SPARKPOST_TIME_SERIES,
        Provider::Ses => SES_STATISTICS,
        Provider::Mandrill => MANDRILL_TAG_SERIES,
        Provider::Brevo => BREVO_REPORTS,
        Provider::Mailchimp => MAILCHIMP_REPORTS,
        _ => POSTMASTER_TRAFFIC,
    }
}

/// The problem a body that is not the documented format starts with: XML
/// for SES, JSON for the others.
fn not_the_format(provider: Provider, body: Body) -> &'static str {
    match (provider, body) {
        // An HTML page is well-formed XML, but not SES's answer.
        (Provider::Ses, Body::NotJson) => "expected a GetSendStatisticsResponse",
        (Provider::Ses, Body::Truncated) => "not valid XML",
        _ => "not valid JSON",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_payload_errors_naming_provider_and_field() {
    let errors = each_provider_fails_with(
        |provider, _| Reply::json(wrong_types(provider).0),
        Duration::from_secs(2),
    )
    .await;
    for (provider, error, _) in errors {
        let (_, endpoint, field) = wrong_types(provider);
        match &error {
            FetchError::Payload { error: payload, .. } => {
                assert_eq!(payload.endpoint.to_string(), endpoint, "{provider}");
                assert_eq!(payload.field.as_deref(), Some(field), "{provider}");
            }
            other => panic!("{provider}: {other:?}"),
        }
        let text = error.to_string();
        assert!(text.contains(endpoint) && text.contains(field), "{text}");
        assert!(!error.is_retryable());
    }

    for body in [Body::NotJson, Body::Truncated] {
        let errors = each_provider_fails_with(
            move |provider, _| match body {
                Body::NotJson => Reply::json("<html>502 Bad Gateway</html>"),
                Body::Truncated => Reply::json(&documented_body(provider).as_bytes()[..40]),
            },
            Duration::from_secs(2),
        )
        .await;
        for (provider, error, _) in errors {
            match &error {
                FetchError::Payload { error: payload, .. } => {
                    assert_eq!(
                        payload.endpoint.provider,
                        provider.display_name(),
                        "{body:?}"
                    );
                    assert!(
                        payload.problem.starts_with(not_the_format(provider, body)),
                        "{provider} {body:?}: {payload}"
                    );
                }
                other => panic!("{provider} {body:?}: {other:?}"),
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Body {
    NotJson,
    Truncated,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_network_error() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind: {e}"));
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no address: {e}"))
            .port()
    };
    for provider in PROVIDERS {
        let account = account(provider, closed_port, StreamSelection::Account);
        let error = failed(&account, any_window()).await;
        match &error {
            FetchError::Network { detail, .. } => {
                assert!(detail.contains("could not connect"), "{provider}: {detail}")
            }
            other => panic!("{provider}: {other:?}"),
        }
        assert!(error.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    // Following one would send Postmark's token header to another host.
    let errors = each_provider_fails_with(
        |_, _| Reply::status(302, "").header("location", "http://127.0.0.1:9/elsewhere"),
        Duration::from_secs(2),
    )
    .await;
    for (provider, error, repeated) in errors {
        assert!(
            matches!(error, FetchError::Rejected { status: 302, .. }),
            "{provider}: {error:?}"
        );
        assert_eq!(repeated, 0, "{provider}: one attempt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_variant_shows_the_credential() {
    // Force every variant against SendGrid and check each text (`failed`
    // runs `assert_clean` on Display and Debug).
    let mut variants = BTreeSet::new();
    let replies: Vec<(Reply, Duration)> = vec![
        (
            Reply::json("[]").after(Duration::from_secs(3)),
            Duration::from_millis(150),
        ),
        (
            Reply::status(429, "{}").header("retry-after", "7"),
            Duration::from_secs(2),
        ),
        (Reply::status(401, "{}"), Duration::from_secs(2)),
        (Reply::status(500, "{}"), Duration::from_secs(2)),
        (
            Reply::status(400, r#"{"errors":[{"message":"bad key SG.test-key-123"}]}"#),
            Duration::from_secs(2),
        ),
        (
            Reply::json(r#"[{"date":"SG.test-key-123"}]"#),
            Duration::from_secs(2),
        ),
    ];
    for (reply, timeout) in replies {
        let reply = Arc::new(Mutex::new(Some(reply)));
        let mock = Mock::start(Provider::SendGrid, move |_| {
            reply
                .lock()
                .ok()
                .and_then(|mut reply| reply.take())
                .unwrap_or_else(|| Reply::status(500, "{}"))
        })
        .await;
        let mut account = mock.account(Provider::SendGrid, StreamSelection::Account);
        account.timeout = timeout;
        let error = failed(&account, any_window()).await;
        variants.insert(variant(&error));
    }
    let closed = account(Provider::SendGrid, 9, StreamSelection::Account);
    variants.insert(variant(&failed(&closed, any_window()).await));
    assert_eq!(
        variants,
        BTreeSet::from([
            "Auth",
            "Network",
            "Payload",
            "RateLimited",
            "Rejected",
            "Server",
            "Timeout"
        ])
    );
}

fn variant(error: &FetchError) -> &'static str {
    match error {
        FetchError::Timeout { .. } => "Timeout",
        FetchError::RateLimited { .. } => "RateLimited",
        FetchError::Auth { .. } => "Auth",
        FetchError::Server { .. } => "Server",
        FetchError::Rejected { .. } => "Rejected",
        FetchError::Payload { .. } => "Payload",
        FetchError::Network { .. } => "Network",
    }
}

// ---------------------------------------------------------------------------
// Requests that are never made.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_is_not_fetched_over_http() {
    let account = account(Provider::Sandbox, 9, StreamSelection::Account);
    match failed(&account, any_window()).await {
        FetchError::Rejected { status, detail, .. } => {
            assert_eq!(status, NO_HTTP_STATUS);
            assert_eq!(detail, "the sandbox is not fetched over HTTP");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_provider_cannot_filter_by_is_rejected_before_any_request() {
    let mock = Mock::start(Provider::SendGrid, |_| Reply::json("[]")).await;
    let account = mock.account(
        Provider::SendGrid,
        StreamSelection::Named(vec![StreamKey::account(), StreamKey::tag("welcome")]),
    );
    match failed(&account, any_window()).await {
        FetchError::Rejected { status, detail, .. } => {
            assert_eq!(status, NO_HTTP_STATUS);
            assert!(detail.contains("tag:welcome"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_window_needs_no_request() {
    let mock = Mock::start(Provider::SendGrid, |_| Reply::json("[]")).await;
    let account = mock.account(Provider::SendGrid, StreamSelection::Account);
    let instant = utc(2024, 3, 3, 0);
    assert_eq!(
        fetched(&account, window(instant, instant)).await,
        Fetched {
            samples: vec![],
            requests: 0
        }
    );
    assert_eq!(mock.seen().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_that_never_ends_stops_at_the_bound() {
    // Every page is full (limit 1, one item) and no total is given.
    let mock = Mock::start(Provider::Mailgun, |seen| {
        let skip = seen.json()["pagination"]["skip"].as_u64().unwrap_or(0);
        Reply::json(
            json!({
                "resolution": "day",
                "pagination": {"skip": skip, "limit": 1},
                "items": [{
                    "dimensions": [{"dimension": "time", "value": "Mon, 04 Mar 2024 00:00:00 +0000"}],
                    "metrics": {"delivered_count": 1},
                }],
            })
            .to_string(),
        )
    })
    .await;
    let account = mock.account(Provider::Mailgun, StreamSelection::Account);
    match failed(&account, any_window()).await {
        FetchError::Payload { error, .. } => {
            assert_eq!(error.endpoint.to_string(), "Mailgun /v1/analytics/metrics");
            assert!(error.problem.contains("1000 pages"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen().len(), 1000);
}

#[tokio::test]
async fn mailgun_legacy_stats_total_normalises_from_the_documented_request() {
    let mock = Mock::start(Provider::MailgunLegacy, |_| {
        Reply::json(MAILGUN_LEGACY_TOTAL)
    })
    .await;
    let mut account = mock.account(Provider::MailgunLegacy, StreamSelection::Account);
    account.domain = Some("example.com".to_owned());
    let start = utc(2012, 2, 14, 0);
    let result = fetched(&account, window(start, utc(2012, 2, 16, 0))).await;
    assert_eq!(result.requests, 1);
    assert_eq!(result.samples.len(), 1);
    let counts = &result.samples[0].counts;
    // delivered.total 20 + failed.permanent.bounce 4; accepted.outgoing 10.
    assert_eq!(
        (
            counts.sent,
            counts.delivered,
            counts.bounce_hard,
            counts.requested
        ),
        (Some(24), Some(20), Some(4), Some(10))
    );
    assert_eq!(result.samples[0].stream, StreamKey::account());
    let seen = mock.seen();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, "/v3/example.com/stats/total");
    assert_eq!(
        seen[0].params("event"),
        [
            "accepted",
            "delivered",
            "failed",
            "opened",
            "clicked",
            "unsubscribed",
            "complained"
        ]
    );
    assert_eq!(
        seen[0].param("start"),
        Some(start.timestamp().to_string().as_str())
    );
    assert_eq!(seen[0].param("resolution"), Some("day"));
    assert_eq!(seen[0].header("authorization"), Some(MAILGUN_BASIC));
}

#[tokio::test]
async fn mailgun_legacy_named_tags_use_the_tag_stats_endpoint() {
    let mock = Mock::start(Provider::MailgunLegacy, |_| Reply::json(MAILGUN_LEGACY_TAG)).await;
    let mut account = mock.account(
        Provider::MailgunLegacy,
        StreamSelection::Named(vec![StreamKey::tag("welcome")]),
    );
    account.domain = Some("example.com".to_owned());
    // The documented tag sample is the month of April 2012.
    let result = fetched(&account, window(utc(2012, 4, 1, 0), utc(2012, 4, 3, 0))).await;
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v3/example.com/tag/stats");
    assert_eq!(seen[0].param("tag"), Some("welcome"));
    assert_eq!(result.samples.len(), 1, "{result:?}");
    assert_eq!(result.samples[0].stream, StreamKey::tag("welcome"));
    assert_eq!(result.samples[0].counts.delivered, Some(20));
}
