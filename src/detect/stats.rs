//! The little statistics the detectors need, written out rather than pulled
//! in as a dependency: normal and Poisson tails, the inverse normal, robust
//! location and spread, and the mapping from a z-score to a 0–1 score.
//!
//! Why these and not a statistics crate: the detectors need five functions,
//! each a few lines, and their accuracy requirements are modest (a decision
//! at z ≈ 3, i.e. p ≈ 10⁻³). Keeping them here keeps the build light and the
//! numerics readable next to the tests that pin them.
//!
//! Everything works in one convention: a *z-score* is a one-sided standard
//! normal quantile, so "z ≥ 3" means "a one-sided p-value ≤ 0.00135". Exact
//! tails (Poisson) are converted to that scale with [`normal_isf`], so every
//! detector compares against the same `significance`.

/// The largest z reported. Beyond this, tails underflow `f64` anyway and the
/// score is 1 to any precision that matters.
pub(crate) const Z_MAX: f64 = 40.0;

/// √2.
#[cfg(test)]
const SQRT_2: f64 = std::f64::consts::SQRT_2;

/// The complementary error function, erfc(x), with a fractional error below
/// 1.2·10⁻⁷ everywhere (Chebyshev fit, Numerical Recipes §6.2 `erfcc`).
/// Only the tests need the forward tail (to pin [`normal_isf`]); the
/// detectors go from p-values to z-scores, never back.
#[cfg(test)]
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// P(Z ≥ z) for a standard normal Z.
#[cfg(test)]
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / SQRT_2)
}

/// The z with P(Z ≥ z) = p: the inverse of [`normal_sf`], clamped to
/// ±[`Z_MAX`]. Acklam's rational approximation (relative error ≈ 10⁻⁹),
/// evaluated on the small tail directly so tiny p keep their precision.
pub(crate) fn normal_isf(p: f64) -> f64 {
    if p.is_nan() {
        return 0.0;
    }
    if p <= 0.0 {
        return Z_MAX;
    }
    if p >= 1.0 {
        return -Z_MAX;
    }
    // Lower-tail quantile of q, for q <= 0.5.
    fn lower(q: f64) -> f64 {
        const A: [f64; 6] = [
            -3.969_683_028_665_376e1,
            2.209_460_984_245_205e2,
            -2.759_285_104_469_687e2,
            1.383_577_518_672_69e2,
            -3.066_479_806_614_716e1,
            2.506_628_277_459_239,
        ];
        const B: [f64; 5] = [
            -5.447_609_879_822_406e1,
            1.615_858_368_580_409e2,
            -1.556_989_798_598_866e2,
            6.680_131_188_771_972e1,
            -1.328_068_155_288_572e1,
        ];
        const C: [f64; 6] = [
            -7.784_894_002_430_293e-3,
            -3.223_964_580_411_365e-1,
            -2.400_758_277_161_838,
            -2.549_732_539_343_734,
            4.374_664_141_464_968,
            2.938_163_982_698_783,
        ];
        const D: [f64; 4] = [
            7.784_695_709_041_462e-3,
            3.224_671_290_700_398e-1,
            2.445_134_137_142_996,
            3.754_408_661_907_416,
        ];
        if q < 0.024_25 {
            let t = (-2.0 * q.ln()).sqrt();
            (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5])
                / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1.0)
        } else {
            let r = q - 0.5;
            let s = r * r;
            (((((A[0] * s + A[1]) * s + A[2]) * s + A[3]) * s + A[4]) * s + A[5]) * r
                / (((((B[0] * s + B[1]) * s + B[2]) * s + B[3]) * s + B[4]) * s + 1.0)
        }
    }
    let z = if p <= 0.5 { -lower(p) } else { lower(1.0 - p) };
    z.clamp(-Z_MAX, Z_MAX)
}

/// ln Γ(x) for x ≥ 1 (Lanczos, g = 7, nine terms; ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln P(X = k) for X ~ Poisson(mu), mu > 0.
fn ln_poisson_pmf(k: u64, mu: f64) -> f64 {
    let k = k as f64;
    k * mu.ln() - mu - ln_gamma(k + 1.0)
}

/// The most terms a tail sum takes. Sums only ever walk away from the mode,
/// where terms shrink at least geometrically once past a few standard
/// deviations, so this is a guard, not a working limit.
const MAX_TERMS: u64 = 2_000_000;

/// P(X ≥ k) for k > mu: sums pmf(k), pmf(k+1), … relative to pmf(k).
fn upper_sum(k: u64, mu: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut j = k;
    while j < k.saturating_add(MAX_TERMS) {
        j += 1;
        term *= mu / j as f64;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    (ln_poisson_pmf(k, mu) + sum.ln()).exp().min(1.0)
}

/// P(X ≤ k) for k < mu: sums pmf(k), pmf(k−1), … relative to pmf(k).
fn lower_sum(k: u64, mu: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut j = k;
    while j > 0 && k - j < MAX_TERMS {
        term *= j as f64 / mu;
        j -= 1;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    (ln_poisson_pmf(k, mu) + sum.ln()).exp().min(1.0)
}

/// P(X ≥ k) for X ~ Poisson(mu).
pub(crate) fn poisson_sf(k: u64, mu: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    if k as f64 > mu {
        upper_sum(k, mu)
    } else {
        (1.0 - poisson_cdf(k - 1, mu)).clamp(0.0, 1.0)
    }
}

/// P(X ≤ k) for X ~ Poisson(mu).
pub(crate) fn poisson_cdf(k: u64, mu: f64) -> f64 {
    if mu <= 0.0 {
        return 1.0;
    }
    if (k as f64) < mu {
        lower_sum(k, mu)
    } else {
        (1.0 - poisson_sf(k + 1, mu)).clamp(0.0, 1.0)
    }
}

/// ln P(X = k) for X ~ Binomial(trials, q), 0 < q < 1, k ≤ trials.
fn ln_binomial_pmf(k: u64, trials: u64, q: f64) -> f64 {
    let (k, t) = (k as f64, trials as f64);
    ln_gamma(t + 1.0) - ln_gamma(k + 1.0) - ln_gamma(t - k + 1.0)
        + k * q.ln()
        + (t - k) * (-q).ln_1p()
}

/// P(X ≥ k) for X ~ Binomial(trials, q).
pub(crate) fn binomial_sf(k: u64, trials: u64, q: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > trials || q <= 0.0 {
        return 0.0;
    }
    if q >= 1.0 {
        return 1.0;
    }
    if k as f64 <= trials as f64 * q {
        return (1.0 - binomial_cdf(k - 1, trials, q)).clamp(0.0, 1.0);
    }
    // Walk up from k: pmf(j+1)/pmf(j) = (trials - j)/(j + 1) · q/(1 - q).
    let odds = q / (1.0 - q);
    let (mut term, mut sum, mut j) = (1.0, 1.0, k);
    while j < trials && j - k < MAX_TERMS {
        term *= (trials - j) as f64 / (j + 1) as f64 * odds;
        j += 1;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    (ln_binomial_pmf(k, trials, q) + sum.ln()).exp().min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(trials, q).
pub(crate) fn binomial_cdf(k: u64, trials: u64, q: f64) -> f64 {
    if k >= trials || q <= 0.0 {
        return 1.0;
    }
    if q >= 1.0 {
        return 0.0;
    }
    if k as f64 >= trials as f64 * q {
        return (1.0 - binomial_sf(k + 1, trials, q)).clamp(0.0, 1.0);
    }
    // Walk down from k: pmf(j-1)/pmf(j) = j/(trials - j + 1) · (1 - q)/q.
    let odds = (1.0 - q) / q;
    let (mut term, mut sum, mut j) = (1.0, 1.0, k);
    while j > 0 && k - j < MAX_TERMS {
        term *= j as f64 / (trials - j + 1) as f64 * odds;
        j -= 1;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    (ln_binomial_pmf(k, trials, q) + sum.ln()).exp().min(1.0)
}

/// The two halves of a deviation test: `(normal, exact)` one-sided
/// z-scores for observing `x` events where `mu` were expected, in the bad
/// direction (`up`: too many; otherwise too few). `exposure` is how much
/// more traffic the baseline saw than the judged bucket (pooled volume of
/// the slot's weeks over this bucket's volume; for volumes themselves, the
/// number of weeks).
///
/// - `normal`: `(x − mu ∓ ½) / √(mu + (mu·spread)²·(1 + π/(2·points)))`, a
///   normal approximation with continuity correction over Poisson counting
///   noise plus the rate's week-to-week wander (relative `spread`) plus the
///   uncertainty of a median of `points` weeks (≈ π/2 · σ² / points).
/// - `exact`: the conditional test for two Poisson rates. Of the
///   `T = x + round(mu·exposure)` events seen by this bucket and its
///   baseline together, each falls in this bucket with probability
///   `1 / (1 + exposure)` if the rate has not changed; the tail
///   P(X ≥ x) (or P(X ≤ x)) of that binomial, as a z-score. Unlike a plain
///   Poisson tail it knows that a baseline of a handful of events is itself
///   uncertain: four complaints where four weeks saw ten in all is not
///   news. Without an exposure (not positive or not finite), the plain
///   Poisson tail under `mu`.
///
/// A non-positive or non-finite `mu` is no evidence either way: `(0, 0)`.
pub(crate) fn deviation_z_parts(
    x: u64,
    mu: f64,
    exposure: f64,
    spread: f64,
    points: usize,
    up: bool,
) -> (f64, f64) {
    if !(mu > 0.0 && mu.is_finite()) {
        return (0.0, 0.0);
    }
    let spread = if spread.is_finite() {
        spread.max(0.0)
    } else {
        0.0
    };
    let median_factor = 1.0 + std::f64::consts::PI / (2.0 * points.max(1) as f64);
    let variance = mu + (mu * spread).powi(2) * median_factor;
    let diff = if up { x as f64 - mu } else { mu - x as f64 };
    let corrected = if diff > 0.5 {
        diff - 0.5
    } else if diff < -0.5 {
        diff + 0.5
    } else {
        0.0
    };
    let normal = (corrected / variance.sqrt()).clamp(-Z_MAX, Z_MAX);
    let tail = if exposure > 0.0 && exposure.is_finite() {
        let baseline_events = (mu * exposure).round().min(1e15) as u64;
        let trials = x.saturating_add(baseline_events);
        let share = 1.0 / (1.0 + exposure);
        if up {
            binomial_sf(x, trials, share)
        } else {
            binomial_cdf(x, trials, share)
        }
    } else if up {
        poisson_sf(x, mu)
    } else {
        poisson_cdf(x, mu)
    };
    (normal, normal_isf(tail))
}

/// Maps a z-score to a 0–1 score: a logistic centred on the significance,
/// `1 / (1 + e^-(z - significance))`. A bucket exactly at the alert line
/// scores 0.5, three units beyond it 0.95, and z = 0 about 0.05 (for
/// significance 3), so "flag" and "score ≥ 0.5" always agree and the score
/// keeps ranking incidents long after a p-value would have saturated at 1.
pub(crate) fn score_from_z(z: f64, significance: f64) -> f64 {
    if z.is_nan() {
        return 0.0;
    }
    1.0 / (1.0 + (-(z - significance)).exp())
}

/// 1.4826: turns a median absolute deviation into a standard deviation for
/// normal data.
pub(crate) const MAD_TO_SD: f64 = 1.4826;

/// The median of `values`, sorting them in place. `None` when empty.
pub(crate) fn median_in_place(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Median and median absolute deviation of `values` (reordered in place).
pub(crate) fn median_mad(values: &mut [f64]) -> Option<(f64, f64)> {
    let median = median_in_place(values)?;
    for value in values.iter_mut() {
        *value = (*value - median).abs();
    }
    let mad = median_in_place(values)?;
    Some((median, mad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!(close(normal_sf(0.0), 0.5, 1e-6));
        assert!(close(normal_sf(1.959_964), 0.025, 1e-5));
        assert!(close(normal_sf(3.0), 0.001_349_898, 1e-5));
        assert!(close(normal_sf(-3.0), 1.0 - 0.001_349_898, 1e-6));
        assert!(close(normal_sf(6.0), 9.865_876e-10, 1e-4));
    }

    #[test]
    fn inverse_normal_inverts_the_tail() {
        for z in [-5.0, -2.0, -0.3, 0.0, 0.7, 1.5, 3.0, 4.5, 8.0, 20.0] {
            let back = normal_isf(normal_sf(z));
            assert!((back - z).abs() < 1e-5 * z.abs().max(1.0), "{z} -> {back}");
        }
        assert_eq!(normal_isf(0.0), Z_MAX);
        assert_eq!(normal_isf(1.0), -Z_MAX);
        assert!((normal_isf(0.001_349_898) - 3.0).abs() < 1e-6);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut factorial = 1.0_f64;
        for n in 1..30u32 {
            factorial *= f64::from(n);
            assert!(
                close(ln_gamma(f64::from(n) + 1.0), factorial.ln(), 1e-12),
                "{n}!"
            );
        }
    }

    #[test]
    fn poisson_tails_match_direct_sums() {
        // Direct sums of the pmf for small means.
        let pmf = |k: u64, mu: f64| ln_poisson_pmf(k, mu).exp();
        for mu in [0.2, 0.5, 3.0, 12.5, 80.0] {
            for k in [0u64, 1, 2, 3, 5, 10, 20, 40, 100, 150] {
                let below: f64 = (0..=k).map(|j| pmf(j, mu)).sum();
                let at_least: f64 = (k..k + 400).map(|j| pmf(j, mu)).sum();
                assert!(close(poisson_cdf(k, mu), below, 1e-9), "cdf {k} {mu}");
                assert!(close(poisson_sf(k, mu), at_least, 1e-9), "sf {k} {mu}");
            }
        }
        // P(X >= 3 | 0.2) = 1 - e^-0.2 (1 + 0.2 + 0.02).
        let expected = 1.0 - (-0.2f64).exp() * 1.22;
        assert!(close(poisson_sf(3, 0.2), expected, 1e-9));
        // Far tails stay positive and tiny rather than cancelling to 0 or 1.
        let far = poisson_sf(1200, 200.0);
        assert!((0.0..1e-100).contains(&far), "{far}");
        assert!(poisson_cdf(0, 500.0) > 0.0);
        assert!(close(poisson_cdf(0, 500.0), (-500.0f64).exp(), 1e-9));
    }

    #[test]
    fn binomial_tails_match_direct_sums() {
        let pmf = |k: u64, t: u64, q: f64| ln_binomial_pmf(k, t, q).exp();
        for (t, q) in [(10u64, 0.2), (40, 0.5), (200, 0.05), (1_000, 0.2)] {
            for k in [0u64, 1, 2, 5, 10, 20, 40, 60, 100, 300] {
                if k > t {
                    assert_eq!(binomial_sf(k, t, q), 0.0);
                    assert_eq!(binomial_cdf(k, t, q), 1.0);
                    continue;
                }
                let below: f64 = (0..=k).map(|j| pmf(j, t, q)).sum();
                let at_least: f64 = (k..=t).map(|j| pmf(j, t, q)).sum();
                assert!(
                    close(binomial_cdf(k, t, q), below.min(1.0), 1e-9),
                    "cdf {k} {t} {q}"
                );
                assert!(
                    close(binomial_sf(k, t, q), at_least.min(1.0), 1e-9),
                    "sf {k} {t} {q}"
                );
            }
        }
        // All of T events in the bucket, with share q: q^T.
        assert!(close(binomial_sf(4, 4, 0.2), 0.2f64.powi(4), 1e-9));
    }

    #[test]
    fn the_exact_half_knows_a_small_baseline_is_uncertain() {
        // Four events where 2.4 were expected. Against a known mean that is
        // p ≈ 0.22; against a baseline that itself saw only ten events in
        // four times the traffic, it is weaker still.
        let (_, known) = deviation_z_parts(4, 2.4, f64::INFINITY, 0.0, 4, true);
        let (_, estimated) = deviation_z_parts(4, 2.4, 4.0, 0.0, 4, true);
        assert!(estimated < known, "{estimated} {known}");
        assert!((known - normal_isf(poisson_sf(4, 2.4))).abs() < 1e-12);
        // Far out, both agree it is an incident.
        let (_, far) = deviation_z_parts(60, 2.4, 4.0, 0.0, 4, true);
        assert!(far > 5.0, "{far}");
        // No mean, no evidence.
        assert_eq!(deviation_z_parts(5, 0.0, 4.0, 0.1, 4, true), (0.0, 0.0));
    }

    #[test]
    fn large_means_behave_like_the_normal() {
        let mu: f64 = 1.0e6;
        let k = (mu + 3.0 * mu.sqrt()) as u64;
        let z = normal_isf(poisson_sf(k, mu));
        assert!((z - 3.0).abs() < 0.01, "{z}");
    }

    #[test]
    fn score_is_one_half_at_the_alert_line() {
        assert!(close(score_from_z(3.0, 3.0), 0.5, 1e-12));
        assert!(score_from_z(6.0, 3.0) > 0.95);
        assert!(score_from_z(0.0, 3.0) < 0.05);
        assert_eq!(score_from_z(f64::NAN, 3.0), 0.0);
        assert!(score_from_z(1e9, 3.0) <= 1.0);
    }

    #[test]
    fn median_and_mad() {
        assert_eq!(median_in_place(&mut []), None);
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_mad(&mut [1.0, 2.0, 3.0, 100.0]), Some((2.5, 1.0)));
    }
}
