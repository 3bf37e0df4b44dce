//! Duty load: how often each person was alerted and paged, and when (in
//! working hours, off hours or sleep hours of their rotation's zone).
//!
//! A rotation is fair only if the load it puts on people is seen: a week
//! of night pages is not the same week as one of office-hour alerts. The
//! engine records each alert and each page (a mention of the member on
//! duty) as it raises them, in the same change; `/duty load` and the
//! weekly summary read the counts back.
//!
//! Plain Rust: no Discord, disk or clock.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::Actor;

/// When a rotation's members work, in its zone: these weekdays, from
/// `start` to `end` (end not included). Sleep hours are 22:00 to 07:00
/// every day; the rest is off hours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for WorkingHours {
    /// Monday to Friday, 09:00 to 18:00.
    fn default() -> WorkingHours {
        WorkingHours {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
        }
    }
}

impl WorkingHours {
    /// "Mon-Fri 09:00-18:00" (days as a range or a comma list).
    pub fn parse(text: &str) -> Result<WorkingHours, String> {
        let wrong = || {
            format!("`{text}` is not working hours such as \"Mon-Fri 09:00-18:00\" or \"Mon,Wed 08:30-16:00\"")
        };
        let (days, hours) = text.trim().split_once(' ').ok_or_else(wrong)?;
        let day = |name: &str| name.trim().parse::<Weekday>().map_err(|_| wrong());
        let mut list = Vec::new();
        for part in days.split(',') {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (mut d, last) = (day(first)?, day(last)?);
                    loop {
                        list.push(d);
                        if d == last {
                            break;
                        }
                        d = d.succ();
                    }
                }
                None => list.push(day(part)?),
            }
        }
        let (start, end) = hours.trim().split_once('-').ok_or_else(wrong)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| wrong());
        let (start, end) = (time(start)?, time(end)?);
        if end <= start {
            return Err(format!(
                "`{text}`: working hours end after they start, within a day"
            ));
        }
        list.sort_by_key(|d| d.num_days_from_monday());
        list.dedup();
        Ok(WorkingHours {
            days: list,
            start,
            end,
        })
    }

    /// Which part of the day `at` falls in, in `zone`.
    pub fn period(&self, at: DateTime<Utc>, zone: Tz) -> Period {
        let local = at.with_timezone(&zone);
        let time = local.time();
        if self.days.contains(&local.weekday()) && self.start <= time && time < self.end {
            return Period::Working;
        }
        let hour = time.hour();
        if !(7..22).contains(&hour) {
            Period::Sleep
        } else {
            Period::Off
        }
    }
}

/// A part of the day, for counting load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Working,
    Off,
    Sleep,
}

/// What happened to a member on duty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// An alert was raised for their team while they were on duty.
    Alert,
    /// They were mentioned: a new alert or a reminder.
    Page,
}

/// Counts per period: working, off, sleep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub working: u32,
    pub off: u32,
    pub sleep: u32,
}

impl Counts {
    fn add(&mut self, period: Period) {
        let slot = match period {
            Period::Working => &mut self.working,
            Period::Off => &mut self.off,
            Period::Sleep => &mut self.sleep,
        };
        *slot = slot.saturating_add(1);
    }

    fn plus(self, other: Counts) -> Counts {
        Counts {
            working: self.working.saturating_add(other.working),
            off: self.off.saturating_add(other.off),
            sleep: self.sleep.saturating_add(other.sleep),
        }
    }

    pub fn total(&self) -> u32 {
        self.working
            .saturating_add(self.off)
            .saturating_add(self.sleep)
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} working, {} off hours, {} sleep hours)",
            self.total(),
            self.working,
            self.off,
            self.sleep
        )
    }
}

/// One member's load in one week.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekLoad {
    pub alerts: Counts,
    pub pages: Counts,
}

/// One member's load, week by week (keyed by the Monday, in UTC, that
/// starts the week).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberLoad {
    pub member: Actor,
    pub weeks: BTreeMap<NaiveDate, WeekLoad>,
}

/// Everyone's load, as the store keeps it (keyed by member id).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DutyLoad {
    pub members: BTreeMap<String, MemberLoad>,
}

/// The Monday (UTC) of the week holding `at`.
pub fn week_of(at: DateTime<Utc>) -> NaiveDate {
    let day = at.date_naive();
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// How many weeks of load are kept.
const KEPT_WEEKS: i64 = 26;

impl DutyLoad {
    /// Counts one alert or page for `member` at `at`, in `period`.
    pub fn record(&mut self, member: &Actor, at: DateTime<Utc>, period: Period, what: Received) {
        let entry = self
            .members
            .entry(member.id.clone())
            .or_insert_with(|| MemberLoad {
                member: member.clone(),
                weeks: BTreeMap::new(),
            });
        entry.member.name = member.name.clone();
        let week = entry.weeks.entry(week_of(at)).or_default();
        match what {
            Received::Alert => week.alerts.add(period),
            Received::Page => week.pages.add(period),
        }
        let oldest = week_of(at) - Duration::weeks(KEPT_WEEKS);
        entry.weeks.retain(|start, _| *start >= oldest);
    }

    /// Each member's load over the weeks starting from `from` (a Monday)
    /// up to `to` (not included), busiest first; members with none left
    /// out.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> Vec<(Actor, WeekLoad)> {
        let mut rows: Vec<(Actor, WeekLoad)> =
            self.members
                .values()
                .filter_map(|m| {
                    let sum = m.weeks.range(from..to).map(|(_, w)| *w).fold(
                        WeekLoad::default(),
                        |a, w| WeekLoad {
                            alerts: a.alerts.plus(w.alerts),
                            pages: a.pages.plus(w.pages),
                        },
                    );
                    (sum.alerts.total() + sum.pages.total() > 0).then(|| (m.member.clone(), sum))
                })
                .collect();
        rows.sort_by_key(|(member, load)| {
            (
                std::cmp::Reverse((load.pages.sleep, load.pages.off, load.pages.total())),
                member.name.clone(),
            )
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn working_off_and_sleep_hours_are_read_in_the_rotations_zone() {
        let hours = WorkingHours::default();
        let paris: Tz = "Europe/Paris".parse().unwrap_or(Tz::UTC);
        // Tuesday 08:30Z is 10:30 in Paris (summer): working.
        assert_eq!(
            hours.period(at("2026-06-02T08:30:00Z"), paris),
            Period::Working
        );
        // Tuesday 17:30Z is 19:30 in Paris: off hours.
        assert_eq!(hours.period(at("2026-06-02T17:30:00Z"), paris), Period::Off);
        // Tuesday 21:30Z is 23:30 in Paris: sleep.
        assert_eq!(
            hours.period(at("2026-06-02T21:30:00Z"), paris),
            Period::Sleep
        );
        // Saturday noon: off hours, not working.
        assert_eq!(hours.period(at("2026-06-06T10:00:00Z"), paris), Period::Off);
    }

    #[test]
    fn working_hours_parse_ranges_and_lists_and_refuse_nonsense() {
        let hours = WorkingHours::parse("Sat-Mon 08:30-16:00").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hours.days, [Weekday::Mon, Weekday::Sat, Weekday::Sun]);
        assert_eq!(
            hours.start,
            NaiveTime::from_hms_opt(8, 30, 0).unwrap_or_default()
        );
        let list = WorkingHours::parse("Mon,Wed 09:00-17:00").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.days, [Weekday::Mon, Weekday::Wed]);
        for bad in [
            "",
            "Mon-Fri",
            "Mon-Fri 18:00-09:00",
            "Monday-Funday 09:00-17:00",
            "Mon-Fri 9-17",
        ] {
            assert!(WorkingHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_is_summed_per_member_over_weeks_busiest_nights_first() {
        let mut load = DutyLoad::default();
        let ines = Actor::console("ines");
        let ivan = Actor::console("ivan");
        load.record(
            &ines,
            at("2026-06-02T08:30:00Z"),
            Period::Working,
            Received::Alert,
        );
        load.record(
            &ines,
            at("2026-06-02T08:30:00Z"),
            Period::Working,
            Received::Page,
        );
        load.record(
            &ivan,
            at("2026-06-09T01:00:00Z"),
            Period::Sleep,
            Received::Page,
        );
        load.record(
            &ivan,
            at("2026-06-10T01:00:00Z"),
            Period::Sleep,
            Received::Page,
        );
        let weeks = load.between(
            week_of(at("2026-06-01T00:00:00Z")),
            week_of(at("2026-06-15T00:00:00Z")),
        );
        let names: Vec<&str> = weeks.iter().map(|(m, _)| m.name.as_str()).collect();
        assert_eq!(names, ["ivan", "ines"]);
        assert_eq!(weeks[0].1.pages.sleep, 2);
        assert_eq!(weeks[1].1.alerts.working, 1);
        // One week only: ivan's nights are in the next one.
        let first = load.between(
            week_of(at("2026-06-01T00:00:00Z")),
            week_of(at("2026-06-08T00:00:00Z")),
        );
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].1.pages.to_string(),
            "1 (1 working, 0 off hours, 0 sleep hours)"
        );
    }
}
