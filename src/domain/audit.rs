//! The audit log: who tried to do what they were not allowed to.
//!
//! Accepted changes are already recorded in each incident's timeline; the
//! audit log holds the refusals for lack of permission, which leave no trace
//! on any incident, so that an admin can see who keeps trying to close
//! incidents they do not command.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Actor;

/// A command refused for lack of permission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub at: DateTime<Utc>,
    pub by: Actor,
    /// What was attempted, e.g. "/incident close INC-7".
    pub command: String,
    /// The refusal as the person saw it.
    pub reason: String,
}
