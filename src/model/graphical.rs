//! The fitted graphical model: junction tree, log-potentials, estimated total and the
//! noisy measurements it was fitted to. Everything a later `dpsynth sample` needs, and
//! nothing computed from rows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::eliminate::{eliminate, Table};
use super::factor::Factor;
use super::inference::{Engine, Workspace};
use super::junction::JunctionTree;
use super::layout::SubsetLayout;
use super::plan::ProjectionPlan;
use super::{Measurement, ModelError};
use crate::marginal::{Clique, Domain, MarginalTable};

/// Largest marginal [`GraphicalModel::try_project`] materialises (cells).
pub const MAX_QUERY_CELLS: usize = 1 << 28;

/// Format tag written into every serialised model.
pub const MODEL_FORMAT: &str = "dpsynth-model/1";

/// Calibrated marginals (probabilities) of every tree clique, computed once per model.
#[derive(Debug)]
pub(crate) struct Calibrated {
    pub(crate) engine: Engine,
    /// Clique vector of probabilities (each clique sums to one).
    pub(crate) probs: Vec<f64>,
}

impl Calibrated {
    pub(crate) fn clique(&self, c: usize) -> &[f64] {
        &self.probs[self.engine.range(c)]
    }
}

/// A graphical model in junction-tree form: `p(x) ∝ exp(sum_C theta_C(x_C))` over the
/// maximal cliques `C`, scaled to an estimated number of records.
///
/// Serialises (serde, e.g. JSON) to its domain, tree, log-potentials, total and
/// measurements; deserialising validates all of it, so a model file from anywhere either
/// loads into a usable model or fails with a typed error.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "ModelFile", into = "ModelFile")]
pub struct GraphicalModel {
    domain: Domain,
    tree: JunctionTree,
    /// Log-potentials, one table per tree clique (row-major over the clique).
    potentials: Vec<Vec<f64>>,
    total: f64,
    measurements: Vec<Measurement>,
    calibrated: OnceLock<Arc<Calibrated>>,
}

impl std::fmt::Debug for GraphicalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphicalModel")
            .field("attributes", &self.domain.len())
            .field("cliques", &self.tree.cliques())
            .field("size_cells", &self.size_cells())
            .field("total", &self.total)
            .field("measurements", &self.measurements.len())
            .finish()
    }
}

impl GraphicalModel {
    /// Assembles a model from its log-potentials, one table per tree clique (`potentials`,
    /// in the engine's clique order); `probs`, when given, are their calibrated marginals
    /// (the estimator has them already, so queries need no new calibration).
    pub(crate) fn from_parts(
        domain: Domain,
        engine: Engine,
        potentials: Vec<Vec<f64>>,
        total: f64,
        measurements: Vec<Measurement>,
        probs: Option<Vec<f64>>,
    ) -> Self {
        debug_assert_eq!(potentials.len(), engine.tree.cliques().len());
        let tree = engine.tree.clone();
        let calibrated = OnceLock::new();
        if let Some(probs) = probs {
            let _ = calibrated.set(Arc::new(Calibrated { engine, probs }));
        }
        GraphicalModel {
            domain,
            tree,
            potentials,
            total,
            measurements,
            calibrated,
        }
    }

    /// The same model with its probabilities calibrated afresh from its potentials, in
    /// double precision, on first use: bit for bit what a model read from a file computes,
    /// so a released model samples the records its file samples. A fit hands its model the
    /// marginals of its last calibration, which differ from these in the last digits (in
    /// single precision, `EstimationOptions::single_precision`, in about the seventh).
    pub fn recalibrated(self) -> Self {
        GraphicalModel {
            calibrated: OnceLock::new(),
            ..self
        }
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The model's large tables, for a fit to reuse their memory (`super::Estimator::recycle`):
    /// its potentials, and its calibrated marginals unless a clone of the model still shares
    /// them.
    pub(crate) fn into_tables(self) -> (Vec<Vec<f64>>, Option<Vec<f64>>) {
        let probs = self
            .calibrated
            .into_inner()
            .and_then(|c| Arc::try_unwrap(c).ok())
            .map(|c| c.probs);
        (self.potentials, probs)
    }

    /// Estimated number of records (inverse-variance weighted from the noisy measurements).
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Maximal cliques of the junction tree.
    pub fn cliques(&self) -> &[Clique] {
        self.tree.cliques()
    }

    pub fn junction_tree(&self) -> &JunctionTree {
        &self.tree
    }

    /// Sum of cells over the maximal cliques: the memory the potentials take, in f64s.
    pub fn size_cells(&self) -> usize {
        self.tree.size_cells(&self.domain)
    }

    /// The noisy measurements the model was fitted to.
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }

    /// Log-potentials of every tree clique.
    pub fn potentials(&self) -> Vec<Factor> {
        self.tree
            .cliques()
            .iter()
            .zip(&self.potentials)
            .map(|(c, v)| Factor {
                clique: c.clone(),
                shape: c.shape(&self.domain),
                values: v.clone(),
            })
            .collect()
    }

    pub(crate) fn raw_potentials(&self) -> &[Vec<f64>] {
        &self.potentials
    }

    /// Calibrated marginals of the tree cliques, computed by belief propagation on first use.
    pub(crate) fn calibrated(&self) -> &Calibrated {
        self.calibrated.get_or_init(|| {
            let engine = Engine::new(&self.domain, self.tree.clone());
            let theta: Vec<f64> = self.potentials.concat();
            let mut probs = vec![0.0; theta.len()];
            engine.calibrate(&theta, 1.0, &mut Workspace::default(), &mut probs);
            Arc::new(Calibrated { engine, probs })
        })
    }

    /// Model marginals (counts, each summing to the total) of every maximal clique.
    pub fn clique_marginals(&self) -> Vec<MarginalTable> {
        let cal = self.calibrated();
        (0..self.tree.cliques().len())
            .map(|c| {
                let clique = self.tree.cliques()[c].clone();
                let shape = clique.shape(&self.domain);
                let values = cal.clique(c).iter().map(|p| p * self.total).collect();
                MarginalTable {
                    clique,
                    shape,
                    values,
                }
            })
            .collect()
    }

    /// The model's marginal on any clique, in counts (sums to [`Self::total`]).
    ///
    /// A clique inside a tree clique is a sum over that clique's calibrated marginal; one
    /// spanning several tree cliques is answered by variable elimination over the smallest
    /// subtree that covers it, using the calibrated conditionals.
    ///
    /// Panics if the clique names an attribute outside the domain or has more than
    /// [`MAX_QUERY_CELLS`] cells (programming errors; [`Self::try_project`] returns them as
    /// errors instead).
    pub fn project(&self, clique: &Clique) -> MarginalTable {
        match self.try_project(clique) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Self::project`] with an error for attributes outside the domain or a table too
    /// large to allocate.
    pub fn try_project(&self, clique: &Clique) -> Result<MarginalTable, ModelError> {
        if let Some(&a) = clique.attrs().iter().find(|&&a| a >= self.domain.len()) {
            return Err(ModelError::AttributeOutOfRange {
                attr: a,
                attrs: self.domain.len(),
            });
        }
        let cells = super::junction::saturating_cells(&self.domain, clique.attrs());
        if cells > MAX_QUERY_CELLS {
            return Err(ModelError::TooLarge {
                cells,
                cap: MAX_QUERY_CELLS,
            });
        }
        let probs = self.project_probabilities(clique);
        Ok(MarginalTable {
            clique: clique.clone(),
            shape: clique.shape(&self.domain),
            values: probs.values.into_iter().map(|p| p * self.total).collect(),
        })
    }

    /// Many model marginals at once, in parallel (AIM scores hundreds of candidates per
    /// round against one model). Order follows `cliques`.
    ///
    /// Queries inside the same tree clique share one projection plan (intermediate
    /// marginals summed once); the others share messages and clique reductions
    /// (model/spanning.rs), equal to [`Self::project`]'s answers up to rounding. Tree
    /// cliques and messages are spread over rayon's threads.
    pub fn project_many(&self, cliques: &[Clique]) -> Vec<MarginalTable> {
        let cal = self.calibrated();
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut spanning = Vec::new();
        for (i, q) in cliques.iter().enumerate() {
            let in_range = q.attrs().iter().all(|&a| a < self.domain.len());
            match in_range
                .then(|| self.tree.containing(&self.domain, q))
                .flatten()
            {
                Some(c) => groups.entry(c).or_default().push(i),
                None => spanning.push(i),
            }
        }
        let grouped: Vec<(usize, MarginalTable)> = groups
            .into_par_iter()
            .flat_map_iter(|(c, idx)| {
                let mut offs = Vec::with_capacity(idx.len());
                let mut len = 0;
                for &i in &idx {
                    offs.push(len);
                    len += cliques[i].cells(&self.domain);
                }
                let targets: Vec<(&Clique, usize)> = idx
                    .iter()
                    .map(|&i| &cliques[i])
                    .zip(offs.iter().copied())
                    .collect();
                let plan = ProjectionPlan::new(&self.domain, &self.tree.cliques()[c], &targets);
                let mut out = vec![0.0; len];
                plan.project(cal.clique(c), &mut Vec::new(), &mut out);
                idx.into_iter()
                    .zip(offs)
                    .map(|(i, o)| {
                        let q = &cliques[i];
                        let n = q.cells(&self.domain);
                        let values = out[o..o + n].iter().map(|p| p * self.total).collect();
                        (
                            i,
                            MarginalTable {
                                clique: q.clone(),
                                shape: q.shape(&self.domain),
                                values,
                            },
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // Spanning queries with attributes in range share messages and reductions
        // (model/spanning.rs); any other query takes `project`'s path (and its error).
        let (shared, single): (Vec<usize>, Vec<usize>) = spanning.into_iter().partition(|&i| {
            let q = cliques[i].attrs();
            q.iter().all(|&a| a < self.domain.len())
                && super::junction::saturating_cells(&self.domain, q) <= MAX_QUERY_CELLS
        });
        let queries: Vec<&Clique> = shared.iter().map(|&i| &cliques[i]).collect();
        let probs = super::spanning::project_spanning(&self.domain, &self.tree, cal, &queries);
        let mut spanned: Vec<(usize, MarginalTable)> = shared
            .into_iter()
            .zip(probs)
            .map(|(i, p)| {
                let q = &cliques[i];
                let values = p.into_iter().map(|p| p * self.total).collect();
                (
                    i,
                    MarginalTable {
                        clique: q.clone(),
                        shape: q.shape(&self.domain),
                        values,
                    },
                )
            })
            .collect();
        spanned.extend(
            single
                .into_par_iter()
                .map(|i| (i, self.project(&cliques[i])))
                .collect::<Vec<_>>(),
        );
        let mut out: Vec<Option<MarginalTable>> = vec![None; cliques.len()];
        for (i, t) in grouped.into_iter().chain(spanned) {
            out[i] = Some(t);
        }
        out.into_iter()
            .map(|t| t.unwrap_or_else(|| unreachable!("every query is answered")))
            .collect()
    }

    /// Probabilities over `clique` (attributes already checked).
    fn project_probabilities(&self, clique: &Clique) -> Factor {
        let cal = self.calibrated();
        let tree = &self.tree;
        let shape = clique.shape(&self.domain);
        if let Some(c) = tree.containing(&self.domain, clique) {
            let layout = SubsetLayout::for_attrs(
                tree.cliques()[c].attrs(),
                &cal.engine.shapes[c],
                clique.attrs(),
            );
            let mut values = vec![0.0; layout.small_cells()];
            layout.sum_into(cal.clique(c), &mut values);
            return Factor {
                clique: clique.clone(),
                shape,
                values,
            };
        }
        self.eliminate_over_subtree(cal, clique)
    }

    /// Variable elimination for a clique no tree clique contains. On a connected subtree
    /// of a junction tree the joint of its attributes is one clique's marginal times every
    /// other clique's conditional given its separator towards that clique. Each clique of
    /// the smallest subtree covering the query is first reduced (one pass over its
    /// calibrated marginal) to the attributes it shares with the query or its neighbours,
    /// then everything but the query is eliminated greedily with a fused sum-product.
    fn eliminate_over_subtree(&self, cal: &Calibrated, query: &Clique) -> Factor {
        let tree = &self.tree;
        let k = tree.cliques().len();
        // Terminals: for each queried attribute the smallest clique holding it.
        let mut terminals = BTreeSet::new();
        for &a in query.attrs() {
            if let Some(c) = tree.containing(&self.domain, &Clique::new([a])) {
                terminals.insert(c);
            }
        }
        // Steiner subtree: prune non-terminal leaves until none is left.
        let mut adj: Vec<BTreeSet<usize>> = tree
            .neighbours()
            .into_iter()
            .map(BTreeSet::from_iter)
            .collect();
        let mut alive = vec![true; k];
        loop {
            let leaves: Vec<usize> = (0..k)
                .filter(|&c| alive[c] && !terminals.contains(&c) && adj[c].len() <= 1)
                .collect();
            if leaves.is_empty() {
                break;
            }
            for c in leaves {
                alive[c] = false;
                let nb: Vec<usize> = adj[c].iter().copied().collect();
                for n in nb {
                    adj[n].remove(&c);
                }
                adj[c].clear();
            }
        }
        let root = terminals
            .iter()
            .next()
            .copied()
            .unwrap_or_else(|| tree.root());
        let mut order = vec![root];
        let mut sub_parent: BTreeMap<usize, usize> = BTreeMap::new();
        let mut i = 0;
        while i < order.len() {
            let c = order[i];
            for &n in &adj[c] {
                if n != root && !sub_parent.contains_key(&n) {
                    sub_parent.insert(n, c);
                    order.push(n);
                }
            }
            i += 1;
        }
        let mut factors = Vec::with_capacity(order.len());
        for &c in &order {
            let cl = &tree.cliques()[c];
            // What this clique shares with the query and its subtree neighbours.
            let mut needed = cl.intersection(query);
            for &n in &adj[c] {
                needed = needed.union(&cl.intersection(&tree.cliques()[n]));
            }
            let layout = SubsetLayout::for_attrs(cl.attrs(), &cal.engine.shapes[c], needed.attrs());
            let mut values = vec![0.0; layout.small_cells()];
            layout.sum_into(cal.clique(c), &mut values);
            let mut f = Factor {
                shape: needed.shape(&self.domain),
                clique: needed,
                values,
            };
            if let Some(&p) = sub_parent.get(&c) {
                // A marginal of the clique's conditional is the conditional of its marginal.
                f.conditional_on(&cl.intersection(&tree.cliques()[p]));
            }
            factors.push(std::borrow::Cow::Owned(Table {
                clique: f.clique,
                values: f.values,
            }));
        }
        let t = eliminate(&self.domain, factors, query);
        Factor {
            shape: query.shape(&self.domain),
            clique: t.clique,
            values: t.values,
        }
    }
}

/// The serialised form of a [`GraphicalModel`].
#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    domain: Domain,
    cliques: Vec<Clique>,
    parents: Vec<Option<usize>>,
    potentials: Vec<Vec<f64>>,
    total: f64,
    measurements: Vec<Measurement>,
}

impl From<GraphicalModel> for ModelFile {
    fn from(m: GraphicalModel) -> Self {
        ModelFile {
            format: MODEL_FORMAT.to_string(),
            cliques: m.tree.cliques().to_vec(),
            parents: m.tree.parents().to_vec(),
            domain: m.domain,
            potentials: m.potentials,
            total: m.total,
            measurements: m.measurements,
        }
    }
}

impl TryFrom<ModelFile> for GraphicalModel {
    type Error = ModelError;

    fn try_from(f: ModelFile) -> Result<Self, ModelError> {
        let bad = |msg: String| Err(ModelError::InvalidModel(msg));
        if f.format != MODEL_FORMAT {
            return bad(format!(
                "unknown format {:?} (expected {MODEL_FORMAT:?})",
                f.format
            ));
        }
        let d = &f.domain;
        if d.names().len() != d.sizes().len() || d.sizes().contains(&0) {
            return bad("domain needs one positive size per attribute".into());
        }
        for c in &f.cliques {
            if Clique::new(c.attrs().iter().copied()) != *c {
                return bad(format!("clique {c:?} is not sorted and duplicate-free"));
            }
            if let Some(&a) = c.attrs().iter().find(|&&a| a >= d.len()) {
                return Err(ModelError::AttributeOutOfRange {
                    attr: a,
                    attrs: d.len(),
                });
            }
        }
        if let Some(a) = (0..d.len()).find(|&a| !f.cliques.iter().any(|c| c.contains(a))) {
            return bad(format!("attribute {a} is in no clique"));
        }
        let Some(tree) = JunctionTree::from_parts(f.cliques, f.parents) else {
            return bad("parents do not form a single tree over the cliques".into());
        };
        if !tree.has_running_intersection(d.len()) {
            return bad("cliques violate the running-intersection property".into());
        }
        if f.potentials.len() != tree.cliques().len() {
            return bad("one potential table per clique".into());
        }
        for (c, p) in tree.cliques().iter().zip(&f.potentials) {
            let cells = super::junction::saturating_cells(d, c.attrs());
            if p.len() != cells {
                return Err(ModelError::ShapeMismatch {
                    clique: c.clone(),
                    expected: cells,
                    got: p.len(),
                });
            }
            if p.iter().any(|v| !v.is_finite()) {
                return bad(format!("non-finite log-potential in clique {c:?}"));
            }
        }
        if !(f.total.is_finite() && f.total > 0.0) {
            return bad(format!("total {} is not a positive number", f.total));
        }
        super::validate_measurements(d, &f.measurements)?;
        Ok(GraphicalModel {
            domain: f.domain,
            tree,
            potentials: f.potentials,
            total: f.total,
            measurements: f.measurements,
            calibrated: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{estimate, EstimationOptions};

    /// Brute-force marginal of `clique` from the potentials over the full joint.
    fn brute(model: &GraphicalModel, clique: &Clique) -> Vec<f64> {
        let sizes = model.domain().sizes().to_vec();
        let cells: usize = sizes.iter().product();
        let pots = model.potentials();
        let mut logp = vec![0.0; cells];
        let decode = |mut x: usize| {
            let mut code = vec![0usize; sizes.len()];
            for a in (0..sizes.len()).rev() {
                code[a] = x % sizes[a];
                x /= sizes[a];
            }
            code
        };
        let index =
            |code: &[usize], c: &Clique| c.attrs().iter().fold(0, |i, &a| i * sizes[a] + code[a]);
        for (x, lp) in logp.iter_mut().enumerate() {
            let code = decode(x);
            *lp = pots.iter().map(|f| f.values[index(&code, &f.clique)]).sum();
        }
        let z = crate::model::inference::logsumexp(&logp);
        let mut out = vec![0.0; clique.cells(model.domain())];
        for (x, lp) in logp.iter().enumerate() {
            out[index(&decode(x), clique)] += (lp - z).exp() * model.total();
        }
        out
    }

    #[test]
    fn project_matches_brute_force_on_every_small_clique() {
        let domain = Domain::from_sizes(vec![2, 3, 2, 3, 2, 2, 3]);
        // A chain with a triangle and a 4-cycle, so some queries span several tree cliques.
        let cl = [
            vec![0, 1],
            vec![1, 2],
            vec![0, 2],
            vec![2, 3],
            vec![3, 4],
            vec![4, 5],
            vec![5, 2],
            vec![6],
        ];
        let ms: Vec<Measurement> = cl
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = Clique::new(c.iter().copied());
                let n = c.cells(&domain);
                let values = (0..n)
                    .map(|j| 10.0 + ((i * 31 + j * 17) % 23) as f64)
                    .collect();
                Measurement::new(c, values, 1.0)
            })
            .collect();
        let opts = EstimationOptions {
            max_iters: 30,
            ..Default::default()
        };
        let (model, _) = estimate(&domain, &ms, &opts, None).unwrap();
        assert!(model.cliques().len() >= 3);
        let mut spanning = 0;
        for k in 0..=4 {
            for q in crate::marginal::all_k_way(domain.len(), k) {
                if model.junction_tree().containing(&domain, &q).is_none() {
                    spanning += 1;
                }
                let got = model.project(&q);
                assert!((got.total() - model.total()).abs() < 1e-9 * model.total());
                for (a, b) in got.values.iter().zip(brute(&model, &q)) {
                    assert!((a - b).abs() < 1e-9 * model.total(), "{q:?}: {a} vs {b}");
                }
            }
        }
        assert!(spanning > 20, "only {spanning} spanning queries");
        let mut queries = crate::marginal::all_k_way(domain.len(), 3);
        queries.extend(crate::marginal::all_k_way(domain.len(), 2));
        queries.push(Clique::empty());
        let many = model.project_many(&queries);
        assert_eq!(many.len(), queries.len());
        for (q, t) in queries.iter().zip(&many) {
            assert_eq!(&t.clique, q);
            for (a, b) in t.values.iter().zip(brute(&model, q)) {
                assert!((a - b).abs() < 1e-9 * model.total(), "{q:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn bad_model_files_are_errors() {
        let domain = Domain::from_sizes(vec![2, 3, 2]);
        let ms = vec![Measurement::new(Clique::new([0, 1]), vec![1.0; 6], 1.0)];
        let (model, _) = estimate(&domain, &ms, &EstimationOptions::default(), None).unwrap();
        let good: serde_json::Value = serde_json::to_value(&model).unwrap();
        assert!(serde_json::from_value::<GraphicalModel>(good.clone()).is_ok());
        let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::from_value::<GraphicalModel>(v)
        };
        assert!(mutate(&|v| v["format"] = "other/9".into()).is_err());
        assert!(mutate(&|v| v["potentials"][0] = serde_json::json!([0.0])).is_err());
        assert!(mutate(&|v| v["cliques"][0] = serde_json::json!([1, 0])).is_err());
        assert!(mutate(&|v| v["cliques"][0] = serde_json::json!([0, 7])).is_err());
        assert!(mutate(&|v| v["parents"] = serde_json::json!([null, null])).is_err());
        assert!(mutate(&|v| v["parents"] = serde_json::json!([1, 0])).is_err());
        assert!(mutate(&|v| v["total"] = serde_json::json!(-3.0)).is_err());
        assert!(mutate(&|v| v["measurements"][0]["sigma"] = serde_json::json!(0.0)).is_err());
        assert!(mutate(&|v| v["domain"]["sizes"] = serde_json::json!([2, 3])).is_err());
    }
}
