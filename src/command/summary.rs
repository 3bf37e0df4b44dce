//! The weekly summary on the engine: gathering what [`crate::summary`]
//! reads, posting it once a week through the outbox, `/summary now` and
//! `/summary post`, and the alert ledger kept for it.
//!
//! The scheduled post is an [`Effect::Summary`] committed with the
//! scheduler's record that its due time has run (see
//! [`Engine::scheduled`]), so across a crash or a restart each week is
//! posted exactly once, and a week missed while the bot was down is posted
//! once at start.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::engine::{private, public, Attachment, CommandError, Effect, Engine, Outcome};
use crate::domain::Caller;
use crate::schedule::Schedule;
use crate::store::IncidentStore;
use crate::summary::{self, AlertLedger, Week, WeeklySummary};

/// The store record holding the [`AlertLedger`].
pub const LEDGER_RECORD: &str = "summary:alerts";

/// The scheduler's name for the weekly summary.
pub const JOB: &str = "weekly-summary";

/// When and in which zone the summary is posted (`[summary]`).
#[derive(Clone, Debug, PartialEq)]
pub struct SummarySettings {
    /// Weeks, days and times are read in this zone.
    pub zone: Tz,
    /// When the summary of the week just ended is posted; `None`: Mondays
    /// 09:00 in `zone`.
    pub schedule: Option<Schedule>,
    /// The hard limits the chart draws, where no alert desk supplies them
    /// (`mailcall summary` reads the store without alerting).
    pub limits: summary::Limits,
}

/// The default schedule: Mondays at 09:00.
pub const DEFAULT_SCHEDULE: &str = "0 9 * * MON";

impl Default for SummarySettings {
    /// Mondays 09:00 UTC.
    fn default() -> SummarySettings {
        SummarySettings {
            zone: chrono_tz::UTC,
            schedule: None,
            limits: summary::Limits::default(),
        }
    }
}

impl SummarySettings {
    /// The bounce and complaint hard limits (critical thresholds) of
    /// `detector`.
    pub fn limits_of(detector: &crate::detect::DetectorSettings) -> summary::Limits {
        let limit = |metric| {
            detector
                .limits
                .get(&metric)
                .map(|t: &crate::detect::Thresholds| t.critical)
        };
        summary::Limits {
            bounce: limit(crate::detect::Metric::Bounce),
            complaint: limit(crate::detect::Metric::Complaint),
        }
    }

    /// When the summary is posted.
    pub fn schedule(&self) -> Result<Schedule, crate::schedule::ScheduleError> {
        match &self.schedule {
            Some(schedule) => Ok(schedule.clone()),
            None => Schedule::parse(DEFAULT_SCHEDULE, self.zone.name()),
        }
    }
}

/// A scheduled summary's run: its due time, and the deliverability
/// figures of its week when the caller read them without holding the
/// engine (they are read under it otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryDue {
    pub due: DateTime<Utc>,
    pub figures: Option<(Week, summary::WeekFigures)>,
}

/// The week's deliverability figures from the metric history: five weeks of
/// every stream with history. Reads only the history, so the service runs
/// it without holding the engine (on a busy store it takes seconds; see the
/// `weekly_summary` benchmark).
pub fn week_figures(
    history: &dyn crate::store::MetricsHistory,
    week: Week,
    zone: Tz,
) -> Result<summary::WeekFigures, crate::store::StoreError> {
    let (from, to) = week.bounds(zone);
    let mut streams = Vec::new();
    for (account, stream) in history.streams()? {
        let samples = history.series_between(&account, &stream, from - Duration::weeks(4), to)?;
        if samples.is_empty() {
            continue;
        }
        streams.push(summary::StreamHistory {
            account,
            stream: stream.as_str().to_string(),
            samples,
        });
    }
    Ok(summary::week_figures(&streams, week, zone))
}

/// `/summary …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SummaryCommand {
    /// A private preview of a week's summary (the week just ended by
    /// default).
    Now { week: Option<Week> },
    /// Post it in the summary channel now (incident-admin).
    Post { week: Option<Week> },
}

impl<S: IncidentStore> Engine<S> {
    /// The zone and schedule of the weekly summary.
    pub fn summary_settings(&self) -> &SummarySettings {
        &self.summary
    }

    /// The zone weeks are read in.
    pub fn summary_zone(&self) -> Tz {
        self.summary.zone
    }

    /// Sets when and in which zone the weekly summary is made.
    pub fn with_summary(mut self, settings: SummarySettings) -> Engine<S> {
        self.summary = settings;
        self
    }

    /// The week just ended at `at`, in the summary's zone.
    pub fn week_before(&self, at: DateTime<Utc>) -> Week {
        Week::containing(at, self.summary_zone()).previous()
    }

    /// The alert ledger as stored (empty at first).
    pub fn alert_ledger(&self) -> Result<AlertLedger, CommandError> {
        self.read_record(LEDGER_RECORD, "alert ledger")
    }

    /// Notes the alerts these posts show in the ledger, in the change that
    /// makes the posts.
    pub(super) fn record_alerts(&mut self, effects: &[Effect]) -> Result<(), CommandError> {
        let views: Vec<&crate::alert::AlertView> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Alert(alert) => alert.alert(),
                _ => None,
            })
            .collect();
        if views.is_empty() {
            return Ok(());
        }
        // The ledger is for the weekly figures: an unreadable one must not
        // stop alerts from being posted, so it is reported and started
        // afresh.
        let mut ledger = self.alert_ledger().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the alert ledger is unreadable; starting it afresh");
            AlertLedger::default()
        });
        for view in views {
            ledger.observe(view);
        }
        ledger.prune(self.clock.now());
        self.write_record(LEDGER_RECORD, "alert ledger", &ledger)
    }

    /// The summary of `week`, from what the store holds now.
    pub fn weekly_summary(&self, week: Week) -> Result<WeeklySummary, CommandError> {
        let figures = match &self.history {
            Some(history) => week_figures(history.as_ref(), week, self.summary_zone())?,
            None => summary::WeekFigures::default(),
        };
        self.weekly_summary_with(week, figures)
    }

    /// The summary of `week` with its deliverability figures computed
    /// beforehand ([`week_figures`]).
    pub fn weekly_summary_with(
        &self,
        week: Week,
        figures: summary::WeekFigures,
    ) -> Result<WeeklySummary, CommandError> {
        let zone = self.summary_zone();
        let (from, to) = week.bounds(zone);
        let incidents = self.store.all()?;
        let ledger = self.alert_ledger()?;
        let (next_from, next_to) = week.next().bounds(zone);
        let roster = self
            .duty
            .roster()
            .rotations()
            .map(|rotation| summary::DutyLine {
                rotation: rotation.name.as_str().to_string(),
                stretches: self
                    .duty
                    .roster()
                    .schedule(rotation.name, next_from, next_to)
                    .into_iter()
                    .map(|s| (s.member, s.start, s.end))
                    .collect(),
            })
            .collect();
        let checklists = self.checklists()?;
        let checklist = checklists
            .lists
            .iter()
            .filter(|list| list.posted_at < to)
            .max_by_key(|list| list.posted_at);
        // The load is kept by UTC week; the local week's Monday is the day
        // after its start in any zone west of UTC+24.
        let monday = crate::duty::load::week_of(from + Duration::days(1));
        let load = self
            .duty_load_record()?
            .between(monday, monday + Duration::weeks(1))
            .into_iter()
            .map(|(member, load)| summary::LoadLine {
                member,
                alerts: [load.alerts.working, load.alerts.off, load.alerts.sleep],
                pages: [load.pages.working, load.pages.off, load.pages.sleep],
            })
            .collect();
        let limits = self.chart_limits();
        Ok(summary::build(summary::Inputs {
            week,
            zone,
            figures,
            incidents: &incidents,
            alerts: &ledger,
            roster,
            checklist,
            load,
            limits,
        }))
    }

    /// The hard limits charts draw: the alerting configuration's, else the
    /// summary settings'.
    pub(super) fn chart_limits(&self) -> summary::Limits {
        match &self.alerts {
            Some(desk) => SummarySettings::limits_of(&desk.config.detector),
            None => self.summary.limits,
        }
    }

    /// The scheduled summary: the week that ended before its due time,
    /// with the figures read beforehand when the caller has them.
    pub(super) fn summary_post(&mut self, run: SummaryDue) -> Result<Effect, CommandError> {
        let week = self.week_before(run.due);
        let summary = match run.figures {
            Some((for_week, figures)) if for_week == week => {
                self.weekly_summary_with(week, figures)?
            }
            _ => self.weekly_summary(week)?,
        };
        Ok(Effect::Summary(Box::new(summary)))
    }

    pub(super) fn summary_command(
        &mut self,
        caller: &Caller,
        command: SummaryCommand,
    ) -> Result<Outcome, CommandError> {
        let default_week = self.week_before(self.clock.now());
        match command {
            SummaryCommand::Now { week } => {
                let summary = self.weekly_summary(week.unwrap_or(default_week))?;
                let file = markdown_attachment(&summary);
                let text = summary::render::chat_markdown(
                    &summary,
                    &|actor| actor.to_string(),
                    &file.filename,
                );
                // A reply is one message: its first part, and the whole
                // summary attached.
                let parts = summary::render::messages(&text, PREVIEW_CHARS);
                let label = format!("(part 1 of {})\n", parts.len());
                let mut reply = parts
                    .first()
                    .map(|part| part.strip_prefix(&label).unwrap_or(part).to_string())
                    .unwrap_or_default();
                if parts.len() > 1 {
                    reply.push_str(&format!(
                        "\n… the preview goes on in the attached {} ({} more part(s) when posted).",
                        file.filename,
                        parts.len() - 1
                    ));
                }
                let mut outcome = private(reply);
                outcome.attachments.extend(chart_attachment(&summary));
                outcome.attachments.push(file);
                Ok(outcome)
            }
            SummaryCommand::Post { week } => {
                if !caller.admin {
                    return Err(CommandError::Denied(
                        "posting the weekly summary is for incident-admins; /summary now shows you a preview".into(),
                    ));
                }
                let week = week.unwrap_or(default_week);
                let summary = self.weekly_summary(week)?;
                Ok(public(
                    format!("Posting the summary of {week} in the summary channel."),
                    vec![Effect::Summary(Box::new(summary))],
                ))
            }
        }
    }
}

/// How long the preview reply may be: a Discord message, with room for
/// the line saying where the rest is.
const PREVIEW_CHARS: usize = 1_850;

/// The whole summary as a Markdown file, with owners named (no pings in a
/// file).
pub fn markdown_attachment(summary: &WeeklySummary) -> Attachment {
    Attachment {
        filename: format!("mailcall-summary-{}.md", summary.week),
        bytes: summary::render::markdown(summary, &|actor| format!("@{actor}")).into_bytes(),
    }
}

/// The summary's chart as a PNG attachment; `None` (logged) when it cannot
/// be drawn: the text still goes out.
pub fn chart_attachment(summary: &WeeklySummary) -> Option<Attachment> {
    match summary::chart::render(&summary.chart_data()) {
        Ok(bytes) => Some(Attachment {
            filename: format!("mailcall-summary-{}.png", summary.week),
            bytes,
        }),
        Err(e) => {
            tracing::error!(error = %e, week = %summary.week, "the summary chart could not be drawn");
            None
        }
    }
}
