//! The engine's alerting side: detection after polls, time passing, and the
//! `/alert`, `/silence` and `/route` commands (and the alert buttons, which
//! arrive as `/alert` commands).
//!
//! Every change to the alert state is saved through the store before the
//! reply, like an incident change, so a restart loses no acknowledgement,
//! snooze or silence.

use std::collections::BTreeSet;
use std::time::Duration;

use super::engine::{private, public, CommandError, Effect, Engine, Outcome};
use super::parse::{AlertCommand, OpenArgs, RouteQuery, SilenceCommand};
use super::Visibility;
use crate::alert::{self, AlertEffect, AlertError, AlertView, Removed};
use crate::alerting::{self, render, AlertDesk};
use crate::command::render::timestamp;
use crate::delivery::StreamKey;
use crate::detect::{AlertKey, Level};
use crate::domain::{Caller, Change, IncidentId, Name, Op, Severity, Text, Title};
use crate::poll::FeedEvent;
use crate::store::{IncidentStore, StoreError};

impl From<AlertError> for CommandError {
    fn from(e: AlertError) -> Self {
        CommandError::NoData(e.to_string())
    }
}

fn alerts_off() -> CommandError {
    CommandError::NoData("alerting is not configured here".into())
}

impl<S: IncidentStore> Engine<S> {
    fn desk(&mut self) -> Result<&mut AlertDesk, CommandError> {
        self.alerts.as_mut().ok_or_else(alerts_off)
    }

    fn save_alerts(&mut self) -> Result<(), StoreError> {
        let Some(desk) = &self.alerts else {
            return Ok(());
        };
        let bytes = desk.snapshot()?;
        self.store.put_extra(alerting::RECORD, &bytes)
    }

    /// The alert effects as posts; a new alert and a reminder carry who is
    /// on duty now for each of its teams, so the post mentions them (the
    /// roster's one answer, taken in the same change that raises it): the
    /// member on duty first, the team role in reminders, incident-admin at
    /// escalation.
    fn wrap(&self, effects: Vec<AlertEffect>) -> Vec<Effect> {
        let now = self.clock.now();
        effects
            .into_iter()
            .map(|mut effect| {
                let on_duty_only = self
                    .alerts
                    .as_ref()
                    .is_some_and(|desk| desk.config.on_duty_only);
                if let AlertEffect::Open { alert } | AlertEffect::Remind { alert } = &mut effect {
                    alert.on_duty_only = on_duty_only;
                    alert.on_duty = self.on_duty_by_team(&alert.teams, now);
                }
                Effect::Alert(Box::new(effect))
            })
            .collect()
    }

    /// Runs detection on the account a poll just stored, and saves.
    /// Runs detection on the account a poll just stored: the alert state
    /// and the posts it causes are one change.
    pub fn after_poll(&mut self, account: &str) -> Result<Vec<Effect>, CommandError> {
        self.alert_change(|engine| {
            let now = engine.clock.now();
            let Some(history) = engine.history.clone() else {
                return Ok(Vec::new());
            };
            let Some(desk) = engine.alerts.as_mut() else {
                return Ok(Vec::new());
            };
            let effects = desk.after_poll(history.as_ref(), account, now)?;
            engine.save_alerts()?;
            Ok(engine.wrap(effects))
        })
    }

    /// A feed went stale or recovered.
    pub fn feed_event(&mut self, event: &FeedEvent) -> Result<Vec<Effect>, CommandError> {
        self.alert_change(|engine| {
            let now = engine.clock.now();
            let Some(desk) = engine.alerts.as_mut() else {
                return Ok(Vec::new());
            };
            let effects = desk.feed(event, now);
            engine.save_alerts()?;
            Ok(engine.wrap(effects))
        })
    }

    /// Time passing: reminders, escalations, silences starting and ending.
    pub fn alert_tick(&mut self) -> Result<Vec<Effect>, CommandError> {
        self.alert_change(|engine| {
            let now = engine.clock.now();
            let Some(desk) = engine.alerts.as_mut() else {
                return Ok(Vec::new());
            };
            let effects = desk.tick(now);
            if !effects.is_empty() {
                engine.save_alerts()?;
            }
            Ok(engine.wrap(effects))
        })
    }

    /// One alert transition as one change: state and posts together.
    fn alert_change(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<Vec<Effect>, CommandError>,
    ) -> Result<Vec<Effect>, CommandError> {
        self.in_change(|engine| {
            let effects = work(engine)?;
            engine.record_load(&effects)?;
            Ok((effects.clone(), effects))
        })
        .map(|(effects, _)| effects)
    }

    /// Every active alert.
    pub fn active_alerts(&self) -> Vec<AlertView> {
        self.alerts
            .as_ref()
            .map(|desk| desk.state.book.active())
            .unwrap_or_default()
    }

    /// One alert, as the poster last saw it.
    pub fn alert(&self, id: u64) -> Option<AlertView> {
        self.alerts.as_ref().and_then(|d| d.state.book.get(id))
    }

    pub(super) fn alert_command(
        &mut self,
        caller: &Caller,
        command: AlertCommand,
    ) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        match command {
            AlertCommand::List => {
                let active = self.desk()?.state.book.active();
                if active.is_empty() {
                    return Ok(private("No active alerts.".into()));
                }
                let lines: Vec<String> = active
                    .iter()
                    .map(|a| format!("{}\n  {}", render::headline(a), a.finding.summary))
                    .collect();
                Ok(private(format!(
                    "{} active alert(s):\n{}",
                    active.len(),
                    lines.join("\n")
                )))
            }
            AlertCommand::Show { id } => {
                let desk = self.desk()?;
                let view = desk.state.book.get(id).ok_or(AlertError::Unknown(id))?;
                let runbooks = &desk.config.runbooks;
                Ok(private(format!(
                    "{}\n{}\nRunbook ({}, {}):\n{}",
                    render::headline(&view),
                    render::details(&view),
                    view.key.kind,
                    runbooks.origin(view.key.kind),
                    runbooks.excerpt(view.key.kind)
                )))
            }
            AlertCommand::Acknowledge { id } => {
                Self::require_team_role(caller, "acknowledge alerts")?;
                let view = self
                    .desk()?
                    .state
                    .book
                    .acknowledge(id, &caller.actor, now)?;
                self.save_alerts()?;
                Ok(public(
                    format!("alert #{id} acknowledged by {}", caller.actor),
                    vec![Effect::Alert(Box::new(AlertEffect::Update { alert: view }))],
                ))
            }
            AlertCommand::FalseAlarm { id } => {
                Self::require_team_role(caller, "mark alerts false alarms")?;
                let book = &mut self.desk()?.state.book;
                // Acknowledged if nobody had; an alert already acknowledged
                // or cleared can still be called a false alarm afterwards.
                let view = match book.acknowledge(id, &caller.actor, now) {
                    Ok(view) => Some(view),
                    Err(
                        crate::alert::AlertError::AlreadyAcknowledged { .. }
                        | crate::alert::AlertError::Cleared(_),
                    ) => book.get(id),
                    Err(e) => return Err(e.into()),
                };
                self.save_alerts()?;
                let mut ledger = self.alert_ledger()?;
                if let Some(view) = &view {
                    ledger.observe(view);
                }
                if !ledger.false_alarm(id) {
                    return Err(CommandError::NoData(format!(
                        "alert #{id} was raised before the {} weeks the weekly summary keeps; it can no longer be counted",
                        crate::summary::ledger::KEEP.num_weeks()
                    )));
                }
                self.write_record(super::summary::LEDGER_RECORD, "alert ledger", &ledger)?;
                Ok(public(
                    format!(
                        "alert #{id} marked a false alarm by {}; the weekly summary counts it, so the detector's settings can be reviewed",
                        caller.actor
                    ),
                    view.map(|alert| Effect::Alert(Box::new(AlertEffect::Update { alert })))
                        .into_iter()
                        .collect(),
                ))
            }
            AlertCommand::Snooze { id, hours } => {
                Self::require_team_role(caller, "snooze alerts")?;
                let until = now + chrono::Duration::hours(i64::from(hours));
                let view = self
                    .desk()?
                    .state
                    .book
                    .snooze(id, until, &caller.actor, now)?;
                self.save_alerts()?;
                // Private, as the Snooze buttons answer: the alert's post is
                // edited to show the snooze to everyone.
                let mut outcome = public(
                    format!(
                        "alert #{id} snoozed for {hours} h by {} (until {})",
                        caller.actor,
                        timestamp(until)
                    ),
                    vec![Effect::Alert(Box::new(AlertEffect::Update { alert: view }))],
                );
                outcome.reply.visibility = Visibility::Private;
                Ok(outcome)
            }
            AlertCommand::OpenIncident { id } => self.incident_from_alert(caller, id),
        }
    }

    /// Opens an incident pre-filled from the alert (title, severity, teams,
    /// ESP account and stream), records the alert's figures as its first
    /// diagnosis note, and links the two.
    fn incident_from_alert(&mut self, caller: &Caller, id: u64) -> Result<Outcome, CommandError> {
        Self::require_team_role(caller, "open an incident from an alert")?;
        let view = self
            .desk()?
            .state
            .book
            .get(id)
            .ok_or(AlertError::Unknown(id))?;
        if let Some(existing) = &view.incident {
            return Err(CommandError::NoData(format!(
                "alert #{id} already has an incident: {existing}"
            )));
        }
        let title = format!(
            "{} {} on {}/{}",
            view.key.metric, view.key.kind, view.key.account, view.key.stream
        );
        let owner = view
            .teams
            .first()
            .copied()
            .unwrap_or(crate::domain::Team::Development);
        let args = OpenArgs {
            title: Title::new(&crate::domain::fit(&title, Title::MAX_CHARS))?,
            severity: match view.level {
                Level::Critical => Severity::Sev2,
                Level::Warning => Severity::Sev3,
            },
            owner,
            teams: view.teams.iter().copied().collect::<BTreeSet<_>>(),
            esp_account: Name::new(&view.key.account).ok(),
            stream: Name::new(view.key.stream.as_str()).ok(),
            commander: None,
        };
        let mut outcome = self.open(caller, args)?;
        let incident_id = outcome
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::Announce { incident, .. } => Some(incident.id),
                _ => None,
            })
            .unwrap_or(IncidentId::FIRST);
        let note = Text::new(&crate::domain::fit(
            &format!("From alert #{id}: {}", view.finding.summary),
            Text::MAX_CHARS,
        ))?;
        if let Some(mut incident) = self.store.load(incident_id)? {
            let entry = incident
                .apply(
                    Op::Diagnose {
                        note,
                        root_cause: None,
                    },
                    &caller.actor,
                    self.clock.now(),
                )?
                .clone();
            self.store
                .commit(crate::store::Write::Update(incident.clone()))?;
            if let Change::Diagnosed { .. } = entry.change {
                outcome.effects.push(Effect::ThreadPost {
                    incident,
                    text: format!("{} {}", entry.by, entry.change),
                    stakeholders: true,
                });
            }
        }
        let linked = self
            .desk()?
            .state
            .book
            .link_incident(id, &incident_id.to_string())?;
        self.save_alerts()?;
        outcome.reply.text = format!("{} (from alert #{id})", outcome.reply.text);
        outcome
            .effects
            .push(Effect::Alert(Box::new(AlertEffect::Update {
                alert: linked,
            })));
        Ok(outcome)
    }

    pub(super) fn silence_command(
        &mut self,
        caller: &Caller,
        command: SilenceCommand,
    ) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        match command {
            SilenceCommand::Add {
                matcher,
                duration,
                reason,
            } => {
                Self::require_team_role(caller, "add silences")?;
                let end = now
                    + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1));
                let silence = self
                    .desk()?
                    .state
                    .silences
                    .add(matcher, now, end, &reason, &caller.actor)
                    .map_err(|e| CommandError::NoData(e.to_string()))?;
                self.save_alerts()?;
                Ok(public(
                    format!(
                        "🔕 silence #{} by {}: {} until {} — {}",
                        silence.id,
                        caller.actor,
                        silence.matcher,
                        timestamp(silence.end),
                        crate::domain::defang(&silence.reason)
                    ),
                    Vec::new(),
                ))
            }
            SilenceCommand::List => {
                let desk = self.desk()?;
                let mut lines: Vec<String> = desk
                    .state
                    .silences
                    .silences()
                    .filter(|s| s.end > now)
                    .map(|s| {
                        format!(
                            "#{} {} until {} — {}",
                            s.id,
                            s.matcher,
                            timestamp(s.end),
                            crate::domain::defang(&s.reason)
                        )
                    })
                    .collect();
                lines.extend(desk.state.silences.windows().map(|(id, w)| {
                    format!(
                        "#{id} quiet window {} for {} min — {}",
                        w.matcher,
                        w.duration.as_secs() / 60,
                        crate::domain::defang(&w.reason)
                    )
                }));
                Ok(private(if lines.is_empty() {
                    "No silences.".into()
                } else {
                    lines.join("\n")
                }))
            }
            SilenceCommand::Remove { id } => {
                Self::require_team_role(caller, "remove silences")?;
                let removed = self
                    .desk()?
                    .state
                    .silences
                    .remove(id)
                    .map_err(|e| CommandError::NoData(e.to_string()))?;
                self.save_alerts()?;
                let what = match removed {
                    Removed::Silence(s) => format!("silence #{} ({})", s.id, s.matcher),
                    Removed::Window(w) => format!("quiet window #{id} ({})", w.matcher),
                };
                Ok(public(
                    format!("🔔 {what} removed by {}", caller.actor),
                    Vec::new(),
                ))
            }
        }
    }

    /// Who would be told, where, and when it escalates, without posting.
    pub(super) fn route_preview(&mut self, query: &RouteQuery) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let account = match (&query.account, &self.history) {
            (Some(account), _) => account.clone(),
            (None, Some(history)) => history
                .streams()?
                .into_iter()
                .find(|(_, s)| s.as_str() == query.stream)
                .map(|(a, _)| a)
                .unwrap_or_else(|| "any account".into()),
            (None, None) => "any account".into(),
        };
        let key = AlertKey {
            account,
            stream: StreamKey::new(query.stream.clone()),
            metric: query.metric,
            kind: query.kind,
        };
        let desk = self.alerts.as_ref().ok_or_else(alerts_off)?;
        let preview = alert::preview(&key, &desk.config.alerts, &desk.state.silences, now);
        let places: Vec<String> = preview
            .teams
            .iter()
            .map(|team| match self.directory.teams.get(team) {
                Some((channel, role)) => format!("{team}: {channel}, mentioning {role}"),
                None => format!("{team}: #{team}"),
            })
            .collect();
        let steps = |map: &std::collections::BTreeMap<Level, Duration>, level: Level| {
            map.get(&level)
                .map(|d| format!("{} min", d.as_secs() / 60))
                .unwrap_or_else(|| "never".into())
        };
        let mut text = format!(
            "Route preview for {key} (nothing was posted):\n  tell {}",
            places.join("; ")
        );
        let on_duty: Vec<String> = preview
            .teams
            .iter()
            .map(|team| {
                let name = crate::duty::RotationName::Team(*team);
                match (
                    self.duty.roster().rotation(name),
                    self.duty.roster().on_duty(name, now),
                ) {
                    (_, Some(duty)) => format!("{team}: {}", duty.member),
                    (Some(_), None) => format!("{team}: nobody right now"),
                    (None, None) => format!("{team}: no rotation"),
                }
            })
            .collect();
        text.push_str(&format!(
            "\n  on duty now: {} (a new alert mentions them beside the team roles)",
            on_duty.join("; ")
        ));
        match &preview.silenced_by {
            Some(reason) => text.push_str(&format!(
                "\n  silenced now: {}",
                crate::domain::defang(reason)
            )),
            None => text.push_str("\n  not silenced"),
        }
        for level in [Level::Critical, Level::Warning] {
            text.push_str(&format!(
                "\n  {level:?}: if unacknowledged, remind the team after {}, escalate to {} after {}",
                steps(&preview.remind_after, level),
                if self.directory.admin.is_empty() { "incident-admin" } else { &self.directory.admin },
                steps(&preview.escalate_after, level)
            ));
        }
        text.push_str(&format!(
            "\n  runbook: {} ({})",
            key.kind,
            desk.config.runbooks.origin(key.kind)
        ));
        Ok(private(text))
    }
}

impl From<crate::domain::TextError> for CommandError {
    fn from(e: crate::domain::TextError) -> Self {
        CommandError::NoData(e.to_string())
    }
}
