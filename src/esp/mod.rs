//! Email service provider (ESP) statistics payloads, normalised into
//! [`crate::delivery::Sample`]s.
//!
//! Each submodule takes the documented body (JSON; SES's XML) of one
//! provider's stats endpoints and returns canonical samples. The functions here are pure: no
//! networking, no disk, no clock (the rate-limit helpers take "now" as an
//! argument). That keeps the provider quirks (time zones, strings-as-numbers,
//! omitted zero keys, month buckets) testable against the providers' own
//! published sample payloads, and keeps the poller that fetches bodies free
//! of them.
//!
//! A body that does not look like the documentation says is a
//! [`PayloadError`] naming the provider, the endpoint, the item and the field,
//! so an operator can tell a provider change from a bug. Parsing never panics
//! on outside input.

pub mod account;
pub mod brevo;
pub mod client;
pub mod mailchimp;
pub mod mailgun;
pub mod mandrill;
pub mod postmark;
pub mod postmaster;
pub mod sandbox;
pub mod sendgrid;
pub mod ses;
pub(crate) mod source;
pub mod sparkpost;

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{Map, Value};

/// A provider endpoint, for error messages: `SendGrid /v3/categories/stats`.
///
/// Paths are the documented templates (`/v3/{domain}/stats/total`), never the
/// URL actually called, so an error can never carry a query string, a domain
/// or a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub provider: &'static str,
    pub path: &'static str,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.provider, self.path)
    }
}

/// A response body that does not match the provider's documented shape.
///
/// The message reads like
/// ``SendGrid /v3/categories/stats: item 3: field `date`: expected YYYY-MM-DD, got "2015/10/01"``.
/// Item numbers are zero-based, as in the JSON array. Values quoted from the
/// body are cut short; headers and credentials are never part of the error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint}: {}{}{problem}", item_prefix(.item), field_prefix(.field))]
pub struct PayloadError {
    /// Which provider and endpoint the body came from.
    pub endpoint: Endpoint,
    /// Which element of the body's main list, if the problem is inside one:
    /// `"item 3"`, `"Days item 0"`.
    pub item: Option<String>,
    /// The field, as a path from the item (or from the top of the body):
    /// `"date"`, `"stats[0].metrics.bounces"`.
    pub field: Option<String>,
    /// What was wrong.
    pub problem: String,
}

fn item_prefix(item: &Option<String>) -> String {
    item.as_ref()
        .map(|item| format!("{item}: "))
        .unwrap_or_default()
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|field| format!("field `{field}`: "))
        .unwrap_or_default()
}

/// Where in a body the parser is, so errors can say so.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    endpoint: Endpoint,
    item: Option<String>,
}

impl Site {
    pub(crate) fn top(endpoint: Endpoint) -> Site {
        Site {
            endpoint,
            item: None,
        }
    }

    /// The site of element `index` of the body's main list.
    pub(crate) fn item(&self, index: usize) -> Site {
        self.labelled(format!("item {index}"))
    }

    pub(crate) fn labelled(&self, label: String) -> Site {
        Site {
            endpoint: self.endpoint,
            item: Some(label),
        }
    }

    pub(crate) fn error(&self, field: Option<&str>, problem: impl Into<String>) -> PayloadError {
        PayloadError {
            endpoint: self.endpoint,
            item: self.item.clone(),
            field: field.map(str::to_owned),
            problem: problem.into(),
        }
    }

    pub(crate) fn field_error(&self, field: &str, problem: impl Into<String>) -> PayloadError {
        self.error(Some(field), problem)
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Parses the body as JSON. serde_json's syntax messages name a position and
/// a category, never the body's content.
pub(crate) fn parse_json(endpoint: Endpoint, body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body)
        .map_err(|error| Site::top(endpoint).error(None, format!("not valid JSON: {error}")))
}

/// A short description of a value for "expected X, got Y" messages.
pub(crate) fn describe(value: &Value) -> String {
    const LONGEST: usize = 40;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => quote_short(text, LONGEST),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

pub(crate) fn quote_short(text: &str, longest: usize) -> String {
    if text.chars().count() <= longest {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(longest).collect();
        format!("{cut:?}…")
    }
}

/// The value as an object, or an error at `field` (`""` for the whole body).
pub(crate) fn expect_object<'a>(
    value: &'a Value,
    site: &Site,
    field: &str,
) -> Result<&'a Map<String, Value>, PayloadError> {
    value.as_object().ok_or_else(|| {
        let problem = format!("expected an object, got {}", describe(value));
        if field.is_empty() {
            site.error(None, problem)
        } else {
            site.field_error(field, problem)
        }
    })
}

/// The value as an array, or an error at `field` (`""` for the whole body).
pub(crate) fn expect_array<'a>(
    value: &'a Value,
    site: &Site,
    field: &str,
) -> Result<&'a Vec<Value>, PayloadError> {
    value.as_array().ok_or_else(|| {
        let problem = format!("expected an array, got {}", describe(value));
        if field.is_empty() {
            site.error(None, problem)
        } else {
            site.field_error(field, problem)
        }
    })
}

/// `object[key]`, treating JSON `null` like an absent key.
pub(crate) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// `object[key]`, which must be there. `parent` is the path of `object`.
pub(crate) fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    site: &Site,
    parent: &str,
) -> Result<&'a Value, PayloadError> {
    present(object, key).ok_or_else(|| site.field_error(&path(parent, key), "missing"))
}

/// `object[key]` as text, which must be there.
pub(crate) fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    site: &Site,
    parent: &str,
) -> Result<&'a str, PayloadError> {
    let value = required(object, key, site, parent)?;
    value.as_str().ok_or_else(|| {
        site.field_error(
            &path(parent, key),
            format!("expected a string, got {}", describe(value)),
        )
    })
}

/// How a provider writes counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CountStyle {
    /// JSON integers only.
    Number,
    /// JSON integers, or decimal digits in a string (`"40"`).
    NumberOrDigits,
}

/// `object[key]` as a count: `None` when absent (or `null`), an error when it
/// is not a non-negative whole number.
pub(crate) fn optional_count(
    object: &Map<String, Value>,
    key: &str,
    style: CountStyle,
    site: &Site,
    parent: &str,
) -> Result<Option<u64>, PayloadError> {
    match present(object, key) {
        None => Ok(None),
        Some(value) => count_value(value, style)
            .map(Some)
            .map_err(|problem| site.field_error(&path(parent, key), problem)),
    }
}

fn count_value(value: &Value, style: CountStyle) -> Result<u64, String> {
    let expected = || match style {
        CountStyle::Number => format!(
            "expected a count (whole number ≥ 0), got {}",
            describe(value)
        ),
        CountStyle::NumberOrDigits => format!(
            "expected a count (whole number ≥ 0, as a number or a string of digits), got {}",
            describe(value)
        ),
    };
    match value {
        Value::Number(number) => number.as_u64().ok_or_else(expected),
        Value::String(text) if style == CountStyle::NumberOrDigits => {
            let digits = text.trim();
            if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
                digits.parse().map_err(|_| expected())
            } else {
                Err(expected())
            }
        }
        _ => Err(expected()),
    }
}

/// The sum of several counts, or `None` unless every part is known: a sum
/// over half the parts would look like a real total and be too low.
pub(crate) fn sum_if_all_known(
    parts: &[Option<u64>],
    site: &Site,
    field: &str,
) -> Result<Option<u64>, PayloadError> {
    let mut total: u64 = 0;
    for part in parts {
        let Some(part) = part else { return Ok(None) };
        total = total
            .checked_add(*part)
            .ok_or_else(|| site.field_error(field, "counts add up to more than 2^64"))?;
    }
    Ok(Some(total))
}

/// A `YYYY-MM-DD` date.
pub(crate) fn parse_ymd(text: &str, site: &Site, field: &str) -> Result<NaiveDate, PayloadError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| {
            site.field_error(
                field,
                format!("expected YYYY-MM-DD, got {}", quote_short(text, 40)),
            )
        })
}

/// An RFC 2822 timestamp as Mailgun writes it: `Wed, 01 Nov 2023 00:00:00
/// +0000` or `Tue, 14 Feb 2012 00:00:00 UTC`.
///
/// Lenient on purpose in two ways: the day-of-week is ignored (Mailgun's own
/// documented tag-stats sample says "Fri, 01 Apr 2012", a Sunday), and `UTC`
/// is accepted as a zone name (RFC 2822 only knows `UT` and `GMT`). Other
/// named zones (`EST`) are rejected; Mailgun itself warns against them.
pub(crate) fn parse_rfc2822_lenient(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    let without_weekday = match text.split_once(',') {
        Some((weekday, rest)) if weekday.trim().chars().all(|c| c.is_ascii_alphabetic()) => {
            rest.trim()
        }
        Some(_) => return None,
        None => text,
    };
    let (local, zone) = without_weekday.rsplit_once(' ')?;
    let offset_seconds = match zone {
        "UTC" | "UT" | "GMT" | "Z" => 0,
        _ => parse_numeric_offset(zone)?,
    };
    let offset = FixedOffset::east_opt(offset_seconds)?;
    let local = NaiveDateTime::parse_from_str(local.trim(), "%d %b %Y %H:%M:%S").ok()?;
    offset.from_local_datetime(&local).single()
}

/// `+0000`, `-0600` → seconds east of UTC.
fn parse_numeric_offset(zone: &str) -> Option<i32> {
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const TEST_ENDPOINT: Endpoint = Endpoint {
        provider: "Example",
        path: "/stats",
    };

    #[test]
    fn error_messages_say_what_and_where() {
        let error = Site::top(TEST_ENDPOINT)
            .item(3)
            .field_error("date", "expected YYYY-MM-DD, got \"x\"");
        assert_eq!(
            error.to_string(),
            "Example /stats: item 3: field `date`: expected YYYY-MM-DD, got \"x\""
        );
        let whole_body = Site::top(TEST_ENDPOINT).error(None, "not valid JSON: EOF");
        assert_eq!(
            whole_body.to_string(),
            "Example /stats: not valid JSON: EOF"
        );
    }

    #[test]
    fn truncated_json_is_an_error_not_a_panic() {
        let error = parse_json(TEST_ENDPOINT, br#"[{"date": "2015-"#).unwrap_err();
        assert!(error.problem.starts_with("not valid JSON"), "{error}");
        assert!(parse_json(TEST_ENDPOINT, b"").is_err());
    }

    #[test]
    fn counts_must_be_whole_and_not_negative() {
        let site = Site::top(TEST_ENDPOINT);
        let object: Map<String, Value> = serde_json::from_str(
            r#"{"ok": 5, "negative": -3, "fraction": 1.5, "text": "40", "bad": "4x", "nothing": null}"#,
        )
        .unwrap();
        let count = |key, style| optional_count(&object, key, style, &site, "metrics");
        assert_eq!(count("ok", CountStyle::Number), Ok(Some(5)));
        assert_eq!(count("absent", CountStyle::Number), Ok(None));
        assert_eq!(count("nothing", CountStyle::Number), Ok(None));
        let negative = count("negative", CountStyle::Number).unwrap_err();
        assert_eq!(negative.field.as_deref(), Some("metrics.negative"));
        assert!(negative.problem.contains("got -3"), "{negative}");
        assert!(count("fraction", CountStyle::NumberOrDigits).is_err());
        assert!(count("text", CountStyle::Number).is_err());
        assert_eq!(count("text", CountStyle::NumberOrDigits), Ok(Some(40)));
        assert!(count("bad", CountStyle::NumberOrDigits).is_err());
    }

    #[test]
    fn a_sum_with_an_unknown_part_is_unknown() {
        let site = Site::top(TEST_ENDPOINT);
        assert_eq!(
            sum_if_all_known(&[Some(1), Some(2)], &site, "x"),
            Ok(Some(3))
        );
        assert_eq!(sum_if_all_known(&[Some(1), None], &site, "x"), Ok(None));
        assert!(sum_if_all_known(&[Some(u64::MAX), Some(1)], &site, "x").is_err());
    }

    #[test]
    fn dates_must_be_year_month_day() {
        let site = Site::top(TEST_ENDPOINT);
        assert_eq!(
            parse_ymd("2015-10-01", &site, "date"),
            Ok(NaiveDate::from_ymd_opt(2015, 10, 1).unwrap())
        );
        assert!(parse_ymd("2015/10/01", &site, "date").is_err());
        assert!(parse_ymd("2015-10-01T00:00", &site, "date").is_err());
        assert!(parse_ymd("", &site, "date").is_err());
    }

    #[test]
    fn mailgun_style_timestamps_parse_with_their_offset() {
        let utc = |text| parse_rfc2822_lenient(text).map(|time| time.with_timezone(&Utc));
        let midnight_nov_1 = Utc.with_ymd_and_hms(2023, 11, 1, 0, 0, 0).unwrap();
        assert_eq!(utc("Wed, 01 Nov 2023 00:00:00 +0000"), Some(midnight_nov_1));
        assert_eq!(
            utc("Mon, 13 Nov 2023 20:56:50 -0600"),
            Some(Utc.with_ymd_and_hms(2023, 11, 14, 2, 56, 50).unwrap())
        );
        assert_eq!(
            utc("Tue, 14 Feb 2012 00:00:00 UTC"),
            Some(Utc.with_ymd_and_hms(2012, 2, 14, 0, 0, 0).unwrap())
        );
        // The weekday is wrong in Mailgun's own sample; it is ignored.
        assert_eq!(
            utc("Fri, 01 Apr 2012 00:00:00 UTC"),
            Some(Utc.with_ymd_and_hms(2012, 4, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(utc("Wed, 01 Nov 2023 00:00:00 EST"), None);
        assert_eq!(utc("2023-11-01T00:00:00Z"), None);
        assert_eq!(utc(""), None);
        assert_eq!(utc("Wed, 01 Nov 2023 00:00:00 +00"), None);
    }
}
