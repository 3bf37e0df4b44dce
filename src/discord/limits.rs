//! Discord's size limits, enforced before anything is sent.
//!
//! Discord rejects an oversized message with a 400, and a rejected alert is
//! a lost alert. So every outgoing text is shortened here to fit, with a
//! visible marker, rather than left for Discord to refuse. The limits are
//! from Discord's documentation (resources/message.mdx, channel.mdx).

/// Message content.
pub const CONTENT: usize = 2000;
/// Embed title.
pub const EMBED_TITLE: usize = 256;
/// Embed description.
pub const EMBED_DESCRIPTION: usize = 4096;
/// Fields per embed.
pub const EMBED_FIELDS: usize = 25;
/// Embed field name.
pub const FIELD_NAME: usize = 256;
/// Embed field value.
pub const FIELD_VALUE: usize = 1024;
/// Embed footer.
pub const FOOTER: usize = 2048;
/// All the text of all embeds of one message together.
pub const EMBED_TOTAL: usize = 6000;
/// Thread name.
pub const THREAD_NAME: usize = 100;
/// Autocomplete choice name.
pub const CHOICE_NAME: usize = 100;
/// Modal title.
pub const MODAL_TITLE: usize = 45;

/// Shortening with a visible marker lives with the domain's text types, so
/// the core can shorten too (an incident title made from an alert).
pub use crate::domain::{fit, SHORTENED_MARKER as MARKER};

/// The pieces of one embed, sized to fit Discord's per-part limits and its
/// 6,000-character total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedText {
    pub title: String,
    pub description: String,
    pub fields: Vec<(String, String)>,
    pub footer: String,
}

impl EmbedText {
    /// Applies every limit: each part to its own maximum, at most 25 fields,
    /// then, if the total is still over 6,000, the description is shortened
    /// first and then the longest fields, until it fits.
    pub fn fitted(mut self) -> EmbedText {
        self.title = fit(&self.title, EMBED_TITLE);
        self.description = fit(&self.description, EMBED_DESCRIPTION);
        self.footer = fit(&self.footer, FOOTER);
        self.fields.truncate(EMBED_FIELDS);
        for (name, value) in &mut self.fields {
            *name = fit(name, FIELD_NAME);
            *value = fit(value, FIELD_VALUE);
        }
        while self.total() > EMBED_TOTAL {
            let excess = self.total() - EMBED_TOTAL;
            let description = self.description.chars().count();
            if description > 200 {
                let keep = description.saturating_sub(excess).max(200);
                self.description = fit(&self.description, keep);
                continue;
            }
            // Shorten the longest field value; the field stays, so nothing
            // disappears silently.
            let Some(longest) =
                (0..self.fields.len()).max_by_key(|i| self.fields[*i].1.chars().count())
            else {
                break;
            };
            let len = self.fields[longest].1.chars().count();
            if len <= 20 {
                break;
            }
            let keep = len.saturating_sub(excess).max(20);
            self.fields[longest].1 = fit(&self.fields[longest].1, keep);
        }
        self
    }

    /// Characters counted against the 6,000 total.
    pub fn total(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self.footer.chars().count()
            + self
                .fields
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(fit("hello", 10), "hello");
        assert_eq!(fit(&"é".repeat(2000), CONTENT).chars().count(), 2000);
    }

    #[test]
    fn long_text_is_cut_to_the_limit_with_a_marker() {
        let out = fit(&"x".repeat(2500), CONTENT);
        assert_eq!(out.chars().count(), CONTENT);
        assert!(out.ends_with(MARKER));
        let tiny = fit("abcdefghijkl", 5);
        assert_eq!(tiny, "abcd…");
    }

    #[test]
    fn an_embed_is_brought_under_every_limit() {
        let embed = EmbedText {
            title: "t".repeat(300),
            description: "d".repeat(5000),
            fields: (0..30)
                .map(|i| (format!("f{i}"), "v".repeat(1100)))
                .collect(),
            footer: "f".repeat(10),
        }
        .fitted();
        assert!(embed.title.chars().count() <= EMBED_TITLE);
        assert!(embed.description.chars().count() <= EMBED_DESCRIPTION);
        assert_eq!(embed.fields.len(), EMBED_FIELDS);
        assert!(embed
            .fields
            .iter()
            .all(|(_, v)| v.chars().count() <= FIELD_VALUE));
        assert!(embed.total() <= EMBED_TOTAL, "{}", embed.total());
        assert!(embed.description.ends_with(MARKER));
    }
}
