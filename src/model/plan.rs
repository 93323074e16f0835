//! Projection plans: many marginals of one table at once.
//!
//! Summing each target straight from a large table costs a pass over the table per target.
//! A plan instead sums out one attribute at a time into intermediate tables shared by
//! several targets, chosen greedily by the cells saved, and sums each target from the
//! smallest intermediate that holds it. Run backwards, the same tables expand and add the
//! targets' tables into the source (the gradient of the estimation loss). The estimator
//! uses a plan per tree clique for its measurements; model queries use one per tree clique
//! for the candidate cliques it contains (AIM scores hundreds per round).

use super::layout::SubsetLayout;
use super::real::Real;
use crate::marginal::{Clique, Domain};

struct Node {
    attrs: Clique,
    /// `None`: summed from the source table.
    parent: Option<usize>,
    layout: SubsetLayout,
    offset: usize,
    cells: usize,
}

struct Target {
    /// `None`: summed from the source table.
    node: Option<usize>,
    layout: SubsetLayout,
    /// Position of the target's table in the caller's flat output buffer.
    out: usize,
    len: usize,
}

/// A plan for projecting one source table onto several target cliques.
pub(crate) struct ProjectionPlan {
    nodes: Vec<Node>,
    targets: Vec<Target>,
    scratch_len: usize,
}

impl ProjectionPlan {
    /// Plans the targets `(clique, output offset)`, each a subset of `source`.
    pub(crate) fn new(domain: &Domain, source: &Clique, targets: &[(&Clique, usize)]) -> Self {
        let mut plan = ProjectionPlan {
            nodes: Vec::new(),
            targets: Vec::new(),
            scratch_len: 0,
        };
        let mut assigned: Vec<Option<usize>> = vec![None; targets.len()];
        plan.build(
            domain,
            None,
            source,
            (0..targets.len()).collect(),
            targets,
            &mut assigned,
        );
        for (i, &(c, out)) in targets.iter().enumerate() {
            let node = assigned[i];
            let attrs = match node {
                None => source,
                Some(n) => &plan.nodes[n].attrs,
            };
            let layout = SubsetLayout::for_attrs(attrs.attrs(), &attrs.shape(domain), c.attrs());
            plan.targets.push(Target {
                node,
                layout,
                out,
                len: c.cells(domain),
            });
        }
        plan
    }

    fn build(
        &mut self,
        domain: &Domain,
        node: Option<usize>,
        attrs: &Clique,
        idx: Vec<usize>,
        targets: &[(&Clique, usize)],
        assigned: &mut [Option<usize>],
    ) {
        let src_cells = attrs.cells(domain) as f64;
        let mut remaining = idx;
        loop {
            let mut best: Option<(f64, usize)> = None;
            if remaining.len() > 1 {
                for &b in attrs.attrs() {
                    let cnt = remaining
                        .iter()
                        .filter(|&&i| !targets[i].0.contains(b))
                        .count() as f64;
                    let size = domain.size(b) as f64;
                    // Direct: cnt passes over this table. Via the intermediate: one pass to
                    // build it, then cnt passes over a table `size` times smaller.
                    let saved = src_cells * (cnt * (1.0 - 1.0 / size) - 1.0);
                    if saved > 0.0 && best.is_none_or(|(s, _)| saved > s) {
                        best = Some((saved, b));
                    }
                }
            }
            let Some((_, b)) = best else {
                for i in remaining {
                    assigned[i] = node;
                }
                return;
            };
            let (sub, rest): (Vec<usize>, Vec<usize>) = remaining
                .into_iter()
                .partition(|&i| !targets[i].0.contains(b));
            remaining = rest;
            let child = attrs.difference(&Clique::new([b]));
            let cells = child.cells(domain);
            let layout =
                SubsetLayout::for_attrs(attrs.attrs(), &attrs.shape(domain), child.attrs());
            let id = self.nodes.len();
            self.nodes.push(Node {
                attrs: child.clone(),
                parent: node,
                layout,
                offset: self.scratch_len,
                cells,
            });
            self.scratch_len += cells;
            self.build(domain, Some(id), &child, sub, targets, assigned);
        }
    }

    /// Sums `src` onto every target, writing each into `out[target.out..]`.
    pub(crate) fn project<T: Real>(&self, src: &[T], scratch: &mut Vec<T>, out: &mut [T]) {
        scratch.resize(self.scratch_len, T::ZERO);
        self.project_in(src, scratch, out);
    }

    /// [`Self::project`] into `f64` tables (the estimator's per-measurement buffers) from a
    /// clique vector of any element type: the targets are summed in `T` as there, then
    /// widened.
    pub(crate) fn project_wide<T: Real>(&self, src: &[T], scratch: &mut Vec<T>, out: &mut [f64]) {
        scratch.resize(self.scratch_len + out.len(), T::ZERO);
        let (nodes, targets) = scratch.split_at_mut(self.scratch_len);
        self.project_in(src, nodes, targets);
        for (o, &t) in out.iter_mut().zip(targets.iter()) {
            *o = t.wide();
        }
    }

    fn project_in<T: Real>(&self, src: &[T], scratch: &mut [T], out: &mut [T]) {
        // Nodes are stored parents first.
        for node in &self.nodes {
            let (before, after) = scratch.split_at_mut(node.offset);
            let from: &[T] = match node.parent {
                None => src,
                Some(p) => {
                    &before[self.nodes[p].offset..self.nodes[p].offset + self.nodes[p].cells]
                }
            };
            node.layout.sum_into(from, &mut after[..node.cells]);
        }
        for t in &self.targets {
            let from: &[T] = match t.node {
                None => src,
                Some(n) => {
                    &scratch[self.nodes[n].offset..self.nodes[n].offset + self.nodes[n].cells]
                }
            };
            t.layout.sum_into(from, &mut out[t.out..t.out + t.len]);
        }
    }

    /// Adds every target's table (from `tables[target.out..]`, in `f64`: the estimator's
    /// gradients) expanded to the source into `dst`, a clique vector of any element type
    /// (the tables rounded to it first): the adjoint of [`Self::project`].
    pub(crate) fn add_expanded_wide<T: Real>(
        &self,
        tables: &[f64],
        scratch: &mut Vec<T>,
        dst: &mut [T],
    ) {
        let (nodes, narrow) = self.narrowed(tables, scratch);
        self.expand_into(narrow, nodes, None, dst);
    }

    /// `dst = src + ` the expansion of [`Self::add_expanded_wide`]: the first table added
    /// into `dst` is added onto `src` in the same pass ([`SubsetLayout::add_expanded_from`]),
    /// so a mirror step needs no copy of the potentials first. Each cell gets the same
    /// additions in the same order as a copy followed by [`Self::add_expanded_wide`] (the
    /// same values).
    pub(crate) fn add_expanded_from_wide<T: Real>(
        &self,
        tables: &[f64],
        scratch: &mut Vec<T>,
        src: &[T],
        dst: &mut [T],
    ) {
        let (nodes, narrow) = self.narrowed(tables, scratch);
        self.expand_into(narrow, nodes, Some(src), dst);
    }

    /// `scratch` cut into the nodes' tables and a copy of `tables` rounded to `T`.
    fn narrowed<'s, T: Real>(
        &self,
        tables: &[f64],
        scratch: &'s mut Vec<T>,
    ) -> (&'s mut [T], &'s [T]) {
        scratch.resize(self.scratch_len + tables.len(), T::ZERO);
        let (nodes, narrow) = scratch.split_at_mut(self.scratch_len);
        for (n, &t) in narrow.iter_mut().zip(tables) {
            *n = T::of(t);
        }
        (nodes, narrow)
    }

    /// The walk of both expansions; `from` is consumed by the first write into `dst`.
    /// `scratch` holds at least the nodes' tables (its contents are overwritten).
    fn expand_into<T: Real>(
        &self,
        tables: &[T],
        scratch: &mut [T],
        mut from: Option<&[T]>,
        dst: &mut [T],
    ) {
        scratch[..self.scratch_len].fill(T::ZERO);
        let add = |layout: &SubsetLayout, from: &mut Option<&[T]>, to: &mut [T], s: &[T]| match from
            .take()
        {
            Some(src) => layout.add_expanded_from(to, src, s),
            None => layout.add_expanded(to, s),
        };
        let mut none = None;
        for t in &self.targets {
            let (to, from): (&mut [T], _) = match t.node {
                None => (&mut *dst, &mut from),
                Some(n) => (
                    &mut scratch[self.nodes[n].offset..self.nodes[n].offset + self.nodes[n].cells],
                    &mut none,
                ),
            };
            add(&t.layout, from, to, &tables[t.out..t.out + t.len]);
        }
        // Children before parents.
        for node in self.nodes.iter().rev() {
            let (before, after) = scratch.split_at_mut(node.offset);
            let child = &after[..node.cells];
            let (to, from): (&mut [T], _) = match node.parent {
                None => (&mut *dst, &mut from),
                Some(p) => (
                    &mut before[self.nodes[p].offset..self.nodes[p].offset + self.nodes[p].cells],
                    &mut none,
                ),
            };
            add(&node.layout, from, to, child);
        }
        // A plan always writes into `dst` (it has targets); kept for an empty one.
        if let Some(src) = from {
            dst.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marginal::all_k_way;

    #[test]
    fn plan_matches_direct_projection_and_its_adjoint() {
        let domain = Domain::from_sizes(vec![3, 4, 2, 5, 3]);
        let source = Clique::new(0..5);
        let mut targets: Vec<Clique> = all_k_way(5, 2);
        targets.extend(all_k_way(5, 3));
        targets.push(Clique::empty());
        targets.push(source.clone());
        let mut offs = Vec::new();
        let mut acc = 0;
        for t in &targets {
            offs.push(acc);
            acc += t.cells(&domain);
        }
        let pairs: Vec<(&Clique, usize)> = targets.iter().zip(offs.iter().copied()).collect();
        let plan = ProjectionPlan::new(&domain, &source, &pairs);
        assert!(
            !plan.nodes.is_empty(),
            "many targets should share intermediates"
        );
        let n = source.cells(&domain);
        let src: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 + 0.5).collect();
        let mut out = vec![0.0; acc];
        let mut scratch = Vec::new();
        plan.project(&src, &mut scratch, &mut out);
        for (t, &o) in targets.iter().zip(&offs) {
            let l = SubsetLayout::for_attrs(source.attrs(), &source.shape(&domain), t.attrs());
            let mut want = vec![0.0; t.cells(&domain)];
            l.sum_into(&src, &mut want);
            for (a, b) in out[o..o + want.len()].iter().zip(&want) {
                assert!((a - b).abs() < 1e-9, "{t:?}");
            }
        }
        // Adjoint: <P x, g> == <x, P^T g>.
        let g: Vec<f64> = (0..acc).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let mut back = vec![0.0; n];
        plan.add_expanded_wide(&g, &mut scratch, &mut back);
        let lhs: f64 = out.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rhs: f64 = src.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-6 * lhs.abs().max(1.0));
        // The fused form: a copy of `base` plus the expansion, bit for bit.
        let base: Vec<f64> = (0..n).map(|i| ((i * 29) % 17) as f64 * 0.1 - 0.7).collect();
        let mut want = base.clone();
        plan.add_expanded_wide(&g, &mut scratch, &mut want);
        let mut got = vec![f64::NAN; n];
        plan.add_expanded_from_wide(&g, &mut scratch, &base, &mut got);
        assert!(got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
