//! A slash command as a front end delivers it: a name, a subcommand path and
//! named option values, before any validation.

use crate::domain::Actor;

/// One option value. The terminal delivers everything as `String` and the
/// manifest decides the type; Discord delivers typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionValue {
    String(String),
    Integer(i64),
    Boolean(bool),
    /// A user picked from Discord's user selector, or a name at the terminal.
    User(Actor),
}

impl OptionValue {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            OptionValue::String(_) => "text",
            OptionValue::Integer(_) => "a number",
            OptionValue::Boolean(_) => "true or false",
            OptionValue::User(_) => "a user",
        }
    }
}

/// `/incident action add id:INC-3 text:"…" owner:@bob` as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The top-level command, without the slash: "incident".
    pub command: String,
    /// Subcommand group and subcommand: `["action", "add"]`.
    pub path: Vec<String>,
    /// Options in the order given; duplicates are caught by validation.
    pub options: Vec<(String, OptionValue)>,
}
