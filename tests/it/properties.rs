//! Property tests: random sequences of slash commands, typed as people type
//! them, through the real parser and engine. After every step the rules must
//! hold: ids contiguous, one timeline entry per accepted change, a refused
//! command changes nothing, and no incident is in a state the lifecycle
//! forbids.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use mailcall::clock::ManualClock;
use mailcall::command::Engine;
use mailcall::console::parse_line;
use mailcall::domain::{transition_allowed, Actor, Caller, Incident, Status, Team};
use mailcall::store::{IncidentStore, MemoryStore, SledStore};

/// The people in the sequences, weighted: mostly people with rights, an
/// admin who may close anything, and occasionally someone with no role.
fn callers() -> Vec<Caller> {
    let with = |name: &str, teams: &[Team], admin: bool| Caller {
        actor: Actor::console(name),
        teams: teams.iter().copied().collect(),
        admin,
    };
    let olga = with("olga", &[], true);
    let alice = with("alice", &[Team::Integration], false);
    let bob = with("bob", &[Team::Marketing, Team::Design], false);
    let nobody = with("nobody", &[], false);
    vec![
        olga.clone(),
        olga,
        alice.clone(),
        alice,
        bob.clone(),
        bob,
        olga_too(),
        nobody,
    ]
}

/// A second admin, so closing is not only ever done by one person.
fn olga_too() -> Caller {
    Caller {
        actor: Actor::console("petra"),
        teams: [Team::Development].into_iter().collect(),
        admin: true,
    }
}

/// One line a person might type, valid or not.
fn line() -> impl Strategy<Value = String> {
    // Mostly valid values, with a minority of bad ones, so that sequences
    // reach deep into the lifecycle and still meet every kind of refusal.
    let id = (0u8..16).prop_map(|n| match n {
        0 => "INC-x".to_string(),
        1 => "INC-9".to_string(),
        n => format!("INC-{}", 1 + n % 3),
    });
    let team = prop::sample::select(vec![
        "marketing",
        "design",
        "integration",
        "development",
        "integration",
        "sales",
    ]);
    let severity =
        prop::sample::select(vec!["SEV1", "SEV2", "SEV3", "SEV4", "SEV2", "SEV3", "SEV9"]);
    let status = prop::sample::select(vec![
        "investigating",
        "mitigated",
        "investigating",
        "mitigated",
        "open",
        "resolved",
        "closed",
        "lost",
    ]);
    let cause = prop::sample::select(vec![
        "list-quality",
        "content",
        "tracking-links",
        "other",
        "content",
        "gremlins",
    ]);
    let text = prop::sample::select(vec![
        "x",
        "bounces from one list",
        "@everyone look",
        "<@&1> ping",
    ]);
    let long = (195usize..206).prop_map(|n| "t".repeat(n));
    let user = prop::sample::select(vec!["alice", "bob", "carol"]);
    prop_oneof![
        3 => (prop_oneof![6 => text.clone().prop_map(String::from), 1 => long], severity.clone(), team.clone())
            .prop_map(|(t, s, team)| format!("/incident open title:\"{t}\" severity:{s} team:{team}")),
        2 => (id.clone(), team.clone(), prop::option::of(user.clone()))
            .prop_map(|(i, t, u)| format!("/incident assign id:{i} team:{t}{}", u.map(|u| format!(" user:{u}")).unwrap_or_default())),
        2 => id.clone().prop_map(|i| format!("/incident ack id:{i}")),
        3 => (id.clone(), text.clone(), prop::option::of(cause.clone()))
            .prop_map(|(i, n, c)| format!("/incident diagnose id:{i} note:\"{n}\"{}", c.map(|c| format!(" root_cause:{c}")).unwrap_or_default())),
        4 => (id.clone(), text.clone(), prop::option::of(status), prop::option::of(severity))
            .prop_map(|(i, n, st, sv)| format!(
                "/incident update id:{i} note:\"{n}\"{}{}",
                st.map(|s| format!(" status:{s}")).unwrap_or_default(),
                sv.map(|s| format!(" severity:{s}")).unwrap_or_default()
            )),
        3 => (id.clone(), text.clone(), prop::option::of(cause.clone()))
            .prop_map(|(i, r, c)| format!("/incident resolve id:{i} resolution:\"{r}\"{}", c.map(|c| format!(" root_cause:{c}")).unwrap_or_default())),
        3 => (id.clone(), prop::option::of(cause)).prop_map(|(i, c)| format!("/incident close id:{i}{}", c.map(|c| format!(" root_cause:{c}")).unwrap_or_default())),
        2 => (id.clone(), text.clone()).prop_map(|(i, r)| format!("/incident reopen id:{i} reason:\"{r}\"")),
        2 => (id.clone(), text, user).prop_map(|(i, t, u)| format!("/incident action add id:{i} text:\"{t}\" owner:{u}")),
        2 => (id.clone(), 0i64..4).prop_map(|(i, n)| format!("/incident action done id:{i} number:{n}")),
        1 => id.prop_map(|i| format!("/incident show id:{i}")),
        1 => Just("/incident list status:all".to_string()),
        1 => Just("/incident frobnicate".to_string()),
    ]
}

/// Replays the timeline's status transitions from `open` and checks each
/// against the lifecycle table and the final status against the incident.
fn lifecycle_is_consistent(incident: &Incident) -> Result<(), String> {
    let mut status = Status::Open;
    for entry in &incident.timeline {
        if let Some((from, to)) = entry.change.status_transition() {
            if from != status {
                return Err(format!(
                    "{}: transition from {from} while {status}",
                    incident.id
                ));
            }
            if !transition_allowed(from, to) {
                return Err(format!(
                    "{}: forbidden transition {from} → {to}",
                    incident.id
                ));
            }
            status = to;
        }
    }
    if status != incident.status {
        return Err(format!(
            "{}: timeline ends {status}, incident says {}",
            incident.id, incident.status
        ));
    }
    let fail = |what: &str| Err(format!("{}: {what} ({:?})", incident.id, incident.status));
    if (incident.status == Status::Open) != incident.acknowledged_at.is_none() {
        return fail("acknowledged_at disagrees with status");
    }
    if matches!(incident.status, Status::Resolved | Status::Closed)
        && (incident.resolution.is_none() || incident.resolved_at.is_none())
    {
        return fail("resolved without a resolution");
    }
    if incident.status == Status::Closed
        && (incident.root_cause.is_none() || incident.closed_at.is_none())
    {
        return fail("closed without a root cause");
    }
    if incident.status.is_active()
        && (incident.resolved_at.is_some() || incident.closed_at.is_some())
    {
        return fail("active but carries resolved/closed times");
    }
    if !incident
        .assignees
        .keys()
        .all(|t| incident.teams.contains(t))
    {
        return fail("an assignee's team is not involved");
    }
    let numbers: Vec<u32> = incident.actions.iter().map(|a| a.number).collect();
    if numbers != (1..=incident.actions.len() as u32).collect::<Vec<_>>() {
        return fail("action numbers are not 1..n");
    }
    Ok(())
}

fn run_sequence<S: IncidentStore>(
    engine: &mut Engine<S>,
    clock: &ManualClock,
    steps: &[(usize, String)],
) -> Result<(), TestCaseError> {
    let callers = callers();
    for (who, line) in steps {
        let caller = &callers[*who % callers.len()];
        let before = engine
            .store()
            .all()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let next_before = engine
            .store()
            .next_id()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        clock.advance(Duration::minutes(1));
        let invocation = match parse_line(line) {
            Ok(Some(invocation)) => invocation,
            _ => continue,
        };
        let result = engine.handle(caller, &invocation);
        let after = engine
            .store()
            .all()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mutating = !(line.starts_with("/incident show") || line.starts_with("/incident list"));
        match &result {
            Err(_) => prop_assert_eq!(&after, &before, "refused `{}` changed the store", line),
            Ok(_) if !mutating => {
                prop_assert_eq!(&after, &before, "read `{}` changed the store", line)
            }
            Ok(_) if line.starts_with("/incident open") => {
                prop_assert_eq!(after.len(), before.len() + 1);
                let created = &after[after.len() - 1];
                prop_assert_eq!(created.id, next_before, "new incident took the wrong id");
                prop_assert_eq!(created.timeline.len(), 1);
                prop_assert_eq!(&after[..before.len()], &before[..]);
            }
            Ok(_) => {
                prop_assert_eq!(after.len(), before.len());
                let changed: Vec<(&Incident, &Incident)> =
                    before.iter().zip(&after).filter(|(b, a)| b != a).collect();
                prop_assert_eq!(
                    changed.len(),
                    1,
                    "`{}` changed {} incidents",
                    line,
                    changed.len()
                );
                let (old, new) = changed[0];
                prop_assert_eq!(
                    new.timeline.len(),
                    old.timeline.len() + 1,
                    "`{}` must add exactly one timeline entry",
                    line
                );
                prop_assert_eq!(
                    &new.timeline[..old.timeline.len()],
                    &old.timeline[..],
                    "history was rewritten"
                );
                prop_assert_eq!(&new.timeline[old.timeline.len()].by, &caller.actor);
            }
        }
        // Global invariants.
        let ids: Vec<u64> = after.iter().map(|i| i.id.get()).collect();
        prop_assert_eq!(
            ids,
            (1..=after.len() as u64).collect::<Vec<_>>(),
            "ids are not contiguous"
        );
        let next = engine
            .store()
            .next_id()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(next.get(), after.len() as u64 + 1);
        for incident in &after {
            lifecycle_is_consistent(incident).map_err(TestCaseError::fail)?;
            let teams: BTreeSet<&Team> = incident.teams.iter().collect();
            prop_assert!(!teams.is_empty());
        }
    }
    Ok(())
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_rules(steps in prop::collection::vec((0usize..8, line()), 1..120)) {
        let clock = Arc::new(ManualClock::new(start()));
        let mut engine = Engine::new(MemoryStore::default(), clock.clone());
        run_sequence(&mut engine, &clock, &steps)?;
    }
}

proptest! {
    // The same contract through sled on disk: fewer cases, each flushes.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_sled_store_keeps_the_same_rules(steps in prop::collection::vec((0usize..8, line()), 1..60)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let store = SledStore::open(&dir.path().join("db")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let clock = Arc::new(ManualClock::new(start()));
        let mut engine = Engine::new(store, clock.clone());
        run_sequence(&mut engine, &clock, &steps)?;
        // And everything survives a reopen.
        let before = engine.store().all().map_err(|e| TestCaseError::fail(e.to_string()))?;
        drop(engine);
        let reopened = SledStore::open(&dir.path().join("db")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reopened.all().map_err(|e| TestCaseError::fail(e.to_string()))?, before);
    }
}
