//! `/duty …`: who is on duty, the coming shifts, overrides, swaps and
//! member changes.
//!
//! Every name these replies give comes from [`crate::duty::Roster::on_duty`]
//! (through [`crate::duty::Roster::schedule`]), the one answer mailcall has to "who is on duty".
//! Run-time decisions live in the duty book ([`crate::duty::DutyBook`]),
//! one store record written in the command's change, so a change and the
//! posts that tell people about it are durable together. A change is made
//! on a copy ([`crate::duty::DutyState::changed`]) that replaces the
//! engine's state only once it is written.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::engine::{
    private, public, team_post, CommandError, Effect, Engine, Outcome, PostButton,
};
use super::parse::DutyCommand;
use crate::domain::{Actor, Caller, Team};
use crate::duty::{
    affected_members, DutyAudit, DutyState, Override, Rotation, RotationName, Swap, SwapState,
};
use crate::store::{IncidentStore, StoreError};

/// The store record the duty book is kept in (named for what it first
/// held, so stores written then still read).
pub const RECORD: &str = "duty:overrides";

/// The store record of each member's duty load (alerts and pages, by
/// week and part of the day).
pub const LOAD_RECORD: &str = "duty:load";

/// The store record of the quality reviewer's checklists.
pub const CHECKLIST_RECORD: &str = "duty:checklists";

/// How long a swap request waits for an answer (less if its period starts
/// sooner).
fn swap_answer_time() -> Duration {
    Duration::hours(48)
}

/// How far ahead the people whose shifts a change moves are worked out.
pub(super) fn change_horizon() -> Duration {
    Duration::weeks(12)
}

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

/// A change to a rotation's members.
enum MemberEdit {
    /// Joins at a 1-based place in the turns (default last).
    Join(Actor, Option<u32>),
    Leave(Actor),
    /// Back to the configured list.
    Reset,
}

/// The member a join or leave names.
fn what_member(edit: &MemberEdit) -> String {
    match edit {
        MemberEdit::Join(member, _) | MemberEdit::Leave(member) => member.name.clone(),
        MemberEdit::Reset => String::new(),
    }
}

/// "alice, bob".
fn names<'a>(people: impl Iterator<Item = &'a Actor>) -> String {
    people.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}

/// A post in a rotation's channel mentioning `mention`: the team's, or for
/// the quality reviewer (drawn across the teams) the quality channel.
fn duty_post(
    name: RotationName,
    mention: Vec<Actor>,
    text: String,
    mention_admin: bool,
    buttons: Vec<PostButton>,
) -> Effect {
    match name {
        RotationName::Team(team) => Effect::TeamPost {
            team,
            mention,
            text,
            mention_admin,
            buttons,
        },
        RotationName::QualityReviewer => Effect::QualityPost {
            mention,
            text,
            mention_admin,
            buttons,
        },
    }
}

/// A post in a rotation's channel mentioning `mention`, without buttons.
fn tell_team(name: RotationName, mention: Vec<Actor>, text: String) -> Vec<Effect> {
    vec![duty_post(name, mention, text, false, Vec::new())]
}

/// The reply to a change of a rotation, posted to its team too: `text`,
/// then whose shifts move in the next 12 weeks (they are mentioned).
pub(super) fn change_told(name: RotationName, moved: Vec<Actor>, mut text: String) -> Outcome {
    if moved.is_empty() {
        text.push_str("; nobody's shifts move in the next 12 weeks");
    } else {
        text.push_str(&format!("; shifts move for {}", names(moved.iter())));
    }
    let effects = tell_team(name, moved, text.clone());
    public(text, effects)
}

/// Refuses anyone but incident-admin: "only incident-admin may {to}".
pub(super) fn admin_only(caller: &Caller, to: &str) -> Result<(), CommandError> {
    if caller.admin {
        Ok(())
    } else {
        Err(CommandError::Denied(format!(
            "only incident-admin may {to}"
        )))
    }
}

/// "Mon 2 Mar 09:00" in `zone`.
pub(super) fn local(at: DateTime<Utc>, zone: Tz) -> String {
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
            DutyCommand::Away {
                rotation,
                member,
                from,
                to,
                reason,
            } => self.duty_away(caller, rotation, member, (from, to), reason),
            DutyCommand::Swap {
                rotation,
                member,
                from,
                to,
                reason,
            } => self.duty_swap(caller, rotation, member, (from, to), reason),
            DutyCommand::Answer { swap, accept } => self.duty_answer(caller, swap, accept),
            DutyCommand::Join {
                rotation,
                member,
                position,
            } => self.duty_members(caller, rotation, MemberEdit::Join(member, position)),
            DutyCommand::Leave { rotation, member } => {
                self.duty_members(caller, rotation, MemberEdit::Leave(member))
            }
            DutyCommand::Reset { rotation } => {
                self.duty_members(caller, rotation, MemberEdit::Reset)
            }
            DutyCommand::Timing {
                rotation,
                shift_days,
                handoff,
                timezone,
                start,
            } => self.duty_timing(
                caller,
                rotation,
                super::retime::TimingEdit {
                    shift_days,
                    handoff,
                    timezone,
                    start,
                },
            ),
            DutyCommand::Load { rotation, weeks } => self.duty_load(rotation, weeks),
            DutyCommand::Tick { checklist, item } => self.duty_tick(caller, checklist, item),
            DutyCommand::Export { rotation, weeks } => self.duty_export(rotation, weeks),
        }
    }

    /// A duty record (`key`, named `what` in errors) as stored; its
    /// default when there is none yet. An unreadable record is an error,
    /// never a silent fresh start.
    pub(super) fn read_record<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<T, CommandError> {
        match self.store.get_extra(key)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CommandError::Store(StoreError::Backend(format!(
                    "the {what} record is unreadable: {e}"
                )))
            }),
            None => Ok(T::default()),
        }
    }

    /// Writes a duty record in the current change.
    pub(super) fn write_record<T: serde::Serialize>(
        &mut self,
        key: &str,
        what: &str,
        value: &T,
    ) -> Result<(), CommandError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| StoreError::Backend(format!("cannot encode the {what}: {e}")))?;
        self.store.put_extra(key, &bytes)?;
        Ok(())
    }

    /// The quality reviewer's checklists as stored (none yet: empty); the
    /// weekly summary reads what stays unticked.
    pub fn checklists(&self) -> Result<crate::duty::ChecklistBook, CommandError> {
        self.read_record(CHECKLIST_RECORD, "checklists")
    }

    fn keep_checklists(&mut self, book: &crate::duty::ChecklistBook) -> Result<(), CommandError> {
        self.write_record(CHECKLIST_RECORD, "checklists", book)
    }

    fn duty_tick(
        &mut self,
        caller: &Caller,
        checklist: u64,
        item: u8,
    ) -> Result<Outcome, CommandError> {
        let mut book = self.checklists()?;
        let list = book
            .get(checklist)
            .ok_or_else(|| CommandError::NoData(format!("there is no checklist #{checklist}")))?;
        if !caller.admin && !caller.actor.is_same_person(&list.reviewer) {
            return Err(CommandError::Denied(format!(
                "checklist #{checklist} is {}'s to tick (or an incident-admin's)",
                list.reviewer
            )));
        }
        let text = book
            .tick(checklist, item, &caller.actor, self.clock.now())
            .map_err(CommandError::NoData)?;
        self.keep_checklists(&book)?;
        let left = book
            .get(checklist)
            .map(|l| l.unticked().count())
            .unwrap_or(0);
        Ok(public(
            format!(
                "✅ {} ticked item {item} of checklist #{checklist}: {}; {left} left",
                caller.actor,
                crate::domain::defang(&text)
            ),
            Vec::new(),
        ))
    }

    /// The things the quality reviewer should look at this week, one line
    /// each; empty when nothing needs a look. Also returns the detector
    /// settings' fingerprint, to compare with next week's.
    fn checklist_items(
        &self,
        previous_settings: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), CommandError> {
        let now = self.clock.now();
        let week_ago = now - Duration::days(7);
        let incidents = self.store.all()?;
        let mut items = Vec::new();
        let cut = |mut list: Vec<String>| {
            let more = list.len().saturating_sub(5);
            list.truncate(5);
            let mut text = list.join("; ");
            if more > 0 {
                text.push_str(&format!("; and {more} more"));
            }
            text
        };
        // Open and overdue prevention actions.
        let today = now.date_naive();
        let open: Vec<(String, bool)> = incidents
            .iter()
            .flat_map(|i| {
                i.open_actions().map(move |a| {
                    let overdue = a.due.is_some_and(|d| d < today);
                    (
                        format!(
                            "{} #{} \"{}\" ({}{})",
                            i.id,
                            a.number,
                            crate::domain::defang(a.text.as_str()),
                            a.owner,
                            if overdue { ", overdue" } else { "" }
                        ),
                        overdue,
                    )
                })
            })
            .collect();
        if !open.is_empty() {
            let overdue = open.iter().filter(|(_, o)| *o).count();
            items.push(format!(
                "Prevention actions open: {}, {overdue} overdue: {}",
                open.len(),
                cut(open.into_iter().map(|(t, _)| t).collect())
            ));
        }
        let mut fingerprint = None;
        if let Some(desk) = &self.alerts {
            // Silences and quiet windows in force.
            let quiet: Vec<String> = desk
                .state
                .silences
                .active(now)
                .iter()
                .map(|s| {
                    format!(
                        "#{} {} until {} ({})",
                        s.id,
                        s.matcher,
                        s.end.format("%Y-%m-%d %H:%M UTC"),
                        crate::domain::defang(&s.reason)
                    )
                })
                .collect();
            if !quiet.is_empty() {
                items.push(format!(
                    "Silences and quiet windows in force: {}",
                    cut(quiet)
                ));
            }
            // Stale feeds.
            let stale: Vec<String> = desk
                .state
                .book
                .active()
                .iter()
                .filter(|a| a.key.kind == crate::detect::AnomalyKind::StaleFeed)
                .map(|a| format!("alert #{} {}", a.id, crate::domain::defang(&a.key.account)))
                .collect();
            if !stale.is_empty() {
                items.push(format!("Stale feeds: {}", cut(stale)));
            }
            // Detector settings changed since the last checklist.
            let settings = format!("{:?}|{:?}", desk.config.detector, desk.config.overrides);
            if previous_settings.is_some_and(|p| p != settings) {
                items.push(
                    "Detector settings changed since the last review: check the new thresholds are intended"
                        .to_string(),
                );
            }
            fingerprint = Some(settings);
        }
        // Incidents closed without a root cause or a prevention action.
        let thin: Vec<String> = incidents
            .iter()
            .filter(|i| i.closed_at.is_some_and(|c| c >= week_ago))
            .filter(|i| i.root_cause.is_none() || i.actions.is_empty())
            .map(|i| {
                format!(
                    "{} \"{}\" ({})",
                    i.id,
                    crate::domain::defang(i.title.as_str()),
                    match (i.root_cause.is_none(), i.actions.is_empty()) {
                        (true, true) => "no root cause, no prevention action",
                        (true, false) => "no root cause",
                        _ => "no prevention action",
                    }
                )
            })
            .collect();
        if !thin.is_empty() {
            items.push(format!(
                "Closed this week without a root cause or prevention action: {}",
                cut(thin)
            ));
        }
        // Streams that sent nothing all week (counts, not missing data).
        if let Some(history) = &self.history {
            let mut silent = Vec::new();
            for (account, stream) in history.streams()? {
                let samples = history.series(&account, &stream, week_ago)?;
                let sent: Vec<u64> = samples.iter().filter_map(|s| s.counts.sent).collect();
                if !sent.is_empty() && sent.iter().all(|n| *n == 0) {
                    silent.push(crate::domain::defang(&format!("{account}/{stream}")));
                }
            }
            if !silent.is_empty() {
                items.push(format!(
                    "Streams with no traffic in 7 days: {}",
                    cut(silent)
                ));
            }
        }
        Ok((items, fingerprint))
    }

    /// The quality reviewer's checklist at their handoff, posted to them
    /// in their own team's channel (the first team rotation that lists
    /// them, else the first team with a rotation) with a Tick button per
    /// item. The checklist is stored in the same change.
    fn reviewer_checklist(&mut self, reviewer: Actor) -> Result<Option<Effect>, CommandError> {
        let mut book = self.checklists()?;
        let (items, fingerprint) = self.checklist_items(book.detector_settings.as_deref())?;
        book.detector_settings = fingerprint.or(book.detector_settings.take());
        let now = self.clock.now();
        let roster = self.duty.roster();
        let team = roster
            .rotations()
            .filter_map(|r| match r.name {
                RotationName::Team(team) => Some((team, r)),
                RotationName::QualityReviewer => None,
            })
            .find(|(_, r)| {
                let number = r.shift_at(now).map(|(n, ..)| n).unwrap_or(0);
                r.members_for_shift(number)
                    .iter()
                    .any(|m| m.is_same_person(&reviewer))
            })
            .map(|(team, _)| team)
            .or_else(|| {
                roster.rotations().find_map(|r| match r.name {
                    RotationName::Team(team) => Some(team),
                    RotationName::QualityReviewer => None,
                })
            })
            .unwrap_or(Team::ALL[0]);
        if items.is_empty() {
            self.keep_checklists(&book)?;
            return Ok(Some(team_post(
                team,
                vec![reviewer.clone()],
                format!("🔍 Quality review, {reviewer}: nothing needs a look this week."),
            )));
        }
        let id = book.add(reviewer.clone(), now, items.clone());
        self.keep_checklists(&book)?;
        let mut text = format!(
            "🔍 Quality review #{id}, {reviewer}: you step back this week. Tick each item once you have looked at it; what stays unticked goes into the weekly summary."
        );
        for (item, number) in items.iter().zip(1u8..) {
            text.push_str(&format!("\n{number}. {item}"));
        }
        let buttons = (1..=u8::try_from(items.len()).unwrap_or(u8::MAX))
            .map(|n| PostButton::ChecklistTick(id, n))
            .collect();
        Ok(Some(Effect::TeamPost {
            team,
            mention: vec![reviewer],
            text,
            mention_admin: false,
            buttons,
        }))
    }

    /// `/duty export`: the coming weeks of a rotation as an `.ics` file,
    /// the same export as `mailcall duty ical` (and so the same answers as
    /// `/duty schedule`).
    fn duty_export(&self, name: RotationName, weeks: u32) -> Result<Outcome, CommandError> {
        self.rotations_in_scope(Some(name))?;
        let now = self.clock.now();
        let to = now + Duration::weeks(i64::from(weeks));
        let text = crate::duty::ical::export(self.duty.roster(), name, now, to, now);
        let mut outcome = private(format!(
            "{name}: the next {weeks} week(s) of shifts as an iCalendar file; import it in your calendar (importing a newer export updates the events)."
        ));
        outcome.attachments.push(super::engine::Attachment {
            filename: format!("mailcall-duty-{name}.ics"),
            bytes: text.into_bytes(),
        });
        Ok(outcome)
    }

    /// The duty load as stored (none yet: empty).
    pub fn duty_load_record(&self) -> Result<crate::duty::DutyLoad, CommandError> {
        self.read_record(LOAD_RECORD, "duty load")
    }

    /// Counts the alerts and pages these posts give members on duty, in
    /// the change that makes the posts: an alert raised for their team is
    /// an alert and a page (they are mentioned), a reminder a page. The
    /// part of the day is read in their rotation's zone and working hours.
    pub(super) fn record_load(&mut self, effects: &[Effect]) -> Result<(), CommandError> {
        use crate::alert::AlertEffect;
        use crate::duty::Received;
        let now = self.clock.now();
        let mut hits = Vec::new();
        for effect in effects {
            let Effect::Alert(alert) = effect else {
                continue;
            };
            let (view, raised) = match alert.as_ref() {
                AlertEffect::Open { alert } => (alert, true),
                AlertEffect::Remind { alert } => (alert, false),
                _ => continue,
            };
            for (team, member) in &view.on_duty {
                let Some(rotation) = self.duty.roster().rotation(RotationName::Team(*team)) else {
                    continue;
                };
                let period = rotation.working_hours.period(now, rotation.zone());
                if raised {
                    hits.push((member.clone(), period, Received::Alert));
                }
                hits.push((member.clone(), period, Received::Page));
            }
        }
        if hits.is_empty() {
            return Ok(());
        }
        let mut load = self.duty_load_record()?;
        for (member, period, what) in hits {
            load.record(&member, now, period, what);
        }
        self.write_record(LOAD_RECORD, "duty load", &load)
    }

    /// `/duty load [team] [weeks]`: alerts and pages per person over this
    /// week and the `weeks - 1` before it, by part of the day.
    fn duty_load(&self, name: Option<RotationName>, weeks: u32) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let this_week = crate::duty::load::week_of(now);
        let from = this_week - Duration::weeks(i64::from(weeks.saturating_sub(1)));
        let to = this_week + Duration::weeks(1);
        let members: Option<Vec<Actor>> = match name {
            Some(name) => {
                let rotation = self
                    .rotations_in_scope(Some(name))?
                    .first()
                    .map(|r| (*r).clone());
                rotation.map(|r| {
                    let number = r.shift_at(now).map(|(n, ..)| n).unwrap_or(0);
                    r.members_for_shift(number).to_vec()
                })
            }
            None => None,
        };
        let rows: Vec<String> = self
            .duty_load_record()?
            .between(from, to)
            .into_iter()
            .filter(|(member, _)| {
                members
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|m| m.is_same_person(member)))
            })
            .map(|(member, load)| {
                format!("\n  {member}: pages {}; alerts {}", load.pages, load.alerts)
            })
            .collect();
        let scope = name.map(|n| format!(" ({n})")).unwrap_or_default();
        let mut text = format!(
            "Duty load{scope}, weeks of {from} to {}:",
            to - Duration::days(1)
        );
        if rows.is_empty() {
            text.push_str("\n  nobody on duty was alerted or paged");
        }
        for row in rows {
            if text.len() + row.len() > SCHEDULE_CHARS {
                text.push_str("\n  …");
                break;
            }
            text.push_str(&row);
        }
        Ok(private(text))
    }

    /// Stores `next` as the duty state (in the current change) and makes it
    /// the engine's.
    pub(super) fn keep_duty(&mut self, next: DutyState) -> Result<(), CommandError> {
        let bytes = next.encode().map_err(StoreError::Backend)?;
        self.store.put_extra(RECORD, &bytes)?;
        self.duty = next;
        Ok(())
    }

    /// A rotation's zone, and `[from, to)` as instants: both must exist in
    /// the zone, `to` must come after `from` and after now, and the period
    /// may last at most [`MAX_OVERRIDE_DAYS`].
    fn duty_period(
        &self,
        name: RotationName,
        (from, to): (NaiveDateTime, NaiveDateTime),
    ) -> Result<(Tz, DateTime<Utc>, DateTime<Utc>), CommandError> {
        let zone = self
            .rotations_in_scope(Some(name))?
            .first()
            .map(|r| r.zone())
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
        if end <= start {
            return Err(CommandError::NoData("`to` must come after `from`".into()));
        }
        if end <= self.clock.now() {
            return Err(CommandError::NoData(
                "that time is over; this is for now or the future".into(),
            ));
        }
        if end - start > Duration::days(MAX_OVERRIDE_DAYS) {
            return Err(CommandError::NoData(format!(
                "a period lasts at most {MAX_OVERRIDE_DAYS} days; for longer, change the rotation"
            )));
        }
        Ok((zone, start, end))
    }

    /// The rotations a command is about: the one named (which must be
    /// configured), or every configured one.
    fn rotations_in_scope(
        &self,
        name: Option<RotationName>,
    ) -> Result<Vec<&Rotation>, CommandError> {
        match name {
            Some(name) => self
                .duty
                .roster()
                .rotation(name)
                .map(|r| vec![r])
                .ok_or_else(|| CommandError::NoData(format!("there is no {name} rotation; an admin adds one as [rotations.{name}] in the configuration"))),
            None => {
                let all: Vec<&Rotation> = self.duty.roster().rotations().collect();
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
            let zone = rotation.zone();
            let line = match self.duty.roster().on_duty(rotation.name, now) {
                Some(duty) => {
                    let next = self
                        .duty
                        .roster()
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
                None => match rotation.shift_at(now) {
                    None => format!(
                        "\n  {}: nobody (the rotation starts {} ({zone}))",
                        rotation.name,
                        rotation
                            .shift_start(0)
                            .map(|start| local(start, zone))
                            .unwrap_or_else(|| "never".into())
                    ),
                    Some(_) => format!(
                        "\n  {}: nobody (a gap in the rotation; see /duty schedule)",
                        rotation.name
                    ),
                },
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
            let zone = rotation.zone();
            lines.push(format!("{} ({zone}):", rotation.name));
            for retiming in &rotation.retimings {
                match rotation.shift_start(retiming.from_shift) {
                    Some(begins) if now < begins && begins < until => lines.push(format!(
                        "  from {}, shifts change hands {}",
                        local(begins, zone),
                        retiming.timing.describe()
                    )),
                    _ => {}
                }
            }
            let stretches = self.duty.roster().schedule(rotation.name, now, until);
            if stretches.is_empty() {
                lines.push("  nobody on duty in these weeks".into());
            }
            let mut covered_until = now;
            for stretch in stretches {
                if stretch.start > covered_until {
                    // A gap: someone away, a member gone, the rotation over.
                    lines.push(format!(
                        "  {} → {}  nobody",
                        local(covered_until, zone),
                        local(stretch.start, zone)
                    ));
                }
                covered_until = stretch.end;
                let why = stretch
                    .by_override
                    .and_then(|id| self.duty.roster().overrides().iter().find(|o| o.id == id))
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
        period: (NaiveDateTime, NaiveDateTime),
        reason: String,
    ) -> Result<Outcome, CommandError> {
        admin_only(caller, "override a rotation")?;
        let (zone, start, end) = self.duty_period(name, period)?;
        let (next, added) = self.set_override(caller, name, member, (start, end), reason, false);
        let moved = affected_members(self.duty.roster(), next.roster(), name, start, end);
        self.keep_duty(next)?;
        let covered: Vec<&Actor> = moved.iter().filter(|m| **m != added.member).collect();
        let covers = if covered.is_empty() {
            String::new()
        } else {
            format!("; it covers {}", names(covered.iter().copied()))
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
        let mut mention = vec![added.member.clone()];
        mention.extend(covered.into_iter().cloned());
        let effects = tell_team(name, mention, text.clone());
        Ok(public(text, effects))
    }

    /// A new override (or, `away`, an absence) by `caller`, audited, in the
    /// duty state to keep; returned with the override as recorded.
    fn set_override(
        &self,
        caller: &Caller,
        name: RotationName,
        member: Actor,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        reason: String,
        away: bool,
    ) -> (crate::duty::DutyState, Override) {
        let now = self.clock.now();
        let reason = reason.trim().to_string();
        self.duty.changed(|book| {
            let added = Override {
                id: book.take_id(),
                rotation: name,
                member,
                from,
                to,
                by: caller.actor.clone(),
                reason,
                away,
            };
            book.overrides.push(added.clone());
            book.audit.push(DutyAudit {
                at: now,
                by: caller.actor.clone(),
                rotation: name,
                what: format!(
                    "{} #{}: {} from {from} to {to}",
                    if away { "away" } else { "override" },
                    added.id,
                    added.member
                ),
            });
            added
        })
    }

    /// `/duty away`: `member` is not on duty over the period; their shifts
    /// in it are left uncovered until someone is put on (an override, a
    /// swap asked beforehand), and the gap is announced like any other.
    /// Incident-admin may mark anyone away; a member may mark themself.
    fn duty_away(
        &mut self,
        caller: &Caller,
        name: RotationName,
        member: Actor,
        period: (NaiveDateTime, NaiveDateTime),
        reason: String,
    ) -> Result<Outcome, CommandError> {
        if !caller.admin && !member.is_same_person(&caller.actor) {
            return Err(CommandError::Denied(
                "only incident-admin may mark someone else away; you may mark yourself".into(),
            ));
        }
        let (zone, start, end) = self.duty_period(name, period)?;
        let (next, added) = self.set_override(caller, name, member, (start, end), reason, true);
        // The stretches the absence empties, in the new roster.
        let before = self.duty.roster().schedule(name, start, end);
        let uncovered: Vec<(DateTime<Utc>, DateTime<Utc>)> = before
            .iter()
            .filter(|s| s.member.is_same_person(&added.member))
            .map(|s| (s.start, s.end))
            .filter(|(from, to)| next.roster().on_duty(name, *from).is_none() && from < to)
            .collect();
        self.keep_duty(next)?;
        let why = if added.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", crate::domain::defang(&added.reason))
        };
        let mut text = format!(
            "🏖️ {name}: {} is away from {} to {} ({zone}){why}, set by {} (away #{}).",
            added.member,
            local(start, zone),
            local(end, zone),
            caller.actor,
            added.id
        );
        if uncovered.is_empty() {
            text.push_str(" No shift of theirs falls in that time.");
        } else {
            let spans: Vec<String> = uncovered
                .iter()
                .map(|(from, to)| format!("{} to {}", local(*from, zone), local(*to, zone)))
                .collect();
            text.push_str(&format!(
                " Nobody is on duty {}: ask someone to take it (/duty swap, before it starts) or an admin to set an override.",
                spans.join(", ")
            ));
        }
        let effects = tell_team(name, vec![added.member.clone()], text.clone());
        Ok(public(text, effects))
    }

    fn duty_swap(
        &mut self,
        caller: &Caller,
        name: RotationName,
        asked: Actor,
        period: (NaiveDateTime, NaiveDateTime),
        reason: String,
    ) -> Result<Outcome, CommandError> {
        let (zone, start, end) = self.duty_period(name, period)?;
        if asked.is_same_person(&caller.actor) {
            return Err(CommandError::NoData(
                "ask someone else to take your duty".into(),
            ));
        }
        let now = self.clock.now();
        let yours = self
            .duty
            .roster()
            .schedule(name, start.max(now), end)
            .iter()
            .any(|s| s.member.is_same_person(&caller.actor));
        if !yours {
            return Err(CommandError::NoData(format!(
                "you are not on duty for {name} between {} and {} ({zone}); a swap hands over your own duty (an admin can set an override)",
                local(start, zone),
                local(end, zone)
            )));
        }
        let expires_at = (now + swap_answer_time()).min(end);
        let reason = reason.trim().to_string();
        let (next, swap) = self.duty.changed(|book| {
            let swap = Swap {
                id: book.take_id(),
                rotation: name,
                asked_by: caller.actor.clone(),
                asked: asked.clone(),
                from: start,
                to: end,
                reason: reason.clone(),
                requested_at: now,
                expires_at,
                state: SwapState::Pending,
            };
            book.swaps.push(swap.clone());
            swap
        });
        self.keep_duty(next)?;
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", crate::domain::defang(&reason))
        };
        let text = format!(
            "🔄 {name}: {asked}, {} asks you to take their duty from {} to {} ({zone}){why}. Swap #{}: accept or decline by {}.",
            caller.actor,
            local(start, zone),
            local(end, zone),
            swap.id,
            local(expires_at, zone),
        );
        let post = duty_post(
            name,
            vec![asked],
            text,
            false,
            vec![
                PostButton::SwapAccept(swap.id),
                PostButton::SwapDecline(swap.id),
            ],
        );
        Ok(public(
            format!(
                "Swap #{} asked: {} decides by {} ({zone}).",
                swap.id,
                swap.asked,
                local(expires_at, zone)
            ),
            vec![post],
        ))
    }

    fn duty_answer(
        &mut self,
        caller: &Caller,
        id: u64,
        accept: bool,
    ) -> Result<Outcome, CommandError> {
        let swap = self
            .duty
            .book()
            .swap(id)
            .cloned()
            .ok_or_else(|| CommandError::NoData(format!("there is no swap #{id}")))?;
        let now = self.clock.now();
        if swap.state != SwapState::Pending {
            return Err(CommandError::NoData(format!(
                "swap #{id} is already {}",
                match swap.state {
                    SwapState::Pending => "pending",
                    SwapState::Accepted { .. } => "accepted",
                    SwapState::Declined { .. } => "declined",
                    SwapState::Withdrawn { .. } => "withdrawn",
                    SwapState::Expired { .. } => "expired",
                }
            )));
        }
        if now >= swap.expires_at {
            return Err(CommandError::NoData(format!(
                "swap #{id} expired unanswered; ask again if it still matters"
            )));
        }
        let withdrawing = caller.actor.is_same_person(&swap.asked_by) && !accept;
        if !caller.actor.is_same_person(&swap.asked) && !withdrawing {
            return Err(CommandError::Denied(format!(
                "swap #{id} asks {}; only they can answer it{}",
                swap.asked,
                if caller.actor.is_same_person(&swap.asked_by) {
                    " (you can withdraw it with decline)"
                } else {
                    ""
                }
            )));
        }
        let name = swap.rotation;
        let zone = self
            .duty
            .roster()
            .rotation(name)
            .map(|r| r.zone())
            .unwrap_or(Tz::UTC);
        let both = vec![swap.asked_by.clone(), swap.asked.clone()];
        if !accept {
            let (next, ()) = self.duty.changed(|book| {
                if let Some(s) = book.swap_mut(id) {
                    s.state = if withdrawing {
                        SwapState::Withdrawn { at: now }
                    } else {
                        SwapState::Declined { at: now }
                    };
                }
            });
            self.keep_duty(next)?;
            let text = if withdrawing {
                format!(
                    "↩️ {name}: swap #{id} withdrawn by {}; nothing changes.",
                    swap.asked_by
                )
            } else {
                format!(
                    "✋ {name}: {} declined swap #{id}; {} stays on duty as planned.",
                    swap.asked, swap.asked_by
                )
            };
            return Ok(public(text.clone(), tell_team(name, both, text)));
        }
        let from = swap.from.max(now);
        let reason = if swap.reason.is_empty() {
            format!("swap #{id}, asked by {}", swap.asked_by.name)
        } else {
            format!(
                "swap #{id}, asked by {}: {}",
                swap.asked_by.name, swap.reason
            )
        };
        let (next, override_id) = self.duty.changed(|book| {
            let override_id = book.take_id();
            book.overrides.push(Override {
                id: override_id,
                rotation: name,
                member: swap.asked.clone(),
                from,
                to: swap.to,
                by: swap.asked.clone(),
                reason,
                away: false,
            });
            if let Some(s) = book.swap_mut(id) {
                s.state = SwapState::Accepted {
                    at: now,
                    override_id,
                };
            }
            book.audit.push(DutyAudit {
                at: now,
                by: swap.asked.clone(),
                rotation: name,
                what: format!(
                    "swap #{id} accepted: {} takes over from {} ({from} to {}), override #{override_id}",
                    swap.asked, swap.asked_by, swap.to
                ),
            });
            override_id
        });
        let moved = affected_members(self.duty.roster(), next.roster(), name, from, swap.to);
        self.keep_duty(next)?;
        let mut mention = both;
        for member in moved {
            if !mention.contains(&member) {
                mention.push(member);
            }
        }
        let text = format!(
            "🤝 {name}: {} accepted swap #{id}; {} is on duty instead of {} from {} to {} ({zone}) (override #{override_id}).",
            swap.asked,
            swap.asked,
            swap.asked_by,
            local(from, zone),
            local(swap.to, zone)
        );
        Ok(public(text.clone(), tell_team(name, mention, text)))
    }

    /// `/duty join`, `/duty leave` and `/duty reset`: the member list
    /// changes from the next shift; a member leaving while on duty hands
    /// the rest of their shift to whoever is next. Everyone whose shifts
    /// move in the next 12 weeks is told.
    fn duty_members(
        &mut self,
        caller: &Caller,
        name: RotationName,
        edit: MemberEdit,
    ) -> Result<Outcome, CommandError> {
        admin_only(caller, "change a rotation's members")?;
        let rotation = self.rotation_named(name)?;
        let zone = rotation.zone();
        let now = self.clock.now();
        // Counted whether or not anyone takes the shift now, so a join after
        // everyone left starts at the next shift, not back at the first.
        let current = rotation.base_shift_at(now);
        let from_shift = rotation
            .shift_at(now)
            .map(|(number, ..)| number + 1)
            .unwrap_or(0);
        let list = rotation.members_for_shift(from_shift).to_vec();
        let (members, what) = match &edit {
            MemberEdit::Join(member, position) => {
                if list.iter().any(|m| m.is_same_person(member)) {
                    return Err(CommandError::NoData(format!(
                        "{member} already takes turns in {name}"
                    )));
                }
                let mut members = list.clone();
                let at = position
                    .and_then(|p| usize::try_from(p).ok())
                    .map(|p| (p - 1).min(members.len()))
                    .unwrap_or(members.len());
                members.insert(at, member.clone());
                (Some(members), format!("{member} joined, turn {}", at + 1))
            }
            MemberEdit::Leave(member) => {
                if !list.iter().any(|m| m.is_same_person(member)) {
                    return Err(CommandError::NoData(format!(
                        "{member} does not take turns in {name}"
                    )));
                }
                let members: Vec<Actor> = list
                    .iter()
                    .filter(|m| !m.is_same_person(member))
                    .cloned()
                    .collect();
                (Some(members), format!("{member} left"))
            }
            MemberEdit::Reset => (None, "back to the configured members".to_string()),
        };
        let change = rotation.change_members(from_shift, members);
        let mut after = rotation.clone();
        after.changes.push(change.clone());
        // A reset also takes a timing changed at run time back to the
        // configured one, from its next handoff.
        let retiming = match edit {
            MemberEdit::Reset => self.timing_reset(&rotation, now)?,
            _ => None,
        };
        let timing_back = retiming.map(|retiming| after.add_retiming(retiming));
        // Who takes the rest of a shift its holder leaves.
        let on_duty_now = self.duty.roster().on_duty(name, now).map(|d| d.member);
        let successor = match (&edit, &current, &on_duty_now) {
            (MemberEdit::Leave(member), Some(_), Some(holder)) if holder.is_same_person(member) => {
                after.member_for(from_shift)
            }
            _ => None,
        };
        let (next, handover) = self.duty.changed(|book| {
            book.member_changes
                .entry(name.as_str().to_string())
                .or_default()
                .push(change);
            if timing_back.is_some() {
                book.retimings
                    .insert(name.as_str().to_string(), after.retimings.clone());
            }
            let handover = match (&successor, &current) {
                (Some(successor), Some(shift)) => {
                    let id = book.take_id();
                    book.overrides.push(Override {
                        id,
                        rotation: name,
                        member: successor.clone(),
                        from: now,
                        to: shift.end,
                        by: caller.actor.clone(),
                        reason: format!("{} left the rotation", what_member(&edit)),
                        away: false,
                    });
                    Some(id)
                }
                _ => None,
            };
            book.audit.push(DutyAudit {
                at: now,
                by: caller.actor.clone(),
                rotation: name,
                what: what.clone(),
            });
            handover
        });
        let moved = affected_members(
            self.duty.roster(),
            next.roster(),
            name,
            now,
            now + change_horizon(),
        );
        self.keep_duty(next)?;
        let turns = self
            .duty
            .roster()
            .rotation(name)
            .map(|r| names(r.members_for_shift(from_shift).iter()))
            .unwrap_or_default();
        let mut text = format!(
            "👥 {name}: {what} (by {}); turns from the next shift: {}",
            caller.actor,
            if turns.is_empty() { "nobody" } else { &turns }
        );
        if let (Some(successor), Some(id), Some(shift)) = (&successor, handover, &current) {
            text.push_str(&format!(
                "; {successor} takes the rest of the current shift, until {} ({zone}) (override #{id})",
                local(shift.end, zone)
            ));
        }
        if let Some(begins) = timing_back.flatten() {
            text.push_str(&format!(
                "; shifts change hands {} again from {} ({})",
                rotation.timing.describe(),
                local(begins, rotation.timing.zone()),
                rotation.timing.zone()
            ));
        }
        Ok(change_told(name, moved, text))
    }

    /// Swap requests unanswered by their time lapse; both members are told.
    pub(super) fn expire_swaps(&mut self) -> Result<Vec<Effect>, CommandError> {
        let now = self.clock.now();
        let lapsed: Vec<Swap> = self
            .duty
            .book()
            .swaps
            .iter()
            .filter(|s| s.state == SwapState::Pending && s.expires_at <= now)
            .cloned()
            .collect();
        if lapsed.is_empty() {
            return Ok(Vec::new());
        }
        let (next, ()) = self.duty.changed(|book| {
            for swap in &lapsed {
                if let Some(s) = book.swap_mut(swap.id) {
                    s.state = SwapState::Expired { at: now };
                }
            }
        });
        self.keep_duty(next)?;
        Ok(lapsed
            .into_iter()
            .map(|swap| {
                duty_post(
                    swap.rotation,
                    vec![swap.asked_by.clone(), swap.asked.clone()],
                    format!(
                        "⌛ {}: swap #{} expired unanswered; {} stays on duty as planned.",
                        swap.rotation, swap.id, swap.asked_by
                    ),
                    false,
                    Vec::new(),
                )
            })
            .collect())
    }

    /// A time within a rotation's gap notice (14 days unless configured)
    /// when it leaves nobody on duty is announced once to the team and
    /// incident-admin.
    pub(super) fn announce_gaps(&mut self) -> Result<Vec<Effect>, CommandError> {
        let now = self.clock.now();
        let mut found = Vec::new();
        // Rotations whose announced gap is over (or filled): forgotten, so
        // a later gap is announced afresh.
        let mut filled = Vec::new();
        for rotation in self.duty.roster().rotations() {
            let key = rotation.name.as_str().to_string();
            let announced = self.duty.book().gaps_announced.get(&key).copied();
            let horizon = now + Duration::days(i64::from(rotation.gap_notice_days));
            let stretches = self.duty.roster().schedule(rotation.name, now, horizon);
            let mut covered_until = now;
            let mut gap = None;
            for stretch in &stretches {
                if stretch.start > covered_until {
                    gap = Some((covered_until, Some(stretch.start)));
                    break;
                }
                covered_until = covered_until.max(stretch.end);
            }
            if gap.is_none() && covered_until < horizon {
                // Open-ended: up to the horizon, or up to whoever comes next.
                let resumes = self
                    .duty
                    .roster()
                    .schedule(
                        rotation.name,
                        covered_until,
                        covered_until + change_horizon(),
                    )
                    .first()
                    .map(|s| s.start);
                gap = Some((covered_until, resumes));
            }
            // A rotation that has not started yet is not a gap.
            let started = rotation.shift_start(0).is_some_and(|first| first <= now);
            let Some((start, end)) = gap.filter(|_| started) else {
                if announced.is_some() {
                    filled.push(key);
                }
                continue;
            };
            // The same gap: announced at its start, or under way since one
            // announced earlier (a gap under way starts "now" at every tick).
            if announced == Some(start) || (start <= now && announced.is_some_and(|a| a <= now)) {
                continue;
            }
            found.push((rotation.name, rotation.zone(), start, end, key));
        }
        if found.is_empty() && filled.is_empty() {
            return Ok(Vec::new());
        }
        let (next, ()) = self.duty.changed(|book| {
            for key in &filled {
                book.gaps_announced.remove(key);
            }
            for (.., start, _, key) in &found {
                book.gaps_announced.insert(key.clone(), *start);
            }
        });
        self.keep_duty(next)?;
        Ok(found
            .into_iter()
            .map(|(name, zone, start, end, _)| {
                let until = match end {
                    Some(end) => format!("until {}", local(end, zone)),
                    None => "and nobody is due after that".to_string(),
                };
                duty_post(
                    name,
                    Vec::new(),
                    format!(
                        "⚠️ {name}: nobody will be on duty from {} ({zone}), {until}. Add a member (/duty join) or set an override (/duty override).",
                        local(start, zone)
                    ),
                    true,
                    Vec::new(),
                )
            })
            .collect())
    }

    /// The handoff post for a run of a team rotation's handoff job, if a
    /// shift changed hands since the previous run: who is on duty now (the
    /// roster's answer, overrides included) and who is next, with the
    /// team's open incidents, active alerts and overdue prevention actions.
    /// The quality reviewer has no team channel and gets no handoff post.
    pub(super) fn handoff_post(
        &mut self,
        run: &HandoffRun,
    ) -> Result<Option<Effect>, CommandError> {
        let Some(rotation) = self.duty.roster().rotation(run.rotation) else {
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
        let RotationName::Team(team) = run.rotation else {
            // The quality reviewer's handoff: their weekly checklist.
            let reviewer = self
                .duty
                .roster()
                .on_duty(run.rotation, self.clock.now().max(run.due))
                .map(|d| d.member);
            return match reviewer {
                Some(reviewer) => self.reviewer_checklist(reviewer),
                None => Ok(None),
            };
        };
        let zone = rotation.zone();
        let now = self.clock.now();
        let Some(duty) = self.duty.roster().on_duty(run.rotation, now.max(run.due)) else {
            return Ok(None);
        };
        let next = self
            .duty
            .roster()
            .on_duty(run.rotation, duty.until)
            .map(|n| n.member.to_string())
            .unwrap_or_else(|| "nobody".into());
        let mut text = format!(
            "🔁 {team} handoff: {} is on duty now, until {} ({zone}); next: {next}",
            duty.member,
            local(duty.until, zone)
        );
        text.push_str(&self.team_briefing(team, now)?);
        Ok(Some(team_post(team, vec![duty.member], text)))
    }

    /// Reminders to members whose shift starts within 24 hours, once per
    /// shift: a post in the team's channel mentioning them. The record of
    /// which shifts were reminded is written in the same change (the
    /// scheduled tick's), so a restart does not remind twice.
    pub(super) fn shift_reminders(&mut self) -> Result<Vec<Effect>, CommandError> {
        let now = self.clock.now();
        // Keyed by the rotation's name as text (JSON keys are strings).
        let mut reminded: std::collections::BTreeMap<String, DateTime<Utc>> =
            self.read_record(REMINDED_RECORD, "shift reminders")?;
        let mut effects = Vec::new();
        for rotation in self.duty.roster().rotations() {
            let name = rotation.name;
            let Some(current) = self.duty.roster().on_duty(rotation.name, now) else {
                continue;
            };
            let starts = current.until;
            let key = rotation.name.to_string();
            if starts - now > remind_before() || reminded.get(&key) == Some(&starts) {
                continue;
            }
            let Some(next) = self.duty.roster().on_duty(rotation.name, starts) else {
                continue;
            };
            if next.member == current.member {
                continue;
            }
            let zone = rotation.zone();
            let hours = (starts - now).num_minutes().div_euclid(60);
            effects.push(duty_post(
                name,
                vec![next.member.clone()],
                format!(
                    "⏰ {name}: {}, you are on duty from {} ({zone}), in {hours} h, until {}; {} hands over.",
                    next.member,
                    local(starts, zone),
                    local(next.until, zone),
                    current.member
                ),
                false,
                Vec::new(),
            ));
            reminded.insert(key, starts);
        }
        if !effects.is_empty() {
            self.write_record(REMINDED_RECORD, "shift reminders", &reminded)?;
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
        let configured: Vec<Rotation> = self.duty.configured().to_vec();
        match self
            .store
            .get_extra(RECORD)
            .map_err(|e| e.to_string())
            .and_then(|saved| DutyState::restore(configured, saved.as_deref()))
        {
            Ok(state) => self.duty = state,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the duty record back after a failed change")
            }
        }
    }
}
