//! Mailchimp Marketing: campaign reports (reference §7).
//!
//! - A campaign is a one-off send. `GET /3.0/reports` lists the reports of
//!   the campaigns sent in a window (`since_send_time`, `before_send_time`;
//!   `count` and `offset` paging against `total_items`), each with its
//!   counts so far; `GET /3.0/reports/{campaign_id}` is one campaign.
//! - Each report becomes a sample in the UTC hour the campaign was sent, for
//!   three streams: `campaign:<id>` (that campaign), `audience:<list_id>`
//!   (the audience's campaigns, one per send) and `account` (every
//!   campaign). Counts keep growing for days after a send; each poll
//!   replaces the sample with the newer figures.
//! - Mailchimp accounts get the `campaigns` alert preset: a send is judged
//!   against the audience's previous sends, never against a weekday and
//!   hour.
//! - The API lives in the data centre named at the end of the key
//!   (`…-us6` → `https://us6.api.mailchimp.com`); Basic authentication with
//!   any user name and the key as the password. Mailchimp limits
//!   concurrent connections (10) and answers 429 with no wait; errors are
//!   `application/problem+json` (`title`, `detail`).
//!
//! Mapping (§7.4): `emails_sent`→sent, `bounces.hard_bounces`→bounce_hard,
//! `bounces.soft_bounces` + `bounces.syntax_errors`→bounce_soft,
//! `opens.unique_opens`→opens_unique (and, where the report has Apple
//! MPP-aware figures, `unique_opens − proxy_excluded_unique_opens`→
//! opens_machine), `clicks.unique_subscriber_clicks`→clicks_unique,
//! `abuse_reports`→complaints, `unsubscribed`→unsubscribes. Mailchimp gives
//! no delivered count: it is derived as sent − all bounces and marked
//! derived. Rate fields (`open_rate`, …) are never read.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Map, Value};

use super::{
    expect_array, expect_object, optional_count, parse_json, present, required_str,
    sum_if_all_known, CountStyle, Endpoint, PayloadError, Site,
};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `GET /3.0/reports`: the reports of campaigns sent in a window, paged.
pub const REPORTS: Endpoint = Endpoint {
    provider: "Mailchimp",
    path: "/reports",
};

/// `GET /3.0/reports/{campaign_id}`: one campaign's report.
pub const REPORT: Endpoint = Endpoint {
    provider: "Mailchimp",
    path: "/reports/{campaign_id}",
};

/// Reports asked for per page.
pub const PAGE_SIZE: usize = 100;

/// Only the fields mailcall reads, so pages stay small.
pub const REPORT_FIELDS: &str =
    "id,list_id,send_time,emails_sent,abuse_reports,unsubscribed,bounces,opens,clicks";

/// One campaign's report, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignReport {
    pub id: String,
    /// The audience (list) it went to; empty when the report names none.
    pub list_id: String,
    /// The UTC hour it was sent in.
    pub sent_hour: DateTime<Utc>,
    pub counts: Counts,
}

/// One page of `GET /reports`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportsPage {
    /// Its sent campaigns (unsent ones are skipped).
    pub campaigns: Vec<CampaignReport>,
    /// The `total_items` it reported.
    pub total: Option<u64>,
    /// How many reports it held, sent or not: what moves the offset.
    pub rows: usize,
}

/// A page of `GET /reports`.
pub fn parse_reports(body: &[u8]) -> Result<ReportsPage, PayloadError> {
    let site = Site::top(REPORTS);
    let json = parse_json(REPORTS, body)?;
    let top = expect_object(&json, &site, "")?;
    let total = optional_count(top, "total_items", CountStyle::Number, &site, "")?;
    let Some(reports) = present(top, "reports") else {
        return Ok(ReportsPage {
            total,
            ..ReportsPage::default()
        });
    };
    let reports = expect_array(reports, &site, "reports")?;
    let mut campaigns = Vec::new();
    for (index, report) in reports.iter().enumerate() {
        let site = site.labelled(format!("reports item {index}"));
        if let Some(campaign) = campaign(expect_object(report, &site, "")?, &site)? {
            campaigns.push(campaign);
        }
    }
    Ok(ReportsPage {
        campaigns,
        total,
        rows: reports.len(),
    })
}

/// `GET /reports/{campaign_id}`: the campaign, or `None` when it has not
/// been sent.
pub fn parse_report(body: &[u8]) -> Result<Option<CampaignReport>, PayloadError> {
    let site = Site::top(REPORT);
    let json = parse_json(REPORT, body)?;
    campaign(expect_object(&json, &site, "")?, &site)
}

fn campaign(
    report: &Map<String, Value>,
    site: &Site,
) -> Result<Option<CampaignReport>, PayloadError> {
    let id = required_str(report, "id", site, "")?.to_owned();
    // A campaign not sent yet has an empty send time and nothing to judge.
    let send_time = present(report, "send_time")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if send_time.is_empty() {
        return Ok(None);
    }
    let sent_at = DateTime::parse_from_rfc3339(send_time)
        .map_err(|_| {
            site.field_error(
                "send_time",
                format!(
                    "expected an ISO 8601 time, got {}",
                    super::quote_short(send_time, 40)
                ),
            )
        })?
        .with_timezone(&Utc);
    let sent_hour = sent_at
        .duration_trunc(chrono::Duration::hours(1))
        .map_err(|_| site.field_error("send_time", "out of range"))?;
    let list_id = present(report, "list_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let top = |key: &str| optional_count(report, key, CountStyle::Number, site, "");
    let nested = |parent: &str, key: &str| -> Result<Option<u64>, PayloadError> {
        match present(report, parent) {
            None => Ok(None),
            Some(value) => {
                let object = expect_object(value, site, parent)?;
                optional_count(object, key, CountStyle::Number, site, parent)
            }
        }
    };
    let sent = top("emails_sent")?;
    let hard = nested("bounces", "hard_bounces")?;
    let soft = nested("bounces", "soft_bounces")?;
    let syntax = nested("bounces", "syntax_errors")?;
    let bounce_soft = sum_if_all_known(&[soft, syntax], site, "bounces")?;
    let delivered = match (
        sent,
        sum_if_all_known(&[hard, bounce_soft], site, "bounces")?,
    ) {
        (Some(sent), Some(bounced)) => Some(sent.checked_sub(bounced).ok_or_else(|| {
            site.field_error(
                "bounces",
                format!("{bounced} bounces are more than the {sent} emails sent"),
            )
        })?),
        _ => None,
    };
    let opens = nested("opens", "unique_opens")?;
    let human_opens = nested("opens", "proxy_excluded_unique_opens")?;
    let opens_machine = match (opens, human_opens) {
        (Some(all), Some(human)) => all.checked_sub(human),
        _ => None,
    };
    Ok(Some(CampaignReport {
        id,
        list_id,
        sent_hour,
        counts: Counts {
            sent,
            delivered,
            delivered_derived: delivered.is_some(),
            bounce_hard: hard,
            bounce_soft,
            opens_unique: opens,
            opens_machine,
            clicks_unique: nested("clicks", "unique_subscriber_clicks")?,
            complaints: top("abuse_reports")?,
            unsubscribes: top("unsubscribed")?,
            ..Counts::default()
        },
    }))
}

/// Which streams to make of the campaigns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    /// Every campaign together, by send hour.
    pub account: bool,
    /// Every audience, and every campaign on its own.
    pub all: bool,
    /// These audiences (list IDs).
    pub audiences: Vec<String>,
    /// These campaigns (IDs), besides any `all` brings.
    pub campaigns: Vec<String>,
}

/// The samples of `campaigns`: per campaign, per audience and for the
/// account, each in the UTC hour of the send, campaigns sent in the same
/// hour summed (unknown where any part is).
pub fn samples(campaigns: &[CampaignReport], rollups: &Rollups) -> Vec<Sample> {
    let mut sums: BTreeMap<(StreamKey, DateTime<Utc>), Counts> = BTreeMap::new();
    let mut add = |stream: StreamKey, campaign: &CampaignReport| {
        sums.entry((stream, campaign.sent_hour))
            .and_modify(|total| *total = total.plus(&campaign.counts))
            .or_insert_with(|| campaign.counts.clone());
    };
    for campaign in campaigns {
        if rollups.account {
            add(StreamKey::account(), campaign);
        }
        let audience_wanted = rollups.all || rollups.audiences.contains(&campaign.list_id);
        if audience_wanted && !campaign.list_id.is_empty() {
            add(audience(&campaign.list_id), campaign);
        }
        if rollups.all || rollups.campaigns.contains(&campaign.id) {
            add(StreamKey::campaign(&campaign.id), campaign);
        }
    }
    sums.into_iter()
        .map(|((stream, start), counts)| Sample {
            stream,
            bucket: Bucket {
                start,
                width: BucketWidth::Hour,
                provider_tz: "UTC".to_owned(),
            },
            counts,
        })
        .collect()
}

/// An audience's stream: `audience:<list_id>`.
pub fn audience(list_id: &str) -> StreamKey {
    StreamKey::new(format!("audience:{list_id}"))
}

/// The API base for a key ending in its data centre (`…-us6`).
pub fn base_url_for_key(key: &str) -> Option<String> {
    let (_, data_centre) = key.trim().rsplit_once('-')?;
    is_data_centre(data_centre).then(|| format!("https://{data_centre}.api.mailchimp.com"))
}

/// `us6`, `eu1`: letters then digits, nothing a host name could be bent by.
pub fn is_data_centre(name: &str) -> bool {
    let letters = name.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = name.len() - letters;
    (1..=4).contains(&letters)
        && (1..=3).contains(&digits)
        && name.bytes().skip(letters).all(|byte| byte.is_ascii_digit())
}

pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use reqwest::RequestBuilder;

    use crate::delivery::Sample;
    use crate::esp::client::{rejected_locally, FetchError, Plan, Session, Window};
    use crate::esp::mailchimp::{self, CampaignReport, Rollups};
    use crate::esp::source::{accept_json, Source, SourceFuture};

    /// Mailchimp Marketing: Basic auth, the data centre from the key.
    pub(crate) struct Mailchimp;

    impl Source for Mailchimp {
        fn name(&self) -> &'static str {
            "Mailchimp"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["campaign", "audience"]
        }

        /// The region is the data centre (`us6`).
        fn base_url(&self, region: &str) -> Option<String> {
            mailchimp::is_data_centre(region).then(|| format!("https://{region}.api.mailchimp.com"))
        }

        // No region: the data centre is read from the key.
        fn default_region(&self) -> &'static str {
            ""
        }

        fn base_url_for_credential(&self, credential: &str) -> Option<String> {
            mailchimp::base_url_for_key(credential)
        }

        fn path_prefix(&self) -> &'static str {
            "/3.0"
        }

        fn alert_preset(&self) -> Option<&'static str> {
            Some("campaigns")
        }

        // Reports fill in over hours and days; each poll replaces them.
        fn settle_minutes(&self) -> u64 {
            60
        }

        // Ten connections per user; leave room for the team's own tools.
        fn concurrency(&self) -> usize {
            4
        }

        fn authorize(
            &self,
            request: RequestBuilder,
            credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(accept_json(request).basic_auth("api", Some(credential)))
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

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let mut rollups = Rollups {
            account: plan.account_wide,
            all: plan.discover,
            ..Rollups::default()
        };
        for (kind, name) in &plan.named {
            match *kind {
                "audience" => rollups.audiences.push(name.clone()),
                _ => rollups.campaigns.push(name.clone()),
            }
        }
        let mut campaigns: Vec<CampaignReport> = Vec::new();
        if rollups.account || rollups.all || !rollups.audiences.is_empty() {
            campaigns.extend(sent_in(session, window).await?);
        }
        // Named campaigns are read by ID, whenever they were sent.
        let wanted: Vec<&String> = rollups
            .campaigns
            .iter()
            .filter(|id| !campaigns.iter().any(|c| &&c.id == id))
            .collect();
        let mut pending = Vec::new();
        for id in wanted {
            if !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(rejected_locally(
                    session.account,
                    "a Mailchimp campaign ID holds only letters, digits, - and _",
                ));
            }
            pending.push(report(session, format!("/reports/{id}")));
        }
        let named = session.together(pending).await?;
        campaigns.extend(named.into_iter().flatten());
        Ok(mailchimp::samples(&campaigns, &rollups))
    }

    /// One campaign's report.
    async fn report(
        session: &Session<'_>,
        path: String,
    ) -> Result<Option<CampaignReport>, FetchError> {
        let query = [("fields", mailchimp::REPORT_FIELDS.to_owned())];
        let body = session.get_at(mailchimp::REPORT, &path, &query).await?;
        session.payload(mailchimp::parse_report(&body))
    }

    /// Every campaign sent in the window, page by page.
    async fn sent_in(
        session: &Session<'_>,
        window: Window,
    ) -> Result<Vec<CampaignReport>, FetchError> {
        let fields = mailchimp::REPORT_FIELDS
            .split(',')
            .map(|field| format!("reports.{field}"))
            .chain(["total_items".to_owned()])
            .collect::<Vec<_>>()
            .join(",");
        let mut campaigns = Vec::new();
        let mut offset = 0;
        for page in 0.. {
            session.check_page(mailchimp::REPORTS, page)?;
            let query = [
                ("count", mailchimp::PAGE_SIZE.to_string()),
                ("offset", offset.to_string()),
                ("since_send_time", window.start.to_rfc3339()),
                ("before_send_time", window.end.to_rfc3339()),
                ("fields", fields.clone()),
            ];
            let body = session.get(mailchimp::REPORTS, &query).await?;
            let mailchimp::ReportsPage {
                campaigns: sent,
                total,
                rows,
            } = session.payload(mailchimp::parse_reports(&body))?;
            campaigns.extend(sent);
            offset += rows;
            let more = match total {
                Some(total) => (offset as u64) < total,
                None => rows == mailchimp::PAGE_SIZE,
            };
            if rows == 0 || !more {
                break;
            }
        }
        Ok(campaigns)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const REPORTS_SAMPLE: &str = include_str!("../../tests/fixtures/esp/mailchimp/reports.json");

    fn hour(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn campaign_reports_normalise_and_unsent_ones_are_skipped() {
        let page = parse_reports(REPORTS_SAMPLE.as_bytes()).unwrap();
        assert_eq!(page.total, Some(4));
        assert_eq!(page.rows, 4, "the unsent one counts towards the page");
        let campaigns = page.campaigns;
        let ids: Vec<&str> = campaigns.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["42694e9e57", "a1b2c3d4e5", "f6e5d4c3b2"]);
        assert_eq!(
            campaigns[0],
            CampaignReport {
                id: "42694e9e57".into(),
                list_id: "57afe96172".into(),
                sent_hour: hour(4, 14),
                counts: Counts {
                    sent: Some(12_000),
                    delivered: Some(12_000 - 36 - 54),
                    delivered_derived: true,
                    bounce_hard: Some(36),
                    bounce_soft: Some(50 + 4),
                    opens_unique: Some(5_100),
                    opens_machine: Some(5_100 - 2_400),
                    clicks_unique: Some(610),
                    complaints: Some(3),
                    unsubscribes: Some(22),
                    ..Counts::default()
                },
            }
        );
        // No MPP-aware figures in an older report: machine opens unknown.
        assert_eq!(campaigns[1].counts.opens_machine, None);
    }

    #[test]
    fn campaigns_roll_up_by_audience_and_account_in_their_send_hour() {
        let campaigns = parse_reports(REPORTS_SAMPLE.as_bytes()).unwrap().campaigns;
        let all = samples(
            &campaigns,
            &Rollups {
                account: true,
                all: true,
                ..Rollups::default()
            },
        );
        let keys: Vec<(String, DateTime<Utc>)> = all
            .iter()
            .map(|s| (s.stream.to_string(), s.bucket.start))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("account".into(), hour(4, 14)),
                ("account".into(), hour(5, 9)),
                ("audience:57afe96172".into(), hour(4, 14)),
                ("audience:57afe96172".into(), hour(5, 9)),
                ("audience:9c0a1b2d3e".into(), hour(5, 9)),
                ("campaign:42694e9e57".into(), hour(4, 14)),
                ("campaign:a1b2c3d4e5".into(), hour(5, 9)),
                ("campaign:f6e5d4c3b2".into(), hour(5, 9)),
            ]
        );
        // Two campaigns in the same hour: the account adds them up.
        assert_eq!(all[1].counts.sent, Some(3_000 + 800));
        let one_audience = samples(
            &campaigns,
            &Rollups {
                audiences: vec!["9c0a1b2d3e".into()],
                ..Rollups::default()
            },
        );
        assert_eq!(one_audience.len(), 1);
        assert_eq!(one_audience[0].stream, audience("9c0a1b2d3e"));
    }

    #[test]
    fn bad_reports_say_where() {
        let error =
            parse_reports(br#"{"reports":[{"id":"x","send_time":"yesterday"}]}"#).unwrap_err();
        assert_eq!(error.item.as_deref(), Some("reports item 0"));
        assert_eq!(error.field.as_deref(), Some("send_time"));
        let error = parse_reports(
            br#"{"reports":[{"id":"x","send_time":"2024-03-04T14:00:00+00:00","bounces":{"hard_bounces":"3"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("bounces.hard_bounces"));
        let error = parse_reports(
            br#"{"reports":[{"id":"x","send_time":"2024-03-04T14:00:00+00:00","emails_sent":1,"bounces":{"hard_bounces":3,"soft_bounces":0,"syntax_errors":0}}]}"#,
        )
        .unwrap_err();
        assert!(error.problem.contains("more than"), "{error}");
        assert!(parse_reports(br#"{"reports":[{"send_time":""}]}"#).is_err());
        assert!(parse_reports(b"[").is_err());
        assert_eq!(parse_report(br#"{"id":"x","send_time":""}"#).unwrap(), None);
    }

    #[test]
    fn the_data_centre_comes_from_the_key() {
        assert_eq!(
            base_url_for_key("0123456789abcdef0123456789abcdef-us6").as_deref(),
            Some("https://us6.api.mailchimp.com")
        );
        assert_eq!(base_url_for_key("0123456789abcdef"), None);
        assert_eq!(base_url_for_key("abc-us6.evil.com"), None);
        assert!(is_data_centre("us21"));
        assert!(!is_data_centre("US6"));
        assert!(!is_data_centre("6"));
    }
}
