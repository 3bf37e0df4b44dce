//! Stored series as a table or CSV: what `mailcall metrics` prints, and
//! what the running bot's `/admin/metrics` sends when the CLI cannot open
//! the store because the bot holds it. One renderer, so both read the same.
//!
//! Missing counts print as empty cells (CSV) or "-" (table), never as 0.
//! A mailbox provider's own figures (Gmail Postmaster Tools: ratios and
//! reputation levels, never counts) follow the counts in the CSV, as the
//! provider gave them: ratios as fractions with six decimals, levels by
//! name, the requirements that need work joined by `;` (`compliant` when
//! the status was read and none does).

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::delivery::{Counts, Reported, Sample};
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
        MetricsFormat::Csv => out.write_all(&csv_record(
            BUCKET_COLUMNS
                .iter()
                .chain(Counts::FIELDS.iter())
                .chain(REPORTED_COLUMNS.iter()),
        )?)?,
        MetricsFormat::Table => writeln!(
            out,
            "{:<16} {:<24} {:<17} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7}",
            "account",
            "stream",
            "bucket (UTC)",
            "sent",
            "bounce",
            "deferral",
            "complaint",
            "open",
            "click",
            "unsub"
        )?,
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
                MetricsFormat::Csv => {
                    let bucketed = [
                        name.clone(),
                        key.as_str().to_owned(),
                        bucket.start.to_rfc3339(),
                        format!("{:?}", bucket.width),
                        bucket.provider_tz.clone(),
                    ];
                    let counted = counts.fields().map(cell);
                    let reported = reported_cells(counts.reported.as_deref());
                    out.write_all(&csv_record(
                        bucketed.iter().chain(counted.iter()).chain(reported.iter()),
                    )?)?;
                }
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

/// The CSV columns of the stream and the bucket; [`Counts::FIELDS`]
/// follow them.
const BUCKET_COLUMNS: [&str; 5] = ["account", "stream", "bucket_start", "width", "provider_tz"];

/// The CSV columns of a mailbox provider's own figures ([`Reported`]).
const REPORTED_COLUMNS: [&str; 9] = [
    "spam_rate",
    "spam_rate_upper",
    "domain_reputation",
    "ip_reputation",
    "spf_pass",
    "dkim_pass",
    "dmarc_pass",
    "delivery_errors",
    "needs_work",
];

/// One CSV record, its cells quoted by the `csv` crate where they need it
/// (a comma, a quote or a line break in an account, a stream or a
/// provider's text), as the incident log export writes them.
fn csv_record<I, T>(cells: I) -> std::io::Result<Vec<u8>>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(512)
        .from_writer(Vec::new());
    writer.write_record(cells)?;
    writer.into_inner().map_err(|e| e.into_error())
}

/// The cells of [`REPORTED_COLUMNS`]: empty where the provider gave
/// nothing (all of them for a stream of counts).
fn reported_cells(reported: Option<&Reported>) -> [String; 9] {
    let Some(r) = reported else {
        return Default::default();
    };
    let ratio = |ppm: Option<u32>| {
        ppm.map(|p| format!("{}.{:06}", p / 1_000_000, p % 1_000_000))
            .unwrap_or_default()
    };
    let level = |l: Option<crate::delivery::Reputation>| {
        l.map(|l| l.as_str().to_owned()).unwrap_or_default()
    };
    // Read and nothing needs work is `compliant`; not read stays empty.
    let needs_work = match r.needs_work.as_deref() {
        None => String::new(),
        Some([]) => "compliant".to_owned(),
        Some(names) => names.join(";"),
    };
    [
        ratio(r.spam_ppm),
        ratio(r.spam_upper_ppm),
        level(r.domain_reputation),
        level(r.ip_reputation),
        ratio(r.spf_ppm),
        ratio(r.dkim_ppm),
        ratio(r.dmarc_ppm),
        ratio(r.delivery_error_ppm),
        needs_work,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Reputation;

    #[test]
    fn a_providers_figures_print_as_given_and_missing_ones_stay_empty() {
        assert_eq!(reported_cells(None).join(","), ",,,,,,,,");
        let figures = Reported {
            spam_ppm: Some(1_200),
            spam_upper_ppm: None,
            domain_reputation: Some(Reputation::Medium),
            ip_reputation: Some(Reputation::Low),
            spf_ppm: Some(1_000_000),
            dkim_ppm: Some(970_000),
            dmarc_ppm: Some(0),
            delivery_error_ppm: None,
            needs_work: Some(vec!["DMARC_POLICY".into(), "ONE_CLICK_UNSUBSCRIBE".into()]),
        };
        assert_eq!(
            reported_cells(Some(&figures)).join(","),
            "0.001200,,MEDIUM,LOW,1.000000,0.970000,0.000000,,DMARC_POLICY;ONE_CLICK_UNSUBSCRIBE"
        );
        let compliant = Reported {
            needs_work: Some(Vec::new()),
            ..Reported::default()
        };
        assert_eq!(
            reported_cells(Some(&compliant)).join(","),
            ",,,,,,,,compliant"
        );
    }

    #[test]
    fn provider_text_cannot_break_the_row() {
        let row = |cells: &[&str]| {
            String::from_utf8(csv_record(cells).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(row(&["SPF", "", "1"]), "SPF,,1\n");
        assert_eq!(row(&["A,B", "x"]), "\"A,B\",x\n");
        assert_eq!(row(&["say \"x\"\n", "y"]), "\"say \"\"x\"\"\n\",y\n");
    }
}
