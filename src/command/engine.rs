//! Executes typed commands against a store and says what to post.
//!
//! The engine is the one place where permissions are checked, rules are
//! applied and writes are committed; front ends only translate. A command is
//! answered only after its write is durable, and a refused command writes
//! nothing (the incident is changed on a copy, and the copy is committed in
//! one atomic [`Write`] or dropped).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::parse::{Command, IncidentCommand, ListFilter, MetricsQuery, OpenArgs};
use super::{render, Invocation, Manifests, ParseError};
use crate::alert::AlertEffect;
use crate::alerting::{self, AlertDesk, AlertingConfig};
use crate::clock::Clock;
use crate::delivery::{summary, StreamKey};
use crate::domain::{
    Caller, Change, Denial, Incident, IncidentDraft, IncidentId, Op, RuleError, Team,
};
use crate::store::{IncidentStore, MetricsHistory, StoreError, Write};

/// Who sees a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Everyone in the channel where the command was typed.
    Public,
    /// Only the person who typed it (an ephemeral reply in Discord).
    Private,
}

/// The answer to the person who issued the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub visibility: Visibility,
    pub text: String,
}

/// A post the command causes beyond its reply. Effects carry the incident as
/// it is after the change so adapters can render without reading the store.
/// They are committed to the store's outbox with the change that causes
/// them, and delivered from there (see [`crate::service::relay`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    /// Tell these teams, in their channels, that the incident exists (on
    /// open, and when a team is brought in later).
    Announce {
        incident: Incident,
        teams: BTreeSet<Team>,
    },
    /// A change to post in the incident's thread (and to refresh its
    /// announcements). `stakeholders` is set for status and severity changes,
    /// which also go to the stakeholder channel when one is configured.
    ThreadPost {
        incident: Incident,
        text: String,
        stakeholders: bool,
    },
    /// An alert to post, edit, remind about or escalate.
    Alert(Box<AlertEffect>),
    /// A post in one team's channel about that team's duty (a handoff, an
    /// override), mentioning the people in `mention` (and nobody else)
    /// where the front end can.
    TeamPost {
        team: Team,
        mention: Vec<crate::domain::Actor>,
        text: String,
        /// Also mention incident-admin (a rotation about to leave the
        /// team with nobody on duty).
        #[serde(default)]
        mention_admin: bool,
        /// Buttons under the post (a swap request's Accept and Decline).
        #[serde(default)]
        buttons: Vec<PostButton>,
    },
    /// The weekly quality summary, for the summary channel with its chart.
    Summary(Box<crate::summary::WeeklySummary>),
    /// A post about the quality-reviewer rotation, which spans the teams:
    /// in the quality channel (the weekly summary's), mentioning the
    /// people in `mention` and nobody else, like [`Effect::TeamPost`].
    QualityPost {
        mention: Vec<crate::domain::Actor>,
        text: String,
        #[serde(default)]
        mention_admin: bool,
        #[serde(default)]
        buttons: Vec<PostButton>,
    },
}

/// A button under a [`Effect::TeamPost`]; pressing it runs the command it
/// names, as the person who pressed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PostButton {
    SwapAccept(u64),
    SwapDecline(u64),
    /// Tick item `.1` of quality checklist `.0`.
    ChecklistTick(u64, u8),
}

impl PostButton {
    /// The command the button stands for.
    pub fn command(self) -> super::parse::DutyCommand {
        match self {
            PostButton::SwapAccept(swap) => {
                super::parse::DutyCommand::Answer { swap, accept: true }
            }
            PostButton::SwapDecline(swap) => super::parse::DutyCommand::Answer {
                swap,
                accept: false,
            },
            PostButton::ChecklistTick(checklist, item) => {
                super::parse::DutyCommand::Tick { checklist, item }
            }
        }
    }

    /// The command as typed at the console.
    pub fn typed(self) -> String {
        match self {
            PostButton::SwapAccept(swap) => format!("/duty answer swap:{swap} choice:accept"),
            PostButton::SwapDecline(swap) => format!("/duty answer swap:{swap} choice:decline"),
            PostButton::ChecklistTick(checklist, item) => {
                format!("/duty tick checklist:{checklist} item:{item}")
            }
        }
    }
}

/// A duty post in a team's channel mentioning `mention`, without buttons.
pub(super) fn team_post(team: Team, mention: Vec<crate::domain::Actor>, text: String) -> Effect {
    Effect::TeamPost {
        team,
        mention,
        text,
        mention_admin: false,
        buttons: Vec::new(),
    }
}

impl Effect {
    /// The effect as the outbox keeps it: an incident's timeline cut to its
    /// latest entry, which is all a post shows. Without this, every post
    /// about an incident carried its whole history, so a note on a
    /// 100-entry incident wrote (and synced) tens of kilobytes.
    fn for_outbox(&self) -> Effect {
        let latest = Incident::with_latest_entry_only;
        match self {
            Effect::Announce { incident, teams } => Effect::Announce {
                incident: latest(incident),
                teams: teams.clone(),
            },
            Effect::ThreadPost {
                incident,
                text,
                stakeholders,
            } => Effect::ThreadPost {
                incident: latest(incident),
                text: text.clone(),
                stakeholders: *stakeholders,
            },
            Effect::Alert(alert) => Effect::Alert(alert.clone()),
            Effect::TeamPost { .. } | Effect::Summary(_) | Effect::QualityPost { .. } => {
                self.clone()
            }
        }
    }
}

/// A post in the outbox: its id, and the effect (or why it cannot be read).
pub type PendingPost = (u64, Result<Effect, String>);

/// What a command produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub reply: Reply,
    pub effects: Vec<Effect>,
    /// The outbox ids of `effects`, in the same order.
    pub posted: Vec<u64>,
    /// Files the reply carries (`/duty export`'s calendar, a postmortem
    /// draft and its chart).
    pub attachments: Vec<Attachment>,
}

/// A file attached to a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Why a command was not carried out. The `Display` text is what the person
/// is shown, privately.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("there is no incident {0}")]
    NotFound(IncidentId),
    #[error("{0}")]
    Denied(String),
    /// A question the stored data cannot answer (an unknown stream).
    #[error("{0}")]
    NoData(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl CommandError {
    /// A refusal the person can fix themselves, as opposed to a fault an
    /// operator must look at (logged louder).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, CommandError::Store(_))
    }
}

/// Runs commands. Owns the store; callers serialise access (one command at a
/// time), which is also what keeps incident ids contiguous.
pub struct Engine<S> {
    pub(super) store: S,
    pub(super) clock: Arc<dyn Clock>,
    manifests: Manifests,
    /// Metric history for `/metrics`; `None` where no ESP is polled.
    pub(super) history: Option<Arc<dyn MetricsHistory>>,
    /// Alert state and configuration; `None` where alerting is off.
    pub(super) alerts: Option<AlertDesk>,
    /// How this front end names team channels and roles.
    pub(super) directory: TeamDirectory,
    /// The rotations and what was decided about them at run time
    /// (overrides, swaps, member changes): who is on duty.
    pub(super) duty: crate::duty::DutyState,
    /// When and in which zone the weekly summary is made.
    pub(super) summary: super::summary::SummarySettings,
    /// When the scheduled tick last looked for prevention actions to
    /// remind about (in memory: the reminders themselves are recorded).
    pub(super) actions_checked: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether a change is in progress: a change started inside another
    /// (an alert tick inside a scheduled-jobs change) joins it.
    in_progress: bool,
}

/// How a front end shows where a team is told: `#integration (@integration)`
/// in the terminal, channel and role mentions in Discord (shown in private
/// replies with pings disabled).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamDirectory {
    /// Team → (channel, role) labels.
    pub teams: std::collections::BTreeMap<Team, (String, String)>,
    /// How the incident-admin role is shown.
    pub admin: String,
}

impl<S: IncidentStore> Engine<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>) -> Engine<S> {
        Engine {
            store,
            clock,
            manifests: Manifests::embedded(),
            history: None,
            alerts: None,
            directory: TeamDirectory::default(),
            duty: crate::duty::DutyState::default(),
            summary: super::summary::SummarySettings::default(),
            actions_checked: None,
            in_progress: false,
        }
    }

    /// Turns alerting on, with state restored from the store (or fresh) and
    /// the configuration's quiet windows installed.
    pub fn with_alerts(
        mut self,
        config: AlertingConfig,
        windows: Vec<crate::alert::QuietWindow>,
    ) -> Result<Engine<S>, StoreError> {
        let saved = self.store.get_extra(alerting::RECORD)?;
        let mut desk = AlertDesk::restore(config, saved.as_deref())?;
        desk.install_windows(windows)?;
        self.store.put_extra(alerting::RECORD, &desk.snapshot()?)?;
        self.alerts = Some(desk);
        Ok(self)
    }

    /// Gives the engine the configured rotations, with the overrides the
    /// store holds.
    pub fn with_rotations(
        mut self,
        rotations: Vec<crate::duty::Rotation>,
    ) -> Result<Engine<S>, StoreError> {
        let saved = self.store.get_extra(super::duty::RECORD)?;
        self.duty = crate::duty::DutyState::restore(rotations, saved.as_deref())
            .map_err(StoreError::Backend)?;
        Ok(self)
    }

    /// Each of `teams` with a member on duty at `at`, and that member: the
    /// roster's one answer, for mentions and assignments.
    pub(super) fn on_duty_by_team<'a>(
        &self,
        teams: impl IntoIterator<Item = &'a Team>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> std::collections::BTreeMap<Team, crate::domain::Actor> {
        teams
            .into_iter()
            .filter_map(|team| {
                let duty = self
                    .duty
                    .roster()
                    .on_duty(crate::duty::RotationName::Team(*team), at)?;
                Some((*team, duty.member))
            })
            .collect()
    }

    /// Who is on duty, as the engine knows it (rotations, overrides, swaps
    /// and member changes).
    pub fn roster(&self) -> &crate::duty::Roster {
        self.duty.roster()
    }

    /// The run-time duty decisions (overrides, swaps, member changes and
    /// their audit).
    pub fn duty_book(&self) -> &crate::duty::DutyBook {
        self.duty.book()
    }

    /// Sets how team channels and roles are named in replies.
    pub fn with_directory(mut self, directory: TeamDirectory) -> Engine<S> {
        self.directory = directory;
        self
    }

    /// Gives the engine the metric history `/metrics` reads.
    pub fn with_history(mut self, history: Arc<dyn MetricsHistory>) -> Engine<S> {
        self.history = Some(history);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for adapters that keep their own records beside it.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn manifests(&self) -> &Manifests {
        &self.manifests
    }

    /// Validates, parses and executes one invocation.
    pub fn handle(
        &mut self,
        caller: &Caller,
        invocation: &Invocation,
    ) -> Result<Outcome, CommandError> {
        let valid = self.manifests.validate(invocation)?;
        let command = Command::parse(&valid, &caller.actor)?;
        self.execute(caller, command)
    }

    /// Executes a typed command. A refusal for lack of permission is also
    /// written to the audit log.
    ///
    /// One command is one change: every write it makes (incident, alert
    /// state, timeline) and the posts it causes are committed together, in
    /// one durable write, or not at all.
    pub fn execute(&mut self, caller: &Caller, command: Command) -> Result<Outcome, CommandError> {
        let summary = command.summary();
        let result = self
            .in_change(|engine| {
                let outcome = engine.run(caller, command)?;
                let effects = outcome.effects.clone();
                Ok((outcome, effects))
            })
            .map(|(mut outcome, posted)| {
                outcome.posted = posted;
                outcome
            });
        if let Err(CommandError::Denied(reason)) = &result {
            let denial = Denial {
                at: self.clock.now(),
                by: caller.actor.clone(),
                command: summary,
                reason: reason.clone(),
            };
            // The refusal stands even if it cannot be logged; a store that
            // fails here will fail the next write too, and loudly.
            let _ = self.store.record_denial(denial);
        }
        result
    }

    /// Runs `work` as one change (see [`IncidentStore::begin`]): its writes
    /// and the posts it returns are committed together, with the posts in
    /// the outbox; the posts' outbox ids are returned with its result. On
    /// failure nothing is written, and the alert state in memory is read
    /// back from the store so it matches what is on disk.
    pub(super) fn in_change<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<(T, Vec<Effect>), CommandError>,
    ) -> Result<(T, Vec<u64>), CommandError> {
        if self.in_progress {
            // Part of the enclosing change, which commits the posts.
            return work(self).map(|(value, _)| (value, Vec::new()));
        }
        self.store.begin();
        self.in_progress = true;
        let done = work(self).and_then(|(value, effects)| {
            self.record_alerts(&effects)?;
            Ok((value, effects))
        });
        self.in_progress = false;
        let done = done.and_then(|(value, effects)| {
            let posts = effects
                .iter()
                .map(|e| {
                    serde_json::to_vec(&e.for_outbox()).map_err(|e| {
                        CommandError::Store(StoreError::Backend(format!(
                            "a post could not be encoded: {e}"
                        )))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((value, posts))
        });
        match done {
            Ok((value, posts)) => match self.store.finish(posts) {
                Ok(ids) => Ok((value, ids)),
                Err(e) => {
                    self.reload_alerts();
                    self.reload_roster();
                    Err(e.into())
                }
            },
            Err(e) => {
                self.store.abort();
                self.reload_alerts();
                self.reload_roster();
                Err(e)
            }
        }
    }

    /// Puts the alert state in memory back to what the store holds.
    fn reload_alerts(&mut self) {
        let Some(desk) = &self.alerts else {
            return;
        };
        let config = desk.config.clone();
        match self
            .store
            .get_extra(alerting::RECORD)
            .map_err(|e| e.to_string())
            .and_then(|saved| {
                AlertDesk::restore(config, saved.as_deref()).map_err(|e| e.to_string())
            }) {
            Ok(desk) => self.alerts = Some(desk),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the alert state back after a failed change")
            }
        }
    }

    /// The metric history the engine reads, if any ESP is polled.
    pub fn history(&self) -> Option<&Arc<dyn MetricsHistory>> {
        self.history.as_ref()
    }

    /// Scheduled jobs that run on the engine, and the scheduler's records,
    /// as one change: the alert timers (when `tick`) with their posts, and
    /// the record of which due times have run, so after a crash a run is
    /// either wholly done or not at all.
    pub fn scheduled(
        &mut self,
        tick: bool,
        handoffs: &[super::duty::HandoffRun],
        summary: Option<super::summary::SummaryDue>,
        records: &crate::scheduler::JobRecords,
    ) -> Result<Vec<Effect>, CommandError> {
        let bytes = serde_json::to_vec(records).map_err(|e| {
            CommandError::Store(StoreError::Backend(format!(
                "the scheduler's records could not be encoded: {e}"
            )))
        })?;
        self.in_change(|engine| {
            let mut effects = if tick {
                let mut effects = engine.alert_tick()?;
                effects.extend(engine.shift_reminders()?);
                effects.extend(engine.expire_swaps()?);
                effects.extend(engine.announce_gaps()?);
                effects.extend(engine.action_reminders()?);
                effects
            } else {
                Vec::new()
            };
            for run in handoffs {
                effects.extend(engine.handoff_post(run)?);
            }
            if let Some(run) = summary {
                effects.push(engine.summary_post(run)?);
            }
            engine.store.put_extra(crate::scheduler::RECORD, &bytes)?;
            Ok((effects.clone(), effects))
        })
        .map(|(effects, _)| effects)
    }

    /// The scheduler's records as last committed (empty on a first start;
    /// unreadable ones are reported and start afresh).
    pub fn job_records(&self) -> crate::scheduler::JobRecords {
        match self.store.get_extra(crate::scheduler::RECORD) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the scheduler's records are unreadable; starting afresh");
                crate::scheduler::JobRecords::default()
            }),
            Ok(None) => crate::scheduler::JobRecords::default(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the scheduler's records; starting afresh");
                crate::scheduler::JobRecords::default()
            }
        }
    }

    /// Posts committed but not delivered yet, oldest first. A post that
    /// cannot be decoded is returned as an error text in place of it, so
    /// the caller can report it and move on.
    pub fn pending_posts(&self) -> Result<Vec<PendingPost>, StoreError> {
        Ok(self
            .store
            .outbox()?
            .into_iter()
            .map(|(id, bytes)| {
                (
                    id,
                    serde_json::from_slice(&bytes)
                        .map_err(|e| format!("outbox entry {id} is unreadable: {e}")),
                )
            })
            .collect())
    }

    /// Marks a post delivered, with what the front end must remember of
    /// it, in one durable write.
    pub fn delivered(
        &mut self,
        id: u64,
        records: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.store.delivered(id, records)
    }

    fn run(&mut self, caller: &Caller, command: Command) -> Result<Outcome, CommandError> {
        match command {
            Command::Incident(IncidentCommand::Open(args)) => self.open(caller, args),
            Command::Incident(IncidentCommand::Change { id, op }) => self.change(caller, id, op),
            Command::Incident(IncidentCommand::Show { id, page }) => {
                let incident = self.load(id)?;
                Ok(private(render::incident_log(&incident, page)))
            }
            Command::Incident(IncidentCommand::List(filter)) => self.list(&filter),
            Command::Incident(IncidentCommand::Actions { mine, page }) => {
                self.action_list(caller, mine, page)
            }
            Command::Incident(IncidentCommand::Postmortem { id }) => self.postmortem(id),
            Command::Metrics(query) => self.metrics(&query),
            Command::Alert(command) => self.alert_command(caller, command),
            Command::Silence(command) => self.silence_command(caller, command),
            Command::Route(query) => self.route_preview(&query),
            Command::Duty(command) => self.duty_command(caller, command),
            Command::Summary(command) => self.summary_command(caller, command),
        }
    }

    fn metrics(&self, query: &MetricsQuery) -> Result<Outcome, CommandError> {
        let Some(history) = &self.history else {
            return Ok(private(
                "No ESP accounts are polled here, so there are no metrics.".into(),
            ));
        };
        let known = history.streams()?;
        let matches: Vec<&(String, StreamKey)> = known
            .iter()
            .filter(|(account, stream)| {
                stream.as_str() == query.stream
                    && query.account.as_ref().is_none_or(|a| a == account)
            })
            .collect();
        let (account, stream) = match matches.as_slice() {
            [one] => (one.0.clone(), one.1.clone()),
            [] => {
                let names: Vec<String> = known
                    .iter()
                    .map(|(a, s)| format!("{a}/{s}"))
                    .take(20)
                    .collect();
                return Err(CommandError::NoData(format!(
                    "no history for stream {}{}; streams with history: {}",
                    query.stream,
                    query
                        .account
                        .as_ref()
                        .map(|a| format!(" in account {a}"))
                        .unwrap_or_default(),
                    if names.is_empty() {
                        "none yet".to_string()
                    } else {
                        names.join(", ")
                    }
                )));
            }
            many => {
                let accounts: Vec<&str> = many.iter().map(|(a, _)| a.as_str()).collect();
                return Err(CommandError::NoData(format!(
                    "stream {} exists in several accounts ({}); add account:",
                    query.stream,
                    accounts.join(", ")
                )));
            }
        };
        let now = self.clock.now();
        let samples = history.series(&account, &stream, now - summary::BASELINE)?;
        let summary = summary::summarise(&samples, now);
        Ok(private(render::metrics(&account, &stream, &summary)))
    }

    pub(super) fn load(&self, id: IncidentId) -> Result<Incident, CommandError> {
        self.store.load(id)?.ok_or(CommandError::NotFound(id))
    }

    /// Refuses a caller without a team role, saying what was refused
    /// (`what`: "open or change incidents", "snooze alerts", …).
    /// Refuses, and writes the refusal to the audit log, when `caller` has
    /// no team role: for a front end that must ask before it shows a form
    /// (the Resolve button's modal), so nobody types a resolution only to
    /// be refused. `attempted` names the attempt for the audit log.
    pub fn refuse_without_team_role(
        &mut self,
        caller: &Caller,
        what: &str,
        attempted: String,
    ) -> Result<(), CommandError> {
        let refused = Self::require_team_role(caller, what);
        if let Err(CommandError::Denied(reason)) = &refused {
            let denial = Denial {
                at: self.clock.now(),
                by: caller.actor.clone(),
                command: attempted,
                reason: reason.clone(),
            };
            self.store.record_denial(denial)?;
        }
        refused
    }

    pub(super) fn require_team_role(caller: &Caller, what: &str) -> Result<(), CommandError> {
        if caller.may_change_incidents() {
            Ok(())
        } else {
            Err(CommandError::Denied(format!(
                "you need a team role (marketing, design, integration or development) to {what}"
            )))
        }
    }

    pub(super) fn open(
        &mut self,
        caller: &Caller,
        args: OpenArgs,
    ) -> Result<Outcome, CommandError> {
        Self::require_team_role(caller, "open or change incidents")?;
        let id = self.store.next_id()?;
        let now = self.clock.now();
        // Each team's assignee starts as its member on duty.
        let assignees = self.on_duty_by_team(&args.teams, now);
        let draft = IncidentDraft {
            title: args.title,
            severity: args.severity,
            owner: args.owner,
            teams: args.teams,
            esp_account: args.esp_account,
            stream: args.stream,
            commander: args.commander.unwrap_or_else(|| caller.actor.clone()),
            assignees,
        };
        let incident = Incident::open(id, draft, &caller.actor, now);
        self.store.commit(Write::Create(incident.clone()))?;
        let reply = render::opened_reply(&incident);
        Ok(public(
            reply,
            vec![Effect::Announce {
                teams: incident.teams.clone(),
                incident,
            }],
        ))
    }

    fn change(&mut self, caller: &Caller, id: IncidentId, op: Op) -> Result<Outcome, CommandError> {
        Self::require_team_role(caller, "open or change incidents")?;
        let mut incident = self.load(id)?;
        if matches!(op, Op::Close { .. })
            && !caller.admin
            && caller.actor.id != incident.commander.id
        {
            return Err(CommandError::Denied(format!(
                "only {id}'s commander ({}) or an incident-admin can close it",
                incident.commander
            )));
        }
        let entry = incident.apply(op, &caller.actor, self.clock.now())?.clone();
        self.store.commit(Write::Update(incident.clone()))?;

        let line = format!("{} {}", entry.by, entry.change);
        let stakeholders = entry.change.status_transition().is_some()
            || matches!(
                entry.change,
                Change::Updated {
                    severity: Some(_),
                    ..
                }
            );
        let mut effects = Vec::new();
        if let Change::Assigned {
            team,
            team_added: true,
            ..
        } = entry.change
        {
            effects.push(Effect::Announce {
                incident: incident.clone(),
                teams: [team].into_iter().collect(),
            });
        }
        effects.push(Effect::ThreadPost {
            incident,
            text: line.clone(),
            stakeholders,
        });
        Ok(public(format!("{id}: {line}"), effects))
    }

    fn list(&self, filter: &ListFilter) -> Result<Outcome, CommandError> {
        let mut incidents: Vec<Incident> = self
            .store
            .all()?
            .into_iter()
            .filter(|i| filter.status.matches(i.status))
            .filter(|i| filter.team.is_none_or(|t| i.teams.contains(&t)))
            .filter(|i| filter.severity.is_none_or(|s| i.severity == s))
            .filter(|i| super::log::matches_log_filter(i, filter))
            .collect();
        // Active first, then by severity (SEV1 first), newest first.
        incidents.sort_by_key(|i| (!i.status.is_active(), i.severity, std::cmp::Reverse(i.id)));
        Ok(private(render::incident_list(&incidents, filter.page)))
    }
}

/// An answer everyone in the channel sees, with the posts it causes.
pub(super) fn public(text: String, effects: Vec<Effect>) -> Outcome {
    Outcome {
        reply: Reply {
            visibility: Visibility::Public,
            text,
        },
        effects,
        posted: Vec::new(),
        attachments: Vec::new(),
    }
}

/// An answer only the caller sees.
pub(super) fn private(text: String) -> Outcome {
    Outcome {
        reply: Reply {
            visibility: Visibility::Private,
            text,
        },
        effects: Vec::new(),
        posted: Vec::new(),
        attachments: Vec::new(),
    }
}
