//! Memory of an idle bot.
//!
//! Run with `cargo bench --bench idle_rss`. Starts the real `mailcall run`
//! binary as a child process against the fake Discord (in this process),
//! with 13 sandbox accounts of 4 streams each (52 streams), polled hourly.
//! Once every account has had its first poll, the bot is left idle and its
//! resident set (VmRSS) is read from /proc every second for 10 s; the peak
//! (VmHWM) is printed beside it. Goal (issue 10): idle RSS with 50 streams
//! ≤ 30 MB.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/fake_discord.rs"]
mod fake_discord;

use std::time::{Duration, Instant};

use fake_discord::{FakeDiscord, GUILD_ID};
use mailcall::store::{MetricsHistory, SledStore};

const ACCOUNTS: usize = 13;

/// The four tag streams of each account, named so the workload stays 52
/// streams (with `"all"` the sandbox adds the account total: 65).
const STREAMS: &str =
    r#"["tag:welcome", "tag:onboarding-day-3", "tag:receipts", "tag:newsletter"]"#;

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn polls_done(http: &str) -> f64 {
    let Ok(response) = reqwest::get(format!("http://{http}/metrics")).await else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("mailcall_polls_total{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new("target/bench-idle");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root)?;
    let root = root.canonicalize()?;
    std::fs::write(root.join("token"), "fake-token")?;
    let fake = FakeDiscord::start().await;
    let http = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.to_string()
    };
    let mut config = format!(
        "[store]\npath = \"db\"\n\n[http]\nlisten = \"{http}\"\n\n\
         [discord]\nguild_id = \"{GUILD_ID}\"\ntoken_file = \"token\"\napi_base = \"{}\"\n\n",
        fake.api_base()
    );
    for (team, channel, role) in [
        ("marketing", 6001, 7001),
        ("design", 6002, 7002),
        ("integration", 6003, 7003),
        ("development", 6004, 7004),
    ] {
        config.push_str(&format!(
            "[teams.{team}]\nchannel = \"{team}\"\ndiscord_channel_id = \"{channel}\"\ndiscord_role_id = \"{role}\"\n\n"
        ));
    }
    for i in 0..ACCOUNTS {
        config.push_str(&format!(
            "[[esp]]\nname = \"sandbox-{i}\"\nprovider = \"sandbox\"\nscenario = \"steady\"\nschedule = \"0 * * * *\"\nstreams = {STREAMS}\n\n"
        ));
    }
    let config_path = root.join("mailcall.toml");
    std::fs::write(&config_path, config)?;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailcall"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    if !fake.wait_ready(Duration::from_secs(30)).await {
        let _ = child.kill();
        return Err("the bot did not connect".into());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while polls_done(&http).await < ACCOUNTS as f64 {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the first polls did not finish".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the first detection and its alert posts settle, then sample.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut samples = Vec::new();
    for _ in 0..10 {
        if let Some(kib) = status_kib(pid, "VmRSS:") {
            samples.push(kib);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let peak = status_kib(pid, "VmHWM:");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    let store = SledStore::open(&root.join("db"))?;
    let streams = store.history()?.streams()?.len();
    samples.sort_unstable();
    let Some(&last) = samples.last() else {
        return Err("no RSS sample".into());
    };
    println!("idle `mailcall run`: {ACCOUNTS} sandbox accounts, {streams} streams in the history, Discord connected");
    println!(
        "idle RSS (VmRSS, 10 samples)   min = {:.1} MB   median = {:.1} MB   max = {:.1} MB   (goal <= 30 MB)",
        mib(samples[0]),
        mib(samples[samples.len() / 2]),
        mib(last)
    );
    if let Some(peak) = peak {
        println!("peak RSS since start (VmHWM)  {:.1} MB", mib(peak));
    }
    Ok(())
}
