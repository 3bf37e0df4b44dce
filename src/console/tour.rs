//! The scripted tour `mailcall demo` plays when it has no terminal: one
//! incident worked end to end by people from different teams, including two
//! refusals, then the incident log, a postmortem draft and the weekly
//! summary. `$INC` is the incident the tour opened.

/// The tour, one console line per entry. `#` lines are narration.
pub const TOUR: &str = r#"# mailcall demo — an automated welcome series starts bouncing.
# Its stream in the sandbox ESP, against its own four-week median:
/metrics stream:tag:welcome
# And an onboarding automation has gone quiet (zero sent, not missing data):
/metrics stream:tag:onboarding-day-3
# Each alert mentioned its team's member on duty. Who that is, and who is next:
/duty who
# Each mention counts in the duty load, by working, off and sleep hours:
/duty load
# Bob (development) takes the silent automation; Alice (integration) opens an
# incident from the bounce alert, pre-filled and linked:
/as bob development
/alert ack id:1
/as alice integration
/alert incident id:2
/as bob integration
/incident assign id:$INC team:integration
/incident diagnose id:$INC note:"Hard bounces all come from the list imported on Monday (a 2019 purchased segment)" root_cause:list-quality
/as carol marketing
/incident assign id:$INC team:marketing
/incident update id:$INC status:mitigated note:"Segment suppressed and the import job paused; bounce rate falling"
# The lifecycle is enforced: closing before resolving is refused and changes nothing.
/as alice integration
/incident close id:$INC
/as bob integration
/incident resolve id:$INC resolution:"Purchased segment removed and suppressed; bounces back to 0.4%"
/incident action add id:$INC text:"Validate every list import before it reaches an automation" owner:carol due:2026-12-15
# Only the commander (alice) or an incident-admin may close:
/incident close id:$INC
/as alice integration
/incident close id:$INC
/incident show id:$INC
# The incident log is searchable, and a postmortem draft is one command away:
/incident list search:segment
/incident postmortem id:$INC
# Every Monday the teams get a quality summary (with a chart in Discord).
# Last week's, as a private preview:
/summary now
"#;
