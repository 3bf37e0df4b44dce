//! The causal series detector behind `mailcall detect`'s `timestamp,value`
//! input: "level + daily profile, quantile-normalised, onset-only".
//!
//! A port of `scripts/nab/prototype.py`, specified in
//! `scripts/nab/ALGORITHM.md`; it reproduces the prototype's scores (a unit
//! test below pins values computed by running the prototype). Each row is
//! judged against the rows before it in file order, with fixed-size state
//! (96 daily slots, about 5 KB) and O(1) work per row: no windows, no
//! sorting, so it streams millions of rows a second.
//!
//! Per row with a value:
//!
//! 1. **Level test**: the z of the value against a long EWMA mean and
//!    variance (weight [`ALPHA`], ≈ 500 rows).
//! 2. **Daily-profile test**: the residual against the same 15-minute slot
//!    of previous days (UTC time of day), scaled by the larger of the
//!    series' and the slot's own residual spread. A slot only judges once it
//!    has seen [`SLOT_MIN_DAYS`] distinct days, so a clean daily rhythm is
//!    not flagged during its first days, and a missing or extra daily peak
//!    (which a level test cannot see) is.
//! 3. Each test's z becomes a surprise `−log10 P(Z > z)` and is divided by
//!    the series' own running 99.9 % quantile of that surprise, so one set
//!    of constants serves quiet and heavy-tailed series alike.
//! 4. **Onset rule**: only a row that beats [`MARGIN`] × the decayed running
//!    maximum of that ratio scores; the rows of an ongoing deviation score
//!    0. `score = E / (E + 1)` is below 1 for every finite `E`, so scores
//!    rank and never saturate; `flag = score ≥ 0.6` ([`FLAG_SCORE`]).
//!
//! Why this shape: the previous estimator (weekday/hour medians with a
//! "last 12 points" fallback for series with under two weeks of history)
//! flagged a clean daily sine dozens of times a day, flagged every row of a
//! deviation, and saturated its scores at 1.0, which makes ranking
//! impossible. Weekday seasonality is deliberately not modelled.
//!
//! **Caveat**: every constant here was chosen while looking at NAB
//! (Numenta Anomaly Benchmark) scores (design log in ALGORITHM.md), so the
//! detector is over-fitted to NAB and its NAB figures flatter it. Treat
//! them as an upper bound, not as evidence of how it does on mail metrics.

/// EWMA weight of the level mean and variance.
pub const ALPHA: f64 = 0.002;
/// Rows with a value before any non-zero score.
pub const WARMUP: u64 = 50;
/// Quantile of each test's surprise tracked per series.
pub const TAU: f64 = 0.999;
/// Quantile-tracker step (log scale).
pub const ETA: f64 = 0.02;
/// Floor of a tracked quantile.
pub const Q_MIN: f64 = 0.5;
/// Initial tracked quantile (≈ the surprise at the 0.999 quantile of
/// normal noise).
pub const Q_INIT: f64 = 3.0;
/// Daily-profile slot width.
pub const SLOT_SECONDS: i64 = 900;
/// Slots per day.
pub const NSLOTS: usize = (DAY / SLOT_SECONDS) as usize;
/// EWMA weight of a slot's mean and of a slot's residual mean square.
pub const A_SLOT: f64 = 0.3;
/// Distinct days a slot must have seen (the current row's day included)
/// before it judges.
pub const SLOT_MIN_DAYS: u32 = 3;
/// EWMA weight of the series-wide daily-residual mean square.
pub const A_RES: f64 = 0.002;
/// Daily residuals learned before the daily test scores.
pub const RES_MIN: u64 = 50;
/// Per-row decay of the running maximum (onset rule).
pub const DECAY: f64 = 0.99;
/// A row is an onset if its ratio exceeds `MARGIN` × the decayed running
/// maximum.
pub const MARGIN: f64 = 1.5;
/// `score = E / (E + S0)`.
pub const S0: f64 = 1.0;
/// The shipped cut: `flag = score ≥ FLAG_SCORE` (⇔ `E ≥ 1.5`).
pub const FLAG_SCORE: f64 = 0.6;
/// Spread floor relative to `|mean|`.
const REL_EPS: f64 = 1e-6;
/// Absolute spread floor.
const ABS_EPS: f64 = 1e-6;

const DAY: i64 = 86_400;

/// One daily-profile slot.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// EWMA of the slot's values.
    mean: f64,
    /// Values that entered the slot.
    count: u64,
    /// Day number (`t.div_euclid(86400)`) of the slot's last value.
    day: i64,
    /// Distinct days the slot has seen (counts day changes).
    days: u32,
    /// Residuals the slot has learned.
    res: u64,
    /// The slot's residual mean square.
    ms: f64,
}

/// The detector's state for one series. See the module documentation.
#[derive(Clone, Debug)]
pub struct SeriesDetector {
    /// Rows with a value seen.
    n: u64,
    mean: f64,
    var: f64,
    q_level: f64,
    slots: Box<[Slot; NSLOTS]>,
    res_n: u64,
    res_ms: f64,
    q_daily: f64,
    run_max: f64,
    q_up: f64,
    q_down: f64,
}

impl Default for SeriesDetector {
    fn default() -> SeriesDetector {
        SeriesDetector::new()
    }
}

/// `−log10 Q(z)` with `Q(z) = P(Z > z)` for a standard normal `Z`, `z ≥ 0`:
/// how surprising a deviation of `z` standard deviations is. Strictly
/// increasing; `surprise(0) = log10 2`.
pub fn surprise(z: f64) -> f64 {
    if z < 30.0 {
        -(0.5 * libm::erfc(z / std::f64::consts::SQRT_2)).log10()
    } else {
        // Q(z) ≈ φ(z)/z for large z (erfc underflows past ~37).
        (0.5 * z * z + z.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln()) / std::f64::consts::LN_10
    }
}

/// Table steps per unit of z in [`SURPRISE_TABLE`].
const TABLE_STEPS: f64 = 32.0;
/// The table covers z below this (the erfc branch of [`surprise`], where it
/// is monotone).
const TABLE_END: f64 = 29.0;
/// Added to the table's bounds, far above the rounding noise of erfc and
/// log10 (≈ 1e-15 relative) and far below anything the detector resolves.
const TABLE_SLACK: f64 = 1e-9;

/// `surprise(i / TABLE_STEPS)` for z up to [`TABLE_END`]: since surprise
/// increases with z, two neighbouring entries bound it for any z between.
static SURPRISE_TABLE: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    (0..=(TABLE_END * TABLE_STEPS) as usize + 1)
        .map(|i| surprise(i as f64 / TABLE_STEPS))
        .collect()
});

/// A row's surprise, known within table bounds and computed exactly only
/// when a decision needs it: the quantile tracker's comparison rarely
/// does, and the onset rule only for a possible new high. Every decision
/// is the one the exact value gives, so scores are unchanged.
#[derive(Clone, Copy, Debug)]
struct LazySurprise {
    z: f64,
    lo: f64,
    hi: f64,
    exact: Option<f64>,
}

impl LazySurprise {
    fn new(z: f64) -> LazySurprise {
        if (0.0..TABLE_END).contains(&z) {
            let table = &*SURPRISE_TABLE;
            let i = (z * TABLE_STEPS) as usize;
            if let (Some(lo), Some(hi)) = (table.get(i), table.get(i + 1)) {
                return LazySurprise {
                    z,
                    lo: lo - TABLE_SLACK,
                    hi: hi + TABLE_SLACK,
                    exact: None,
                };
            }
        }
        let s = surprise(z);
        LazySurprise {
            z,
            lo: s,
            hi: s,
            exact: Some(s),
        }
    }

    fn exact(&mut self) -> f64 {
        let z = self.z;
        *self.exact.get_or_insert_with(|| surprise(z))
    }

    /// `surprise(z) <= q`.
    fn at_most(&mut self, q: f64) -> bool {
        if self.hi <= q {
            true
        } else if self.lo > q {
            false
        } else {
            self.exact() <= q
        }
    }
}

/// Whether a score is flagged.
pub fn flagged(score: f64) -> bool {
    score >= FLAG_SCORE
}

impl SeriesDetector {
    /// A fresh state.
    pub fn new() -> SeriesDetector {
        SeriesDetector {
            n: 0,
            mean: 0.0,
            var: 0.0,
            q_level: Q_INIT,
            slots: Box::new([Slot::default(); NSLOTS]),
            res_n: 0,
            res_ms: 0.0,
            q_daily: Q_INIT,
            run_max: 0.0,
            q_up: (ETA * TAU).exp(),
            q_down: (-ETA * (1.0 - TAU)).exp(),
        }
    }

    /// One step of a stochastic quantile tracker: moves the quantile `q`
    /// by the row's surprise, and returns the quantile the row is measured
    /// against (`r = s / qe`).
    fn track(&self, q: &mut f64, s: &mut LazySurprise) -> f64 {
        let qe = q.max(Q_MIN);
        *q *= if s.at_most(qe) {
            self.q_down
        } else {
            self.q_up
        };
        qe
    }

    /// Judges one row (`value` at unix seconds `time`, if known: without a
    /// time the daily test is skipped for the row) against the rows before
    /// it, then learns it. Returns the score (0 ≤ score < 1), or `None` for
    /// a row that is not judged: a non-finite value (missing: nothing is
    /// learned) or one of the first [`WARMUP`] values (learned, score 0).
    pub fn update(&mut self, value: f64, time: Option<i64>) -> Option<f64> {
        if !value.is_finite() {
            return None;
        }
        let x = value;
        self.n += 1;
        let slot = time.map(|t| (t.rem_euclid(DAY) / SLOT_SECONDS) as usize);
        if self.n == 1 {
            self.mean = x;
            if let (Some(slot), Some(t)) = (slot, time) {
                let s = &mut self.slots[slot];
                s.mean = x;
                s.count = 1;
                s.days = 1;
                s.day = t.div_euclid(DAY);
            }
            return None;
        }
        let m = REL_EPS * self.mean.abs();
        let floor = ABS_EPS * ABS_EPS + m * m;
        // 1. Level test, with the state before the row; then learn it.
        let d = x - self.mean;
        let z = d.abs() / (self.var + floor).sqrt();
        let mut q_level = self.q_level;
        let mut level = LazySurprise::new(z);
        let qe_level = self.track(&mut q_level, &mut level);
        self.q_level = q_level;
        let mut daily = None;
        let a = ALPHA.max(1.0 / self.n as f64);
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
        // 2. Daily-profile test.
        if let (Some(slot), Some(t)) = (slot, time) {
            let day = t.div_euclid(DAY);
            let s = self.slots[slot];
            let c = s.count;
            let mut days = s.days;
            if c == 0 {
                days = 1;
            } else if day != s.day {
                days += 1;
            }
            let mut slot_res = s.res;
            let mut slot_ms = s.ms;
            if c > 0 && days >= SLOT_MIN_DAYS {
                let e = x - s.mean;
                if self.res_n >= RES_MIN {
                    let spread2 = self.res_ms.max(slot_ms);
                    let zd = e.abs() / (spread2 + floor).sqrt();
                    let mut q_daily = self.q_daily;
                    let mut surprise = LazySurprise::new(zd);
                    let qe_daily = self.track(&mut q_daily, &mut surprise);
                    self.q_daily = q_daily;
                    daily = Some((surprise, qe_daily));
                }
                self.res_n += 1;
                let ar = A_RES.max(1.0 / self.res_n as f64);
                self.res_ms = (1.0 - ar) * self.res_ms + ar * e * e;
                slot_res += 1;
                let asv = A_SLOT.max(1.0 / slot_res as f64);
                slot_ms = (1.0 - asv) * slot_ms + asv * e * e;
            }
            let mean = if c == 0 {
                x
            } else {
                s.mean + A_SLOT * (x - s.mean)
            };
            self.slots[slot] = Slot {
                mean,
                count: c + 1,
                day,
                days,
                res: slot_res,
                ms: slot_ms,
            };
        }
        // 4. Onset rule: only a new high of the recent past scores. The bar
        // rises with R, not E: a suppressed row still raises it.
        let decayed = self.run_max * DECAY;
        // R = max of the tests' s / qe. Most rows are no new high: when the
        // bounds already say R ≤ decayed, R changes nothing below and its
        // exact value (erfc, log10) is never computed.
        let bound = daily.as_ref().map_or(level.hi / qe_level, |(s, qe)| {
            (level.hi / qe_level).max(s.hi / qe)
        });
        let mut r = if bound <= decayed {
            0.0
        } else {
            let r = level.exact() / qe_level;
            match daily.as_mut() {
                Some((s, qe)) => r.max(s.exact() / *qe),
                None => r,
            }
        };
        // 3. Cold start: the baselines and trackers learned above.
        if self.n <= WARMUP {
            r = 0.0;
        }
        let e = if r > MARGIN * decayed { r } else { 0.0 };
        self.run_max = decayed.max(r);
        (self.n > WARMUP).then(|| e / (e + S0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference run: scripts/nab/prototype.py over
    /// tests/fixtures/detect/series_prototype.csv, 6 decimals (regenerated
    /// by tests/fixtures/detect/generate.py).
    fn prototype_rows() -> Vec<(Option<i64>, Option<f64>, f64, bool)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/detect");
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let input = read("series_prototype.csv");
        let expected = read("series_prototype_expected6.csv");
        input
            .lines()
            .zip(expected.lines())
            .skip(1)
            .map(|(row, scored)| {
                let cells: Vec<&str> = row.split(',').collect();
                let out: Vec<&str> = scored.split(',').collect();
                let time = super::super::offline::parse_timestamp(cells[0].as_bytes());
                let value = cells[1].parse::<f64>().ok().filter(|v| v.is_finite());
                let score = out[2].parse::<f64>().unwrap_or(f64::NAN);
                (time, value, score, out[3] == "1")
            })
            .collect()
    }

    #[test]
    fn scores_are_the_prototypes() {
        let rows = prototype_rows();
        assert_eq!(rows.len(), 480);
        let mut detector = SeriesDetector::new();
        let mut nonzero = 0;
        for (i, &(time, value, expected, flag)) in rows.iter().enumerate() {
            let score = value.and_then(|v| detector.update(v, time)).unwrap_or(0.0);
            // The prototype printed 6 decimals.
            assert!(
                (score - expected).abs() <= 5.1e-7,
                "row {i}: {score} vs the prototype's {expected}"
            );
            assert_eq!(flagged(score), flag, "row {i}");
            nonzero += usize::from(score > 0.0);
        }
        assert_eq!(nonzero, 4);
    }

    #[test]
    fn hand_computed_rows() {
        assert_eq!(surprise(0.0), std::f64::consts::LOG10_2);
        // Q(3) = 0.00134990: surprise 2.869699 (prototype: 2.8696990359293686).
        assert!((surprise(3.0) - 2.869_699_035_929_368_6).abs() < 1e-12);
        // The large-z branch (φ(z)/z) meets the erfc one within the
        // asymptote's error, log10(1 − 1/z²) ≈ 5e-4 at z = 30.
        assert!((surprise(30.0) - surprise(29.999_999)).abs() < 1e-3);
        let mut d = SeriesDetector::new();
        // The first value only seeds; the warm-up rows are learned, not
        // judged.
        assert_eq!(d.update(10.0, Some(0)), None);
        for i in 1..WARMUP {
            assert_eq!(d.update(10.0 + (i % 2) as f64, Some(i as i64 * 60)), None);
        }
        // Row 51 of an alternating 10/11 series, at 11: the running mean
        // and variance are exactly 10.5 and 0.25, so z = 1 (the floor is
        // 1e-10) and the surprise is −log10 Q(1) = 0.799546. The level
        // tracker stands at 3.057606 (it rose once, on the second row,
        // whose z was huge, and fell by Q_DOWN on every other row). R =
        // 0.799546 / 3.057606 = 0.261494; the running max is 0 after the
        // warm-up, so E = R and the score is R / (R + 1) = 0.207289, as the
        // prototype says.
        assert!(
            (d.q_level - 3.057_606_097_362_652).abs() < 1e-12,
            "{}",
            d.q_level
        );
        let score = d.update(11.0, Some(50 * 60)).unwrap_or(f64::NAN);
        assert!((score - 0.207_289_112_857_530_63).abs() < 1e-12, "{score}");
        // A missing value changes nothing.
        let before = format!("{d:?}");
        assert_eq!(d.update(f64::NAN, Some(51 * 60)), None);
        assert_eq!(format!("{d:?}"), before);
        // A value 2,000 sd away is flagged, and still below 1 (prototype:
        // 0.999996406107351).
        let score = d.update(1_000.0, Some(52 * 60)).unwrap_or(f64::NAN);
        assert!(flagged(score) && score < 1.0, "{score}");
        assert!((score - 0.999_996_406_107_351).abs() < 1e-12, "{score}");
    }

    #[test]
    fn table_bounds_hold_every_surprise_so_decisions_match_the_exact_value() {
        // A dense sweep across the table, its end and beyond, with
        // quantiles on both sides of each value and exactly on it.
        let mut z = 0.0;
        while z < 40.0 {
            let exact = surprise(z);
            let mut lazy = LazySurprise::new(z);
            assert!(lazy.lo <= exact && exact <= lazy.hi, "z = {z}");
            assert!(
                lazy.hi - lazy.lo < 0.01 * exact.max(10.0),
                "z = {z}: bounds too loose"
            );
            for q in [exact - 1e-3, exact, exact + 1e-12, exact + 1e-3, 3.0] {
                let mut fresh = LazySurprise::new(z);
                assert_eq!(fresh.at_most(q), exact <= q, "z = {z}, q = {q}");
            }
            assert_eq!(lazy.exact(), exact);
            z += 0.001_7;
        }
    }

    #[test]
    fn without_a_time_only_the_level_test_runs() {
        let mut with = SeriesDetector::new();
        let mut without = SeriesDetector::new();
        for i in 0..200 {
            let x = 5.0 + ((i * 37) % 11) as f64;
            let a = with.update(x, None);
            let b = without.update(x, None);
            assert_eq!(a, b);
        }
        assert!(with.slots.iter().all(|s| s.count == 0));
    }
}
