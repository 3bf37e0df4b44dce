//! The durable store: what survives a restart, and what happens when the
//! data directory is busy, damaged or from the future.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mailcall::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};
use mailcall::store::{IncidentStore, MetricsHistory, PollState, SledStore};

use super::common::{changed_files, console, file_snapshot, incidents, mailcall, stderr, stdout};

const OPEN: &str =
    "/incident open title:\"Welcome series silent\" severity:SEV2 team:development\n";

/// Opens the directory with sled itself, to damage it on purpose. A store
/// dropped a moment ago may still hold sled's lock from a background thread
/// (the same race `SledStore::open` waits out), so this waits too.
fn raw_sled(data: &std::path::Path) -> sled::Db {
    let started = Instant::now();
    loop {
        match sled::open(data) {
            Ok(db) => return db,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn incidents_and_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let first = console(&data, &format!("{OPEN}{OPEN}"));
    assert!(first.status.success(), "{}", stderr(&first));
    let second = console(
        &data,
        &format!("{OPEN}/incident diagnose id:INC-1 note:\"still here\"\n"),
    );
    assert!(
        stdout(&second).contains("INC-3 opened"),
        "{}",
        stdout(&second)
    );
    let stored = incidents(&data);
    let ids: Vec<String> = stored.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, ["INC-1", "INC-2", "INC-3"]);
    assert_eq!(stored[0].diagnosis().count(), 1);
}

#[test]
fn a_second_process_gets_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let _held = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let mut child = mailcall()
        .args(["console", "--data"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("mailcall hung on a locked data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("is in use by another mailcall process"),
        "{message}"
    );
    assert!(message.contains(&data.display().to_string()), "{message}");
}

/// sled treats damage inside its log like a torn tail: on open it silently
/// recovers to the state before the damage and zeroes the damaged stretch.
/// Without mailcall's commit tripwire the incident written after the damage
/// would vanish and its id be handed out again. This pins that mailcall
/// refuses instead, names the directory, and writes nothing itself (sled's
/// own zeroing of the damaged bytes happens inside `sled::open` and cannot
/// be prevented from outside; see the README's note on sled).
#[test]
fn a_damaged_log_that_sled_would_silently_truncate_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    assert!(console(&data, OPEN).status.success());
    // Scribble over the middle of sled's log, as a bad disk would.
    let log = data.join("db");
    let mut bytes = std::fs::read(&log).unwrap_or_else(|e| panic!("{e}"));
    let written = bytes.iter().rposition(|b| *b != 0).unwrap_or(0);
    for b in bytes.iter_mut().skip(written / 2).take(128) {
        *b ^= 0x5a;
    }
    std::fs::write(&log, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let sidecar = std::fs::read(data.join("mailcall.commits")).ok();

    for attempt in 0..2 {
        let output = console(&data, OPEN);
        assert!(
            !output.status.success(),
            "attempt {attempt} opened a damaged store: {}",
            stdout(&output)
        );
        let message = stderr(&output);
        assert!(message.contains(&data.display().to_string()), "{message}");
        assert!(message.contains("writes were lost"), "{message}");
        assert_eq!(
            std::fs::read(data.join("mailcall.commits")).ok(),
            sidecar,
            "the tripwire was re-armed"
        );
    }
}

#[test]
fn a_garbage_directory_is_not_mistaken_for_a_store() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.join("db"), b"not a database at all").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.join("conf"), b"neither is this").unwrap_or_else(|e| panic!("{e}"));
    let before = file_snapshot(&data);
    let output = console(&data, OPEN);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("damaged or not a mailcall store"),
        "{}",
        stderr(&output)
    );
    let mut after = file_snapshot(&data);
    // Taking the lock creates the (empty) lock file; nothing else may change.
    after.remove(&data.join("mailcall.lock"));
    assert!(
        after == before,
        "a failed open changed {:?}",
        changed_files(&before, &after)
    );
}

#[test]
fn a_file_where_the_data_directory_should_be_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    std::fs::write(&data, b"precious").unwrap_or_else(|e| panic!("{e}"));
    let output = console(&data, OPEN);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is a file, not a directory"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&data).ok(), Some(b"precious".to_vec()));
}

#[test]
fn a_record_that_no_longer_decodes_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    assert!(console(&data, OPEN).status.success());
    {
        let db = raw_sled(&data);
        let mut key = b"inc:".to_vec();
        key.extend_from_slice(&1u64.to_be_bytes());
        db.insert(key, &b"{\"schema\":1,\"incident\":{\"id\":1}}"[..])
            .unwrap_or_else(|e| panic!("{e}"));
        db.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let err = SledStore::open(&data)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("record inc:"), "{err}");
    assert!(err.contains(&data.display().to_string()), "{err}");
}

#[test]
fn a_store_from_a_newer_mailcall_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    drop(SledStore::open(&data).unwrap_or_else(|e| panic!("{e}")));
    {
        let db = raw_sled(&data);
        db.insert("meta:schema", &b"{\"schema\":99}"[..])
            .unwrap_or_else(|e| panic!("{e}"));
        db.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let err = SledStore::open(&data)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("written by a newer mailcall (schema 99"),
        "{err}"
    );
}

#[test]
fn ids_are_never_reused_and_the_counter_guards_creates() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    assert!(console(&data, &format!("{OPEN}{OPEN}")).status.success());
    let store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.next_id().map(|id| id.to_string()).ok(),
        Some("INC-3".to_string())
    );
}

/// One daily sample of `stream`, `day` days into November 2026, with `sent`.
fn sample(stream: &str, day: u32, sent: u64) -> Sample {
    Sample {
        stream: StreamKey::new(stream),
        bucket: Bucket {
            start: format!("2026-11-{day:02}T00:00:00Z")
                .parse()
                .unwrap_or_default(),
            width: BucketWidth::Day,
            provider_tz: "UTC".into(),
        },
        counts: Counts {
            sent: Some(sent),
            delivered: Some(sent),
            ..Counts::default()
        },
    }
}

fn stream_list(history: &impl MetricsHistory) -> Vec<String> {
    history
        .streams()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(account, stream)| format!("{account}/{stream}"))
        .collect()
}

#[test]
fn the_history_lists_every_stream_with_samples_and_a_failed_poll_forgets_none() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let history = store.history().unwrap_or_else(|e| panic!("{e}"));
    let state = PollState::default();
    history
        .record_poll(
            "sg-b",
            &[sample("tag:welcome", 1, 10), sample("account", 1, 90)],
            &state,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    history
        .record_poll("sg-a", &[sample("account", 1, 5)], &state)
        .unwrap_or_else(|e| panic!("{e}"));
    // A later poll that returns fewer streams, then a failed poll.
    history
        .record_poll("sg-b", &[sample("account", 2, 80)], &state)
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = PollState {
        consecutive_failures: 1,
        last_error: Some("HTTP 503".into()),
        ..PollState::default()
    };
    history
        .record_state("sg-b", &failed)
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        stream_list(&history),
        ["sg-a/account", "sg-b/account", "sg-b/tag:welcome"]
    );
    assert_eq!(
        history.poll_state("sg-b").unwrap_or_else(|e| panic!("{e}")),
        Some(failed)
    );
    let of_b: Vec<String> = history
        .streams_of("sg-b")
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(of_b, ["account", "tag:welcome"]);
    // An account that only ever failed has no streams.
    history
        .record_state("sg-c", &PollState::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream_list(&history).len(), 3);
    assert_eq!(history.streams_of("sg-c").map(|s| s.len()).ok(), Some(0));
}

#[test]
fn a_repeated_poll_keeps_the_series_and_a_revised_bucket_replaces_the_old_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let history = store.history().unwrap_or_else(|e| panic!("{e}"));
    let first = PollState {
        covered_until: "2026-11-03T00:00:00Z".parse().ok(),
        ..PollState::default()
    };
    let days = [sample("account", 1, 100), sample("account", 2, 200)];
    history
        .record_poll("sg", &days, &first)
        .unwrap_or_else(|e| panic!("{e}"));
    // The same window again: nothing changed but the poll state.
    let second = PollState {
        covered_until: "2026-11-04T00:00:00Z".parse().ok(),
        ..PollState::default()
    };
    history
        .record_poll("sg", &days, &second)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        history.poll_state("sg").unwrap_or_else(|e| panic!("{e}")),
        Some(second.clone())
    );
    // Late data revises day 2.
    history
        .record_poll("sg", &[sample("account", 2, 250)], &second)
        .unwrap_or_else(|e| panic!("{e}"));
    let since = "2026-11-01T00:00:00Z".parse().unwrap_or_default();
    let sent: Vec<Option<u64>> = history
        .series("sg", &StreamKey::account(), since)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|s| s.counts.sent)
        .collect();
    assert_eq!(sent, [Some(100), Some(250)]);
}

#[test]
fn a_stream_index_written_by_an_earlier_build_is_still_listed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    drop(SledStore::open(&data).unwrap_or_else(|e| panic!("{e}")));
    {
        let db = raw_sled(&data);
        let tree = db.open_tree("metrics").unwrap_or_else(|e| panic!("{e}"));
        tree.insert(&b"s\x1fold-account\x1ftag:legacy"[..], &b""[..])
            .unwrap_or_else(|e| panic!("{e}"));
        db.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let history = store.history().unwrap_or_else(|e| panic!("{e}"));
    history
        .record_poll(
            "new-account",
            &[sample("account", 1, 1)],
            &PollState::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stream_list(&history),
        ["new-account/account", "old-account/tag:legacy"]
    );
    assert_eq!(
        history
            .streams_of("old-account")
            .unwrap_or_else(|e| panic!("{e}")),
        [StreamKey::new("tag:legacy")]
    );
}

#[test]
fn the_history_forgets_samples_older_than_it_keeps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let history = store
        .history()
        .unwrap_or_else(|e| panic!("{e}"))
        .keeping(chrono::Duration::days(42));
    // Written before anything was ever polled: nothing to measure age from.
    history
        .record_poll(
            "sg",
            &[
                sample("tag:old", 1, 10),
                sample("account", 1, 100),
                sample("account", 20, 200),
            ],
            &PollState::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream_list(&history), ["sg/account", "sg/tag:old"]);
    // A poll on 31 December keeps 42 days: from 19 November on.
    let polled = PollState {
        last_attempt: "2026-12-31T00:00:00Z".parse().ok(),
        ..PollState::default()
    };
    history
        .record_poll(
            "sg",
            &[sample("account", 2, 999), sample("account", 21, 5)],
            &polled,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let since = "2026-10-01T00:00:00Z".parse().unwrap_or_default();
    let sent = |stream: &str| -> Vec<Option<u64>> {
        history
            .series("sg", &StreamKey::new(stream), since)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|s| s.counts.sent)
            .collect()
    };
    // 1 November is gone, the fetched 2 November was not stored, 20 and 21
    // November stay.
    assert_eq!(sent("account"), [Some(200), Some(5)]);
    assert_eq!(sent("tag:old"), []);
    // A stream with nothing left is no longer listed.
    assert_eq!(stream_list(&history), ["sg/account"]);
    assert_eq!(
        history.poll_state("sg").unwrap_or_else(|e| panic!("{e}")),
        Some(polled)
    );
}

/// One change is one durable write: what is staged between `begin` and
/// `finish` is visible to reads meanwhile, reaches the disk only with
/// `finish` (posts in the outbox with it), and vanishes with `abort`. The
/// outbox survives a restart; `delivered` removes a post and writes what the
/// front end must remember of it together.
#[test]
fn a_change_and_its_posts_commit_together_and_the_outbox_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    {
        let mut store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
        store.begin();
        store
            .put_extra("dropped", b"never written")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.get_extra("dropped").ok().flatten().as_deref(),
            Some(&b"never written"[..])
        );
        store.abort();
        assert_eq!(store.get_extra("dropped").ok().flatten(), None);

        store.begin();
        store
            .put_extra("state", b"after the change")
            .unwrap_or_else(|e| panic!("{e}"));
        let ids = store
            .finish(vec![b"first post".to_vec(), b"second post".to_vec()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids.len(), 2);
        assert!(ids[0] < ids[1], "outbox ids follow commit order");
    }
    let mut store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.get_extra("dropped").ok().flatten(), None);
    assert_eq!(
        store.get_extra("state").ok().flatten().as_deref(),
        Some(&b"after the change"[..])
    );
    let outbox = store.outbox().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outbox.iter().map(|(_, p)| p.as_slice()).collect::<Vec<_>>(),
        [&b"first post"[..], &b"second post"[..]]
    );
    store
        .delivered(outbox[0].0, vec![("message-ids".into(), b"42".to_vec())])
        .unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    let store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let outbox = store.outbox().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].1, b"second post");
    assert_eq!(
        store.get_extra("message-ids").ok().flatten().as_deref(),
        Some(&b"42"[..])
    );
}

/// `mailcall backup` then `mailcall restore` make an equal store elsewhere;
/// a restore never touches an existing store, and a cut-short backup is
/// refused with nothing left behind.
#[test]
fn a_backup_restores_into_an_equal_store_and_a_damaged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    assert!(console(&data, &format!("{OPEN}{OPEN}")).status.success());
    let file = dir.path().join("mailcall.backup");
    let backup = mailcall()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(backup.status.success(), "{}", stderr(&backup));

    let copy = dir.path().join("restored");
    let restore = mailcall()
        .args(["restore", "--data"])
        .arg(&copy)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(restore.status.success(), "{}", stderr(&restore));
    assert_eq!(incidents(&copy), incidents(&data));
    let store = SledStore::open(&copy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.next_id().map(|id| id.to_string()).ok(),
        Some("INC-3".to_string())
    );
    drop(store);

    // Into the existing store: refused, and the store is unchanged.
    let before = file_snapshot(&data);
    let over = mailcall()
        .args(["restore", "--data"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!over.status.success());
    assert!(stderr(&over).contains("is not empty"), "{}", stderr(&over));
    assert!(changed_files(&before, &file_snapshot(&data)).is_empty());

    // A backup cut short is refused, and no directory is left.
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap_or_else(|e| panic!("{e}"));
    let elsewhere = dir.path().join("from-cut");
    let damaged = mailcall()
        .args(["restore", "--data"])
        .arg(&elsewhere)
        .arg(&cut)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!damaged.status.success());
    assert!(
        stderr(&damaged).contains("damaged or cut short"),
        "{}",
        stderr(&damaged)
    );
    assert!(!elsewhere.exists());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// A data directory written by the previous release (commit b68f035's
/// `mailcall console`, before the outbox and the scheduler's records; kept
/// in `tests/fixtures/store-b68f035/`, made by `make.sh` there) opens with
/// this build, keeps its incidents and audit log, and takes new changes.
#[test]
fn a_store_written_by_the_previous_release_opens_and_takes_changes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-b68f035/db"),
        &data,
    );
    let before = incidents(&data);
    let titles: Vec<&str> = before.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Welcome series silent", "Bounce spike after list import"]
    );
    assert_eq!(before[1].status.to_string(), "resolved");
    {
        let store = SledStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.denials().map(|d| d.len()).ok(), Some(1));
        assert_eq!(store.outbox().map(|o| o.len()).ok(), Some(0));
    }
    let after = console(
        &data,
        "/incident diagnose id:INC-1 note:\"checked after the upgrade\"\n/incident open title:\"First after the upgrade\" severity:SEV3 team:design\n",
    );
    assert!(after.status.success(), "{}", stderr(&after));
    let now = incidents(&data);
    assert_eq!(now.len(), 3);
    assert_eq!(now[2].id.to_string(), "INC-3");
    assert!(now[0].timeline.len() > before[0].timeline.len());
}

/// A post about an incident carries the incident with its latest timeline
/// entry (all a post shows), not its whole history: what a change writes to
/// the outbox does not grow with the incident's age.
#[test]
fn a_post_in_the_outbox_carries_the_latest_entry_not_the_whole_timeline() {
    use mailcall::command::{Effect, Engine, Invocation, OptionValue};
    use mailcall::domain::{Actor, Caller};

    let invocation = |path: &str, options: &[(&str, &str)]| Invocation {
        command: "incident".into(),
        path: vec![path.to_string()],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), OptionValue::String(v.to_string())))
            .collect(),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(store, std::sync::Arc::new(mailcall::clock::SystemClock));
    let caller = Caller::operator(Actor::console("test"));
    let open = invocation(
        "open",
        &[
            ("title", "Long-running"),
            ("severity", "SEV2"),
            ("team", "integration"),
        ],
    );
    engine
        .handle(&caller, &open)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sizes = Vec::new();
    for i in 0..40 {
        let note = format!("finding number {i}");
        let outcome = engine
            .handle(
                &caller,
                &invocation("diagnose", &[("id", "INC-1"), ("note", &note)]),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let outbox = engine.store().outbox().unwrap_or_else(|e| panic!("{e}"));
        for id in &outcome.posted {
            let (_, bytes) = outbox
                .iter()
                .find(|(posted, _)| posted == id)
                .unwrap_or_else(|| panic!("post {id} is not in the outbox"));
            sizes.push(bytes.len());
        }
    }
    let posts = engine.pending_posts().unwrap_or_else(|e| panic!("{e}"));
    let Some((_, Ok(Effect::ThreadPost { incident, .. }))) = posts.last() else {
        panic!("the last post is not the last note's thread post: {posts:?}");
    };
    assert_eq!(incident.timeline.len(), 1, "{:?}", incident.timeline);
    assert!(
        format!("{:?}", incident.timeline[0]).contains("finding number 39"),
        "{:?}",
        incident.timeline[0]
    );
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    assert!(
        last < first + 64,
        "a post grew from {first} to {last} bytes over 40 notes"
    );
}

/// Operating-system errors name the path and say why once, in words.
#[test]
fn os_errors_name_the_path_and_say_why_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        let output = mailcall()
            .args(args)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!output.status.success(), "{args:?} should fail");
        let text = stderr(&output);
        assert!(!text.contains("os error"), "{args:?}: {text}");
        text
    };
    let folder = dir.path().display().to_string();
    assert_eq!(
        run(&["detect", "--input", &folder]),
        format!("error: cannot read {folder}: it is a directory\n")
    );
    assert_eq!(
        run(&["detect", "--input", "absent.csv"]),
        "error: cannot read absent.csv: it does not exist\n"
    );
    std::fs::write(dir.path().join("plain"), "").unwrap_or_else(|e| panic!("{e}"));
    let text = run(&["console", "--data", "plain"]);
    assert!(
        text.contains("data directory plain is a file, not a directory"),
        "{text}"
    );
    assert!(!text.contains("damaged"), "{text}");
}

/// Commands that only read a store refuse a path where there is none,
/// instead of creating an empty store there and reporting on it.
#[test]
fn reading_commands_refuse_a_store_that_does_not_exist_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let absent = dir.path().join("typo.db");
    for args in [
        vec!["metrics", "--data"],
        vec!["replay", "--data"],
        vec!["backup", "--out", "b.json", "--data"],
    ] {
        let output = mailcall()
            .args(&args)
            .arg(&absent)
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(&format!(
                "there is no mailcall store at {} (nothing was created)",
                absent.display()
            )),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!absent.exists(), "{args:?} created the store");
        assert!(!dir.path().join("b.json").exists(), "{args:?}");
    }
}

/// A long incident is normal: well past the old 1,000-entry limit, every
/// change is still taken and kept.
#[test]
fn an_incident_keeps_taking_changes_past_a_thousand_timeline_entries() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let mut script = String::from(OPEN);
    for n in 0..1_200 {
        script.push_str(&format!("/incident update id:1 note:\"check {n}\"\n"));
    }
    let output = console(&data, &script);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stdout(&output).contains("timeline entries"),
        "no change was refused"
    );
    let stored = incidents(&data);
    let timeline = stored
        .first()
        .map(|incident| incident.timeline.len())
        .unwrap_or_default();
    assert_eq!(timeline, 1_201, "the opening and every update");
}

/// `/incident show` on a long incident shows the newest entries first, a
/// page at a time within Discord's 2,000 characters, and says how many
/// older entries the next pages hold; `/incident list` pages the same way.
#[test]
fn long_timelines_and_lists_are_paged_newest_first_saying_what_is_hidden() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let mut script = String::from(OPEN);
    for n in 0..300 {
        script.push_str(&format!("/incident update id:1 note:\"check {n}\"\n"));
    }
    for n in 0..60 {
        script.push_str(&format!(
            "/incident open title:\"Stream {n} quiet\" severity:SEV3 team:design\n"
        ));
    }
    script.push_str("/incident show id:INC-1\n/incident show id:INC-1 page:2\n");
    script.push_str("/incident list status:all\n/incident list status:all page:2\n");
    let output = console(&data, &script);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let replies: Vec<&str> = text.split("\n  [reply").collect();
    let answer = |has: &[&str]| -> String {
        replies
            .iter()
            .find(|r| has.iter().all(|h| r.contains(h)))
            .map(|r| r.to_string())
            .unwrap_or_default()
    };
    let first = answer(&["Timeline, newest first:"]);
    assert!(first.contains("— page 1 of"), "{first}");
    assert!(
        first.contains("update: check 299"),
        "the newest note is on page 1"
    );
    assert!(
        !first.lines().any(|l| l.ends_with("update: check 0")),
        "the oldest is not"
    );
    assert!(
        first.contains("older: `/incident show id:INC-1 page:2`"),
        "{first}"
    );
    assert!(first.chars().count() <= 2000, "{}", first.chars().count());
    let second = answer(&["— page 2 of", "entries "]);
    assert!(second.contains("update: check 269"), "{second}");
    let list = answer(&["61 incident(s):"]);
    assert!(list.contains("more: add `page:2`"), "{list}");
    assert!(list.chars().count() <= 2000, "{}", list.chars().count());
}

/// A full disk: the change that cannot be made durable is not answered as
/// done, the console stops with a sentence saying so (sled keeps such an
/// error for good, so carrying on would refuse every later command), and
/// once space is freed the next start has every answered change. The disk
/// is a 3 MB tmpfs in a private mount namespace (`unshare -m`).
#[test]
fn a_full_disk_stops_the_console_with_a_sentence_and_loses_nothing_answered() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap_or_else(|e| panic!("{e}"));
    let note = "y".repeat(900);
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=3M tmpfs "$DISK" || exit 90
{{
  echo '/incident open title:"Welcome silent" severity:SEV2 team:design'
  sleep 1
  dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null
  i=0
  while [ $i -lt 400 ]; do echo "/incident update id:1 note:\"n$i {note}\""; i=$((i+1)); done
}} | "$MAILCALL" console --data "$DISK/db" > "$OUT/full.out" 2> "$OUT/full.err"
echo $? > "$OUT/full.code"
rm -f "$DISK/fill"
printf '/incident update id:1 note:"after"\n/incident show id:INC-1\n' | "$MAILCALL" console --data "$DISK/db" > "$OUT/after.out" 2>&1
"#
    );
    let status = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("DISK", &disk)
        .env("OUT", dir.path())
        .env("MAILCALL", env!("CARGO_BIN_EXE_mailcall"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    assert!(
        status.success(),
        "the tmpfs could not be set up: {status:?}"
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert_eq!(read("full.code").trim(), "1", "{}", read("full.err"));
    assert_eq!(
        read("full.err").trim_end(),
        format!(
            "error: the console stopped because the store could not write (the store failed: the change was not made durable: cannot use data directory {}/db: the disk is full); every change answered before it is on disk. Free the space (or fix the disk) and start it again",
            disk.display()
        )
    );
    let after = read("after.out");
    assert!(
        after.contains("update: after"),
        "writes work again: {after}"
    );
    assert!(
        after.contains("opened as SEV2 for design"),
        "the answered open is kept: {after}"
    );
}
