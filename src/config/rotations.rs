//! `[rotations.<team>]` and `[rotations.quality-reviewer]`: who is on duty
//! in turn, how long each shift lasts, and when it changes hands.
//!
//! ```toml
//! [rotations.integration]
//! members = [{ name = "alice", discord_id = "111" }, { name = "bob", discord_id = "222" }]
//! shift = "1w"              # days ("3d") or weeks ("2w")
//! handoff = "0 9 * * MON"   # when a shift changes hands, in `timezone`
//! timezone = "Europe/Paris"
//! start = "2026-11-02"      # the local date the first shift opens on
//! working_hours = "Mon-Fri 09:00-18:00"  # the default; for duty load
//! gap_notice = "14d"        # the default: how far ahead nobody-on-duty is announced
//! ```
//!
//! A member with a `discord_id` is that Discord user (mentioned by id);
//! without one they are the console user of that name.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::esp::At;
use super::ConfigError;
use crate::domain::Actor;
use crate::duty::rotation::{
    parse_days, parse_shift_length, Timing, CHECKED_SHIFTS, GAP_NOTICE_DAYS,
};
use crate::duty::{Rotation, RotationName};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRotation {
    members: Spanned<Vec<RawMember>>,
    shift: Spanned<String>,
    handoff: Spanned<String>,
    #[serde(default = "utc")]
    timezone: Spanned<String>,
    start: Spanned<String>,
    /// "Mon-Fri 09:00-18:00" (the default), in `timezone`.
    working_hours: Option<Spanned<String>>,
    /// How far ahead a gap (nobody on duty) is announced: "14d" (the
    /// default), "3w".
    gap_notice: Option<Spanned<String>>,
}

fn utc() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    name: Spanned<String>,
    discord_id: Option<Spanned<String>>,
}

pub(super) fn rotations(
    raw: BTreeMap<Spanned<String>, RawRotation>,
    at: At<'_>,
) -> Result<Vec<Rotation>, ConfigError> {
    let mut rotations = Vec::new();
    for (name, raw) in raw {
        let key = |field: &str| Some(format!("rotations.{}.{field}", name.get_ref()));
        let rotation_name: RotationName = name.get_ref().parse().map_err(|why| {
            at(
                name.span(),
                Some(format!("rotations.{}", name.get_ref())),
                why,
            )
        })?;
        let mut members: Vec<Actor> = Vec::new();
        for (index, member) in raw.members.get_ref().iter().enumerate() {
            let member_key = |field: &str| {
                Some(format!(
                    "rotations.{}.members[{index}].{field}",
                    name.get_ref()
                ))
            };
            let person = member.name.get_ref().trim();
            if person.is_empty() || person.chars().count() > 80 {
                return Err(at(
                    member.name.span(),
                    member_key("name"),
                    "a member needs a name of 1 to 80 characters".into(),
                ));
            }
            let actor = match &member.discord_id {
                Some(id) => {
                    let number = id
                        .get_ref()
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            at(
                                id.span(),
                                member_key("discord_id"),
                                format!("`{}` is not a Discord user id (a number)", id.get_ref()),
                            )
                        })?;
                    Actor {
                        id: number.to_string(),
                        name: person.to_string(),
                    }
                }
                None => Actor::console(person),
            };
            if members.iter().any(|m| m.id == actor.id) {
                return Err(at(
                    member.name.span(),
                    member_key("name"),
                    format!("{person} is listed twice; a member takes one turn per round"),
                ));
            }
            members.push(actor);
        }
        if members.is_empty() {
            return Err(at(
                raw.members.span(),
                key("members"),
                "a rotation needs at least one member".into(),
            ));
        }
        let days = parse_shift_length(raw.shift.get_ref())
            .map_err(|m| at(raw.shift.span(), key("shift"), m))?;
        let handoff = super::esp::cron_in_zone(
            (&raw.handoff, key("handoff")),
            (&raw.timezone, key("timezone")),
            at,
        )?;
        let start = raw
            .start
            .get_ref()
            .trim()
            .parse::<NaiveDate>()
            .map_err(|_| {
                at(
                    raw.start.span(),
                    key("start"),
                    format!("`{}` is not a date such as 2026-11-02", raw.start.get_ref()),
                )
            })?;
        let working_hours = match &raw.working_hours {
            Some(text) => crate::duty::WorkingHours::parse(text.get_ref())
                .map_err(|m| at(text.span(), key("working_hours"), m))?,
            None => crate::duty::WorkingHours::default(),
        };
        let gap_notice_days = match &raw.gap_notice {
            Some(text) => parse_days(text.get_ref(), "a notice period")
                .map_err(|m| at(text.span(), key("gap_notice"), m))?,
            None => GAP_NOTICE_DAYS,
        };
        let timing = Timing {
            shift_days: days,
            handoff,
            start,
        };
        timing
            .check(CHECKED_SHIFTS)
            .map_err(|m| at(raw.handoff.span(), key("handoff"), m))?;
        rotations.push(Rotation {
            name: rotation_name,
            members,
            timing,
            working_hours,
            gap_notice_days,
            changes: Vec::new(),
            retimings: Vec::new(),
        });
    }
    Ok(rotations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_lengths_are_days_or_weeks() {
        assert_eq!(parse_shift_length("3d"), Ok(3));
        assert_eq!(parse_shift_length("2w"), Ok(14));
        for wrong in ["", "w", "1", "1h", "0d", "99w", "5é", "-1d"] {
            assert!(parse_shift_length(wrong).is_err(), "{wrong}");
        }
    }
}
