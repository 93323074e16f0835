//! Exact counting of marginals over an encoded table, in parallel over row chunks.

use rayon::prelude::*;

use super::{Clique, Domain, MarginalTable};
use crate::data::EncodedTable;

/// Rows per chunk: large enough to amortise a histogram, small enough to stay in cache.
const CHUNK: usize = 16 * 1024;

/// Tables up to this many cells are counted in four interleaved histograms.
const LANED_CELLS: usize = 1 << 14;

/// Largest table `count` accepts: 2^26 cells (about 0.5 GB of u64 per worker histogram
/// plus the result), well inside `u32` cell indices.
pub const MAX_COUNT_CELLS: usize = 1 << 26;

/// Exact counts of `clique` over every row of `table`.
///
/// Each chunk computes flat cell indices column by column (a vectorisable multiply-add per
/// attribute), then increments its own histogram; histograms are summed at the end.
///
/// Cell indices are `u32`: callers keep cliques below `MAX_COUNT_CELLS` (the oracle checks).
pub fn count(table: &EncodedTable, domain: &Domain, clique: &Clique) -> MarginalTable {
    debug_assert!(clique.cells(domain) <= MAX_COUNT_CELLS);
    let shape = clique.shape(domain);
    let cells: usize = shape.iter().product();
    let n = table.n_rows();
    if clique.is_empty() {
        return MarginalTable {
            clique: clique.clone(),
            shape,
            values: vec![n as f64],
        };
    }
    // Row-major strides: the last attribute varies fastest.
    let mut strides = vec![1u32; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as u32;
    }
    // Small tables: four interleaved histograms (cell `i`, lane `l` at `4 i + l`), so that
    // consecutive rows in the same cell (common: skewed columns) do not wait on each
    // other's increment; the lanes share a cache line and are summed at the end.
    let lanes = if cells <= LANED_CELLS { 4 } else { 1 };
    let counts: Vec<u64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .fold(
            || (vec![0u64; cells * lanes], vec![0u32; CHUNK]),
            |(mut hist, mut buf), chunk| {
                let start = chunk * CHUNK;
                let len = CHUNK.min(n - start);
                let idx = &mut buf[..len];
                idx.fill(0);
                for (&attr, &stride) in clique.attrs().iter().zip(&strides) {
                    table.column(attr).accumulate(start, stride, idx);
                }
                if lanes == 4 {
                    let mut quads = idx.chunks_exact(4);
                    for q in &mut quads {
                        hist[4 * q[0] as usize] += 1;
                        hist[4 * q[1] as usize + 1] += 1;
                        hist[4 * q[2] as usize + 2] += 1;
                        hist[4 * q[3] as usize + 3] += 1;
                    }
                    for &i in quads.remainder() {
                        hist[4 * i as usize] += 1;
                    }
                } else {
                    for &i in idx.iter() {
                        hist[i as usize] += 1;
                    }
                }
                (hist, buf)
            },
        )
        .map(|(hist, _)| hist)
        .reduce(
            || vec![0u64; cells * lanes],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let counts: Vec<u64> = if lanes == 1 {
        counts
    } else {
        counts.chunks_exact(lanes).map(|l| l.iter().sum()).collect()
    };
    MarginalTable {
        clique: clique.clone(),
        shape,
        values: counts.into_iter().map(|c| c as f64).collect(),
    }
}
