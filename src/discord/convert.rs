//! From serenity's interaction types to mailcall's: the caller (with the
//! permissions their roles grant) and the invocation (the same shape the
//! terminal produces, so the manifests validate both identically).

use std::collections::BTreeSet;

use serenity::model::application::{CommandData, CommandDataOption, CommandDataOptionValue};
use serenity::model::guild::Member;
use serenity::model::user::User;

use crate::command::{Invocation, OptionValue};
use crate::config::DiscordConfig;
use crate::domain::{Actor, Caller};

/// The actor for a Discord user: the stable user id, and the name people
/// see in this server (nickname, else display name, else username).
pub fn actor(user: &User, nick: Option<&str>) -> Actor {
    let name = nick
        .or(user.global_name.as_deref())
        .unwrap_or(user.name.as_str())
        .to_string();
    Actor {
        id: user.id.get().to_string(),
        name,
    }
}

/// Who is calling and what their roles allow: a role mapped to a team lets
/// them act for it; an admin role lets them close anything. Outside a guild
/// (no member) nobody has any role.
pub fn caller(user: &User, member: Option<&Member>, config: &DiscordConfig) -> Caller {
    let roles: BTreeSet<u64> = member
        .map(|m| m.roles.iter().map(|r| r.get()).collect())
        .unwrap_or_default();
    Caller {
        actor: actor(user, member.and_then(|m| m.nick.as_deref())),
        teams: config
            .teams
            .iter()
            .filter(|(_, team)| roles.contains(&team.role.0))
            .map(|(team, _)| *team)
            .collect(),
        admin: config.admin_roles.iter().any(|r| roles.contains(&r.0)),
    }
}

/// A slash command's data as an [`Invocation`]. User options are resolved
/// to actors through the interaction's `resolved` users and members.
pub fn invocation(data: &CommandData) -> Invocation {
    let mut invocation = Invocation {
        command: data.name.clone(),
        path: Vec::new(),
        options: Vec::new(),
    };
    collect(data, &data.options, &mut invocation);
    invocation
}

fn collect(data: &CommandData, options: &[CommandDataOption], invocation: &mut Invocation) {
    for option in options {
        let value = match &option.value {
            CommandDataOptionValue::SubCommand(inner)
            | CommandDataOptionValue::SubCommandGroup(inner) => {
                invocation.path.push(option.name.clone());
                collect(data, inner, invocation);
                continue;
            }
            CommandDataOptionValue::String(s) => OptionValue::String(s.clone()),
            CommandDataOptionValue::Integer(n) => OptionValue::Integer(*n),
            CommandDataOptionValue::Boolean(b) => OptionValue::Boolean(*b),
            CommandDataOptionValue::User(id) => match data.resolved.users.get(id) {
                Some(user) => {
                    let nick = data
                        .resolved
                        .members
                        .get(id)
                        .and_then(|m| m.nick.as_deref());
                    OptionValue::User(actor(user, nick))
                }
                // Discord always resolves user options; if it did not, keep
                // the id so the person is still identifiable.
                None => OptionValue::User(Actor {
                    id: id.get().to_string(),
                    name: format!("user {}", id.get()),
                }),
            },
            CommandDataOptionValue::Autocomplete { value, .. } => {
                OptionValue::String(value.clone())
            }
            CommandDataOptionValue::Number(n) => OptionValue::String(n.to_string()),
            // Option types mailcall's manifests never declare; passed on as
            // text so validation names the option and refuses it.
            other => OptionValue::String(format!("{other:?}")),
        };
        invocation.options.push((option.name.clone(), value));
    }
}
