//! Shared fixtures: the binary under test, scripted consoles and snapshots of
//! a data directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mailcall::domain::Incident;
use mailcall::store::{IncidentStore, SledStore};

/// What `read` answers once it holds at least `count` items, or after 10
/// seconds whatever it holds (the caller's assertion then says what is
/// missing): for posts that background jobs commit.
pub async fn wait_for_at_least<T>(count: usize, read: impl Fn() -> Vec<T>) -> Vec<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let items = read();
        if items.len() >= count || std::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `mailcall` binary built for this test run.
pub fn mailcall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mailcall"))
}

/// Runs `mailcall console --data DIR` with `script` on stdin.
pub fn console(data: &Path, script: &str) -> Output {
    let mut child = mailcall()
        .args(["console", "--as", "tester", "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mailcall: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // The child may exit early (e.g. a store error) and close the pipe.
        let _ = stdin.write_all(script.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("mailcall did not finish: {e}"))
}

/// Text of stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Text of stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every incident in a store directory (opens and closes the store).
pub fn incidents(data: &Path) -> Vec<Incident> {
    let store = SledStore::open(data).unwrap_or_else(|e| panic!("store does not open: {e}"));
    store
        .all()
        .unwrap_or_else(|e| panic!("store does not read: {e}"))
}

/// Every file under `dir` with its bytes, to prove nothing was touched.
pub fn file_snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries =
            std::fs::read_dir(&current).unwrap_or_else(|e| panic!("{}: {e}", current.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// The paths whose presence or bytes differ between two snapshots (for
/// assertion messages that stay readable).
pub fn changed_files(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<PathBuf> {
    before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .cloned()
        .collect()
}
