//! Convex belief propagation on a factor graph: the approximate marginal oracle of
//! relaxed-consistency Private-PGM (McKenna, Pradhan, Sheldon, Miklau, NeurIPS 2021), for
//! measurement sets whose junction tree is too large for exact inference.
//!
//! The factors are the maximal measured cliques (plus a singleton for every attribute no
//! measurement covers); the variables are the attributes. For log-potentials `theta` on the
//! factors the oracle solves
//!
//! ```text
//! max over mu in the local polytope of  <theta, mu> + sum_F c_F H(mu_F) + sum_i c_i H(mu_i)
//! ```
//!
//! where the local polytope only asks every factor's table to sum onto each of its
//! variables' tables. Its solutions are *pseudo-marginals*: locally consistent (factors that
//! share a variable agree on that variable), but not necessarily the marginals of any one
//! joint distribution, because the local polytope is larger than the marginal polytope on a
//! graph with cycles.
//!
//! Counting numbers (chosen by [`FactorGraph::new`]): all are "variable-valid"
//! (`c_i + sum_{F ∋ i} c_F = 1`, each variable's entropy counted once), so the problem is
//! exact wherever it can be:
//! - an acyclic factor graph gets the Bethe numbers `c_F = 1`, `c_i = 1 - d_i` (`d_i` the
//!   number of factors holding `i`), for which the variational problem is exact: the
//!   pseudo-marginals are the true marginals of `exp(sum_F theta_F)`;
//! - a graph with cycles gets `c_F = min_{i in F} 1 / d_i` and `c_i = 1 - sum_F c_F >= 0`. Every
//!   counting number is then non-negative, so the objective is concave on the local
//!   polytope (a sum of entropies), its solution is unique, and the message passing below
//!   is a block-coordinate descent of a convex dual, which converges.
//!
//! Message passing (log space): the dual variables are messages `lambda_{F,i}(x_i)`, with
//! factor beliefs `mu_F ∝ exp((theta_F - sum_{j in F} lambda_{F,j}) / c_F)`. Variables are
//! visited in turn; for variable `i` every factor first sends
//! `a_F = c_F logsumexp_{x_F \ i} ((theta_F - sum_{j != i} lambda_{F,j}) / c_F)`, the
//! variable's belief becomes `b_i = sum_F a_F / (c_i + sum_F c_F)` (normalised), and
//! `lambda_{F,i} = a_F - c_F b_i`, which makes every factor holding `i` agree with `b_i`
//! exactly (the closed-form minimiser of the dual over that block). With the Bethe numbers
//! this is ordinary sum-product on a tree, one variable at a time. A sweep visits every
//! variable; the oracle stops when no variable belief moved by more than
//! [`BpOptions::tol`] in L1 over a sweep, or after [`BpOptions::max_sweeps`]. Messages are
//! kept between calls, so the many nearby calls of mirror descent start warm. Optional
//! damping mixes each new message with the old one.

use std::cell::Cell;

use super::estimate::InferenceOracle;
use super::layout::{kernels, SubsetLayout};
use crate::marginal::{Clique, Domain};

/// Knobs of the convex belief propagation oracle.
#[derive(Clone, Debug, PartialEq)]
pub struct BpOptions {
    /// Sweeps (one block update per variable each) per oracle call at most.
    pub max_sweeps: usize,
    /// Convergence test: stop once no variable belief moved by more than `tol` (L1 of the
    /// normalised belief) during a sweep.
    pub tol: f64,
    /// Weight of the old message in each update (0: none). The default counting numbers
    /// converge without it; it is there for hard cases and experiments.
    pub damping: f64,
}

impl Default for BpOptions {
    fn default() -> Self {
        BpOptions {
            max_sweeps: 1000,
            tol: 1e-10,
            damping: 0.0,
        }
    }
}

/// What the oracle did over all its calls so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BpReport {
    /// Oracle calls (each a full message-passing run).
    pub calls: usize,
    /// Sweeps over all calls.
    pub sweeps: usize,
    /// Calls stopped by the sweep cap rather than the convergence test.
    pub unconverged_calls: usize,
    /// Largest belief change (L1) in the last sweep of the last call.
    pub last_residual: f64,
}

/// One (factor, variable) membership: the message `lambda_{F,i}` lives on it.
#[derive(Clone, Debug)]
struct Edge {
    factor: usize,
    var: usize,
    /// The factor's cells onto the variable.
    layout: SubsetLayout,
    /// Offset of the message in the flat message buffer.
    offset: usize,
}

/// A factor graph over a domain with its counting numbers and message layouts.
#[derive(Clone, Debug)]
pub(crate) struct FactorGraph {
    sizes: Vec<usize>,
    factors: Vec<Clique>,
    offsets: Vec<usize>,
    c_factor: Vec<f64>,
    c_var: Vec<f64>,
    /// Whether the graph is acyclic (Bethe numbers: the oracle is exact).
    acyclic: bool,
    edges: Vec<Edge>,
    /// Edges of each variable.
    var_edges: Vec<Vec<usize>>,
    /// Offsets of each variable's belief in a flat buffer.
    var_offsets: Vec<usize>,
    messages: usize,
    opts: BpOptions,
    report: Cell<BpReport>,
}

/// Reusable buffers and the messages kept between oracle calls.
#[derive(Clone, Debug, Default)]
pub(crate) struct BpWorkspace {
    lambda: Vec<f64>,
    /// `theta_F - sum_j lambda_{F,j}` for every factor (a clique vector).
    t: Vec<f64>,
    /// Normalised log beliefs of the variables.
    log_var: Vec<f64>,
    big: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    delta: Vec<f64>,
    scratch: Vec<f64>,
}

impl FactorGraph {
    /// Builds the graph on `factors` (sorted cliques, none a subset of another, covering
    /// every attribute; see [`maximal_factors`]) and picks its counting numbers.
    pub(crate) fn new(domain: &Domain, factors: Vec<Clique>, opts: BpOptions) -> Self {
        let sizes = domain.sizes().to_vec();
        let n = sizes.len();
        let mut offsets = vec![0usize];
        for f in &factors {
            offsets.push(offsets[offsets.len() - 1] + f.cells(domain));
        }
        let mut var_edges = vec![Vec::new(); n];
        let mut edges = Vec::new();
        let mut messages = 0;
        for (fi, f) in factors.iter().enumerate() {
            let shape = f.shape(domain);
            for &v in f.attrs() {
                var_edges[v].push(edges.len());
                edges.push(Edge {
                    factor: fi,
                    var: v,
                    layout: SubsetLayout::for_attrs(f.attrs(), &shape, &[v]),
                    offset: messages,
                });
                messages += sizes[v];
            }
        }
        let mut var_offsets = vec![0usize];
        for &s in &sizes {
            var_offsets.push(var_offsets[var_offsets.len() - 1] + s);
        }
        let degree: Vec<usize> = var_edges.iter().map(Vec::len).collect();
        let acyclic = is_acyclic(n, &factors);
        let c_factor: Vec<f64> = factors
            .iter()
            .map(|f| {
                if acyclic {
                    1.0
                } else {
                    f.attrs()
                        .iter()
                        .map(|&v| 1.0 / degree[v] as f64)
                        .fold(1.0, f64::min)
                }
            })
            .collect();
        let mut c_var = vec![1.0; n];
        for e in &edges {
            c_var[e.var] -= c_factor[e.factor];
        }
        FactorGraph {
            sizes,
            factors,
            offsets,
            c_factor,
            c_var,
            acyclic,
            edges,
            var_edges,
            var_offsets,
            messages,
            opts,
            report: Cell::new(BpReport::default()),
        }
    }

    pub(crate) fn factors(&self) -> &[Clique] {
        &self.factors
    }

    /// Whether the oracle is exact (acyclic graph, Bethe counting numbers).
    pub(crate) fn is_exact(&self) -> bool {
        self.acyclic
    }

    /// Counting numbers of the factors, then of the variables.
    pub(crate) fn counting_numbers(&self) -> (&[f64], &[f64]) {
        (&self.c_factor, &self.c_var)
    }

    /// Number of factors holding each variable.
    pub(crate) fn degree(&self, var: usize) -> usize {
        self.var_edges[var].len()
    }

    pub(crate) fn report(&self) -> BpReport {
        self.report.get()
    }

    /// Runs message passing from the workspace's messages (zero on first use) and returns
    /// the normalised log beliefs of the variables (flat, per [`Self::var_range`]); the
    /// factor beliefs are `exp(t_F / c_F)` normalised, with `t` left in the workspace.
    fn run(&self, theta: &[f64], ws: &mut BpWorkspace) {
        let n_cells = self.total_cells();
        debug_assert_eq!(theta.len(), n_cells);
        if ws.lambda.len() != self.messages
            || ws.log_var.len() != self.var_offsets[self.sizes.len()]
        {
            ws.lambda = vec![0.0; self.messages];
            ws.log_var = self
                .sizes
                .iter()
                .flat_map(|&s| std::iter::repeat_n(-(s as f64).ln(), s))
                .collect();
        }
        ws.t.clear();
        ws.t.extend_from_slice(theta);
        for e in &self.edges {
            ws.delta.clear();
            ws.delta.extend(
                ws.lambda[e.offset..e.offset + self.sizes[e.var]]
                    .iter()
                    .map(|l| -l),
            );
            e.layout
                .add_expanded(&mut ws.t[self.range(e.factor)], &ws.delta);
        }
        let mut report = self.report.get();
        report.calls += 1;
        let damping = self.opts.damping.clamp(0.0, 1.0);
        let mut converged = false;
        let mut sweeps = 0;
        let mut residual = f64::INFINITY;
        while sweeps < self.opts.max_sweeps {
            sweeps += 1;
            residual = 0.0;
            for (v, var_edges) in self.var_edges.iter().enumerate() {
                if var_edges.is_empty() {
                    continue;
                }
                residual = residual.max(self.update_variable(v, var_edges, damping, ws));
            }
            if residual <= self.opts.tol {
                converged = true;
                break;
            }
        }
        report.sweeps += sweeps;
        report.last_residual = residual;
        if !converged {
            report.unconverged_calls += 1;
        }
        self.report.set(report);
    }

    /// The block update of variable `v`; returns how far its belief moved (L1).
    fn update_variable(
        &self,
        v: usize,
        var_edges: &[usize],
        damping: f64,
        ws: &mut BpWorkspace,
    ) -> f64 {
        let s = self.sizes[v];
        ws.a.resize(var_edges.len() * s, 0.0);
        ws.b.clear();
        ws.b.resize(s, 0.0);
        let mut c_hat = self.c_var[v];
        for (k, &ei) in var_edges.iter().enumerate() {
            let e = &self.edges[ei];
            let c = self.c_factor[e.factor];
            c_hat += c;
            // (t_F + lambda_{F,v}) / c_F, summed onto v in log space.
            let r = self.range(e.factor);
            ws.big.clear();
            ws.big.extend_from_slice(&ws.t[r]);
            e.layout
                .add_expanded(&mut ws.big, &ws.lambda[e.offset..e.offset + s]);
            let inv = 1.0 / c;
            ws.big.iter_mut().for_each(|x| *x *= inv);
            let a = &mut ws.a[k * s..(k + 1) * s];
            e.layout.logsumexp_into(&ws.big, a, &mut ws.scratch);
            for (bi, ai) in ws.b.iter_mut().zip(a.iter_mut()) {
                *ai *= c;
                *bi += *ai;
            }
        }
        // c_hat = 1 for variable-valid numbers; guard anyway.
        let c_hat = if c_hat > 0.0 { c_hat } else { 1.0 };
        ws.b.iter_mut().for_each(|x| *x /= c_hat);
        let m = kernels::max(&ws.b);
        let shift = if m.is_finite() { m } else { 0.0 };
        let lse = shift + kernels::sum_exp(&ws.b, shift).ln();
        ws.b.iter_mut().for_each(|x| *x -= lse);
        let old = &mut ws.log_var[self.var_offsets[v]..self.var_offsets[v + 1]];
        let moved: f64 = old
            .iter()
            .zip(&ws.b)
            .map(|(o, n)| (o.exp() - n.exp()).abs())
            .sum();
        old.copy_from_slice(&ws.b);
        for (k, &ei) in var_edges.iter().enumerate() {
            let e = &self.edges[ei];
            let c = self.c_factor[e.factor];
            let a = &ws.a[k * s..(k + 1) * s];
            let lam = &mut ws.lambda[e.offset..e.offset + s];
            ws.delta.clear();
            // New message a_F - c_F b, shifted to maximum 0 (a constant shift of a message
            // changes only its factor's normalisation) and optionally damped.
            let mut mx = f64::NEG_INFINITY;
            for (ai, bi) in a.iter().zip(&ws.b) {
                mx = mx.max(ai - c * bi);
            }
            let mx = if mx.is_finite() { mx } else { 0.0 };
            for ((l, ai), bi) in lam.iter_mut().zip(a).zip(&ws.b) {
                let new = (1.0 - damping) * (ai - c * bi - mx) + damping * *l;
                ws.delta.push(*l - new);
                *l = new;
            }
            // t_F = theta_F - sum_j lambda_{F,j}: remove the old message, add the new.
            e.layout
                .add_expanded(&mut ws.t[self.range(e.factor)], &ws.delta);
        }
        moved
    }

    /// Writes factor `f`'s normalised belief `exp(t_F / c_F)` into `out`, scaled to
    /// `total`; returns its entropy (of the normalised belief).
    fn factor_belief(&self, f: usize, t: &[f64], total: f64, out: &mut [f64]) -> f64 {
        let inv = 1.0 / self.c_factor[f];
        let m = t.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x * inv));
        let shift = if m.is_finite() { m } else { 0.0 };
        let mut z = 0.0;
        for (o, &x) in out.iter_mut().zip(t) {
            *o = kernels::exp(x * inv - shift);
            z += *o;
        }
        let log_z = z.ln();
        let mut h = 0.0;
        for (o, &x) in out.iter_mut().zip(t) {
            let p = *o / z;
            if p > 0.0 {
                h -= p * (x * inv - shift - log_z);
            }
            *o = p * total;
        }
        h
    }

    /// Normalised log beliefs of the variables after a run (flat; see `var_offsets`).
    fn var_range(&self, v: usize) -> std::ops::Range<usize> {
        self.var_offsets[v]..self.var_offsets[v + 1]
    }

    /// Runs the oracle and returns the variable beliefs (probabilities) alongside.
    pub(crate) fn marginals_with_variables(
        &self,
        theta: &[f64],
        total: f64,
        ws: &mut BpWorkspace,
        mu: &mut [f64],
    ) -> (f64, Vec<Vec<f64>>) {
        let a = self.marginals(theta, total, ws, mu);
        let vars = (0..self.sizes.len())
            .map(|v| {
                ws.log_var[self.var_range(v)]
                    .iter()
                    .map(|x| x.exp())
                    .collect()
            })
            .collect();
        (a, vars)
    }
}

impl InferenceOracle for FactorGraph {
    type Workspace = BpWorkspace;

    fn cliques(&self) -> &[Clique] {
        &self.factors
    }

    fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    fn containing(&self, domain: &Domain, clique: &Clique) -> Option<usize> {
        (0..self.factors.len())
            .filter(|&f| clique.is_subset_of(&self.factors[f]))
            .min_by_key(|&f| (self.factors[f].cells(domain), f))
    }

    /// Returns the value of the variational problem at the beliefs,
    /// `<theta, mu> + sum_F c_F H(mu_F) + sum_i c_i H(mu_i)` (normalised beliefs): the
    /// oracle's approximation of log Z, exact on an acyclic graph.
    fn marginals(&self, theta: &[f64], total: f64, ws: &mut BpWorkspace, mu: &mut [f64]) -> f64 {
        self.run(theta, ws);
        let mut value = 0.0;
        for f in 0..self.factors.len() {
            let r = self.range(f);
            let h = self.factor_belief(f, &ws.t[r.clone()], total, &mut mu[r.clone()]);
            let energy: f64 = theta[r.clone()]
                .iter()
                .zip(&mu[r])
                .map(|(t, m)| t * m)
                .sum::<f64>()
                / total;
            value += energy + self.c_factor[f] * h;
        }
        for v in 0..self.sizes.len() {
            let h: f64 = ws.log_var[self.var_range(v)]
                .iter()
                .map(|&l| {
                    if l > f64::NEG_INFINITY {
                        -l.exp() * l
                    } else {
                        0.0
                    }
                })
                .sum();
            value += self.c_var[v] * h;
        }
        value
    }

    /// `theta_F = c_F log x_F + sum_{i in F} (c_i / d_i) log x_i`, with `x_i` the factor's
    /// own marginal on `i`: the messages `lambda_{F,i} = (c_i / d_i) log x_i` then satisfy
    /// every block update, so the oracle returns `x` (the unique solution).
    fn potentials_for(&self, x: &[f64], theta: &mut [f64]) {
        let floor = f64::MIN_POSITIVE.ln();
        let ln = |v: f64| if v > 0.0 { v.ln().max(floor) } else { floor };
        let mut small = Vec::new();
        for (f, factor) in self.factors.iter().enumerate() {
            let r = self.range(f);
            let c = self.c_factor[f];
            for (t, &v) in theta[r.clone()].iter_mut().zip(&x[r.clone()]) {
                *t = c * ln(v);
            }
            for (k, &v) in factor.attrs().iter().enumerate() {
                let e = self
                    .var_edges
                    .get(v)
                    .and_then(|es| es.iter().find(|&&ei| self.edges[ei].factor == f))
                    .map(|&ei| &self.edges[ei]);
                let Some(e) = e else { continue };
                debug_assert_eq!(factor.attrs()[k], e.var);
                let w = self.c_var[v] / self.degree(v) as f64;
                small.resize(self.sizes[v], 0.0);
                e.layout.sum_into(&x[r.clone()], &mut small);
                small.iter_mut().for_each(|s| *s = w * ln(*s));
                e.layout.add_expanded(&mut theta[r.clone()], &small);
            }
        }
    }

    fn ipf_rank(&self, c: usize) -> usize {
        c
    }

    fn ipf_scale(&self, c: usize) -> f64 {
        self.c_factor[c]
    }
}

/// The factors for a set of measured cliques: the maximal ones (those inside no other
/// measured clique), deduplicated, plus a singleton for every attribute no measurement
/// covers (so every attribute is a variable with a belief); sorted.
pub(crate) fn maximal_factors(n_attrs: usize, cliques: &[Clique]) -> Vec<Clique> {
    let mut cs: Vec<Clique> = cliques.iter().filter(|c| !c.is_empty()).cloned().collect();
    cs.sort();
    cs.dedup();
    let mut out: Vec<Clique> = cs
        .iter()
        .filter(|c| !cs.iter().any(|o| o != *c && c.is_subset_of(o)))
        .cloned()
        .collect();
    for a in 0..n_attrs {
        if !out.iter().any(|c| c.contains(a)) {
            out.push(Clique::new([a]));
        }
    }
    out.sort();
    out
}

/// Whether the bipartite variable-factor graph is a forest: edges = nodes - components.
fn is_acyclic(n_attrs: usize, factors: &[Clique]) -> bool {
    let nodes = n_attrs + factors.len();
    let mut parent: Vec<usize> = (0..nodes).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for (f, c) in factors.iter().enumerate() {
        for &v in c.attrs() {
            let (a, b) = (find(&mut parent, n_attrs + f), find(&mut parent, v));
            if a == b {
                return false;
            }
            parent[a] = b;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force marginals of `exp(sum_F theta_F)` on every factor (normalised).
    fn brute(domain: &Domain, factors: &[Clique], offsets: &[usize], theta: &[f64]) -> Vec<f64> {
        let sizes = domain.sizes();
        let cells: usize = sizes.iter().product();
        let mut lp = vec![0.0; cells];
        let idx = |x: usize, f: &Clique| {
            let mut code = vec![0usize; sizes.len()];
            let mut r = x;
            for a in (0..sizes.len()).rev() {
                code[a] = r % sizes[a];
                r /= sizes[a];
            }
            f.attrs().iter().fold(0, |i, &a| i * sizes[a] + code[a])
        };
        for (x, l) in lp.iter_mut().enumerate() {
            *l = factors
                .iter()
                .enumerate()
                .map(|(k, f)| theta[offsets[k] + idx(x, f)])
                .sum();
        }
        let m = lp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = lp.iter().map(|l| (l - m).exp()).sum();
        let mut out = vec![0.0; theta.len()];
        for (x, &l) in lp.iter().enumerate() {
            for (k, f) in factors.iter().enumerate() {
                out[offsets[k] + idx(x, f)] += (l - m).exp() / z;
            }
        }
        out
    }

    fn theta_for(n: usize, scale: f64) -> Vec<f64> {
        (0..n)
            .map(|i| scale * ((i * 7919 % 101) as f64 / 101.0 - 0.5))
            .collect()
    }

    #[test]
    fn tree_pseudo_marginals_are_the_exact_marginals() {
        // A tree-shaped factor graph with a three-way factor: Bethe numbers, exact oracle.
        let domain = Domain::from_sizes(vec![2, 3, 4, 2, 3, 2]);
        let factors = maximal_factors(
            6,
            &[
                Clique::new([0, 1]),
                Clique::new([1, 2, 3]),
                Clique::new([3, 4]),
                Clique::new([1]),
            ],
        );
        let g = FactorGraph::new(&domain, factors.clone(), BpOptions::default());
        assert!(g.is_exact());
        assert_eq!(g.factors().len(), 4, "{:?}", g.factors()); // {5} added as a singleton
        let n = g.total_cells();
        let theta = theta_for(n, 8.0);
        let mut mu = vec![0.0; n];
        let mut ws = BpWorkspace::default();
        let log_z = g.marginals(&theta, 1.0, &mut ws, &mut mu);
        let want = brute(&domain, &factors, g.offsets(), &theta);
        for (a, b) in mu.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert!(g.report().unconverged_calls == 0);
        // The variational value is log Z on a tree.
        let lz = {
            let sizes = domain.sizes();
            let cells: usize = sizes.iter().product();
            let mut acc = Vec::with_capacity(cells);
            for x in 0..cells {
                let mut code = vec![0usize; sizes.len()];
                let mut r = x;
                for a in (0..sizes.len()).rev() {
                    code[a] = r % sizes[a];
                    r /= sizes[a];
                }
                let l: f64 = factors
                    .iter()
                    .enumerate()
                    .map(|(k, f)| {
                        let i = f.attrs().iter().fold(0, |i, &a| i * sizes[a] + code[a]);
                        theta[g.offsets()[k] + i]
                    })
                    .sum();
                acc.push(l);
            }
            let m = acc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            m + acc.iter().map(|l| (l - m).exp()).sum::<f64>().ln()
        };
        assert!((log_z - lz).abs() < 1e-9, "{log_z} vs {lz}");
    }

    #[test]
    fn loopy_beliefs_are_locally_consistent_and_invert_by_reparameterisation() {
        let domain = Domain::from_sizes(vec![2, 3, 4, 3]);
        let factors = maximal_factors(
            4,
            &[
                Clique::new([0, 1]),
                Clique::new([1, 2]),
                Clique::new([2, 3]),
                Clique::new([0, 3]),
                Clique::new([0, 2]),
            ],
        );
        let g = FactorGraph::new(&domain, factors.clone(), BpOptions::default());
        assert!(!g.is_exact());
        let (cf, cv) = g.counting_numbers();
        for (v, &cv) in cv.iter().enumerate() {
            let s: f64 = factors
                .iter()
                .zip(cf)
                .filter(|(f, _)| f.contains(v))
                .map(|(_, c)| c)
                .sum();
            assert!((s + cv - 1.0).abs() < 1e-12 && cv >= 0.0);
        }
        let n = g.total_cells();
        let theta = theta_for(n, 6.0);
        let mut mu = vec![0.0; n];
        let mut ws = BpWorkspace::default();
        let (_, vars) = g.marginals_with_variables(&theta, 1.0, &mut ws, &mut mu);
        assert_eq!(g.report().unconverged_calls, 0);
        // Local consistency: every factor sums onto each of its variables' beliefs.
        for e in &g.edges {
            let mut s = vec![0.0; domain.size(e.var)];
            e.layout.sum_into(&mu[g.range(e.factor)], &mut s);
            for (a, b) in s.iter().zip(&vars[e.var]) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
        // The reparameterisation of these beliefs gives them back.
        let mut th2 = vec![0.0; n];
        g.potentials_for(&mu, &mut th2);
        let mut mu2 = vec![0.0; n];
        g.marginals(&th2, 1.0, &mut BpWorkspace::default(), &mut mu2);
        for (a, b) in mu.iter().zip(&mu2) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }

    #[test]
    fn acyclicity_is_detected() {
        assert!(is_acyclic(3, &[Clique::new([0, 1]), Clique::new([1, 2])]));
        assert!(!is_acyclic(
            3,
            &[
                Clique::new([0, 1]),
                Clique::new([1, 2]),
                Clique::new([0, 2])
            ]
        ));
        // Two factors sharing two variables form a cycle in the factor graph.
        assert!(!is_acyclic(
            3,
            &[Clique::new([0, 1, 2]), Clique::new([0, 1])]
        ));
    }
}
