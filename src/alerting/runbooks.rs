//! The runbooks alerts quote: one Markdown file per anomaly kind.
//!
//! A team edits its runbooks, and an alert must quote the edited copy
//! wherever the bot was started from; so the directory is a setting
//! (`[alerts] runbook_dir`, relative to the configuration file), read once
//! at start, and [`Runbooks::describe`] says which copy of each is in use.
//! Kinds without a file in the directory, and every kind when no directory
//! is set, use the copies shipped in the binary.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::detect::AnomalyKind;

/// The runbooks shipped in `data/runbooks/`, embedded so a binary without
/// the repository still has them.
const BUILT_IN: [(AnomalyKind, &str); 8] = [
    (
        AnomalyKind::HardLimit,
        include_str!("../../data/runbooks/hard-limit.md"),
    ),
    (
        AnomalyKind::Baseline,
        include_str!("../../data/runbooks/baseline.md"),
    ),
    (
        AnomalyKind::VolumeDrop,
        include_str!("../../data/runbooks/volume-drop.md"),
    ),
    (
        AnomalyKind::VolumeSpike,
        include_str!("../../data/runbooks/volume-spike.md"),
    ),
    (
        AnomalyKind::EngagementCollapse,
        include_str!("../../data/runbooks/engagement-collapse.md"),
    ),
    (
        AnomalyKind::StaleFeed,
        include_str!("../../data/runbooks/stale-feed.md"),
    ),
    (
        AnomalyKind::ReputationDrop,
        include_str!("../../data/runbooks/reputation-drop.md"),
    ),
    (
        AnomalyKind::ComplianceNeedsWork,
        include_str!("../../data/runbooks/compliance-needs-work.md"),
    ),
];

/// Where a runbook's text came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One kind's runbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runbook {
    pub text: String,
    pub origin: Origin,
}

/// Every kind's runbook, and the files of the directory that were not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runbooks {
    books: BTreeMap<AnomalyKind, Runbook>,
    /// The directory they were read from, if any.
    dir: Option<PathBuf>,
    /// `.md` files in the directory named after no kind (a typo would
    /// otherwise leave the built-in copy in use without a word).
    pub ignored: Vec<String>,
}

impl Default for Runbooks {
    fn default() -> Runbooks {
        Runbooks::built_in()
    }
}

impl Runbooks {
    /// The copies shipped in the binary.
    pub fn built_in() -> Runbooks {
        Runbooks {
            books: BUILT_IN
                .iter()
                .map(|(kind, text)| {
                    (
                        *kind,
                        Runbook {
                            text: (*text).to_owned(),
                            origin: Origin::BuiltIn,
                        },
                    )
                })
                .collect(),
            dir: None,
            ignored: Vec::new(),
        }
    }

    /// `<dir>/<kind>.md` for each kind that has one, the built-in copy for
    /// the rest. The error is a sentence naming the directory or file.
    pub fn from_dir(dir: &Path) -> Result<Runbooks, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!(
                "cannot read the runbook directory {}: {}",
                dir.display(),
                crate::os_error::reason(&e)
            )
        })?;
        let mut runbooks = Runbooks::built_in();
        runbooks.dir = Some(dir.to_path_buf());
        for entry in entries {
            let entry = entry.map_err(|e| {
                format!(
                    "cannot read the runbook directory {}: {}",
                    dir.display(),
                    crate::os_error::reason(&e)
                )
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".md") else {
                continue;
            };
            let Some(kind) = AnomalyKind::ALL.into_iter().find(|k| k.as_str() == stem) else {
                runbooks.ignored.push(name);
                continue;
            };
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read the runbook {}: {}",
                    path.display(),
                    crate::os_error::reason(&e)
                )
            })?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("the runbook {} is not UTF-8 text", path.display()))?;
            if text.trim().is_empty() {
                return Err(format!(
                    "the runbook {} is empty; delete it to use the built-in copy",
                    path.display()
                ));
            }
            runbooks.books.insert(
                kind,
                Runbook {
                    text,
                    origin: Origin::File(path),
                },
            );
        }
        runbooks.ignored.sort();
        Ok(runbooks)
    }

    /// The runbook for a kind.
    pub fn get(&self, kind: AnomalyKind) -> &str {
        self.books
            .get(&kind)
            .map(|book| book.text.as_str())
            .unwrap_or_default()
    }

    /// Where a kind's runbook came from.
    pub fn origin(&self, kind: AnomalyKind) -> Origin {
        self.books
            .get(&kind)
            .map(|book| book.origin.clone())
            .unwrap_or(Origin::BuiltIn)
    }

    /// The runbook's "Check first" steps (or its opening), for a post.
    pub fn excerpt(&self, kind: AnomalyKind) -> String {
        let text = self.get(kind);
        let steps = text.split("## Check first").nth(1).map(|rest| {
            rest.split("\n## ")
                .next()
                .unwrap_or(rest)
                .trim()
                .to_string()
        });
        steps.unwrap_or_else(|| text.lines().take(8).collect::<Vec<_>>().join("\n"))
    }

    /// One line saying which runbooks are in use, for the start of a run.
    pub fn describe(&self) -> String {
        let (from_files, built_in): (Vec<AnomalyKind>, Vec<AnomalyKind>) = AnomalyKind::ALL
            .into_iter()
            .partition(|kind| matches!(self.origin(*kind), Origin::File(_)));
        let names = |kinds: &[AnomalyKind]| {
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = match &self.dir {
            None => "runbooks: the built-in copies (set [alerts] runbook_dir to use edited ones)"
                .to_owned(),
            Some(dir) if built_in.is_empty() => {
                format!("runbooks: all from {}", dir.display())
            }
            Some(dir) if from_files.is_empty() => format!(
                "runbooks: none found in {}, the built-in copies are used",
                dir.display()
            ),
            Some(dir) => format!(
                "runbooks: {} from {}; built-in: {}",
                names(&from_files),
                dir.display(),
                names(&built_in)
            ),
        };
        if !self.ignored.is_empty() {
            text.push_str(&format!(
                "; ignored (not a runbook name): {}",
                self.ignored.join(", ")
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_built_in_runbook_with_steps() {
        let runbooks = Runbooks::built_in();
        for kind in AnomalyKind::ALL {
            assert!(runbooks.excerpt(kind).contains("1."), "{kind}");
        }
        assert!(runbooks.describe().contains("built-in copies"));
    }

    #[test]
    fn an_edited_runbook_wins_and_the_rest_stay_built_in() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("hard-limit.md"),
            "# Ours\n## Check first\n1. Call Ana.\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("hard_limit.md"), "typo").unwrap_or_else(|e| panic!("{e}"));
        let runbooks = Runbooks::from_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(runbooks.excerpt(AnomalyKind::HardLimit), "1. Call Ana.");
        assert_eq!(runbooks.origin(AnomalyKind::Baseline), Origin::BuiltIn);
        let said = runbooks.describe();
        assert!(said.contains("hard-limit from"), "{said}");
        assert!(said.contains("built-in: baseline"), "{said}");
        assert!(
            said.contains("ignored (not a runbook name): hard_limit.md"),
            "{said}"
        );
    }

    #[test]
    fn a_missing_directory_or_an_empty_runbook_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope");
        let error = Runbooks::from_dir(&missing).err().unwrap_or_default();
        assert!(
            error.contains("cannot read the runbook directory"),
            "{error}"
        );
        assert!(error.contains("nope"), "{error}");
        assert!(!error.contains("os error"), "{error}");
        std::fs::write(dir.path().join("baseline.md"), "  \n").unwrap_or_else(|e| panic!("{e}"));
        let error = Runbooks::from_dir(dir.path()).err().unwrap_or_default();
        assert!(error.contains("baseline.md is empty"), "{error}");
    }
}
