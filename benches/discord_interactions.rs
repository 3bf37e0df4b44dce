//! Interaction latency through the real Discord adapter.
//!
//! Run with `cargo bench --bench discord_interactions`. Starts the bot
//! in-process against the fake Discord used by the tests, fires 200
//! `/incident open` interactions at once (each a durable write), and times
//! each from the moment its INTERACTION_CREATE is handed to the gateway to
//! the moment its callback reaches the fake. Printed beside the fsync floor
//! of the same disk, measured in the same run.
//!
//! Every open commits and fsyncs under one engine lock, so the tail is
//! queueing: the 200th interaction waits for 199 commits.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/fake_discord.rs"]
mod fake_discord;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use fake_discord::{command_interaction, FakeDiscord, Member, GUILD_ID};
use mailcall::config::{Config, DiscordConfig, DiscordTeam, Snowflake, TokenSource};
use mailcall::domain::Team;

const INTERACTIONS: u64 = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fsync_floor(dir: &std::path::Path) -> std::io::Result<(Duration, Duration)> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("fsync-probe"))?;
    let mut samples = Vec::new();
    for _ in 0..500 {
        let started = Instant::now();
        file.write_all(&[0x5a; 512])?;
        file.sync_all()?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok((percentile(&samples, 0.5), percentile(&samples, 0.99)))
}

fn open_data(i: u64) -> serde_json::Value {
    json!({"id": "4000", "name": "incident", "type": 1, "options": [{"type": 1, "name": "open", "options": [
        {"type": 3, "name": "title", "value": format!("Bounce spike on stream {i}")},
        {"type": 3, "name": "severity", "value": "SEV2"},
        {"type": 3, "name": "team", "value": "integration"},
    ]}]})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new("target/bench-discord");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root)?;
    let token = root.join("token");
    std::fs::write(&token, "fake-token")?;

    let fake = FakeDiscord::start().await;
    let teams = [
        (Team::Marketing, 6001, 7001),
        (Team::Design, 6002, 7002),
        (Team::Integration, 6003, 7003),
        (Team::Development, 6004, 7004),
    ];
    let config = Config {
        store_path: root.join("db"),
        discord: Some(DiscordConfig {
            guild_id: Snowflake(GUILD_ID),
            token: TokenSource::File(token),
            api_base: Some(fake.api_base()),
            admin_roles: Vec::new(),
            stakeholder_channel: None,
            all_alerts_channel: None,
            summary_channel: None,
            defer_after: mailcall::config::DEFER_AFTER,
            teams: teams
                .iter()
                .map(|(t, c, r)| {
                    (
                        *t,
                        DiscordTeam {
                            channel: Snowflake(*c),
                            role: Snowflake(*r),
                        },
                    )
                })
                .collect(),
        }),
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bot = tokio::spawn(mailcall::service::run(config, async {
        let _ = stopped.await;
    }));
    if !fake.wait_ready(Duration::from_secs(20)).await {
        return Err("the bot did not connect".into());
    }
    let registered = fake
        .wait_for_request(
            |r| r.method == "PUT" && r.path.ends_with("/commands"),
            Duration::from_secs(20),
        )
        .await;
    if registered.is_none() {
        return Err("the bot did not register its commands".into());
    }

    let member = Member {
        user_id: 5001,
        name: "alice".into(),
        roles: vec![7003],
    };
    let mut sent = HashMap::new();
    let mut sends = Vec::new();
    let started = Instant::now();
    for i in 0..INTERACTIONS {
        let id = fake.next_snowflake();
        let token = format!("bench-{id}");
        let interaction = command_interaction(id, &token, &member, 6500, open_data(i));
        let fake = fake.clone();
        sends.push(tokio::spawn(async move {
            let at = Instant::now();
            fake.send_interaction(interaction).await;
            (format!("/api/v10/interactions/{id}/{token}/callback"), at)
        }));
    }
    for send in sends {
        let (path, at) = send.await?;
        sent.insert(path, at);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let latencies = loop {
        let answered: Vec<Duration> = fake
            .requests()
            .into_iter()
            .filter(|r| r.status < 300)
            .filter_map(|r| {
                sent.get(&r.path)
                    .map(|at| r.at.saturating_duration_since(*at))
            })
            .collect();
        if answered.len() as u64 == INTERACTIONS {
            break answered;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {INTERACTIONS} interactions answered",
                answered.len()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall = started.elapsed();
    let mut sorted = latencies;
    sorted.sort();
    let (f50, f99) = fsync_floor(root)?;
    let _ = stop.send(());
    let _ = bot.await;

    println!("{INTERACTIONS} concurrent /incident open interactions through the fake Discord");
    println!(
        "interaction → callback   p50 = {:>8.2} ms   p99 = {:>8.2} ms   max = {:>8.2} ms",
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(sorted[sorted.len() - 1])
    );
    println!(
        "raw append+fsync floor   p50 = {:>8.3} ms   p99 = {:>8.3} ms",
        ms(f50),
        ms(f99)
    );
    println!("all {INTERACTIONS} answered in {:.1} ms wall ({:.0} interactions/s); Discord's deadline is 3000 ms", ms(wall), INTERACTIONS as f64 / wall.as_secs_f64());
    Ok(())
}
