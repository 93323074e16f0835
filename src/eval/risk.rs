//! Disclosure-risk checks: exact matches between the tables and the distance-to-closest-record
//! (DCR) test against a real holdout.
//!
//! Rows are compared on their codes. For speed each row is packed into fixed-width blocks of
//! lanes (16 x u8, 8 x u16 or 4 x u32 by the widest column) padded with zeros, so a Hamming
//! distance is a handful of vector compares; padding lanes are equal on both sides.

use std::collections::HashSet;
use std::hash::Hash;

use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::{Dcr, DcrQuantiles, Risk, RiskVerdict};
use crate::data::EncodedTable;

const STREAM_SPLIT: u64 = 2;
const STREAM_DCR_SYNTH: u64 = 3;
const STREAM_DCR_HOLDOUT: u64 = 4;

/// Standard errors an excess must exceed before the verdict flags it: a one-sided z-test at
/// about 3 sigma, so a generator that does not copy is flagged by chance about 0.1% of the time.
const Z_FLAG: f64 = 3.0;
/// Smallest excess (in share of records) worth flagging regardless of sample size.
const MIN_EXCESS: f64 = 0.01;

/// Seeded split of `0..n` into a training half (the first `n / 2` of a ChaCha20 shuffle) and
/// a holdout (the rest). Both index lists are sorted.
pub(crate) fn split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_SPLIT);
    idx.shuffle(&mut rng);
    let mut train = idx[..n / 2].to_vec();
    let mut holdout = idx[n / 2..].to_vec();
    train.sort_unstable();
    holdout.sort_unstable();
    (train, holdout)
}

/// Rows packed into `blocks` lane arrays each.
struct Packed<T, const L: usize> {
    blocks: usize,
    data: Vec<[T; L]>,
}

impl<T: Copy + Default + PartialEq + Eq + Hash + Send + Sync, const L: usize> Packed<T, L> {
    fn new(table: &EncodedTable, rows: &[usize], conv: fn(u32) -> T) -> Self {
        let blocks = table.n_cols().div_ceil(L).max(1);
        let mut data = vec![[T::default(); L]; rows.len() * blocks];
        for c in 0..table.n_cols() {
            let col = table.column(c);
            let (b, lane) = (c / L, c % L);
            for (i, &r) in rows.iter().enumerate() {
                data[i * blocks + b][lane] = conv(col.get(r));
            }
        }
        Packed { blocks, data }
    }

    fn row(&self, i: usize) -> &[[T; L]] {
        &self.data[i * self.blocks..(i + 1) * self.blocks]
    }

    fn len(&self) -> usize {
        self.data.len() / self.blocks
    }

    fn set(&self) -> HashSet<&[[T; L]]> {
        self.data.chunks_exact(self.blocks).collect()
    }

    /// Share of this table's rows that occur in `other`.
    fn share_in(&self, other: &HashSet<&[[T; L]]>) -> f64 {
        if self.len() == 0 {
            return 0.0;
        }
        let hits = self
            .data
            .chunks_exact(self.blocks)
            .filter(|r| other.contains(r))
            .count();
        hits as f64 / self.len() as f64
    }

    /// Hamming distance from each query row to its closest reference row, in parallel.
    fn min_distances(&self, refs: &Self) -> Vec<u32> {
        #[inline(always)]
        fn block<T: PartialEq, const L: usize>(a: &[T; L], b: &[T; L]) -> u32 {
            let mut d = 0u32;
            for k in 0..L {
                d += (a[k] != b[k]) as u32;
            }
            d
        }
        (0..self.len())
            .into_par_iter()
            .map(|i| {
                let q = self.row(i);
                let mut best = u32::MAX;
                if self.blocks == 1 {
                    // The common case (up to 16 narrow columns): one compare per reference.
                    for r in &refs.data {
                        let d = block(&q[0], r);
                        if d < best {
                            best = d;
                            if d == 0 {
                                break;
                            }
                        }
                    }
                } else {
                    for r in refs.data.chunks_exact(refs.blocks) {
                        let d: u32 = q.iter().zip(r).map(|(a, b)| block(a, b)).sum();
                        if d < best {
                            best = d;
                            if d == 0 {
                                break;
                            }
                        }
                    }
                }
                best
            })
            .collect()
    }
}

/// Everything the risk section needs, for one lane width.
#[allow(clippy::too_many_arguments)]
fn risk_with<T: Copy + Default + Eq + Hash + Send + Sync, const L: usize>(
    real: &EncodedTable,
    synth: &EncodedTable,
    train: &[usize],
    holdout: &[usize],
    dcr_sample: usize,
    seed: u64,
    conv: fn(u32) -> T,
) -> Risk {
    let all_real: Vec<usize> = (0..real.n_rows()).collect();
    let all_synth: Vec<usize> = (0..synth.n_rows()).collect();
    let p_real = Packed::<T, L>::new(real, &all_real, conv);
    let p_synth = Packed::<T, L>::new(synth, &all_synth, conv);
    let p_train = Packed::<T, L>::new(real, train, conv);
    let p_hold = Packed::<T, L>::new(real, holdout, conv);

    let real_set = p_real.set();
    let synth_set = p_synth.set();
    let train_set = p_train.set();
    let synthetic_in_real_share = p_synth.share_in(&real_set);
    let real_in_synthetic_share = p_real.share_in(&synth_set);
    let synthetic_in_train_share = p_synth.share_in(&train_set);
    let holdout_in_train_share = p_hold.share_in(&train_set);

    let dcr = (dcr_sample > 0 && !train.is_empty()).then(|| {
        let s_rows = sample_rows(synth.n_rows(), dcr_sample, seed, STREAM_DCR_SYNTH);
        let h_idx = sample_rows(holdout.len(), dcr_sample, seed, STREAM_DCR_HOLDOUT);
        let h_rows: Vec<usize> = h_idx.iter().map(|&i| holdout[i]).collect();
        let q_synth = Packed::<T, L>::new(synth, &s_rows, conv);
        let q_hold = Packed::<T, L>::new(real, &h_rows, conv);
        let ds = q_synth.min_distances(&p_train);
        let dh = q_hold.min_distances(&p_train);
        dcr_summary(real.n_cols(), train.len(), holdout.len(), &ds, &dh)
    });

    let verdict = verdict(
        (synthetic_in_train_share, synth.n_rows()),
        (holdout_in_train_share, holdout.len()),
        dcr.as_ref(),
    );
    Risk {
        synthetic_in_real_share,
        real_in_synthetic_share,
        synthetic_in_train_share,
        holdout_in_train_share,
        dcr,
        verdict,
    }
}

/// Risk metrics; see the module docs of `crate::eval` for definitions.
pub(crate) fn risk(
    real: &EncodedTable,
    synth: &EncodedTable,
    train: &[usize],
    holdout: &[usize],
    dcr_sample: usize,
    seed: u64,
) -> Risk {
    let widest = real.cardinalities().iter().copied().max().unwrap_or(1);
    if widest <= 1 << 8 {
        risk_with::<u8, 16>(real, synth, train, holdout, dcr_sample, seed, |c| c as u8)
    } else if widest <= 1 << 16 {
        risk_with::<u16, 8>(real, synth, train, holdout, dcr_sample, seed, |c| c as u16)
    } else {
        risk_with::<u32, 4>(real, synth, train, holdout, dcr_sample, seed, |c| c)
    }
}

/// Up to `k` of `0..n`, uniformly without replacement (all of them, in order, if `n <= k`).
fn sample_rows(n: usize, k: usize, seed: u64, stream: u64) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut v = sample(&mut rng, n, k).into_vec();
    v.sort_unstable();
    v
}

/// Nearest-rank quantile of sorted integer distances: the smallest d with share(<= d) >= p.
fn quantile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

fn quantiles(d: &[u32]) -> DcrQuantiles {
    let mut s = d.to_vec();
    s.sort_unstable();
    let mean = if s.is_empty() {
        0.0
    } else {
        s.iter().map(|&x| x as f64).sum::<f64>() / s.len() as f64
    };
    DcrQuantiles {
        min: quantile(&s, 0.0),
        p5: quantile(&s, 0.05),
        p25: quantile(&s, 0.25),
        p50: quantile(&s, 0.5),
        p75: quantile(&s, 0.75),
        p95: quantile(&s, 0.95),
        max: s.last().map_or(0.0, |&x| x as f64),
        mean,
    }
}

fn histogram(d: &[u32], n_cols: usize) -> Vec<f64> {
    let mut h = vec![0.0; n_cols + 1];
    for &x in d {
        h[(x as usize).min(n_cols)] += 1.0;
    }
    let n = d.len().max(1) as f64;
    h.iter_mut().for_each(|v| *v /= n);
    h
}

fn share_le(d: &[u32], t: f64) -> f64 {
    if d.is_empty() {
        return 0.0;
    }
    d.iter().filter(|&&x| x as f64 <= t).count() as f64 / d.len() as f64
}

fn dcr_summary(
    n_cols: usize,
    train_rows: usize,
    holdout_rows: usize,
    ds: &[u32],
    dh: &[u32],
) -> Dcr {
    let hq = quantiles(dh);
    let threshold = hq.p5;
    Dcr {
        method:
            "Hamming distance on codes (number of columns that differ) from each sampled record \
                 to its closest record in the real training half (all of it)"
                .to_string(),
        train_rows,
        holdout_rows,
        synthetic_sampled: ds.len(),
        holdout_sampled: dh.len(),
        synthetic_to_train: quantiles(ds),
        holdout_to_train: hq,
        synthetic_histogram: histogram(ds, n_cols),
        holdout_histogram: histogram(dh, n_cols),
        threshold,
        synthetic_within_threshold: share_le(ds, threshold),
        holdout_within_threshold: share_le(dh, threshold),
    }
}

/// Whether `a` (share, n) exceeds `b` (share, n) by more than chance and by a margin that
/// matters: one-sided two-proportion z-test with pooled variance.
fn excess(a: (f64, usize), b: (f64, usize)) -> bool {
    let (pa, na) = (a.0, a.1.max(1) as f64);
    let (pb, nb) = (b.0, b.1.max(1) as f64);
    let p = (pa * na + pb * nb) / (na + nb);
    let se = (p * (1.0 - p) * (1.0 / na + 1.0 / nb)).sqrt();
    let diff = pa - pb;
    diff > MIN_EXCESS && diff > Z_FLAG * se
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn verdict(copies: (f64, usize), baseline: (f64, usize), dcr: Option<&Dcr>) -> RiskVerdict {
    let mut reasons = Vec::new();
    if excess(copies, baseline) {
        reasons.push(format!(
            "{} of synthetic records equal a training-half record on every column, against {} of real holdout records",
            pct(copies.0),
            pct(baseline.0)
        ));
    }
    if let Some(d) = dcr {
        if excess(
            (d.synthetic_within_threshold, d.synthetic_sampled),
            (d.holdout_within_threshold, d.holdout_sampled),
        ) {
            reasons.push(format!(
                "{} of sampled synthetic records are within distance {} of a training record, against {} of holdout records",
                pct(d.synthetic_within_threshold),
                d.threshold,
                pct(d.holdout_within_threshold)
            ));
        }
    }
    let flagged = !reasons.is_empty();
    let text = if flagged {
        format!(
            "CAUTION: synthetic records are closer to the real training records than fresh real records are ({}). \
             This suggests memorisation; inspect before release.",
            reasons.join("; ")
        )
    } else {
        let dcr_part = dcr.map_or(String::new(), |d| {
            format!(
                "; within distance {}: {} synthetic vs {} holdout",
                d.threshold,
                pct(d.synthetic_within_threshold),
                pct(d.holdout_within_threshold)
            )
        });
        format!(
            "No sign of memorisation: synthetic records are no closer to the real training half than real holdout \
             records are (exact matches: {} synthetic vs {} holdout{dcr_part}). This is a heuristic check, not a \
             privacy guarantee.",
            pct(copies.0),
            pct(baseline.0)
        )
    };
    RiskVerdict { flagged, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[Vec<u32>], sizes: &[usize]) -> EncodedTable {
        let names: Vec<String> = (0..sizes.len()).map(|i| format!("c{i}")).collect();
        EncodedTable::from_rows(names, sizes.to_vec(), rows).unwrap()
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let (a, b) = split(11, 3);
        assert_eq!((a.len(), b.len()), (5, 6));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert_eq!(split(11, 3), (a, b));
        assert_ne!(split(100, 3).0, split(100, 4).0);
    }

    #[test]
    fn hamming_distances_in_every_lane_width() {
        // 20 columns forces two blocks of u8; a wide column forces u16 and u32 lanes.
        for widest in [2usize, 300, 70_000] {
            let mut sizes = vec![2usize; 20];
            sizes[19] = widest;
            let last = (widest - 1) as u32;
            let refs = table(&[vec![0; 20], [vec![1; 19], vec![last]].concat()], &sizes);
            let q = table(
                &[
                    [vec![0; 19], vec![last]].concat(),
                    [vec![1; 10], vec![0; 10]].concat(),
                ],
                &sizes,
            );
            let run = |r: &EncodedTable, s: &EncodedTable| -> Vec<u32> {
                let ri: Vec<usize> = (0..r.n_rows()).collect();
                let si: Vec<usize> = (0..s.n_rows()).collect();
                if widest <= 256 {
                    Packed::<u8, 16>::new(s, &si, |c| c as u8).min_distances(&Packed::new(
                        r,
                        &ri,
                        |c| c as u8,
                    ))
                } else if widest <= 65536 {
                    Packed::<u16, 8>::new(s, &si, |c| c as u16).min_distances(&Packed::new(
                        r,
                        &ri,
                        |c| c as u16,
                    ))
                } else {
                    Packed::<u32, 4>::new(s, &si, |c| c).min_distances(&Packed::new(r, &ri, |c| c))
                }
            };
            // Query 0 differs from ref 0 only in the last column. Query 1 (ten 1s, ten 0s) differs
            // from each reference in ten columns.
            assert_eq!(run(&refs, &q), vec![1, 10], "widest {widest}");
        }
    }

    #[test]
    fn copies_are_flagged_and_fresh_draws_are_not() {
        // Real rows: all 4096 combinations of 12 binary columns. A copy of the data is flagged;
        // a disjoint set of records (different last column pattern) is not.
        let rows: Vec<Vec<u32>> = (0..4096u32)
            .map(|x| (0..12).map(|b| (x >> b) & 1).collect())
            .collect();
        let real = table(&rows, &[2; 12]);
        let (train, holdout) = split(real.n_rows(), 1);
        let copy = risk(&real, &real, &train, &holdout, 1000, 1);
        assert!(copy.verdict.flagged, "{}", copy.verdict.text);
        assert!((copy.synthetic_in_real_share - 1.0).abs() < 1e-12);
        assert!((copy.real_in_synthetic_share - 1.0).abs() < 1e-12);
        assert!((copy.synthetic_in_train_share - 0.5).abs() < 1e-12);
        assert_eq!(copy.holdout_in_train_share, 0.0);

        // Fresh: real rows again, but redrawn by a different seeded split, compared as a
        // holdout-like sample: take the holdout half itself as "synthetic".
        let hold_rows: Vec<Vec<u32>> = holdout.iter().map(|&r| real.row(r)).collect();
        let fresh = table(&hold_rows, &[2; 12]);
        let r = risk(&real, &fresh, &train, &holdout, 1000, 1);
        assert_eq!(r.synthetic_in_train_share, 0.0);
        assert!(!r.verdict.flagged, "{}", r.verdict.text);
        let d = r.dcr.unwrap();
        assert_eq!(d.synthetic_sampled, 1000);
        assert_eq!(d.holdout_sampled, 1000);
        assert_eq!(d.synthetic_histogram.len(), 13);
        assert!((d.synthetic_histogram.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let s = [0, 1, 1, 2, 3, 3, 3, 4, 5, 9];
        assert_eq!(quantile(&s, 0.0), 0.0);
        assert_eq!(quantile(&s, 0.05), 0.0);
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.95), 9.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
