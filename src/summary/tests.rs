//! The weekly summary of a fixed week: figures, incidents, actions, alerts
//! and the roster, checked by value and as a golden text.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::*;
use crate::delivery::{Bucket, BucketWidth, Counts, Reported, Reputation, Sample, StreamKey};
use crate::domain::{IncidentDraft, IncidentId, Op, Severity, Team, Text, Title};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn paris() -> Tz {
    chrono_tz::Europe::Paris
}

fn week() -> Week {
    "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"))
}

fn person(name: &str) -> Actor {
    Actor {
        id: format!("{}", 5000 + name.bytes().map(u64::from).sum::<u64>()),
        name: name.into(),
    }
}

/// Hourly samples from `from` for `hours`, each hour with `sent` sent and
/// the given per-mille bounces and complaints per hour.
fn hourly(
    from: DateTime<Utc>,
    hours: i64,
    sent: u64,
    bounce_pm: u64,
    complaints_per_hour: u64,
) -> Vec<Sample> {
    (0..hours)
        .map(|h| Sample {
            stream: StreamKey::account(),
            bucket: Bucket {
                start: from + Duration::hours(h),
                width: BucketWidth::Hour,
                provider_tz: "UTC".into(),
            },
            counts: Counts {
                sent: Some(sent),
                delivered: Some(sent - sent * bounce_pm / 1000),
                bounce_hard: Some(sent * bounce_pm / 1000),
                bounce_soft: Some(0),
                complaints: Some(complaints_per_hour.min(sent)),
                opens_unique: Some(sent / 5),
                clicks_unique: Some(sent / 50),
                ..Counts::default()
            },
        })
        .collect()
}

/// Five weeks of history: `acme` steady at 1% bounces until its bounces
/// triple on Wednesday of the summarised week; `acme/tag:welcome` sends
/// until the week before and then nothing; `globex` steady throughout.
fn streams() -> Vec<StreamHistory> {
    let (from, _) = week().bounds(paris());
    let start = from - Duration::weeks(4);
    let mut acme = hourly(start, 24 * 7 * 4 + 48, 1000, 10, 1);
    acme.extend(hourly(from + Duration::hours(48), 24 * 5 + 1, 1000, 30, 1));
    let welcome: Vec<Sample> = hourly(start, 24 * 7 * 4, 200, 5, 0)
        .into_iter()
        .map(|mut s| {
            s.stream = StreamKey::tag("welcome");
            s
        })
        .chain(hourly(from, 24 * 7, 0, 0, 0).into_iter().map(|mut s| {
            s.stream = StreamKey::tag("welcome");
            s.counts.delivered = Some(0);
            s
        }))
        .collect();
    let globex = hourly(start, 24 * 7 * 5 + 1, 500, 8, 1);
    vec![
        StreamHistory {
            account: "acme".into(),
            stream: "account".into(),
            samples: acme,
        },
        StreamHistory {
            account: "acme".into(),
            stream: "tag:welcome".into(),
            samples: welcome,
        },
        StreamHistory {
            account: "globex".into(),
            stream: "account".into(),
            samples: globex,
        },
    ]
}

fn incident(id: u64, title: &str, severity: Severity, opened: &str) -> Incident {
    let draft = IncidentDraft {
        title: Title::new(title).unwrap_or_else(|e| panic!("{e}")),
        severity,
        owner: Team::Integration,
        teams: BTreeSet::from([Team::Integration]),
        esp_account: None,
        stream: None,
        commander: person("alice"),
        assignees: BTreeMap::new(),
    };
    let id = IncidentId::new(id).unwrap_or(IncidentId::FIRST);
    Incident::open(id, draft, &person("alice"), at(opened))
}

fn apply(incident: &mut Incident, op: Op, when: &str) {
    if let Err(e) = incident.apply(op, &person("alice"), at(when)) {
        panic!("{e}");
    }
}

fn text(t: &str) -> Text {
    Text::new(t).unwrap_or_else(|e| panic!("{e}"))
}

/// INC-1 opened the week before and resolved this week; INC-2 opened this
/// week, acknowledged, still open, with an overdue action for bob;
/// INC-3 opened and resolved this week as a false alarm; INC-4 opened
/// after the week ended.
fn incidents() -> Vec<Incident> {
    let mut one = incident(
        1,
        "Welcome series stopped",
        Severity::Sev2,
        "2026-11-12T10:00:00Z",
    );
    apply(&mut one, Op::Acknowledge, "2026-11-12T10:30:00Z");
    apply(
        &mut one,
        Op::Resolve {
            resolution: text("webhook restored"),
            root_cause: Some(RootCause::AutomationIntegration),
        },
        "2026-11-17T10:00:00Z",
    );
    let mut two = incident(
        2,
        "Bounces @everyone at acme",
        Severity::Sev1,
        "2026-11-18T08:00:00Z",
    );
    apply(&mut two, Op::Acknowledge, "2026-11-18T08:20:00Z");
    apply(
        &mut two,
        Op::AddAction {
            text: text("Remove the 2019 segment"),
            owner: person("bob"),
            due: NaiveDate::from_ymd_opt(2026, 11, 20),
        },
        "2026-11-18T09:00:00Z",
    );
    apply(
        &mut two,
        Op::AddAction {
            text: text("Validate imports"),
            owner: person("carol"),
            due: NaiveDate::from_ymd_opt(2026, 12, 4),
        },
        "2026-11-18T09:05:00Z",
    );
    let mut three = incident(3, "Complaint spike", Severity::Sev3, "2026-11-19T12:00:00Z");
    apply(&mut three, Op::Acknowledge, "2026-11-19T13:00:00Z");
    apply(
        &mut three,
        Op::Resolve {
            resolution: text("seed list"),
            root_cause: Some(RootCause::FalseAlarm),
        },
        "2026-11-19T14:00:00Z",
    );
    let four = incident(4, "Next week", Severity::Sev3, "2026-11-24T12:00:00Z");
    vec![one, two, three, four]
}

fn ledger() -> AlertLedger {
    let row = |raised: &str, delay: i64, ack: bool, false_alarm: bool| ledger::AlertRow {
        raised_at: at(raised),
        detection_delay_seconds: delay,
        acknowledged: ack,
        snoozed: false,
        silenced: false,
        false_alarm,
        incident: None,
    };
    AlertLedger {
        rows: BTreeMap::from([
            (1, row("2026-11-12T09:00:00Z", 7200, true, false)),
            (2, row("2026-11-18T07:40:00Z", 5400, true, false)),
            (3, row("2026-11-19T11:50:00Z", 3600, false, true)),
            (4, row("2026-11-20T11:50:00Z", 1800, false, false)),
        ]),
    }
}

fn checklist() -> crate::duty::Checklist {
    let mut book = crate::duty::ChecklistBook::default();
    let id = book.add(
        person("dave"),
        at("2026-11-16T08:00:00Z"),
        vec![
            "Open prevention actions: 2".into(),
            "Streams with no traffic: tag:welcome".into(),
        ],
    );
    let _ = book.tick(id, 1, &person("dave"), at("2026-11-17T08:00:00Z"));
    book.get(id)
        .cloned()
        .unwrap_or_else(|| panic!("checklist {id}"))
}

fn summary() -> WeeklySummary {
    let incidents = incidents();
    let ledger = ledger();
    let checklist = checklist();
    let (_, to) = week().bounds(paris());
    build(Inputs {
        week: week(),
        zone: paris(),
        figures: week_figures(&streams(), week(), paris()),
        incidents: &incidents,
        alerts: &ledger,
        roster: vec![
            DutyLine {
                rotation: "integration".into(),
                stretches: vec![(person("alice"), to, to + Duration::weeks(1))],
            },
            DutyLine {
                rotation: "marketing".into(),
                stretches: vec![],
            },
        ],
        checklist: Some(&checklist),
        load: vec![LoadLine {
            member: person("alice"),
            alerts: [2, 1, 0],
            pages: [3, 1, 1],
        }],
        limits: Limits {
            bounce: Some(0.05),
            complaint: Some(0.001),
        },
    })
}

#[test]
fn the_worst_mover_comes_first_with_this_week_last_week_and_the_median() {
    let s = summary();
    let first = &s.streams[0];
    assert_eq!(
        (first.account.as_str(), first.stream.as_str()),
        ("acme", "account")
    );
    let bounce = first.this_week.bounce.unwrap_or_default();
    // Two days at 1% and five at 3%, at the same volume every hour.
    assert!(
        (bounce - (48.0 * 0.01 + 120.0 * 0.03) / 168.0).abs() < 1e-9,
        "{bounce}"
    );
    assert_eq!(first.last_week.bounce, Some(0.01));
    assert_eq!(first.median.bounce, Some(0.01));
    assert!(first.worsening > 1.0);
    assert_eq!(s.streams.last().map(|l| l.account.as_str()), Some("globex"));
}

#[test]
fn a_stream_that_sent_before_and_nothing_this_week_went_quiet() {
    let s = summary();
    assert_eq!(
        s.quiet,
        vec![QuietStream {
            account: "acme".into(),
            stream: "tag:welcome".into(),
            sent_before: 200 * 24 * 7 * 4,
            polled: true,
        }]
    );
    // Its rates this week are unknown (nothing sent), not zero.
    let welcome = s.streams.iter().find(|l| l.stream == "tag:welcome");
    assert_eq!(welcome.and_then(|w| w.this_week.bounce), None);
}

#[test]
fn the_week_is_read_in_local_days_including_a_clock_change() {
    // W44 (26 Oct – 1 Nov 2026) follows the fall-back on Sunday 25 Oct; W43 holds it.
    let w43: Week = "2026-W43".parse().unwrap_or_else(|e| panic!("{e}"));
    let (from, to) = w43.bounds(paris());
    let history = vec![StreamHistory {
        account: "acme".into(),
        stream: "account".into(),
        samples: hourly(from - Duration::weeks(1), 24 * 7 * 2 + 1, 100, 10, 0),
    }];
    let ledger = AlertLedger::default();
    let s = build(Inputs {
        week: w43,
        zone: paris(),
        figures: week_figures(&history, w43, paris()),
        incidents: &[],
        alerts: &ledger,
        roster: vec![],
        checklist: None,
        load: vec![],
        limits: Limits::default(),
    });
    assert_eq!((to - from).num_hours(), 169);
    // Sunday is 25 hours long: it holds 25 hourly buckets.
    assert_eq!(s.daily[0].sent.last().copied().flatten(), Some(2500));
    assert_eq!(s.daily[0].sent.first().copied().flatten(), Some(2400));
    assert_eq!(s.streams[0].this_week.sent, Some(16_900));
}

#[test]
fn a_mailbox_providers_own_figures_get_their_own_lines_and_no_empty_counts_line() {
    let (from, _) = week().bounds(paris());
    let day = |days: i64, reported: Reported| Sample {
        stream: StreamKey::new("domain:mail.example.com"),
        bucket: Bucket {
            start: from + Duration::days(days),
            width: BucketWidth::Day,
            provider_tz: "unspecified".into(),
        },
        counts: Counts {
            reported: Some(Box::new(reported)),
            ..Counts::default()
        },
    };
    let mut history = streams();
    history.push(StreamHistory {
        account: "gmail".into(),
        stream: "domain:mail.example.com".into(),
        samples: vec![
            // Last week's worse figure does not count for this week.
            day(
                -3,
                Reported {
                    domain_reputation: Some(Reputation::Bad),
                    ..Reported::default()
                },
            ),
            day(
                1,
                Reported {
                    spam_ppm: Some(900),
                    spam_upper_ppm: Some(1_400),
                    domain_reputation: Some(Reputation::High),
                    ip_reputation: Some(Reputation::High),
                    needs_work: Some(vec!["SPF".into()]),
                    ..Reported::default()
                },
            ),
            day(
                3,
                Reported {
                    spam_ppm: Some(3_100),
                    domain_reputation: Some(Reputation::Medium),
                    ip_reputation: Some(Reputation::High),
                    needs_work: Some(vec!["DMARC_POLICY".into(), "ONE_CLICK_UNSUBSCRIBE".into()]),
                    ..Reported::default()
                },
            ),
        ],
    });
    let figures = week_figures(&history, week(), paris());
    assert_eq!(
        figures.mailbox,
        vec![MailboxView {
            account: "gmail".into(),
            stream: "domain:mail.example.com".into(),
            spam: Some(0.0031),
            domain_reputation: Some(Reputation::Medium),
            ip_reputation: Some(Reputation::High),
            needs_work: Some(vec!["DMARC_POLICY".into(), "ONE_CLICK_UNSUBSCRIBE".into()]),
        }]
    );
    assert!(
        figures.streams.iter().all(|l| l.account != "gmail"),
        "no line of empty counts for it"
    );
    let ledger = AlertLedger::default();
    let s = build(Inputs {
        week: week(),
        zone: paris(),
        figures,
        incidents: &[],
        alerts: &ledger,
        roster: vec![],
        checklist: None,
        load: vec![],
        limits: Limits::default(),
    });
    let text = render::markdown(&s, &|actor| format!("@{}", actor.name));
    assert!(
        text.contains("- gmail / domain:mail.example.com: spam up to 0.31%, domain MEDIUM, IPs HIGH, needs work: dmarc policy, one click unsubscribe"),
        "{text}"
    );
    // Without such figures the section is left out.
    let plain = render::markdown(&summary(), &|actor| format!("@{}", actor.name));
    assert!(!plain.contains("What mailbox providers report"));
}

#[test]
fn incidents_are_counted_in_the_week_they_changed() {
    let i = summary().incidents;
    let ids = |lines: &[IncidentLine]| lines.iter().map(|l| l.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&i.opened), ["INC-2", "INC-3"]);
    assert_eq!(ids(&i.resolved), ["INC-1", "INC-3"]);
    assert_eq!(ids(&i.still_open), ["INC-2"]);
    assert_eq!(i.false_alarms, 1);
    assert_eq!(i.opened_by_severity.get("SEV1"), Some(&1));
    assert_eq!(i.resolved_by_cause.get("automation-integration"), Some(&1));
    // Acknowledged this week: INC-2 after 20 min, INC-3 after 60 min.
    assert_eq!(i.acknowledge.count, 2);
    assert_eq!(i.acknowledge.median, Some(20 * 60));
    assert_eq!(i.acknowledge.p90, Some(60 * 60));
    // INC-1 was acknowledged the week before, after 30 minutes.
    assert_eq!(i.acknowledge_last_week.median, Some(30 * 60));
    // Resolved this week: INC-1 after 5 days, INC-3 after 2 hours.
    assert_eq!(i.resolve.p90, Some(5 * 86400));
}

#[test]
fn open_actions_list_overdue_first_and_only_their_owners_may_be_pinged() {
    let s = summary();
    let overdue: Vec<(u32, bool)> = s.actions.iter().map(|a| (a.number, a.overdue)).collect();
    assert_eq!(overdue, [(1, true), (2, false)]);
    let owners: Vec<String> = s.owners().into_iter().map(|a| a.name).collect();
    assert_eq!(owners, ["bob", "carol"]);
}

#[test]
fn alerts_of_the_week_come_from_the_ledger() {
    let a = summary().alerts;
    assert_eq!((a.fired, a.acknowledged, a.false_alarms), (3, 1, 1));
    assert_eq!(a.detection_delay.median, Some(3600));
}

#[test]
fn the_summary_reads_as_expected() {
    let s = summary();
    let text = render::markdown(&s, &|actor| format!("@{}", actor.name));
    assert!(!text.contains("@everyone"), "a title pinged everyone");
    insta::assert_snapshot!(text);
}

/// INC-2 of [`incidents`] on the `acme` account's stream, resolved, with
/// the stream's hourly figures around it.
#[test]
fn the_postmortem_draft_reads_as_expected() {
    let mut incident = incidents().swap_remove(1);
    incident.esp_account = crate::domain::Name::new("acme").ok();
    apply(
        &mut incident,
        Op::Diagnose {
            note: text("The 2019 segment | was imported on Monday"),
            root_cause: Some(RootCause::ListQuality),
        },
        "2026-11-18T09:30:00Z",
    );
    apply(
        &mut incident,
        Op::Resolve {
            resolution: text("segment removed"),
            root_cause: None,
        },
        "2026-11-19T08:00:00Z",
    );
    let samples: Vec<Sample> = streams()
        .into_iter()
        .find(|s| s.account == "acme" && s.stream == "account")
        .map(|s| s.samples)
        .unwrap_or_default();
    let now = at("2026-11-24T12:00:00Z");
    let text = postmortem::draft(&incident, &samples, now);
    assert!(!text.contains("@everyone"), "a title pinged everyone");
    insta::assert_snapshot!(text);

    // The chart covers a week before to now, one point per UTC day, and its
    // figures are the samples'.
    let chart = postmortem::chart(&incident, &samples, now).unwrap_or_else(|| panic!("no chart"));
    assert_eq!(
        chart.days.first().map(|d| d.to_string()).as_deref(),
        Some("2026-11-11")
    );
    assert_eq!(
        chart.days.last().map(|d| d.to_string()).as_deref(),
        Some("2026-11-24")
    );
    let series = &chart.accounts[0];
    assert_eq!(series.name, "acme");
    // 11 November: a whole UTC day at 1,000 an hour and 1% bounces.
    assert_eq!(series.volume[0], Some(24_000));
    assert_eq!(series.bounce[0], Some(0.01));
    // 20 November: a whole day at 3%.
    assert_eq!(series.bounce[9], Some(0.03));
    // No ESP account: no chart, and the draft says there are no figures.
    let mut bare = incident.clone();
    bare.esp_account = None;
    assert!(postmortem::chart(&bare, &samples, now).is_none());
    assert!(postmortem::draft(&bare, &[], now).contains("No ESP account is recorded"));
}

#[test]
fn with_many_accounts_the_chart_draws_those_closest_to_the_limits() {
    let mut s = summary();
    s.daily = (0..12)
        .map(|i| DailyFigures {
            account: format!("acct-{i:02}"),
            bounce: vec![Some(0.001 * f64::from(i)); 7],
            complaint: vec![Some(0.0); 7],
            sent: vec![Some(100); 7],
        })
        .collect();
    // acct-00 has the lowest bounces but one day of complaints at the limit.
    s.daily[0].complaint[3] = Some(0.001);
    let data = s.chart_data();
    let names: Vec<&str> = data.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["acct-00", "acct-11", "acct-10", "acct-09", "acct-08", "acct-07", "acct-06", "acct-05"]
    );
    assert!(
        data.title
            .ends_with("the 8 of 12 accounts closest to the limits"),
        "{}",
        data.title
    );
    // With few accounts, all are drawn, and the title does not say so.
    assert_eq!(summary().chart_data().accounts.len(), 2);
    assert_eq!(summary().chart_data().title, "Week 2026-W47 (Europe/Paris)");
}

#[test]
fn a_chat_post_shows_the_worst_movers_and_says_where_the_rest_are() {
    let mut s = summary();
    let template = s.streams[0].clone();
    s.streams = (0..25)
        .map(|i| StreamLine {
            stream: format!("tag:s{i:02}"),
            ..template.clone()
        })
        .collect();
    let chat = render::chat_markdown(&s, &|a| a.to_string(), "mailcall-summary-2026-W47.md");
    assert_eq!(chat.matches("**acme / tag:s").count(), render::CHAT_STREAMS);
    assert!(chat.contains("**acme / tag:s19**") && !chat.contains("**acme / tag:s20**"));
    assert!(
        chat.contains("…and 5 more stream(s), which moved less: every stream is in the attached mailcall-summary-2026-W47.md."),
        "{chat}"
    );
    let whole = render::markdown(&s, &|a| a.to_string());
    assert_eq!(whole.matches("**acme / tag:s").count(), 25);
    assert!(!whole.contains("more stream(s)"));
}
