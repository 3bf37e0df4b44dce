//! Anomaly detection over stored metric history.
//!
//! - [`finding`]: the shared vocabulary (metrics, kinds, levels, keys,
//!   findings).

pub mod finding;

pub use finding::{AlertKey, AnomalyKind, Finding, Level, Metric};
