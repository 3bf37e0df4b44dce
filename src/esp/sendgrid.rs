//! SendGrid v3 statistics: `GET /v3/stats`, `GET /v3/categories/stats` and
//! `GET /v3/categories/stats/sums`, normalised into [`Sample`]s.
//!
//! SendGrid is the provider that reports a category breakdown directly, so
//! this is where per-category streams (`category:<name>`) come from. Two
//! things about it shape this module:
//!
//! - SendGrid does not say which time zone its `YYYY-MM-DD` buckets are in
//!   (its UI uses the account's setting). Buckets are recorded with
//!   `provider_tz` [`PROVIDER_TZ`] (`"unspecified"`) and a `start` that is the
//!   labelled date at 00:00 *read as UTC*: the best available instant, and
//!   flagged as such rather than passed off as a known UTC day.
//! - The published examples list every metric, zeros included, and SendGrid
//!   is not documented to omit zero-valued keys. So a missing metric is
//!   unknown (`None`), not zero.
//!
//! Mapping (reference §2.4): `requests`→requested, `processed`→sent,
//! `delivered`, `bounces`→bounce_hard, `blocks`→blocked, `deferred`,
//! `bounce_drops + spam_report_drops + unsubscribe_drops + invalid_emails`
//! →dropped, `unique_opens`→opens_unique, `unique_clicks`→clicks_unique,
//! `spam_reports`→complaints, `unsubscribes`. SendGrid has no soft-bounce
//! count (blocks are policy rejections, kept in `blocked` and not counted
//! twice), so `bounce_soft` is always `None`.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::{
    expect_array, expect_object, optional_count, parse_json, parse_ymd, path, required,
    required_str, sum_if_all_known, CountStyle, Endpoint, PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `GET /v3/stats`: global stats.
pub const GLOBAL_STATS: Endpoint = Endpoint {
    provider: "SendGrid",
    path: "/v3/stats",
};

/// `GET /v3/categories/stats`: stats per named category, at most 10 a call.
pub const CATEGORY_STATS: Endpoint = Endpoint {
    provider: "SendGrid",
    path: "/v3/categories/stats",
};

/// `GET /v3/categories/stats/sums`: totals for every category, paged.
pub const CATEGORY_SUMS: Endpoint = Endpoint {
    provider: "SendGrid",
    path: "/v3/categories/stats/sums",
};

/// SendGrid does not document the API's bucket time zone.
pub const PROVIDER_TZ: &str = "unspecified";

/// Parses `GET /v3/stats`: one sample per date, for `stream` (normally
/// [`StreamKey::account`]; a subuser's stream when read with
/// `on-behalf-of`). `aggregated_by` is the `aggregated_by` the request used
/// (`Day` when it was left out); the body does not repeat it.
///
/// A date with an empty `stats` list gives no sample.
pub fn parse_global_stats(
    body: &[u8],
    stream: &StreamKey,
    aggregated_by: BucketWidth,
) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(GLOBAL_STATS);
    let json = parse_json(GLOBAL_STATS, body)?;
    let mut samples = Vec::new();
    for (index, day) in expect_array(&json, &site, "")?.iter().enumerate() {
        let site = site.item(index);
        let (bucket, stats) = dated_stats(day, &site, aggregated_by)?;
        if stats.len() > 1 {
            return Err(site.field_error(
                "stats",
                format!(
                    "expected at most one entry for global stats, got {}",
                    stats.len()
                ),
            ));
        }
        for (stat_index, stat) in stats.iter().enumerate() {
            let parent = format!("stats[{stat_index}]");
            let stat = expect_object(stat, &site, &parent)?;
            samples.push(Sample {
                stream: stream.clone(),
                bucket: bucket.clone(),
                counts: metrics_counts(stat, &site, &parent)?,
            });
        }
    }
    Ok(samples)
}

/// Parses `GET /v3/categories/stats`: one sample per date and category,
/// with stream `category:<name>`. `aggregated_by` is as for
/// [`parse_global_stats`].
pub fn parse_category_stats(
    body: &[u8],
    aggregated_by: BucketWidth,
) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(CATEGORY_STATS);
    let json = parse_json(CATEGORY_STATS, body)?;
    let mut samples = Vec::new();
    for (index, day) in expect_array(&json, &site, "")?.iter().enumerate() {
        let site = site.item(index);
        let (bucket, stats) = dated_stats(day, &site, aggregated_by)?;
        samples.extend(named_samples(stats, &bucket, &site)?);
    }
    Ok(samples)
}

/// Parses `GET /v3/categories/stats/sums`: one sample per category, totalled
/// over the request's whole window. The body's `date` (the window's first
/// day) becomes the bucket start; `window` is how long the requested window
/// was, since the body does not say. Use it to find the busiest categories;
/// for time series use [`parse_category_stats`].
pub fn parse_category_sums(body: &[u8], window: BucketWidth) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(CATEGORY_SUMS);
    let json = parse_json(CATEGORY_SUMS, body)?;
    let (bucket, stats) = dated_stats(&json, &site, window)?;
    named_samples(stats, &bucket, &site)
}

/// The bucket a SendGrid date label stands for: that date at 00:00 read as
/// UTC, marked [`PROVIDER_TZ`] because the real zone is not documented.
pub fn date_bucket(date: NaiveDate, width: BucketWidth) -> Bucket {
    Bucket {
        start: date.and_time(chrono::NaiveTime::MIN).and_utc(),
        width,
        provider_tz: PROVIDER_TZ.to_owned(),
    }
}

/// The `offset` for the next page of `/v3/stats` or
/// `/v3/categories/stats/sums`, or `None` when this was the last page.
///
/// The reference documents `limit`/`offset` paging but no "more pages"
/// marker, so a page holding fewer rows than `limit` (dates for `/v3/stats`,
/// categories for the sums) is taken as the last one.
pub fn next_page_offset(offset: u64, limit: u64, rows_returned: usize) -> Option<u64> {
    let rows_returned = u64::try_from(rows_returned).ok()?;
    if limit == 0 || rows_returned < limit {
        None
    } else {
        offset.checked_add(rows_returned)
    }
}

/// How long to wait after a 429, from the `X-RateLimit-Reset` header (a Unix
/// epoch in seconds) and the current time. A reset already in the past means
/// "no wait"; a header that is not an epoch gives `None`, so the caller falls
/// back to its own backoff.
pub fn rate_limit_wait(x_ratelimit_reset: &str, now: DateTime<Utc>) -> Option<Duration> {
    let epoch_seconds: i64 = x_ratelimit_reset.trim().parse().ok()?;
    let reset = DateTime::from_timestamp(epoch_seconds, 0)?;
    Some((reset - now).to_std().unwrap_or(Duration::ZERO))
}

/// `{"date": "YYYY-MM-DD", "stats": [...]}` → the bucket and the stats list.
fn dated_stats<'a>(
    value: &'a Value,
    site: &Site,
    width: BucketWidth,
) -> Result<(Bucket, &'a Vec<Value>), PayloadError> {
    let object = expect_object(value, site, "")?;
    let date = parse_ymd(required_str(object, "date", site, "")?, site, "date")?;
    let stats = expect_array(required(object, "stats", site, "")?, site, "stats")?;
    Ok((date_bucket(date, width), stats))
}

/// Stats entries that carry `type` and `name` → one sample each, with stream
/// `<type>:<name>` (`category:docs`).
fn named_samples(
    stats: &[Value],
    bucket: &Bucket,
    site: &Site,
) -> Result<Vec<Sample>, PayloadError> {
    let mut samples = Vec::with_capacity(stats.len());
    for (stat_index, stat) in stats.iter().enumerate() {
        let parent = format!("stats[{stat_index}]");
        let stat = expect_object(stat, site, &parent)?;
        let kind = required_str(stat, "type", site, &parent)?;
        let name = required_str(stat, "name", site, &parent)?;
        let stream = if kind == "category" {
            StreamKey::category(name)
        } else {
            StreamKey::new(format!("{kind}:{name}"))
        };
        samples.push(Sample {
            stream,
            bucket: bucket.clone(),
            counts: metrics_counts(stat, site, &parent)?,
        });
    }
    Ok(samples)
}

/// A stats entry's `metrics` object → canonical counts.
fn metrics_counts(
    stat: &Map<String, Value>,
    site: &Site,
    parent: &str,
) -> Result<Counts, PayloadError> {
    let metrics_path = path(parent, "metrics");
    let metrics = expect_object(
        required(stat, "metrics", site, parent)?,
        site,
        &metrics_path,
    )?;
    let count = |key: &str| optional_count(metrics, key, CountStyle::Number, site, &metrics_path);
    let dropped = sum_if_all_known(
        &[
            count("bounce_drops")?,
            count("spam_report_drops")?,
            count("unsubscribe_drops")?,
            count("invalid_emails")?,
        ],
        site,
        &metrics_path,
    )?;
    Ok(Counts {
        requested: count("requests")?,
        sent: count("processed")?,
        delivered: count("delivered")?,
        bounce_hard: count("bounces")?,
        bounce_soft: None,
        blocked: count("blocks")?,
        deferred: count("deferred")?,
        dropped,
        opens_unique: count("unique_opens")?,
        opens_machine: None,
        clicks_unique: count("unique_clicks")?,
        complaints: count("spam_reports")?,
        unsubscribes: count("unsubscribes")?,
        delivered_derived: false,
        reported: None,
    })
}

// ---------------------------------------------------------------------------
// The source: what a poll asks SendGrid for, and how.

/// SendGrid as a [`crate::esp::source::Source`]: its requests, paging and
/// discovery, built on the parsers above.
pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use chrono::{DateTime, Utc};
    use reqwest::header::HeaderMap;
    use reqwest::RequestBuilder;

    use crate::delivery::{BucketWidth, Sample, StreamKey};
    use crate::esp::client::{inclusive_dates, ymd, FetchError, Plan, Session, Window};
    use crate::esp::sendgrid;
    use crate::esp::source::{accept_json, sensitive, Source, SourceFuture, NO_STATED_LIMIT};
    use crate::esp::{Endpoint, PayloadError};

    /// SendGrid: a bearer token, and its `X-RateLimit-Reset` time.
    pub(crate) struct SendGrid;

    impl Source for SendGrid {
        fn name(&self) -> &'static str {
            "SendGrid"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["category"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            match region {
                "us" => Some("https://api.sendgrid.com"),
                "eu" => Some("https://api.eu.sendgrid.com"),
                _ => None,
            }
            .map(str::to_owned)
        }

        // A daily API: judged well after midnight.
        fn settle_minutes(&self) -> u64 {
            60
        }

        // "The API key must be sent as a bearer token in the Authorization
        // header."
        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request).header(
                reqwest::header::AUTHORIZATION,
                sensitive(format!("Bearer {credential}"))?,
            ))
        }

        fn rate_limit_wait(
            &self,
            headers: &HeaderMap,
            _body: &[u8],
            now: DateTime<Utc>,
        ) -> Option<std::time::Duration> {
            headers
                .get("x-ratelimit-reset")
                .and_then(|value| value.to_str().ok())
                .and_then(|reset| sendgrid::rate_limit_wait(reset, now))
        }

        // Limits per endpoint, told in headers, none on concurrency.
        fn concurrency(&self) -> usize {
            NO_STATED_LIMIT
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

    /// SendGrid `/v3/stats` page size: the documented default of the stats
    /// endpoints ("By default, 500 items will be returned per request").
    pub(crate) const SENDGRID_STATS_LIMIT: u64 = 500;
    /// SendGrid `/v3/categories/stats/sums` page size. The spec's default is 5
    /// and it documents no maximum; 50 is the `/v3/categories` default.
    pub(crate) const SENDGRID_SUMS_LIMIT: u64 = 50;
    /// `/v3/categories/stats` takes at most 10 categories per request.
    pub(crate) const SENDGRID_CATEGORIES_PER_REQUEST: usize = 10;

    /// SendGrid's `aggregated_by`: `day`, `week` or `month` (no hours).
    pub(crate) fn sendgrid_width(requested: BucketWidth) -> (BucketWidth, &'static str) {
        match requested {
            BucketWidth::Hour | BucketWidth::Day => (BucketWidth::Day, "day"),
            BucketWidth::Week => (BucketWidth::Week, "week"),
            BucketWidth::Month => (BucketWidth::Month, "month"),
        }
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let (width, aggregated_by) = sendgrid_width(session.account.bucket);
        // SendGrid does not document the API's day zone; the parser reads date
        // labels as UTC days, so the window is asked for in UTC days too.
        // `end_date` is inclusive.
        let (first, last) = inclusive_dates(window, 0);
        let dates = [
            ("start_date", ymd(first)),
            ("end_date", ymd(last)),
            ("aggregated_by", aggregated_by.to_owned()),
        ];
        let mut samples = Vec::new();

        if plan.account_wide {
            let mut offset = 0;
            for page in 0.. {
                session.check_page(sendgrid::GLOBAL_STATS, page)?;
                let mut query = dates.to_vec();
                query.push(("limit", SENDGRID_STATS_LIMIT.to_string()));
                query.push(("offset", offset.to_string()));
                let body = session.get(sendgrid::GLOBAL_STATS, &query).await?;
                let parsed = sendgrid::parse_global_stats(&body, &StreamKey::account(), width);
                samples.extend(session.payload(parsed)?);
                let rows = session.payload(array_len(sendgrid::GLOBAL_STATS, &body))?;
                match sendgrid::next_page_offset(offset, SENDGRID_STATS_LIMIT, rows) {
                    Some(next) => offset = next,
                    None => break,
                }
            }
        }

        let mut categories: Vec<String> = plan.names().map(str::to_owned).collect();
        if plan.discover {
            for name in discover_sendgrid_categories(session, &dates[..2]).await? {
                if !categories.contains(&name) {
                    categories.push(name);
                }
            }
        }
        // Batches of categories are independent of each other.
        let requests = categories
            .chunks(SENDGRID_CATEGORIES_PER_REQUEST)
            .map(|batch| {
                let mut query = dates.to_vec();
                query.extend(batch.iter().map(|name| ("categories", name.clone())));
                (sendgrid::CATEGORY_STATS, query)
            })
            .collect();
        for body in session.get_all(requests).await? {
            samples.extend(session.payload(sendgrid::parse_category_stats(&body, width))?);
        }
        Ok(samples)
    }

    /// Every category `/v3/categories/stats/sums` lists for the window, paged to
    /// the end. Only the names are used: the sums are window totals, not
    /// buckets.
    async fn discover_sendgrid_categories(
        session: &Session<'_>,
        dates: &[(&'static str, String)],
    ) -> Result<Vec<String>, FetchError> {
        let mut names = Vec::new();
        let mut offset = 0;
        for page in 0.. {
            session.check_page(sendgrid::CATEGORY_SUMS, page)?;
            let mut query = dates.to_vec();
            query.push(("limit", SENDGRID_SUMS_LIMIT.to_string()));
            query.push(("offset", offset.to_string()));
            let body = session.get(sendgrid::CATEGORY_SUMS, &query).await?;
            // The bucket width is irrelevant here: only stream names are kept.
            let sums = session.payload(sendgrid::parse_category_sums(&body, BucketWidth::Day))?;
            let rows = sums.len();
            for sample in sums {
                if let Some(name) = sample.stream.as_str().strip_prefix("category:") {
                    if !names.iter().any(|known| known == name) {
                        names.push(name.to_owned());
                    }
                }
            }
            match sendgrid::next_page_offset(offset, SENDGRID_SUMS_LIMIT, rows) {
                Some(next) => offset = next,
                None => break,
            }
        }
        Ok(names)
    }

    /// The number of elements of a top-level JSON array (SendGrid's paging
    /// counts dates, and a date without stats yields no sample).
    pub(crate) fn array_len(endpoint: Endpoint, body: &[u8]) -> Result<usize, PayloadError> {
        serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
            .map(|rows| rows.len())
            .map_err(|error| PayloadError {
                endpoint,
                item: None,
                field: None,
                problem: format!("expected an array: {error}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CATEGORY_STATS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/sendgrid/categories_stats.json");
    const GLOBAL_STATS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/sendgrid/global_stats.json");
    const CATEGORY_SUMS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/sendgrid/category_sums.json");

    fn all_zero_except_unsupplied() -> Counts {
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

    #[test]
    fn the_documented_category_stats_sample_normalises() {
        let samples = parse_category_stats(CATEGORY_STATS_SAMPLE.as_bytes(), BucketWidth::Day)
            .expect("documented sample parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::category("docs"),
                bucket: Bucket {
                    start: Utc.with_ymd_and_hms(2015, 10, 1, 0, 0, 0).unwrap(),
                    width: BucketWidth::Day,
                    provider_tz: "unspecified".to_owned(),
                },
                counts: all_zero_except_unsupplied(),
            }]
        );
        // No mail: no rates, not rates of zero.
        assert_eq!(samples[0].counts.rates().delivery, None);
    }

    #[test]
    fn the_global_stats_sample_normalises_to_the_given_stream() {
        let samples = parse_global_stats(
            GLOBAL_STATS_SAMPLE.as_bytes(),
            &StreamKey::account(),
            BucketWidth::Day,
        )
        .expect("sample parses");
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].stream, StreamKey::account());
        assert_eq!(
            samples[0].bucket.start,
            Utc.with_ymd_and_hms(2015, 11, 3, 0, 0, 0).unwrap()
        );
        assert_eq!(samples[0].counts, all_zero_except_unsupplied());
    }

    #[test]
    fn the_category_sums_sample_keeps_unlisted_metrics_unknown() {
        let samples = parse_category_sums(CATEGORY_SUMS_SAMPLE.as_bytes(), BucketWidth::Month)
            .expect("sample parses");
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].stream.as_str(), "category:cat1");
        assert_eq!(
            samples[0].bucket.start,
            Utc.with_ymd_and_hms(2015, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(samples[0].bucket.width, BucketWidth::Month);
        assert_eq!(
            samples[0].counts,
            Counts {
                requested: Some(20),
                delivered: Some(20),
                unsubscribes: Some(20),
                ..Counts::default()
            }
        );
    }

    #[test]
    fn nonzero_metrics_map_onto_the_canonical_fields() {
        let body = br#"[{"date":"2024-03-05","stats":[{"type":"category","name":"welcome","metrics":{
            "blocks":7,"bounce_drops":2,"bounces":11,"clicks":90,"deferred":40,"delivered":880,
            "invalid_emails":1,"opens":600,"processed":950,"requests":1000,"spam_report_drops":3,
            "spam_reports":4,"unique_clicks":50,"unique_opens":300,"unsubscribe_drops":5,"unsubscribes":6}}]}]"#;
        let samples = parse_category_stats(body, BucketWidth::Day).expect("parses");
        assert_eq!(
            samples[0].counts,
            Counts {
                requested: Some(1000),
                sent: Some(950),
                delivered: Some(880),
                bounce_hard: Some(11),
                bounce_soft: None,
                blocked: Some(7),
                deferred: Some(40),
                dropped: Some(11), // 2 + 3 + 5 + 1
                opens_unique: Some(300),
                opens_machine: None,
                clicks_unique: Some(50),
                complaints: Some(4),
                unsubscribes: Some(6),
                delivered_derived: false,
                reported: None,
            }
        );
    }

    #[test]
    fn a_date_without_stats_gives_no_sample() {
        let body = br#"[{"date":"2024-03-05","stats":[]},
            {"date":"2024-03-06","stats":[{"type":"category","name":"a","metrics":{"delivered":3}}]}]"#;
        let samples = parse_category_stats(body, BucketWidth::Day).expect("parses");
        assert_eq!(samples.len(), 1);
        assert_eq!(
            samples[0].bucket.start,
            Utc.with_ymd_and_hms(2024, 3, 6, 0, 0, 0).unwrap()
        );
        assert_eq!(samples[0].counts.delivered, Some(3));
        assert_eq!(samples[0].counts.dropped, None, "drop parts are unknown");
    }

    #[test]
    fn malformed_bodies_name_the_endpoint_item_and_field() {
        let truncated = &CATEGORY_STATS_SAMPLE.as_bytes()[..60];
        let error = parse_category_stats(truncated, BucketWidth::Day).unwrap_err();
        assert_eq!(error.endpoint, CATEGORY_STATS);
        assert!(error.problem.starts_with("not valid JSON"), "{error}");

        let bad_date = br#"[{"date":"2015-10-01","stats":[]},{"date":"2015/10/02","stats":[]}]"#;
        let error = parse_category_stats(bad_date, BucketWidth::Day).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SendGrid /v3/categories/stats: item 1: field `date`: expected YYYY-MM-DD, got \"2015/10/02\""
        );

        let no_date = br#"[{"stats":[]}]"#;
        let error = parse_category_stats(no_date, BucketWidth::Day).unwrap_err();
        assert_eq!(error.item.as_deref(), Some("item 0"));
        assert_eq!(error.field.as_deref(), Some("date"));

        let negative = br#"[{"date":"2015-10-01","stats":[{"type":"category","name":"a","metrics":{"bounces":-1}}]}]"#;
        let error = parse_category_stats(negative, BucketWidth::Day).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("stats[0].metrics.bounces"));

        let wrong_type = br#"[{"date":"2015-10-01","stats":[{"type":"category","name":"a","metrics":{"bounces":"1"}}]}]"#;
        assert!(parse_category_stats(wrong_type, BucketWidth::Day).is_err());

        let not_a_list = br#"{"date":"2015-10-01","stats":[]}"#;
        let error =
            parse_global_stats(not_a_list, &StreamKey::account(), BucketWidth::Day).unwrap_err();
        assert_eq!(error.endpoint, GLOBAL_STATS);
        assert!(error.problem.contains("expected an array"), "{error}");

        let sums_as_list = br#"[{"date":"2015-01-01","stats":[]}]"#;
        assert!(parse_category_sums(sums_as_list, BucketWidth::Month).is_err());
    }

    #[test]
    fn the_documented_error_body_is_a_payload_error_not_a_panic() {
        let too_many_requests = br#"{"errors":[{"field":null,"message":"too many requests"}]}"#;
        assert!(parse_category_stats(too_many_requests, BucketWidth::Day).is_err());
    }

    #[test]
    fn paging_stops_on_a_short_page() {
        assert_eq!(next_page_offset(0, 5, 5), Some(5));
        assert_eq!(next_page_offset(5, 5, 3), None);
        assert_eq!(next_page_offset(10, 5, 0), None);
        assert_eq!(next_page_offset(0, 0, 0), None);
    }

    #[test]
    fn the_reset_header_becomes_a_wait() {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let now_epoch = now.timestamp();
        assert_eq!(
            rate_limit_wait(&(now_epoch + 42).to_string(), now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            rate_limit_wait(&format!(" {} ", now_epoch - 10), now),
            Some(Duration::ZERO)
        );
        assert_eq!(rate_limit_wait("soon", now), None);
        assert_eq!(rate_limit_wait("", now), None);
    }
}
