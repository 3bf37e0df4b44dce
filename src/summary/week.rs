//! The week a summary is about: an ISO week (`2026-W47`, Monday to Sunday)
//! in the team's time zone.
//!
//! A summary's figures must add up to what people saw on their calendar, so
//! the week runs from Monday 00:00 to the next Monday 00:00 *local time*: a
//! week with a daylight-saving change is 167 or 169 hours long, and its
//! days are the local days, one of them 23 or 25 hours.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, IsoWeek, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// An ISO week: year and week number (1–53).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    monday: NaiveDate,
}

/// Why a week could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a week: {reason} (write it as 2026-W47)")]
pub struct WeekError {
    text: String,
    reason: &'static str,
}

impl Week {
    /// The week containing `day`.
    pub fn of_day(day: NaiveDate) -> Week {
        let back = i64::from(day.weekday().num_days_from_monday());
        Week {
            monday: day - Duration::days(back),
        }
    }

    /// The week containing instant `at`, as seen in `zone`.
    pub fn containing(at: DateTime<Utc>, zone: Tz) -> Week {
        Week::of_day(at.with_timezone(&zone).date_naive())
    }

    /// Its Monday.
    pub fn monday(self) -> NaiveDate {
        self.monday
    }

    fn iso(self) -> IsoWeek {
        self.monday.iso_week()
    }

    /// The week before.
    pub fn previous(self) -> Week {
        Week {
            monday: self.monday - Duration::weeks(1),
        }
    }

    /// The week after.
    pub fn next(self) -> Week {
        Week {
            monday: self.monday + Duration::weeks(1),
        }
    }

    /// The seven local days, Monday first.
    pub fn days(self) -> Vec<NaiveDate> {
        (0..7).map(|d| self.monday + Duration::days(d)).collect()
    }

    /// Where it starts and ends (exclusive) in `zone`.
    pub fn bounds(self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(self.monday, zone),
            local_midnight(self.monday + Duration::weeks(1), zone),
        )
    }
}

/// The first instant of `day` in `zone`. Where a zone skips midnight (a
/// daylight-saving change at 00:00), the day starts at the first local time
/// that exists.
pub fn local_midnight(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut time = day.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&time).earliest() {
            return at.with_timezone(&Utc);
        }
        time += Duration::minutes(30);
    }
    // No zone skips two hours; read the wall time as UTC rather than fail.
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.iso();
        write!(f, "{}-W{:02}", iso.year(), iso.week())
    }
}

impl FromStr for Week {
    type Err = WeekError;

    fn from_str(text: &str) -> Result<Week, WeekError> {
        let error = |reason| WeekError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let (year, week) = trimmed
            .split_once(['W', 'w'])
            .ok_or_else(|| error("no `W` between the year and the week number"))?;
        let year: i32 = year
            .trim_end_matches('-')
            .parse()
            .map_err(|_| error("the year is not a number"))?;
        let week: u32 = week
            .parse()
            .map_err(|_| error("the week number is not a number"))?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .ok_or_else(|| error("that year has no such week"))?;
        Ok(Week { monday })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(text: &str) -> Week {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_and_writes_iso_weeks() {
        assert_eq!(week("2026-W47").to_string(), "2026-W47");
        assert_eq!(week("2026-W47").monday().to_string(), "2026-11-16");
        assert_eq!(week("2026w1").to_string(), "2026-W01");
        // ISO week 1 of 2027 starts on Monday 2027-01-04; 2026 has 53 weeks.
        assert_eq!(week("2026-W53").monday().to_string(), "2026-12-28");
        assert_eq!(week("2026-W53").next(), week("2027-W01"));
    }

    #[test]
    fn refuses_what_is_not_a_week_and_says_why() {
        let err = |t: &str| t.parse::<Week>().err().map(|e| e.to_string());
        assert_eq!(
            err("2025-W53"),
            Some(
                "`2025-W53` is not a week: that year has no such week (write it as 2026-W47)"
                    .into()
            )
        );
        assert!(err("2026-47").is_some_and(|e| e.contains("no `W`")));
        assert!(err("2026-Wxx").is_some_and(|e| e.contains("week number")));
    }

    #[test]
    fn a_week_with_a_clock_change_is_an_hour_short_or_long() {
        let paris: Tz = chrono_tz::Europe::Paris;
        let hours = |w: &str| {
            let (from, to) = week(w).bounds(paris);
            (to - from).num_hours()
        };
        // 2026-03-29 (Sunday of W13) springs forward; 2026-10-25 (W43) falls back.
        assert_eq!(hours("2026-W12"), 168);
        assert_eq!(hours("2026-W13"), 167);
        assert_eq!(hours("2026-W43"), 169);
        let (from, _) = week("2026-W47").bounds(paris);
        assert_eq!(from.to_rfc3339(), "2026-11-15T23:00:00+00:00");
    }

    #[test]
    fn the_week_of_an_instant_is_read_in_the_zone() {
        let new_york: Tz = chrono_tz::America::New_York;
        // Monday 02:00 UTC is still Sunday evening in New York.
        let at: DateTime<Utc> = "2026-11-23T02:00:00Z".parse().unwrap_or_default();
        assert_eq!(Week::containing(at, new_york).to_string(), "2026-W47");
        assert_eq!(Week::containing(at, chrono_tz::UTC).to_string(), "2026-W48");
    }
}
