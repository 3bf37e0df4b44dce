//! `mailcall detect`: the detectors over a CSV, through the binary.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Stdio;

use super::common::{mailcall, stderr, stdout};

/// Four weeks of an hourly series with a daily rhythm, then one spike.
fn series_with_a_spike() -> (String, usize) {
    let mut csv = String::from("timestamp,value\n");
    let start = chrono::DateTime::parse_from_rfc3339("2026-10-05T00:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let hours = 5 * 7 * 24;
    let spike = hours - 10;
    for h in 0..hours {
        let at = start + chrono::Duration::hours(h as i64);
        let base = 100.0 + 50.0 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
        let noise = ((h * 7919) % 11) as f64 - 5.0;
        let value = if h == spike { base * 6.0 } else { base + noise };
        let _ = writeln!(csv, "{},{value:.1}", at.to_rfc3339());
    }
    (csv, spike)
}

#[test]
fn detect_scores_every_row_and_flags_the_spike() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (csv, spike) = series_with_a_spike();
    let input = dir.path().join("series.csv");
    std::fs::write(&input, csv).unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "timestamp,value,score,flag");
    assert_eq!(rows.len() - 1, 5 * 7 * 24, "one output row per input row");
    let flagged: Vec<usize> = rows[1..]
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ends_with(",1"))
        .map(|(i, _)| i)
        .collect();
    assert!(
        flagged.contains(&spike),
        "the spike at row {spike} is flagged: {flagged:?}"
    );
    assert!(
        flagged.len() <= 3,
        "few false alarms on a clean series: {flagged:?}"
    );
    assert!(stderr(&output).contains("flagged"), "{}", stderr(&output));
}

#[test]
fn a_bad_cell_names_its_line_and_column_and_missing_is_not_zero() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, "timestamp,value\n2026-01-05T00:00:00Z,10\n2026-01-05T01:00:00Z,\n2026-01-05T02:00:00Z,12x\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("line 4: column `value`: `12x` is not a number"),
        "{}",
        stderr(&output)
    );

    let counts = dir.path().join("counts.csv");
    std::fs::write(
        &counts,
        "timestamp,sent,bounce_hard\n2026-01-05T00:00:00Z,1000,3\n2026-01-05T01:00:00Z,,\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&counts)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let missing_row = text.lines().nth(2).unwrap_or_default();
    assert!(
        missing_row.ends_with(",,,0.0000,0"),
        "a missing row keeps its empty cells and scores 0, flag 0: {missing_row}"
    );
    assert!(stderr(&output).contains("1 missing"), "{}", stderr(&output));
}

#[test]
fn detect_refuses_to_write_over_its_own_input() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (csv, _) = series_with_a_spike();
    let input = dir.path().join("same.csv");
    std::fs::write(&input, &csv).unwrap_or_else(|e| panic!("{e}"));
    // The same file under another spelling is still the same file.
    let other_spelling = dir.path().join(".").join("same.csv");
    for output in [&input, &other_spelling] {
        let run = mailcall()
            .args(["detect", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(output)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!run.status.success());
        assert!(
            stderr(&run).contains("--output is the --input file"),
            "{}",
            stderr(&run)
        );
        assert_eq!(
            std::fs::read_to_string(&input).ok().as_deref(),
            Some(csv.as_str()),
            "the input is untouched"
        );
    }
}

#[test]
fn a_detect_run_that_fails_halfway_leaves_no_truncated_output() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (mut csv, _) = series_with_a_spike();
    csv.push_str("not-a-time,1\n");
    let input = dir.path().join("broken.csv");
    std::fs::write(&input, &csv).unwrap_or_else(|e| panic!("{e}"));
    let output = dir.path().join("scored.csv");
    std::fs::write(&output, "yesterday's complete result\n").unwrap_or_else(|e| panic!("{e}"));
    let run = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!run.status.success(), "the bad last line is an error");
    assert!(stderr(&run).contains("line"), "{}", stderr(&run));
    assert_eq!(
        std::fs::read_to_string(&output).ok().as_deref(),
        Some("yesterday's complete result\n"),
        "the previous output is left whole, not replaced by a partial one"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn detect_reads_standard_input() {
    let (csv, spike) = series_with_a_spike();
    let mut child = mailcall()
        .args(["detect", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(csv.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), csv.lines().count());
    assert!(
        text.lines()
            .nth(spike + 1)
            .is_some_and(|l| l.ends_with(",1")),
        "the spike is flagged"
    );
}

#[test]
fn duplicate_timestamps_are_judged_with_one_warning() {
    // NAB's machine_temperature_system_failure.csv repeats an hour at its
    // line 10151; here the repeat is at line 5 and a row from the past at
    // line 8.
    let mut csv = String::from("timestamp,value\n");
    for (i, t) in [
        "2014-01-07 00:00:00",
        "2014-01-07 01:00:00",
        "2014-01-07 02:00:00",
        "2014-01-07 02:00:00",
        "2014-01-07 03:00:00",
        "2014-01-07 04:00:00",
        "2014-01-06 04:00:00",
        "2014-01-07 05:00:00",
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(csv, "{t},{}", 80 + i);
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("dst.csv");
    let scored = dir.path().join("scored.csv");
    std::fs::write(&input, &csv).unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&scored)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert_eq!(
        err.lines().filter(|l| l.contains("is not after")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("detect: line 5: timestamp 2014-01-07 02:00:00 is not after the row before; rows are judged in file order (2 such rows)"),
        "{err}"
    );
    let text = std::fs::read_to_string(&scored).unwrap_or_default();
    assert_eq!(text.lines().count(), 9, "every row is written: {text}");
}

#[test]
fn metrics_csv_feeds_detect_directly() {
    // A sandbox account's four streams over three days, exported by
    // `mailcall metrics --csv` and piped into `mailcall detect --input -`.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("mailcall.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = {:?}\n\n[[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\ntimezone = \"UTC\"\nstreams = \"all\"\n",
            dir.path().join("db").display().to_string()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let backfill = mailcall()
        .args(["backfill", "--days", "3", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    let metrics = mailcall()
        .args(["metrics", "--csv", "--since", "2000-01-01", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(metrics.status.success(), "{}", stderr(&metrics));
    let csv = stdout(&metrics);
    let streams: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert!(streams.len() >= 2, "{streams:?}");
    let mut child = mailcall()
        .args(["detect", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(csv.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), csv.lines().count());
    assert!(
        text.lines().next().is_some_and(
            |h| h.starts_with("account,stream,bucket_start,") && h.ends_with(",score,flag")
        ),
        "{text}"
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!("in {} streams", streams.len())),
        "{err}"
    );
    assert!(!err.contains("is not after"), "{err}");
    assert!(err.contains("ignored columns: provider_tz"), "{err}");
}

/// A timestamp tens of centuries ahead (milliseconds read as seconds) is a
/// malformed cell: refused by line and column, nothing written.
#[test]
fn a_timestamp_in_the_year_5138_is_refused_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("in.csv");
    let out = dir.path().join("out.csv");
    std::fs::write(
        &input,
        "timestamp,value\n1764547200,5\n1764550800,6\n100000000000,7\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "error: line 4: column `timestamp`: `100000000000` is in the year 5138: timestamps must fall in 1900–2199 (milliseconds? give seconds)\n"
    );
    assert!(!out.exists(), "nothing is written");
}

/// Counts that cannot all be right (more delivered or bounced than sent)
/// are judged as given, with a warning naming each row's line and column.
#[test]
fn counts_above_sent_are_named_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("in.csv");
    let mut csv = String::from("timestamp,sent,delivered,bounce_hard\n");
    for (hour, row) in ["100,98,1", "10,12,0", "10,9,50", "100,97,2"]
        .iter()
        .enumerate()
    {
        let _ = writeln!(csv, "2026-11-0{}T00:00:00Z,{row}", hour + 1);
    }
    std::fs::write(&input, csv).unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .args(["detect", "--input"])
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let warnings = stderr(&output);
    assert!(
        warnings.contains(
            "detect: line 3, column `delivered`: delivered 12 is more than sent 10; judged as given"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "detect: line 4, column `bounce_hard`: bounce_hard 50 is more than sent 10; judged as given"
        ),
        "{warnings}"
    );
    assert_eq!(stdout(&output).lines().count(), 5, "every row is written");
}
