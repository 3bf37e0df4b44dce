//! The incident domain: plain types and the rules that govern them.
//!
//! Nothing in here knows about Discord, HTTP, the terminal or the disk. Every
//! value that exists is valid (titles are within their limits, ids are
//! well-formed), and every rule of the incident lifecycle lives on
//! [`Incident`] so that every front end enforces the same rules.

mod actor;
mod audit;
mod ids;
mod incident;
mod text;
mod vocabulary;

pub use actor::{Actor, Caller};
pub use audit::Denial;
pub use ids::IncidentId;
pub use incident::{
    incident_team_list, transition_allowed, Change, Incident, IncidentDraft, Note, Op,
    PreventionAction, RuleError, TimelineEntry,
};
pub use text::{defang, fit, Name, Text, TextError, Title, SHORTENED_MARKER};
pub use vocabulary::{RootCause, Severity, Status, Team, UnknownWord};
