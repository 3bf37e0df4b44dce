//! Postmark outbound statistics: the `GET /stats/outbound` overview and its
//! per-day sub-endpoints (`/sends`, `/bounces`, `/spam`, `/opens`,
//! `/clicks`), normalised into [`Sample`]s.
//!
//! Postmark differs from the other providers in three ways that matter here:
//!
//! - **Days are EST.** "All stats use EST timezone." The reference says EST,
//!   not America/New_York, so a Postmark day is taken as a fixed UTC-05:00
//!   day all year: `2014-01-01` starts at `2014-01-01T05:00:00Z`, and buckets
//!   carry `provider_tz` [`PROVIDER_TZ`] (`"EST"`). If Postmark in fact follows
//!   US daylight saving time, summer days are an hour off; that is an open
//!   question for a real account, not something to guess in code.
//! - **Daily numbers come one metric per endpoint.** Each sub-endpoint
//!   returns its own `Days` list; [`merge_outbound_days`] joins them into one
//!   sample per day.
//! - **Zero-valued keys are omitted.** A recorded `/stats/outbound/bounces`
//!   with no bounces was just `{"Days":[]}`. So, following the reference, a
//!   missing count key in a Postmark body means 0, and a day missing from a
//!   fetched sub-endpoint's list means 0 for that sub-endpoint's counts (the
//!   one exception is the overview's `Sent`, see [`parse_outbound_overview`]). A
//!   sub-endpoint the caller did not fetch leaves its counts `None`, and a day
//!   that no fetched list mentions gives no sample at all.
//!
//! Postmark does not report deliveries or unsubscribes. Without delivered,
//! complaint, open and click rates could not be computed at all, so each
//! day's delivered is **derived** as `Sent − HardBounce − SoftBounce`
//! (saturating; the reference's `Sent − Bounced`, with only the bounce
//! types that are delivery failures: `Transient` is a delay, not a failure)
//! and marked [`Counts::delivered_derived`]. It is `None` unless both the
//! sends and the bounces were fetched. Postmark's stats do not split blocks
//! from soft bounces (`SoftBounce` may include them), so `blocked` is
//! unknown for Postmark.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{
    expect_array, expect_object, optional_count, parse_json, parse_ymd, required, required_str,
    CountStyle, Endpoint, PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `GET /stats/outbound`: totals for the requested window.
pub const OUTBOUND: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound",
};

/// `GET /stats/outbound/sends`: `{"Days":[{"Date","Sent"}],"Sent"}`.
pub const SENDS: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound/sends",
};

/// `GET /stats/outbound/bounces`:
/// `{"Days":[{"Date","HardBounce","SoftBounce","SMTPApiError","Transient"}],…}`.
pub const BOUNCES: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound/bounces",
};

/// `GET /stats/outbound/spam`: `{"Days":[{"Date","SpamComplaint"}],…}`.
pub const SPAM: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound/spam",
};

/// `GET /stats/outbound/opens`: `{"Days":[{"Date","Opens","Unique"}],…}`.
pub const OPENS: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound/opens",
};

/// `GET /stats/outbound/clicks`: `{"Days":[{"Date","Clicks","Unique"}],…}`.
pub const CLICKS: Endpoint = Endpoint {
    provider: "Postmark",
    path: "/stats/outbound/clicks",
};

/// Postmark's stats time zone, as its documentation names it.
pub const PROVIDER_TZ: &str = "EST";

/// EST as Postmark's documentation states it: a fixed five hours behind UTC.
const EST_SECONDS_WEST_OF_UTC: i32 = 5 * 3600;

/// The bucket for one Postmark day: 00:00 EST (05:00 UTC) on `date`.
pub fn day_bucket(date: NaiveDate) -> Bucket {
    let midnight = date.and_time(NaiveTime::MIN);
    // Adding five hours to a calendar midnight cannot fail or be ambiguous;
    // the fallback only keeps this free of panics.
    let start = FixedOffset::west_opt(EST_SECONDS_WEST_OF_UTC)
        .and_then(|est| est.from_local_datetime(&midnight).single())
        .map(|start| start.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc() + chrono::Duration::hours(5));
    Bucket {
        start,
        width: BucketWidth::Day,
        provider_tz: PROVIDER_TZ.to_owned(),
    }
}

/// Parses `GET /stats/outbound` into one sample for `window`: the period the
/// request's `fromdate`/`todate` covered, which the body does not repeat (for
/// one day, [`day_bucket`]).
///
/// Mapping (reference §4.4): `Sent`→sent, `SpamComplaints`→complaints,
/// `UniqueOpens`→opens_unique, `UniqueLinksClicked`→clicks_unique. The
/// overview's `Bounced` is not split into hard and soft (use
/// [`merge_outbound_days`] with `/bounces` for that), and `BounceRate` and
/// `SpamComplaintsRate` are percentages that are never read.
///
/// `Sent` itself must be present (the recorded overview lists its zero
/// values), so an unrelated or error body is refused instead of reading as
/// an idle day; the other keys default to 0.
pub fn parse_outbound_overview(
    body: &[u8],
    stream: &StreamKey,
    window: Bucket,
) -> Result<Sample, PayloadError> {
    let site = Site::top(OUTBOUND);
    let json = parse_json(OUTBOUND, body)?;
    let overview = statistics_object(&json, &site)?;
    // `Sent` must be there: the recorded overview lists its zero values, and
    // a body without `Sent` is more likely not an overview than an idle one.
    let sent = optional_count(overview, "Sent", CountStyle::Number, &site, "")?
        .ok_or_else(|| site.field_error("Sent", "missing"))?;
    let count = |key: &str| count_or_zero(overview, key, &site, "");
    Ok(Sample {
        stream: stream.clone(),
        bucket: window,
        counts: Counts {
            sent: Some(sent),
            complaints: Some(count("SpamComplaints")?),
            opens_unique: Some(count("UniqueOpens")?),
            clicks_unique: Some(count("UniqueLinksClicked")?),
            ..Counts::default()
        },
    })
}

/// The bodies of the outbound sub-endpoints, all fetched with the same
/// `tag`, `messagestream`, `fromdate` and `todate`. Leave out (`None`) any
/// that were not fetched; their counts stay unknown.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutboundDayBodies<'a> {
    /// `/stats/outbound/sends` → sent.
    pub sends: Option<&'a [u8]>,
    /// `/stats/outbound/bounces` → bounce_hard (`HardBounce`), bounce_soft
    /// (`SoftBounce`), deferred (`Transient`). `SMTPApiError` (rejected at the
    /// API) has no canonical count and is not read.
    pub bounces: Option<&'a [u8]>,
    /// `/stats/outbound/spam` → complaints (`SpamComplaint`).
    pub spam: Option<&'a [u8]>,
    /// `/stats/outbound/opens` → opens_unique (`Unique`).
    pub opens: Option<&'a [u8]>,
    /// `/stats/outbound/clicks` → clicks_unique (`Unique`).
    pub clicks: Option<&'a [u8]>,
}

/// Joins the sub-endpoints' `Days` lists into one sample per day, for
/// `stream`, oldest first.
///
/// A day appears if any fetched list mentions it. A fetched list that does
/// not mention it contributes 0 (Postmark omits zero days; see the module
/// documentation). Days no list mentions are not invented.
pub fn merge_outbound_days(
    bodies: &OutboundDayBodies<'_>,
    stream: &StreamKey,
) -> Result<Vec<Sample>, PayloadError> {
    let sends = parse_days(SENDS, bodies.sends, &["Sent"])?;
    let bounces = parse_days(
        BOUNCES,
        bodies.bounces,
        &["HardBounce", "SoftBounce", "Transient"],
    )?;
    let spam = parse_days(SPAM, bodies.spam, &["SpamComplaint"])?;
    let opens = parse_days(OPENS, bodies.opens, &["Unique"])?;
    let clicks = parse_days(CLICKS, bodies.clicks, &["Unique"])?;

    let lists = [&sends, &bounces, &spam, &opens, &clicks];
    let days: BTreeSet<NaiveDate> = lists
        .iter()
        .filter_map(|list| list.as_ref())
        .flat_map(|list| list.keys().copied())
        .collect();

    Ok(days
        .into_iter()
        .map(|day| Sample {
            stream: stream.clone(),
            bucket: day_bucket(day),
            counts: Counts {
                sent: on_day(&sends, day, 0),
                bounce_hard: on_day(&bounces, day, 0),
                bounce_soft: on_day(&bounces, day, 1),
                deferred: on_day(&bounces, day, 2),
                delivered: derived_delivered(&sends, &bounces, day),
                delivered_derived: sends.is_some() && bounces.is_some(),
                complaints: on_day(&spam, day, 0),
                opens_unique: on_day(&opens, day, 0),
                clicks_unique: on_day(&clicks, day, 0),
                ..Counts::default()
            },
        })
        .collect())
}

/// `Sent − HardBounce − SoftBounce` on `day` (see the module documentation).
fn derived_delivered(
    sends: &Option<DayCounts>,
    bounces: &Option<DayCounts>,
    day: NaiveDate,
) -> Option<u64> {
    let sent = on_day(sends, day, 0)?;
    let hard = on_day(bounces, day, 0)?;
    let soft = on_day(bounces, day, 1)?;
    Some(sent.saturating_sub(hard).saturating_sub(soft))
}

/// One sub-endpoint's counts, by day, in the order of the fields asked for.
type DayCounts = BTreeMap<NaiveDate, Vec<u64>>;

/// Field `index` of a list on `day`: `None` if the list was not fetched, 0
/// if the day is not in it.
fn on_day(list: &Option<DayCounts>, day: NaiveDate, index: usize) -> Option<u64> {
    list.as_ref().map(|list| {
        list.get(&day)
            .and_then(|counts| counts.get(index).copied())
            .unwrap_or(0)
    })
}

fn parse_days(
    endpoint: Endpoint,
    body: Option<&[u8]>,
    fields: &[&str],
) -> Result<Option<DayCounts>, PayloadError> {
    let Some(body) = body else { return Ok(None) };
    let site = Site::top(endpoint);
    let json = parse_json(endpoint, body)?;
    let top = statistics_object(&json, &site)?;
    let days = expect_array(required(top, "Days", &site, "")?, &site, "Days")?;
    let mut by_day = DayCounts::new();
    for (index, day) in days.iter().enumerate() {
        let site = site.labelled(format!("Days item {index}"));
        let day = expect_object(day, &site, "")?;
        let date = parse_ymd(required_str(day, "Date", &site, "")?, &site, "Date")?;
        let counts = fields
            .iter()
            .map(|field| count_or_zero(day, field, &site, ""))
            .collect::<Result<Vec<u64>, PayloadError>>()?;
        if by_day.insert(date, counts).is_some() {
            return Err(site.field_error("Date", format!("{date} appears twice")));
        }
    }
    Ok(Some(by_day))
}

/// The body as an object, refusing Postmark's error shape
/// (`{"ErrorCode": 300, "Message": …}`), which would otherwise read as "all
/// counts omitted, so all zero". The message is left out: it can quote
/// addresses.
fn statistics_object<'a>(
    json: &'a Value,
    site: &Site,
) -> Result<&'a Map<String, Value>, PayloadError> {
    let object = expect_object(json, site, "")?;
    match object.get("ErrorCode") {
        Some(code) => Err(site.error(
            None,
            format!(
                "an API error body (ErrorCode {}), not statistics",
                super::describe(code)
            ),
        )),
        None => Ok(object),
    }
}

/// A Postmark count; an absent key is 0 because Postmark omits zero values.
fn count_or_zero(
    object: &Map<String, Value>,
    key: &str,
    site: &Site,
    parent: &str,
) -> Result<u64, PayloadError> {
    Ok(optional_count(object, key, CountStyle::Number, site, parent)?.unwrap_or(0))
}

// ---------------------------------------------------------------------------
// The source: what a poll asks Postmark for, and how.

/// Postmark as a [`crate::esp::source::Source`]: its requests, paging and
/// discovery, built on the parsers above.
pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use reqwest::RequestBuilder;

    use crate::delivery::{Sample, StreamKey};
    use crate::esp::client::{inclusive_dates, ymd, FetchError, Plan, Session, Window};
    use crate::esp::postmark;
    use crate::esp::source::{accept_json, sensitive, Source, SourceFuture};

    /// Postmark: its server token header; it documents no rate-limit
    /// signal.
    pub(crate) struct Postmark;

    impl Source for Postmark {
        fn name(&self) -> &'static str {
            "Postmark"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["tag", "message-stream"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            (region == "us").then(|| "https://api.postmarkapp.com".to_owned())
        }

        // A daily API (EST days): judged well after midnight there.
        fn settle_minutes(&self) -> u64 {
            60
        }

        // Postmark documents no way to list an account's tags.
        fn lists_streams(&self) -> bool {
            false
        }

        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request)
                .header("X-Postmark-Server-Token", sensitive(credential.to_owned())?))
        }

        fn fetch<'a>(
            &'a self,
            session: &'a Session<'_>,
            plan: &'a Plan,
            window: Window,
        ) -> SourceFuture<'a> {
            Box::pin(fetch(session, plan, window))
        }

        // No documented limit: one account's requests (five per stream)
        // all at once, as a browser would open them.
        fn concurrency(&self) -> usize {
            25
        }
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        if plan.discover {
            tracing::debug!(
                account = %session.account.name,
                "Postmark documents no way to list tags; fetching the account-wide series only"
            );
        }
        // Postmark days are EST (a fixed UTC-05:00, see `postmark::day_bucket`);
        // `todate` is inclusive.
        let (first, last) = inclusive_dates(window, -5);
        let dates = [("fromdate", ymd(first)), ("todate", ymd(last))];
        let mut streams: Vec<(Option<(&'static str, String)>, StreamKey)> = Vec::new();
        if plan.account_wide {
            streams.push((None, StreamKey::account()));
        }
        for (kind, name) in &plan.named {
            let (parameter, key) = if *kind == "tag" {
                ("tag", StreamKey::tag(name))
            } else {
                ("messagestream", StreamKey::new(format!("{kind}:{name}")))
            };
            streams.push((Some((parameter, name.clone())), key));
        }

        // Five independent requests per stream, none depending on another:
        // all of them go out together (up to the source's concurrency).
        let endpoints = [
            postmark::SENDS,
            postmark::BOUNCES,
            postmark::SPAM,
            postmark::OPENS,
            postmark::CLICKS,
        ];
        let mut requests = Vec::new();
        for (filter, _) in &streams {
            let mut query = dates.to_vec();
            query.extend(filter.iter().cloned());
            requests.extend(endpoints.iter().map(|endpoint| (*endpoint, query.clone())));
        }
        let bodies = session.get_all(requests).await?;
        let mut samples = Vec::new();
        for ((_, stream), answers) in streams.iter().zip(bodies.chunks(endpoints.len())) {
            let [sends, bounces, spam, opens, clicks] = answers else {
                continue;
            };
            let bodies = postmark::OutboundDayBodies {
                sends: Some(sends),
                bounces: Some(bounces),
                spam: Some(spam),
                opens: Some(opens),
                clicks: Some(clicks),
            };
            samples.extend(session.payload(postmark::merge_outbound_days(&bodies, stream))?);
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTBOUND_SAMPLE: &str = include_str!("../../tests/fixtures/esp/postmark/outbound.json");
    const OUTBOUND_DOCS_EXAMPLE: &str =
        include_str!("../../tests/fixtures/esp/postmark/outbound_docs_example.json");
    const SENDS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/postmark/outbound_sends.json");
    const BOUNCES_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/postmark/outbound_bounces.json");
    const OPENS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/postmark/outbound_opens.json");

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn utc(year: i32, month: u32, day: u32, hour: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn a_postmark_day_starts_at_five_utc() {
        let bucket = day_bucket(date(2014, 1, 1));
        assert_eq!(bucket.start, utc(2014, 1, 1, 5));
        assert_eq!(bucket.width, BucketWidth::Day);
        assert_eq!(bucket.provider_tz, "EST");
        // Fixed EST, as documented: no daylight-saving shift in July.
        assert_eq!(day_bucket(date(2017, 7, 1)).start, utc(2017, 7, 1, 5));
    }

    #[test]
    fn the_recorded_overview_normalises() {
        let window = day_bucket(date(2017, 1, 30));
        let sample = parse_outbound_overview(
            OUTBOUND_SAMPLE.as_bytes(),
            &StreamKey::account(),
            window.clone(),
        )
        .expect("recorded sample parses");
        assert_eq!(
            sample,
            Sample {
                stream: StreamKey::account(),
                bucket: window,
                counts: Counts {
                    sent: Some(93),
                    complaints: Some(0),
                    opens_unique: Some(19),
                    clicks_unique: Some(0),
                    ..Counts::default()
                },
            }
        );
    }

    #[test]
    fn the_docs_example_overview_normalises_without_reading_rates() {
        let sample = parse_outbound_overview(
            OUTBOUND_DOCS_EXAMPLE.as_bytes(),
            &StreamKey::tag("welcome"),
            day_bucket(date(2014, 1, 1)),
        )
        .expect("docs example parses");
        assert_eq!(
            sample.counts,
            Counts {
                sent: Some(615),
                complaints: Some(10),
                opens_unique: Some(26),
                clicks_unique: Some(30),
                ..Counts::default()
            }
        );
        // BounceRate 10.406 and SpamComplaintsRate 1.626 are percentages and
        // are ignored; without `delivered` there is no complaint rate.
        assert_eq!(sample.counts.rates().complaint, None);
    }

    #[test]
    fn the_recorded_day_lists_merge_per_day() {
        let bodies = OutboundDayBodies {
            sends: Some(SENDS_SAMPLE.as_bytes()),
            bounces: Some(BOUNCES_SAMPLE.as_bytes()),
            opens: Some(OPENS_SAMPLE.as_bytes()),
            ..OutboundDayBodies::default()
        };
        let samples = merge_outbound_days(&bodies, &StreamKey::account()).expect("merges");
        let day = |year, month, day_of_month, sent, opens_unique| Sample {
            stream: StreamKey::account(),
            bucket: day_bucket(date(year, month, day_of_month)),
            counts: Counts {
                sent: Some(sent),
                // Derived: sent − hard − soft bounces, and none bounced.
                delivered: Some(sent),
                delivered_derived: true,
                // `{"Days":[]}`: bounces were fetched and there were none.
                bounce_hard: Some(0),
                bounce_soft: Some(0),
                deferred: Some(0),
                opens_unique: Some(opens_unique),
                // spam and clicks were not fetched: unknown.
                ..Counts::default()
            },
        };
        assert_eq!(
            samples,
            vec![
                day(2017, 1, 30, 37, 3),
                day(2017, 1, 31, 54, 13),
                day(2017, 2, 1, 2, 3),
            ]
        );
        assert_eq!(samples[0].bucket.start, utc(2017, 1, 30, 5));
    }

    #[test]
    fn missing_keys_in_a_day_are_zero_and_missing_days_are_not_invented() {
        let sends = br#"{"Days":[{"Date":"2024-03-01","Sent":100},{"Date":"2024-03-03","Sent":50}],"Sent":150}"#;
        let bounces = br#"{"Days":[{"Date":"2024-03-01","HardBounce":3,"SMTPApiError":9}]}"#;
        let spam = br#"{"Days":[{"Date":"2024-03-03","SpamComplaint":1}]}"#;
        let clicks = br#"{"Days":[{"Date":"2024-03-01","Clicks":12,"Unique":7}]}"#;
        let bodies = OutboundDayBodies {
            sends: Some(sends),
            bounces: Some(bounces),
            spam: Some(spam),
            clicks: Some(clicks),
            opens: None,
        };
        let samples = merge_outbound_days(&bodies, &StreamKey::tag("receipts")).expect("merges");
        assert_eq!(samples.len(), 2, "2024-03-02 is in no list, so no sample");
        assert_eq!(samples[0].stream, StreamKey::tag("receipts"));
        assert_eq!(
            samples[0].counts,
            Counts {
                sent: Some(100),
                delivered: Some(97),
                delivered_derived: true,
                bounce_hard: Some(3),
                bounce_soft: Some(0),
                deferred: Some(0),
                complaints: Some(0),
                clicks_unique: Some(7),
                ..Counts::default()
            }
        );
        assert_eq!(
            samples[1].counts,
            Counts {
                sent: Some(50),
                delivered: Some(50),
                delivered_derived: true,
                bounce_hard: Some(0),
                bounce_soft: Some(0),
                deferred: Some(0),
                complaints: Some(1),
                clicks_unique: Some(0),
                ..Counts::default()
            }
        );
        assert_eq!(samples[1].bucket.start, utc(2024, 3, 3, 5));
    }

    #[test]
    fn nothing_fetched_means_no_samples() {
        assert_eq!(
            merge_outbound_days(&OutboundDayBodies::default(), &StreamKey::account()),
            Ok(vec![])
        );
    }

    #[test]
    fn malformed_bodies_name_the_sub_endpoint_and_field() {
        let truncated = &SENDS_SAMPLE.as_bytes()[..30];
        let error = merge_outbound_days(
            &OutboundDayBodies {
                sends: Some(truncated),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(error.endpoint, SENDS);
        assert!(error.problem.starts_with("not valid JSON"));

        let no_date =
            br#"{"Days":[{"Date":"2017-01-30","Opens":1,"Unique":1},{"Opens":6,"Unique":3}]}"#;
        let error = merge_outbound_days(
            &OutboundDayBodies {
                opens: Some(no_date),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Postmark /stats/outbound/opens: Days item 1: field `Date`: missing"
        );

        let negative = br#"{"Days":[{"Date":"2017-01-30","HardBounce":-2}]}"#;
        let error = merge_outbound_days(
            &OutboundDayBodies {
                bounces: Some(negative),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(error.endpoint, BOUNCES);
        assert_eq!(error.field.as_deref(), Some("HardBounce"));

        let twice = br#"{"Days":[{"Date":"2017-01-30","Sent":1},{"Date":"2017-01-30","Sent":2}]}"#;
        assert!(merge_outbound_days(
            &OutboundDayBodies {
                sends: Some(twice),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .is_err());

        let no_days = br#"{"Sent":93}"#;
        let error = merge_outbound_days(
            &OutboundDayBodies {
                sends: Some(no_days),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("Days"));

        let wrong_type = br#"{"Sent":"93"}"#;
        let error = parse_outbound_overview(
            wrong_type,
            &StreamKey::account(),
            day_bucket(date(2017, 1, 30)),
        )
        .unwrap_err();
        assert_eq!(error.endpoint, OUTBOUND);
        assert_eq!(error.field.as_deref(), Some("Sent"));

        let no_sent = br#"{"Bounced":0}"#;
        let error = parse_outbound_overview(
            no_sent,
            &StreamKey::account(),
            day_bucket(date(2017, 1, 30)),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("Sent"));

        let unprocessable = br#"{"ErrorCode": 300, "Message": "Invalid 'From' address"}"#;
        let error = parse_outbound_overview(
            unprocessable,
            &StreamKey::account(),
            day_bucket(date(2017, 1, 30)),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Postmark /stats/outbound: an API error body (ErrorCode 300), not statistics"
        );
        assert!(merge_outbound_days(
            &OutboundDayBodies {
                spam: Some(unprocessable),
                ..OutboundDayBodies::default()
            },
            &StreamKey::account(),
        )
        .is_err());
    }
}
