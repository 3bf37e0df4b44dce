//! Offline detection: the detectors over a CSV file, row by row.
//!
//! `mailcall detect` reads a CSV, judges each row against the rows before
//! it, and writes every input row back with two more columns: `score`
//! (0–1) and `flag` (0/1). Two shapes of input are understood, told apart
//! by the header:
//!
//! - **Counts** (a timestamp plus columns named like [`Counts`] fields:
//!   `sent`, `delivered`, `bounce_hard`, …): each row is a bucket of one
//!   stream and goes through [`evaluate`], exactly as the poller's samples
//!   do. The score is the highest finding's score; the flag marks the onset
//!   of a finding: a row is flagged when it has a finding whose alert key
//!   was not already found on that stream's previous judged row (as the bot
//!   posts an alert once and edits it while it lasts).
//! - **Series** (`timestamp,value`, plus any other columns, passed
//!   through): a generic series, scored by the causal detector in
//!   [`super::series`] (level + daily profile, quantile-normalised,
//!   onset-only), so it can be measured against public labelled benchmarks
//!   (NAB, Yahoo S5 style files).
//!
//! The timestamp column is `timestamp`, or `bucket_start` as
//! `mailcall metrics --csv` writes it, so that output can be fed back
//! directly. When the header has `account` and/or `stream` columns, each
//! (account, stream) is judged on its own, whether its rows are grouped or
//! interleaved with other streams' rows; in the counts format a `width`
//! column (`Hour`, `Day`, `Week`, `Month`) gives the bucket width.
//!
//! Rows are judged in file order. A row whose timestamp is not after the
//! previous row of its stream (a repeated DST hour, a re-exported bucket,
//! a file in the wrong order) is judged like any other; it is counted in
//! [`DetectStats::unordered`] and the first one is named in
//! [`DetectStats::unordered_warning`].
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
//! parsed by hand (no allocation, no chrono on the hot path), the detector
//! does O(1) work per row on fixed-size state, and the stream of a row is
//! looked up only when it differs from the row before's. Output goes through
//! one buffer; the usual zero score is written without the formatting
//! machinery.
//!
//! The counts path runs the full stream detectors on every row, over a
//! sliding window of `baseline_weeks` weeks: O(window) per row, thousands of
//! rows a second, which is plenty for one stream's history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use super::detectors::{evaluate, DetectorSettings};
use super::finding::AlertKey;
use super::series::{self, SeriesDetector};
use super::AnomalyKind;
use crate::delivery::{Bucket, BucketWidth, Counts, Sample, StreamKey};

/// Which shape the input had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CsvFormat {
    /// `timestamp,value`: a generic series.
    #[default]
    Series,
    /// A timestamp plus count columns: streams' buckets.
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
    /// Streams judged separately: distinct (account, stream) cells, 1
    /// without such columns (0 for a file without rows).
    pub streams: u64,
    /// Rows whose timestamp was not after the previous row of the same
    /// stream (duplicates or out of order). They are judged all the same,
    /// in file order.
    pub unordered: u64,
    /// The first such row: its line number and timestamp as written.
    pub first_unordered: Option<(u64, String)>,
    /// Findings by kind (counts input only).
    pub findings: BTreeMap<AnomalyKind, u64>,
    /// Header columns that were neither the timestamp, a stream key nor an
    /// input the detectors read; they are passed through untouched. A typo
    /// in a count column name shows up here.
    pub ignored_columns: Vec<String>,
    /// Rows whose counts cannot all be right together (more delivered,
    /// bounced, blocked or dropped than sent). They are judged as given:
    /// providers count events by the time they happened, so a late bounce
    /// can outnumber a quiet hour's sends; a file full of them has its
    /// columns mixed up.
    pub doubtful: u64,
    /// The first [`MAX_DOUBTFUL_SHOWN`] of them: line, column, why.
    pub first_doubtful: Vec<(u64, String, String)>,
}

impl DetectStats {
    /// The one warning about duplicate or out-of-order timestamps, if there
    /// were any: it names the first such line.
    /// One line per doubtful row shown, then how many more there were.
    pub fn doubtful_warnings(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .first_doubtful
            .iter()
            .map(|(line, column, why)| {
                format!("line {line}, column `{column}`: {why}; judged as given")
            })
            .collect();
        let shown = self.first_doubtful.len() as u64;
        if self.doubtful > shown {
            lines.push(format!(
                "{} more rows with counts that cannot all be right",
                self.doubtful - shown
            ));
        }
        lines
    }

    pub fn unordered_warning(&self) -> Option<String> {
        self.first_unordered.as_ref().map(|(line, timestamp)| {
            let more = match self.unordered {
                0 | 1 => String::new(),
                n => format!(" ({n} such rows)"),
            };
            format!(
                "line {line}: timestamp {timestamp} is not after the row before{}; rows are judged in file order{more}",
                if self.streams > 1 { " of its stream" } else { "" }
            )
        })
    }
}

/// Why a CSV could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{}", crate::os_error::reason(.0))]
    Io(io::Error),
    #[error("cannot read {}: {}", path.display(), crate::os_error::reason(error))]
    Open { path: PathBuf, error: io::Error },
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

impl From<io::Error> for DetectError {
    fn from(error: io::Error) -> DetectError {
        DetectError::Io(error)
    }
}

/// How many doubtful rows are named one by one.
pub const MAX_DOUBTFUL_SHOWN: usize = 5;

/// Timestamps outside these years are refused: a millisecond timestamp
/// read as seconds lands tens of centuries ahead.
const YEARS: std::ops::RangeInclusive<i64> = 1900..=2199;

/// Counts that can never exceed `sent` in a row that has both, by index
/// into [`Counts::FIELDS`]: delivered, bounce_hard, bounce_soft, blocked,
/// dropped.
const AT_MOST_SENT: [usize; 5] = [2, 3, 4, 5, 7];

/// The names the timestamp column may have, by preference: `bucket_start`
/// is what `mailcall metrics --csv` writes.
const TIMESTAMP_COLUMNS: [&str; 2] = ["timestamp", "bucket_start"];

/// Reads CSV (either `timestamp,value` or a timestamp plus count columns
/// named like [`Counts`] fields), runs the detectors row by row (each row
/// judged against the rows before it of its stream) and writes each input
/// row plus `score,flag` (score 0–1 with four decimals, flag 0/1).
///
/// Timestamps (column `timestamp`, or `bucket_start`): RFC 3339
/// (`2026-11-18T13:00:00Z`, any offset), `YYYY-MM-DD HH:MM:SS` (UTC),
/// `YYYY-MM-DD`, or unix seconds. Rows are judged in file order; a
/// timestamp that is not after the row before is counted in the stats, not
/// refused. Series input: see [`super::series`]. Counts input: the rows are
/// buckets judged by [`evaluate`] with `settings`; the bucket width is the
/// `width` column's, else hourly unless the stream's first gap between rows
/// is a whole number of days. `settings` only matter to counts input.
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
    let mut series: Streams<SeriesDetector> = Streams::default();
    let mut counts_streams: Streams<CountsState> = Streams::default();
    let mut key = Vec::new();
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
        if let Some(year) = year_outside_range(ts) {
            return Err(DetectError::Field {
                line: number,
                column: header.names[header.timestamp].clone(),
                message: format!(
                    "`{}` is in the year {year}: timestamps must fall in {}–{} (milliseconds? give seconds)",
                    String::from_utf8_lossy(ts_text),
                    YEARS.start(),
                    YEARS.end()
                ),
            });
        }
        // The stream's key: the account and stream cells (nothing for a
        // file of one series).
        key.clear();
        for column in [header.account, header.stream].into_iter().flatten() {
            key.extend_from_slice(field(column));
            key.push(0);
        }
        stats.rows += 1;
        let check_order = |last_time: &mut Option<i64>, stats: &mut DetectStats| {
            if last_time.is_some_and(|last| ts <= last) {
                stats.unordered += 1;
                if stats.first_unordered.is_none() {
                    stats.first_unordered =
                        Some((number, String::from_utf8_lossy(ts_text).into_owned()));
                }
            }
            *last_time = Some(ts);
        };
        let verdict = match header.format {
            CsvFormat::Series => {
                let value =
                    parse_value(field(header.value)).map_err(|message| DetectError::Field {
                        line: number,
                        column: header.names[header.value].clone(),
                        message,
                    })?;
                let stream = series.get(&key, SeriesDetector::new);
                check_order(&mut stream.last_time, &mut stats);
                match value {
                    None => RowVerdict::Missing,
                    Some(value) => match stream.state.update(value, Some(ts)) {
                        None => RowVerdict::Unjudged,
                        Some(score) => RowVerdict::Judged {
                            score,
                            flag: series::flagged(score),
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
                    *counts.field_mut(index) = Some(value);
                    any = true;
                }
                note_doubtful(&mut counts, &header, number, &mut stats);
                let width = match header.width {
                    Some(column) if !field(column).is_empty() => {
                        let text = field(column);
                        Some(parse_width(text).ok_or_else(|| DetectError::Field {
                            line: number,
                            column: header.names[column].clone(),
                            message: format!(
                                "`{}` is not a bucket width (Hour, Day, Week or Month)",
                                String::from_utf8_lossy(text)
                            ),
                        })?)
                    }
                    _ => None,
                };
                let account = header.account.map(field);
                let stream_name = header.stream.map(field);
                let stream = counts_streams.get(&key, || {
                    let text = |cell: Option<&[u8]>, default: &str| {
                        cell.map(|c| String::from_utf8_lossy(c).into_owned())
                            .unwrap_or_else(|| default.to_string())
                    };
                    CountsState::new(
                        settings,
                        text(account, "csv"),
                        StreamKey::new(text(stream_name, "csv")),
                    )
                });
                check_order(&mut stream.last_time, &mut stats);
                stream.state.see_time(ts, width);
                if any {
                    stream.state.observe(ts, counts, settings, &mut stats)
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
    stats.streams = (series.states.len() + counts_streams.states.len()) as u64;
    out.finish()?;
    Ok(stats)
}

/// One stream's state and the time of its previous row.
struct Stream<T> {
    state: T,
    last_time: Option<i64>,
}

/// The streams of a file, by key (the account and stream cells). The
/// stream of the row before is kept at hand, so a file of one series, or of
/// streams in groups, is not hashed row by row.
struct Streams<T> {
    states: Vec<Stream<T>>,
    index: HashMap<Vec<u8>, usize>,
    last: Option<usize>,
    last_key: Vec<u8>,
}

impl<T> Default for Streams<T> {
    fn default() -> Self {
        Streams {
            states: Vec::new(),
            index: HashMap::new(),
            last: None,
            last_key: Vec::new(),
        }
    }
}

impl<T> Streams<T> {
    /// The stream of `key`, made by `make` if new.
    fn get(&mut self, key: &[u8], make: impl FnOnce() -> T) -> &mut Stream<T> {
        let i = match self.last {
            // Empty keys (a file of one series) are told equal without
            // `memcmp`: its masked load from an empty `Vec`'s dangling
            // pointer takes a microcode assist on every row (measured: a
            // quarter of `detect`'s time).
            Some(i) if (key.is_empty() && self.last_key.is_empty()) || self.last_key == key => i,
            _ => {
                let i = match self.index.get(key) {
                    Some(&i) => i,
                    None => {
                        self.states.push(Stream {
                            state: make(),
                            last_time: None,
                        });
                        let i = self.states.len() - 1;
                        self.index.insert(key.to_vec(), i);
                        i
                    }
                };
                self.last = Some(i);
                self.last_key.clear();
                self.last_key.extend_from_slice(key);
                i
            }
        };
        &mut self.states[i]
    }
}

/// A bucket width as `mailcall metrics --csv` writes it (any case).
fn parse_width(text: &[u8]) -> Option<BucketWidth> {
    [
        ("hour", BucketWidth::Hour),
        ("day", BucketWidth::Day),
        ("week", BucketWidth::Week),
        ("month", BucketWidth::Month),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name.as_bytes()))
    .map(|(_, width)| width)
}

/// [`detect_csv`] between files; `-` reads standard input or writes
/// standard output. For `mailcall detect --input <input> [--output
/// <output>]`. A file output is written completely or not at all: to a
/// temporary file renamed into place once every row is written.
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
        Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock()))
    } else {
        let open = |error| DetectError::Open {
            path: input.to_path_buf(),
            error,
        };
        // Opening a directory succeeds on Linux; only reading it fails.
        if input.is_dir() {
            return Err(open(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        let file = File::open(input).map_err(open)?;
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

/// The year of `ts` (unix seconds) when it is outside [`YEARS`].
fn year_outside_range(ts: i64) -> Option<i64> {
    use chrono::Datelike;
    let year = chrono::DateTime::from_timestamp(ts, 0)
        .map(|at| i64::from(at.year()))
        .unwrap_or(if ts < 0 { i64::MIN } else { i64::MAX });
    (!YEARS.contains(&year)).then_some(year)
}

/// Counts one doubtful row (and names it, while few are named): a count
/// that cannot exceed `sent` does.
fn note_doubtful(counts: &mut Counts, header: &Header, line: u64, stats: &mut DetectStats) {
    let Some(sent) = *counts.field_mut(1) else {
        return;
    };
    for index in AT_MOST_SENT {
        let Some(value) = *counts.field_mut(index) else {
            continue;
        };
        if value <= sent {
            continue;
        }
        stats.doubtful += 1;
        if stats.first_doubtful.len() < MAX_DOUBTFUL_SHOWN {
            let column = header
                .counts
                .iter()
                .find(|(_, i)| *i == index)
                .map(|(column, _)| header.names[*column].clone())
                .unwrap_or_else(|| Counts::FIELDS[index].to_owned());
            stats.first_doubtful.push((
                line,
                column,
                format!("{} {value} is more than sent {sent}", Counts::FIELDS[index]),
            ));
        }
        return;
    }
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
    /// (column, index into [`Counts::FIELDS`]) for the counts format.
    counts: Vec<(usize, usize)>,
    /// The stream key columns, if any.
    account: Option<usize>,
    stream: Option<usize>,
    /// The `width` column (counts format).
    width: Option<usize>,
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
        let timestamp = TIMESTAMP_COLUMNS
            .iter()
            .find_map(|name| position(name))
            .ok_or_else(|| {
                bad(format!(
                    "no `timestamp` (or `bucket_start`) column (header: {})",
                    String::from_utf8_lossy(text)
                ))
            })?;
        let value = position("value");
        let counts: Vec<(usize, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(column, name)| {
                Counts::FIELDS
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
                    Counts::FIELDS.join(", ")
                )))
            }
        };
        let account = position("account");
        let stream = position("stream");
        let width = match format {
            CsvFormat::Counts => position("width"),
            CsvFormat::Series => None,
        };
        let used = |column: usize| {
            column == timestamp
                || Some(column) == value
                || Some(column) == account
                || Some(column) == stream
                || Some(column) == width
                || counts.iter().any(|&(c, _)| c == column)
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
            account,
            stream,
            width,
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
    out.push((start, line.len()));
}

/// A series value: `None` when empty or `NaN` (missing), an error text when
/// not a finite number.
fn parse_value(text: &[u8]) -> Result<Option<f64>, String> {
    if text.is_empty() || text.eq_ignore_ascii_case(b"nan") {
        return Ok(None);
    }
    if let Some(value) = parse_plain_decimal(text) {
        return Ok(Some(value));
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

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The common case of [`parse_value`] without the general parser: a plain
/// decimal (`-12.5`, `1800`, `.25`) of at most 15 digits is `m / 10^k` with
/// both `m` and `10^k` exact in an `f64`, so one division gives the
/// correctly rounded value, the one `str::parse` gives (Clinger's fast
/// path). Anything else (exponents, more digits, junk) is `None`, left to
/// the general parser.
fn parse_plain_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0;
    let mut decimals: Option<usize> = None;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                count += 1;
                if count > 15 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if let Some(d) = decimals.as_mut() {
                    *d += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN[decimals.unwrap_or(0)];
    Some(if negative { -value } else { value })
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

    /// `line,score,flag` with the score as `d.dddd` (correctly rounded, as
    /// Python's `%.4f` does, so the output can be compared with the
    /// prototype's). A zero score, the usual one, is written without the
    /// formatting machinery.
    fn row_fast(&mut self, line: &[u8], score: f64, flag: bool) -> io::Result<()> {
        self.buffer.extend_from_slice(line);
        // NaN is written as 0.
        let score = if score > 0.0 { score.min(1.0) } else { 0.0 };
        if score == 0.0 {
            self.buffer
                .extend_from_slice(if flag { b",0.0000,1\n" } else { b",0.0000,0\n" });
        } else {
            writeln!(self.buffer, ",{score:.4},{}", u8::from(flag))?;
        }
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

/// The counts path for one stream: a sliding window of samples, judged by
/// [`evaluate`].
struct CountsState {
    window: VecDeque<Sample>,
    account: String,
    stream: StreamKey,
    width: BucketWidth,
    first_time: Option<i64>,
    width_known: bool,
    /// The newest bucket start seen (rows may come out of order).
    newest: Option<i64>,
    keep: Duration,
    /// The alert keys found on the previous judged row: a finding already
    /// there is an ongoing anomaly, not a new flag.
    previous: Vec<AlertKey>,
}

impl CountsState {
    fn new(settings: &DetectorSettings, account: String, stream: StreamKey) -> CountsState {
        let weeks = settings
            .baseline_weeks
            .min(super::baseline::MAX_BASELINE_WEEKS) as i64;
        CountsState {
            window: VecDeque::new(),
            account,
            stream,
            width: BucketWidth::Hour,
            first_time: None,
            width_known: false,
            newest: None,
            // The baseline window plus the sparkline's day.
            keep: Duration::days(7 * weeks.max(1) + 1),
            previous: Vec::new(),
        }
    }

    /// Notes a row's time (with or without counts) and its `width` cell:
    /// the width given, else the first positive gap decides (whole days:
    /// daily buckets, else hourly).
    fn see_time(&mut self, time: i64, width: Option<BucketWidth>) {
        if let Some(width) = width {
            self.width_known = true;
            self.width = width;
            return;
        }
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
        let newest = self.newest.map_or(time, |n| n.max(time));
        self.newest = Some(newest);
        if let Some(oldest) = DateTime::<Utc>::from_timestamp(newest, 0)
            .and_then(|newest| newest.checked_sub_signed(self.keep))
        {
            while self.window.front().is_some_and(|s| s.bucket.start < oldest) {
                self.window.pop_front();
            }
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
        // `evaluate` judges the newest bucket. A row older than the newest
        // seen is judged against the rows before it that are not later than
        // it (rare: a file out of order).
        let evaluation = if time < newest {
            let earlier: Vec<Sample> = self
                .window
                .iter()
                .filter(|s| s.bucket.start <= start)
                .cloned()
                .collect();
            evaluate(&self.account, &self.stream, &earlier, settings)
        } else {
            evaluate(
                &self.account,
                &self.stream,
                self.window.make_contiguous(),
                settings,
            )
        };
        if evaluation.findings.is_empty() && evaluation.healthy.is_empty() {
            return RowVerdict::Unjudged;
        }
        let mut score = 0.0f64;
        let mut onset = false;
        let mut keys = Vec::with_capacity(evaluation.findings.len());
        for finding in evaluation.findings {
            score = score.max(finding.score);
            *stats.findings.entry(finding.key.kind).or_insert(0) += 1;
            onset |= !self.previous.contains(&finding.key);
            keys.push(finding.key);
        }
        self.previous = keys;
        RowVerdict::Judged { score, flag: onset }
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
    fn the_series_format_flags_the_injected_spike_and_drop() {
        let input = fixture("series_hourly_spike.csv");
        let (stats, output) =
            run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.format, CsvFormat::Series);
        assert_eq!(stats.rows, 6 * 168);
        // The fixture's spike sits at line 900, a drop to zero at line 950
        // (see tests/fixtures/detect/generate.py). The spike is flagged.
        // The drop is not: 50 rows after a spike the onset rule's bar is
        // still above it (the prototype scores it 0 too). Weekday
        // seasonality is not modelled, so the first quiet weekend morning
        // (line 131, Saturday 09:00) is flagged once; later weekends are
        // not. The prototype flags exactly these two lines.
        assert_eq!(flagged_lines(&output), [131, 900]);
        let header = output.lines().next().unwrap_or_default();
        assert_eq!(header, "timestamp,value,score,flag");
        let spike = output.lines().nth(899).unwrap_or_default();
        assert!(spike.starts_with("2026-05-13 10:00:00,"), "{spike}");
        assert!(spike.ends_with(",1"), "{spike}");
        assert!(
            !spike.ends_with(",1.0000,1"),
            "scores do not saturate: {spike}"
        );
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
        // 18 rows are all within the detector's warm-up of 50 values:
        // learned, not judged (the blank line 6 still counts as a line, so
        // the 500 is line 17 and the 17th output line).
        assert_eq!(stats.judged, 0);
        assert_eq!(stats.flagged, 0);
        assert_eq!(stats.unordered, 0);
        assert!(
            lines[16].starts_with("2026-05-18T15:00:00Z,500,1,0.0000,0"),
            "{}",
            lines[16]
        );
    }

    #[test]
    fn missing_values_are_not_zero() {
        // A steady series around 100 with three empty cells after the
        // warm-up: a zero there would be flagged, an empty cell is not, and
        // the rows after it are judged as if the gap had not happened.
        let mut input = String::from("timestamp,value\n");
        for i in 0..100 {
            let value = if i == 60 || i == 70 {
                String::new()
            } else if i == 85 {
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
        // 97 values, the first 50 only teach.
        assert_eq!(stats.judged, 47);
        assert_eq!(output.lines().nth(61), Some("1779278400,,0.0000,0"));
        assert_eq!(output.lines().nth(86), Some("1779368400,NaN,0.0000,0"));
        // The same series with a real zero at row 60 flags it.
        let zeroed = input.replacen("1779278400,\n", "1779278400,0\n", 1);
        let (stats, output) =
            run(&zeroed, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.flagged, 1);
        assert_eq!(flagged_lines(&output), [62]);
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
            ("timestamp,value\n2026-05-18,1,2\n", "line 2: expected 2 fields, found 3"),
            ("time,value\n", "line 1: no `timestamp` (or `bucket_start`) column (header: time,value)"),
            ("timestamp,value,sent\n", "line 1: both `value` and count columns: use one format per file"),
            ("", "line 1: no header: expected `timestamp,value` or `timestamp` and count columns"),
            (
                "timestamp,sent\n2026-05-18,-4\n",
                "line 2: column `sent`: `-4` is not a whole number",
            ),
            (
                "stream,bucket_start,width,sent\na,2026-05-18,Fortnight,4\n",
                "line 2: column `width`: `Fortnight` is not a bucket width (Hour, Day, Week or Month)",
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
    fn the_prototype_output_is_reproduced() {
        // tests/fixtures/detect/series_prototype_expected4.csv is
        // scripts/nab/prototype.py's output for series_prototype.csv (see
        // generate.py), duplicate and out-of-order timestamps and missing
        // cells included.
        let (stats, output) = run(
            &fixture("series_prototype.csv"),
            &DetectorSettings::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let expected = fixture("series_prototype_expected4.csv");
        for (line, (got, want)) in output.lines().zip(expected.lines()).enumerate() {
            assert_eq!(got, want, "line {}", line + 1);
        }
        assert_eq!(output.lines().count(), expected.lines().count());
        assert_eq!(stats.missing, 3);
        assert_eq!(stats.unordered, 2);
        assert_eq!(
            stats.first_unordered,
            Some((302, "2026-04-09 02:45:00".to_string()))
        );
        assert_eq!(
            stats.unordered_warning().as_deref(),
            Some("line 302: timestamp 2026-04-09 02:45:00 is not after the row before; rows are judged in file order (2 such rows)")
        );
    }

    /// 2026-05-18 00:00 UTC, a Monday.
    const START: i64 = 1_779_062_400;

    /// A `timestamp,value` CSV of `days` days, a row every `step` seconds,
    /// row `i` at time `t` holding `value(i, t)`.
    fn series_csv(days: i64, step: i64, value: impl Fn(i64, i64) -> f64) -> String {
        use std::fmt::Write as _;
        let mut csv = String::from("timestamp,value\n");
        for i in 0..days * 86_400 / step {
            let t = START + i * step;
            let _ = writeln!(csv, "{t},{:.4}", value(i, t));
        }
        csv
    }

    /// A daily sine between 50 and 150.
    fn sine(t: i64) -> f64 {
        let day = (t % 86_400) as f64 / 86_400.0;
        100.0 + 50.0 * (day * std::f64::consts::TAU).sin()
    }

    /// Deterministic noise in [-1, 1) for row `i`.
    fn noise(i: i64) -> f64 {
        let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 32;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    #[test]
    fn a_clean_daily_sine_is_never_flagged() {
        for days in [3, 14] {
            for step in [3600, 300] {
                let (stats, output) = run(
                    &series_csv(days, step, |_, t| sine(t)),
                    &DetectorSettings::default(),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                assert!(stats.judged > 0);
                assert_eq!(
                    flagged_lines(&output),
                    [0usize; 0],
                    "{days} days, a row every {step} s"
                );
            }
        }
    }

    fn score_at(output: &str, line: usize) -> f64 {
        output
            .lines()
            .nth(line - 1)
            .and_then(|l| l.rsplit(',').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn a_spike_after_two_weeks_is_flagged_once_at_its_row() {
        // 5-minute data: two weeks of a noisy daily sine, then a spike.
        let per_day = 288;
        let spike = 14 * per_day + 100;
        let csv = series_csv(15, 300, |i, t| {
            let v = sine(t) + 2.0 * noise(i);
            if i == spike {
                v * 3.0
            } else {
                v
            }
        });
        let (stats, output) =
            run(&csv, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(flagged_lines(&output), [spike as usize + 2]);
        assert_eq!(stats.flagged, 1);
    }

    #[test]
    fn a_level_shift_is_flagged_at_its_onset_not_on_every_row() {
        // Two weeks of a noisy daily sine, then a day 100 higher.
        let per_day = 288;
        let shift = 14 * per_day + 50;
        let csv = series_csv(16, 300, |i, t| {
            let v = sine(t) + 2.0 * noise(i);
            if (shift..shift + per_day).contains(&i) {
                v + 100.0
            } else {
                v
            }
        });
        let (_, output) = run(&csv, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        let line = |row: i64| row as usize + 2;
        let flagged = flagged_lines(&output);
        assert!(flagged.iter().all(|&l| l >= line(shift)), "{flagged:?}");
        let in_shift: Vec<usize> = flagged
            .iter()
            .copied()
            .filter(|&l| l < line(shift + per_day))
            .collect();
        assert_eq!(in_shift.first(), Some(&line(shift)), "{flagged:?}");
        assert!(
            in_shift.len() <= 3,
            "{in_shift:?} of {per_day} shifted rows"
        );
    }

    #[test]
    fn a_stronger_anomaly_scores_higher() {
        let per_day = 288;
        // Another time of day for the second: the first inflates its own
        // slot's spread for the next days.
        let weak = 14 * per_day + 100;
        let strong = 15 * per_day + 200;
        let csv = series_csv(16, 300, |i, t| {
            let v = sine(t) + 2.0 * noise(i);
            match i {
                _ if i == weak => v + 25.0,
                _ if i == strong => v + 60.0,
                _ => v,
            }
        });
        let (_, output) = run(&csv, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        let (weak, strong) = (
            score_at(&output, weak as usize + 2),
            score_at(&output, strong as usize + 2),
        );
        assert!(
            weak > 0.0 && strong > weak && strong < 1.0,
            "{weak} {strong}"
        );
    }

    #[test]
    fn duplicate_and_earlier_timestamps_are_judged_in_file_order() {
        // Local time with a repeated hour (the end of summer time), then a
        // row from the past.
        let mut csv = series_csv(3, 3600, |i, t| sine(t) + noise(i));
        csv.push_str("2026-05-21 00:00:00,100\n2026-05-21 01:00:00,110\n2026-05-21 01:00:00,111\n2026-05-21 02:00:00,120\n2026-05-20 02:00:00,60\n");
        let (stats, output) =
            run(&csv, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.rows, 77);
        assert_eq!(output.lines().count(), 78);
        assert_eq!(stats.unordered, 2);
        assert_eq!(
            stats.unordered_warning().as_deref(),
            Some("line 76: timestamp 2026-05-21 01:00:00 is not after the row before; rows are judged in file order (2 such rows)")
        );
    }

    /// `mailcall metrics --csv` columns for one bucket.
    fn metrics_row(account: &str, stream: &str, t: i64, sent: u64, bounce_hard: u64) -> String {
        let start = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let delivered = sent - bounce_hard;
        format!(
            "{account},{stream},{},Hour,UTC,,{sent},{delivered},{bounce_hard},0,0,0,0,{},,{},0,0",
            start.to_rfc3339(),
            delivered / 4,
            delivered / 40
        )
    }

    const METRICS_HEADER: &str = "account,stream,bucket_start,width,provider_tz,requested,sent,delivered,bounce_hard,bounce_soft,blocked,deferred,dropped,opens_unique,opens_machine,clicks_unique,complaints,unsubscribes";

    #[test]
    fn metrics_csv_streams_are_judged_apart_and_flagged_at_onset() {
        // Two streams of hourly buckets over 15 days; `b` bounces 10% for
        // three hours on the last day.
        let hours = 15 * 24;
        let bad = hours - 10..hours - 7;
        let row = |stream: &str, h: i64| {
            let sent = 2_000 + (h % 24) as u64 * 50;
            let bounces = if stream == "tag:b" && bad.contains(&h) {
                sent / 10
            } else {
                sent / 500
            };
            metrics_row("esp", stream, START + h * 3600, sent, bounces)
        };
        let mut grouped = vec![METRICS_HEADER.to_string()];
        let mut interleaved = vec![METRICS_HEADER.to_string()];
        for stream in ["tag:a", "tag:b"] {
            grouped.extend((0..hours).map(|h| row(stream, h)));
        }
        for h in 0..hours {
            interleaved.extend(["tag:a", "tag:b"].map(|stream| row(stream, h)));
        }
        let scored = |lines: &[String]| {
            let input = lines.join("\n") + "\n";
            let (stats, output) =
                run(&input, &DetectorSettings::default()).unwrap_or_else(|e| panic!("{e}"));
            let mut rows: Vec<String> = output.lines().skip(1).map(String::from).collect();
            rows.sort();
            (stats, rows)
        };
        let (stats, rows) = scored(&grouped);
        assert_eq!(stats.format, CsvFormat::Counts);
        assert_eq!(stats.streams, 2);
        assert_eq!(stats.unordered, 0, "each stream's own order counts");
        assert_eq!(stats.ignored_columns, ["provider_tz"]);
        let flagged: Vec<&String> = rows.iter().filter(|r| r.ends_with(",1")).collect();
        let onset = row("tag:b", bad.start);
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert!(flagged[0].starts_with(&onset), "{flagged:?}");
        // The two following hours still have the finding (scored), but are
        // not new.
        assert!(
            stats.findings.values().sum::<u64>() >= 3,
            "{:?}",
            stats.findings
        );
        let next = row("tag:b", bad.start + 1);
        let next = rows
            .iter()
            .find(|r| r.starts_with(&next))
            .cloned()
            .unwrap_or_default();
        assert!(
            next.ends_with(",0") && !next.ends_with(",0.0000,0"),
            "{next}"
        );
        // Interleaved rows are judged exactly as grouped ones.
        let (stats_interleaved, rows_interleaved) = scored(&interleaved);
        assert_eq!(rows_interleaved, rows);
        assert_eq!(stats_interleaved.streams, 2);
        assert_eq!(stats_interleaved.unordered, 0);
    }

    #[test]
    fn series_with_stream_columns_are_judged_apart() {
        let alone = |phase: i64| series_csv(4, 900, |i, t| sine(t + phase) + noise(i));
        let a = alone(0);
        let b = alone(6 * 3600);
        let mut mixed = String::from("account,stream,timestamp,value\n");
        for (ra, rb) in a.lines().skip(1).zip(b.lines().skip(1)) {
            mixed.push_str(&format!("x,a,{ra}\nx,b,{rb}\n"));
        }
        let settings = DetectorSettings::default();
        let (stats, output) = run(&mixed, &settings).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.streams, 2);
        assert_eq!(stats.unordered, 0);
        let (_, out_a) = run(&a, &settings).unwrap_or_else(|e| panic!("{e}"));
        let (_, out_b) = run(&b, &settings).unwrap_or_else(|e| panic!("{e}"));
        let expected: Vec<String> = out_a
            .lines()
            .skip(1)
            .zip(out_b.lines().skip(1))
            .flat_map(|(ra, rb)| [format!("x,a,{ra}"), format!("x,b,{rb}")])
            .collect();
        let got: Vec<&str> = output.lines().skip(1).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn plain_decimals_parse_to_the_standard_parsers_value() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1.",
            ".5",
            "+3.25",
            "123456789012345",
            "0.1",
            "0.3",
            "-99.999",
            "1e5",
            "1234567890123456",
            "0.000000000000001",
            ".",
            "-",
            "1.2.3",
            "12a",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 1_000_000_000_000_000) as f64;
            let decimals = (state >> 50) as usize % 16;
            texts.push(format!(
                "{:.*}",
                decimals,
                digits / 10f64.powi(decimals as i32)
            ));
        }
        for text in &texts {
            let fast = parse_plain_decimal(text.as_bytes());
            let standard = text.parse::<f64>().ok();
            if let Some(value) = fast {
                assert_eq!(Some(value.to_bits()), standard.map(f64::to_bits), "{text}");
            }
        }
        assert_eq!(parse_plain_decimal(b"1e5"), None);
        assert_eq!(parse_plain_decimal(b"1234567890123456"), None);
        assert_eq!(parse_plain_decimal(b"12a"), None);
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
