//! Alerting from the outside: `/silence`, `/route test` and `/alert` at the
//! console and in the demo, and reminders and escalation through the engine
//! with a hand-wound clock, across a restart.

use std::process::Stdio;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use mailcall::alert::AlertEffect;
use mailcall::alerting::AlertingConfig;
use mailcall::clock::ManualClock;
use mailcall::command::{Effect, Engine};
use mailcall::domain::Team;
use mailcall::poll::{Poller, PollerSettings};
use mailcall::store::SledStore;

use super::common::{console, mailcall, stdout};

#[test]
fn silences_are_added_listed_persisted_and_checked() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let text = stdout(&console(
        &data,
        "/silence add match:\"stream=tag:welcome metric=bounce\" duration:2h reason:\"planned re-import\"\n\
         /silence add match:\"colour=red\" duration:1h reason:x\n\
         /silence add match:all duration:20d reason:x\n\
         /silence add match:all duration:1h reason:\"@everyone quiet\"\n\
         /route test kind:bounce stream:tag:welcome account:sg-main\n\
         /route test kind:stale-feed stream:account\n\
         /route test kind:volume-spike stream:tag:welcome account:sg-main\n",
    ));
    assert!(
        text.contains("[reply] 🔕 silence #1 by tester: stream=tag:welcome metric=bounce until"),
        "{text}"
    );
    assert!(text.contains("— planned re-import"), "{text}");
    assert!(text.contains("⚠ /silence add: option `match`:"), "{text}");
    assert!(
        text.contains("a silence lasts between 1 minute and 14 days"),
        "{text}"
    );
    assert!(
        text.contains("@\u{200B}everyone quiet"),
        "user text is defanged: {text}"
    );
    // The route preview names teams, channels and role mentions, the silence, and escalation.
    assert!(
        text.contains("Route preview for sg-main/tag:welcome bounce baseline (nothing was posted)"),
        "{text}"
    );
    assert!(text.contains("tell integration: #integration, mentioning @integration; development: #development, mentioning @development"), "{text}");
    assert!(text.contains("silenced now: planned re-import"), "{text}");
    assert!(text.contains("Critical: if unacknowledged, remind the team after 15 min, escalate to @incident-admin after 45 min"), "{text}");
    assert!(
        text.contains("tell development: #development"),
        "stale feeds go to development: {text}"
    );
    assert!(
        text.contains(
            "Route preview for sg-main/tag:welcome volume volume-spike (nothing was posted)"
        ),
        "{text}"
    );

    // A second session sees the silences; removing one works once.
    let later = stdout(&console(
        &data,
        "/silence list\n/silence remove id:1\n/silence remove id:1\n",
    ));
    assert!(
        later.contains("#1 stream=tag:welcome metric=bounce until"),
        "{later}"
    );
    assert!(
        later.contains("🔔 silence #1 (stream=tag:welcome metric=bounce) removed by tester"),
        "{later}"
    );
    assert!(
        later.contains("⚠ there is no silence or quiet window #1"),
        "{later}"
    );
}

#[test]
fn the_demo_alerts_can_be_worked_from_the_console() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        "/alert list\n/as nobody none\n/alert ack id:1\n/as dana development\n/alert snooze id:1 for:24h\n/alert show id:2\n\
         /alert incident id:2\n/alert incident id:2\n/alert ack id:99\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("demo")
        .arg("--data")
        .arg(dir.path().join("demo.db"))
        .arg("--script")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = stdout(&output);
    assert!(output.status.success());
    assert!(text.contains("2 active alert(s):"), "{text}");
    assert!(text.contains("⚠ you need a team role"), "{text}");
    assert!(
        text.contains("[reply, only you] alert #1 snoozed for 24 h by dana"),
        "{text}"
    );
    assert!(
        text.contains("snoozed until"),
        "the edited post shows the snooze: {text}"
    );
    assert!(text.contains("Runbook (hard-limit, built-in):"), "{text}");
    assert!(text.contains("incident: INC-1"), "{text}");
    assert!(
        text.contains("⚠ alert #2 already has an incident: INC-1"),
        "{text}"
    );
    assert!(text.contains("⚠ there is no alert #99"), "{text}");
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_default()
}

fn effect_names(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(a) => Some(a.name()),
            _ => None,
        })
        .collect()
}

/// A store at `path` holding four weeks of the sandbox ESP's history up to
/// the clock's now, polled through the real poller; and that history.
pub(super) async fn store_with_demo_history(
    path: &std::path::Path,
    clock: &Arc<ManualClock>,
) -> (SledStore, Arc<mailcall::store::SledHistory>) {
    use mailcall::clock::Clock as _;
    let now = clock.now();
    let store = SledStore::open(path).unwrap_or_else(|e| panic!("{e}"));
    let history = Arc::new(store.history().unwrap_or_else(|e| panic!("{e}")));
    let planned = mailcall::app::demo_account(now).unwrap_or_else(|e| panic!("{e}"));
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let poller = Poller::new(
        vec![planned.clone()],
        PollerSettings::default(),
        history.clone(),
        clock.clone(),
        events,
    );
    let window = mailcall::esp::client::Window {
        start: now - chrono::Duration::days(28),
        end: now,
    };
    let _ = poller.poll_window(&planned, Some(window)).await;
    (store, history)
}

/// Runs a console line as the local operator (every role), which must be
/// accepted.
pub(super) fn as_operator(
    engine: &mut Engine<SledStore>,
    line: &str,
) -> mailcall::command::Outcome {
    let operator = mailcall::domain::Caller::operator(mailcall::domain::Actor::console("root"));
    let invocation = mailcall::console::parse_line(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .unwrap_or_else(|| panic!("{line}: empty"));
    engine
        .handle(&operator, &invocation)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// An engine on a store holding the sandbox's four weeks of history, with
/// alerting (`config`) and the rotations of the configuration text `rotations`.
pub(super) async fn engine_with_rotations(
    path: &std::path::Path,
    clock: &Arc<ManualClock>,
    config: AlertingConfig,
    rotations: &str,
) -> Engine<SledStore> {
    let rotations = mailcall::config::Config::parse(std::path::Path::new("mc.toml"), rotations)
        .unwrap_or_else(|e| panic!("{e}"))
        .rotations;
    let (store, history) = store_with_demo_history(path, clock).await;
    Engine::new(store, clock.clone())
        .with_history(history)
        .with_alerts(config, Vec::new())
        .and_then(|e| e.with_rotations(rotations))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_alerts_are_reminded_then_escalated_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("db");
    let now = at("2026-11-18T15:20:00Z");
    let clock = Arc::new(ManualClock::new(now));
    let mut config = AlertingConfig::default();
    config.detector.min_volume = 50;
    {
        let (store, history) = store_with_demo_history(&path, &clock).await;
        let mut engine = Engine::new(store, clock.clone())
            .with_history(history)
            .with_alerts(config.clone(), Vec::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let opened = engine
            .after_poll("demo-esp")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            effect_names(&opened).iter().all(|n| *n == "Open") && opened.len() >= 2,
            "{:?}",
            effect_names(&opened)
        );
        // Polling the same bucket again judges nothing twice.
        assert!(engine
            .after_poll("demo-esp")
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty());
        clock.advance(chrono::Duration::minutes(10));
        assert!(effect_names(&engine.alert_tick().unwrap_or_else(|e| panic!("{e}"))).is_empty());
        clock.advance(chrono::Duration::minutes(6));
        let reminded = engine.alert_tick().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            effect_names(&reminded).iter().all(|n| *n == "Remind") && !reminded.is_empty(),
            "{:?}",
            effect_names(&reminded)
        );
    }
    // Restart: a new engine on the same store carries on where it was.
    let store = SledStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let history = Arc::new(store.history().unwrap_or_else(|e| panic!("{e}")));
    let mut engine = Engine::new(store, clock.clone())
        .with_history(history)
        .with_alerts(config, Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        engine
            .alert_tick()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "reminders are not repeated after a restart"
    );
    clock.advance(chrono::Duration::minutes(30));
    let escalated = engine.alert_tick().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        effect_names(&escalated).iter().all(|n| *n == "Escalate") && !escalated.is_empty(),
        "{:?}",
        effect_names(&escalated)
    );
    let escalated_alert = escalated.iter().find_map(|e| match e {
        Effect::Alert(effect) => match effect.as_ref() {
            AlertEffect::Escalate { alert } => Some(alert.id),
            _ => None,
        },
        _ => None,
    });
    assert!(escalated_alert.is_some());
}

/// Alerts and reminders raised at 03:20 in Paris count as sleep-hour
/// alerts and pages for the members on duty they mention, in the change
/// that raises them; `/duty load` reads them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_at_night_count_as_sleep_hour_pages_in_the_duty_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = at("2026-11-18T02:20:00Z");
    let clock = Arc::new(ManualClock::new(now));
    let mut config = AlertingConfig::default();
    config.detector.min_volume = 50;
    let rotations = "[rotations.integration]\nmembers = [{ name = \"ines\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-11-02\"\n\n\
         [rotations.development]\nmembers = [{ name = \"diego\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-11-02\"\n";
    let mut engine = engine_with_rotations(&dir.path().join("db"), &clock, config, rotations).await;
    let opened = engine
        .after_poll("demo-esp")
        .unwrap_or_else(|e| panic!("{e}"));
    let routed_to = |effects: &[Effect], team: Team| {
        effects
            .iter()
            .filter(|e| match e {
                Effect::Alert(a) => a.alert().is_some_and(|v| v.teams.contains(&team)),
                _ => false,
            })
            .count() as u32
    };
    let ines_alerts = routed_to(&opened, Team::Integration);
    assert!(ines_alerts > 0, "{:?}", effect_names(&opened));
    let load = engine.duty_load_record().unwrap_or_else(|e| panic!("{e}"));
    let week = mailcall::duty::load::week_of(now);
    let ines = load
        .between(week, week + chrono::Duration::weeks(1))
        .into_iter()
        .find(|(m, _)| m.name == "ines")
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("ines has no load: {load:?}"));
    assert_eq!(ines.alerts.sleep, ines_alerts);
    assert_eq!(ines.pages.sleep, ines_alerts);
    assert_eq!(ines.alerts.working + ines.alerts.off, 0);
    // The reminders page again, still at night.
    clock.advance(chrono::Duration::minutes(16));
    let reminded = engine.alert_tick().unwrap_or_else(|e| panic!("{e}"));
    let reminded_ines = routed_to(&reminded, Team::Integration);
    assert!(reminded_ines > 0, "{:?}", effect_names(&reminded));
    let text = as_operator(&mut engine, "/duty load team:integration")
        .reply
        .text;
    let pages = ines_alerts + reminded_ines;
    assert_eq!(
        text,
        format!(
            "Duty load (integration), weeks of 2026-11-16 to 2026-11-22:\n  ines: pages {pages} (0 working, 0 off hours, {pages} sleep hours); alerts {ines_alerts} (0 working, 0 off hours, {ines_alerts} sleep hours)"
        )
    );
}

/// An override in force wins in an alert's mention and in a new incident's
/// assignee: both come from the roster's one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_wins_in_alert_mentions_and_incident_assignees() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(at("2026-11-18T10:20:00Z")));
    let mut config = AlertingConfig::default();
    config.detector.min_volume = 50;
    let rotations = "[rotations.integration]\nmembers = [{ name = \"ines\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-11-02\"\n";
    let mut engine = engine_with_rotations(&dir.path().join("db"), &clock, config, rotations).await;
    as_operator(
        &mut engine,
        "/duty override team:integration member:ivan from:2026-11-18 to:2026-11-19 reason:\"ines is out\"",
    );
    let opened = engine
        .after_poll("demo-esp")
        .unwrap_or_else(|e| panic!("{e}"));
    let mentioned: Vec<String> = opened
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(a) => a.alert().and_then(|v| v.on_duty.get(&Team::Integration)),
            _ => None,
        })
        .map(|m| m.name.clone())
        .collect();
    assert!(!mentioned.is_empty(), "{:?}", effect_names(&opened));
    assert!(mentioned.iter().all(|m| m == "ivan"), "{mentioned:?}");
    let opened = as_operator(
        &mut engine,
        "/incident open title:\"Bounces\" severity:SEV2 team:integration",
    );
    assert!(
        opened
            .reply
            .text
            .ends_with("Assignees (on duty): integration: ivan."),
        "{}",
        opened.reply.text
    );
}
