//! Slash-command options as a front end delivers them, through the same path
//! as a Discord interaction (`discord::convert::invocation` →
//! `Manifests::validate` → `Command::parse`), and lines typed at the console
//! (`console::parse_line` → the same two steps): no panic, no hang, and a
//! refusal is an error value with a message.
//!
//! The input is structured (`arbitrary`). Either a leaf command of the
//! embedded manifests with some of its own options (so that many inputs get
//! past validation into the typed parser) plus stray ones, or any command
//! name, subcommand path and options at all: names either picked from the
//! manifests or arbitrary strings. Each value is any of the kinds Discord
//! delivers (text, integer, boolean, resolved user), text values again
//! picked from the manifests' choices and from words the parser
//! understands, or arbitrary.

#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mailcall::command::manifest::OptionManifest;
use mailcall::command::{Command, Invocation, Manifests, OptionValue, Validated};
use mailcall::domain::Actor;

struct Words {
    manifests: Manifests,
    commands: Vec<String>,
    subcommands: Vec<String>,
    options: Vec<String>,
    values: Vec<String>,
    /// Every leaf command: its path (command first) and its options.
    leaves: Vec<(Vec<String>, Vec<String>)>,
}

/// Values the typed parser gives meaning to, beyond the manifests' choices.
const VALUE_WORDS: &[&str] = &[
    "INC-1",
    "INC-0",
    "INC-18446744073709551616",
    "inc-7",
    "SEV2",
    "sev1",
    "integration",
    "marketing,design",
    "design, development",
    "30m",
    "2h",
    "1d",
    "14d",
    "15d",
    "0m",
    "1h",
    "24h",
    "account=sg-main stream=category:news",
    "metric=bounce kind=baseline",
    "kind=",
    "2026-12-02",
    "2026-02-30",
    "stale-feed",
    "volume",
    "volume-spike",
    "bounce",
    "complaint",
    "active",
    "all",
    "open",
    "investigating",
    "mitigated",
    "resolved",
    "closed",
    "yes",
    "no",
    "true",
    "false",
    "@olga",
    "category:news",
    "",
    " ",
];

fn words() -> &'static Words {
    static WORDS: OnceLock<Words> = OnceLock::new();
    WORDS.get_or_init(|| {
        #[derive(Default)]
        struct Found {
            subs: BTreeSet<String>,
            opts: BTreeSet<String>,
            values: BTreeSet<String>,
            leaves: Vec<(Vec<String>, Vec<String>)>,
        }
        fn is_sub(option: &OptionManifest) -> bool {
            option.kind == 1 || option.kind == 2
        }
        fn walk(options: &[OptionManifest], path: Vec<String>, found: &mut Found) {
            if !options.iter().any(is_sub) {
                let names = options.iter().map(|o| o.name.clone()).collect();
                found.leaves.push((path.clone(), names));
            }
            for option in options {
                if is_sub(option) {
                    found.subs.insert(option.name.clone());
                    let mut deeper = path.clone();
                    deeper.push(option.name.clone());
                    walk(&option.options, deeper, found);
                } else {
                    found.opts.insert(option.name.clone());
                    for choice in &option.choices {
                        if let Some(value) = choice.value.as_str() {
                            found.values.insert(value.to_owned());
                        }
                    }
                }
            }
        }
        let manifests = Manifests::embedded();
        let mut found = Found::default();
        let mut commands = Vec::new();
        for command in manifests.commands() {
            commands.push(command.name.clone());
            walk(&command.options, vec![command.name.clone()], &mut found);
        }
        found
            .values
            .extend(VALUE_WORDS.iter().map(|word| word.to_string()));
        Words {
            manifests,
            commands,
            subcommands: found.subs.into_iter().collect(),
            options: found.opts.into_iter().collect(),
            values: found.values.into_iter().collect(),
            leaves: found.leaves,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Word {
    Known(u8),
    Raw(String),
}

impl Word {
    fn pick(&self, known: &[String]) -> String {
        match self {
            Word::Known(index) => known[usize::from(*index) % known.len()].clone(),
            Word::Raw(text) => text.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Value {
    String(Word),
    Integer(i64),
    Boolean(bool),
    User { id: String, name: String },
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// A leaf of the manifests; each own option is given when its flag is
    /// set, and the stray options are added after them.
    Leaf {
        leaf: u8,
        own: Vec<Option<Value>>,
        stray: Vec<(Word, Value)>,
        caller: String,
    },
    Discord {
        command: Word,
        path: Vec<Word>,
        options: Vec<(Word, Value)>,
        caller: String,
    },
    Console(String),
}

fn run(words: &Words, invocation: &Invocation, caller: &Actor) {
    match words.manifests.validate(invocation) {
        Ok(valid) => match Command::parse(&valid, caller) {
            Ok(command) => assert!(!command.summary().is_empty()),
            Err(error) => assert!(!error.to_string().trim().is_empty(), "{error:?}"),
        },
        Err(error) => assert!(!error.to_string().trim().is_empty(), "{error:?}"),
    }
}

impl Value {
    fn option_value(&self, words: &Words) -> OptionValue {
        match self {
            Value::String(word) => OptionValue::String(word.pick(&words.values)),
            Value::Integer(n) => OptionValue::Integer(*n),
            Value::Boolean(b) => OptionValue::Boolean(*b),
            Value::User { id, name } => OptionValue::User(Actor {
                id: id.clone(),
                name: name.clone(),
            }),
        }
    }
}

fuzz_target!(|input: Input| {
    let words = words();
    match input {
        Input::Leaf {
            leaf,
            own,
            stray,
            caller,
        } => {
            let (path, names) = &words.leaves[usize::from(leaf) % words.leaves.len()];
            let mut options: Vec<(String, OptionValue)> = names
                .iter()
                .zip(&own)
                .filter_map(|(name, value)| {
                    Some((name.clone(), value.as_ref()?.option_value(words)))
                })
                .collect();
            options.extend(
                stray
                    .iter()
                    .take(2)
                    .map(|(name, value)| (name.pick(&words.options), value.option_value(words))),
            );
            let invocation = Invocation {
                command: path[0].clone(),
                path: path[1..].to_vec(),
                options,
            };
            run(words, &invocation, &Actor::console(&caller));
        }
        Input::Discord {
            command,
            path,
            options,
            caller,
        } => {
            let invocation = Invocation {
                command: command.pick(&words.commands),
                path: path
                    .iter()
                    .take(3)
                    .map(|word| word.pick(&words.subcommands))
                    .collect(),
                options: options
                    .iter()
                    .take(8)
                    .map(|(name, value)| (name.pick(&words.options), value.option_value(words)))
                    .collect(),
            };
            run(words, &invocation, &Actor::console(&caller));
        }
        Input::Console(line) => match mailcall::console::parse_line(&line) {
            Ok(Some(invocation)) => run(words, &invocation, &Actor::console("olga")),
            Ok(None) => {}
            Err(error) => assert!(!error.to_string().trim().is_empty(), "{error:?}"),
        },
    }
});
