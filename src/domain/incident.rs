//! An incident and the rules of its lifecycle.
//!
//! ```text
//!   open ──► investigating ◄──► mitigated
//!     │            │                │
//!     └────────────┴──► resolved ◄──┘
//!                          │  ▲
//!                          ▼  │ (reopen → investigating)
//!                        closed
//! ```
//!
//! Every accepted [`Op`] appends exactly one [`TimelineEntry`]; a refused one
//! returns a [`RuleError`] whose message is a sentence for the person who
//! tried, and leaves the incident untouched (all checks run before the first
//! mutation). The store persists the incident only when an op was accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, IncidentId, Name, RootCause, Severity, Status, Team, Text, Title};

/// The most timeline entries one incident may hold. The store appends only
/// the new entries of a change, but the engine holds each incident whole
/// and copies it per change, so a timeline cannot grow without bound; a
/// long incident (weeks of updates, an automated note per alert) stays far
/// below this.
pub const MAX_TIMELINE: usize = 20_000;

/// The most prevention actions one incident may hold.
pub const MAX_ACTIONS: usize = 50;

/// A diagnosis note, as read from the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    pub at: DateTime<Utc>,
    pub by: &'a Actor,
    pub text: &'a Text,
}

/// Something to do so that this does not happen again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreventionAction {
    /// 1-based number within the incident, as people refer to it ("action 2").
    pub number: u32,
    pub text: Text,
    /// Who will do it. Required: an action nobody owns is a wish.
    pub owner: Actor,
    pub due: Option<NaiveDate>,
    /// When it was marked done, and by whom.
    pub done: Option<(DateTime<Utc>, Actor)>,
}

/// One line of an incident's history: who changed what, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub change: Change,
}

/// What an accepted op changed. Stored in the timeline, so it records the
/// "from" side of every transition and the history can be audited (and
/// replayed by tests) without the incident's earlier versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Opened {
        severity: Severity,
        teams: BTreeSet<Team>,
        /// The teams' members on duty at the opening, made their assignees.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        assignees: BTreeMap<Team, Actor>,
    },
    Acknowledged {
        from: Status,
    },
    Assigned {
        team: Team,
        to: Actor,
        previous: Option<Actor>,
        /// The team was not involved before this assignment.
        team_added: bool,
    },
    Diagnosed {
        note: Text,
        root_cause: Option<RootCause>,
        /// Set when this first diagnosis moved the incident out of `open`.
        started_from: Option<Status>,
    },
    Updated {
        note: Text,
        status: Option<(Status, Status)>,
        severity: Option<(Severity, Severity)>,
    },
    Resolved {
        from: Status,
        resolution: Text,
        root_cause: Option<RootCause>,
    },
    Closed {
        root_cause: RootCause,
    },
    Reopened {
        from: Status,
        reason: Text,
    },
    ActionAdded {
        number: u32,
        text: Text,
        owner: Actor,
        due: Option<NaiveDate>,
    },
    ActionDone {
        number: u32,
    },
}

impl Change {
    /// The status transition this change made, if any.
    pub fn status_transition(&self) -> Option<(Status, Status)> {
        match self {
            Change::Acknowledged { from } => Some((*from, Status::Investigating)),
            Change::Diagnosed { started_from, .. } => {
                started_from.map(|f| (f, Status::Investigating))
            }
            Change::Updated { status, .. } => *status,
            Change::Resolved { from, .. } => Some((*from, Status::Resolved)),
            Change::Closed { .. } => Some((Status::Resolved, Status::Closed)),
            Change::Reopened { from, .. } => Some((*from, Status::Investigating)),
            Change::Opened { .. }
            | Change::Assigned { .. }
            | Change::ActionAdded { .. }
            | Change::ActionDone { .. } => None,
        }
    }
}

/// Renders the change as one line for timelines and thread posts.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Opened {
                severity,
                teams,
                assignees,
            } => {
                write!(f, "opened as {severity} for {}", team_list(teams))?;
                if !assignees.is_empty() {
                    let named: Vec<String> =
                        assignees.iter().map(|(t, a)| format!("{t}: {a}")).collect();
                    write!(f, "; assignees on duty: {}", named.join(", "))?;
                }
                Ok(())
            }
            Change::Acknowledged { from } => write!(f, "acknowledged ({from} → investigating)"),
            Change::Assigned {
                team, to, previous, ..
            } => match previous {
                Some(prev) => write!(f, "made {to} the {team} assignee (was {prev})"),
                None => write!(f, "made {to} the {team} assignee"),
            },
            Change::Diagnosed {
                note,
                root_cause,
                started_from,
            } => {
                write!(f, "diagnosis: {note}")?;
                if let Some(cause) = root_cause {
                    write!(f, " [root cause: {}]", cause.label())?;
                }
                if let Some(from) = started_from {
                    write!(f, " ({from} → investigating)")?;
                }
                Ok(())
            }
            Change::Updated {
                note,
                status,
                severity,
            } => {
                write!(f, "update: {note}")?;
                if let Some((from, to)) = status {
                    write!(f, " ({from} → {to})")?;
                }
                if let Some((from, to)) = severity {
                    write!(f, " ({from} → {to})")?;
                }
                Ok(())
            }
            Change::Resolved {
                from,
                resolution,
                root_cause,
            } => {
                write!(f, "resolved ({from} → resolved): {resolution}")?;
                if let Some(cause) = root_cause {
                    write!(f, " [root cause: {}]", cause.label())?;
                }
                Ok(())
            }
            Change::Closed { root_cause } => {
                write!(f, "closed (root cause: {})", root_cause.label())
            }
            Change::Reopened { from, reason } => {
                write!(f, "reopened ({from} → investigating): {reason}")
            }
            Change::ActionAdded {
                number,
                text,
                owner,
                due,
            } => {
                write!(f, "prevention action #{number} for {owner}: {text}")?;
                if let Some(due) = due {
                    write!(f, " (due {due})")?;
                }
                Ok(())
            }
            Change::ActionDone { number } => write!(f, "prevention action #{number} done"),
        }
    }
}

/// The incident's teams, owner first: "integration (owner), marketing".
pub fn incident_team_list(incident: &Incident) -> String {
    let mut names = vec![format!("{} (owner)", incident.owner)];
    names.extend(
        incident
            .teams
            .iter()
            .filter(|t| **t != incident.owner)
            .map(|t| t.to_string()),
    );
    names.join(", ")
}

/// "integration, marketing".
pub(crate) fn team_list(teams: &BTreeSet<Team>) -> String {
    teams
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything needed to declare an incident. Validated values only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentDraft {
    pub title: Title,
    pub severity: Severity,
    /// The team that owns the response; always one of `teams`.
    pub owner: Team,
    /// At least one team, including the owner.
    pub teams: BTreeSet<Team>,
    pub esp_account: Option<Name>,
    pub stream: Option<Name>,
    /// Who leads the response. Defaults to whoever declared it.
    pub commander: Actor,
    /// Assignees from the start (each team's member on duty), at most one
    /// per team of `teams`.
    pub assignees: BTreeMap<Team, Actor>,
}

/// A change someone asks for. See the module docs for the lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Open → investigating, recording the time to acknowledge.
    Acknowledge,
    Assign {
        team: Team,
        to: Actor,
    },
    Diagnose {
        note: Text,
        root_cause: Option<RootCause>,
    },
    Update {
        note: Text,
        status: Option<Status>,
        severity: Option<Severity>,
    },
    Resolve {
        resolution: Text,
        root_cause: Option<RootCause>,
    },
    Close {
        resolution: Option<Text>,
        root_cause: Option<RootCause>,
    },
    Reopen {
        reason: Text,
    },
    AddAction {
        text: Text,
        owner: Actor,
        due: Option<NaiveDate>,
    },
    CompleteAction {
        number: u32,
    },
}

/// Why an op was refused. Each message is a sentence the person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{id} is closed; reopen it first")]
    Closed { id: IncidentId },
    #[error("{id} is resolved; reopen it to change its status")]
    ResolvedNeedsReopen { id: IncidentId },
    #[error("{id} is already {status}")]
    AlreadyInStatus { id: IncidentId, status: Status },
    #[error("{id} is already {severity}")]
    AlreadySeverity { id: IncidentId, severity: Severity },
    #[error("status:{wanted} cannot be set with an update; {hint}")]
    StatusNotSettable { wanted: Status, hint: &'static str },
    #[error("{id} is {status}; resolve it before closing")]
    NotResolved { id: IncidentId, status: Status },
    #[error("{id} has no resolution yet; give one with resolution:")]
    NeedsResolution { id: IncidentId },
    #[error("{id} has no root-cause category yet; give one with root_cause:")]
    NeedsRootCause { id: IncidentId },
    #[error("{id} is {status}; only resolved or closed incidents can be reopened")]
    NotReopenable { id: IncidentId, status: Status },
    #[error("{id} was already acknowledged; it is {status}")]
    AlreadyAcknowledged { id: IncidentId, status: Status },
    #[error("{who} is already the {team} assignee on {id}")]
    AlreadyAssigned {
        id: IncidentId,
        team: Team,
        who: String,
    },
    #[error("{id} has no prevention action #{number} (it has {count})")]
    UnknownAction {
        id: IncidentId,
        number: u32,
        count: usize,
    },
    #[error("prevention action #{number} on {id} is already done")]
    ActionAlreadyDone { id: IncidentId, number: u32 },
    #[error("{id} already has {MAX_ACTIONS} prevention actions; finish or fold some first")]
    TooManyActions { id: IncidentId },
    #[error("{id} has reached {MAX_TIMELINE} timeline entries; open a follow-up incident")]
    TimelineFull { id: IncidentId },
}

/// An incident: what broke, who is on it, what was learnt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: Title,
    pub severity: Severity,
    pub status: Status,
    /// The team that owns the response: its announcement carries the
    /// incident's thread.
    pub owner: Team,
    /// The ESP account the trouble is on, when known.
    pub esp_account: Option<Name>,
    /// The stream (tag, category, campaign) within the account.
    pub stream: Option<Name>,
    /// Teams involved; each gets the announcement in its channel.
    pub teams: BTreeSet<Team>,
    /// At most one assignee per team.
    pub assignees: BTreeMap<Team, Actor>,
    /// Leads the response; with admins, the only one who may close.
    pub commander: Actor,
    pub root_cause: Option<RootCause>,
    pub resolution: Option<Text>,
    pub actions: Vec<PreventionAction>,
    pub opened_at: DateTime<Utc>,
    /// First acknowledgement; kept across reopenings, for time to acknowledge.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Latest resolution; cleared by a reopen.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Latest closing; cleared by a reopen.
    pub closed_at: Option<DateTime<Utc>>,
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    /// A copy with only the latest timeline entry: what a post about the
    /// incident shows, without carrying its whole history.
    pub fn with_latest_entry_only(&self) -> Incident {
        Incident {
            id: self.id,
            title: self.title.clone(),
            severity: self.severity,
            status: self.status,
            owner: self.owner,
            esp_account: self.esp_account.clone(),
            stream: self.stream.clone(),
            teams: self.teams.clone(),
            assignees: self.assignees.clone(),
            commander: self.commander.clone(),
            root_cause: self.root_cause,
            resolution: self.resolution.clone(),
            actions: self.actions.clone(),
            opened_at: self.opened_at,
            acknowledged_at: self.acknowledged_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            timeline: self.timeline.last().cloned().into_iter().collect(),
        }
    }

    /// Declares an incident. Its timeline starts with the `Opened` entry.
    pub fn open(id: IncidentId, draft: IncidentDraft, by: &Actor, at: DateTime<Utc>) -> Incident {
        let change = Change::Opened {
            severity: draft.severity,
            teams: draft.teams.clone(),
            assignees: draft.assignees.clone(),
        };
        Incident {
            id,
            title: draft.title,
            severity: draft.severity,
            status: Status::Open,
            owner: draft.owner,
            esp_account: draft.esp_account,
            stream: draft.stream,
            teams: draft.teams,
            assignees: draft.assignees,
            commander: draft.commander,
            root_cause: None,
            resolution: None,
            actions: Vec::new(),
            opened_at: at,
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            timeline: vec![TimelineEntry {
                at,
                by: by.clone(),
                change,
            }],
        }
    }

    /// The diagnosis notes, oldest first. Derived from the timeline, which
    /// is the one record of who found what and when.
    pub fn diagnosis(&self) -> impl Iterator<Item = Note<'_>> {
        self.timeline
            .iter()
            .filter_map(|entry| match &entry.change {
                Change::Diagnosed { note, .. } => Some(Note {
                    at: entry.at,
                    by: &entry.by,
                    text: note,
                }),
                _ => None,
            })
    }

    /// Prevention actions not yet done.
    pub fn open_actions(&self) -> impl Iterator<Item = &PreventionAction> {
        self.actions.iter().filter(|a| a.done.is_none())
    }

    /// Applies `op` by `by` at `at`. On success exactly one timeline entry is
    /// appended and returned; on error nothing has changed.
    pub fn apply(
        &mut self,
        op: Op,
        by: &Actor,
        at: DateTime<Utc>,
    ) -> Result<&TimelineEntry, RuleError> {
        let id = self.id;
        if self.timeline.len() >= MAX_TIMELINE {
            return Err(RuleError::TimelineFull { id });
        }
        let change = match op {
            Op::Acknowledge => {
                self.require_not_closed()?;
                if self.status != Status::Open {
                    return Err(RuleError::AlreadyAcknowledged {
                        id,
                        status: self.status,
                    });
                }
                self.status = Status::Investigating;
                self.acknowledged_at.get_or_insert(at);
                Change::Acknowledged { from: Status::Open }
            }
            Op::Assign { team, to } => {
                self.require_not_closed()?;
                if self.assignees.get(&team) == Some(&to) {
                    return Err(RuleError::AlreadyAssigned {
                        id,
                        team,
                        who: to.to_string(),
                    });
                }
                let team_added = self.teams.insert(team);
                let previous = self.assignees.insert(team, to.clone());
                Change::Assigned {
                    team,
                    to,
                    previous,
                    team_added,
                }
            }
            Op::Diagnose { note, root_cause } => {
                self.require_not_closed()?;
                let started_from = (self.status == Status::Open).then_some(Status::Open);
                if started_from.is_some() {
                    self.status = Status::Investigating;
                    self.acknowledged_at.get_or_insert(at);
                }
                if root_cause.is_some() {
                    self.root_cause = root_cause;
                }
                Change::Diagnosed {
                    note,
                    root_cause,
                    started_from,
                }
            }
            Op::Update {
                note,
                status,
                severity,
            } => {
                self.require_not_closed()?;
                let status_change = match status {
                    None => None,
                    Some(wanted) => Some((self.status, self.check_update_status(wanted)?)),
                };
                if severity == Some(self.severity) {
                    return Err(RuleError::AlreadySeverity {
                        id,
                        severity: self.severity,
                    });
                }
                let severity_change = severity.map(|s| (self.severity, s));
                if let Some((_, to)) = status_change {
                    self.status = to;
                    if to == Status::Investigating || to == Status::Mitigated {
                        self.acknowledged_at.get_or_insert(at);
                    }
                }
                if let Some(s) = severity {
                    self.severity = s;
                }
                Change::Updated {
                    note,
                    status: status_change,
                    severity: severity_change,
                }
            }
            Op::Resolve {
                resolution,
                root_cause,
            } => {
                self.require_not_closed()?;
                if !self.status.is_active() {
                    return Err(RuleError::AlreadyInStatus {
                        id,
                        status: self.status,
                    });
                }
                let from = self.status;
                self.status = Status::Resolved;
                self.resolution = Some(resolution.clone());
                if root_cause.is_some() {
                    self.root_cause = root_cause;
                }
                self.resolved_at = Some(at);
                self.acknowledged_at.get_or_insert(at);
                Change::Resolved {
                    from,
                    resolution,
                    root_cause,
                }
            }
            Op::Close {
                resolution,
                root_cause,
            } => {
                match self.status {
                    Status::Resolved => {}
                    Status::Closed => {
                        return Err(RuleError::AlreadyInStatus {
                            id,
                            status: Status::Closed,
                        })
                    }
                    status => return Err(RuleError::NotResolved { id, status }),
                }
                if resolution.is_none() && self.resolution.is_none() {
                    return Err(RuleError::NeedsResolution { id });
                }
                let Some(cause) = root_cause.or(self.root_cause) else {
                    return Err(RuleError::NeedsRootCause { id });
                };
                if resolution.is_some() {
                    self.resolution = resolution;
                }
                self.root_cause = Some(cause);
                self.status = Status::Closed;
                self.closed_at = Some(at);
                Change::Closed { root_cause: cause }
            }
            Op::Reopen { reason } => {
                if self.status.is_active() {
                    return Err(RuleError::NotReopenable {
                        id,
                        status: self.status,
                    });
                }
                let from = self.status;
                self.status = Status::Investigating;
                self.resolved_at = None;
                self.closed_at = None;
                Change::Reopened { from, reason }
            }
            Op::AddAction { text, owner, due } => {
                // Prevention actions are usually agreed in the review, after
                // the incident is closed, so they are allowed in every status.
                if self.actions.len() >= MAX_ACTIONS {
                    return Err(RuleError::TooManyActions { id });
                }
                let number = self.actions.len() as u32 + 1;
                self.actions.push(PreventionAction {
                    number,
                    text: text.clone(),
                    owner: owner.clone(),
                    due,
                    done: None,
                });
                Change::ActionAdded {
                    number,
                    text,
                    owner,
                    due,
                }
            }
            Op::CompleteAction { number } => {
                let count = self.actions.len();
                let Some(action) = self.actions.iter_mut().find(|a| a.number == number) else {
                    return Err(RuleError::UnknownAction { id, number, count });
                };
                if action.done.is_some() {
                    return Err(RuleError::ActionAlreadyDone { id, number });
                }
                action.done = Some((at, by.clone()));
                Change::ActionDone { number }
            }
        };
        self.timeline.push(TimelineEntry {
            at,
            by: by.clone(),
            change,
        });
        // The push above makes the timeline non-empty.
        Ok(&self.timeline[self.timeline.len() - 1])
    }

    fn require_not_closed(&self) -> Result<(), RuleError> {
        if self.status == Status::Closed {
            Err(RuleError::Closed { id: self.id })
        } else {
            Ok(())
        }
    }

    /// Which statuses an update may set: moving between investigating and
    /// mitigated (mitigations fail), or straight from open to either.
    /// Resolving, closing and reopening have their own commands because they
    /// need more than a note.
    fn check_update_status(&self, wanted: Status) -> Result<Status, RuleError> {
        let id = self.id;
        match wanted {
            Status::Open => Err(RuleError::StatusNotSettable {
                wanted,
                hint: "an incident cannot go back to open",
            }),
            Status::Resolved => Err(RuleError::StatusNotSettable {
                wanted,
                hint: "use /incident resolve with a resolution",
            }),
            Status::Closed => Err(RuleError::StatusNotSettable {
                wanted,
                hint: "use /incident close",
            }),
            _ if self.status == Status::Resolved => Err(RuleError::ResolvedNeedsReopen { id }),
            _ if self.status == wanted => Err(RuleError::AlreadyInStatus { id, status: wanted }),
            _ => Ok(wanted),
        }
    }
}

/// The transitions the lifecycle allows, as a table independent of
/// [`Incident::apply`], so tests can check one against the other.
pub fn transition_allowed(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (Open, Investigating)
            | (Open, Mitigated)
            | (Investigating, Mitigated)
            | (Mitigated, Investigating)
            | (Open | Investigating | Mitigated, Resolved)
            | (Resolved, Closed)
            | (Resolved | Closed, Investigating)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + i64::from(minute) * 60, 0).unwrap_or_default()
    }

    fn text(s: &str) -> Text {
        Text::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn incident() -> Incident {
        let alice = Actor::console("alice");
        Incident::open(
            IncidentId::FIRST,
            IncidentDraft {
                title: Title::new("Bounce spike").unwrap_or_else(|e| panic!("{e}")),
                severity: Severity::Sev2,
                owner: Team::Integration,
                teams: [Team::Integration].into_iter().collect(),
                esp_account: None,
                stream: None,
                commander: alice.clone(),
                assignees: BTreeMap::new(),
            },
            &alice,
            at(0),
        )
    }

    #[test]
    fn the_happy_path_records_one_entry_per_change() {
        let bob = Actor::console("bob");
        let mut inc = incident();
        let ops = [
            Op::Assign {
                team: Team::Development,
                to: bob.clone(),
            },
            Op::Diagnose {
                note: text("hard bounces from one list"),
                root_cause: Some(RootCause::ListQuality),
            },
            Op::Update {
                note: text("paused the import"),
                status: Some(Status::Mitigated),
                severity: None,
            },
            Op::Resolve {
                resolution: text("list cleaned"),
                root_cause: None,
            },
            Op::AddAction {
                text: text("validate imports"),
                owner: bob.clone(),
                due: None,
            },
            Op::Close {
                resolution: None,
                root_cause: None,
            },
        ];
        for (minute, op) in ops.into_iter().enumerate() {
            let result = inc.apply(op, &bob, at(minute as u32 + 1));
            assert!(result.is_ok(), "{result:?}");
        }
        assert_eq!(inc.status, Status::Closed);
        assert_eq!(inc.timeline.len(), 7);
        assert_eq!(inc.acknowledged_at, Some(at(2)));
        assert!(inc.teams.contains(&Team::Development));
        for pair in inc
            .timeline
            .iter()
            .filter_map(|e| e.change.status_transition())
        {
            assert!(transition_allowed(pair.0, pair.1), "{pair:?}");
        }
    }

    #[test]
    fn a_closed_incident_must_be_reopened_first() {
        let mut inc = incident();
        let bob = Actor::console("bob");
        let _ = inc.apply(
            Op::Resolve {
                resolution: text("fixed"),
                root_cause: Some(RootCause::Content),
            },
            &bob,
            at(1),
        );
        let _ = inc.apply(
            Op::Close {
                resolution: None,
                root_cause: None,
            },
            &bob,
            at(2),
        );
        let before = inc.clone();
        let err = inc.apply(
            Op::Diagnose {
                note: text("more"),
                root_cause: None,
            },
            &bob,
            at(3),
        );
        assert_eq!(
            err.err().map(|e| e.to_string()),
            Some("INC-1 is closed; reopen it first".into())
        );
        assert_eq!(inc, before, "a refused op changes nothing");
    }

    #[test]
    fn closing_needs_resolution_and_root_cause() {
        let mut inc = incident();
        let bob = Actor::console("bob");
        let err = inc.apply(
            Op::Close {
                resolution: None,
                root_cause: None,
            },
            &bob,
            at(1),
        );
        assert_eq!(
            err.err().map(|e| e.to_string()),
            Some("INC-1 is open; resolve it before closing".into())
        );
        let _ = inc.apply(
            Op::Resolve {
                resolution: text("fixed"),
                root_cause: None,
            },
            &bob,
            at(2),
        );
        let err = inc.apply(
            Op::Close {
                resolution: None,
                root_cause: None,
            },
            &bob,
            at(3),
        );
        assert_eq!(
            err.err(),
            Some(RuleError::NeedsRootCause {
                id: IncidentId::FIRST
            })
        );
        assert!(inc
            .apply(
                Op::Close {
                    resolution: None,
                    root_cause: Some(RootCause::Other)
                },
                &bob,
                at(4)
            )
            .is_ok());
    }

    #[test]
    fn reopen_only_from_resolved_or_closed() {
        let mut inc = incident();
        let bob = Actor::console("bob");
        let err = inc.apply(
            Op::Reopen {
                reason: text("again"),
            },
            &bob,
            at(1),
        );
        assert!(matches!(err, Err(RuleError::NotReopenable { .. })));
        let _ = inc.apply(
            Op::Resolve {
                resolution: text("fixed"),
                root_cause: None,
            },
            &bob,
            at(2),
        );
        assert!(inc
            .apply(
                Op::Reopen {
                    reason: text("bounces are back")
                },
                &bob,
                at(3)
            )
            .is_ok());
        assert_eq!(inc.status, Status::Investigating);
        assert_eq!(inc.resolved_at, None);
    }

    #[test]
    fn updates_cannot_jump_to_terminal_states() {
        let mut inc = incident();
        let bob = Actor::console("bob");
        for wanted in [Status::Open, Status::Resolved, Status::Closed] {
            let err = inc.apply(
                Op::Update {
                    note: text("x"),
                    status: Some(wanted),
                    severity: None,
                },
                &bob,
                at(1),
            );
            assert!(
                matches!(err, Err(RuleError::StatusNotSettable { .. })),
                "{wanted}"
            );
        }
        assert_eq!(inc.timeline.len(), 1);
    }
}
