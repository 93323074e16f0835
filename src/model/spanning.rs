//! Model marginals of many cliques that no tree clique contains, answered together.
//!
//! On a calibrated junction tree, pick a clique `M` (the query's *centre*). Every queried
//! attribute outside `M` lies in one branch of the tree around `M`, behind the separator
//! `S_B` of the edge that leads into that branch, and given `x_{S_B}` the attributes of a
//! branch are independent of everything on `M`'s side. So for a query `Q`
//!
//! `P(x_Q) = sum_{M-cells not in Q} P(x_M) prod_B P(x_{Q_B} | x_{S_B})`,
//!
//! where `Q_B` are the queried attributes behind `S_B`. The *message* `P(x_{Q_B}, x_{S_B})`
//! is the same formula one level down, on the clique across the edge, with the edge's
//! separator kept. Each clique enters only reduced to the attributes that matter (its
//! queried attributes and its separators), so every intermediate table is small.
//!
//! What makes a round of AIM's selection cheap is sharing: a three-way query whose
//! attributes sit in three branches of its centre (the tree's median of the three) needs
//! one-attribute messages `P(x_a, x_S)` per directed edge, which every other query routed
//! through that edge reuses, and the reductions `(tree clique, attributes)` are computed
//! once each, all targets of a clique in one projection plan. Work is planned symbolically
//! first (which reductions and messages, in dependency order, and every elimination's
//! steps), then done in parallel; every number is a deterministic function of the model,
//! independent of the thread count. Queries with the same centre often start with the same
//! step (the centre's reduction times one branch's message, the same attributes kept):
//! such a step is planned once and its table shared (session 14's trace of the nist3
//! release: a fifth of a pass's multiply-adds repeated another query's step; a pass now
//! plans 3,982 distinct steps for 1,877 eliminations).
//!
//! [`super::graphical::GraphicalModel::project`] keeps the one-query variable elimination
//! over the covering subtree; the tests check the two agree. Everything here reads the
//! fitted model only: post-processing (proofs/aim.md, the selection step).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

use super::eliminate::{elimination_steps, sum_product, Table};
use super::factor::Factor;
use super::graphical::Calibrated;
use super::junction::{saturating_cells, JunctionTree};
use super::plan::ProjectionPlan;
use crate::marginal::{Clique, Domain};

/// For every tree clique and attribute, the neighbouring clique one step towards the
/// cliques holding that attribute (`None` when the clique holds it itself).
struct Routes {
    attrs: usize,
    next: Vec<Option<usize>>,
}

impl Routes {
    fn new(tree: &JunctionTree, attrs: usize) -> Self {
        let k = tree.cliques().len();
        let adj = tree.neighbours();
        let mut next = vec![None; k * attrs];
        let mut seen = vec![false; k];
        let mut queue = Vec::with_capacity(k);
        for a in 0..attrs {
            // Breadth-first from every clique holding `a` (a connected subtree), so each
            // other clique records the neighbour it was reached from.
            seen.fill(false);
            queue.clear();
            for (c, clique) in tree.cliques().iter().enumerate() {
                if clique.contains(a) {
                    seen[c] = true;
                    queue.push(c);
                }
            }
            let mut i = 0;
            while i < queue.len() {
                let c = queue[i];
                i += 1;
                for &n in &adj[c] {
                    if !seen[n] {
                        seen[n] = true;
                        next[n * attrs + a] = Some(c);
                        queue.push(n);
                    }
                }
            }
        }
        Routes { attrs, next }
    }

    fn next(&self, clique: usize, attr: usize) -> Option<usize> {
        self.next[clique * self.attrs + attr]
    }
}

/// A message `P(x_attrs, x_D)` computed at tree clique `at` towards `toward`, where `D` is
/// the part of the separator `S(at, toward)` the branch's attributes depend on (all of `S`
/// unless the clique is only passed through); a query's centre has `toward: None` and
/// outputs the query itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    attrs: Clique,
    at: usize,
    toward: Option<usize>,
}

/// One message (or a query at its centre). Its value is a list of factors whose product,
/// summed over the attributes outside `out`, is `P(x_attrs | x_D)` (the query's joint at a
/// centre): the clique's reduction, conditioned on the separator, and the branches' lists.
/// A *materialised* node sums its list into one table over `out` (shared by every query
/// routed through it); a lazy one hands its list on, so the consumer's elimination can
/// interleave the branch's attributes with its own instead of building a table over the
/// whole separator that is larger than the factors it came from.
struct Node {
    /// Reduction of tree clique `at` this node multiplies (index into `reductions`); `None`
    /// for a clique passed through by several branches.
    reduction: Option<usize>,
    /// Messages from the branches.
    children: Vec<usize>,
    out: Clique,
    materialise: bool,
    /// Cells of the factors the node hands on (its table, or its list).
    cells: f64,
    depth: usize,
}

/// Symbolic plan for a batch of spanning queries.
struct Planner<'a> {
    domain: &'a Domain,
    tree: &'a JunctionTree,
    routes: Routes,
    keys: BTreeMap<Key, usize>,
    nodes: Vec<Node>,
    /// Distinct `(tree clique, attributes, conditioned on)` reductions.
    reductions: BTreeMap<(usize, Clique, Option<Clique>), usize>,
    /// The separator attributes each message depends on (see [`Planner::depends`]).
    deps: Deps,
}

/// Memo of [`Planner::depends`].
type Deps = BTreeMap<Key, Clique>;

impl<'a> Planner<'a> {
    /// An empty plan over `tree`.
    fn new(domain: &'a Domain, tree: &'a JunctionTree) -> Self {
        Planner {
            domain,
            tree,
            routes: Routes::new(tree, domain.len()),
            keys: BTreeMap::new(),
            nodes: Vec::new(),
            reductions: BTreeMap::new(),
            deps: BTreeMap::new(),
        }
    }

    fn separator(&self, a: usize, b: usize) -> Clique {
        self.tree.cliques()[a].intersection(&self.tree.cliques()[b])
    }

    /// The queried attributes of `attrs` that clique `at` holds, and the others grouped by
    /// the neighbour they lie behind.
    fn split(&self, attrs: &Clique, at: usize) -> (Clique, BTreeMap<usize, Vec<usize>>) {
        let mut inside = Vec::new();
        let mut branches: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &a in attrs.attrs() {
            match self.routes.next(at, a) {
                None => inside.push(a),
                Some(n) => branches.entry(n).or_default().push(a),
            }
        }
        (Clique::new(inside), branches)
    }

    /// The attributes of the separator `S = S(at, toward)` on which the distribution of
    /// `attrs` (all behind `S`, seen from `toward`) depends: `D` with
    /// `P(x_attrs | x_S) = P(x_attrs | x_D)`.
    ///
    /// At `at`, `P(x_attrs | x_S) = sum_{x_W} P(x_W | x_S) prod_B P(x_{A_B} | x_{D_B})` where
    /// the branches' `D_B` lie in their separators (inside `at`) and `W` are the clique's
    /// attributes outside `S` that the queried ones or some `D_B` need. When `W` is empty the
    /// clique's conditional sums to one and drops out: the message depends on `S` only
    /// through the union of the `D_B` (every one inside `S`), and a single branch's message
    /// passes through unchanged. Otherwise it depends on all of `S` (nothing in the tree's
    /// structure says less).
    fn depends(&mut self, attrs: &Clique, at: usize, toward: usize) -> Clique {
        let mut deps = std::mem::take(&mut self.deps);
        let d = self.depends_in(&mut deps, attrs, at, toward);
        self.deps = deps;
        d
    }

    /// [`Self::depends`] with the memo `deps` (a cache: the answer is a function of the
    /// tree and the arguments alone).
    fn depends_in(&self, deps: &mut Deps, attrs: &Clique, at: usize, toward: usize) -> Clique {
        let key = Key {
            attrs: attrs.clone(),
            at,
            toward: Some(toward),
        };
        if let Some(d) = deps.get(&key) {
            return d.clone();
        }
        let sep = self.separator(at, toward);
        let (inside, branches) = self.split(attrs, at);
        let mut need = inside;
        for (n, a) in branches {
            need = need.union(&self.depends_in(deps, &Clique::new(a), n, at));
        }
        let d = if need.is_subset_of(&sep) { need } else { sep };
        deps.insert(key, d.clone());
        d
    }

    /// The centre for a query: the clique minimising, first, the queried attributes that
    /// share a branch (their messages are not shared), then the cells of the final
    /// elimination's union (the query and what the branches' messages depend on); lowest
    /// index on ties. `deps` is a memo of [`Self::depends`].
    fn centre_in(&self, deps: &mut Deps, query: &Clique) -> usize {
        let mut best: Option<((usize, usize), usize)> = None;
        for m in 0..self.tree.cliques().len() {
            let (inside, branches) = self.split(query, m);
            let shared: usize = branches
                .values()
                .filter(|v| v.len() > 1)
                .map(Vec::len)
                .sum();
            let mut union = inside.union(query);
            for (n, attrs) in branches {
                union = union.union(&self.depends_in(deps, &Clique::new(attrs), n, m));
            }
            let cost = (shared, saturating_cells(self.domain, union.attrs()));
            if best.is_none_or(|(b, _)| cost < b) {
                best = Some((cost, m));
            }
        }
        best.map_or(0, |(_, m)| m)
    }

    /// Every query's centre ([`Self::centre_in`]), the queries on rayon's threads with a memo
    /// each: a centre is a function of its query and the tree, so the result does not depend
    /// on how the queries are split. (One query after another, this was most of a selection
    /// round's sequential planning: about a second of a NIST epsilon 3 run.)
    fn centres(&self, queries: &[&Clique]) -> Vec<usize> {
        queries
            .par_iter()
            .map_init(Deps::new, |deps, q| self.centre_in(deps, q))
            .collect()
    }

    /// Plans `P(x_attrs, x_D)` at `at` (`D` from [`Self::depends`]; the query itself at a
    /// centre); returns its node. A clique passed through with a single branch is that
    /// branch's node.
    fn node(&mut self, key: Key) -> usize {
        if let Some(&i) = self.keys.get(&key) {
            return i;
        }
        let (inside, branches) = self.split(&key.attrs, key.at);
        let mut deps = inside;
        let mut children = Vec::with_capacity(branches.len());
        let mut depth = 0;
        let mut cells = 0.0;
        for (n, attrs) in branches {
            debug_assert_ne!(
                Some(n),
                key.toward,
                "queried attributes lie away from the edge"
            );
            let attrs = Clique::new(attrs);
            deps = deps.union(&self.depends(&attrs, n, key.at));
            let child = self.node(Key {
                attrs,
                at: n,
                toward: Some(key.at),
            });
            depth = depth.max(self.nodes[child].depth + 1);
            cells += self.nodes[child].cells;
            children.push(child);
        }
        // The clique's reduction: the joint of what the branches and the query need at a
        // centre; the conditional given the separator for a message; none when the clique
        // is passed through (its conditional sums to one).
        let (reduction, out) = match key.toward {
            None => (Some((deps, None)), key.attrs.clone()),
            Some(t) => {
                let sep = self.separator(key.at, t);
                if deps.is_subset_of(&sep) {
                    if children.len() == 1 {
                        let i = children[0];
                        self.keys.insert(key, i);
                        return i;
                    }
                    (None, key.attrs.union(&deps))
                } else {
                    let out = key.attrs.union(&sep);
                    (Some((deps.union(&sep), Some(sep))), out)
                }
            }
        };
        let reduction = reduction.map(|(attrs, given)| {
            cells += attrs.cells(self.domain) as f64;
            let next = self.reductions.len();
            *self
                .reductions
                .entry((key.at, attrs, given))
                .or_insert(next)
        });
        let out_cells = saturating_cells(self.domain, out.attrs()) as f64;
        let materialise = key.toward.is_none() || out_cells <= cells;
        let i = self.nodes.len();
        self.nodes.push(Node {
            reduction,
            children,
            out,
            materialise,
            cells: if materialise { out_cells } else { cells },
            depth,
        });
        self.keys.insert(key, i);
        i
    }
}

/// One use of a clique reduction: conditioned on a separator (or not) and its index.
type Use = (Option<Clique>, usize);

/// Probabilities of every query (none contained in a tree clique; attributes in range), in
/// the order given.
pub(crate) fn project_spanning(
    domain: &Domain,
    tree: &JunctionTree,
    cal: &Calibrated,
    queries: &[&Clique],
) -> Vec<Vec<f64>> {
    let mut planner = Planner::new(domain, tree);
    let centres = planner.centres(queries);
    let roots: Vec<usize> = queries
        .iter()
        .zip(centres)
        .map(|(q, at)| {
            planner.node(Key {
                attrs: (*q).clone(),
                at,
                toward: None,
            })
        })
        .collect();
    let Planner {
        nodes, reductions, ..
    } = planner;

    // Reductions: one projection plan per tree clique for all its distinct targets, then
    // each message's conditional given its separator.
    let mut by_clique: BTreeMap<usize, BTreeMap<Clique, Vec<Use>>> = BTreeMap::new();
    for ((c, attrs, given), i) in reductions {
        by_clique
            .entry(c)
            .or_default()
            .entry(attrs)
            .or_default()
            .push((given, i));
    }
    let n_red = by_clique
        .values()
        .flat_map(|t| t.values())
        .map(Vec::len)
        .sum();
    // Each reduction's scope (its table's clique), which is all the step planning reads of
    // it: the planning (sequential) runs beside the reductions' sums (parallel).
    let mut scopes = vec![Clique::new([]); n_red];
    for (attrs, uses) in by_clique.values().flat_map(|t| t.iter()) {
        for (_, i) in uses {
            scopes[*i] = attrs.clone();
        }
    }
    let reduce = || -> Vec<Vec<(usize, Table)>> {
        by_clique
            .into_par_iter()
            .map(|(c, targets)| {
                let mut offs = Vec::with_capacity(targets.len());
                let mut len = 0;
                for t in targets.keys() {
                    offs.push(len);
                    len += t.cells(domain);
                }
                let pairs: Vec<(&Clique, usize)> =
                    targets.keys().zip(offs.iter().copied()).collect();
                let plan = ProjectionPlan::new(domain, &tree.cliques()[c], &pairs);
                let mut out = vec![0.0; len];
                plan.project(cal.clique(c), &mut Vec::new(), &mut out);
                let mut tables = Vec::new();
                for ((clique, uses), o) in targets.into_iter().zip(offs) {
                    let values = &out[o..o + clique.cells(domain)];
                    for (given, i) in uses {
                        let mut f = Factor {
                            shape: clique.shape(domain),
                            clique: clique.clone(),
                            values: values.to_vec(),
                        };
                        if let Some(sep) = &given {
                            f.conditional_on(sep);
                        }
                        tables.push((
                            i,
                            Table {
                                clique: f.clique,
                                values: f.values,
                            },
                        ));
                    }
                }
                tables
            })
            .collect()
    };
    // Every materialised node's elimination as steps over reductions and earlier steps'
    // outputs; a step with the same inputs (in the same order) and output as one already
    // planned is that step (three-branch centres often share their first steps).
    let (done, steps) = rayon::join(reduce, || plan_steps(domain, &nodes, &scopes));
    let mut reduced: Vec<Option<Arc<Table>>> = vec![None; n_red];
    for (i, t) in done.into_iter().flatten() {
        reduced[i] = Some(Arc::new(t));
    }
    let reduced: Vec<Arc<Table>> = reduced
        .into_iter()
        .map(|t| t.unwrap_or_else(|| unreachable!("every reduction is planned")))
        .collect();

    let mut left = vec![0usize; steps.steps.len()];
    for step in &steps.steps {
        for input in &step.inputs {
            if let Input::Step(t) = input {
                left[*t] += 1;
            }
        }
    }
    let root_steps: Vec<usize> = roots
        .iter()
        .map(|&r| match steps.lists[r].as_slice() {
            [Input::Step(s)] => *s,
            _ => unreachable!("a centre is one materialised table"),
        })
        .collect();
    for &s in &root_steps {
        left[s] += 1;
    }
    let slots: Vec<Mutex<Slot>> = left
        .into_iter()
        .map(|left| Mutex::new(Slot { value: None, left }))
        .collect();
    let pass = Pass {
        domain,
        steps: &steps.steps,
        reduced: &reduced,
        slots: &slots,
    };

    // Messages, leaves first; a depth's nodes in parallel, each computing its elimination's
    // steps (or finding them done by another node's).
    let max_depth = nodes.iter().map(|n| n.depth).max().unwrap_or(0);
    for depth in 0..=max_depth {
        let level: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].depth == depth && nodes[i].materialise)
            .filter_map(|i| match steps.lists[i].as_slice() {
                [Input::Step(s)] => Some(*s),
                _ => None,
            })
            .collect();
        level.into_par_iter().for_each(|s| pass.ensure(s));
    }
    root_steps
        .into_iter()
        .map(|s| Arc::try_unwrap(pass.read(s)).map_or_else(|t| t.values.clone(), |t| t.values))
        .collect()
}

/// A table an elimination step reads: a clique's reduction or an earlier step's output.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Input {
    Reduction(usize),
    Step(usize),
}

/// One sum-product step of a materialised node's elimination ([`elimination_steps`]).
struct Step {
    inputs: Vec<Input>,
    out: Clique,
}

/// The distinct steps of a batch, in dependency order (a step's inputs come before it),
/// and every node's list of factors (one step's output when materialised).
struct Steps {
    steps: Vec<Step>,
    lists: Vec<Vec<Input>>,
}

/// Plans the eliminations of `nodes` (children before parents), sharing identical steps;
/// `reduced` holds each reduction's scope (the planning needs no values).
fn plan_steps(domain: &Domain, nodes: &[Node], reduced: &[Clique]) -> Steps {
    let mut steps: Vec<Step> = Vec::new();
    let mut ids: BTreeMap<(Vec<Input>, Clique), usize> = BTreeMap::new();
    let mut lists: Vec<Vec<Input>> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let mut list: Vec<Input> = node.reduction.map(Input::Reduction).into_iter().collect();
        for &child in &node.children {
            debug_assert!(child < lists.len(), "children are planned first");
            list.extend(lists[child].iter().copied());
        }
        if node.materialise {
            let scope = |i: &Input| match *i {
                Input::Reduction(r) => reduced[r].clone(),
                Input::Step(t) => steps[t].out.clone(),
            };
            let scopes = list.iter().map(scope).collect();
            for (with, out) in elimination_steps(domain, scopes, &node.out) {
                let inputs: Vec<Input> = with.iter().map(|&i| list[i]).collect();
                list = (0..list.len())
                    .filter(|i| !with.contains(i))
                    .map(|i| list[i])
                    .collect();
                let next = steps.len();
                let id = *ids.entry((inputs.clone(), out.clone())).or_insert(next);
                if id == next {
                    steps.push(Step { inputs, out });
                }
                list.push(Input::Step(id));
            }
        }
        lists.push(list);
    }
    Steps { steps, lists }
}

/// A step's output while a batch runs: computed once, dropped after its last reader.
struct Slot {
    value: Option<Arc<Table>>,
    /// Readers still to come (steps that take it, and queries it answers).
    left: usize,
}

/// The state of one batch's step computations.
struct Pass<'a> {
    domain: &'a Domain,
    steps: &'a [Step],
    reduced: &'a [Arc<Table>],
    slots: &'a [Mutex<Slot>],
}

impl Pass<'_> {
    /// Computes step `s` (with the inputs it needs) unless it is done or has no reader
    /// left. A step's lock is held while it is computed, so another thread needing it waits
    /// instead of computing it again; locks are taken from later steps to earlier ones only,
    /// and nothing inside runs on rayon, so no two threads wait on each other. Every table
    /// is the same function of the model whichever thread computes it.
    fn ensure(&self, s: usize) {
        let mut slot = self.slots[s].lock().unwrap_or_else(PoisonError::into_inner);
        if slot.value.is_none() && slot.left > 0 {
            slot.value = Some(self.compute(s));
        }
    }

    /// Step `s`'s output for one reader (computed unless done); the table is dropped after
    /// its last reader.
    fn read(&self, s: usize) -> Arc<Table> {
        let mut slot = self.slots[s].lock().unwrap_or_else(PoisonError::into_inner);
        let value = match &slot.value {
            Some(v) => Arc::clone(v),
            None => self.compute(s),
        };
        slot.left = slot.left.saturating_sub(1);
        slot.value = (slot.left > 0).then(|| Arc::clone(&value));
        value
    }

    /// Step `s` from its inputs (each read once).
    fn compute(&self, s: usize) -> Arc<Table> {
        let step = &self.steps[s];
        let inputs: Vec<Arc<Table>> = step
            .inputs
            .iter()
            .map(|i| match *i {
                Input::Reduction(r) => Arc::clone(&self.reduced[r]),
                Input::Step(t) => self.read(t),
            })
            .collect();
        let refs: Vec<&Table> = inputs.iter().map(|t| &**t).collect();
        Arc::new(sum_product(self.domain, &refs, &step.out))
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::marginal::all_k_way;
    use crate::model::{estimate, EstimationOptions, Measurement, StructuralZeros, ZeroFactor};

    use super::*;

    /// Noisy-looking measurements of `cliques`: every cell uniform in [1, `hi`).
    fn random_measurements(
        cliques: &[Clique],
        domain: &Domain,
        rng: &mut ChaCha8Rng,
        hi: f64,
    ) -> Vec<Measurement> {
        cliques
            .iter()
            .map(|c| {
                let values = (0..c.cells(domain))
                    .map(|_| rng.gen_range(1.0..hi))
                    .collect();
                Measurement::new(c.clone(), values, 1.0)
            })
            .collect()
    }

    /// `project_many`'s shared answers equal `project`'s one-query elimination (itself
    /// checked against brute force in graphical.rs) on random models, with and without
    /// structural-zero masks, for every 2-, 3- and 4-way query; and they are the same bits
    /// whatever the thread count.
    #[test]
    fn shared_answers_equal_single_query_elimination_on_random_models() {
        let mut spanning_seen = 0;
        for seed in 0..16u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let d = rng.gen_range(6..10);
            let domain =
                Domain::from_sizes((0..d).map(|_| rng.gen_range(2..5)).collect::<Vec<_>>());
            let mut cliques: Vec<Clique> = (0..d).map(|a| Clique::new([a])).collect();
            for _ in 0..rng.gen_range(d - 1..d + 3) {
                let k = rng.gen_range(2..=3);
                let mut attrs = Vec::new();
                while attrs.len() < k {
                    let a = rng.gen_range(0..d);
                    if !attrs.contains(&a) {
                        attrs.push(a);
                    }
                }
                cliques.push(Clique::new(attrs));
            }
            let ms = random_measurements(&cliques, &domain, &mut rng, 50.0);
            let mut opts = EstimationOptions {
                max_iters: 25,
                ..Default::default()
            };
            if seed % 2 == 0 {
                // A rule's mask: a random triple with about a quarter of its cells forbidden.
                let mask = Clique::new([0, d / 2, d - 1]);
                let allowed = (0..mask.cells(&domain))
                    .map(|i| i == 0 || rng.gen_bool(0.75))
                    .collect();
                let zeros = StructuralZeros::new(
                    &domain,
                    vec![ZeroFactor {
                        clique: mask,
                        allowed,
                    }],
                )
                .unwrap();
                opts.zeros = Some(Arc::new(zeros));
            }
            let (model, _) = estimate(&domain, &ms, &opts, None).unwrap();
            let mut queries: Vec<Clique> = (2..=4).flat_map(|k| all_k_way(d, k)).collect();
            queries.push(queries[3].clone());
            let many = model.project_many(&queries);
            // The same bits on one thread and on several (the centres and the step
            // planning run beside other work).
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| model.project_many(&queries))
            };
            for other in [on(1), on(3)] {
                for (a, b) in many.iter().zip(&other) {
                    assert!(a
                        .values
                        .iter()
                        .zip(&b.values)
                        .all(|(x, y)| x.to_bits() == y.to_bits()));
                }
            }
            for (q, got) in queries.iter().zip(&many) {
                if model.junction_tree().containing(&domain, q).is_none() {
                    spanning_seen += 1;
                }
                assert_eq!(&got.clique, q);
                let want = model.project(q);
                for (a, b) in got.values.iter().zip(&want.values) {
                    assert!(
                        (a - b).abs() <= 1e-10 * model.total(),
                        "seed {seed} {q:?}: {a} vs {b}"
                    );
                }
            }
        }
        assert!(spanning_seen > 500, "only {spanning_seen} spanning queries");
    }

    /// A chain of large cliques with small cliques hanging off it, so that queries between
    /// the hanging attributes route through cliques their messages pass unchanged, through
    /// messages on a part of a separator, and through lazy messages (larger than their
    /// factors): the answers still equal `project`'s elimination, and the plan uses all three.
    /// (A clique passed through by several branches at once, `reduction: None`, needs a
    /// centre that sees two of a query's attributes in one branch; this model has none, so
    /// that case is checked only by the random models' equality test above, if they reach it.)
    #[test]
    fn pass_through_and_lazy_messages_equal_single_query_elimination() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Chain 0..6 over pairs of shared attributes; leaves 6..12 (two-deep on 0 and 5).
        let sizes = [3, 4, 3, 4, 3, 4, 9, 8, 2, 7, 3, 6];
        let domain = Domain::from_sizes(sizes.to_vec());
        let cliques: Vec<Clique> = [
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 5],
            vec![0, 6],
            vec![6, 7],
            vec![2, 8],
            vec![8, 9],
            vec![5, 10],
            vec![10, 11],
        ]
        .into_iter()
        .map(Clique::new)
        .collect();
        let ms = random_measurements(&cliques, &domain, &mut rng, 80.0);
        let opts = EstimationOptions {
            max_iters: 40,
            ..Default::default()
        };
        let (model, _) = estimate(&domain, &ms, &opts, None).unwrap();
        let tree = model.junction_tree();
        let queries: Vec<Clique> = (2..=4)
            .flat_map(|k| all_k_way(domain.len(), k))
            .filter(|q| tree.containing(&domain, q).is_none())
            .collect();
        assert!(queries.len() > 150, "{} spanning queries", queries.len());

        let mut planner = Planner::new(&domain, tree);
        let refs: Vec<&Clique> = queries.iter().collect();
        for (q, at) in queries.iter().zip(planner.centres(&refs)) {
            planner.node(Key {
                attrs: q.clone(),
                at,
                toward: None,
            });
        }
        let lazy = planner.nodes.iter().filter(|n| !n.materialise).count();
        let partial = planner
            .deps
            .iter()
            .filter(|(k, d)| k.toward.is_some_and(|t| *d != &planner.separator(k.at, t)))
            .count();
        // A message passed through unchanged is one node under two keys.
        let mut seen = std::collections::BTreeSet::new();
        let passed = planner.keys.values().filter(|&&i| !seen.insert(i)).count();
        assert!(passed > 0, "no message passed through a clique");
        assert!(lazy > 0, "no lazy message");
        assert!(partial > 0, "no message on part of its separator");

        let many = model.project_many(&queries);
        for (q, got) in queries.iter().zip(&many) {
            let want = model.project(q);
            for (a, b) in got.values.iter().zip(&want.values) {
                assert!((a - b).abs() <= 1e-10 * model.total(), "{q:?}: {a} vs {b}");
            }
        }
    }
}
