//! Anomaly detection over stored metric history.
//!
//! - [`finding`]: the shared vocabulary (metrics, kinds, levels, keys,
//!   findings).
//! - [`detectors`]: [`evaluate`] judges a stream's newest bucket against its
//!   own weekday/hour history (hard limits, baseline deviation, volume drop,
//!   engagement collapse), tuned by [`DetectorSettings`].
//! - [`baseline`]: how that history is read (same slot in previous weeks,
//!   never filling gaps).
//! - [`offline`]: [`detect_csv`] runs the same detectors over a CSV file,
//!   row by row, for `mailcall detect` and for scoring against labelled
//!   benchmarks.
//! - [`series`]: the causal detector for generic `timestamp,value` series
//!   that `mailcall detect` uses (level + daily profile, quantile-normalised,
//!   onset-only).

pub mod baseline;
pub mod detectors;
pub mod finding;
pub mod offline;
pub mod series;
mod stats;

#[cfg(test)]
mod scenarios;

pub use detectors::{evaluate, DetectorSettings, Evaluation, Thresholds, CAMPAIGN_BASELINE_SENDS};
pub use finding::{AlertKey, AnomalyKind, Finding, Level, Metric};
pub use offline::{detect_csv, detect_path, CsvFormat, DetectError, DetectStats};
pub use series::SeriesDetector;
