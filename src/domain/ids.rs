//! Human incident ids: `INC-<n>`.
//!
//! Ids are allocated by the store, contiguously from 1 and never reused, so
//! "INC-12" means the same incident for the life of a deployment. Parsing is
//! lenient in what people type (`INC-12`, `inc-12`, `12`) and strict about
//! everything else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The number behind `INC-<n>`. Always ≥ 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(u64);

impl IncidentId {
    /// The first id a fresh store hands out.
    pub const FIRST: IncidentId = IncidentId(1);

    /// Wraps a raw number; `None` for 0, which is never a valid id.
    pub fn new(n: u64) -> Option<Self> {
        (n >= 1).then_some(IncidentId(n))
    }

    /// The raw number, used as the store's key.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id allocated after this one.
    pub fn next(self) -> IncidentId {
        IncidentId(self.0 + 1)
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

/// Why a piece of text is not an incident id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an incident id; use the form INC-12")]
pub struct BadIncidentId(pub String);

impl FromStr for IncidentId {
    type Err = BadIncidentId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let digits = match trimmed.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("INC-") => &trimmed[4..],
            _ => trimmed.strip_prefix('#').unwrap_or(trimmed),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadIncidentId(s.to_string()));
        }
        digits
            .parse::<u64>()
            .ok()
            .and_then(IncidentId::new)
            .ok_or_else(|| BadIncidentId(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_type() {
        for text in ["INC-12", "inc-12", "12", "#12", " INC-12 "] {
            assert_eq!(text.parse::<IncidentId>(), Ok(IncidentId(12)), "{text}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for text in [
            "",
            "INC-",
            "INC-0",
            "0",
            "INC-1a",
            "-3",
            "INC--3",
            "99999999999999999999999",
        ] {
            assert!(text.parse::<IncidentId>().is_err(), "{text}");
        }
    }

    #[test]
    fn displays_as_inc_n() {
        assert_eq!(IncidentId(7).to_string(), "INC-7");
    }
}
