//! Chaos: the whole service (`mailcall run` as a child process: Discord
//! front end against the fake Discord, the poller on a sandbox and a dead
//! ESP, alerts, commands through the fake Discord) is killed with SIGKILL
//! at random moments, 50 times, and restarted each time. Then one last
//! start drains the outbox and stops gracefully.
//!
//! What must hold: the store opens every time; every change whose answer
//! came back (an acknowledged `/incident open`) is in the store; ids are
//! contiguous; every incident in the store was announced exactly once in
//! each of its teams' channels, as the fake Discord's messages show (not
//! zero: the post was committed with the change; not two: nonces); the
//! stale-feed alert is posted at most once; the outbox ends empty.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use mailcall::domain::Team;
use mailcall::store::{IncidentStore, SledStore};

use super::common::mailcall;
use super::discord::{
    alice, channel_of, slash_data, ADMIN_ROLE, COMMAND_CHANNEL, STAKEHOLDERS, TEAMS, WAIT,
};
use super::fake_discord::{command_interaction, FakeDiscord, GUILD_ID};

const KILLS: usize = 50;
/// Opens sent per run at most (the kill usually comes first).
const OPENS_PER_ROUND: usize = 12;

/// The store, `[discord]` against `fake` (the token from `token_line`),
/// stakeholders and the four teams: a configuration for `mailcall run`.
pub(super) fn discord_section(fake: &FakeDiscord, token_line: &str) -> String {
    let mut text = format!(
        "[store]\npath = \"db\"\n\n[discord]\nguild_id = \"{GUILD_ID}\"\n{token_line}\n\
         admin_role_ids = [\"{ADMIN_ROLE}\"]\napi_base = \"{}\"\n\n\
         [stakeholders]\ndiscord_channel_id = \"{STAKEHOLDERS}\"\n\n",
        fake.api_base()
    );
    for (team, channel, role) in TEAMS {
        text.push_str(&format!(
            "[teams.{team}]\nchannel = \"{team}\"\ndiscord_channel_id = \"{channel}\"\ndiscord_role_id = \"{role}\"\n\n"
        ));
    }
    text
}

fn write_config(dir: &std::path::Path, fake: &FakeDiscord) -> std::path::PathBuf {
    std::fs::write(dir.join("token"), "fake-token\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("sg-key"), "SG.chaos").unwrap_or_else(|e| panic!("{e}"));
    let mut text = discord_section(fake, "token_file = \"token\"");
    text.push_str(
        "[poll]\nstale_after = 1\n\n\
         [[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nscenario = \"demo\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n\n\
         [[esp]]\nname = \"dead-sg\"\nprovider = \"sendgrid\"\nbase_url = \"http://127.0.0.1:9\"\ncredential_file = \"sg-key\"\nschedule = \"0 * * * *\"\ntimeout_seconds = 1\n",
    );
    let path = dir.join("mailcall.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn start(config: &std::path::Path) -> Child {
    mailcall()
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mailcall run: {e}"))
}

/// Starts the bot and waits until its own gateway connection is ready.
async fn start_connected(fake: &FakeDiscord, config: &std::path::Path) -> Child {
    let before = fake.connection_count();
    let child = start(config);
    let deadline = Instant::now() + WAIT;
    while fake.connection_count() == before {
        assert!(Instant::now() < deadline, "the bot never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fake.wait_ready(WAIT).await, "the bot never became ready");
    child
}

/// Sends `/incident open title:…` and returns whether its answer said it
/// was opened (the change is then acknowledged).
pub(super) async fn open(fake: &FakeDiscord, title: &str, answer_within: Duration) -> bool {
    let id = fake.next_snowflake();
    let token = format!("token-{id}");
    let delivered = fake
        .try_send_interaction(
            command_interaction(
                id,
                &token,
                &alice(),
                COMMAND_CHANNEL,
                slash_data(
                    &["open"],
                    &[
                        ("title", title),
                        ("severity", "SEV2"),
                        ("team", "integration"),
                        ("also", "marketing"),
                    ],
                ),
            ),
            Duration::from_millis(500),
        )
        .await;
    if !delivered {
        return false;
    }
    let path = format!("/api/v10/interactions/{id}/{token}/callback");
    fake.wait_for_request(
        |r| r.method == "POST" && r.path == path && r.status < 300,
        answer_within,
    )
    .await
    .is_some_and(|r| {
        r.body
            .pointer("/data/content")
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains("opened"))
    })
}

fn text_of(message: &Value) -> String {
    message.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_killed_at_random_loses_no_change_and_posts_each_post_once() {
    let mut rng = {
        let seed = std::env::var("MAILCALL_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        eprintln!("chaos seed: {seed} (set MAILCALL_CHAOS_SEED to replay)");
        fastrand::Rng::with_seed(seed)
    };
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &fake);
    let mut acknowledged = BTreeSet::new();
    let mut sent = 0;
    for round in 0..KILLS {
        let child = Arc::new(Mutex::new(start_connected(&fake, &config).await));
        let killer = {
            let child = child.clone();
            let delay = Duration::from_millis(rng.u64(20..800));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
                let _ = child.kill();
                let _ = child.wait();
            })
        };
        for k in 0..OPENS_PER_ROUND {
            if killer.is_finished() {
                break;
            }
            // The full stop ends the title, so "c1." never matches "c10.".
            let title = format!("chaos r{round} c{k}.");
            sent += 1;
            if open(&fake, &title, Duration::from_secs(3)).await {
                acknowledged.insert(title);
            }
        }
        killer.await.unwrap_or_else(|e| panic!("{e}"));
        // The store opens after every kill.
        let store = SledStore::open(&dir.path().join("db"))
            .unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        drop(store);
    }

    // One last start: the outbox drains, then a graceful stop.
    let mut last = start_connected(&fake, &config).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(last.id().to_string())
        .status();
    let status = last.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.success(),
        "the last run did not stop cleanly: {status:?}"
    );

    let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let incidents = store.all().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "chaos: {KILLS} kills, {sent} opens sent, {} acknowledged, {} in the store",
        acknowledged.len(),
        incidents.len()
    );
    assert!(!acknowledged.is_empty(), "no command was ever answered");
    let stored: BTreeSet<String> = incidents.iter().map(|i| i.title.to_string()).collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    for (index, incident) in incidents.iter().enumerate() {
        assert_eq!(
            incident.id.get(),
            index as u64 + 1,
            "ids are not contiguous"
        );
    }
    assert_eq!(
        store.outbox().map(|o| o.len()).ok(),
        Some(0),
        "posts left in the outbox after a clean run"
    );
    for team in [Team::Integration, Team::Marketing] {
        // Title → messages in the channel that show it.
        let mut shown_in: BTreeMap<String, usize> = BTreeMap::new();
        for message in fake.messages_in(channel_of(team)) {
            let text = text_of(&message);
            let titles: BTreeSet<&str> = text
                .match_indices("chaos r")
                .filter_map(|(at, _)| {
                    let rest = &text[at..];
                    rest.find('.').map(|end| &rest[..=end])
                })
                .collect();
            for title in titles {
                *shown_in.entry(title.to_string()).or_default() += 1;
            }
        }
        for incident in &incidents {
            let shown = shown_in.get(incident.title.as_str()).copied().unwrap_or(0);
            assert_eq!(
                shown, 1,
                "{} ({}) was announced {shown} times in {team}'s channel",
                incident.id, incident.title
            );
        }
    }
    let stale = fake
        .messages_in(channel_of(Team::Development))
        .iter()
        .map(text_of)
        .filter(|m| m.contains("dead-sg/account · feed (stale-feed)") && m.contains("🔴"))
        .count();
    assert!(stale <= 1, "the stale-feed alert was posted {stale} times");
}

/// SIGTERM while Discord is unreachable and a post is failing: the bot
/// stops taking work, exits cleanly within 5 s (Docker's stop timeout is
/// 10 s), and leaves the undelivered post in the outbox; the next start
/// delivers it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_discord_unreachable_exits_within_five_seconds_and_keeps_unsent_posts() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &fake);
    let mut child = start_connected(&fake, &config).await;
    let announcements = format!("/channels/{}/messages", channel_of(Team::Marketing));
    fake.fail_next_with("POST", &announcements, 10_000, 500);
    assert!(
        open(&fake, "chaos sigterm.", WAIT).await,
        "the open was not acknowledged"
    );
    fake.refuse_gateway(true);
    fake.close_gateway().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stopping = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(sent.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("still running 5 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("stopped {:?} after SIGTERM", stopping.elapsed());
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    {
        let store = SledStore::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !store.outbox().unwrap_or_else(|e| panic!("{e}")).is_empty(),
            "the undelivered announcement must wait in the outbox"
        );
    }

    fake.clear_failures();
    fake.refuse_gateway(false);
    let mut child = start_connected(&fake, &config).await;
    let shown = || {
        fake.messages_in(channel_of(Team::Marketing))
            .iter()
            .filter(|m| text_of(m).contains("chaos sigterm."))
            .count()
    };
    let deadline = Instant::now() + WAIT;
    while shown() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(shown(), 1, "the kept announcement is delivered once");
}

/// A full disk under the running bot: the change that cannot be made
/// durable is not answered as done, and the bot stops with a sentence
/// (exit 1) instead of refusing every later command, so its supervisor
/// restarts it once there is space. The store is on a 3 MB tmpfs in a
/// private mount namespace (`unshare -m`), filled once the bot is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_bot_with_a_sentence() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "fake-token\n").unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("mailcall.toml");
    std::fs::write(
        &config,
        discord_section(&fake, "token_file = \"token\"").replace(
            "path = \"db\"",
            &format!("path = {:?}", disk.join("db").display().to_string()),
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let script = r#"mount -t tmpfs -o size=3M tmpfs "$DISK" || exit 90
"$MAILCALL" run --config "$CONFIG" 2> "$OUT/bot.err" &
bot=$!
while [ ! -e "$OUT/go" ]; do sleep 0.1; done
dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null
touch "$OUT/full"
wait $bot
echo $? > "$OUT/code"
"#;
    let mut shell = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("DISK", &disk)
        .env("OUT", dir.path())
        .env("CONFIG", &config)
        .env("MAILCALL", env!("CARGO_BIN_EXE_mailcall"))
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    assert!(fake.wait_ready(WAIT).await, "the bot never became ready");
    std::fs::write(dir.path().join("go"), "").unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + WAIT;
    while !dir.path().join("full").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // sled writes into segments it allocated earlier, so the first changes
    // may still fit; one soon does not, and is not answered as done.
    let mut refused = false;
    for n in 0..400 {
        if !open(
            &fake,
            &format!("Welcome series silent {n}"),
            Duration::from_secs(3),
        )
        .await
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "the disk never filled up");
    while !dir.path().join("code").exists() && Instant::now() < deadline + WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = shell.wait();
    let code = std::fs::read_to_string(dir.path().join("code")).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.path().join("bot.err")).unwrap_or_default();
    assert_eq!(code.trim(), "1", "the bot stops: {stderr}");
    assert!(
        stderr.contains("error: mailcall stopped because the store could not write (")
            && stderr.contains("the disk is full"),
        "{stderr}"
    );
}
