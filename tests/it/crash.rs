//! Crash safety: a `mailcall console` child applies commands in a loop and
//! prints each acknowledgement; it is killed with SIGKILL at random moments.
//! After every kill the store must open, every acknowledged change must be
//! there, ids must stay contiguous, and no incident may be half-written.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use mailcall::domain::Status;
use mailcall::store::{IncidentStore, MetricsHistory, SledStore};

use super::common::mailcall;

const KILLS: usize = 50;
const NOTES_PER_ROUND: usize = 400;

/// What the child said it had done, parsed from its transcript.
#[derive(Default)]
struct Acknowledged {
    /// id → title of each acknowledged open.
    opens: BTreeMap<u64, String>,
    /// (id, note) of each acknowledged diagnosis.
    notes: Vec<(u64, String)>,
}

impl Acknowledged {
    fn read(&mut self, line: &str) {
        if let Some(rest) = line.trim_start().strip_prefix("[reply] INC-") {
            if let Some((id, title)) = rest.split_once(" opened: ") {
                let title = title.split(" (SEV").next().unwrap_or_default();
                if let Ok(id) = id.parse() {
                    self.opens.insert(id, title.to_string());
                }
            }
        } else if let Some(rest) = line.trim_start().strip_prefix("[thread INC-") {
            if let Some((id, text)) = rest.split_once("] ") {
                if let (Ok(id), Some(note)) = (id.parse(), text.split("diagnosis: ").nth(1)) {
                    let note = note.split_whitespace().next().unwrap_or_default();
                    self.notes.push((id, note.to_string()));
                }
            }
        }
    }
}

/// The kill timings' generator: seeded from `MAILCALL_CRASH_SEED` when set,
/// else at random, and the seed printed so a failure can be replayed.
fn replayable_rng(test: &str) -> fastrand::Rng {
    let seed = std::env::var("MAILCALL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test} seed: {seed} (set MAILCALL_CRASH_SEED to replay)");
    fastrand::Rng::with_seed(seed)
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let mut rng = replayable_rng("crash test");
    let mut acked = Acknowledged::default();
    let mut killed_mid_stream = 0;

    for round in 0..KILLS {
        let mut child = mailcall()
            .args(["console", "--as", "tester", "--data"])
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mailcall: {e}"));
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let writer = std::thread::spawn(move || {
            let mut script =
                format!("/incident open title:\"crash r{round}\" severity:SEV3 team:development\n");
            for i in 0..NOTES_PER_ROUND {
                script.push_str(&format!(
                    "/incident diagnose id:$INC note:\"r{round}-{i}\"\n"
                ));
            }
            // The child is killed mid-script; a broken pipe is expected.
            let _ = stdin.write_all(script.as_bytes());
        });
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });

        // Kill at a random moment after the console has started answering
        // (not after it was spawned: on a loaded machine, start-up alone
        // can take longer than the random delay, and a kill before the
        // first answer tests nothing).
        let first = lines_rx.recv_timeout(Duration::from_secs(30)).ok();
        std::thread::sleep(Duration::from_millis(rng.u64(2..160)));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        if !status.success() {
            killed_mid_stream += 1;
        }
        let _ = writer.join();
        let _ = reader.join();
        for line in first.into_iter().chain(lines_rx.try_iter()) {
            acked.read(&line);
        }

        // The store opens, and holds everything that was acknowledged.
        let store = SledStore::open(&data).unwrap_or_else(|e| {
            panic!("round {round}: the store does not open after SIGKILL: {e}")
        });
        let incidents = store
            .all()
            .unwrap_or_else(|e| panic!("round {round}: unreadable after SIGKILL: {e}"));
        let ids: Vec<u64> = incidents.iter().map(|i| i.id.get()).collect();
        assert_eq!(
            ids,
            (1..=incidents.len() as u64).collect::<Vec<_>>(),
            "round {round}: ids not contiguous"
        );
        assert_eq!(
            store.next_id().map(|id| id.get()).ok(),
            Some(incidents.len() as u64 + 1)
        );
        for (id, title) in &acked.opens {
            let incident = incidents.get((*id - 1) as usize);
            assert_eq!(
                incident.map(|i| i.title.as_str()),
                Some(title.as_str()),
                "round {round}: acknowledged INC-{id} lost"
            );
        }
        for (id, note) in &acked.notes {
            let present = incidents
                .get((*id - 1) as usize)
                .is_some_and(|i| i.diagnosis().any(|n| n.text.as_str() == note));
            assert!(
                present,
                "round {round}: acknowledged note {note} on INC-{id} lost"
            );
        }
        for incident in &incidents {
            // The incident record and its timeline entries are separate
            // records written in one batch: the status in the one must match
            // the history in the other, or a commit was half-applied.
            let has_notes = incident.diagnosis().count() > 0;
            assert_eq!(
                incident.timeline.len(),
                1 + incident.diagnosis().count(),
                "{}: foreign entries",
                incident.id
            );
            assert_eq!(
                incident.status == Status::Investigating,
                has_notes,
                "{} half-written: {:?} with {} notes",
                incident.id,
                incident.status,
                incident.diagnosis().count()
            );
        }
    }
    assert!(
        killed_mid_stream >= KILLS * 9 / 10,
        "only {killed_mid_stream} of {KILLS} kills hit a running child"
    );
    assert!(
        acked.notes.len() >= KILLS,
        "too few acknowledged changes ({}) for the test to mean anything",
        acked.notes.len()
    );
    eprintln!(
        "{} opens and {} notes acknowledged across {KILLS} kills",
        acked.opens.len(),
        acked.notes.len()
    );
}

/// Sandbox accounts in the history crash test, and the days each backfills.
const HISTORY_ACCOUNTS: usize = 6;
const HISTORY_DAYS: u32 = 28;
const HISTORY_KILLS: usize = 16;
/// Hourly buckets in one 7-day backfill window (windows start on the hour,
/// so where two meet no bucket is left out).
const HOURS_PER_WINDOW: usize = 7 * 24;
/// Buckets of a whole 28-day backfill: the first window starts on the hour
/// at or before "now minus 28 days", and the last ends with the current hour
/// so far.
const HOURS_IN_ALL: usize = HISTORY_DAYS as usize * 24 + 1;

/// `mailcall backfill` is killed with SIGKILL at random moments. Its progress
/// line for a window is printed only once the window is durable, so after
/// each kill every window it reported must be in the store, and no window
/// may be half there: each is one atomic write of all four streams and the account total.
#[test]
fn acknowledged_history_survives_sigkill_and_no_window_is_half_written() {
    let mut rng = replayable_rng("history crash test");
    let mut acknowledged_total = 0;
    let mut cut_short = 0;
    for round in 0..HISTORY_KILLS {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("db");
        let mut config = format!("[store]\npath = {:?}\n\n", data.display().to_string());
        for account in 0..HISTORY_ACCOUNTS {
            config.push_str(&format!(
                "[[esp]]\nname = \"sandbox-{account}\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n\n"
            ));
        }
        let config_file = dir.path().join("mailcall.toml");
        std::fs::write(&config_file, config).unwrap_or_else(|e| panic!("{e}"));

        let mut child = mailcall()
            .args(["backfill", "--days", &HISTORY_DAYS.to_string(), "--config"])
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mailcall: {e}"));
        let mut stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        std::thread::sleep(Duration::from_millis(rng.u64(20..900)));
        let _ = child.kill();
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        if !status.success() {
            cut_short += 1;
        }
        let progress = reader.join().unwrap_or_default();

        // Progress lines (`[###...] 3/24 sandbox-0 2026-10-25`) are separated
        // by '\r'. The last may have been cut off by the kill; the date is
        // written last, so a line that ends in a whole date is whole.
        let mut acknowledged: BTreeMap<String, usize> = BTreeMap::new();
        for part in progress.split(['\r', '\n']) {
            let Some((_, after)) = part.split_once("] ") else {
                continue;
            };
            let words: Vec<&str> = after.split_whitespace().collect();
            let whole_date = |w: &str| chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d").is_ok();
            if let [_count, account, date] = words.as_slice() {
                if whole_date(date) && date.len() == 10 {
                    *acknowledged.entry(account.to_string()).or_default() += 1;
                }
            }
        }
        acknowledged_total += acknowledged.values().sum::<usize>();

        let store = SledStore::open(&data).unwrap_or_else(|e| {
            panic!("round {round}: the store does not open after SIGKILL: {e}")
        });
        let history = store.history().unwrap_or_else(|e| panic!("{e}"));
        let since = "2000-01-01T00:00:00Z".parse().unwrap_or_default();
        for account in (0..HISTORY_ACCOUNTS).map(|a| format!("sandbox-{a}")) {
            let acked = acknowledged.get(&account).copied().unwrap_or(0);
            let streams = history
                .streams_of(&account)
                .unwrap_or_else(|e| panic!("round {round}: {account}: {e}"));
            let counts: Vec<usize> = streams
                .iter()
                .map(|stream| {
                    history
                        .series(&account, stream, since)
                        .unwrap_or_else(|e| panic!("round {round}: {account}/{stream}: {e}"))
                        .len()
                })
                .collect();
            if acked > 0 {
                assert_eq!(
                    streams.len(),
                    5,
                    "round {round}: {account} acknowledged {acked} window(s) but lists {streams:?}"
                );
            }
            for (stream, count) in streams.iter().zip(&counts) {
                assert!(
                    *count >= (acked * HOURS_PER_WINDOW).min(HOURS_IN_ALL),
                    "round {round}: {account}/{stream}: {acked} window(s) acknowledged, only {count} buckets stored"
                );
                assert!(
                    count % HOURS_PER_WINDOW == 0 || *count == HOURS_IN_ALL,
                    "round {round}: {account}/{stream}: {count} buckets is not a whole number of windows"
                );
            }
            assert!(
                counts.windows(2).all(|pair| pair[0] == pair[1]),
                "round {round}: {account}: streams disagree on what was stored: {counts:?}"
            );
            let state = history
                .poll_state(&account)
                .unwrap_or_else(|e| panic!("round {round}: {account}: {e}"));
            if counts.first().is_some_and(|c| *c > 0) {
                assert!(
                    state.is_some_and(|s| s.last_success.is_some()),
                    "round {round}: {account} has samples but no successful poll recorded"
                );
            }
        }
    }
    assert!(
        cut_short >= HISTORY_KILLS / 2,
        "only {cut_short} of {HISTORY_KILLS} kills hit a running backfill"
    );
    assert!(
        acknowledged_total >= HISTORY_KILLS,
        "too few acknowledged windows ({acknowledged_total}) for the test to mean anything"
    );
    eprintln!("{acknowledged_total} windows acknowledged across {HISTORY_KILLS} kills");
}
