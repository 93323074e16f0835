//! Large sum-product steps as batched matrix products.
//!
//! A step of variable elimination, `out(O) = sum over the rest of prod_k f_k`, splits its
//! factors into two sides `L` and `R`. Every attribute of the union is then a *batch*
//! attribute (kept, on both sides), a *row* one (kept, on `L` only), a *column* one (kept,
//! on `R` only), a *contracted* one (summed, on both sides) or one side's own summed
//! attribute (summed first, within that side). Per batch cell the step is the matrix
//! product `(prod L)[rows x contracted] * (prod R)[contracted x columns]`, done by
//! `matrixmultiply`'s packed micro-kernels (through ndarray) instead of the generic walk of
//! [`super::eliminate`]'s run kernel, whose short strided runs cost several times more per
//! cell on the wide tree cliques of AIM's spanning queries (NIST: 7-8 of a clique's 8
//! attributes shared with its neighbour). The two sides' products are gathered into
//! row-major blocks a batch range at a time, so no buffer exceeds [`BLOCK_CELLS`].
//!
//! Equal to the run kernel up to rounding: the same products, summed in another order
//! (matrixmultiply's kernel, chosen at run time by the CPU's features, sets that order; it is
//! single-threaded here, so answers do not depend on rayon's thread count).

use std::borrow::Cow;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::eliminate::{float_cells, sum_product, Table};
use crate::marginal::{Clique, Domain};

/// Steps whose union has fewer cells than this stay on the run kernel (planning and
/// gathering would cost more than they save).
const MIN_UNION_CELLS: f64 = 262_144.0;

/// Largest side block gathered at once (cells): a batch range's rows of one side.
const BLOCK_CELLS: usize = 1 << 18;

/// Relative cost of one multiply-add in the matrix product (a gathered or walked cell is 1;
/// the run kernel's cell, with its short strided runs, [`RUN_CELL_COST`]).
const GEMM_MAC_COST: f64 = 0.12;
/// The same for products with fewer than [`NARROW`] rows or columns (vector-like).
const NARROW_MAC_COST: f64 = 0.6;
const NARROW: f64 = 4.0;
/// Cost of one union cell in the run kernel, in the same units.
const RUN_CELL_COST: f64 = 1.5;

/// A chosen split: the factors of each side, the attribute groups and the estimated cost.
struct Split {
    left: Vec<usize>,
    right: Vec<usize>,
    batch: Clique,
    rows: Clique,
    cols: Clique,
    inner: Clique,
    cost: f64,
}

/// The cheapest split of `factors` for `out` (none for fewer than two factors or more
/// than twelve).
fn plan(domain: &Domain, factors: &[&Table], out: &Clique) -> Option<Split> {
    let n = factors.len();
    if !(2..=12).contains(&n) {
        return None;
    }
    let cap = factors
        .iter()
        .map(|f| f.values.len() as f64)
        .fold(float_cells(domain, out), f64::max);
    let mut best: Option<Split> = None;
    // Factor 0 stays on the left: each split is seen once.
    for mask in (1u32..(1 << n) - 1).filter(|m| m & 1 == 1) {
        let (left, right): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| mask >> i & 1 == 1);
        let side = |idx: &[usize]| {
            idx.iter()
                .fold(Clique::empty(), |u, &i| u.union(&factors[i].clique))
        };
        let (la, ra) = (side(&left), side(&right));
        let both = la.intersection(&ra);
        let batch = both.intersection(out);
        let inner = both.difference(out);
        let rows = la.intersection(out).difference(&ra);
        let cols = ra.intersection(out).difference(&la);
        let (b, m, c, k) = (
            float_cells(domain, &batch),
            float_cells(domain, &rows),
            float_cells(domain, &cols),
            float_cells(domain, &inner),
        );
        // A side with its own summed attributes is reduced first (one walk of its union).
        let own = |a: &Clique, idx: &[usize]| {
            if a.difference(out).is_subset_of(&both) {
                0.0
            } else {
                float_cells(domain, a) * if idx.len() > 1 { RUN_CELL_COST } else { 1.0 }
            }
        };
        let mac = if m.min(c) < NARROW {
            NARROW_MAC_COST
        } else {
            GEMM_MAC_COST
        };
        // A side reduced from several factors is a table over all its kept attributes:
        // never larger than the step's output or its largest factor.
        let reduced = |a: &Clique, idx: &[usize], kept: f64| {
            idx.len() > 1 && !a.difference(out).is_subset_of(&both) && kept > cap
        };
        if reduced(&la, &left, b * m * k) || reduced(&ra, &right, b * k * c) {
            continue;
        }
        let cost =
            own(&la, &left) + own(&ra, &right) + b * k * (m + c) + b * m * c + b * m * c * k * mac;
        if best.as_ref().is_none_or(|s| cost < s.cost) {
            best = Some(Split {
                left,
                right,
                batch,
                rows,
                cols,
                inner,
                cost,
            });
        }
    }
    best
}

/// `sum over union \ out of prod factors` by matrix products, or `None` when the step is
/// small or the run kernel is cheaper (see the module comment).
pub(crate) fn contract(
    domain: &Domain,
    factors: &[&Table],
    out: &Clique,
    union: &Clique,
) -> Option<Table> {
    let run = float_cells(domain, union);
    if run < MIN_UNION_CELLS {
        return None;
    }
    let split = plan(domain, factors, out).filter(|s| s.cost < run * RUN_CELL_COST)?;
    execute(domain, factors, out, &split)
}

/// Runs a split (see the module comment); `None` only if a block's shape is inconsistent.
fn execute(domain: &Domain, factors: &[&Table], out: &Clique, split: &Split) -> Option<Table> {
    // Each side as factors over its batch, kept and contracted attributes only.
    let reduce = |idx: &[usize], kept: &Clique| -> Vec<Cow<'_, Table>> {
        let side: Vec<&Table> = idx.iter().map(|&i| factors[i]).collect();
        let all = side.iter().fold(Clique::empty(), |u, f| u.union(&f.clique));
        if all.is_subset_of(kept) {
            side.into_iter().map(Cow::Borrowed).collect()
        } else {
            vec![Cow::Owned(sum_product(
                domain,
                &side,
                &all.intersection(kept),
            ))]
        }
    };
    let lkept = split.batch.union(&split.rows).union(&split.inner);
    let rkept = split.batch.union(&split.cols).union(&split.inner);
    let left = reduce(&split.left, &lkept);
    let right = reduce(&split.right, &rkept);
    let size = |c: &Clique| c.cells(domain);
    let (nb, m, n, k) = (
        size(&split.batch),
        size(&split.rows),
        size(&split.cols),
        size(&split.inner),
    );
    let lorder: Vec<usize> = [&split.batch, &split.rows, &split.inner]
        .iter()
        .flat_map(|c| c.attrs().iter().copied())
        .collect();
    let rorder: Vec<usize> = [&split.batch, &split.inner, &split.cols]
        .iter()
        .flat_map(|c| c.attrs().iter().copied())
        .collect();
    // Batch cells per block, so each side's block (and the product's) stays within
    // BLOCK_CELLS.
    let per = (m * k).max(k * n).max(m * n).max(1);
    let step = (BLOCK_CELLS / per).clamp(1, nb.max(1));
    // From [batch, rows, cols] to the output's row-major order, a block at a time.
    let porder: Vec<usize> = [&split.batch, &split.rows, &split.cols]
        .iter()
        .flat_map(|c| c.attrs().iter().copied())
        .collect();
    let direct = porder == out.attrs();
    let mut values = vec![0.0; nb * m * n];
    let mut prod = if direct {
        Vec::new()
    } else {
        vec![0.0; step * m * n]
    };
    let (mut lbuf, mut rbuf) = (Vec::new(), Vec::new());
    let mut b0 = 0;
    while b0 < nb {
        let b1 = (b0 + step).min(nb);
        gather(domain, &left, &lorder, b0 * m * k..b1 * m * k, &mut lbuf);
        gather(domain, &right, &rorder, b0 * k * n..b1 * k * n, &mut rbuf);
        let block = if direct {
            &mut values[b0 * m * n..b1 * m * n]
        } else {
            &mut prod[..(b1 - b0) * m * n]
        };
        for b in 0..b1 - b0 {
            let a = ArrayView2::from_shape((m, k), &lbuf[b * m * k..(b + 1) * m * k]).ok()?;
            let r = ArrayView2::from_shape((k, n), &rbuf[b * k * n..(b + 1) * k * n]).ok()?;
            let o = b * m * n;
            let mut c = ArrayViewMut2::from_shape((m, n), &mut block[o..o + m * n]).ok()?;
            general_mat_mul(1.0, &a, &r, 0.0, &mut c);
        }
        if !direct {
            let range = b0 * m * n..b1 * m * n;
            scatter(domain, &prod, &porder, range, out.attrs(), &mut values);
        }
        b0 = b1;
    }
    Some(Table {
        clique: out.clone(),
        values,
    })
}

/// `dst = prod of tables` over the cells `range` of the row-major layout whose axes are
/// `order` (outermost first); tables are sorted cliques.
fn gather(
    domain: &Domain,
    tables: &[Cow<'_, Table>],
    order: &[usize],
    range: std::ops::Range<usize>,
    dst: &mut Vec<f64>,
) {
    let attrs: Vec<Vec<usize>> = tables.iter().map(|t| t.clique.attrs().to_vec()).collect();
    let ops: Vec<(&Vec<f64>, &Vec<usize>)> =
        tables.iter().map(|t| &t.values).zip(attrs.iter()).collect();
    gather_ordered(domain, &ops, order, range, dst);
}

/// Cells of the inner block [`walk`] hands out at once.
const WALK_BLOCK: usize = 512;

/// [`gather`] over operands given as (values, their axes outermost first).
fn gather_ordered(
    domain: &Domain,
    ops: &[(&Vec<f64>, &Vec<usize>)],
    order: &[usize],
    range: std::ops::Range<usize>,
    dst: &mut Vec<f64>,
) {
    dst.clear();
    dst.resize(range.len(), 1.0);
    let start = range.start;
    let axes: Vec<&[usize]> = ops.iter().map(|(_, ax)| ax.as_slice()).collect();
    walk(domain, &axes, order, range, |at, base, offs| {
        let len = offs.first().map_or(0, Vec::len);
        let out = &mut dst[at - start..at - start + len];
        for (o, (v, _)) in ops.iter().enumerate() {
            let v = &v[base[o]..];
            if o == 0 {
                for (t, &k) in out.iter_mut().zip(&offs[o]) {
                    *t = v[k];
                }
            } else {
                for (t, &k) in out.iter_mut().zip(&offs[o]) {
                    *t *= v[k];
                }
            }
        }
    });
}

/// Writes `src`, the cells `range` of the row-major layout over `order`, into `dst`, a
/// row-major table over the same attributes in the order `axes`.
fn scatter(
    domain: &Domain,
    src: &[f64],
    order: &[usize],
    range: std::ops::Range<usize>,
    axes: &[usize],
    dst: &mut [f64],
) {
    let start = range.start;
    walk(domain, &[axes], order, range, |at, base, offs| {
        let from = &src[at - start..];
        let to = &mut dst[base[0]..];
        for (&x, &k) in from.iter().zip(&offs[0]) {
            to[k] = x;
        }
    });
}

/// Walks the cells `range` of the row-major layout over `order` (outermost first) in
/// blocks: for each block, `visit(the block's first cell, each operand's base offset, each
/// operand's offsets of the block's cells)`, where
/// an operand is a row-major table over its `axes` (attributes outside them: stride 0).
///
/// The layout's trailing axes form the block (up to [`WALK_BLOCK`] cells, aligned with the
/// range), whose offsets are computed once, so a transposition whose innermost axis has two
/// or three values still streams whole blocks; an odometer walks the other axes.
fn walk(
    domain: &Domain,
    axes: &[&[usize]],
    order: &[usize],
    range: std::ops::Range<usize>,
    mut visit: impl FnMut(usize, &[usize], &[Vec<usize>]),
) {
    if range.is_empty() {
        return;
    }
    let opstride = |ax: &[usize], a: usize| -> usize {
        match ax.iter().position(|&x| x == a) {
            Some(p) => ax[p + 1..].iter().map(|&b| domain.size(b)).product(),
            None => 0,
        }
    };
    let sizes: Vec<usize> = order.iter().map(|&a| domain.size(a)).collect();
    // Per operand, its stride along every axis of the layout.
    let strs: Vec<Vec<usize>> = axes
        .iter()
        .map(|ax| order.iter().map(|&a| opstride(ax, a)).collect())
        .collect();
    // The block: trailing axes `first..`, while the range stays aligned to it.
    let mut first = sizes.len();
    let mut len = 1usize;
    while first > 0 {
        let next = len * sizes[first - 1];
        if len >= WALK_BLOCK || !range.start.is_multiple_of(next) || !range.end.is_multiple_of(next)
        {
            break;
        }
        first -= 1;
        len = next;
    }
    // Offsets of the block's cells in every operand (row-major over the block's axes).
    let offs: Vec<Vec<usize>> = strs
        .iter()
        .map(|st| {
            let mut off = vec![0usize; len];
            let mut cells = 1usize;
            for j in (first..sizes.len()).rev() {
                for v in 1..sizes[j] {
                    for i in 0..cells {
                        off[v * cells + i] = off[i] + v * st[j];
                    }
                }
                cells *= sizes[j];
            }
            off
        })
        .collect();
    // Digits of the range's first cell over the outer axes.
    let mut idx = vec![0usize; first];
    let mut r = range.start / len;
    for p in (0..first).rev() {
        idx[p] = r % sizes[p];
        r /= sizes[p];
    }
    let mut base: Vec<usize> = strs
        .iter()
        .map(|st| (0..first).map(|p| idx[p] * st[p]).sum())
        .collect();
    let mut at = range.start;
    while at < range.end {
        visit(at, &base, &offs);
        at += len;
        // Advance the odometer over the outer axes (last one fastest).
        let mut p = first;
        while p > 0 {
            p -= 1;
            idx[p] += 1;
            for (b, st) in base.iter_mut().zip(&strs) {
                *b += st[p];
            }
            if idx[p] < sizes[p] {
                break;
            }
            for (b, st) in base.iter_mut().zip(&strs) {
                *b -= idx[p] * st[p];
            }
            idx[p] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Contractions agree with the run kernel (itself checked by brute force) on random
    /// factor sets large enough to take the matrix-product path.
    #[test]
    fn matrix_products_match_the_run_kernel() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut taken = 0;
        for _ in 0..200 {
            // Sizes 2..=5 over at most 7 attributes: unions stay below MIN_UNION_CELLS, so
            // `sum_product` answers with the run kernel.
            let (d, tables, out) =
                super::super::eliminate::random_step(&mut rng, 4..8, 2..6, 0.6, 2..5);
            let refs: Vec<&Table> = tables.iter().collect();
            let Some(split) = plan(&d, &refs, &out) else {
                continue;
            };
            let Some(got) = execute(&d, &refs, &out, &split) else {
                continue;
            };
            taken += 1;
            let want = sum_product(&d, &refs, &out);
            assert_eq!(got.clique, want.clique);
            for (g, w) in got.values.iter().zip(&want.values) {
                assert!(
                    (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                    "{out:?}: {g} vs {w}"
                );
            }
        }
        assert!(taken > 100, "only {taken} contractions");
    }
}
