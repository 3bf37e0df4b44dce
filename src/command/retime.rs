//! `/duty timing`: an admin changes a rotation's shift length, handoff
//! time, zone or start while the bot runs, and `/duty reset` takes it back
//! to the configured timing.
//!
//! A timing change never rewrites the past: it takes effect at the new
//! timing's first handoff after now, the shift in progress ending there,
//! and shift numbers (so turns, and member changes) run on. The change is
//! a [`crate::duty::Retiming`] kept in the duty book with an audit line,
//! written in the command's change together with the post that tells
//! everyone whose shifts move; the service's handoff job follows the new
//! timing at its next tick.

use chrono::{DateTime, NaiveDate, Utc};

use super::duty::{admin_only, change_horizon, change_told, local};
use super::engine::{CommandError, Engine, Outcome};
use super::ParseError;
use crate::domain::Caller;
use crate::duty::{affected_members, DutyAudit, Retiming, Rotation, RotationName, Timing};
use crate::schedule::Schedule;
use crate::store::IncidentStore;

/// What `/duty timing` asks to change; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimingEdit {
    pub shift_days: Option<u32>,
    pub handoff: Option<String>,
    pub timezone: Option<String>,
    pub start: Option<NaiveDate>,
}

/// A refusal naming the option at fault.
fn bad(name: &str, reason: impl ToString) -> CommandError {
    CommandError::Parse(ParseError::BadValue {
        command: "/duty timing".into(),
        name: name.into(),
        reason: reason.to_string(),
    })
}

/// The timing `edit` asks for, from the rotation's newest one.
fn edited(current: &Timing, edit: TimingEdit) -> Result<Timing, CommandError> {
    if let Some(zone) = &edit.timezone {
        zone.parse::<chrono_tz::Tz>().map_err(|_| {
            bad(
                "timezone",
                format!("`{zone}` is not a time zone such as Europe/Paris"),
            )
        })?;
    }
    let handoff = match (&edit.handoff, &edit.timezone) {
        (None, None) => current.handoff.clone(),
        // The zone is known good: what fails here is the expression.
        (expression, zone) => {
            let zone_name = current.zone().name().to_string();
            Schedule::parse(
                expression
                    .as_deref()
                    .unwrap_or(current.handoff.expression()),
                zone.as_deref().unwrap_or(&zone_name),
            )
            .map_err(|e| bad("handoff", e))?
        }
    };
    Ok(Timing {
        shift_days: edit.shift_days.unwrap_or(current.shift_days),
        handoff,
        start: edit.start.unwrap_or(current.start),
    })
}

impl<S: IncidentStore> Engine<S> {
    /// `/duty timing team [shift] [handoff] [timezone] [start]`.
    pub(super) fn duty_timing(
        &mut self,
        caller: &Caller,
        name: RotationName,
        edit: TimingEdit,
    ) -> Result<Outcome, CommandError> {
        admin_only(caller, "change a rotation's timing")?;
        if edit == TimingEdit::default() {
            return Err(CommandError::NoData(
                "/duty timing changes nothing without shift, handoff, timezone or start".into(),
            ));
        }
        let rotation = self.rotation_named(name)?;
        let timing = edited(rotation.latest_timing(), edit)?;
        if &timing == rotation.latest_timing() {
            return Err(CommandError::NoData(format!(
                "{name} already hands over {}",
                timing.describe()
            )));
        }
        let now = self.clock.now();
        let retiming = rotation
            .retime(now, timing)
            .map_err(|reason| bad("handoff", reason))?;
        self.retime_rotation(caller, &rotation, retiming, now)
    }

    /// The retiming that takes `rotation` back to its configured timing,
    /// if it has been changed at run time (for `/duty reset`).
    pub(super) fn timing_reset(
        &self,
        rotation: &Rotation,
        now: DateTime<Utc>,
    ) -> Result<Option<Retiming>, CommandError> {
        if rotation.latest_timing() == &rotation.timing {
            return Ok(None);
        }
        rotation
            .retime(now, rotation.timing.clone())
            .map(Some)
            .map_err(CommandError::NoData)
    }

    /// Records `retiming` with its audit line and tells the team who is on
    /// duty until it begins, who takes the first shift under it, and whose
    /// shifts move in the next 12 weeks.
    fn retime_rotation(
        &mut self,
        caller: &Caller,
        rotation: &Rotation,
        retiming: Retiming,
        now: DateTime<Utc>,
    ) -> Result<Outcome, CommandError> {
        let name = rotation.name;
        let described = retiming.timing.describe();
        let zone = retiming.timing.zone();
        let mut after = rotation.clone();
        let begins = after.add_retiming(retiming).ok_or_else(|| {
            bad(
                "handoff",
                "the new timing's first shift falls outside the calendar",
            )
        })?;
        let what = format!("timing: {described}, from {} ({zone})", local(begins, zone));
        let (next, ()) = self.duty.changed(|book| {
            book.retimings
                .insert(name.as_str().to_string(), after.retimings.clone());
            book.audit.push(DutyAudit {
                at: now,
                by: caller.actor.clone(),
                rotation: name,
                what: what.clone(),
            });
        });
        let moved = affected_members(
            self.duty.roster(),
            next.roster(),
            name,
            now,
            now + change_horizon(),
        );
        let until_then = self.duty.roster().on_duty(name, now).map(|d| d.member);
        let first = next.roster().on_duty(name, begins).map(|d| d.member);
        self.keep_duty(next)?;
        let mut text = format!(
            "🕘 {name}: from {} ({zone}) shifts change hands {described} (by {})",
            local(begins, zone),
            caller.actor
        );
        text.push_str(&format!(
            "; {} until then; {} takes the first shift",
            until_then.map_or("nobody is on duty".into(), |m| format!("{m} is on duty")),
            first.map_or("nobody".into(), |m| m.to_string())
        ));
        Ok(change_told(name, moved, text))
    }

    /// The rotation called `name`, as it stands.
    pub(super) fn rotation_named(&self, name: RotationName) -> Result<Rotation, CommandError> {
        self.duty
            .roster()
            .rotation(name)
            .cloned()
            .ok_or_else(|| CommandError::NoData(format!("there is no {name} rotation")))
    }
}
