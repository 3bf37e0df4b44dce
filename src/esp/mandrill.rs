//! Mailchimp Transactional (Mandrill): hourly statistics per tag and per
//! sender address (reference §8).
//!
//! - Every call is a `POST` whose JSON body carries the API key as `"key"`;
//!   there is no authentication header. The key is added to the body after
//!   the request is built ([`source::Mandrill`]'s `sign`), so no other code
//!   handles it.
//! - `/tags/time-series` (`{"tag"}`), `/senders/time-series`
//!   (`{"address"}`) and `/tags/all-time-series` (`{}`, every tag together:
//!   the account-wide series) each answer the last 30 days, hourly:
//!   `[{"time": "YYYY-MM-DD HH:MM:SS", "sent", "hard_bounces", …}]`, in UTC.
//!   `/tags/list` names the tags, for `streams = "all"`.
//! - Errors come back as HTTP 500 with `{"status":"error","name":…}`:
//!   `Invalid_Key` is a refused credential, `ValidationError` and the
//!   `Unknown_*` names are refused requests, and only the rest is a fault
//!   worth retrying.
//! - `/senders/info` gives only rolling totals (today, last 7 days, …),
//!   which cannot be judged hour by hour; sender streams use its hourly
//!   form, `/senders/time-series`.
//!
//! Mapping (§8.4): `sent`, `hard_bounces`→bounce_hard,
//! `soft_bounces`→bounce_soft, `rejects`→dropped,
//! `unique_opens`→opens_unique, `unique_clicks`→clicks_unique,
//! `complaints`, `unsubs`→unsubscribes (missing from the sender series, so
//! unknown there). Mandrill gives no delivered count: it is derived as sent
//! − hard − soft bounces and marked derived, as for Postmark.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::{
    expect_array, expect_object, optional_count, parse_json, required_str, CountStyle, Endpoint,
    PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `POST /tags/time-series`: one tag's hourly statistics, 30 days.
pub const TAG_SERIES: Endpoint = Endpoint {
    provider: "Mandrill",
    path: "/tags/time-series",
};

/// `POST /tags/all-time-series`: every tag together, hourly, 30 days.
pub const ALL_TAGS_SERIES: Endpoint = Endpoint {
    provider: "Mandrill",
    path: "/tags/all-time-series",
};

/// `POST /senders/time-series`: one sender address, hourly, 30 days.
pub const SENDER_SERIES: Endpoint = Endpoint {
    provider: "Mandrill",
    path: "/senders/time-series",
};

/// `POST /tags/list`: the account's tags with their totals.
pub const TAG_LIST: Endpoint = Endpoint {
    provider: "Mandrill",
    path: "/tags/list",
};

/// Parses a time series (`/tags/time-series`, `/tags/all-time-series`,
/// `/senders/time-series`) from `endpoint`: one hourly sample per row, for
/// `stream`.
pub fn parse_time_series(
    endpoint: Endpoint,
    body: &[u8],
    stream: &StreamKey,
) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(endpoint);
    let json = parse_json(endpoint, body)?;
    let rows = expect_array(&json, &site, "")?;
    let mut samples = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let site = site.item(index);
        let row = expect_object(row, &site, "")?;
        let time = required_str(row, "time", &site, "")?;
        let start = NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| {
                site.field_error(
                    "time",
                    format!(
                        "expected YYYY-MM-DD HH:MM:SS, got {}",
                        super::quote_short(time, 40)
                    ),
                )
            })?
            .and_utc();
        let count = |key: &str| optional_count(row, key, CountStyle::Number, &site, "");
        let sent = count("sent")?;
        let bounce_hard = count("hard_bounces")?;
        let bounce_soft = count("soft_bounces")?;
        let delivered = match (sent, bounce_hard, bounce_soft) {
            (Some(sent), Some(hard), Some(soft)) => {
                let bounced = hard.saturating_add(soft);
                Some(sent.checked_sub(bounced).ok_or_else(|| {
                    site.error(
                        None,
                        format!("{bounced} bounces are more than the {sent} messages sent"),
                    )
                })?)
            }
            _ => None,
        };
        samples.push(Sample {
            stream: stream.clone(),
            bucket: Bucket {
                start,
                width: BucketWidth::Hour,
                provider_tz: "UTC".to_owned(),
            },
            counts: Counts {
                sent,
                delivered,
                delivered_derived: delivered.is_some(),
                bounce_hard,
                bounce_soft,
                dropped: count("rejects")?,
                opens_unique: count("unique_opens")?,
                clicks_unique: count("unique_clicks")?,
                complaints: count("complaints")?,
                unsubscribes: count("unsubs")?,
                ..Counts::default()
            },
        });
    }
    Ok(samples)
}

/// Parses `/tags/list`: the tag names, in the order given.
pub fn parse_tag_list(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    let site = Site::top(TAG_LIST);
    let json = parse_json(TAG_LIST, body)?;
    expect_array(&json, &site, "")?
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let site = site.item(index);
            let row = expect_object(row, &site, "")?;
            required_str(row, "tag", &site, "").map(str::to_owned)
        })
        .collect()
}

/// The `name` of a Mandrill error body (`{"status":"error","name":…}`).
pub fn error_name(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    (json.get("status")?.as_str()? == "error")
        .then(|| json.get("name")?.as_str().map(str::to_owned))
        .flatten()
}

pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use chrono::{DateTime, Utc};
    use reqwest::{Method, RequestBuilder};
    use serde_json::{json, Value};

    use crate::delivery::{Sample, StreamKey};
    use crate::esp::account::Account;
    use crate::esp::client::{Body, FetchError, Plan, Session, Window};
    use crate::esp::mandrill;
    use crate::esp::source::{accept_json, Refusal, Source, SourceFuture, NO_STATED_LIMIT};
    use crate::esp::Endpoint;

    /// Mandrill: the key inside each JSON body; errors told in the body.
    pub(crate) struct Mandrill;

    impl Source for Mandrill {
        fn name(&self) -> &'static str {
            "Mandrill"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["tag", "sender"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            (region == "us").then(|| "https://mandrillapp.com".to_owned())
        }

        fn path_prefix(&self) -> &'static str {
            "/api/1.3"
        }

        // Hourly UTC buckets that fill within minutes.
        fn settle_minutes(&self) -> u64 {
            20
        }

        // No limit is documented for reads.
        fn concurrency(&self) -> usize {
            NO_STATED_LIMIT
        }

        fn authorize(
            &self,
            request: RequestBuilder,
            _credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request))
        }

        /// Puts the key into the JSON body the request already carries.
        fn sign(
            &self,
            request: &mut reqwest::Request,
            account: &Account,
            _now: DateTime<Utc>,
        ) -> Result<(), String> {
            let body = request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .unwrap_or(b"{}");
            let mut json: Value = serde_json::from_slice(body)
                .map_err(|_| "the request body is not JSON".to_string())?;
            let Some(object) = json.as_object_mut() else {
                return Err("the request body is not a JSON object".to_string());
            };
            object.insert(
                "key".to_owned(),
                Value::String(account.credential.expose().to_owned()),
            );
            let bytes = serde_json::to_vec(&json)
                .map_err(|_| "the request body cannot be written".to_string())?;
            *request.body_mut() = Some(bytes.into());
            Ok(())
        }

        fn refusal(&self, status: u16, body: &[u8]) -> Option<Refusal> {
            if status != 500 {
                return None;
            }
            let name = mandrill::error_name(body)?;
            Some(match name.as_str() {
                "Invalid_Key" => Refusal::Credential,
                "ValidationError" | "PaymentRequired" => Refusal::Rejected,
                name if name.starts_with("Unknown_") || name.starts_with("Invalid_") => {
                    Refusal::Rejected
                }
                _ => Refusal::Server,
            })
        }

        fn fetch<'a>(
            &'a self,
            session: &'a Session<'_>,
            plan: &'a Plan,
            window: Window,
        ) -> SourceFuture<'a> {
            Box::pin(fetch(session, plan, window))
        }
    }

    async fn post(
        session: &Session<'_>,
        endpoint: Endpoint,
        body: Value,
    ) -> Result<Vec<u8>, FetchError> {
        session
            .send(
                endpoint,
                Method::POST,
                endpoint.path,
                &[],
                Body::Json(&body),
            )
            .await
    }

    /// One time series, parsed for `stream`.
    async fn series(
        session: &Session<'_>,
        endpoint: Endpoint,
        body: Value,
        stream: StreamKey,
    ) -> Result<Vec<Sample>, FetchError> {
        let answer = post(session, endpoint, body).await?;
        session.payload(mandrill::parse_time_series(endpoint, &answer, &stream))
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        _window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let mut requests: Vec<(Endpoint, Value, StreamKey)> = Vec::new();
        if plan.account_wide {
            requests.push((mandrill::ALL_TAGS_SERIES, json!({}), StreamKey::account()));
        }
        let mut named = plan.named.clone();
        if plan.discover {
            let body = post(session, mandrill::TAG_LIST, json!({})).await?;
            for tag in session.payload(mandrill::parse_tag_list(&body))? {
                let wanted = ("tag", tag);
                if !named.contains(&wanted) {
                    named.push(wanted);
                }
            }
        }
        for (kind, name) in named {
            requests.push(if kind == "sender" {
                (
                    mandrill::SENDER_SERIES,
                    json!({ "address": name }),
                    StreamKey::new(format!("sender:{name}")),
                )
            } else {
                (
                    mandrill::TAG_SERIES,
                    json!({ "tag": name }),
                    StreamKey::tag(&name),
                )
            });
        }
        // Each series is one request (30 days, whatever the window); they
        // go out together, up to the source's concurrency.
        let pending: Vec<_> = requests
            .into_iter()
            .map(|(endpoint, body, stream)| series(session, endpoint, body, stream))
            .collect();
        let series = session.together(pending).await?;
        Ok(series.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    const TAG_SERIES_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/mandrill/tags_time_series.json");
    const TAG_LIST_SAMPLE: &str = include_str!("../../tests/fixtures/esp/mandrill/tags_list.json");

    #[test]
    fn the_documented_series_normalises_with_a_derived_delivered_count() {
        let samples = parse_time_series(
            TAG_SERIES,
            TAG_SERIES_SAMPLE.as_bytes(),
            &StreamKey::tag("welcome"),
        )
        .unwrap();
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::tag("welcome"),
                bucket: Bucket {
                    start: Utc.with_ymd_and_hms(2025, 8, 1, 13, 0, 0).unwrap(),
                    width: BucketWidth::Hour,
                    provider_tz: "UTC".to_owned(),
                },
                counts: Counts {
                    sent: Some(10),
                    delivered: Some(9),
                    delivered_derived: true,
                    bounce_hard: Some(1),
                    bounce_soft: Some(0),
                    dropped: Some(0),
                    opens_unique: Some(4),
                    clicks_unique: Some(2),
                    complaints: Some(0),
                    unsubscribes: Some(0),
                    ..Counts::default()
                },
            }]
        );
    }

    #[test]
    fn a_missing_count_stays_unknown() {
        // The sender series has no `unsubs`.
        let samples = parse_time_series(
            SENDER_SERIES,
            br#"[{"time":"2025-08-01 14:00:00","sent":3,"hard_bounces":0,"soft_bounces":0}]"#,
            &StreamKey::new("sender:news@example.com"),
        )
        .unwrap();
        assert_eq!(samples[0].counts.unsubscribes, None);
        assert_eq!(samples[0].counts.delivered, Some(3));
        let no_bounces = parse_time_series(
            SENDER_SERIES,
            br#"[{"time":"2025-08-01 14:00:00","sent":3}]"#,
            &StreamKey::account(),
        )
        .unwrap();
        assert_eq!(no_bounces[0].counts.delivered, None);
        assert!(!no_bounces[0].counts.delivered_derived);
    }

    #[test]
    fn bad_rows_say_where() {
        let error = parse_time_series(
            TAG_SERIES,
            br#"[{"time":"2025-08-01T13:00:00Z","sent":1}]"#,
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(error.item.as_deref(), Some("item 0"));
        assert_eq!(error.field.as_deref(), Some("time"));
        let more_bounces_than_sent = parse_time_series(
            TAG_SERIES,
            br#"[{"time":"2025-08-01 13:00:00","sent":1,"hard_bounces":2,"soft_bounces":0}]"#,
            &StreamKey::account(),
        )
        .unwrap_err();
        assert!(
            more_bounces_than_sent.problem.contains("more than"),
            "{more_bounces_than_sent}"
        );
        assert!(parse_time_series(TAG_SERIES, b"{}", &StreamKey::account()).is_err());
        assert!(parse_time_series(TAG_SERIES, b"[{\"time\":", &StreamKey::account()).is_err());
    }

    #[test]
    fn tags_are_listed() {
        assert_eq!(
            parse_tag_list(TAG_LIST_SAMPLE.as_bytes()).unwrap(),
            vec!["welcome".to_owned(), "password-reset".to_owned()]
        );
        assert!(parse_tag_list(br#"[{"sent":1}]"#).is_err());
    }

    #[test]
    fn error_bodies_are_read_by_name() {
        assert_eq!(
            error_name(
                br#"{"status":"error","code":-1,"name":"Invalid_Key","message":"Invalid API key"}"#
            ),
            Some("Invalid_Key".to_owned())
        );
        assert_eq!(error_name(br#"{"status":"ok","name":"x"}"#), None);
        assert_eq!(error_name(b"<html>"), None);
    }
}
