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

/// A Mailchimp account on loopback whose `/3.0/reports` answers the
/// campaigns sent in the asked window: twelve to one audience over ten
/// weeks, at irregular days and hours, bouncing about 0.6%, then one three
/// days ago bouncing 1.6% (under the 2% hard limit).
async fn mailchimp_with_campaigns(now: chrono::DateTime<chrono::Utc>) -> std::net::SocketAddr {
    use axum::extract::Query;
    use std::collections::HashMap;

    let mut campaigns = Vec::new();
    let offsets = [68, 61, 55, 47, 40, 36, 29, 22, 17, 12, 8, 5];
    for (n, days) in offsets.iter().enumerate() {
        let hard = 18 + (n as u64 * 7) % 7;
        campaigns.push((
            now - chrono::Duration::days(*days) + chrono::Duration::hours((n as i64 * 5) % 11),
            hard,
            10,
        ));
    }
    campaigns.push((now - chrono::Duration::days(3), 60, 20));
    let reports: Vec<(chrono::DateTime<chrono::Utc>, serde_json::Value)> = campaigns
        .into_iter()
        .enumerate()
        .map(|(n, (sent_at, hard, soft))| {
            let report = serde_json::json!({
                "id": format!("camp{n:02}"),
                "list_id": "news",
                "send_time": sent_at.to_rfc3339(),
                "emails_sent": 5000,
                "abuse_reports": n % 2,
                "unsubscribed": 6,
                "bounces": { "hard_bounces": hard, "soft_bounces": soft, "syntax_errors": 0 },
                "opens": { "unique_opens": 1500 + n as u64 * 3 },
                "clicks": { "unique_subscriber_clicks": 150 + n as u64 },
            });
            (sent_at, report)
        })
        .collect();
    let app = axum::Router::new().fallback(move |Query(query): Query<HashMap<String, String>>| {
        let reports = reports.clone();
        async move {
            let time = |key: &str| {
                query
                    .get(key)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
            };
            let (Some(since), Some(before)) = (time("since_send_time"), time("before_send_time"))
            else {
                return (axum::http::StatusCode::BAD_REQUEST, "no window".to_owned());
            };
            let inside: Vec<serde_json::Value> = reports
                .iter()
                .filter(|(at, _)| *at >= since && *at < before)
                .map(|(_, report)| report.clone())
                .collect();
            let total = inside.len();
            (
                axum::http::StatusCode::OK,
                serde_json::json!({ "reports": inside, "total_items": total }).to_string(),
            )
        }
    });
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailchimp_campaign_is_judged_against_its_audiences_previous_campaigns() {
    let now = chrono::Utc::now();
    let address = mailchimp_with_campaigns(now).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("mailcall.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"db\"\n\n[[esp]]\nname = \"mc\"\nprovider = \"mailchimp\"\nbase_url = \"http://{address}\"\ncredential_env = \"MAILCALL_TEST_MAILCHIMP_KEY\"\nstreams = \"all\"\nschedule = \"0 * * * *\"\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = |args: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            mailcall()
                .args(args)
                .arg("--config")
                .arg(&config)
                .env("MAILCALL_TEST_MAILCHIMP_KEY", "0123456789abcdef0123-us6")
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    let backfill = run(vec!["backfill".into(), "--days".into(), "75".into()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    let since = (now - chrono::Duration::days(75))
        .format("%Y-%m-%d")
        .to_string();
    let output = run(vec![
        "replay".into(),
        "--format".into(),
        "jsonl".into(),
        "--since".into(),
        since,
    ])
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let found: Vec<(String, String, String)> = stdout(&output)
        .lines()
        .map(|line| {
            let alert: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let field = |name: &str| alert[name].as_str().unwrap_or_default().to_owned();
            (field("stream"), field("metric"), field("kind"))
        })
        .collect();
    // The last campaign, against the audience's earlier ones (and the
    // account, which is the same one audience here); no volume alarm for
    // campaigns days apart, nothing on the campaign's own stream (one send,
    // under the hard limit).
    // The account total moves with the audience (one audience here), so
    // it is folded into the audience's alert rather than posted twice.
    assert_eq!(
        found,
        vec![(
            "audience:news".to_owned(),
            "bounce".to_owned(),
            "baseline".to_owned()
        )],
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("in the previous 10 sends"),
        "judged against the ten sends before it, weeks apart: {}",
        stdout(&output)
    );
}

/// A Gmail Postmaster Tools account on loopback: the documented days moved
/// to three and two days ago (spam 0.12% then 0.31%, domain reputation
/// HIGH then MEDIUM, an IP at LOW on the second day) and a compliance
/// status with DMARC policy and one-click unsubscribe needing work.
async fn postmaster_with_a_bad_day(now: chrono::DateTime<chrono::Utc>) -> std::net::SocketAddr {
    let day = |ago: i64| {
        (now - chrono::Duration::days(ago))
            .format("%Y%m%d")
            .to_string()
    };
    let traffic = include_str!("../fixtures/esp/postmaster/traffic_stats.json")
        .replace("20260301", &day(3))
        .replace("20260302", &day(2));
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let traffic = traffic.clone();
            async move {
                let bearer = headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    == Some("Bearer ya29.replay-token");
                let ok = |body: String| (axum::http::StatusCode::OK, body);
                match (uri.path(), bearer) {
                    ("/token", _) => {
                        ok(r#"{"access_token":"ya29.replay-token","expires_in":3599}"#.to_owned())
                    }
                    (_, false) => (axum::http::StatusCode::UNAUTHORIZED, "{}".to_owned()),
                    ("/v1/domains", true) => {
                        ok(r#"{"domains":[{"name":"domains/mail.example.com"}]}"#.to_owned())
                    }
                    ("/v1/domains/mail.example.com/trafficStats", true) => ok(traffic),
                    ("/v2/domains/mail.example.com/complianceStatus", true) => ok(include_str!(
                        "../fixtures/esp/postmaster/compliance_status.json"
                    )
                    .to_owned()),
                    _ => (axum::http::StatusCode::NOT_FOUND, "{}".to_owned()),
                }
            }
        },
    );
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmails_own_figures_raise_spam_reputation_and_compliance_alerts() {
    let now = chrono::Utc::now();
    let address = postmaster_with_a_bad_day(now).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = dir.path().join("service-account.json");
    std::fs::write(
        &key,
        include_str!("../fixtures/esp/postmaster/service_account.json.template")
            .replace("TOKEN_URI", &format!("http://{address}/token")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("mailcall.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"db\"\n\n[[esp]]\nname = \"gmail\"\nprovider = \"gmail-postmaster\"\nbase_url = \"http://{address}\"\ncredential_file = \"service-account.json\"\nsubject = \"postmaster@example.com\"\nstreams = \"all\"\nschedule = \"0 */12 * * *\"\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = |args: Vec<&'static str>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            mailcall()
                .args(args)
                .arg("--config")
                .arg(&config)
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    let backfill = run(vec!["backfill", "--days", "5"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    let output = run(vec!["replay", "--format", "jsonl"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let mut found: Vec<(String, String, String, String)> = stdout(&output)
        .lines()
        .map(|line| {
            let alert: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let field = |name: &str| alert[name].as_str().unwrap_or_default().to_owned();
            (
                field("stream"),
                field("metric"),
                field("kind"),
                field("level"),
            )
        })
        .collect();
    found.sort();
    let expect = |metric: &str, kind: &str, level: &str| {
        (
            "domain:mail.example.com".to_owned(),
            metric.to_owned(),
            kind.to_owned(),
            level.to_owned(),
        )
    };
    assert_eq!(
        found,
        vec![
            expect("compliance", "compliance-needs-work", "warning"),
            expect("domain-reputation", "reputation-drop", "warning"),
            expect("ip-reputation", "reputation-drop", "critical"),
            expect("spam-rate", "hard-limit", "critical"),
        ],
        "{}",
        stdout(&output)
    );

    // `mailcall metrics --csv` shows Gmail's own figures after the (empty)
    // counts, as Gmail gave them: the first day's interval and delivery
    // errors, the second day's missing ones left empty, and the compliance
    // status on the newest day only.
    let output = run(vec!["metrics", "--csv"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let figures: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|row| row.splitn(19, ',').last().unwrap_or_default())
        .collect();
    assert_eq!(
        figures,
        [
            "0.001200,0.001600,HIGH,HIGH,1.000000,0.998000,0.997000,0.004000,",
            "0.003100,,MEDIUM,LOW,1.000000,0.970000,0.970000,,DMARC_POLICY;ONE_CLICK_UNSUBSCRIBE",
        ],
        "{text}"
    );
}

/// Serves `app` on 127.0.0.1 for the rest of the test.
async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}
