//! The `[[esp]]` tables and the `[poll]` table: which ESP accounts to poll,
//! how, and when.
//!
//! Validation happens here, once, at load time (a schedule string becomes a
//! [`Schedule`], a stream list becomes stream keys); credentials are only
//! *located* here and read when polling starts, so `check-config` works on a
//! machine that does not hold the secrets.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use crate::delivery::{BucketWidth, StreamKey};
use crate::esp::account::{Account, Credential, KeyPair, Provider, StreamSelection};
use crate::esp::sandbox::Scenario;
use crate::poll::{PlannedAccount, PollerSettings};
use crate::schedule::Schedule;

/// Where a credential comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Env(String),
    File(PathBuf),
    /// The sandbox needs none.
    None,
}

/// Where the public parts of a signing key pair come from (SES): the
/// secret half is the account's credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPairSource {
    /// The access key ID, written in the configuration (`key_id`) or read
    /// from an environment variable (`key_id_env`).
    pub key_id: KeyIdSource,
    /// The environment variable holding a session token, and whether it
    /// must be set (it was configured) or is read only when present (the
    /// provider's default variable).
    pub session_token_env: Option<(String, bool)>,
    /// The region the requests are signed for.
    pub region: String,
}

/// Where an access key ID comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyIdSource {
    Value(String),
    Env(String),
}

/// The sandbox's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxScenario {
    /// Healthy traffic.
    Steady,
    /// The demo's story: a bounce spike and a silent automation.
    Demo,
}

/// A validated `[[esp]]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct EspConfig {
    pub name: String,
    pub provider: Provider,
    /// Empty when the key names it (Mailchimp's data centre): then read
    /// with the key, at plan time.
    pub base_url: String,
    pub credential: CredentialSource,
    pub domain: Option<String>,
    pub streams: StreamSelection,
    pub bucket: BucketWidth,
    pub window: Duration,
    pub timeout: Duration,
    /// For a provider that signs its requests (SES).
    pub key_pair: Option<KeyPairSource>,
    /// The user a service account acts for (Gmail Postmaster Tools).
    pub subject: Option<String>,
    pub schedule: Schedule,
    pub scenario: Option<SandboxScenario>,
    /// How long after a bucket ends its counts are taken as final enough to
    /// judge (late bounces and complaints keep arriving for a while).
    pub settle: chrono::Duration,
}

impl EspConfig {
    /// Reads the credential and returns the account ready to poll. The
    /// error names the variable or file, never a value.
    pub fn plan(&self, now: chrono::DateTime<chrono::Utc>) -> Result<PlannedAccount, String> {
        let credential = match &self.credential {
            CredentialSource::None => Credential::new(""),
            CredentialSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Credential::new(value.trim()),
                _ => {
                    return Err(format!(
                        "ESP account {}: set the environment variable {name} to its API key",
                        self.name
                    ))
                }
            },
            CredentialSource::File(path) => match std::fs::read_to_string(path) {
                Ok(value) if !value.trim().is_empty() => Credential::new(value.trim()),
                Ok(_) => {
                    return Err(format!(
                        "ESP account {}: the key file {} is empty",
                        self.name,
                        path.display()
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "ESP account {}: cannot read the key file {}: {e}",
                        self.name,
                        path.display()
                    ))
                }
            },
        };
        if !matches!(self.credential, CredentialSource::None) {
            self.provider
                .check_credential(credential.expose())
                .map_err(|why| {
                    let from = match &self.credential {
                        CredentialSource::Env(name) => format!("the environment variable {name}"),
                        CredentialSource::File(path) => format!("the key file {}", path.display()),
                        CredentialSource::None => String::new(),
                    };
                    format!("ESP account {}: {from}: {why}", self.name)
                })?;
        }
        let key_pair = match &self.key_pair {
            None => None,
            Some(source) => Some(self.key_pair(source)?),
        };
        let base_url = if self.base_url.is_empty() {
            self.provider
                .base_url_for_credential(credential.expose())
                .ok_or_else(|| {
                    format!(
                        "ESP account {}: its key does not end in the data centre (such as -us6); set region = \"us6\" or base_url",
                        self.name
                    )
                })?
        } else {
            self.base_url.clone()
        };
        Ok(PlannedAccount {
            account: Account {
                name: self.name.clone(),
                provider: self.provider,
                base_url,
                credential,
                domain: self.domain.clone(),
                streams: self.streams.clone(),
                bucket: self.bucket,
                window: self.window,
                timeout: self.timeout,
                key_pair,
                subject: self.subject.clone(),
            },
            schedule: self.schedule.clone(),
            scenario: self.scenario.map(|s| match s {
                SandboxScenario::Steady => Scenario::steady(),
                SandboxScenario::Demo => Scenario::demo(now),
            }),
        })
    }
}

impl EspConfig {
    /// The key pair's public parts, read now; the error names the
    /// variable, never a value.
    fn key_pair(&self, source: &KeyPairSource) -> Result<KeyPair, String> {
        let set = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let key_id = match &source.key_id {
            KeyIdSource::Value(value) => value.clone(),
            KeyIdSource::Env(name) => set(name).ok_or_else(|| {
                format!(
                    "ESP account {}: set the environment variable {name} to its access key ID",
                    self.name
                )
            })?,
        };
        let session_token = match &source.session_token_env {
            None => None,
            Some((name, required)) => match set(name) {
                Some(token) => Some(Credential::new(token)),
                None if *required => {
                    return Err(format!(
                        "ESP account {}: set the environment variable {name} to its session token",
                        self.name
                    ))
                }
                None => None,
            },
        };
        Ok(KeyPair {
            key_id,
            session_token,
            region: source.region.clone(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEsp {
    name: Spanned<String>,
    provider: Spanned<String>,
    region: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    credential_env: Option<Spanned<String>>,
    credential_file: Option<Spanned<String>>,
    key_id: Option<Spanned<String>>,
    key_id_env: Option<Spanned<String>>,
    session_token_env: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    streams: Option<Spanned<RawStreams>>,
    bucket: Option<Spanned<String>>,
    schedule: Spanned<String>,
    #[serde(default = "utc")]
    timezone: Spanned<String>,
    window_hours: Option<Spanned<u64>>,
    timeout_seconds: Option<Spanned<u64>>,
    settle_minutes: Option<Spanned<u64>>,
    scenario: Option<Spanned<String>>,
}

fn utc() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStreams {
    Word(String),
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    max_concurrent: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    stale_after: Option<Spanned<u64>>,
    jitter_seconds: Option<Spanned<u64>>,
    keep_days: Option<Spanned<u64>>,
}

/// The fewest days of history `[poll] keep_days` may keep: the detectors'
/// baseline reaches five weeks back, the weekly comparison one more.
pub const MIN_KEEP_DAYS: u64 = 42;

/// The most `[poll] max_connections` may ask for: the open-file limit
/// mailcall asks for ([`crate::open_files::WANTED`]) bounds it anyway.
const MAX_CONNECTIONS: u64 = crate::open_files::WANTED;

/// Builds an error at a span.
pub(super) type At<'a> = &'a dyn Fn(Range<usize>, Option<String>, String) -> ConfigError;

/// A cron expression in a zone, each from its own key; an error points at
/// the zone's line when the zone is wrong (and was written), else at the
/// expression's.
pub(super) fn cron_in_zone(
    (expression, expression_key): (&Spanned<String>, Option<String>),
    (zone, zone_key): (&Spanned<String>, Option<String>),
    at: At<'_>,
) -> Result<Schedule, ConfigError> {
    Schedule::parse(expression.get_ref(), zone.get_ref().trim()).map_err(|e| {
        if e.to_string().contains("time zone") && zone.span() != (0..0) {
            at(zone.span(), zone_key, e.to_string())
        } else {
            at(expression.span(), expression_key, e.to_string())
        }
    })
}

/// The `[poll]` table: the poller's settings, and how long the metric
/// history keeps samples.
pub(super) fn poll_settings(
    raw: RawPoll,
    at: At<'_>,
) -> Result<(PollerSettings, chrono::Duration), ConfigError> {
    let mut keep = crate::store::DEFAULT_KEEP;
    if let Some(days) = raw.keep_days {
        if !(MIN_KEEP_DAYS..=36_500).contains(days.get_ref()) {
            return Err(at(
                days.span(),
                Some("poll.keep_days".into()),
                format!(
                    "must be between {MIN_KEEP_DAYS} (the detectors' baseline needs five \
                     weeks) and 36500"
                ),
            ));
        }
        keep = chrono::Duration::days(*days.get_ref() as i64);
    }
    let mut settings = PollerSettings::default();
    if let Some(n) = raw.max_concurrent {
        if !(1..=4096).contains(n.get_ref()) {
            return Err(at(
                n.span(),
                Some("poll.max_concurrent".into()),
                "must be between 1 and 4096".into(),
            ));
        }
        settings.max_concurrent = *n.get_ref() as usize;
    }
    if let Some(n) = raw.max_connections {
        if !(1..=MAX_CONNECTIONS).contains(n.get_ref()) {
            return Err(at(
                n.span(),
                Some("poll.max_connections".into()),
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            ));
        }
        settings.max_connections = *n.get_ref() as usize;
    }
    if let Some(n) = raw.stale_after {
        if !(1..=100).contains(n.get_ref()) {
            return Err(at(
                n.span(),
                Some("poll.stale_after".into()),
                "must be between 1 and 100".into(),
            ));
        }
        settings.stale_after = *n.get_ref() as u32;
    }
    if let Some(n) = raw.jitter_seconds {
        settings.jitter = Duration::from_secs(*n.get_ref());
    }
    Ok((settings, keep))
}

pub(super) fn accounts(raw: Vec<RawEsp>, at: At<'_>) -> Result<Vec<EspConfig>, ConfigError> {
    let mut accounts: Vec<EspConfig> = Vec::new();
    for (index, esp) in raw.into_iter().enumerate() {
        let key = |field: &str| Some(format!("esp[{index}].{field}"));
        let name = esp.name.get_ref().trim().to_string();
        if name.is_empty()
            || name.chars().count() > 60
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(at(
                esp.name.span(),
                key("name"),
                "must be 1–60 characters without spaces".into(),
            ));
        }
        if accounts.iter().any(|a| a.name == name) {
            return Err(at(
                esp.name.span(),
                key("name"),
                format!("`{name}` is used by another account"),
            ));
        }
        let provider = Provider::ALL
            .iter()
            .copied()
            .find(|p| {
                p.as_str()
                    .eq_ignore_ascii_case(esp.provider.get_ref().trim())
            })
            .ok_or_else(|| {
                let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
                at(
                    esp.provider.span(),
                    key("provider"),
                    format!(
                        "`{}` is not a provider; expected one of: {}",
                        esp.provider.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
        let region_name = esp
            .region
            .as_ref()
            .map(|r| r.get_ref().trim().to_lowercase())
            .unwrap_or_else(|| provider.default_region().to_owned());
        let base_url = match (&esp.base_url, &esp.region) {
            (Some(url), _) => {
                let url = url.get_ref().trim().trim_end_matches('/');
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(at(
                        esp.base_url.as_ref().map(|u| u.span()).unwrap_or(0..0),
                        key("base_url"),
                        "must start with http:// or https://".into(),
                    ));
                }
                url.to_string()
            }
            // The key names the data centre; read when the key is.
            (None, None) if region_name.is_empty() => String::new(),
            (None, region) => provider.default_base_url(&region_name).ok_or_else(|| {
                at(
                    region.as_ref().map(|r| r.span()).unwrap_or(0..0),
                    key("region"),
                    match provider.key_pair() {
                        Some(_) => {
                            format!("`{region_name}` is not a region name such as eu-west-1")
                        }
                        None => format!(
                            "{provider} has no `{region_name}` region; use us or eu (or base_url)"
                        ),
                    },
                )
            })?,
        };
        let key_pair_defaults = provider.key_pair();
        let key_pair = match key_pair_defaults {
            None => {
                let pair_keys = [
                    ("key_id", &esp.key_id),
                    ("key_id_env", &esp.key_id_env),
                    ("session_token_env", &esp.session_token_env),
                ];
                if let Some((field, Some(extra))) =
                    pair_keys.into_iter().find(|(_, value)| value.is_some())
                {
                    return Err(at(
                        extra.span(),
                        key(field),
                        format!(
                            "{} signs with one key: key_id, key_id_env and session_token_env are for key pairs (ses)",
                            provider.display_name()
                        ),
                    ));
                }
                None
            }
            Some(defaults) => {
                let key_id = match (&esp.key_id, &esp.key_id_env) {
                    (Some(_), Some(env)) => {
                        return Err(at(
                            env.span(),
                            key("key_id_env"),
                            "give key_id or key_id_env, not both".into(),
                        ))
                    }
                    (Some(value), None) => KeyIdSource::Value(value.get_ref().trim().to_owned()),
                    (None, Some(env)) => KeyIdSource::Env(env.get_ref().trim().to_owned()),
                    (None, None) => KeyIdSource::Env(defaults.key_id_env.to_owned()),
                };
                let session_token_env = match &esp.session_token_env {
                    Some(env) => Some((env.get_ref().trim().to_owned(), true)),
                    None => Some((defaults.session_token_env.to_owned(), false)),
                };
                Some(KeyPairSource {
                    key_id,
                    session_token_env,
                    region: region_name.clone(),
                })
            }
        };
        if let (Some(subject), false) = (&esp.subject, provider.acts_for_a_user()) {
            return Err(at(
                subject.span(),
                key("subject"),
                format!(
                    "{} does not act for a user; subject is for gmail-postmaster's service account",
                    provider.display_name()
                ),
            ));
        }
        let credential = match (&esp.credential_env, &esp.credential_file, provider) {
            (None, None, Provider::Sandbox) => CredentialSource::None,
            (None, None, _) if key_pair_defaults.is_some() => CredentialSource::Env(
                key_pair_defaults
                    .map(|defaults| defaults.secret_env.to_owned())
                    .unwrap_or_default(),
            ),
            (Some(env), None, _) => CredentialSource::Env(env.get_ref().trim().to_string()),
            (None, Some(file), _) => CredentialSource::File(PathBuf::from(file.get_ref().trim())),
            (Some(_), Some(file), _) => {
                return Err(at(
                    file.span(),
                    key("credential_file"),
                    "give credential_env or credential_file, not both".into(),
                ))
            }
            (None, None, _) => {
                return Err(at(
                    esp.name.span(),
                    key("credential_env"),
                    format!(
                        "{provider} needs credential_env or credential_file (never the key itself)"
                    ),
                ))
            }
        };
        if provider.needs_domain() && esp.domain.is_none() {
            return Err(at(
                esp.name.span(),
                key("domain"),
                format!(
                    "{} accounts need the sending domain",
                    provider.display_name()
                ),
            ));
        }
        let streams = match &esp.streams {
            None => StreamSelection::Account,
            Some(s) => match s.get_ref() {
                RawStreams::Word(w) if w == "account" => StreamSelection::Account,
                RawStreams::Word(w) if w == "all" && !provider.lists_streams() => {
                    return Err(at(
                        s.span(),
                        key("streams"),
                        format!("{} has no way to list an account's tags, so \"all\" would poll only the account total; name the streams: [\"account\", \"tag:welcome\", \"message-stream:outbound\"]", provider.display_name()),
                    ))
                }
                RawStreams::Word(w) if w == "all" => StreamSelection::AllDiscovered,
                RawStreams::Word(w) => return Err(at(s.span(), key("streams"), format!("`{w}` is not a stream selection; use \"account\", \"all\" or a list such as [\"tag:welcome\"]"))),
                RawStreams::List(list) => {
                    let mut keys = Vec::new();
                    for item in list {
                        if item.trim() == "account" {
                            keys.push(StreamKey::account());
                            continue;
                        }
                        let Some((kind, stream)) = item.split_once(':') else {
                            return Err(at(s.span(), key("streams"), format!("`{item}` is not a stream; write \"account\" or kind:name (tag:welcome, category:news, campaign:spring)")));
                        };
                        if !["tag", "category", "campaign", "message-stream", "sender", "audience", "domain"].contains(&kind) || stream.trim().is_empty() {
                            return Err(at(s.span(), key("streams"), format!("`{item}`: the kind must be tag, category, campaign, message-stream, sender, audience or domain")));
                        }
                        keys.push(StreamKey::new(item.trim()));
                    }
                    StreamSelection::Named(keys)
                }
            },
        };
        let bucket = match esp.bucket.as_ref().map(|b| b.get_ref().as_str()) {
            None | Some("hour") => BucketWidth::Hour,
            Some("day") => BucketWidth::Day,
            Some(other) => {
                return Err(at(
                    esp.bucket.as_ref().map(|b| b.span()).unwrap_or(0..0),
                    key("bucket"),
                    format!("`{other}` is not a bucket; use hour or day"),
                ))
            }
        };
        let schedule = cron_in_zone(
            (&esp.schedule, key("schedule")),
            (&esp.timezone, key("timezone")),
            at,
        )?;
        let window_hours = esp
            .window_hours
            .as_ref()
            .map(|w| *w.get_ref())
            .unwrap_or_else(|| provider.default_window_hours());
        if !(1..=24 * 90).contains(&window_hours) {
            return Err(at(
                esp.window_hours.as_ref().map(|w| w.span()).unwrap_or(0..0),
                key("window_hours"),
                "must be between 1 and 2160 (90 days)".into(),
            ));
        }
        let timeout = esp
            .timeout_seconds
            .as_ref()
            .map(|t| *t.get_ref())
            .unwrap_or(30);
        if !(1..=600).contains(&timeout) {
            return Err(at(
                esp.timeout_seconds
                    .as_ref()
                    .map(|t| t.span())
                    .unwrap_or(0..0),
                key("timeout_seconds"),
                "must be between 1 and 600".into(),
            ));
        }
        let settle_minutes = match &esp.settle_minutes {
            None => provider.default_settle_minutes(),
            Some(m) if *m.get_ref() <= 24 * 60 => *m.get_ref(),
            Some(m) => {
                return Err(at(
                    m.span(),
                    key("settle_minutes"),
                    "must be between 0 and 1440 (a day)".into(),
                ))
            }
        };
        let scenario = match (
            provider,
            esp.scenario
                .as_ref()
                .map(|s| (s.get_ref().as_str(), s.span())),
        ) {
            (Provider::Sandbox, None | Some(("steady", _))) => Some(SandboxScenario::Steady),
            (Provider::Sandbox, Some(("demo", _))) => Some(SandboxScenario::Demo),
            (Provider::Sandbox, Some((other, span))) => {
                return Err(at(
                    span,
                    key("scenario"),
                    format!("`{other}` is not a sandbox scenario; use steady or demo"),
                ))
            }
            (_, Some((_, span))) => {
                return Err(at(
                    span,
                    key("scenario"),
                    "only sandbox accounts have a scenario".into(),
                ))
            }
            (_, None) => None,
        };
        accounts.push(EspConfig {
            name,
            provider,
            base_url,
            credential,
            domain: esp.domain.map(|d| d.into_inner().trim().to_string()),
            streams,
            bucket,
            window: Duration::from_secs(window_hours * 3600),
            timeout: Duration::from_secs(timeout),
            key_pair,
            subject: esp
                .subject
                .map(|subject| subject.into_inner().trim().to_owned()),
            schedule,
            scenario,
            settle: chrono::Duration::minutes(settle_minutes as i64),
        });
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("mc.toml"), text).map_err(|e| e.to_string())
    }

    const SENDGRID: &str = "[[esp]]\nname = \"sg-main\"\nprovider = \"sendgrid\"\ncredential_env = \"SENDGRID_API_KEY\"\nstreams = [\"category:welcome\", \"category:news\"]\nschedule = \"*/15 * * * *\"\ntimezone = \"Europe/Paris\"\n";

    #[test]
    fn an_account_becomes_typed_values() {
        let config = parse(SENDGRID).unwrap_or_else(|e| panic!("{e}"));
        let esp = &config.esp[0];
        assert_eq!(esp.provider, Provider::SendGrid);
        assert_eq!(esp.base_url, "https://api.sendgrid.com");
        assert_eq!(
            esp.credential,
            CredentialSource::Env("SENDGRID_API_KEY".into())
        );
        assert_eq!(
            esp.streams,
            StreamSelection::Named(vec![
                StreamKey::new("category:welcome"),
                StreamKey::new("category:news")
            ])
        );
        assert_eq!(esp.window, Duration::from_secs(48 * 3600));
        assert_eq!(esp.schedule.to_string(), "*/15 * * * * in Europe/Paris");
        let eu = parse(&SENDGRID.replace("timezone", "region = \"eu\"\ntimezone"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eu.esp[0].base_url, "https://api.eu.sendgrid.com");
    }

    #[test]
    fn streams_can_combine_the_account_with_named_streams() {
        let esp = parse(&SENDGRID.replace(
            "[\"category:welcome\", \"category:news\"]",
            "[\"account\", \"category:news\"]",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            esp.esp[0].streams,
            StreamSelection::Named(vec![StreamKey::account(), StreamKey::new("category:news")])
        );
    }

    #[test]
    fn postmark_all_is_refused_with_what_to_write_instead() {
        let error = parse(
            &SENDGRID
                .replace("sendgrid", "postmark")
                .replace("[\"category:welcome\", \"category:news\"]", "\"all\""),
        )
        .err()
        .unwrap_or_default();
        assert!(
            error.contains("esp[0].streams: Postmark has no way to list an account's tags"),
            "{error}"
        );
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        assert_eq!(
            parse(&SENDGRID.replace("*/15 * * * *", "*/15 * * *"))
                .err()
                .unwrap_or_default()
                .split(": ")
                .take(2)
                .collect::<Vec<_>>(),
            ["mc.toml:6:12", "esp[0].schedule"]
        );
        let zone = parse(&SENDGRID.replace("Europe/Paris", "Europe/Pariss"))
            .err()
            .unwrap_or_default();
        assert!(
            zone.starts_with("mc.toml:7:12: esp[0].timezone: `Europe/Pariss` is not a time zone"),
            "{zone}"
        );
        let provider = parse(&SENDGRID.replace("sendgrid", "sendmail"))
            .err()
            .unwrap_or_default();
        assert!(
            provider.contains("esp[0].provider: `sendmail` is not a provider"),
            "{provider}"
        );
        let streams = parse(&SENDGRID.replace("category:news", "news"))
            .err()
            .unwrap_or_default();
        assert!(
            streams.contains("`news` is not a stream; write \"account\" or kind:name"),
            "{streams}"
        );
        let no_key = parse(&SENDGRID.replace("credential_env = \"SENDGRID_API_KEY\"\n", ""))
            .err()
            .unwrap_or_default();
        assert!(
            no_key.contains(
                "sendgrid needs credential_env or credential_file (never the key itself)"
            ),
            "{no_key}"
        );
        let twice = parse(&format!("{SENDGRID}{SENDGRID}"))
            .err()
            .unwrap_or_default();
        assert!(
            twice.contains("`sg-main` is used by another account"),
            "{twice}"
        );
        let mailgun = parse("[[esp]]\nname = \"mg\"\nprovider = \"mailgun\"\ncredential_env = \"K\"\nschedule = \"0 * * * *\"\n").err().unwrap_or_default();
        assert!(
            mailgun.contains("Mailgun accounts need the sending domain"),
            "{mailgun}"
        );
        let postmark_eu = parse(
            &SENDGRID
                .replace("sendgrid", "postmark")
                .replace("timezone", "region = \"eu\"\ntimezone"),
        )
        .err()
        .unwrap_or_default();
        assert!(
            postmark_eu.contains("postmark has no `eu` region"),
            "{postmark_eu}"
        );
    }

    #[test]
    fn an_ses_account_signs_with_a_key_pair_in_its_region() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let secret = dir.path().join("ses.key");
        std::fs::write(&secret, "ses-secret-value\n").unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "[[esp]]\nname = \"ses-eu\"\nprovider = \"ses\"\nregion = \"eu-west-1\"\nkey_id = \"AKIDEXAMPLE\"\ncredential_file = {:?}\nschedule = \"*/15 * * * *\"\n",
            secret.display().to_string()
        );
        let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let esp = &config.esp[0];
        assert_eq!(esp.base_url, "https://email.eu-west-1.amazonaws.com");
        assert_eq!(
            esp.key_pair,
            Some(KeyPairSource {
                key_id: KeyIdSource::Value("AKIDEXAMPLE".into()),
                session_token_env: Some(("AWS_SESSION_TOKEN".into(), false)),
                region: "eu-west-1".into(),
            })
        );
        // SES's review levels apply to the account without any setting.
        let settings = config
            .alerting
            .overrides
            .iter()
            .find(|o| o.account.as_deref() == Some("ses-eu"))
            .map(|o| o.settings.clone());
        assert_eq!(
            settings,
            Some(crate::detect::DetectorSettings {
                min_volume: config.alerting.detector.min_volume,
                ..crate::detect::DetectorSettings::ses()
            })
        );
        let planned = esp
            .plan(chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(planned.account.credential.expose(), "ses-secret-value");
        let pair = planned
            .account
            .key_pair
            .unwrap_or_else(|| panic!("a key pair"));
        assert_eq!(pair.key_id, "AKIDEXAMPLE");
        assert_eq!(pair.region, "eu-west-1");
    }

    #[test]
    fn an_ses_account_reads_the_aws_variables_by_default_and_names_what_is_missing() {
        let config = parse(
            "[[esp]]\nname = \"ses\"\nprovider = \"ses\"\nkey_id_env = \"MAILCALL_TEST_NO_KEY_ID\"\nschedule = \"0 * * * *\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let esp = &config.esp[0];
        assert_eq!(esp.base_url, "https://email.us-east-1.amazonaws.com");
        assert_eq!(
            esp.credential,
            CredentialSource::Env("AWS_SECRET_ACCESS_KEY".into())
        );
        let mut without_secret = esp.clone();
        without_secret.credential = CredentialSource::Env("MAILCALL_TEST_NO_SECRET".into());
        let error = without_secret
            .plan(chrono::Utc::now())
            .err()
            .unwrap_or_default();
        assert!(error.contains("MAILCALL_TEST_NO_SECRET"), "{error}");
        let mut without_key_id = esp.clone();
        without_key_id.credential = CredentialSource::None;
        let error = without_key_id
            .plan(chrono::Utc::now())
            .err()
            .unwrap_or_default();
        assert_eq!(
            error,
            "ESP account ses: set the environment variable MAILCALL_TEST_NO_KEY_ID to its access key ID"
        );
        let mut token_required = without_key_id.clone();
        if let Some(pair) = token_required.key_pair.as_mut() {
            pair.key_id = KeyIdSource::Value("AKID".into());
            pair.session_token_env = Some(("MAILCALL_TEST_NO_TOKEN".into(), true));
        }
        let error = token_required
            .plan(chrono::Utc::now())
            .err()
            .unwrap_or_default();
        assert!(
            error.contains("MAILCALL_TEST_NO_TOKEN") && error.contains("session token"),
            "{error}"
        );
    }

    #[test]
    fn a_mailchimp_account_finds_its_data_centre_in_its_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = dir.path().join("mc.key");
        let text = |extra: &str| {
            format!(
                "[[esp]]\nname = \"mc\"\nprovider = \"mailchimp\"\ncredential_file = {:?}\nschedule = \"0 * * * *\"\n{extra}",
                key.display().to_string()
            )
        };
        std::fs::write(&key, "0123456789abcdef-us6\n").unwrap_or_else(|e| panic!("{e}"));
        let config = parse(&text("")).unwrap_or_else(|e| panic!("{e}"));
        let planned = config.esp[0]
            .plan(chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(planned.account.base_url, "https://us6.api.mailchimp.com");
        // The campaigns preset: each send against the audience's previous ones.
        assert_eq!(
            config.alerting.overrides[0].settings.previous_sends,
            Some(crate::detect::CAMPAIGN_BASELINE_SENDS)
        );
        std::fs::write(&key, "0123456789abcdef\n").unwrap_or_else(|e| panic!("{e}"));
        let error = config.esp[0]
            .plan(chrono::Utc::now())
            .err()
            .unwrap_or_default();
        assert!(
            error.contains("data centre") && !error.contains("0123456789abcdef"),
            "{error}"
        );
        let named = parse(&text("region = \"eu1\"\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.esp[0].base_url, "https://eu1.api.mailchimp.com");
    }

    #[test]
    fn key_pair_settings_are_checked() {
        let ses = "[[esp]]\nname = \"ses\"\nprovider = \"ses\"\nschedule = \"0 * * * *\"\n";
        let bad_region =
            parse(&ses.replace("schedule", "region = \"eu-west-1.evil.example\"\nschedule"))
                .err()
                .unwrap_or_default();
        assert!(
            bad_region.contains("esp[0].region") && bad_region.contains("not a region name"),
            "{bad_region}"
        );
        let both = parse(&ses.replace("schedule", "key_id = \"A\"\nkey_id_env = \"B\"\nschedule"))
            .err()
            .unwrap_or_default();
        assert!(both.contains("esp[0].key_id_env"), "{both}");
        let subject =
            parse(&SENDGRID.replace("schedule", "subject = \"me@example.com\"\nschedule"))
                .err()
                .unwrap_or_default();
        assert!(subject.contains("esp[0].subject"), "{subject}");
        let on_sendgrid = parse(&SENDGRID.replace("schedule", "key_id = \"AKID\"\nschedule"))
            .err()
            .unwrap_or_default();
        assert!(
            on_sendgrid.contains("esp[0].key_id") && on_sendgrid.contains("signs with one key"),
            "{on_sendgrid}"
        );
    }

    #[test]
    fn credentials_are_read_at_plan_time_and_never_shown() {
        let config = parse(&SENDGRID.replace("SENDGRID_API_KEY", "MAILCALL_TEST_NEVER_SET"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = config.esp[0]
            .plan(chrono::Utc::now())
            .err()
            .unwrap_or_default();
        assert_eq!(err, "ESP account sg-main: set the environment variable MAILCALL_TEST_NEVER_SET to its API key");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = dir.path().join("key");
        std::fs::write(&key, "SG.secret-value\n").unwrap_or_else(|e| panic!("{e}"));
        let from_file = parse(&SENDGRID.replace(
            "credential_env = \"SENDGRID_API_KEY\"",
            &format!("credential_file = {:?}", key.display().to_string()),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let planned = from_file.esp[0]
            .plan(chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(planned.account.credential.expose(), "SG.secret-value");
        assert!(!format!("{planned:?}").contains("secret-value"));
    }

    #[test]
    fn poll_settings_are_checked() {
        let config = parse("[poll]\nmax_concurrent = 8\nstale_after = 5\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (config.poll.max_concurrent, config.poll.stale_after),
            (8, 5)
        );
        assert!(parse("[poll]\nmax_concurrent = 0\n")
            .err()
            .unwrap_or_default()
            .contains("poll.max_concurrent: must be between 1 and 4096"));
        assert_eq!(
            config.poll.max_connections,
            usize::MAX,
            "unbounded unless set"
        );
        let bounded = parse("[poll]\nmax_connections = 600\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bounded.poll.max_connections, 600);
        let none = parse("[poll]\nmax_connections = 0\n")
            .err()
            .unwrap_or_default();
        assert!(
            none.contains(":2:19: poll.max_connections: must be between 1 and 65536"),
            "{none}"
        );
        assert_eq!(config.keep_history, crate::store::DEFAULT_KEEP);
        let keeping = parse("[poll]\nkeep_days = 90\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keeping.keep_history, chrono::Duration::days(90));
        let short = parse("[poll]\nkeep_days = 7\n").err().unwrap_or_default();
        assert!(
            short.contains(":2:13: poll.keep_days: must be between 42 (the detectors' baseline needs five weeks) and 36500"),
            "{short}"
        );
    }
}
