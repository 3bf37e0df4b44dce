//! The incident log and action follow-up: `/incident list` with `since`
//! and `search`, `/incident action list`, `/incident postmortem`, reminders
//! to action owners, and `mailcall export incidents` read back by a CSV
//! parser.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mailcall::clock::ManualClock;
use mailcall::command::{Effect, Engine};
use mailcall::domain::{Actor, Caller};
use mailcall::store::SledStore;

use super::alerts::as_operator;
use super::common::mailcall;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A store with three incidents: INC-1 on 2 Nov (a title and a stream key
/// with commas and quotes, resolved), INC-2 on 10 Nov with an action for
/// dana due 20 Nov and one for eve due 1 Dec, INC-3 on 18 Nov.
fn engine_with_log(path: &std::path::Path, clock: &Arc<ManualClock>) -> Engine<SledStore> {
    let store = SledStore::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(store, clock.clone());
    clock.set(at("2026-11-02T09:00:00Z"));
    as_operator(
        &mut engine,
        "/incident open title:\"Bounces, \\\"hard\\\" ones, at acme\" severity:SEV2 team:integration esp:acme stream:\"campaign:spring, 2026\"",
    );
    as_operator(
        &mut engine,
        "/incident resolve id:INC-1 resolution:\"list pruned\" root_cause:list-quality",
    );
    clock.set(at("2026-11-10T09:00:00Z"));
    as_operator(
        &mut engine,
        "/incident open title:\"Welcome series stopped\" severity:SEV3 team:marketing",
    );
    as_operator(
        &mut engine,
        "/incident diagnose id:INC-2 note:\"webhook token expired\"",
    );
    as_operator(
        &mut engine,
        "/incident action add id:INC-2 text:\"Alert on webhook failures\" owner:dana due:2026-11-20",
    );
    as_operator(
        &mut engine,
        "/incident action add id:INC-2 text:\"Rotate tokens yearly\" owner:eve due:2026-12-01",
    );
    clock.set(at("2026-11-18T09:00:00Z"));
    as_operator(
        &mut engine,
        "/incident open title:\"Complaints up\" severity:SEV3 team:marketing",
    );
    engine
}

/// The incident ids a list names, in id order.
fn ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.starts_with("INC-"))
        .map(|w| w.trim_end_matches([',', ':', '.']).to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_log_is_searched_by_day_and_by_text_across_statuses() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at("2026-11-01T00:00:00Z")));
    let mut engine = engine_with_log(&dir.path().join("db"), &clock);
    let list = |engine: &mut Engine<SledStore>, options: &str| {
        as_operator(engine, &format!("/incident list {options}"))
            .reply
            .text
    };
    // The default stays the active ones; since and search look at all.
    assert_eq!(ids(&list(&mut engine, "")), ["INC-2", "INC-3"]);
    assert_eq!(
        ids(&list(&mut engine, "since:2026-11-10")),
        ["INC-2", "INC-3"]
    );
    assert_eq!(ids(&list(&mut engine, "since:2026-11-01")).len(), 3);
    // Title, stream, notes and resolution are searched, in any case.
    assert_eq!(ids(&list(&mut engine, "search:HARD")), ["INC-1"]);
    assert_eq!(
        ids(&list(&mut engine, "search:\"spring, 2026\"")),
        ["INC-1"]
    );
    assert_eq!(ids(&list(&mut engine, "search:webhook")), ["INC-2"]);
    assert_eq!(ids(&list(&mut engine, "search:pruned")), ["INC-1"]);
    assert_eq!(
        list(&mut engine, "search:nothing-like-this"),
        "No incidents match."
    );
    let refused = engine.handle(
        &Caller::operator(Actor::console("root")),
        &mailcall::console::parse_line("/incident list since:yesterday")
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("empty")),
    );
    assert!(
        refused.err().is_some_and(|e| e
            .to_string()
            .contains("`yesterday` is not a date; use YYYY-MM-DD")),
        "a bad day was accepted"
    );
}

#[test]
fn open_actions_are_listed_overdue_first_and_mine_are_the_callers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at("2026-11-01T00:00:00Z")));
    let mut engine = engine_with_log(&dir.path().join("db"), &clock);
    clock.set(at("2026-11-25T09:00:00Z"));
    let all = as_operator(&mut engine, "/incident action list").reply.text;
    assert!(
        all.starts_with("2 open prevention action(s), 1 overdue:\nINC-2 #1: Alert on webhook failures — dana · **overdue** since 2026-11-20"),
        "{all}"
    );
    assert!(
        all.contains("INC-2 #2: Rotate tokens yearly — eve · due 2026-12-01"),
        "{all}"
    );
    let dana = Caller {
        actor: Actor::console("dana"),
        teams: [mailcall::domain::Team::Marketing].into(),
        admin: false,
    };
    let invocation = mailcall::console::parse_line("/incident action list mine:true")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("empty"));
    let mine = engine
        .handle(&dana, &invocation)
        .unwrap_or_else(|e| panic!("{e}"))
        .reply
        .text;
    assert!(
        mine.starts_with("1 open prevention action(s) of yours, 1 overdue:"),
        "{mine}"
    );
    assert!(!mine.contains("Rotate tokens"), "{mine}");
}

/// The (mentioned owner, text) of each duty post among `effects`.
fn reminders(effects: Vec<Effect>) -> Vec<(String, String)> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::TeamPost { mention, text, .. } if text.starts_with("⏰ Prevention action") => {
                Some((
                    mention
                        .iter()
                        .map(|m| m.name.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                    text,
                ))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn owners_are_reminded_on_the_due_day_then_weekly_while_overdue() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at("2026-11-01T00:00:00Z")));
    let mut engine = engine_with_log(&dir.path().join("db"), &clock);
    let tick = |engine: &mut Engine<SledStore>, when: &str| {
        clock.set(at(when));
        reminders(
            engine
                .scheduled(true, &[], None, &mailcall::scheduler::JobRecords::default())
                .unwrap_or_else(|e| panic!("{e}")),
        )
    };
    assert!(tick(&mut engine, "2026-11-19T09:00:00Z").is_empty());
    let due = tick(&mut engine, "2026-11-20T08:00:00Z");
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].0, "dana");
    assert!(
        due[0]
            .1
            .starts_with("⏰ Prevention action due today: INC-2 #1: Alert on webhook failures"),
        "{}",
        due[0].1
    );
    assert!(
        tick(&mut engine, "2026-11-20T17:00:00Z").is_empty(),
        "reminded twice on the due day"
    );
    let overdue = tick(&mut engine, "2026-11-21T08:00:00Z");
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert!(
        overdue[0]
            .1
            .starts_with("⏰ Prevention action overdue since 2026-11-20"),
        "{}",
        overdue[0].1
    );
    assert!(
        tick(&mut engine, "2026-11-24T08:00:00Z").is_empty(),
        "reminded again within the week"
    );
    assert_eq!(
        tick(&mut engine, "2026-11-28T08:00:00Z").len(),
        1,
        "no weekly reminder"
    );
    // Done: never again.
    as_operator(&mut engine, "/incident action done id:INC-2 number:1");
    assert!(tick(&mut engine, "2026-12-06T08:00:00Z")
        .iter()
        .all(|(owner, _)| owner != "dana"));
    // The reminders survive a restart of the engine: the record is stored.
    drop(engine);
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(store, clock.clone());
    let again = tick(&mut engine, "2026-12-06T09:00:00Z");
    assert!(again.is_empty(), "repeated after a restart: {again:?}");
    // Ticks look for due actions once an hour: an action due today, added
    // after a look, is reminded at the next one.
    as_operator(
        &mut engine,
        "/incident action add id:INC-3 text:\"Check the seed list\" owner:fay due:2026-12-06",
    );
    assert!(tick(&mut engine, "2026-12-06T09:30:00Z").is_empty());
    let later = tick(&mut engine, "2026-12-06T10:05:00Z");
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0].0, "fay");
}

#[test]
fn a_postmortem_draft_is_attached_as_markdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at("2026-11-01T00:00:00Z")));
    let mut engine = engine_with_log(&dir.path().join("db"), &clock);
    let outcome = as_operator(&mut engine, "/incident postmortem id:INC-2");
    assert_eq!(outcome.attachments.len(), 1, "no ESP account, so no chart");
    let file = &outcome.attachments[0];
    assert_eq!(file.filename, "postmortem-INC-2.md");
    let text = String::from_utf8_lossy(&file.bytes);
    assert!(
        text.starts_with("# Postmortem draft: INC-2 Welcome series stopped"),
        "{text}"
    );
    assert!(
        text.contains("| 1 | Alert on webhook failures | dana | 2026-11-20 | open |"),
        "{text}"
    );
    assert!(text.contains("diagnosis: webhook token expired"), "{text}");
}

#[test]
fn the_csv_export_reads_back_through_a_csv_parser() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("db");
    let clock = Arc::new(ManualClock::new(at("2026-11-01T00:00:00Z")));
    drop(engine_with_log(&db, &clock));
    let out = dir.path().join("incidents.csv");
    let run = mailcall()
        .args(["export", "incidents", "--format", "csv", "--data"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut reader = csv::Reader::from_path(&out).unwrap_or_else(|e| panic!("{e}"));
    let headers = reader.headers().unwrap_or_else(|e| panic!("{e}")).clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        mailcall::command::log::EXPORT_COLUMNS
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 3);
    let field = |row: usize, name: &str| {
        let column = headers.iter().position(|h| h == name).unwrap_or(usize::MAX);
        rows[row].get(column).unwrap_or_default().to_string()
    };
    assert_eq!(field(0, "title"), "Bounces, \"hard\" ones, at acme");
    assert_eq!(field(0, "stream"), "campaign:spring, 2026");
    assert_eq!(field(0, "root_cause"), "list-quality");
    assert_eq!(field(0, "resolved_at"), "2026-11-02T09:00:00+00:00");
    assert_eq!(field(1, "open_actions"), "2");
    assert_eq!(field(2, "acknowledged_at"), "");

    // --since, and JSON that parses back.
    let run = mailcall()
        .args([
            "export",
            "incidents",
            "--format",
            "json",
            "--since",
            "2026-11-10",
            "--data",
        ])
        .arg(&db)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let incidents: Vec<mailcall::domain::Incident> =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = incidents.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, ["INC-2", "INC-3"]);
    // Markdown escapes the pipes a table cannot hold.
    let run = mailcall()
        .args(["export", "incidents", "--format", "markdown", "--data"])
        .arg(&db)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let markdown = String::from_utf8_lossy(&run.stdout);
    assert!(
        markdown.starts_with("# Incident log\n\n| id | title |"),
        "{markdown}"
    );
    assert_eq!(
        markdown.lines().filter(|l| l.starts_with("| INC-")).count(),
        3
    );
    let bad = mailcall()
        .args(["export", "incidents", "--format", "xml", "--data"])
        .arg(&db)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--format: `xml` is not an export format; use csv, markdown or json"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
