//! Stride arithmetic between a table over a clique and a table over one of its subsets.
//!
//! Every factor operation the estimator needs (expansion to a superset clique, product in
//! log space, sum and log-sum-exp marginalisation) walks the cells of the larger table once
//! and touches the smaller table by offset. Both tables are row-major over sorted attribute
//! lists, so consecutive axes that are both kept (or both summed out) merge into one block.
//! What remains is a handful of blocks; the innermost is a contiguous run that is either
//! copied element by element (kept) or reduced to one cell (summed out). Walking runs keeps
//! the inner loops branch-free and vectorisable, with no per-cell index map in memory.

use rayon::prelude::*;

pub(crate) use super::real::Real;

/// One merged block of axes outside the innermost run.
#[derive(Clone, Copy, Debug)]
struct Block {
    size: usize,
    big_stride: usize,
    small_stride: usize,
}

/// How the cells of a table (the "big" one) map onto a table over a subset of its axes.
#[derive(Clone, Debug)]
pub(crate) struct SubsetLayout {
    /// Blocks outside the innermost run, innermost first.
    outer: Vec<Block>,
    inner_len: usize,
    inner_kept: bool,
    big_cells: usize,
    small_cells: usize,
}

/// Big tables at least this large are split across rayon's threads.
const PAR_CELLS: usize = 1 << 16;

/// Big cells from which a chunk's piece of a [`KeptSplit`] is worth a walk of its own.
const MIN_PIECE_CELLS: usize = 1 << 10;

/// Kept runs at most this long are walked row by row with the width compiled in.
const MAX_ROW_WIDTH: usize = 8;

/// Runs shorter than this get their exponentials window by window
/// ([`SubsetLayout::lse_exp_windows`]).
const WINDOW_RUN: usize = 64;

/// Big cells per window of [`SubsetLayout::lse_exp_windows`] (8 kB of exponentials).
const WINDOW_CELLS: usize = 1024;

/// Evaluates `$body` with the const `$N` equal to the run width `$n` when it is one of
/// 2..=[`MAX_ROW_WIDTH`], giving `true`; `false` (and nothing run) for other widths.
macro_rules! with_width {
    ($n:expr, $N:ident => $body:expr) => {
        match $n {
            2 => {
                const $N: usize = 2;
                $body;
                true
            }
            3 => {
                const $N: usize = 3;
                $body;
                true
            }
            4 => {
                const $N: usize = 4;
                $body;
                true
            }
            5 => {
                const $N: usize = 5;
                $body;
                true
            }
            6 => {
                const $N: usize = 6;
                $body;
                true
            }
            7 => {
                const $N: usize = 7;
                $body;
                true
            }
            8 => {
                const $N: usize = 8;
                $body;
                true
            }
            _ => false,
        }
    };
}

/// Calls `f(big_offset, small_offset)` for every combination of the blocks' indices, the
/// first block fastest: an odometer over the others around a tight loop over the first.
#[inline(always)]
fn walk(blocks: &[Block], mut f: impl FnMut(usize, usize)) {
    let Some((first, rest)) = blocks.split_first() else {
        f(0, 0);
        return;
    };
    let mut idx = [0usize; 32];
    let mut heap_idx;
    let idx: &mut [usize] = if rest.len() <= 32 {
        &mut idx[..rest.len()]
    } else {
        heap_idx = vec![0usize; rest.len()];
        &mut heap_idx
    };
    let (mut b, mut s) = (0usize, 0usize);
    loop {
        let (mut bb, mut ss) = (b, s);
        for _ in 0..first.size {
            f(bb, ss);
            bb += first.big_stride;
            ss += first.small_stride;
        }
        let mut k = 0;
        loop {
            if k == rest.len() {
                return;
            }
            let blk = rest[k];
            idx[k] += 1;
            b += blk.big_stride;
            s += blk.small_stride;
            if idx[k] < blk.size {
                break;
            }
            b -= blk.size * blk.big_stride;
            s -= blk.size * blk.small_stride;
            idx[k] = 0;
            k += 1;
        }
    }
}

/// A layout cut into chunks along its outermost block (see [`SubsetLayout::split`]).
struct Split {
    /// Big cells per chunk (the last chunk may be shorter).
    big_len: usize,
    /// Small cells per chunk when the outermost block is kept; 0 when it is summed out
    /// (every chunk then maps onto the whole small table).
    small_len: usize,
    full: SubsetLayout,
    rest: Option<SubsetLayout>,
}

impl Split {
    fn layout_for(&self, big_len: usize) -> &SubsetLayout {
        match &self.rest {
            Some(r) if big_len != self.big_len => r,
            _ => &self.full,
        }
    }
}

/// A layout whose outermost block is summed out, cut into chunks of small cells along its
/// outermost kept block (see [`SubsetLayout::kept_split`]).
struct KeptSplit {
    /// Entries of the cut block per chunk (the last chunk may have fewer), of `size`.
    per: usize,
    size: usize,
    /// Big and small cells per entry of the cut block.
    big_stride: usize,
    small_stride: usize,
    /// Entries and big stride of the summed-out outermost block: a chunk's big cells are
    /// one piece per entry, `piece_stride` apart.
    pieces: usize,
    piece_stride: usize,
    /// The layout of one piece (the cut block shortened to `per`, no outermost block), and
    /// of the last chunk's pieces when shorter.
    full: SubsetLayout,
    rest: Option<SubsetLayout>,
}

impl KeptSplit {
    fn layout_for(&self, small_len: usize) -> &SubsetLayout {
        match &self.rest {
            Some(r) if small_len != self.per * self.small_stride => r,
            _ => &self.full,
        }
    }

    /// Where chunk `i`'s piece `t` starts in the big table.
    fn piece_start(&self, i: usize, t: usize) -> usize {
        t * self.piece_stride + i * self.per * self.big_stride
    }

    /// [`SubsetLayout::sum_into`], chunk by chunk in parallel.
    fn sum_into<T: Real>(&self, big: &[T], small: &mut [T]) {
        small
            .par_chunks_mut(self.per * self.small_stride)
            .enumerate()
            .for_each(|(i, s)| {
                let l = self.layout_for(s.len());
                s.fill(T::ZERO);
                for t in 0..self.pieces {
                    let b = self.piece_start(i, t);
                    T::sum_acc(l, &big[b..b + l.big_cells], s);
                }
            });
    }

    /// [`SubsetLayout::logsumexp_keep`], chunk by chunk in parallel: the maxima over all of
    /// a chunk's pieces, then the exponentials, as the sequential walk's two passes. `exps`
    /// is cut into the chunks' pieces (chunk after chunk within each entry of the outermost
    /// block, since the cut block is the one just inside it).
    fn logsumexp_keep<T: Real>(&self, big: &[T], small: &mut [T], exps: &mut [T], acc: &mut [T]) {
        let chunks = self.size.div_ceil(self.per);
        let mut own: Vec<Vec<&mut [T]>> = (0..chunks)
            .map(|_| Vec::with_capacity(self.pieces))
            .collect();
        let mut rest = exps;
        for _ in 0..self.pieces {
            for (i, pieces) in own.iter_mut().enumerate() {
                let len = self.per.min(self.size - i * self.per) * self.big_stride;
                let (piece, tail) = std::mem::take(&mut rest).split_at_mut(len);
                pieces.push(piece);
                rest = tail;
            }
        }
        let cs = self.per * self.small_stride;
        small
            .par_chunks_mut(cs)
            .zip(acc.par_chunks_mut(cs))
            .zip(own)
            .enumerate()
            .for_each(|(i, ((s, a), mut pieces))| {
                let l = self.layout_for(s.len());
                s.fill(T::NEG_INFINITY);
                a.fill(T::ZERO);
                for t in 0..self.pieces {
                    let b = self.piece_start(i, t);
                    T::lse_max_pass(l, &big[b..b + l.big_cells], s);
                }
                for (t, e) in pieces.iter_mut().enumerate() {
                    let b = self.piece_start(i, t);
                    T::lse_exp_pass(l, &big[b..b + l.big_cells], s, e, a);
                }
                lse_finish(s, a);
            });
    }
}

impl SubsetLayout {
    /// `keep[i]` says whether axis `i` of the big table (shape `big_shape`) is an axis of the
    /// small table. The small table's axes are the kept ones, in the same order.
    pub(crate) fn new(big_shape: &[usize], keep: &[bool]) -> Self {
        debug_assert_eq!(big_shape.len(), keep.len());
        // Merge from the innermost axis outwards; size-1 axes never matter.
        let mut blocks: Vec<(usize, bool)> = Vec::new();
        for i in (0..big_shape.len()).rev() {
            let s = big_shape[i];
            if s == 1 {
                continue;
            }
            match blocks.last_mut() {
                Some(last) if last.1 == keep[i] => last.0 *= s,
                _ => blocks.push((s, keep[i])),
            }
        }
        let big_cells = big_shape.iter().product();
        let small_cells = big_shape
            .iter()
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|(&s, _)| s)
            .product();
        if blocks.is_empty() {
            return SubsetLayout {
                outer: Vec::new(),
                inner_len: 1,
                inner_kept: true,
                big_cells,
                small_cells,
            };
        }
        let (inner_len, inner_kept) = blocks[0];
        let mut big_stride = inner_len;
        let mut small_stride = if inner_kept { inner_len } else { 1 };
        let mut outer = Vec::with_capacity(blocks.len() - 1);
        for &(size, kept) in &blocks[1..] {
            outer.push(Block {
                size,
                big_stride,
                small_stride: if kept { small_stride } else { 0 },
            });
            big_stride *= size;
            if kept {
                small_stride *= size;
            }
        }
        SubsetLayout {
            outer,
            inner_len,
            inner_kept,
            big_cells,
            small_cells,
        }
    }

    /// Layout of `sub`'s axes inside a table over `big` (attributes as sorted index lists).
    pub(crate) fn for_attrs(big_attrs: &[usize], big_shape: &[usize], sub_attrs: &[usize]) -> Self {
        let keep: Vec<bool> = big_attrs
            .iter()
            .map(|a| sub_attrs.binary_search(a).is_ok())
            .collect();
        Self::new(big_shape, &keep)
    }

    pub(crate) fn big_cells(&self) -> usize {
        self.big_cells
    }

    pub(crate) fn small_cells(&self) -> usize {
        self.small_cells
    }

    /// Calls `f(big_offset, small_offset)` for every run, in increasing big offset.
    /// Always inlined, so each instruction-set clone of a walk ([`dispatch`]) gets its own.
    #[inline(always)]
    pub(crate) fn for_each_run(&self, f: impl FnMut(usize, usize)) {
        walk(&self.outer, f)
    }

    /// Calls `f(big_offset, small_offset)` for every row (the innermost run with the
    /// innermost outer block: [`Self::row_len`] consecutive big cells), in increasing big
    /// offset. Only for layouts with an outer block.
    #[inline(always)]
    fn for_each_row(&self, f: impl FnMut(usize, usize)) {
        walk(&self.outer[1..], f)
    }

    /// Big cells per row (see [`Self::for_each_row`]).
    fn row_len(&self) -> usize {
        self.inner_len * self.outer.first().map_or(1, |b| b.size)
    }

    /// Whether the walks go row by row with the run width `inner_len` compiled in: a short
    /// kept run under a summed-out block. One call per run of two or four cells would cost
    /// more than the cells (and keep the exponentials from filling vector lanes).
    fn short_kept_rows(&self) -> bool {
        self.inner_kept && self.inner_len <= MAX_ROW_WIDTH && !self.outer.is_empty()
    }

    /// The same for a short summed-out run under a kept block: a row then maps onto
    /// [`Self::row_small`] consecutive small cells, one per run.
    fn short_summed_rows(&self) -> bool {
        !self.inner_kept && self.inner_len <= MAX_ROW_WIDTH && !self.outer.is_empty()
    }

    /// Small cells per row when the innermost run is summed out.
    fn row_small(&self) -> usize {
        self.outer.first().map_or(1, |b| b.size)
    }

    /// `big[c] += small[s(c)]`: expansion of `small` to the big clique, added in (a product
    /// of factors in log space).
    pub(crate) fn add_expanded<T: Real>(&self, big: &mut [T], small: &[T]) {
        self.expand(big, small, T::add_expanded);
    }

    /// `out[c] = src[c] + small[s(c)]`: [`Self::add_expanded`] onto a copy of `src` (same
    /// shape as `out`) in one pass instead of a copy and a pass (same values).
    pub(crate) fn add_expanded_from<T: Real>(&self, out: &mut [T], src: &[T], small: &[T]) {
        debug_assert_eq!(out.len(), self.big_cells);
        debug_assert_eq!(src.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        let Some(split) = self.split() else {
            return T::add_expanded_from(self, out, src, small);
        };
        out.par_chunks_mut(split.big_len)
            .zip(src.par_chunks(split.big_len))
            .enumerate()
            .for_each(|(i, (o, b))| {
                let l = split.layout_for(o.len());
                let s = if split.small_len > 0 {
                    &small[i * split.small_len..i * split.small_len + l.small_cells]
                } else {
                    small
                };
                T::add_expanded_from(l, o, b, s)
            });
    }

    /// [`Self::add_expanded`] in the calling thread (for callers that cut the tables
    /// themselves).
    pub(crate) fn add_expanded_seq<T: Real>(&self, big: &mut [T], small: &[T]) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        T::add_expanded(self, big, small)
    }

    /// [`Self::add_expanded_from`] in the calling thread.
    pub(crate) fn add_expanded_from_seq<T: Real>(&self, out: &mut [T], src: &[T], small: &[T]) {
        debug_assert_eq!(out.len(), self.big_cells);
        debug_assert_eq!(src.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        T::add_expanded_from(self, out, src, small)
    }

    /// `big[c] *= small[s(c)]`: a product of factors in probability space.
    pub(crate) fn mul_expanded<T: Real>(&self, big: &mut [T], small: &[T]) {
        self.expand(big, small, T::mul_expanded);
    }

    /// `big[c] = op(big[c], small[s(c)])` for every cell; `run` handles a kept run
    /// (element-wise) and `scalar` a summed-out run (one value for the whole run). Both are
    /// plain functions of their slices, so the optimiser knows the slices do not alias and
    /// vectorises them (closure captures would hide that).
    #[inline(always)]
    pub(crate) fn combine_expanded<T: Real>(
        &self,
        big: &mut [T],
        small: &[T],
        run: impl Fn(&mut [T], &[T]),
        scalar: impl Fn(&mut [T], T),
    ) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        let n = self.inner_len;
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| run(&mut big[b..b + n], &small[s..s + n]),
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| scalar(&mut big[b..b + n], small[s]),
            );
        }
    }

    /// [`Self::combine_expanded`] row by row for a short kept run of width `N`
    /// ([`Self::short_kept_rows`]), with `op` on single cells: the same cells get the same
    /// operands.
    #[inline(always)]
    fn expand_rows<T: Real, const N: usize>(
        &self,
        big: &mut [T],
        small: &[T],
        op: impl Fn(T, T) -> T + Copy,
    ) {
        let len = self.row_len();
        self.for_each_row(
            #[inline(always)]
            |b, s| kernels::periodic::<_, N>(&mut big[b..b + len], &small[s..s + N], op),
        );
    }

    /// [`Self::combine_expanded`] row by row for a short summed-out run of width `N`
    /// ([`Self::short_summed_rows`]): each small cell over its `N` big cells.
    #[inline(always)]
    fn expand_summed_rows<T: Real, const N: usize>(
        &self,
        big: &mut [T],
        small: &[T],
        op: impl Fn(T, T) -> T + Copy,
    ) {
        let (len, m) = (self.row_len(), self.row_small());
        self.for_each_row(
            #[inline(always)]
            |b, s| kernels::repeat::<_, N>(&mut big[b..b + len], &small[s..s + m], op),
        );
    }

    /// The body of [`Self::add_expanded_from`] on one chunk.
    #[inline(always)]
    fn add_expanded_from_body<T: Real>(&self, out: &mut [T], src: &[T], small: &[T]) {
        let n = self.inner_len;
        if self.short_kept_rows() {
            let len = self.row_len();
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| kernels::periodic_from::<_, N>(
                    &mut out[b..b + len],
                    &src[b..b + len],
                    &small[s..s + N],
                    |a, v| a + v,
                ),
            ));
            if done {
                return;
            }
        }
        if self.short_summed_rows() {
            let (len, m) = (self.row_len(), self.row_small());
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| kernels::repeat_from::<_, N>(
                    &mut out[b..b + len],
                    &src[b..b + len],
                    &small[s..s + m],
                    |a, v| a + v,
                ),
            ));
            if done {
                return;
            }
        }
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| kernels::add_into(&mut out[b..b + n], &src[b..b + n], &small[s..s + n]),
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| kernels::add_scalar_into(&mut out[b..b + n], &src[b..b + n], small[s]),
            );
        }
    }

    /// `small[s] = sum of big[c] over cells c mapping to s` (marginalisation in probability
    /// space). Overwrites `small`.
    pub(crate) fn sum_into<T: Real>(&self, big: &[T], small: &mut [T]) {
        match self.split() {
            Some(split) if split.small_len > 0 => {
                small
                    .par_chunks_mut(split.small_len)
                    .zip(big.par_chunks(split.big_len))
                    .for_each(|(s, b)| split.layout_for(b.len()).sum_into_seq(b, s));
            }
            _ => match self.kept_split() {
                Some(ks) => ks.sum_into(big, small),
                None => self.sum_into_seq(big, small),
            },
        }
    }

    fn sum_into_seq<T: Real>(&self, big: &[T], small: &mut [T]) {
        T::sum_into(self, big, small)
    }

    #[inline(always)]
    fn sum_into_body<T: Real>(&self, big: &[T], small: &mut [T]) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        if self.outer.is_empty() && self.inner_kept {
            small.copy_from_slice(big);
            return;
        }
        small.fill(T::ZERO);
        self.sum_acc_body(big, small);
    }

    /// The accumulation of [`Self::sum_into_body`] without the zeroing: adds `big`'s cells
    /// into `small`, each small cell's terms in increasing big offset. Also run on the pieces
    /// of a [`KeptSplit`] (`big` then longer than the layout's cells).
    #[inline(always)]
    fn sum_acc_body<T: Real>(&self, big: &[T], small: &mut [T]) {
        let n = self.inner_len;
        if self.short_kept_rows() {
            let len = self.row_len();
            // Each lane adds its cells in the order of the run-by-run walk.
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| kernels::fold_rows::<_, N>(&mut small[s..s + N], &big[b..b + len], |a, v| a + v),
            ));
            if done {
                return;
            }
        }
        if self.short_summed_rows() {
            let (len, m) = (self.row_len(), self.row_small());
            // The same `kernels::sum` of each run, with its width known.
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| {
                    for (o, r) in small[s..s + m].iter_mut().zip(big[b..b + len].chunks_exact(N)) {
                        *o += T::of(kernels::sum(r));
                    }
                },
            ));
            if done {
                return;
            }
        }
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| kernels::add_assign(&mut small[s..s + n], &big[b..b + n]),
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    small[s] += T::of(kernels::sum(&big[b..b + n]));
                },
            );
        }
    }

    /// `small[s] = log sum exp big[c]` over cells mapping to `s`, shifted by the maximum of
    /// each target cell so that no term overflows and the largest never underflows.
    /// `scratch` is resized to the small table. Overwrites `small`.
    pub(crate) fn logsumexp_into<T: Real>(&self, big: &[T], small: &mut [T], scratch: &mut Vec<T>) {
        scratch.clear();
        scratch.resize(self.small_cells, T::ZERO);
        T::logsumexp_into(self, big, small, scratch)
    }

    /// [`Self::logsumexp_into`] with `scratch` already zeroed to the small table's size.
    #[inline(always)]
    fn logsumexp_into_body<T: Real>(&self, big: &[T], small: &mut [T], scratch: &mut [T]) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        let n = self.inner_len;
        // Pass 1: maximum per target cell (kept in `small`).
        small.fill(T::NEG_INFINITY);
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| kernels::max_assign(&mut small[s..s + n], &big[b..b + n]),
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    small[s] = small[s].max(kernels::max(&big[b..b + n]));
                },
            );
        }
        // Pass 2: sum of shifted exponentials. A target whose cells are all -inf has
        // maximum -inf; shift by 0 there (every term is exp(-inf) = 0) to avoid NaN.
        let shift = |m: T| if m.is_finite() { m } else { T::ZERO };
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    kernels::exp_acc(
                        None,
                        &mut scratch[s..s + n],
                        &big[b..b + n],
                        &small[s..s + n],
                    )
                },
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    scratch[s] += T::of(kernels::sum_exp(&big[b..b + n], shift(small[s])));
                },
            );
        }
        for (m, &acc) in small.iter_mut().zip(scratch.iter()) {
            if m.is_finite() {
                *m += acc.ln();
            }
        }
    }

    /// Like [`Self::logsumexp_into`], and also keeps the shifted exponentials: `exps[c] =
    /// exp(big[c] - max_s)` and `acc[s] = sum of exps over s`, so `exps / acc` is the
    /// conditional distribution of the big table given each small cell.
    pub(crate) fn logsumexp_keep<T: Real>(
        &self,
        big: &[T],
        small: &mut [T],
        exps: &mut [T],
        acc: &mut [T],
    ) {
        match self.split() {
            Some(split) if split.small_len > 0 => {
                small
                    .par_chunks_mut(split.small_len)
                    .zip(acc.par_chunks_mut(split.small_len))
                    .zip(big.par_chunks(split.big_len))
                    .zip(exps.par_chunks_mut(split.big_len))
                    .for_each(|(((s, a), b), e)| {
                        split.layout_for(b.len()).logsumexp_keep_seq(b, s, e, a)
                    });
            }
            _ => match self.kept_split() {
                Some(ks) => ks.logsumexp_keep(big, small, exps, acc),
                None => self.logsumexp_keep_seq(big, small, exps, acc),
            },
        }
    }

    fn logsumexp_keep_seq<T: Real>(
        &self,
        big: &[T],
        small: &mut [T],
        exps: &mut [T],
        acc: &mut [T],
    ) {
        T::logsumexp_keep(self, big, small, exps, acc)
    }

    #[inline(always)]
    fn logsumexp_keep_body<T: Real>(
        &self,
        big: &[T],
        small: &mut [T],
        exps: &mut [T],
        acc: &mut [T],
    ) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(exps.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        debug_assert_eq!(acc.len(), self.small_cells);
        small.fill(T::NEG_INFINITY);
        acc.fill(T::ZERO);
        self.lse_max_pass(big, small);
        self.lse_exp_pass(big, small, exps, acc);
        lse_finish(small, acc);
    }

    /// Pass 1 of [`Self::logsumexp_keep_body`]: the maximum of each small cell's big cells,
    /// folded into `small` (no reset). Also run on the pieces of a [`KeptSplit`].
    #[inline(always)]
    fn lse_max_pass<T: Real>(&self, big: &[T], small: &mut [T]) {
        let n = self.inner_len;
        if self.short_kept_rows() {
            let len = self.row_len();
            // Row by row with the width compiled in (the same cells in the same order).
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| {
                    kernels::fold_rows::<_, N>(&mut small[s..s + N], &big[b..b + len], |a, v| {
                        if v > a {
                            v
                        } else {
                            a
                        }
                    })
                },
            ));
            if done {
                return;
            }
        }
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| kernels::max_assign(&mut small[s..s + n], &big[b..b + n]),
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    small[s] = small[s].max(kernels::max(&big[b..b + n]));
                },
            );
        }
    }

    /// Pass 2 of [`Self::logsumexp_keep_body`]: the shifted exponentials into `exps`, added
    /// into `acc` (no reset), with the maxima of pass 1 in `small`. Takes the row-by-row
    /// path exactly when [`Self::lse_max_pass`] does.
    #[inline(always)]
    fn lse_exp_pass<T: Real>(&self, big: &[T], small: &[T], exps: &mut [T], acc: &mut [T]) {
        if self.windowed_exps() {
            self.lse_exp_windows(big, small, exps, acc);
        } else {
            self.lse_exp_runs(big, small, exps, acc);
        }
    }

    /// [`Self::lse_exp_pass`] run by run (row by row for short kept runs).
    #[inline(always)]
    fn lse_exp_runs<T: Real>(&self, big: &[T], small: &[T], exps: &mut [T], acc: &mut [T]) {
        let n = self.inner_len;
        if self.short_kept_rows() {
            let len = self.row_len();
            let done = with_width!(n, N => self.for_each_row(
                #[inline(always)]
                |b, s| {
                    kernels::exp_acc_rows::<_, N>(
                        &mut exps[b..b + len],
                        &mut acc[s..s + N],
                        &big[b..b + len],
                        &small[s..s + N],
                    )
                },
            ));
            if done {
                return;
            }
        }
        let shift = |m: T| if m.is_finite() { m } else { T::ZERO };
        if self.inner_kept {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    kernels::exp_acc(
                        Some(&mut exps[b..b + n]),
                        &mut acc[s..s + n],
                        &big[b..b + n],
                        &small[s..s + n],
                    )
                },
            );
        } else {
            self.for_each_run(
                #[inline(always)]
                |b, s| {
                    acc[s] += T::of(kernels::exp_shift_sum(
                        &mut exps[b..b + n],
                        &big[b..b + n],
                        shift(small[s]),
                    ));
                },
            );
        }
    }

    /// Whether [`Self::lse_exp_pass`] goes window by window ([`Self::lse_exp_windows`]):
    /// runs too short to fill the vector lanes with exponentials on their own (rows too
    /// short for [`kernels::exp_acc_rows`]'s tiles, summed-out runs of a few dozen cells).
    fn windowed_exps(&self) -> bool {
        !self.outer.is_empty()
            && if self.short_kept_rows() {
                self.row_len() < WINDOW_CELLS
            } else {
                self.inner_len < WINDOW_RUN
            }
    }

    /// [`Self::lse_exp_pass`] for short runs: consecutive runs are gathered into windows of
    /// about [`WINDOW_CELLS`] big cells (in L1), whose cells first get their shift (their
    /// small cell's maximum) written into `exps`, then `exps = exp(big - exps)` in one
    /// vectorised loop over the window, then each run's exponentials are added into `acc`.
    /// Every cell's exponential is the same operation on the same operands as in the
    /// run-by-run walk (each path's own treatment of a -inf maximum), and every small cell's
    /// sum gets the same terms in the same order (a kept run's cells one by one in increasing
    /// big offset, a summed-out run's [`kernels::sum`]), so the results are bit-identical;
    /// only the exponentials fill the vector lanes. On NIST's epsilon-3 model this took a
    /// clique with summed-out runs of 15 cells from 6.3 to about 3 ns per cell.
    #[inline(always)]
    fn lse_exp_windows<T: Real>(&self, big: &[T], small: &[T], exps: &mut [T], acc: &mut [T]) {
        let n = self.inner_len;
        if self.short_kept_rows() {
            // Whole rows (each over the same `N` small cells) per window.
            let len = self.row_len();
            let per = WINDOW_CELLS / len;
            let mut rows = [0usize; WINDOW_CELLS];
            let (mut k, mut b0) = (0usize, 0usize);
            let done = with_width!(n, N => {
                self.for_each_row(
                    #[inline(always)]
                    |b, s| {
                        if k == 0 {
                            b0 = b;
                        }
                        rows[k] = s;
                        k += 1;
                        if k == per {
                            lse_exp_window_rows::<_, N>(len, &rows[..k], &big[b0..], small, &mut exps[b0..], acc);
                            k = 0;
                        }
                    },
                );
                if k > 0 {
                    lse_exp_window_rows::<_, N>(len, &rows[..k], &big[b0..], small, &mut exps[b0..], acc);
                }
            });
            if done {
                return;
            }
        }
        let kept = self.inner_kept;
        let per = (WINDOW_CELLS / n).max(1);
        let mut runs = [0usize; WINDOW_CELLS];
        let (mut k, mut b0) = (0usize, 0usize);
        self.for_each_run(
            #[inline(always)]
            |b, s| {
                if k == 0 {
                    b0 = b;
                }
                runs[k] = s;
                k += 1;
                if k == per {
                    lse_exp_window(n, kept, &runs[..k], &big[b0..], small, &mut exps[b0..], acc);
                    k = 0;
                }
            },
        );
        if k > 0 {
            lse_exp_window(n, kept, &runs[..k], &big[b0..], small, &mut exps[b0..], acc);
        }
    }

    /// How a large table is cut for rayon: along its outermost block, in chunks of at least
    /// `PAR_CELLS / 4` big cells (a table with no outer block: along its one run). `None`
    /// for tables below `PAR_CELLS` cells. Each chunk is the same layout with the outermost block shortened, so
    /// every cell is computed exactly as by the sequential walk (results do not depend on
    /// the number of threads).
    fn split(&self) -> Option<Split> {
        if self.big_cells < PAR_CELLS || rayon::current_num_threads() < 2 {
            return None;
        }
        let Some(&last) = self.outer.last() else {
            // One run (every axis kept, or every axis summed out, as onto an empty
            // separator): cut the run itself, cell by cell the same operations.
            let per = PAR_CELLS / 4;
            let rest = self.inner_len % per;
            return Some(Split {
                big_len: per,
                small_len: if self.inner_kept { per } else { 0 },
                full: self.shortened(per),
                rest: (rest > 0).then(|| self.shortened(rest)),
            });
        };
        let per = (PAR_CELLS / 4).div_ceil(last.big_stride).max(1);
        if per >= last.size {
            return None;
        }
        let rest = last.size % per;
        Some(Split {
            big_len: per * last.big_stride,
            small_len: per * last.small_stride,
            full: self.shortened(per),
            rest: (rest > 0).then(|| self.shortened(rest)),
        })
    }

    /// This layout with its outermost block (its run, if it has no block) cut to `size`
    /// entries.
    fn shortened(&self, size: usize) -> SubsetLayout {
        let mut l = self.clone();
        let Some(last) = l.outer.last_mut() else {
            l.inner_len = size;
            l.big_cells = size;
            l.small_cells = if l.inner_kept { size } else { 1 };
            return l;
        };
        l.big_cells = l.big_cells / last.size * size;
        if last.small_stride > 0 {
            l.small_cells = l.small_cells / last.size * size;
        }
        last.size = size;
        l
    }

    /// How a large table whose outermost block is summed out is cut for rayon: along its
    /// outermost kept block (the block just inside, since kept and summed-out blocks
    /// alternate), or along its kept run when that is the only kept part (a clique onto a
    /// separator that drops only its first attribute). Each chunk owns a range of small
    /// cells and visits, for each entry of the summed-out outermost block in turn, one
    /// contiguous piece of the big table; a small cell's terms thus come in increasing big
    /// offset, exactly as in the sequential walk, and results do not depend on the number
    /// of threads. `None` where [`Self::split`] cuts along a kept block already, for tables
    /// below `PAR_CELLS` cells, and for those with no kept part to cut (all summed out).
    fn kept_split(&self) -> Option<KeptSplit> {
        if self.big_cells < PAR_CELLS || rayon::current_num_threads() < 2 {
            return None;
        }
        let &outermost = self.outer.last()?;
        if outermost.small_stride != 0 {
            return None;
        }
        let inner = &self.outer[..self.outer.len() - 1];
        let (size, big_stride, small_stride) = match inner.last() {
            Some(b) => {
                debug_assert!(b.small_stride > 0, "blocks alternate kept / summed out");
                (b.size, b.big_stride, b.small_stride)
            }
            // Short runs go row by row with their outer block; cut only long ones.
            None if self.inner_kept && self.inner_len > MAX_ROW_WIDTH => (self.inner_len, 1, 1),
            None => return None,
        };
        // At least `PAR_CELLS / 4` big cells a chunk, in pieces of at least
        // `MIN_PIECE_CELLS` (a piece is one walk: shorter ones cost more in setup than cells).
        let per = (PAR_CELLS / 4)
            .div_ceil(big_stride * outermost.size)
            .max(MIN_PIECE_CELLS.div_ceil(big_stride));
        if per >= size {
            return None;
        }
        let cut = |len: usize| {
            let mut l = SubsetLayout {
                outer: inner.to_vec(),
                inner_len: self.inner_len,
                inner_kept: self.inner_kept,
                big_cells: len * big_stride,
                small_cells: len * small_stride,
            };
            match l.outer.last_mut() {
                Some(b) => b.size = len,
                None => l.inner_len = len,
            }
            l
        };
        let rest = size % per;
        Some(KeptSplit {
            per,
            size,
            big_stride,
            small_stride,
            pieces: outermost.size,
            piece_stride: outermost.big_stride,
            full: cut(per),
            rest: (rest > 0).then(|| cut(rest)),
        })
    }

    /// Runs the expansion `f(layout, big, small)` (`big` written cell by cell from
    /// `small`) over the chunks of [`Self::split`] in parallel, or once over the whole tables.
    fn expand<T: Real>(
        &self,
        big: &mut [T],
        small: &[T],
        f: impl Fn(&SubsetLayout, &mut [T], &[T]) + Sync,
    ) {
        debug_assert_eq!(big.len(), self.big_cells);
        debug_assert_eq!(small.len(), self.small_cells);
        let Some(split) = self.split() else {
            return f(self, big, small);
        };
        big.par_chunks_mut(split.big_len)
            .enumerate()
            .for_each(|(i, b)| {
                let l = split.layout_for(b.len());
                let s = if split.small_len > 0 {
                    &small[i * split.small_len..i * split.small_len + l.small_cells]
                } else {
                    small
                };
                f(l, b, s)
            });
    }

    /// Visits every big cell with the offset of its small cell: `f(big_offset, small_offset)`.
    #[inline]
    pub(crate) fn for_each_cell(&self, mut f: impl FnMut(usize, usize)) {
        let n = self.inner_len;
        if self.inner_kept {
            self.for_each_run(|b, s| {
                for i in 0..n {
                    f(b + i, s + i);
                }
            });
        } else {
            self.for_each_run(|b, s| {
                for i in 0..n {
                    f(b + i, s);
                }
            });
        }
    }
}

/// [`lse_exp_window`] for rows of `len` cells, each over the `N` small cells at its offset
/// in `rows`: the shifts repeat the row's `N` maxima, the sums are [`kernels::fold_rows`]
/// as in [`kernels::exp_acc_rows`].
#[inline(always)]
fn lse_exp_window_rows<T: Real, const N: usize>(
    len: usize,
    rows: &[usize],
    big: &[T],
    small: &[T],
    exps: &mut [T],
    acc: &mut [T],
) {
    let cells = rows.len() * len;
    let (e, x) = (&mut exps[..cells], &big[..cells]);
    for (e, &s) in e.chunks_exact_mut(len).zip(rows) {
        let sh: [T; N] = std::array::from_fn(|i| {
            let m = small[s + i];
            if m > T::NEG_INFINITY {
                m
            } else {
                T::ZERO
            }
        });
        for r in e.chunks_exact_mut(N) {
            r.copy_from_slice(&sh);
        }
    }
    kernels::exp_sub(e, x);
    for (e, &s) in e.chunks_exact(len).zip(rows) {
        kernels::fold_rows::<_, N>(&mut acc[s..s + N], e, |a, v| a + v);
    }
}

/// One window of [`SubsetLayout::lse_exp_windows`]: `runs` holds the small offsets of its
/// consecutive runs of `n` cells, which start at the beginning of `big` and `exps`.
#[inline(always)]
fn lse_exp_window<T: Real>(
    n: usize,
    kept: bool,
    runs: &[usize],
    big: &[T],
    small: &[T],
    exps: &mut [T],
    acc: &mut [T],
) {
    let len = runs.len() * n;
    let (e, x) = (&mut exps[..len], &big[..len]);
    if kept {
        // The shift of `kernels::exp_acc` (and `exp_acc_rows`).
        for (e, &s) in e.chunks_exact_mut(n).zip(runs) {
            for (e, &m) in e.iter_mut().zip(&small[s..s + n]) {
                *e = if m > T::NEG_INFINITY { m } else { T::ZERO };
            }
        }
        kernels::exp_sub(e, x);
        for (e, &s) in e.chunks_exact(n).zip(runs) {
            kernels::add_assign(&mut acc[s..s + n], e);
        }
    } else {
        // The shift of the run-by-run walk's summed-out branch.
        for (e, &s) in e.chunks_exact_mut(n).zip(runs) {
            let m = small[s];
            e.fill(if m.is_finite() { m } else { T::ZERO });
        }
        kernels::exp_sub(e, x);
        for (e, &s) in e.chunks_exact(n).zip(runs) {
            acc[s] += T::of(kernels::sum(e));
        }
    }
}

/// The last step of a log-sum-exp: `small = max + ln(sum of shifted exponentials)` where
/// the maximum is finite (a small cell whose big cells are all -inf stays -inf).
#[inline(always)]
fn lse_finish<T: Real>(small: &mut [T], acc: &[T]) {
    for (m, &a) in small.iter_mut().zip(acc.iter()) {
        if m.is_finite() {
            *m += a.ln();
        }
    }
}

/// The walks over big tables, compiled once per instruction set (AVX-512F, AVX2, and the
/// baseline SSE2 of x86_64; one version elsewhere) and picked at run time on the first
/// call. Every version performs the same IEEE operations on the same values in the same
/// order (the kernels' accumulator structure is explicit, Rust never contracts `a * b + c`
/// into an FMA and no kernel calls `mul_add`), so results are bit-identical on every
/// machine: only the vector width changes. The dispatch sits at the walk, not the run, so
/// short runs pay no indirect call and the kernels inline into each version. One module
/// per element type ([`Real`] routes to them): `multiversion` takes no type parameters.
macro_rules! dispatch_for {
    ($m:ident, $t:ty) => {
        pub(crate) mod $m {
            use super::{kernels, SubsetLayout};
            use multiversion::multiversion;

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn add_expanded(l: &SubsetLayout, big: &mut [$t], small: &[$t]) {
                let rows = (l.short_kept_rows()
                    && with_width!(l.inner_len, N => l.expand_rows::<$t, N>(big, small, |a, b| a + b)))
                    || (l.short_summed_rows()
                        && with_width!(l.inner_len, N => l.expand_summed_rows::<$t, N>(big, small, |a, b| a + b)));
                if !rows {
                    l.combine_expanded(big, small, kernels::add_assign, kernels::add_scalar)
                }
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn mul_expanded(l: &SubsetLayout, big: &mut [$t], small: &[$t]) {
                let rows = (l.short_kept_rows()
                    && with_width!(l.inner_len, N => l.expand_rows::<$t, N>(big, small, |a, b| a * b)))
                    || (l.short_summed_rows()
                        && with_width!(l.inner_len, N => l.expand_summed_rows::<$t, N>(big, small, |a, b| a * b)));
                if !rows {
                    l.combine_expanded(big, small, kernels::mul_assign, kernels::mul_scalar)
                }
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn add_expanded_from(
                l: &SubsetLayout,
                out: &mut [$t],
                src: &[$t],
                small: &[$t],
            ) {
                l.add_expanded_from_body(out, src, small)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn sum_into(l: &SubsetLayout, big: &[$t], small: &mut [$t]) {
                l.sum_into_body(big, small)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn sum_acc(l: &SubsetLayout, big: &[$t], small: &mut [$t]) {
                l.sum_acc_body(big, small)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn lse_max_pass(l: &SubsetLayout, big: &[$t], small: &mut [$t]) {
                l.lse_max_pass(big, small)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn lse_exp_pass(
                l: &SubsetLayout,
                big: &[$t],
                small: &[$t],
                exps: &mut [$t],
                acc: &mut [$t],
            ) {
                l.lse_exp_pass(big, small, exps, acc)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn logsumexp_into(
                l: &SubsetLayout,
                big: &[$t],
                small: &mut [$t],
                scratch: &mut [$t],
            ) {
                l.logsumexp_into_body(big, small, scratch)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn logsumexp_keep(
                l: &SubsetLayout,
                big: &[$t],
                small: &mut [$t],
                exps: &mut [$t],
                acc: &mut [$t],
            ) {
                l.logsumexp_keep_body(big, small, exps, acc)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn sub_scaled(dst: &mut [$t], a: &[$t], alpha: $t, b: &[$t]) {
                kernels::sub_scaled(dst, a, alpha, b)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn mix(dst: &mut [$t], t: $t, x: &[$t]) {
                kernels::mix(dst, t, x)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn mix_into(dst: &mut [$t], a: &[$t], t: $t, b: &[$t]) {
                kernels::mix_into(dst, a, t, b)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn sq_dist(a: &[$t], b: &[$t]) -> f64 {
                kernels::sq_dist(a, b)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn dot(a: &[$t], b: &[$t]) -> f64 {
                kernels::dot(a, b)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn max_abs(x: &[$t]) -> f64 {
                kernels::max_abs(x)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn max(x: &[$t]) -> $t {
                kernels::max(x)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn exp_shift_sum(dst: &mut [$t], src: &[$t], shift: $t) -> f64 {
                kernels::exp_shift_sum(dst, src, shift)
            }

            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub(crate) fn mul_scalar(x: &mut [$t], c: $t) {
                kernels::mul_scalar(x, c)
            }
        }
    };
}

dispatch_for!(dispatch_f64, f64);
dispatch_for!(dispatch_f32, f32);

/// Element-wise kernels written as index loops over exact-length slices: the optimiser
/// drops the bounds checks and vectorises them, and unoptimised test builds avoid the
/// per-element calls of iterator adapters. All are always inlined, into each version of a
/// [`dispatch`] walk (or of a whole-table kernel there), and generic over the element type
/// ([`Real`]); every sum over cells is accumulated in `f64` (for `f64` elements: exactly
/// the operations of the `f64`-only code before single precision).
pub(crate) mod kernels {
    use super::Real;

    /// `e^x` without a libm call: Cody-Waite reduction `x = k ln 2 + r`, `|r| <= ln 2 / 2`,
    /// a degree-13 Taylor polynomial for `e^r` (truncation below 1e-17 relative) and `2^k`
    /// built in the exponent bits. Branch-free, so loops over it vectorise. Within a few
    /// ulp of `f64::exp` for `x` in [-708, 709]; 0 below (every caller shifts by a
    /// maximum first, so such cells are below 1e-307 of it) and +inf above.
    #[inline(always)]
    pub(crate) fn exp(x: f64) -> f64 {
        const LOG2E: f64 = std::f64::consts::LOG2_E;
        // ln 2 split so that k * LN2_HI is exact (fdlibm's constants).
        const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
        const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
        const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: rounds to an integer
        let xc = x.clamp(-708.0, 709.0);
        let t = xc * LOG2E + SHIFT;
        let k = t - SHIFT;
        let ki = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
        let r = (xc - k * LN2_HI) - k * LN2_LO;
        let mut p = 1.0 / 6_227_020_800.0; // 1/13!
        p = p * r + 1.0 / 479_001_600.0;
        p = p * r + 1.0 / 39_916_800.0;
        p = p * r + 1.0 / 3_628_800.0;
        p = p * r + 1.0 / 362_880.0;
        p = p * r + 1.0 / 40_320.0;
        p = p * r + 1.0 / 5_040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        let y = p * f64::from_bits((ki.wrapping_add(1023) as u64) << 52);
        let y = if x < -708.0 { 0.0 } else { y };
        if x > 709.0 {
            f64::INFINITY
        } else {
            y
        }
    }

    /// [`exp`] in single precision: the same reduction with Cephes' split of ln 2 and a
    /// degree-7 Taylor polynomial (truncation below 1e-8 relative, under f32's unit
    /// roundoff of 6e-8). 0 below -87 (under 2^-125 of the shift's maximum), +inf above 88.
    #[inline(always)]
    pub(crate) fn exp_f32(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4; // 0x3f318000: k * LN2_HI exact for |k| < 2^9
        const LN2_LO: f32 = -2.121_944_4e-4;
        const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23: rounds to an integer
        let xc = x.clamp(-87.0, 88.0);
        let t = xc * LOG2E + SHIFT;
        let k = t - SHIFT;
        let ki = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
        let r = (xc - k * LN2_HI) - k * LN2_LO;
        let mut p = 1.0 / 5_040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        let y = p * f32::from_bits((ki.wrapping_add(127) as u32) << 23);
        let y = if x < -87.0 { 0.0 } else { y };
        if x > 88.0 {
            f32::INFINITY
        } else {
            y
        }
    }

    /// `sum_i f(i)` for `i < n` with four independent accumulators, so the additions can
    /// be reordered into vector lanes (a single running sum is a dependency chain the
    /// optimiser may not reassociate).
    #[inline(always)]
    fn sum4(n: usize, f: impl Fn(usize) -> f64) -> f64 {
        let mut a = [0.0f64; 4];
        let mut i = 0;
        while i + 4 <= n {
            a[0] += f(i);
            a[1] += f(i + 1);
            a[2] += f(i + 2);
            a[3] += f(i + 3);
            i += 4;
        }
        let mut s = (a[0] + a[2]) + (a[1] + a[3]);
        while i < n {
            s += f(i);
            i += 1;
        }
        s
    }

    /// The sum of `x`, accumulated in `f64`.
    #[inline(always)]
    pub(crate) fn sum<T: Real>(x: &[T]) -> f64 {
        sum4(x.len(), |i| x[i].wide())
    }

    /// Largest element (-inf for none); inputs are NaN-free (potentials are validated).
    #[inline(always)]
    pub(crate) fn max<T: Real>(x: &[T]) -> T {
        let mut a = [T::NEG_INFINITY; 4];
        let n = x.len();
        let mut i = 0;
        while i + 4 <= n {
            a[0] = if x[i] > a[0] { x[i] } else { a[0] };
            a[1] = if x[i + 1] > a[1] { x[i + 1] } else { a[1] };
            a[2] = if x[i + 2] > a[2] { x[i + 2] } else { a[2] };
            a[3] = if x[i + 3] > a[3] { x[i + 3] } else { a[3] };
            i += 4;
        }
        let mut m = a[0].max(a[1]).max(a[2].max(a[3]));
        while i < n {
            m = m.max(x[i]);
            i += 1;
        }
        m
    }

    /// `sum exp(x - shift)`, accumulated in `f64`.
    #[inline(always)]
    pub(crate) fn sum_exp<T: Real>(x: &[T], shift: T) -> f64 {
        sum4(x.len(), |i| (x[i] - shift).fast_exp().wide())
    }

    /// `dst = exp(src - shift)`, returning the sum (in `f64`).
    #[inline(always)]
    pub(crate) fn exp_shift_sum<T: Real>(dst: &mut [T], src: &[T], shift: T) -> f64 {
        let n = dst.len();
        let src = &src[..n];
        let mut i = 0;
        while i < n {
            dst[i] = (src[i] - shift).fast_exp();
            i += 1;
        }
        sum(dst)
    }

    /// `e = exp(x - e)`: the exponentials of `x` shifted by the values `e` holds.
    #[inline(always)]
    pub(crate) fn exp_sub<T: Real>(e: &mut [T], x: &[T]) {
        let n = e.len();
        let x = &x[..n];
        let mut i = 0;
        while i < n {
            e[i] = (x[i] - e[i]).fast_exp();
            i += 1;
        }
    }

    /// `dst += src`.
    #[inline(always)]
    pub(crate) fn add_assign<T: Real>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        let src = &src[..n];
        let mut i = 0;
        while i < n {
            dst[i] += src[i];
            i += 1;
        }
    }

    /// `dst = a + b`.
    #[inline(always)]
    pub(crate) fn add_into<T: Real>(dst: &mut [T], a: &[T], b: &[T]) {
        let n = dst.len();
        let (a, b) = (&a[..n], &b[..n]);
        let mut i = 0;
        while i < n {
            dst[i] = a[i] + b[i];
            i += 1;
        }
    }

    /// `dst = a + c`.
    #[inline(always)]
    pub(crate) fn add_scalar_into<T: Real>(dst: &mut [T], a: &[T], c: T) {
        let n = dst.len();
        let a = &a[..n];
        let mut i = 0;
        while i < n {
            dst[i] = a[i] + c;
            i += 1;
        }
    }

    /// `dst *= src`.
    #[inline(always)]
    pub(crate) fn mul_assign<T: Real>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        let src = &src[..n];
        let mut i = 0;
        while i < n {
            dst[i] *= src[i];
            i += 1;
        }
    }

    /// `dst += c`.
    #[inline(always)]
    pub(crate) fn add_scalar<T: Real>(dst: &mut [T], c: T) {
        let mut i = 0;
        while i < dst.len() {
            dst[i] += c;
            i += 1;
        }
    }

    /// `dst *= c`.
    #[inline(always)]
    pub(crate) fn mul_scalar<T: Real>(dst: &mut [T], c: T) {
        let mut i = 0;
        while i < dst.len() {
            dst[i] *= c;
            i += 1;
        }
    }

    /// `dst = max(dst, src)` element-wise.
    #[inline(always)]
    pub(crate) fn max_assign<T: Real>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        let src = &src[..n];
        let mut i = 0;
        while i < n {
            dst[i] = if src[i] > dst[i] { src[i] } else { dst[i] };
            i += 1;
        }
    }

    /// `e = exp(x - m)` (with `m = -inf` treated as 0, all terms being 0 there) and
    /// `acc += e`, element-wise; `e` is optional.
    #[inline(always)]
    pub(crate) fn exp_acc<T: Real>(e: Option<&mut [T]>, acc: &mut [T], x: &[T], m: &[T]) {
        let n = acc.len();
        let (x, m) = (&x[..n], &m[..n]);
        let shift = |v: T| if v > T::NEG_INFINITY { v } else { T::ZERO };
        match e {
            Some(e) => {
                let e = &mut e[..n];
                let mut i = 0;
                while i < n {
                    e[i] = (x[i] - shift(m[i])).fast_exp();
                    acc[i] += e[i];
                    i += 1;
                }
            }
            None => {
                let mut i = 0;
                while i < n {
                    acc[i] += (x[i] - shift(m[i])).fast_exp();
                    i += 1;
                }
            }
        }
    }

    /// `dst[j N + i] = op(dst[j N + i], pat[i])` for rows of `N` cells (`dst.len()` a
    /// multiple of `N`). Long tables go through a tile of the pattern repeated to a
    /// multiple of the vector width, so the operation fills whole vector lanes.
    #[inline(always)]
    pub(crate) fn periodic<T: Real, const N: usize>(
        dst: &mut [T],
        pat: &[T],
        op: impl Fn(T, T) -> T,
    ) {
        let p: [T; N] = std::array::from_fn(|i| pat[i]);
        let l = TILE / N * N;
        let mut rows = if dst.len() >= 4 * l {
            let tile: [T; TILE] = std::array::from_fn(|k| p[k % N]);
            let mut chunks = dst.chunks_exact_mut(l);
            for c in &mut chunks {
                for k in 0..l {
                    c[k] = op(c[k], tile[k]);
                }
            }
            chunks.into_remainder().chunks_exact_mut(N)
        } else {
            dst.chunks_exact_mut(N)
        };
        for row in &mut rows {
            for i in 0..N {
                row[i] = op(row[i], p[i]);
            }
        }
    }

    /// `dst[j N + i] = op(src[j N + i], pat[i])`: [`periodic`] from another table.
    #[inline(always)]
    pub(crate) fn periodic_from<T: Real, const N: usize>(
        dst: &mut [T],
        src: &[T],
        pat: &[T],
        op: impl Fn(T, T) -> T,
    ) {
        let p: [T; N] = std::array::from_fn(|i| pat[i]);
        let l = TILE / N * N;
        let src = &src[..dst.len()];
        let (mut rows, mut srows) = if dst.len() >= 4 * l {
            let tile: [T; TILE] = std::array::from_fn(|k| p[k % N]);
            let mut chunks = dst.chunks_exact_mut(l);
            let mut schunks = src.chunks_exact(l);
            for (c, sc) in (&mut chunks).zip(&mut schunks) {
                for k in 0..l {
                    c[k] = op(sc[k], tile[k]);
                }
            }
            (
                chunks.into_remainder().chunks_exact_mut(N),
                schunks.remainder().chunks_exact(N),
            )
        } else {
            (dst.chunks_exact_mut(N), src.chunks_exact(N))
        };
        for (row, srow) in (&mut rows).zip(&mut srows) {
            for i in 0..N {
                row[i] = op(srow[i], p[i]);
            }
        }
    }

    /// `dst[j N + i] = op(dst[j N + i], vals[j])`: each value over its own `N` cells.
    #[inline(always)]
    pub(crate) fn repeat<T: Real, const N: usize>(
        dst: &mut [T],
        vals: &[T],
        op: impl Fn(T, T) -> T,
    ) {
        for (row, &v) in dst.chunks_exact_mut(N).zip(vals) {
            for x in row.iter_mut() {
                *x = op(*x, v);
            }
        }
    }

    /// `dst[j N + i] = op(src[j N + i], vals[j])`: [`repeat`] from another table.
    #[inline(always)]
    pub(crate) fn repeat_from<T: Real, const N: usize>(
        dst: &mut [T],
        src: &[T],
        vals: &[T],
        op: impl Fn(T, T) -> T,
    ) {
        for ((row, srow), &v) in dst.chunks_exact_mut(N).zip(src.chunks_exact(N)).zip(vals) {
            for i in 0..N {
                row[i] = op(srow[i], v);
            }
        }
    }

    /// Cells per tile in [`periodic`] and [`exp_acc_rows`].
    const TILE: usize = 64;

    /// `acc[i] = op(acc[i], src[j N + i])` for `j = 0, 1, ...` in order (`N` lanes, each a
    /// running fold in the order of the cells).
    #[inline(always)]
    pub(crate) fn fold_rows<T: Real, const N: usize>(
        acc: &mut [T],
        src: &[T],
        op: impl Fn(T, T) -> T,
    ) {
        let mut a: [T; N] = std::array::from_fn(|i| acc[i]);
        for row in src.chunks_exact(N) {
            for i in 0..N {
                a[i] = op(a[i], row[i]);
            }
        }
        acc[..N].copy_from_slice(&a);
    }

    /// [`exp_acc`] over rows of `N` cells sharing the `N` maxima `m`: `e = exp(x - m)`
    /// (tiled like [`periodic`], so the exponentials fill vector lanes), then `acc += e`
    /// row after row.
    #[inline(always)]
    pub(crate) fn exp_acc_rows<T: Real, const N: usize>(
        e: &mut [T],
        acc: &mut [T],
        x: &[T],
        m: &[T],
    ) {
        let sh: [T; N] = std::array::from_fn(|i| {
            if m[i] > T::NEG_INFINITY {
                m[i]
            } else {
                T::ZERO
            }
        });
        let l = TILE / N * N;
        let tile: [T; TILE] = std::array::from_fn(|k| sh[k % N]);
        let x = &x[..e.len()];
        let mut ec = e.chunks_exact_mut(l);
        let mut xc = x.chunks_exact(l);
        for (ec, xc) in (&mut ec).zip(&mut xc) {
            for k in 0..l {
                ec[k] = (xc[k] - tile[k]).fast_exp();
            }
        }
        for (er, xr) in ec
            .into_remainder()
            .chunks_exact_mut(N)
            .zip(xc.remainder().chunks_exact(N))
        {
            for i in 0..N {
                er[i] = (xr[i] - sh[i]).fast_exp();
            }
        }
        fold_rows::<T, N>(acc, e, |a, v| a + v);
    }

    /// `dst = a - alpha * b`.
    #[inline(always)]
    pub(crate) fn sub_scaled<T: Real>(dst: &mut [T], a: &[T], alpha: T, b: &[T]) {
        let n = dst.len();
        let (a, b) = (&a[..n], &b[..n]);
        let mut i = 0;
        while i < n {
            dst[i] = a[i] - alpha * b[i];
            i += 1;
        }
    }

    /// `dst = (1 - t) * dst + t * x`.
    #[inline(always)]
    pub(crate) fn mix<T: Real>(dst: &mut [T], t: T, x: &[T]) {
        let n = dst.len();
        let x = &x[..n];
        let mut i = 0;
        while i < n {
            dst[i] = (T::ONE - t) * dst[i] + t * x[i];
            i += 1;
        }
    }

    /// `dst = (1 - t) * a + t * b`.
    #[inline(always)]
    pub(crate) fn mix_into<T: Real>(dst: &mut [T], a: &[T], t: T, b: &[T]) {
        let n = dst.len();
        let (a, b) = (&a[..n], &b[..n]);
        let mut i = 0;
        while i < n {
            dst[i] = (T::ONE - t) * a[i] + t * b[i];
            i += 1;
        }
    }

    /// `sum (a - b)^2`, accumulated in `f64`.
    #[inline(always)]
    pub(crate) fn sq_dist<T: Real>(a: &[T], b: &[T]) -> f64 {
        let b = &b[..a.len()];
        sum4(a.len(), |i| {
            let d = a[i].wide() - b[i].wide();
            d * d
        })
    }

    /// `sum a * b`, accumulated in `f64`.
    #[inline(always)]
    pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
        let b = &b[..a.len()];
        sum4(a.len(), |i| a[i].wide() * b[i].wide())
    }

    /// `max |x|`.
    #[inline(always)]
    pub(crate) fn max_abs<T: Real>(x: &[T]) -> f64 {
        let mut m = T::ZERO;
        let mut i = 0;
        while i < x.len() {
            m = m.max(x[i].abs());
            i += 1;
        }
        m.wide()
    }
}

/// A zeroed clique vector of `n` cells, backed by transparent huge pages where the kernel
/// offers them ([`advise_huge_pages`]): a fit allocates several clique vectors of tens of
/// MB (potentials, trial potentials, marginals, the averaged marginals, beliefs), and with
/// 4 kB pages each one costs tens of thousands of page faults to touch, every refit.
pub(crate) fn huge_zeroed<T: Real>(n: usize) -> Vec<T> {
    let v = vec![T::ZERO; n];
    advise_huge_pages(&v);
    v
}

/// Bytes from which a table is advised to use huge pages (a few 2 MB pages at least).
const HUGE_MIN_BYTES: usize = 8 << 20;

/// Asks Linux to back the 2 MB-aligned part of `v` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`; THP is commonly in `madvise` mode, so nothing asks for them
/// otherwise). Pages not yet touched then fault in 2 MB at a time. Only how the memory is
/// mapped changes, never its contents, so results are the same; a refusal is harmless.
/// On NIST's 10.1 M-cell AIM model at epsilon 3, a 100-iteration fit took 252 k page
/// faults without it and 20 k with it (the same advice given through glibc's
/// `glibc.malloc.hugetlb=1` tunable), and about 10% less CPU.
pub(crate) fn advise_huge_pages<T>(v: &[T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = std::mem::size_of_val(v);
        if bytes < HUGE_MIN_BYTES {
            return;
        }
        let start = v.as_ptr() as usize;
        let (first, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if end > first {
            // SAFETY: `first..end` lies inside `v`'s allocation, which `v` keeps alive for the
            // call; MADV_HUGEPAGE changes only how the kernel backs these pages (their
            // contents and validity are unaffected), and its result is advisory.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// Row-major strides of a shape (last axis fastest).
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables above `PAR_CELLS` are cut into chunks along the outermost block and run on
    /// rayon's threads; every kept/summed pattern (including a ragged last chunk) gives
    /// bit-for-bit the sequential walk's result.
    #[test]
    fn parallel_chunks_match_the_sequential_walk() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let (mut kept_cuts, mut run_cuts) = (0, 0);
        pool.install(|| {
            for shape in [
                vec![7usize, 3, 50, 70],
                vec![131, 2, 300],
                vec![3, 40_000],
                vec![40, 300, 7],
                vec![20, 2, 7, 3, 13, 11, 3, 2],
                vec![5, 3, 9, 1000],
            ] {
                let n = shape.len();
                for mask in 0..(1u32 << n) {
                    let keep: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                    let l = SubsetLayout::new(&shape, &keep);
                    assert!(l.big_cells() >= PAR_CELLS);
                    kept_cuts += usize::from(l.kept_split().is_some());
                    run_cuts += usize::from(l.outer.is_empty() && l.split().is_some());
                    let big: Vec<f64> = (0..l.big_cells())
                        .map(|i| ((i * 7919) % 1013) as f64 / 97.0 - 3.0)
                        .collect();
                    let small: Vec<f64> = (0..l.small_cells())
                        .map(|i| ((i * 104_729) % 211) as f64 / 50.0 + 0.5)
                        .collect();
                    let mut a = vec![0.0; l.small_cells()];
                    let mut b = a.clone();
                    l.sum_into(&big, &mut a);
                    l.sum_into_seq(&big, &mut b);
                    assert_eq!(a, b, "sum {shape:?} {keep:?}");
                    let (mut e1, mut e2) = (vec![0.0; l.big_cells()], vec![0.0; l.big_cells()]);
                    let (mut c1, mut c2) = (vec![0.0; l.small_cells()], b.clone());
                    l.logsumexp_keep(&big, &mut a, &mut e1, &mut c1);
                    l.logsumexp_keep_seq(&big, &mut b, &mut e2, &mut c2);
                    assert_eq!((a, e1, c1), (b, e2, c2), "lse {shape:?} {keep:?}");
                    let (mut x, mut y) = (big.clone(), big.clone());
                    l.add_expanded(&mut x, &small);
                    l.combine_expanded(&mut y, &small, kernels::add_assign, kernels::add_scalar);
                    assert_eq!(x, y, "add {shape:?} {keep:?}");
                    l.mul_expanded(&mut x, &small);
                    l.combine_expanded(&mut y, &small, kernels::mul_assign, kernels::mul_scalar);
                    assert_eq!(x, y, "mul {shape:?} {keep:?}");
                    let mut z = vec![0.0; l.big_cells()];
                    l.add_expanded_from(&mut z, &big, &small);
                    let mut y = big.clone();
                    l.combine_expanded(&mut y, &small, kernels::add_assign, kernels::add_scalar);
                    assert_eq!(z, y, "add from {shape:?} {keep:?}");
                }
            }
        });
        // Summed-out outermost blocks (cut along a kept block or run) and single runs.
        assert!(
            kept_cuts >= 20,
            "{kept_cuts} layouts cut along a kept block"
        );
        assert!(run_cuts >= 8, "{run_cuts} single runs cut");
    }

    /// Short kept runs under a summed-out block go row by row ([`SubsetLayout::short_kept_rows`]);
    /// every cell is computed exactly as by the cell-by-cell walk in increasing big offset
    /// (the order of the run-by-run walk), bit for bit.
    #[test]
    fn short_rows_match_the_cell_walk() {
        let (mut checked, mut summed) = (0, 0);
        for shape in [
            vec![3usize, 5, 4, 2],
            vec![6, 7, 3],
            vec![2, 9, 8, 33, 5],
            vec![4, 70, 6],
            vec![3, 200, 2],
        ] {
            let n = shape.len();
            for mask in 0..(1u32 << n) {
                let keep: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                let l = SubsetLayout::new(&shape, &keep);
                if !l.short_kept_rows() {
                    if l.short_summed_rows() {
                        summed += check_summed_rows(&l);
                    }
                    continue;
                }
                checked += 1;
                let big: Vec<f64> = (0..l.big_cells())
                    .map(|i| ((i * 7919) % 1013) as f64 / 37.0 - 9.0)
                    .collect();
                let small: Vec<f64> = (0..l.small_cells())
                    .map(|i| ((i * 104_729) % 211) as f64 / 50.0 + 0.5)
                    .collect();
                let (mut sum, mut max) = (
                    vec![0.0; l.small_cells()],
                    vec![f64::NEG_INFINITY; l.small_cells()],
                );
                let (mut add, mut mul) = (big.clone(), big.clone());
                l.for_each_cell(|c, s| {
                    sum[s] += big[c];
                    max[s] = if big[c] > max[s] { big[c] } else { max[s] };
                    add[c] += small[s];
                    mul[c] *= small[s];
                });
                let (mut exps, mut acc) = (vec![0.0; l.big_cells()], vec![0.0; l.small_cells()]);
                l.for_each_cell(|c, s| {
                    exps[c] = kernels::exp(big[c] - max[s]);
                    acc[s] += exps[c];
                });
                let lse: Vec<f64> = max.iter().zip(&acc).map(|(m, a)| m + a.ln()).collect();
                let mut got = vec![0.0; l.small_cells()];
                l.sum_into(&big, &mut got);
                assert_eq!(got, sum, "sum {shape:?} {keep:?}");
                let (mut e, mut a) = (vec![0.0; l.big_cells()], vec![0.0; l.small_cells()]);
                l.logsumexp_keep(&big, &mut got, &mut e, &mut a);
                assert_eq!((got, e, a), (lse, exps, acc), "lse {shape:?} {keep:?}");
                let mut x = big.clone();
                l.add_expanded(&mut x, &small);
                assert_eq!(x, add, "add {shape:?} {keep:?}");
                let mut x = vec![0.0; l.big_cells()];
                l.add_expanded_from(&mut x, &big, &small);
                assert_eq!(x, add, "add from {shape:?} {keep:?}");
                let mut x = big.clone();
                l.mul_expanded(&mut x, &small);
                assert_eq!(x, mul, "mul {shape:?} {keep:?}");
            }
        }
        assert!(checked >= 10, "{checked} layouts with short kept rows");
        assert!(summed >= 10, "{summed} layouts with short summed rows");
    }

    /// The exponentials of short runs window by window ([`SubsetLayout::lse_exp_windows`])
    /// are bit for bit those of the run-by-run walk, sums included, for kept and summed-out
    /// runs, rows of every short width, windows cut mid-table, and -inf cells and maxima.
    #[test]
    fn windowed_exponentials_match_the_run_walk() {
        let mut windowed = 0;
        for shape in [
            vec![3usize, 5, 4, 2],
            vec![6, 7, 3],
            vec![2, 9, 8, 33, 5],
            vec![40, 70, 6],
            vec![3, 200, 2],
            vec![31, 2, 7, 3, 11, 2],
            vec![50, 15, 27],
            vec![3, 11, 13, 5],
        ] {
            let n = shape.len();
            for mask in 0..(1u32 << n) {
                let keep: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                let l = SubsetLayout::new(&shape, &keep);
                if !l.windowed_exps() {
                    continue;
                }
                windowed += 1;
                let big: Vec<f64> = (0..l.big_cells())
                    .map(|i| match i % 97 {
                        5 => f64::NEG_INFINITY,
                        _ => ((i * 7919) % 1013) as f64 / 37.0 - 9.0,
                    })
                    .collect();
                // Maxima of any value, some -inf (a small cell whose cells are all -inf).
                let small: Vec<f64> = (0..l.small_cells())
                    .map(|i| match i % 13 {
                        3 => f64::NEG_INFINITY,
                        _ => ((i * 104_729) % 211) as f64 / 50.0 + 0.5,
                    })
                    .collect();
                let start: Vec<f64> = (0..l.small_cells()).map(|i| i as f64 * 0.25).collect();
                let (mut e1, mut e2) = (vec![0.0; l.big_cells()], vec![0.0; l.big_cells()]);
                let (mut a1, mut a2) = (start.clone(), start);
                l.lse_exp_windows(&big, &small, &mut e1, &mut a1);
                l.lse_exp_runs(&big, &small, &mut e2, &mut a2);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&e1), bits(&e2), "exps {shape:?} {keep:?}");
                assert_eq!(bits(&a1), bits(&a2), "sums {shape:?} {keep:?}");
            }
        }
        assert!(windowed >= 40, "{windowed} windowed layouts");
    }

    /// Short summed-out runs against the run walk's operations cell by cell: sums per run
    /// with `kernels::sum` (its accumulator order), expansions cell by cell.
    fn check_summed_rows(l: &SubsetLayout) -> usize {
        let n = l.inner_len;
        let big: Vec<f64> = (0..l.big_cells())
            .map(|i| ((i * 7919) % 1013) as f64 / 37.0 - 9.0)
            .collect();
        let small: Vec<f64> = (0..l.small_cells())
            .map(|i| ((i * 104_729) % 211) as f64 / 50.0 + 0.5)
            .collect();
        let mut sum = vec![0.0; l.small_cells()];
        l.for_each_cell(|c, s| {
            // Each run is `n` consecutive cells of one small cell; add its kernel sum once.
            if c % n == 0 {
                sum[s] += kernels::sum(&big[c..c + n]);
            }
        });
        let (mut add, mut mul) = (big.clone(), big.clone());
        l.for_each_cell(|c, s| {
            add[c] += small[s];
            mul[c] *= small[s];
        });
        let mut got = vec![0.0; l.small_cells()];
        l.sum_into(&big, &mut got);
        assert_eq!(got, sum, "sum {l:?}");
        let mut x = big.clone();
        l.add_expanded(&mut x, &small);
        assert_eq!(x, add, "add {l:?}");
        let mut x = vec![0.0; l.big_cells()];
        l.add_expanded_from(&mut x, &big, &small);
        assert_eq!(x, add, "add from {l:?}");
        let mut x = big.clone();
        l.mul_expanded(&mut x, &small);
        assert_eq!(x, mul, "mul {l:?}");
        1
    }

    /// Brute-force reference: the small offset of every big cell by decoding digits.
    fn reference_map(shape: &[usize], keep: &[bool]) -> Vec<usize> {
        let big_st = strides(shape);
        let small_shape: Vec<usize> = shape
            .iter()
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|(&s, _)| s)
            .collect();
        let small_st = strides(&small_shape);
        let cells: usize = shape.iter().product();
        (0..cells)
            .map(|c| {
                let mut j = 0;
                let mut off = 0;
                for (ax, (&s, &k)) in shape.iter().zip(keep).enumerate() {
                    let digit = (c / big_st[ax]) % s;
                    if k {
                        off += digit * small_st[j];
                        j += 1;
                    }
                }
                off
            })
            .collect()
    }

    #[test]
    fn runs_match_brute_force_for_every_subset() {
        let shapes: [&[usize]; 5] = [&[2, 3, 4], &[3, 1, 2, 5], &[1], &[4, 4], &[2, 1, 3, 1, 2]];
        for shape in shapes {
            let n = shape.len();
            for mask in 0..(1u32 << n) {
                let keep: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                let layout = SubsetLayout::new(shape, &keep);
                let expect = reference_map(shape, &keep);
                let mut got = vec![usize::MAX; expect.len()];
                layout.for_each_cell(|b, s| got[b] = s);
                assert_eq!(got, expect, "shape {shape:?} keep {keep:?}");
                // sums and log-sum-exp agree with the map
                let big: Vec<f64> = (0..expect.len()).map(|i| (i as f64 * 0.37).sin()).collect();
                let mut sum = vec![0.0; layout.small_cells()];
                layout.sum_into(&big, &mut sum);
                let mut ref_sum = vec![0.0; layout.small_cells()];
                let mut ref_lse = vec![0.0; layout.small_cells()];
                for (c, &s) in expect.iter().enumerate() {
                    ref_sum[s] += big[c];
                    ref_lse[s] += big[c].exp();
                }
                for (a, b) in sum.iter().zip(&ref_sum) {
                    assert!((a - b).abs() < 1e-12);
                }
                let mut lse = vec![0.0; layout.small_cells()];
                let mut scratch = Vec::new();
                layout.logsumexp_into(&big, &mut lse, &mut scratch);
                for (a, b) in lse.iter().zip(&ref_lse) {
                    assert!((a - b.ln()).abs() < 1e-12);
                }
                let small: Vec<f64> = (0..layout.small_cells()).map(|i| i as f64).collect();
                let mut expanded = vec![0.0; expect.len()];
                layout.add_expanded(&mut expanded, &small);
                for (c, &s) in expect.iter().enumerate() {
                    assert_eq!(expanded[c], small[s]);
                }
            }
        }
    }

    /// Huge-page advice changes nothing a caller can see: zeros.
    #[test]
    fn huge_page_vectors_hold_the_same_values() {
        for n in [7, 3 * (HUGE_MIN_BYTES / 8) + 5] {
            let z = huge_zeroed::<f64>(n);
            assert!(z.len() == n && z.iter().all(|&v| v.to_bits() == 0));
        }
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst: f64 = 0.0;
        let mut x = -708.0;
        while x < 709.0 {
            let (a, b) = (kernels::exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.001_234_567;
        }
        for x in [
            -1e-300, 0.0, 1e-12, -0.5, 0.5, -0.346, 0.347, 1.0, -1.0, 700.0, -700.0,
        ] {
            let (a, b) = (kernels::exp(x), f64::exp(x));
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 1e-15, "relative error {worst:e}");
        assert_eq!(kernels::exp(0.0), 1.0);
        assert_eq!(kernels::exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(kernels::exp(-800.0), 0.0);
        assert_eq!(kernels::exp(800.0), f64::INFINITY);
        assert!(kernels::exp(f64::NAN).is_nan());
    }

    #[test]
    fn logsumexp_is_stable_for_large_magnitudes() {
        let layout = SubsetLayout::new(&[3, 2], &[false, true]);
        let big = [1000.0, -1000.0, 1000.0, f64::NEG_INFINITY, 1000.0, -1000.0];
        let mut out = vec![0.0; 2];
        layout.logsumexp_into(&big, &mut out, &mut Vec::new());
        assert!((out[0] - (1000.0 + 3f64.ln())).abs() < 1e-9);
        assert!((out[1] - (-1000.0 + 2f64.ln())).abs() < 1e-9);
        let all_neg_inf = [f64::NEG_INFINITY; 6];
        layout.logsumexp_into(&all_neg_inf, &mut out, &mut Vec::new());
        assert!(out.iter().all(|v| *v == f64::NEG_INFINITY));
    }
}
