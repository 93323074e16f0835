//! Domain compression (MST step 2): rare values, by their noisy one-way counts, share a code.
//!
//! The map is a function of noisy one-way marginals only, so building it and decoding
//! through it are post-processing (proofs/mst.md, "Domain compression").

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::marginal::{Clique, Domain, MarginalOracle, MarginalTable, OracleError};

/// Per attribute: which original codes share each compressed code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compression {
    /// `groups[attr][compressed_code]` = the original codes it stands for (sorted).
    pub groups: Vec<Vec<Vec<u32>>>,
}

impl Compression {
    /// Keeps each value whose noisy count is at least `threshold`; merges the rest of an
    /// attribute into one trailing code (if there are any).
    pub fn from_noisy_one_ways(noisy: &[Vec<f64>], threshold: f64) -> Self {
        let groups = noisy
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
        Compression { groups }
    }

    /// No compression: every code stands for itself.
    pub fn identity(domain: &Domain) -> Self {
        Compression {
            groups: domain
                .sizes()
                .iter()
                .map(|&n| (0..n as u32).map(|c| vec![c]).collect())
                .collect(),
        }
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

    /// Maps sampled compressed codes back to original codes, spreading a merged code
    /// uniformly over the values it stands for (post-processing, seeded by the caller).
    pub fn decompress<R: Rng>(&self, columns: &mut [Vec<u32>], rng: &mut R) {
        for (col, groups) in columns.iter_mut().zip(&self.groups) {
            for c in col.iter_mut() {
                let g = &groups[*c as usize];
                *c = if g.len() == 1 {
                    g[0]
                } else {
                    g[rng.gen_range(0..g.len())]
                };
            }
        }
    }
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
        assert!(cols[0][2..].iter().all(|&v| v == 1 || v == 3));
    }
}
