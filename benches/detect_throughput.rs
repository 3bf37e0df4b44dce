//! Offline detection throughput: `detect_csv` over ten million points.
//!
//! Run with `cargo bench --bench detect_throughput`. Generates a
//! 10,000,000-row `timestamp,value` CSV in memory (5-minute points, so 2,016
//! weekday/time-of-day slots; a weekly rhythm with noise and a spike every
//! ~50,000 points), runs `detect_csv` on one thread, and prints points per
//! second and wall time, with `YYYY-MM-DD HH:MM:SS` timestamps (the NAB
//! layout) and with unix seconds, three runs each. The output goes to a
//! sink that only counts bytes, so the figure is parsing, judging and
//! formatting, not disk.
//!
//! Goal: ≥ 5 M points/s on one core. Nothing is asserted: timings depend on
//! the machine; the figures are for reading.

use std::io::{self, Write};
use std::time::Instant;

use mailcall::detect::{detect_csv, DetectorSettings};

const ROWS: u64 = 10_000_000;
/// Runs per timestamp form: the machine is shared, so the best of three is
/// reported beside every run.
const RUNS: u32 = 3;
const STEP: i64 = 300;
/// 2014-04-07 00:00:00 UTC, a Monday.
const START: i64 = 1_396_828_800;

/// A writer that counts and discards.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn generate(calendar: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(ROWS as usize * 28 + 32);
    out.extend_from_slice(b"timestamp,value\n");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..ROWS {
        let t = START + i as i64 * STEP;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let minute_of_week = (t - START).rem_euclid(7 * 86_400) / 60;
        let hour = (minute_of_week % 1_440) as f64 / 60.0;
        let weekend = minute_of_week >= 5 * 1_440;
        let mut value = 100.0 + 900.0 * (-((hour - 14.0) / 4.0).powi(2)).exp();
        if weekend {
            value *= 0.4;
        }
        value *= 1.0 + 0.05 * noise;
        if i % 50_000 == 49_999 {
            value *= 3.0;
        }
        if calendar {
            let (y, mo, d) = civil(t.div_euclid(86_400));
            let s = t.rem_euclid(86_400);
            let _ = writeln!(
                out,
                "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02},{value:.3}",
                s / 3600,
                s / 60 % 60,
                s % 60
            );
        } else {
            let _ = writeln!(out, "{t},{value:.3}");
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = DetectorSettings::default();
    for (label, calendar) in [("YYYY-MM-DD HH:MM:SS", true), ("unix seconds", false)] {
        let started = Instant::now();
        let input = generate(calendar);
        let generated = started.elapsed();
        println!(
            "detect_csv, {label} timestamps, one thread: {ROWS} points, {:.1} MB (generated in {:.2} s)",
            input.len() as f64 / 1e6,
            generated.as_secs_f64()
        );
        let mut best = f64::INFINITY;
        for run in 1..=RUNS {
            let mut sink = Counting(0);
            let started = Instant::now();
            let stats = detect_csv(&input[..], &mut sink, &settings)?;
            let wall = started.elapsed().as_secs_f64();
            best = best.min(wall);
            println!(
                "  run {run}: wall {wall:.3} s, {:.2} M points/s, {:.0} MB/s in, {:.1} MB out; {} judged, {} flagged",
                stats.rows as f64 / wall / 1e6,
                input.len() as f64 / 1e6 / wall,
                sink.0 as f64 / 1e6,
                stats.judged,
                stats.flagged
            );
        }
        let rate = ROWS as f64 / best;
        println!(
            "  best: {:.2} M points/s (goal >= 5 M points/s: {})",
            rate / 1e6,
            if rate >= 5e6 { "met" } else { "NOT met" }
        );
    }
    Ok(())
}
