//! The terminal chat, driven as a pipe: every kind of bad input gets a
//! sentence that says what is wrong, and changes nothing.

use mailcall::store::{IncidentStore, SledStore};

use super::common::{console, incidents, stdout};

const SETUP: &str =
    "/incident open title:\"Bounce spike on welcome series\" severity:SEV2 team:integration\n";

/// Runs `setup`, then `bad` in a second session, and checks that the second
/// session refused it with `expected` and left the store as it was.
fn refused(bad: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    assert!(console(&data, SETUP).status.success());
    let before = incidents(&data);
    let output = console(&data, &format!("{bad}\n"));
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("[reply, only you] ⚠"),
        "not refused: {bad}\n{text}"
    );
    assert!(
        text.contains(expected),
        "for {bad}\nexpected: {expected}\ngot: {text}"
    );
    assert_eq!(
        incidents(&data),
        before,
        "refused command {bad} changed the store"
    );
}

#[test]
fn unknown_incident() {
    refused(
        "/incident diagnose id:INC-42 note:x",
        "there is no incident INC-42",
    );
}

#[test]
fn malformed_incident_id() {
    refused(
        "/incident show id:INC-x",
        "option `id`: `INC-x` is not an incident id; use the form INC-12",
    );
}

#[test]
fn illegal_transition() {
    refused(
        "/incident close id:INC-1",
        "INC-1 is open; resolve it before closing",
    );
    refused(
        "/incident reopen id:INC-1 reason:again",
        "INC-1 is open; only resolved or closed incidents can be reopened",
    );
    refused(
        "/incident update id:INC-1 note:x status:closed",
        "status:closed",
    );
}

#[test]
fn changes_to_a_closed_incident_need_a_reopen() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let script = format!(
        "{SETUP}/incident resolve id:INC-1 resolution:fixed root_cause:content\n/incident close id:INC-1\n/incident diagnose id:INC-1 note:late\n"
    );
    let text = stdout(&console(&data, &script));
    assert!(text.contains("INC-1 is closed; reopen it first"), "{text}");
}

#[test]
fn missing_and_unknown_options() {
    refused(
        "/incident open title:x severity:SEV2",
        "/incident open needs option `team` (The team that owns it first)",
    );
    refused(
        "/incident open title:x severity:SEV2 team:design colour:red",
        "/incident open has no option `colour`",
    );
    refused(
        "/incident explode id:INC-1",
        "/incident has no subcommand `explode`",
    );
    refused("/incidents list", "there is no command /incidents");
    refused(
        "/incident open title:x title:y severity:SEV2 team:design",
        "option `title` is given twice",
    );
}

#[test]
fn overlong_title() {
    let title = "x".repeat(201);
    refused(
        &format!("/incident open title:\"{title}\" severity:SEV2 team:design"),
        "option `title`: it is 201 characters long; the limit is 200",
    );
}

#[test]
fn severity_and_team_outside_the_lists() {
    refused(
        "/incident open title:x severity:SEV5 team:design",
        "`SEV5` is not one of: SEV1, SEV2, SEV3, SEV4",
    );
    refused(
        "/incident open title:x severity:SEV2 team:sales",
        "`sales` is not one of: marketing, design, integration, development",
    );
    refused(
        "/incident open title:x severity:SEV2 team:design also:legal",
        "`legal` is not a team; expected one of: marketing, design, integration, development",
    );
}

#[test]
fn broken_syntax() {
    refused("/incident open title:\"unterminated", "unclosed \" quote");
    refused("incident list", "commands start with /");
}

#[test]
fn a_caller_without_a_team_role_cannot_change_incidents() {
    refused(
        "/as dave none\n/incident diagnose id:INC-1 note:x",
        "you need a team role",
    );
}

#[test]
fn permission_refusals_are_written_to_the_audit_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let script = format!(
        "{SETUP}/as dave none\n/incident diagnose id:INC-1 note:x\n/incident show id:INC-1\n"
    );
    assert!(console(&data, &script).status.success());
    let store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let denials = store.denials().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].by.name, "dave");
    assert_eq!(denials[0].command, "/incident diagnose INC-1");
    assert!(denials[0].reason.contains("you need a team role"));
}

#[test]
fn only_the_commander_or_an_admin_can_close() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let setup = format!("{SETUP}/incident resolve id:INC-1 resolution:fixed root_cause:content\n");
    assert!(console(&data, &setup).status.success());
    let before = incidents(&data);
    let text = stdout(&console(
        &data,
        "/as erin design\n/incident close id:INC-1\n",
    ));
    assert!(
        text.contains("only INC-1's commander (tester) or an incident-admin can close it"),
        "{text}"
    );
    assert_eq!(incidents(&data), before);
    let text = stdout(&console(
        &data,
        "/as root admin\n/incident close id:INC-1\n",
    ));
    assert!(text.contains("root closed (root cause: content)"), "{text}");
}

#[test]
fn mentions_in_user_text_are_shown_but_cannot_ping() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let script =
        "/incident open title:\"@everyone <@&42> look @here\" severity:SEV3 team:marketing\n\
                  /incident diagnose id:INC-1 note:\"ping <@123> and <@!456>\"\n\
                  /incident show id:INC-1\n";
    let text = stdout(&console(&data, script));
    let echoed_commands: Vec<&str> = text.lines().filter(|l| l.starts_with("tester> ")).collect();
    let output_lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("tester> "))
        .collect();
    assert_eq!(echoed_commands.len(), 3);
    for line in &output_lines {
        for ping in ["@everyone", "@here", "<@&", "<@!", "<@1"] {
            assert!(!line.contains(ping), "{ping} can ping in: {line}");
        }
    }
    assert!(
        text.contains("@\u{200B}everyone <\u{200B}@&42> look @\u{200B}here"),
        "{text}"
    );
    // Stored exactly as typed.
    assert_eq!(
        incidents(&data)[0].title.as_str(),
        "@everyone <@&42> look @here"
    );
}

#[test]
fn list_filters() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let script = "/incident open title:\"one\" severity:SEV3 team:marketing\n\
                  /incident open title:\"two\" severity:SEV1 team:design\n\
                  /incident resolve id:INC-1 resolution:done\n\
                  /incident list\n\
                  /incident list status:resolved\n\
                  /incident list team:marketing status:all\n\
                  /incident list severity:SEV4\n";
    let text = stdout(&console(&data, script));
    let lists: Vec<&str> = text.split("tester> /incident list").skip(1).collect();
    assert_eq!(lists.len(), 4, "{text}");
    assert!(
        lists[0].contains("INC-2") && !lists[0].contains("INC-1 "),
        "{}",
        lists[0]
    );
    assert!(
        lists[1].contains("INC-1") && !lists[1].contains("INC-2"),
        "{}",
        lists[1]
    );
    assert!(
        lists[2].contains("INC-1") && !lists[2].contains("INC-2"),
        "{}",
        lists[2]
    );
    assert!(lists[3].contains("No incidents match."), "{}", lists[3]);
}
