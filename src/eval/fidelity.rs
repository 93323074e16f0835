//! Fidelity: k-way marginal L1 errors, the k-marginal score, per-column total variation and
//! pairwise association differences.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::joint::{l1, Joint};
use super::{
    AssociationKind, Associations, CliqueError, ColumnTv, EvalError, KWayFidelity, WorstMarginal,
    WORST_N,
};
use crate::data::EncodedTable;
use crate::marginal::{all_k_way, Clique, Domain};

/// RNG stream for sampling cliques (the holdout split and DCR sampling use others).
const STREAM_CLIQUES: u64 = 1;

/// The cliques evaluated for one k: all k-subsets, or a seeded uniform sample of `max` of
/// them (without replacement, then sorted so the order does not depend on the sample).
pub(crate) fn choose_cliques(
    n_cols: usize,
    k: usize,
    max: Option<usize>,
    seed: u64,
) -> (Vec<Clique>, usize) {
    let all = all_k_way(n_cols, k);
    let total = all.len();
    match max {
        Some(m) if m < total => {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(STREAM_CLIQUES + ((k as u64) << 8));
            let mut idx = sample(&mut rng, total, m).into_vec();
            idx.sort_unstable();
            (idx.into_iter().map(|i| all[i].clone()).collect(), total)
        }
        _ => (all, total),
    }
}

/// Counts each clique on both tables (in parallel over cliques; counting itself is parallel
/// over rows too) and returns the per-clique errors. Each table is counted once per clique and
/// the counts are dropped as soon as the error is known.
pub(crate) fn clique_errors(
    real: &EncodedTable,
    synth: &EncodedTable,
    domain: &Domain,
    cliques: &[Clique],
) -> Result<Vec<(CliqueError, WorstMarginal)>, EvalError> {
    cliques
        .par_iter()
        .map(|c| {
            let r = Joint::count(real, domain, c)?;
            let s = Joint::count(synth, domain, c)?;
            Ok(summarise(domain, c, &r, &s))
        })
        .collect()
}

/// Counts of every clique on both tables, kept (used for the 2-way marginals, which both the
/// fidelity errors and the association matrices need).
pub(crate) fn count_both(
    real: &EncodedTable,
    synth: &EncodedTable,
    domain: &Domain,
    cliques: &[Clique],
) -> Result<Vec<(Joint, Joint)>, EvalError> {
    cliques
        .par_iter()
        .map(|c| {
            Ok((
                Joint::count(real, domain, c)?,
                Joint::count(synth, domain, c)?,
            ))
        })
        .collect()
}

/// Per-clique errors of `chosen` (a subset of `all`) from counts already made for `all`.
pub(crate) fn errors_from_counts(
    domain: &Domain,
    all: &[Clique],
    counts: &[(Joint, Joint)],
    chosen: &[Clique],
) -> Vec<(CliqueError, WorstMarginal)> {
    chosen
        .iter()
        .filter_map(|c| {
            all.binary_search(c)
                .ok()
                .map(|i| summarise(domain, c, &counts[i].0, &counts[i].1))
        })
        .collect()
}

fn summarise(domain: &Domain, c: &Clique, r: &Joint, s: &Joint) -> (CliqueError, WorstMarginal) {
    let res = l1(r, s);
    let err = CliqueError {
        attrs: c.attrs().to_vec(),
        l1: res.l1,
    };
    let worst = WorstMarginal {
        columns: c
            .attrs()
            .iter()
            .map(|&a| domain.name(a).to_string())
            .collect(),
        attrs: c.attrs().to_vec(),
        l1: res.l1,
        tv: res.l1 / 2.0,
        cell: r.decode(res.worst_cell),
        real_share: res.real_share,
        synthetic_share: res.synthetic_share,
    };
    (err, worst)
}

/// Summary statistics of one k from the per-clique results.
pub(crate) fn kway_summary(
    k: usize,
    total: usize,
    results: Vec<(CliqueError, WorstMarginal)>,
) -> KWayFidelity {
    let n = results.len();
    let mean_l1 = if n == 0 {
        0.0
    } else {
        results.iter().map(|(e, _)| e.l1).sum::<f64>() / n as f64
    };
    let max_l1 = results.iter().map(|(e, _)| e.l1).fold(0.0, f64::max);
    let mut worst: Vec<WorstMarginal> = results.iter().map(|(_, w)| w.clone()).collect();
    // Largest error first; ties broken by attribute list so the order is reproducible.
    worst.sort_by(|a, b| b.l1.total_cmp(&a.l1).then_with(|| a.attrs.cmp(&b.attrs)));
    worst.truncate(WORST_N);
    KWayFidelity {
        k,
        total_cliques: total,
        evaluated: n,
        sampled: n < total,
        mean_l1,
        max_l1,
        mean_tv: mean_l1 / 2.0,
        worst,
        all: results.into_iter().map(|(e, _)| e).collect(),
    }
}

/// Per-column total variation `0.5 * sum_v |p(v) - q(v)|` from the one-way errors.
pub(crate) fn column_tv(
    domain: &Domain,
    one_way: &[(CliqueError, WorstMarginal)],
) -> Vec<ColumnTv> {
    one_way
        .iter()
        .map(|(e, _)| ColumnTv {
            column: domain.name(e.attrs[0]).to_string(),
            tv: e.l1 / 2.0,
        })
        .collect()
}

/// Association of the two attributes of a 2-way joint: Pearson correlation of the codes when
/// `pearson`, otherwise Cramér's V. `None` when undefined (a constant attribute, no rows).
pub(crate) fn association(j: &Joint, pearson: bool) -> Option<f64> {
    if j.total <= 0.0 {
        return None;
    }
    let rows = j.axis_sums(0);
    let cols = j.axis_sums(1);
    let n = j.total;
    if pearson {
        let mean = |v: &[f64]| v.iter().enumerate().map(|(i, c)| i as f64 * c).sum::<f64>() / n;
        let (ma, mb) = (mean(&rows), mean(&cols));
        let var = |v: &[f64], m: f64| {
            v.iter()
                .enumerate()
                .map(|(i, c)| c * (i as f64 - m).powi(2))
                .sum::<f64>()
        };
        let (va, vb) = (var(&rows, ma), var(&cols, mb));
        let mut cov = 0.0;
        let width = j.shape[1] as u128;
        j.for_each_nonzero(|i, c| {
            let (a, b) = ((i / width) as f64, (i % width) as f64);
            cov += c * (a - ma) * (b - mb);
        });
        if va <= 0.0 || vb <= 0.0 {
            return None;
        }
        Some((cov / (va * vb).sqrt()).clamp(-1.0, 1.0))
    } else {
        // chi^2 = n * (sum over occupied cells of O^2 / (row * col) - 1); V uses the numbers of
        // occupied levels, as a contingency table built from the data would.
        let r_levels = rows.iter().filter(|&&c| c > 0.0).count();
        let c_levels = cols.iter().filter(|&&c| c > 0.0).count();
        let m = r_levels.min(c_levels);
        if m < 2 {
            return None;
        }
        let width = j.shape[1] as u128;
        let mut s = 0.0;
        j.for_each_nonzero(|i, o| {
            let (a, b) = ((i / width) as usize, (i % width) as usize);
            s += o * o / (rows[a] * cols[b]);
        });
        let phi2 = (s - 1.0).max(0.0);
        Some((phi2 / (m - 1) as f64).sqrt().min(1.0))
    }
}

/// Association matrices for real and synthetic data over every pair of columns, and their
/// absolute differences, from the 2-way counts of `pairs` (all pairs, in `all_k_way` order).
pub(crate) fn associations(
    domain: &Domain,
    pairs: &[Clique],
    counts: &[(Joint, Joint)],
    numeric: &[bool],
) -> Associations {
    let d = domain.len();
    let is_num = |i: usize| numeric.get(i).copied().unwrap_or(false);
    let values: Vec<(Option<f64>, Option<f64>)> = pairs
        .iter()
        .zip(counts)
        .map(|(c, (r, s))| {
            let pearson = is_num(c.attrs()[0]) && is_num(c.attrs()[1]);
            (association(r, pearson), association(s, pearson))
        })
        .collect();
    let mut kind = vec![vec![AssociationKind::CramersV; d]; d];
    let mut real_m = vec![vec![None; d]; d];
    let mut synth_m = vec![vec![None; d]; d];
    let mut diff = vec![vec![None; d]; d];
    let mut sum = 0.0;
    let mut n = 0usize;
    let mut max: Option<(f64, usize, usize)> = None;
    for (c, (r, s)) in pairs.iter().zip(values) {
        let (a, b) = (c.attrs()[0], c.attrs()[1]);
        let k = if is_num(a) && is_num(b) {
            AssociationKind::Pearson
        } else {
            AssociationKind::CramersV
        };
        // Undefined on one side only (e.g. a column constant in the synthetic data) counts as 0,
        // so the difference still shows up; undefined on both sides stays undefined.
        let dv = match (r, s) {
            (None, None) => None,
            (x, y) => Some((x.unwrap_or(0.0) - y.unwrap_or(0.0)).abs()),
        };
        for (i, j) in [(a, b), (b, a)] {
            kind[i][j] = k;
            real_m[i][j] = r;
            synth_m[i][j] = s;
            diff[i][j] = dv;
        }
        if let Some(v) = dv {
            sum += v;
            n += 1;
            if max.is_none_or(|(m, _, _)| v > m) {
                max = Some((v, a, b));
            }
        }
    }
    Associations {
        kind,
        real: real_m,
        synthetic: synth_m,
        abs_diff: diff,
        mean_abs_diff: if n == 0 { None } else { Some(sum / n as f64) },
        max_abs_diff: max.map(|(v, _, _)| v),
        max_pair: max.map(|(_, a, b)| [domain.name(a).to_string(), domain.name(b).to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joint(rows: &[Vec<u32>], sizes: &[usize]) -> Joint {
        let names: Vec<String> = (0..sizes.len()).map(|i| format!("c{i}")).collect();
        let t = EncodedTable::from_rows(names.clone(), sizes.to_vec(), rows).unwrap();
        let d = Domain::new(names, sizes.to_vec());
        Joint::count(&t, &d, &Clique::new([0, 1])).unwrap()
    }

    #[test]
    fn cramers_v_of_perfect_and_no_association() {
        let perfect = joint(&[vec![0, 2], vec![1, 0], vec![2, 1], vec![0, 2]], &[3, 3]);
        assert!((association(&perfect, false).unwrap() - 1.0).abs() < 1e-12);
        let indep = joint(&[vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]], &[2, 2]);
        assert!(association(&indep, false).unwrap().abs() < 1e-12);
        let constant = joint(&[vec![0, 0], vec![0, 1]], &[2, 2]);
        assert_eq!(association(&constant, false), None);
    }

    #[test]
    fn cramers_v_matches_textbook_chi_square() {
        // 2x3 table [[10, 20, 30], [20, 20, 10]]: chi^2 by (O-E)^2/E.
        let mut rows = Vec::new();
        for (a, b, n) in [
            (0, 0, 10),
            (0, 1, 20),
            (0, 2, 30),
            (1, 0, 20),
            (1, 1, 20),
            (1, 2, 10),
        ] {
            rows.extend(std::iter::repeat_n(vec![a, b], n));
        }
        let j = joint(&rows, &[2, 3]);
        let obs = [[10.0, 20.0, 30.0], [20.0, 20.0, 10.0]];
        let n = 110.0;
        let rs = [60.0, 50.0];
        let cs = [30.0, 40.0, 40.0];
        let mut chi2 = 0.0;
        for a in 0..2 {
            for b in 0..3 {
                let e = rs[a] * cs[b] / n;
                chi2 += (obs[a][b] - e) * (obs[a][b] - e) / e;
            }
        }
        let v = (chi2 / n / 1.0f64).sqrt();
        assert!((association(&j, false).unwrap() - v).abs() < 1e-12);
    }

    #[test]
    fn pearson_on_codes() {
        let j = joint(&[vec![0, 0], vec![1, 2], vec![2, 4], vec![3, 6]], &[4, 7]);
        assert!((association(&j, true).unwrap() - 1.0).abs() < 1e-12);
        let j = joint(&[vec![0, 3], vec![1, 2], vec![2, 1], vec![3, 0]], &[4, 4]);
        assert!((association(&j, true).unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn clique_sample_is_seeded_and_bounded() {
        let (a, total) = choose_cliques(15, 3, Some(50), 7);
        let (b, _) = choose_cliques(15, 3, Some(50), 7);
        assert_eq!(total, 455);
        assert_eq!(a.len(), 50);
        assert_eq!(a, b);
        assert_eq!(choose_cliques(15, 3, Some(1000), 7).0.len(), 455);
        assert_eq!(choose_cliques(15, 3, None, 7).0.len(), 455);
    }
}
