//! Brevo (formerly Sendinblue): transactional email statistics, per day and
//! per tag (reference §9).
//!
//! - `GET /v3/smtp/statistics/reports` answers `{"reports":[{"date":
//!   "YYYY-MM-DD", "requests", "delivered", "hardBounces", …}]}`, one row per
//!   day, for the account or for one `tag`. A range spans at most 30 days;
//!   rows come `limit` at a time (default 10) from `offset`.
//! - Brevo does not say which zone its days are in. Buckets are the
//!   labelled date at 00:00 read as UTC and marked `provider_tz`
//!   `"unspecified"`, as for SendGrid.
//! - Brevo is not documented to omit zero-valued keys, so a missing count is
//!   unknown (`None`), not zero.
//! - Over its budget Brevo answers 429 with `x-sib-ratelimit-reset`, the
//!   seconds until the limit resets.
//!
//! Mapping (§9.4): `requests`→requested and sent (Brevo counts no separate
//! attempts), `delivered`, `hardBounces`→bounce_hard,
//! `softBounces`→bounce_soft, `blocked` (blocked contacts), `invalid`→dropped,
//! `uniqueOpens`→opens_unique, `uniqueClicks`→clicks_unique,
//! `spamReports`→complaints, `unsubscribed`→unsubscribes. Brevo reports no
//! deferrals in these statistics, so `deferred` stays `None`.

use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::HeaderMap;

use super::{
    expect_array, expect_object, optional_count, parse_json, parse_ymd, required_str, CountStyle,
    Endpoint, PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `GET /v3/smtp/statistics/reports`: daily transactional statistics.
pub const REPORTS: Endpoint = Endpoint {
    provider: "Brevo",
    path: "/v3/smtp/statistics/reports",
};

/// Brevo does not document the zone of its days.
pub const PROVIDER_TZ: &str = "unspecified";

/// The longest range one reports request may span, in days.
pub const MAX_RANGE_DAYS: i64 = 30;

/// Rows per page: Brevo's documented default, so a shorter page is the last.
pub const PAGE_ROWS: usize = 10;

/// The bucket a Brevo date stands for: that date at 00:00 read as UTC.
pub fn day_bucket(date: NaiveDate) -> Bucket {
    Bucket {
        start: date.and_time(chrono::NaiveTime::MIN).and_utc(),
        width: BucketWidth::Day,
        provider_tz: PROVIDER_TZ.to_owned(),
    }
}

/// Parses a reports page: one sample per row, for `stream`. Returns the
/// samples and how many rows the page held (for paging).
pub fn parse_reports(
    body: &[u8],
    stream: &StreamKey,
) -> Result<(Vec<Sample>, usize), PayloadError> {
    let site = Site::top(REPORTS);
    let json = parse_json(REPORTS, body)?;
    let top = expect_object(&json, &site, "")?;
    // An account that sent nothing may get no `reports` key at all.
    let Some(reports) = super::present(top, "reports") else {
        return Ok((Vec::new(), 0));
    };
    let rows = expect_array(reports, &site, "reports")?;
    let mut samples = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let site = site.labelled(format!("reports item {index}"));
        let row = expect_object(row, &site, "")?;
        let date = parse_ymd(required_str(row, "date", &site, "")?, &site, "date")?;
        let count = |key: &str| optional_count(row, key, CountStyle::Number, &site, "");
        let requests = count("requests")?;
        samples.push(Sample {
            stream: stream.clone(),
            bucket: day_bucket(date),
            counts: Counts {
                requested: requests,
                sent: requests,
                delivered: count("delivered")?,
                bounce_hard: count("hardBounces")?,
                bounce_soft: count("softBounces")?,
                blocked: count("blocked")?,
                dropped: count("invalid")?,
                opens_unique: count("uniqueOpens")?,
                clicks_unique: count("uniqueClicks")?,
                complaints: count("spamReports")?,
                unsubscribes: count("unsubscribed")?,
                ..Counts::default()
            },
        });
    }
    Ok((samples, rows.len()))
}

/// The wait `x-sib-ratelimit-reset` asks for: whole (or fractional) seconds.
pub fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = headers.get("x-sib-ratelimit-reset")?.to_str().ok()?.trim();
    let seconds: f64 = reset.parse().ok()?;
    // `try_`: a header of 1e30 seconds must not panic.
    Duration::try_from_secs_f64(seconds.ceil()).ok()
}

pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use chrono::{DateTime, Days, NaiveDate, Utc};
    use reqwest::header::HeaderMap;
    use reqwest::RequestBuilder;

    use crate::delivery::{Sample, StreamKey};
    use crate::esp::brevo;
    use crate::esp::client::{inclusive_dates, ymd, FetchError, Plan, Session, Window};
    use crate::esp::source::{accept_json, sensitive, Source, SourceFuture, NO_STATED_LIMIT};

    /// Brevo: the `api-key` header; 429 with `x-sib-ratelimit-reset`.
    pub(crate) struct Brevo;

    impl Source for Brevo {
        fn name(&self) -> &'static str {
            "Brevo"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["tag"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            (region == "us").then(|| "https://api.brevo.com".to_owned())
        }

        // A daily API in an undocumented zone: judged well after midnight.
        fn settle_minutes(&self) -> u64 {
            60
        }

        // Brevo documents no way to list the tags an account used.
        fn lists_streams(&self) -> bool {
            false
        }

        // Brevo budgets requests by the hour (about 100 for statistics),
        // not by how many are open at once. One per tag and range.
        fn concurrency(&self) -> usize {
            NO_STATED_LIMIT
        }

        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request).header("api-key", sensitive(credential.to_owned())?))
        }

        fn rate_limit_wait(
            &self,
            headers: &HeaderMap,
            _body: &[u8],
            _now: DateTime<Utc>,
        ) -> Option<std::time::Duration> {
            brevo::rate_limit_wait(headers)
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

    /// `[first, last]` cut into ranges of at most [`brevo::MAX_RANGE_DAYS`].
    pub(crate) fn ranges(first: NaiveDate, last: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
        let mut ranges = Vec::new();
        let mut from = first;
        while from <= last {
            let to = from
                .checked_add_days(Days::new(brevo::MAX_RANGE_DAYS as u64 - 1))
                .map_or(last, |to| to.min(last));
            ranges.push((from, to));
            match to.succ_opt() {
                Some(next) => from = next,
                None => break,
            }
        }
        ranges
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        if plan.discover {
            tracing::debug!(
                account = %session.account.name,
                "Brevo documents no way to list tags; fetching the account-wide series only"
            );
        }
        let mut streams: Vec<(Option<String>, StreamKey)> = Vec::new();
        if plan.account_wide {
            streams.push((None, StreamKey::account()));
        }
        streams.extend(
            plan.names()
                .map(|name| (Some(name.to_owned()), StreamKey::tag(name))),
        );
        let (first, last) = inclusive_dates(window, 0);
        let mut jobs = Vec::new();
        for (tag, stream) in &streams {
            for range in ranges(first, last) {
                jobs.push((tag.as_deref(), stream, range));
            }
        }
        // Each (stream, range) pages on its own; different ones go out
        // together, up to the source's concurrency.
        let pending: Vec<_> = jobs
            .into_iter()
            .map(|(tag, stream, range)| fetch_range(session, tag, stream, range))
            .collect();
        let pages = session.together(pending).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Every page of one stream's reports for one range.
    async fn fetch_range(
        session: &Session<'_>,
        tag: Option<&str>,
        stream: &StreamKey,
        (from, to): (NaiveDate, NaiveDate),
    ) -> Result<Vec<Sample>, FetchError> {
        let mut samples = Vec::new();
        let mut offset = 0;
        for page in 0.. {
            session.check_page(brevo::REPORTS, page)?;
            let mut query = vec![
                ("startDate", ymd(from)),
                ("endDate", ymd(to)),
                ("limit", brevo::PAGE_ROWS.to_string()),
                ("offset", offset.to_string()),
            ];
            if let Some(tag) = tag {
                query.push(("tag", tag.to_owned()));
            }
            let body = session.get(brevo::REPORTS, &query).await?;
            let (rows, count) = session.payload(brevo::parse_reports(&body, stream))?;
            samples.extend(rows);
            if count < brevo::PAGE_ROWS {
                break;
            }
            offset += count;
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use reqwest::header::HeaderValue;

    use super::*;

    const REPORTS_SAMPLE: &str = include_str!("../../tests/fixtures/esp/brevo/reports.json");

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn the_documented_report_normalises() {
        let (samples, rows) =
            parse_reports(REPORTS_SAMPLE.as_bytes(), &StreamKey::tag("welcome")).unwrap();
        assert_eq!(rows, 2);
        assert_eq!(
            samples[0],
            Sample {
                stream: StreamKey::tag("welcome"),
                bucket: Bucket {
                    start: Utc.with_ymd_and_hms(2017, 4, 6, 0, 0, 0).unwrap(),
                    width: BucketWidth::Day,
                    provider_tz: "unspecified".to_owned(),
                },
                counts: Counts {
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
                },
            }
        );
        // Not told, not zero: the second row has no `spamReports`.
        assert_eq!(samples[1].counts.complaints, None);
    }

    #[test]
    fn bad_rows_are_named_by_item_and_field() {
        let error = parse_reports(
            br#"{"reports":[{"date":"2017-04-06","requests":-1}]}"#,
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(error.item.as_deref(), Some("reports item 0"));
        assert_eq!(error.field.as_deref(), Some("requests"));
        let error =
            parse_reports(br#"{"reports":[{"requests":1}]}"#, &StreamKey::account()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("date"));
        assert!(parse_reports(br#"{"reports":{}}"#, &StreamKey::account()).is_err());
        assert!(parse_reports(
            br#"{"reports":[{"date":"06/04/2017"}]}"#,
            &StreamKey::account()
        )
        .is_err());
        assert_eq!(
            parse_reports(b"{}", &StreamKey::account()).unwrap(),
            (Vec::new(), 0)
        );
    }

    #[test]
    fn the_reset_header_is_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(rate_limit_wait(&headers), None);
        headers.insert("x-sib-ratelimit-reset", HeaderValue::from_static("42"));
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(42)));
        headers.insert("x-sib-ratelimit-reset", HeaderValue::from_static("0.2"));
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(1)));
        headers.insert("x-sib-ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_wait(&headers), None);
        for unusable in ["1e30", "-5", "NaN", "inf"] {
            headers.insert("x-sib-ratelimit-reset", HeaderValue::from_static(unusable));
            assert_eq!(rate_limit_wait(&headers), None, "{unusable}");
        }
    }

    #[test]
    fn long_windows_are_cut_into_thirty_day_ranges() {
        let ranges = source::ranges(date(2026, 1, 1), date(2026, 3, 5));
        assert_eq!(
            ranges,
            vec![
                (date(2026, 1, 1), date(2026, 1, 30)),
                (date(2026, 1, 31), date(2026, 3, 1)),
                (date(2026, 3, 2), date(2026, 3, 5)),
            ]
        );
        assert_eq!(
            source::ranges(date(2026, 1, 1), date(2026, 1, 1)),
            vec![(date(2026, 1, 1), date(2026, 1, 1))]
        );
    }
}
