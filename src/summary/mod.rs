//! The weekly quality summary: a team in a permanent rush never steps back,
//! so mailcall steps back for it every week and puts the deliverability
//! figures and the incident work side by side.
//!
//! This module is plain Rust: [`build`] turns what the engine gathered (the
//! metric history of the week and the four before it, the incidents, the
//! alert ledger, the roster, the reviewer's checklist and the duty load)
//! into a [`WeeklySummary`], a value that is stored in the outbox with the
//! change that schedules it and rendered by each front end ([`render`]).
//! The chart ([`chart`]) is drawn from the same value, so the picture and
//! the text cannot disagree.
//!
//! Missing is not zero: a stream that sent nothing has no bounce rate, a
//! week without polls has no figures, and both are shown as such.

pub mod chart;
pub mod ledger;
pub mod postmortem;
pub mod render;
pub mod week;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::delivery::{Counts, Rates, Reported, Reputation, Sample};
use crate::domain::{Actor, Change, Incident, RootCause, Status};
pub use ledger::AlertLedger;
pub use week::Week;

/// How many named streams per account are shown besides the account.
pub const TOP_STREAMS: usize = 4;

/// How many accounts the chart draws: more lines than this cannot be told
/// apart at Discord's preview size.
pub const CHART_ACCOUNTS: usize = 8;

/// The hard limits drawn on the chart (fractions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub bounce: Option<f64>,
    pub complaint: Option<f64>,
}

/// One stream's samples, as read from the metric history.
#[derive(Clone, Debug)]
pub struct StreamHistory {
    pub account: String,
    pub stream: String,
    /// Samples of the summarised week and the four weeks before, any order.
    pub samples: Vec<Sample>,
}

/// Who is on duty over a stretch of the coming week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyLine {
    /// The rotation (`integration`, `quality-reviewer`).
    pub rotation: String,
    /// Who, from when, until when; empty when nobody is on duty.
    pub stretches: Vec<(Actor, DateTime<Utc>, DateTime<Utc>)>,
}

/// One person's duty load over the week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadLine {
    pub member: Actor,
    pub alerts: [u32; 3],
    pub pages: [u32; 3],
}

/// Everything [`build`] reads.
pub struct Inputs<'a> {
    pub week: Week,
    pub zone: Tz,
    /// The week's deliverability figures ([`week_figures`]).
    pub figures: WeekFigures,
    pub incidents: &'a [Incident],
    pub alerts: &'a AlertLedger,
    /// The coming week's rotations.
    pub roster: Vec<DutyLine>,
    /// The latest quality-reviewer checklist, if one was posted.
    pub checklist: Option<&'a crate::duty::Checklist>,
    /// Alerts and pages per person over the week (working, off, sleep hours).
    pub load: Vec<LoadLine>,
    pub limits: Limits,
}

/// A stream's figures over one week (or the median of four).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub sent: Option<u64>,
    pub delivery: Option<f64>,
    pub bounce: Option<f64>,
    pub complaint: Option<f64>,
    pub open: Option<f64>,
    pub click: Option<f64>,
}

impl Figures {
    fn of(counts: Option<&Counts>) -> Figures {
        let Some(counts) = counts else {
            return Figures::default();
        };
        let rates: Rates = counts.rates();
        Figures {
            sent: counts.sent,
            delivery: rates.delivery,
            bounce: rates.bounce,
            complaint: rates.complaint,
            open: rates.open,
            click: rates.click,
        }
    }
}

/// One stream's line in the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    pub account: String,
    pub stream: String,
    pub this_week: Figures,
    pub last_week: Figures,
    /// Median of the four weeks before this one, per figure, over the weeks
    /// that have it.
    pub median: Figures,
    /// How much worse than last week the worst figure got (0 when nothing
    /// got worse): the sort key, worst movers first.
    pub worsening: f64,
}

/// A stream that sent mail in the four weeks before and none this week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietStream {
    pub account: String,
    pub stream: String,
    /// Messages sent in the four weeks before.
    pub sent_before: u64,
    /// `true`: polls came back with no mail; `false`: no figures at all
    /// arrived this week (the feed may be down).
    pub polled: bool,
}

/// A mailbox provider's own view of one stream over the week (Gmail
/// Postmaster Tools): the worst it reported, as it reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MailboxView {
    pub account: String,
    pub stream: String,
    /// The highest spam rate of the week (the upper end of the provider's
    /// interval where given), as a fraction.
    pub spam: Option<f64>,
    /// The lowest domain reputation of the week.
    pub domain_reputation: Option<Reputation>,
    /// The lowest IP reputation of the week.
    pub ip_reputation: Option<Reputation>,
    /// The requirements that needed work at the newest report that says.
    pub needs_work: Option<Vec<String>>,
}

impl MailboxView {
    /// The week's worst of what `samples` (one stream's, this week's)
    /// report; `None` when none carries provider figures.
    fn of(account: &str, stream: &str, samples: &[&Sample]) -> Option<MailboxView> {
        let mut reported: Vec<(&DateTime<Utc>, &Reported)> = samples
            .iter()
            .filter_map(|s| s.counts.reported.as_deref().map(|r| (&s.bucket.start, r)))
            .collect();
        if reported.is_empty() {
            return None;
        }
        reported.sort_by_key(|(start, _)| **start);
        Some(MailboxView {
            account: account.to_owned(),
            stream: stream.to_owned(),
            spam: reported
                .iter()
                .filter_map(|(_, r)| r.spam_upper_ppm.or(r.spam_ppm))
                .max()
                .map(|ppm| f64::from(ppm) / 1_000_000.0),
            domain_reputation: reported
                .iter()
                .filter_map(|(_, r)| r.domain_reputation)
                .min(),
            ip_reputation: reported.iter().filter_map(|(_, r)| r.ip_reputation).min(),
            needs_work: reported
                .iter()
                .rev()
                .find_map(|(_, r)| r.needs_work.clone()),
        })
    }
}

/// Median and 90th percentile of some durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub count: usize,
    /// In seconds.
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

impl Spread {
    fn of(mut seconds: Vec<i64>) -> Spread {
        seconds.sort_unstable();
        let rank = |q: f64| {
            // Nearest rank: the smallest value with at least q of the
            // values at or below it.
            let n = seconds.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            seconds.get(index).copied()
        };
        Spread {
            count: seconds.len(),
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// An incident as a summary line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentLine {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub status: String,
}

/// The incident work of the week.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSection {
    pub opened: Vec<IncidentLine>,
    pub resolved: Vec<IncidentLine>,
    /// Open, investigating or mitigated when the week ended.
    pub still_open: Vec<IncidentLine>,
    /// Opened this week, by severity (`sev1` …).
    pub opened_by_severity: BTreeMap<String, usize>,
    /// Resolved this week, by root cause (`not given` when none).
    pub resolved_by_cause: BTreeMap<String, usize>,
    /// Acknowledged this week: time from opening.
    pub acknowledge: Spread,
    pub acknowledge_last_week: Spread,
    /// Resolved this week: time from opening.
    pub resolve: Spread,
    pub resolve_last_week: Spread,
    /// Resolved or closed this week as false alarms.
    pub false_alarms: usize,
    /// Closed this week without a root cause or a prevention action.
    pub closed_without_learning: Vec<String>,
}

/// A prevention action not done at the end of the week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLine {
    pub incident: String,
    pub number: u32,
    pub text: String,
    pub owner: Actor,
    pub due: Option<NaiveDate>,
    /// Its due date is before the week's end.
    pub overdue: bool,
}

/// Alerts of the week.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSection {
    pub fired: usize,
    pub acknowledged: usize,
    pub snoozed: usize,
    pub silenced: usize,
    pub false_alarms: usize,
    /// From the start of the bucket that showed the trouble to the alert.
    pub detection_delay: Spread,
}

/// The quality reviewer's checklist items nobody ticked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unticked {
    pub reviewer: Actor,
    pub items: Vec<String>,
}

/// One account's daily figures for the chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DailyFigures {
    pub account: String,
    pub bounce: Vec<Option<f64>>,
    pub complaint: Vec<Option<f64>>,
    pub sent: Vec<Option<u64>>,
}

/// The summary of one week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeeklySummary {
    /// `2026-W47`.
    pub week: String,
    pub zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Accounts and their top streams, worst movers first.
    pub streams: Vec<StreamLine>,
    pub quiet: Vec<QuietStream>,
    /// Mailbox providers' own figures (Gmail Postmaster Tools).
    #[serde(default)]
    pub mailbox: Vec<MailboxView>,
    pub incidents: IncidentSection,
    pub actions: Vec<ActionLine>,
    pub alerts: AlertSection,
    /// Who is on duty in the coming week.
    pub roster: Vec<DutyLine>,
    pub unticked: Option<Unticked>,
    pub load: Vec<LoadLine>,
    /// The week's local days, for the chart.
    pub days: Vec<NaiveDate>,
    pub daily: Vec<DailyFigures>,
    pub limits: Limits,
}

impl WeeklySummary {
    /// The people the summary may ping: owners of open prevention actions.
    pub fn owners(&self) -> Vec<Actor> {
        let mut owners: Vec<Actor> = self.actions.iter().map(|a| a.owner.clone()).collect();
        owners.sort();
        owners.dedup();
        owners
    }

    /// What the chart draws: every account, or with more than
    /// [`CHART_ACCOUNTS`], those closest to the hard limits (their worst day
    /// against each limit), the title saying how many are shown.
    pub fn chart_data(&self) -> chart::ChartData {
        let peak = |values: &[Option<f64>], limit: Option<f64>| {
            let worst = values.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
            match limit {
                Some(limit) if limit > 0.0 => worst / limit,
                _ => worst,
            }
        };
        let mut chosen: Vec<&DailyFigures> = self.daily.iter().collect();
        let mut title = format!("Week {} ({})", self.week, self.zone);
        if chosen.len() > CHART_ACCOUNTS {
            chosen.sort_by(|a, b| {
                let closeness = |d: &DailyFigures| {
                    peak(&d.bounce, self.limits.bounce)
                        .max(peak(&d.complaint, self.limits.complaint))
                };
                closeness(b)
                    .total_cmp(&closeness(a))
                    .then_with(|| a.account.cmp(&b.account))
            });
            title.push_str(&format!(
                ": the {CHART_ACCOUNTS} of {} accounts closest to the limits",
                chosen.len()
            ));
            chosen.truncate(CHART_ACCOUNTS);
        }
        chart::ChartData {
            title,
            days: self.days.clone(),
            accounts: chosen
                .into_iter()
                .map(|d| chart::AccountSeries {
                    name: d.account.clone(),
                    bounce: d.bounce.clone(),
                    complaint: d.complaint.clone(),
                    volume: d.sent.clone(),
                })
                .collect(),
            bounce_limit: self.limits.bounce,
            complaint_limit: self.limits.complaint,
        }
    }
}

/// The counts of some samples together; `None` when there are none. A count
/// missing from any of them is missing from the total.
fn total<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Option<Counts> {
    samples
        .into_iter()
        .map(|s| s.counts.clone())
        .reduce(|a, b| a.plus(&b))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn median_figures(weeks: &[Figures]) -> Figures {
    let of = |pick: fn(&Figures) -> Option<f64>| median(weeks.iter().filter_map(pick).collect());
    Figures {
        sent: median(
            weeks
                .iter()
                .filter_map(|f| f.sent.map(|s| s as f64))
                .collect(),
        )
        .map(|s| s.round() as u64),
        delivery: of(|f| f.delivery),
        bounce: of(|f| f.bounce),
        complaint: of(|f| f.complaint),
        open: of(|f| f.open),
        click: of(|f| f.click),
    }
}

/// How much worse `now` is than `before`, relatively, for a figure where
/// higher is worse (`up_is_worse`) or better; 0 when better or unknown.
fn worse(before: Option<f64>, now: Option<f64>, up_is_worse: bool) -> f64 {
    match (before, now) {
        (Some(before), Some(now)) if before > 0.0 => {
            let change = (now - before) / before;
            let change = if up_is_worse { change } else { -change };
            change.max(0.0)
        }
        // From nothing to something bad: as bad as doubling.
        (Some(before), Some(now)) if before == 0.0 && up_is_worse && now > 0.0 => 1.0,
        _ => 0.0,
    }
}

fn worsening(last: &Figures, this: &Figures) -> f64 {
    [
        worse(last.bounce, this.bounce, true),
        worse(last.complaint, this.complaint, true),
        // Judged on what was not delivered (see render's delivery mark).
        worse(
            last.delivery.map(|d| 1.0 - d),
            this.delivery.map(|d| 1.0 - d),
            true,
        ),
        worse(last.open, this.open, false),
        worse(last.click, this.click, false),
        worse(
            last.sent.map(|s| s as f64),
            this.sent.map(|s| s as f64),
            false,
        ),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

fn line(incident: &Incident) -> IncidentLine {
    IncidentLine {
        id: incident.id.to_string(),
        title: incident.title.to_string(),
        severity: incident.severity.as_str().to_string(),
        status: incident.status.as_str().to_string(),
    }
}

/// The incident's status just before `at`, read from its timeline; `None`
/// if it did not exist yet.
fn status_before(incident: &Incident, at: DateTime<Utc>) -> Option<Status> {
    if incident.opened_at >= at {
        return None;
    }
    let mut status = Status::Open;
    for entry in &incident.timeline {
        if entry.at >= at {
            break;
        }
        if let Some((_, to)) = entry.change.status_transition() {
            status = to;
        }
    }
    Some(status)
}

/// When the incident was first acknowledged, and each time it was
/// resolved, from the timeline (a reopened incident resolves twice; the
/// time to resolve counts from the opening each time).
fn acknowledged_and_resolved(incident: &Incident) -> (Option<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let mut acknowledged = incident.acknowledged_at;
    let mut resolved = Vec::new();
    for entry in &incident.timeline {
        match &entry.change {
            Change::Acknowledged { .. } => {
                acknowledged = Some(acknowledged.map_or(entry.at, |a| a.min(entry.at)))
            }
            Change::Resolved { .. } => resolved.push(entry.at),
            _ => {}
        }
    }
    (acknowledged, resolved)
}

fn incident_section(
    incidents: &[Incident],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> IncidentSection {
    let mut section = IncidentSection::default();
    let last_from = from - Duration::weeks(1);
    let within = |at: DateTime<Utc>, a: DateTime<Utc>, b: DateTime<Utc>| at >= a && at < b;
    let (mut ack, mut ack_last, mut res, mut res_last) = (vec![], vec![], vec![], vec![]);
    for incident in incidents {
        if within(incident.opened_at, from, to) {
            section.opened.push(line(incident));
            *section
                .opened_by_severity
                .entry(incident.severity.as_str().to_string())
                .or_default() += 1;
        }
        let (acknowledged, resolutions) = acknowledged_and_resolved(incident);
        if let Some(at) = acknowledged {
            let seconds = (at - incident.opened_at).num_seconds();
            if within(at, from, to) {
                ack.push(seconds);
            } else if within(at, last_from, from) {
                ack_last.push(seconds);
            }
        }
        for at in &resolutions {
            let seconds = (*at - incident.opened_at).num_seconds();
            if within(*at, from, to) {
                res.push(seconds);
            } else if within(*at, last_from, from) {
                res_last.push(seconds);
            }
        }
        let resolved_this_week = resolutions.iter().any(|at| within(*at, from, to));
        if resolved_this_week {
            section.resolved.push(line(incident));
            let cause = incident
                .root_cause
                .map_or("not given", |c| c.as_str())
                .to_string();
            *section.resolved_by_cause.entry(cause).or_default() += 1;
            if incident.root_cause == Some(RootCause::FalseAlarm) {
                section.false_alarms += 1;
            }
        }
        if let Some(closed) = incident.closed_at {
            let learnt = incident.root_cause.is_some_and(|c| c != RootCause::Other)
                || !incident.actions.is_empty()
                || incident.root_cause == Some(RootCause::FalseAlarm);
            if within(closed, from, to) && !learnt {
                section
                    .closed_without_learning
                    .push(incident.id.to_string());
            }
        }
        if status_before(incident, to).is_some_and(Status::is_active) {
            section.still_open.push(line(incident));
        }
    }
    section.acknowledge = Spread::of(ack);
    section.acknowledge_last_week = Spread::of(ack_last);
    section.resolve = Spread::of(res);
    section.resolve_last_week = Spread::of(res_last);
    section
}

/// The prevention actions that existed and were not done when the week
/// ended (a summary of a past week shows that week's state).
fn action_lines(incidents: &[Incident], to: DateTime<Utc>, last_day: NaiveDate) -> Vec<ActionLine> {
    let mut lines: Vec<ActionLine> = incidents
        .iter()
        .flat_map(|incident| {
            let added_at = |number: u32| {
                incident
                    .timeline
                    .iter()
                    .find_map(|entry| match &entry.change {
                        Change::ActionAdded { number: n, .. } if *n == number => Some(entry.at),
                        _ => None,
                    })
            };
            incident
                .actions
                .iter()
                .filter(move |action| {
                    added_at(action.number).is_some_and(|at| at < to)
                        && action.done.as_ref().is_none_or(|(at, _)| *at >= to)
                })
                .map(move |action| ActionLine {
                    incident: incident.id.to_string(),
                    number: action.number,
                    text: action.text.to_string(),
                    owner: action.owner.clone(),
                    due: action.due,
                    overdue: action.due.is_some_and(|due| due <= last_day),
                })
        })
        .collect();
    // Overdue first, then by due date (undated last), then by incident.
    lines.sort_by(|a, b| {
        (!a.overdue, a.due.is_none(), a.due, &a.incident, a.number).cmp(&(
            !b.overdue,
            b.due.is_none(),
            b.due,
            &b.incident,
            b.number,
        ))
    });
    lines
}

/// The deliverability part of a week's summary: the expensive part (five
/// weeks of every stream's history), computed apart so that the service
/// can read it without holding the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeekFigures {
    /// Accounts and their top streams, worst movers first.
    pub streams: Vec<StreamLine>,
    pub quiet: Vec<QuietStream>,
    pub daily: Vec<DailyFigures>,
    /// Mailbox providers' own figures for the week.
    pub mailbox: Vec<MailboxView>,
}

/// Per stream: this week, last week, the four weeks' median; the quiet
/// streams; and per account, the daily figures for the chart.
pub fn week_figures(streams: &[StreamHistory], week: Week, zone: Tz) -> WeekFigures {
    let (streams, quiet, daily, mailbox) = metric_sections(streams, week, zone);
    WeekFigures {
        streams,
        quiet,
        daily,
        mailbox,
    }
}

fn metric_sections(
    streams: &[StreamHistory],
    week: Week,
    zone: Tz,
) -> (
    Vec<StreamLine>,
    Vec<QuietStream>,
    Vec<DailyFigures>,
    Vec<MailboxView>,
) {
    let weeks: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..5)
        .map(|back| {
            let mut w = week;
            for _ in 0..back {
                w = w.previous();
            }
            w.bounds(zone)
        })
        .collect();
    let in_range = |s: &&Sample, (a, b): (DateTime<Utc>, DateTime<Utc>)| {
        s.bucket.start >= a && s.bucket.start < b
    };
    let mut lines = Vec::new();
    let mut quiet = Vec::new();
    let mut mailbox = Vec::new();
    for history in streams {
        let this_week_samples: Vec<&Sample> = history
            .samples
            .iter()
            .filter(|s| in_range(s, weeks[0]))
            .collect();
        if let Some(view) = MailboxView::of(&history.account, &history.stream, &this_week_samples) {
            mailbox.push(view);
        }
        // A stream of a provider's own figures only (no counts at all) has
        // no line of counts to show.
        let has_counts = history
            .samples
            .iter()
            .any(|s| s.counts.sent.is_some() || s.counts.delivered.is_some());
        if !has_counts && history.samples.iter().any(|s| s.counts.reported.is_some()) {
            continue;
        }
        let per_week: Vec<Option<Counts>> = weeks
            .iter()
            .map(|range| total(history.samples.iter().filter(|s| in_range(s, *range))))
            .collect();
        let figures: Vec<Figures> = per_week.iter().map(|c| Figures::of(c.as_ref())).collect();
        let this_week = figures.first().copied().unwrap_or_default();
        let last_week = figures.get(1).copied().unwrap_or_default();
        let before = figures.get(1..).unwrap_or_default();
        let sent_before: u64 = before.iter().filter_map(|f| f.sent).sum();
        let polled = per_week.first().is_some_and(Option::is_some);
        if sent_before > 0
            && this_week.sent.unwrap_or(0) == 0
            && (this_week.sent.is_some() || !polled)
        {
            quiet.push(QuietStream {
                account: history.account.clone(),
                stream: history.stream.clone(),
                sent_before,
                polled,
            });
        }
        if !polled && sent_before == 0 {
            continue;
        }
        lines.push(StreamLine {
            account: history.account.clone(),
            stream: history.stream.clone(),
            worsening: worsening(&last_week, &this_week),
            this_week,
            last_week,
            median: median_figures(&figures[1..]),
        });
    }
    // Per account: the account stream and the busiest named streams.
    let mut by_account: BTreeMap<String, Vec<StreamLine>> = BTreeMap::new();
    for line in lines {
        by_account
            .entry(line.account.clone())
            .or_default()
            .push(line);
    }
    let mut kept = Vec::new();
    for (_, mut lines) in by_account {
        lines.sort_by(|a, b| {
            let account =
                |l: &StreamLine| l.stream != crate::delivery::StreamKey::account().as_str();
            (account(a), std::cmp::Reverse(a.this_week.sent.unwrap_or(0)))
                .cmp(&(account(b), std::cmp::Reverse(b.this_week.sent.unwrap_or(0))))
        });
        let has_account = lines
            .first()
            .is_some_and(|l| l.stream == crate::delivery::StreamKey::account().as_str());
        lines.truncate(TOP_STREAMS + usize::from(has_account));
        kept.extend(lines);
    }
    kept.sort_by(|a, b| {
        b.worsening
            .total_cmp(&a.worsening)
            .then_with(|| (&a.account, &a.stream).cmp(&(&b.account, &b.stream)))
    });
    // Daily figures per account: the account stream where there is one,
    // otherwise the sum of the account's streams.
    let days = week.days();
    let mut daily = Vec::new();
    let mut accounts: Vec<&str> = streams.iter().map(|s| s.account.as_str()).collect();
    accounts.dedup();
    accounts.sort_unstable();
    accounts.dedup();
    for account in accounts {
        let of_account: Vec<&StreamHistory> =
            streams.iter().filter(|s| s.account == account).collect();
        let chosen: Vec<&StreamHistory> = match of_account
            .iter()
            .find(|s| s.stream == crate::delivery::StreamKey::account().as_str())
        {
            Some(account_stream) => vec![*account_stream],
            None => of_account,
        };
        let mut figures = DailyFigures {
            account: account.to_string(),
            bounce: Vec::new(),
            complaint: Vec::new(),
            sent: Vec::new(),
        };
        for day in &days {
            let range = (
                week::local_midnight(*day, zone),
                week::local_midnight(*day + Duration::days(1), zone),
            );
            let counts = total(
                chosen
                    .iter()
                    .flat_map(|h| h.samples.iter())
                    .filter(|s| in_range(s, range)),
            );
            let f = Figures::of(counts.as_ref());
            figures.bounce.push(f.bounce);
            figures.complaint.push(f.complaint);
            figures.sent.push(f.sent);
        }
        daily.push(figures);
    }
    (kept, quiet, daily, mailbox)
}

/// The summary of `inputs.week`.
pub fn build(inputs: Inputs<'_>) -> WeeklySummary {
    let (from, to) = inputs.week.bounds(inputs.zone);
    let last_day = inputs.week.monday() + Duration::days(6);
    let WeekFigures {
        streams,
        quiet,
        daily,
        mailbox,
    } = inputs.figures;
    let unticked = inputs.checklist.map(|list| Unticked {
        reviewer: list.reviewer.clone(),
        items: list.unticked().map(|i| i.text.clone()).collect(),
    });
    WeeklySummary {
        week: inputs.week.to_string(),
        zone: inputs.zone.name().to_string(),
        from,
        to,
        streams,
        quiet,
        mailbox,
        incidents: incident_section(inputs.incidents, from, to),
        actions: action_lines(inputs.incidents, to, last_day),
        alerts: inputs.alerts.section(
            from,
            to,
            &inputs
                .incidents
                .iter()
                .filter(|i| i.root_cause == Some(RootCause::FalseAlarm))
                .map(|i| i.id.to_string())
                .collect(),
        ),
        roster: inputs.roster,
        unticked,
        load: inputs.load,
        days: inputs.week.days(),
        daily,
        limits: inputs.limits,
    }
}

#[cfg(test)]
mod tests;
