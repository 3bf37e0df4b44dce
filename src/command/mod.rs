//! Commands: from a slash-command invocation to a typed [`Command`], and from
//! a command to an [`Outcome`] (a reply plus the posts it causes).
//!
//! The pipeline is the same for every front end:
//! [`Invocation`] → [`Manifests::validate`] → [`Command::parse`] →
//! [`Engine::execute`] → [`Outcome`], which the adapter renders.

mod alerting;
pub mod duty;
mod engine;
mod invocation;
pub mod log;
pub mod manifest;
mod parse;
pub mod render;
mod retime;
pub mod summary;

pub use engine::{
    Attachment, CommandError, Effect, Engine, Outcome, PendingPost, PostButton, Reply,
    TeamDirectory, Visibility,
};
pub use invocation::{Invocation, OptionValue};
pub use manifest::{Manifests, Validated};
pub use parse::{
    AlertCommand, Command, DutyCommand, IncidentCommand, ListFilter, MetricsQuery, OpenArgs,
    RouteQuery, SilenceCommand, StatusFilter, MAX_SILENCE,
};

/// Why an invocation could not be turned into a command. Each message names
/// the command and the option, so the person can fix what they typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("there is no command /{name}; the commands are /{known}")]
    UnknownCommand { name: String, known: String },
    #[error("{command} needs a subcommand: {known}")]
    MissingSubcommand { command: String, known: String },
    #[error("{command} has no subcommand `{word}`{}", if known.is_empty() { String::new() } else { format!("; try one of: {known}") })]
    UnknownSubcommand {
        command: String,
        word: String,
        known: String,
    },
    #[error("{command} has no option `{name}`; it takes: {known}")]
    UnknownOption {
        command: String,
        name: String,
        known: String,
    },
    #[error("{command}: option `{name}` is given twice")]
    DuplicateOption { command: String, name: String },
    #[error("{command} needs option `{name}` ({description})")]
    MissingOption {
        command: String,
        name: String,
        description: String,
    },
    #[error("{command}: option `{name}`: {reason}")]
    BadValue {
        command: String,
        name: String,
        reason: String,
    },
    /// The terminal could not split the line into a command and options.
    #[error("{0}")]
    Syntax(String),
}
