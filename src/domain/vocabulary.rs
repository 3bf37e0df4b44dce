//! The fixed vocabularies of an incident: teams, severities, statuses and
//! root-cause categories.
//!
//! Each is an enum with one canonical spelling (used in commands, storage and
//! the manifests in `commands/`) and a human label. Parsing accepts the
//! canonical spelling case-insensitively and says what was expected when it
//! fails, because these words are typed by people in a hurry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not in one of the vocabularies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not a {what}; expected one of: {expected}")]
pub struct UnknownWord {
    /// What the user typed.
    pub word: String,
    /// Which vocabulary it was checked against ("team", "severity", …).
    pub what: &'static str,
    /// The accepted spellings, comma separated.
    pub expected: String,
}

/// Declares an enum with canonical spellings, `ALL`, `as_str`, `Display`
/// and `FromStr`, so the four vocabularies cannot drift from one another.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal, $label:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $spelling)] $variant, )+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling used in commands and storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $spelling),+ }
            }

            /// A label for people.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let word = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(word))
                    .ok_or_else(|| UnknownWord {
                        word: s.to_string(),
                        what: $what,
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

vocabulary! {
    /// The four teams that share an email programme. Each has a channel and,
    /// in Discord, a role.
    Team, "team" {
        Marketing = "marketing", "Marketing";
        Design = "design", "Design";
        Integration = "integration", "Integration";
        Development = "development", "Development";
    }
}

vocabulary! {
    /// How bad it is. SEV1 is the worst: mail to customers is not arriving.
    Severity, "severity" {
        /// Critical: sending is broken or reputation is being burnt right now.
        Sev1 = "SEV1", "critical";
        /// Major: a stream or campaign is failing for many recipients.
        Sev2 = "SEV2", "major";
        /// Minor: degraded, limited impact.
        Sev3 = "SEV3", "minor";
        /// Low: cosmetic or a risk to watch.
        Sev4 = "SEV4", "low";
    }
}

vocabulary! {
    /// Where an incident is in its lifecycle.
    Status, "status" {
        /// Declared, nobody has picked it up yet.
        Open = "open", "open";
        /// Someone is working on it.
        Investigating = "investigating", "investigating";
        /// The bleeding has stopped; the cause may still be there.
        Mitigated = "mitigated", "mitigated";
        /// Fixed; follow-up and review may remain.
        Resolved = "resolved", "resolved";
        /// Reviewed and done.
        Closed = "closed", "closed";
    }
}

vocabulary! {
    /// Why it happened, in the categories email teams use in their reviews.
    RootCause, "root cause" {
        ListQuality = "list-quality", "list quality";
        Content = "content", "content";
        AuthenticationDns = "authentication-dns", "authentication/DNS";
        EspInfrastructure = "esp-infrastructure", "ESP or infrastructure";
        AutomationIntegration = "automation-integration", "automation/integration";
        TrackingLinks = "tracking-links", "tracking/links";
        ReputationBlocklist = "reputation-blocklist", "reputation/blocklist";
        /// Nothing was wrong: the alert or report was mistaken. Counted
        /// apart in the weekly summary, so detection can be tuned.
        FalseAlarm = "false-alarm", "false alarm";
        Other = "other", "other";
    }
}

impl Status {
    /// Open, investigating or mitigated: somebody still has work to do.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Open | Status::Investigating | Status::Mitigated
        )
    }
}

impl Severity {
    /// Also accept a bare digit ("2"), which is how people say it aloud.
    pub fn parse_loose(s: &str) -> Result<Self, UnknownWord> {
        match s.trim() {
            "1" => Ok(Severity::Sev1),
            "2" => Ok(Severity::Sev2),
            "3" => Ok(Severity::Sev3),
            "4" => Ok(Severity::Sev4),
            other => other.parse(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_parse_and_serde() {
        for team in Team::ALL {
            assert_eq!(team.as_str().parse::<Team>().ok(), Some(*team));
            let json = serde_json::to_string(team).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", team.as_str()));
        }
        for cause in RootCause::ALL {
            assert_eq!(
                cause.as_str().to_uppercase().parse::<RootCause>().ok(),
                Some(*cause)
            );
        }
        assert_eq!("sev2".parse::<Severity>().ok(), Some(Severity::Sev2));
        assert_eq!(Severity::parse_loose("3").ok(), Some(Severity::Sev3));
    }

    #[test]
    fn unknown_words_say_what_was_expected() {
        let err = "sales"
            .parse::<Team>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "`sales` is not a team; expected one of: marketing, design, integration, development"
        );
    }
}
