//! Gibbs sampling from a Markov random field `p(x) ∝ exp(sum_F phi_F(x_F))` given as
//! log-potentials on factors: the sampler behind [`super::ApproxModel::sample_gibbs`], for
//! models with no junction tree to sample along.
//!
//! Systematic scan: a sweep redraws every attribute in index order from its conditional
//! given the rest (the product of the factors holding it, computed in log space and shifted
//! by its maximum). Records come from independent chains, each with its own ChaCha20
//! stream (`seed`, stream = chain index), so the output depends only on the seed and the
//! options, never on the thread count. Each chain starts from a draw of independent
//! attributes (the caller's initial distributions), runs `burn_in` sweeps, then emits a
//! record every `thin` sweeps. Chain `k` emits records `k * rows / chains ..` in order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::layout::strides;
use super::sample::to_columns;
use crate::marginal::Clique;

/// Burn-in, thinning, chains and potential calibration of
/// [`super::ApproxModel::sample_gibbs`].
#[derive(Clone, Debug, PartialEq)]
pub struct GibbsOptions {
    /// Sweeps discarded at the start of each chain.
    pub burn_in: usize,
    /// Sweeps between consecutive records of a chain (at least 1).
    pub thin: usize,
    /// Independent chains (at least 1); the records are split evenly among them.
    pub chains: usize,
    /// Rounds of stochastic IPF that move the sampling potentials towards the
    /// pseudo-marginals before the final draw (loopy graphs only; an acyclic graph's fitted
    /// potentials are already exact).
    pub calibration_rounds: usize,
    /// Records drawn per calibration round (0 skips the calibration).
    pub calibration_records: usize,
    /// Step of a calibration round, relative to each factor's counting number.
    pub calibration_step: f64,
}

impl Default for GibbsOptions {
    /// 200 sweeps of burn-in, a record every 4 sweeps, 16 chains; 30 calibration rounds of
    /// 20,000 records with step 0.4. Measured on titanic's 36-pair model
    /// (`tests/model_approx.rs`): the records' pair marginals are as close to the
    /// pseudo-marginals with this burn-in and thinning as with ten times both, and the
    /// calibration cuts their mean L1 distance about sixfold; twice the step diverges.
    fn default() -> Self {
        GibbsOptions {
            burn_in: 200,
            thin: 4,
            chains: 16,
            calibration_rounds: 30,
            calibration_records: 20_000,
            calibration_step: 0.4,
        }
    }
}

/// For one attribute and one factor holding it: where the attribute's values sit in the
/// factor's table, and the other attributes' strides.
struct Slot {
    offset: usize,
    stride: usize,
    others: Vec<(usize, usize)>,
}

/// Draws `rows` records (column-major codes) by Gibbs sampling.
///
/// `phi` is a flat vector of log-potentials, factor `f` at `offsets[f]..offsets[f + 1]`
/// (row-major over its sorted attributes); `init[a]` is the distribution each chain's first
/// value of attribute `a` is drawn from (any positive weights).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gibbs(
    sizes: &[usize],
    factors: &[Clique],
    offsets: &[usize],
    phi: &[f64],
    init: &[Vec<f64>],
    rows: usize,
    seed: u64,
    opts: &GibbsOptions,
) -> Vec<Vec<u32>> {
    let n = sizes.len();
    let mut slots: Vec<Vec<Slot>> = (0..n).map(|_| Vec::new()).collect();
    for (f, c) in factors.iter().enumerate() {
        let shape: Vec<usize> = c.attrs().iter().map(|&a| sizes[a]).collect();
        let st = strides(&shape);
        for (k, &a) in c.attrs().iter().enumerate() {
            let others = c
                .attrs()
                .iter()
                .zip(&st)
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, (&b, &s))| (b, s))
                .collect();
            slots[a].push(Slot {
                offset: offsets[f],
                stride: st[k],
                others,
            });
        }
    }
    let chains = opts.chains.max(1).min(rows.max(1));
    let thin = opts.thin.max(1);
    let per_chain: Vec<usize> = (0..chains)
        .map(|k| rows / chains + usize::from(k < rows % chains))
        .collect();
    let chunks: Vec<Vec<u32>> = (0..chains)
        .into_par_iter()
        .map(|k| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(k as u64);
            let mut x: Vec<usize> = init.iter().map(|w| draw(w, &mut rng)).collect();
            let mut logits = Vec::new();
            let mut sweep = |x: &mut Vec<usize>, rng: &mut ChaCha20Rng| {
                for a in 0..n {
                    logits.clear();
                    logits.resize(sizes[a], 0.0);
                    for s in &slots[a] {
                        let base =
                            s.offset + s.others.iter().map(|&(b, st)| x[b] * st).sum::<usize>();
                        for (v, l) in logits.iter_mut().enumerate() {
                            *l += phi[base + v * s.stride];
                        }
                    }
                    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let m = if m.is_finite() { m } else { 0.0 };
                    logits.iter_mut().for_each(|l| *l = (*l - m).exp());
                    x[a] = draw(&logits, rng);
                }
            };
            for _ in 0..opts.burn_in {
                sweep(&mut x, &mut rng);
            }
            let mut out = Vec::with_capacity(per_chain[k] * n);
            for r in 0..per_chain[k] {
                if r > 0 {
                    for _ in 0..thin {
                        sweep(&mut x, &mut rng);
                    }
                }
                out.extend(x.iter().map(|&v| v as u32));
            }
            out
        })
        .collect();
    to_columns(&chunks.concat(), n, rows)
}

/// Index drawn with probability proportional to the (non-negative) weights; uniform if
/// they are all zero or not finite.
fn draw(w: &[f64], rng: &mut ChaCha20Rng) -> usize {
    let total: f64 = w.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return rng.gen_range(0..w.len().max(1));
    }
    let u = rng.gen::<f64>() * total;
    let mut acc = 0.0;
    for (i, &p) in w.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding left u at the very top: the last positive weight.
    w.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopy model: a 3-cycle of pairs over sizes 2, 3, 2 plus a singleton.
    fn model() -> (Vec<usize>, Vec<Clique>, Vec<usize>, Vec<f64>) {
        let sizes = vec![2, 3, 2];
        let factors = vec![
            Clique::new([0, 1]),
            Clique::new([0, 2]),
            Clique::new([1, 2]),
        ];
        let offsets = vec![0, 6, 10, 16];
        let phi: Vec<f64> = (0..16)
            .map(|i| 1.5 * ((i * 37 % 11) as f64 / 11.0 - 0.5))
            .collect();
        (sizes, factors, offsets, phi)
    }

    /// Unnormalised probability of a full state.
    fn weight(
        sizes: &[usize],
        factors: &[Clique],
        offsets: &[usize],
        phi: &[f64],
        x: &[usize],
    ) -> f64 {
        factors
            .iter()
            .enumerate()
            .map(|(f, c)| {
                let i = c.attrs().iter().fold(0, |i, &a| i * sizes[a] + x[a]);
                phi[offsets[f] + i]
            })
            .sum::<f64>()
            .exp()
    }

    fn states(sizes: &[usize]) -> Vec<Vec<usize>> {
        let cells: usize = sizes.iter().product();
        (0..cells)
            .map(|mut r| {
                let mut x = vec![0; sizes.len()];
                for a in (0..sizes.len()).rev() {
                    x[a] = r % sizes[a];
                    r /= sizes[a];
                }
                x
            })
            .collect()
    }

    #[test]
    fn independent_chains_match_the_exact_marginals() {
        let (sizes, factors, offsets, phi) = model();
        let all = states(&sizes);
        let index = |x: &[usize]| x.iter().zip(&sizes).fold(0, |i, (&v, &s)| i * s + v);
        let w: Vec<f64> = all
            .iter()
            .map(|x| weight(&sizes, &factors, &offsets, &phi, x))
            .collect();
        let z: f64 = w.iter().sum();
        let target: Vec<f64> = w.iter().map(|v| v / z).collect();
        let init: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![1.0; s]).collect();
        let burn_in = 30;
        // Burn-in bias, computed exactly: push the start distribution through `burn_in`
        // systematic-scan sweeps on the 12 states.
        // Each chain starts from independent uniform draws: uniform over the states.
        let mut dist = vec![1.0 / all.len() as f64; all.len()];
        for _ in 0..burn_in {
            for a in 0..sizes.len() {
                let mut next = vec![0.0; dist.len()];
                for (i, x) in all.iter().enumerate() {
                    // Conditional of attribute a given the others, from state x.
                    let mut y = x.clone();
                    let ws: Vec<f64> = (0..sizes[a])
                        .map(|v| {
                            y[a] = v;
                            w[index(&y)]
                        })
                        .collect();
                    let t: f64 = ws.iter().sum();
                    for (v, wv) in ws.iter().enumerate() {
                        y[a] = v;
                        next[index(&y)] += dist[i] * wv / t;
                    }
                }
                dist = next;
            }
        }
        let tv: f64 = dist.iter().zip(&target).map(|(a, b)| (a - b).abs()).sum();
        assert!(tv < 1e-9, "burn-in bias {tv}");
        // One record per chain: n independent draws from `dist`. For a table of k cells the
        // empirical distribution's L1 error exceeds eps with probability at most
        // 2^k exp(-n eps^2 / 2) (Bretagnolle-Huber-Carol); with n = 20,000 and k <= 12,
        // eps = 0.06 gives at most 4.4e-12 per table, so with the 6 tables below and the
        // burn-in bias this test fails by chance with probability below 1e-10.
        let n = 20_000;
        let opts = GibbsOptions {
            burn_in,
            thin: 1,
            chains: n,
            ..Default::default()
        };
        let cols = gibbs(&sizes, &factors, &offsets, &phi, &init, n, 7, &opts);
        assert_eq!(cols.len(), 3);
        assert!(cols.iter().all(|c| c.len() == n));
        let tables: Vec<Vec<usize>> = vec![
            vec![0],
            vec![1],
            vec![2],
            vec![0, 1],
            vec![0, 2],
            vec![1, 2],
        ];
        let eps = 0.06;
        let bound = (2f64.powi(12) * (-(n as f64) * eps * eps / 2.0).exp()) * 6.0;
        assert!(bound < 1e-10);
        for t in &tables {
            let cells: usize = t.iter().map(|&a| sizes[a]).product();
            let cell = |x: &[usize]| t.iter().fold(0, |i, &a| i * sizes[a] + x[a]);
            let mut want = vec![0.0; cells];
            for (x, p) in all.iter().zip(&target) {
                want[cell(x)] += p;
            }
            let mut got = vec![0.0; cells];
            for r in 0..n {
                let x: Vec<usize> = cols.iter().map(|c| c[r] as usize).collect();
                got[cell(&x)] += 1.0 / n as f64;
            }
            let l1: f64 = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).sum();
            assert!(l1 < eps, "table {t:?}: L1 {l1}");
        }
    }

    #[test]
    fn equal_seeds_give_equal_records() {
        let (sizes, factors, offsets, phi) = model();
        let init: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![1.0; s]).collect();
        let opts = GibbsOptions::default();
        let a = gibbs(&sizes, &factors, &offsets, &phi, &init, 1001, 3, &opts);
        let b = gibbs(&sizes, &factors, &offsets, &phi, &init, 1001, 3, &opts);
        let c = gibbs(&sizes, &factors, &offsets, &phi, &init, 1001, 4, &opts);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0].len(), 1001);
    }
}
