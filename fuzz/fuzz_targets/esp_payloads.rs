//! Every public ESP payload parser, on arbitrary bodies: no panic, no hang,
//! and a refused body is an error value with a message.
//!
//! The first byte picks the parser (`byte % 19`, table below) and the
//! bucket width the caller would have asked for (`byte / 19 % 4`); the rest
//! is the response body. Seeds in `seeds/esp_payloads/` are the recorded
//! fixtures with their parser's byte in front.
//!
//! | byte % 19 | parser |
//! |---|---|
//! | 0 | `mailgun::parse_metrics` |
//! | 1 | `mailgun::parse_legacy_stats_total` |
//! | 2 | `mailgun::parse_legacy_tag_stats` |
//! | 3 | `mailgun::next_metrics_skip` |
//! | 4 | `mailgun::rate_limit_wait_from_message` |
//! | 5 | `postmark::parse_outbound_overview` |
//! | 6 | `postmark::merge_outbound_days` (body split on NUL into the five sub-endpoint bodies) |
//! | 7 | `sendgrid::parse_global_stats` |
//! | 8 | `sendgrid::parse_category_stats` |
//! | 9 | `sendgrid::parse_category_sums` |
//! | 10 | `sendgrid::rate_limit_wait` (the body as the header value) |
//! | 11 | `sparkpost::parse_time_series` |
//! | 12 | `sparkpost::parse_by_campaign` |
//! | 13 | `ses::parse_send_statistics` |
//! | 14 | `mandrill::parse_time_series` |
//! | 15 | `mandrill::parse_tag_list` |
//! | 16 | `brevo::parse_reports` |
//! | 17 | `mailchimp::parse_reports` (and the roll-ups of what it reads) |
//! | 18 | `postmaster::parse_traffic_stats` |

#![no_main]

use chrono::{DateTime, NaiveDate, Utc};
use libfuzzer_sys::fuzz_target;
use mailcall::delivery::{BucketWidth, Sample, StreamKey};
use mailcall::esp::{
    brevo, mailchimp, mailgun, mandrill, postmark, postmaster, sendgrid, ses, sparkpost,
    PayloadError,
};

const PARSERS: u8 = 19;

fn checked(result: Result<Vec<Sample>, PayloadError>) {
    match result {
        Ok(samples) => {
            // What the poller does next with a sample: rates and sums.
            let mut total = mailcall::delivery::Counts::default();
            for sample in &samples {
                let _ = sample.counts.rates();
                total = total.plus(&sample.counts);
            }
            let _ = total.rates();
        }
        Err(error) => refused(&error),
    }
}

fn refused(error: &PayloadError) {
    assert!(
        !error.problem.trim().is_empty(),
        "an error without a problem: {error:?}"
    );
    assert!(!error.to_string().trim().is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let width = [
        BucketWidth::Hour,
        BucketWidth::Day,
        BucketWidth::Week,
        BucketWidth::Month,
    ][usize::from(selector / PARSERS % 4)];
    let stream = StreamKey::account();
    let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    let now = DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    match selector % PARSERS {
        0 => checked(mailgun::parse_metrics(body, &stream)),
        1 => checked(mailgun::parse_legacy_stats_total(body, &stream)),
        2 => checked(mailgun::parse_legacy_tag_stats(body)),
        3 => {
            if let Err(error) = mailgun::next_metrics_skip(body) {
                refused(&error);
            }
        }
        4 => {
            let _ = mailgun::rate_limit_wait_from_message(body);
        }
        5 => match postmark::parse_outbound_overview(body, &stream, postmark::day_bucket(day)) {
            Ok(sample) => checked(Ok(vec![sample])),
            Err(error) => refused(&error),
        },
        6 => {
            // Up to five NUL-separated bodies, assigned to the sub-endpoints
            // in turn starting from one the selector picks; an empty part is
            // a sub-endpoint that was not fetched.
            let mut slots: [Option<&[u8]>; 5] = [None; 5];
            let first = usize::from(selector / PARSERS) % 5;
            for (index, part) in body.split(|&byte| byte == 0).take(5).enumerate() {
                if !part.is_empty() {
                    slots[(first + index) % 5] = Some(part);
                }
            }
            let bodies = postmark::OutboundDayBodies {
                sends: slots[0],
                bounces: slots[1],
                spam: slots[2],
                opens: slots[3],
                clicks: slots[4],
            };
            checked(postmark::merge_outbound_days(&bodies, &stream));
        }
        7 => checked(sendgrid::parse_global_stats(body, &stream, width)),
        8 => checked(sendgrid::parse_category_stats(body, width)),
        9 => checked(sendgrid::parse_category_sums(body, width)),
        10 => {
            let _ = sendgrid::rate_limit_wait(&String::from_utf8_lossy(body), now);
        }
        11 => checked(sparkpost::parse_time_series(body, &stream, width)),
        12 => checked(sparkpost::parse_by_campaign(
            body,
            &postmark::day_bucket(day),
        )),
        13 => checked(ses::parse_send_statistics(body)),
        14 => checked(mandrill::parse_time_series(
            mandrill::TAG_SERIES,
            body,
            &stream,
        )),
        15 => {
            if let Err(error) = mandrill::parse_tag_list(body) {
                refused(&error);
            }
        }
        16 => checked(brevo::parse_reports(body, &stream).map(|(samples, _)| samples)),
        17 => match mailchimp::parse_reports(body) {
            Ok(page) => checked(Ok(mailchimp::samples(
                &page.campaigns,
                &mailchimp::Rollups {
                    account: true,
                    all: true,
                    ..mailchimp::Rollups::default()
                },
            ))),
            Err(error) => refused(&error),
        },
        _ => checked(postmaster::parse_traffic_stats(body, &stream).map(|(samples, _)| samples)),
    }
});
