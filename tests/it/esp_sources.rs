//! Amazon SES, Mailchimp, Mandrill and Brevo against loopback mocks serving their
//! documented payloads (the mock and its checks are `esp_clients.rs`'s;
//! the faults every provider shares are tested there).
//!
//! The SES mock accepts a request only when its SigV4 signature is the one
//! recomputed here, by hand, from the request as received (the steps of the
//! reference's §6.6), so the signer is checked against an independent
//! implementation, not against itself.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{KeyInit, Mac};
use mailcall::delivery::{BucketWidth, Counts, StreamKey};
use mailcall::esp::account::{Credential, Provider, StreamSelection};
use mailcall::esp::client::FetchError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::esp_clients::{
    any_window, failed, fetched, now, streams, utc, window, Mock, Reply, Seen, BREVO_KEY,
    BREVO_REPORTS, MAILCHIMP_REPORTS, MANDRILL_KEY, MANDRILL_TAG_SERIES, SES_KEY_ID, SES_REGION,
    SES_SECRET, SES_STATISTICS,
};

type HmacSha256 = hmac::Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|e| panic!("hmac key: {e}"));
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Whether `seen` carries a valid SigV4 signature by `secret` for SES in
/// [`SES_REGION`] with key [`SES_KEY_ID`], made at `at`.
pub(super) fn sigv4_signature_holds(seen: &Seen, secret: &str, at: DateTime<Utc>) -> bool {
    let Some(authorization) = seen.header("authorization") else {
        return false;
    };
    let Some(fields) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return false;
    };
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
    };
    let (Some(credential), Some(signed_headers), Some(signature)) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    ) else {
        return false;
    };
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = at.format("%Y%m%d").to_string();
    let scope = format!("{date}/{SES_REGION}/ses/aws4_request");
    if credential != format!("{SES_KEY_ID}/{scope}") || seen.header("x-amz-date") != Some(&amz_date)
    {
        return false;
    }
    // The canonical request: method, path, query (none), the signed
    // headers as received, and the body's hash.
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let Some(value) = seen.header(name) else {
            return false;
        };
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    for required in ["host", "x-amz-date"] {
        if !signed_headers.split(';').any(|name| name == required) {
            return false;
        }
    }
    let canonical = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        seen.method,
        seen.path,
        sha256_hex(&seen.body)
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), &date);
    for part in [SES_REGION, "ses", "aws4_request"] {
        key = hmac(&key, part);
    }
    hex::encode(hmac(&key, &to_sign)) == signature
}

fn hour(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2016, 7, day, hour, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad hour"))
}

// ---------------------------------------------------------------------------
// Amazon SES.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_statistics_come_from_one_signed_form_post_summed_into_hours() {
    let mock = Mock::start(Provider::Ses, |_| {
        Reply::status(200, SES_STATISTICS).header("content-type", "text/xml")
    })
    .await;
    let account = mock.account(Provider::Ses, StreamSelection::Account);
    let got = fetched(&account, window(hour(13, 0), hour(14, 0))).await;
    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "one call: {seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/");
    assert_eq!(
        &seen[0].body[..],
        b"Action=GetSendStatistics&Version=2010-12-01"
    );
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // The mock accepted the signature; check here too that it is the one
    // recomputed, and that a wrong secret would not give it.
    assert!(sigv4_signature_holds(&seen[0], SES_SECRET, now()));
    assert!(!sigv4_signature_holds(&seen[0], "another-secret", now()));
    // 21:13; 22:43 + 22:58; 23:13, by hand from the fixture.
    let hours: Vec<_> = got.samples.iter().map(|s| s.bucket.start).collect();
    assert_eq!(hours, vec![hour(13, 21), hour(13, 22), hour(13, 23)]);
    assert_eq!(
        got.samples[1].counts,
        Counts {
            sent: Some(45),
            delivered: Some(43),
            delivered_derived: true,
            bounce_hard: Some(2),
            complaints: Some(1),
            dropped: Some(0),
            ..Counts::default()
        }
    );
    assert_eq!(got.samples[1].bucket.width, BucketWidth::Hour);
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        ["account"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_temporary_credentials_send_and_sign_the_session_token() {
    let mock = Mock::start(Provider::Ses, |seen| {
        if seen.header("x-amz-security-token") == Some("session-token-FwoGZXIvYXdzE")
            && seen
                .header("authorization")
                .is_some_and(|value| value.contains("x-amz-security-token"))
        {
            Reply::status(200, SES_STATISTICS)
        } else {
            Reply::status(400, "<ErrorResponse><Error><Code>MissingToken</Code><Message>no token</Message></Error></ErrorResponse>")
        }
    })
    .await;
    let mut account = mock.account(Provider::Ses, StreamSelection::Account);
    if let Some(pair) = account.key_pair.as_mut() {
        pair.session_token = Some(Credential::new("session-token-FwoGZXIvYXdzE"));
    }
    let got = fetched(&account, window(hour(13, 0), hour(14, 0))).await;
    assert_eq!(got.samples.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_throttling_is_a_rate_limit_although_it_is_http_400() {
    let mock = Mock::start(Provider::Ses, |_| {
        Reply::status(400, include_str!("../fixtures/esp/ses/throttling_400.xml"))
    })
    .await;
    let error = failed(
        &mock.account(Provider::Ses, StreamSelection::Account),
        any_window(),
    )
    .await;
    assert!(
        matches!(
            error,
            FetchError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    // A wrong secret: SES's own refusal (HTTP 403, SignatureDoesNotMatch).
    let mut account = mock.account(Provider::Ses, StreamSelection::Account);
    account.credential = Credential::new("wrong-secret-0000");
    let error = failed(&account, any_window()).await;
    assert!(
        matches!(error, FetchError::Auth { status: 403, .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_has_no_streams_but_the_account() {
    let mock = Mock::start(Provider::Ses, |_| Reply::status(200, SES_STATISTICS)).await;
    let account = mock.account(
        Provider::Ses,
        StreamSelection::Named(vec![StreamKey::tag("welcome")]),
    );
    match failed(&account, any_window()).await {
        FetchError::Rejected { detail, .. } => {
            assert!(detail.contains("`tag:welcome`"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert!(mock.seen().is_empty(), "refused before any request");
}

// ---------------------------------------------------------------------------
// Mandrill.

/// A Mandrill mock answering every series with the documented row moved to
/// 2024-03-04 13:00, and `/tags/list` with two tags.
fn mandrill_documented(seen: &Seen) -> Reply {
    if seen.path.ends_with("/tags/list") {
        return Reply::json(include_str!("../fixtures/esp/mandrill/tags_list.json"));
    }
    Reply::json(MANDRILL_TAG_SERIES.replace("2025-08-01 13:00:00", "2024-03-04 13:00:00"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandrill_posts_the_key_in_each_body_for_tags_senders_and_the_account() {
    let mock = Mock::start(Provider::Mandrill, mandrill_documented).await;
    let account = mock.account(
        Provider::Mandrill,
        StreamSelection::Named(vec![
            StreamKey::account(),
            StreamKey::tag("welcome"),
            StreamKey::new("sender:news@example.com"),
        ]),
    );
    let got = fetched(&account, any_window()).await;
    let mut calls: Vec<(String, Value)> = mock
        .seen()
        .iter()
        .map(|seen| {
            assert_eq!(seen.method, "POST");
            assert_eq!(seen.header("authorization"), None);
            (seen.path.clone(), seen.json())
        })
        .collect();
    calls.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        calls,
        vec![
            (
                "/api/1.3/senders/time-series".to_owned(),
                json!({"key": MANDRILL_KEY, "address": "news@example.com"})
            ),
            (
                "/api/1.3/tags/all-time-series".to_owned(),
                json!({"key": MANDRILL_KEY})
            ),
            (
                "/api/1.3/tags/time-series".to_owned(),
                json!({"key": MANDRILL_KEY, "tag": "welcome"})
            ),
        ]
    );
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        ["account", "sender:news@example.com", "tag:welcome"]
    );
    let welcome = got
        .samples
        .iter()
        .find(|s| s.stream == StreamKey::tag("welcome"))
        .unwrap_or_else(|| panic!("no welcome sample"));
    assert_eq!(welcome.bucket.start, utc(2024, 3, 4, 13));
    assert_eq!(welcome.bucket.width, BucketWidth::Hour);
    assert_eq!(welcome.counts.sent, Some(10));
    assert_eq!(welcome.counts.delivered, Some(9));
    assert!(welcome.counts.delivered_derived);
    assert_eq!(welcome.counts.dropped, Some(0));
    assert_eq!(welcome.counts.opens_unique, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandrill_discovery_lists_tags_then_fetches_each_and_the_account() {
    let mock = Mock::start(Provider::Mandrill, mandrill_documented).await;
    let account = mock.account(Provider::Mandrill, StreamSelection::AllDiscovered);
    let got = fetched(&account, any_window()).await;
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        ["account", "tag:password-reset", "tag:welcome"]
    );
    assert_eq!(got.requests, 4, "the list, the account and two tags");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandrill_errors_are_read_from_the_body_of_its_http_500() {
    let cases = [
        (
            r#"{"status":"error","code":-1,"name":"Invalid_Key","message":"Invalid API key"}"#,
            "Auth",
        ),
        (
            r#"{"status":"error","code":-2,"name":"Unknown_Sender","message":"No such sender"}"#,
            "Rejected",
        ),
        (
            r#"{"status":"error","code":-99,"name":"GeneralError","message":"try later"}"#,
            "Server",
        ),
    ];
    for (body, want) in cases {
        let mock = Mock::start(Provider::Mandrill, move |_| Reply::status(500, body)).await;
        let error = failed(
            &mock.account(Provider::Mandrill, StreamSelection::Account),
            any_window(),
        )
        .await;
        let got = match &error {
            FetchError::Auth { status: 500, .. } => "Auth",
            FetchError::Rejected { status: 500, .. } => "Rejected",
            FetchError::Server { status: 500, .. } => "Server",
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(got, want, "{body}");
        assert_eq!(error.is_retryable(), want == "Server", "{body}");
    }
}

// ---------------------------------------------------------------------------
// Brevo.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brevo_reports_normalise_from_the_documented_request() {
    let mock = Mock::start(Provider::Brevo, |_| {
        Reply::json(
            BREVO_REPORTS
                .replace("2017-04-06", "2024-03-04")
                .replace("2017-04-05", "2024-03-03"),
        )
    })
    .await;
    let account = mock.account(
        Provider::Brevo,
        StreamSelection::Named(vec![StreamKey::account(), StreamKey::tag("welcome")]),
    );
    let got = fetched(&account, window(utc(2024, 3, 3, 0), utc(2024, 3, 5, 0))).await;
    let seen = mock.seen();
    assert_eq!(seen.len(), 2, "one page per stream: {seen:?}");
    for request in &seen {
        assert_eq!(request.path, "/v3/smtp/statistics/reports");
        assert_eq!(request.header("api-key"), Some(BREVO_KEY));
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(request.param("startDate"), Some("2024-03-03"));
        assert_eq!(request.param("endDate"), Some("2024-03-04"));
        assert_eq!(request.number("limit"), 10);
        assert_eq!(request.number("offset"), 0);
    }
    let tags: Vec<Option<&str>> = {
        let mut tags: Vec<_> = seen.iter().map(|r| r.param("tag")).collect();
        tags.sort();
        tags
    };
    assert_eq!(tags, vec![None, Some("welcome")]);
    let welcome_day = got
        .samples
        .iter()
        .find(|s| s.stream == StreamKey::tag("welcome") && s.bucket.start == utc(2024, 3, 4, 0))
        .unwrap_or_else(|| panic!("no sample for welcome on 2024-03-04"));
    assert_eq!(welcome_day.bucket.provider_tz, "unspecified");
    assert_eq!(
        welcome_day.counts,
        Counts {
            requested: Some(263),
            sent: Some(263),
            delivered: Some(249),
            bounce_hard: Some(1),
            bounce_soft: Some(4),
            blocked: Some(2),
            dropped: Some(0),
            opens_unique: Some(37),
            clicks_unique: Some(8),
            complaints: Some(0),
            unsubscribes: Some(0),
            ..Counts::default()
        }
    );
    assert_eq!(got.samples.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brevo_pages_while_a_page_is_full() {
    // Twelve days: a full page of ten rows, then two.
    let mock = Mock::start(Provider::Brevo, |seen| {
        let offset = seen.number("offset");
        let rows: Vec<Value> = (offset..12.min(offset + 10))
            .map(|n| json!({"date": format!("2024-03-{:02}", 12 - n), "requests": n}))
            .collect();
        Reply::json(json!({ "reports": rows }).to_string())
    })
    .await;
    let account = mock.account(Provider::Brevo, StreamSelection::Account);
    let got = fetched(&account, window(utc(2024, 3, 1, 0), utc(2024, 3, 13, 0))).await;
    let offsets: Vec<usize> = mock.seen().iter().map(|r| r.number("offset")).collect();
    assert_eq!(offsets, vec![0, 10]);
    assert_eq!(got.samples.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brevo_429_waits_for_its_reset_header() {
    let mock = Mock::start(Provider::Brevo, |_| {
        Reply::status(429, r#"{"code":"too_many_requests","message":"slow down"}"#)
            .header("x-sib-ratelimit-reset", "37")
    })
    .await;
    let error = failed(
        &mock.account(Provider::Brevo, StreamSelection::Account),
        any_window(),
    )
    .await;
    assert!(
        matches!(error, FetchError::RateLimited { retry_after: Some(wait), .. } if wait.as_secs() == 37),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Mailchimp Marketing.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimp_reports_of_the_window_become_campaign_audience_and_account_streams() {
    let mock = Mock::start(Provider::Mailchimp, |_| Reply::json(MAILCHIMP_REPORTS)).await;
    let account = mock.account(Provider::Mailchimp, StreamSelection::AllDiscovered);
    let got = fetched(&account, window(utc(2024, 3, 4, 0), utc(2024, 3, 6, 0))).await;
    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "four reports, one page: {seen:?}");
    assert_eq!(seen[0].path, "/3.0/reports");
    assert_eq!(seen[0].number("count"), 100);
    assert_eq!(seen[0].number("offset"), 0);
    assert_eq!(
        seen[0].param("since_send_time"),
        Some("2024-03-04T00:00:00+00:00")
    );
    assert_eq!(
        seen[0].param("before_send_time"),
        Some("2024-03-06T00:00:00+00:00")
    );
    assert!(
        seen[0].param("fields").is_some_and(
            |fields| fields.contains("reports.bounces") && fields.contains("total_items")
        )
    );
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        [
            "account",
            "audience:57afe96172",
            "audience:9c0a1b2d3e",
            "campaign:42694e9e57",
            "campaign:a1b2c3d4e5",
            "campaign:f6e5d4c3b2",
        ]
    );
    let newsletter = got
        .samples
        .iter()
        .find(|s| s.stream == StreamKey::campaign("42694e9e57"))
        .unwrap_or_else(|| panic!("no newsletter"));
    assert_eq!(newsletter.bucket.start, utc(2024, 3, 4, 14));
    // By hand from the fixture: 12,000 sent, 36 hard, 50 soft + 4 syntax.
    assert_eq!(newsletter.counts.sent, Some(12_000));
    assert_eq!(newsletter.counts.bounce_soft, Some(54));
    assert_eq!(newsletter.counts.delivered, Some(11_910));
    assert_eq!(newsletter.counts.opens_machine, Some(2_700));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimp_pages_by_total_items_and_reads_named_campaigns_by_id() {
    let mock = Mock::start(Provider::Mailchimp, |seen| {
        if seen.path == "/3.0/reports/a1b2c3d4e5" {
            let report = serde_json::from_str::<Value>(MAILCHIMP_REPORTS)
                .map(|all| all["reports"][1].clone())
                .unwrap_or_default();
            return Reply::json(report.to_string());
        }
        // 150 campaigns in all, 100 a page; each page the same three sends.
        let mut page: Value = serde_json::from_str(MAILCHIMP_REPORTS).unwrap_or_default();
        page["total_items"] = json!(150);
        let rows = if seen.number("offset") == 0 { 100 } else { 50 };
        let template = page["reports"][0].clone();
        page["reports"] = Value::Array(
            (0..rows)
                .map(|n| {
                    let mut report = template.clone();
                    report["id"] = json!(format!("c{n:03}-{}", seen.number("offset")));
                    report
                })
                .collect(),
        );
        Reply::json(page.to_string())
    })
    .await;
    let account = mock.account(
        Provider::Mailchimp,
        StreamSelection::Named(vec![
            StreamKey::new("audience:57afe96172"),
            StreamKey::campaign("a1b2c3d4e5"),
        ]),
    );
    let got = fetched(&account, window(utc(2024, 3, 1, 0), utc(2024, 3, 6, 0))).await;
    let mut paths: Vec<(String, Option<usize>)> = mock
        .seen()
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.param("offset").and_then(|o| o.parse().ok()),
            )
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            ("/3.0/reports".to_owned(), Some(0)),
            ("/3.0/reports".to_owned(), Some(100)),
            ("/3.0/reports/a1b2c3d4e5".to_owned(), None),
        ]
    );
    // The audience's 150 campaigns all went out at 14:00 on the 4th.
    let audience = got
        .samples
        .iter()
        .find(|s| s.stream.as_str() == "audience:57afe96172")
        .unwrap_or_else(|| panic!("no audience sample"));
    assert_eq!(audience.counts.sent, Some(150 * 12_000));
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        ["audience:57afe96172", "campaign:a1b2c3d4e5"]
    );
}

// ---------------------------------------------------------------------------
// Gmail Postmaster Tools.

/// The access token the mock's token endpoint issues.
pub(super) const POSTMASTER_BEARER: &str = "Bearer ya29.test-access-token-0123456789";
pub(super) const POSTMASTER_SUBJECT: &str = "postmaster@example.com";
const POSTMASTER_PUBLIC_KEY: &str =
    include_str!("../fixtures/esp/postmaster/test_service_account_public.pem");

/// The test service-account key, its token URL on the mock.
pub(super) fn service_account_key(port: u16) -> String {
    include_str!("../fixtures/esp/postmaster/service_account.json.template")
        .replace("TOKEN_URI", &format!("http://127.0.0.1:{port}/token"))
}

/// The grant in a token request, if its signature verifies against the
/// test key's public half and its claims are the ones Google expects.
fn verified_grant(seen: &Seen, port: u16) -> Option<Value> {
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&seen.body).into_owned().collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return None;
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(POSTMASTER_PUBLIC_KEY.as_bytes()).ok()?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("http://127.0.0.1:{port}/token")]);
    // The grant is made at the fetch's "now" (2024), not the wall clock.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let grant = jsonwebtoken::decode::<Value>(form.get("assertion")?, &key, &validation).ok()?;
    let claims = grant.claims;
    let expected_iat = now().timestamp();
    (claims["iss"] == "mailcall-postmaster@mailcall-test.iam.gserviceaccount.com"
        && claims["scope"] == "https://www.googleapis.com/auth/postmaster.readonly"
        && claims["iat"] == expected_iat
        && claims["exp"] == expected_iat + 3600
        && grant.header.kid.as_deref() == Some("0123456789abcdef0123456789abcdef01234567"))
    .then_some(claims)
}

/// A Postmaster mock: the token endpoint checks the grant; the API answers
/// the documented shapes.
async fn postmaster_mock() -> Mock {
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let port_seen = std::sync::Arc::clone(&port);
    let mock = Mock::start(Provider::GmailPostmaster, move |seen| {
        let port = port_seen.get().copied().unwrap_or_default();
        match seen.path.as_str() {
            "/token" => match verified_grant(seen, port) {
                Some(claims) if claims["sub"] == POSTMASTER_SUBJECT => Reply::json(
                    r#"{"access_token":"ya29.test-access-token-0123456789","expires_in":3599,"token_type":"Bearer"}"#,
                ),
                _ => Reply::status(
                    400,
                    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                ),
            },
            "/v1/domains" => Reply::json(include_str!("../fixtures/esp/postmaster/domains.json")),
            "/v1/domains/mail.example.com/trafficStats" => Reply::json(include_str!(
                "../fixtures/esp/postmaster/traffic_stats.json"
            )),
            "/v2/domains/mail.example.com/complianceStatus" => Reply::json(include_str!(
                "../fixtures/esp/postmaster/compliance_status.json"
            )),
            // A domain with no traffic and no compliance data.
            "/v1/domains/news.example.com/trafficStats" => Reply::json("{}"),
            _ => Reply::status(
                404,
                r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#,
            ),
        }
    })
    .await;
    let _ = port.set(mock.port());
    mock
}

fn postmaster_account(mock: &Mock, streams: StreamSelection) -> mailcall::esp::account::Account {
    let mut account = mock.account(Provider::GmailPostmaster, streams);
    account.window = std::time::Duration::from_secs(96 * 3600);
    account
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_exchanges_a_signed_grant_then_reads_each_domains_days_and_compliance() {
    let mock = postmaster_mock().await;
    let account = postmaster_account(&mock, StreamSelection::AllDiscovered);
    let got = fetched(&account, window(utc(2026, 2, 28, 0), utc(2026, 3, 4, 0))).await;
    let seen = mock.seen();
    assert_eq!(seen[0].path, "/token", "the grant comes first");
    let traffic = seen
        .iter()
        .find(|r| r.path == "/v1/domains/mail.example.com/trafficStats")
        .unwrap_or_else(|| panic!("no traffic request: {seen:?}"));
    assert_eq!(traffic.param("startDate.year"), Some("2026"));
    assert_eq!(traffic.param("startDate.month"), Some("2"));
    assert_eq!(traffic.param("startDate.day"), Some("28"));
    assert_eq!(traffic.param("endDate.month"), Some("3"));
    assert_eq!(traffic.param("endDate.day"), Some("4"), "exclusive end");
    assert_eq!(traffic.header("authorization"), Some(POSTMASTER_BEARER));
    assert_eq!(
        streams(&got.samples).into_iter().collect::<Vec<_>>(),
        ["domain:mail.example.com"]
    );
    assert_eq!(got.samples.len(), 2);
    let newest = &got.samples[1];
    assert_eq!(newest.bucket.start, utc(2026, 3, 2, 0));
    let reported = newest
        .counts
        .reported
        .as_deref()
        .unwrap_or_else(|| panic!("figures"));
    assert_eq!(reported.spam_ppm, Some(3_100));
    assert_eq!(
        reported.needs_work,
        Some(vec![
            "DMARC_POLICY".to_owned(),
            "ONE_CLICK_UNSUBSCRIBE".to_owned()
        ]),
        "compliance goes on the newest day"
    );
    assert_eq!(
        got.samples[0]
            .counts
            .reported
            .as_deref()
            .and_then(|r| r.needs_work.clone()),
        None
    );
    assert_eq!(newest.counts.sent, None, "ratios, not counts");
}

/// A Postmaster provider on loopback whose token endpoint hands out
/// `ya29.kept-1`, `ya29.kept-2`, … (each lasting `lifetime` seconds, when
/// given) and whose API takes only the newest token, or none while
/// `revoked` is set (a new grant clears it) or `refuse_all` is (nothing
/// clears it). It logs each request's path and bearer.
struct TokenCounting {
    port: u16,
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    revoked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    refuse_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenCounting {
    async fn start(lifetime: Option<u64>) -> TokenCounting {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let issued = Arc::new(AtomicUsize::new(0));
        let revoked = Arc::new(AtomicBool::new(false));
        let refuse_all = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (state_revoked, state_refuse, state_log) = (
            Arc::clone(&revoked),
            Arc::clone(&refuse_all),
            Arc::clone(&log),
        );
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let (issued, revoked, refuse_all, log) = (
                    Arc::clone(&issued),
                    Arc::clone(&state_revoked),
                    Arc::clone(&state_refuse),
                    Arc::clone(&state_log),
                );
                async move {
                    let bearer = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    log.lock()
                        .unwrap_or_else(|e| panic!("{e}"))
                        .push((uri.path().to_owned(), bearer.clone()));
                    if uri.path() == "/token" {
                        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                        revoked.store(false, Ordering::SeqCst);
                        let expires =
                            lifetime.map_or(String::new(), |s| format!(r#","expires_in":{s}"#));
                        return (
                            axum::http::StatusCode::OK,
                            format!(r#"{{"access_token":"ya29.kept-{n}"{expires}}}"#),
                        );
                    }
                    let newest = format!("Bearer ya29.kept-{}", issued.load(Ordering::SeqCst));
                    if revoked.load(Ordering::SeqCst)
                        || refuse_all.load(Ordering::SeqCst)
                        || bearer != newest
                    {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#.to_owned(),
                        );
                    }
                    let body = if uri.path() == "/v1/domains/mail.example.com/trafficStats" {
                        include_str!("../fixtures/esp/postmaster/traffic_stats.json")
                    } else {
                        "{}"
                    };
                    (axum::http::StatusCode::OK, body.to_owned())
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenCounting {
            port,
            log,
            revoked,
            refuse_all,
        }
    }

    fn account(&self) -> mailcall::esp::account::Account {
        let mut account = super::esp_clients::account(
            Provider::GmailPostmaster,
            self.port,
            StreamSelection::Named(vec![StreamKey::new("domain:mail.example.com")]),
        );
        account.window = std::time::Duration::from_secs(96 * 3600);
        account
    }

    /// The token requests seen.
    fn grants(&self) -> usize {
        self.log()
            .iter()
            .filter(|(path, _)| path == "/token")
            .count()
    }

    fn log(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap_or_else(|e| panic!("{e}")).clone()
    }
}

/// The days of 2026-02-28 to 2026-03-03, which the fixture covers.
fn fixture_days() -> mailcall::esp::client::Window {
    window(utc(2026, 2, 28, 0), utc(2026, 3, 4, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_keeps_its_access_token_until_five_minutes_before_it_expires() {
    let gmail = TokenCounting::start(Some(3600)).await;
    let account = gmail.account();
    let http = mailcall::esp::client::http_client();
    let tokens = mailcall::esp::client::TokenCache::default();
    let fetch_at = |minutes: i64| {
        let (http, tokens, account) = (&http, &tokens, &account);
        async move {
            let at = now() + chrono::Duration::minutes(minutes);
            mailcall::esp::client::fetch(http, tokens, account, fixture_days(), at)
                .await
                .unwrap_or_else(|e| panic!("fetch at +{minutes} min: {e}"))
        }
    };
    assert_eq!(fetch_at(0).await.samples.len(), 2);
    assert_eq!(gmail.grants(), 1);
    // Polls within the hour reuse the token: no grant, one request fewer.
    let kept = fetch_at(15).await;
    assert_eq!((kept.samples.len(), kept.requests), (2, 2));
    fetch_at(54).await;
    assert_eq!(gmail.grants(), 1, "the token lasts until 60 min");
    // Within five minutes of its expiry a token is not used any more.
    fetch_at(56).await;
    assert_eq!(gmail.grants(), 2);
    // Another cache (another poller) keeps nothing of this one's.
    let other = mailcall::esp::client::TokenCache::default();
    mailcall::esp::client::fetch(&http, &other, &account, fixture_days(), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gmail.grants(), 3);
    // A token whose answer does not say how long it lasts is not kept.
    let unsure = TokenCounting::start(None).await;
    for _ in 0..2 {
        mailcall::esp::client::fetch(&http, &tokens, &unsure.account(), fixture_days(), now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(unsure.grants(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_token_that_is_refused_is_dropped_and_a_new_grant_made_once() {
    let gmail = TokenCounting::start(Some(3600)).await;
    let account = gmail.account();
    let http = mailcall::esp::client::http_client();
    let tokens = mailcall::esp::client::TokenCache::default();
    mailcall::esp::client::fetch(&http, &tokens, &account, fixture_days(), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Revoked before it expired: the next poll is refused once, grants
    // again and reads its days with the new token.
    gmail
        .revoked
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let later = now() + chrono::Duration::minutes(15);
    let got = mailcall::esp::client::fetch(&http, &tokens, &account, fixture_days(), later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.samples.len(), 2);
    assert_eq!(gmail.grants(), 2);
    assert_eq!(
        gmail.log().last().map(|(_, bearer)| bearer.clone()),
        Some("Bearer ya29.kept-2".to_owned())
    );
    // A token just granted and refused is the credential's problem (the
    // user lost access): one grant, then the refusal, no loop.
    gmail
        .refuse_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let fresh = mailcall::esp::client::TokenCache::default();
    let error = mailcall::esp::client::fetch(&http, &fresh, &account, fixture_days(), later)
        .await
        .err();
    assert!(
        matches!(error, Some(FetchError::Auth { status: 401, .. })),
        "{error:?}"
    );
    assert_eq!(gmail.grants(), 3);
    // And a kept token refused twice (revoked, then the new one refused
    // too) ends the fetch after one new grant.
    let error = mailcall::esp::client::fetch(&http, &tokens, &account, fixture_days(), later)
        .await
        .err();
    assert!(
        matches!(error, Some(FetchError::Auth { status: 401, .. })),
        "{error:?}"
    );
    assert_eq!(gmail.grants(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_refused_grants_and_bad_keys_are_credential_errors() {
    let mock = postmaster_mock().await;
    // Acting for nobody: the mock's Google refuses the grant.
    let mut account = postmaster_account(
        &mock,
        StreamSelection::Named(vec![StreamKey::new("domain:mail.example.com")]),
    );
    account.subject = None;
    let error = failed(&account, any_window()).await;
    assert!(
        matches!(error, FetchError::Auth { status: 400, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    // A grant signed with another private key does not verify either.
    let mut other_key: Value =
        serde_json::from_str(&service_account_key(mock.port())).unwrap_or_else(|e| panic!("{e}"));
    other_key["private_key"] = json!(include_str!(
        "../fixtures/esp/postmaster/other_private_key.pem"
    ));
    let other_key = other_key.to_string();
    let mut forged = postmaster_account(
        &mock,
        StreamSelection::Named(vec![StreamKey::new("domain:mail.example.com")]),
    );
    forged.credential = Credential::new(other_key);
    let error = failed(&forged, any_window()).await;
    assert!(
        matches!(error, FetchError::Auth { status: 400, .. }),
        "{error:?}"
    );
    // Not a service-account key at all: said before any request, and the
    // key's text is not in the message.
    let before = mock.seen().len();
    let mut not_json = postmaster_account(
        &mock,
        StreamSelection::Named(vec![StreamKey::new("domain:mail.example.com")]),
    );
    not_json.credential = Credential::new("plain-api-key-0000");
    match failed(&not_json, any_window()).await {
        FetchError::Rejected {
            status: 0, detail, ..
        } => {
            assert_eq!(detail, "the credential is not a service-account key (JSON)")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen().len(), before);
}
