//! The Discord front end, end to end: the real bot (`mailcall::service::run`,
//! serenity's client) against the fake Discord on loopback. Each test reads
//! as a piece of the specification: what people in Discord do, and what the
//! bot sends back, checked on the recorded REST calls.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use mailcall::command::manifest::kind;
use mailcall::command::Manifests;
use mailcall::config::{Config, DiscordConfig, DiscordTeam, Snowflake, TokenSource};
use mailcall::discord;
use mailcall::domain::{Status, Team};
use mailcall::service::{self, ServiceError};
use mailcall::store::{IncidentStore, SledStore};

use super::fake_discord::{
    autocomplete_interaction, command_interaction, component_interaction, modal_interaction,
    user_option_resolved, FakeDiscord, Member, Recorded, APPLICATION_ID, GUILD_ID,
};

pub(super) const WAIT: Duration = Duration::from_secs(20);
pub(super) const ADMIN_ROLE: u64 = 9000;
pub(super) const STAKEHOLDERS: u64 = 6100;
/// The weekly summary's channel.
pub(super) const SUMMARY_CHANNEL: u64 = 6200;
/// Each team's (channel, role).
pub(super) const TEAMS: [(Team, u64, u64); 4] = [
    (Team::Marketing, 6001, 7001),
    (Team::Design, 6002, 7002),
    (Team::Integration, 6003, 7003),
    (Team::Development, 6004, 7004),
];
pub(super) const COMMAND_CHANNEL: u64 = 6500;

pub(super) fn channel_of(team: Team) -> u64 {
    TEAMS
        .iter()
        .find(|(t, _, _)| *t == team)
        .map(|(_, c, _)| *c)
        .unwrap_or(0)
}

/// A configuration whose last ESP account, `dead-sg`, is a SendGrid
/// account nothing answers for (its key, `SG.never-shown`, in a file under
/// `data`), with one failed poll making a feed stale; `before` is more TOML
/// put ahead of it (other accounts, alert settings). See [`use_feeds`].
fn dead_feed(data: &Path, before: &str) -> Config {
    let key = data.join("sg-key");
    std::fs::write(&key, "SG.never-shown").unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "[poll]\nstale_after = 1\n\n{before}[[esp]]\nname = \"dead-sg\"\nprovider = \"sendgrid\"\nbase_url = \"http://127.0.0.1:9\"\ncredential_file = {:?}\nschedule = \"0 * * * *\"\ntimeout_seconds = 1\n",
        key.display().to_string()
    );
    Config::parse(Path::new("esp.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Puts `parsed`'s ESP accounts and poll settings into a bot's
/// configuration, with one attempt per poll so a dead feed fails at once.
fn use_feeds(config: &mut Config, parsed: Config) {
    config.esp = parsed.esp;
    config.poll = mailcall::poll::PollerSettings {
        attempts: 1,
        ..parsed.poll
    };
}

pub(super) fn role_of(team: Team) -> u64 {
    TEAMS
        .iter()
        .find(|(t, _, _)| *t == team)
        .map(|(_, _, r)| *r)
        .unwrap_or(0)
}

pub(super) fn alice() -> Member {
    Member {
        user_id: 5001,
        name: "alice".into(),
        roles: vec![role_of(Team::Integration)],
    }
}
fn carol() -> Member {
    Member {
        user_id: 5002,
        name: "carol".into(),
        roles: vec![role_of(Team::Marketing)],
    }
}
fn olga() -> Member {
    Member {
        user_id: 5003,
        name: "olga".into(),
        roles: vec![ADMIN_ROLE],
    }
}
fn nobody() -> Member {
    Member {
        user_id: 5004,
        name: "nobody".into(),
        roles: vec![],
    }
}

/// The bot under test, running in this process against the fake.
struct TestBot {
    fake: FakeDiscord,
    data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServiceError>>>,
    /// Where the bot serves /healthz, /readyz and /metrics.
    http: std::net::SocketAddr,
}

fn config(fake: &FakeDiscord, data: &Path) -> Config {
    let token = data.join("token");
    std::fs::write(&token, "fake-token\n").unwrap_or_else(|e| panic!("{e}"));
    Config {
        store_path: data.join("db"),
        discord: Some(DiscordConfig {
            guild_id: Snowflake(GUILD_ID),
            token: TokenSource::File(token),
            api_base: Some(fake.api_base()),
            admin_roles: vec![Snowflake(ADMIN_ROLE)],
            stakeholder_channel: Some(Snowflake(STAKEHOLDERS)),
            all_alerts_channel: None,
            summary_channel: Some(Snowflake(SUMMARY_CHANNEL)),
            defer_after: mailcall::config::DEFER_AFTER,
            teams: TEAMS
                .iter()
                .map(|(team, channel, role)| {
                    (
                        *team,
                        DiscordTeam {
                            channel: Snowflake(*channel),
                            role: Snowflake(*role),
                        },
                    )
                })
                .collect(),
        }),
        ..Config::default()
    }
}

impl TestBot {
    async fn start() -> TestBot {
        let fake = FakeDiscord::start().await;
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        TestBot::start_on(fake, data).await
    }

    /// Starts the bot on an existing fake and data directory (a restart),
    /// and waits until it has registered its commands.
    async fn start_on(fake: FakeDiscord, data: tempfile::TempDir) -> TestBot {
        TestBot::launch(fake, data, |_| {}).await
    }

    /// Starts the bot with a configuration adjusted by `tweak`.
    async fn launch(
        fake: FakeDiscord,
        data: tempfile::TempDir,
        tweak: impl FnOnce(&mut Config),
    ) -> TestBot {
        let registered_before = registrations(&fake).len();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut config = config(&fake, data.path());
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let http = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let task = tokio::spawn(service::serve(config, Some(listener), async {
            let _ = stopped.await;
        }));
        let registered = wait_until(|| registrations(&fake).len() > registered_before).await;
        assert!(registered, "the bot did not register its commands");
        TestBot {
            fake,
            data,
            stop: Some(stop),
            task: Some(task),
            http,
        }
    }

    /// Stops the bot and waits for it to finish; returns the fake and the
    /// data directory for a restart.
    async fn stop(mut self) -> (FakeDiscord, tempfile::TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let finished = tokio::time::timeout(WAIT, task).await;
            assert!(
                matches!(finished, Ok(Ok(Ok(())))),
                "the bot did not stop cleanly: {finished:?}"
            );
        }
        let fake = self.fake.clone();
        let data = std::mem::replace(
            &mut self.data,
            tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        );
        (fake, data)
    }

    /// Sends a slash command and returns its interaction callback.
    async fn slash(&self, who: &Member, path: &[&str], options: &[(&str, &str)]) -> Value {
        let id = self.fake.next_snowflake();
        let token = format!("token-{id}");
        self.fake
            .send_interaction(command_interaction(
                id,
                &token,
                who,
                COMMAND_CHANNEL,
                slash_data(path, options),
            ))
            .await;
        self.callback(id, &token).await
    }

    /// Presses a button on a message and returns the callback.
    async fn press(&self, who: &Member, message: u64, custom_id: &str) -> Value {
        let id = self.fake.next_snowflake();
        let token = format!("token-{id}");
        self.fake
            .send_interaction(component_interaction(
                id,
                &token,
                who,
                channel_of(Team::Integration),
                message,
                custom_id,
            ))
            .await;
        self.callback(id, &token).await
    }

    async fn callback(&self, id: u64, token: &str) -> Value {
        let path = format!("/api/v10/interactions/{id}/{token}/callback");
        let recorded = self
            .fake
            .wait_for_request(
                |r| r.method == "POST" && r.path == path && r.status < 300,
                WAIT,
            )
            .await
            .unwrap_or_else(|| panic!("no answer to interaction {id}"));
        recorded.body
    }

    /// Opens INC-n as alice (integration, owner) involving marketing too, and
    /// waits for both announcements and the thread.
    async fn open_incident(&self, title: &str) -> Value {
        let reply = self
            .slash(
                &alice(),
                &["open"],
                &[
                    ("title", title),
                    ("severity", "SEV2"),
                    ("team", "integration"),
                    ("also", "marketing"),
                ],
            )
            .await;
        assert!(
            wait_until(|| !self.threads().is_empty()
                && self.posts_to(channel_of(Team::Marketing)).len() == self.threads().len())
            .await
        );
        reply
    }

    /// Every recorded `method` request to exactly `path`.
    fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    fn posts_to(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status < 300)
            .collect()
    }

    fn threads(&self) -> Vec<Recorded> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/threads") && r.status < 300)
            .collect()
    }
}

impl Drop for TestBot {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn registrations(fake: &FakeDiscord) -> Vec<Recorded> {
    let path = format!("/api/v10/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands");
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == path && r.status < 300)
        .collect()
}

/// Polls `condition` until it holds or [`WAIT`] passes.
async fn wait_until(condition: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// `/incident <path> <options>` as Discord delivers it, typed per the
/// manifest; USER options take a user id and are resolved.
pub(super) fn slash_data(path: &[&str], options: &[(&str, &str)]) -> Value {
    let manifests = Manifests::embedded();
    // `["metrics"]` is the top-level /metrics, `["alert", …]`, `["silence",
    // …]`, `["route", …]` and `["duty", …]` their commands; anything else is
    // under /incident.
    let (command, path) = match path {
        ["metrics"] => ("metrics", &path[..0]),
        [top @ ("alert" | "silence" | "route" | "duty" | "summary"), rest @ ..] => (*top, rest),
        _ => ("incident", path),
    };
    let path_owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    let leaf = manifests
        .leaf(command, &path_owned)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut users = Vec::new();
    let leaf_options: Vec<Value> = options
        .iter()
        .map(|(name, value)| {
            let kind_of = leaf
                .options
                .iter()
                .find(|o| o.name == *name)
                .map(|o| o.kind)
                .unwrap_or(kind::STRING);
            let typed = match kind_of {
                kind::INTEGER => json!(value.parse::<i64>().unwrap_or(0)),
                kind::USER => {
                    let id: u64 = value.parse().unwrap_or(0);
                    users.push((id, format!("user{id}")));
                    json!(value)
                }
                _ => json!(value),
            };
            json!({"type": kind_of, "name": name, "value": typed})
        })
        .collect();
    let mut nested = leaf_options;
    for (depth, name) in path.iter().enumerate().rev() {
        let kind_of = if depth + 1 == path.len() {
            kind::SUB_COMMAND
        } else {
            kind::SUB_COMMAND_GROUP
        };
        nested = vec![json!({"type": kind_of, "name": name, "options": nested})];
    }
    let mut data = json!({"id": "4000", "name": command, "type": 1, "options": nested});
    if !users.is_empty() {
        let refs: Vec<(u64, &str)> = users
            .iter()
            .map(|(id, name)| (*id, name.as_str()))
            .collect();
        data["resolved"] = user_option_resolved(&refs);
    }
    data
}

/// The `custom_id`s of a message's first row of buttons.
fn button_ids(body: &Value) -> Vec<String> {
    body.pointer("/components/0/components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b["custom_id"].as_str().map(String::from))
        .collect()
}

fn content(body: &Value) -> String {
    body.pointer("/data/content")
        .or_else(|| body.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn is_ephemeral(body: &Value) -> bool {
    body.pointer("/data/flags")
        .and_then(Value::as_u64)
        .is_some_and(|f| f & 64 != 0)
}

/// Every message-bearing request the bot made: what it may mention, and
/// Discord's limits.
fn check_every_post(fake: &FakeDiscord) {
    let team_roles: Vec<String> = TEAMS.iter().map(|(_, _, r)| r.to_string()).collect();
    for r in fake.requests() {
        let carries_message = (r.method == "POST" || r.method == "PATCH")
            && (r.path.contains("/messages")
                || r.path.ends_with("/callback")
                || r.path.contains("/webhooks/"));
        if !carries_message || r.path.ends_with("/threads") {
            continue;
        }
        let body = r
            .body
            .get("data")
            .filter(|_| r.path.ends_with("/callback"))
            .unwrap_or(&r.body);
        if r.path.ends_with("/callback")
            && matches!(r.body.get("type").and_then(Value::as_u64), Some(5..=9))
        {
            continue; // defer, autocomplete and modal callbacks carry no message
        }
        let allowed = body
            .get("allowed_mentions")
            .unwrap_or_else(|| panic!("{} {} sets no allowed_mentions: {body}", r.method, r.path));
        assert_eq!(
            allowed.get("parse"),
            Some(&json!([])),
            "{} may ping by parsing: {allowed}",
            r.path
        );
        // A user may be pinged only by mailcall's own mention at the start
        // of a post (an assignee, a member on duty), never by text inside.
        let leading_tags: Vec<String> = content(body)
            .split(' ')
            .take_while(|word| word.starts_with("<@"))
            .filter(|word| !word.starts_with("<@&"))
            .map(|word| {
                word.trim_start_matches("<@")
                    .trim_end_matches('>')
                    .to_string()
            })
            .collect();
        let users: Vec<String> = allowed
            .get("users")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        // The weekly summary names the owners of open prevention actions
        // in its list, where they are the only users it may ping.
        let summary_post = r.path == format!("/api/v10/channels/{SUMMARY_CHANNEL}/messages");
        assert!(
            users.iter().all(|u| leading_tags.contains(u)
                || (summary_post && content(body).contains(&format!("<@{u}>")))),
            "{} may ping users it does not mention up front: {allowed} {body}",
            r.path
        );
        let roles: Vec<String> = allowed
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            roles.len() <= 1
                && roles
                    .iter()
                    .all(|r| team_roles.contains(r) || *r == ADMIN_ROLE.to_string()),
            "{} pings {roles:?}",
            r.path
        );
        let text = body
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if roles.first() == Some(&ADMIN_ROLE.to_string()) {
            // Only an escalation may call the admins, in a team channel.
            assert!(
                text.contains("escalated to incident-admin"),
                "admin role pinged by {text}"
            );
            assert!(TEAMS
                .iter()
                .any(|(_, c, _)| r.path == format!("/api/v10/channels/{c}/messages")));
        } else if let Some(role) = roles.first() {
            let team_channel = TEAMS.iter().any(|(_, c, rl)| {
                rl.to_string() == *role && r.path == format!("/api/v10/channels/{c}/messages")
            });
            assert!(
                team_channel && r.method == "POST",
                "role {role} pinged outside its team's announcement: {} {}",
                r.method,
                r.path
            );
        }
        let text = body
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            text.chars().count() <= 2000,
            "{}: content over 2000",
            r.path
        );
        for word in ["@everyone", "@here"] {
            assert!(!text.contains(word), "{}: raw {word} in {text}", r.path);
        }
        for embed in body
            .get("embeds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let len = |p: &str| {
                embed
                    .pointer(p)
                    .and_then(Value::as_str)
                    .map(|s| s.chars().count())
                    .unwrap_or(0)
            };
            assert!(
                len("/title") <= 256 && len("/description") <= 4096 && len("/footer/text") <= 2048,
                "{}: embed part too long",
                r.path
            );
            let fields = embed
                .get("fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            assert!(fields.len() <= 25);
            let field_chars: usize = fields
                .iter()
                .map(|f| {
                    let name = f
                        .get("name")
                        .and_then(Value::as_str)
                        .map(|s| s.chars().count())
                        .unwrap_or(0);
                    let value = f
                        .get("value")
                        .and_then(Value::as_str)
                        .map(|s| s.chars().count())
                        .unwrap_or(0);
                    assert!(name <= 256 && value <= 1024, "{}: field too long", r.path);
                    name + value
                })
                .sum();
            assert!(
                len("/title") + len("/description") + len("/footer/text") + field_chars <= 6000,
                "{}: embed over 6000",
                r.path
            );
        }
    }
    for r in fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/threads"))
    {
        let name = r
            .body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            (1..=100).contains(&name.chars().count()),
            "thread name {name:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registered_commands_are_exactly_the_manifests() {
    let bot = TestBot::start().await;
    let registered = registrations(&bot.fake);
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].body, Value::Array(discord::manifests_json()));
    assert_eq!(
        registered[0].authorization.as_deref(),
        Some("Bot fake-token")
    );
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_announces_in_each_team_channel_and_starts_one_thread() {
    let bot = TestBot::start().await;
    let reply = bot.open_incident("Bounce spike on welcome series").await;
    assert_eq!(reply.get("type"), Some(&json!(4)));
    assert!(
        content(&reply).contains("INC-1 opened: Bounce spike on welcome series"),
        "{reply}"
    );
    assert!(!is_ephemeral(&reply));

    let owner_posts = bot.posts_to(channel_of(Team::Integration));
    let other_posts = bot.posts_to(channel_of(Team::Marketing));
    assert_eq!((owner_posts.len(), other_posts.len()), (1, 1));
    for (post, team) in [
        (&owner_posts[0], Team::Integration),
        (&other_posts[0], Team::Marketing),
    ] {
        assert!(
            content(&post.body).starts_with(&format!("<@&{}> new incident INC-1", role_of(team)))
        );
        assert_eq!(
            post.body.pointer("/allowed_mentions/roles"),
            Some(&json!([role_of(team).to_string()]))
        );
        let embed = &post.body["embeds"][0];
        assert!(embed["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("INC-1 · SEV2 — Bounce spike"));
        assert_eq!(embed["color"], json!(0xf97316));
        let buttons = button_ids(&post.body);
        assert_eq!(
            buttons,
            ["incident:ack:1", "incident:mine:1", "incident:resolve:1"]
        );
    }
    // One thread, on the owner's announcement.
    let threads = bot.threads();
    assert_eq!(threads.len(), 1);
    assert!(threads[0].path.starts_with(&format!(
        "/api/v10/channels/{}/messages/",
        channel_of(Team::Integration)
    )));
    assert_eq!(
        threads[0].body["name"],
        json!("INC-1 Bounce spike on welcome series")
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

/// The incident thread: the one channel the bot posts to that is neither a
/// team channel nor the stakeholder channel (the fake gives threads fresh
/// ids and the tests open one incident at a time).
fn thread_id(fake: &FakeDiscord) -> u64 {
    let known: Vec<u64> = TEAMS
        .iter()
        .map(|(_, c, _)| *c)
        .chain([STAKEHOLDERS])
        .collect();
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages") && r.status < 300)
        .filter_map(|r| r.path.split('/').nth(4).and_then(|c| c.parse::<u64>().ok()))
        .find(|c| !known.contains(c))
        .unwrap_or(0)
}

/// Who, which subcommand, its options, what the reply must say, and
/// whether it is private.
type Step<'a> = (
    &'a Member,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    &'a str,
    bool,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_incident_command_answers_and_changes_post_in_the_thread() {
    let bot = TestBot::start().await;
    bot.open_incident("Tracking links dead in the March newsletter")
        .await;
    let steps: &[Step] = &[
        (
            &alice(),
            &["ack"],
            &[("id", "INC-1")],
            "acknowledged (open → investigating)",
            false,
        ),
        (
            &alice(),
            &["assign"],
            &[("id", "INC-1"), ("team", "integration")],
            "made alice the integration assignee",
            false,
        ),
        (
            &carol(),
            &["assign"],
            &[("id", "INC-1"), ("team", "design"), ("user", "5009")],
            "made user5009 the design assignee",
            false,
        ),
        (
            &alice(),
            &["diagnose"],
            &[
                ("id", "INC-1"),
                ("note", "Redirect domain expired"),
                ("root_cause", "tracking-links"),
            ],
            "diagnosis: Redirect domain expired",
            false,
        ),
        (
            &alice(),
            &["update"],
            &[
                ("id", "INC-1"),
                ("note", "Domain renewed"),
                ("status", "mitigated"),
                ("severity", "SEV3"),
            ],
            "(investigating → mitigated) (SEV2 → SEV3)",
            false,
        ),
        (
            &alice(),
            &["resolve"],
            &[("id", "INC-1"), ("resolution", "Links work again")],
            "resolved (mitigated → resolved)",
            false,
        ),
        (
            &alice(),
            &["action", "add"],
            &[
                ("id", "INC-1"),
                ("text", "Monitor domain expiry"),
                ("owner", "5002"),
                ("due", "2026-12-31"),
            ],
            "prevention action #1 for user5002",
            false,
        ),
        (
            &carol(),
            &["action", "done"],
            &[("id", "INC-1"), ("number", "1")],
            "prevention action #1 done",
            false,
        ),
        (
            &alice(),
            &["close"],
            &[("id", "INC-1")],
            "closed (root cause: tracking/links)",
            false,
        ),
        (
            &carol(),
            &["reopen"],
            &[("id", "INC-1"), ("reason", "Links broke again")],
            "reopened (closed → investigating)",
            false,
        ),
        (
            &carol(),
            &["show"],
            &[("id", "INC-1")],
            "Timeline, newest first:",
            true,
        ),
        (
            &carol(),
            &["list"],
            &[("status", "all")],
            "1 incident(s):",
            true,
        ),
    ];
    for (who, path, options, expected, private) in steps {
        let reply = bot.slash(who, path, options).await;
        assert_eq!(reply["type"], json!(4), "{path:?}");
        assert!(
            content(&reply).contains(expected),
            "{path:?}: expected {expected:?} in {reply}"
        );
        assert_eq!(is_ephemeral(&reply), *private, "{path:?} visibility");
    }
    // Every change was posted in the one thread, and announcements edited.
    let thread = thread_id(&bot.fake);
    assert!(
        wait_until(|| bot.posts_to(thread).len() == 10).await,
        "thread posts: {}",
        bot.posts_to(thread).len()
    );
    let thread_posts: Vec<String> = bot
        .posts_to(thread)
        .iter()
        .map(|r| content(&r.body))
        .collect();
    assert!(thread_posts[0].contains("acknowledged"), "{thread_posts:?}");
    assert!(thread_posts[9].contains("reopened"), "{thread_posts:?}");
    let edits = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/channels/"))
        .count();
    // Two announcements (integration, marketing) per change, plus design's
    // own announcement once it was brought in.
    assert!(edits >= 20, "announcement edits: {edits}");
    // Status and severity changes reached the stakeholder channel.
    let stakeholder: Vec<String> = bot
        .posts_to(STAKEHOLDERS)
        .iter()
        .map(|r| content(&r.body))
        .collect();
    assert!(
        stakeholder.iter().any(|p| p.contains("mitigated")),
        "{stakeholder:?}"
    );
    // Bringing design in announced the incident in design's channel.
    assert_eq!(bot.posts_to(channel_of(Team::Design)).len(), 1);
    // The reopened incident's announcement no longer shows the resolution
    // it had before (the timeline keeps it).
    let announcement = || {
        bot.fake
            .messages_in(channel_of(Team::Integration))
            .first()
            .map(Value::to_string)
            .unwrap_or_default()
    };
    assert!(
        wait_until(|| announcement().contains("reopened")).await,
        "{}",
        announcement()
    );
    assert!(
        !announcement().contains("Links work again"),
        "{}",
        announcement()
    );
    check_every_post(&bot.fake);
    let (_fake, data) = bot.stop().await;
    let store = SledStore::open(&data.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let incident = store
        .load(mailcall::domain::IncidentId::FIRST)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("INC-1 missing"));
    assert_eq!(incident.status, Status::Investigating);
    assert_eq!(incident.timeline.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_and_the_resolve_modal_work_the_incident() {
    let bot = TestBot::start().await;
    bot.open_incident("Welcome series stopped sending").await;
    // Buttons route by custom_id alone, so any message id will do.
    let message = 424242;
    let ack = bot.press(&alice(), message, "incident:ack:1").await;
    assert!(content(&ack).contains("acknowledged"), "{ack}");
    assert!(is_ephemeral(&ack));
    let mine = bot.press(&carol(), message, "incident:mine:1").await;
    assert!(
        content(&mine).contains("made carol the marketing assignee"),
        "{mine}"
    );
    // Without a team role, the Resolve button refuses at once (and audits
    // it) instead of opening a form whose answer would be refused.
    let refused = bot.press(&nobody(), message, "incident:resolve:1").await;
    assert_eq!(refused["type"], json!(4), "no modal: {refused}");
    assert!(is_ephemeral(&refused), "{refused}");
    assert!(
        content(&refused).contains("you need a team role")
            && content(&refused).contains("resolve incidents"),
        "{refused}"
    );
    let modal = bot.press(&alice(), message, "incident:resolve:1").await;
    assert_eq!(modal["type"], json!(9), "{modal}");
    assert_eq!(
        modal.pointer("/data/custom_id"),
        Some(&json!("incident:resolution:1"))
    );
    assert_eq!(
        modal.pointer("/data/components/0/components/0/custom_id"),
        Some(&json!("resolution"))
    );

    let id = bot.fake.next_snowflake();
    let token = format!("token-{id}");
    bot.fake
        .send_interaction(modal_interaction(
            id,
            &token,
            &alice(),
            COMMAND_CHANNEL,
            "incident:resolution:1",
            &[("resolution", "Cron job restarted")],
        ))
        .await;
    let resolved = bot.callback(id, &token).await;
    assert!(
        content(&resolved).contains("resolved (investigating → resolved): Cron job restarted"),
        "{resolved}"
    );
    // A second press of Acknowledge is refused politely.
    let again = bot.press(&alice(), message, "incident:ack:1").await;
    assert!(
        content(&again).contains("⚠ INC-1 was already acknowledged"),
        "{again}"
    );
    check_every_post(&bot.fake);
    let (_fake, data) = bot.stop().await;
    let store = SledStore::open(&data.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let denials = store.denials().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        denials
            .iter()
            .any(|d| d.command == "/incident resolve INC-1 (button)"
                && d.by.to_string().contains("nobody")),
        "{denials:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_actions_get_a_private_reply_change_nothing_and_are_audited() {
    let bot = TestBot::start().await;
    bot.open_incident("Complaints above 0.3% at Gmail").await;
    let before = bot.fake.requests().len();
    let refused = bot
        .slash(
            &nobody(),
            &["diagnose"],
            &[("id", "INC-1"), ("note", "I think it is fine")],
        )
        .await;
    assert!(is_ephemeral(&refused));
    assert!(
        content(&refused).contains("you need a team role"),
        "{refused}"
    );
    let button = bot.press(&nobody(), 1, "incident:ack:1").await;
    assert!(
        content(&button).contains("you need a team role"),
        "{button}"
    );
    // Carol (marketing) may work the incident but not close it.
    let _ = bot
        .slash(
            &carol(),
            &["resolve"],
            &[
                ("id", "INC-1"),
                ("resolution", "Suppressed the segment"),
                ("root_cause", "list-quality"),
            ],
        )
        .await;
    let close = bot.slash(&carol(), &["close"], &[("id", "INC-1")]).await;
    assert!(
        content(&close)
            .contains("only INC-1's commander (alice) or an incident-admin can close it"),
        "{close}"
    );
    let admin_close = bot.slash(&olga(), &["close"], &[("id", "INC-1")]).await;
    assert!(
        content(&admin_close).contains("olga closed"),
        "{admin_close}"
    );
    // The refusals posted nothing anywhere: only the resolve and the admin's
    // close did (thread posts, edits, stakeholder notices).
    let posts_for_refusals = bot.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .filter(|r| content(&r.body).contains("I think it is fine"))
        .count();
    assert_eq!(posts_for_refusals, 0);
    check_every_post(&bot.fake);
    let (_fake, data) = bot.stop().await;
    let store = SledStore::open(&data.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
    let denials = store.denials().unwrap_or_else(|e| panic!("{e}"));
    let who: Vec<&str> = denials.iter().map(|d| d.by.name.as_str()).collect();
    assert_eq!(who, ["nobody", "nobody", "carol"]);
    let incident = store
        .load(mailcall::domain::IncidentId::FIRST)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("INC-1 missing"));
    assert!(
        incident.diagnosis().next().is_none(),
        "a denied diagnosis was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_users_never_pings_and_long_text_fits_discords_limits() {
    let bot = TestBot::start().await;
    let title = format!(
        "@everyone <@&{}> @here {}",
        role_of(Team::Design),
        "x".repeat(150)
    );
    let reply = bot
        .slash(
            &alice(),
            &["open"],
            &[
                ("title", &title),
                ("severity", "SEV1"),
                ("team", "integration"),
            ],
        )
        .await;
    assert!(
        content(&reply).contains("@\u{200B}everyone <\u{200B}@&7002> @\u{200B}here"),
        "{reply}"
    );
    assert!(wait_until(|| !bot.threads().is_empty()).await);
    let long_note = "n".repeat(1000);
    for _ in 0..3 {
        let _ = bot
            .slash(
                &alice(),
                &["diagnose"],
                &[("id", "INC-1"), ("note", &long_note)],
            )
            .await;
    }
    let _ = bot
        .slash(
            &alice(),
            &["update"],
            &[
                ("id", "INC-1"),
                ("note", "<@5001> and @everyone, look"),
                ("status", "mitigated"),
            ],
        )
        .await;
    let thread = thread_id(&bot.fake);
    assert!(wait_until(|| bot.posts_to(thread).len() == 4).await);
    let name = bot.threads()[0].body["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(name.chars().count(), 100, "{name}");
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_a_post_is_retried_and_the_post_arrives_once() {
    let bot = TestBot::start().await;
    let owner_channel = format!("/channels/{}/messages", channel_of(Team::Integration));
    bot.fake.fail_next("POST", &owner_channel, 2, 0.05);
    bot.open_incident("Deferrals at Yahoo").await;
    let attempts: Vec<u16> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&owner_channel))
        .map(|r| r.status)
        .collect();
    assert_eq!(attempts, [429, 429, 200], "{attempts:?}");
    assert_eq!(bot.posts_to(channel_of(Team::Integration)).len(), 1);
    let _ = bot.stop().await;
}

/// A 500 on an announcement does not lose it: the post stays in the outbox
/// and is sent again after a short wait, once, and the incident's thread
/// still starts on the owning team's announcement (not in another team's
/// channel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_an_announcement_is_retried_from_the_outbox_and_the_thread_starts_in_the_owners_channel(
) {
    let bot = TestBot::start().await;
    let owner = channel_of(Team::Integration);
    let owner_posts = format!("/api/v10/channels/{owner}/messages");
    bot.fake.fail_next_with("POST", &owner_posts, 1, 500);
    bot.open_incident("Bounces after the list import").await;
    let attempts: Vec<u16> = bot
        .requests_to("POST", &owner_posts)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(attempts, [500, 200], "{attempts:?}");
    let threads: Vec<String> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/threads") && r.status < 300)
        .map(|r| r.path)
        .collect();
    assert_eq!(threads.len(), 1, "{threads:?}");
    assert!(
        threads[0].starts_with(&format!("{owner_posts}/")),
        "{threads:?}"
    );
    assert_eq!(bot.posts_to(channel_of(Team::Marketing)).len(), 1);
    let _ = bot.stop().await;
}

/// When Discord creates a message but its answer is lost (here: a 500 after
/// the message was made), the post is sent again from the outbox with the
/// same nonce, and Discord (enforcing it) returns the first message: the
/// channel shows one announcement, and the thread starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_lost_answer_does_not_post_twice() {
    let bot = TestBot::start().await;
    let owner = channel_of(Team::Integration);
    let owner_posts = format!("/api/v10/channels/{owner}/messages");
    bot.fake.lose_answer_next("POST", &owner_posts, 1);
    bot.open_incident("Opens collapsed on Outlook").await;
    let attempts: Vec<u16> = bot
        .requests_to("POST", &owner_posts)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(attempts, [500, 200], "{attempts:?}");
    let nonces: Vec<Value> = bot
        .requests_to("POST", &owner_posts)
        .iter()
        .map(|r| r.body["nonce"].clone())
        .collect();
    assert!(
        nonces[0].is_string() && nonces[0] == nonces[1],
        "{nonces:?}"
    );
    let shown = bot.fake.messages_in(owner);
    assert_eq!(shown.len(), 1, "{shown:?}");
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_gateway_close_the_bot_reconnects_and_keeps_answering() {
    let bot = TestBot::start().await;
    let connections = bot.fake.connection_count();
    bot.fake.close_gateway().await;
    assert!(
        wait_until(|| bot.fake.connection_count() > connections).await,
        "no reconnect"
    );
    assert!(bot.fake.wait_ready(WAIT).await);
    assert!(bot.fake.identify_count() + bot.fake.resume_count() >= 2);
    let reply = bot.slash(&alice(), &["list"], &[]).await;
    assert!(content(&reply).contains("No incidents match."), "{reply}");
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_incidents_buttons_threads_and_announcements() {
    let bot = TestBot::start().await;
    bot.open_incident("Unsubscribe link 404s").await;
    let _ = bot
        .slash(
            &alice(),
            &["diagnose"],
            &[
                ("id", "INC-1"),
                ("note", "The footer template lost its merge tag"),
            ],
        )
        .await;
    assert!(wait_until(|| thread_id(&bot.fake) != 0).await);
    let thread = thread_id(&bot.fake);
    assert!(
        wait_until(|| bot
            .fake
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count()
            == 2)
        .await
    );
    let (fake, data) = bot.stop().await;

    let bot = TestBot::start_on(fake, data).await;
    assert!(bot.fake.wait_ready(WAIT).await);
    let mine = bot.press(&alice(), 1, "incident:mine:1").await;
    assert!(
        content(&mine).contains("alice made alice the integration assignee"),
        "{mine}"
    );
    // The change goes to the same thread and edits the same two messages.
    assert!(
        wait_until(|| bot.posts_to(thread).len() == 2).await,
        "no post in the old thread {thread}"
    );
    let patched = |fake: &FakeDiscord| -> Vec<String> {
        fake.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| r.path)
            .collect()
    };
    assert!(
        wait_until(|| patched(&bot.fake).len() == 4).await,
        "{:?}",
        patched(&bot.fake)
    );
    let paths = patched(&bot.fake);
    assert_eq!(
        paths[0..2],
        paths[2..4],
        "after the restart the same announcements are edited"
    );
    let reply = bot.slash(&alice(), &["show"], &[("id", "INC-1")]).await;
    assert!(content(&reply).contains("Unsubscribe link 404s"));
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_offers_active_incidents_first_and_teams() {
    let bot = TestBot::start().await;
    bot.open_incident("First").await;
    let _ = bot
        .slash(
            &alice(),
            &["resolve"],
            &[("id", "INC-1"), ("resolution", "done")],
        )
        .await;
    let _ = bot
        .slash(
            &alice(),
            &["open"],
            &[
                ("title", "Second"),
                ("severity", "SEV3"),
                ("team", "design"),
            ],
        )
        .await;

    let ask = |focused: &str, value: &str| {
        let mut data = slash_data(&["diagnose"], &[("id", value)]);
        if focused == "also" {
            data = slash_data(&["open"], &[("also", value)]);
        }
        // Mark the option as focused, as Discord does for autocomplete.
        if let Some(options) = data
            .pointer_mut("/options/0/options")
            .and_then(Value::as_array_mut)
        {
            for option in options.iter_mut() {
                if option["name"] == json!(focused) {
                    option["focused"] = json!(true);
                }
            }
        }
        data
    };
    let id = bot.fake.next_snowflake();
    bot.fake
        .send_interaction(autocomplete_interaction(
            id,
            "t1",
            &alice(),
            COMMAND_CHANNEL,
            ask("id", ""),
        ))
        .await;
    let answer = bot.callback(id, "t1").await;
    assert_eq!(answer["type"], json!(8));
    let values = choice_values(&answer);
    assert_eq!(values, ["INC-2", "INC-1"], "active first: {answer}");

    let id = bot.fake.next_snowflake();
    bot.fake
        .send_interaction(autocomplete_interaction(
            id,
            "t2",
            &alice(),
            COMMAND_CHANNEL,
            ask("also", "marketing,d"),
        ))
        .await;
    let answer = bot.callback(id, "t2").await;
    let values = choice_values(&answer);
    assert_eq!(values, ["marketing,design", "marketing,development"]);

    // Teams already named, in the list or as the owner, are not offered again.
    let mut data = slash_data(
        &["open"],
        &[("team", "development"), ("also", "marketing,")],
    );
    if let Some(also) = data.pointer_mut("/options/0/options/1") {
        also["focused"] = json!(true);
    }
    let id = bot.fake.next_snowflake();
    bot.fake
        .send_interaction(autocomplete_interaction(
            id,
            "t3",
            &alice(),
            COMMAND_CHANNEL,
            data,
        ))
        .await;
    let answer = bot.callback(id, "t3").await;
    let values = choice_values(&answer);
    assert_eq!(
        values,
        ["marketing,design", "marketing,integration"],
        "{answer}"
    );
    let _ = bot.stop().await;
}

/// The values of an autocomplete answer's choices, in order.
fn choice_values(answer: &Value) -> Vec<&str> {
    answer
        .pointer("/data/choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["value"].as_str())
        .collect()
}

#[test]
fn the_token_never_appears_in_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = discord::Token::read(&TokenSource::File(dir.path().join("absent")))
        .err()
        .map(|e| e.to_string());
    assert!(missing
        .unwrap_or_default()
        .contains("cannot read the Discord token file"));
    let file = dir.path().join("token");
    std::fs::write(&file, "super-secret-token").unwrap_or_else(|e| panic!("{e}"));
    let token = discord::Token::read(&TokenSource::File(file)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(format!("{token:?}"), "Token([redacted])");
    let unset = discord::Token::read(&TokenSource::Env("MAILCALL_TEST_UNSET_TOKEN".into()))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        unset.unwrap_or_default(),
        "the Discord token is missing: set the environment variable MAILCALL_TEST_UNSET_TOKEN"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_outlasts_the_deadline_is_deferred_then_answered() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Defer at once, as if the store were slow.
    let bot = TestBot::launch(fake, data, |c| {
        if let Some(d) = c.discord.as_mut() {
            d.defer_after = Duration::ZERO;
        }
    })
    .await;
    let id = bot.fake.next_snowflake();
    let token = format!("token-{id}");
    let data = slash_data(
        &["open"],
        &[
            ("title", "Slow disk day"),
            ("severity", "SEV4"),
            ("team", "design"),
        ],
    );
    bot.fake
        .send_interaction(command_interaction(
            id,
            &token,
            &alice(),
            COMMAND_CHANNEL,
            data,
        ))
        .await;
    let first = bot.callback(id, &token).await;
    assert_eq!(first["type"], json!(5), "deferred first: {first}");
    let original = format!("/api/v10/webhooks/{APPLICATION_ID}/{token}/messages/@original");
    let edit = bot
        .fake
        .wait_for_request(|r| r.method == "PATCH" && r.path == original, WAIT)
        .await
        .unwrap_or_else(|| panic!("the deferred answer never came"));
    assert!(
        content(&edit.body).contains("INC-1 opened: Slow disk day"),
        "{}",
        edit.body
    );
    assert_eq!(
        edit.body.pointer("/allowed_mentions/parse"),
        Some(&json!([]))
    );
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_from_polled_history_and_a_dead_feed_is_announced() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parsed = dead_feed(
        data.path(),
        "[[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n\n",
    );
    let bot = TestBot::launch(fake, data, move |c| use_feeds(c, parsed)).await;
    let development = channel_of(Team::Development);
    assert!(
        wait_until(|| !bot.posts_to(development).is_empty()).await,
        "no stale-feed notice"
    );
    // The dead feed is an alert in development's channel, pinging only
    // development's role, with its figures, runbook and buttons.
    let post = bot.posts_to(development)[0].body.clone();
    let notice = content(&post);
    assert_eq!(
        notice,
        format!(
            "<@&{}> 🔴 CRITICAL · alert #1 · dead-sg/account · feed (stale-feed)",
            role_of(Team::Development)
        )
    );
    assert_eq!(
        post.pointer("/allowed_mentions/roles"),
        Some(&json!([role_of(Team::Development).to_string()]))
    );
    let description = post
        .pointer("/embeds/0/description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        description.contains("dead-sg: 1 polls failed in a row"),
        "{description}"
    );
    assert!(description.contains("missing, not zero"), "{description}");
    assert!(!post.to_string().contains("SG.never-shown"));
    let buttons = button_ids(&post);
    assert_eq!(
        buttons,
        [
            "alert:ack:1",
            "alert:snooze:1:1",
            "alert:snooze:1:24",
            "alert:incident:1",
            "alert:false-alarm:1"
        ]
    );
    assert!(
        bot.posts_to(channel_of(Team::Marketing)).is_empty(),
        "stale feeds go to development only"
    );

    // Acknowledge from the button: a private answer, and the post is edited.
    let ack = bot.press(&alice(), 1, "alert:ack:1").await;
    assert!(
        content(&ack).contains("alert #1 acknowledged by alice"),
        "{ack}"
    );
    assert!(is_ephemeral(&ack));
    assert!(
        wait_until(|| bot.fake.requests().iter().any(|r| r.method == "PATCH"
            && r.path
                .starts_with(&format!("/api/v10/channels/{development}/messages/"))))
        .await,
        "the alert post was not edited"
    );
    let snooze_denied = bot.press(&nobody(), 1, "alert:snooze:1:24").await;
    assert!(
        content(&snooze_denied).contains("you need a team role"),
        "{snooze_denied}"
    );
    // The slash command answers as privately as the button.
    let snoozed = bot
        .slash(
            &alice(),
            &["alert", "snooze"],
            &[("id", "1"), ("for", "1h")],
        )
        .await;
    assert!(
        content(&snoozed).contains("alert #1 snoozed for 1 h by alice"),
        "{snoozed}"
    );
    assert!(is_ephemeral(&snoozed), "{snoozed}");

    let mut reply = Value::Null;
    for _ in 0..50 {
        reply = bot
            .slash(&carol(), &["metrics"], &[("stream", "tag:welcome")])
            .await;
        if content(&reply).contains("sandbox-main / tag:welcome") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        content(&reply).contains("sandbox-main / tag:welcome — latest bucket"),
        "{reply}"
    );
    assert!(is_ephemeral(&reply));
    let unknown = bot
        .slash(&carol(), &["metrics"], &[("stream", "tag:nope")])
        .await;
    assert!(
        content(&unknown).contains("⚠ no history for stream tag:nope"),
        "{unknown}"
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_alerts_remind_the_team_then_escalate_to_admins() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parsed = dead_feed(
        data.path(),
        "[alerts]\nremind_minutes = { critical = 0 }\nescalate_minutes = { critical = 0 }\n\n",
    );
    let bot = TestBot::launch(fake, data, move |c| {
        c.alerting = parsed.alerting.clone();
        c.alert_tick = Duration::from_millis(100);
        use_feeds(c, parsed);
    })
    .await;
    let development = channel_of(Team::Development);
    let contents = |bot: &TestBot| -> Vec<String> {
        bot.posts_to(development)
            .iter()
            .map(|r| content(&r.body))
            .collect()
    };
    assert!(
        wait_until(|| contents(&bot)
            .iter()
            .any(|c| c.contains("escalated to incident-admin")))
        .await,
        "{:?}",
        contents(&bot)
    );
    let posts = contents(&bot);
    let reminder = posts.iter().position(|c| {
        c.starts_with(&format!(
            "<@&{}> ⏰ reminder: alert #1",
            role_of(Team::Development)
        ))
    });
    let escalation = posts.iter().position(|c| {
        c == &format!(
            "<@&{ADMIN_ROLE}> 📣 escalated to incident-admin: alert #1 is not acknowledged"
        )
    });
    assert!(
        matches!((reminder, escalation), (Some(r), Some(e)) if r < e),
        "{posts:?}"
    );
    // Each fires once, however many ticks pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        contents(&bot)
            .iter()
            .filter(|c| c.contains("escalated"))
            .count(),
        1
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

/// `run` asks Discord who the bot is before anything else: a refused token
/// stops it at once with a sentence naming where the token comes from
/// (never the token, though Discord's answer here echoes it), and so does a
/// Discord that cannot be reached, instead of retrying silently for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_or_an_unreachable_discord_stops_run_with_a_sentence() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fake.reject_token("fake-token");
    let refused = tokio::time::timeout(
        WAIT,
        service::run(config(&fake, data.path()), std::future::pending()),
    )
    .await
    .unwrap_or_else(|_| panic!("run kept going with a refused token"));
    let message = match refused {
        Err(e) => e.to_string(),
        Ok(()) => panic!("run accepted a refused token"),
    };
    assert!(
        message.contains("Discord refused the bot token (401 Unauthorized)")
            && message.contains("the token in the file"),
        "{message}"
    );
    assert!(!message.contains("fake-token"), "{message}");
    assert!(fake.identify_count() == 0, "the gateway was reached anyway");
    assert!(
        !config(&fake, data.path()).store_path.exists(),
        "the store was created before the token was checked"
    );

    let mut unreachable = config(&fake, data.path());
    if let Some(d) = unreachable.discord.as_mut() {
        d.api_base = Some("http://127.0.0.1:9".into());
    }
    let stopped = tokio::time::timeout(WAIT, service::run(unreachable, std::future::pending()))
        .await
        .unwrap_or_else(|_| panic!("run kept retrying an unreachable Discord"));
    let message = match stopped {
        Err(e) => e.to_string(),
        Ok(()) => panic!("run started without Discord"),
    };
    assert!(
        message.contains("cannot reach Discord at http://127.0.0.1:9"),
        "{message}"
    );
}

/// A change's posts are committed with it, in the store's outbox, and
/// delivered from there: a process that committed a change and died before
/// sending anything (here: the engine used directly, with no bot running)
/// leaves the announcement in the outbox, and the next start posts it, once,
/// and empties the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_committed_before_a_crash_are_sent_at_the_next_start() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store_path = config(&fake, data.path()).store_path;
    {
        let store = SledStore::open(&store_path).unwrap_or_else(|e| panic!("{e}"));
        let mut engine = mailcall::command::Engine::new(
            store,
            std::sync::Arc::new(mailcall::clock::SystemClock),
        );
        let invocation = mailcall::console::parse_line(
            "/incident open title:\"Sent after the crash\" severity:SEV2 team:marketing",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no command"));
        let caller = mailcall::domain::Caller::operator(mailcall::domain::Actor::console("ops"));
        let outcome = engine
            .handle(&caller, &invocation)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.posted.len(), 1, "{outcome:?}");
        assert_eq!(
            engine.pending_posts().map(|p| p.len()).ok(),
            Some(1),
            "the announcement is in the outbox"
        );
    }
    let bot = TestBot::start_on(fake, data).await;
    let marketing = channel_of(Team::Marketing);
    assert!(
        wait_until(|| bot
            .posts_to(marketing)
            .iter()
            .any(|p| p.body.to_string().contains("Sent after the crash")))
        .await,
        "the committed announcement was never posted"
    );
    let (fake, data) = bot.stop().await;
    let announcements = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == format!("/api/v10/channels/{marketing}/messages")
                && r.body.to_string().contains("Sent after the crash")
        })
        .count();
    assert_eq!(announcements, 1);
    let store =
        SledStore::open(&config(&fake, data.path()).store_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.outbox().map(|o| o.len()).ok(), Some(0));
}

/// `GET path` on the bot's HTTP endpoint: (status, body).
async fn http_get(bot: &TestBot, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{}{path}", bot.http))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The value of one sample in a Prometheus exposition, read with a
/// text-format parser.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}"));
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// `/healthz` answers; `/metrics` is Prometheus text that a parser reads,
/// with incidents by status, commands handled, outbox depth and each feed's
/// failures; `/readyz` is ready once Discord is connected, and turns
/// unready, saying why, when an ESP feed goes stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_prometheus_metrics_over_http() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bot = TestBot::launch(fake, data, |_| {}).await;
    assert_eq!(http_get(&bot, "/healthz").await.0, 200);
    assert!(
        wait_until_async(|| async { http_get(&bot, "/readyz").await.0 == 200 }).await,
        "never ready: {:?}",
        http_get(&bot, "/readyz").await
    );
    bot.open_incident("Metrics over HTTP").await;
    let (status, text) = http_get(&bot, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        sample(&text, "mailcall_incidents", &[("status", "open")]),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "mailcall_commands_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "mailcall_outbox_depth", &[]).is_some(),
        "{text}"
    );
    assert!(text.contains("mailcall_command_seconds_bucket"), "{text}");
    let (fake, data) = bot.stop().await;

    // With an ESP whose feed fails, readiness names the stale feed.
    let parsed = dead_feed(data.path(), "");
    let bot = TestBot::launch(fake, data, move |c| use_feeds(c, parsed)).await;
    assert!(
        wait_until_async(|| async {
            http_get(&bot, "/readyz")
                .await
                .1
                .contains("dead-sg is stale")
        })
        .await,
        "{:?}",
        http_get(&bot, "/readyz").await
    );
    let (status, body) = http_get(&bot, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains("SG.never-shown"), "{body}");
    let (_, text) = http_get(&bot, "/metrics").await;
    assert!(
        sample(
            &text,
            "mailcall_poll_consecutive_failures",
            &[("account", "dead-sg")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let _ = bot.stop().await;
}

/// Concurrent commands commit in groups: every one is answered, only once
/// its change is durable (each answered incident is in the store when it
/// is reopened), each opened incident gets its own id, and `/metrics`
/// counts the changes and the syncs that made them durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_commands_is_committed_in_groups_and_each_is_answered_once_durable() {
    const BURST: usize = 40;
    let bot = TestBot::start().await;
    let mut sent = Vec::new();
    for i in 0..BURST {
        let id = bot.fake.next_snowflake();
        let token = format!("token-{id}");
        let interaction = command_interaction(
            id,
            &token,
            &alice(),
            COMMAND_CHANNEL,
            slash_data(
                &["open"],
                &[
                    ("title", &format!("Burst incident {i}")),
                    ("severity", "SEV3"),
                    ("team", "integration"),
                ],
            ),
        );
        let fake = bot.fake.clone();
        sent.push((
            id,
            token,
            tokio::spawn(async move { fake.send_interaction(interaction).await }),
        ));
    }
    let mut opened = std::collections::BTreeSet::new();
    for (id, token, send) in sent {
        send.await.unwrap_or_else(|e| panic!("{e}"));
        let reply = bot.callback(id, &token).await;
        let text = reply["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let incident = text
            .split_whitespace()
            .find(|w| w.starts_with("INC-"))
            .unwrap_or_else(|| panic!("no incident in {text:?}"))
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
            .to_string();
        opened.insert(incident);
    }
    assert_eq!(opened.len(), BURST, "{opened:?}");
    let (_, text) = http_get(&bot, "/metrics").await;
    let changes = sample(&text, "mailcall_store_changes_total", &[]).unwrap_or_default();
    let syncs = sample(&text, "mailcall_store_syncs_total", &[]).unwrap_or_default();
    assert!(changes >= BURST as f64, "{text}");
    assert!(
        syncs >= 1.0 && syncs <= changes,
        "{syncs} syncs for {changes} changes"
    );
    let (fake, data) = bot.stop().await;
    let store =
        SledStore::open(&config(&fake, data.path()).store_path).unwrap_or_else(|e| panic!("{e}"));
    let stored: std::collections::BTreeSet<String> = store
        .all()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|incident| incident.id.to_string())
        .collect();
    assert!(
        opened.is_subset(&stored),
        "answered {opened:?}, stored {stored:?}"
    );
}

/// `/readyz` turns unready, saying why, while Discord cannot be reached,
/// and ready again once the bot has reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_discord_connection() {
    let bot = TestBot::start().await;
    assert!(
        wait_until_async(|| async { http_get(&bot, "/readyz").await.0 == 200 }).await,
        "never ready: {:?}",
        http_get(&bot, "/readyz").await
    );
    bot.fake.refuse_gateway(true);
    bot.fake.close_gateway().await;
    assert!(
        wait_until_async(|| async {
            let (status, body) = http_get(&bot, "/readyz").await;
            status == 503 && body.contains("Discord is not connected")
        })
        .await,
        "still ready with Discord unreachable: {:?}",
        http_get(&bot, "/readyz").await
    );
    bot.fake.refuse_gateway(false);
    assert!(
        wait_until_async(|| async { http_get(&bot, "/readyz").await.0 == 200 }).await,
        "not ready again after reconnecting: {:?}",
        http_get(&bot, "/readyz").await
    );
    let _ = bot.stop().await;
}

/// `/metrics` shows how long the oldest undelivered post has waited: it
/// grows while Discord refuses an announcement, and is back to zero, with
/// an empty outbox, once the post went out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_age_is_exported_while_a_post_waits() {
    let bot = TestBot::start().await;
    let announcements = format!("/channels/{}/messages", channel_of(Team::Integration));
    bot.fake.fail_next_with("POST", &announcements, 10_000, 500);
    let _ = bot
        .slash(
            &alice(),
            &["open"],
            &[
                ("title", "Waiting post"),
                ("severity", "SEV3"),
                ("team", "integration"),
            ],
        )
        .await;
    let gauge = |text: &str, name: &str| sample(text, name, &[]).unwrap_or(-1.0);
    assert!(
        wait_until_async(|| async {
            let text = http_get(&bot, "/metrics").await.1;
            gauge(&text, "mailcall_outbox_oldest_seconds") >= 1.0
                && gauge(&text, "mailcall_outbox_depth") >= 1.0
        })
        .await,
        "{}",
        http_get(&bot, "/metrics").await.1
    );
    bot.fake.clear_failures();
    assert!(
        wait_until_async(|| async {
            let text = http_get(&bot, "/metrics").await.1;
            gauge(&text, "mailcall_outbox_oldest_seconds") == 0.0
                && gauge(&text, "mailcall_outbox_depth") == 0.0
        })
        .await,
        "{}",
        http_get(&bot, "/metrics").await.1
    );
    let _ = bot.stop().await;
}

/// [`wait_until`] for a condition that must await.
async fn wait_until_async<F, Fut>(condition: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A configuration for the command line next to a running `bot`: its
/// store and its HTTP address, plus `extra` (ESP accounts), in `dir`.
fn cli_config_for(bot: &TestBot, dir: &Path, extra: &str) -> std::path::PathBuf {
    let store_path = config(&bot.fake, bot.data.path()).store_path;
    let path = dir.join("cli.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\npath = {:?}\n\n[http]\nlisten = \"{}\"\n\n{extra}",
            store_path.display().to_string(),
            bot.http
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    path
}

/// `mailcall backup` works while the bot runs: the store is held, so the
/// command asks the bot over its HTTP address and writes what it sends;
/// the backup restores into a store with the bot's incidents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_taken_from_the_running_bot() {
    let bot = TestBot::start().await;
    bot.open_incident("Backed up while running").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cli_config = cli_config_for(&bot, dir.path(), "");
    let file = dir.path().join("running.backup");
    let output = tokio::task::spawn_blocking({
        let (cli_config, file) = (cli_config.clone(), file.clone());
        move || {
            super::common::mailcall()
                .args(["backup", "--config"])
                .arg(&cli_config)
                .arg("--out")
                .arg(&file)
                .output()
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let restored = dir.path().join("restored");
    let mut input =
        std::io::BufReader::new(std::fs::File::open(&file).unwrap_or_else(|e| panic!("{e}")));
    mailcall::store::restore_backup(&restored, &mut input).unwrap_or_else(|e| panic!("{e}"));
    let store = SledStore::open(&restored).unwrap_or_else(|e| panic!("{e}"));
    let titles: Vec<String> = store
        .all()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|i| i.title.to_string())
        .collect();
    assert_eq!(titles, ["Backed up while running"]);
    drop(store);
    let _ = bot.stop().await;
}

/// While the bot holds the store, `mailcall backfill` and `mailcall
/// metrics` still work: they ask the bot over its HTTP address, the bot
/// fetches the history itself, and the series read back reach as far back
/// as the backfill went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_metrics_work_while_the_bot_runs() {
    let esp = "[[esp]]\nname = \"sandbox-main\"\nprovider = \"sandbox\"\nscenario = \"steady\"\nschedule = \"0 * * * *\"\nstreams = \"all\"\n";
    let parsed = Config::parse(Path::new("esp.toml"), esp).unwrap_or_else(|e| panic!("{e}"));
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bot = TestBot::launch(fake, data, move |c| use_feeds(c, parsed)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cli_config = cli_config_for(&bot, dir.path(), esp);
    let run = |args: Vec<String>| {
        let cli_config = cli_config.clone();
        tokio::task::spawn_blocking(move || {
            super::common::mailcall()
                .args(&args)
                .arg("--config")
                .arg(&cli_config)
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    let backfilled = run(vec!["backfill".into(), "--days".into(), "3".into()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let said = String::from_utf8_lossy(&backfilled.stdout).to_string();
    assert!(
        backfilled.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&backfilled.stderr)
    );
    assert!(
        said.contains("from 1 account(s) over 3 days; 0 window(s) failed")
            && !said.contains("backfill: 0 samples"),
        "{said}"
    );
    let since = (chrono::Utc::now() - chrono::Duration::days(4)).to_rfc3339();
    let read = run(vec![
        "metrics".into(),
        "--csv".into(),
        "--stream".into(),
        "tag:welcome".into(),
        "--since".into(),
        since,
    ])
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let csv = String::from_utf8_lossy(&read.stdout).to_string();
    assert!(
        read.status.success(),
        "{csv}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(csv.starts_with("account,stream,bucket_start,"), "{csv}");
    let oldest = csv
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(2))
        .filter_map(|start| chrono::DateTime::parse_from_rfc3339(start).ok())
        .min()
        .unwrap_or_else(|| panic!("no rows: {csv}"));
    assert!(
        chrono::Utc::now().signed_duration_since(oldest) > chrono::Duration::hours(60),
        "the series starts at {oldest}: the backfill did not reach back"
    );
    let _ = bot.stop().await;
}

/// A post being retried holds up only its own incident's posts: while one
/// incident's announcement keeps getting 500s, another incident's
/// announcement in another channel goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_being_retried_does_not_hold_up_other_incidents() {
    let bot = TestBot::start().await;
    let integration = format!(
        "/api/v10/channels/{}/messages",
        channel_of(Team::Integration)
    );
    let marketing = format!("/api/v10/channels/{}/messages", channel_of(Team::Marketing));
    bot.fake.fail_next_with("POST", &integration, 3, 503);
    let _ = bot
        .slash(
            &alice(),
            &["open"],
            &[
                ("title", "Held up"),
                ("severity", "SEV2"),
                ("team", "integration"),
            ],
        )
        .await;
    let _ = bot
        .slash(
            &alice(),
            &["open"],
            &[
                ("title", "Not held up"),
                ("severity", "SEV3"),
                ("team", "marketing"),
            ],
        )
        .await;
    assert!(
        wait_until(|| bot
            .requests_to("POST", &integration)
            .iter()
            .any(|r| r.status == 200))
        .await,
        "the retried announcement never arrived"
    );
    let requests = bot.fake.requests();
    let position = |path: &str| {
        requests
            .iter()
            .position(|r| r.method == "POST" && r.path == path && r.status == 200)
            .unwrap_or_else(|| panic!("no successful post to {path}"))
    };
    assert!(
        position(&marketing) < position(&integration),
        "the other incident's announcement waited behind the retries"
    );
    assert_eq!(
        bot.requests_to("POST", &integration)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [503, 503, 503, 200]
    );
    let _ = bot.stop().await;
}

/// With `[all_alerts]` set, each new alert is also posted there, pinging
/// nobody, and that copy is refreshed with the teams' posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_is_copied_to_the_all_alerts_channel_without_a_ping() {
    const ALL_ALERTS: u64 = 6200;
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parsed = dead_feed(data.path(), "");
    let bot = TestBot::launch(fake, data, move |c| {
        if let Some(discord) = c.discord.as_mut() {
            discord.all_alerts_channel = Some(Snowflake(ALL_ALERTS));
        }
        use_feeds(c, parsed);
    })
    .await;
    assert!(
        wait_until(|| !bot.posts_to(ALL_ALERTS).is_empty()).await,
        "no copy in the all-alerts channel"
    );
    let copies = bot.posts_to(ALL_ALERTS);
    assert_eq!(copies.len(), 1);
    let copy = &copies[0].body;
    assert!(
        content(copy).contains("dead-sg/account · feed (stale-feed)"),
        "{copy}"
    );
    assert!(!content(copy).contains("<@&"), "no mention: {copy}");
    assert_eq!(copy.pointer("/allowed_mentions/parse"), Some(&json!([])));
    assert!(
        !bot.posts_to(channel_of(Team::Development)).is_empty(),
        "the owning team still gets its post"
    );
    let _ = bot.press(&alice(), 1, "alert:ack:1").await;
    assert!(
        wait_until(|| bot.fake.requests().iter().any(|r| r.method == "PATCH"
            && r.path
                .starts_with(&format!("/api/v10/channels/{ALL_ALERTS}/messages/"))))
        .await,
        "the copy was not refreshed after the acknowledgement"
    );
    let _ = bot.stop().await;
}

/// With rotations, a new alert mentions the routed team's member on duty
/// beside its role, and nobody else: not another team's member on duty,
/// not anyone in the all-alerts copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_mentions_the_routed_teams_member_on_duty_and_only_them() {
    const ALL_ALERTS: u64 = 6200;
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parsed = dead_feed(data.path(), "");
    let rotations = mailcall::config::Config::parse(
        std::path::Path::new("mc.toml"),
        "[rotations.development]\nmembers = [{ name = \"dora\", discord_id = \"9001\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\nstart = \"2020-01-06\"\n\n\
         [rotations.design]\nmembers = [{ name = \"dana\", discord_id = \"9002\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\nstart = \"2020-01-06\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .rotations;
    let bot = TestBot::launch(fake, data, move |c| {
        if let Some(discord) = c.discord.as_mut() {
            discord.all_alerts_channel = Some(Snowflake(ALL_ALERTS));
        }
        c.rotations = rotations;
        use_feeds(c, parsed);
    })
    .await;
    let development = channel_of(Team::Development);
    assert!(
        wait_until(|| !bot.posts_to(development).is_empty() && !bot.posts_to(ALL_ALERTS).is_empty()).await,
        "no stale-feed alert"
    );
    let post = bot.posts_to(development)[0].body.clone();
    assert_eq!(
        content(&post),
        format!(
            "<@&{}> <@9001> (on duty) 🔴 CRITICAL · alert #1 · dead-sg/account · feed (stale-feed)",
            role_of(Team::Development)
        )
    );
    assert_eq!(
        post.pointer("/allowed_mentions/roles"),
        Some(&json!([role_of(Team::Development).to_string()]))
    );
    assert_eq!(
        post.pointer("/allowed_mentions/users"),
        Some(&json!(["9001"]))
    );
    assert!(
        !post.to_string().contains("9002"),
        "design's member is not told: {post}"
    );
    let copy = &bot.posts_to(ALL_ALERTS)[0].body;
    assert!(
        !content(copy).contains("<@"),
        "the copy pings nobody: {copy}"
    );
    assert_eq!(copy.pointer("/allowed_mentions/parse"), Some(&json!([])));
    let _ = bot.stop().await;
}

/// `/duty override` tells the team's channel, mentioning the member who
/// takes over and the members whose shifts it covers, and nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duty_override_mentions_the_member_taking_over_and_those_covered_only() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // One member, so whoever is on duty is known whatever today's date.
    let rotations = mailcall::config::Config::parse(
        std::path::Path::new("mc.toml"),
        "[rotations.integration]\nmembers = [{ name = \"ines\", discord_id = \"9001\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\nstart = \"2020-01-06\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .rotations;
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let from = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let to = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let refused = bot
        .slash(
            &alice(),
            &["duty", "override"],
            &[
                ("team", "integration"),
                ("member", "5009"),
                ("from", &from),
                ("to", &to),
                ("reason", "cover @everyone"),
            ],
        )
        .await;
    assert!(
        content(&refused["data"]).contains("only incident-admin may override a rotation"),
        "{refused}"
    );
    let done = bot
        .slash(
            &olga(),
            &["duty", "override"],
            &[
                ("team", "integration"),
                ("member", "5009"),
                ("from", &from),
                ("to", &to),
                ("reason", "cover @everyone"),
            ],
        )
        .await;
    assert!(
        content(&done["data"]).contains("user5009 is on duty from"),
        "{done}"
    );
    let integration = channel_of(Team::Integration);
    assert!(
        wait_until(|| !bot.posts_to(integration).is_empty()).await,
        "the team was not told"
    );
    let post = bot.posts_to(integration)[0].body.clone();
    assert!(
        content(&post).starts_with("<@5009> <@9001> 🗓️ integration: user5009 is on duty from"),
        "{post}"
    );
    assert_eq!(
        post.pointer("/allowed_mentions/users"),
        Some(&json!(["5009", "9001"]))
    );
    assert_eq!(post.pointer("/allowed_mentions/roles"), Some(&json!([])));
    assert_eq!(post.pointer("/allowed_mentions/parse"), Some(&json!([])));
    assert!(
        !content(&post).contains("@everyone"),
        "the reason cannot ping: {post}"
    );
    let _ = bot.stop().await;
}

/// A rotation of one member, who is therefore on duty whatever today's
/// date.
fn single_member_rotation(
    team: &str,
    name: &str,
    discord_id: u64,
) -> Vec<mailcall::duty::Rotation> {
    mailcall::config::Config::parse(
        std::path::Path::new("mc.toml"),
        &format!(
            "[rotations.{team}]\nmembers = [{{ name = \"{name}\", discord_id = \"{discord_id}\" }}]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\nstart = \"2020-01-06\"\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .rotations
}

/// A new incident is assigned to each routed team's member on duty, and
/// that team's announcement mentions them beside the role; a team without
/// a rotation gets its role only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_incident_mentions_each_teams_member_on_duty_as_its_assignee() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rotations = single_member_rotation("integration", "ines", 9001);
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let reply = bot.open_incident("Welcome series bouncing").await;
    assert!(
        content(&reply["data"]).contains("Assignees (on duty): integration: ines."),
        "{reply}"
    );
    let integration = bot.posts_to(channel_of(Team::Integration))[0].body.clone();
    assert!(
        content(&integration).starts_with(&format!(
            "<@&{}> <@9001> new incident INC-1",
            role_of(Team::Integration)
        )),
        "{integration}"
    );
    assert_eq!(
        integration.pointer("/allowed_mentions/users"),
        Some(&json!(["9001"]))
    );
    let marketing = bot.posts_to(channel_of(Team::Marketing))[0].body.clone();
    assert!(
        content(&marketing).starts_with(&format!("<@&{}> new incident", role_of(Team::Marketing))),
        "{marketing}"
    );
    assert_eq!(
        marketing
            .pointer("/allowed_mentions/users")
            .cloned()
            .unwrap_or(json!([])),
        json!([])
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

/// `/duty swap` asks the other member with Accept and Decline buttons in
/// the team's channel; only they can accept; accepted, the swap is an
/// override that `/duty schedule` shows, and both members are told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_is_asked_with_buttons_accepted_by_the_member_asked_and_both_are_told() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rotations = single_member_rotation("integration", "alice", 5001);
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let day = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let (from, to) = (day(1), day(3));
    let asked = bot
        .slash(
            &alice(),
            &["duty", "swap"],
            &[
                ("team", "integration"),
                ("member", "5002"),
                ("from", &from),
                ("to", &to),
                ("reason", "dentist @everyone"),
            ],
        )
        .await;
    assert!(
        content(&asked["data"]).starts_with("Swap #1 asked: user5002 decides by"),
        "{asked}"
    );
    let integration = channel_of(Team::Integration);
    assert!(
        wait_until(|| !bot.posts_to(integration).is_empty()).await,
        "the member asked was not told"
    );
    let request = bot.posts_to(integration)[0].body.clone();
    assert!(
        content(&request)
            .starts_with("<@5002> 🔄 integration: user5002, alice asks you to take their duty"),
        "{request}"
    );
    assert_eq!(
        request.pointer("/allowed_mentions/users"),
        Some(&json!(["5002"]))
    );
    let buttons = button_ids(&request);
    assert_eq!(buttons, ["duty:swap-accept:1", "duty:swap-decline:1"]);
    // Someone else pressing Accept is refused.
    let refused = bot.press(&olga(), 1, "duty:swap-accept:1").await;
    assert!(
        content(&refused).contains("swap #1 asks user5002; only they can answer it"),
        "{refused}"
    );
    let accepted = bot.press(&carol(), 1, "duty:swap-accept:1").await;
    assert!(
        content(&accepted).contains("accepted swap #1"),
        "{accepted}"
    );
    assert!(
        wait_until(|| bot.posts_to(integration).len() >= 2).await,
        "nobody was told of the acceptance"
    );
    let told = bot.posts_to(integration)[1].body.clone();
    assert!(
        content(&told).starts_with("<@5001> <@5002> 🤝 integration: user5002 accepted swap #1; user5002 is on duty instead of alice"),
        "{told}"
    );
    let schedule = bot
        .slash(
            &alice(),
            &["duty", "schedule"],
            &[("team", "integration"), ("weeks", "1")],
        )
        .await;
    assert!(
        content(&schedule["data"])
            .contains("user5002 (override #2 by user5002: swap #1, asked by alice: dentist"),
        "{schedule}"
    );
    let again = bot.press(&carol(), 1, "duty:swap-decline:1").await;
    assert!(
        content(&again).contains("swap #1 is already accepted"),
        "{again}"
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

/// `[alerts] mention = "on-duty"`: a new alert mentions the member on duty
/// instead of the team role; a team with nobody on duty keeps its role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mention_on_duty_an_alert_mentions_the_member_instead_of_the_role() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parsed = dead_feed(data.path(), "");
    let rotations = single_member_rotation("development", "dora", 9001);
    let bot = TestBot::launch(fake, data, move |c| {
        c.rotations = rotations;
        c.alerting.on_duty_only = true;
        use_feeds(c, parsed);
    })
    .await;
    let development = channel_of(Team::Development);
    assert!(
        wait_until(|| !bot.posts_to(development).is_empty()).await,
        "no stale-feed alert"
    );
    let post = bot.posts_to(development)[0].body.clone();
    assert_eq!(
        content(&post),
        "<@9001> (on duty) 🔴 CRITICAL · alert #1 · dead-sg/account · feed (stale-feed)"
    );
    assert_eq!(
        post.pointer("/allowed_mentions/users"),
        Some(&json!(["9001"]))
    );
    assert_eq!(
        post.pointer("/allowed_mentions/roles")
            .cloned()
            .unwrap_or(json!([])),
        json!([])
    );
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}

/// `/summary post` (admin) posts the week's summary in the summary channel
/// with its chart and a thread, pinging only the owners of open
/// prevention actions; `/summary now` shows anyone a private preview;
/// text typed by users pings nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_summary_is_posted_with_its_chart_and_pings_only_action_owners() {
    let bot = TestBot::start().await;
    bot.open_incident("Bounces @everyone <@5003>").await;
    bot.slash(
        &alice(),
        &["action", "add"],
        &[
            ("id", "INC-1"),
            ("text", "Prune the list @here"),
            ("owner", "5002"),
            ("due", "2026-01-02"),
        ],
    )
    .await;
    let week = mailcall::summary::Week::containing(chrono::Utc::now(), chrono_tz::UTC).to_string();

    let refused = bot
        .slash(&alice(), &["summary", "post"], &[("week", &week)])
        .await;
    assert!(
        content(&refused["data"]).contains("for incident-admins"),
        "{refused}"
    );
    let preview = bot
        .slash(&alice(), &["summary", "now"], &[("week", &week)])
        .await;
    assert!(is_ephemeral(&preview), "{preview}");
    assert!(
        content(&preview["data"]).contains(&format!("Weekly quality summary, {week}")),
        "{preview}"
    );

    let reply = bot
        .slash(&olga(), &["summary", "post"], &[("week", &week)])
        .await;
    assert!(
        content(&reply["data"]).contains("Posting the summary"),
        "{reply}"
    );
    let discussion = json!(format!("Weekly summary {week}: discussion"));
    assert!(
        wait_until(|| bot.threads().iter().any(|t| t.body["name"] == discussion)).await,
        "no summary posted with its discussion thread"
    );
    let posts = bot.posts_to(SUMMARY_CHANNEL);
    let text: String = posts.iter().map(|p| content(&p.body)).collect();
    assert!(
        text.contains(&format!("Weekly quality summary, {week}")),
        "{text}"
    );
    assert!(
        text.contains(
            "INC-1 #1: Prune the list @\u{200b}here (<@5002>, **overdue**, due 2026-01-02)"
        ),
        "{text}"
    );
    assert!(!text.contains("<@5003>"), "a title pinged a user: {text}");
    for post in &posts {
        assert_eq!(
            post.body["allowed_mentions"]["users"],
            json!(["5002"]),
            "{}",
            post.body
        );
    }
    let files: Vec<(String, Vec<u8>)> = posts.into_iter().flat_map(|p| p.files).collect();
    assert_eq!(files.len(), 2, "the chart and the whole summary");
    assert_eq!(files[0].0, format!("mailcall-summary-{week}.png"));
    assert_eq!(files[1].0, format!("mailcall-summary-{week}.md"));
    let whole = String::from_utf8_lossy(&files[1].1);
    assert!(
        whole.contains(
            "INC-1 #1: Prune the list @\u{200b}here (@user5002, **overdue**, due 2026-01-02)"
        ),
        "{whole}"
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(files[0].1.clone()));
    let reader = decoder.read_info().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (reader.info().width, reader.info().height),
        mailcall::summary::chart::SIZE
    );
    check_every_post(&bot.fake);
    bot.stop().await;
}

/// The quality reviewer's swap request goes to the quality channel (the
/// summary's), with Accept and Decline buttons, pinging only the member
/// asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_swap_is_asked_in_the_quality_channel_pinging_only_the_member_asked() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rotations = single_member_rotation("quality-reviewer", "alice", 5001);
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let day = |ahead: i64| {
        (chrono::Utc::now() + chrono::Duration::days(ahead))
            .format("%Y-%m-%d")
            .to_string()
    };
    let reply = bot
        .slash(
            &alice(),
            &["duty", "swap"],
            &[
                ("team", "quality-reviewer"),
                ("member", "5002"),
                ("from", &day(1)),
                ("to", &day(2)),
            ],
        )
        .await;
    assert!(
        content(&reply["data"]).starts_with("Swap #1 asked"),
        "{reply}"
    );
    assert!(
        wait_until(|| !bot.posts_to(SUMMARY_CHANNEL).is_empty()).await,
        "nothing posted in the quality channel"
    );
    let posts = bot.posts_to(SUMMARY_CHANNEL);
    assert_eq!(posts.len(), 1);
    let body = &posts[0].body;
    assert!(
        content(body).starts_with(
            "<@5002> 🔄 quality-reviewer: user5002, alice asks you to take their duty"
        ),
        "{body}"
    );
    assert_eq!(body["allowed_mentions"]["users"], json!(["5002"]), "{body}");
    assert_eq!(
        button_ids(body),
        ["duty:swap-accept:1", "duty:swap-decline:1"]
    );
    check_every_post(&bot.fake);
    bot.stop().await;
}

/// `/duty export` answers privately with an `.ics` attachment that a real
/// iCalendar parser reads, naming the member on duty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duty_export_attaches_the_rotations_calendar() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rotations = single_member_rotation("integration", "ines", 9001);
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let reply = bot
        .slash(
            &alice(),
            &["duty", "export"],
            &[("team", "integration"), ("weeks", "2")],
        )
        .await;
    assert!(
        content(&reply["data"])
            .starts_with("integration: the next 2 week(s) of shifts as an iCalendar file"),
        "{reply}"
    );
    assert!(is_ephemeral(&reply), "{reply}");
    let files: Vec<(String, Vec<u8>)> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/callback"))
        .flat_map(|r| r.files)
        .collect();
    assert_eq!(files.len(), 1, "one file");
    assert_eq!(files[0].0, "mailcall-duty-integration.ics");
    let ics = String::from_utf8(files[0].1.clone()).unwrap_or_else(|e| panic!("{e}"));
    let events = super::duty::events(&ics);
    assert!(!events.is_empty(), "{ics}");
    assert!(
        events
            .iter()
            .all(|(_, _, summary)| summary.starts_with("ines on duty: integration")),
        "{events:?}"
    );
    let _ = bot.stop().await;
}

/// A handoff missed while the bot was down is posted at start, in the
/// team's channel, mentioning the member now on duty and nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_handoff_is_posted_at_start_mentioning_only_the_member_on_duty() {
    let fake = FakeDiscord::start().await;
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The bot last ran eight days ago: last Monday's 09:00 UTC handoff was
    // missed.
    {
        let store = mailcall::store::SledStore::open(&data.path().join("db"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut engine = mailcall::command::Engine::new(
            store,
            std::sync::Arc::new(mailcall::clock::SystemClock)
                as std::sync::Arc<dyn mailcall::clock::Clock>,
        );
        let mut records = mailcall::scheduler::JobRecords::default();
        records.last_due.insert(
            "handoff:integration".into(),
            chrono::Utc::now() - chrono::Duration::days(8),
        );
        engine
            .scheduled(false, &[], None, &records)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let rotations = single_member_rotation("integration", "ines", 9001);
    let bot = TestBot::launch(fake, data, move |c| c.rotations = rotations).await;
    let integration = channel_of(Team::Integration);
    assert!(
        wait_until(|| !bot.posts_to(integration).is_empty()).await,
        "no handoff post"
    );
    let post = bot.posts_to(integration)[0].body.clone();
    assert!(
        content(&post).starts_with("<@9001> 🔁 integration handoff: ines is on duty now"),
        "{post}"
    );
    assert_eq!(
        post.pointer("/allowed_mentions/users"),
        Some(&json!(["9001"]))
    );
    assert_eq!(
        post.pointer("/allowed_mentions/roles")
            .cloned()
            .unwrap_or(json!([])),
        json!([])
    );
    assert_eq!(bot.posts_to(integration).len(), 1, "posted once");
    check_every_post(&bot.fake);
    let _ = bot.stop().await;
}
