//! The slash-command manifests in `commands/` are the contract with Discord
//! and with users: they must be exactly what the binary embeds, fit
//! Discord's limits, and every command in them must be handled.

use std::collections::BTreeSet;

use mailcall::command::manifest::{kind, CommandManifest, OptionManifest, EMBEDDED};
use mailcall::command::{Command, Invocation, Manifests, OptionValue, ParseError};
use mailcall::domain::Actor;

#[test]
fn the_binary_embeds_exactly_the_files_in_commands() {
    let on_disk: BTreeSet<String> = std::fs::read_dir("commands")
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let embedded: BTreeSet<String> = EMBEDDED.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(on_disk, embedded);
    for (name, json) in EMBEDDED {
        let on_disk = std::fs::read_to_string(format!("commands/{name}")).unwrap_or_default();
        assert_eq!(
            &on_disk, json,
            "commands/{name} differs from the embedded copy"
        );
        let manifest: CommandManifest =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            format!("{}.json", manifest.name),
            *name,
            "one file per top-level command, named after it"
        );
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Checks one level of options against Discord's limits; returns the
/// characters it contributes to the 8,000-character command total.
fn check_options(path: &str, options: &[OptionManifest]) -> usize {
    assert!(options.len() <= 25, "{path}: more than 25 options");
    let names: BTreeSet<&str> = options.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names.len(), options.len(), "{path}: option names repeat");
    let first_optional = options
        .iter()
        .position(|o| !o.required)
        .unwrap_or(options.len());
    assert!(
        options[first_optional..].iter().all(|o| !o.required),
        "{path}: required options must come first"
    );
    let mut total = 0;
    for option in options {
        let here = format!("{path} {}", option.name);
        assert!(valid_name(&option.name), "{here}: invalid name");
        assert!(
            (1..=100).contains(&option.description.chars().count()),
            "{here}: description must be 1-100 characters"
        );
        assert!(option.choices.len() <= 25, "{here}: more than 25 choices");
        assert!(
            !option.autocomplete || option.choices.is_empty(),
            "{here}: autocomplete cannot be combined with choices"
        );
        assert!(
            option.max_length.is_none_or(|m| (1..=6000).contains(&m)),
            "{here}: max_length out of range"
        );
        total += option.name.len() + option.description.chars().count();
        for choice in &option.choices {
            assert!(
                (1..=100).contains(&choice.name.chars().count()),
                "{here}: choice name length"
            );
            total += choice.name.chars().count() + choice.value.as_str().map(str::len).unwrap_or(8);
        }
        total += check_options(&here, &option.options);
    }
    total
}

#[test]
fn manifests_fit_discords_limits() {
    for command in Manifests::embedded().commands() {
        assert!(valid_name(&command.name), "/{}: invalid name", command.name);
        assert_eq!(
            command.kind, 1,
            "/{}: chat-input commands only",
            command.name
        );
        assert!((1..=100).contains(&command.description.chars().count()));
        let total = command.name.len()
            + command.description.chars().count()
            + check_options(&format!("/{}", command.name), &command.options);
        assert!(
            total <= 8000,
            "/{} uses {total} of Discord's 8,000 characters",
            command.name
        );
    }
}

/// A plausible value for an option, of the type the manifest declares.
fn sample_value(option: &OptionManifest) -> OptionValue {
    if let Some(value) = option.choices.first().and_then(|c| c.value.as_str()) {
        return OptionValue::String(value.to_string());
    }
    match (option.kind, option.name.as_str()) {
        (kind::INTEGER, _) => OptionValue::Integer(option.min_value.unwrap_or(1)),
        (kind::BOOLEAN, _) => OptionValue::Boolean(true),
        (kind::USER, _) => OptionValue::User(Actor::console("sam")),
        (_, "id") => OptionValue::String("INC-1".into()),
        (_, "due" | "from" | "since") => OptionValue::String("2026-12-01".into()),
        (_, "to") => OptionValue::String("2026-12-02 09:00".into()),
        (_, "also") => OptionValue::String("design".into()),
        (_, "week") => OptionValue::String("2026-W47".into()),
        (_, "duration") => OptionValue::String("2h".into()),
        (_, "match") => OptionValue::String("stream=tag:welcome".into()),
        (_, "shift") => OptionValue::String("1w".into()),
        (_, "start") => OptionValue::String("2026-12-07".into()),
        (_, "handoff") => OptionValue::String("0 9 * * MON".into()),
        (_, "timezone") => OptionValue::String("Europe/Paris".into()),
        _ => OptionValue::String("something happened".into()),
    }
}

#[test]
fn every_command_in_the_manifests_is_handled() {
    let manifests = Manifests::embedded();
    for leaf in manifests.leaves() {
        let mut words = leaf.shown.trim_start_matches('/').split(' ');
        let command = words.next().unwrap_or_default().to_string();
        let invocation = Invocation {
            command,
            path: words.map(String::from).collect(),
            options: leaf
                .options
                .iter()
                .map(|o| (o.name.clone(), sample_value(o)))
                .collect(),
        };
        let valid = manifests
            .validate(&invocation)
            .unwrap_or_else(|e| panic!("{}: {e}", leaf.shown));
        match Command::parse(&valid, &Actor::console("sam")) {
            Ok(_) => {}
            Err(ParseError::Syntax(message)) => panic!("{}: {message}", leaf.shown),
            Err(other) => panic!("{}: sample values refused: {other}", leaf.shown),
        }
    }
}
