//! On-duty rotations through the binary: the iCalendar export.

use std::path::{Path, PathBuf};

use super::common::{mailcall, stderr, stdout};

/// A weekly integration rotation, Mondays 09:00 Paris time.
const ROTATION: &str = "[rotations.integration]\nmembers = [{ name = \"alice\", discord_id = \"111\" }, { name = \"bob\", discord_id = \"222\" }, { name = \"carol\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-03-02\"\n";

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("mailcall.toml");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// (DTSTART, DTEND, SUMMARY) of every event, read by the `ical` crate.
pub(super) fn events(ics: &str) -> Vec<(String, String, String)> {
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes()));
    let calendar = parser
        .next()
        .unwrap_or_else(|| panic!("no calendar in {ics}"))
        .unwrap_or_else(|e| panic!("{e}: {ics}"));
    calendar
        .events
        .iter()
        .map(|event| {
            let get = |name: &str| {
                event
                    .properties
                    .iter()
                    .find(|p| p.name == name)
                    .and_then(|p| p.value.clone())
                    .unwrap_or_else(|| panic!("{name} missing"))
            };
            (get("DTSTART"), get("DTEND"), get("SUMMARY"))
        })
        .collect()
}

#[test]
fn the_ics_export_parses_and_agrees_with_the_schedule_over_12_weeks_across_a_dst_change_and_a_timing_change(
) {
    use chrono::{DateTime, Utc};
    use mailcall::domain::Actor;
    use mailcall::duty::{Override, Roster, RotationName, Timing};
    use mailcall::schedule::Schedule;

    let at = |text: &str| -> DateTime<Utc> { text.parse().unwrap_or_else(|e| panic!("{e}")) };
    let integration = RotationName::Team(mailcall::domain::Team::Integration);
    let configured = mailcall::config::Config::parse(Path::new("mc.toml"), ROTATION)
        .unwrap_or_else(|e| panic!("{e}"))
        .rotations;
    let cover = Override {
        id: 7,
        rotation: integration,
        member: Actor::console("dave, the \"backup\"; on call"),
        from: at("2026-03-18T00:00:00Z"),
        to: at("2026-03-20T00:00:00Z"),
        by: Actor::console("admin"),
        reason: "holiday".into(),
        away: false,
    };
    // The same rotation with its handoff moved to Wednesdays 10:00 London
    // on 15 April.
    let mut retimed = configured.clone();
    for rotation in &mut retimed {
        let wednesdays = Timing {
            handoff: Schedule::parse("0 10 * * WED", "Europe/London")
                .unwrap_or_else(|e| panic!("{e}")),
            ..rotation.timing.clone()
        };
        let retiming = rotation
            .retime(at("2026-04-15T12:00:00Z"), wednesdays)
            .unwrap_or_else(|e| panic!("{e}"));
        rotation.add_retiming(retiming);
    }
    let from = at("2026-03-02T08:00:00Z");
    // Twelve weeks of shifts: the twelfth ends at 09:00 Paris summer time.
    let to = at("2026-05-25T07:00:00Z");
    for (rotations, count, new_start) in [
        (configured, 14, "20260330T070000Z"),
        (retimed, 14, "20260422T090000Z"),
    ] {
        let roster = Roster::new(rotations, vec![cover.clone()]);
        let text = mailcall::duty::ical::export(
            &roster,
            integration,
            from,
            to,
            at("2026-03-01T00:00:00Z"),
        );
        let expected: Vec<(String, String, String)> = roster
            .schedule(integration, from, to)
            .iter()
            .map(|s| {
                (
                    s.start.format("%Y%m%dT%H%M%SZ").to_string(),
                    s.end.format("%Y%m%dT%H%M%SZ").to_string(),
                    format!("{} on duty: integration", s.member.name),
                )
            })
            .collect();
        // The parser returns TEXT values escaped; unescape what the name
        // needs.
        let unescaped: Vec<(String, String, String)> = events(&text)
            .into_iter()
            .map(|(s, e, summary)| (s, e, summary.replace("\\,", ",").replace("\\;", ";")))
            .collect();
        assert_eq!(unescaped.len(), count, "{unescaped:?}");
        assert_eq!(unescaped, expected);
        assert!(
            unescaped.iter().any(|(s, _, _)| s == new_start),
            "{new_start}: {unescaped:?}"
        );
        for pair in unescaped.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "shifts meet: {pair:?}");
        }
    }
}

#[test]
fn duty_ical_exports_twelve_weekly_shifts_at_0900_paris_across_the_spring_change() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), ROTATION);
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "integration",
            "--from",
            "2026-03-02T08:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let shifts = events(&stdout(&output));
    // Twelve weeks of UTC time from 08:00Z: after spring forward a shift
    // starts at 07:00Z, so the window ends one hour into a thirteenth.
    assert_eq!(shifts.len(), 13, "{shifts:?}");
    let starts: Vec<&str> = shifts.iter().take(6).map(|s| s.0.as_str()).collect();
    assert_eq!(
        starts,
        [
            "20260302T080000Z",
            "20260309T080000Z",
            "20260316T080000Z",
            "20260323T080000Z",
            "20260330T070000Z",
            "20260406T070000Z"
        ]
    );
    let who: Vec<&str> = shifts.iter().take(4).map(|s| s.2.as_str()).collect();
    assert_eq!(
        who,
        [
            "alice on duty: integration",
            "bob on duty: integration",
            "carol on duty: integration",
            "alice on duty: integration"
        ]
    );
    for pair in shifts.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "shifts meet: {pair:?}");
    }
}

#[test]
fn duty_ical_writes_a_file_with_out_and_refuses_a_rotation_the_config_lacks() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), ROTATION);
    let out = dir.path().join("integration.ics");
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "integration",
            "--weeks",
            "2",
            "--from",
            "2026-03-02",
            "--out",
        ])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let shifts = events(&text);
    assert_eq!(
        shifts.len(),
        2,
        "nobody before the first handoff: {shifts:?}"
    );
    assert_eq!(shifts[0].0, "20260302T080000Z");
    assert_eq!(
        shifts[1].1, "20260316T000000Z",
        "the window's end cuts the second"
    );

    let output = mailcall()
        .args(["duty", "ical", "design", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no [rotations.design] table"),
        "{}",
        stderr(&output)
    );
    let output = mailcall()
        .args(["duty", "ical", "sales", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stderr(&output).contains("`sales` is not a rotation"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_example_configs_commented_rotations_are_valid_once_uncommented() {
    let example =
        std::fs::read_to_string("data/mailcall.example.toml").unwrap_or_else(|e| panic!("{e}"));
    let start = example
        .find("# [rotations.integration]")
        .unwrap_or_else(|| panic!("the example documents rotations"));
    let block: String = example[start..]
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .unwrap_or(line.trim_start_matches('#'))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &block);
    let output = mailcall()
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}\n{block}", stderr(&output));
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "quality-reviewer",
            "--weeks",
            "1",
            "--from",
            "2026-11-02T08:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("SUMMARY:carol on duty: quality-reviewer"));
}

mod commands {
    //! `/duty who`, `/duty schedule` and `/duty override` through the
    //! engine on a real sled store, with an injected clock.

    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use mailcall::clock::ManualClock;
    use mailcall::command::{CommandError, Effect, Engine, Outcome, PostButton, Visibility};
    use mailcall::config::Config;
    use mailcall::domain::{Actor, Caller, Team};
    use mailcall::store::SledStore;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn rotations() -> Vec<mailcall::duty::Rotation> {
        Config::parse(std::path::Path::new("mc.toml"), super::ROTATION)
            .unwrap_or_else(|e| panic!("{e}"))
            .rotations
    }

    fn engine(path: &std::path::Path, clock: Arc<ManualClock>) -> Engine<SledStore> {
        let store = SledStore::open(path).unwrap_or_else(|e| panic!("{e}"));
        Engine::new(store, clock)
            .with_rotations(rotations())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(
        engine: &mut Engine<SledStore>,
        caller: &Caller,
        line: &str,
    ) -> Result<Outcome, CommandError> {
        let invocation = mailcall::console::parse_line(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .unwrap_or_else(|| panic!("{line}: empty"));
        engine.handle(caller, &invocation)
    }

    fn reply(engine: &mut Engine<SledStore>, caller: &Caller, line: &str) -> String {
        run(engine, caller, line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .reply
            .text
    }

    fn member_of_integration(name: &str) -> Caller {
        Caller {
            actor: Actor::console(name),
            teams: [Team::Integration].into_iter().collect(),
            admin: false,
        }
    }

    #[test]
    fn duty_who_names_the_member_on_shift_and_the_next_one_in_the_rotations_zone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let mut engine = engine(&dir.path().join("db"), clock.clone());
        let carol = member_of_integration("carol");
        let who = run(&mut engine, &carol, "/duty who team:integration")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(who.reply.visibility, Visibility::Private);
        assert_eq!(
            who.reply.text,
            "On duty now:\n  integration: bob, since Mon 30 Mar 09:00 until Mon 6 Apr 09:00 (Europe/Paris); next: carol"
        );
        let none = run(&mut engine, &carol, "/duty who team:design")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(none.contains("there is no design rotation"), "{none}");
    }

    #[test]
    fn an_override_is_admin_only_wins_everywhere_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("db");
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let admin = Caller::operator(Actor::console("root"));
        {
            let mut engine = engine(&path, clock.clone());
            let refused = run(
                &mut engine,
                &member_of_integration("carol"),
                "/duty override team:integration member:dave from:2026-04-01 to:2026-04-03 reason:\"bob's holiday\"",
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert_eq!(refused, "only incident-admin may override a rotation");

            let done = run(
                &mut engine,
                &admin,
                "/duty override team:integration member:dave from:2026-04-01 to:\"2026-04-03 09:00\" reason:\"bob's holiday\"",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(done.reply.visibility, Visibility::Public);
            assert_eq!(
                done.reply.text,
                "🗓️ integration: dave is on duty from Wed 1 Apr 00:00 to Fri 3 Apr 09:00 (Europe/Paris), over the rotation (override #1 by root: bob's holiday); it covers bob"
            );
            // A time that does not exist in Paris is refused, not guessed.
            let gap = run(
                &mut engine,
                &admin,
                "/duty override team:integration member:dave from:\"2027-03-28 02:30\" to:2027-03-29 reason:x",
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(gap.contains("does not exist in Europe/Paris"), "{gap}");
        }
        // After a restart the override still wins, in every view.
        clock.set(at("2026-04-02T10:00:00Z"));
        let mut engine = engine(&path, clock.clone());
        let carol = member_of_integration("carol");
        let who = reply(&mut engine, &carol, "/duty who team:integration");
        assert_eq!(
            who,
            "On duty now:\n  integration: dave (override #1), since Wed 1 Apr 00:00 until Fri 3 Apr 09:00 (Europe/Paris); next: bob"
        );
        let schedule = reply(
            &mut engine,
            &carol,
            "/duty schedule team:integration weeks:1",
        );
        assert_eq!(
            schedule,
            "Shifts for the next 1 week(s):\nintegration (Europe/Paris):\n  Thu 2 Apr 12:00 → Fri 3 Apr 09:00  dave (override #1 by root: bob's holiday)\n  Fri 3 Apr 09:00 → Mon 6 Apr 09:00  bob\n  Mon 6 Apr 09:00 → Thu 9 Apr 12:00  carol"
        );
        assert_eq!(
            engine
                .roster()
                .on_duty(
                    mailcall::duty::RotationName::Team(Team::Integration),
                    at("2026-04-02T10:00:00Z")
                )
                .map(|d| d.member.name),
            Some("dave".to_string()),
            "the one answer agrees"
        );
    }

    fn refusal(result: Result<Outcome, CommandError>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }

    fn names(people: &[Actor]) -> Vec<String> {
        people.iter().map(|p| p.name.clone()).collect()
    }

    fn on_duty(engine: &Engine<SledStore>, when: &str) -> String {
        engine
            .roster()
            .on_duty(
                mailcall::duty::RotationName::Team(Team::Integration),
                at(when),
            )
            .map(|d| d.member.name)
            .unwrap_or_else(|| "nobody".into())
    }

    /// The team posts of one scheduled tick (reminders, expiries, gaps).
    fn tick(engine: &mut Engine<SledStore>) -> Vec<(Vec<String>, bool, String)> {
        engine
            .scheduled(true, &[], None, &mailcall::scheduler::JobRecords::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::TeamPost {
                    mention,
                    mention_admin,
                    text,
                    ..
                } => Some((names(&mention), mention_admin, text)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_swap_asks_with_buttons_and_declined_withdrawn_or_expired_changes_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let mut engine = engine(&dir.path().join("db"), clock.clone());
        let carol = member_of_integration("carol");
        // carol is on duty from Monday 6 April 09:00 Paris time.
        let not_yours = refusal(run(
            &mut engine,
            &member_of_integration("dave"),
            "/duty swap team:integration member:carol from:2026-04-07 to:2026-04-09",
        ));
        assert!(
            not_yours.starts_with("you are not on duty for integration between"),
            "{not_yours}"
        );
        let asked = run(
            &mut engine,
            &carol,
            "/duty swap team:integration member:dave from:2026-04-07 to:2026-04-09 reason:dentist",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            asked.reply.text,
            "Swap #1 asked: dave decides by Thu 2 Apr 14:00 (Europe/Paris)."
        );
        match asked.effects.as_slice() {
            [Effect::TeamPost {
                mention,
                buttons,
                text,
                ..
            }] => {
                assert_eq!(names(mention), ["dave"]);
                assert_eq!(
                    buttons,
                    &[PostButton::SwapAccept(1), PostButton::SwapDecline(1)]
                );
                assert_eq!(
                    text,
                    "🔄 integration: dave, carol asks you to take their duty from Tue 7 Apr 00:00 to Thu 9 Apr 00:00 (Europe/Paris) (dentist). Swap #1: accept or decline by Thu 2 Apr 14:00."
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            refusal(run(
                &mut engine,
                &member_of_integration("bob"),
                "/duty answer swap:1 choice:accept"
            )),
            "swap #1 asks dave; only they can answer it"
        );
        let dave = member_of_integration("dave");
        assert_eq!(
            reply(&mut engine, &dave, "/duty answer swap:1 choice:decline"),
            "✋ integration: dave declined swap #1; carol stays on duty as planned."
        );
        assert_eq!(on_duty(&engine, "2026-04-08T10:00:00Z"), "carol");

        // Withdrawn by the member who asked.
        reply(
            &mut engine,
            &carol,
            "/duty swap team:integration member:erin from:2026-04-07 to:2026-04-09",
        );
        assert_eq!(
            reply(&mut engine, &carol, "/duty answer swap:2 choice:decline"),
            "↩️ integration: swap #2 withdrawn by carol; nothing changes."
        );

        // Left unanswered, it expires after 48 hours; both are told once.
        reply(
            &mut engine,
            &carol,
            "/duty swap team:integration member:frank from:2026-04-10 to:2026-04-12",
        );
        clock.set(at("2026-04-02T11:59:00Z"));
        assert!(tick(&mut engine)
            .iter()
            .all(|(_, _, t)| !t.contains("expired")));
        clock.set(at("2026-04-02T12:00:00Z"));
        assert_eq!(
            tick(&mut engine),
            [(
                vec!["carol".to_string(), "frank".to_string()],
                false,
                "⌛ integration: swap #3 expired unanswered; carol stays on duty as planned."
                    .to_string()
            )]
        );
        assert!(tick(&mut engine).is_empty(), "told once");
        assert_eq!(
            refusal(run(
                &mut engine,
                &member_of_integration("frank"),
                "/duty answer swap:3 choice:accept"
            )),
            "swap #3 is already expired"
        );
        assert_eq!(on_duty(&engine, "2026-04-11T10:00:00Z"), "carol");
    }

    #[test]
    fn an_accepted_swap_is_an_override_everywhere_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("db");
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        {
            let mut engine = engine(&path, clock.clone());
            let carol = member_of_integration("carol");
            reply(
                &mut engine,
                &carol,
                "/duty swap team:integration member:dave from:2026-04-07 to:2026-04-09",
            );
            let accepted = run(
                &mut engine,
                &member_of_integration("dave"),
                "/duty answer swap:1 choice:accept",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                accepted.reply.text,
                "🤝 integration: dave accepted swap #1; dave is on duty instead of carol from Tue 7 Apr 00:00 to Thu 9 Apr 00:00 (Europe/Paris) (override #2)."
            );
            match accepted.effects.as_slice() {
                [Effect::TeamPost { mention, .. }] => {
                    assert_eq!(names(mention), ["carol", "dave"])
                }
                other => panic!("{other:?}"),
            }
        }
        clock.set(at("2026-04-07T10:00:00Z"));
        let mut engine = engine(&path, clock.clone());
        assert_eq!(on_duty(&engine, "2026-04-07T10:00:00Z"), "dave");
        assert_eq!(on_duty(&engine, "2026-04-09T10:00:00Z"), "carol");
        let who = reply(
            &mut engine,
            &member_of_integration("bob"),
            "/duty who team:integration",
        );
        assert_eq!(
            who,
            "On duty now:\n  integration: dave (override #2), since Tue 7 Apr 00:00 until Thu 9 Apr 00:00 (Europe/Paris); next: carol"
        );
    }

    #[test]
    fn a_member_leaving_mid_shift_hands_it_to_the_next_and_the_people_whose_shifts_move_are_told() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("db");
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let admin = Caller::operator(Actor::console("root"));
        {
            let mut engine = engine(&path, clock.clone());
            assert_eq!(on_duty(&engine, "2026-03-31T12:00:00Z"), "bob");
            assert_eq!(
                refusal(run(
                    &mut engine,
                    &member_of_integration("carol"),
                    "/duty leave team:integration member:bob"
                )),
                "only incident-admin may change a rotation's members"
            );
            let left = run(
                &mut engine,
                &admin,
                "/duty leave team:integration member:bob",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                left.reply.text,
                "👥 integration: bob left (by root); turns from the next shift: alice, carol; carol takes the rest of the current shift, until Mon 6 Apr 09:00 (Europe/Paris) (override #1); shifts move for bob, carol, alice"
            );
            match left.effects.as_slice() {
                [Effect::TeamPost { mention, .. }] => {
                    assert_eq!(names(mention), ["bob", "carol", "alice"])
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(
                refusal(run(
                    &mut engine,
                    &admin,
                    "/duty leave team:integration member:bob"
                )),
                "bob does not take turns in integration"
            );
        }
        // After a restart: carol now, then carol's own shift, then alice,
        // then carol again; bob never.
        let engine = engine(&path, clock.clone());
        let holders: Vec<String> = [
            "2026-04-01T10:00:00Z",
            "2026-04-08T10:00:00Z",
            "2026-04-15T10:00:00Z",
            "2026-04-22T10:00:00Z",
            "2026-04-29T10:00:00Z",
        ]
        .iter()
        .map(|t| on_duty(&engine, t))
        .collect();
        assert_eq!(holders, ["carol", "carol", "alice", "carol", "alice"]);
        // The shift that had begun before the change is history: bob held it.
        assert_eq!(on_duty(&engine, "2026-03-31T11:00:00Z"), "bob");
        let audit: Vec<&str> = engine
            .duty_book()
            .audit
            .iter()
            .map(|a| a.what.as_str())
            .collect();
        assert_eq!(audit, ["bob left"]);
    }

    #[test]
    fn join_and_reset_change_the_turns_from_the_next_shift_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let admin = Caller::operator(Actor::console("root"));
        let mut engine = engine(&dir.path().join("db"), clock.clone());
        let joined = reply(
            &mut engine,
            &admin,
            "/duty join team:integration member:dave position:3",
        );
        assert!(
            joined.starts_with("👥 integration: dave joined, turn 3 (by root); turns from the next shift: alice, bob, dave, carol;"),
            "{joined}"
        );
        let holders = |engine: &Engine<SledStore>| -> Vec<String> {
            [
                "2026-04-01T10:00:00Z",
                "2026-04-08T10:00:00Z",
                "2026-04-15T10:00:00Z",
                "2026-04-22T10:00:00Z",
            ]
            .iter()
            .map(|t| on_duty(engine, t))
            .collect()
        };
        assert_eq!(holders(&engine), ["bob", "dave", "carol", "alice"]);
        let reset = reply(&mut engine, &admin, "/duty reset team:integration");
        assert!(
            reset.starts_with("👥 integration: back to the configured members (by root); turns from the next shift: alice, bob, carol;"),
            "{reset}"
        );
        assert_eq!(holders(&engine), ["bob", "carol", "alice", "bob"]);
    }

    #[test]
    fn a_timing_change_is_admin_only_moves_the_handoffs_survives_a_restart_and_reset_undoes_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("db");
        // Tuesday 31 March: bob's shift, since Monday 09:00 Paris.
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let admin = Caller::operator(Actor::console("root"));
        let mut engine = engine(&path, clock.clone());
        let wednesdays =
            "/duty timing team:integration handoff:\"0 10 * * WED\" timezone:Europe/London";
        assert!(refusal(run(
            &mut engine,
            &member_of_integration("carol"),
            wednesdays
        ))
        .contains("only incident-admin may change a rotation's timing"),);
        for (line, why) in [
            (
                "/duty timing team:integration",
                "/duty timing changes nothing without shift, handoff, timezone or start",
            ),
            (
                "/duty timing team:integration timezone:Mars/Olympus",
                "/duty timing: option `timezone`: `Mars/Olympus` is not a time zone",
            ),
            (
                "/duty timing team:integration handoff:\"0 10 * * WED\" timezone:Mars/Olympus",
                "/duty timing: option `timezone`: `Mars/Olympus` is not a time zone",
            ),
            (
                "/duty timing team:integration handoff:\"0 25 * * *\"",
                "/duty timing: option `handoff`:",
            ),
            (
                "/duty timing team:integration shift:1d",
                "/duty timing: option `handoff`: the handoff `0 9 * * MON` fires less often than every 1 day(s)",
            ),
            (
                "/duty timing team:integration shift:1w",
                "integration already hands over every week, at `0 9 * * MON` (Europe/Paris)",
            ),
        ] {
            let refused = refusal(run(&mut engine, &admin, line));
            assert!(refused.contains(why), "{line}: {refused}");
        }
        assert_eq!(engine.pending_posts().map(|p| p.len()).ok(), Some(0));

        let changed = run(&mut engine, &admin, wednesdays).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            changed.reply.text,
            "🕘 integration: from Wed 1 Apr 10:00 (Europe/London) shifts change hands every week, \
             at `0 10 * * WED` (Europe/London), counted from 2026-03-02 (by root); bob is on duty \
             until then; carol takes the first shift; shifts move for bob, carol, alice"
        );
        let told: Vec<Vec<String>> = changed
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::TeamPost { mention, .. } => Some(names(mention)),
                _ => None,
            })
            .collect();
        assert_eq!(told, [vec!["bob", "carol", "alice"]]);
        let holders = |engine: &Engine<SledStore>| -> Vec<String> {
            [
                "2026-04-01T08:59:00Z",
                "2026-04-01T09:00:00Z",
                // Monday's old handoff is gone.
                "2026-04-06T08:00:00Z",
                "2026-04-08T09:00:00Z",
            ]
            .iter()
            .map(|t| on_duty(engine, t))
            .collect()
        };
        assert_eq!(holders(&engine), ["bob", "carol", "carol", "alice"]);
        let schedule = reply(
            &mut engine,
            &admin,
            "/duty schedule team:integration weeks:2",
        );
        assert!(
            schedule.contains("integration (Europe/London):\n  from Wed 1 Apr 10:00, shifts change hands every week, at `0 10 * * WED`"),
            "{schedule}"
        );
        assert!(
            schedule.contains("Wed 1 Apr 10:00 → Wed 8 Apr 10:00  carol"),
            "{schedule}"
        );

        // A restart changes nothing.
        drop(engine);
        let mut engine = self::engine(&path, clock.clone());
        assert_eq!(holders(&engine), ["bob", "carol", "carol", "alice"]);

        // Reset during carol's shift: the configured Monday 09:00 Paris
        // comes back from the next one, and turns run on.
        clock.set(at("2026-04-02T12:00:00Z"));
        let reset = reply(&mut engine, &admin, "/duty reset team:integration");
        assert!(
            reset.contains("; shifts change hands every week, at `0 9 * * MON` (Europe/Paris), counted from 2026-03-02 again from Mon 6 Apr 09:00 (Europe/Paris)"),
            "{reset}"
        );
        assert_eq!(on_duty(&engine, "2026-04-06T06:59:00Z"), "carol");
        assert_eq!(on_duty(&engine, "2026-04-06T07:00:00Z"), "alice");
        assert_eq!(on_duty(&engine, "2026-04-13T07:00:00Z"), "bob");
    }

    #[test]
    fn a_rotation_that_will_leave_the_team_with_nobody_is_announced_once_to_the_team_and_admins() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let admin = Caller::operator(Actor::console("root"));
        let mut engine = engine(&dir.path().join("db"), clock.clone());
        assert!(
            tick(&mut engine).is_empty(),
            "no gap while everyone takes turns"
        );
        for member in ["bob", "carol", "alice"] {
            reply(
                &mut engine,
                &admin,
                &format!("/duty leave team:integration member:{member}"),
            );
        }
        // alice covers the rest of this shift; after it, nobody.
        assert_eq!(on_duty(&engine, "2026-04-01T10:00:00Z"), "alice");
        assert_eq!(on_duty(&engine, "2026-04-07T10:00:00Z"), "nobody");
        let posts = tick(&mut engine);
        let gaps: Vec<&(Vec<String>, bool, String)> = posts
            .iter()
            .filter(|(_, _, text)| text.contains("nobody will be on duty"))
            .collect();
        assert_eq!(
            gaps,
            [&(
                Vec::<String>::new(),
                true,
                "⚠️ integration: nobody will be on duty from Mon 6 Apr 09:00 (Europe/Paris), and nobody is due after that. Add a member (/duty join) or set an override (/duty override).".to_string()
            )]
        );
        assert!(
            tick(&mut engine)
                .iter()
                .all(|(_, _, text)| !text.contains("nobody will be on duty")),
            "announced once"
        );
        let gap_posts = |posts: Vec<(Vec<String>, bool, String)>| {
            posts
                .into_iter()
                .filter(|(_, _, text)| text.contains("nobody will be on duty"))
                .count()
        };
        // Under way, it is not announced again at every tick.
        clock.set(at("2026-04-07T12:00:00Z"));
        assert_eq!(
            gap_posts(tick(&mut engine)),
            0,
            "not repeated while under way"
        );
        // A member joining after everyone left takes the next shift; the
        // shifts before stay as they were.
        reply(
            &mut engine,
            &admin,
            "/duty join team:integration member:dave",
        );
        assert_eq!(on_duty(&engine, "2026-03-31T11:00:00Z"), "bob");
        assert_eq!(on_duty(&engine, "2026-04-08T10:00:00Z"), "nobody");
        assert_eq!(on_duty(&engine, "2026-04-14T10:00:00Z"), "dave");
        assert_eq!(gap_posts(tick(&mut engine)), 0);
        clock.set(at("2026-04-14T10:00:00Z"));
        assert_eq!(gap_posts(tick(&mut engine)), 0, "filled");
        // A new gap after that one is announced afresh.
        reply(
            &mut engine,
            &admin,
            "/duty leave team:integration member:dave",
        );
        assert_eq!(gap_posts(tick(&mut engine)), 1, "a new gap");
        clock.set(at("2026-03-31T12:00:00Z"));
        // A gap beyond the 14-day horizon is announced once it comes in range.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut engine = super::commands::engine(&dir.path().join("db"), clock.clone());
        for member in ["bob", "carol", "alice"] {
            reply(
                &mut engine,
                &admin,
                &format!("/duty leave team:integration member:{member}"),
            );
        }
        reply(
            &mut engine,
            &admin,
            "/duty override team:integration member:dave from:2026-04-06 to:2026-04-20 reason:holidays",
        );
        assert!(
            tick(&mut engine)
                .iter()
                .all(|(_, _, text)| !text.contains("nobody will be on duty")),
            "20 days away"
        );
        clock.set(at("2026-04-07T12:00:00Z"));
        let posts = tick(&mut engine);
        assert!(
            posts.iter().any(|(_, admin, text)| *admin
                && text.starts_with(
                    "⚠️ integration: nobody will be on duty from Mon 20 Apr 00:00 (Europe/Paris)"
                )),
            "{posts:?}"
        );

        // With `gap_notice = "3w"` the same gap is announced 20 days ahead.
        clock.set(at("2026-03-31T12:00:00Z"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let three_weeks = Config::parse(
            std::path::Path::new("mc.toml"),
            &format!("{}gap_notice = \"3w\"\n", super::ROTATION),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .rotations;
        assert_eq!(three_weeks[0].gap_notice_days, 21);
        let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        let mut engine = Engine::new(store, clock.clone())
            .with_rotations(three_weeks)
            .unwrap_or_else(|e| panic!("{e}"));
        for line in [
            "/duty leave team:integration member:bob",
            "/duty leave team:integration member:carol",
            "/duty leave team:integration member:alice",
            "/duty override team:integration member:dave from:2026-04-06 to:2026-04-20 reason:holidays",
        ] {
            reply(&mut engine, &admin, line);
        }
        assert_eq!(gap_posts(tick(&mut engine)), 1, "20 days away, within 21");
    }

    /// Someone away is not on duty: their shift is left uncovered, shown
    /// as such, announced as a gap, and an override fills it. A member may
    /// mark only themself away; an admin anyone.
    #[test]
    fn someone_away_leaves_a_gap_that_is_shown_announced_and_filled_by_an_override() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("db");
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let carol = member_of_integration("carol");
        {
            let mut engine = engine(&path, clock.clone());
            assert_eq!(
                refusal(run(
                    &mut engine,
                    &carol,
                    "/duty away team:integration member:bob from:2026-04-01 to:2026-04-02"
                )),
                "only incident-admin may mark someone else away; you may mark yourself"
            );
            // carol's shift runs from Mon 6 April 09:00 Paris.
            let away = run(
                &mut engine,
                &carol,
                "/duty away team:integration member:carol from:2026-04-07 to:2026-04-09 reason:holiday",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                away.reply.text,
                "🏖️ integration: carol is away from Tue 7 Apr 00:00 to Thu 9 Apr 00:00 (Europe/Paris) (holiday), set by carol (away #1). Nobody is on duty Tue 7 Apr 00:00 to Thu 9 Apr 00:00: ask someone to take it (/duty swap, before it starts) or an admin to set an override."
            );
            match away.effects.as_slice() {
                [Effect::TeamPost { mention, .. }] => assert_eq!(names(mention), ["carol"]),
                other => panic!("{other:?}"),
            }
        }
        // After a restart: still away, and everything agrees on it.
        let mut engine = engine(&path, clock.clone());
        assert_eq!(on_duty(&engine, "2026-04-06T10:00:00Z"), "carol");
        assert_eq!(on_duty(&engine, "2026-04-08T10:00:00Z"), "nobody");
        assert_eq!(on_duty(&engine, "2026-04-10T10:00:00Z"), "carol");
        let schedule = reply(
            &mut engine,
            &carol,
            "/duty schedule team:integration weeks:2",
        );
        assert!(
            schedule.contains(
                "\n  Mon 6 Apr 09:00 → Tue 7 Apr 00:00  carol\n  Tue 7 Apr 00:00 → Thu 9 Apr 00:00  nobody\n  Thu 9 Apr 00:00 → Mon 13 Apr 09:00  carol"
            ),
            "{schedule}"
        );
        let gaps: Vec<String> = tick(&mut engine)
            .into_iter()
            .filter(|(_, _, text)| text.contains("nobody will be on duty"))
            .map(|(_, _, text)| text)
            .collect();
        assert_eq!(
            gaps,
            ["⚠️ integration: nobody will be on duty from Tue 7 Apr 00:00 (Europe/Paris), until Thu 9 Apr 00:00. Add a member (/duty join) or set an override (/duty override)."]
        );
        let admin = Caller::operator(Actor::console("root"));
        reply(
            &mut engine,
            &admin,
            "/duty override team:integration member:dave from:2026-04-07 to:2026-04-09 reason:\"carol's holiday\"",
        );
        assert_eq!(on_duty(&engine, "2026-04-08T10:00:00Z"), "dave");
        // The override is newer than the absence: dave marked away after it
        // leaves the time uncovered again.
        reply(
            &mut engine,
            &admin,
            "/duty away team:integration member:dave from:2026-04-08 to:2026-04-09",
        );
        assert_eq!(on_duty(&engine, "2026-04-07T10:00:00Z"), "dave");
        assert_eq!(on_duty(&engine, "2026-04-08T10:00:00Z"), "nobody");
    }

    /// (mention, mention_admin, text, buttons) of each quality-channel post.
    fn quality_posts(effects: &[Effect]) -> Vec<(Vec<String>, bool, String, Vec<PostButton>)> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::QualityPost {
                    mention,
                    mention_admin,
                    text,
                    buttons,
                } => Some((
                    names(mention),
                    *mention_admin,
                    text.clone(),
                    buttons.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    /// The quality reviewer's rotation spans the teams, so its swap
    /// requests, answers, shift reminders and gaps go to the quality
    /// channel (the weekly summary's), mentioning only the people named.
    #[test]
    fn the_reviewers_swaps_reminders_and_gaps_are_posted_in_the_quality_channel() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-31T12:00:00Z")));
        let config = format!(
            "{}\n[rotations.quality-reviewer]\nmembers = [{{ name = \"carol\" }}, {{ name = \"dave\" }}]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-03-02\"\n",
            super::ROTATION
        );
        let rotations = Config::parse(std::path::Path::new("mc.toml"), &config)
            .unwrap_or_else(|e| panic!("{e}"))
            .rotations;
        let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        let mut engine = Engine::new(store, clock.clone())
            .with_rotations(rotations)
            .unwrap_or_else(|e| panic!("{e}"));
        let reviewer = |engine: &Engine<SledStore>, when: &str| {
            engine
                .roster()
                .on_duty(mailcall::duty::RotationName::QualityReviewer, at(when))
                .map(|d| d.member.name)
                .unwrap_or_else(|| "nobody".into())
        };
        // carol reviews this week (shift 4 from 2 March).
        assert_eq!(reviewer(&engine, "2026-03-31T12:00:00Z"), "carol");
        let asked = run(
            &mut engine,
            &member_of_integration("carol"),
            "/duty swap team:quality-reviewer member:erin from:2026-04-01 to:2026-04-03",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let posts = quality_posts(&asked.effects);
        assert_eq!(posts.len(), 1, "{:?}", asked.effects);
        assert_eq!(posts[0].0, ["erin"]);
        assert!(
            posts[0].2.starts_with("🔄 quality-reviewer: erin, carol asks you to take their duty from Wed 1 Apr 00:00 to Fri 3 Apr 00:00 (Europe/Paris). Swap #1"),
            "{}",
            posts[0].2
        );
        assert_eq!(
            posts[0].3,
            [PostButton::SwapAccept(1), PostButton::SwapDecline(1)]
        );
        let accepted = run(
            &mut engine,
            &member_of_integration("erin"),
            "/duty answer swap:1 choice:accept",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let posts = quality_posts(&accepted.effects);
        assert_eq!(posts.len(), 1, "{:?}", accepted.effects);
        assert_eq!(posts[0].0, ["carol", "erin"]);
        assert_eq!(reviewer(&engine, "2026-04-02T10:00:00Z"), "erin");
        assert_eq!(reviewer(&engine, "2026-04-03T10:00:00Z"), "carol");

        // A day before dave's week, dave is reminded there.
        clock.set(at("2026-04-05T08:00:00Z"));
        let effects = engine
            .scheduled(true, &[], None, &mailcall::scheduler::JobRecords::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let reminders = quality_posts(&effects);
        assert_eq!(reminders.len(), 1, "{effects:?}");
        assert_eq!(reminders[0].0, ["dave"]);
        assert!(
            reminders[0].2.starts_with(
                "⏰ quality-reviewer: dave, you are on duty from Mon 6 Apr 09:00 (Europe/Paris)"
            ),
            "{}",
            reminders[0].2
        );

        // Everyone leaves: the gap is announced there, with incident-admin.
        let admin = Caller::operator(Actor::console("root"));
        for member in ["carol", "dave"] {
            reply(
                &mut engine,
                &admin,
                &format!("/duty leave team:quality-reviewer member:{member}"),
            );
        }
        let effects = engine
            .scheduled(true, &[], None, &mailcall::scheduler::JobRecords::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let gaps: Vec<_> = quality_posts(&effects)
            .into_iter()
            .filter(|(_, _, text, _)| text.contains("nobody will be on duty"))
            .collect();
        assert_eq!(gaps.len(), 1, "{effects:?}");
        assert!(gaps[0].1, "incident-admin is not called");
        assert!(
            gaps[0].2.starts_with(
                "⚠️ quality-reviewer: nobody will be on duty from Mon 6 Apr 09:00 (Europe/Paris)"
            ),
            "{}",
            gaps[0].2
        );
    }

    #[test]
    fn the_quality_reviewer_gets_a_checklist_at_their_handoff_and_ticks_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(at("2026-03-30T06:00:00Z")));
        let config = format!(
            "{}\n[rotations.quality-reviewer]\nmembers = [{{ name = \"carol\" }}, {{ name = \"dave\" }}]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-03-02\"\n",
            super::ROTATION
        );
        let rotations = Config::parse(std::path::Path::new("mc.toml"), &config)
            .unwrap_or_else(|e| panic!("{e}"))
            .rotations;
        let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        let mut engine = Engine::new(store, clock.clone())
            .with_rotations(rotations)
            .unwrap_or_else(|e| panic!("{e}"));
        let alice = member_of_integration("alice");
        reply(
            &mut engine,
            &alice,
            "/incident open title:\"Welcome series bouncing\" severity:SEV2 team:integration",
        );
        reply(
            &mut engine,
            &alice,
            "/incident action add id:INC-1 text:\"Validate list imports\" owner:bob due:2026-03-20",
        );
        // Monday 30 March 09:00 Paris: carol's week as reviewer begins.
        clock.set(at("2026-03-30T07:00:00Z"));
        let handoff = mailcall::command::duty::HandoffRun {
            rotation: mailcall::duty::RotationName::QualityReviewer,
            due: at("2026-03-30T07:00:00Z"),
            previous: Some(at("2026-03-23T08:00:00Z")),
        };
        let posts = engine
            .scheduled(
                false,
                &[handoff],
                None,
                &mailcall::scheduler::JobRecords::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        match posts.as_slice() {
            [Effect::TeamPost {
                team,
                mention,
                text,
                buttons,
                ..
            }] => {
                // carol takes integration turns: her own team's channel.
                assert_eq!(*team, Team::Integration);
                assert_eq!(names(mention), ["carol"]);
                assert_eq!(
                    text,
                    "🔍 Quality review #1, carol: you step back this week. Tick each item once you have looked at it; what stays unticked goes into the weekly summary.\n1. Prevention actions open: 1, 1 overdue: INC-1 #1 \"Validate list imports\" (bob, overdue)"
                );
                assert_eq!(buttons, &[PostButton::ChecklistTick(1, 1)]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            refusal(run(
                &mut engine,
                &member_of_integration("bob"),
                "/duty tick checklist:1 item:1"
            )),
            "checklist #1 is carol's to tick (or an incident-admin's)"
        );
        let carol = member_of_integration("carol");
        assert_eq!(
            reply(&mut engine, &carol, "/duty tick checklist:1 item:1"),
            "✅ carol ticked item 1 of checklist #1: Prevention actions open: 1, 1 overdue: INC-1 #1 \"Validate list imports\" (bob, overdue); 0 left"
        );
        assert!(
            refusal(run(&mut engine, &carol, "/duty tick checklist:1 item:1"))
                .starts_with("item 1 of checklist #1 is already ticked by carol")
        );
        let book = engine.checklists().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(book.latest().map(|l| l.unticked().count()), Some(0));
    }
}

#[test]
fn duty_ical_includes_the_overrides_the_store_holds() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &format!("[store]\npath = \"db\"\n\n{ROTATION}"));
    let mut child = mailcall()
        .args(["console", "--as", "root", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(
            b"/duty override team:integration member:dave from:2030-01-01 to:\"2030-01-02 12:00\" reason:cover\n",
        );
    }
    let console = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stdout(&console)
            .contains("dave is on duty from Tue 1 Jan 00:00 to Wed 2 Jan 12:00 (Europe/Paris)"),
        "{}\n{}",
        stdout(&console),
        stderr(&console)
    );
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "integration",
            "--from",
            "2029-12-31T08:00:00Z",
            "--weeks",
            "1",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let shifts = events(&stdout(&output));
    let dave: Vec<_> = shifts.iter().filter(|s| s.2.starts_with("dave")).collect();
    assert_eq!(
        dave,
        [&(
            "20291231T230000Z".to_string(),
            "20300102T110000Z".to_string(),
            "dave on duty: integration".to_string()
        )],
        "{shifts:?}"
    );
}

pub(super) mod handoffs {
    //! Handoff posts from the service's scheduler, with an injected clock:
    //! once per shift change at the handoff's local time, not again after
    //! a restart, and a handoff missed while down posted once at start.

    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use mailcall::clock::{Clock, ManualClock};
    use mailcall::command::{Effect, TeamDirectory};
    use mailcall::config::Config;
    use mailcall::service::{Service, SharedEngine};

    pub(super) fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// (team, mention, text) of every duty post waiting in the outbox.
    pub(super) fn team_posts(engine: &SharedEngine) -> Vec<(String, String, String)> {
        let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        engine
            .pending_posts()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter_map(|(_, effect)| match effect {
                Ok(Effect::TeamPost {
                    team,
                    mention,
                    text,
                    ..
                }) => Some((
                    team.to_string(),
                    mention
                        .iter()
                        .map(|m| m.name.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                    text,
                )),
                _ => None,
            })
            .collect()
    }

    /// The integration rotation's configuration with its store in `dir`.
    pub(super) fn rotation_config(dir: &std::path::Path) -> Config {
        Config {
            store_path: dir.join("db"),
            ..Config::parse(std::path::Path::new("mc.toml"), super::ROTATION)
                .unwrap_or_else(|e| panic!("{e}"))
        }
    }

    /// The service on `config` with `clock`, its jobs started.
    pub(in crate::it) fn start_service(
        config: &Config,
        clock: Arc<ManualClock>,
    ) -> (SharedEngine, mailcall::service::Jobs) {
        Service::open(config, TeamDirectory::default(), clock as Arc<dyn Clock>)
            .unwrap_or_else(|e| panic!("{e}"))
            .start(Arc::new(tokio::sync::Notify::new()))
    }

    pub(super) async fn wait_for_posts(
        engine: &SharedEngine,
        count: usize,
    ) -> Vec<(String, String, String)> {
        crate::it::common::wait_for_at_least(count, || team_posts(engine)).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handoff_is_posted_once_per_shift_change_across_restarts_and_downtime() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = rotation_config(dir.path());
        let clock = Arc::new(ManualClock::new(at("2026-12-07T07:50:00Z")));
        let start = |clock: Arc<ManualClock>| start_service(&config, clock);

        // First start, ten minutes before Monday's 09:00 Paris handoff:
        // nothing is posted for shifts that began before the bot knew them.
        let (engine, jobs) = start(clock.clone());
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(team_posts(&engine).is_empty(), "{:?}", team_posts(&engine));
        // 09:00 Paris (08:00Z in winter): one handoff post.
        clock.set(at("2026-12-07T08:00:03Z"));
        let posts = wait_for_posts(&engine, 1).await;
        // 2026-03-02 + 40 weeks: alice, bob, carol, … → shift 40 is bob's.
        assert_eq!(posts.len(), 1, "{posts:?}");
        let (team, mention, text) = &posts[0];
        assert_eq!(team, "integration");
        assert_eq!(mention, "bob");
        assert!(
            text.starts_with("🔁 integration handoff: bob is on duty now, until Mon 14 Dec 09:00 (Europe/Paris); next: carol"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nOpen incidents: none\nActive alerts: none\nOverdue prevention actions: none"
            ),
            "{text}"
        );
        jobs.stop().await;
        drop(engine);

        // A restart in the same hour posts nothing again.
        clock.set(at("2026-12-07T08:30:00Z"));
        let (engine, jobs) = start(clock.clone());
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(team_posts(&engine).len(), 1, "a handoff was posted twice");
        jobs.stop().await;
        drop(engine);

        // Down over the next Monday: its handoff is posted once at start,
        // naming who is on duty now.
        clock.set(at("2026-12-15T10:00:00Z"));
        let (engine, jobs) = start(clock.clone());
        let posts = wait_for_posts(&engine, 2).await;
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert_eq!(posts[1].1, "carol");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            team_posts(&engine).len(),
            2,
            "the missed handoff was repeated"
        );
        jobs.stop().await;
    }
}

mod retimed_handoffs {
    //! A timing changed while the bot runs moves the service's handoff job:
    //! the handoff is posted at the new time, and not at the old one.

    use std::sync::Arc;
    use std::time::Duration;

    use mailcall::clock::ManualClock;
    use mailcall::domain::{Actor, Caller};

    use super::handoffs::{at, rotation_config, start_service, team_posts, wait_for_posts};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_handoff_is_posted_at_the_new_time_and_not_at_the_old_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = rotation_config(dir.path());
        // Tuesday 8 December: bob's shift (since Monday 09:00 Paris).
        let clock = Arc::new(ManualClock::new(at("2026-12-08T12:00:10Z")));
        let (engine, jobs) = start_service(&config, clock.clone());
        // The jobs start (and learn the configured timing) first.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        {
            let line =
                "/duty timing team:integration handoff:\"0 10 * * WED\" timezone:Europe/London";
            let invocation = mailcall::console::parse_line(line)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("empty"));
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            engine
                .handle(&Caller::operator(Actor::console("root")), &invocation)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            wait_for_posts(&engine, 1).await.len(),
            1,
            "the change is told"
        );
        // Wednesday 10:00 London (10:00Z in winter): the new handoff.
        clock.set(at("2026-12-09T10:00:03Z"));
        let posts = wait_for_posts(&engine, 2).await;
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert_eq!(posts[1].1, "carol");
        assert!(
            posts[1].2.starts_with("🔁 integration handoff: carol is on duty now, until Wed 16 Dec 10:00 (Europe/London); next: alice"),
            "{}",
            posts[1].2
        );
        // Monday 09:00 Paris, the old handoff time: nothing.
        clock.set(at("2026-12-14T08:00:03Z"));
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        assert_eq!(team_posts(&engine).len(), 2, "{:?}", team_posts(&engine));
        // The next Wednesday: the next handoff.
        clock.set(at("2026-12-16T10:00:03Z"));
        let posts = wait_for_posts(&engine, 3).await;
        assert_eq!(posts.len(), 3, "{posts:?}");
        assert_eq!(posts[2].1, "alice");
        jobs.stop().await;
    }
}

mod reminders {
    //! The member whose shift starts within 24 hours is reminded once, in
    //! the team's channel, and not again after a restart.

    use std::sync::Arc;
    use std::time::Duration;

    use mailcall::clock::ManualClock;

    use super::handoffs::{at, rotation_config, start_service, team_posts, wait_for_posts};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_next_member_is_reminded_once_a_day_before_their_shift() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = rotation_config(dir.path());
        // Sunday 13 December, 25 hours before carol's Monday 09:00 shift.
        let clock = Arc::new(ManualClock::new(at("2026-12-13T07:00:10Z")));
        let start = |clock: Arc<ManualClock>| start_service(&config, clock);
        let (engine, jobs) = start(clock.clone());
        clock.set(at("2026-12-13T07:00:30Z"));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(
            team_posts(&engine).is_empty(),
            "too early: {:?}",
            team_posts(&engine)
        );
        // 24 hours before: the tick reminds carol.
        clock.set(at("2026-12-13T08:00:00Z"));
        let posts = wait_for_posts(&engine, 1).await;
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert_eq!(posts[0].1, "carol");
        assert_eq!(
            posts[0].2,
            "⏰ integration: carol, you are on duty from Mon 14 Dec 09:00 (Europe/Paris), in 24 h, until Mon 21 Dec 09:00; bob hands over."
        );
        clock.set(at("2026-12-13T08:00:30Z"));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(team_posts(&engine).len(), 1, "reminded twice");
        jobs.stop().await;
        drop(engine);
        // After a restart, still once.
        clock.set(at("2026-12-13T12:00:00Z"));
        let (engine, jobs) = start(clock.clone());
        clock.set(at("2026-12-13T12:00:30Z"));
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        assert_eq!(
            team_posts(&engine).len(),
            1,
            "reminded again after a restart"
        );
        jobs.stop().await;
    }
}
