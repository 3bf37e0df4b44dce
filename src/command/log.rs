//! The incident log and action follow-up: `/incident list` search,
//! `/incident action list`, `/incident postmortem`, the exports behind
//! `mailcall export incidents`, and reminders to the owners of prevention
//! actions that fall due.
//!
//! An incident log is what makes the next incident shorter, and prevention
//! actions are what stop it happening at all, which they do only if
//! someone does them: so owners are reminded on the due day and weekly
//! while overdue, in their incident's owning team's channel.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::engine::{private, team_post, Attachment, CommandError, Effect, Engine, Outcome};
use super::parse::ListFilter;
use super::render;
use crate::domain::{Caller, Incident, IncidentId, Status};
use crate::store::{IncidentStore, StoreError};

/// The store record of which action reminders were sent.
pub const REMINDED_RECORD: &str = "actions:reminded";

/// How often an overdue action's owner is reminded, at most.
pub const OVERDUE_EVERY: Duration = Duration::days(7);

/// How often the scheduled tick looks for actions to remind about.
pub const CHECK_EVERY: Duration = Duration::hours(1);

/// What was sent about one action (`INC-3#2`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Reminded {
    /// The due date the due-day reminder was sent for (a changed due date
    /// gets its own).
    due_day: Option<NaiveDate>,
    /// The latest overdue reminder.
    overdue_at: Option<DateTime<Utc>>,
}

/// Whether `incident` matches `filter`'s since and search.
pub fn matches_log_filter(incident: &Incident, filter: &ListFilter) -> bool {
    if filter
        .since
        .is_some_and(|since| incident.opened_at.date_naive() < since)
    {
        return false;
    }
    let Some(search) = &filter.search else {
        return true;
    };
    let needle = search.to_lowercase();
    let found = |text: &str| text.to_lowercase().contains(&needle);
    found(incident.title.as_str())
        || incident
            .esp_account
            .as_ref()
            .is_some_and(|a| found(a.as_str()))
        || incident.stream.as_ref().is_some_and(|s| found(s.as_str()))
        || incident
            .resolution
            .as_ref()
            .is_some_and(|r| found(r.as_str()))
        || incident.id.to_string().eq_ignore_ascii_case(search.trim())
        || incident.timeline.iter().any(|entry| match &entry.change {
            crate::domain::Change::Diagnosed { note, .. }
            | crate::domain::Change::Updated { note, .. } => found(note.as_str()),
            crate::domain::Change::Reopened { reason, .. } => found(reason.as_str()),
            crate::domain::Change::ActionAdded { text, .. } => found(text.as_str()),
            _ => false,
        })
}

/// One open action as a line: overdue marked, owner and due date.
fn action_line(
    incident: &Incident,
    action: &crate::domain::PreventionAction,
    today: NaiveDate,
) -> String {
    let due = match action.due {
        Some(due) if due < today => format!("**overdue** since {due}"),
        Some(due) if due == today => "due **today**".to_string(),
        Some(due) => format!("due {due}"),
        None => "no due date".to_string(),
    };
    format!(
        "{} #{}: {} — {} · {due} · {}",
        incident.id, action.number, action.text, action.owner, incident.title
    )
}

impl<S: IncidentStore> Engine<S> {
    /// The local day now, in the summary's zone.
    fn today(&self) -> NaiveDate {
        self.clock
            .now()
            .with_timezone(&self.summary_zone())
            .date_naive()
    }

    /// `/incident action list [mine]`: open prevention actions, overdue
    /// first, then by due date.
    pub(super) fn action_list(
        &self,
        caller: &Caller,
        mine: bool,
        page: u32,
    ) -> Result<Outcome, CommandError> {
        let today = self.today();
        let incidents = self.store.all()?;
        let mut open: Vec<(&Incident, &crate::domain::PreventionAction)> = incidents
            .iter()
            .flat_map(|i| i.open_actions().map(move |a| (i, a)))
            .filter(|(_, a)| !mine || a.owner.is_same_person(&caller.actor))
            .collect();
        open.sort_by_key(|(i, a)| (a.due.is_none(), a.due, i.id, a.number));
        if open.is_empty() {
            return Ok(private(if mine {
                "You own no open prevention actions.".into()
            } else {
                "No prevention actions are open.".into()
            }));
        }
        let overdue = open
            .iter()
            .filter(|(_, a)| a.due.is_some_and(|d| d < today))
            .count();
        let lines: Vec<String> = open.iter().map(|(i, a)| action_line(i, a, today)).collect();
        let heading = format!(
            "{} open prevention action(s){}, {overdue} overdue:",
            lines.len(),
            if mine { " of yours" } else { "" }
        );
        Ok(private(render::paged(
            &heading,
            &lines,
            page,
            "actions",
            |left, next| format!("{left} more: add `page:{next}`"),
        )))
    }

    /// `/incident postmortem`: the draft as a Markdown file, with the
    /// stream's chart when the incident names an ESP account.
    pub(super) fn postmortem(&self, id: IncidentId) -> Result<Outcome, CommandError> {
        let incident = self.load(id)?;
        let now = self.clock.now();
        let samples = match (&self.history, &incident.esp_account) {
            (Some(history), Some(account)) => {
                let stream = incident
                    .stream
                    .as_ref()
                    .map_or_else(crate::delivery::StreamKey::account, |s| {
                        crate::delivery::StreamKey::new(s.as_str())
                    });
                let from = incident.opened_at - crate::summary::postmortem::AROUND;
                let to = crate::summary::postmortem::end_of(&incident, now)
                    + crate::summary::postmortem::AROUND;
                history.series_between(account.as_str(), &stream, from, to)?
            }
            _ => Vec::new(),
        };
        let text = crate::summary::postmortem::draft(&incident, &samples, now);
        let mut outcome = private(format!(
            "{id}: a postmortem draft is attached (Markdown{}); fill in the prompts and share it in the incident's thread.",
            if incident.esp_account.is_some() { ", with the stream's chart" } else { "" }
        ));
        outcome.attachments.push(Attachment {
            filename: format!("postmortem-{id}.md"),
            bytes: text.into_bytes(),
        });
        if let Some(mut data) = crate::summary::postmortem::chart(&incident, &samples, now) {
            let limits = self.chart_limits();
            data.bounce_limit = limits.bounce;
            data.complaint_limit = limits.complaint;
            match crate::summary::chart::render(&data) {
                Ok(bytes) => outcome.attachments.push(Attachment {
                    filename: format!("postmortem-{id}.png"),
                    bytes,
                }),
                Err(e) => {
                    tracing::error!(incident = %id, error = %e, "the postmortem chart could not be drawn")
                }
            }
        }
        Ok(outcome)
    }

    /// Reminders to the owners of open prevention actions: once on the due
    /// day, then weekly while overdue, in the incident's owning team's
    /// channel, mentioning the owner. Recorded in the same change, so a
    /// restart does not repeat them.
    pub(super) fn action_reminders(&mut self) -> Result<Vec<Effect>, CommandError> {
        let now = self.clock.now();
        // Reading every incident at each alert tick (every 30 s) would cost
        // the engine's time on a big store; reminders are by the day, so
        // once an hour is enough (the record, not this, keeps them single).
        if self
            .actions_checked
            .is_some_and(|at| now >= at && now - at < CHECK_EVERY)
        {
            return Ok(Vec::new());
        }
        self.actions_checked = Some(now);
        let today = self.today();
        let mut reminded: BTreeMap<String, Reminded> =
            self.read_record(REMINDED_RECORD, "action reminders")?;
        let mut effects = Vec::new();
        let incidents = self.store.all()?;
        for incident in &incidents {
            if incident.status == Status::Closed && incident.open_actions().next().is_none() {
                continue;
            }
            for action in incident.open_actions() {
                let Some(due) = action.due else {
                    continue;
                };
                let key = format!("{}#{}", incident.id, action.number);
                let entry = reminded.entry(key).or_default();
                let text = if due == today && entry.due_day != Some(due) {
                    entry.due_day = Some(due);
                    format!(
                        "⏰ Prevention action due today: {} #{}: {} ({})",
                        incident.id, action.number, action.text, incident.title
                    )
                } else if due < today && entry.overdue_at.is_none_or(|at| now - at >= OVERDUE_EVERY)
                {
                    entry.overdue_at = Some(now);
                    entry.due_day = Some(due);
                    format!(
                        "⏰ Prevention action overdue since {due}: {} #{}: {} ({}). Mark it done with `/incident action done id:{} number:{}`, or give it a new due date.",
                        incident.id, action.number, action.text, incident.title, incident.id, action.number
                    )
                } else {
                    continue;
                };
                effects.push(team_post(incident.owner, vec![action.owner.clone()], text));
            }
        }
        // Forget actions that are done or gone.
        let open: std::collections::BTreeSet<String> = incidents
            .iter()
            .flat_map(|i| {
                i.open_actions()
                    .map(move |a| format!("{}#{}", i.id, a.number))
            })
            .collect();
        let before = reminded.len();
        reminded.retain(|key, _| open.contains(key));
        if !effects.is_empty() || reminded.len() != before {
            self.write_record(REMINDED_RECORD, "action reminders", &reminded)?;
        }
        Ok(effects)
    }
}

/// How `mailcall export incidents` writes the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Markdown,
    Json,
}

impl ExportFormat {
    /// As written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Markdown => "markdown",
            ExportFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<ExportFormat, String> {
        match text {
            "csv" => Ok(ExportFormat::Csv),
            "markdown" | "md" => Ok(ExportFormat::Markdown),
            "json" => Ok(ExportFormat::Json),
            other => Err(format!(
                "`{other}` is not an export format; use csv, markdown or json"
            )),
        }
    }
}

/// The columns of the CSV and Markdown exports.
pub const EXPORT_COLUMNS: [&str; 15] = [
    "id",
    "title",
    "severity",
    "status",
    "owner",
    "teams",
    "esp_account",
    "stream",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "root_cause",
    "resolution",
    "open_actions",
];

fn export_row(incident: &Incident) -> Vec<String> {
    let at = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    vec![
        incident.id.to_string(),
        incident.title.as_str().to_string(),
        incident.severity.as_str().to_string(),
        incident.status.as_str().to_string(),
        incident.owner.as_str().to_string(),
        incident
            .teams
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        incident
            .esp_account
            .as_ref()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        incident
            .stream
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        incident.opened_at.to_rfc3339(),
        at(incident.acknowledged_at),
        at(incident.resolved_at),
        at(incident.closed_at),
        incident
            .root_cause
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        incident
            .resolution
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        incident.open_actions().count().to_string(),
    ]
}

/// The incident log opened on or after `since`, oldest first, in `format`.
pub fn export(
    incidents: &[Incident],
    since: Option<NaiveDate>,
    format: ExportFormat,
) -> Result<Vec<u8>, StoreError> {
    let mut chosen: Vec<&Incident> = incidents
        .iter()
        .filter(|i| since.is_none_or(|s| i.opened_at.date_naive() >= s))
        .collect();
    chosen.sort_by_key(|i| i.id);
    match format {
        ExportFormat::Json => serde_json::to_vec_pretty(&chosen)
            .map_err(|e| StoreError::Backend(format!("cannot encode the incidents: {e}"))),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let encode = |e: csv::Error| StoreError::Backend(format!("cannot write CSV: {e}"));
            writer.write_record(EXPORT_COLUMNS).map_err(encode)?;
            for incident in chosen {
                writer.write_record(export_row(incident)).map_err(encode)?;
            }
            writer
                .into_inner()
                .map_err(|e| StoreError::Backend(format!("cannot write CSV: {e}")))
        }
        ExportFormat::Markdown => {
            let cell = |text: &str| text.replace('|', "\\|").replace(['\n', '\r'], " ");
            let mut out = String::from("# Incident log\n\n");
            let _ = writeln!(out, "| {} |", EXPORT_COLUMNS.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(EXPORT_COLUMNS.len()));
            for incident in chosen {
                let row: Vec<String> = export_row(incident).iter().map(|c| cell(c)).collect();
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
            Ok(out.into_bytes())
        }
    }
}
