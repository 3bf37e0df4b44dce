//! Stored series as a table or CSV: what `mailcall metrics` prints, and
//! what the running bot's `/admin/metrics` sends when the CLI cannot open
//! the store because the bot holds it. One renderer, so both read the same.
//!
//! Missing counts print as empty cells (CSV) or "-" (table), never as 0.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::delivery::Sample;
use crate::store::{MetricsHistory, StoreError};

/// How the series print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsFormat {
    Table,
    Csv,
}

impl MetricsFormat {
    /// The name used in a query string.
    pub fn name(self) -> &'static str {
        match self {
            MetricsFormat::Table => "table",
            MetricsFormat::Csv => "csv",
        }
    }
}

/// Which series to print.
#[derive(Clone, Debug, Default)]
pub struct SeriesFilter {
    pub account: Option<String>,
    pub stream: Option<String>,
    /// From when; a week ago when `None`.
    pub since: Option<DateTime<Utc>>,
}

/// Why the series could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the series: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes every stored sample that `filter` selects to `out`.
pub fn write_series(
    history: &dyn MetricsHistory,
    filter: &SeriesFilter,
    format: MetricsFormat,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let since = filter
        .since
        .unwrap_or_else(|| now - chrono::Duration::days(7));
    let cell = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let pct = |v: Option<f64>| {
        v.map(|r| format!("{:.2}%", r * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    match format {
        MetricsFormat::Csv => writeln!(out, "account,stream,bucket_start,width,provider_tz,requested,sent,delivered,bounce_hard,bounce_soft,blocked,deferred,dropped,opens_unique,opens_machine,clicks_unique,complaints,unsubscribes")?,
        MetricsFormat::Table => writeln!(out, "{:<16} {:<24} {:<17} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7}", "account", "stream", "bucket (UTC)", "sent", "bounce", "deferral", "complaint", "open", "click", "unsub")?,
    }
    let mut rows = 0;
    for (name, key) in history.streams()? {
        if filter.account.as_deref().is_some_and(|a| a != name)
            || filter.stream.as_deref().is_some_and(|s| s != key.as_str())
        {
            continue;
        }
        for sample in history.series(&name, &key, since)? {
            rows += 1;
            let Sample { bucket, counts, .. } = &sample;
            match format {
                MetricsFormat::Csv => writeln!(
                    out,
                    "{name},{key},{},{:?},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    bucket.start.to_rfc3339(),
                    bucket.width,
                    bucket.provider_tz,
                    cell(counts.requested),
                    cell(counts.sent),
                    cell(counts.delivered),
                    cell(counts.bounce_hard),
                    cell(counts.bounce_soft),
                    cell(counts.blocked),
                    cell(counts.deferred),
                    cell(counts.dropped),
                    cell(counts.opens_unique),
                    cell(counts.opens_machine),
                    cell(counts.clicks_unique),
                    cell(counts.complaints),
                    cell(counts.unsubscribes),
                )?,
                MetricsFormat::Table => {
                    let rates = counts.rates();
                    writeln!(
                        out,
                        "{:<16} {:<24} {:<17} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7}",
                        name,
                        key.as_str(),
                        bucket.start.format("%Y-%m-%d %H:%M"),
                        counts
                            .sent
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "-".into()),
                        pct(rates.bounce.or(rates.hard_bounce)),
                        pct(rates.deferral_events),
                        pct(rates.complaint),
                        pct(rates.open),
                        pct(rates.click),
                        pct(rates.unsubscribe),
                    )?
                }
            }
        }
    }
    if rows == 0 && format == MetricsFormat::Table {
        writeln!(out, "(no stored samples match)")?;
    }
    Ok(())
}
