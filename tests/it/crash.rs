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
use mailcall::store::{IncidentStore, SledStore};

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

#[test]
fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("db");
    let seed = std::env::var("MAILCALL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash test seed: {seed} (set MAILCALL_CRASH_SEED to replay)");
    let mut rng = fastrand::Rng::with_seed(seed);
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

        std::thread::sleep(Duration::from_millis(rng.u64(2..160)));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        if !status.success() {
            killed_mid_stream += 1;
        }
        let _ = writer.join();
        let _ = reader.join();
        for line in lines_rx.try_iter() {
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
