//! mailcall's configuration: one TOML file, parsed then validated once into
//! typed values.
//!
//! Parsing keeps source spans so every error names the file, the line and
//! the key (`mailcall.toml:7:11: teams.sales: ...`). The defaults alone run
//! `mailcall demo`; a commented example lives in `data/mailcall.example.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod alerts;
mod esp;
mod rotations;

pub use esp::{CredentialSource, EspConfig, SandboxScenario};

use crate::domain::Team;
use crate::poll::PollerSettings;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it came from; `None` for the built-in defaults.
    pub source: Option<PathBuf>,
    /// The incident database directory.
    pub store_path: PathBuf,
    /// Where each team is told about incidents. Every team has an entry.
    pub teams: BTreeMap<Team, TeamConfig>,
    /// Where status changes are announced for people outside the four teams.
    pub stakeholder_channel: Option<String>,
    /// A channel that gets a copy of every alert besides the owning teams'
    /// channels (`[all_alerts]`), without mentions.
    pub all_alerts_channel: Option<String>,
    /// How to reach Discord; `None` when the file has no `[discord]` table.
    pub discord: Option<DiscordConfig>,
    /// The ESP accounts to poll (`[[esp]]` tables).
    pub esp: Vec<EspConfig>,
    /// How the poller behaves (`[poll]`).
    pub poll: PollerSettings,
    /// How long the metric history keeps samples (`[poll] keep_days`).
    pub keep_history: chrono::Duration,
    /// Detection thresholds, routing and escalation delays.
    pub alerting: crate::alerting::AlertingConfig,
    /// Recurring quiet windows from `[[alerts.quiet]]`.
    pub quiet_windows: Vec<crate::alert::QuietWindow>,
    /// How often alert timers (reminders, escalation, silences) are
    /// checked. Not read from the file; tests shorten it.
    pub alert_tick: std::time::Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`[http]
    /// listen`); `None`: not served.
    pub http_listen: Option<std::net::SocketAddr>,
    /// On-duty rotations (`[rotations.<team>]`, `[rotations.quality-reviewer]`).
    pub rotations: Vec<crate::duty::Rotation>,
    /// Where the weekly summary is posted (`[summary] channel`); the
    /// stakeholder channel, else development's, when unset.
    pub summary_channel: Option<String>,
    /// When and in which zone the weekly summary is made (`[summary]
    /// schedule` and `timezone`; Mondays 09:00 UTC by default).
    pub summary: crate::command::summary::SummarySettings,
}

/// A Discord snowflake id (guild, channel, role), checked to be a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(pub u64);

/// Where the Discord token comes from. The token itself is read only when
/// `mailcall run` starts, and is never logged or shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable (`DISCORD_TOKEN` by default).
    Env(String),
    /// A file holding the token (trailing whitespace ignored).
    File(PathBuf),
}

/// The `[discord]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordConfig {
    /// The server the bot works in; commands are registered there.
    pub guild_id: Snowflake,
    pub token: TokenSource,
    /// Override of `https://discord.com`, for tests against a fake Discord.
    /// Setting it also turns serenity's rate limiter off (serenity ignores
    /// the override otherwise); mailcall then retries 429s itself.
    pub api_base: Option<String>,
    /// Roles whose members may close any incident.
    pub admin_roles: Vec<Snowflake>,
    /// Channel for stakeholder status posts (`[stakeholders]`).
    pub stakeholder_channel: Option<Snowflake>,
    /// Channel for a copy of every alert (`[all_alerts]`).
    pub all_alerts_channel: Option<Snowflake>,
    /// Channel for the weekly summary (`[summary] discord_channel_id`);
    /// the stakeholder channel, else development's, when unset.
    pub summary_channel: Option<Snowflake>,
    /// Each team's channel and role.
    pub teams: BTreeMap<Team, DiscordTeam>,
    /// How long a command may run before its interaction is deferred
    /// (Discord wants an answer within 3 s). Not read from the file: the
    /// default leaves a second for the round trip; tests shorten it to
    /// exercise the deferred path.
    pub defer_after: std::time::Duration,
}

/// The default for [`DiscordConfig::defer_after`].
pub const DEFER_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A team in Discord.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordTeam {
    pub channel: Snowflake,
    /// Members with this role act for the team; alerts mention it.
    pub role: Snowflake,
}

/// One team's chat settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamConfig {
    /// The channel's name as shown in the terminal (`#integration`).
    pub channel: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            store_path: PathBuf::from("data/mailcall.db"),
            teams: Team::ALL
                .iter()
                .map(|t| {
                    (
                        *t,
                        TeamConfig {
                            channel: t.as_str().to_string(),
                        },
                    )
                })
                .collect(),
            stakeholder_channel: Some("email-status".to_string()),
            all_alerts_channel: None,
            discord: None,
            esp: Vec::new(),
            poll: PollerSettings::default(),
            keep_history: crate::store::DEFAULT_KEEP,
            alerting: crate::alerting::AlertingConfig::default(),
            quiet_windows: Vec::new(),
            alert_tick: std::time::Duration::from_secs(30),
            http_listen: None,
            rotations: Vec::new(),
            summary_channel: None,
            summary: crate::command::summary::SummarySettings::default(),
        }
    }
}

/// Where and why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub column: usize,
    /// The dotted key the error is about, when it can be told.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    chat: RawChat,
    stakeholders: Option<RawChannel>,
    all_alerts: Option<RawChannel>,
    summary: Option<RawSummary>,
    #[serde(default)]
    teams: BTreeMap<Spanned<String>, RawTeam>,
    discord: Option<RawDiscord>,
    #[serde(default)]
    esp: Vec<esp::RawEsp>,
    #[serde(default)]
    poll: esp::RawPoll,
    #[serde(default)]
    alerts: alerts::RawAlerts,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    rotations: BTreeMap<Spanned<String>, rotations::RawRotation>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    guild_id: Spanned<String>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    api_base: Option<Spanned<String>>,
    #[serde(default)]
    admin_role_ids: Vec<Spanned<String>>,
    stakeholder_channel_id: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChat {
    stakeholder_channel: Option<Spanned<String>>,
}

/// A channel other than a team's: its name (the console's label and the
/// text of posts) and, with Discord, its id. One table, as for teams.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    channel: Option<Spanned<String>>,
    discord_channel_id: Option<Spanned<String>>,
}

/// The `[summary]` table: where and when the weekly summary is posted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    channel: Option<Spanned<String>>,
    discord_channel_id: Option<Spanned<String>>,
    /// A cron expression in `timezone`; Mondays 09:00 by default.
    schedule: Option<Spanned<String>>,
    /// Weeks and days are read in this zone; UTC by default.
    timezone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    channel: Spanned<String>,
    discord_channel_id: Option<Spanned<String>>,
    discord_role_id: Option<Spanned<String>>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the file: {}", crate::os_error::reason(&e)),
        })?;
        let source = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let text = String::from_utf8_lossy(&bytes[..valid]);
            let (line, column) = line_column(&text, text.len());
            ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                key: key_at(&text, text.len()),
                message: format!(
                    "the file is not UTF-8 text (byte 0x{:02x} here); save it as UTF-8",
                    bytes.get(valid).copied().unwrap_or_default()
                ),
            }
        })?;
        Config::parse(path, &source)
    }

    /// Validates configuration text; `path` is only used in messages and to
    /// resolve relative paths.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        let at = |span: Range<usize>, key: Option<String>, message: String| {
            let (line, column) = line_column(source, span.start);
            ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                key: key.or_else(|| key_at(source, span.start)),
                message,
            }
        };
        let mut raw: RawConfig = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            at(span, None, plain_message(e.message().trim()))
        })?;

        let mut config = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };
        if let Some(store_path) = raw.store.path {
            if store_path.get_ref().trim().is_empty() {
                return Err(at(
                    store_path.span(),
                    Some("store.path".into()),
                    "must not be empty".into(),
                ));
            }
            config.store_path = PathBuf::from(store_path.into_inner());
        }
        if let Some(channel) = raw.chat.stakeholder_channel {
            return Err(at(
                channel.span(),
                Some("chat.stakeholder_channel".into()),
                "moved: the stakeholder channel is configured once, in [stakeholders] (channel = \"name\", discord_channel_id = \"id\")".into(),
            ));
        }
        let mut channel_ids: [Option<Spanned<String>>; 3] = [None, None, None];
        let summary_channel = raw.summary.as_ref().map(|s| RawChannel {
            channel: s.channel.clone(),
            discord_channel_id: s.discord_channel_id.clone(),
        });
        if let Some(summary) = &raw.summary {
            let default = |text: &str| Spanned::new(0..0, text.to_string());
            let schedule = summary
                .schedule
                .clone()
                .unwrap_or_else(|| default(crate::command::summary::DEFAULT_SCHEDULE));
            let zone = summary.timezone.clone().unwrap_or_else(|| default("UTC"));
            let parsed = esp::cron_in_zone(
                (&schedule, Some("summary.schedule".into())),
                (&zone, Some("summary.timezone".into())),
                &at,
            )?;
            config.summary = crate::command::summary::SummarySettings {
                zone: parsed.time_zone(),
                schedule: Some(parsed),
                ..crate::command::summary::SummarySettings::default()
            };
        }
        for (slot, table, raw_channel, name) in [
            (
                0,
                "stakeholders",
                raw.stakeholders,
                &mut config.stakeholder_channel,
            ),
            (
                1,
                "all_alerts",
                raw.all_alerts,
                &mut config.all_alerts_channel,
            ),
            (2, "summary", summary_channel, &mut config.summary_channel),
        ] {
            let Some(raw_channel) = raw_channel else {
                continue;
            };
            if let Some(channel) = raw_channel.channel {
                *name = Some(
                    check_channel(channel.get_ref())
                        .map_err(|m| at(channel.span(), Some(format!("{table}.channel")), m))?,
                );
            }
            channel_ids[slot] = raw_channel.discord_channel_id;
        }
        let [stakeholder_id, all_alerts_id, summary_id] = channel_ids;
        let snowflake = |value: &Spanned<String>, key: String| -> Result<Snowflake, ConfigError> {
            value
                .get_ref()
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Snowflake)
                .ok_or_else(|| {
                    at(
                        value.span(),
                        Some(key),
                        format!("`{}` is not a Discord id (a number)", value.get_ref()),
                    )
                })
        };
        let mut discord_teams = BTreeMap::new();
        for (name, team) in raw.teams {
            let key = format!("teams.{}", name.get_ref());
            let parsed: Team =
                name.get_ref()
                    .parse()
                    .map_err(|e: crate::domain::UnknownWord| {
                        at(name.span(), Some(key.clone()), e.to_string())
                    })?;
            let channel = check_channel(team.channel.get_ref())
                .map_err(|m| at(team.channel.span(), Some(format!("{key}.channel")), m))?;
            config.teams.insert(parsed, TeamConfig { channel });
            match (&team.discord_channel_id, &team.discord_role_id) {
                (Some(channel), Some(role)) => {
                    let channel = snowflake(channel, format!("{key}.discord_channel_id"))?;
                    let role = snowflake(role, format!("{key}.discord_role_id"))?;
                    discord_teams.insert(parsed, DiscordTeam { channel, role });
                }
                (None, None) => {}
                (Some(v), None) | (None, Some(v)) => {
                    return Err(at(
                        v.span(),
                        Some(key),
                        "give both discord_channel_id and discord_role_id, or neither".into(),
                    ))
                }
            }
        }
        if let Some(discord) = raw.discord {
            let guild_id = snowflake(&discord.guild_id, "discord.guild_id".into())?;
            let token = match (discord.token_env, discord.token_file) {
                (Some(env), None) => TokenSource::Env(env.into_inner()),
                (None, Some(file)) => TokenSource::File(PathBuf::from(file.into_inner())),
                (None, None) => TokenSource::Env("DISCORD_TOKEN".into()),
                (Some(_), Some(file)) => {
                    return Err(at(
                        file.span(),
                        Some("discord.token_file".into()),
                        "give token_env or token_file, not both".into(),
                    ))
                }
            };
            let api_base = match discord.api_base {
                Some(base)
                    if !(base.get_ref().starts_with("http://")
                        || base.get_ref().starts_with("https://")) =>
                {
                    return Err(at(
                        base.span(),
                        Some("discord.api_base".into()),
                        "must start with http:// or https://".into(),
                    ))
                }
                other => other.map(|b| b.into_inner().trim_end_matches('/').to_string()),
            };
            let admin_roles = discord
                .admin_role_ids
                .iter()
                .map(|r| snowflake(r, "discord.admin_role_ids".into()))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(moved) = &discord.stakeholder_channel_id {
                return Err(at(
                    moved.span(),
                    Some("discord.stakeholder_channel_id".into()),
                    "moved: the stakeholder channel is configured once, in [stakeholders] (discord_channel_id = \"id\")".into(),
                ));
            }
            let stakeholder_channel = stakeholder_id
                .as_ref()
                .map(|c| snowflake(c, "stakeholders.discord_channel_id".into()))
                .transpose()?;
            let all_alerts_channel = all_alerts_id
                .as_ref()
                .map(|c| snowflake(c, "all_alerts.discord_channel_id".into()))
                .transpose()?;
            let summary_channel = summary_id
                .as_ref()
                .map(|c| snowflake(c, "summary.discord_channel_id".into()))
                .transpose()?;
            if let Some(team) = Team::ALL.iter().find(|t| !discord_teams.contains_key(t)) {
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line: 0,
                    column: 0,
                    key: Some(format!("teams.{team}")),
                    message: "with a [discord] table every team needs discord_channel_id and discord_role_id".into(),
                });
            }
            config.discord = Some(DiscordConfig {
                guild_id,
                token,
                api_base,
                admin_roles,
                stakeholder_channel,
                all_alerts_channel,
                summary_channel,
                teams: discord_teams,
                defer_after: DEFER_AFTER,
            });
        }
        if let Some(listen) = raw.http.listen {
            config.http_listen = Some(listen.get_ref().parse().map_err(|_| {
                at(
                    listen.span(),
                    Some("http.listen".into()),
                    format!(
                        "`{}` is not an address and port such as 127.0.0.1:9187",
                        listen.get_ref()
                    ),
                )
            })?);
        }
        config.esp = esp::accounts(raw.esp, &at)?;
        config.rotations = rotations::rotations(raw.rotations, &at)?;
        (config.poll, config.keep_history) = esp::poll_settings(raw.poll, &at)?;
        let runbook_dir = raw.alerts.runbook_dir.take();
        (config.alerting, config.quiet_windows) = alerts::alerting(raw.alerts, &at)?;
        alerts::provider_presets(&mut config.alerting, &config.esp);
        config.summary.limits =
            crate::command::summary::SummarySettings::limits_of(&config.alerting.detector);
        config.alerting.settle = config
            .esp
            .iter()
            .map(|esp| (esp.name.clone(), esp.settle))
            .collect();
        config.resolve_paths(path);
        if let Some(dir) = runbook_dir {
            let span = dir.span();
            let mut dir = PathBuf::from(dir.into_inner());
            if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if dir.is_relative() {
                    dir = base.join(dir);
                }
            }
            let runbooks = crate::alerting::runbooks::Runbooks::from_dir(&dir)
                .map_err(|why| at(span, Some("alerts.runbook_dir".into()), why))?;
            config.alerting.runbooks = std::sync::Arc::new(runbooks);
        }
        Ok(config)
    }

    /// Makes every relative path in the configuration relative to the
    /// directory of the file that names it, not to wherever the bot was
    /// started from: the store, the Discord token file and ESP credential
    /// files.
    fn resolve_paths(&mut self, file: &Path) {
        let Some(base) = file.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return;
        };
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.store_path);
        if let Some(discord) = &mut self.discord {
            if let TokenSource::File(path) = &mut discord.token {
                resolve(path);
            }
        }
        for esp in &mut self.esp {
            if let CredentialSource::File(path) = &mut esp.credential {
                resolve(path);
            }
        }
    }

    /// The channel the weekly summary goes to, by name: `[summary]
    /// channel`, else the stakeholder channel, else development's.
    pub fn summary_channel_name(&self) -> &str {
        self.summary_channel
            .as_deref()
            .or(self.stakeholder_channel.as_deref())
            .unwrap_or_else(|| self.channel(Team::Development))
    }

    /// The channel name for a team.
    pub fn channel(&self, team: Team) -> &str {
        self.teams
            .get(&team)
            .map(|t| t.channel.as_str())
            .unwrap_or(team.as_str())
    }
}

fn check_channel(name: &str) -> Result<String, String> {
    let name = name.trim().trim_start_matches('#');
    if name.is_empty() {
        return Err("a channel name must not be empty".into());
    }
    if name.chars().count() > 100 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{name}` is not a channel name (at most 100 characters, no spaces)"
        ));
    }
    Ok(name.to_string())
}

/// 1-based line and column of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// The dotted key written on the line holding `offset`: the nearest table
/// header above it plus the key before `=` (or just the header, for errors
/// on a header line).
fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = source[line_start..].lines().next().unwrap_or("");
    // The table the line is in, with the index of each array-of-tables
    // element (`esp[1]`), counting the `[[esp]]` headers before it.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut table: Option<String> = None;
    for text in source[..line_start].lines().chain(std::iter::once(line)) {
        match table_header(text) {
            Some((name, true)) => {
                let count = counts.entry(name.clone()).or_insert(0);
                *count += 1;
                table = Some(format!("{name}[{}]", *count - 1));
            }
            Some((name, false)) => table = Some(indexed(&name, &counts)),
            None => {}
        }
    }
    if table_header(line).is_some() {
        return table;
    }
    let own_key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    match (table, own_key) {
        (Some(h), Some(k)) => Some(format!("{h}.{k}")),
        (None, Some(k)) => Some(k),
        (h, None) => h,
    }
}

/// `[name]` → `(name, false)`, `[[name]]` → `(name, true)`; `None` for any
/// other line (a key, a comment, an array's continuation).
fn table_header(line: &str) -> Option<(String, bool)> {
    let line = line.split('#').next().unwrap_or("").trim();
    let (inner, array) = match line.strip_prefix("[[") {
        Some(rest) => (rest.strip_suffix("]]")?, true),
        None => (line.strip_prefix('[')?.strip_suffix(']')?, false),
    };
    let name: String = inner
        .split('.')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(".");
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    (!name.is_empty() && name.chars().all(plain)).then_some((name, array))
}

/// `esp.extra` inside the second `[[esp]]` → `esp[1].extra`.
fn indexed(name: &str, counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .filter(|(array, _)| name.starts_with(&format!("{array}.")))
        .max_by_key(|(array, _)| array.len())
        .map(|(array, count)| format!("{array}[{}]{}", count - 1, &name[array.len()..]))
        .unwrap_or_else(|| name.to_owned())
}

/// serde's and toml's wording in words a user understands: no Rust type
/// names (`u64`, `i128`), and the nearest known setting for a typo.
fn plain_message(message: &str) -> String {
    let whole = "a whole number of at least 0";
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("the setting {rest} is missing here");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = found.replace(" as i128", "");
            let unsigned =
                expected.starts_with('u') && expected[1..].chars().all(|c| c.is_ascii_digit());
            if unsigned && found.starts_with("integer `") && !found.contains('-') {
                return format!(
                    "{found} is too large here: expected {whole} up to {}",
                    max_of(expected)
                );
            }
            let expected = match expected {
                "u64" | "u32" | "u16" | "u8" | "usize" => whole.to_owned(),
                "i64" | "i32" => "a whole number".to_owned(),
                "f64" | "f32" => "a number".to_owned(),
                "a string" => "text in quotes".to_owned(),
                other => other.to_owned(),
            };
            return format!("{found} is not allowed here: expected {expected}");
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = found.replace(" as i128", "");
            if expected.starts_with('u') && expected[1..].chars().all(|c| c.is_ascii_digit()) {
                return if found.contains('-') {
                    format!("{found} is not allowed here: expected {whole}")
                } else {
                    format!(
                        "{found} is too large here: expected {whole} up to {}",
                        max_of(expected)
                    )
                };
            }
            return format!("{found} is not allowed here: expected {expected}");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let split = rest
            .split_once(", expected one of ")
            .or_else(|| rest.split_once(", expected "));
        if let Some((field, expected)) = split {
            let field = field.trim_matches('`');
            let known: Vec<&str> = expected.split(", ").map(|k| k.trim_matches('`')).collect();
            let nearest = known
                .iter()
                .map(|k| (edit_distance(field, k), *k))
                .filter(|(distance, _)| *distance <= 2)
                .min();
            return match nearest {
                Some((_, k)) => format!("unknown setting `{field}`; did you mean `{k}`?"),
                None => format!(
                    "unknown setting `{field}`; the settings here are {}",
                    known.join(", ")
                ),
            };
        }
    }
    message.to_owned()
}

/// The largest value of an unsigned Rust integer type, for messages.
fn max_of(type_name: &str) -> String {
    match type_name {
        "u8" => u8::MAX.to_string(),
        "u16" => u16::MAX.to_string(),
        "u32" => u32::MAX.to_string(),
        _ => u64::MAX.to_string(),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> String {
        Config::parse(Path::new("mc.toml"), source)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_enough() {
        let config = Config::parse(Path::new("mc.toml"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.store_path, PathBuf::from("data/mailcall.db"));
        assert_eq!(config.channel(Team::Design), "design");
    }

    const ROTATION: &str = "[rotations.integration]\nmembers = [{ name = \"alice\", discord_id = \"111\" }, { name = \"bob\" }]\nshift = \"1w\"\nhandoff = \"0 9 * * MON\"\ntimezone = \"Europe/Paris\"\nstart = \"2026-11-02\"\n";

    #[test]
    fn a_rotation_is_read_with_its_members_shift_handoff_and_start() {
        let config =
            Config::parse(Path::new("mc.toml"), ROTATION).unwrap_or_else(|e| panic!("{e}"));
        let [rotation] = config.rotations.as_slice() else {
            panic!("one rotation: {:?}", config.rotations)
        };
        assert_eq!(
            rotation.name,
            crate::duty::RotationName::Team(Team::Integration)
        );
        let ids: Vec<&str> = rotation.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["111", "console:bob"]);
        assert_eq!(rotation.timing.shift_days, 7);
        assert_eq!(rotation.timing.handoff.expression(), "0 9 * * MON");
        assert_eq!(rotation.timing.start.to_string(), "2026-11-02");
        assert_eq!(rotation.gap_notice_days, 14, "the default notice");
    }

    #[test]
    fn a_bad_rotation_is_refused_at_its_line_with_what_to_write() {
        for (from, to, expected) in [
            ("[rotations.integration]", "[rotations.sales]", "mc.toml:1:12: rotations.sales: `sales` is not a rotation; use one of marketing, design, integration, development, quality-reviewer"),
            ("shift = \"1w\"", "shift = \"1 week\"", "mc.toml:3:9: rotations.integration.shift: `1 week` is not a shift length"),
            ("start = \"2026-11-02\"", "start = \"next monday\"", "mc.toml:6:9: rotations.integration.start: `next monday` is not a date"),
            ("start = \"2026-11-02\"", "start = \"2026-11-02\"\ngap_notice = \"soon\"", "mc.toml:7:14: rotations.integration.gap_notice: `soon` is not a notice period"),
            ("Europe/Paris", "Europe/Pariss", "mc.toml:5:12: rotations.integration.timezone: `Europe/Pariss` is not a time zone"),
            ("shift = \"1w\"", "shift = \"1d\"", "mc.toml:4:11: rotations.integration.handoff: the handoff `0 9 * * MON` fires less often than every 1 day(s)"),
            ("discord_id = \"111\"", "discord_id = \"@alice\"", "rotations.integration.members[0].discord_id: `@alice` is not a Discord user id"),
            ("name = \"bob\"", "name = \"alice\", discord_id = \"111\"", "rotations.integration.members[1].name: alice is listed twice"),
        ] {
            let message = error(&ROTATION.replace(from, to));
            assert!(message.contains(expected), "{expected}\n  got: {message}");
        }
        let empty = error(&ROTATION.replace(
            "[{ name = \"alice\", discord_id = \"111\" }, { name = \"bob\" }]",
            "[]",
        ));
        assert!(empty.contains("needs at least one member"), "{empty}");
    }

    #[test]
    fn team_channels_are_overridable() {
        let config = Config::parse(
            Path::new("mc.toml"),
            "[teams.design]\nchannel = \"#creative\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.channel(Team::Design), "creative");
    }

    const DISCORD: &str = "[discord]\nguild_id = \"3000\"\n\
        [teams.marketing]\nchannel = \"m\"\ndiscord_channel_id = \"1\"\ndiscord_role_id = \"11\"\n\
        [teams.design]\nchannel = \"d\"\ndiscord_channel_id = \"2\"\ndiscord_role_id = \"12\"\n\
        [teams.integration]\nchannel = \"i\"\ndiscord_channel_id = \"3\"\ndiscord_role_id = \"13\"\n\
        [teams.development]\nchannel = \"v\"\ndiscord_channel_id = \"4\"\ndiscord_role_id = \"14\"\n";

    #[test]
    fn discord_settings_become_typed_ids() {
        let config = Config::parse(Path::new("mc.toml"), DISCORD).unwrap_or_else(|e| panic!("{e}"));
        let discord = config.discord.unwrap_or_else(|| panic!("no discord"));
        assert_eq!(discord.guild_id, Snowflake(3000));
        assert_eq!(discord.token, TokenSource::Env("DISCORD_TOKEN".into()));
        assert_eq!(
            discord
                .teams
                .get(&Team::Design)
                .map(|t| (t.channel, t.role)),
            Some((Snowflake(2), Snowflake(12)))
        );
    }

    #[test]
    fn discord_mistakes_are_named() {
        let bad_id = DISCORD.replace("guild_id = \"3000\"", "guild_id = \"general\"");
        assert_eq!(
            error(&bad_id),
            "mc.toml:2:12: discord.guild_id: `general` is not a Discord id (a number)"
        );
        let missing_role = DISCORD.replace("discord_role_id = \"12\"\n", "");
        assert!(
            error(&missing_role)
                .contains("teams.design: give both discord_channel_id and discord_role_id"),
            "{}",
            error(&missing_role)
        );
        let two_tokens = DISCORD.replace(
            "[discord]\n",
            "[discord]\ntoken_env = \"A\"\ntoken_file = \"b\"\n",
        );
        assert!(error(&two_tokens)
            .contains("discord.token_file: give token_env or token_file, not both"));
        let no_design = "[discord]\nguild_id = \"3000\"\n";
        assert!(
            error(no_design).contains("teams.marketing: with a [discord] table every team needs")
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        assert_eq!(
            error("[store]\npath = \"x\"\n\n[teams.sales]\nchannel = \"s\"\n"),
            "mc.toml:4:8: teams.sales: `sales` is not a team; expected one of: marketing, design, integration, development"
        );
        assert_eq!(
            error("[store]\npath = 5\n"),
            "mc.toml:2:8: store.path: integer `5` is not allowed here: expected text in quotes"
        );
        assert_eq!(
            error("[store]\npaht = \"x\"\n"),
            "mc.toml:2:1: store.paht: unknown setting `paht`; did you mean `path`?"
        );
        assert!(error("[stakeholders]\nchannel = \"two words\"\n")
            .starts_with("mc.toml:2:11: stakeholders.channel:"));
        assert!(error("[chat]\nstakeholder_channel = \"status\"\n")
            .starts_with("mc.toml:2:23: chat.stakeholder_channel: moved: the stakeholder channel is configured once, in [stakeholders]"));
        assert!(error("[store\n").starts_with("mc.toml:1:"));
    }

    #[test]
    fn elements_of_arrays_of_tables_are_named_with_their_index() {
        let two = "[[esp]]\nname = \"a\"\nprovider = \"sandbox\"\nschedule = \"0 * * * *\"\n\n\
                   [[esp]]\nname = \"b\"\nprovider = \"sandbox\"\n";
        assert_eq!(
            error(two),
            "mc.toml:6:1: esp[1]: the setting `schedule` is missing here"
        );
        assert_eq!(
            error(&format!("{two}schedule = \"0 * * * *\"\nwindow_hours = -1\n")),
            "mc.toml:10:16: esp[1].window_hours: integer `-1` is not allowed here: expected a whole number of at least 0"
        );
        assert_eq!(
            error("[[esp]]\nname = \"a\"\ncredentials_env = \"K\"\n"),
            "mc.toml:3:1: esp[0].credentials_env: unknown setting `credentials_env`; did you mean `credential_env`?"
        );
        assert_eq!(
            error("[alerts]\nmin_volume = 99999999999999999999999\n"),
            "mc.toml:2:14: alerts.min_volume: integer `99999999999999999999999` is too large here: expected a whole number of at least 0 up to 18446744073709551615"
        );
    }

    #[test]
    fn the_summary_table_sets_channel_schedule_and_zone() {
        let config = Config::parse(
            Path::new("mc.toml"),
            "[summary]\nchannel = \"quality\"\nschedule = \"30 8 * * TUE\"\ntimezone = \"America/New_York\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.summary_channel_name(), "quality");
        assert_eq!(config.summary.zone, chrono_tz::America::New_York);
        assert_eq!(
            config.summary.schedule.as_ref().map(|s| s.expression()),
            Some("30 8 * * TUE")
        );
        // The chart's limits are the detector's hard limits.
        assert_eq!(config.summary.limits.bounce, Some(0.05));
        // Without the table: the stakeholder channel, Mondays 09:00 UTC.
        let plain = Config::default();
        assert_eq!(plain.summary_channel_name(), "email-status");
        assert_eq!(plain.summary.zone, chrono_tz::UTC);
        assert!(error("[summary]\ntimezone = \"Europe/Pariss\"\n")
            .starts_with("mc.toml:2:12: summary.timezone: "));
        assert!(error("[summary]\nschedule = \"9 * * MON\"\n")
            .starts_with("mc.toml:2:12: summary.schedule: "));
        assert!(error("[summary]\nzone = \"UTC\"\n")
            .starts_with("mc.toml:2:1: summary.zone: unknown setting `zone`"));
    }

    #[test]
    fn a_file_that_is_not_utf8_is_named_at_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("mc.toml");
        std::fs::write(&file, b"[store]\npath = \"\xff\"\n").unwrap_or_else(|e| panic!("{e}"));
        let error = Config::load(&file)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            error,
            format!(
                "{}:2:9: store.path: the file is not UTF-8 text (byte 0xff here); save it as UTF-8",
                file.display()
            )
        );
    }
}
