//! Rotations across DST changes, overrides, and the iCalendar export read
//! back with an independent parser.

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::schedule::Schedule;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn people(names: &[&str]) -> Vec<Actor> {
    names.iter().map(|n| Actor::console(n)).collect()
}

fn rotation(days: u32, cron: &str, zone: &str, start: &str) -> Rotation {
    Rotation {
        name: RotationName::Team(Team::Integration),
        members: people(&["alice", "bob", "carol"]),
        timing: timing(days, cron, zone, start),
        working_hours: Default::default(),
        gap_notice_days: super::rotation::GAP_NOTICE_DAYS,
        changes: Vec::new(),
        retimings: Vec::new(),
    }
}

fn timing(days: u32, cron: &str, zone: &str, start: &str) -> Timing {
    Timing {
        shift_days: days,
        handoff: Schedule::parse(cron, zone).unwrap_or_else(|e| panic!("{e}")),
        start: start.parse::<NaiveDate>().unwrap_or_else(|e| panic!("{e}")),
    }
}

const INTEGRATION: RotationName = RotationName::Team(Team::Integration);

fn starts(roster: &Roster, from: &str, to: &str) -> Vec<(String, String)> {
    roster
        .schedule(INTEGRATION, at(from), at(to))
        .iter()
        .map(|s| (s.start.to_rfc3339(), s.member.name.clone()))
        .collect()
}

#[test]
fn a_monday_0900_paris_handoff_happens_once_a_week_at_0900_local_across_both_dst_changes() {
    let roster = Roster::new(
        vec![rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02")],
        Vec::new(),
    );
    // Spring forward on Sunday 29 March: 09:00 is 08:00Z before, 07:00Z after.
    assert_eq!(
        starts(&roster, "2026-03-23T08:00:00Z", "2026-04-07T00:00:00Z"),
        [
            ("2026-03-23T08:00:00+00:00".into(), "alice".into()),
            ("2026-03-30T07:00:00+00:00".into(), "bob".into()),
            ("2026-04-06T07:00:00+00:00".into(), "carol".into()),
        ]
    );
    // Fall back on Sunday 25 October: 07:00Z before, 08:00Z after.
    let autumn = starts(&roster, "2026-10-19T07:00:00Z", "2026-11-03T00:00:00Z");
    let times: Vec<&str> = autumn.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        times,
        [
            "2026-10-19T07:00:00+00:00",
            "2026-10-26T08:00:00+00:00",
            "2026-11-02T08:00:00+00:00"
        ]
    );
    // The minute before the handoff still belongs to the previous shift.
    let before = roster.on_duty(INTEGRATION, at("2026-03-30T06:59:00Z"));
    let after = roster.on_duty(INTEGRATION, at("2026-03-30T07:00:00Z"));
    assert_eq!(before.map(|d| d.member.name), Some("alice".into()));
    assert_eq!(after.map(|d| d.member.name), Some("bob".into()));
}

#[test]
fn a_monday_0900_new_york_handoff_follows_eastern_time_across_both_dst_changes() {
    let mut r = rotation(7, "0 9 * * MON", "America/New_York", "2026-03-02");
    r.name = INTEGRATION;
    let roster = Roster::new(vec![r], Vec::new());
    // Spring forward Sunday 8 March (EST 14:00Z → EDT 13:00Z); fall back
    // Sunday 1 November (13:00Z → 14:00Z).
    let spring = starts(&roster, "2026-03-02T14:00:00Z", "2026-03-10T00:00:00Z");
    assert_eq!(
        spring.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["2026-03-02T14:00:00+00:00", "2026-03-09T13:00:00+00:00"]
    );
    let autumn = starts(&roster, "2026-10-26T13:00:00Z", "2026-11-03T00:00:00Z");
    assert_eq!(
        autumn.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["2026-10-26T13:00:00+00:00", "2026-11-02T14:00:00+00:00"]
    );
}

#[test]
fn a_daily_0230_handoff_fires_once_at_0300_on_spring_forward_day_and_once_on_fall_back_day() {
    let roster = Roster::new(
        vec![rotation(1, "30 2 * * *", "Europe/Paris", "2026-03-01")],
        Vec::new(),
    );
    // 02:30 does not exist on 29 March: the handoff is at 03:00 local
    // (01:00Z), once. The day before and after: 02:30 local.
    let spring = starts(&roster, "2026-03-28T01:30:00Z", "2026-03-31T00:00:00Z");
    assert_eq!(
        spring.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [
            "2026-03-28T01:30:00+00:00",
            "2026-03-29T01:00:00+00:00",
            "2026-03-30T00:30:00+00:00"
        ]
    );
    // 02:30 happens twice on 25 October: the handoff is at the first
    // (00:30Z), once; the next day at 02:30 CET (01:30Z).
    let autumn = starts(&roster, "2026-10-24T00:30:00Z", "2026-10-27T00:00:00Z");
    assert_eq!(
        autumn.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [
            "2026-10-24T00:30:00+00:00",
            "2026-10-25T00:30:00+00:00",
            "2026-10-26T01:30:00+00:00"
        ]
    );
    // Turns keep going in order through both changes: one member per day.
    let names: Vec<String> = spring.into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        ["alice", "bob", "carol"],
        "27, 28, 29 days after 1 March"
    );
}

#[test]
fn a_two_week_shift_counts_calendar_days_not_24_hour_steps() {
    let roster = Roster::new(
        vec![rotation(14, "0 9 * * MON", "Europe/Paris", "2026-03-16")],
        Vec::new(),
    );
    let duty = roster
        .on_duty(INTEGRATION, at("2026-03-29T12:00:00Z"))
        .unwrap_or_else(|| panic!("someone is on duty"));
    assert_eq!(duty.member.name, "alice");
    assert_eq!(duty.since, at("2026-03-16T08:00:00Z"));
    assert_eq!(
        duty.until,
        at("2026-03-30T07:00:00Z"),
        "09:00 Paris, summer time"
    );
}

#[test]
fn nobody_is_on_duty_before_the_start_or_without_members() {
    let mut empty = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let roster = Roster::new(vec![empty.clone()], Vec::new());
    assert_eq!(
        roster.on_duty(INTEGRATION, at("2026-03-02T07:59:00Z")),
        None
    );
    assert!(roster
        .on_duty(INTEGRATION, at("2026-03-02T08:00:00Z"))
        .is_some());
    empty.members.clear();
    let roster = Roster::new(vec![empty], Vec::new());
    assert_eq!(
        roster.on_duty(INTEGRATION, at("2026-03-10T08:00:00Z")),
        None
    );
    assert_eq!(
        Roster::default().on_duty(RotationName::QualityReviewer, at("2026-03-10T08:00:00Z")),
        None
    );
}

fn cover(id: u64, who: &str, from: &str, to: &str) -> Override {
    Override {
        id,
        rotation: INTEGRATION,
        member: Actor::console(who),
        from: at(from),
        to: at(to),
        by: Actor::console("admin"),
        reason: "holiday".into(),
        away: false,
    }
}

#[test]
fn an_override_wins_over_the_rotation_and_a_newer_override_wins_over_an_older_one() {
    let roster = Roster::new(
        vec![rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02")],
        vec![
            cover(1, "dave", "2026-03-04T00:00:00Z", "2026-03-06T00:00:00Z"),
            cover(2, "erin", "2026-03-05T00:00:00Z", "2026-03-05T12:00:00Z"),
        ],
    );
    let who = |t: &str| roster.on_duty(INTEGRATION, at(t)).map(|d| d.member.name);
    assert_eq!(who("2026-03-03T12:00:00Z"), Some("alice".into()));
    assert_eq!(who("2026-03-04T12:00:00Z"), Some("dave".into()));
    assert_eq!(who("2026-03-05T06:00:00Z"), Some("erin".into()));
    assert_eq!(who("2026-03-05T12:00:00Z"), Some("dave".into()));
    assert_eq!(who("2026-03-06T00:00:00Z"), Some("alice".into()));
    let dave = roster
        .on_duty(INTEGRATION, at("2026-03-04T12:00:00Z"))
        .unwrap_or_else(|| panic!("dave"));
    assert_eq!(
        dave.until,
        at("2026-03-05T00:00:00Z"),
        "erin's override comes next"
    );
    assert_eq!(dave.by_override, Some(1));

    assert_eq!(
        starts(&roster, "2026-03-02T08:00:00Z", "2026-03-10T00:00:00Z"),
        [
            ("2026-03-02T08:00:00+00:00".into(), "alice".into()),
            ("2026-03-04T00:00:00+00:00".into(), "dave".into()),
            ("2026-03-05T00:00:00+00:00".into(), "erin".into()),
            ("2026-03-05T12:00:00+00:00".into(), "dave".into()),
            ("2026-03-06T00:00:00+00:00".into(), "alice".into()),
            ("2026-03-09T08:00:00+00:00".into(), "bob".into()),
        ]
    );
}

#[test]
fn a_handoff_schedule_rarer_than_the_shift_is_refused() {
    let weekly_for_daily = rotation(1, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let why = weekly_for_daily
        .timing
        .check(60)
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert!(
        why.contains("fires less often than every 1 day(s)"),
        "{why}"
    );
    assert!(rotation(7, "0 9 * * *", "Europe/Paris", "2026-03-04")
        .timing
        .check(60)
        .is_ok());
}

/// (DTSTART, DTEND, SUMMARY) of every event, read by the `ical` crate.
/// Who holds shifts `from..to` of a rotation, by name.
fn turns(rotation: &Rotation, shifts: std::ops::Range<u64>) -> Vec<String> {
    shifts
        .map(|n| rotation.member_for(n).map(|m| m.name).unwrap_or_default())
        .collect()
}

#[test]
fn a_member_leaving_hands_their_turns_on_without_skipping_or_repeating_anyone() {
    let mut r = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    // Shift 4 (from Monday 30 March) is bob's.
    assert_eq!(turns(&r, 3..8), ["alice", "bob", "carol", "alice", "bob"]);
    let change = r.change_members(5, Some(people(&["alice", "carol"])));
    r.changes.push(change);
    // Shifts already begun keep their holder; carol, who followed bob,
    // comes next, then the turns go on through who is left.
    assert_eq!(
        turns(&r, 3..9),
        ["alice", "bob", "carol", "alice", "carol", "alice"]
    );
    // Back to the configured list from shift 7: after alice (shift 6), bob.
    let reset = r.change_members(7, None);
    r.changes.push(reset);
    assert_eq!(
        turns(&r, 5..11),
        ["carol", "alice", "bob", "carol", "alice", "bob"]
    );
}

#[test]
fn a_member_joining_takes_the_place_given_and_the_holders_successor_keeps_theirs() {
    let mut r = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let change = r.change_members(5, Some(people(&["alice", "bob", "carol", "dave"])));
    r.changes.push(change);
    assert_eq!(
        turns(&r, 4..10),
        ["bob", "carol", "dave", "alice", "bob", "carol"]
    );
    // Inserted right after the holder, the newcomer is next.
    let mut r = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let change = r.change_members(5, Some(people(&["alice", "bob", "erin", "carol"])));
    r.changes.push(change);
    assert_eq!(turns(&r, 4..9), ["bob", "erin", "carol", "alice", "bob"]);
    // With nobody left, nobody is on duty from that shift: a gap, not a panic.
    let change = r.change_members(6, Some(Vec::new()));
    r.changes.push(change);
    assert_eq!(turns(&r, 5..7), ["erin", ""]);
    assert_eq!(r.base_shift_at(at("2026-04-14T12:00:00Z")), None);
}

/// The integration rotation with its timing changed at `now` to `timing`.
fn retimed(rotation: &Rotation, now: &str, timing: Timing) -> Rotation {
    let retiming = rotation
        .retime(at(now), timing)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut after = rotation.clone();
    after.add_retiming(retiming);
    after
}

fn starts_of(rotation: &Rotation, from: &str, to: &str) -> Vec<(String, String)> {
    starts(&Roster::new(vec![rotation.clone()], Vec::new()), from, to)
}

#[test]
fn a_new_handoff_time_takes_over_at_its_first_handoff_and_turns_run_on_in_order() {
    let weekly = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    // Wednesday 11 March, bob's shift (since Monday): handoffs become
    // Wednesdays 10:00 London time.
    let now = "2026-03-11T12:00:00Z";
    let after = retimed(
        &weekly,
        now,
        timing(7, "0 10 * * WED", "Europe/London", "2026-03-02"),
    );
    // Bob keeps the shift until the first Wednesday handoff after now;
    // the Monday handoff in between is gone. London's clocks go forward on
    // 29 March: 10:00 local is 10:00Z before, 09:00Z after.
    assert_eq!(
        starts_of(&after, "2026-03-09T08:00:00Z", "2026-04-10T00:00:00Z"),
        [
            ("2026-03-09T08:00:00+00:00".into(), "bob".into()),
            ("2026-03-18T10:00:00+00:00".into(), "carol".into()),
            ("2026-03-25T10:00:00+00:00".into(), "alice".into()),
            ("2026-04-01T09:00:00+00:00".into(), "bob".into()),
            ("2026-04-08T09:00:00+00:00".into(), "carol".into()),
        ]
    );
    // Shift numbers run on, so member changes keep their meaning.
    let carol = after.base_shift_at(at("2026-03-18T10:00:00Z"));
    assert_eq!(
        carol.map(|s| (s.number, s.member.name)),
        Some((2, "carol".into()))
    );
    // The handoff job's cadence follows the new timing.
    assert_eq!(
        after.next_handoff_after(at(now)),
        Some(at("2026-03-18T10:00:00Z"))
    );
    assert_eq!(
        after.next_handoff_after(at("2026-03-18T10:00:00Z")),
        Some(at("2026-03-25T10:00:00Z"))
    );
    assert_eq!(after.zone().name(), "Europe/London");
    // What the store keeps reads back the same.
    let json = serde_json::to_string(&after.retimings).unwrap_or_else(|e| panic!("{e}"));
    let back: Vec<Retiming> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, after.retimings);
}

#[test]
fn a_timing_from_a_later_date_keeps_the_old_handoffs_until_then() {
    let weekly = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    // Fortnightly shifts from Monday 6 April, decided on 11 March.
    let after = retimed(
        &weekly,
        "2026-03-11T12:00:00Z",
        timing(14, "0 9 * * MON", "Europe/Paris", "2026-04-06"),
    );
    assert_eq!(
        starts_of(&after, "2026-03-09T08:00:00Z", "2026-05-10T00:00:00Z"),
        [
            ("2026-03-09T08:00:00+00:00".into(), "bob".into()),
            ("2026-03-16T08:00:00+00:00".into(), "carol".into()),
            ("2026-03-23T08:00:00+00:00".into(), "alice".into()),
            ("2026-03-30T07:00:00+00:00".into(), "bob".into()),
            ("2026-04-06T07:00:00+00:00".into(), "carol".into()),
            ("2026-04-20T07:00:00+00:00".into(), "alice".into()),
            ("2026-05-04T07:00:00+00:00".into(), "bob".into()),
        ]
    );
}

#[test]
fn a_timing_changed_again_replaces_the_one_not_yet_begun_and_the_configured_one_comes_back() {
    let weekly = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let wednesdays = retimed(
        &weekly,
        "2026-03-11T12:00:00Z",
        timing(7, "0 10 * * WED", "Europe/London", "2026-03-02"),
    );
    // The next day, before Wednesday's timing began: Fridays 09:00 Paris.
    let fridays = retimed(
        &wednesdays,
        "2026-03-12T12:00:00Z",
        timing(7, "0 9 * * FRI", "Europe/Paris", "2026-03-02"),
    );
    assert_eq!(fridays.retimings.len(), 1, "{:?}", fridays.retimings);
    assert_eq!(
        starts_of(&fridays, "2026-03-09T08:00:00Z", "2026-03-25T00:00:00Z"),
        [
            ("2026-03-09T08:00:00+00:00".into(), "bob".into()),
            ("2026-03-13T08:00:00+00:00".into(), "carol".into()),
            ("2026-03-20T08:00:00+00:00".into(), "alice".into()),
        ]
    );
    // Back to the configured timing during alice's Friday shift: she keeps
    // it until the next configured Monday 09:00.
    let back = retimed(&fridays, "2026-03-21T12:00:00Z", weekly.timing.clone());
    assert_eq!(
        starts_of(&back, "2026-03-20T08:00:00Z", "2026-04-07T00:00:00Z"),
        [
            ("2026-03-20T08:00:00+00:00".into(), "alice".into()),
            ("2026-03-23T08:00:00+00:00".into(), "bob".into()),
            ("2026-03-30T07:00:00+00:00".into(), "carol".into()),
            ("2026-04-06T07:00:00+00:00".into(), "alice".into()),
        ]
    );
}

#[test]
fn a_timing_whose_handoff_is_rarer_than_its_shift_is_refused_at_run_time_too() {
    let weekly = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-03-02");
    let why = weekly
        .retime(
            at("2026-03-11T12:00:00Z"),
            timing(1, "0 9 * * MON", "Europe/Paris", "2026-03-02"),
        )
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert!(
        why.contains("fires less often than every 1 day(s)"),
        "{why}"
    );
}

#[test]
fn a_timing_changed_before_the_rotation_begins_replaces_it_entirely() {
    let later = rotation(7, "0 9 * * MON", "Europe/Paris", "2026-04-06");
    let after = retimed(
        &later,
        "2026-03-11T12:00:00Z",
        timing(7, "0 9 * * TUE", "Europe/Paris", "2026-04-06"),
    );
    assert_eq!(after.shift_at(at("2026-04-06T12:00:00Z")), None);
    assert_eq!(
        starts_of(&after, "2026-03-11T12:00:00Z", "2026-04-15T00:00:00Z"),
        [
            ("2026-04-07T07:00:00+00:00".into(), "alice".into()),
            ("2026-04-14T07:00:00+00:00".into(), "bob".into()),
        ]
    );
}
