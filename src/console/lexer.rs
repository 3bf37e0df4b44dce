//! Splits a typed line such as
//! `/incident open title:"Bounce spike" severity:SEV2 team:integration`
//! into an [`Invocation`], the same shape Discord delivers.
//!
//! Rules: the first word is `/command`; bare words that follow are the
//! subcommand path; then `name:value` pairs, where a value may be quoted with
//! `"…"` (backslash escapes `"` and `\`) or `'…'`. A quote inside a word
//! (`note:it's`) is just text.

use crate::command::{Invocation, OptionValue, ParseError};

/// A word of the line, unquoted, with where its option name ends.
struct Word {
    text: String,
    /// Byte index in `text` of the first colon that was not inside quotes.
    colon: Option<usize>,
}

fn words(line: &str) -> Result<Vec<Word>, ParseError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = Word {
            text: String::new(),
            colon: None,
        };
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            // A quote opens a quoted value only where a value starts (the
            // start of a word, or just after `name:`); inside a word it is
            // text, so `note:it's` is the note "it's".
            let value_starts =
                word.text.is_empty() || word.colon.is_some_and(|at| at + 1 == word.text.len());
            match c {
                '"' | '\'' if value_starts => {
                    let quote = c;
                    loop {
                        match chars.next() {
                            None => {
                                return Err(ParseError::Syntax(format!("unclosed {quote} quote")))
                            }
                            Some(q) if q == quote => break,
                            Some('\\') if quote == '"' => match chars.next() {
                                Some(escaped) => word.text.push(escaped),
                                None => return Err(ParseError::Syntax("unclosed \" quote".into())),
                            },
                            Some(other) => word.text.push(other),
                        }
                    }
                }
                ':' if word.colon.is_none() => {
                    word.colon = Some(word.text.len());
                    word.text.push(c);
                }
                _ => word.text.push(c),
            }
        }
        words.push(word);
    }
}

/// Parses one line. Returns `Ok(None)` for a blank line or a `#` comment.
pub fn parse_line(line: &str) -> Result<Option<Invocation>, ParseError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut words = words(trimmed)?.into_iter();
    let Some(first) = words.next() else {
        return Ok(None);
    };
    let Some(command) = first.text.strip_prefix('/').filter(|c| !c.is_empty()) else {
        return Err(ParseError::Syntax(format!(
            "`{}` is not a command; commands start with / (try /help)",
            first.text
        )));
    };
    let mut invocation = Invocation {
        command: command.to_ascii_lowercase(),
        path: Vec::new(),
        options: Vec::new(),
    };
    for word in words {
        match word.colon {
            Some(at) => {
                let name = word.text[..at].to_string();
                if name.is_empty() {
                    return Err(ParseError::Syntax(format!(
                        "`{}` has no option name before the colon",
                        word.text
                    )));
                }
                let value = word.text[at + 1..].to_string();
                invocation.options.push((name, OptionValue::String(value)));
            }
            None if invocation.options.is_empty() => {
                invocation.path.push(word.text.to_ascii_lowercase())
            }
            None => {
                return Err(ParseError::Syntax(format!(
                    "unexpected `{}`: options are written name:value (quote values with spaces)",
                    word.text
                )))
            }
        }
    }
    Ok(Some(invocation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(line: &str) -> Vec<(String, String)> {
        parse_line(line)
            .ok()
            .flatten()
            .map(|inv| {
                inv.options
                    .into_iter()
                    .map(|(k, v)| match v {
                        OptionValue::String(s) => (k, s),
                        other => (k, format!("{other:?}")),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn splits_the_example_from_the_readme() {
        let inv = parse_line(r#"/incident open title:"Bounce spike on welcome series" severity:SEV2 team:integration"#)
            .ok()
            .flatten();
        let inv = inv.unwrap_or_else(|| panic!("no invocation"));
        assert_eq!(inv.command, "incident");
        assert_eq!(inv.path, vec!["open"]);
        assert_eq!(
            options(r#"/incident open title:"Bounce spike on welcome series" severity:SEV2"#),
            vec![
                ("title".into(), "Bounce spike on welcome series".into()),
                ("severity".into(), "SEV2".into())
            ]
        );
    }

    #[test]
    fn quotes_escapes_and_colons_in_values() {
        assert_eq!(
            options(r#"/x a:"say \"hi\"" b:'it''s' c:https://example.com/x d:"""#),
            vec![
                ("a".into(), "say \"hi\"".into()),
                // Only the quote that starts the value quotes; later ones
                // inside the word are text.
                ("b".into(), "it's'".into()),
                ("c".into(), "https://example.com/x".into()),
                ("d".into(), "".into()),
            ]
        );
    }

    #[test]
    fn subcommand_groups_are_paths() {
        let inv = parse_line("/incident action add id:INC-1").ok().flatten();
        assert_eq!(
            inv.map(|i| i.path),
            Some(vec!["action".to_string(), "add".to_string()])
        );
    }

    #[test]
    fn malformed_lines_say_why() {
        let msg = |line: &str| {
            parse_line(line)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(msg(r#"/incident open title:"oops"#), "unclosed \" quote");
        assert!(msg("incident open").contains("commands start with /"));
        assert!(msg("/incident open title:x stray").starts_with("unexpected `stray`"));
        assert!(msg("/incident open :x").contains("no option name"));
        assert_eq!(parse_line("   ").ok(), Some(None));
        assert_eq!(parse_line("# comment").ok(), Some(None));
    }

    #[test]
    fn an_apostrophe_inside_a_word_is_text() {
        assert_eq!(
            options("/incident diagnose id:INC-1 note:it's"),
            vec![
                ("id".to_string(), "INC-1".to_string()),
                ("note".to_string(), "it's".to_string())
            ]
        );
        assert_eq!(
            options("/incident diagnose note:'it is' id:INC-1")[0].1,
            "it is",
            "a quote where the value starts still quotes"
        );
        assert!(parse_line("/incident diagnose note:'unclosed").is_err());
    }
}
