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

/// Tables with fewer rows than this count many cliques one per thread ([`count_many`]); a
/// clique's own rows are split across threads only above it.
pub const PARALLEL_ROWS: usize = 8 * CHUNK;

/// Exact counts of `clique` over every row of `table`.
///
/// Each chunk computes flat cell indices column by column (a vectorisable multiply-add per
/// attribute), then increments its own histogram; histograms are summed at the end.
///
/// Cell indices are `u32`: callers keep cliques below `MAX_COUNT_CELLS` (the oracle checks).
pub fn count(table: &EncodedTable, domain: &Domain, clique: &Clique) -> MarginalTable {
    count_with(table, domain, clique, true)
}

/// Exact counts of each of `cliques`, in order: on a small table (below [`PARALLEL_ROWS`])
/// each clique on one thread, the cliques in parallel, so no thread waits on a split of a
/// few chunks; on a large one each clique's rows in parallel, one clique after another.
pub fn count_many(table: &EncodedTable, domain: &Domain, cliques: &[Clique]) -> Vec<MarginalTable> {
    if table.n_rows() >= PARALLEL_ROWS {
        cliques.iter().map(|c| count(table, domain, c)).collect()
    } else {
        cliques
            .par_iter()
            .map(|c| count_with(table, domain, c, false))
            .collect()
    }
}

fn count_with(
    table: &EncodedTable,
    domain: &Domain,
    clique: &Clique,
    parallel: bool,
) -> MarginalTable {
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
    let step = |(mut hist, mut buf): (Vec<u64>, Vec<u32>), chunk: usize| {
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
    };
    let counts: Vec<u64> = if parallel && n > CHUNK {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .fold(|| (vec![0u64; cells * lanes], vec![0u32; CHUNK]), &step)
            .map(|(hist, _)| hist)
            .reduce(
                || vec![0u64; cells * lanes],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    } else {
        let init = (vec![0u64; cells * lanes], vec![0u32; CHUNK.min(n)]);
        (0..n.div_ceil(CHUNK)).fold(init, &step).0
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marginal::{all_k_way, InMemoryOracle, MarginalOracle};

    fn table(n: usize) -> (EncodedTable, Domain) {
        let sizes = vec![3usize, 300, 7, 2];
        let rows: Vec<Vec<u32>> = (0..n)
            .map(|i| {
                let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
                sizes
                    .iter()
                    .enumerate()
                    .map(|(a, &s)| ((h >> (8 * a)) % s as u64) as u32)
                    .collect()
            })
            .collect();
        let names: Vec<String> = (0..sizes.len()).map(|a| format!("c{a}")).collect();
        let t = EncodedTable::from_rows(names.clone(), sizes.clone(), &rows).unwrap();
        (t, Domain::new(names, sizes))
    }

    /// Counting together (one clique per thread below PARALLEL_ROWS, split rows above it)
    /// and through the oracle's prefetch gives the counts of one clique at a time.
    #[test]
    fn counting_together_equals_one_at_a_time() {
        for n in [0, 1, 5_000, PARALLEL_ROWS + 777] {
            let (t, d) = table(n);
            let mut cliques: Vec<Clique> = (1..=3).flat_map(|k| all_k_way(4, k)).collect();
            cliques.push(Clique::new([]));
            let one: Vec<MarginalTable> = cliques.iter().map(|c| count(&t, &d, c)).collect();
            let many = count_many(&t, &d, &cliques);
            assert_eq!(one.len(), many.len());
            for (a, b) in one.iter().zip(&many) {
                assert_eq!(a.values, b.values, "{n} rows, clique {:?}", a.clique);
                assert_eq!(b.total(), n as f64);
            }
            let oracle = InMemoryOracle::new(&t);
            oracle.prefetch(&cliques).unwrap();
            for (c, a) in cliques.iter().zip(&one) {
                // Handed out once from the prefetch, then counted afresh.
                assert_eq!(oracle.marginal(c).unwrap().values, a.values);
                assert_eq!(oracle.marginal(c).unwrap().values, a.values);
            }
        }
    }
}
