//! Selection scores computed so that their stated sensitivity holds for the numbers actually
//! computed, not only for the real-valued formula (Casacuberta et al. 2022 showed how
//! floating-point rounding breaks that for sums).
//!
//! MST's and AIM's scores are L1 distances between an exact marginal (integer counts) and a
//! model's estimate, summed over up to millions of cells. Summed in f64, two neighbouring
//! data sets' scores can differ by more than the sensitivity through rounding, by an amount
//! that grows with the data. Here the estimate is first rounded to a grid of `2^-16` counts
//! (post-processing of DP outputs), so every term and the sum are exact integers in units of
//! `2^-16`; the sum is clamped to `2^52` units (a 1-Lipschitz map) and converted to f64
//! exactly. The only rounding left is AIM's multiplication by a candidate weight, and
//! [`weighted_score_sensitivity`] adds a rigorous bound on it. Proof:
//! proofs/exponential-selection.md, section "Scores as computed".

/// Bits of the fixed-point grid the scores are computed on: one unit is `2^-16` counts.
pub const SCORE_FRACTION_BITS: i32 = 16;

/// Largest magnitude of a score in grid units (`2^52`, so every value is an exact f64): about
/// 6.9e10 counts. Larger scores are clamped.
const SCORE_MAX_UNITS: i128 = 1 << 52;

/// `2^SCORE_FRACTION_BITS` as a float.
const UNITS_PER_COUNT: f64 = (1u64 << SCORE_FRACTION_BITS) as f64;

/// `x` on the grid, rounded to the nearest unit and kept within `+-2^80` units (the
/// estimate is a DP output, so any deterministic rounding is post-processing; NaN is 0).
fn to_units(x: f64) -> i128 {
    let limit = (1u128 << 80) as f64;
    let r = (x * UNITS_PER_COUNT).round().clamp(-limit, limit);
    // The same integer through i64 when it fits (a hardware conversion; f64 -> i128 is a
    // library call that took a tenth of AIM's selection): `r` is a whole number, so both
    // conversions are exact.
    if r.abs() < I64_RANGE {
        r as i64 as i128
    } else {
        r as i128
    }
}

/// `2^63`: whole floats below it in magnitude convert to `i64` exactly.
const I64_RANGE: f64 = 9_223_372_036_854_775_808.0;

/// Grid units back to counts: exact, since `|units| <= 2^52`.
fn from_units(units: i128) -> f64 {
    units as f64 / UNITS_PER_COUNT
}

/// `||counts - q(estimate)||_1`, clamped to `2^52` grid units, where `q` rounds to the grid.
///
/// Exact: `counts` are whole numbers (exact marginals, at most 2^53), every term and the sum
/// are computed in `i128` grid units (no overflow for fewer than 2^46 cells), and the clamped
/// result is a multiple of `2^-16` below `2^36`, which an f64 holds exactly. One record more
/// or less moves one count by 1, so the returned value moves by at most 1 (the clamp is
/// 1-Lipschitz); `K` rows move it by at most `K`.
pub fn l1_distance(counts: &[f64], estimate: &[f64]) -> f64 {
    debug_assert_eq!(counts.len(), estimate.len());
    let units: i128 = counts
        .iter()
        .zip(estimate)
        .map(|(&c, &e)| (to_units(c) - to_units(e)).abs())
        .sum();
    from_units(units.min(SCORE_MAX_UNITS))
}

/// AIM's score `w (l1 - penalty)` for an exact `l1` from [`l1_distance`] and a public
/// `penalty`: the difference is taken on the grid (exact, clamped to `+-2^52` units), and
/// the only rounding is the final multiplication by `weight`, which
/// [`weighted_score_sensitivity`] accounts for.
pub fn weighted_score(weight: f64, l1: f64, penalty: f64) -> f64 {
    let d = (to_units(l1) - to_units(penalty)).clamp(-SCORE_MAX_UNITS, SCORE_MAX_UNITS);
    weight * from_units(d)
}

/// L-infinity sensitivity of [`weighted_score`]s whose weights are at most `max_weight`,
/// when one privacy unit moves each exact `l1` by at most `per_unit` (`K`).
///
/// The exact difference is at most `w K`. Each computed score is `fl(w d)` with
/// `|w d| <= w 2^36`, so its rounding error is at most `2^-53 w 2^36 = w 2^-17` (or `2^-1075`
/// if the product is subnormal); two of them add `w 2^-16 + 2^-1074`. The result is
/// `max_weight (K + 2^-16)`, rounded up, plus `2^-1074` (one more step up).
pub fn weighted_score_sensitivity(max_weight: f64, per_unit: f64) -> f64 {
    let slack = 2f64.powi(-SCORE_FRACTION_BITS);
    (max_weight * (per_unit + slack)).next_up().next_up()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The i64 fast path of `to_units` gives the integer the direct i128 conversion gives,
    /// at the edges of i64, of the clamp and for NaN.
    #[test]
    fn to_units_fast_path_is_the_direct_conversion() {
        let direct = |x: f64| {
            let limit = (1u128 << 80) as f64;
            (x * UNITS_PER_COUNT).round().clamp(-limit, limit) as i128
        };
        let edge = I64_RANGE / UNITS_PER_COUNT;
        for x in [
            0.0,
            -0.0,
            0.49,
            -1.5,
            1e9 + 0.25,
            edge,
            -edge,
            edge.next_down(),
            (-edge).next_up(),
            edge * 2.0,
            1e30,
            -1e30,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(to_units(x), direct(x), "{x}");
        }
    }

    /// The f64 sum the scores used before (issue #13, item 2).
    fn naive_l1(counts: &[f64], estimate: &[f64]) -> f64 {
        counts
            .iter()
            .zip(estimate)
            .map(|(a, b)| (a - b).abs())
            .sum()
    }

    #[test]
    fn a_float_sum_breaks_the_sensitivity_and_the_grid_sum_does_not() {
        // One record more in the big cell moves the exact L1 by 1, but the float sums differ
        // by 2: 2^52 + 0.5 rounds down to even eight times, 2^52 + 1 + 0.5 rounds up.
        let big = 2f64.powi(52);
        let est: Vec<f64> = std::iter::once(0.0).chain([0.5; 8]).collect();
        let d: Vec<f64> = std::iter::once(big).chain([0.0; 8]).collect();
        let mut d2 = d.clone();
        d2[0] += 1.0;
        assert_eq!(naive_l1(&d2, &est) - naive_l1(&d, &est), 2.0);
        assert!((l1_distance(&d2, &est) - l1_distance(&d, &est)).abs() <= 1.0);

        // Within the grid's range the sum is exact, whatever the cell count and magnitudes,
        // and the neighbour's score is within 1 of it.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let n = rng.gen_range(1..5000);
            let counts: Vec<f64> = (0..n)
                .map(|_| rng.gen_range(0..1_000_000u32) as f64)
                .collect();
            let est: Vec<f64> = (0..n).map(|_| rng.gen_range(0.0..1e6)).collect();
            let exact: i128 = counts
                .iter()
                .zip(&est)
                .map(|(&c, &e)| (to_units(c) - to_units(e)).abs())
                .sum();
            let a = l1_distance(&counts, &est);
            assert_eq!(a, from_units(exact));
            let i = rng.gen_range(0..n);
            let mut plus = counts.clone();
            plus[i] += 1.0;
            assert!((l1_distance(&plus, &est) - a).abs() <= 1.0);
        }
    }

    #[test]
    fn clamps_and_survives_non_finite_estimates() {
        let big = l1_distance(&[9e15, 9e15], &[0.0, 0.0]);
        assert_eq!(big, from_units(SCORE_MAX_UNITS));
        assert_eq!(l1_distance(&[3.0], &[f64::NAN]), 3.0);
        assert!(l1_distance(&[0.0], &[f64::INFINITY]).is_finite());
        assert_eq!(weighted_score(2.0, 10.0, 4.0), 12.0);
        assert_eq!(
            weighted_score(1.0, 0.0, 1e300),
            -from_units(SCORE_MAX_UNITS)
        );
    }

    #[test]
    fn sensitivity_bounds_the_computed_difference() {
        // Adversarial weights and scores near the top of the range: the computed difference
        // of neighbouring scores never exceeds the stated sensitivity.
        let top = from_units(SCORE_MAX_UNITS);
        for &w in &[1.0, 0.1, 273.0, 1.0 / 3.0, 7.77e-3, 1e-300, 3.1e5] {
            for &k in &[1.0, 3.0, 1000.0] {
                let s = weighted_score_sensitivity(w, k);
                assert!(s >= w * k);
                for &l in &[0.0, 1.0, 12345.678, top - k, top / 3.0] {
                    let l = from_units(to_units(l));
                    for &p in &[0.0, 0.5, 1e5] {
                        let a = weighted_score(w, l, p);
                        let b = weighted_score(w, (l + k).min(top), p);
                        assert!((b - a).abs() <= s, "w {w} k {k} l {l}: {} > {s}", b - a);
                    }
                }
            }
        }
    }
}
