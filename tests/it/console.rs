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

/// `mailcall console --config` runs the service as `run` does: it polls the
/// configured accounts, runs detection after each poll and prints the alerts
/// in the owning teams' channels with their buttons as commands, which the
/// person at the terminal can then type. A team can watch its real accounts
/// this way before it wires Discord.
#[test]
fn the_console_polls_detects_and_prints_alerts_whose_buttons_can_be_typed() {
    use std::io::{BufRead, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = dir.path().join("sg-key");
    std::fs::write(&key, "SG.never-shown").unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("mailcall.toml");
    std::fs::write(
        &config,
        "[store]\npath = \"db\"\n\n[poll]\nstale_after = 1\n\n\
         [[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nscenario = \"demo\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n\n\
         [[esp]]\nname = \"dead-sg\"\nprovider = \"sendgrid\"\nbase_url = \"http://127.0.0.1:9\"\ncredential_file = \"sg-key\"\nschedule = \"0 * * * *\"\ntimeout_seconds = 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Four weeks of the sandbox's history first, so its streams have a
    // baseline; the demo scenario then has a bounce spike on tag:welcome
    // and a silent automation in its newest hours.
    let backfill = super::common::mailcall()
        .args([
            "backfill",
            "--days",
            "28",
            "--account",
            "sandbox-main",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        backfill.status.success(),
        "{}",
        super::common::stderr(&backfill)
    );

    let mut child = super::common::mailcall()
        .args(["console", "--as", "tester", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mailcall: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = |seen: &[String]| {
        let text = seen.join("\n");
        text.contains("sandbox-main/tag:welcome · bounce")
            && text.contains("dead-sg/account · feed (stale-feed)")
    };
    while !wanted(&seen) && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    let text = seen.join("\n");
    assert!(wanted(&seen), "no alerts printed within 60 s:\n{text}");
    assert!(text.starts_with("# Polling 2 ESP account(s)"), "{text}");
    assert!(!text.contains("SG.never-shown"), "{text}");
    // The bounce alert is posted in integration's channel with its buttons
    // as commands to type.
    let bounce = seen
        .iter()
        .position(|l| l.contains("sandbox-main/tag:welcome · bounce"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        seen[bounce].contains("[#integration] 🚨 @integration"),
        "{}",
        seen[bounce]
    );
    let ack = seen[bounce..]
        .iter()
        .find_map(|l| {
            let at = l.find("[Acknowledge: ")?;
            let rest = &l[at + "[Acknowledge: ".len()..];
            Some(rest[..rest.find(']')?].to_string())
        })
        .unwrap_or_else(|| panic!("no acknowledge button:\n{text}"));
    assert!(ack.starts_with("/alert ack id:"), "{ack}");

    writeln!(stdin, "{ack}").unwrap_or_else(|e| panic!("{e}"));
    writeln!(stdin, "/quit").unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let rest: Vec<String> = lines.iter().collect();
    let rest = rest.join("\n");
    assert!(status.success(), "{rest}");
    assert!(rest.contains(&format!("tester> {ack}")), "{rest}");
    assert!(rest.contains("acknowledged"), "{rest}");
}

/// A refusal says what was refused: alert and silence commands from someone
/// without a team role do not talk about incidents.
#[test]
fn refusals_of_alert_and_silence_commands_say_what_was_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let text = stdout(&console(
        &data,
        "/as bob none\n/alert ack id:1\n/alert snooze id:1 for:1h\n/alert incident id:1\n/silence remove id:1\n",
    ));
    for what in [
        "to acknowledge alerts",
        "to snooze alerts",
        "to open an incident from an alert",
        "to remove silences",
    ] {
        assert!(
            text.contains(&format!(
                "you need a team role (marketing, design, integration or development) {what}"
            )),
            "{what}: {text}"
        );
    }
    assert!(!text.contains("to open or change incidents"), "{text}");
}

/// Ctrl-C on a half-typed line drops the line and keeps the console, as a
/// shell does; the next command runs and Ctrl-D or /quit leaves. Driven
/// through a real terminal (`script` gives the console a pty).
#[test]
fn ctrl_c_on_a_half_typed_line_clears_it_and_the_console_stays() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let command = format!(
        "{} console --data {}",
        env!("CARGO_BIN_EXE_mailcall"),
        dir.path().join("db").display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qfc", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run script(1): {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let pause = || std::thread::sleep(Duration::from_millis(700));
    pause();
    for keys in [
        &b"/incident open title:half"[..],
        b"\x03",
        b"/incident list status:all\r",
        b"/quit\r",
    ] {
        stdin.write_all(keys).unwrap_or_else(|e| panic!("{e}"));
        stdin.flush().unwrap_or_else(|e| panic!("{e}"));
        pause();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("^C (Ctrl-D or /quit leaves)"), "{text}");
    assert!(
        text.contains("No incidents match."),
        "the console went on, and the half line was not run: {text}"
    );
}
