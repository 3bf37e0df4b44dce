//! The weekly summary's chart: each ESP account's daily bounce and complaint
//! rates against the hard limits, and its daily volume, as one PNG posted
//! beside the summary.
//!
//! The summary's text gives the week's figures; the chart puts them beside
//! the hard limits, so a reader sees at a glance which account came near a
//! limit, on which day, and on how much mail. It is laid out to stay
//! readable at Discord's preview size (about 550 px wide): three stacked
//! panels (bounce rate, complaint rate, messages sent per day) sharing a day
//! axis, large text, one colour per account named in the legend, and each
//! limit a dashed red line labelled `limit`.
//!
//! A day without data is a gap in the account's line (and no bar), never a
//! 0: a missing poll must not look like a clean day. A chart with no data at
//! all (no accounts, no days, nothing but gaps) is still drawn, with a "no
//! data" caption, so the summary always has a chart to post.
//!
//! Drawn with plotters into an in-memory RGB bitmap and PNG-encoded with the
//! `png` crate (plotters can only save a bitmap to a file path). Text is set
//! in DejaVu Sans, shipped in `assets/fonts` (licence beside it) and
//! embedded in the binary, never a system font: the chart renders the same,
//! pixel for pixel, on every machine, including a container without fonts.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What the chart shows: one line per account and rate, one volume bar
/// group per day. Days without data are `None` (drawn as a gap, never as 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ChartData {
    /// The title drawn above the plots, such as `Week 2026-W47`.
    pub title: String,
    /// The days on the x axis, oldest first (usually the 7 days of the week).
    pub days: Vec<NaiveDate>,
    pub accounts: Vec<AccountSeries>,
    /// The bounce rate's hard limit (a fraction, 0.05 = 5%), drawn as a line.
    pub bounce_limit: Option<f64>,
    /// The complaint rate's hard limit (a fraction), drawn as a line.
    pub complaint_limit: Option<f64>,
}

/// One account's daily figures, aligned with [`ChartData::days`].
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSeries {
    pub name: String,
    /// Bounce rate per day (a fraction).
    pub bounce: Vec<Option<f64>>,
    /// Complaint rate per day (a fraction).
    pub complaint: Vec<Option<f64>>,
    /// Messages sent per day.
    pub volume: Vec<Option<u64>>,
}

/// Width and height of the chart in pixels.
pub const SIZE: (u32, u32) = (1200, 800);

/// Why the chart could not be rendered. None of these depends on the data:
/// each is a defect of the build or of a library.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The embedded font is not one the text renderer can read.
    #[error("The chart's bundled font (DejaVu Sans) could not be loaded.")]
    Font,
    /// plotters failed to draw into the bitmap.
    #[error("The chart could not be drawn: {source}.")]
    Draw {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The bitmap could not be encoded as PNG.
    #[error("The chart could not be encoded as PNG: {source}.")]
    Encode {
        #[source]
        source: png::EncodingError,
    },
}

/// DejaVu Sans, registered with plotters as the `sans-serif` family.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

// Text sizes in pixels at 1200 px wide (Discord's preview halves them).
const TITLE_PX: f64 = 40.0;
const LEGEND_PX: f64 = 26.0;
const CAPTION_PX: f64 = 28.0;
const LABEL_PX: f64 = 24.0;
const NO_DATA_PX: f64 = 30.0;

/// Height of the band holding the title and the legend; the three panels
/// share the rest equally.
const HEADER_HEIGHT: u32 = 104;
const TITLE_TOP: i32 = 8;
const LEGEND_CENTRE_Y: i32 = 78;
const PANEL_HEIGHT: u32 = (SIZE.1 - HEADER_HEIGHT) / 3;

const LINE_WIDTH: u32 = 4;
const MARKER_RADIUS: i32 = 6;
const LIMIT_WIDTH: u32 = 3;
/// At most this many day labels; longer ranges label every k-th day.
const MAX_DAY_LABELS: usize = 10;
/// Account names longer than this are shortened in the legend.
const MAX_LEGEND_NAME: usize = 24;

/// Account colours, cycled (Okabe–Ito and ColorBrewer hues, readable on
/// white and apart from the limits' red).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(117, 112, 179),
    RGBColor(140, 86, 45),
    RGBColor(90, 90, 90),
];
const LIMIT_COLOUR: RGBColor = RGBColor(215, 25, 28);
const GRID_COLOUR: RGBColor = RGBColor(218, 218, 218);
const TEXT_COLOUR: RGBColor = RGBColor(0, 0, 0);
const NO_DATA_COLOUR: RGBColor = RGBColor(120, 120, 120);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Renders `data` as a PNG of [`SIZE`].
pub fn render(data: &ChartData) -> Result<Vec<u8>, ChartError> {
    register_bundled_font()?;
    let (width, height) = SIZE;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, data)?;
        root.present().map_err(draw_error)?;
    }
    encode_png(&pixels)
}

/// Registers [`FONT`] once per process. A font that fails to parse will
/// fail again, so the outcome is kept, not retried.
fn register_bundled_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

fn draw_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> ChartError {
    ChartError::Draw {
        source: Box::new(error),
    }
}

fn encode_png(pixels: &[u8]) -> Result<Vec<u8>, ChartError> {
    let encode_error = |source| ChartError::Encode { source };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

fn draw(root: &Area<'_>, data: &ChartData) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(draw_error)?;
    let (header, body) = root.split_vertically(HEADER_HEIGHT);
    let (top, rest) = body.split_vertically(PANEL_HEIGHT);
    let (middle, bottom) = rest.split_vertically(PANEL_HEIGHT);

    let has_limit = [data.bounce_limit, data.complaint_limit]
        .iter()
        .any(|limit| valid_limit(*limit).is_some());
    draw_header(&header, data, has_limit)?;

    let days = &data.days;
    let percent = |values: &[Option<f64>]| -> Vec<Option<f64>> {
        values.iter().map(|v| v.map(|v| v * 100.0)).collect()
    };
    let bounce: Vec<_> = data
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (colour(i), percent(&a.bounce)))
        .collect();
    let complaint: Vec<_> = data
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (colour(i), percent(&a.complaint)))
        .collect();
    let volume: Vec<_> = data
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let values = a.volume.iter().map(|v| v.map(|v| v as f64)).collect();
            (colour(i), values)
        })
        .collect();

    draw_rate_panel(
        &top,
        "Bounce rate (%)",
        days,
        &bounce,
        valid_limit(data.bounce_limit).map(|l| l * 100.0),
    )?;
    draw_rate_panel(
        &middle,
        "Complaint rate (%)",
        days,
        &complaint,
        valid_limit(data.complaint_limit).map(|l| l * 100.0),
    )?;
    draw_volume_panel(&bottom, "Messages sent per day", days, &volume)
}

fn colour(account: usize) -> RGBColor {
    PALETTE[account % PALETTE.len()]
}

fn valid_limit(limit: Option<f64>) -> Option<f64> {
    limit.filter(|l| l.is_finite() && *l >= 0.0)
}

/// The value of day `i`, or `None` for a missing day, a series shorter than
/// the days, or a value that is not a number.
fn value_at(values: &[Option<f64>], i: usize) -> Option<f64> {
    values.get(i).copied().flatten().filter(|v| v.is_finite())
}

/// The runs of consecutive days with a value, as (day index, value) points:
/// the line is broken at every missing day.
fn segments(values: &[Option<f64>], days: usize) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for i in 0..days {
        match value_at(values, i) {
            Some(v) => run.push((i as f64, v)),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The largest value shown, or `None` when every day is missing.
fn max_value(series: &[(RGBColor, Vec<Option<f64>>)], days: usize) -> Option<f64> {
    series
        .iter()
        .flat_map(|(_, values)| (0..days).filter_map(|i| value_at(values, i)))
        .reduce(f64::max)
}

/// The top of a y axis starting at 0: 15% headroom over `highest`, at least
/// `floor`, and `empty_span` when there is nothing above 0 to show.
fn y_top(highest: f64, empty_span: f64, floor: f64) -> f64 {
    if highest > 0.0 {
        (highest * 1.15).max(floor)
    } else {
        empty_span
    }
}

/// The x axis: day `i` at `i`, from -0.5 to `days` - 0.5, with a tick
/// (and label) on every day, or on every k-th day when there are many.
/// (plotters' `with_key_points` would do, but leaves an f64 axis without a
/// label formatter, which the mesh requires.)
struct DayAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl DayAxis {
    fn new(days: usize) -> DayAxis {
        let step = days.div_ceil(MAX_DAY_LABELS).max(1);
        DayAxis {
            inner: (-0.5..days.max(1) as f64 - 0.5).into(),
            ticks: (0..days).step_by(step).map(|i| i as f64).collect(),
        }
    }
}

impl Ranged for DayAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// `Mon 17` for a tick on a day, nothing elsewhere.
fn day_label(days: &[NaiveDate], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 0.01 || i < 0.0 {
        return String::new();
    }
    days.get(i as usize)
        .map(|day| day.format("%a %-d").to_string())
        .unwrap_or_default()
}

/// A number without trailing zeros (`0.05`, `2.5`, `10`).
fn plain_number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// A message count for an axis: `850`, `12k`, `1.5M`.
fn count_label(value: f64) -> String {
    let short = |v: f64| plain_number((v * 100.0).round() / 100.0);
    if value.abs() >= 1_000_000.0 {
        format!("{}M", short(value / 1_000_000.0))
    } else if value.abs() >= 1_000.0 {
        format!("{}k", short(value / 1_000.0))
    } else {
        plain_number(value.round())
    }
}

fn shorten(name: &str) -> String {
    if name.chars().count() > MAX_LEGEND_NAME {
        let mut short: String = name.chars().take(MAX_LEGEND_NAME - 1).collect();
        short.push('…');
        short
    } else {
        name.to_string()
    }
}

/// The title, and under it the legend: one entry per account (its line
/// colour and name), then the limit line, centred; entries that do not fit
/// on the row are counted as `+N more`.
fn draw_header(header: &Area<'_>, data: &ChartData, has_limit: bool) -> Result<(), ChartError> {
    let width = SIZE.0 as i32;
    let title_style = (FAMILY, TITLE_PX)
        .into_font()
        .color(&TEXT_COLOUR)
        .pos(Pos::new(HPos::Center, VPos::Top));
    header
        .draw(&Text::new(
            data.title.clone(),
            (width / 2, TITLE_TOP),
            title_style,
        ))
        .map_err(draw_error)?;

    enum Swatch {
        Account(RGBColor),
        Limit,
        Plain,
    }
    const SWATCH_WIDTH: i32 = 40;
    const SWATCH_GAP: i32 = 10;
    const ENTRY_GAP: i32 = 34;
    let text_style = (FAMILY, LEGEND_PX)
        .into_font()
        .color(&TEXT_COLOUR)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let text_width = |text: &str| -> Result<i32, ChartError> {
        let (w, _) = header
            .estimate_text_size(text, &text_style)
            .map_err(draw_error)?;
        // Capped at the chart's width, so sums of widths cannot overflow.
        Ok(w.min(SIZE.0) as i32)
    };
    let entry_width = |swatch: &Swatch, text: &str| -> Result<i32, ChartError> {
        let swatch = match swatch {
            Swatch::Plain => 0,
            _ => SWATCH_WIDTH + SWATCH_GAP,
        };
        Ok(swatch + text_width(text)? + ENTRY_GAP)
    };

    // As many accounts as fit on the row beside "+N more" and the limit.
    let mut accounts = Vec::with_capacity(data.accounts.len());
    for (i, account) in data.accounts.iter().enumerate() {
        let swatch = Swatch::Account(colour(i));
        let name = shorten(&account.name);
        let width = entry_width(&swatch, &name)?;
        accounts.push((swatch, name, width));
    }
    let mut tail = Vec::new();
    if has_limit {
        let width = entry_width(&Swatch::Limit, "limit")?;
        tail.push((Swatch::Limit, "limit".to_string(), width));
    }
    let available = SIZE.0 as i32 - 40 + ENTRY_GAP;
    let row_width = |entries: &[(Swatch, String, i32)]| -> i32 {
        entries.iter().map(|(_, _, width)| width).sum()
    };
    let tail_width = row_width(&tail);
    let mut more = None;
    while !accounts.is_empty()
        && row_width(&accounts) + more.as_ref().map_or(0, |(_, _, w)| *w) + tail_width > available
    {
        accounts.pop();
        let text = format!("+{} more", data.accounts.len() - accounts.len());
        let width = entry_width(&Swatch::Plain, &text)?;
        more = Some((Swatch::Plain, text, width));
    }
    let mut entries = accounts;
    entries.extend(more);
    entries.extend(tail);

    let y = LEGEND_CENTRE_Y;
    let mut x = (width - (row_width(&entries) - ENTRY_GAP)).max(0) / 2;
    for (swatch, text, entry_width) in entries {
        let mut text_x = x + SWATCH_WIDTH + SWATCH_GAP;
        match swatch {
            Swatch::Account(colour) => {
                header
                    .draw(&PathElement::new(
                        vec![(x, y), (x + SWATCH_WIDTH, y)],
                        colour.stroke_width(LINE_WIDTH),
                    ))
                    .map_err(draw_error)?;
                header
                    .draw(&Circle::new(
                        (x + SWATCH_WIDTH / 2, y),
                        MARKER_RADIUS,
                        colour.filled(),
                    ))
                    .map_err(draw_error)?;
            }
            Swatch::Limit => {
                for dash in 0..3 {
                    let start = x + dash * 15;
                    header
                        .draw(&PathElement::new(
                            vec![(start, y), (start + 10, y)],
                            LIMIT_COLOUR.stroke_width(LIMIT_WIDTH),
                        ))
                        .map_err(draw_error)?;
                }
            }
            Swatch::Plain => text_x = x,
        }
        header
            .draw(&Text::new(text, (text_x, y), text_style.clone()))
            .map_err(draw_error)?;
        x += entry_width;
    }
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<DayAxis, RangedCoordf64>>;

/// A panel's caption, axes and grid over `days` and 0..`y_top`.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    days: &[NaiveDate],
    y_top: f64,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, 'b>, ChartError> {
    let mut chart = ChartBuilder::on(area)
        .caption(
            caption,
            (FAMILY, CAPTION_PX).into_font().color(&TEXT_COLOUR),
        )
        .margin_top(4)
        .margin_left(12)
        .margin_right(36)
        .x_label_area_size(38)
        .y_label_area_size(104)
        .build_cartesian_2d(DayAxis::new(days.len()), 0.0..y_top)
        .map_err(draw_error)?;
    let x_label = |x: &f64| day_label(days, *x);
    chart
        .configure_mesh()
        .x_labels(days.len().max(1))
        .y_labels(5)
        .x_label_formatter(&x_label)
        .y_label_formatter(y_label)
        .label_style((FAMILY, LABEL_PX).into_font().color(&TEXT_COLOUR))
        .bold_line_style(GRID_COLOUR.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(TEXT_COLOUR.stroke_width(1))
        .draw()
        .map_err(draw_error)?;
    Ok(chart)
}

fn draw_no_data(chart: &Chart<'_, '_>, days: usize, y_top: f64) -> Result<(), ChartError> {
    let style = (FAMILY, NO_DATA_PX)
        .into_font()
        .color(&NO_DATA_COLOUR)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let centre_x = (days.max(1) - 1) as f64 / 2.0;
    chart
        .plotting_area()
        .draw(&Text::new("no data", (centre_x, y_top / 2.0), style))
        .map_err(draw_error)
}

/// A rate panel (values and limit in percent): the limit as a dashed red
/// line labelled `limit N%`, under one line per account with a marker on
/// each day that has a value.
fn draw_rate_panel(
    area: &Area<'_>,
    caption: &str,
    days: &[NaiveDate],
    series: &[(RGBColor, Vec<Option<f64>>)],
    limit: Option<f64>,
) -> Result<(), ChartError> {
    let n = days.len();
    let highest = max_value(series, n);
    let top = y_top(highest.unwrap_or(0.0).max(limit.unwrap_or(0.0)), 1.0, 0.01);
    let y_label = |y: &f64| plain_number(*y);
    let mut chart = panel(area, caption, days, top, &y_label)?;
    let right = n.max(1) as f64 - 0.5;

    if let Some(limit) = limit {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, limit), (right, limit)],
                14,
                8,
                LIMIT_COLOUR.stroke_width(LIMIT_WIDTH),
            ))
            .map_err(draw_error)?;
    }
    for (colour, values) in series {
        for run in segments(values, n) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    run.clone(),
                    colour.stroke_width(LINE_WIDTH),
                )))
                .map_err(draw_error)?;
            chart
                .draw_series(
                    run.iter()
                        .map(|&point| Circle::new(point, MARKER_RADIUS, colour.filled())),
                )
                .map_err(draw_error)?;
        }
    }
    if let Some(limit) = limit {
        let style = (FAMILY, LABEL_PX)
            .into_font()
            .color(&LIMIT_COLOUR)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        let label = format!("limit {}%", plain_number(limit));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((right, limit)) + Text::new(label, (-6, -6), style),
            ))
            .map_err(draw_error)?;
    }
    if highest.is_none() {
        draw_no_data(&chart, n, top)?;
    }
    Ok(())
}

/// The volume panel: per day, one bar per account side by side.
fn draw_volume_panel(
    area: &Area<'_>,
    caption: &str,
    days: &[NaiveDate],
    series: &[(RGBColor, Vec<Option<f64>>)],
) -> Result<(), ChartError> {
    let n = days.len();
    let highest = max_value(series, n);
    let top = y_top(highest.unwrap_or(0.0), 10.0, 10.0);
    let y_label = |y: &f64| count_label(*y);
    let mut chart = panel(area, caption, days, top, &y_label)?;

    let group = 0.8;
    let bar = group / series.len().max(1) as f64;
    for (j, (colour, values)) in series.iter().enumerate() {
        let bars = (0..n).filter_map(|i| {
            let value = value_at(values, i)?;
            let left = i as f64 - group / 2.0 + j as f64 * bar;
            Some(Rectangle::new(
                [(left + bar * 0.05, 0.0), (left + bar * 0.95, value)],
                colour.filled(),
            ))
        });
        chart.draw_series(bars).map_err(draw_error)?;
    }
    if highest.is_none() {
        draw_no_data(&chart, n, top)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("valid test date")
    }

    fn week() -> Vec<NaiveDate> {
        (16..=22).map(day).collect()
    }

    fn account(name: &str, bounce: Vec<Option<f64>>) -> AccountSeries {
        let n = bounce.len();
        AccountSeries {
            name: name.to_string(),
            bounce,
            complaint: vec![Some(0.0004); n],
            volume: vec![Some(12_000); n],
        }
    }

    fn sample() -> ChartData {
        ChartData {
            title: "Week 2026-W47".to_string(),
            days: week(),
            accounts: vec![
                AccountSeries {
                    name: "newsletter (SendGrid)".to_string(),
                    bounce: [0.012, 0.015, 0.011, 0.032, 0.061, 0.024, 0.013]
                        .map(Some)
                        .to_vec(),
                    complaint: [0.0002, 0.0003, 0.0002, 0.0006, 0.0012, 0.0004, 0.0002]
                        .map(Some)
                        .to_vec(),
                    volume: [48_000, 51_000, 47_500, 62_000, 58_000, 12_000, 9_000]
                        .map(Some)
                        .to_vec(),
                },
                AccountSeries {
                    name: "transactional (Mailgun)".to_string(),
                    bounce: vec![
                        Some(0.004),
                        Some(0.005),
                        None,
                        None,
                        Some(0.006),
                        Some(0.004),
                        Some(0.005),
                    ],
                    complaint: vec![
                        Some(0.0),
                        Some(0.0001),
                        None,
                        None,
                        Some(0.0001),
                        Some(0.0),
                        Some(0.0),
                    ],
                    volume: vec![
                        Some(21_000),
                        Some(22_500),
                        None,
                        None,
                        Some(20_000),
                        Some(8_000),
                        Some(7_500),
                    ],
                },
                AccountSeries {
                    name: "marketing-eu".to_string(),
                    bounce: [0.021, 0.019, 0.025, 0.028, 0.03, 0.022, 0.02]
                        .map(Some)
                        .to_vec(),
                    complaint: [0.0007, 0.0009, 0.0008, 0.0011, 0.0009, 0.0006, 0.0005]
                        .map(Some)
                        .to_vec(),
                    volume: [30_000, 0, 28_000, 31_000, 29_000, 0, 0].map(Some).to_vec(),
                },
            ],
            bounce_limit: Some(0.05),
            complaint_limit: Some(0.001),
        }
    }

    /// The decoded image: width, height and one RGB triple per pixel, row
    /// by row.
    struct Image {
        width: u32,
        height: u32,
        pixels: Vec<[u8; 3]>,
    }

    impl Image {
        fn at(&self, x: u32, y: u32) -> [u8; 3] {
            self.pixels[(y * self.width + x) as usize]
        }

        /// How many pixels of exactly `colour` rows `rows` hold.
        fn count(&self, colour: RGBColor, rows: std::ops::Range<u32>) -> usize {
            let want = [colour.0, colour.1, colour.2];
            rows.map(|y| (0..self.width).filter(|&x| self.at(x, y) == want).count())
                .sum()
        }
    }

    fn decode(png_bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).expect("a PNG frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buffer.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            pixels: buffer.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        }
    }

    fn render_image(data: &ChartData) -> Image {
        decode(&render(data).expect("the chart renders"))
    }

    fn luminance_variance(image: &Image) -> f64 {
        let values: Vec<f64> = image
            .pixels
            .iter()
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
    }

    /// The rows of the bounce panel (the top one).
    fn bounce_rows() -> std::ops::Range<u32> {
        HEADER_HEIGHT..HEADER_HEIGHT + PANEL_HEIGHT
    }

    /// The first row of the bounce panel's limit line: the first row with a
    /// long run of the limit's colour.
    fn limit_row(image: &Image) -> u32 {
        bounce_rows()
            .find(|&y| image.count(LIMIT_COLOUR, y..y + 1) > 300)
            .expect("a limit line in the bounce panel")
    }

    #[test]
    fn png_has_the_declared_size() {
        let image = render_image(&sample());
        assert_eq!((image.width, image.height), SIZE);
        assert_eq!(image.pixels.len(), (SIZE.0 * SIZE.1) as usize);
    }

    #[test]
    fn chart_is_not_blank() {
        let image = render_image(&sample());
        let variance = luminance_variance(&image);
        assert!(variance > 500.0, "luminance variance {variance}");
        // Every account's colour is on the chart (lines, markers, bars, legend).
        for (i, _) in sample().accounts.iter().enumerate() {
            assert!(image.count(colour(i), 0..SIZE.1) > 500, "account {i}");
        }
    }

    #[test]
    fn different_data_give_different_images() {
        let first = sample();
        let mut second = sample();
        second.accounts[0].bounce[2] = Some(0.04);
        let a = render(&first).expect("renders");
        let b = render(&second).expect("renders");
        assert_ne!(decode(&a).pixels, decode(&b).pixels);
        // And the same data give the same image.
        assert_eq!(a, render(&first).expect("renders"));
    }

    #[test]
    fn all_missing_values_render() {
        let mut data = sample();
        for account in &mut data.accounts {
            account.bounce = vec![None; 7];
            account.complaint = vec![None; 7];
            account.volume = vec![None; 7];
        }
        let image = render_image(&data);
        assert_eq!((image.width, image.height), SIZE);
        assert!(luminance_variance(&image) > 100.0);
        // No line, marker or bar: the colours appear only in the legend.
        assert_eq!(image.count(colour(0), HEADER_HEIGHT..SIZE.1), 0);
    }

    #[test]
    fn no_accounts_and_no_days_render() {
        for data in [
            ChartData {
                title: "Week 2026-W47".to_string(),
                days: Vec::new(),
                accounts: Vec::new(),
                bounce_limit: None,
                complaint_limit: None,
            },
            ChartData {
                accounts: Vec::new(),
                ..sample()
            },
            ChartData {
                days: Vec::new(),
                ..sample()
            },
        ] {
            let image = render_image(&data);
            assert_eq!((image.width, image.height), SIZE);
            assert!(luminance_variance(&image) > 100.0);
        }
    }

    #[test]
    fn bounce_above_the_limit_is_drawn_above_the_limit_line() {
        let mut data = sample();
        data.accounts = vec![account(
            "a",
            [0.02, 0.03, 0.08, 0.02, 0.02, 0.02, 0.02]
                .map(Some)
                .to_vec(),
        )];
        let image = render_image(&data);
        let limit = limit_row(&image);
        assert!(
            image.count(colour(0), HEADER_HEIGHT..limit) > 50,
            "the 8% day is above the 5% line at row {limit}"
        );
    }

    #[test]
    fn bounce_below_the_limit_stays_below_the_limit_line() {
        let mut data = sample();
        data.accounts = vec![account(
            "a",
            [0.02, 0.03, 0.045, 0.02, 0.02, 0.02, 0.02]
                .map(Some)
                .to_vec(),
        )];
        let image = render_image(&data);
        let limit = limit_row(&image);
        assert_eq!(image.count(colour(0), HEADER_HEIGHT..limit), 0);
        assert!(image.count(colour(0), limit..HEADER_HEIGHT + PANEL_HEIGHT) > 50);
    }

    #[test]
    fn a_missing_day_is_a_gap_not_a_zero() {
        let lower_half = HEADER_HEIGHT + PANEL_HEIGHT / 2..HEADER_HEIGHT + PANEL_HEIGHT;
        let with = |middle: Option<f64>| {
            let mut data = sample();
            data.bounce_limit = None;
            data.accounts = vec![account(
                "a",
                vec![
                    Some(0.03),
                    Some(0.03),
                    Some(0.03),
                    middle,
                    Some(0.03),
                    Some(0.03),
                    Some(0.03),
                ],
            )];
            render_image(&data)
        };
        // A 0 pulls the line down to the axis...
        assert!(with(Some(0.0)).count(colour(0), lower_half.clone()) > 50);
        // ...a missing day does not.
        assert_eq!(with(None).count(colour(0), lower_half), 0);
    }

    #[test]
    fn errors_are_sentences() {
        let errors = [
            ChartError::Font,
            ChartError::Draw {
                source: "backend failed".into(),
            },
        ];
        for error in errors {
            let text = error.to_string();
            assert!(text.starts_with(char::is_uppercase), "{text}");
            assert!(text.ends_with('.'), "{text}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(day_label(&week(), 0.0), "Mon 16");
        assert_eq!(day_label(&week(), 6.0), "Sun 22");
        assert_eq!(day_label(&week(), 0.5), "");
        assert_eq!(day_label(&week(), 7.0), "");
        assert_eq!(plain_number(0.05), "0.05");
        assert_eq!(plain_number(5.0), "5");
        assert_eq!(plain_number(0.1 + 0.2), "0.3");
        assert_eq!(count_label(850.0), "850");
        assert_eq!(count_label(12_000.0), "12k");
        assert_eq!(count_label(1_500_000.0), "1.5M");
    }

    /// `MAILCALL_CHART_SAMPLE=/tmp/chart-sample.png cargo test --lib
    /// summary::chart` writes the sample chart there, to look at.
    #[test]
    fn write_sample_when_asked() {
        if let Some(path) = std::env::var_os("MAILCALL_CHART_SAMPLE") {
            let bytes = render(&sample()).expect("renders");
            std::fs::write(path, bytes).expect("sample written");
        }
    }
}
