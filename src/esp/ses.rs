//! Amazon SES: the v1 Query API's `GetSendStatistics` (reference §6.1),
//! signed with AWS Signature Version 4 by the `aws-sigv4` crate.
//!
//! - One `POST /` with the form body `Action=GetSendStatistics&Version=
//!   2010-12-01` answers the last two weeks of the whole account in
//!   15-minute points, **not sorted**, as XML: `<member>` elements holding
//!   `Timestamp`, `DeliveryAttempts`, `Bounces`, `Complaints` and
//!   `Rejects`. mailcall judges hours, so the points are summed into the
//!   UTC hour each starts in. SES lists only quarters that had activity, so
//!   an hour is the sum of the points it has; an hour with none gives no
//!   sample (never a zero).
//! - Errors are Query-API XML (`<Error><Code>…</Code><Message>…`).
//!   Throttling comes back as HTTP **400** with `Code` `Throttling`, and is
//!   a rate limit; the credential codes (`InvalidClientTokenId`,
//!   `SignatureDoesNotMatch`, `ExpiredToken`, …) are a refused credential
//!   whatever the status.
//! - The API has no tags or campaigns (those need configuration sets and
//!   CloudWatch), so an SES account is one stream, `account`.
//!
//! Mapping (§6.5): `DeliveryAttempts`→sent, `Bounces`→bounce_hard (SES
//! counts hard bounces only; soft bounces are retried and never reported,
//! so `bounce_soft` is unknown), `Complaints`→complaints,
//! `Rejects`→dropped. SES gives no delivered count: it is derived as
//! attempts − bounces and marked derived, so the complaint rate SES reviews
//! can be judged.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, Utc};

use super::{Endpoint, PayloadError, Site};
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// `POST /` `Action=GetSendStatistics`.
pub const SEND_STATISTICS: Endpoint = Endpoint {
    provider: "Amazon SES",
    path: "/ (Action=GetSendStatistics)",
};

/// The form body of the call.
pub const SEND_STATISTICS_FORM: [(&str, &str); 2] =
    [("Action", "GetSendStatistics"), ("Version", "2010-12-01")];

/// The service name SES requests are signed for (the host says `email`).
pub const SIGNING_NAME: &str = "ses";

/// Parses a `GetSendStatisticsResponse`: the points summed into UTC hours,
/// one sample per hour that has any, in time order, for the account.
pub fn parse_send_statistics(body: &[u8]) -> Result<Vec<Sample>, PayloadError> {
    let site = Site::top(SEND_STATISTICS);
    let text =
        std::str::from_utf8(body).map_err(|_| site.error(None, "the body is not UTF-8 text"))?;
    let document = roxmltree::Document::parse(text)
        .map_err(|error| site.error(None, format!("not valid XML: {error}")))?;
    let root = document.root_element();
    if root.tag_name().name() != "GetSendStatisticsResponse" {
        return Err(site.error(
            None,
            format!(
                "expected a GetSendStatisticsResponse, got <{}>",
                super::quote_short(root.tag_name().name(), 40)
            ),
        ));
    }
    let points = child(root, "GetSendStatisticsResult")
        .and_then(|result| child(result, "SendDataPoints"))
        .ok_or_else(|| site.field_error("GetSendStatisticsResult.SendDataPoints", "missing"))?;
    let mut hours: BTreeMap<DateTime<Utc>, Counts> = BTreeMap::new();
    let members = points
        .children()
        .filter(|node| node.is_element() && node.tag_name().name() == "member");
    for (index, member) in members.enumerate() {
        let site = site.labelled(format!("SendDataPoints member {index}"));
        let text_of = |name: &str| child(member, name).map(|node| node.text().unwrap_or("").trim());
        let timestamp =
            text_of("Timestamp").ok_or_else(|| site.field_error("Timestamp", "missing"))?;
        let at = DateTime::parse_from_rfc3339(timestamp)
            .map_err(|_| {
                site.field_error(
                    "Timestamp",
                    format!(
                        "expected an ISO 8601 time, got {}",
                        super::quote_short(timestamp, 40)
                    ),
                )
            })?
            .with_timezone(&Utc);
        let hour = at
            .duration_trunc(chrono::Duration::hours(1))
            .map_err(|_| site.field_error("Timestamp", "out of range"))?;
        let count = |name: &str| -> Result<Option<u64>, PayloadError> {
            match text_of(name) {
                None => Ok(None),
                Some(digits)
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    digits
                        .parse()
                        .map(Some)
                        .map_err(|_| site.field_error(name, "expected a count (whole number ≥ 0)"))
                }
                Some(other) => Err(site.field_error(
                    name,
                    format!(
                        "expected a count (whole number ≥ 0), got {}",
                        super::quote_short(other, 40)
                    ),
                )),
            }
        };
        let sent = count("DeliveryAttempts")?;
        let bounces = count("Bounces")?;
        let delivered = match (sent, bounces) {
            (Some(sent), Some(bounces)) => Some(sent.checked_sub(bounces).ok_or_else(|| {
                site.error(
                    None,
                    format!("{bounces} bounces are more than the {sent} delivery attempts"),
                )
            })?),
            _ => None,
        };
        let point = Counts {
            sent,
            delivered,
            delivered_derived: delivered.is_some(),
            bounce_hard: bounces,
            complaints: count("Complaints")?,
            dropped: count("Rejects")?,
            ..Counts::default()
        };
        hours
            .entry(hour)
            .and_modify(|total| *total = total.plus(&point))
            .or_insert(point);
    }
    Ok(hours
        .into_iter()
        .map(|(start, counts)| Sample {
            stream: StreamKey::account(),
            bucket: Bucket {
                start,
                width: BucketWidth::Hour,
                provider_tz: "UTC".to_owned(),
            },
            counts,
        })
        .collect())
}

/// The first child element of `node` named `name` (any namespace).
fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|child| child.is_element() && child.tag_name().name() == name)
}

/// The `Code` of a Query-API error body (`<ErrorResponse><Error><Code>`).
pub fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let document = roxmltree::Document::parse(text).ok()?;
    document
        .descendants()
        .find(|node| node.is_element() && node.tag_name().name() == "Error")
        .and_then(|error| child(error, "Code"))
        .and_then(|code| code.text())
        .map(|code| code.trim().to_owned())
}

/// Whether `region` is written like an AWS region (`eu-west-1`): only
/// lowercase letters, digits and hyphens, so it is safe in a host name.
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region.contains('-')
        && region
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use std::time::SystemTime;

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use chrono::{DateTime, Utc};
    use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
    use reqwest::{Method, RequestBuilder};

    use crate::delivery::Sample;
    use crate::esp::account::Account;
    use crate::esp::client::{Body, FetchError, Plan, Session, Window};
    use crate::esp::ses;
    use crate::esp::source::{KeyPairDefaults, Refusal, Source, SourceFuture};

    /// Amazon SES v1: SigV4-signed form posts, XML answers.
    pub(crate) struct Ses;

    impl Source for Ses {
        fn name(&self) -> &'static str {
            "Amazon SES"
        }

        // GetSendStatistics covers the account only.
        fn stream_kinds(&self) -> &'static [&'static str] {
            &[]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            ses::is_region_name(region).then(|| format!("https://email.{region}.amazonaws.com"))
        }

        fn default_region(&self) -> &'static str {
            "us-east-1"
        }

        fn key_pair(&self) -> Option<KeyPairDefaults> {
            Some(KeyPairDefaults {
                key_id_env: "AWS_ACCESS_KEY_ID",
                secret_env: "AWS_SECRET_ACCESS_KEY",
                session_token_env: "AWS_SESSION_TOKEN",
            })
        }

        fn alert_preset(&self) -> Option<&'static str> {
            Some("ses")
        }

        // 15-minute points, final within minutes.
        fn settle_minutes(&self) -> u64 {
            20
        }

        fn lists_streams(&self) -> bool {
            false
        }

        // Throttled to one request a second; a poll makes one.
        fn concurrency(&self) -> usize {
            1
        }

        fn authorize(
            &self,
            request: RequestBuilder,
            _credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(request)
        }

        /// Signs the finished request (method, URL, content type and body)
        /// at `now`, and adds the signature's headers, marked sensitive.
        fn sign(
            &self,
            request: &mut reqwest::Request,
            account: &Account,
            now: DateTime<Utc>,
        ) -> Result<(), String> {
            let Some(pair) = &account.key_pair else {
                return Err("SES needs an access key ID and a region".to_owned());
            };
            let credentials = Credentials::new(
                pair.key_id.clone(),
                account.credential.expose().to_owned(),
                pair.session_token
                    .as_ref()
                    .map(|token| token.expose().to_owned()),
                None,
                "mailcall-configuration",
            );
            let identity = credentials.into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&pair.region)
                .name(ses::SIGNING_NAME)
                .time(SystemTime::from(now))
                .settings(SigningSettings::default())
                .build()
                .map_err(|_| "the request cannot be signed (signing parameters)".to_owned())?;
            let content_type = request
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let headers = content_type
                .iter()
                .map(|value| (CONTENT_TYPE.as_str(), value.as_str()));
            let body = request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .unwrap_or_default();
            let signable = SignableRequest::new(
                request.method().as_str(),
                request.url().as_str(),
                headers,
                SignableBody::Bytes(body),
            )
            .map_err(|_| "the request cannot be signed (its URL)".to_owned())?;
            let (instructions, _signature) = sign(signable, &params.into())
                .map_err(|_| "the request cannot be signed".to_owned())?
                .into_parts();
            let (headers, _query) = instructions.into_parts();
            for header in headers {
                let name = HeaderName::from_static(header.name());
                let mut value = HeaderValue::from_str(header.value())
                    .map_err(|_| "the signature is not a valid header".to_owned())?;
                value.set_sensitive(true);
                request.headers_mut().insert(name, value);
            }
            Ok(())
        }

        fn refusal(&self, status: u16, body: &[u8]) -> Option<Refusal> {
            let code = ses::error_code(body)?;
            Some(match code.as_str() {
                "Throttling" | "ThrottlingException" | "RequestThrottled" => Refusal::RateLimited,
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "IncompleteSignature"
                | "AccessDenied"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "MissingAuthenticationToken" => Refusal::Credential,
                "ServiceUnavailable" | "InternalFailure" => Refusal::Server,
                _ if status >= 500 => Refusal::Server,
                _ => return None,
            })
        }

        fn fetch<'a>(
            &'a self,
            session: &'a Session<'_>,
            _plan: &'a Plan,
            _window: Window,
        ) -> SourceFuture<'a> {
            Box::pin(fetch(session))
        }
    }

    async fn fetch(session: &Session<'_>) -> Result<Vec<Sample>, FetchError> {
        let body = session
            .send(
                ses::SEND_STATISTICS,
                Method::POST,
                "/",
                &[],
                Body::Form(&ses::SEND_STATISTICS_FORM),
            )
            .await?;
        session.payload(ses::parse_send_statistics(&body))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const STATISTICS_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/ses/get_send_statistics.xml");

    fn hour(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2016, 7, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn unsorted_quarters_are_summed_into_their_hours() {
        let samples = parse_send_statistics(STATISTICS_SAMPLE.as_bytes()).unwrap();
        let starts: Vec<_> = samples.iter().map(|s| s.bucket.start).collect();
        // 21:13, 22:43, 22:58 and 23:13: three hours, in time order.
        assert_eq!(starts, vec![hour(13, 21), hour(13, 22), hour(13, 23)]);
        assert_eq!(
            samples[1].counts,
            Counts {
                sent: Some(5 + 40),
                delivered: Some(45 - 2),
                delivered_derived: true,
                bounce_hard: Some(2),
                complaints: Some(1),
                dropped: Some(0),
                ..Counts::default()
            }
        );
        assert_eq!(samples[0].counts.sent, Some(1));
        assert_eq!(samples[2].counts.sent, Some(3));
        assert!(samples
            .iter()
            .all(|s| s.stream == StreamKey::account() && s.bucket.width == BucketWidth::Hour));
        // SES never reports soft bounces: unknown, not zero.
        assert_eq!(samples[1].counts.bounce_soft, None);
    }

    #[test]
    fn bad_bodies_say_where() {
        let wrap = |member: &str| {
            format!(
                "<GetSendStatisticsResponse><GetSendStatisticsResult><SendDataPoints><member>{member}</member></SendDataPoints></GetSendStatisticsResult></GetSendStatisticsResponse>"
            )
        };
        let error =
            parse_send_statistics(wrap("<Timestamp>yesterday</Timestamp>").as_bytes()).unwrap_err();
        assert_eq!(error.item.as_deref(), Some("SendDataPoints member 0"));
        assert_eq!(error.field.as_deref(), Some("Timestamp"));
        let error = parse_send_statistics(
            wrap("<Timestamp>2016-07-13T22:43:00Z</Timestamp><Bounces>-1</Bounces>").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("Bounces"));
        let error = parse_send_statistics(
            wrap("<Timestamp>2016-07-13T22:43:00Z</Timestamp><DeliveryAttempts>1</DeliveryAttempts><Bounces>2</Bounces>").as_bytes(),
        )
        .unwrap_err();
        assert!(error.problem.contains("more than"), "{error}");
        assert!(parse_send_statistics(b"<GetSendStatisticsResponse><Get").is_err());
        assert!(parse_send_statistics(b"{\"SendDataPoints\":[]}").is_err());
        let other = parse_send_statistics(b"<ErrorResponse/>").unwrap_err();
        assert!(other.problem.contains("ErrorResponse"), "{other}");
        // No activity in two weeks: no points, no samples.
        assert_eq!(
            parse_send_statistics(
                b"<GetSendStatisticsResponse><GetSendStatisticsResult><SendDataPoints/></GetSendStatisticsResult></GetSendStatisticsResponse>"
            )
            .unwrap(),
            Vec::new()
        );
    }

    #[test]
    fn error_codes_are_read() {
        let throttled = include_str!("../../tests/fixtures/esp/ses/throttling_400.xml");
        assert_eq!(
            error_code(throttled.as_bytes()).as_deref(),
            Some("Throttling")
        );
        assert_eq!(error_code(b"{}"), None);
    }

    #[test]
    fn region_names_are_checked_before_they_reach_a_host() {
        assert!(is_region_name("eu-west-1"));
        assert!(is_region_name("us-gov-west-1"));
        for bad in [
            "",
            "us",
            "EU-WEST-1",
            "eu-west-1.evil.com",
            "eu west",
            "-eu-1",
            "eu-1-",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
