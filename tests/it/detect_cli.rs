//! `mailcall detect`: the detectors over a CSV, through the binary.

use std::fmt::Write as _;

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
