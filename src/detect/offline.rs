//! Offline detection: the detectors over a CSV file, row by row.
//!
//! `mailcall detect` reads a CSV, judges each row against the rows before
//! it, and writes every input row back with two more columns: `score`
//! (0–1) and `flag` (0/1). Two shapes of input are understood, told apart
//! by the header:
//!
//! - **Counts** (`timestamp` plus columns named like [`Counts`] fields:
//!   `sent`, `delivered`, `bounce_hard`, …): each row is a bucket of one
//!   stream and goes through [`evaluate`], exactly as the poller's samples
//!   do. The score is the highest finding's score, the flag says whether
//!   there was any finding.
//! - **Series** (`timestamp,value`, plus any other columns, passed
//!   through): a generic series, so the bot's idea of "unusual for this
//!   weekday and hour" can be scored against public labelled benchmarks
//!   (NAB, Yahoo S5 style files). See [`SeriesState`] for the estimator.
//!
//! An empty cell is missing, never zero: a row without a value scores 0,
//! is not flagged and does not enter the history (a series cell reading
//! `NaN` counts as empty too). Errors name the line and the column, so a
//! broken export can be fixed by hand.
//!
//! # Why it is fast
//!
//! The series path is built to stream more than five million rows a second
//! on one core (`cargo bench --bench detect_throughput`): lines are read into
//! one reused buffer and split in place, the common timestamp forms are
//! parsed by hand (no allocation, no chrono on the hot path), and the state
//! is a fixed ring of the last K values per weekday/time-of-day slot with
//! its median and MAD kept up to date, so each row costs O(K) (a sorting
//! network over four values) however long the history. Output goes through
//! one buffer, scores are formatted without the formatting machinery.
//!
//! The counts path runs the full stream detectors on every row, over a
//! sliding window of `baseline_weeks` weeks: O(window) per row, thousands of
//! rows a second, which is plenty for one stream's history.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use super::detectors::{evaluate, DetectorSettings, MIN_BASELINE_POINTS};
use super::stats::{self, MAD_TO_SD, Z_MAX};
use super::AnomalyKind;
use crate::metrics::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// Which shape the input had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CsvFormat {
    /// `timestamp,value`: a generic series.
    #[default]
    Series,
    /// `timestamp` plus count columns: one stream's buckets.
    Counts,
}

/// What a run of [`detect_csv`] saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectStats {
    pub format: CsvFormat,
    /// Data rows read (blank lines are skipped and not counted).
    pub rows: u64,
    /// Rows with no value (all count cells empty, or an empty `value`).
    pub missing: u64,
    /// Rows judged against some history (the rest had too little before
    /// them, or no value).
    pub judged: u64,
    /// Rows flagged.
    pub flagged: u64,
    /// Findings by kind (counts input only).
    pub findings: BTreeMap<AnomalyKind, u64>,
    /// Header columns that were neither `timestamp` nor an input the
    /// detectors read; they are passed through untouched. A typo in a count
    /// column name shows up here.
    pub ignored_columns: Vec<String>,
}

/// Why a CSV could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{}: --output is the --input file; writing it would destroy the input before it is read (choose another output file)", path.display())]
    SameFile { path: PathBuf },
    #[error(transparent)]
    Output(#[from] crate::atomic_file::AtomicWriteError),
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("line {line}: column `{column}`: {message}")]
    Field {
        line: u64,
        column: String,
        message: String,
    },
}

/// The count columns the counts format reads, by [`Counts`] field name.
const COUNT_COLUMNS: [&str; 13] = [
    "requested",
    "sent",
    "delivered",
    "bounce_hard",
    "bounce_soft",
    "blocked",
    "deferred",
    "dropped",
    "opens_unique",
    "opens_machine",
    "clicks_unique",
    "complaints",
    "unsubscribes",
];

fn count_slot(counts: &mut Counts, index: usize) -> &mut Option<u64> {
    match index {
        0 => &mut counts.requested,
        1 => &mut counts.sent,
        2 => &mut counts.delivered,
        3 => &mut counts.bounce_hard,
        4 => &mut counts.bounce_soft,
        5 => &mut counts.blocked,
        6 => &mut counts.deferred,
        7 => &mut counts.dropped,
        8 => &mut counts.opens_unique,
        9 => &mut counts.opens_machine,
        10 => &mut counts.clicks_unique,
        11 => &mut counts.complaints,
        _ => &mut counts.unsubscribes,
    }
}

/// Reads CSV (either `timestamp,value` or `timestamp` plus count columns
/// named like [`Counts`] fields), runs the detectors row by row (each row
/// judged against the rows before it) and writes each input row plus
/// `score,flag` (score 0–1 with four decimals, flag 0/1).
///
/// Timestamps: RFC 3339 (`2026-11-18T13:00:00Z`, any offset),
/// `YYYY-MM-DD HH:MM:SS` (UTC), `YYYY-MM-DD`, or unix seconds; rows must be
/// in time order. Series input: see [`SeriesState`]. Counts input: the
/// rows are one stream's buckets, judged by [`evaluate`] with `settings`;
/// the bucket width is hourly unless the first gap between rows is a whole
/// number of days.
pub fn detect_csv(
    mut input: impl BufRead,
    output: impl Write,
    settings: &DetectorSettings,
) -> Result<DetectStats, DetectError> {
    let mut out = Output::new(output);
    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    // The header: the first non-blank line.
    let header = loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Err(DetectError::Line {
                line: number.max(1),
                message: "no header: expected `timestamp,value` or `timestamp` and count columns"
                    .into(),
            });
        }
        number += 1;
        let text = trim_line(&line);
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        if !text.iter().all(u8::is_ascii_whitespace) {
            break Header::parse(text, number)?;
        }
    };
    let mut stats = DetectStats {
        format: header.format,
        ignored_columns: header.ignored.clone(),
        ..DetectStats::default()
    };
    out.row(&header.raw, "score", "flag")?;
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(header.names.len());
    let mut series = SeriesState::new(settings);
    let mut counts_state = CountsState::new(settings);
    let mut previous: Option<i64> = None;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let text = trim_line(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        split_fields(text, &mut fields);
        if fields.len() != header.names.len() {
            return Err(DetectError::Line {
                line: number,
                message: format!(
                    "expected {} fields, found {}",
                    header.names.len(),
                    fields.len()
                ),
            });
        }
        let field = |i: usize| trim_field(&text[fields[i].0..fields[i].1]);
        let ts_text = field(header.timestamp);
        let Some(ts) = parse_timestamp(ts_text) else {
            let message = if ts_text.is_empty() {
                "empty: every row needs a timestamp".to_string()
            } else {
                format!(
                    "`{}` is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` or unix seconds)",
                    String::from_utf8_lossy(ts_text)
                )
            };
            return Err(DetectError::Field {
                line: number,
                column: header.names[header.timestamp].clone(),
                message,
            });
        };
        if previous.is_some_and(|p| ts < p) {
            return Err(DetectError::Field {
                line: number,
                column: header.names[header.timestamp].clone(),
                message: format!(
                    "`{}` is earlier than the row before: rows must be in time order",
                    String::from_utf8_lossy(ts_text)
                ),
            });
        }
        previous = Some(ts);
        stats.rows += 1;
        let verdict = match header.format {
            CsvFormat::Series => {
                let value =
                    parse_value(field(header.value)).map_err(|message| DetectError::Field {
                        line: number,
                        column: header.names[header.value].clone(),
                        message,
                    })?;
                series.see_time(ts);
                match value {
                    None => RowVerdict::Missing,
                    Some(value) => match series.observe(ts, value) {
                        None => RowVerdict::Unjudged,
                        Some(z) => RowVerdict::Judged {
                            score: stats::score_from_z(z, settings.significance),
                            flag: z >= settings.significance,
                        },
                    },
                }
            }
            CsvFormat::Counts => {
                let mut counts = Counts::default();
                let mut any = false;
                for &(column, index) in &header.counts {
                    let text = field(column);
                    if text.is_empty() {
                        continue;
                    }
                    let value = parse_count(text).ok_or_else(|| DetectError::Field {
                        line: number,
                        column: header.names[column].clone(),
                        message: format!(
                            "`{}` is not a whole number",
                            String::from_utf8_lossy(text)
                        ),
                    })?;
                    *count_slot(&mut counts, index) = Some(value);
                    any = true;
                }
                counts_state.see_time(ts);
                if any {
                    counts_state.observe(ts, counts, settings, &mut stats)
                } else {
                    RowVerdict::Missing
                }
            }
        };
        match verdict {
            RowVerdict::Missing => {
                stats.missing += 1;
                out.row_fast(text, 0.0, false)?;
            }
            RowVerdict::Unjudged => out.row_fast(text, 0.0, false)?,
            RowVerdict::Judged { score, flag } => {
                stats.judged += 1;
                stats.flagged += u64::from(flag);
                out.row_fast(text, score, flag)?;
            }
        }
    }
    out.finish()?;
    Ok(stats)
}

/// [`detect_csv`] between files; `-` reads standard input or writes
/// standard output. For `mailcall detect <input> [output]`.
pub fn detect_path(
    input: &Path,
    output: &Path,
    settings: &DetectorSettings,
) -> Result<DetectStats, DetectError> {
    let stdio = |path: &Path| path.as_os_str() == "-";
    if !stdio(input) && !stdio(output) && same_file(input, output) {
        return Err(DetectError::SameFile {
            path: output.to_path_buf(),
        });
    }
    let reader: Box<dyn BufRead> = if stdio(input) {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(input).map_err(|source| DetectError::Open {
            path: input.to_path_buf(),
            source,
        })?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    if stdio(output) {
        return detect_csv(reader, io::stdout().lock(), settings);
    }
    crate::atomic_file::write_with(output, |file| {
        let mut writer = BufWriter::new(file);
        let stats = detect_csv(reader, &mut writer, settings)?;
        writer.flush()?;
        Ok(stats)
    })
}

/// Whether `a` and `b` name the same file: the same path once resolved, or
/// (for hard links and bind mounts) the same device and inode.
fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        if a == b {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

enum RowVerdict {
    Missing,
    Unjudged,
    Judged { score: f64, flag: bool },
}

/// The header, understood.
struct Header {
    raw: Vec<u8>,
    names: Vec<String>,
    format: CsvFormat,
    timestamp: usize,
    /// The `value` column (series format).
    value: usize,
    /// (column, index into [`COUNT_COLUMNS`]) for the counts format.
    counts: Vec<(usize, usize)>,
    ignored: Vec<String>,
}

impl Header {
    fn parse(text: &[u8], line: u64) -> Result<Header, DetectError> {
        let mut ranges = Vec::new();
        split_fields(text, &mut ranges);
        let names: Vec<String> = ranges
            .iter()
            .map(|&(a, b)| String::from_utf8_lossy(trim_field(&text[a..b])).to_ascii_lowercase())
            .collect();
        let bad = |message: String| DetectError::Line { line, message };
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(bad(format!("column `{name}` appears twice")));
            }
        }
        let position = |wanted: &str| names.iter().position(|n| n == wanted);
        let timestamp = position("timestamp").ok_or_else(|| {
            bad(format!(
                "no `timestamp` column (header: {})",
                String::from_utf8_lossy(text)
            ))
        })?;
        let value = position("value");
        let counts: Vec<(usize, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(column, name)| {
                COUNT_COLUMNS
                    .iter()
                    .position(|c| c == name)
                    .map(|index| (column, index))
            })
            .collect();
        let format = match (value, counts.is_empty()) {
            (Some(_), true) => CsvFormat::Series,
            (None, false) => CsvFormat::Counts,
            (Some(_), false) => {
                return Err(bad(
                    "both `value` and count columns: use one format per file".into(),
                ))
            }
            (None, true) => {
                return Err(bad(format!(
                    "expected `timestamp,value` or `timestamp` plus count columns ({})",
                    COUNT_COLUMNS.join(", ")
                )))
            }
        };
        let used = |column: usize| {
            column == timestamp || Some(column) == value || counts.iter().any(|&(c, _)| c == column)
        };
        let ignored = (0..names.len())
            .filter(|&c| !used(c))
            .map(|c| names[c].clone())
            .collect();
        Ok(Header {
            raw: text.to_vec(),
            names,
            format,
            timestamp,
            value: value.unwrap_or(0),
            counts,
            ignored,
        })
    }
}

/// The line without its line ending.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A field without surrounding blanks and quotes.
fn trim_field(field: &[u8]) -> &[u8] {
    let field = field.trim_ascii();
    match field {
        [b'"', inner @ .., b'"'] => inner.trim_ascii(),
        _ => field,
    }
}

/// Splits a CSV line into field ranges (commas inside double quotes do not
/// split). Quotes are left in place; [`trim_field`] removes them.
fn split_fields(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut start = 0;
    if !line.contains(&b'"') {
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                out.push((start, i));
                start = i + 1;
            }
        }
    } else {
        let mut quoted = false;
        for (i, &b) in line.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    out.push((start, i));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    out.push((start, line.len()));
}

/// A series value: `None` when empty or `NaN` (missing), an error text when
/// not a finite number.
fn parse_value(text: &[u8]) -> Result<Option<f64>, String> {
    if text.is_empty() || text.eq_ignore_ascii_case(b"nan") {
        return Ok(None);
    }
    let shown = || String::from_utf8_lossy(text).into_owned();
    let parsed = std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("`{}` is not a number", shown()))?;
    if parsed.is_finite() {
        Ok(Some(parsed))
    } else {
        Err(format!("`{}` is not a finite number", shown()))
    }
}

/// A whole, non-negative number of events.
fn parse_count(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after
/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

/// Unix seconds of a timestamp: RFC 3339 (`T` or space, optional fraction,
/// `Z` or an offset), `YYYY-MM-DD HH:MM[:SS]` as UTC, `YYYY-MM-DD`, or unix
/// seconds (fractions truncated toward the past).
pub(crate) fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    // Unix seconds.
    let (sign, unsigned) = match text[0] {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    if !unsigned.is_empty()
        && unsigned[0].is_ascii_digit()
        && (unsigned.len() < 5 || unsigned[4] != b'-')
    {
        let (whole, fraction) = match unsigned.iter().position(|&b| b == b'.') {
            Some(dot) => (&unsigned[..dot], Some(&unsigned[dot + 1..])),
            None => (unsigned, None),
        };
        if whole.is_empty() || whole.len() > 15 || !whole.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut seconds = whole.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        if let Some(fraction) = fraction {
            if fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
                return None;
            }
            if sign < 0 && fraction.iter().any(|&d| d != b'0') {
                seconds += 1;
            }
        }
        return Some(sign * seconds);
    }
    // Calendar forms.
    if text.len() < 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = i64::from(digits(&text[0..4])?);
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(seconds);
    }
    if !matches!(rest[0], b' ' | b'T' | b't') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let hour = digits(&rest[1..3])?;
    let minute = digits(&rest[4..6])?;
    let mut rest = &rest[6..];
    let mut second = 0;
    if let [b':', a, b, tail @ ..] = rest {
        second = digits(&[*a, *b])?;
        rest = tail;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    seconds += i64::from(hour * 3600 + minute * 60 + second);
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &tail[n..];
    }
    match rest {
        [] | [b'Z'] | [b'z'] => Some(seconds),
        [sign @ (b'+' | b'-'), h1, h2, tail @ ..] => {
            let offset_h = digits(&[*h1, *h2])?;
            let offset_m = match tail {
                [b':', m1, m2] | [m1, m2] => digits(&[*m1, *m2])?,
                [] => 0,
                _ => return None,
            };
            if offset_h > 23 || offset_m > 59 {
                return None;
            }
            let offset = i64::from(offset_h * 3600 + offset_m * 60);
            Some(if *sign == b'+' {
                seconds - offset
            } else {
                seconds + offset
            })
        }
        _ => None,
    }
}

/// The output, through one buffer.
struct Output<W: Write> {
    writer: W,
    buffer: Vec<u8>,
}

impl<W: Write> Output<W> {
    const FLUSH_AT: usize = 1 << 16;

    fn new(writer: W) -> Output<W> {
        Output {
            writer,
            buffer: Vec::with_capacity(Self::FLUSH_AT + 4096),
        }
    }

    fn row(&mut self, line: &[u8], score: &str, flag: &str) -> io::Result<()> {
        self.buffer.extend_from_slice(line);
        self.buffer.push(b',');
        self.buffer.extend_from_slice(score.as_bytes());
        self.buffer.push(b',');
        self.buffer.extend_from_slice(flag.as_bytes());
        self.buffer.push(b'\n');
        self.maybe_flush()
    }

    /// `line,score,flag` with the score as `d.dddd`, without formatting
    /// machinery.
    fn row_fast(&mut self, line: &[u8], score: f64, flag: bool) -> io::Result<()> {
        let scaled = (score.clamp(0.0, 1.0) * 10_000.0 + 0.5) as u32;
        let mut text = *b",0.0000,0\n";
        text[1] = b'0' + (scaled / 10_000) as u8;
        let mut fraction = scaled % 10_000;
        for i in (3..7).rev() {
            text[i] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        text[8] = if flag { b'1' } else { b'0' };
        self.buffer.extend_from_slice(line);
        self.buffer.extend_from_slice(&text);
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buffer.len() >= Self::FLUSH_AT {
            self.writer.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.writer.write_all(&self.buffer)?;
        self.buffer.clear();
        self.writer.flush()
    }
}

const WEEK: i64 = 7 * 86_400;

/// The most slots per week the series state keeps (30-second data); finer
/// series fall back to the previous points only.
pub const MAX_SLOTS: i64 = 20_160;
/// The most past weeks a series slot remembers.
pub const MAX_SLOT_WEEKS: usize = 64;
/// How many previous points the fallback baseline uses while a slot has too
/// little history.
pub const FALLBACK_POINTS: usize = 12;
/// How many residuals a floor learns before its baseline judges anything.
pub const MIN_HISTORY: usize = 3;
/// Slots either side whose spreads are pooled with a slot's own.
const NEIGHBOURS: usize = 3;

/// The generic series detector: a robust weekday/time-of-day baseline,
/// updated incrementally.
///
/// - **Slots.** The slot width is the first positive gap between rows; a
///   week is divided into slots of that width (hourly data: 168 slots,
///   5-minute data: 2,016, daily data: 7 weekdays), provided the width
///   divides a week and there are at most [`MAX_SLOTS`]. Each slot keeps a
///   fixed ring of its last `baseline_weeks` values (at most
///   [`MAX_SLOT_WEEKS`]), and, refreshed whenever the slot receives a value,
///   their median and MAD. Irregular or oddly spaced
///   series get no slots.
/// - **Baseline.** With at least `min(2, baseline_weeks)` values in the
///   slot: the slot's median. The spread is the median of the MADs of the
///   slot and its six nearest neighbours (three either side; each slot's MAD
///   around its *own* median, so the daily rhythm does not leak in). Four
///   points cannot estimate a spread, seven slots of four can, and noise
///   that grows with the level (busy afternoons, quiet nights) is still
///   measured locally. The spread is then scaled by a small-sample factor
///   (see `slot_factor`: 2.46 for four weeks), calibrated by simulation so
///   that pure normal noise crosses z = 3 as rarely as the normal tail says
///   (0.27%). Without it, four weeks of history flag noise about ten times
///   too often: deviations from a sample's own median understate the
///   spread, the median itself is uncertain, and a spread estimated from
///   few points has heavy tails.
/// - **Fallback.** While the slot has too little history (the first weeks,
///   or a series without slots): the median and MAD of the previous
///   [`FALLBACK_POINTS`] values (scaled by 2.0, calibrated the same way),
///   once that many have been seen.
/// - **Floor.** A running mean of absolute residuals (×1.2533, the normal
///   factor; residuals clipped at five times the running value after a
///   warm-up, so an incident cannot inflate it), kept separately for slot
///   and fallback baselines; half of it floors the spread, so quantised
///   series whose MADs are zero by coincidence are not flagged for a single
///   step. A row is only judged once its floor has learned from
///   [`MIN_HISTORY`] residuals.
/// - **Score.** The robust z `|value − median| / spread` (both directions:
///   a generic series can break either way), scored like every detector
///   (`1 / (1 + e^-(z - significance))`) and flagged at `z ≥ significance`.
///
/// Each row costs O(K) (a few sorts of four values for K = 4 weeks),
/// however long the history. Missing values are skipped: they enter no ring
/// and move no floor.
#[derive(Clone, Debug)]
pub struct SeriesState {
    weeks: usize,
    first_time: Option<i64>,
    configured: bool,
    slot_seconds: i64,
    /// 0: no weekly slots (yet, or at all).
    slots: usize,
    /// slots × weeks values, each slot a ring.
    ring: Vec<f64>,
    ring_len: Vec<u8>,
    ring_next: Vec<u8>,
    /// Per slot: the median of its ring.
    medians: Vec<f64>,
    /// Per slot: the MAD of its ring around that median.
    mads: Vec<f64>,
    /// Values seen before the slot width was known.
    pending: Vec<(i64, f64)>,
    recent: [f64; FALLBACK_POINTS],
    recent_len: usize,
    recent_next: usize,
    /// Floor of slot baselines.
    slot_floor: ResidualScale,
    /// Floor of fallback baselines (kept apart: the previous points of a
    /// seasonal series miss its rhythm, and their larger residuals must not
    /// blunt the slot baseline later).
    fallback_floor: ResidualScale,
    scratch: Vec<f64>,
}

impl SeriesState {
    /// A fresh state for `settings.baseline_weeks`.
    pub fn new(settings: &DetectorSettings) -> SeriesState {
        let weeks = settings.baseline_weeks.min(MAX_SLOT_WEEKS);
        SeriesState {
            weeks,
            first_time: None,
            configured: false,
            slot_seconds: 0,
            slots: 0,
            ring: Vec::new(),
            ring_len: Vec::new(),
            ring_next: Vec::new(),
            medians: Vec::new(),
            mads: Vec::new(),
            pending: Vec::new(),
            recent: [0.0; FALLBACK_POINTS],
            recent_len: 0,
            recent_next: 0,
            slot_floor: ResidualScale::default(),
            fallback_floor: ResidualScale::default(),
            scratch: vec![0.0; weeks.max(FALLBACK_POINTS).max(2 * NEIGHBOURS + 1)],
        }
    }

    /// Notes a row's time (with or without a value): the first positive gap
    /// fixes the slot width.
    pub fn see_time(&mut self, time: i64) {
        if self.configured {
            return;
        }
        match self.first_time {
            None => self.first_time = Some(time),
            Some(first) if time > first => self.configure(time - first),
            Some(_) => {}
        }
    }

    fn configure(&mut self, gap: i64) {
        self.configured = true;
        let (width, slots) = if gap >= WEEK {
            (WEEK, if gap % WEEK == 0 { 1 } else { 0 })
        } else if WEEK % gap == 0 && WEEK / gap <= MAX_SLOTS {
            (gap, WEEK / gap)
        } else {
            (gap, 0)
        };
        let pending = std::mem::take(&mut self.pending);
        if self.weeks == 0 || slots == 0 {
            return;
        }
        self.slot_seconds = width;
        self.slots = slots as usize;
        self.ring = vec![0.0; self.slots * self.weeks];
        self.ring_len = vec![0; self.slots];
        self.ring_next = vec![0; self.slots];
        self.medians = vec![0.0; self.slots];
        self.mads = vec![0.0; self.slots];
        for (time, value) in pending {
            self.push_slot(self.slot_of(time), value);
        }
    }

    fn slot_of(&self, time: i64) -> usize {
        // The width divides a week, so this is always below `slots`.
        (time.rem_euclid(WEEK) / self.slot_seconds) as usize
    }

    /// Adds `value` to `slot`'s ring and refreshes its median and MAD.
    fn push_slot(&mut self, slot: usize, value: f64) {
        let weeks = self.weeks;
        let from = slot * weeks;
        let next = usize::from(self.ring_next[slot]);
        self.ring[from + next] = value;
        self.ring_next[slot] = ((next + 1) % weeks) as u8;
        if usize::from(self.ring_len[slot]) < weeks {
            self.ring_len[slot] += 1;
        }
        let len = usize::from(self.ring_len[slot]);
        let (median, mad) = match self.ring[from..from + len] {
            // Closed forms for the usual few weeks: no sorting, no branches
            // on the data.
            [a] => (a, 0.0),
            [a, b] => ((a + b) / 2.0, (a - b).abs() / 2.0),
            [a, b, c] => {
                let (a, b, c) = sort3(a, b, c);
                (b, (b - a).min(c - b))
            }
            [a, b, c, d] => {
                // Sorted a ≤ b ≤ c ≤ d, median m = (b + c)/2: the deviations
                // are (c − b)/2 twice, m − a and d − m, so the MAD is the
                // mean of (c − b)/2 and the smaller of the outer two.
                let (a, b, c, d) = sort4(a, b, c, d);
                let median = (b + c) / 2.0;
                (median, ((c - b) / 2.0 + (median - a).min(d - median)) / 2.0)
            }
            _ => {
                let values = &mut self.scratch[..len];
                values.copy_from_slice(&self.ring[from..from + len]);
                median_mad_in_place(values)
            }
        };
        self.medians[slot] = median;
        self.mads[slot] = mad;
    }

    /// The slot's median and spread, if the slot has enough values.
    fn slot_baseline(&mut self, slot: usize) -> Option<(f64, f64)> {
        let min_slot = MIN_BASELINE_POINTS.min(self.weeks).max(1);
        let len = usize::from(self.ring_len[slot]);
        if len < min_slot {
            return None;
        }
        let reach = NEIGHBOURS.min((self.slots - 1) / 2);
        let mut n = 0;
        let mut s = if slot >= reach {
            slot - reach
        } else {
            slot + self.slots - reach
        };
        for _ in 0..=2 * reach {
            if self.ring_len[s] >= 2 {
                self.scratch[n] = self.mads[s];
                n += 1;
            }
            s += 1;
            if s == self.slots {
                s = 0;
            }
        }
        let pooled_mad = match self.scratch[..n] {
            [a, b, c, d, e, f, g] => median7([a, b, c, d, e, f, g]),
            _ => {
                let pooled = &mut self.scratch[..n];
                insertion_sort(pooled);
                middle(pooled)
            }
        };
        Some((
            self.medians[slot],
            slot_factor(len) * MAD_TO_SD * pooled_mad,
        ))
    }

    /// Median and spread of the previous points, once the window is full.
    fn fallback_baseline(&mut self) -> Option<(f64, f64)> {
        if self.recent_len < FALLBACK_POINTS {
            return None;
        }
        let values = &mut self.scratch[..FALLBACK_POINTS];
        values.copy_from_slice(&self.recent);
        let (median, mad) = median_mad_in_place(values);
        Some((median, FALLBACK_FACTOR * MAD_TO_SD * mad))
    }

    /// Judges `value` at `time` against what came before, then learns it.
    /// Returns the robust z (absolute), or `None` while there is too little
    /// history.
    pub fn observe(&mut self, time: i64, value: f64) -> Option<f64> {
        let slot = (self.slots > 0).then(|| self.slot_of(time));
        let from_slot = slot.and_then(|s| self.slot_baseline(s));
        let (baseline, floor) = match from_slot {
            Some(b) => (Some(b), &mut self.slot_floor),
            None => (self.fallback_baseline(), &mut self.fallback_floor),
        };
        let z = baseline.and_then(|(median, spread)| {
            let spread = spread.max(0.5 * floor.value()).max(1e-9 * median.abs());
            let residual = (value - median).abs();
            let ready = floor.count >= MIN_HISTORY as u64;
            // Learn the residual after using the floor, not before.
            floor.learn(residual);
            ready.then(|| {
                if spread > 0.0 {
                    (residual / spread).min(Z_MAX)
                } else if residual == 0.0 {
                    0.0
                } else {
                    Z_MAX
                }
            })
        });
        match slot {
            Some(s) => self.push_slot(s, value),
            None if !self.configured && self.weeks > 0 => self.pending.push((time, value)),
            None => {}
        }
        self.recent[self.recent_next] = value;
        self.recent_next = (self.recent_next + 1) % FALLBACK_POINTS;
        self.recent_len = (self.recent_len + 1).min(FALLBACK_POINTS);
        z
    }
}

/// A running, clipped mean of absolute residuals: the floor under a
/// baseline's own spread. Residuals are clipped at five times the running
/// value after a warm-up, so an incident cannot inflate it; the memory is
/// about a thousand points.
#[derive(Clone, Copy, Debug, Default)]
struct ResidualScale {
    mean: f64,
    count: u64,
}

impl ResidualScale {
    const WARM_UP: u64 = 16;
    const MEMORY: u64 = 1024;

    /// As a standard deviation (mean absolute deviation × √(π/2)).
    fn value(&self) -> f64 {
        1.2533 * self.mean
    }

    fn learn(&mut self, residual: f64) {
        self.count += 1;
        let clipped = if self.count > Self::WARM_UP && self.mean > 0.0 {
            residual.min(5.0 * self.mean)
        } else {
            residual
        };
        let weight = 1.0 / self.count.min(Self::MEMORY) as f64;
        self.mean += weight * (clipped - self.mean);
    }
}

/// The small-sample factor for a slot of `n` values (pooled with its
/// neighbours): how far to widen 1.4826 × the pooled MAD so that normal noise
/// crosses z = 3 in 0.27% of rows, as it would with the true spread
/// (simulated: 300,000 draws per n, seven slots). Odd n are worse than even
/// ones: the middle value's deviation is zero.
fn slot_factor(n: usize) -> f64 {
    const TABLE: [f64; 17] = [
        3.94, 3.94, 3.94, 5.52, 2.46, 2.22, 1.76, 1.70, 1.52, 1.48, 1.38, 1.34, 1.31, 1.29, 1.26,
        1.26, 1.22,
    ];
    TABLE.get(n).copied().unwrap_or(1.0 + 3.5 / n as f64)
}

/// The same factor for the fallback's single window of
/// [`FALLBACK_POINTS`] values.
const FALLBACK_FACTOR: f64 = 2.0;

/// Median and MAD of a short slice (reordered in place).
fn median_mad_in_place(values: &mut [f64]) -> (f64, f64) {
    insertion_sort(values);
    let median = middle(values);
    for v in values.iter_mut() {
        *v = (*v - median).abs();
    }
    insertion_sort(values);
    (median, middle(values))
}

fn minmax(a: f64, b: f64) -> (f64, f64) {
    (a.min(b), a.max(b))
}

fn sort3(a: f64, b: f64, c: f64) -> (f64, f64, f64) {
    let (a, b) = minmax(a, b);
    let (b, c) = minmax(b, c);
    let (a, b) = minmax(a, b);
    (a, b, c)
}

fn sort4(a: f64, b: f64, c: f64, d: f64) -> (f64, f64, f64, f64) {
    let (a, b) = minmax(a, b);
    let (c, d) = minmax(c, d);
    let (a, c) = minmax(a, c);
    let (b, d) = minmax(b, d);
    let (b, c) = minmax(b, c);
    (a, b, c, d)
}

/// The median of seven values by an optimal sorting network (16
/// compare-exchanges, Knuth §5.3.4), branch-free.
fn median7(mut v: [f64; 7]) -> f64 {
    const NETWORK: [(usize, usize); 16] = [
        (0, 6),
        (2, 3),
        (4, 5),
        (0, 2),
        (1, 4),
        (3, 6),
        (0, 1),
        (2, 5),
        (3, 4),
        (1, 2),
        (4, 6),
        (2, 3),
        (4, 5),
        (1, 2),
        (3, 4),
        (5, 6),
    ];
    for (i, j) in NETWORK {
        let (low, high) = minmax(v[i], v[j]);
        v[i] = low;
        v[j] = high;
    }
    v[3]
}

/// Sorts a short slice in place (insertion sort: the slices hold a few
/// weeks or a few slots).
fn insertion_sort(values: &mut [f64]) {
    for i in 1..values.len() {
        let mut j = i;
        while j > 0 && values[j - 1] > values[j] {
            values.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// The median of a sorted, non-empty slice (0 when empty).
fn middle(values: &[f64]) -> f64 {
    let mid = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 0 => (values[mid - 1] + values[mid]) / 2.0,
        _ => values[mid],
    }
}

/// The counts path: a sliding window of samples, judged by [`evaluate`].
struct CountsState {
    window: VecDeque<Sample>,
    stream: StreamKey,
    width: BucketWidth,
    first_time: Option<i64>,
    width_known: bool,
    keep: Duration,
}

impl CountsState {
    fn new(settings: &DetectorSettings) -> CountsState {
        let weeks = settings
            .baseline_weeks
            .min(super::baseline::MAX_BASELINE_WEEKS) as i64;
        CountsState {
            window: VecDeque::new(),
            stream: StreamKey::new("csv"),
            width: BucketWidth::Hour,
            first_time: None,
            width_known: false,
            // The baseline window plus the sparkline's day.
            keep: Duration::days(7 * weeks.max(1) + 1),
        }
    }

    fn see_time(&mut self, time: i64) {
        if self.width_known {
            return;
        }
        match self.first_time {
            None => self.first_time = Some(time),
            Some(first) if time > first => {
                self.width_known = true;
                if (time - first) % 86_400 == 0 {
                    self.width = BucketWidth::Day;
                    for sample in &mut self.window {
                        sample.bucket.width = BucketWidth::Day;
                    }
                }
            }
            Some(_) => {}
        }
    }

    fn observe(
        &mut self,
        time: i64,
        counts: Counts,
        settings: &DetectorSettings,
        stats: &mut DetectStats,
    ) -> RowVerdict {
        let Some(start) = DateTime::<Utc>::from_timestamp(time, 0) else {
            return RowVerdict::Unjudged;
        };
        let oldest = start.checked_sub_signed(self.keep);
        while self
            .window
            .front()
            .is_some_and(|s| oldest.is_some_and(|oldest| s.bucket.start < oldest))
        {
            self.window.pop_front();
        }
        self.window.push_back(Sample {
            stream: self.stream.clone(),
            bucket: Bucket {
                start,
                width: self.width,
                provider_tz: "UTC".into(),
            },
            counts,
        });
        let evaluation = evaluate("csv", &self.stream, self.window.make_contiguous(), settings);
        if evaluation.findings.is_empty() && evaluation.healthy.is_empty() {
            return RowVerdict::Unjudged;
        }
        let mut score = 0.0f64;
        for finding in &evaluation.findings {
            score = score.max(finding.score);
            *stats.findings.entry(finding.key.kind).or_insert(0) += 1;
        }
        RowVerdict::Judged {
            score,
            flag: !evaluation.findings.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, settings: &DetectorSettings) -> Result<(DetectStats, String), DetectError> {
        let mut out = Vec::new();
        let stats = detect_csv(input.as_bytes(), &mut out, settings)?;
        Ok((stats, String::from_utf8_lossy(&out).into_owned()))
    }

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/detect")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// (line number, flag) of every output row, header excluded.
    fn flags(output: &str) -> Vec<(usize, u8)> {
        output
            .lines()
            .enumerate()
            .skip(1)
            .map(|(i, l)| (i + 1, u8::from(l.ends_with(",1"))))
            .collect()
    }

    fn flagged_lines(output: &str) -> Vec<usize> {
        flags(output)
            .into_iter()
            .filter(|&(_, f)| f == 1)
            .map(|(l, _)| l)
            .collect()
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let t = |s: &str| parse_timestamp(s.as_bytes());
        let expected = Some(1_779_109_200); // 2026-05-18T13:00:00Z
        assert_eq!(t("2026-05-18T13:00:00Z"), expected);
        assert_eq!(t("2026-05-18 13:00:00"), expected);
        assert_eq!(t("2026-05-18T13:00:00.250Z"), expected);
        assert_eq!(t("2026-05-18T15:00:00+02:00"), expected);
        assert_eq!(t("2026-05-18T08:00:00-05:00"), expected);
        assert_eq!(t("2026-05-18 13:00"), expected);
        assert_eq!(t("1779109200"), expected);
        assert_eq!(t("1779109200.9"), expected);
        assert_eq!(t("2026-05-18"), Some(1_779_062_400));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2000-02-29 00:00:00"), Some(951_782_400));
        for bad in [
            "",
            "2026-02-30",
            "2026-13-01",
            "2026-05-18 24:00:00",
            "2026-05-18X13:00",
            "12x",
            "2026-05-18T13:00:00+2",
            "yesterday",
            "-",
            "1.",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        // The hand parser agrees with chrono across years and offsets.
        for text in [
            "1999-12-31T23:59:59Z",
            "2024-02-29T12:34:56+05:30",
            "2100-03-01T00:00:00-11:00",
            "1969-07-20T20:17:40Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .map(|d| d.timestamp())
                .ok();
            assert_eq!(t(text), chrono, "{text}");
        }
    }

    #[test]
    fn fields_split_on_commas_outside_quotes() {
        let mut out = Vec::new();
        let line = br#"a,"b,c", d ,"#;
        split_fields(line, &mut out);
        let fields: Vec<&[u8]> = out.iter().map(|&(a, b)| trim_field(&line[a..b])).collect();
        assert_eq!(fields, [&b"a"[..], b"b,c", b"d", b""]);
    }

    #[test]
    fn the_series_format_flags_the_injected_spike_and_nothing_else() {
        let input = fixture("series_hourly_spike.csv");
        let (stats, output) =
            run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.format, CsvFormat::Series);
        assert_eq!(stats.rows, 6 * 168);
        // The fixture's spike sits at line 900, a drop to zero at line 950
        // (see tests/fixtures/detect/generate.py). After the first two
        // weeks, when every slot has two weeks behind it, those are the
        // only flags.
        let after_warm_up: Vec<usize> = flagged_lines(&output)
            .into_iter()
            .filter(|&line| line > 1 + 2 * 168)
            .collect();
        assert_eq!(after_warm_up, [900, 950]);
        // In the first two weeks the baseline is the previous twelve hours,
        // which cannot know the daily rhythm: some morning ramps are flagged
        // there, and nothing else.
        let ramps = flagged_lines(&output).len() - 2;
        assert!(ramps > 0 && ramps as u64 == stats.flagged - 2);
        let header = output.lines().next().unwrap_or_default();
        assert_eq!(header, "timestamp,value,score,flag");
        let spike = output.lines().nth(899).unwrap_or_default();
        assert!(spike.starts_with("2026-05-13 10:00:00,"), "{spike}");
        assert!(spike.ends_with(",1.0000,1"), "{spike}");
    }

    #[test]
    fn extra_columns_pass_through_and_timestamp_forms_mix() {
        // Yahoo S5 style: an extra label column; CRLF, a BOM, a blank line,
        // and every accepted timestamp form in one file.
        let mut input = String::from("\u{feff}Timestamp,Value,is_anomaly\r\n");
        let forms = [
            "2026-05-18T{h}:00:00Z",
            "2026-05-18 {h}:00:00",
            "2026-05-18 {h}:00",
            "2026-05-18T{h}:00:00.000Z",
            "2026-05-18t{h}:00:00z",
        ];
        for hour in 0..16u32 {
            let form = forms[hour as usize % forms.len()];
            let ts = form.replace("{h}", &format!("{hour:02}"));
            let value = if hour == 15 {
                500.0
            } else {
                10.0 + f64::from(hour % 3) / 2.0
            };
            input.push_str(&format!("{ts},{value},{}\r\n", u8::from(hour == 15)));
            if hour == 3 {
                input.push_str("\r\n");
            }
        }
        // Unix seconds and an offset, for the same instants.
        input.push_str("1779120000,10,0\r\n"); // 16:00Z
        input.push_str("2026-05-18T19:00:00+02:00,10.5,0\r\n"); // 17:00Z
        let (stats, output) =
            run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.rows, 18);
        assert_eq!(stats.ignored_columns, ["is_anomaly"]);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], "Timestamp,Value,is_anomaly,score,flag");
        assert_eq!(lines[1], "2026-05-18T00:00:00Z,10,0,0.0000,0");
        // The fallback needs twelve previous points and three learned
        // residuals: rows 16 to 18 are judged, and only the 500 is flagged
        // (line 17: the blank line 6 still counts as a line).
        assert_eq!(stats.judged, 3);
        assert_eq!(stats.flagged, 1);
        assert_eq!(flagged_lines(&output), [17]);
        assert!(
            lines[16].starts_with("2026-05-18T15:00:00Z,500,1,"),
            "{}",
            lines[16]
        );
    }

    #[test]
    fn missing_values_are_not_zero() {
        // A steady series around 100 with two empty cells: a zero there
        // would be flagged, an empty cell is not, and the rows after it are
        // judged as if the gap had not happened.
        let mut input = String::from("timestamp,value\n");
        for i in 0..40 {
            let value = if i == 20 || i == 30 {
                String::new()
            } else if i == 35 {
                "NaN".to_string()
            } else {
                format!("{}", 100 + (i % 3))
            };
            input.push_str(&format!("{},{value}\n", 1_779_062_400 + i * 3600));
        }
        let (stats, output) =
            run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.missing, 3);
        assert_eq!(stats.flagged, 0);
        assert_eq!(output.lines().nth(21), Some("1779134400,,0.0000,0"));
        assert_eq!(output.lines().nth(36), Some("1779188400,NaN,0.0000,0"));
        // The same series with a real zero at row 20 flags it.
        let zeroed = input.replacen("1779134400,\n", "1779134400,0\n", 1);
        let (stats, output) =
            run(&zeroed, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.flagged, 1);
        assert_eq!(flagged_lines(&output), [22]);
    }

    #[test]
    fn the_counts_format_runs_the_stream_detectors() {
        let input = fixture("counts_daily_bounce_spike.csv");
        let (stats, output) =
            run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.format, CsvFormat::Counts);
        assert_eq!(stats.rows, 42);
        // Day 40 (line 41) bounces 7%: a critical hard limit. Day 38 (line
        // 39) is missing entirely and day 36 (line 37) sent nothing at all.
        assert_eq!(flagged_lines(&output), [37, 41]);
        assert_eq!(stats.missing, 1);
        assert_eq!(
            stats.findings,
            BTreeMap::from([(AnomalyKind::HardLimit, 1), (AnomalyKind::VolumeDrop, 1)])
        );
        assert_eq!(
            output.lines().nth(39).map(|l| l.ends_with(",0.0000,0")),
            Some(true)
        );
    }

    #[test]
    fn errors_name_the_line_and_the_column() {
        let input = fixture("counts_malformed.csv");
        let error = run(&input, &DetectorSettings::default())
            .map(|_| ())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("line 17: column `sent`: `12x` is not a whole number")
        );
        let cases = [
            ("timestamp,value\n2026-05-18,abc\n", "line 2: column `value`: `abc` is not a number"),
            ("timestamp,value\n2026-05-18,inf\n", "line 2: column `value`: `inf` is not a finite number"),
            (
                "timestamp,value\n2026-05-18,1\nnever,2\n",
                "line 3: column `timestamp`: `never` is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` or unix seconds)",
            ),
            (
                "timestamp,value\n2026-05-18,1\n2026-05-17,2\n",
                "line 3: column `timestamp`: `2026-05-17` is earlier than the row before: rows must be in time order",
            ),
            ("timestamp,value\n2026-05-18,1,2\n", "line 2: expected 2 fields, found 3"),
            ("time,value\n", "line 1: no `timestamp` column (header: time,value)"),
            ("timestamp,value,sent\n", "line 1: both `value` and count columns: use one format per file"),
            ("", "line 1: no header: expected `timestamp,value` or `timestamp` and count columns"),
            (
                "timestamp,sent\n2026-05-18,-4\n",
                "line 2: column `sent`: `-4` is not a whole number",
            ),
        ];
        for (input, expected) in cases {
            let error = run(input, &DetectorSettings::default())
                .map(|_| ())
                .err()
                .map(|e| e.to_string());
            assert_eq!(error.as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn series_state_uses_weekly_slots_once_it_has_them() {
        let settings = DetectorSettings::default();
        let mut state = SeriesState::new(&settings);
        // Hourly data: busy at 13:00, quiet at 03:00, every day.
        let level = |t: i64| if (t / 3600) % 24 == 13 { 1_000.0 } else { 10.0 };
        let start = 1_779_062_400; // a Monday, 00:00 UTC
        let mut last = None;
        for h in 0..(24 * 7 * 3) {
            let t = start + h * 3600;
            state.see_time(t);
            last = state.observe(t, level(t) + (h % 5) as f64);
        }
        assert!(last.is_some());
        assert_eq!(state.slots, 168);
        // 13:00 at 1,000 is usual for the slot; at 10 it is not.
        let t = start + 24 * 7 * 3 * 3600 + 13 * 3600;
        state.see_time(t);
        let mut probe = state.clone();
        assert!(probe.observe(t, 1_002.0).unwrap_or(f64::NAN) < 3.0);
        assert!(state.observe(t, 10.0).unwrap_or(0.0) >= 3.0);
    }

    #[test]
    fn odd_spacing_falls_back_to_previous_points() {
        let settings = DetectorSettings::default();
        let mut state = SeriesState::new(&settings);
        // 1-second steps (Yahoo A1 style indices): no weekly slots.
        for t in 1..=30 {
            state.see_time(t);
            state.observe(t, 5.0 + (t % 2) as f64);
        }
        assert_eq!(state.slots, 0);
        state.see_time(31);
        assert!(state.observe(31, 50.0).unwrap_or(0.0) >= 3.0);
    }

    #[test]
    fn small_medians_match_sorting() {
        // Every 0/1 input sorts correctly (the 0-1 principle), and random
        // inputs agree with the general path.
        for bits in 0u32..128 {
            let v: [f64; 7] = std::array::from_fn(|i| f64::from((bits >> i) & 1));
            let mut sorted = v;
            sorted.sort_by(f64::total_cmp);
            assert_eq!(median7(v), sorted[3], "{v:?}");
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as f64 / 10.0
        };
        for _ in 0..2000 {
            let v: [f64; 7] = std::array::from_fn(|_| next());
            let mut sorted = v;
            assert_eq!(median7(v), median_mad_in_place(&mut sorted).0);
            for len in 1..=4 {
                let values: Vec<f64> = (0..len).map(|_| next()).collect();
                let mut general = values.clone();
                let expected = median_mad_in_place(&mut general);
                let mut state = SeriesState::new(&DetectorSettings::default());
                state.configure(3600);
                for &value in &values {
                    state.push_slot(5, value);
                }
                let got = (state.medians[5], state.mads[5]);
                assert!(
                    (got.0 - expected.0).abs() < 1e-9 && (got.1 - expected.1).abs() < 1e-9,
                    "{values:?}: {got:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn score_text_is_fixed_width() {
        let mut out = Output::new(Vec::new());
        for (score, flag) in [(0.0, false), (0.04742, false), (0.5, true), (1.0, true)] {
            out.row_fast(b"x", score, flag)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            String::from_utf8_lossy(&out.buffer),
            "x,0.0000,0\nx,0.0474,0\nx,0.5000,1\nx,1.0000,1\n"
        );
    }
}
