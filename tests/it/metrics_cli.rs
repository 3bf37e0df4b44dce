//! `mailcall backfill` and `mailcall metrics`, through the binary, on a
//! sandbox ESP account (no network).

use std::path::Path;

use super::common::{mailcall, stderr, stdout};

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let file = dir.join("mailcall.toml");
    let text = format!(
        "[store]\npath = {:?}\n\n[[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\ntimezone = \"Europe/Paris\"\nstreams = \"all\"\n{extra}",
        dir.join("db").display().to_string()
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

fn csv_rows(config: &Path, args: &[&str]) -> Vec<String> {
    let output = mailcall()
        .args(["metrics", "--csv", "--since", "2000-01-01", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(String::from).collect()
}

#[test]
fn backfill_fills_history_and_running_it_again_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let output = mailcall()
        .args(["backfill", "--days", "3", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("from 1 account(s) over 3 days; 0 window(s) failed"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("] 1/1 sandbox-main"),
        "no progress bar: {}",
        stderr(&output)
    );

    let rows = csv_rows(&config, &["--stream", "tag:welcome"]);
    assert_eq!(rows[0], "account,stream,bucket_start,width,provider_tz,requested,sent,delivered,bounce_hard,bounce_soft,blocked,deferred,dropped,opens_unique,opens_machine,clicks_unique,complaints,unsubscribes,spam_rate,spam_rate_upper,domain_reputation,ip_reputation,spf_pass,dkim_pass,dmarc_pass,delivery_errors,needs_work");
    let hours = rows.len() - 1;
    assert!(
        (72..=73).contains(&hours),
        "{hours} hourly rows for three days: 72 complete hours and the current one so far"
    );
    assert!(
        rows[1].starts_with("sandbox-main,tag:welcome,"),
        "{}",
        rows[1]
    );

    let again = mailcall()
        .args(["backfill", "--days", "3", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.status.success());
    let rows_again = csv_rows(&config, &["--stream", "tag:welcome"]);
    assert!(
        (hours..=hours + 1).contains(&(rows_again.len() - 1)),
        "re-running duplicated buckets"
    );
    assert_eq!(
        rows_again[1], rows[1],
        "a re-fetched bucket is the same bucket"
    );

    let all = csv_rows(&config, &[]);
    assert_eq!(
        all.len() - 1,
        5 * (rows_again.len() - 1),
        "four streams and the account total over the same hours"
    );
    let table = mailcall()
        .args([
            "metrics",
            "--since",
            "2000-01-01",
            "--account",
            "sandbox-main",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stdout(&table)
            .lines()
            .next()
            .unwrap_or_default()
            .starts_with("account"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn missing_counts_print_as_empty_cells_not_zero() {
    // A store with no history prints only the header; a table says so.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    drop(
        mailcall::store::SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}")),
    );
    let rows = csv_rows(&config, &[]);
    assert_eq!(rows.len(), 1);
    let table = mailcall()
        .args(["metrics", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stdout(&table).contains("(no stored samples match)"));
}

#[test]
fn backfill_refuses_an_unknown_account_and_a_missing_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let unknown = mailcall()
        .args(["backfill", "--days", "1", "--account", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no ESP account named nope"),
        "{}",
        stderr(&unknown)
    );

    let with_sendgrid = write_config(
        dir.path(),
        "\n[[esp]]\nname = \"sg\"\nprovider = \"sendgrid\"\ncredential_env = \"MAILCALL_TEST_ABSENT_KEY\"\nschedule = \"0 * * * *\"\n",
    );
    let missing = mailcall()
        .args(["backfill", "--days", "1", "--config"])
        .arg(&with_sendgrid)
        .env_remove("MAILCALL_TEST_ABSENT_KEY")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!missing.status.success());
    assert!(
        stderr(&missing)
            .contains("ESP account sg: set the environment variable MAILCALL_TEST_ABSENT_KEY"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn backfill_refuses_to_reach_past_the_history_it_keeps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // [poll] must come before [[esp]] tables in the file, so write it whole.
    let file = dir.path().join("mailcall.toml");
    std::fs::write(
        &file,
        format!(
            "[store]\npath = {:?}\n\n[poll]\nkeep_days = 60\n\n[[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\n",
            dir.path().join("db").display().to_string()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["backfill", "--days", "90", "--config"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("backfill --days 90 reaches past the 60 days of history")
            && stderr(&output).contains("raise [poll] keep_days first"),
        "{}",
        stderr(&output)
    );
    // Nothing was opened or written.
    assert!(!dir.path().join("db").exists());
}

#[test]
fn since_must_be_a_date() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let output = mailcall()
        .args(["metrics", "--since", "yesterday", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--since `yesterday` is not a date"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn backfill_stores_every_hour_of_the_range_where_its_week_long_windows_meet() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let output = mailcall()
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
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = csv_rows(&config, &["--stream", "tag:welcome"]);
    let starts: Vec<chrono::DateTime<chrono::Utc>> = rows[1..]
        .iter()
        .filter_map(|row| row.split(',').nth(2))
        .filter_map(|cell| chrono::DateTime::parse_from_rfc3339(cell).ok())
        .map(|t| t.to_utc())
        .collect();
    assert_eq!(starts.len(), rows.len() - 1, "every bucket_start parses");
    let holes: Vec<String> = starts
        .windows(2)
        .filter(|pair| pair[1] - pair[0] != chrono::Duration::hours(1))
        .map(|pair| format!("{} → {}", pair[0], pair[1]))
        .collect();
    assert!(holes.is_empty(), "hours missing between: {holes:?}");
    let now = chrono::Utc::now();
    let first = starts.first().copied().unwrap_or(now);
    let last = starts.last().copied().unwrap_or(first);
    assert!(
        first <= now - chrono::Duration::days(28),
        "the range starts 28 days back: {first}"
    );
    assert!(
        now - last < chrono::Duration::hours(1),
        "the range reaches the current hour: {last}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let backfill = mailcall()
        .args(["backfill", "--days", "30", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    // About 2,900 rows: far more than a pipe holds, so the writer is still
    // writing when the reader goes (as with `| head -1`).
    let mut child = mailcall()
        .args(["metrics", "--csv", "--since", "2000-01-01", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut first = String::new();
    let _ = std::io::BufReader::new(stdout).read_line(&mut first);
    assert!(first.starts_with("account,stream,"), "{first}");
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "nothing to say about a closed pipe");
}

#[test]
fn a_sandbox_polled_with_all_has_an_account_total_that_adds_up_its_streams() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), "");
    let output = mailcall()
        .args(["backfill", "--days", "1", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));

    // (bucket_start, sent) of every row of one stream.
    let sent_by_hour = |stream: &str| -> Vec<(String, u64)> {
        csv_rows(&config, &["--stream", stream])
            .iter()
            .skip(1)
            .map(|row| {
                let cells: Vec<&str> = row.split(',').collect();
                let sent = cells[6]
                    .parse()
                    .unwrap_or_else(|e| panic!("{row}: sent: {e}"));
                (cells[2].to_string(), sent)
            })
            .collect()
    };
    let total = sent_by_hour("account");
    assert!(
        total.len() >= 24,
        "the account stream has history: {total:?}"
    );
    let tags = [
        "tag:welcome",
        "tag:onboarding-day-3",
        "tag:receipts",
        "tag:newsletter",
    ];
    let per_tag: Vec<Vec<(String, u64)>> = tags.iter().map(|t| sent_by_hour(t)).collect();
    for (hour, (start, sent)) in total.iter().enumerate() {
        let sum: u64 = per_tag
            .iter()
            .map(|rows| {
                assert_eq!(rows[hour].0, *start, "the streams share their hours");
                rows[hour].1
            })
            .sum();
        assert_eq!(
            *sent, sum,
            "{start}: the account total is the sum of its streams"
        );
    }
}
