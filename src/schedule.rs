//! Cron schedules evaluated in a named time zone, correct across daylight
//! saving time (DST) changes.
//!
//! mailcall polls each email provider's stats API on a cron schedule that a
//! team writes in its own wall-clock time ("`0 9 * * MON` in Europe/Paris").
//! A poll that is skipped on the night the clocks go forward, or that runs
//! twice on the night they go back, turns into a missing or doubled report
//! and, worse, into a false "no data" or "spike" alert. This module turns an
//! expression plus an IANA zone into the exact UTC instants to poll at.
//!
//! # Which crate, and why
//!
//! The expression is parsed and matched by **croner 3.0.1**, but only against
//! *wall-clock* (naive local) time, where there is no DST. Turning a matching
//! wall-clock time into a UTC instant is done here, with the policy below.
//! Neither crate's own time-zone handling passed the DST tests in this file;
//! both sets of findings are kept as tests (`measured_cron_0_17_*`,
//! `measured_croner_3_0_1_*`), so an upgrade that changes them fails loudly.
//!
//! Measured with 2026 transitions (Paris: 29 March 02:00→03:00 and 25 October
//! 03:00→02:00; New York: 8 March 02:00→03:00 and 1 November 02:00→01:00):
//!
//! | case | cron 0.17 | croner 3.0.1 | mailcall |
//! |------|-----------|--------------|----------|
//! | daily 02:30, spring day (in the gap) | **skipped** (Paris: 28 Mar 01:30Z then 30 Mar 00:30Z; New York: 7 Mar 07:30Z then 9 Mar 06:30Z) | once at 03:00 local (01:00Z / 07:00Z) | once at 03:00 local |
//! | daily 01:30, spring day (just before the gap) | once | **twice**: 01:30 local and again at 03:00 local (Paris 00:30Z + 01:00Z, New York 06:30Z + 07:00Z) | once |
//! | daily 02:30 (Paris) / 01:30 (New York), fall-back day (repeated) | **twice** (Paris 00:30Z + 01:30Z, New York 05:30Z + 06:30Z) | once, first pass | once, first pass |
//! | `*/15`, repeated hour | both passes but **out of order** (New York: 05:00Z, 06:00Z, 05:15Z, 06:15Z, …) | iterator: same disorder; chained `find_next_occurrence`: **second pass dropped** (05:45Z → 07:00Z) | both passes, ascending |
//! | next after 06:10Z on 1 Nov (01:10 EST), `*/15` | **05:15Z**, before the input | **05:15Z**, before the input | 06:15Z |
//! | Monday 09:00 | 09:00 local both sides | 09:00 local both sides | 09:00 local both sides |
//!
//! cron 0.17 also differs from the cron syntax teams paste: it needs a
//! seconds field (`30 2 * * *` is rejected), numbers weekdays 1-7 from Sunday
//! (`0 0 9 * * 1` fires on Sundays) and requires *both* day-of-month and
//! day-of-week to match (`13` and `FRI` means "Friday the 13th", where Vixie
//! cron means "the 13th, and every Friday"). croner follows Vixie cron on all
//! three, which is why it is the pattern engine; its DST resolution, the
//! rows above, is what we replace. This module does not use the `cron` crate;
//! only the measured-findings test does.
//!
//! # DST policy
//!
//! Jobs are split the way Vixie cron (and cronie) split them:
//!
//! - a **fixed-time** job has neither its minute nor its hour field starting
//!   with `*` (`30 2 * * *`, `0 9 * * MON`, `0 8,20 * * *`);
//! - an **interval** job has a `*` there (`*/15 * * * *`, `0 * * * *`,
//!   `*/10 1 * * *`).
//!
//! Then:
//!
//! - **Clocks go forward** (a wall-clock time does not exist): a fixed-time
//!   job runs once, at the first real instant after the gap (02:30 → 03:00
//!   local), never skipped; several of its times in one gap still make one
//!   run. An interval job simply has no run at the missing times: its runs
//!   stay evenly spaced in real time (01:45, then 03:00 local).
//! - **Clocks go back** (a wall-clock time happens twice): a fixed-time job
//!   runs once, at the first occurrence. An interval job runs at every real
//!   instant, so the repeated hour is polled in both passes, in real-time
//!   order (01:45 EDT, 01:00 EST, 01:15 EST, …).
//!
//! croner classifies differently (a list such as `0 1,13 * * *` is an
//! "interval" job to croner and would run twice on fall-back night); we use
//! the Vixie rule because it is what cron users expect.
//!
//! # Syntax
//!
//! Exactly five fields, `minute hour day-of-month month day-of-week`, in the
//! Vixie cron syntax (`*`, `,`, `-`, `/`, `JAN`-`DEC`, `SUN`-`SAT`, 0 and 7
//! both Sunday, day-of-month *or* day-of-week when both are restricted),
//! plus `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly` and
//! `@yearly`/`@annually`, and croner's extensions (`L`, `nW`, `FRI#2`, `5L`).
//! A sixth field is rejected rather than guessed at: tools disagree on
//! whether it is seconds (first) or a year (last), and provider stats APIs
//! are not worth polling more than once a minute. Names are case-insensitive
//! and are turned into numbers here, field by field: croner replaces them
//! anywhere in the pattern, so `MON` in the month field would silently mean
//! January. Time-zone names are case-insensitive too (`europe/paris` is
//! accepted as `Europe/Paris`).
//! An expression that can never fire (`0 0 30 2 *`) is rejected at parse
//! time, so the search for the next run always terminates quickly.
//!
//! # Limits
//!
//! - [`Schedule::runs_between`] returns at most [`MAX_RUNS_BETWEEN`]
//!   instants (the earliest ones).
//! - Times are resolved to the second; the sub-second part of an input
//!   instant only matters for "strictly after".
//! - Searching stops at year 5000 (croner's limit): `next_after` then
//!   returns `None`.
//! - Transitions are assumed to be at least a day apart, which holds for
//!   every zone in the tz database.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// The most instants [`Schedule::runs_between`] returns. A once-a-minute
/// schedule reaches it in just under a week; callers asking about longer
/// spans get the earliest `MAX_RUNS_BETWEEN` runs.
pub const MAX_RUNS_BETWEEN: usize = 10_000;

/// Names of the five fields, in order, as used in error messages.
const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// What each field accepts, as used in error messages.
const FIELD_RANGES: [&str; 5] = [
    "0-59",
    "0-23",
    "1-31, L or nW",
    "1-12 or JAN-DEC",
    "0-7 or SUN-SAT, 0 and 7 being Sunday",
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A cron expression bound to an IANA time zone.
///
/// Build one with [`Schedule::parse`]; ask it for runs with
/// [`Schedule::next_after`] and [`Schedule::runs_between`]. All instants
/// going in and out are UTC; the zone only decides which UTC instants the
/// expression's wall-clock times are (see the module docs for DST).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    expression: String,
    time_zone: Tz,
    cron: Cron,
    kind: JobKind,
}

/// How a job behaves when its wall-clock time is missing or repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobKind {
    /// Minute and hour fields both without a leading `*`: runs once per
    /// wall-clock time, at the end of a gap, at the first of two passes.
    FixedTime,
    /// Minute or hour field starts with `*`: runs at every real instant
    /// whose wall-clock time matches, none in a gap, both passes of an overlap.
    Interval,
}

/// Why an expression or a time zone was refused by [`Schedule::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The expression is empty or only whitespace.
    #[error(
        "the cron expression is empty: expected 5 fields \
         (minute hour day-of-month month day-of-week), such as `0 9 * * MON`"
    )]
    EmptyExpression,
    /// The expression does not have exactly five fields.
    #[error(
        "`{expression}`: expected 5 fields (minute hour day-of-month month day-of-week), \
         found {found}{}",
        field_count_hint(*.found)
    )]
    WrongFieldCount {
        /// The expression as given.
        expression: String,
        /// How many whitespace-separated fields it has.
        found: usize,
    },
    /// A field, or an `@` nickname, is not valid cron syntax.
    #[error("`{expression}`: {reason}")]
    InvalidExpression {
        /// The expression as given.
        expression: String,
        /// Which field is wrong and how.
        reason: String,
    },
    /// The expression is valid syntax but matches no date at all.
    #[error("`{expression}` never runs: no date matches it (such as 30 February)")]
    NeverRuns {
        /// The expression as given.
        expression: String,
    },
    /// The time zone is empty.
    #[error("the time zone is empty (IANA name such as Europe/Paris)")]
    EmptyTimeZone,
    /// The time zone is not in the IANA tz database.
    #[error("`{time_zone}` is not a time zone (IANA name such as Europe/Paris)")]
    UnknownTimeZone {
        /// The time zone as given.
        time_zone: String,
    },
}

fn field_count_hint(found: usize) -> &'static str {
    if found > 5 {
        "; seconds and year fields are not supported, schedules run to the minute"
    } else {
        ""
    }
}

impl Schedule {
    /// Parses a five-field cron expression (or an `@daily`-style nickname)
    /// to be evaluated in `time_zone`, an IANA name such as `Europe/Paris`.
    ///
    /// Six- and seven-field expressions (seconds, years) are refused; see the
    /// module docs for the accepted syntax. Never panics: every problem is a
    /// [`ScheduleError`] whose message quotes the input and says what is wrong.
    pub fn parse(expression: &str, time_zone: &str) -> Result<Schedule, ScheduleError> {
        let expression = expression.trim();
        if expression.is_empty() {
            return Err(ScheduleError::EmptyExpression);
        }
        let time_zone = parse_time_zone(time_zone)?;
        let invalid = |reason: String| ScheduleError::InvalidExpression {
            expression: expression.to_string(),
            reason,
        };

        let expanded = if expression.starts_with('@') {
            expand_nickname(expression).ok_or_else(|| {
                invalid(format!(
                    "`{expression}` is not a known nickname \
                     (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)"
                ))
            })?
        } else {
            expression
        };

        let raw_fields: Vec<&str> = expanded.split_whitespace().collect();
        if raw_fields.len() != 5 {
            return Err(ScheduleError::WrongFieldCount {
                expression: expression.to_string(),
                found: raw_fields.len(),
            });
        }

        let mut fields = Vec::with_capacity(5);
        for (index, field) in raw_fields.iter().enumerate() {
            fields.push(
                normalize_field(index, field)
                    .map_err(|problem| invalid(field_problem(index, field, &problem)))?,
            );
        }

        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(&fields.join(" ")).map_err(|whole| {
            // Name the first field that fails on its own; croner's message
            // for the whole pattern does not say which field it was.
            let reason = (0..5)
                .find_map(|index| {
                    let mut probe = ["*"; 5];
                    probe[index] = fields[index].as_str();
                    parser.parse(&probe.join(" ")).err().map(|error| {
                        field_problem(index, raw_fields[index], &croner_reason(&error))
                    })
                })
                .unwrap_or_else(|| croner_reason(&whole));
            invalid(reason)
        })?;

        // A five-field pattern repeats at least every 400 years (one
        // Gregorian cycle), so if croner finds a run at all, it finds one
        // after any instant up to its year-5000 limit.
        let reference = NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|wall| wall.and_utc());
        let runs = reference.is_some_and(|start| cron.find_next_occurrence(&start, true).is_ok());
        if !runs {
            return Err(ScheduleError::NeverRuns {
                expression: expression.to_string(),
            });
        }

        let starts_with_star = |field: &str| field.starts_with('*');
        let kind = if starts_with_star(raw_fields[0]) || starts_with_star(raw_fields[1]) {
            JobKind::Interval
        } else {
            JobKind::FixedTime
        };

        Ok(Schedule {
            expression: expression.to_string(),
            time_zone,
            cron,
            kind,
        })
    }

    /// The first run strictly after `after`, or `None` if there is none
    /// before croner's year-5000 search limit.
    ///
    /// Monotonic: feeding the result back in always yields a later instant,
    /// also inside a fall-back overlap, where wall-clock order and real
    /// order disagree.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zone = self.time_zone;
        let wall_now = wall_clock(zone, after)?.with_nanosecond(0)?;
        // Usually only wall-clock times after `wall_now` can run after
        // `after`. Inside a fall-back overlap, though, earlier wall-clock
        // times still have their second pass ahead: rewind by the overlap's
        // length and let the `> after` test below sort it out.
        let mut cursor = match zone.from_local_datetime(&wall_now) {
            LocalResult::Ambiguous(first, second) => {
                wall_now.checked_sub_signed(second.signed_duration_since(first))?
            }
            _ => wall_now,
        };
        // Second-pass instants are later than every first-pass instant of
        // the same overlap, so one found here is only a candidate until the
        // first pass has been checked too.
        let mut second_pass: Option<DateTime<Utc>> = None;
        loop {
            let Some(wall) = self.next_wall_time(cursor) else {
                return second_pass;
            };
            cursor = wall;
            let run = match zone.from_local_datetime(&wall) {
                LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, second) => {
                    let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
                    if first <= after && self.kind == JobKind::Interval && second > after {
                        second_pass = second_pass.or(Some(second));
                    }
                    Some(first)
                }
                LocalResult::None => match self.kind {
                    JobKind::FixedTime => self.end_of_gap(wall),
                    JobKind::Interval => None,
                },
            };
            if let Some(run) = run.filter(|run| *run > after) {
                return Some(second_pass.map_or(run, |second| second.min(run)));
            }
        }
    }

    /// Every run in `(from, to]`, ascending, without duplicates; at most
    /// [`MAX_RUNS_BETWEEN`] of them (the earliest). Empty if `to <= from`.
    pub fn runs_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut runs = Vec::new();
        let mut cursor = from;
        while runs.len() < MAX_RUNS_BETWEEN {
            match self.next_after(cursor) {
                Some(run) if run <= to => {
                    runs.push(run);
                    cursor = run;
                }
                _ => break,
            }
        }
        runs
    }

    /// The expression as given to [`Schedule::parse`], trimmed.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression's wall-clock times are in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The first wall-clock time strictly after `wall` that matches the
    /// expression. croner is given it as a UTC value so that it searches
    /// plain wall-clock time, with no gaps or repeats.
    fn next_wall_time(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron
            .find_next_occurrence(&wall.and_utc(), false)
            .ok()
            .map(|found| found.naive_utc())
    }

    /// The first real instant after the DST gap that swallows `wall`, that
    /// is, the instant the clocks jumped. Found by bisecting over whole
    /// seconds in a window wide enough for any UTC offset (-12h to +14h).
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let wall_clock_at = |seconds: i64| {
            DateTime::from_timestamp(seconds, 0).and_then(|t| wall_clock(self.time_zone, t))
        };
        let centre = wall.and_utc().timestamp();
        // The wall clock at `before` reads earlier than `wall`, at `after` later.
        let mut before = centre - 15 * 3600;
        let mut after = centre + 13 * 3600;
        while after - before > 1 {
            let middle = before + (after - before) / 2;
            if wall_clock_at(middle)? > wall {
                after = middle;
            } else {
                before = middle;
            }
        }
        DateTime::from_timestamp(after, 0)
    }
}

impl fmt::Display for Schedule {
    /// `0 9 * * MON in Europe/Paris`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.expression, self.time_zone)
    }
}

/// A random delay in `[0, max)` to spread polls of many accounts, so that
/// a hundred accounts on `0 * * * *` do not all hit a provider at once.
/// Zero when `max` is zero. Deterministic for a given `rng` state: seed it
/// (`fastrand::Rng::with_seed`) in tests.
pub fn jitter(max: Duration, rng: &mut fastrand::Rng) -> Duration {
    let max_nanos = max.as_nanos();
    if max_nanos == 0 {
        return Duration::ZERO;
    }
    let nanos = rng.u128(0..max_nanos);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(seconds, subsec)
}

/// What a clock in `zone` reads at `instant`; `None` only at the very ends
/// of chrono's range, where `DateTime::naive_local` would panic instead.
fn wall_clock(zone: Tz, instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    instant.naive_utc().checked_add_offset(offset)
}

fn parse_time_zone(time_zone: &str) -> Result<Tz, ScheduleError> {
    let name = time_zone.trim();
    if name.is_empty() {
        return Err(ScheduleError::EmptyTimeZone);
    }
    Tz::from_str(name)
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .copied()
                .find(|zone| zone.name().eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| ScheduleError::UnknownTimeZone {
            time_zone: name.to_string(),
        })
}

fn expand_nickname(nickname: &str) -> Option<&'static str> {
    let expansion = match nickname.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    };
    Some(expansion)
}

/// Replaces month and day names with numbers in their own field only
/// (croner replaces them anywhere in the pattern, so `MON` in the month
/// field would silently become January) and rejects any other word.
fn normalize_field(index: usize, field: &str) -> Result<String, String> {
    // croner skips empty list items, so `,,` would otherwise pass silently.
    if field.split(',').any(str::is_empty) {
        return Err("a list has an empty item".to_string());
    }
    let mut normalized = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(&c) = chars.peek() {
        if !c.is_ascii_alphabetic() {
            normalized.push(c);
            chars.next();
            continue;
        }
        let mut original = String::new();
        while let Some(&c) = chars.peek() {
            if !c.is_ascii_alphabetic() {
                break;
            }
            original.push(c);
            chars.next();
        }
        let word = original.to_ascii_uppercase();
        let position = |names: &[&str]| names.iter().position(|name| *name == word);
        let replacement = match index {
            2 if word.chars().all(|c| c == 'L' || c == 'W') => Some(word.clone()),
            3 => position(&MONTH_NAMES).map(|at| (at + 1).to_string()),
            4 if word == "L" => Some(word.clone()),
            4 => position(&DAY_NAMES).map(|at| at.to_string()),
            _ => None,
        };
        match replacement {
            Some(replacement) => normalized.push_str(&replacement),
            None => {
                let kind = match index {
                    3 => "a month name",
                    4 => "a day name",
                    _ => "allowed here",
                };
                return Err(format!("`{original}` is not {kind}"));
            }
        }
    }
    Ok(normalized)
}

fn field_problem(index: usize, field: &str, problem: &str) -> String {
    let name = FIELD_NAMES.get(index).copied().unwrap_or("a");
    let range = FIELD_RANGES.get(index).copied().unwrap_or("");
    format!("{name} field `{field}`: {problem} (allowed: {range})")
}

fn croner_reason(error: &CronError) -> String {
    let text = match error {
        CronError::ComponentError(message)
        | CronError::InvalidPattern(message)
        | CronError::IllegalCharacters(message) => message.clone(),
        other => other.to_string(),
    };
    text.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use std::collections::BTreeSet;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("bad test instant {text}: {e}"))
            .with_timezone(&Utc)
    }

    fn utcs(texts: &[&str]) -> Vec<DateTime<Utc>> {
        texts.iter().map(|text| utc(text)).collect()
    }

    fn schedule(expression: &str, zone: &str) -> Schedule {
        Schedule::parse(expression, zone)
            .unwrap_or_else(|e| panic!("{expression} in {zone} should parse: {e}"))
    }

    /// Runs in `(from, to]`, asserted to be exactly `expected` (UTC).
    fn assert_runs(expression: &str, zone: &str, from: &str, to: &str, expected: &[&str]) {
        let runs = schedule(expression, zone).runs_between(utc(from), utc(to));
        assert_eq!(
            runs,
            utcs(expected),
            "{expression} in {zone}, ({from}, {to}]"
        );
    }

    const PARIS: &str = "Europe/Paris";
    const NEW_YORK: &str = "America/New_York";

    // ---------------------------------------------------------------
    // Measured behaviour of the two candidate crates (pinned findings).
    // If an upgrade changes one of these, the module docs are stale.
    // ---------------------------------------------------------------

    fn cron_0_17(expression: &str, zone: Tz, after: &str, count: usize) -> Vec<DateTime<Utc>> {
        let schedule = cron::Schedule::from_str(expression)
            .unwrap_or_else(|e| panic!("cron 0.17 should parse {expression}: {e}"));
        schedule
            .after(&utc(after).with_timezone(&zone))
            .take(count)
            .map(|run| run.with_timezone(&Utc))
            .collect()
    }

    #[test]
    fn measured_cron_0_17_skips_a_job_in_the_spring_gap() {
        let paris = cron_0_17(
            "0 30 2 * * *",
            chrono_tz::Europe::Paris,
            "2026-03-28T00:00:00Z",
            2,
        );
        assert_eq!(
            paris,
            utcs(&["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"])
        );
        let new_york = cron_0_17(
            "0 30 2 * * *",
            chrono_tz::America::New_York,
            "2026-03-07T00:00:00Z",
            2,
        );
        assert_eq!(
            new_york,
            utcs(&["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"])
        );
    }

    #[test]
    fn measured_cron_0_17_runs_a_job_twice_in_the_repeated_hour() {
        let paris = cron_0_17(
            "0 30 2 * * *",
            chrono_tz::Europe::Paris,
            "2026-10-24T12:00:00Z",
            3,
        );
        assert_eq!(
            paris,
            utcs(&[
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-26T01:30:00Z"
            ])
        );
        let new_york = cron_0_17(
            "0 30 1 * * *",
            chrono_tz::America::New_York,
            "2026-10-31T12:00:00Z",
            3,
        );
        assert_eq!(
            new_york,
            utcs(&[
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-02T06:30:00Z"
            ])
        );
    }

    #[test]
    fn measured_cron_0_17_yields_the_repeated_hour_out_of_order() {
        let runs = cron_0_17(
            "0 */15 * * * *",
            chrono_tz::America::New_York,
            "2026-11-01T04:45:00Z",
            6,
        );
        assert_eq!(
            runs,
            utcs(&[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T05:15:00Z",
                "2026-11-01T06:15:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:30:00Z",
            ])
        );
        // And asked for the next run after 01:10 EST, it answers 01:15 EDT,
        // which is 55 minutes *before* the question.
        let next = cron_0_17(
            "0 */15 * * * *",
            chrono_tz::America::New_York,
            "2026-11-01T06:10:00Z",
            1,
        );
        assert_eq!(next, utcs(&["2026-11-01T05:15:00Z"]));
    }

    #[test]
    fn measured_cron_0_17_syntax_is_not_vixie_cron() {
        // No five-field form: a seconds field is required.
        assert!(cron::Schedule::from_str("30 2 * * *").is_err());
        assert!(cron::Schedule::from_str("0 9 * * MON").is_err());
        // Day-of-week 1 is Sunday (Vixie cron: Monday).
        let sunday = cron_0_17("0 0 9 * * 1", chrono_tz::UTC, "2026-03-01T00:00:00Z", 1);
        assert_eq!(sunday, utcs(&["2026-03-01T09:00:00Z"])); // Sunday 1 March
                                                             // Day-of-month AND day-of-week (Vixie cron: OR).
        let friday_13th = cron_0_17("0 0 9 13 * FRI", chrono_tz::UTC, "2026-01-01T00:00:00Z", 2);
        assert_eq!(
            friday_13th,
            utcs(&["2026-02-13T09:00:00Z", "2026-03-13T09:00:00Z"])
        );
    }

    fn croner_chained(expression: &str, zone: Tz, after: &str, count: usize) -> Vec<DateTime<Utc>> {
        let cron = Cron::from_str(expression)
            .unwrap_or_else(|e| panic!("croner should parse {expression}: {e}"));
        let mut cursor = utc(after).with_timezone(&zone);
        let mut runs = Vec::new();
        for _ in 0..count {
            match cron.find_next_occurrence(&cursor, false) {
                Ok(run) => {
                    runs.push(run.with_timezone(&Utc));
                    cursor = run;
                }
                Err(_) => break,
            }
        }
        runs
    }

    #[test]
    fn measured_croner_3_0_1_moves_a_gap_job_to_the_end_of_the_gap() {
        let paris = croner_chained(
            "30 2 * * *",
            chrono_tz::Europe::Paris,
            "2026-03-28T00:00:00Z",
            3,
        );
        assert_eq!(
            paris,
            utcs(&[
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z"
            ])
        );
        let new_york = croner_chained(
            "30 2 * * *",
            chrono_tz::America::New_York,
            "2026-03-07T00:00:00Z",
            3,
        );
        assert_eq!(
            new_york,
            utcs(&[
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z"
            ])
        );
    }

    #[test]
    fn measured_croner_3_0_1_runs_a_0130_job_twice_on_spring_forward_day() {
        // 01:30 exists on both days, yet croner also fires at 03:00: its
        // search steps onto 02:00, finds no such time and "snaps" there.
        let paris = croner_chained(
            "30 1 * * *",
            chrono_tz::Europe::Paris,
            "2026-03-29T00:00:00Z",
            3,
        );
        assert_eq!(
            paris,
            utcs(&[
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T23:30:00Z"
            ])
        );
        let new_york = croner_chained(
            "30 1 * * *",
            chrono_tz::America::New_York,
            "2026-03-08T00:00:00Z",
            3,
        );
        assert_eq!(
            new_york,
            utcs(&[
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T05:30:00Z"
            ])
        );
    }

    #[test]
    fn measured_croner_3_0_1_runs_a_fixed_job_once_in_the_repeated_hour() {
        let new_york = croner_chained(
            "30 1 * * *",
            chrono_tz::America::New_York,
            "2026-10-31T12:00:00Z",
            2,
        );
        assert_eq!(
            new_york,
            utcs(&["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
        );
    }

    #[test]
    fn measured_croner_3_0_1_loses_or_disorders_the_repeated_hour() {
        // Chained next-occurrence drops the second pass altogether.
        let chained = croner_chained(
            "*/15 * * * *",
            chrono_tz::America::New_York,
            "2026-11-01T05:30:00Z",
            2,
        );
        assert_eq!(
            chained,
            utcs(&["2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z"])
        );
        // Its iterator has both passes, interleaved out of order.
        let Ok(cron) = Cron::from_str("*/15 * * * *") else {
            panic!("croner should parse */15");
        };
        let iterated: Vec<DateTime<Utc>> = cron
            .iter_after(utc("2026-11-01T04:45:00Z").with_timezone(&chrono_tz::America::New_York))
            .take(4)
            .map(|run| run.with_timezone(&Utc))
            .collect();
        assert_eq!(
            iterated,
            utcs(&[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T05:15:00Z",
                "2026-11-01T06:15:00Z",
            ])
        );
        // And from inside the second pass it answers with a time in the past.
        let backwards = croner_chained(
            "*/15 * * * *",
            chrono_tz::America::New_York,
            "2026-11-01T06:10:00Z",
            1,
        );
        assert_eq!(backwards, utcs(&["2026-11-01T05:15:00Z"]));
    }

    // ---------------------------------------------------------------
    // mailcall's Schedule across the four 2026 transitions.
    // Expected instants are worked out by hand: CET = UTC+1, CEST = UTC+2,
    // EST = UTC-5, EDT = UTC-4.
    // ---------------------------------------------------------------

    // Paris, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00Z).

    #[test]
    fn paris_spring_forward_0230_runs_once_at_0300() {
        assert_runs(
            "30 2 * * *",
            PARIS,
            "2026-03-27T12:00:00Z",
            "2026-03-31T00:00:00Z",
            &[
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST, end of the gap
                "2026-03-30T00:30:00Z", // 02:30 CEST
            ],
        );
    }

    #[test]
    fn paris_spring_forward_0130_runs_once() {
        assert_runs(
            "30 1 * * *",
            PARIS,
            "2026-03-27T12:00:00Z",
            "2026-03-30T12:00:00Z",
            &[
                "2026-03-28T00:30:00Z", // 01:30 CET
                "2026-03-29T00:30:00Z", // 01:30 CET, and not again at 03:00
                "2026-03-29T23:30:00Z", // 01:30 CEST on the 30th
            ],
        );
    }

    #[test]
    fn paris_spring_forward_monday_0900_stays_at_0900_local() {
        assert_runs(
            "0 9 * * MON",
            PARIS,
            "2026-03-20T00:00:00Z",
            "2026-04-07T00:00:00Z",
            &[
                "2026-03-23T08:00:00Z", // 09:00 CET
                "2026-03-30T07:00:00Z", // 09:00 CEST
                "2026-04-06T07:00:00Z",
            ],
        );
    }

    #[test]
    fn paris_spring_forward_every_15_minutes_skips_the_missing_hour() {
        assert_runs(
            "*/15 * * * *",
            PARIS,
            "2026-03-29T00:15:00Z",
            "2026-03-29T01:30:00Z",
            &[
                "2026-03-29T00:30:00Z", // 01:30 CET
                "2026-03-29T00:45:00Z", // 01:45 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST
                "2026-03-29T01:15:00Z",
                "2026-03-29T01:30:00Z",
            ],
        );
    }

    // Paris, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00Z);
    // 02:00-02:59 happens twice.

    #[test]
    fn paris_fall_back_0230_runs_once_at_the_first_pass() {
        assert_runs(
            "30 2 * * *",
            PARIS,
            "2026-10-23T12:00:00Z",
            "2026-10-27T00:00:00Z",
            &[
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST, first pass only
                "2026-10-26T01:30:00Z", // 02:30 CET
            ],
        );
    }

    #[test]
    fn paris_fall_back_0130_runs_once() {
        assert_runs(
            "30 1 * * *",
            PARIS,
            "2026-10-23T12:00:00Z",
            "2026-10-26T12:00:00Z",
            &[
                "2026-10-23T23:30:00Z", // 01:30 CEST on the 24th
                "2026-10-24T23:30:00Z", // 01:30 CEST on the 25th
                "2026-10-26T00:30:00Z", // 01:30 CET on the 26th
            ],
        );
    }

    #[test]
    fn paris_fall_back_monday_0900_stays_at_0900_local() {
        assert_runs(
            "0 9 * * MON",
            PARIS,
            "2026-10-16T00:00:00Z",
            "2026-11-03T00:00:00Z",
            &[
                "2026-10-19T07:00:00Z", // 09:00 CEST
                "2026-10-26T08:00:00Z", // 09:00 CET
                "2026-11-02T08:00:00Z",
            ],
        );
    }

    #[test]
    fn paris_fall_back_every_15_minutes_covers_both_passes_in_order() {
        assert_runs(
            "*/15 * * * *",
            PARIS,
            "2026-10-24T23:30:00Z",
            "2026-10-25T02:00:00Z",
            &[
                "2026-10-24T23:45:00Z", // 01:45 CEST
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T00:15:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T00:45:00Z", // 02:45 CEST
                "2026-10-25T01:00:00Z", // 02:00 CET
                "2026-10-25T01:15:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-25T01:45:00Z", // 02:45 CET
                "2026-10-25T02:00:00Z", // 03:00 CET
            ],
        );
    }

    // New York, Sunday 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00Z).

    #[test]
    fn new_york_spring_forward_0230_runs_once_at_0300() {
        assert_runs(
            "30 2 * * *",
            NEW_YORK,
            "2026-03-06T12:00:00Z",
            "2026-03-10T00:00:00Z",
            &[
                "2026-03-07T07:30:00Z", // 02:30 EST
                "2026-03-08T07:00:00Z", // 03:00 EDT, end of the gap
                "2026-03-09T06:30:00Z", // 02:30 EDT
            ],
        );
    }

    #[test]
    fn new_york_spring_forward_0130_runs_once() {
        assert_runs(
            "30 1 * * *",
            NEW_YORK,
            "2026-03-06T12:00:00Z",
            "2026-03-09T12:00:00Z",
            &[
                "2026-03-07T06:30:00Z", // 01:30 EST
                "2026-03-08T06:30:00Z", // 01:30 EST, and not again at 03:00
                "2026-03-09T05:30:00Z", // 01:30 EDT
            ],
        );
    }

    #[test]
    fn new_york_spring_forward_monday_0900_stays_at_0900_local() {
        assert_runs(
            "0 9 * * MON",
            NEW_YORK,
            "2026-02-27T00:00:00Z",
            "2026-03-17T00:00:00Z",
            &[
                "2026-03-02T14:00:00Z", // 09:00 EST
                "2026-03-09T13:00:00Z", // 09:00 EDT
                "2026-03-16T13:00:00Z",
            ],
        );
    }

    #[test]
    fn new_york_spring_forward_every_15_minutes_skips_the_missing_hour() {
        assert_runs(
            "*/15 * * * *",
            NEW_YORK,
            "2026-03-08T06:15:00Z",
            "2026-03-08T07:30:00Z",
            &[
                "2026-03-08T06:30:00Z", // 01:30 EST
                "2026-03-08T06:45:00Z", // 01:45 EST
                "2026-03-08T07:00:00Z", // 03:00 EDT
                "2026-03-08T07:15:00Z",
                "2026-03-08T07:30:00Z",
            ],
        );
    }

    // New York, Sunday 1 November 2026: 02:00 EDT becomes 01:00 EST (06:00Z);
    // 01:00-01:59 happens twice.

    #[test]
    fn new_york_fall_back_0230_runs_once() {
        assert_runs(
            "30 2 * * *",
            NEW_YORK,
            "2026-10-30T12:00:00Z",
            "2026-11-03T00:00:00Z",
            &[
                "2026-10-31T06:30:00Z", // 02:30 EDT
                "2026-11-01T07:30:00Z", // 02:30 EST
                "2026-11-02T07:30:00Z",
            ],
        );
    }

    #[test]
    fn new_york_fall_back_0130_runs_once_at_the_first_pass() {
        assert_runs(
            "30 1 * * *",
            NEW_YORK,
            "2026-10-30T12:00:00Z",
            "2026-11-03T00:00:00Z",
            &[
                "2026-10-31T05:30:00Z", // 01:30 EDT
                "2026-11-01T05:30:00Z", // 01:30 EDT, first pass only
                "2026-11-02T06:30:00Z", // 01:30 EST
            ],
        );
    }

    #[test]
    fn new_york_fall_back_monday_0900_stays_at_0900_local() {
        assert_runs(
            "0 9 * * MON",
            NEW_YORK,
            "2026-10-23T00:00:00Z",
            "2026-11-10T00:00:00Z",
            &[
                "2026-10-26T13:00:00Z", // 09:00 EDT
                "2026-11-02T14:00:00Z", // 09:00 EST
                "2026-11-09T14:00:00Z",
            ],
        );
    }

    #[test]
    fn new_york_fall_back_every_15_minutes_covers_both_passes_in_order() {
        assert_runs(
            "*/15 * * * *",
            NEW_YORK,
            "2026-11-01T04:45:00Z",
            "2026-11-01T07:00:00Z",
            &[
                "2026-11-01T05:00:00Z", // 01:00 EDT
                "2026-11-01T05:15:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T05:45:00Z", // 01:45 EDT
                "2026-11-01T06:00:00Z", // 01:00 EST
                "2026-11-01T06:15:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-01T06:45:00Z", // 01:45 EST
                "2026-11-01T07:00:00Z", // 02:00 EST
            ],
        );
    }

    // next_after asked from awkward places around the transitions.

    #[test]
    fn next_after_from_inside_the_second_pass_moves_forward() {
        let every_15 = schedule("*/15 * * * *", NEW_YORK);
        // 01:10 EST: the next run is 01:15 EST, not 01:15 EDT (05:15Z).
        assert_eq!(
            every_15.next_after(utc("2026-11-01T06:10:00Z")),
            Some(utc("2026-11-01T06:15:00Z"))
        );
        // 01:50 EDT: the next run is 01:00 EST, not 02:00 EST.
        assert_eq!(
            every_15.next_after(utc("2026-11-01T05:50:00Z")),
            Some(utc("2026-11-01T06:00:00Z"))
        );

        let at_0130 = schedule("30 1 * * *", NEW_YORK);
        // Already ran at 01:30 EDT; from 01:00 EST (06:00Z) the next run is tomorrow.
        assert_eq!(
            at_0130.next_after(utc("2026-11-01T06:00:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
        assert_eq!(
            at_0130.next_after(utc("2026-11-01T05:30:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
        // From 01:10 EDT the 01:30 EDT run is still ahead.
        assert_eq!(
            at_0130.next_after(utc("2026-11-01T05:10:00Z")),
            Some(utc("2026-11-01T05:30:00Z"))
        );

        let at_0230 = schedule("30 2 * * *", PARIS);
        assert_eq!(
            at_0230.next_after(utc("2026-10-25T00:30:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
        assert_eq!(
            at_0230.next_after(utc("2026-10-25T01:10:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn next_after_around_the_gap() {
        let at_0230 = schedule("30 2 * * *", PARIS);
        assert_eq!(
            at_0230.next_after(utc("2026-03-29T00:59:59Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            at_0230.next_after(utc("2026-03-29T01:00:00Z")),
            Some(utc("2026-03-30T00:30:00Z"))
        );
        // Sub-second inputs: strictly after, to the second.
        assert_eq!(
            at_0230.next_after(utc("2026-03-29T00:59:59.999Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            at_0230.next_after(utc("2026-03-30T00:30:00.001Z")),
            Some(utc("2026-03-31T00:30:00Z"))
        );
    }

    #[test]
    fn fixed_time_lists_run_once_per_wall_clock_time() {
        // Two fixed times inside the same gap: one run at 03:00 EDT.
        assert_runs(
            "0,30 2 * * *",
            NEW_YORK,
            "2026-03-08T00:00:00Z",
            "2026-03-08T12:00:00Z",
            &["2026-03-08T07:00:00Z"],
        );
        // A gap time and the end of the gap: still one run.
        assert_runs(
            "0 2,3 * * *",
            NEW_YORK,
            "2026-03-08T00:00:00Z",
            "2026-03-08T12:00:00Z",
            &["2026-03-08T07:00:00Z"],
        );
        // An hour list is fixed-time (Vixie cron's rule; croner would run it twice).
        assert_runs(
            "0 1,13 * * *",
            NEW_YORK,
            "2026-11-01T00:00:00Z",
            "2026-11-01T12:00:00Z",
            &["2026-11-01T05:00:00Z"],
        );
    }

    #[test]
    fn interval_jobs_follow_real_time() {
        // A wildcard minute in a fixed hour is an interval job: both passes.
        assert_runs(
            "*/30 1 * * *",
            NEW_YORK,
            "2026-11-01T00:00:00Z",
            "2026-11-01T12:00:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:30:00Z",
            ],
        );
        // Hourly across the gap: 01:00 EST, then 03:00 EDT, one hour later.
        assert_runs(
            "0 * * * *",
            NEW_YORK,
            "2026-03-08T05:30:00Z",
            "2026-03-08T08:00:00Z",
            &[
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
            ],
        );
        // A wildcard minute in the missing hour has nothing to run that day.
        assert_runs(
            "*/30 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00Z",
            "2026-03-09T12:00:00Z",
            &[
                "2026-03-09T06:00:00Z", // 02:00 EDT on the 9th
                "2026-03-09T06:30:00Z",
            ],
        );
    }

    // ---------------------------------------------------------------
    // Properties over a whole year.
    // ---------------------------------------------------------------

    /// Chains `next_after` from `from` until past `to`, asserting that every
    /// step moves strictly forward.
    fn chain(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut runs = Vec::new();
        let mut cursor = from;
        while let Some(run) = schedule.next_after(cursor) {
            assert!(
                run > cursor,
                "{schedule}: next_after({cursor}) = {run} does not move forward"
            );
            if run > to {
                break;
            }
            runs.push(run);
            cursor = run;
        }
        runs
    }

    #[test]
    fn next_after_is_monotonic_over_a_year_in_both_zones() {
        let from = utc("2025-12-31T00:00:00Z");
        let to = utc("2027-01-02T00:00:00Z");
        for zone in [PARIS, NEW_YORK] {
            for expression in [
                "0 * * * *",
                "30 * * * *",
                "30 2 * * *",
                "30 1 * * *",
                "0 2 * * *",
                "0 9 * * MON",
            ] {
                let schedule = schedule(expression, zone);
                let runs = chain(&schedule, from, to);
                let distinct: BTreeSet<_> = runs.iter().collect();
                assert_eq!(distinct.len(), runs.len(), "{schedule}: duplicate runs");
                // Every run reads a matching wall-clock time, except fixed-time
                // runs moved to the end of a gap, which read 03:00.
                for run in &runs {
                    let wall = run.with_timezone(&schedule.time_zone()).naive_local();
                    let matches = schedule
                        .cron
                        .is_time_matching(&wall.and_utc())
                        .unwrap_or(false);
                    assert!(
                        matches || wall.hour() == 3,
                        "{schedule}: {run} reads {wall}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_year_has_the_expected_number_of_runs() {
        // Local calendar year 2026 in each zone, as UTC bounds.
        for (zone, from, to) in [
            (PARIS, "2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z"),
            (NEW_YORK, "2026-01-01T05:00:00Z", "2027-01-01T05:00:00Z"),
        ] {
            let (from, to) = (utc(from), utc(to));
            // Hourly runs every real hour: 365 * 24, the 23- and 25-hour days included.
            assert_eq!(
                schedule("0 * * * *", zone).runs_between(from, to).len(),
                8760,
                "{zone}"
            );
            // Daily jobs run once per local date, gap and overlap days included.
            for expression in ["30 2 * * *", "30 1 * * *", "0 2 * * *", "59 23 * * *"] {
                let schedule = schedule(expression, zone);
                let runs = schedule.runs_between(from, to);
                let days: BTreeSet<_> = runs
                    .iter()
                    .map(|run| run.with_timezone(&schedule.time_zone()).date_naive())
                    .collect();
                assert_eq!(runs.len(), 365, "{schedule}");
                assert_eq!(days.len(), 365, "{schedule}");
            }
            // Every 15 minutes in real time: 365 * 96.
            let every_15 = schedule("*/15 * * * *", zone);
            let runs = chain(&every_15, from, to);
            assert_eq!(runs.len(), 35_040, "{every_15}");
            assert!(runs
                .windows(2)
                .all(|pair| pair[1] - pair[0] == TimeDelta::minutes(15)));
        }
    }

    #[test]
    fn next_after_any_instant_agrees_with_the_chained_sequence() {
        // For instants every 7 minutes 13 seconds around each transition,
        // next_after(t) must be the first chained run after t.
        let windows = [
            (PARIS, "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),
            (PARIS, "2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
            (NEW_YORK, "2026-03-08T02:00:00Z", "2026-03-08T12:00:00Z"),
            (NEW_YORK, "2026-11-01T02:00:00Z", "2026-11-01T12:00:00Z"),
        ];
        for (zone, start, end) in windows {
            let (start, end) = (utc(start), utc(end));
            for expression in [
                "*/15 * * * *",
                "*/7 * * * *",
                "30 1 * * *",
                "30 2 * * *",
                "0,30 1,2 * * *",
                "*/20 1,2 * * *",
            ] {
                let schedule = schedule(expression, zone);
                let runs = chain(
                    &schedule,
                    start - TimeDelta::days(2),
                    end + TimeDelta::days(2),
                );
                let mut t = start;
                while t < end {
                    let expected = runs.iter().find(|run| **run > t).copied();
                    assert_eq!(schedule.next_after(t), expected, "{schedule}, after {t}");
                    t += TimeDelta::seconds(7 * 60 + 13);
                }
            }
        }
    }

    // ---------------------------------------------------------------
    // runs_between, parsing, display, jitter.
    // ---------------------------------------------------------------

    #[test]
    fn runs_between_is_half_open_and_capped() {
        let daily = schedule("0 9 * * *", "UTC");
        let (from, to) = (utc("2026-05-01T09:00:00Z"), utc("2026-05-03T09:00:00Z"));
        assert_eq!(
            daily.runs_between(from, to),
            utcs(&["2026-05-02T09:00:00Z", "2026-05-03T09:00:00Z"])
        );
        assert!(daily.runs_between(to, from).is_empty());
        assert!(daily.runs_between(from, from).is_empty());

        let every_minute = schedule("* * * * *", "UTC");
        let runs =
            every_minute.runs_between(utc("2026-01-01T00:00:00Z"), utc("2026-03-01T00:00:00Z"));
        assert_eq!(runs.len(), MAX_RUNS_BETWEEN);
        assert_eq!(runs.first(), Some(&utc("2026-01-01T00:01:00Z")));
        assert_eq!(runs.last(), Some(&utc("2026-01-07T22:40:00Z")));
    }

    #[test]
    fn parses_vixie_syntax_names_and_nicknames() {
        let s = schedule(" 0 9 * * mon-fri ", "europe/paris");
        assert_eq!(s.expression(), "0 9 * * mon-fri");
        assert_eq!(s.time_zone(), chrono_tz::Europe::Paris);
        assert_eq!(s.to_string(), "0 9 * * mon-fri in Europe/Paris");
        assert_eq!(
            schedule("0 9 * * MON", PARIS).to_string(),
            "0 9 * * MON in Europe/Paris"
        );
        // Monday is 1, Sunday is 0 or 7.
        let after = utc("2026-03-01T00:00:00Z"); // a Sunday
        assert_eq!(
            schedule("0 9 * * 1", "UTC").next_after(after),
            Some(utc("2026-03-02T09:00:00Z"))
        );
        assert_eq!(
            schedule("0 9 * * 7", "UTC").next_after(after),
            Some(utc("2026-03-01T09:00:00Z"))
        );
        // Day-of-month OR day-of-week, as in Vixie cron.
        assert_eq!(
            schedule("0 9 13 * FRI", "UTC")
                .runs_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-14T00:00:00Z")),
            utcs(&[
                "2026-01-02T09:00:00Z",
                "2026-01-09T09:00:00Z",
                "2026-01-13T09:00:00Z"
            ])
        );
        // A month name only means a month in the month field.
        assert_eq!(
            schedule("0 0 1 feb *", "UTC").next_after(after),
            Some(utc("2027-02-01T00:00:00Z"))
        );
        assert!(Schedule::parse("0 9 * MON *", "UTC").is_err());
        assert_eq!(
            schedule("@daily", "UTC").next_after(after),
            Some(utc("2026-03-02T00:00:00Z"))
        );
        assert_eq!(
            schedule("@HOURLY", "UTC").next_after(after),
            Some(utc("2026-03-01T01:00:00Z"))
        );
        assert_eq!(
            schedule("@weekly", "UTC").next_after(after),
            Some(utc("2026-03-08T00:00:00Z"))
        );
        assert_eq!(
            schedule("0 9 L * *", "UTC").next_after(after),
            Some(utc("2026-03-31T09:00:00Z"))
        );
        // croner's extensions: nth weekday, last weekday, nearest weekday.
        let march = |expression: &str| schedule(expression, "UTC").next_after(after);
        assert_eq!(march("0 9 * * FRI#2"), Some(utc("2026-03-13T09:00:00Z")));
        assert_eq!(march("0 9 * * 5L"), Some(utc("2026-03-27T09:00:00Z")));
        assert_eq!(march("0 9 15W * *"), Some(utc("2026-03-16T09:00:00Z"))); // 15th is a Sunday
                                                                             // Equality is by expression and zone.
        assert_eq!(
            schedule("0 9 * * MON", PARIS),
            schedule("0 9 * * MON", PARIS).clone()
        );
        assert_ne!(
            schedule("0 9 * * MON", PARIS),
            schedule("0 9 * * MON", NEW_YORK)
        );
    }

    #[test]
    fn invalid_input_is_an_error_with_a_clear_message() {
        let message = |expression: &str, zone: &str| match Schedule::parse(expression, zone) {
            Ok(schedule) => panic!("{expression} in {zone} should not parse, got {schedule}"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            message("0 9 * * MON-FRX", PARIS),
            "`0 9 * * MON-FRX`: day-of-week field `MON-FRX`: `FRX` is not a day name \
             (allowed: 0-7 or SUN-SAT, 0 and 7 being Sunday)"
        );
        assert_eq!(
            message("0 9 * * MON", "Europe/Pariss"),
            "`Europe/Pariss` is not a time zone (IANA name such as Europe/Paris)"
        );
        assert_eq!(
            message("", PARIS),
            "the cron expression is empty: expected 5 fields \
             (minute hour day-of-month month day-of-week), such as `0 9 * * MON`"
        );
        assert_eq!(message("   ", PARIS), message("", PARIS));
        assert_eq!(
            message("0 9 * * MON", " "),
            "the time zone is empty (IANA name such as Europe/Paris)"
        );
        assert_eq!(
            message("0 0 9 * * MON", PARIS),
            "`0 0 9 * * MON`: expected 5 fields (minute hour day-of-month month day-of-week), \
             found 6; seconds and year fields are not supported, schedules run to the minute"
        );
        assert_eq!(
            message("0 9 *", PARIS),
            "`0 9 *`: expected 5 fields (minute hour day-of-month month day-of-week), found 3"
        );
        assert_eq!(
            message("0 25 * * *", PARIS),
            "`0 25 * * *`: hour field `25`: Number out of bounds (allowed: 0-23)"
        );
        assert_eq!(
            message("0 0 30 2 *", PARIS),
            "`0 0 30 2 *` never runs: no date matches it (such as 30 February)"
        );
        assert_eq!(
            message("@reboot", PARIS),
            "`@reboot`: `@reboot` is not a known nickname \
             (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)"
        );
        for bad in [
            "61 * * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "a b c d e",
            "1-",
            "5-1 * * * *",
            "* * * * MON#9",
            "*/x * * * *",
            ",,, * * * *",
            "0 9 * * MONDAY",
            "% * * * *",
        ] {
            let error = Schedule::parse(bad, PARIS);
            assert!(error.is_err(), "{bad} should not parse: {error:?}");
        }
        assert_eq!(
            Schedule::parse("0 9 * * *", "Mars/Olympus_Mons"),
            Err(ScheduleError::UnknownTimeZone {
                time_zone: "Mars/Olympus_Mons".to_string()
            })
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let s = schedule("*/15 * * * *", PARIS);
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(s.next_after(utc("5000-12-31T23:59:00Z")), None);
        let _ = s.next_after(DateTime::<Utc>::MIN_UTC);
        assert!(s
            .runs_between(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC)
            .is_empty());
    }

    #[test]
    fn jitter_is_below_max_and_deterministic() {
        let max = Duration::from_secs(90);
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..1000).map(|_| jitter(max, &mut rng)).collect();
        assert!(delays.iter().all(|delay| *delay < max));
        assert!(
            delays.iter().any(|delay| *delay > Duration::from_secs(60)),
            "spread over the range"
        );
        let mut again = fastrand::Rng::with_seed(7);
        let replay: Vec<Duration> = (0..1000).map(|_| jitter(max, &mut again)).collect();
        assert_eq!(delays, replay);
        assert_eq!(jitter(Duration::ZERO, &mut rng), Duration::ZERO);
        assert_eq!(jitter(Duration::from_nanos(1), &mut rng), Duration::ZERO);
        assert!(jitter(Duration::MAX, &mut rng) < Duration::MAX);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(expression in "\\PC{0,40}", zone in "\\PC{0,20}") {
            let _ = Schedule::parse(&expression, &zone);
        }

        #[test]
        fn parse_never_panics_on_cron_like_input(
            fields in proptest::collection::vec("[0-9*/,\\-LW#?A-Za-z]{1,8}", 0..8)
        ) {
            let expression = fields.join(" ");
            if let Ok(schedule) = Schedule::parse(&expression, NEW_YORK) {
                let after = utc("2026-11-01T05:50:00Z");
                if let Some(run) = schedule.next_after(after) {
                    proptest::prop_assert!(run > after);
                }
            }
        }
    }
}
