//! `/duty …`: who is on duty, the coming shifts, and overrides.
//!
//! Every name these replies give comes from [`Roster::on_duty`] (through
//! [`Roster::schedule`]), the one answer mailcall has to "who is on duty".
//! Overrides are kept in one store record, written in the command's change,
//! so an override and the reply that confirms it are durable together.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::engine::{private, public, CommandError, Effect, Engine, Outcome};
use super::parse::DutyCommand;
use crate::domain::{Actor, Caller, Team};
use crate::duty::{Override, Roster, Rotation, RotationName};
use crate::store::{IncidentStore, StoreError};

/// The store record overrides are kept in.
pub const RECORD: &str = "duty:overrides";

/// The store record of the shift reminders sent: per rotation, the start
/// of the latest shift its next member was reminded of.
pub const REMINDED_RECORD: &str = "duty:reminded";

/// How long before a shift its member is reminded.
pub fn remind_before() -> Duration {
    Duration::hours(24)
}

/// The longest override: a quarter. Longer is a change of the rotation.
const MAX_OVERRIDE_DAYS: i64 = 92;

/// The most characters of one `/duty schedule` reply (Discord allows 2,000).
const SCHEDULE_CHARS: usize = 1_800;

/// The scheduler's job that posts a rotation's handoffs.
pub fn handoff_job(name: RotationName) -> String {
    format!("handoff:{name}")
}

/// A handoff job's run: the rotation, the due time, and the due time of
/// the run before (`None` on a first start), so a shift change that fell
/// between two runs (or while the bot was down) is posted once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffRun {
    pub rotation: RotationName,
    pub due: DateTime<Utc>,
    pub previous: Option<DateTime<Utc>>,
}

/// What [`RECORD`] holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverrideBook {
    pub next_id: u64,
    pub overrides: Vec<Override>,
}

/// The roster from the configured rotations and the stored overrides.
pub fn restore_roster(
    rotations: Vec<Rotation>,
    saved: Option<&[u8]>,
) -> Result<(Roster, u64), StoreError> {
    let book: OverrideBook = match saved {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
            StoreError::Backend(format!("the duty overrides record is unreadable: {e}"))
        })?,
        None => OverrideBook::default(),
    };
    Ok((Roster::new(rotations, book.overrides), book.next_id))
}

/// "Mon 2 Mar 09:00" in `zone`.
fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %H:%M")
        .to_string()
}

impl<S: IncidentStore> Engine<S> {
    pub(super) fn duty_command(
        &mut self,
        caller: &Caller,
        command: DutyCommand,
    ) -> Result<Outcome, CommandError> {
        match command {
            DutyCommand::Who { rotation } => self.duty_who(rotation),
            DutyCommand::Schedule { rotation, weeks } => self.duty_schedule(rotation, weeks),
            DutyCommand::Override {
                rotation,
                member,
                from,
                to,
                reason,
            } => self.duty_override(caller, rotation, member, (from, to), reason),
        }
    }

    /// The rotations a command is about: the one named (which must be
    /// configured), or every configured one.
    fn rotations_in_scope(
        &self,
        name: Option<RotationName>,
    ) -> Result<Vec<&Rotation>, CommandError> {
        match name {
            Some(name) => self
                .roster
                .rotation(name)
                .map(|r| vec![r])
                .ok_or_else(|| CommandError::NoData(format!("there is no {name} rotation; an admin adds one as [rotations.{name}] in the configuration"))),
            None => {
                let all: Vec<&Rotation> = self.roster.rotations().collect();
                if all.is_empty() {
                    return Err(CommandError::NoData(
                        "no rotations are configured; add [rotations.<team>] tables to the configuration".into(),
                    ));
                }
                Ok(all)
            }
        }
    }

    fn duty_who(&self, name: Option<RotationName>) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let mut text = String::from("On duty now:");
        for rotation in self.rotations_in_scope(name)? {
            let zone = rotation.handoff.time_zone();
            let line = match self.roster.on_duty(rotation.name, now) {
                Some(duty) => {
                    let next = self
                        .roster
                        .on_duty(rotation.name, duty.until)
                        .map(|n| n.member.to_string())
                        .unwrap_or_else(|| "nobody".into());
                    let why = duty
                        .by_override
                        .map(|id| format!(" (override #{id})"))
                        .unwrap_or_default();
                    format!(
                        "\n  {}: {}{why}, since {} until {} ({zone}); next: {next}",
                        rotation.name,
                        duty.member,
                        local(duty.since, zone),
                        local(duty.until, zone)
                    )
                }
                None => format!(
                    "\n  {}: nobody (the rotation starts on {})",
                    rotation.name, rotation.start
                ),
            };
            text.push_str(&line);
        }
        Ok(private(text))
    }

    fn duty_schedule(
        &self,
        name: Option<RotationName>,
        weeks: u32,
    ) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let until = now + Duration::weeks(i64::from(weeks));
        let mut lines = Vec::new();
        for rotation in self.rotations_in_scope(name)? {
            let zone = rotation.handoff.time_zone();
            lines.push(format!("{} ({zone}):", rotation.name));
            let stretches = self.roster.schedule(rotation.name, now, until);
            if stretches.is_empty() {
                lines.push("  nobody on duty in these weeks".into());
            }
            for stretch in stretches {
                let why = stretch
                    .by_override
                    .and_then(|id| self.roster.overrides().iter().find(|o| o.id == id))
                    .map(|o| {
                        format!(
                            " (override #{} by {}: {})",
                            o.id,
                            o.by,
                            crate::domain::defang(&o.reason)
                        )
                    })
                    .unwrap_or_default();
                lines.push(format!(
                    "  {} → {}  {}{why}",
                    local(stretch.start, zone),
                    local(stretch.end, zone),
                    stretch.member
                ));
            }
        }
        let mut text = format!("Shifts for the next {weeks} week(s):");
        let total = lines.len();
        for (shown, line) in lines.iter().enumerate() {
            if text.len() + line.len() + 1 > SCHEDULE_CHARS {
                text.push_str(&format!(
                    "\n… {} more line(s) not shown; ask for one team or fewer weeks",
                    total - shown
                ));
                break;
            }
            text.push('\n');
            text.push_str(line);
        }
        Ok(private(text))
    }

    fn duty_override(
        &mut self,
        caller: &Caller,
        name: RotationName,
        member: Actor,
        (from, to): (NaiveDateTime, NaiveDateTime),
        reason: String,
    ) -> Result<Outcome, CommandError> {
        if !caller.admin {
            return Err(CommandError::Denied(
                "only incident-admin may override a rotation".into(),
            ));
        }
        let zone = self
            .rotations_in_scope(Some(name))?
            .first()
            .map(|r| r.handoff.time_zone())
            .unwrap_or(Tz::UTC);
        let instant = |wall: NaiveDateTime, option: &str| {
            zone.from_local_datetime(&wall)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    CommandError::NoData(format!(
                        "{option} {} does not exist in {zone} (the clocks go forward then); pick another time",
                        wall.format("%Y-%m-%d %H:%M")
                    ))
                })
        };
        let (start, end) = (instant(from, "from")?, instant(to, "to")?);
        let now = self.clock.now();
        if end <= start {
            return Err(CommandError::NoData("`to` must come after `from`".into()));
        }
        if end <= now {
            return Err(CommandError::NoData(
                "that time is over; an override is for now or the future".into(),
            ));
        }
        if end - start > Duration::days(MAX_OVERRIDE_DAYS) {
            return Err(CommandError::NoData(format!(
                "an override lasts at most {MAX_OVERRIDE_DAYS} days; for longer, change the rotation"
            )));
        }
        let saved = self.store.get_extra(RECORD)?;
        let mut book: OverrideBook = match saved {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Backend(format!("the duty overrides record is unreadable: {e}"))
            })?,
            None => OverrideBook::default(),
        };
        book.next_id += 1;
        let added = Override {
            id: book.next_id,
            rotation: name,
            member,
            from: start,
            to: end,
            by: caller.actor.clone(),
            reason: reason.trim().to_string(),
        };
        // Whose shifts it covers, asked before it exists.
        let covered: Vec<Actor> = self
            .roster
            .schedule(name, start, end)
            .into_iter()
            .map(|s| s.member)
            .fold(Vec::new(), |mut people, member| {
                if !people.contains(&member) && member != added.member {
                    people.push(member);
                }
                people
            });
        book.overrides.push(added.clone());
        let bytes = serde_json::to_vec(&book)
            .map_err(|e| StoreError::Backend(format!("cannot encode the duty overrides: {e}")))?;
        self.store.put_extra(RECORD, &bytes)?;
        self.roster.add_override(added.clone());
        let covers = if covered.is_empty() {
            String::new()
        } else {
            format!(
                "; it covers {}",
                covered
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let text = format!(
            "🗓️ {name}: {} is on duty from {} to {} ({zone}), over the rotation (override #{} by {}: {}){covers}",
            added.member,
            local(start, zone),
            local(end, zone),
            added.id,
            caller.actor,
            crate::domain::defang(&added.reason)
        );
        // The people whose shifts change are told in the team's channel:
        // the one taking over and those covered.
        let effects = match name {
            RotationName::Team(team) => {
                let mut mention = vec![added.member.clone()];
                mention.extend(covered);
                vec![Effect::TeamPost {
                    team,
                    mention,
                    text: text.clone(),
                }]
            }
            RotationName::QualityReviewer => Vec::new(),
        };
        Ok(public(text, effects))
    }

    /// The handoff post for a run of a team rotation's handoff job, if a
    /// shift changed hands since the previous run: who is on duty now (the
    /// roster's answer, overrides included) and who is next, with the
    /// team's open incidents, active alerts and overdue prevention actions.
    /// The quality reviewer has no team channel and gets no handoff post.
    pub(super) fn handoff_post(&self, run: &HandoffRun) -> Result<Option<Effect>, CommandError> {
        let RotationName::Team(team) = run.rotation else {
            return Ok(None);
        };
        let Some(rotation) = self.roster.rotation(run.rotation) else {
            return Ok(None);
        };
        let Some(shift) = rotation.base_shift_at(run.due) else {
            return Ok(None);
        };
        let changed = match run.previous {
            Some(previous) => shift.start > previous,
            None => shift.start == run.due,
        };
        if !changed {
            return Ok(None);
        }
        let zone = rotation.handoff.time_zone();
        let now = self.clock.now();
        let Some(duty) = self.roster.on_duty(run.rotation, now.max(run.due)) else {
            return Ok(None);
        };
        let next = self
            .roster
            .on_duty(run.rotation, duty.until)
            .map(|n| n.member.to_string())
            .unwrap_or_else(|| "nobody".into());
        let mut text = format!(
            "🔁 {team} handoff: {} is on duty now, until {} ({zone}); next: {next}",
            duty.member,
            local(duty.until, zone)
        );
        text.push_str(&self.team_briefing(team, now)?);
        Ok(Some(Effect::TeamPost {
            team,
            mention: vec![duty.member],
            text,
        }))
    }

    /// Reminders to members whose shift starts within 24 hours, once per
    /// shift: a post in the team's channel mentioning them. The record of
    /// which shifts were reminded is written in the same change (the
    /// scheduled tick's), so a restart does not remind twice.
    pub(super) fn shift_reminders(&mut self) -> Result<Vec<Effect>, CommandError> {
        let now = self.clock.now();
        // Keyed by the rotation's name as text (JSON keys are strings).
        let mut reminded: std::collections::BTreeMap<String, DateTime<Utc>> =
            match self.store.get_extra(REMINDED_RECORD)? {
                Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                None => Default::default(),
            };
        let mut effects = Vec::new();
        for rotation in self.roster.rotations() {
            let RotationName::Team(team) = rotation.name else {
                continue;
            };
            let Some(current) = self.roster.on_duty(rotation.name, now) else {
                continue;
            };
            let starts = current.until;
            let key = rotation.name.to_string();
            if starts - now > remind_before() || reminded.get(&key) == Some(&starts) {
                continue;
            }
            let Some(next) = self.roster.on_duty(rotation.name, starts) else {
                continue;
            };
            if next.member == current.member {
                continue;
            }
            let zone = rotation.handoff.time_zone();
            let hours = (starts - now).num_minutes().div_euclid(60);
            effects.push(Effect::TeamPost {
                team,
                mention: vec![next.member.clone()],
                text: format!(
                    "⏰ {team}: {}, you are on duty from {} ({zone}), in {hours} h, until {}; {} hands over.",
                    next.member,
                    local(starts, zone),
                    local(next.until, zone),
                    current.member
                ),
            });
            reminded.insert(key, starts);
        }
        if !effects.is_empty() {
            let bytes = serde_json::to_vec(&reminded).map_err(|e| {
                StoreError::Backend(format!("cannot encode the shift reminders: {e}"))
            })?;
            self.store.put_extra(REMINDED_RECORD, &bytes)?;
        }
        Ok(effects)
    }

    /// A team's open incidents, active alerts and overdue prevention
    /// actions, one line each (or "none").
    fn team_briefing(&self, team: Team, now: DateTime<Utc>) -> Result<String, CommandError> {
        let incidents = self.store.all()?;
        let open: Vec<String> = incidents
            .iter()
            .filter(|i| i.status.is_active() && i.teams.contains(&team))
            .map(|i| {
                format!(
                    "{} {} {} \"{}\"",
                    i.id,
                    i.severity,
                    i.status,
                    crate::domain::defang(i.title.as_str())
                )
            })
            .collect();
        let alerts: Vec<String> = self
            .alerts
            .as_ref()
            .map(|desk| desk.state.book.active())
            .unwrap_or_default()
            .iter()
            .filter(|a| a.teams.contains(&team))
            .map(|a| {
                format!(
                    "#{} {} ({}) {}",
                    a.id,
                    a.key.metric,
                    a.key.kind,
                    crate::domain::defang(&format!("{}/{}", a.key.account, a.key.stream))
                )
            })
            .collect();
        let today = now.date_naive();
        let overdue: Vec<String> = incidents
            .iter()
            .filter(|i| i.teams.contains(&team))
            .flat_map(|i| {
                i.actions
                    .iter()
                    .filter(|a| a.done.is_none() && a.due.is_some_and(|due| due < today))
                    .map(move |a| {
                        format!(
                            "{} action {} \"{}\" ({}, due {})",
                            i.id,
                            a.number,
                            crate::domain::defang(a.text.as_str()),
                            a.owner,
                            a.due.map(|d| d.to_string()).unwrap_or_default()
                        )
                    })
            })
            .collect();
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join("; ")
            }
        };
        Ok(format!(
            "\nOpen incidents: {}\nActive alerts: {}\nOverdue prevention actions: {}",
            list(open),
            list(alerts),
            list(overdue)
        ))
    }

    /// Puts the roster in memory back to what the store holds, after a
    /// change that did not commit.
    pub(super) fn reload_roster(&mut self) {
        let rotations: Vec<Rotation> = self.roster.rotations().cloned().collect();
        match self
            .store
            .get_extra(RECORD)
            .and_then(|saved| restore_roster(rotations, saved.as_deref()))
        {
            Ok((roster, _)) => self.roster = roster,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the duty overrides back after a failed change")
            }
        }
    }
}
