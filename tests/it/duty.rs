//! On-duty rotations through the binary: the iCalendar export.

use std::path::{Path, PathBuf};

use super::common::{mailcall, stderr, stdout};

/// A weekly integration rotation, Mondays 09:00 Paris time.
const ROTATION: &str = "[rotations.integration]\nmembers = [{ name = \"alice\", discord_id = \"111\" }, { name = \"bob\", discord_id = \"222\" }, { name = \"carol\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-03-02\"\n";

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("mailcall.toml");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// (DTSTART, DTEND, SUMMARY) of every event, read by the `ical` crate.
fn events(ics: &str) -> Vec<(String, String, String)> {
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes()));
    let calendar = parser
        .next()
        .unwrap_or_else(|| panic!("no calendar in {ics}"))
        .unwrap_or_else(|e| panic!("{e}: {ics}"));
    calendar
        .events
        .iter()
        .map(|event| {
            let get = |name: &str| {
                event
                    .properties
                    .iter()
                    .find(|p| p.name == name)
                    .and_then(|p| p.value.clone())
                    .unwrap_or_else(|| panic!("{name} missing"))
            };
            (get("DTSTART"), get("DTEND"), get("SUMMARY"))
        })
        .collect()
}

#[test]
fn duty_ical_exports_twelve_weekly_shifts_at_0900_paris_across_the_spring_change() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), ROTATION);
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "integration",
            "--from",
            "2026-03-02T08:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let shifts = events(&stdout(&output));
    // Twelve weeks of UTC time from 08:00Z: after spring forward a shift
    // starts at 07:00Z, so the window ends one hour into a thirteenth.
    assert_eq!(shifts.len(), 13, "{shifts:?}");
    let starts: Vec<&str> = shifts.iter().take(6).map(|s| s.0.as_str()).collect();
    assert_eq!(
        starts,
        [
            "20260302T080000Z",
            "20260309T080000Z",
            "20260316T080000Z",
            "20260323T080000Z",
            "20260330T070000Z",
            "20260406T070000Z"
        ]
    );
    let who: Vec<&str> = shifts.iter().take(4).map(|s| s.2.as_str()).collect();
    assert_eq!(
        who,
        [
            "alice on duty: integration",
            "bob on duty: integration",
            "carol on duty: integration",
            "alice on duty: integration"
        ]
    );
    for pair in shifts.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "shifts meet: {pair:?}");
    }
}

#[test]
fn duty_ical_writes_a_file_with_out_and_refuses_a_rotation_the_config_lacks() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), ROTATION);
    let out = dir.path().join("integration.ics");
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "integration",
            "--weeks",
            "2",
            "--from",
            "2026-03-02",
            "--out",
        ])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let shifts = events(&text);
    assert_eq!(
        shifts.len(),
        2,
        "nobody before the first handoff: {shifts:?}"
    );
    assert_eq!(shifts[0].0, "20260302T080000Z");
    assert_eq!(
        shifts[1].1, "20260316T000000Z",
        "the window's end cuts the second"
    );

    let output = mailcall()
        .args(["duty", "ical", "design", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no [rotations.design] table"),
        "{}",
        stderr(&output)
    );
    let output = mailcall()
        .args(["duty", "ical", "sales", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stderr(&output).contains("`sales` is not a rotation"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_example_configs_commented_rotations_are_valid_once_uncommented() {
    let example =
        std::fs::read_to_string("data/mailcall.example.toml").unwrap_or_else(|e| panic!("{e}"));
    let start = example
        .find("# [rotations.integration]")
        .unwrap_or_else(|| panic!("the example documents rotations"));
    let block: String = example[start..]
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .unwrap_or(line.trim_start_matches('#'))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &block);
    let output = mailcall()
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}\n{block}", stderr(&output));
    let output = mailcall()
        .args([
            "duty",
            "ical",
            "quality-reviewer",
            "--weeks",
            "1",
            "--from",
            "2026-11-02T08:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("SUMMARY:carol on duty: quality-reviewer"));
}
