//! SparkPost deliverability metrics: `GET /metrics/deliverability/time-series`
//! and the by-campaign breakdown `GET /metrics/deliverability/campaign`,
//! normalised into [`Sample`]s.
//!
//! SparkPost is the provider that separates prefetched (machine) opens from
//! human ones, which is why `opens_machine` exists in the canonical model.
//! Its time-series `ts` values carry an explicit UTC offset
//! (`"2020-10-04T00:00:00-04:00"` in the documented sample, although `day`
//! precision is documented as always UTC), so the bucket start is converted
//! with the offset the payload states, and `provider_tz` records that offset
//! (`"UTC"` when it is zero).
//!
//! Missing keys are unknown, not zero: SparkPost returns only the metrics the
//! request's `metrics=` parameter named.
//!
//! Mapping (reference §5.4): `count_targeted`→requested (injected +
//! rejected, so that drop rate is rejected over everything submitted),
//! `count_sent`→sent, `count_delivered`, `count_hard_bounce`,
//! `count_soft_bounce`, `count_block_bounce`→blocked, `count_delayed`
//! →deferred, `count_rejected`→dropped, `count_unique_confirmed_opened`
//! →opens_unique, `count_unique_confirmed_opened −
//! count_nonprefetched_unique_confirmed_opened`→opens_machine,
//! `count_unique_clicked`, `count_spam_complaint`→complaints,
//! `count_unsubscribe`→unsubscribes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    expect_array, expect_object, optional_count, parse_json, quote_short, required, required_str,
    CountStyle, Endpoint, PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `GET /metrics/deliverability/time-series`.
pub const TIME_SERIES: Endpoint = Endpoint {
    provider: "SparkPost",
    path: "/metrics/deliverability/time-series",
};

/// `GET /metrics/deliverability/campaign`.
pub const BY_CAMPAIGN: Endpoint = Endpoint {
    provider: "SparkPost",
    path: "/metrics/deliverability/campaign",
};

/// SparkPost documents no rate-limit headers, only "wait 1 to 5 seconds
/// after receiving a 429 response before requesting again", then back off.
/// These are that advice's bounds for the first wait.
pub const RATE_LIMIT_FIRST_WAIT_MIN: Duration = Duration::from_secs(1);
/// See [`RATE_LIMIT_FIRST_WAIT_MIN`].
pub const RATE_LIMIT_FIRST_WAIT_MAX: Duration = Duration::from_secs(5);

/// Parses a time-series response: one sample per result, for `stream` (the
/// response does not echo the request's filters, so the caller names the
/// stream: [`StreamKey::account`], or `campaign:x` for a `campaigns=x`
/// filter). `precision` is the request's `precision`, which the body does not
/// repeat; sub-hour precisions have no [`BucketWidth`].
pub fn parse_time_series(
    body: &[u8],
    stream: &StreamKey,
    precision: BucketWidth,
) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(TIME_SERIES);
    let json = parse_json(TIME_SERIES, body)?;
    let results = results(&json, &site)?;
    let mut samples = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let site = site.item(index);
        let result = expect_object(result, &site, "")?;
        let ts = required_str(result, "ts", &site, "")?;
        let start = DateTime::parse_from_rfc3339(ts).map_err(|_| {
            site.field_error(
                "ts",
                format!(
                    "expected a time like \"2020-10-04T00:00:00-04:00\", got {}",
                    quote_short(ts, 40)
                ),
            )
        })?;
        let offset = *start.offset();
        let provider_tz = if offset.local_minus_utc() == 0 {
            "UTC".to_owned()
        } else {
            offset.to_string()
        };
        samples.push(Sample {
            stream: stream.clone(),
            bucket: Bucket {
                start: start.with_timezone(&Utc),
                width: precision,
                provider_tz,
            },
            counts: counts(result, &site)?,
        });
    }
    Ok(samples)
}

/// Parses a by-campaign response: one sample per campaign, stream
/// `campaign:<campaign_id>`. Group-by results carry no time, so `window` is
/// the bucket the request's `from`/`to` (and `timezone`) described.
pub fn parse_by_campaign(body: &[u8], window: &Bucket) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(BY_CAMPAIGN);
    let json = parse_json(BY_CAMPAIGN, body)?;
    let results = results(&json, &site)?;
    let mut samples = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let site = site.item(index);
        let result = expect_object(result, &site, "")?;
        let campaign = required_str(result, "campaign_id", &site, "")?;
        samples.push(Sample {
            stream: StreamKey::campaign(campaign),
            bucket: window.clone(),
            counts: counts(result, &site)?,
        });
    }
    Ok(samples)
}

/// The body's `results` list.
fn results<'a>(json: &'a Value, site: &Site) -> Result<&'a Vec<Value>, PayloadError> {
    let top = expect_object(json, site, "")?;
    expect_array(required(top, "results", site, "")?, site, "results")
}

fn counts(result: &Map<String, Value>, site: &Site) -> Result<Counts, PayloadError> {
    let count = |key: &str| optional_count(result, key, CountStyle::Number, site, "");
    let opens_unique = count("count_unique_confirmed_opened")?;
    let opens_human = count("count_nonprefetched_unique_confirmed_opened")?;
    let opens_machine = match (opens_unique, opens_human) {
        (Some(all), Some(human)) => Some(all.checked_sub(human).ok_or_else(|| {
            site.field_error(
                "count_nonprefetched_unique_confirmed_opened",
                format!("{human} is more than count_unique_confirmed_opened ({all})"),
            )
        })?),
        _ => None,
    };
    Ok(Counts {
        requested: count("count_targeted")?,
        sent: count("count_sent")?,
        delivered: count("count_delivered")?,
        bounce_hard: count("count_hard_bounce")?,
        bounce_soft: count("count_soft_bounce")?,
        blocked: count("count_block_bounce")?,
        deferred: count("count_delayed")?,
        dropped: count("count_rejected")?,
        opens_unique,
        opens_machine,
        clicks_unique: count("count_unique_clicked")?,
        complaints: count("count_spam_complaint")?,
        unsubscribes: count("count_unsubscribe")?,
        delivered_derived: false,
        reported: None,
    })
}

// ---------------------------------------------------------------------------
// The source: what a poll asks SparkPost for, and how.

/// SparkPost as a [`crate::esp::source::Source`]: its requests, paging and
/// discovery, built on the parsers above.
pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use chrono::{DateTime, Utc};
    use reqwest::RequestBuilder;

    use crate::delivery::{Bucket, BucketWidth, Sample, StreamKey};
    use crate::esp::client::{FetchError, Plan, Session, Window};
    use crate::esp::source::{accept_json, sensitive, Source, SourceFuture};
    use crate::esp::sparkpost;
    use chrono::Timelike;

    /// SparkPost: the raw key as `Authorization`, under `/api/v1`. It says
    /// "wait 1 to 5 seconds" on a 429 without a header
    /// (`sparkpost::RATE_LIMIT_*`), so no wait of its own is read.
    pub(crate) struct SparkPost;

    impl Source for SparkPost {
        fn name(&self) -> &'static str {
            "SparkPost"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["campaign"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            match region {
                "us" => Some("https://api.sparkpost.com"),
                "eu" => Some("https://api.eu.sparkpost.com"),
                _ => None,
            }
            .map(str::to_owned)
        }

        // An hourly API that catches up within minutes.
        fn settle_minutes(&self) -> u64 {
            20
        }

        // The raw key, no scheme.
        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request).header(
                reqwest::header::AUTHORIZATION,
                sensitive(credential.to_owned())?,
            ))
        }

        fn path_prefix(&self) -> &'static str {
            SPARKPOST_API_PREFIX
        }

        // Its limits are "dynamic", with 429s to back off from: a few at
        // a time.
        fn concurrency(&self) -> usize {
            8
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

    /// The SparkPost metrics the SparkPost parser maps (reference §5.4).
    pub(crate) const SPARKPOST_METRICS: &str = "count_targeted,count_sent,count_delivered,count_hard_bounce,\
    count_soft_bounce,count_block_bounce,count_delayed,count_rejected,count_unique_confirmed_opened,\
    count_nonprefetched_unique_confirmed_opened,count_unique_clicked,count_spam_complaint,\
    count_unsubscribe";
    /// SparkPost group-by `limit` maximum; the group-by endpoints document no
    /// offset, so this is the most campaigns discovery can see.
    pub(crate) const SPARKPOST_GROUP_LIMIT: usize = 10_000;
    /// SparkPost allows `precision=hour` for windows of at most 31 days.
    pub(crate) const SPARKPOST_HOUR_PRECISION_MAX: chrono::Duration = chrono::Duration::days(31);
    /// SparkPost's documented API prefix, appended to the account's base URL.
    pub(crate) const SPARKPOST_API_PREFIX: &str = "/api/v1";

    /// SparkPost's `precision`. Hours are allowed for windows up to 31 days;
    /// longer windows fall back to days.
    pub(crate) fn sparkpost_precision(
        requested: BucketWidth,
        window: Window,
    ) -> (BucketWidth, &'static str) {
        match requested {
            BucketWidth::Hour if window.end - window.start <= SPARKPOST_HOUR_PRECISION_MAX => {
                (BucketWidth::Hour, "hour")
            }
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
        let (width, precision) = sparkpost_precision(session.account.bucket, window);
        // `from`/`to` are minutes (`YYYY-MM-DDTHH:MM`), in the `timezone` given.
        let range = [
            ("from", sparkpost_minute(window.start, false)),
            ("to", sparkpost_minute(window.end, true)),
            ("timezone", "UTC".to_owned()),
        ];
        let mut streams: Vec<(Option<String>, StreamKey)> = Vec::new();
        if plan.account_wide {
            streams.push((None, StreamKey::account()));
        }
        for name in plan.names() {
            streams.push((Some(name.to_owned()), StreamKey::campaign(name)));
        }
        if plan.discover {
            for name in discover_sparkpost_campaigns(session, window, &range).await? {
                let key = StreamKey::campaign(&name);
                if !streams.iter().any(|(_, known)| *known == key) {
                    streams.push((Some(name), key));
                }
            }
        }

        // One independent time series per stream, all asked together.
        let requests = streams
            .iter()
            .map(|(campaign, _)| {
                let mut query = range.to_vec();
                query.push(("metrics", SPARKPOST_METRICS.to_owned()));
                query.push(("precision", precision.to_owned()));
                if let Some(campaign) = campaign {
                    query.extend(sparkpost_list_filter("campaigns", campaign));
                }
                (sparkpost::TIME_SERIES, query)
            })
            .collect();
        let bodies = session.get_all(requests).await?;
        let mut samples = Vec::new();
        for ((_, stream), body) in streams.iter().zip(&bodies) {
            samples.extend(session.payload(sparkpost::parse_time_series(body, stream, width))?);
        }
        Ok(samples)
    }

    /// Campaign ids with traffic in the window, from the by-campaign group-by.
    /// Only the ids are used: group-by results are window totals, not buckets.
    async fn discover_sparkpost_campaigns(
        session: &Session<'_>,
        window: Window,
        range: &[(&'static str, String)],
    ) -> Result<Vec<String>, FetchError> {
        let mut query = range.to_vec();
        query.push(("metrics", "count_targeted".to_owned()));
        query.push(("limit", SPARKPOST_GROUP_LIMIT.to_string()));
        let body = session.get(sparkpost::BY_CAMPAIGN, &query).await?;
        let whole_window = Bucket {
            start: window.start,
            width: BucketWidth::Day,
            provider_tz: "UTC".to_owned(),
        };
        let totals = session.payload(sparkpost::parse_by_campaign(&body, &whole_window))?;
        if totals.len() >= SPARKPOST_GROUP_LIMIT {
            tracing::warn!(
                account = %session.account.name,
                endpoint = %sparkpost::BY_CAMPAIGN,
                limit = SPARKPOST_GROUP_LIMIT,
                "campaign discovery hit SparkPost's group-by limit; some campaigns may be missing"
            );
        }
        let mut names: Vec<String> = Vec::new();
        for sample in totals {
            if let Some(name) = sample.stream.as_str().strip_prefix("campaign:") {
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    /// `campaigns=<id>`, with a `delimiter` when the id contains a comma (the
    /// default list separator).
    pub(crate) fn sparkpost_list_filter(
        parameter: &'static str,
        value: &str,
    ) -> Vec<(&'static str, String)> {
        let mut query = vec![(parameter, value.to_owned())];
        if value.contains(',') {
            if let Some(delimiter) = ["|", ";", "~", "^"]
                .into_iter()
                .find(|candidate| !value.contains(candidate))
            {
                query.push(("delimiter", delimiter.to_owned()));
            }
        }
        query
    }

    /// `YYYY-MM-DDTHH:MM`, rounded down (`from`) or up (`to`) to the minute so
    /// the window is covered.
    pub(crate) fn sparkpost_minute(time: DateTime<Utc>, round_up: bool) -> String {
        let floor = time
            .date_naive()
            .and_hms_opt(time.hour(), time.minute(), 0)
            .map(|minute| minute.and_utc())
            .unwrap_or(time);
        let minute = if round_up && floor < time {
            floor
                .checked_add_signed(chrono::Duration::minutes(1))
                .unwrap_or(floor)
        } else {
            floor
        };
        minute.format("%Y-%m-%dT%H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TIME_SERIES_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/sparkpost/time_series.json");
    const BY_CAMPAIGN_AS_PUBLISHED: &str =
        include_str!("../../tests/fixtures/esp/sparkpost/by_campaign.docs-verbatim.txt");
    const BY_CAMPAIGN_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/sparkpost/by_campaign.json");

    #[test]
    fn the_documented_time_series_sample_normalises() {
        let samples = parse_time_series(
            TIME_SERIES_SAMPLE.as_bytes(),
            &StreamKey::account(),
            BucketWidth::Day,
        )
        .expect("documented sample parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::account(),
                bucket: Bucket {
                    // "2020-10-04T00:00:00-04:00"
                    start: Utc.with_ymd_and_hms(2020, 10, 4, 4, 0, 0).unwrap(),
                    width: BucketWidth::Day,
                    provider_tz: "-04:00".to_owned(),
                },
                counts: Counts {
                    requested: Some(248_998),
                    sent: Some(241_693),
                    delivered: Some(219_916),
                    bounce_hard: Some(4_296),
                    bounce_soft: Some(1_961),
                    blocked: Some(16_789),
                    deferred: Some(61_224),
                    dropped: Some(2_316),
                    opens_unique: Some(81_140),
                    // The sample has no count_nonprefetched_unique_confirmed_opened.
                    opens_machine: None,
                    clicks_unique: Some(9_123),
                    complaints: Some(3),
                    unsubscribes: Some(1),
                    delivered_derived: false,
                    reported: None,
                },
            }]
        );
    }

    #[test]
    fn machine_opens_are_the_prefetched_part() {
        let body =
            br#"{"results":[{"ts":"2024-03-04T00:00:00+00:00","count_unique_confirmed_opened":500,
            "count_nonprefetched_unique_confirmed_opened":120}]}"#;
        let samples = parse_time_series(body, &StreamKey::campaign("spring"), BucketWidth::Hour)
            .expect("parses");
        assert_eq!(samples[0].counts.opens_unique, Some(500));
        assert_eq!(samples[0].counts.opens_machine, Some(380));
        assert_eq!(samples[0].counts.delivered, None);
        assert_eq!(samples[0].bucket.provider_tz, "UTC");
        assert_eq!(samples[0].stream.as_str(), "campaign:spring");

        let impossible =
            br#"{"results":[{"ts":"2024-03-04T00:00:00Z","count_unique_confirmed_opened":1,
            "count_nonprefetched_unique_confirmed_opened":2}]}"#;
        let error =
            parse_time_series(impossible, &StreamKey::account(), BucketWidth::Hour).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some("count_nonprefetched_unique_confirmed_opened")
        );
    }

    #[test]
    fn the_documented_by_campaign_sample_normalises() {
        let window = Bucket {
            start: Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap(),
            width: BucketWidth::Day,
            provider_tz: "UTC".to_owned(),
        };
        let samples =
            parse_by_campaign(BY_CAMPAIGN_SAMPLE.as_bytes(), &window).expect("sample parses");
        assert_eq!(
            samples,
            vec![Sample {
                stream: StreamKey::campaign("campaign-0"),
                bucket: window.clone(),
                counts: Counts {
                    requested: Some(34_432),
                    sent: Some(34_344),
                    dropped: Some(2_343),
                    // count_injected has no canonical field; nothing else
                    // was in the sample.
                    ..Counts::default()
                },
            }]
        );
        // As published, with the reference's `, …` elision, it is not JSON.
        let error = parse_by_campaign(BY_CAMPAIGN_AS_PUBLISHED.as_bytes(), &window).unwrap_err();
        assert!(error.problem.starts_with("not valid JSON"), "{error}");
    }

    #[test]
    fn no_results_means_no_samples() {
        assert_eq!(
            parse_time_series(
                br#"{"results":[]}"#,
                &StreamKey::account(),
                BucketWidth::Day
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn malformed_bodies_name_the_endpoint_item_and_field() {
        let truncated = &TIME_SERIES_SAMPLE.as_bytes()[..200];
        let error =
            parse_time_series(truncated, &StreamKey::account(), BucketWidth::Day).unwrap_err();
        assert_eq!(error.endpoint, TIME_SERIES);
        assert!(error.problem.starts_with("not valid JSON"));

        let no_ts = br#"{"results":[{"ts":"2020-10-04T00:00:00Z"},{"count_sent":1}]}"#;
        let error = parse_time_series(no_ts, &StreamKey::account(), BucketWidth::Day).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SparkPost /metrics/deliverability/time-series: item 1: field `ts`: missing"
        );

        let bad_ts = br#"{"results":[{"ts":"2020-10-04T00:00"}]}"#;
        let error = parse_time_series(bad_ts, &StreamKey::account(), BucketWidth::Day).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("ts"));

        let negative = br#"{"results":[{"ts":"2020-10-04T00:00:00Z","count_sent":-1}]}"#;
        let error =
            parse_time_series(negative, &StreamKey::account(), BucketWidth::Day).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("count_sent"));

        let string_count = br#"{"results":[{"ts":"2020-10-04T00:00:00Z","count_sent":"1"}]}"#;
        assert!(parse_time_series(string_count, &StreamKey::account(), BucketWidth::Day).is_err());

        let window = Bucket {
            start: Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap(),
            width: BucketWidth::Day,
            provider_tz: "UTC".to_owned(),
        };
        let no_campaign = br#"{"results":[{"count_sent":1}]}"#;
        let error = parse_by_campaign(no_campaign, &window).unwrap_err();
        assert_eq!(error.endpoint, BY_CAMPAIGN);
        assert_eq!(error.field.as_deref(), Some("campaign_id"));

        let error_body = br#"{"errors":[{"message":"required field is missing","code":"1400"}]}"#;
        let error = parse_by_campaign(error_body, &window).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("results"));
    }
}
