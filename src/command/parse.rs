//! From a validated invocation to a typed [`Command`].
//!
//! The manifest has already checked names, types, choices and lengths; this
//! step turns strings into domain values (`INC-7` into an [`IncidentId`],
//! `SEV2` into a [`Severity`], text into a [`Title`]) so that the engine only
//! ever sees values that are valid by construction.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::NaiveDate;

use super::invocation::OptionValue;
use super::manifest::Validated;
use super::ParseError;
use crate::domain::{Actor, IncidentId, Name, Op, RootCause, Severity, Status, Team, Text, Title};

/// Everything mailcall can be asked to do from a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Incident(IncidentCommand),
    /// `/metrics`: a stream's latest rates against its four-week median.
    Metrics(MetricsQuery),
    /// `/alert …` and the alert buttons.
    Alert(AlertCommand),
    /// `/silence …`.
    Silence(SilenceCommand),
    /// `/route test`: who would be told, without posting.
    Route(RouteQuery),
    /// `/duty …`: rotations.
    Duty(DutyCommand),
    /// `/summary …`: the weekly quality summary.
    Summary(super::summary::SummaryCommand),
}

/// `/duty …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DutyCommand {
    /// Who is on duty now and who is next (one rotation, or all).
    Who {
        rotation: Option<crate::duty::RotationName>,
    },
    /// The coming `weeks` weeks of shifts.
    Schedule {
        rotation: Option<crate::duty::RotationName>,
        weeks: u32,
    },
    /// Put `member` on duty over `[from, to)`, wall-clock times in the
    /// rotation's zone (the engine knows the zone).
    Override {
        rotation: crate::duty::RotationName,
        member: Actor,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
        reason: String,
    },
    /// `member` is away over `[from, to)`: not on duty then, whoever the
    /// rotation or an older override names.
    Away {
        rotation: crate::duty::RotationName,
        member: Actor,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
        reason: String,
    },
    /// Ask `member` to take the caller's duty over `[from, to)`.
    Swap {
        rotation: crate::duty::RotationName,
        member: Actor,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
        reason: String,
    },
    /// Accept or decline swap request `swap` (the buttons, or typed).
    Answer { swap: u64, accept: bool },
    /// Add `member` to a rotation's turns, at `position` (1-based; default
    /// last), from the next shift.
    Join {
        rotation: crate::duty::RotationName,
        member: Actor,
        position: Option<u32>,
    },
    /// Take `member` out of a rotation's turns.
    Leave {
        rotation: crate::duty::RotationName,
        member: Actor,
    },
    /// Go back to the configured member list and timing from the next
    /// shift.
    Reset { rotation: crate::duty::RotationName },
    /// Change a rotation's timing from its next handoff under the new one;
    /// what is not given stays as it is.
    Timing {
        rotation: crate::duty::RotationName,
        shift_days: Option<u32>,
        handoff: Option<String>,
        timezone: Option<String>,
        start: Option<chrono::NaiveDate>,
    },
    /// The coming `weeks` of a rotation as an iCalendar file.
    Export {
        rotation: crate::duty::RotationName,
        weeks: u32,
    },
    /// Tick item `item` of the quality reviewer's checklist `checklist`.
    Tick { checklist: u64, item: u8 },
    /// Alerts and pages per person over the last `weeks` weeks.
    Load {
        rotation: Option<crate::duty::RotationName>,
        weeks: u32,
    },
}

/// The longest `/duty schedule` look-ahead, in weeks.
pub const MAX_SCHEDULE_WEEKS: u32 = 12;

/// "2026-12-24" (midnight) or "2026-12-24 18:00" → a wall-clock time.
fn parse_local_time(text: &str) -> Result<chrono::NaiveDateTime, String> {
    let text = text.trim();
    let wrong =
        || format!("`{text}` is not a date (2026-12-24) or a date and time (2026-12-24 18:00)");
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).ok_or_else(wrong);
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(at);
        }
    }
    Err(wrong())
}

/// `/alert …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertCommand {
    List,
    Show {
        id: u64,
    },
    Acknowledge {
        id: u64,
    },
    Snooze {
        id: u64,
        hours: u32,
    },
    OpenIncident {
        id: u64,
    },
    /// Nothing was wrong: acknowledge it (if nobody has) and count it as a
    /// false alarm in the weekly summary.
    FalseAlarm {
        id: u64,
    },
}

/// `/silence …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SilenceCommand {
    Add {
        matcher: crate::alert::Matcher,
        duration: std::time::Duration,
        reason: String,
    },
    List,
    Remove {
        id: u64,
    },
}

/// `/route test kind:… stream:… [account:…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteQuery {
    pub metric: crate::detect::Metric,
    pub kind: crate::detect::AnomalyKind,
    pub stream: String,
    pub account: Option<String>,
}

/// The longest one-off silence `/silence add` accepts.
pub const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);

/// "30m", "2h", "1d" → a duration.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    // The unit is the last character, which may be more than one byte
    // (`5é`): split at its start, never inside it.
    let split = text.char_indices().last().map_or(0, |(at, _)| at);
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write 30m, 2h or 1d"))?;
    let seconds = match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}` is not a duration; write 30m, 2h or 1d")),
    };
    let duration = std::time::Duration::from_secs(seconds);
    if duration.is_zero() || duration > MAX_SILENCE {
        return Err(format!(
            "`{text}`: a silence lasts between 1 minute and 14 days"
        ));
    }
    Ok(duration)
}

/// `/metrics stream:… [account:…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsQuery {
    pub stream: String,
    pub account: Option<String>,
}

/// `/incident …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncidentCommand {
    Open(OpenArgs),
    /// Every subcommand that changes an existing incident: ack, assign,
    /// diagnose, update, resolve, close, reopen, action add, action done.
    Change {
        id: IncidentId,
        op: Op,
    },
    Show {
        id: IncidentId,
        /// 1 is the newest entries.
        page: u32,
    },
    List(ListFilter),
    /// `/incident action list`: open prevention actions across incidents.
    Actions {
        /// Only the caller's.
        mine: bool,
        page: u32,
    },
    /// `/incident postmortem`: a Markdown draft with the stream's chart.
    Postmortem {
        id: IncidentId,
    },
}

/// `/incident open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenArgs {
    pub title: Title,
    pub severity: Severity,
    /// The team given with `team:`; it owns the response.
    pub owner: Team,
    /// The owner and every team given with `also:`.
    pub teams: BTreeSet<Team>,
    pub esp_account: Option<Name>,
    pub stream: Option<Name>,
    /// `None` means the caller leads.
    pub commander: Option<Actor>,
}

/// `/incident list` filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFilter {
    pub status: StatusFilter,
    pub team: Option<Team>,
    pub severity: Option<Severity>,
    /// Only incidents opened on or after this day (UTC).
    pub since: Option<NaiveDate>,
    /// Only incidents whose title, ESP account, stream, notes or resolution
    /// contain this (case-insensitive).
    pub search: Option<String>,
    /// 1 is the first page.
    pub page: u32,
}

/// Which statuses `/incident list` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Open, investigating or mitigated (the default).
    Active,
    All,
    Only(Status),
}

impl StatusFilter {
    pub fn matches(self, status: Status) -> bool {
        match self {
            StatusFilter::Active => status.is_active(),
            StatusFilter::All => true,
            StatusFilter::Only(s) => s == status,
        }
    }
}

/// Typed access to validated options, with errors that name the option.
struct Options<'a> {
    command: String,
    values: &'a BTreeMap<String, OptionValue>,
}

impl Options<'_> {
    fn bad(&self, name: &str, reason: impl ToString) -> ParseError {
        ParseError::BadValue {
            command: self.command.clone(),
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }

    fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(OptionValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// A required option: the manifest guarantees presence, but a front end
    /// bug must still be an error, not a panic.
    fn required<T>(&self, name: &str, value: Option<T>) -> Result<T, ParseError> {
        value.ok_or_else(|| ParseError::MissingOption {
            command: self.command.clone(),
            name: name.to_string(),
            description: "required".to_string(),
        })
    }

    fn parsed<T>(&self, name: &str) -> Result<Option<T>, ParseError>
    where
        T: FromStr,
        T::Err: ToString,
    {
        self.text(name)
            .map(|s| s.parse::<T>().map_err(|e| self.bad(name, e)))
            .transpose()
    }

    fn id(&self) -> Result<IncidentId, ParseError> {
        let id = self.parsed::<IncidentId>("id")?;
        self.required("id", id)
    }

    fn limited<T>(
        &self,
        name: &str,
        make: fn(&str) -> Result<T, crate::domain::TextError>,
    ) -> Result<Option<T>, ParseError> {
        self.text(name)
            .map(|s| make(s).map_err(|e| self.bad(name, e)))
            .transpose()
    }

    fn user(&self, name: &str) -> Option<Actor> {
        match self.values.get(name) {
            Some(OptionValue::User(actor)) => Some(actor.clone()),
            _ => None,
        }
    }

    /// The `weeks` option: 1 to [`MAX_SCHEDULE_WEEKS`], `default` when
    /// not given.
    fn weeks(&self, default: u32) -> Result<u32, ParseError> {
        match self.integer("weeks") {
            None => Ok(default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_SCHEDULE_WEEKS).contains(n))
                .ok_or_else(|| self.bad("weeks", format!("from 1 to {MAX_SCHEDULE_WEEKS} weeks"))),
        }
    }

    /// A required wall-clock time option (`from`, `to`).
    fn local_time(&self, name: &str) -> Result<chrono::NaiveDateTime, ParseError> {
        parse_local_time(self.required(name, self.text(name))?).map_err(|e| self.bad(name, e))
    }

    fn integer(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(OptionValue::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    /// `page:`, 1 when not given.
    fn page(&self) -> Result<u32, ParseError> {
        match self.integer("page") {
            None => Ok(1),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| self.bad("page", "pages start at 1")),
        }
    }
}

impl Command {
    /// A short description for the audit log: "/incident close INC-7".
    pub fn summary(&self) -> String {
        let command = match self {
            Command::Incident(command) => command,
            Command::Metrics(query) => return format!("/metrics {}", query.stream),
            Command::Alert(command) => return format!("/alert {command:?}"),
            Command::Summary(super::summary::SummaryCommand::Now { .. }) => {
                return "/summary now".to_string()
            }
            Command::Summary(super::summary::SummaryCommand::Post { .. }) => {
                return "/summary post".to_string()
            }
            Command::Silence(command) => return format!("/silence {command:?}"),
            Command::Route(query) => {
                return format!("/route test {} {}", query.metric, query.stream)
            }
            Command::Duty(DutyCommand::Who { .. }) => return "/duty who".to_string(),
            Command::Duty(DutyCommand::Schedule { .. }) => return "/duty schedule".to_string(),
            Command::Duty(DutyCommand::Override {
                rotation, member, ..
            }) => return format!("/duty override {rotation} {}", member.name),
            Command::Duty(DutyCommand::Swap {
                rotation, member, ..
            }) => return format!("/duty swap {rotation} {}", member.name),
            Command::Duty(DutyCommand::Away {
                rotation, member, ..
            }) => return format!("/duty away {rotation} {}", member.name),
            Command::Duty(DutyCommand::Answer { swap, accept }) => {
                return format!(
                    "/duty answer {swap} {}",
                    if *accept { "accept" } else { "decline" }
                )
            }
            Command::Duty(DutyCommand::Join {
                rotation, member, ..
            }) => return format!("/duty join {rotation} {}", member.name),
            Command::Duty(DutyCommand::Leave { rotation, member }) => {
                return format!("/duty leave {rotation} {}", member.name)
            }
            Command::Duty(DutyCommand::Reset { rotation }) => {
                return format!("/duty reset {rotation}")
            }
            Command::Duty(DutyCommand::Timing { rotation, .. }) => {
                return format!("/duty timing {rotation}")
            }
            Command::Duty(DutyCommand::Load { .. }) => return "/duty load".to_string(),
            Command::Duty(DutyCommand::Export { rotation, .. }) => {
                return format!("/duty export {rotation}")
            }
            Command::Duty(DutyCommand::Tick { checklist, item }) => {
                return format!("/duty tick {checklist} {item}")
            }
        };
        match command {
            IncidentCommand::Open(args) => {
                format!("/incident open title:{:?}", args.title.as_str())
            }
            IncidentCommand::Change { id, op } => {
                let verb = match op {
                    Op::Acknowledge => "ack",
                    Op::Assign { .. } => "assign",
                    Op::Diagnose { .. } => "diagnose",
                    Op::Update { .. } => "update",
                    Op::Resolve { .. } => "resolve",
                    Op::Close { .. } => "close",
                    Op::Reopen { .. } => "reopen",
                    Op::AddAction { .. } => "action add",
                    Op::CompleteAction { .. } => "action done",
                };
                format!("/incident {verb} {id}")
            }
            IncidentCommand::Show { id, .. } => format!("/incident show {id}"),
            IncidentCommand::List(_) => "/incident list".to_string(),
            IncidentCommand::Actions { .. } => "/incident action list".to_string(),
            IncidentCommand::Postmortem { id } => format!("/incident postmortem {id}"),
        }
    }

    /// Builds the typed command. `caller` fills defaults such as "assign to
    /// me" so the engine never has to guess.
    pub fn parse(valid: &Validated, caller: &Actor) -> Result<Command, ParseError> {
        let o = Options {
            command: format!("/{}", valid.path.join(" ")),
            values: &valid.options,
        };
        let path: Vec<&str> = valid.path.iter().map(String::as_str).collect();
        let id = |name: &str| -> Result<u64, ParseError> {
            let n = o.required(name, o.integer(name))?;
            u64::try_from(n).map_err(|_| o.bad(name, "must be positive"))
        };
        match path.as_slice() {
            ["alert", "list"] => return Ok(Command::Alert(AlertCommand::List)),
            ["alert", "show"] => return Ok(Command::Alert(AlertCommand::Show { id: id("id")? })),
            ["alert", "ack"] => {
                return Ok(Command::Alert(AlertCommand::Acknowledge { id: id("id")? }))
            }
            ["alert", "false-alarm"] => {
                return Ok(Command::Alert(AlertCommand::FalseAlarm { id: id("id")? }))
            }
            ["alert", "incident"] => {
                return Ok(Command::Alert(AlertCommand::OpenIncident { id: id("id")? }))
            }
            ["alert", "snooze"] => {
                let hours = match o.text("for") {
                    Some("1h") => 1,
                    Some("24h") => 24,
                    other => {
                        return Err(
                            o.bad("for", format!("`{}` is not 1h or 24h", other.unwrap_or("")))
                        )
                    }
                };
                return Ok(Command::Alert(AlertCommand::Snooze {
                    id: id("id")?,
                    hours,
                }));
            }
            ["silence", "list"] => return Ok(Command::Silence(SilenceCommand::List)),
            ["silence", "remove"] => {
                return Ok(Command::Silence(SilenceCommand::Remove { id: id("id")? }))
            }
            ["silence", "add"] => {
                let matcher = crate::alert::Matcher::parse(o.required("match", o.text("match"))?)
                    .map_err(|e| o.bad("match", e))?;
                let duration = parse_duration(o.required("duration", o.text("duration"))?)
                    .map_err(|e| o.bad("duration", e))?;
                let reason = o.required("reason", o.text("reason"))?.trim().to_string();
                if reason.is_empty() {
                    return Err(o.bad("reason", "say why, for the people whose alerts go quiet"));
                }
                return Ok(Command::Silence(SilenceCommand::Add {
                    matcher,
                    duration,
                    reason,
                }));
            }
            ["duty", "who"] => {
                return Ok(Command::Duty(DutyCommand::Who {
                    rotation: o.parsed("team")?,
                }))
            }
            ["duty", "schedule"] => {
                let weeks = o.weeks(4)?;
                return Ok(Command::Duty(DutyCommand::Schedule {
                    rotation: o.parsed("team")?,
                    weeks,
                }));
            }
            ["duty", "override"] => {
                let reason = o.required("reason", o.text("reason"))?.trim().to_string();
                if reason.is_empty() {
                    return Err(o.bad("reason", "say why, for the people who read the schedule"));
                }
                return Ok(Command::Duty(DutyCommand::Override {
                    rotation: o.required("team", o.parsed("team")?)?,
                    member: o.required("member", o.user("member"))?,
                    from: o.local_time("from")?,
                    to: o.local_time("to")?,
                    reason,
                }));
            }
            ["duty", "away"] => {
                return Ok(Command::Duty(DutyCommand::Away {
                    rotation: o.required("team", o.parsed("team")?)?,
                    member: o.required("member", o.user("member"))?,
                    from: o.local_time("from")?,
                    to: o.local_time("to")?,
                    reason: o.text("reason").unwrap_or_default().trim().to_string(),
                }));
            }
            ["duty", "swap"] => {
                let reason = o.text("reason").unwrap_or_default().trim().to_string();
                return Ok(Command::Duty(DutyCommand::Swap {
                    rotation: o.required("team", o.parsed("team")?)?,
                    member: o.required("member", o.user("member"))?,
                    from: o.local_time("from")?,
                    to: o.local_time("to")?,
                    reason,
                }));
            }
            ["duty", "answer"] => {
                let swap = o
                    .required("swap", o.integer("swap"))
                    .and_then(|n| u64::try_from(n).map_err(|_| o.bad("swap", "a swap number")))?;
                let accept = match o.required("choice", o.text("choice"))? {
                    "accept" => true,
                    "decline" => false,
                    other => return Err(o.bad("choice", format!("`{other}`: accept or decline"))),
                };
                return Ok(Command::Duty(DutyCommand::Answer { swap, accept }));
            }
            ["duty", "join"] => {
                let position = match o.integer("position") {
                    None => None,
                    Some(n) => Some(
                        u32::try_from(n)
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| o.bad("position", "a place in the turns, from 1"))?,
                    ),
                };
                return Ok(Command::Duty(DutyCommand::Join {
                    rotation: o.required("team", o.parsed("team")?)?,
                    member: o.required("member", o.user("member"))?,
                    position,
                }));
            }
            ["duty", "leave"] => {
                return Ok(Command::Duty(DutyCommand::Leave {
                    rotation: o.required("team", o.parsed("team")?)?,
                    member: o.required("member", o.user("member"))?,
                }));
            }
            ["summary", verb @ ("now" | "post")] => {
                let week = o
                    .text("week")
                    .map(|w| {
                        w.parse::<crate::summary::Week>()
                            .map_err(|e| o.bad("week", e))
                    })
                    .transpose()?;
                return Ok(Command::Summary(if *verb == "now" {
                    super::summary::SummaryCommand::Now { week }
                } else {
                    super::summary::SummaryCommand::Post { week }
                }));
            }
            ["duty", "export"] => {
                return Ok(Command::Duty(DutyCommand::Export {
                    rotation: o.required("team", o.parsed("team")?)?,
                    weeks: o.weeks(MAX_SCHEDULE_WEEKS)?,
                }));
            }
            ["duty", "tick"] => {
                let checklist = o
                    .required("checklist", o.integer("checklist"))
                    .and_then(|n| {
                        u64::try_from(n).map_err(|_| o.bad("checklist", "a checklist number"))
                    })?;
                let item = o
                    .required("item", o.integer("item"))
                    .and_then(|n| u8::try_from(n).map_err(|_| o.bad("item", "an item number")))?;
                return Ok(Command::Duty(DutyCommand::Tick { checklist, item }));
            }
            ["duty", "load"] => {
                let weeks = o.weeks(1)?;
                return Ok(Command::Duty(DutyCommand::Load {
                    rotation: o.parsed("team")?,
                    weeks,
                }));
            }
            ["duty", "reset"] => {
                return Ok(Command::Duty(DutyCommand::Reset {
                    rotation: o.required("team", o.parsed("team")?)?,
                }));
            }
            ["duty", "timing"] => {
                let shift_days = o
                    .text("shift")
                    .map(|text| {
                        crate::duty::rotation::parse_shift_length(text)
                            .map_err(|e| o.bad("shift", e))
                    })
                    .transpose()?;
                let start = o
                    .text("start")
                    .map(|text| {
                        text.trim().parse::<chrono::NaiveDate>().map_err(|_| {
                            o.bad(
                                "start",
                                format!("`{text}` is not a date such as 2026-12-07"),
                            )
                        })
                    })
                    .transpose()?;
                let text = |name| o.text(name).map(|t| t.trim().to_string());
                return Ok(Command::Duty(DutyCommand::Timing {
                    rotation: o.required("team", o.parsed("team")?)?,
                    shift_days,
                    handoff: text("handoff"),
                    timezone: text("timezone"),
                    start,
                }));
            }
            ["route", "test"] => {
                use crate::detect::{AnomalyKind, Metric};
                let kind = o.required("kind", o.text("kind"))?;
                let (metric, anomaly) = match kind {
                    "stale-feed" => (Metric::Feed, AnomalyKind::StaleFeed),
                    "volume" => (Metric::Volume, AnomalyKind::VolumeDrop),
                    "volume-spike" => (Metric::Volume, AnomalyKind::VolumeSpike),
                    other => (
                        Metric::ALL
                            .iter()
                            .copied()
                            .find(|m| m.as_str() == other)
                            .ok_or_else(|| {
                                o.bad("kind", format!("`{other}` is not an alert kind"))
                            })?,
                        AnomalyKind::Baseline,
                    ),
                };
                return Ok(Command::Route(RouteQuery {
                    metric,
                    kind: anomaly,
                    stream: o.required("stream", o.text("stream"))?.trim().to_string(),
                    account: o
                        .text("account")
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty()),
                }));
            }
            _ => {}
        }
        if path.as_slice() == ["metrics"] {
            let stream = o.required("stream", o.text("stream"))?.trim().to_string();
            return Ok(Command::Metrics(MetricsQuery {
                stream,
                account: o
                    .text("account")
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
            }));
        }
        let incident = match path.as_slice() {
            ["incident", "open"] => {
                let title = o.limited("title", Title::new)?;
                let severity = o
                    .text("severity")
                    .map(Severity::parse_loose)
                    .transpose()
                    .map_err(|e| o.bad("severity", e))?;
                let owner = o.required("team", o.parsed::<Team>("team")?)?;
                let mut teams: BTreeSet<Team> = [owner].into_iter().collect();
                for word in o
                    .text("also")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|w| !w.trim().is_empty())
                {
                    teams.insert(word.parse::<Team>().map_err(|e| o.bad("also", e))?);
                }
                IncidentCommand::Open(OpenArgs {
                    title: o.required("title", title)?,
                    severity: o.required("severity", severity)?,
                    owner,
                    teams,
                    esp_account: o.limited("esp", Name::new)?,
                    stream: o.limited("stream", Name::new)?,
                    commander: o.user("commander"),
                })
            }
            ["incident", "ack"] => IncidentCommand::Change {
                id: o.id()?,
                op: Op::Acknowledge,
            },
            ["incident", "assign"] => {
                let team = o.parsed::<Team>("team")?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::Assign {
                        team: o.required("team", team)?,
                        to: o.user("user").unwrap_or_else(|| caller.clone()),
                    },
                }
            }
            ["incident", "diagnose"] => {
                let note = o.limited("note", Text::new)?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::Diagnose {
                        note: o.required("note", note)?,
                        root_cause: o.parsed::<RootCause>("root_cause")?,
                    },
                }
            }
            ["incident", "update"] => {
                let note = o.limited("note", Text::new)?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::Update {
                        note: o.required("note", note)?,
                        status: o.parsed::<Status>("status")?,
                        severity: o
                            .text("severity")
                            .map(Severity::parse_loose)
                            .transpose()
                            .map_err(|e| o.bad("severity", e))?,
                    },
                }
            }
            ["incident", "resolve"] => {
                let resolution = o.limited("resolution", Text::new)?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::Resolve {
                        resolution: o.required("resolution", resolution)?,
                        root_cause: o.parsed::<RootCause>("root_cause")?,
                    },
                }
            }
            ["incident", "close"] => IncidentCommand::Change {
                id: o.id()?,
                op: Op::Close {
                    resolution: o.limited("resolution", Text::new)?,
                    root_cause: o.parsed::<RootCause>("root_cause")?,
                },
            },
            ["incident", "reopen"] => {
                let reason = o.limited("reason", Text::new)?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::Reopen {
                        reason: o.required("reason", reason)?,
                    },
                }
            }
            ["incident", "action", "add"] => {
                let text = o.limited("text", Text::new)?;
                let due = o
                    .text("due")
                    .map(|s| {
                        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                            o.bad("due", format!("`{s}` is not a date; use YYYY-MM-DD"))
                        })
                    })
                    .transpose()?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::AddAction {
                        text: o.required("text", text)?,
                        owner: o.required("owner", o.user("owner"))?,
                        due,
                    },
                }
            }
            ["incident", "action", "done"] => {
                let number = o.required("number", o.integer("number"))?;
                IncidentCommand::Change {
                    id: o.id()?,
                    op: Op::CompleteAction {
                        number: u32::try_from(number)
                            .map_err(|_| o.bad("number", "out of range"))?,
                    },
                }
            }
            ["incident", "show"] => IncidentCommand::Show {
                id: o.id()?,
                page: o.page()?,
            },
            ["incident", "action", "list"] => IncidentCommand::Actions {
                mine: matches!(o.values.get("mine"), Some(OptionValue::Boolean(true))),
                page: o.page()?,
            },
            ["incident", "postmortem"] => IncidentCommand::Postmortem { id: o.id()? },
            ["incident", "list"] => IncidentCommand::List(ListFilter {
                since: o
                    .text("since")
                    .map(|s| {
                        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                            o.bad("since", format!("`{s}` is not a date; use YYYY-MM-DD"))
                        })
                    })
                    .transpose()?,
                search: o
                    .text("search")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
                status: match o.text("status") {
                    // An incident log search looks through every status.
                    None if o.text("since").is_some() || o.text("search").is_some() => {
                        StatusFilter::All
                    }
                    None | Some("active") => StatusFilter::Active,
                    Some("all") => StatusFilter::All,
                    Some(s) => {
                        StatusFilter::Only(s.parse::<Status>().map_err(|e| o.bad("status", e))?)
                    }
                },
                team: o.parsed::<Team>("team")?,
                severity: o
                    .text("severity")
                    .map(Severity::parse_loose)
                    .transpose()
                    .map_err(|e| o.bad("severity", e))?,
                page: o.page()?,
            }),
            _ => {
                return Err(ParseError::Syntax(format!(
                    "{} is in the manifest but mailcall does not handle it yet",
                    o.command
                )))
            }
        };
        Ok(Command::Incident(incident))
    }
}
