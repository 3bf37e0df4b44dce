//! Text that people type into incidents, and how it is kept safe to show.
//!
//! Limits are checked once, when the value is made, so a [`Title`] that exists
//! fits the limit. Text is stored exactly as typed; [`defang`] is applied when
//! it is shown in chat, so `@everyone` in a title is displayed but can never
//! ping (the Discord adapter also sends an empty allowed-mentions list; two
//! independent guards, because a ping to a whole company is not undoable).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why some text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} contains a control character (code {code}); use plain text")]
    ControlCharacter { what: &'static str, code: u32 },
}

fn check(
    what: &'static str,
    s: &str,
    max: usize,
    allow_newlines: bool,
) -> Result<String, TextError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty { what });
    }
    let len = trimmed.chars().count();
    if len > max {
        return Err(TextError::TooLong { what, len, max });
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_control() && !(allow_newlines && (*c == '\n' || *c == '\t')))
    {
        return Err(TextError::ControlCharacter {
            what,
            code: c as u32,
        });
    }
    Ok(trimmed.to_string())
}

macro_rules! limited_text {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr, $newlines:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The most characters this text may hold.
            pub const MAX_CHARS: usize = $max;

            /// Checks the limits; surrounding whitespace is trimmed.
            pub fn new(s: &str) -> Result<Self, TextError> {
                check($what, s, $max, $newlines).map($name)
            }

            /// The text as typed (not defanged).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(s: String) -> Result<Self, TextError> {
                $name::new(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        /// Displays the text defanged, ready for a chat.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&defang(&self.0))
            }
        }
    };
}

limited_text! {
    /// An incident title: one line, at most 200 characters.
    Title, "the title", 200, false
}

limited_text! {
    /// A note, diagnosis, resolution or action: at most 1,000 characters, so
    /// a post quoting it still fits Discord's 2,000-character messages.
    Text, "the text", 1000, true
}

limited_text! {
    /// A short name: an ESP account, a stream, a person. One line, at most
    /// 100 characters.
    Name, "the name", 100, false
}

/// What is appended to shortened text, so readers know there was more.
pub const SHORTENED_MARKER: &str = "… (shortened)";

/// `text` cut to at most `max` characters (not bytes), ending with
/// [`SHORTENED_MARKER`] when anything was cut; for limits too small for the
/// marker, a plain "…".
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let marker = if max > SHORTENED_MARKER.chars().count() * 2 {
        SHORTENED_MARKER
    } else {
        "…"
    };
    let keep = max.saturating_sub(marker.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(marker);
    out
}

/// The zero-width space inserted to break mention syntax.
const BREAK: char = '\u{200B}';

/// Makes text unable to mention anyone while keeping it readable.
///
/// `@everyone` and `@here` (any case) get a zero-width space after the `@`;
/// `<@…>`, `<@!…>` and `<@&…>` (users and roles) get one after the `<`.
/// Channel links `<#…>` do not notify anyone and are left alone.
pub fn defang(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        out.push(c);
        rest = &rest[c.len_utf8()..];
        let mass_mention = c == '@'
            && ["everyone", "here"].iter().any(|word| {
                rest.get(..word.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(word))
            });
        let direct_mention = c == '<' && rest.starts_with('@');
        if mass_mention || direct_mention {
            out.push(BREAK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_limited() {
        assert_eq!(
            Title::new("  Bounce spike ").map(|t| t.0),
            Ok("Bounce spike".to_string())
        );
        assert!(Title::new(&"x".repeat(200)).is_ok());
        assert_eq!(
            Title::new(&"x".repeat(201)).err().map(|e| e.to_string()),
            Some("the title is 201 characters long; the limit is 200".to_string())
        );
        assert!(matches!(Title::new("   "), Err(TextError::Empty { .. })));
        assert!(matches!(
            Title::new("a\nb"),
            Err(TextError::ControlCharacter { .. })
        ));
        assert!(Text::new("line one\nline two").is_ok());
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(Title::new(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn defang_breaks_every_kind_of_ping() {
        for (raw, safe) in [
            ("@everyone look", "@\u{200B}everyone look"),
            ("hi @Here", "hi @\u{200B}Here"),
            ("<@123>", "<\u{200B}@123>"),
            ("<@!123>", "<\u{200B}@!123>"),
            ("<@&456>", "<\u{200B}@&456>"),
            ("mail@example.com", "mail@example.com"),
            ("<#789> is fine", "<#789> is fine"),
        ] {
            assert_eq!(defang(raw), safe, "{raw}");
        }
    }

    #[test]
    fn stored_text_keeps_what_was_typed() {
        let title = Title::new("@everyone bounce").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(title.as_str(), "@everyone bounce");
        assert_eq!(title.to_string(), "@\u{200B}everyone bounce");
    }
}
