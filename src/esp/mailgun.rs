//! Mailgun statistics: the current Metrics API (`POST /v1/analytics/metrics`)
//! and the deprecated but still documented v3 stats
//! (`GET /v3/{domain}/stats/total`, `GET /v3/{domain}/tag/stats`), normalised
//! into [`Sample`]s.
//!
//! Mailgun buckets are UTC ("calculated … in UTC timezone"), and timestamps
//! are RFC 2822 strings. Each bucket is as wide as the body's `resolution`
//! (`hour`, `day` or `month`).
//!
//! Missing keys are unknown, not zero, in both APIs: the Metrics API returns
//! only the metrics the request named (and its example includes a `0`
//! metric, so zeros are not omitted), and the v3 stats return only the
//! `event=` groups requested. Counts are accepted as JSON numbers or as
//! strings of digits. The `*_rate` fields are strings whose scale Mailgun
//! documents inconsistently; they are never read (rates come from
//! [`crate::delivery::Rates`]).

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use super::{
    expect_array, expect_object, optional_count, parse_json, parse_rfc2822_lenient, path, present,
    quote_short, required, required_str, sum_if_all_known, CountStyle, Endpoint, PayloadError,
    Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `POST /v1/analytics/metrics`.
pub const METRICS: Endpoint = Endpoint {
    provider: "Mailgun",
    path: "/v1/analytics/metrics",
};

/// `GET /v3/{domain}/stats/total` (deprecated). `GET /v3/stats/total`, for
/// the whole account, has the same shape.
pub const LEGACY_STATS_TOTAL: Endpoint = Endpoint {
    provider: "Mailgun",
    path: "/v3/{domain}/stats/total",
};

/// `GET /v3/{domain}/tag/stats?tag=` (deprecated).
pub const LEGACY_TAG_STATS: Endpoint = Endpoint {
    provider: "Mailgun",
    path: "/v3/{domain}/tag/stats",
};

/// Mailgun computes statistics in UTC.
pub const PROVIDER_TZ: &str = "UTC";

const STYLE: CountStyle = CountStyle::NumberOrDigits;

/// Parses a Metrics API response: one sample per item.
///
/// Every item must carry the `time` dimension (request
/// `"dimensions": ["time", ...]`); without it there is no bucket. The other
/// dimensions name the stream: `tag:welcome`, or `tag:welcome,domain:x.com`
/// for several. Items with no dimension besides `time` get `scope`: normally
/// [`StreamKey::account`], or whatever the request's `filter` narrowed to,
/// since the response does not echo the filter.
///
/// Mapping (reference §3.5): `accepted_outgoing_count`→requested,
/// `sent_count`→sent, `delivered_count`, `hard_bounces_count`→bounce_hard,
/// `permanent_failed_esp_block_count`→blocked, `soft_bounces_count −
/// permanent_failed_esp_block_count`→bounce_soft (Mailgun's soft bounces
/// include "blocklistings, or reputation issues", so without the
/// subtraction every block would count twice in the bounce rate),
/// `temporary_failed_count`→deferred (temporary ESP blocks are retried, so
/// they are deferrals, not blocks), `suppressed_bounces_count + suppressed_unsubscribed_count +
/// suppressed_complaints_count`→dropped, `unique_opened_count`,
/// `unique_clicked_count`, `complained_count`, `unsubscribed_count`. A sum is
/// `None` unless every part was requested.
pub fn parse_metrics(body: &[u8], scope: &StreamKey) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(METRICS);
    let json = parse_json(METRICS, body)?;
    let top = expect_object(&json, &site, "")?;
    let width = resolution(top, &site)?;
    let items = expect_array(required(top, "items", &site, "")?, &site, "items")?;
    let mut samples = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let site = site.item(index);
        let item = expect_object(item, &site, "")?;
        let (bucket, stream) = metrics_dimensions(item, &site, width, scope)?;
        let metrics = expect_object(required(item, "metrics", &site, "")?, &site, "metrics")?;
        samples.push(Sample {
            stream,
            bucket,
            counts: metrics_counts(metrics, &site)?,
        });
    }
    Ok(samples)
}

/// Parses `GET /v3/{domain}/stats/total` (or `/v3/stats/total`): one sample
/// per `stats` entry, for `stream` (the caller knows which domain it asked
/// about).
///
/// Mapping (reference §3.5): `accepted.outgoing`→requested,
/// `delivered.total`→delivered, `failed.permanent.bounce`→bounce_hard (this
/// API does not split hard from soft bounces, nor permanent blocks from
/// either: all permanent bounces count as hard, so the bounce rate is right
/// and the hard/soft split is unknown), `delivered.total +
/// failed.permanent.bounce`→sent, `failed.temporary.total`→deferred
/// (`failed.temporary.espblock` is part of it, so blocked stays unknown
/// rather than counting those twice), the three
/// `failed.permanent.suppress-*`→dropped, `opened.unique`, `clicked.unique`,
/// `complained.total`, `unsubscribed.total`.
///
/// `failed.permanent.delayed-bounce` is not added to sent or bounces: a
/// delayed bounce is a message first reported delivered, and in Mailgun's
/// own sample `failed.permanent.total` (10) equals `bounce` plus the three
/// suppressions without it.
pub fn parse_legacy_stats_total(
    body: &[u8],
    stream: &StreamKey,
) -> Result<Vec<Sample>, PayloadError> {
    parse_legacy(LEGACY_STATS_TOTAL, body, Some(stream))
}

/// Parses `GET /v3/{domain}/tag/stats`: as [`parse_legacy_stats_total`], with
/// the stream `tag:<tag>` taken from the body.
pub fn parse_legacy_tag_stats(body: &[u8]) -> Result<Vec<Sample>, PayloadError> {
    parse_legacy(LEGACY_TAG_STATS, body, None)
}

/// The `skip` for the next Metrics API page, or `None` when this was the
/// last page.
///
/// Mailgun says to keep paging "until fewer items than the specified limit
/// are returned"; a page that reaches `pagination.total` also ends it.
pub fn next_metrics_skip(body: &[u8]) -> Result<Option<u64>, PayloadError> {
    let site = Site::top(METRICS);
    let json = parse_json(METRICS, body)?;
    let top = expect_object(&json, &site, "")?;
    let pagination = expect_object(required(top, "pagination", &site, "")?, &site, "pagination")?;
    let number = |key: &str| optional_count(pagination, key, STYLE, &site, "pagination");
    let skip = number("skip")?.unwrap_or(0);
    let limit = number("limit")?.ok_or_else(|| site.field_error("pagination.limit", "missing"))?;
    let total = number("total")?;
    let items = expect_array(required(top, "items", &site, "")?, &site, "items")?;
    let returned = u64::try_from(items.len()).unwrap_or(u64::MAX);
    if limit == 0 || returned < limit {
        return Ok(None);
    }
    let next = skip.saturating_add(returned);
    Ok(match total {
        Some(total) if next >= total => None,
        _ => Some(next),
    })
}

/// How long to wait after a 429, from the response body.
///
/// Mailgun documents no rate-limit header, only "retry as defined in the
/// response"; its example 429 body says `… try again after 120 seconds`.
/// Reads that phrase from the JSON `message` (or from the body as plain
/// text); `None` when it is not there.
pub fn rate_limit_wait_from_message(body: &[u8]) -> Option<Duration> {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|json| json.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| text.into_owned());
    let lower = message.to_ascii_lowercase();
    const PHRASE: &str = "try again after ";
    let after = &lower[lower.find(PHRASE)? + PHRASE.len()..];
    let digits_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let seconds: u64 = after[..digits_end].parse().ok()?;
    after[digits_end..]
        .trim_start()
        .starts_with("second")
        .then(|| Duration::from_secs(seconds))
}

/// The body's `resolution` as a bucket width.
fn resolution(top: &Map<String, Value>, site: &Site) -> Result<BucketWidth, PayloadError> {
    match required_str(top, "resolution", site, "")? {
        "hour" => Ok(BucketWidth::Hour),
        "day" => Ok(BucketWidth::Day),
        "month" => Ok(BucketWidth::Month),
        other => Err(site.field_error(
            "resolution",
            format!(
                "expected \"hour\", \"day\" or \"month\", got {}",
                quote_short(other, 40)
            ),
        )),
    }
}

/// A Mailgun RFC 2822 timestamp → a UTC bucket.
fn bucket_at(
    text: &str,
    width: BucketWidth,
    site: &Site,
    field: &str,
) -> Result<Bucket, PayloadError> {
    let start = parse_rfc2822_lenient(text).ok_or_else(|| {
        site.field_error(
            field,
            format!(
                "expected an RFC 2822 time like \"Wed, 01 Nov 2023 00:00:00 +0000\", got {}",
                quote_short(text, 40)
            ),
        )
    })?;
    Ok(Bucket {
        start: start.with_timezone(&Utc),
        width,
        provider_tz: PROVIDER_TZ.to_owned(),
    })
}

/// An item's `dimensions` → its bucket (from `time`) and stream (from the
/// rest).
fn metrics_dimensions(
    item: &Map<String, Value>,
    site: &Site,
    width: BucketWidth,
    scope: &StreamKey,
) -> Result<(Bucket, StreamKey), PayloadError> {
    let dimensions = expect_array(required(item, "dimensions", site, "")?, site, "dimensions")?;
    let mut bucket = None;
    let mut stream_parts = Vec::new();
    for (index, dimension) in dimensions.iter().enumerate() {
        let parent = format!("dimensions[{index}]");
        let dimension = expect_object(dimension, site, &parent)?;
        let name = required_str(dimension, "dimension", site, &parent)?;
        let value = required_str(dimension, "value", site, &parent)?;
        if name == "time" {
            bucket = Some(bucket_at(value, width, site, &path(&parent, "value"))?);
        } else {
            stream_parts.push(format!("{name}:{value}"));
        }
    }
    let bucket = bucket.ok_or_else(|| {
        site.field_error(
            "dimensions",
            "no `time` dimension, so no bucket (request the `time` dimension)",
        )
    })?;
    let stream = if stream_parts.is_empty() {
        scope.clone()
    } else {
        StreamKey::new(stream_parts.join(","))
    };
    Ok((bucket, stream))
}

fn metrics_counts(metrics: &Map<String, Value>, site: &Site) -> Result<Counts, PayloadError> {
    let count = |key: &str| optional_count(metrics, key, STYLE, site, "metrics");
    let blocked = count("permanent_failed_esp_block_count")?;
    let soft_with_blocks = count("soft_bounces_count")?;
    // Soft bounces net of the blocks inside them; unknown unless both are.
    let bounce_soft = match (soft_with_blocks, blocked) {
        (Some(soft), Some(blocked)) => Some(soft.saturating_sub(blocked)),
        _ => None,
    };
    let dropped = sum_if_all_known(
        &[
            count("suppressed_bounces_count")?,
            count("suppressed_unsubscribed_count")?,
            count("suppressed_complaints_count")?,
        ],
        site,
        "metrics",
    )?;
    Ok(Counts {
        requested: count("accepted_outgoing_count")?,
        sent: count("sent_count")?,
        delivered: count("delivered_count")?,
        bounce_hard: count("hard_bounces_count")?,
        bounce_soft,
        blocked,
        deferred: count("temporary_failed_count")?,
        dropped,
        opens_unique: count("unique_opened_count")?,
        opens_machine: None,
        clicks_unique: count("unique_clicked_count")?,
        complaints: count("complained_count")?,
        unsubscribes: count("unsubscribed_count")?,
        delivered_derived: false,
        reported: None,
    })
}

fn parse_legacy(
    endpoint: Endpoint,
    body: &[u8],
    stream: Option<&StreamKey>,
) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(endpoint);
    let json = parse_json(endpoint, body)?;
    let top = expect_object(&json, &site, "")?;
    let stream = match stream {
        Some(stream) => stream.clone(),
        None => StreamKey::tag(required_str(top, "tag", &site, "")?),
    };
    let width = resolution(top, &site)?;
    let stats = expect_array(required(top, "stats", &site, "")?, &site, "stats")?;
    let mut samples = Vec::with_capacity(stats.len());
    for (index, entry) in stats.iter().enumerate() {
        let site = site.labelled(format!("stats item {index}"));
        let entry = expect_object(entry, &site, "")?;
        let bucket = bucket_at(
            required_str(entry, "time", &site, "")?,
            width,
            &site,
            "time",
        )?;
        samples.push(Sample {
            stream: stream.clone(),
            bucket,
            counts: legacy_counts(entry, &site)?,
        });
    }
    Ok(samples)
}

/// The object at `parent.key`, `None` when absent.
fn group<'a>(
    object: Option<&'a Map<String, Value>>,
    key: &str,
    site: &Site,
    parent: &str,
) -> Result<Option<&'a Map<String, Value>>, PayloadError> {
    let Some(value) = object.and_then(|object| present(object, key)) else {
        return Ok(None);
    };
    expect_object(value, site, &path(parent, key)).map(Some)
}

/// The count at `parent.key`, `None` when it or its group is absent.
fn legacy_count(
    object: Option<&Map<String, Value>>,
    key: &str,
    site: &Site,
    parent: &str,
) -> Result<Option<u64>, PayloadError> {
    match object {
        Some(object) => optional_count(object, key, STYLE, site, parent),
        None => Ok(None),
    }
}

fn legacy_counts(entry: &Map<String, Value>, site: &Site) -> Result<Counts, PayloadError> {
    let entry = Some(entry);
    let accepted = group(entry, "accepted", site, "")?;
    let delivered = group(entry, "delivered", site, "")?;
    let failed = group(entry, "failed", site, "")?;
    let permanent = group(failed, "permanent", site, "failed")?;
    let temporary = group(failed, "temporary", site, "failed")?;
    let opened = group(entry, "opened", site, "")?;
    let clicked = group(entry, "clicked", site, "")?;
    let complained = group(entry, "complained", site, "")?;
    let unsubscribed = group(entry, "unsubscribed", site, "")?;

    let delivered_total = legacy_count(delivered, "total", site, "delivered")?;
    let bounced = legacy_count(permanent, "bounce", site, "failed.permanent")?;
    let suppressed = |key: &str| legacy_count(permanent, key, site, "failed.permanent");
    Ok(Counts {
        requested: legacy_count(accepted, "outgoing", site, "accepted")?,
        sent: sum_if_all_known(&[delivered_total, bounced], site, "failed.permanent.bounce")?,
        delivered: delivered_total,
        bounce_hard: bounced,
        bounce_soft: None,
        blocked: None,
        deferred: legacy_count(temporary, "total", site, "failed.temporary")?,
        dropped: sum_if_all_known(
            &[
                suppressed("suppress-bounce")?,
                suppressed("suppress-unsubscribe")?,
                suppressed("suppress-complaint")?,
            ],
            site,
            "failed.permanent",
        )?,
        opens_unique: legacy_count(opened, "unique", site, "opened")?,
        opens_machine: None,
        clicks_unique: legacy_count(clicked, "unique", site, "clicked")?,
        complaints: legacy_count(complained, "total", site, "complained")?,
        unsubscribes: legacy_count(unsubscribed, "total", site, "unsubscribed")?,
        delivered_derived: false,
        reported: None,
    })
}

// ---------------------------------------------------------------------------
// The source: what a poll asks Mailgun for, and how.

/// Mailgun as a [`crate::esp::source::Source`]: its requests, paging and
/// discovery, built on the parsers above.
pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use chrono::{DateTime, Utc};
    use reqwest::header::HeaderMap;
    use reqwest::RequestBuilder;

    use crate::delivery::{BucketWidth, Sample, StreamKey};
    use crate::esp::client::rejected_locally;
    use crate::esp::client::{Body, FetchError, Plan, Session, Window};
    use crate::esp::mailgun;
    use crate::esp::source::{accept_json, Source, SourceFuture};
    use reqwest::Method;
    use serde_json::{json, Value};

    /// Mailgun: basic auth as `api`, and a wait read from its 429 message.
    /// `legacy` is its deprecated v3 stats API, with the same credentials.
    pub(crate) struct Mailgun {
        pub(crate) legacy: bool,
    }

    impl Source for Mailgun {
        fn name(&self) -> &'static str {
            "Mailgun"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["tag"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            match region {
                "us" => Some("https://api.mailgun.net"),
                "eu" => Some("https://api.eu.mailgun.net"),
                _ => None,
            }
            .map(str::to_owned)
        }

        // An hourly API that catches up within minutes.
        fn settle_minutes(&self) -> u64 {
            20
        }

        // Stats are kept per sending domain.
        fn needs_domain(&self) -> bool {
            true
        }

        // `curl --user 'api:YOUR_API_KEY'`; reqwest marks it sensitive.
        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request).basic_auth("api", Some(credential)))
        }

        fn rate_limit_wait(
            &self,
            _headers: &HeaderMap,
            body: &[u8],
            _now: DateTime<Utc>,
        ) -> Option<std::time::Duration> {
            mailgun::rate_limit_wait_from_message(body)
        }

        fn fetch<'a>(
            &'a self,
            session: &'a Session<'_>,
            plan: &'a Plan,
            window: Window,
        ) -> SourceFuture<'a> {
            if self.legacy {
                Box::pin(fetch_legacy(session, plan, window))
            } else {
                Box::pin(fetch(session, plan, window))
            }
        }

        // "500 requests every 10 seconds" for the Metrics API.
        fn concurrency(&self) -> usize {
            10
        }
    }

    /// Mailgun Metrics page sizes: the documented maxima for the `time`
    /// dimension alone (1500) and with another dimension (1000).
    pub(crate) const MAILGUN_TIME_LIMIT: u64 = 1500;
    pub(crate) const MAILGUN_DIMENSION_LIMIT: u64 = 1000;
    /// The Metrics API metrics the Mailgun parser maps (reference §3.5).
    pub(crate) const MAILGUN_METRICS: [&str; 14] = [
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

    /// Mailgun's `resolution`: `hour`, `day` or `month` (no weeks).
    pub(crate) fn mailgun_resolution(requested: BucketWidth) -> &'static str {
        match requested {
            BucketWidth::Hour => "hour",
            BucketWidth::Day | BucketWidth::Week => "day",
            BucketWidth::Month => "month",
        }
    }

    /// One Mailgun Metrics query: its extra dimension, filters and the stream
    /// items without that dimension belong to.
    struct MailgunQuery {
        dimensions: Vec<&'static str>,
        filters: Vec<Value>,
        scope: StreamKey,
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        // The Metrics API is account-level; an account configured with a domain
        // is narrowed to it, as Mailgun's own SDK does.
        let domain_filter = session
            .account
            .domain
            .as_deref()
            .map(|domain| mailgun_filter("domain", domain));
        let base_filters: Vec<Value> = domain_filter.into_iter().collect();
        let mut queries = Vec::new();
        if plan.account_wide {
            queries.push(MailgunQuery {
                dimensions: vec!["time"],
                filters: base_filters.clone(),
                scope: StreamKey::account(),
            });
        }
        for name in plan.names() {
            let mut filters = base_filters.clone();
            filters.push(mailgun_filter("tag", name));
            queries.push(MailgunQuery {
                dimensions: vec!["time"],
                filters,
                scope: StreamKey::tag(name),
            });
        }
        if plan.discover {
            queries.push(MailgunQuery {
                dimensions: vec!["time", "tag"],
                filters: base_filters.clone(),
                scope: StreamKey::account(),
            });
        }

        // Each query pages on its own; the queries are independent.
        let pending: Vec<_> = queries
            .iter()
            .map(|query| fetch_query(session, query, window))
            .collect();
        let pages = session.together(pending).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// The events the legacy stats API must be asked for (it requires at
    /// least one `event`; these are every one the parser maps).
    pub(crate) const MAILGUN_LEGACY_EVENTS: [&str; 7] = [
        "accepted",
        "delivered",
        "failed",
        "opened",
        "clicked",
        "unsubscribed",
        "complained",
    ];

    /// Mailgun's deprecated v3 stats API: `GET /v3/{domain}/stats/total` for the
    /// domain, `GET /v3/{domain}/tag/stats?tag=` per named tag. It has no tag
    /// listing that fits a stats poll, so "all" streams means the domain total
    /// here (logged). Times are sent as Unix seconds, which the API accepts.
    async fn fetch_legacy(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let Some(domain) = session.account.domain.clone() else {
            return Err(rejected_locally(
                session.account,
                "Mailgun accounts need the sending domain",
            ));
        };
        let mut query: Vec<(&str, String)> = MAILGUN_LEGACY_EVENTS
            .iter()
            .map(|e| ("event", (*e).to_string()))
            .collect();
        query.push(("start", window.start.timestamp().to_string()));
        query.push(("end", window.end.timestamp().to_string()));
        query.push((
            "resolution",
            mailgun_resolution(session.account.bucket).to_string(),
        ));
        let mut samples = Vec::new();
        if plan.account_wide || plan.discover {
            if plan.discover {
                tracing::debug!(account = %session.account.name, "the legacy Mailgun API lists no tags for stats; polling the domain total");
            }
            let path = format!("/v3/{domain}/stats/total");
            let body = session
                .get_at(mailgun::LEGACY_STATS_TOTAL, &path, &query)
                .await?;
            samples.extend(session.payload(mailgun::parse_legacy_stats_total(
                &body,
                &StreamKey::account(),
            ))?);
        }
        for name in plan.names() {
            let mut tagged = query.clone();
            tagged.push(("tag", name.to_string()));
            let path = format!("/v3/{domain}/tag/stats");
            let body = session
                .get_at(mailgun::LEGACY_TAG_STATS, &path, &tagged)
                .await?;
            let stream = StreamKey::tag(name);
            let parsed = session.payload(mailgun::parse_legacy_tag_stats(&body))?;
            samples.extend(parsed.into_iter().map(|mut s| {
                s.stream = stream.clone();
                s
            }));
        }
        Ok(samples)
    }

    async fn fetch_query(
        session: &Session<'_>,
        query: &MailgunQuery,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let limit = if query.dimensions.len() > 1 {
            MAILGUN_DIMENSION_LIMIT
        } else {
            MAILGUN_TIME_LIMIT
        };
        let mut samples = Vec::new();
        let mut skip: u64 = 0;
        for page in 0.. {
            session.check_page(mailgun::METRICS, page)?;
            let mut body = json!({
                "start": rfc2822(window.start),
                "end": rfc2822(window.end),
                "resolution": mailgun_resolution(session.account.bucket),
                "dimensions": query.dimensions,
                "metrics": MAILGUN_METRICS,
                "include_aggregates": false,
                "pagination": {"sort": "time:asc", "skip": skip, "limit": limit},
            });
            if !query.filters.is_empty() {
                body["filter"] = json!({ "AND": query.filters });
            }
            let response = session
                .send(
                    mailgun::METRICS,
                    Method::POST,
                    "/v1/analytics/metrics",
                    &[],
                    Body::Json(&body),
                )
                .await?;
            let page_samples = session.payload(mailgun::parse_metrics(&response, &query.scope))?;
            let returned = u64::try_from(page_samples.len()).unwrap_or(u64::MAX);
            samples.extend(page_samples);
            match session.payload(mailgun::next_metrics_skip(&response))? {
                // Never go backwards, whatever `pagination.skip` the body echoed.
                Some(next) => skip = next.max(skip.saturating_add(returned)),
                None => break,
            }
        }
        Ok(samples)
    }

    /// `{"attribute": …, "comparator": "=", "values": [{"label": v, "value": v}]}`.
    pub(crate) fn mailgun_filter(attribute: &str, value: &str) -> Value {
        json!({
            "attribute": attribute,
            "comparator": "=",
            "values": [{"label": value, "value": value}],
        })
    }

    /// RFC 2822 with a two-digit day and a numeric zone, as in Mailgun's
    /// examples: `Mon, 04 Mar 2024 00:00:00 +0000`.
    pub(crate) fn rfc2822(time: DateTime<Utc>) -> String {
        time.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const METRICS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/mailgun/analytics_metrics.json");
    const STATS_TOTAL_AS_PUBLISHED: &str =
        include_str!("../../tests/fixtures/esp/mailgun/stats_total.docs-verbatim.jsonc");
    const STATS_TOTAL_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/mailgun/stats_total.json");
    const TAG_STATS_SAMPLE: &str = include_str!("../../tests/fixtures/esp/mailgun/tag_stats.json");
    const RATE_LIMITED_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/mailgun/rate_limited_429.json");

    fn utc_bucket(year: i32, month: u32, day: u32, width: BucketWidth) -> Bucket {
        Bucket {
            start: Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap(),
            width,
            provider_tz: "UTC".to_owned(),
        }
    }

    #[test]
    fn the_documented_metrics_sample_normalises() {
        let samples = parse_metrics(METRICS_SAMPLE.as_bytes(), &StreamKey::account())
            .expect("documented sample parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::account(),
                bucket: utc_bucket(2023, 11, 1, BucketWidth::Month),
                counts: Counts {
                    requested: Some(30), // accepted_outgoing_count
                    delivered: Some(60), // delivered_count
                    // opened_count, clicked_count are totals, not unique;
                    // clicked_rate is never read; nothing else was asked for.
                    ..Counts::default()
                },
            }]
        );
    }

    #[test]
    fn metrics_with_strings_tags_and_every_mapped_field() {
        let body = br#"{"resolution":"day","pagination":{"skip":0,"limit":10,"total":1},"items":[{
            "dimensions":[{"dimension":"time","value":"Mon, 04 Mar 2024 00:00:00 +0000","display_value":"x"},
                          {"dimension":"tag","value":"welcome","display_value":"welcome"}],
            "metrics":{"accepted_outgoing_count":"1000","sent_count":950,"delivered_count":"900",
              "hard_bounces_count":20,"soft_bounces_count":"10","temporary_failed_esp_block_count":3,
              "permanent_failed_esp_block_count":"4","temporary_failed_count":70,
              "suppressed_bounces_count":5,"suppressed_unsubscribed_count":6,"suppressed_complaints_count":7,
              "unique_opened_count":400,"unique_clicked_count":"80","complained_count":1,
              "unsubscribed_count":2,"delivered_rate":"94.7368","complained_rate":"0.1111"}}]}"#;
        let samples = parse_metrics(body, &StreamKey::account()).expect("parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::tag("welcome"),
                bucket: utc_bucket(2024, 3, 4, BucketWidth::Day),
                counts: Counts {
                    requested: Some(1000),
                    sent: Some(950),
                    delivered: Some(900),
                    bounce_hard: Some(20),
                    // Mailgun's soft bounces include the blocks: 10 − 4.
                    bounce_soft: Some(6),
                    // Permanent ESP blocks only; the 3 temporary ones are
                    // retried and counted in deferred.
                    blocked: Some(4),
                    deferred: Some(70),
                    dropped: Some(18), // 5 + 6 + 7
                    opens_unique: Some(400),
                    opens_machine: None,
                    clicks_unique: Some(80),
                    complaints: Some(1),
                    unsubscribes: Some(2),
                    delivered_derived: false,
                    reported: None,
                },
            }]
        );
    }

    #[test]
    fn half_a_sum_stays_unknown() {
        let body = br#"{"resolution":"hour","items":[{"dimensions":[{"dimension":"time","value":"Mon, 04 Mar 2024 13:00:00 +0000"}],
            "metrics":{"temporary_failed_esp_block_count":3,"suppressed_bounces_count":5}}]}"#;
        let samples = parse_metrics(body, &StreamKey::tag("filtered")).expect("parses");
        assert_eq!(samples[0].stream, StreamKey::tag("filtered"));
        assert_eq!(
            samples[0].bucket.start,
            Utc.with_ymd_and_hms(2024, 3, 4, 13, 0, 0).unwrap()
        );
        assert_eq!(samples[0].counts.blocked, None);
        assert_eq!(samples[0].counts.dropped, None);
        assert_eq!(samples[0].counts.bounce_soft, None);
    }

    #[test]
    fn soft_bounces_are_net_of_blocks_and_never_negative() {
        let body = br#"{"resolution":"hour","items":[{"dimensions":[{"dimension":"time","value":"Mon, 04 Mar 2024 13:00:00 +0000"}],
            "metrics":{"soft_bounces_count":3,"permanent_failed_esp_block_count":5}}]}"#;
        let samples = parse_metrics(body, &StreamKey::account()).expect("parses");
        assert_eq!(samples[0].counts.bounce_soft, Some(0));
        assert_eq!(samples[0].counts.blocked, Some(5));
        let body = br#"{"resolution":"hour","items":[{"dimensions":[{"dimension":"time","value":"Mon, 04 Mar 2024 13:00:00 +0000"}],
            "metrics":{"soft_bounces_count":3}}]}"#;
        let samples = parse_metrics(body, &StreamKey::account()).expect("parses");
        assert_eq!(
            samples[0].counts.bounce_soft, None,
            "blocks unknown, so soft unknown"
        );
    }

    #[test]
    fn the_legacy_sample_is_not_json_as_published() {
        let error = parse_legacy_stats_total(
            STATS_TOTAL_AS_PUBLISHED.as_bytes(),
            &StreamKey::new("domain:example.com"),
        )
        .unwrap_err();
        assert_eq!(error.endpoint, LEGACY_STATS_TOTAL);
        assert!(error.problem.starts_with("not valid JSON"), "{error}");
    }

    #[test]
    fn the_documented_legacy_stats_sample_normalises() {
        let stream = StreamKey::new("domain:example.com");
        let samples =
            parse_legacy_stats_total(STATS_TOTAL_SAMPLE.as_bytes(), &stream).expect("parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream,
                bucket: utc_bucket(2012, 2, 14, BucketWidth::Month),
                counts: Counts {
                    requested: Some(10),  // accepted.outgoing
                    sent: Some(24),       // delivered.total 20 + failed.permanent.bounce 4
                    delivered: Some(20),  // delivered.total
                    bounce_hard: Some(4), // failed.permanent.bounce
                    bounce_soft: None,    // not split in the v3 stats
                    blocked: None,        // failed.temporary.espblock is inside deferred
                    deferred: Some(1),    // failed.temporary.total
                    dropped: Some(6),     // suppress-bounce 1 + -unsubscribe 2 + -complaint 3
                    opens_unique: None,   // `opened` not requested
                    opens_machine: None,
                    clicks_unique: None,
                    complaints: None,
                    unsubscribes: None,
                    delivered_derived: false,
                    reported: None,
                },
            }]
        );
    }

    #[test]
    fn the_documented_tag_stats_sample_normalises() {
        let samples = parse_legacy_tag_stats(TAG_STATS_SAMPLE.as_bytes()).expect("parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::tag("tag1"),
                bucket: utc_bucket(2012, 4, 1, BucketWidth::Month),
                counts: Counts {
                    requested: Some(1),
                    delivered: Some(20),
                    opens_unique: Some(1),
                    clicks_unique: Some(1),
                    // no `failed` group: sent, bounces, blocks, deferrals and
                    // drops are unknown.
                    ..Counts::default()
                },
            }]
        );
    }

    #[test]
    fn malformed_metrics_bodies_name_the_field() {
        let truncated = &METRICS_SAMPLE.as_bytes()[..100];
        let error = parse_metrics(truncated, &StreamKey::account()).unwrap_err();
        assert_eq!(error.endpoint, METRICS);
        assert!(error.problem.starts_with("not valid JSON"));

        let no_time = br#"{"resolution":"day","items":[{"dimensions":[{"dimension":"tag","value":"a"}],"metrics":{}}]}"#;
        let error = parse_metrics(no_time, &StreamKey::account()).unwrap_err();
        assert_eq!(error.item.as_deref(), Some("item 0"));
        assert_eq!(error.field.as_deref(), Some("dimensions"));

        let bad_time = br#"{"resolution":"day","items":[{"dimensions":[{"dimension":"time","value":"2023-11-01"}],"metrics":{}}]}"#;
        let error = parse_metrics(bad_time, &StreamKey::account()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("dimensions[0].value"));

        let negative = br#"{"resolution":"day","items":[{"dimensions":[{"dimension":"time","value":"Wed, 01 Nov 2023 00:00:00 +0000"}],"metrics":{"delivered_count":-5}}]}"#;
        let error = parse_metrics(negative, &StreamKey::account()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Mailgun /v1/analytics/metrics: item 0: field `metrics.delivered_count`: \
             expected a count (whole number ≥ 0, as a number or a string of digits), got -5"
        );

        let rate_as_count = br#"{"resolution":"day","items":[{"dimensions":[{"dimension":"time","value":"Wed, 01 Nov 2023 00:00:00 +0000"}],"metrics":{"sent_count":"0.83"}}]}"#;
        assert!(parse_metrics(rate_as_count, &StreamKey::account()).is_err());

        let week = br#"{"resolution":"week","items":[]}"#;
        let error = parse_metrics(week, &StreamKey::account()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("resolution"));

        let error_body = br#"{"message":"reason for bad request"}"#;
        assert!(parse_metrics(error_body, &StreamKey::account()).is_err());
    }

    #[test]
    fn malformed_legacy_bodies_name_the_field() {
        let no_time = br#"{"resolution":"day","stats":[{"delivered":{"total":1}}]}"#;
        let error = parse_legacy_stats_total(no_time, &StreamKey::account()).unwrap_err();
        assert_eq!(error.item.as_deref(), Some("stats item 0"));
        assert_eq!(error.field.as_deref(), Some("time"));

        let wrong_group = br#"{"resolution":"day","stats":[{"time":"Tue, 14 Feb 2012 00:00:00 UTC","failed":[1]}]}"#;
        let error = parse_legacy_stats_total(wrong_group, &StreamKey::account()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("failed"));

        let negative = br#"{"resolution":"day","stats":[{"time":"Tue, 14 Feb 2012 00:00:00 UTC","failed":{"temporary":{"total":-1}}}]}"#;
        let error = parse_legacy_stats_total(negative, &StreamKey::account()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("failed.temporary.total"));

        let no_tag = br#"{"resolution":"day","stats":[]}"#;
        let error = parse_legacy_tag_stats(no_tag).unwrap_err();
        assert_eq!(error.endpoint, LEGACY_TAG_STATS);
        assert_eq!(error.field.as_deref(), Some("tag"));
    }

    #[test]
    fn no_stats_means_no_samples() {
        let empty = br#"{"resolution":"day","stats":[]}"#;
        assert_eq!(
            parse_legacy_stats_total(empty, &StreamKey::account()),
            Ok(vec![])
        );
        let empty = br#"{"resolution":"day","items":[]}"#;
        assert_eq!(parse_metrics(empty, &StreamKey::account()), Ok(vec![]));
    }

    #[test]
    fn metrics_paging_follows_the_short_page_rule() {
        // The documented sample: 1 item against a limit of 10 is the last page.
        assert_eq!(next_metrics_skip(METRICS_SAMPLE.as_bytes()), Ok(None));
        let full_page = br#"{"pagination":{"skip":0,"limit":2,"total":5},"items":[{},{}]}"#;
        assert_eq!(next_metrics_skip(full_page), Ok(Some(2)));
        let reaches_total = br#"{"pagination":{"skip":3,"limit":2,"total":5},"items":[{},{}]}"#;
        assert_eq!(next_metrics_skip(reaches_total), Ok(None));
        let no_total = br#"{"pagination":{"skip":4,"limit":2},"items":[{},{}]}"#;
        assert_eq!(next_metrics_skip(no_total), Ok(Some(6)));
        let no_pagination = br#"{"items":[]}"#;
        assert!(next_metrics_skip(no_pagination).is_err());
    }

    #[test]
    fn the_429_message_says_how_long_to_wait() {
        assert_eq!(
            rate_limit_wait_from_message(RATE_LIMITED_SAMPLE.as_bytes()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            rate_limit_wait_from_message(b"Try again after 1 second"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            rate_limit_wait_from_message(br#"{"message":"reason for bad request"}"#),
            None
        );
        assert_eq!(rate_limit_wait_from_message(b"try again after lunch"), None);
        assert_eq!(rate_limit_wait_from_message(b"\xff\xfe"), None);
    }
}
