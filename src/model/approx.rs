//! Estimation with approximate inference (relaxed marginal consistency; McKenna, Pradhan,
//! Sheldon, Miklau, NeurIPS 2021) for measurement sets whose junction tree is too large.
//!
//! The objective is the one [`super::estimate`] minimises, `sum_C ||M_C(mu) - y_C||^2 /
//! sigma_C^2` with the total from [`super::estimate_total`], but over the *local polytope* of
//! a factor graph whose factors are the maximal measured cliques: `mu` is a set of
//! pseudo-marginals, one table per factor, that agree on every shared attribute. The same
//! optimisers run (accelerated entropic mirror descent by default, with the IPF warm-up),
//! with convex belief propagation (`convex_bp.rs`) as the marginal oracle in place of the
//! junction tree. Memory is the size of the measured tables, not of the triangulated model:
//! all 36 two-way marginals of titanic take 7,867 cells here against 89,159,616 exactly.
//!
//! What the result is, and is not: the pseudo-marginals are *locally* consistent (two
//! factors sharing an attribute give it the same marginal), but on a graph with cycles they
//! need not be the marginals of any joint distribution. A measured clique's marginal (and
//! any of its subsets') is read from the pseudo-marginal of the smallest factor holding it;
//! factors sharing two or more attributes agree on each attribute alone, not necessarily on
//! their joint. Cliques inside no factor are not answered
//! ([`super::ModelError::NotInModel`]).
//!
//! Records are drawn by Gibbs sampling (`gibbs.rs`) from the fitted potentials,
//! `p(x) ∝ exp(sum_F theta_F(x_F))`. On an acyclic factor graph that distribution's
//! marginals are the pseudo-marginals. On a loopy one they are not: at the oracle's fixed
//! point `sum_F theta_F = sum_F c_F log mu_F + sum_i c_i log mu_i`, and with the small
//! counting numbers of a dense graph (1/8 on titanic's complete graph) that is a weak
//! pull towards the pseudo-marginals. Measured on titanic's 36 pairs, 50,000 records:
//! the records' pair marginals are at mean L1 0.24 from the pseudo-marginals (independent
//! attributes: 0.25), and the Bethe form `prod_F mu_F / prod_i mu_i^(d_i - 1)` is far worse
//! (1.74: its `mu_i^-7` terms favour rare values). So before the final draw the potentials
//! are recalibrated by stochastic IPF against the pseudo-marginals ([`GibbsOptions`]),
//! which brings the mean L1 to about 0.04 (`tests/model_approx.rs` prints the numbers).
//! The records can only match pseudo-marginals that some distribution has; locally
//! consistent tables with no joint distribution behind them cannot be reproduced.

use super::convex_bp::{maximal_factors, BpOptions, BpReport, BpWorkspace, FactorGraph};
use super::estimate::{self, InferenceOracle};
use super::gibbs::{gibbs, GibbsOptions};
use super::layout::{strides, SubsetLayout};
use super::{
    estimate_total, validate_measurements, EstimationOptions, EstimationReport, Measurement,
    ModelError, Optimizer,
};
use crate::marginal::{Clique, Domain, MarginalTable};

/// Knobs of [`estimate_approximate`]: the optimiser's and the oracle's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApproximateOptions {
    /// As for exact estimation; `max_cells` caps the factor graph (the sum of the factors'
    /// cells).
    pub estimation: EstimationOptions,
    pub bp: BpOptions,
}

/// A model fitted with approximate inference: factor potentials, pseudo-marginals of every
/// factor and attribute, the estimated total and the measurements. See the module docs for
/// what pseudo-marginals guarantee.
#[derive(Clone, Debug)]
pub struct ApproxModel {
    domain: Domain,
    graph: FactorGraph,
    theta: Vec<f64>,
    /// Pseudo-marginals (probabilities) of the factors, a clique vector.
    probs: Vec<f64>,
    /// Beliefs (probabilities) of every attribute.
    var_probs: Vec<Vec<f64>>,
    total: f64,
    measurements: Vec<Measurement>,
    bp: BpReport,
}

/// Fits a model to noisy marginals over the local polytope (see the module docs).
///
/// With `warm_start`, the potentials start from the previous model's pseudo-marginals:
/// each new factor takes the old answer where the old model has one, the product of the
/// old attribute beliefs otherwise; the IPF warm-up is skipped.
pub fn estimate_approximate(
    domain: &Domain,
    measurements: &[Measurement],
    opts: &ApproximateOptions,
    warm_start: Option<&ApproxModel>,
) -> Result<(ApproxModel, EstimationReport), ModelError> {
    validate_measurements(domain, measurements)?;
    let cliques: Vec<Clique> = measurements.iter().map(|m| m.clique.clone()).collect();
    let factors = maximal_factors(domain.len(), &cliques);
    let cells = factors
        .iter()
        .map(|f| super::junction::saturating_cells(domain, f.attrs()))
        .fold(0usize, usize::saturating_add);
    if cells > opts.estimation.max_cells {
        return Err(ModelError::TooLarge {
            cells,
            cap: opts.estimation.max_cells,
        });
    }
    let graph = FactorGraph::new(domain, factors, opts.bp.clone());
    if let Some(m) = measurements
        .iter()
        .find(|m| graph.containing(domain, &m.clique).is_none())
    {
        // Only possible for the empty clique over an empty domain.
        return Err(ModelError::NotInModel {
            clique: m.clique.clone(),
        });
    }
    let total = estimate_total(domain, measurements);
    let mut theta = vec![0.0; cells];
    let mut est_opts = opts.estimation.clone();
    if let Some(old) = warm_start {
        if old.domain() != domain {
            return Err(ModelError::WarmStartDomain);
        }
        warm_potentials(domain, &graph, old, &mut theta);
        est_opts.ipf_sweeps = 0;
    }
    let objective = estimate::Objective::new(&graph, domain, measurements);
    let mut mu = vec![0.0; cells];
    let report = match est_opts.optimizer {
        Optimizer::MirrorDescent => {
            estimate::mirror_descent(&graph, &objective, total, &mut theta, &mut mu, &est_opts)
        }
        Optimizer::Accelerated => {
            estimate::accelerated(&graph, &objective, total, &mut theta, &mut mu, &est_opts)
        }
    };
    // One more oracle call for the attribute beliefs of the returned potentials (warm, so
    // a sweep or two); `mu` is recomputed with them.
    let mut ws = BpWorkspace::default();
    let (_, var_probs) = graph.marginals_with_variables(&theta, 1.0, &mut ws, &mut mu);
    let bp = graph.report();
    Ok((
        ApproxModel {
            domain: domain.clone(),
            graph,
            theta,
            probs: mu,
            var_probs,
            total,
            measurements: measurements.to_vec(),
            bp,
        },
        report,
    ))
}

/// Starting potentials from a previous approximate model (see [`estimate_approximate`]).
fn warm_potentials(domain: &Domain, graph: &FactorGraph, old: &ApproxModel, theta: &mut [f64]) {
    let mut x = vec![0.0; graph.total_cells()];
    for (f, factor) in graph.factors().iter().enumerate() {
        let r = graph.range(f);
        match old.project(factor) {
            Ok(t) => x[r].copy_from_slice(&t.values),
            Err(_) => {
                // Independent attributes: the product of the old beliefs.
                let shape = factor.shape(domain);
                x[r.clone()].fill(1.0);
                for &a in factor.attrs() {
                    let layout = SubsetLayout::for_attrs(factor.attrs(), &shape, &[a]);
                    layout.mul_expanded(&mut x[r.clone()], &old.var_probs[a]);
                }
            }
        }
    }
    graph.potentials_for(&x, theta);
}

impl ApproxModel {
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Estimated number of records (inverse-variance weighted from the measurements).
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The factors: maximal measured cliques, and singletons of unmeasured attributes.
    pub fn factors(&self) -> &[Clique] {
        self.graph.factors()
    }

    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }

    /// Sum of cells over the factors.
    pub fn size_cells(&self) -> usize {
        self.graph.total_cells()
    }

    /// Whether inference was exact: an acyclic factor graph, where the oracle uses the
    /// Bethe counting numbers and pseudo-marginals are true marginals.
    pub fn is_exact(&self) -> bool {
        self.graph.is_exact()
    }

    /// The oracle's counting numbers: one per factor, then one per attribute (see
    /// `convex_bp.rs` for how they are chosen).
    pub fn counting_numbers(&self) -> (&[f64], &[f64]) {
        self.graph.counting_numbers()
    }

    /// What belief propagation did during the fit (all oracle calls).
    pub fn bp_report(&self) -> BpReport {
        self.bp
    }

    /// The fitted log-potentials of every factor.
    pub fn potentials(&self) -> Vec<MarginalTable> {
        self.tables(&self.theta, 1.0)
    }

    /// Pseudo-marginals of every factor, scaled to the total.
    pub fn pseudo_marginals(&self) -> Vec<MarginalTable> {
        self.tables(&self.probs, self.total)
    }

    fn tables(&self, v: &[f64], scale: f64) -> Vec<MarginalTable> {
        self.graph
            .factors()
            .iter()
            .enumerate()
            .map(|(f, c)| MarginalTable {
                clique: c.clone(),
                shape: c.shape(&self.domain),
                values: v[self.graph.range(f)].iter().map(|x| x * scale).collect(),
            })
            .collect()
    }

    /// The model's marginal on `clique`, scaled to the total: from the smallest factor
    /// holding it, or from an attribute's belief for a single attribute. Cliques inside no
    /// factor are [`ModelError::NotInModel`]; attributes outside the domain are
    /// [`ModelError::AttributeOutOfRange`].
    pub fn project(&self, clique: &Clique) -> Result<MarginalTable, ModelError> {
        if let Some(&a) = clique.attrs().iter().find(|&&a| a >= self.domain.len()) {
            return Err(ModelError::AttributeOutOfRange {
                attr: a,
                attrs: self.domain.len(),
            });
        }
        if let [a] = clique.attrs() {
            return Ok(MarginalTable {
                clique: clique.clone(),
                shape: vec![self.domain.size(*a)],
                values: self.var_probs[*a].iter().map(|p| p * self.total).collect(),
            });
        }
        let f =
            self.graph
                .containing(&self.domain, clique)
                .ok_or_else(|| ModelError::NotInModel {
                    clique: clique.clone(),
                })?;
        let factor = &self.graph.factors()[f];
        let layout =
            SubsetLayout::for_attrs(factor.attrs(), &factor.shape(&self.domain), clique.attrs());
        let mut values = vec![0.0; layout.small_cells()];
        layout.sum_into(&self.probs[self.graph.range(f)], &mut values);
        values.iter_mut().for_each(|v| *v *= self.total);
        Ok(MarginalTable {
            clique: clique.clone(),
            shape: clique.shape(&self.domain),
            values,
        })
    }

    /// Draws `rows` records (column-major codes) by Gibbs sampling from the fitted
    /// potentials, first recalibrated against the pseudo-marginals on a graph with cycles
    /// (see the module docs and [`GibbsOptions`]); equal seeds and options give equal
    /// records.
    pub fn sample_gibbs(&self, rows: usize, seed: u64, opts: &GibbsOptions) -> Vec<Vec<u32>> {
        let phi = self.sampling_potentials(seed, opts);
        self.gibbs_with(&phi, rows, seed, opts)
    }

    fn gibbs_with(
        &self,
        phi: &[f64],
        rows: usize,
        seed: u64,
        opts: &GibbsOptions,
    ) -> Vec<Vec<u32>> {
        gibbs(
            self.domain.sizes(),
            self.graph.factors(),
            self.graph.offsets(),
            phi,
            &self.var_probs,
            rows,
            seed,
            opts,
        )
    }

    /// The fitted potentials `theta`, then (loopy graphs only) `opts.calibration_rounds`
    /// rounds of stochastic IPF: draw `opts.calibration_records` records, and move every
    /// factor's potential by `opts.calibration_step * c_F * (log mu_F - log p_F)`, with
    /// `p_F` the records' marginal (both smoothed by half a record). Scaling by the counting
    /// number keeps the summed correction on an attribute below `calibration_step` (the
    /// `c_F` of the factors holding it sum to at most one), where plain IPF steps on all
    /// factors at once overshoot by the attribute's degree.
    fn sampling_potentials(&self, seed: u64, opts: &GibbsOptions) -> Vec<f64> {
        let mut phi = self.theta.clone();
        if self.is_exact() || opts.calibration_records == 0 {
            return phi;
        }
        let n = opts.calibration_records;
        let eps = 0.5 / n as f64;
        let (c_factor, _) = self.graph.counting_numbers();
        let mut counts = Vec::new();
        let mut idx = vec![0usize; n];
        for round in 0..opts.calibration_rounds {
            // Streams of their own: the calibration never reuses the final draw's seed.
            let round_seed = seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(round as u64 + 1));
            let cols = self.gibbs_with(&phi, n, round_seed, opts);
            for (f, factor) in self.graph.factors().iter().enumerate() {
                let r = self.graph.range(f);
                counts.clear();
                counts.resize(r.len(), 0.0);
                let shape = factor.shape(&self.domain);
                let st = strides(&shape);
                for (&a, &stride) in factor.attrs().iter().zip(&st) {
                    idx.iter_mut()
                        .zip(&cols[a])
                        .for_each(|(i, &v)| *i += v as usize * stride);
                }
                for i in idx.iter_mut() {
                    counts[*i] += 1.0;
                    *i = 0;
                }
                let step = opts.calibration_step * c_factor[f];
                for ((t, &c), &p) in phi[r.clone()].iter_mut().zip(&counts).zip(&self.probs[r]) {
                    *t += step * ((p + eps).ln() - (c / n as f64 + eps).ln());
                }
            }
        }
        phi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::estimate as exact_estimate;

    /// Marginals of a small random joint distribution (consistent, noise-free).
    fn exact_measurements(domain: &Domain, cliques: &[Clique], n: f64) -> Vec<Measurement> {
        let sizes = domain.sizes();
        let cells: usize = sizes.iter().product();
        let joint: Vec<f64> = (0..cells)
            .map(|i| 0.2 + ((i * 7919 + 13) % 97) as f64 / 97.0)
            .collect();
        let z: f64 = joint.iter().sum();
        cliques
            .iter()
            .map(|c| {
                let mut t = vec![0.0; c.cells(domain)];
                for (x, &p) in joint.iter().enumerate() {
                    let mut code = vec![0usize; sizes.len()];
                    let mut r = x;
                    for a in (0..sizes.len()).rev() {
                        code[a] = r % sizes[a];
                        r /= sizes[a];
                    }
                    let i = c.attrs().iter().fold(0, |i, &a| i * sizes[a] + code[a]);
                    t[i] += n * p / z;
                }
                Measurement::new(c.clone(), t, 1.0)
            })
            .collect()
    }

    fn worst_l1(model: &ApproxModel, ms: &[Measurement]) -> f64 {
        ms.iter()
            .map(|m| {
                let p = model.project(&m.clique).unwrap();
                let want =
                    MarginalTable::from_values(m.clique.clone(), model.domain(), m.values.clone())
                        .unwrap();
                p.l1_normalized(&want)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn loopy_exact_marginals_are_reproduced_like_the_exact_engine() {
        let domain = Domain::from_sizes(vec![3, 2, 4, 3, 2]);
        let cliques: Vec<Clique> = [[0, 1], [1, 2], [2, 3], [0, 3], [0, 2], [3, 4]]
            .iter()
            .map(|c| Clique::new(c.iter().copied()))
            .collect();
        let ms = exact_measurements(&domain, &cliques, 1000.0);
        let (model, report) =
            estimate_approximate(&domain, &ms, &ApproximateOptions::default(), None).unwrap();
        assert!(!model.is_exact());
        let worst = worst_l1(&model, &ms);
        assert!(worst < 1e-4, "worst L1 {worst}, {report:?}");
        assert!((model.total() - 1000.0).abs() < 1e-9);
        let (exact, _) = exact_estimate(&domain, &ms, &EstimationOptions::default(), None).unwrap();
        for m in &ms {
            let l1 = model
                .project(&m.clique)
                .unwrap()
                .l1_normalized(&exact.project(&m.clique));
            assert!(l1 < 1e-4, "{:?}: {l1}", m.clique);
        }
        assert!(matches!(
            model.project(&Clique::new([1, 3])),
            Err(ModelError::NotInModel { .. })
        ));
    }

    #[test]
    fn acyclic_model_is_exact_and_samples_its_marginals() {
        let domain = Domain::from_sizes(vec![3, 2, 4, 3]);
        let cliques: Vec<Clique> = [[0, 1], [1, 2], [1, 3]]
            .iter()
            .map(|c| Clique::new(c.iter().copied()))
            .collect();
        let ms = exact_measurements(&domain, &cliques, 500.0);
        let (model, _) =
            estimate_approximate(&domain, &ms, &ApproximateOptions::default(), None).unwrap();
        assert!(model.is_exact());
        assert!(worst_l1(&model, &ms) < 1e-4);
        let rows = model.sample_gibbs(1000, 1, &GibbsOptions::default());
        assert_eq!(rows.len(), 4);
        assert_eq!(rows, model.sample_gibbs(1000, 1, &GibbsOptions::default()));
    }

    #[test]
    fn warm_start_and_errors() {
        let domain = Domain::from_sizes(vec![3, 2, 4]);
        let cliques: Vec<Clique> = [[0, 1], [1, 2], [0, 2]]
            .iter()
            .map(|c| Clique::new(c.iter().copied()))
            .collect();
        let ms = exact_measurements(&domain, &cliques, 100.0);
        let opts = ApproximateOptions::default();
        let (old, cold) = estimate_approximate(&domain, &ms[..2], &opts, None).unwrap();
        let (_, warm) = estimate_approximate(&domain, &ms[..2], &opts, Some(&old)).unwrap();
        assert!(warm.losses[0] <= cold.losses[0] + 1e-9);
        let (new, _) = estimate_approximate(&domain, &ms, &opts, Some(&old)).unwrap();
        assert!(worst_l1(&new, &ms) < 1e-4);
        let other = Domain::from_sizes(vec![3, 2, 5]);
        assert!(matches!(
            estimate_approximate(&other, &[], &opts, Some(&old)),
            Err(ModelError::WarmStartDomain)
        ));
        let small = ApproximateOptions {
            estimation: EstimationOptions {
                max_cells: 10,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            estimate_approximate(&domain, &ms, &small, None),
            Err(ModelError::TooLarge { cells: 26, cap: 10 })
        ));
    }
}
