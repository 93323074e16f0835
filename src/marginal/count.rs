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

/// Joint tables up to this many cells are counted to answer several cliques at once
/// ([`count_many`]); four histogram lanes of it (128 KB) stay in a core's cache.
const COVER_CELLS: usize = 1 << 12;

/// Exact counts of each of `cliques`, in order. The cliques are first gathered into joint
/// tables of at most [`COVER_CELLS`] cells ([`covers`]), each counted once and projected
/// onto the cliques inside it: a row's cost is one increment per table, and the increments
/// were most of counting (adult's 105 two-way marginals fit in 45 tables). Counts are
/// integers, so the projections equal counting each clique on its own. On a small table
/// (below [`PARALLEL_ROWS`]) each table on one thread, the tables in parallel, so no thread
/// waits on a split of a few chunks; on a large one each table's rows in parallel, one table
/// after another.
pub fn count_many(table: &EncodedTable, domain: &Domain, cliques: &[Clique]) -> Vec<MarginalTable> {
    let (joint, cover_of) = covers(domain, cliques);
    let counted: Vec<MarginalTable> = if table.n_rows() >= PARALLEL_ROWS {
        joint.iter().map(|c| count(table, domain, c)).collect()
    } else {
        joint
            .par_iter()
            .map(|c| count_with(table, domain, c, false))
            .collect()
    };
    from_covers(cliques, &cover_of, &counted)
}

/// Each of `cliques` from the joint table [`covers`] put it in (`tables[cover_of[k]]`):
/// the table itself when it is that clique, else its projection.
pub(crate) fn from_covers(
    cliques: &[Clique],
    cover_of: &[usize],
    tables: &[MarginalTable],
) -> Vec<MarginalTable> {
    cliques
        .iter()
        .zip(cover_of)
        .map(|(c, &i)| {
            let t = &tables[i];
            if &t.clique == c {
                t.clone()
            } else {
                t.project(c)
            }
        })
        .collect()
}

/// Joint tables covering `cliques` and, per clique, the table it lies in. Each clique
/// joins the first table that already contains it, else the table that grows least by
/// taking it in while staying within [`COVER_CELLS`], else starts its own (a clique above
/// the limit is always its own table).
/// Also the bootstrap's sampled answers (`model::accuracy`), whose tables are whole numbers
/// too.
pub(crate) fn covers(domain: &Domain, cliques: &[Clique]) -> (Vec<Clique>, Vec<usize>) {
    let mut joint: Vec<Clique> = Vec::new();
    let mut cover_of = Vec::with_capacity(cliques.len());
    for c in cliques {
        if let Some(i) = joint.iter().position(|k| c.is_subset_of(k)) {
            cover_of.push(i);
            continue;
        }
        let best = joint
            .iter()
            .enumerate()
            .map(|(i, k)| (k.union(c).cells(domain), i))
            .filter(|&(cells, _)| cells <= COVER_CELLS)
            .min();
        match best {
            Some((_, i)) => {
                joint[i] = joint[i].union(c);
                cover_of.push(i);
            }
            None => {
                joint.push(c.clone());
                cover_of.push(joint.len() - 1);
            }
        }
    }
    (joint, cover_of)
}

/// Histogram lanes of a table of `cells` cells: small tables are counted in four interleaved
/// histograms (cell `i`, lane `l` at `4 i + l`), so that consecutive rows in the same cell
/// (common: skewed columns) do not wait on each other's increment; the lanes share a cache
/// line and are summed at the end.
pub(crate) fn lanes(cells: usize) -> usize {
    if cells <= LANED_CELLS {
        4
    } else {
        1
    }
}

/// Adds one to `hist` (laid out in `lanes` lanes, [`lanes`]) at each cell index of `idx`.
pub(crate) fn increment<T: Copy + std::ops::AddAssign + From<u8>>(
    hist: &mut [T],
    idx: &[u32],
    lanes: usize,
) {
    let one = T::from(1);
    if lanes == 4 {
        let mut quads = idx.chunks_exact(4);
        for q in &mut quads {
            hist[4 * q[0] as usize] += one;
            hist[4 * q[1] as usize + 1] += one;
            hist[4 * q[2] as usize + 2] += one;
            hist[4 * q[3] as usize + 3] += one;
        }
        for &i in quads.remainder() {
            hist[4 * i as usize] += one;
        }
    } else {
        for &i in idx {
            hist[i as usize] += one;
        }
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
    let lanes = lanes(cells);
    let step = |(mut hist, mut buf): (Vec<u64>, Vec<u32>), chunk: usize| {
        let start = chunk * CHUNK;
        let len = CHUNK.min(n - start);
        let idx = &mut buf[..len];
        // The first attribute's terms stored (the clique is not empty), the rest added.
        for (j, (&attr, &stride)) in clique.attrs().iter().zip(&strides).enumerate() {
            if j == 0 {
                table.column(attr).store(start, stride, idx);
            } else {
                table.column(attr).accumulate(start, stride, idx);
            }
        }
        increment(&mut hist, idx, lanes);
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

    /// Joint tables stay within the limit (unless a clique alone exceeds it), hold their
    /// cliques, and are fewer than the cliques when small domains can share a table.
    #[test]
    fn covers_hold_their_cliques_within_the_limit() {
        let sizes = vec![32, 9, 32, 16, 16, 7, 15, 6, 5, 2, 32, 32, 32, 42, 2, 5000];
        let d = Domain::from_sizes(sizes.clone());
        let mut cliques = all_k_way(sizes.len(), 2);
        cliques.push(Clique::new([0, 15]));
        cliques.push(Clique::new([]));
        let (joint, of) = covers(&d, &cliques);
        assert_eq!(of.len(), cliques.len());
        for (c, &i) in cliques.iter().zip(&of) {
            assert!(c.is_subset_of(&joint[i]), "{c:?} in {:?}", joint[i]);
        }
        for k in &joint {
            let alone = cliques.iter().any(|c| c == k && c.cells(&d) > COVER_CELLS);
            assert!(k.cells(&d) <= COVER_CELLS || alone, "{k:?}");
        }
        assert!(joint.len() < cliques.len() / 2, "{} tables", joint.len());
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
