//! Who does things: actors (people, or mailcall itself) and callers (an actor
//! together with what they are allowed to do).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Team;

/// A person (or the bot) as recorded in timelines and assignments.
///
/// `id` is the stable identity (a Discord user id, or `console:<name>` in the
/// terminal) so that renaming a user does not orphan their assignments; `name`
/// is what people read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identity, unique per front end.
    pub id: String,
    /// Display name at the time of the action.
    pub name: String,
}

impl Actor {
    /// A terminal user, identified by the name typed at the console.
    pub fn console(name: &str) -> Actor {
        Actor {
            id: format!("console:{name}"),
            name: name.to_string(),
        }
    }

    /// Whether `other` names the same person: the same id, or, where one
    /// side is a terminal user (who has only a name), the same name. A
    /// rotation lists Discord users by id; at the console they are named.
    pub fn is_same_person(&self, other: &Actor) -> bool {
        self.id == other.id
            || ((self.id.starts_with("console:") || other.id.starts_with("console:"))
                && self.name == other.name)
    }

    /// mailcall itself, for changes made by automation (alerts, escalation).
    pub fn system() -> Actor {
        Actor {
            id: "mailcall".to_string(),
            name: "mailcall".to_string(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::defang(&self.name))
    }
}

/// The actor behind a command, with the permissions the front end granted.
///
/// Front ends translate their own notion of roles (Discord role ids, the
/// console's `/as` switch) into this; the core decides what it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who is acting.
    pub actor: Actor,
    /// Teams whose role the caller holds. Any one of them lets the caller
    /// open and change incidents.
    pub teams: BTreeSet<Team>,
    /// Holds the `incident-admin` role: may close any incident.
    pub admin: bool,
}

impl Caller {
    /// A caller with every team role and admin rights: the local operator at
    /// the terminal, who owns the data directory anyway.
    pub fn operator(actor: Actor) -> Caller {
        Caller {
            actor,
            teams: Team::ALL.iter().copied().collect(),
            admin: true,
        }
    }

    /// May open incidents and change them.
    pub fn may_change_incidents(&self) -> bool {
        self.admin || !self.teams.is_empty()
    }
}
