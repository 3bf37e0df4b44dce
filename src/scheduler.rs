//! Scheduled jobs: what runs when, exactly once per due time, across
//! restarts.
//!
//! Polls, alert timers, handoffs and weekly summaries all run on time, and
//! a bot that restarts must neither repeat a run (two weekly summaries) nor
//! forget one it missed while it was down. A [`Job`] has a name, a
//! [`Cadence`] (a cron expression in a time zone, DST-correct through
//! [`crate::schedule`], a fixed interval, or a rotation's handoffs, which
//! an admin may retime while the bot runs) and a [`Missed`] policy for
//! runs that fell due while the bot was down: run once at start, or skip.
//!
//! The scheduler remembers, per job, the due time of the last run it handed
//! out ([`JobRecords`]). It is plain Rust: the caller passes `now` (the
//! injected clock) and stores the records in the same transaction as the
//! run's own effects, so a crash before that commit replays the run after
//! the restart, and a crash after it does not: exactly once per due time.
//!
//! A job seen for the first time starts from now: installing a weekly job
//! on a Wednesday does not post last Monday's run.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::duty::Rotation;
use crate::schedule::Schedule;

/// When a job falls due.
#[derive(Clone, Debug)]
pub enum Cadence {
    /// At each run of a cron schedule in its time zone.
    Cron(Box<Schedule>),
    /// Every so long, on multiples of the interval since the Unix epoch, so
    /// due times do not drift with restarts.
    Every(Duration),
    /// At each handoff of a rotation: each shift's start, through any
    /// timing changes made at run time.
    Handoffs(Box<Rotation>),
}

impl Cadence {
    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Cron(schedule) => schedule.next_after(after),
            Cadence::Every(interval) => {
                let step = interval.num_milliseconds();
                if step <= 0 {
                    return None;
                }
                let at = after.timestamp_millis();
                let next = (at.div_euclid(step) + 1).checked_mul(step)?;
                DateTime::from_timestamp_millis(next)
            }
            Cadence::Handoffs(rotation) => rotation.next_handoff_after(after),
        }
    }

    /// The latest due time at or before `at`, searching back at most
    /// `horizon`.
    fn latest_at_or_before(&self, at: DateTime<Utc>, horizon: Duration) -> Option<DateTime<Utc>> {
        let mut cursor = at.checked_sub_signed(horizon)?;
        let mut latest = None;
        while let Some(next) = self.next_after(cursor) {
            if next > at {
                break;
            }
            latest = Some(next);
            cursor = next;
        }
        latest
    }
}

/// What happens to runs that fell due while the bot was down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    /// Run once at start for all of them (a weekly summary missed during
    /// downtime is posted once, late).
    RunOnce,
    /// Drop them; only runs due from now on happen (a reminder tick).
    Skip,
}

/// A named job.
#[derive(Clone, Debug)]
pub struct Job {
    pub name: String,
    pub cadence: Cadence,
    pub missed: Missed,
}

/// The durable part of the scheduler: per job, the due time of the last
/// run handed out (or skipped). Stored by the caller with the run's
/// effects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecords {
    pub last_due: BTreeMap<String, DateTime<Utc>>,
}

/// A run the scheduler hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub job: String,
    /// The due time this run is for (its identity: one run per due time).
    pub due: DateTime<Utc>,
    /// Earlier due times folded into this run or skipped, because the bot
    /// was down when they fell due.
    pub missed: usize,
}

/// The store record that holds the [`JobRecords`].
pub const RECORD: &str = "scheduler";

/// How late a run may start and still count as on time rather than missed
/// (the runner wakes a little after the due time).
pub const ON_TIME: Duration = Duration::minutes(1);

/// How far back missed runs are counted after a long downtime.
const MISSED_HORIZON: Duration = Duration::days(60);

/// The jobs and their records.
#[derive(Clone, Debug)]
pub struct Scheduler {
    jobs: Vec<Job>,
    records: JobRecords,
}

impl Scheduler {
    /// The scheduler for `jobs`, resuming from `records` (empty on a first
    /// start). Records of jobs no longer configured are kept untouched.
    pub fn new(jobs: Vec<Job>, records: JobRecords) -> Scheduler {
        Scheduler { jobs, records }
    }

    /// Changes when `job` falls due (a rotation whose timing was changed at
    /// run time); its record stays, so no due time runs twice.
    pub fn set_cadence(&mut self, job: &str, cadence: Cadence) {
        if let Some(job) = self.jobs.iter_mut().find(|j| j.name == job) {
            job.cadence = cadence;
        }
    }

    /// The records to store with the effects of the runs handed out.
    pub fn records(&self) -> &JobRecords {
        &self.records
    }

    /// The runs due at `now`, in job order, and the records updated as if
    /// they ran. A job never seen before is recorded at its latest due time
    /// without running. Skipped missed runs update the record too (the
    /// returned list tells nothing about them; [`Scheduler::skipped`] does).
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Run> {
        let mut runs = Vec::new();
        for job in &self.jobs {
            let Some(&last) = self.records.last_due.get(&job.name) else {
                let start = job
                    .cadence
                    .latest_at_or_before(now, MISSED_HORIZON)
                    .unwrap_or(now);
                self.records.last_due.insert(job.name.clone(), start);
                continue;
            };
            let mut pending = Vec::new();
            let mut cursor = last;
            while let Some(next) = job.cadence.next_after(cursor) {
                if next > now || pending.len() > 10_000 {
                    break;
                }
                pending.push(next);
                cursor = next;
            }
            let Some(&latest) = pending.last() else {
                continue;
            };
            let on_time = now - latest <= ON_TIME;
            let run = match job.missed {
                Missed::RunOnce => true,
                Missed::Skip => on_time,
            };
            self.records.last_due.insert(job.name.clone(), latest);
            if run {
                runs.push(Run {
                    job: job.name.clone(),
                    due: latest,
                    missed: pending.len() - 1,
                });
            }
        }
        runs
    }

    /// The earliest due time of any job after `now`: when to wake next.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .filter_map(|job| {
                let from = self
                    .records
                    .last_due
                    .get(&job.name)
                    .copied()
                    .unwrap_or(now)
                    .max(now - MISSED_HORIZON);
                let mut next = job.cadence.next_after(from)?;
                if next <= now {
                    // Already due: wake at once.
                    next = now;
                }
                Some(next)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap_or_else(|| panic!("bad time"))
    }

    fn weekly(zone: &str) -> Job {
        Job {
            name: "weekly-summary".into(),
            cadence: Cadence::Cron(Box::new(
                Schedule::parse("0 9 * * MON", zone).unwrap_or_else(|e| panic!("{e}")),
            )),
            missed: Missed::RunOnce,
        }
    }

    /// Drives `jobs` minute by minute from `from` to `to`, restarting (a
    /// new scheduler from the stored records) every `restart_every`
    /// minutes, and returns every run handed out.
    fn drive(jobs: &[Job], from: DateTime<Utc>, to: DateTime<Utc>, restart_every: i64) -> Vec<Run> {
        let mut stored = JobRecords::default();
        let mut scheduler = Scheduler::new(jobs.to_vec(), stored.clone());
        let mut runs = Vec::new();
        let mut now = from;
        let mut minute = 0;
        while now <= to {
            if restart_every > 0 && minute % restart_every == restart_every - 1 {
                scheduler = Scheduler::new(jobs.to_vec(), stored.clone());
            }
            runs.extend(scheduler.due(now));
            // The caller commits the records with the runs' effects.
            stored = scheduler.records().clone();
            now += Duration::minutes(1);
            minute += 1;
        }
        runs
    }

    #[test]
    fn a_weekly_job_runs_once_per_due_time_through_restarts_and_dst_weeks() {
        // Paris: clocks go forward on 29 March 2026 and back on 25 October.
        for (zone, spring, fall) in [
            ("Europe/Paris", (3, 23), (10, 19)),
            ("America/New_York", (3, 2), (10, 26)),
        ] {
            for (month, day) in [spring, fall] {
                let from = at(2026, month, day, 0, 0) - Duration::days(1);
                let to = from + Duration::weeks(3);
                let runs = drive(&[weekly(zone)], from, to, 97);
                let zone_tz: chrono_tz::Tz = zone.parse().unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(runs.len(), 3, "{zone} {month}/{day}: {runs:?}");
                for run in &runs {
                    let local = run.due.with_timezone(&zone_tz);
                    assert_eq!(
                        (local.format("%a %H:%M").to_string(), run.missed),
                        ("Mon 09:00".to_string(), 0),
                        "{zone}: {run:?}"
                    );
                }
            }
        }
    }

    /// A handoff job for a rotation of `shift_days` handing over at `cron`
    /// in `zone`, started on `start`.
    fn handoffs(shift_days: u32, cron: &str, zone: &str, start: (i32, u32, u32)) -> Job {
        let handoff = Schedule::parse(cron, zone).unwrap_or_else(|e| panic!("{e}"));
        let rotation = Rotation {
            name: crate::duty::RotationName::Team(crate::domain::Team::Integration),
            members: vec![crate::domain::Actor::console("alice")],
            timing: crate::duty::Timing {
                shift_days,
                handoff,
                start: chrono::NaiveDate::from_ymd_opt(start.0, start.1, start.2)
                    .unwrap_or_else(|| panic!("bad date")),
            },
            working_hours: Default::default(),
            gap_notice_days: crate::duty::rotation::GAP_NOTICE_DAYS,
            changes: Vec::new(),
            retimings: Vec::new(),
        };
        Job {
            name: "handoff:integration".into(),
            cadence: Cadence::Handoffs(Box::new(rotation)),
            missed: Missed::RunOnce,
        }
    }

    #[test]
    fn a_weekly_handoff_runs_once_a_week_at_0900_local_through_restarts_and_dst_weeks() {
        for (zone, spring, fall) in [
            ("Europe/Paris", (3, 23), (10, 19)),
            ("America/New_York", (3, 2), (10, 26)),
        ] {
            let zone_tz: chrono_tz::Tz = zone.parse().unwrap_or_else(|e| panic!("{e}"));
            for (month, day) in [spring, fall] {
                let from = at(2026, month, day, 0, 0) - Duration::days(1);
                let job = handoffs(7, "0 9 * * MON", zone, (2026, 1, 5));
                let runs = drive(&[job], from, from + Duration::weeks(3), 89);
                let local: Vec<String> = runs
                    .iter()
                    .map(|r| r.due.with_timezone(&zone_tz).format("%a %H:%M").to_string())
                    .collect();
                assert_eq!(local, ["Mon 09:00"; 3], "{zone} {month}/{day}: {runs:?}");
            }
        }
    }

    #[test]
    fn a_daily_0230_handoff_runs_once_at_0300_on_spring_forward_day_and_once_on_fall_back_day() {
        let paris: chrono_tz::Tz = "Europe/Paris".parse().unwrap_or_else(|e| panic!("{e}"));
        let job = handoffs(1, "30 2 * * *", "Europe/Paris", (2026, 1, 5));
        let local = |runs: Vec<Run>| -> Vec<String> {
            runs.iter()
                .map(|r| r.due.with_timezone(&paris).format("%d %H:%M").to_string())
                .collect()
        };
        // 28 to 30 March: the 29th has no 02:30; its handoff is at 03:00.
        let spring = drive(
            std::slice::from_ref(&job),
            at(2026, 3, 27, 12, 0),
            at(2026, 3, 30, 12, 0),
            61,
        );
        assert_eq!(local(spring), ["28 02:30", "29 03:00", "30 02:30"]);
        // 24 to 26 October: the 25th has 02:30 twice; one handoff.
        let fall = drive(&[job], at(2026, 10, 23, 12, 0), at(2026, 10, 26, 12, 0), 61);
        assert_eq!(local(fall), ["24 02:30", "25 02:30", "26 02:30"]);
    }

    #[test]
    fn an_interval_job_runs_on_fixed_multiples_whatever_the_restarts() {
        let job = Job {
            name: "alert-tick".into(),
            cadence: Cadence::Every(Duration::minutes(5)),
            missed: Missed::Skip,
        };
        let from = at(2026, 11, 30, 10, 2);
        let runs = drive(&[job], from, from + Duration::hours(2), 13);
        // First start at 10:02 records 10:00; runs at 10:05 … 12:00.
        assert_eq!(runs.len(), 24, "{runs:?}");
        assert!(runs
            .iter()
            .all(|r| r.due.timestamp() % 300 == 0 && r.missed == 0));
        let mut dues: Vec<_> = runs.iter().map(|r| r.due).collect();
        dues.dedup();
        assert_eq!(dues.len(), runs.len(), "a due time ran twice");
    }

    #[test]
    fn runs_missed_while_down_run_once_or_are_skipped_as_the_job_says() {
        let summary = weekly("Europe/Paris");
        let tick = Job {
            name: "tick".into(),
            cadence: Cadence::Every(Duration::minutes(5)),
            missed: Missed::Skip,
        };
        let jobs = vec![summary, tick];
        // Up on Sunday 29 November 2026, down from Sunday evening until
        // Wednesday 2 December 10:00 UTC.
        let mut scheduler = Scheduler::new(jobs.clone(), JobRecords::default());
        assert!(scheduler.due(at(2026, 11, 29, 18, 0)).is_empty());
        let stored = scheduler.records().clone();
        let mut restarted = Scheduler::new(jobs.clone(), stored);
        let runs = restarted.due(at(2026, 12, 2, 10, 0) + Duration::seconds(20));
        // The summary missed Monday's run: it runs once, late, for it. The
        // tick's 10:00 run is on time; the hundreds before it are dropped.
        assert_eq!(
            runs,
            vec![
                Run {
                    job: "weekly-summary".into(),
                    due: at(2026, 11, 30, 8, 0),
                    missed: 0
                },
                Run {
                    job: "tick".into(),
                    due: at(2026, 12, 2, 10, 0),
                    missed: 2 * 24 * 12 + 16 * 12 - 1,
                },
            ]
        );
        // A restart right after (records committed) runs nothing again.
        let mut again = Scheduler::new(jobs.clone(), restarted.records().clone());
        assert!(again.due(at(2026, 12, 2, 10, 1)).is_empty());
        // A restart from the records before the runs were committed (a
        // crash in between) hands the same runs out again, so their effects
        // happen exactly once.
        let mut replayed = Scheduler::new(jobs.clone(), scheduler.records().clone());
        assert_eq!(
            replayed.due(at(2026, 12, 2, 10, 0) + Duration::seconds(20)),
            runs
        );
        // A tick missed by more than a minute is skipped, not run late.
        let mut late = Scheduler::new(jobs, again.records().clone());
        assert!(late.due(at(2026, 12, 2, 10, 7)).is_empty());
        assert_eq!(
            late.records().last_due.get("tick"),
            Some(&at(2026, 12, 2, 10, 5))
        );
    }

    #[test]
    fn a_new_job_starts_from_now_and_the_next_wake_is_its_next_due_time() {
        let mut scheduler = Scheduler::new(vec![weekly("Europe/Paris")], JobRecords::default());
        // Installed on a Wednesday: last Monday's run is not posted.
        assert!(scheduler.due(at(2026, 12, 2, 12, 0)).is_empty());
        assert_eq!(
            scheduler.next_wake(at(2026, 12, 2, 12, 0)),
            Some(at(2026, 12, 7, 8, 0))
        );
        assert_eq!(scheduler.due(at(2026, 12, 7, 8, 0)).len(), 1);
    }

    #[test]
    fn records_survive_serialisation() {
        let mut scheduler = Scheduler::new(vec![weekly("UTC")], JobRecords::default());
        scheduler.due(at(2026, 12, 2, 12, 0));
        let json = serde_json::to_string(scheduler.records()).unwrap_or_else(|e| panic!("{e}"));
        let back: JobRecords = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, scheduler.records());
    }
}
