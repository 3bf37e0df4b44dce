//! `mailcall demo`: the first command a new user runs.

use std::process::Stdio;

use super::common::{mailcall, stderr, stdout};

fn demo(args: &[&str], data: &std::path::Path) -> std::process::Output {
    mailcall()
        .arg("demo")
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the demo: {e}"))
}

#[test]
fn the_tour_works_one_incident_end_to_end_and_exits_0() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("demo.db");
    let output = demo(&[], &data);
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    // The alerts mention the on-duty member the roster names, and /duty who
    // names the same person.
    let development = ["diego", "dora"]
        .into_iter()
        .find(|m| text.contains(&format!("[#development] 🚨 @development @{m} (on duty)")))
        .unwrap_or_else(|| panic!("no on-duty mention in development's alert:\n{text}"));
    assert!(
        text.contains(&format!("  development: {development}, since ")),
        "/duty who disagrees with the alert's mention:\n{text}"
    );
    for step in [
        "demo-esp / tag:welcome — latest bucket",
        "demo-esp / tag:onboarding-day-3 — latest bucket",
        "(0 sent)",
        "(on duty) 🔴 CRITICAL · alert #1 · demo-esp/tag:onboarding-day-3 · volume (volume-drop)",
        "(on duty) 🔴 CRITICAL · alert #2 · demo-esp/tag:welcome · bounce (hard-limit)",
        "[reply, only you] On duty now:",
        "  marketing: ",
        "  quality-reviewer: ",
        "[Acknowledge: /alert ack id:1]",
        "[reply] alert #1 acknowledged by bob",
        "(edited) 🔴 CRITICAL · alert #1",
        "[#integration] 🚨 @integration new incident",
        "alice diagnosis: From alert #2: bounces",
        "incident: INC-1",
        "[thread INC-1] bob made bob the integration assignee",
        "(investigating → mitigated)",
        "⚠ INC-1 is mitigated; resolve it before closing",
        "(mitigated → resolved)",
        "prevention action #1 for carol",
        "⚠ only INC-1's commander (alice) or an incident-admin can close it",
        "[thread INC-1] alice closed (root cause: list quality)",
        "Timeline, newest first:",
        "[file] postmortem-INC-1.md:",
        "# Postmortem draft: INC-1",
        "[reply, only you] # Weekly quality summary, ",
    ] {
        assert!(text.contains(step), "the tour lacks {step:?}:\n{text}");
    }
    // The log lists every accepted change: the open, the alert's figures as
    // the first diagnosis, and 7 changes by people.
    // (Up to the tour's next narration line.)
    let timeline = text
        .split("Timeline, newest first:")
        .nth(1)
        .and_then(|rest| rest.split("\n#").next())
        .unwrap_or_default();
    let shown = timeline.lines().filter(|l| l.contains(" UTC · ")).count();
    assert!(
        shown == 9 || timeline.contains(&format!("entries 1–{shown} of 9;")),
        "{timeline}"
    );
    // Each alert counted in the duty load of the members it mentioned: two
    // alerts, each routed to development and integration.
    for member in ["diego", "ines"] {
        assert!(
            text.contains(&format!("{member}: pages 2 (")) && text.contains("; alerts 2 ("),
            "{member}'s load: {text}"
        );
    }
    // The incident started assigned to the integration member on duty.
    assert!(
        text.contains("made bob the integration assignee (was ines)"),
        "{text}"
    );
}

#[test]
fn each_run_starts_fresh_unless_kept() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("demo.db");
    assert!(demo(&[], &data).status.success());
    let again = stdout(&demo(&[], &data));
    assert!(again.contains("INC-1 · SEV2 · open"), "{again}");
    let kept = demo(&["--keep"], &data);
    let kept_text = stdout(&kept);
    assert!(kept.status.success());
    // The kept store remembers the alerts and the incident opened from one:
    // the tour's steps meet that state instead of starting over.
    assert!(
        kept_text.contains("⚠ alert #2 already has an incident: INC-1"),
        "{kept_text}"
    );
    assert!(kept_text.contains("already acknowledged"), "{kept_text}");
}

#[test]
fn the_demo_will_not_wipe_a_directory_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let precious = dir.path().join("photos");
    std::fs::create_dir_all(&precious).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(precious.join("cat.jpg"), b"meow").unwrap_or_else(|e| panic!("{e}"));
    let output = demo(&[], &precious);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not a mailcall demo store"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(precious.join("cat.jpg")).ok(),
        Some(b"meow".to_vec())
    );
}

#[test]
fn the_demo_refuses_a_real_store_it_did_not_create() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let real = dir.path().join("team.db");
    let made = super::common::console(
        &real,
        "/incident open title:\"Real outage\" severity:SEV2 team:integration\n/quit\n",
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let before = super::common::incidents(&real);
    assert_eq!(before.len(), 1, "the console made a real incident");
    for args in [&[][..], &["--keep"][..]] {
        let output = demo(args, &real);
        assert!(!output.status.success(), "demo {args:?} must refuse");
        let message = stderr(&output);
        assert!(message.contains(&real.display().to_string()), "{message}");
        assert!(message.contains("did not create"), "{message}");
        assert_eq!(super::common::incidents(&real), before, "demo {args:?}");
    }
}
