//! `mailcall replay`: the live alert path over stored history, through the
//! binary, on a sandbox account whose story is known.

use std::path::Path;

use super::common::{mailcall, stderr, stdout};

fn sandbox_config(dir: &Path, scenario: &str) -> std::path::PathBuf {
    let file = dir.join("mailcall.toml");
    let text = format!(
        "[store]\npath = \"db\"\n\n[[esp]]\nname = \"sb\"\nprovider = \"sandbox\"\nscenario = \"{scenario}\"\nstreams = \"all\"\nschedule = \"0 * * * *\"\n"
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

fn run(args: &[&str], config: &Path) -> std::process::Output {
    mailcall()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn replay_posts_the_demo_scenarios_two_incidents_each_one_bucket_after_it_started_and_nothing_else()
{
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = sandbox_config(dir.path(), "demo");
    let backfill = run(&["backfill", "--days", "36"], &config);
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    assert!(
        dir.path().join("db").join("mailcall.lock").exists(),
        "a relative store path is relative to the configuration file, not to the working directory"
    );
    let since = (chrono::Utc::now() - chrono::Duration::days(14))
        .format("%Y-%m-%d")
        .to_string();
    let output = run(&["replay", "--format", "jsonl", "--since", &since], &config);
    assert!(output.status.success(), "{}", stderr(&output));
    let alerts: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let field = |alert: &serde_json::Value, name: &str| {
        alert[name].as_str().map(str::to_string).unwrap_or_default()
    };
    let found: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| (field(a, "stream"), field(a, "metric"), field(a, "kind")))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "tag:onboarding-day-3".to_string(),
                "volume".to_string(),
                "volume-drop".to_string()
            ),
            (
                "tag:welcome".to_string(),
                "bounce".to_string(),
                "hard-limit".to_string()
            ),
        ],
        "two weeks of steady traffic raise nothing else:\n{}",
        stdout(&output)
    );
    for alert in &alerts {
        let time = |name: &str| {
            chrono::DateTime::parse_from_rfc3339(&field(alert, name))
                .unwrap_or_else(|e| panic!("{name}: {e}: {alert}"))
        };
        assert_eq!(
            time("raised_at") - time("bucket_start"),
            chrono::Duration::hours(1),
            "raised at the first poll after the incident's first bucket completed: {alert}"
        );
        assert_eq!(alert["level"], "critical", "{alert}");
        assert!(
            alert["cleared_at"].is_null(),
            "still going at the end: {alert}"
        );
    }
    assert!(
        stderr(&output).contains("2 alert(s)"),
        "{}",
        stderr(&output)
    );

    let table = run(&["replay", "--since", &since], &config);
    assert!(
        stdout(&table).contains("the stream went silent"),
        "{}",
        stdout(&table)
    );
    let csv = run(&["replay", "--format", "csv", "--since", &since], &config);
    assert!(
        stdout(&csv).starts_with("account,stream,metric,kind,level,raised_at,cleared_at,"),
        "{}",
        stdout(&csv)
    );
}

#[test]
fn replay_without_history_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = sandbox_config(dir.path(), "steady");
    let output = run(&["replay"], &config);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("run `mailcall backfill` first"),
        "{}",
        stderr(&output)
    );
}
