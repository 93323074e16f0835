//! Domain compression (MST step 2): rare values, by their noisy one-way counts, share a code.
//!
//! The map is a function of noisy one-way marginals only, so building it and decoding
//! through it are post-processing (proofs/mst.md, "Domain compression").

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::marginal::{Clique, Domain, MarginalOracle, MarginalTable, OracleError};

/// Per attribute: which original codes share each compressed code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compression {
    /// `groups[attr][compressed_code]` = the original codes it stands for (sorted).
    pub groups: Vec<Vec<Vec<u32>>>,
    /// `weights[attr][compressed_code][i]`: how decoding spreads a merged code over
    /// `groups[attr][compressed_code][i]`: the clamped noisy one-way counts (uniform if all
    /// are zero). DP outputs, so spreading by them is post-processing.
    #[serde(default)]
    pub weights: Vec<Vec<Vec<f64>>>,
}

impl Compression {
    /// Keeps each value whose noisy count is at least `threshold`; merges the rest of an
    /// attribute into one trailing code (if there are any).
    pub fn from_noisy_one_ways(noisy: &[Vec<f64>], threshold: f64) -> Self {
        let groups: Vec<Vec<Vec<u32>>> = noisy
            .iter()
            .map(|y| {
                let mut kept: Vec<Vec<u32>> = Vec::new();
                let mut rest: Vec<u32> = Vec::new();
                for (code, &v) in y.iter().enumerate() {
                    if v >= threshold {
                        kept.push(vec![code as u32]);
                    } else {
                        rest.push(code as u32);
                    }
                }
                if !rest.is_empty() {
                    kept.push(rest);
                }
                kept
            })
            .collect();
        let weights = groups
            .iter()
            .zip(noisy)
            .map(|(g, y)| {
                g.iter()
                    .map(|olds| {
                        let w: Vec<f64> = olds.iter().map(|&o| y[o as usize].max(0.0)).collect();
                        if w.iter().sum::<f64>() > 0.0 {
                            w
                        } else {
                            vec![1.0; olds.len()]
                        }
                    })
                    .collect()
            })
            .collect();
        Compression { groups, weights }
    }

    /// No compression: every code stands for itself.
    pub fn identity(domain: &Domain) -> Self {
        let groups: Vec<Vec<Vec<u32>>> = domain
            .sizes()
            .iter()
            .map(|&n| (0..n as u32).map(|c| vec![c]).collect())
            .collect();
        let weights = groups
            .iter()
            .map(|g| g.iter().map(|_| vec![1.0]).collect())
            .collect();
        Compression { groups, weights }
    }

    /// The compressed domain (same names, fewer codes).
    pub fn domain(&self, original: &Domain) -> Domain {
        Domain::new(
            original.names().to_vec(),
            self.groups.iter().map(|g| g.len()).collect(),
        )
    }

    /// `forward[attr][original_code]` = compressed code.
    pub fn forward(&self) -> Vec<Vec<u32>> {
        self.groups
            .iter()
            .map(|g| {
                let n = g.iter().map(|v| v.len()).sum();
                let mut f = vec![0u32; n];
                for (new, olds) in g.iter().enumerate() {
                    for &o in olds {
                        f[o as usize] = new as u32;
                    }
                }
                f
            })
            .collect()
    }

    /// Re-expresses a table over the original domain in compressed codes (sums cells).
    pub fn compress_table(&self, table: &MarginalTable, compressed: &Domain) -> MarginalTable {
        let fwd = self.forward();
        let mut out = MarginalTable::zeros(table.clique.clone(), compressed);
        let attrs = table.clique.attrs();
        let mut idx = vec![0usize; attrs.len()];
        for &v in &table.values {
            let mut flat = 0usize;
            for (k, &a) in attrs.iter().enumerate() {
                flat = flat * compressed.size(a) + fwd[a][idx[k]] as usize;
            }
            out.values[flat] += v;
            // advance the row-major multi-index over the original shape
            for k in (0..attrs.len()).rev() {
                idx[k] += 1;
                if idx[k] < table.shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    }

    /// Maps sampled compressed codes back to original codes. The records carrying a merged
    /// code are split over the values it stands for in proportion to their clamped noisy
    /// one-way counts: exact counts by largest remainder, assigned in a random order (the
    /// deterministic-rounding idea of the sampler, applied to decoding). Post-processing,
    /// seeded by the caller.
    pub fn decompress<R: Rng>(&self, columns: &mut [Vec<u32>], rng: &mut R) {
        for (a, col) in columns.iter_mut().enumerate() {
            let groups = &self.groups[a];
            // Decode into a fresh vector: original and compressed codes share a range.
            let mut out = vec![0u32; col.len()];
            let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
            for (r, &c) in col.iter().enumerate() {
                let g = &groups[c as usize];
                if g.len() == 1 {
                    out[r] = g[0];
                } else {
                    rows_of[c as usize].push(r);
                }
            }
            for (k, rows) in rows_of.iter_mut().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let counts = largest_remainder(&self.spread_weights(a, k), rows.len());
                rows.shuffle(rng);
                let mut it = rows.iter();
                for (value, &n) in groups[k].iter().zip(&counts) {
                    for &r in it.by_ref().take(n) {
                        out[r] = *value;
                    }
                }
            }
            *col = out;
        }
    }

    /// Non-negative weights for spreading merged code `k` of attribute `a` (uniform when no
    /// usable weights were recorded).
    fn spread_weights(&self, a: usize, k: usize) -> Vec<f64> {
        let n = self.groups[a][k].len();
        match self.weights.get(a).and_then(|w| w.get(k)) {
            Some(w)
                if w.len() == n
                    && w.iter().all(|x| x.is_finite() && *x >= 0.0)
                    && w.iter().sum::<f64>() > 0.0 =>
            {
                w.clone()
            }
            _ => vec![1.0; n],
        }
    }
}

/// Splits `total` into whole counts proportional to `weights` (positive sum), by the
/// largest-remainder method, so that they add up to `total` exactly.
fn largest_remainder(weights: &[f64], total: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut left = total.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&i, &j| {
        (exact[j] - exact[j].floor())
            .total_cmp(&(exact[i] - exact[i].floor()))
            .then(i.cmp(&j))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// An oracle over the compressed domain: counts on the original data, then merges cells.
/// Each record still falls in exactly one cell, so sensitivities are unchanged.
pub struct CompressedOracle<'a, O: MarginalOracle> {
    inner: &'a O,
    compression: &'a Compression,
    domain: Domain,
}

impl<'a, O: MarginalOracle> CompressedOracle<'a, O> {
    pub fn new(inner: &'a O, compression: &'a Compression) -> Self {
        let domain = compression.domain(inner.domain());
        CompressedOracle {
            inner,
            compression,
            domain,
        }
    }
}

impl<O: MarginalOracle> MarginalOracle for CompressedOracle<'_, O> {
    fn domain(&self) -> &Domain {
        &self.domain
    }

    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError> {
        let t = self.inner.marginal(clique)?;
        Ok(self.compression.compress_table(&t, &self.domain))
    }

    fn prefetch(&self, cliques: &[Clique]) -> Result<(), OracleError> {
        self.inner.prefetch(cliques)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn merges_rare_values_and_compresses_tables() {
        let d = Domain::from_sizes(vec![4, 2]);
        let c =
            Compression::from_noisy_one_ways(&[vec![10.0, 1.0, 9.0, -2.0], vec![5.0, 6.0]], 3.0);
        assert_eq!(c.groups[0], vec![vec![0], vec![2], vec![1, 3]]);
        let cd = c.domain(&d);
        assert_eq!(cd.sizes(), &[3, 2]);
        let t =
            MarginalTable::from_values(Clique::new([0, 1]), &d, (0..8).map(|x| x as f64).collect())
                .unwrap();
        let ct = c.compress_table(&t, &cd);
        // original rows: code0 -> [0,1], code1 -> [2,3], code2 -> [4,5], code3 -> [6,7]
        assert_eq!(ct.values, vec![0.0, 1.0, 4.0, 5.0, 2.0 + 6.0, 3.0 + 7.0]);
        let mut cols = vec![vec![0, 1, 2, 2, 2, 2], vec![0, 1, 0, 1, 0, 1]];
        c.decompress(&mut cols, &mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
        assert_eq!(&cols[0][..2], &[0, 2]);
        // Merged code 2 stands for values 1 (noisy count 1) and 3 (clamped to 0): all four go to 1.
        assert!(cols[0][2..].iter().all(|&v| v == 1), "{:?}", cols[0]);
    }

    #[test]
    fn largest_remainder_is_exact_and_proportional() {
        assert_eq!(largest_remainder(&[1.0, 1.0, 2.0], 8), vec![2, 2, 4]);
        assert_eq!(
            largest_remainder(&[1.0, 1.0, 1.0], 10)
                .iter()
                .sum::<usize>(),
            10
        );
        assert_eq!(largest_remainder(&[0.2, 0.8], 1), vec![0, 1]);
    }
}
