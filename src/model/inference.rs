//! Belief propagation on a junction tree in log space: turns log-potentials `theta` into
//! the calibrated marginals of every maximal clique.
//!
//! Potentials, beliefs and marginals of all cliques live in one flat `Vec<T>` (a "clique
//! vector") with per-clique offsets, so element-wise steps (the mirror-descent update, the
//! exponentials) are single passes over contiguous memory.
//!
//! The upward pass (leaves to root) sends log-sum-exp messages, shifted per separator cell
//! by its maximum, so cliques with thousands of cells and potentials of any magnitude stay
//! finite. The downward pass works on the root's normalised marginal: a child's message is
//! the parent's separator marginal (a plain sum of probabilities) divided by the child's own
//! upward message, which needs one exponential per cell in total.

use rayon::prelude::*;

use super::junction::JunctionTree;
use super::layout::{self, SubsetLayout};
use super::real::Real;
use crate::marginal::Domain;

/// Cells above which element-wise passes are split across rayon's threads.
const PAR_CELLS: usize = 1 << 16;

/// Precomputed layouts for message passing over one junction tree.
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    pub(crate) tree: JunctionTree,
    pub(crate) shapes: Vec<Vec<usize>>,
    /// `offsets[c]..offsets[c + 1]` is clique `c` in a clique vector.
    pub(crate) offsets: Vec<usize>,
    /// For each non-root clique: its cells onto its separator.
    up: Vec<Option<SubsetLayout>>,
    /// For each non-root clique: its parent's cells onto the same separator.
    down: Vec<Option<SubsetLayout>>,
    /// Offsets of the separators' messages in one flat buffer.
    sep_offsets: Vec<usize>,
    /// Whether a clique has children: only those need a belief apart from their potential.
    has_children: Vec<bool>,
    /// The non-root cliques by depth, deepest last: `(clique, parent)` in the upward
    /// pass's order within each depth.
    levels: Vec<Vec<(usize, usize)>>,
    /// For each clique with children: how its belief is built slab by slab ([`Slabs`]).
    slabs: Vec<Option<Slabs>>,
    /// Each clique's distance from the root (for [`Engine::pass_path`]'s meeting point).
    depth: Vec<usize>,
}

/// Big cells per slab of a belief's products ([`Engine::products`]): two slabs (potential
/// and belief) stay in a core's L2 while every child's message is added in.
const SLAB_CELLS: usize = 1 << 15;

/// A clique's belief (its potential plus its children's messages) cut along its first
/// axis into slabs of `per` entries, each slab taking all the messages while in cache
/// instead of one pass over the whole belief per child.
#[derive(Clone, Debug)]
struct Slabs {
    per: usize,
    /// Big cells per entry of the first axis.
    entry_cells: usize,
    /// The children in the upward pass's order: the first one's message is added onto
    /// the potential, the others' onto the belief.
    children: Vec<SlabChild>,
}

/// One child's message as [`Slabs`] add it.
#[derive(Clone, Debug)]
struct SlabChild {
    clique: usize,
    /// The message's layout in a full slab, and in the last one when shorter.
    full: SubsetLayout,
    rest: Option<SubsetLayout>,
    /// Separator cells per entry of the parent's first axis; 0 when the separator does not
    /// hold that axis (every slab then reads the whole message).
    small_entry: usize,
}

/// Reusable buffers for [`Engine::calibrate`], so an estimation loop allocates nothing.
#[derive(Default, Clone, Debug)]
pub(crate) struct Workspace<T = f64> {
    beliefs: Vec<T>,
    up_msgs: Vec<T>,
    sep: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Real> Workspace<T> {
    /// Sizes the beliefs for clique vectors of `n` cells with memory from `bufs` (giving the
    /// old beliefs back), for a workspace kept across fits (`super::Estimator`). Their
    /// contents do not matter: [`Engine::calibrate`] writes a clique's belief (its first
    /// child's message over its potential) before anything reads it.
    pub(crate) fn size_beliefs(&mut self, n: usize, bufs: &mut super::estimate::Buffers<T>) {
        if self.beliefs.len() != n {
            bufs.put(std::mem::take(&mut self.beliefs));
            self.beliefs = bufs.take(n);
        }
    }
}

impl Engine {
    pub(crate) fn new(domain: &Domain, tree: JunctionTree) -> Self {
        let k = tree.cliques().len();
        let shapes: Vec<Vec<usize>> = tree.cliques().iter().map(|c| c.shape(domain)).collect();
        let mut offsets = Vec::with_capacity(k + 1);
        let mut acc = 0usize;
        offsets.push(0);
        for s in &shapes {
            acc += s.iter().product::<usize>();
            offsets.push(acc);
        }
        let mut up = Vec::with_capacity(k);
        let mut down = Vec::with_capacity(k);
        let mut sep_offsets = Vec::with_capacity(k + 1);
        let mut sacc = 0usize;
        sep_offsets.push(0);
        for c in 0..k {
            let sep = tree.separator(c);
            match tree.parent(c) {
                Some(p) => {
                    let u =
                        SubsetLayout::for_attrs(tree.cliques()[c].attrs(), &shapes[c], sep.attrs());
                    let d =
                        SubsetLayout::for_attrs(tree.cliques()[p].attrs(), &shapes[p], sep.attrs());
                    sacc += u.small_cells();
                    up.push(Some(u));
                    down.push(Some(d));
                }
                None => {
                    up.push(None);
                    down.push(None);
                }
            }
            sep_offsets.push(sacc);
        }
        let mut has_children = vec![false; k];
        for c in 0..k {
            if let Some(p) = tree.parent(c) {
                has_children[p] = true;
            }
        }
        // `order` is breadth-first (root first), so each depth is one stretch of it.
        let mut depth = vec![0usize; k];
        let mut levels: Vec<Vec<(usize, usize)>> = Vec::new();
        for &c in tree.order() {
            if let Some(p) = tree.parent(c) {
                depth[c] = depth[p] + 1;
                if levels.len() < depth[c] {
                    levels.push(Vec::new());
                }
                levels[depth[c] - 1].push((c, p));
            }
        }
        for level in &mut levels {
            level.reverse();
        }
        let mut slabs: Vec<Option<Slabs>> = vec![None; k];
        for &c in tree.order().iter().rev() {
            let Some(p) = tree.parent(c) else { continue };
            let shape = &shapes[p];
            let first = shape.first().copied().unwrap_or(1).max(1);
            let entry_cells = shape.iter().product::<usize>() / first;
            let per = (SLAB_CELLS / entry_cells.max(1)).clamp(1, first);
            let sep = tree.separator(c);
            let keep: Vec<bool> = tree.cliques()[p]
                .attrs()
                .iter()
                .map(|a| sep.attrs().binary_search(a).is_ok())
                .collect();
            let layout = |entries: usize| {
                let mut sh = shape.clone();
                if let Some(s0) = sh.first_mut() {
                    *s0 = entries;
                }
                SubsetLayout::new(&sh, &keep)
            };
            let small_entry = if keep.first() == Some(&true) {
                down[c].as_ref().map_or(0, |d| d.small_cells() / first)
            } else {
                0
            };
            let rest = first % per;
            slabs[p]
                .get_or_insert_with(|| Slabs {
                    per,
                    entry_cells,
                    children: Vec::new(),
                })
                .children
                .push(SlabChild {
                    clique: c,
                    full: layout(per),
                    rest: (rest > 0).then(|| layout(rest)),
                    small_entry,
                });
        }
        Engine {
            tree,
            shapes,
            offsets,
            up,
            down,
            sep_offsets,
            has_children,
            levels,
            slabs,
            depth,
        }
    }

    pub(crate) fn total_cells(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    pub(crate) fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.offsets[c]..self.offsets[c + 1]
    }

    /// Calibrates the log-potentials `theta` (a clique vector): writes into `mu` every
    /// clique's marginal scaled to sum to `total`, and returns log Z.
    pub(crate) fn calibrate<T: Real>(
        &self,
        theta: &[T],
        total: f64,
        ws: &mut Workspace<T>,
        mu: &mut [T],
    ) -> f64 {
        let n = self.total_cells();
        debug_assert_eq!(theta.len(), n);
        debug_assert_eq!(mu.len(), n);
        // Beliefs of cliques with children (potential times the children's messages, built
        // by [`Self::products`]); a leaf's belief is its potential, read from `theta`
        // without a copy.
        if ws.beliefs.len() != n {
            ws.beliefs = layout::huge_zeroed(n);
        }
        let seps = self.sep_offsets[self.sep_offsets.len() - 1];
        ws.up_msgs.resize(seps, T::ZERO);
        ws.scratch.resize(seps, T::ZERO);
        if n >= PAR_CELLS && !self.levels.is_empty() && rayon::current_num_threads() > 1 {
            return self.calibrate_by_levels(theta, total, ws, mu);
        }
        let Workspace {
            beliefs,
            up_msgs,
            sep,
            scratch,
        } = ws;
        let order = self.tree.order();
        // Upward pass: leaves first, each clique's belief (potential times its children's
        // messages) summed onto its separator in log space. The shifted exponentials stay
        // in `mu` with their sums per separator cell: they are the clique's conditional
        // distribution given its separator.
        for &c in order.iter().rev() {
            let Some(up) = &self.up[c] else {
                continue;
            };
            let (sr, cr) = (self.sep_offsets[c]..self.sep_offsets[c + 1], self.range(c));
            self.products(c, &mut beliefs[cr.clone()], &theta[cr.clone()], up_msgs);
            up.logsumexp_keep(
                self.belief(c, beliefs, theta),
                &mut up_msgs[sr.clone()],
                &mut mu[cr],
                &mut scratch[sr],
            );
        }
        // The root now holds the whole model's unnormalised log-probability.
        let root = self.tree.root();
        let rr = self.range(root);
        self.products(root, &mut beliefs[rr.clone()], &theta[rr], up_msgs);
        let log_z = self.calibrate_root(
            self.belief(root, beliefs, theta),
            &mut mu[self.range(root)],
            total,
        );
        // Downward pass, root first: a child's marginal is its conditional given the
        // separator times the parent's (already calibrated) separator marginal.
        for &c in order.iter() {
            let (Some(down), Some(up), Some(p)) = (&self.down[c], &self.up[c], self.tree.parent(c))
            else {
                continue;
            };
            sep.resize(down.small_cells(), T::ZERO);
            down.sum_into(&mu[self.range(p)], sep);
            let acc = &scratch[self.sep_offsets[c]..self.sep_offsets[c + 1]];
            child_marginal(up, acc, sep, &mut mu[self.range(c)]);
        }
        log_z
    }

    /// Hugin's separator tables of calibrated marginals `mu`: each non-root clique's
    /// marginal summed onto its separator, at the clique's place in the separators' flat
    /// buffer. The state [`Self::pass_path`] keeps up to date.
    pub(crate) fn separator_tables<T: Real>(&self, mu: &[T], seps: &mut Vec<T>) {
        seps.resize(self.sep_offsets[self.sep_offsets.len() - 1], T::ZERO);
        for (c, up) in self.up.iter().enumerate() {
            if let Some(up) = up {
                let sr = self.sep_offsets[c]..self.sep_offsets[c + 1];
                up.sum_into(&mu[self.range(c)], &mut seps[sr]);
            }
        }
    }

    /// Hugin propagation (Jensen, Lauritzen and Olesen 1990) along the tree path from clique
    /// `from` to clique `to`: each step multiplies the receiving clique's table by the ratio
    /// of the sender's separator marginal to the separator table last passed over that edge,
    /// then stores the new one. The product of the clique tables over the separator tables
    /// stays the model's joint distribution, so if `from` holds its exact marginal and every
    /// earlier change reached `from` the same way, `to` holds its exact marginal afterwards
    /// (as does every clique on the path). Costs a sum and a product over the path's
    /// cliques, against a whole calibration (logarithms and exponentials over every clique)
    /// to refresh one marginal: the IPF warm-up walks from measured clique to measured clique
    /// this way ([`super::estimate`]'s `ipf_warmup`).
    ///
    /// A separator cell whose last table was 0 passes 0: its receiving cells are 0 already
    /// (they summed to it), as are, up to underflow, the sender's.
    pub(crate) fn pass_path<T: Real>(
        &self,
        from: usize,
        to: usize,
        mu: &mut [T],
        seps: &mut [T],
        ratio: &mut Vec<T>,
    ) {
        let (mut a, mut b) = (from, to);
        let mut down_steps = Vec::new();
        while a != b {
            if self.depth[a] >= self.depth[b] {
                let Some(p) = self.tree.parent(a) else { break };
                self.pass(a, p, true, mu, seps, ratio);
                a = p;
            } else {
                let Some(p) = self.tree.parent(b) else { break };
                down_steps.push(b);
                b = p;
            }
        }
        for &c in down_steps.iter().rev() {
            if let Some(p) = self.tree.parent(c) {
                self.pass(c, p, false, mu, seps, ratio);
            }
        }
    }

    /// One Hugin message over the edge between clique `c` and its parent `p`, upward (`c`
    /// to `p`) or downward.
    fn pass<T: Real>(
        &self,
        c: usize,
        p: usize,
        upward: bool,
        mu: &mut [T],
        seps: &mut [T],
        ratio: &mut Vec<T>,
    ) {
        let (Some(up), Some(down)) = (&self.up[c], &self.down[c]) else {
            return;
        };
        let sep = &mut seps[self.sep_offsets[c]..self.sep_offsets[c + 1]];
        ratio.resize(sep.len(), T::ZERO);
        let (sender, receiver, into_sep, from_sep) = if upward {
            (self.range(c), self.range(p), up, down)
        } else {
            (self.range(p), self.range(c), down, up)
        };
        into_sep.sum_into(&mu[sender], ratio);
        for (r, old) in ratio.iter_mut().zip(sep.iter_mut()) {
            let new = *r;
            *r = if *old > T::ZERO { new / *old } else { T::ZERO };
            *old = new;
        }
        from_sep.mul_expanded(&mut mu[receiver], ratio);
    }

    /// Clique `c`'s belief: its potential times its children's messages, kept in `beliefs`
    /// for cliques with children; a leaf's is its potential, read from `theta`.
    fn belief<'a, T: Real>(&self, c: usize, beliefs: &'a [T], theta: &'a [T]) -> &'a [T] {
        let r = self.range(c);
        if self.has_children[c] {
            &beliefs[r]
        } else {
            &theta[r]
        }
    }

    /// Writes clique `p`'s belief (if it has children) into `bel`: its potential (`theta`,
    /// the clique's part of the potentials) plus its children's messages (in `msgs`, a flat separator buffer), slab by
    /// slab ([`Slabs`]; the slabs in parallel for large cliques). Each cell gets the same
    /// additions in the same order as in one pass per child over the whole clique (the
    /// first child's message onto the potential, then the others' in the upward pass's
    /// order), so the values are identical; only the potential and the belief are streamed
    /// once instead of once per child.
    fn products<T: Real>(&self, p: usize, bel: &mut [T], theta: &[T], msgs: &[T]) {
        let Some(sl) = &self.slabs[p] else {
            return;
        };
        let len = sl.per * sl.entry_cells;
        let slab = |i: usize, b: &mut [T]| {
            let at = i * sl.per;
            let t = &theta[at * sl.entry_cells..at * sl.entry_cells + b.len()];
            for (k, ch) in sl.children.iter().enumerate() {
                let l = match &ch.rest {
                    Some(r) if b.len() != len => r,
                    _ => &ch.full,
                };
                let s0 = self.sep_offsets[ch.clique] + at * ch.small_entry;
                let m = &msgs[s0..s0 + l.small_cells()];
                if k == 0 {
                    l.add_expanded_from_seq(b, t, m);
                } else {
                    l.add_expanded_seq(b, m);
                }
            }
        };
        if bel.len() >= PAR_CELLS && bel.len() > len && rayon::current_num_threads() > 1 {
            bel.par_chunks_mut(len)
                .enumerate()
                .for_each(|(i, b)| slab(i, b));
        } else {
            for (i, b) in bel.chunks_mut(len).enumerate() {
                slab(i, b);
            }
        }
    }

    /// The root's marginal from its belief (the whole model's unnormalised log-probability),
    /// scaled to sum to `total`; returns log Z. The maximum and the scaling are exact
    /// element-wise operations, so splitting them across threads changes no bit; the sum
    /// is taken over fixed chunks added in order ([`par_exp_shift_sum`]), so it does not
    /// depend on the thread count either.
    fn calibrate_root<T: Real>(&self, belief: &[T], mu_root: &mut [T], total: f64) -> f64 {
        let m = par_max(belief);
        let shift = if m.is_finite() { m } else { T::ZERO };
        let z = par_exp_shift_sum(mu_root, belief, shift);
        let scale = if z > 0.0 { total / z } else { 0.0 };
        par_mul_scalar(mu_root, T::of(scale));
        shift.wide() + z.ln()
    }

    /// [`Self::calibrate`] with the cliques of one depth at a time in parallel: on the way
    /// up, the beliefs of a depth's cliques with children (from the deeper depth's
    /// messages), then their messages (each from its own belief into its own separator and
    /// conditional); on the way down, a depth's cliques from their parents' marginals.
    /// Every clique's tables are computed by the same operations on the same values as in
    /// the sequential pass, so the results are bit-identical; only which cliques run side
    /// by side changes. Small cliques, and large ones whose kernels run sequentially (a
    /// reduction onto an empty separator), then overlap with their siblings' work.
    fn calibrate_by_levels<T: Real>(
        &self,
        theta: &[T],
        total: f64,
        ws: &mut Workspace<T>,
        mu: &mut [T],
    ) -> f64 {
        let Workspace {
            beliefs,
            up_msgs,
            scratch,
            ..
        } = ws;
        for level in self.levels.iter().rev() {
            // Beliefs: each clique with children from its children's messages.
            self.level_products(level.iter().map(|&(c, _)| c), beliefs, theta, up_msgs);
            // Messages: each clique's belief onto its separator.
            let mut mu_parts = parts(mu, &self.offsets);
            let mut msg_parts = parts(up_msgs, &self.sep_offsets);
            let mut acc_parts = parts(scratch, &self.sep_offsets);
            let mut jobs: Vec<_> = level
                .iter()
                .map(|&(c, _)| {
                    (
                        c,
                        take_part(&mut mu_parts, c),
                        take_part(&mut msg_parts, c),
                        take_part(&mut acc_parts, c),
                    )
                })
                .collect();
            let beliefs: &[T] = beliefs;
            jobs.par_iter_mut().for_each(|(c, mu_c, msg, acc)| {
                if let Some(up) = &self.up[*c] {
                    up.logsumexp_keep(self.belief(*c, beliefs, theta), msg, mu_c, acc);
                }
            });
        }
        let root = self.tree.root();
        self.level_products(std::iter::once(root), beliefs, theta, up_msgs);
        let mut mu_parts = parts(mu, &self.offsets);
        let mut msg_parts = parts(up_msgs, &self.sep_offsets);
        let acc_parts = parts(scratch, &self.sep_offsets);
        let mu_root = mu_parts[root]
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("every clique has a part"));
        let log_z = self.calibrate_root(self.belief(root, beliefs, theta), mu_root, total);
        for level in &self.levels {
            // Each clique's marginal from its parent's (the separator sums go into the
            // clique's message buffer, free after the upward pass).
            let mut jobs: Vec<_> = level
                .iter()
                .map(|&(c, p)| {
                    (
                        c,
                        p,
                        take_part(&mut mu_parts, c),
                        take_part(&mut msg_parts, c),
                    )
                })
                .collect();
            let (done, accs) = (&mu_parts, &acc_parts);
            jobs.par_iter_mut().for_each(|(c, p, mu_c, sep)| {
                let (Some(down), Some(up), Some(mu_p), Some(acc)) = (
                    &self.down[*c],
                    &self.up[*c],
                    done[*p].as_deref(),
                    accs[*c].as_deref(),
                ) else {
                    return;
                };
                down.sum_into(mu_p, sep);
                child_marginal(up, acc, sep, mu_c);
            });
            for (c, _, mu_c, sep) in jobs {
                mu_parts[c] = Some(mu_c);
                msg_parts[c] = Some(sep);
            }
        }
        log_z
    }

    /// [`Self::products`] for several cliques side by side (each writes its own range of
    /// `beliefs`; cliques without children are skipped).
    fn level_products<T: Real>(
        &self,
        cliques: impl Iterator<Item = usize>,
        beliefs: &mut [T],
        theta: &[T],
        msgs: &[T],
    ) {
        let with_children: Vec<usize> = cliques.filter(|&c| self.has_children[c]).collect();
        if with_children.len() < 2 {
            for c in with_children {
                let r = self.range(c);
                self.products(c, &mut beliefs[r.clone()], &theta[r], msgs);
            }
            return;
        }
        let mut bel_parts = parts(beliefs, &self.offsets);
        let mut jobs: Vec<_> = with_children
            .iter()
            .map(|&c| (c, take_part(&mut bel_parts, c)))
            .collect();
        jobs.par_iter_mut()
            .for_each(|(c, bel)| self.products(*c, bel, &theta[self.range(*c)], msgs));
    }
}

/// A child's marginal in the downward pass: its conditional given the separator (in
/// `mu_c`, with the separator sums `acc` from the upward pass) times its parent's separator
/// marginal, which `sep` holds on entry (its parent's marginal summed onto it).
fn child_marginal<T: Real>(up: &SubsetLayout, acc: &[T], sep: &mut [T], mu_c: &mut [T]) {
    for (s, &a) in sep.iter_mut().zip(acc) {
        *s = if a > T::ZERO { *s / a } else { T::ZERO };
    }
    up.mul_expanded(mu_c, sep);
}

/// `buf` cut at `offsets` (increasing, from 0 to `buf.len()`): one part per clique.
fn parts<'a, T: Real>(buf: &'a mut [T], offsets: &[usize]) -> Vec<Option<&'a mut [T]>> {
    split_ranges(buf, offsets.windows(2).map(|w| w[0]..w[1]))
        .into_iter()
        .map(Some)
        .collect()
}

/// Disjoint mutable slices of `buf` for increasing, non-overlapping `ranges`.
pub(crate) fn split_ranges<T>(
    buf: &mut [T],
    ranges: impl Iterator<Item = std::ops::Range<usize>>,
) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    let mut rest = buf;
    let mut at = 0;
    for r in ranges {
        let (_, tail) = rest.split_at_mut(r.start - at);
        let (mine, tail) = tail.split_at_mut(r.len());
        out.push(mine);
        rest = tail;
        at = r.end;
    }
    out
}

/// Part `c`, taken out of `parts` (every clique's part is there once).
pub(crate) fn take_part<'a, T>(parts: &mut [Option<&'a mut [T]>], c: usize) -> &'a mut [T] {
    parts[c]
        .take()
        .unwrap_or_else(|| unreachable!("a clique's part is taken once"))
}

/// `log sum exp xs`, shifted by the maximum (reference for tests).
#[cfg(test)]
pub(crate) fn logsumexp(xs: &[f64]) -> f64 {
    use super::layout::kernels;
    let m = kernels::max(xs);
    if !m.is_finite() {
        return m;
    }
    m + kernels::sum_exp(xs, m).ln()
}

/// Cells per chunk of [`par_exp_shift_sum`]: fixed, so its result is one function of its
/// input whatever the thread count.
const ROOT_CHUNK: usize = PAR_CELLS / 4;

/// `dst = exp(src - shift)`, returning the sum: the chunks' sums (of [`ROOT_CHUNK`] cells)
/// added in chunk order, the chunks on rayon's threads for large tables. One pass instead of
/// the exponentials and then a sum on one thread, which was the root clique's sequential
/// part (about 0.7 s of a NIST epsilon 3 run's main thread).
fn par_exp_shift_sum<T: Real>(dst: &mut [T], src: &[T], shift: T) -> f64 {
    let src = &src[..dst.len()];
    let sums: Vec<f64> = if dst.len() >= PAR_CELLS && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(ROOT_CHUNK)
            .zip(src.par_chunks(ROOT_CHUNK))
            .map(|(d, s)| T::exp_shift_sum(d, s, shift))
            .collect()
    } else {
        dst.chunks_mut(ROOT_CHUNK)
            .zip(src.chunks(ROOT_CHUNK))
            .map(|(d, s)| T::exp_shift_sum(d, s, shift))
            .collect()
    };
    sums.iter().sum()
}

/// [`max`] in parallel for large tables: the chunks' maxima combined by `f64::max`. The
/// largest value is the same; only the sign of a zero maximum could differ, and the
/// calibration's results do not depend on it (`x - 0.0` and `x - (-0.0)` are equal but for
/// `x = -0.0`, whose exponentials are both 1, and a zero shift adds nothing to log Z).
fn par_max<T: Real>(x: &[T]) -> T {
    if x.len() >= PAR_CELLS {
        x.par_chunks(PAR_CELLS / 4)
            .map(T::max_of)
            .reduce(|| T::NEG_INFINITY, T::max)
    } else {
        T::max_of(x)
    }
}

/// [`mul_scalar`] in parallel for large tables (element-wise: the same products).
fn par_mul_scalar<T: Real>(x: &mut [T], c: T) {
    if x.len() >= PAR_CELLS {
        x.par_chunks_mut(PAR_CELLS / 4)
            .for_each(|x| T::mul_scalar(x, c));
    } else {
        T::mul_scalar(x, c);
    }
}

/// `f` over matching chunks of `dst` and `src` (equal lengths), on rayon's threads for
/// large tables: for an element-wise `f` the values do not depend on the chunking.
pub(crate) fn par_zip<A: Sync, B: Send>(
    dst: &mut [B],
    src: &[A],
    f: impl Fn(&mut [B], &[A]) + Sync,
) {
    if dst.len() >= PAR_CELLS && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(PAR_CELLS / 4)
            .zip(src.par_chunks(PAR_CELLS / 4))
            .for_each(|(d, s)| f(d, s));
    } else {
        f(dst, src);
    }
}

/// `dst[i] = f(src[i])` (equal lengths) through [`par_zip`]: converts clique vectors
/// between precisions.
pub(crate) fn par_zip_map<A: Copy + Sync, B: Send>(
    dst: &mut [B],
    src: &[A],
    f: impl Fn(A) -> B + Sync,
) {
    par_zip(dst, src, |d, s| {
        for (d, &s) in d.iter_mut().zip(s) {
            *d = f(s);
        }
    });
}

/// [`par_zip`] with two sources: `f(dst, a, b)` on matching chunks.
pub(crate) fn par_zip3<T: Real>(
    dst: &mut [T],
    a: &[T],
    b: &[T],
    f: impl Fn(&mut [T], &[T], &[T]) + Sync,
) {
    if dst.len() >= PAR_CELLS && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(PAR_CELLS / 4)
            .zip(a.par_chunks(PAR_CELLS / 4))
            .zip(b.par_chunks(PAR_CELLS / 4))
            .for_each(|((d, a), b)| f(d, a, b));
    } else {
        f(dst, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marginal::Clique;

    /// Brute-force marginals over the full joint for a small model.
    fn brute(domain: &Domain, tree: &JunctionTree, theta: &[f64], offsets: &[usize]) -> Vec<f64> {
        let sizes = domain.sizes();
        let cells: usize = sizes.iter().product();
        let mut joint = vec![0.0; cells];
        let mut code = vec![0usize; sizes.len()];
        for (x, slot) in joint.iter_mut().enumerate() {
            let mut r = x;
            for a in (0..sizes.len()).rev() {
                code[a] = r % sizes[a];
                r /= sizes[a];
            }
            let mut lp = 0.0;
            for (c, cl) in tree.cliques().iter().enumerate() {
                let mut idx = 0;
                for &a in cl.attrs() {
                    idx = idx * sizes[a] + code[a];
                }
                lp += theta[offsets[c] + idx];
            }
            *slot = lp;
        }
        let z = logsumexp(&joint);
        let mut out = vec![0.0; theta.len()];
        for (x, &lp) in joint.iter().enumerate() {
            let mut r = x;
            for a in (0..sizes.len()).rev() {
                code[a] = r % sizes[a];
                r /= sizes[a];
            }
            for (c, cl) in tree.cliques().iter().enumerate() {
                let mut idx = 0;
                for &a in cl.attrs() {
                    idx = idx * sizes[a] + code[a];
                }
                out[offsets[c] + idx] += (lp - z).exp();
            }
        }
        out
    }

    /// The parallel calibration (a depth's cliques side by side) gives bit for bit the
    /// sequential pass's marginals and log Z: a tree of several depths with siblings, an
    /// empty separator (a second component) and cliques both above and below the chunk
    /// size, whose first attribute is sometimes summed out onto the separator.
    #[test]
    fn parallel_calibration_matches_the_sequential_pass_bit_for_bit() {
        let domain = Domain::from_sizes(vec![24, 8, 13, 31, 3, 9, 5, 4, 30, 6]);
        let cliques = vec![
            Clique::new([0, 1, 2, 3]),
            Clique::new([1, 2, 3, 4]),
            Clique::new([0, 2, 5]),
            Clique::new([3, 4, 6]),
            Clique::new([4, 6, 7]),
            Clique::new([8, 9]),
        ];
        let tree = JunctionTree::build(&domain, &cliques);
        let engine = Engine::new(&domain, tree);
        let n = engine.total_cells();
        assert!(n >= PAR_CELLS && engine.levels.len() >= 3, "{n} cells");
        let k = engine.tree.cliques().len();
        assert!(
            (0..k).any(|c| engine.tree.parent(c).is_some() && engine.tree.separator(c).is_empty())
        );
        let theta: Vec<f64> = (0..n)
            .map(|i| 3.0 * ((i * 7919 % 1009) as f64 / 1009.0 - 0.5))
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut mu = vec![0.0; n];
                let mut ws = Workspace::default();
                // Twice: the second call reuses the workspace, as a fit does.
                engine.calibrate(&theta, 7.0, &mut ws, &mut mu);
                let z = engine.calibrate(&theta, 7.0, &mut ws, &mut mu);
                (
                    z.to_bits(),
                    mu.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                )
            })
        };
        let (seq, par) = (run(1), run(3));
        assert!(seq == par, "log Z {:x} vs {:x}", seq.0, par.0);
    }

    /// Beliefs built slab by slab ([`Engine::products`]) are bit for bit those of one pass
    /// per child over the whole clique: slabs with a ragged last one, separators with and
    /// without the first axis, on one thread and several.
    #[test]
    fn slab_products_match_one_pass_per_child() {
        let domain = Domain::from_sizes(vec![40, 9, 13, 31, 3, 5, 4, 6]);
        let cliques = vec![
            Clique::new([0, 1, 2, 3]),
            Clique::new([0, 1, 4]),
            Clique::new([2, 3, 5]),
            Clique::new([1, 3, 6]),
            Clique::new([0, 7]),
        ];
        let tree = JunctionTree::build(&domain, &cliques);
        let engine = Engine::new(&domain, tree);
        let n = engine.total_cells();
        let seps = engine.sep_offsets[engine.sep_offsets.len() - 1];
        let theta: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0)
            .collect();
        let msgs: Vec<f64> = (0..seps)
            .map(|i| ((i * 104_729) % 211) as f64 / 50.0 - 2.0)
            .collect();
        let (mut cut, mut first_axis_kept) = (0, 0);
        for (p, sl) in engine.slabs.iter().enumerate() {
            let Some(sl) = sl else { continue };
            let r = engine.range(p);
            cut += usize::from(sl.per * sl.entry_cells < r.len());
            first_axis_kept += sl.children.iter().filter(|ch| ch.small_entry > 0).count();
            let mut want = vec![0.0; r.len()];
            for (k, c) in sl.children.iter().map(|ch| ch.clique).enumerate() {
                let down = engine.down[c].as_ref().unwrap();
                let m = &msgs[engine.sep_offsets[c]..engine.sep_offsets[c + 1]];
                if k == 0 {
                    down.add_expanded_from(&mut want, &theta[r.clone()], m);
                } else {
                    down.add_expanded(&mut want, m);
                }
            }
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut got = vec![0.0; r.len()];
                pool.install(|| engine.products(p, &mut got, &theta[r.clone()], &msgs));
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(&got) == bits(&want), "clique {p}, {threads} threads");
            }
        }
        assert!(
            cut >= 1 && first_axis_kept >= 1,
            "{cut} cut, {first_axis_kept}"
        );
    }

    /// A small model with a cycle (0-1-2-3-0) triangulated, a branch and a lone attribute:
    /// the brute-force comparisons' tree.
    fn cyclic_tree() -> (Domain, JunctionTree, Engine) {
        let domain = Domain::from_sizes(vec![2, 3, 2, 4, 3, 2]);
        let cliques = vec![
            Clique::new([0, 1]),
            Clique::new([1, 2]),
            Clique::new([2, 3]),
            Clique::new([3, 0]),
            Clique::new([1, 4]),
            Clique::new([5]),
        ];
        let tree = JunctionTree::build(&domain, &cliques);
        let engine = Engine::new(&domain, tree.clone());
        (domain, tree, engine)
    }

    #[test]
    fn calibration_matches_brute_force() {
        let (domain, tree, engine) = cyclic_tree();
        let n = engine.total_cells();
        // Large magnitudes on purpose: log-space must keep them finite.
        let theta: Vec<f64> = (0..n)
            .map(|i| 300.0 * ((i * 7919 % 101) as f64 / 101.0 - 0.5))
            .collect();
        let mut mu = vec![0.0; n];
        let mut ws = Workspace::default();
        engine.calibrate(&theta, 10.0, &mut ws, &mut mu);
        let want = brute(&domain, &tree, &theta, &engine.offsets);
        for (a, b) in mu.iter().zip(&want) {
            assert!((a - 10.0 * b).abs() < 1e-9, "{a} vs {}", 10.0 * b);
        }
    }

    /// The same calibration in single precision (`real.rs`): every marginal within 1e-7 of
    /// the total of the exact one for the potentials it was given (9e-10 measured), with
    /// log-potentials of up to 150 in magnitude, and log Z (330) within 1e-6 of itself
    /// (2e-8 measured): its sums are in `f64`.
    #[test]
    fn single_precision_calibration_matches_brute_force() {
        let (domain, tree, engine) = cyclic_tree();
        let n = engine.total_cells();
        let theta: Vec<f32> = (0..n)
            .map(|i| 300.0 * ((i * 7919 % 101) as f32 / 101.0 - 0.5))
            .collect();
        let wide: Vec<f64> = theta.iter().map(|&t| t as f64).collect();
        let mut mu = vec![0.0f32; n];
        let log_z = engine.calibrate(&theta, 10.0, &mut Workspace::default(), &mut mu);
        let mut mu64 = vec![0.0; n];
        let log_z64 = engine.calibrate(&wide, 10.0, &mut Workspace::default(), &mut mu64);
        let want = brute(&domain, &tree, &wide, &engine.offsets);
        let worst = mu
            .iter()
            .zip(&want)
            .map(|(&a, b)| (a as f64 - 10.0 * b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "worst cell off by {worst} of a total of 10");
        assert!(
            (log_z - log_z64).abs() < 1e-6 * log_z64.abs().max(1.0),
            "{log_z} vs {log_z64}"
        );
    }

    /// Hugin propagation keeps every visited clique's marginal exact: change one clique's
    /// potential at a time (its marginal moved in place, as the IPF warm-up does), walk to
    /// another clique anywhere in the tree (up, down, across siblings and between the two
    /// components of an empty separator), and compare with a whole calibration.
    #[test]
    fn hugin_walk_matches_calibration() {
        let domain = Domain::from_sizes(vec![4, 3, 5, 2, 6, 3, 2, 4]);
        let cliques = vec![
            Clique::new([0, 1, 2]),
            Clique::new([1, 2, 3]),
            Clique::new([0, 4]),
            Clique::new([3, 5]),
            Clique::new([2, 6]),
            Clique::new([7]),
        ];
        let tree = JunctionTree::build(&domain, &cliques);
        let engine = Engine::new(&domain, tree);
        let k = engine.tree.cliques().len();
        assert!(engine.levels.len() >= 2, "a tree with depth");
        let n = engine.total_cells();
        let total = 500.0;
        let mut theta: Vec<f64> = (0..n)
            .map(|i| 2.0 * ((i * 7919 % 1009) as f64 / 1009.0 - 0.5))
            .collect();
        let mut ws = Workspace::default();
        let mut mu = vec![0.0; n];
        engine.calibrate(&theta, total, &mut ws, &mut mu);
        let (mut seps, mut ratio) = (Vec::new(), Vec::new());
        engine.separator_tables(&mu, &mut seps);
        let mut at = engine.tree.root();
        let mut exact = vec![0.0; n];
        for step in 0..3 * k {
            // A change of `at`'s potential, and its marginal moved by it in place.
            let r = engine.range(at);
            let delta: Vec<f64> = (0..r.len())
                .map(|i| ((i * 31 + step * 17) % 13) as f64 / 13.0 - 0.5)
                .collect();
            for (t, d) in theta[r.clone()].iter_mut().zip(&delta) {
                *t += d;
            }
            let mc = &mut mu[r];
            mc.iter_mut().zip(&delta).for_each(|(x, d)| *x *= d.exp());
            let sum: f64 = mc.iter().sum();
            mc.iter_mut().for_each(|x| *x *= total / sum);
            let next = (at + 1 + step % (k - 1)) % k;
            engine.pass_path(at, next, &mut mu, &mut seps, &mut ratio);
            engine.calibrate(&theta, total, &mut ws, &mut exact);
            let r = engine.range(next);
            for (a, b) in mu[r.clone()].iter().zip(&exact[r]) {
                assert!((a - b).abs() < 1e-9 * total, "step {step}: {a} vs {b}");
            }
            at = next;
        }
    }
}
