//! The slash-command manifests in `commands/`: the reviewable contract
//! between mailcall and its users.
//!
//! Each file is one top-level command in Discord's application-command JSON.
//! The Discord adapter registers exactly these; the terminal reads the same
//! definitions; and [`Manifests::validate`] checks every invocation against
//! them (unknown or missing options, types, choices, lengths) before the
//! typed parser sees it, so both front ends refuse bad input identically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::invocation::{Invocation, OptionValue};
use super::ParseError;

/// The manifests compiled into the binary, by file name.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("alert.json", include_str!("../../commands/alert.json")),
    ("duty.json", include_str!("../../commands/duty.json")),
    (
        "incident.json",
        include_str!("../../commands/incident.json"),
    ),
    ("metrics.json", include_str!("../../commands/metrics.json")),
    ("route.json", include_str!("../../commands/route.json")),
    ("silence.json", include_str!("../../commands/silence.json")),
    ("summary.json", include_str!("../../commands/summary.json")),
];

/// Discord's application-command option types that mailcall uses.
pub mod kind {
    pub const SUB_COMMAND: u8 = 1;
    pub const SUB_COMMAND_GROUP: u8 = 2;
    pub const STRING: u8 = 3;
    pub const INTEGER: u8 = 4;
    pub const BOOLEAN: u8 = 5;
    pub const USER: u8 = 6;
}

/// A top-level command, as registered with Discord.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandManifest {
    pub name: String,
    #[serde(rename = "type", default = "chat_input")]
    pub kind: u8,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_permission: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionManifest>,
}

fn chat_input() -> u8 {
    1
}

/// An option, subcommand or subcommand group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionManifest {
    #[serde(rename = "type")]
    pub kind: u8,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub autocomplete: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<i64>,
}

/// A fixed choice for a string option.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub name: String,
    pub value: serde_json::Value,
}

impl OptionManifest {
    fn is_subcommand(&self) -> bool {
        self.kind == kind::SUB_COMMAND || self.kind == kind::SUB_COMMAND_GROUP
    }
}

/// All manifests, by command name.
#[derive(Clone, Debug)]
pub struct Manifests {
    commands: BTreeMap<String, CommandManifest>,
}

/// An invocation that matched its manifest: every option exists, has the
/// right type, respects its limits, and choices are normalised to their
/// canonical value.
#[derive(Clone, Debug, PartialEq)]
pub struct Validated {
    /// e.g. `["incident", "action", "add"]`.
    pub path: Vec<String>,
    pub options: BTreeMap<String, OptionValue>,
}

impl Manifests {
    /// The manifests compiled into this binary.
    pub fn embedded() -> Manifests {
        let commands = EMBEDDED
            .iter()
            .map(|(file, json)| {
                // The manifests are part of the source tree and a unit test
                // parses each of them, so a failure here is a build defect.
                let manifest: CommandManifest = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("commands/{file} is not a valid manifest: {e}"));
                (manifest.name.clone(), manifest)
            })
            .collect();
        Manifests { commands }
    }

    /// Every top-level command, in name order.
    pub fn commands(&self) -> impl Iterator<Item = &CommandManifest> {
        self.commands.values()
    }

    /// The manifest of one top-level command.
    pub fn get(&self, name: &str) -> Option<&CommandManifest> {
        self.commands.get(name)
    }

    /// Finds the leaf (the command itself, or its subcommand) named by `path`.
    pub fn leaf(&self, command: &str, path: &[String]) -> Result<Leaf<'_>, ParseError> {
        let manifest = self
            .commands
            .get(command)
            .ok_or_else(|| ParseError::UnknownCommand {
                name: command.to_string(),
                known: self
                    .commands
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", /"),
            })?;
        let mut shown = format!("/{command}");
        let mut options = &manifest.options;
        let mut description = &manifest.description;
        let mut rest = path.iter();
        loop {
            let subcommands: Vec<&OptionManifest> =
                options.iter().filter(|o| o.is_subcommand()).collect();
            if subcommands.is_empty() {
                if let Some(extra) = rest.next() {
                    return Err(ParseError::UnknownSubcommand {
                        command: shown,
                        word: extra.clone(),
                        known: String::new(),
                    });
                }
                return Ok(Leaf {
                    shown,
                    description,
                    options,
                });
            }
            let known = subcommands
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let Some(word) = rest.next() else {
                return Err(ParseError::MissingSubcommand {
                    command: shown,
                    known,
                });
            };
            let Some(sub) = subcommands.iter().find(|o| o.name == *word) else {
                return Err(ParseError::UnknownSubcommand {
                    command: shown,
                    word: word.clone(),
                    known,
                });
            };
            shown.push(' ');
            shown.push_str(&sub.name);
            options = &sub.options;
            description = &sub.description;
        }
    }

    /// Checks an invocation against its manifest.
    pub fn validate(&self, invocation: &Invocation) -> Result<Validated, ParseError> {
        let leaf = self.leaf(&invocation.command, &invocation.path)?;
        let mut options = BTreeMap::new();
        for (name, value) in &invocation.options {
            let Some(spec) = leaf.options.iter().find(|o| o.name == *name) else {
                return Err(ParseError::UnknownOption {
                    command: leaf.shown.clone(),
                    name: name.clone(),
                    known: leaf.option_names(),
                });
            };
            let value = check_value(&leaf.shown, spec, value)?;
            if options.insert(name.clone(), value).is_some() {
                return Err(ParseError::DuplicateOption {
                    command: leaf.shown.clone(),
                    name: name.clone(),
                });
            }
        }
        if let Some(missing) = leaf
            .options
            .iter()
            .find(|o| o.required && !options.contains_key(&o.name))
        {
            return Err(ParseError::MissingOption {
                command: leaf.shown.clone(),
                name: missing.name.clone(),
                description: missing.description.clone(),
            });
        }
        let mut path = vec![invocation.command.clone()];
        path.extend(invocation.path.iter().cloned());
        Ok(Validated { path, options })
    }
}

impl Manifests {
    /// Every leaf command (`/incident open`, `/incident action add`, …) in
    /// manifest order, for help texts and the README's reference.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        fn walk<'a>(
            out: &mut Vec<Leaf<'a>>,
            shown: String,
            description: &'a str,
            options: &'a [OptionManifest],
        ) {
            let subs: Vec<&OptionManifest> = options.iter().filter(|o| o.is_subcommand()).collect();
            if subs.is_empty() {
                out.push(Leaf {
                    shown,
                    description,
                    options,
                });
                return;
            }
            for sub in subs {
                walk(
                    out,
                    format!("{shown} {}", sub.name),
                    &sub.description,
                    &sub.options,
                );
            }
        }
        let mut out = Vec::new();
        for command in self.commands.values() {
            walk(
                &mut out,
                format!("/{}", command.name),
                &command.description,
                &command.options,
            );
        }
        out
    }

    /// The command reference in Markdown, as embedded in the README between
    /// `<!-- commands:start -->` and `<!-- commands:end -->`.
    pub fn reference_markdown(&self) -> String {
        let mut out = String::new();
        for leaf in self.leaves() {
            out.push_str(&format!(
                "### `{}`

{}

",
                leaf.shown, leaf.description
            ));
            if leaf.options.is_empty() {
                continue;
            }
            out.push_str(
                "| option | required | what |
|---|---|---|
",
            );
            for option in leaf.options {
                let mut what = option.description.clone();
                let values: Vec<&str> = option
                    .choices
                    .iter()
                    .filter_map(|c| c.value.as_str())
                    .collect();
                if !values.is_empty() {
                    what.push_str(&format!(" (one of: {})", values.join(", ")));
                }
                if let Some(max) = option.max_length {
                    what.push_str(&format!(" (at most {max} characters)"));
                }
                let required = if option.required { "yes" } else { "" };
                out.push_str(&format!("| `{}` | {required} | {what} |\n", option.name));
            }
            out.push('\n');
        }
        out
    }
}

/// A command or subcommand that takes options.
#[derive(Debug)]
pub struct Leaf<'a> {
    /// How to show it to users: "/incident action add".
    pub shown: String,
    pub description: &'a str,
    pub options: &'a [OptionManifest],
}

impl Leaf<'_> {
    /// `title:… severity:… [esp:…]`: how to type it at the console.
    pub fn usage(&self) -> String {
        self.options
            .iter()
            .map(|o| {
                if o.required {
                    format!("{}:…", o.name)
                } else {
                    format!("[{}:…]", o.name)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn option_names(&self) -> String {
        self.options
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Converts a value typed as text (the terminal) or delivered typed (Discord)
/// into the option's declared type, enforcing choices and limits.
fn check_value(
    command: &str,
    spec: &OptionManifest,
    value: &OptionValue,
) -> Result<OptionValue, ParseError> {
    let bad = |reason: String| ParseError::BadValue {
        command: command.to_string(),
        name: spec.name.clone(),
        reason,
    };
    match (spec.kind, value) {
        (kind::STRING, OptionValue::String(text)) => {
            if let Some(max) = spec.max_length {
                let len = text.chars().count();
                if len > max {
                    return Err(bad(format!(
                        "it is {len} characters long; the limit is {max}"
                    )));
                }
            }
            if spec.choices.is_empty() {
                return Ok(OptionValue::String(text.clone()));
            }
            spec.choices
                .iter()
                .filter_map(|c| c.value.as_str())
                .find(|v| v.eq_ignore_ascii_case(text.trim()))
                .map(|v| OptionValue::String(v.to_string()))
                .ok_or_else(|| {
                    let expected = spec
                        .choices
                        .iter()
                        .filter_map(|c| c.value.as_str())
                        .collect::<Vec<_>>();
                    bad(format!("`{text}` is not one of: {}", expected.join(", ")))
                })
        }
        (kind::INTEGER, OptionValue::Integer(n)) => check_range(spec, *n).map_err(bad),
        (kind::INTEGER, OptionValue::String(text)) => match text.trim().parse::<i64>() {
            Ok(n) => check_range(spec, n).map_err(bad),
            Err(_) => Err(bad(format!("`{text}` is not a whole number"))),
        },
        (kind::BOOLEAN, OptionValue::Boolean(b)) => Ok(OptionValue::Boolean(*b)),
        (kind::BOOLEAN, OptionValue::String(text)) => {
            match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(OptionValue::Boolean(true)),
                "false" | "no" => Ok(OptionValue::Boolean(false)),
                _ => Err(bad(format!("`{text}` is not true or false"))),
            }
        }
        (kind::USER, OptionValue::User(actor)) => Ok(OptionValue::User(actor.clone())),
        (kind::USER, OptionValue::String(name)) => {
            let name = name.trim().trim_start_matches('@');
            crate::domain::Name::new(name)
                .map(|n| OptionValue::User(crate::domain::Actor::console(n.as_str())))
                .map_err(|e| bad(e.to_string()))
        }
        (_, other) => Err(bad(format!(
            "expected {}, got {}",
            kind_name(spec.kind),
            other.kind_name()
        ))),
    }
}

fn check_range(spec: &OptionManifest, n: i64) -> Result<OptionValue, String> {
    match (spec.min_value, spec.max_value) {
        (Some(min), _) if n < min => Err(format!("{n} is below the minimum of {min}")),
        (_, Some(max)) if n > max => Err(format!("{n} is above the maximum of {max}")),
        _ => Ok(OptionValue::Integer(n)),
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        kind::STRING => "text",
        kind::INTEGER => "a whole number",
        kind::BOOLEAN => "true or false",
        kind::USER => "a user",
        _ => "a subcommand",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(path: &[&str], options: &[(&str, &str)]) -> Invocation {
        Invocation {
            command: "incident".into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), OptionValue::String(v.to_string())))
                .collect(),
        }
    }

    fn error(inv: Invocation) -> String {
        Manifests::embedded()
            .validate(&inv)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn every_embedded_manifest_parses() {
        assert!(Manifests::embedded().get("incident").is_some());
    }

    #[test]
    fn choices_are_normalised() {
        let inv = incident(
            &["open"],
            &[
                ("title", "x"),
                ("severity", "sev2"),
                ("team", "Integration"),
            ],
        );
        let valid = Manifests::embedded()
            .validate(&inv)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            valid.options.get("severity"),
            Some(&OptionValue::String("SEV2".into()))
        );
        assert_eq!(
            valid.options.get("team"),
            Some(&OptionValue::String("integration".into()))
        );
    }

    #[test]
    fn refusals_name_the_command_and_option() {
        assert_eq!(
            error(incident(&["open"], &[("title", "x"), ("severity", "SEV2")])),
            "/incident open needs option `team` (The team that owns it first)"
        );
        assert_eq!(
            error(incident(
                &["open"],
                &[("title", "x"), ("severity", "SEV9"), ("team", "design")]
            )),
            "/incident open: option `severity`: `SEV9` is not one of: SEV1, SEV2, SEV3, SEV4"
        );
        assert!(error(incident(&["open"], &[("titel", "x")]))
            .starts_with("/incident open has no option `titel`"));
        assert!(error(incident(&["frobnicate"], &[]))
            .starts_with("/incident has no subcommand `frobnicate`"));
        assert!(error(incident(&[], &[])).starts_with("/incident needs a subcommand"));
        assert!(error(incident(&["action"], &[]))
            .starts_with("/incident action needs a subcommand: add, done"));
        let long = "x".repeat(201);
        assert_eq!(
            error(incident(
                &["open"],
                &[
                    ("title", long.as_str()),
                    ("severity", "SEV2"),
                    ("team", "design")
                ]
            )),
            "/incident open: option `title`: it is 201 characters long; the limit is 200"
        );
        assert_eq!(
            error(incident(
                &["action", "done"],
                &[("id", "INC-1"), ("number", "many")]
            )),
            "/incident action done: option `number`: `many` is not a whole number"
        );
    }
}
