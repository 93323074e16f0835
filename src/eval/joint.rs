//! Joint counts over a clique for evaluation: dense through `crate::marginal::count` when the
//! table is small, sparse (hash map of occupied cells) when a dense table would not fit.
//!
//! Evaluation must not fall over on a schema with a few large columns (a 501-value column
//! makes a 3-way dense table of 10^8 cells), so large cliques switch to counting only the
//! cells that occur, which is at most the number of rows.

use std::collections::HashMap;

use super::EvalError;
use crate::data::EncodedTable;
use crate::marginal::{count, Clique, Domain};

/// Largest dense table evaluation builds (cells). 4 Mi cells is 32 MiB of f64, and counting
/// keeps one such histogram per worker thread.
pub(crate) const DENSE_MAX_CELLS: u128 = 1 << 22;

/// Counts over the cells of one clique. Cell indices are row-major (last attribute fastest),
/// the same layout as `MarginalTable`.
#[derive(Clone, Debug)]
pub(crate) struct Joint {
    pub shape: Vec<usize>,
    pub total: f64,
    pub data: JointData,
}

#[derive(Clone, Debug)]
pub(crate) enum JointData {
    Dense(Vec<f64>),
    Sparse(HashMap<u128, f64>),
}

/// Number of cells of `clique`, or an error if it does not even fit in 128 bits.
pub(crate) fn cells(domain: &Domain, clique: &Clique) -> Result<u128, EvalError> {
    clique
        .attrs()
        .iter()
        .try_fold(1u128, |acc, &a| acc.checked_mul(domain.size(a) as u128))
        .ok_or_else(|| EvalError::TooLarge(clique.describe(domain)))
}

impl Joint {
    /// Exact counts of `clique` over every row of `table`.
    pub fn count(
        table: &EncodedTable,
        domain: &Domain,
        clique: &Clique,
    ) -> Result<Joint, EvalError> {
        let n_cells = cells(domain, clique)?;
        let shape = clique.shape(domain);
        let total = table.n_rows() as f64;
        if n_cells <= DENSE_MAX_CELLS {
            let t = count(table, domain, clique);
            return Ok(Joint {
                shape,
                total,
                data: JointData::Dense(t.values),
            });
        }
        let mut map: HashMap<u128, f64> = HashMap::new();
        let cols: Vec<_> = clique.attrs().iter().map(|&a| table.column(a)).collect();
        for r in 0..table.n_rows() {
            let mut idx = 0u128;
            for (col, &s) in cols.iter().zip(&shape) {
                // Cannot overflow: idx < product of shape, checked above.
                idx = idx * s as u128 + col.get(r) as u128;
            }
            *map.entry(idx).or_insert(0.0) += 1.0;
        }
        Ok(Joint {
            shape,
            total,
            data: JointData::Sparse(map),
        })
    }

    /// Calls `f(cell, count)` for every cell with a non-zero count (dense tables also skip
    /// zeros), in no particular order.
    pub fn for_each_nonzero(&self, mut f: impl FnMut(u128, f64)) {
        match &self.data {
            JointData::Dense(v) => {
                for (i, &c) in v.iter().enumerate() {
                    if c != 0.0 {
                        f(i as u128, c);
                    }
                }
            }
            JointData::Sparse(m) => {
                for (&i, &c) in m {
                    f(i, c);
                }
            }
        }
    }

    /// Codes of each attribute of flat cell `idx`.
    pub fn decode(&self, mut idx: u128) -> Vec<u32> {
        let mut out = vec![0u32; self.shape.len()];
        for (o, &s) in out.iter_mut().zip(&self.shape).rev() {
            *o = (idx % s as u128) as u32;
            idx /= s as u128;
        }
        out
    }

    /// Sums over every axis except `axis`: a dense one-way table of that attribute.
    pub fn axis_sums(&self, axis: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.shape[axis]];
        let inner: u128 = self.shape[axis + 1..].iter().map(|&s| s as u128).product();
        let size = self.shape[axis] as u128;
        self.for_each_nonzero(|i, c| out[((i / inner) % size) as usize] += c);
        out
    }
}

/// The L1 distance between the normalised tables and the cell where they differ most.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct L1Result {
    pub l1: f64,
    /// Flat index of the cell with the largest absolute difference of shares.
    pub worst_cell: u128,
    pub real_share: f64,
    pub synthetic_share: f64,
}

/// L1 between the share vectors of two tables over the same clique (`sum |p - q|`, in [0, 2]).
/// A table with total 0 counts as all-zero shares.
pub(crate) fn l1(real: &Joint, synth: &Joint) -> L1Result {
    let rs = if real.total > 0.0 {
        1.0 / real.total
    } else {
        0.0
    };
    let ss = if synth.total > 0.0 {
        1.0 / synth.total
    } else {
        0.0
    };
    let mut best = L1Result {
        l1: 0.0,
        worst_cell: 0,
        real_share: 0.0,
        synthetic_share: 0.0,
    };
    let mut best_diff = -1.0;
    let mut sum = 0.0;
    let mut visit = |i: u128, p: f64, q: f64| {
        let d = (p - q).abs();
        sum += d;
        if d > best_diff {
            best_diff = d;
            best.worst_cell = i;
            best.real_share = p;
            best.synthetic_share = q;
        }
    };
    match (&real.data, &synth.data) {
        (JointData::Dense(a), JointData::Dense(b)) => {
            for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                visit(i as u128, x * rs, y * ss);
            }
        }
        _ => {
            // Sparse on either side: merge over the union of occupied cells.
            let a = to_map(real);
            let b = to_map(synth);
            let mut keys: Vec<u128> = a.keys().chain(b.keys()).copied().collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                let x = a.get(&k).copied().unwrap_or(0.0);
                let y = b.get(&k).copied().unwrap_or(0.0);
                visit(k, x * rs, y * ss);
            }
        }
    }
    best.l1 = sum;
    best
}

fn to_map(j: &Joint) -> HashMap<u128, f64> {
    let mut m = HashMap::new();
    j.for_each_nonzero(|i, c| {
        m.insert(i, c);
    });
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[Vec<u32>], sizes: &[usize]) -> (EncodedTable, Domain) {
        let names: Vec<String> = (0..sizes.len()).map(|i| format!("c{i}")).collect();
        let t = EncodedTable::from_rows(names.clone(), sizes.to_vec(), rows).unwrap();
        (t, Domain::new(names, sizes.to_vec()))
    }

    #[test]
    fn dense_and_sparse_agree() {
        let rows = vec![vec![0, 1, 2], vec![1, 1, 0], vec![0, 1, 2], vec![1, 0, 1]];
        let (t, d) = table(&rows, &[2, 2, 3]);
        let c = Clique::new([0, 2]);
        let dense = Joint::count(&t, &d, &c).unwrap();
        let mut m = HashMap::new();
        dense.for_each_nonzero(|i, v| {
            m.insert(i, v);
        });
        let sparse = Joint {
            shape: dense.shape.clone(),
            total: dense.total,
            data: JointData::Sparse(m),
        };
        let other_rows = vec![vec![1, 1, 1], vec![0, 0, 2]];
        let (t2, _) = table(&other_rows, &[2, 2, 3]);
        let other = Joint::count(&t2, &d, &c).unwrap();
        let a = l1(&dense, &other);
        let b = l1(&sparse, &other);
        assert!((a.l1 - b.l1).abs() < 1e-12);
        // real shares: (0,2)=.5 (1,0)=.25 (1,1)=.25; synth: (1,1)=.5 (0,2)=.5
        assert!((a.l1 - 0.5).abs() < 1e-12, "{}", a.l1);
        assert_eq!(dense.decode(a.worst_cell), vec![1, 0]);
        assert_eq!(dense.axis_sums(0), vec![2.0, 2.0]);
        assert_eq!(sparse.axis_sums(1), vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn large_cliques_count_sparsely() {
        let rows = vec![vec![4999, 3, 70000], vec![0, 0, 0], vec![4999, 3, 70000]];
        let (t, d) = table(&rows, &[5000, 4, 80000]);
        let c = Clique::new([0, 1, 2]);
        let j = Joint::count(&t, &d, &c).unwrap();
        assert!(matches!(j.data, JointData::Sparse(_)));
        let mut seen = Vec::new();
        j.for_each_nonzero(|i, v| seen.push((j.decode(i), v)));
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            vec![(vec![0, 0, 0], 1.0), (vec![4999, 3, 70000], 2.0)]
        );
        assert_eq!(l1(&j, &j).l1, 0.0);
    }
}
