//! The graphical-model engine (Private-PGM; McKenna, Sheldon, Miklau 2019): factors in log
//! space, junction trees, belief propagation, estimation from noisy marginals by mirror
//! descent, and sampling of synthetic records.
//!
//! This module knows nothing about rows or privacy: its inputs are noisy marginal
//! measurements with their noise scales, its outputs a [`GraphicalModel`] and records drawn
//! from it. Everything here is post-processing.
//!
//! - [`estimate`] fits a model: the measured cliques are triangulated into a junction tree
//!   (greedy min-fill, min-weight and weighted min-fill elimination orders; the smallest
//!   tree in cells is kept), its size is checked against a cap before anything is
//!   allocated, the total is estimated from the measurements, and accelerated entropic
//!   mirror descent (plain mirror descent on request) finds potentials whose marginals
//!   minimise `sum_C ||M_C(p) - y_C||^2 / sigma_C^2` over the marginal polytope. See
//!   `estimate.rs` for the measured comparison of the optimisers.
//! - [`GraphicalModel::project`] / [`GraphicalModel::project_many`] answer the model's
//!   marginal on any clique from the calibrated tree (cached in the model): a clique
//!   inside a tree clique by sums, batched through a projection plan that shares
//!   intermediate marginals; one spanning several tree cliques by variable elimination
//!   over the smallest connecting subtree (each clique first reduced to what it shares
//!   with the query and its neighbours, then greedy min-weight elimination with a fused
//!   sum-product). On adult's MST model the 455 three-way marginals take about 0.15 s.
//! - [`sample`] draws records along the junction tree. The default,
//!   [`SamplingMethod::Rounding`], matches clique marginals to within rounding (at most one
//!   record per cell along each root-to-clique path); [`SamplingMethod::Forward`] draws
//!   independent records. See `sample.rs` for the measured comparison.
//! - [`estimate_approximate`] fits the same objective when the junction tree is too large:
//!   relaxed marginal consistency (McKenna, Pradhan, Sheldon, Miklau 2021). The factors
//!   are the maximal measured cliques, the marginal oracle is convex belief propagation on
//!   their factor graph (`convex_bp.rs`), and the same mirror-descent code runs over the
//!   local polytope. The result, an [`ApproxModel`], holds *pseudo-marginals*: locally
//!   consistent (factors agree on shared attributes) but not necessarily the marginals of
//!   any joint distribution. It answers marginals of measured cliques and their subsets,
//!   and draws records by Gibbs sampling ([`GibbsOptions`]). All 36 two-way marginals of
//!   titanic (7,867 cells instead of one 89,159,616-cell clique) are reproduced from exact
//!   counts to a worst L1 of 2.6e-3 in a few seconds (`tests/model_approx.rs`). Approximate
//!   models do not serialise yet.
//! - A fitted model serialises (serde; JSON in practice) with its domain, tree, potentials,
//!   total and measurements; loading validates every part, so `dpsynth sample` can draw
//!   the same records from the file alone.
//!
//! Choices not fixed by the design:
//! - [`estimate`] is exact inference only: a model whose junction tree exceeds the cap
//!   ([`EstimationOptions::max_cells`], default [`DEFAULT_MAX_CELLS`]) is refused with
//!   [`ModelError::TooLarge`]; for example all 36 two-way marginals of titanic form one
//!   clique of 89,159,616 cells. Nothing falls back to [`estimate_approximate`]
//!   automatically; the caller chooses (MST and AIM still use exact inference only).
//! - All iteration is over sorted cliques and vectors; nothing depends on hash order, so a
//!   seed reproduces a run, on any number of threads.
//! - Exact fits can run in single precision ([`EstimationOptions::single_precision`];
//!   `real.rs`): the optimiser's clique vectors (potentials, marginals, the calibration's
//!   beliefs) are then `f32`, so its passes, which are bound by memory traffic, move half
//!   the bytes and fill twice the vector lanes; every sum over a clique vector, log Z, the
//!   loss, the measurements and the fitted model's own tables stay `f64`. AIM and the error
//!   bars' bootstrap use it. On NIST-sized models the refits take 1.5-1.7x less time per
//!   calibrated cell, with the same accuracy (docs/performance.md, session 21). Released models are
//!   [`GraphicalModel::recalibrated`]: their probabilities are calibrated afresh from their
//!   potentials in double precision, as for a model read from its file, so the file
//!   samples the same records.
//! - The total is fixed before optimising (inverse-variance weighted noisy sums, floored
//!   at 1), so the loss compares counts with counts; measurements of the empty clique
//!   count towards it.
//! - Cold starts begin from a few sweeps of iterative proportional fitting when that
//!   lowers the loss (it solves consistent, noise-free measurements almost at once);
//!   warm starts skip it. [`refit`] (the error bars' bootstrap) starts cold on a given
//!   model's tree: see its docs for why a warm start there would understate errors.

pub mod accuracy;
mod approx;
pub mod constraints;
mod contract;
mod convex_bp;
pub(crate) mod counts;
mod eliminate;
mod estimate;
mod factor;
mod gibbs;
mod graphical;
mod inference;
mod junction;
mod layout;
mod plan;
mod real;
mod sample;
mod spanning;

use serde::{Deserialize, Serialize};

pub use approx::{estimate_approximate, ApproxModel, ApproximateOptions};
pub use constraints::{StructuralZeros, ZeroFactor};
pub use convex_bp::{BpOptions, BpReport};
pub use factor::Factor;
pub use gibbs::GibbsOptions;
pub use graphical::{GraphicalModel, MAX_QUERY_CELLS, MODEL_FORMAT};
pub use junction::JunctionTree;
pub(crate) use junction::{heuristic_size, HEURISTIC_COUNT};
pub use sample::{sample, Sampler, SamplingMethod, SAMPLE_CHUNK};

use crate::marginal::{Clique, Domain};
use inference::Engine;
use rayon::prelude::*;
use real::Real;

/// A noisy marginal: counts over `clique` (row-major like `MarginalTable`) with Gaussian
/// noise of standard deviation `sigma` added to every cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub clique: Clique,
    pub values: Vec<f64>,
    pub sigma: f64,
}

impl Measurement {
    pub fn new(clique: Clique, values: Vec<f64>, sigma: f64) -> Self {
        Measurement {
            clique,
            values,
            sigma,
        }
    }
}

/// Default cap on the model size: 10 million cells (80 MB per clique vector of f64, the
/// same budget as private-pgm's AIM default). Estimation keeps about six clique vectors.
pub const DEFAULT_MAX_CELLS: usize = 10_000_000;

/// The optimiser behind [`estimate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Optimizer {
    /// Entropic mirror descent with a backtracking step (Private-PGM's algorithm).
    MirrorDescent,
    /// Accelerated mirror descent with adaptive smoothness and restarts.
    #[default]
    Accelerated,
}

/// Knobs of [`estimate`].
#[derive(Clone, Debug, PartialEq)]
pub struct EstimationOptions {
    /// Iteration cap (one belief propagation per iteration).
    pub max_iters: usize,
    /// Convergence test: stop once the loss fell by at most `tol * (loss + measured cells)`
    /// over the last `window` accepted steps. The measured-cell count is the loss's scale
    /// under noise (one chi-square degree of freedom per cell), so the test means
    /// "further progress is negligible against the noise".
    pub tol: f64,
    /// Accepted steps compared by the convergence test.
    pub window: usize,
    /// A second convergence test, tied to the noise (accelerated optimiser only; `None`
    /// off): stop once the measured marginals moved, over the last `window` accepted steps,
    /// by at most this fraction of their noise's expected L1 norm (the sum over
    /// measurements of `||P_m x - P_m x'||_1 / sigma_m` against `sqrt(2/pi)` per measured
    /// cell). If steps keep shrinking, running on to `max_iters` would move them by at most
    /// `(max_iters - done) / window` times this fraction of the noise. For AIM's rounds,
    /// whose models only rank candidates against penalties of that noise
    /// (`AimOptions::round_move_tol`). Reads only the measurements: post-processing.
    pub move_tol: Option<f64>,
    /// Largest model (sum of cells over maximal cliques) `estimate` will build.
    pub max_cells: usize,
    /// Fixed step size (e.g. 1/L); `None` uses the backtracking line search.
    pub stepsize: Option<f64>,
    /// First step size for the line search; `None` picks one that moves no log-potential
    /// by more than one unit. The accelerated optimiser shortens a longer one to that.
    pub initial_step: Option<f64>,
    /// Step growth after an accepted line-search step (halved after a rejection).
    pub step_growth: f64,
    /// Sweeps of iterative proportional fitting used as the starting point of a cold start
    /// (kept only if it lowers the loss; skipped with a warm start, which is already close);
    /// 0 starts from the uniform model.
    pub ipf_sweeps: usize,
    pub optimizer: Optimizer,
    /// Warm starts only: one IPF sweep over the measurements the warm-start model was not
    /// fitted to (AIM's new measurement in a round; none in its final fit), kept only if it
    /// lowers the loss. Off by default (see `AimOptions::round_ipf`).
    pub warm_ipf: bool,
    /// Structural zeros over the domain being fitted (public, from the schema's rules): the
    /// fitted model gives every forbidden cell probability zero (`constraints.rs`).
    pub zeros: Option<std::sync::Arc<StructuralZeros>>,
    /// Exact inference only: the optimiser's clique vectors (potentials, marginals and the
    /// calibration's tables) in `f32`, with every sum over them, the loss, the measurements
    /// and the model's own tables in `f64` (`real.rs`). The calibrations move half the bytes
    /// and fill twice the vector lanes (docs/performance.md, session 21). The model's
    /// potentials and probabilities are the fit's widened: a model to release should be
    /// [`GraphicalModel::recalibrated`] (AIM's is). Off by default; AIM and the error bars'
    /// bootstrap turn it on.
    pub single_precision: bool,
}

impl Default for EstimationOptions {
    fn default() -> Self {
        EstimationOptions {
            max_iters: 2000,
            tol: 1e-6,
            window: 10,
            move_tol: None,
            max_cells: DEFAULT_MAX_CELLS,
            stepsize: None,
            initial_step: None,
            step_growth: 1.1,
            ipf_sweeps: 3,
            optimizer: Optimizer::default(),
            warm_ipf: false,
            zeros: None,
            single_precision: false,
        }
    }
}

/// What an estimation did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EstimationReport {
    /// Optimiser steps taken.
    pub iterations: usize,
    /// `sum_C ||M_C(p) - y_C||^2 / sigma_C^2` at the returned model.
    pub final_loss: f64,
    /// Whether the convergence test (not the iteration cap) stopped the run.
    pub converged: bool,
    /// Loss at the start and after every iteration (non-increasing with the line search:
    /// a rejected trial step leaves it unchanged); `iterations + 1` entries.
    pub losses: Vec<f64>,
    /// Belief propagations run in all (warm-up, line-search trials, restarts): the unit of
    /// cost.
    pub calibrations: usize,
    /// The step size `1 / L` the accelerated optimiser would have tried after its last
    /// accepted step (its smoothness estimate), for the next warm-started fit's
    /// [`EstimationOptions::initial_step`]; `None` if it accepted no step (or for plain
    /// mirror descent).
    pub step: Option<f64>,
}

#[derive(thiserror::Error, Debug)]
pub enum ModelError {
    #[error("the model would have {cells} cells, above the cap of {cap}")]
    TooLarge { cells: usize, cap: usize },
    #[error("attribute {attr} is outside the domain of {attrs} attributes")]
    AttributeOutOfRange { attr: usize, attrs: usize },
    #[error("table over clique {clique:?} has {got} values, expected {expected}")]
    ShapeMismatch {
        clique: Clique,
        expected: usize,
        got: usize,
    },
    #[error("measurement {index} has sigma {sigma}; it must be a positive finite number")]
    InvalidSigma { index: usize, sigma: f64 },
    #[error("measurement {index} has a non-finite value")]
    NonFiniteValue { index: usize },
    #[error("warm-start model is over a different domain")]
    WarmStartDomain,
    #[error("clique {clique:?} lies inside no factor of the approximate model")]
    NotInModel { clique: Clique },
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A numerical failure of the fit, never a property of the data: the inputs were
    /// checked finite ([`validate_measurements`]).
    #[error("the model fit failed numerically: its loss or probabilities are not finite numbers")]
    FitNotFinite,
}

/// Checks measurements against the domain: attributes in range, table shapes, sigmas, values.
pub(crate) fn validate_measurements(
    domain: &Domain,
    measurements: &[Measurement],
) -> Result<(), ModelError> {
    for (i, m) in measurements.iter().enumerate() {
        if Clique::new(m.clique.attrs().iter().copied()) != m.clique {
            return Err(ModelError::InvalidModel(format!(
                "measurement {i}: clique is not sorted"
            )));
        }
        if let Some(&a) = m.clique.attrs().iter().find(|&&a| a >= domain.len()) {
            return Err(ModelError::AttributeOutOfRange {
                attr: a,
                attrs: domain.len(),
            });
        }
        let cells = junction::saturating_cells(domain, m.clique.attrs());
        if m.values.len() != cells {
            return Err(ModelError::ShapeMismatch {
                clique: m.clique.clone(),
                expected: cells,
                got: m.values.len(),
            });
        }
        if !(m.sigma.is_finite() && m.sigma > 0.0) {
            return Err(ModelError::InvalidSigma {
                index: i,
                sigma: m.sigma,
            });
        }
        if m.values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NonFiniteValue { index: i });
        }
    }
    Ok(())
}

/// Size in cells of the junction tree [`estimate`] would build for these measured cliques
/// (every domain attribute included, as in the fitted model), saturating at `usize::MAX`.
/// Symbolic only: nothing is allocated, so AIM can filter candidates with it.
pub fn model_size_cells(domain: &Domain, cliques: &[Clique]) -> usize {
    let valid: Vec<Clique> = cliques
        .iter()
        .filter(|c| c.attrs().iter().all(|&a| a < domain.len()))
        .cloned()
        .collect();
    junction::total_cells(domain, &junction::triangulate(domain, &valid))
}

/// The cliques [`estimate`] triangulates: the non-empty measured cliques and, with
/// structural zeros, each mask's clique (so that its zeros lie inside a tree clique).
/// AIM's size filter uses the same list, so the size it allows is the size the fit builds.
pub fn fit_cliques(
    measured: impl IntoIterator<Item = Clique>,
    opts: &EstimationOptions,
) -> Vec<Clique> {
    let mut cliques: Vec<Clique> = measured.into_iter().filter(|c| !c.is_empty()).collect();
    if let Some(z) = opts.zeros.as_deref().filter(|z| !z.is_empty()) {
        cliques.extend(z.cliques());
    }
    cliques
}

/// Minimum-variance estimate of the number of records: each measurement's noisy sum is an
/// unbiased estimate with variance `sigma^2 * cells`; they are averaged by inverse
/// variance and floored at 1.
pub fn estimate_total(domain: &Domain, measurements: &[Measurement]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for m in measurements {
        let var = m.sigma * m.sigma * m.clique.cells(domain) as f64;
        num += m.values.iter().sum::<f64>() / var;
        den += 1.0 / var;
    }
    if den > 0.0 {
        (num / den).max(1.0)
    } else {
        1.0
    }
}

/// Fits a graphical model to noisy marginals (Private-PGM).
///
/// The junction tree covers every measured clique and every attribute of the domain
/// (unmeasured ones stay uniform). Its size is checked against `opts.max_cells` before any
/// table is allocated. With `warm_start`, potentials start from the previous model: added
/// in directly when each of its cliques lies inside a new tree clique (the usual case when
/// AIM adds measurements), otherwise by the moment-matching projection of the old model
/// onto the new tree (its marginals on the new cliques divided by its separator marginals).
///
/// A caller fitting again and again (AIM's rounds) can keep an [`Estimator`] instead, which
/// reuses one fit's memory in the next with the same results.
pub fn estimate(
    domain: &Domain,
    measurements: &[Measurement],
    opts: &EstimationOptions,
    warm_start: Option<&GraphicalModel>,
) -> Result<(GraphicalModel, EstimationReport), ModelError> {
    Estimator::new().estimate(domain, measurements, opts, warm_start)
}

/// Memory kept from one fit to the next: the large tables of a fit (potentials, marginals,
/// the optimiser's other clique vectors, the calibration's beliefs, the projections'
/// scratch) are reused by the next one instead of being allocated afresh, page-faulted in
/// (the kernel zeroes every new page) and freed, every refit. [`Estimator::estimate`] gives
/// exactly [`estimate`]'s model and report (the same operations on the same values: every
/// reused table is written whole before it is read). Give back models that are no longer
/// needed with [`Estimator::recycle`] so their tables are reused too.
///
/// What it saves is small, because little of a refit is fixed cost: replaying a NIST
/// national2019 AIM release at epsilon 3 (58 refits of 50 iterations, 7.4 M cells at the
/// end; `REPLAY_NO_SCORE=1 refit_replay MODEL DATA SCHEMA 50:1e-6:10:1e-6`, 2026-12-02,
/// loaded machine), process CPU outside the iterations was 4.2 of 52.9 s: warm-start
/// potentials 1.6 s, first calibration and allocations 1.1 s, final potentials and
/// calibration 1.2 s, tree, layouts and plans 0.02 s. Kept buffers took the page faults per
/// refit from about 2,000 to 1,300 (adult epsilon 10's 47 refits: 2,500 to 1,100) and the
/// refits' CPU from 48.0-49.7 to 43.0 s (adult: 50.7 to 47.6 s; both within the load's
/// noise), for a higher peak RSS (721 against about 600 MB; adult 868 against 662 MB): the
/// buffers are held between fits, while AIM selects.
#[derive(Default)]
pub struct Estimator {
    /// Double precision's memory, which also holds the fitted models' tables.
    double: FitMemory<f64>,
    single: FitMemory<f32>,
}

/// The memory of fits in one precision ([`EstimationOptions::single_precision`]).
#[derive(Default)]
struct FitMemory<T: Real> {
    ws: inference::Workspace<T>,
    scratch: estimate::Scratch<T>,
    bufs: estimate::Buffers<T>,
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Estimator").finish_non_exhaustive()
    }
}

impl Estimator {
    pub fn new() -> Self {
        Self::default()
    }

    /// [`estimate`], with this estimator's memory.
    pub fn estimate(
        &mut self,
        domain: &Domain,
        measurements: &[Measurement],
        opts: &EstimationOptions,
        warm_start: Option<&GraphicalModel>,
    ) -> Result<(GraphicalModel, EstimationReport), ModelError> {
        validate_measurements(domain, measurements)?;
        let zeros = opts.zeros.as_deref().filter(|z| !z.is_empty());
        if let Some(z) = zeros {
            StructuralZeros::new(domain, z.factors().to_vec())?;
        }
        let cliques = fit_cliques(measurements.iter().map(|m| m.clique.clone()), opts);
        let maxc = junction::triangulate(domain, &cliques);
        let cells = junction::total_cells(domain, &maxc);
        if cells > opts.max_cells {
            return Err(ModelError::TooLarge {
                cells,
                cap: opts.max_cells,
            });
        }
        let tree = JunctionTree::from_maximal_cliques(maxc);
        let engine = Engine::new(domain, tree);
        self.double.bufs.next_fit();
        self.single.bufs.next_fit();
        let theta = match warm_start {
            Some(old) => warm_potentials(domain, &engine, old, &mut self.double.bufs)?,
            None => self.double.bufs.take_zeroed(cells),
        };
        let zero_cells = zeros.map_or_else(Vec::new, |z| z.tree_zeros(domain, &engine));
        // A warm start is already near the optimum for the measurements its model was fitted
        // to: IPF sweeps over all of them would redo that fit, matching each noisy
        // measurement exactly instead of weighing overlapping ones. With `warm_ipf`, one sweep
        // over the measurements it has not seen (AIM's new one, in a round) moves their
        // marginals onto them at the cost of one calibration (then Hugin propagation between
        // their tree cliques), kept only if it lowers the loss.
        let warm_opts;
        let (opts, ipf_subset) = match warm_start {
            Some(_) if opts.ipf_sweeps > 0 && !opts.warm_ipf => {
                warm_opts = EstimationOptions {
                    ipf_sweeps: 0,
                    ..opts.clone()
                };
                (&warm_opts, None)
            }
            Some(old) if opts.ipf_sweeps > 0 => {
                warm_opts = EstimationOptions {
                    ipf_sweeps: 1,
                    ..opts.clone()
                };
                let seen = old
                    .measurements()
                    .iter()
                    .zip(measurements)
                    .take_while(|(a, b)| a == b)
                    .count();
                (&warm_opts, Some((seen..measurements.len()).collect()))
            }
            _ => (opts, None),
        };
        fit_on_tree(
            domain,
            engine,
            measurements,
            theta,
            zero_cells,
            ipf_subset,
            opts,
            self,
        )
    }

    /// Keeps `model`'s large tables (its potentials, and its marginals unless a clone still
    /// shares them) for the next fit: for a model no longer needed, such as the previous
    /// round's once its refit is done.
    pub fn recycle(&mut self, model: GraphicalModel) {
        let (potentials, probs) = model.into_tables();
        for p in potentials.into_iter().chain(probs) {
            self.double.bufs.put(p);
        }
    }
}

/// The tail [`estimate`] and [`refit`] share: the total from the measurements, the
/// objective with its structural zeros (`zero_cells`, positions in the clique vector, held at
/// `LOG_ZERO` from the start), the optimiser from `theta`, and the model of its answer.
/// Large tables come from `est` and go back to it.
///
/// In single precision ([`EstimationOptions::single_precision`]) the potentials are rounded
/// to `f32` for the optimiser and widened back for the model, and its probabilities are the
/// fit's last marginals widened (see [`GraphicalModel::recalibrated`] for a model to
/// release).
#[allow(clippy::too_many_arguments)]
fn fit_on_tree(
    domain: &Domain,
    engine: Engine,
    measurements: &[Measurement],
    theta: Vec<f64>,
    zero_cells: Vec<usize>,
    ipf_subset: Option<Vec<usize>>,
    opts: &EstimationOptions,
    est: &mut Estimator,
) -> Result<(GraphicalModel, EstimationReport), ModelError> {
    let total = estimate_total(domain, measurements);
    let cliques = engine.tree.cliques().len();
    let Estimator { double, single } = est;
    let (report, potentials, probs) = if opts.single_precision {
        let mut narrow = single.bufs.take(theta.len());
        inference::par_zip_map(&mut narrow, &theta, f32::of);
        double.bufs.put(theta);
        let (report, theta, mu) = fit_vectors(
            &engine,
            domain,
            measurements,
            total,
            narrow,
            zero_cells,
            ipf_subset,
            opts,
            single,
        );
        let potentials: Vec<Vec<f64>> = (0..cliques)
            .map(|c| {
                let r = engine.range(c);
                let mut p = double.bufs.take(r.len());
                inference::par_zip_map(&mut p, &theta[r], f32::wide);
                p
            })
            .collect();
        let mut probs = double.bufs.take(mu.len());
        inference::par_zip_map(&mut probs, &mu, |v| v.wide() / total);
        single.bufs.put(theta);
        single.bufs.put(mu);
        if let Err(e) = check_finite_fit(&report, &probs) {
            potentials.into_iter().for_each(|p| double.bufs.put(p));
            double.bufs.put(probs);
            return Err(e);
        }
        (report, potentials, Some(probs))
    } else {
        let (report, theta, mu) = fit_vectors(
            &engine,
            domain,
            measurements,
            total,
            theta,
            zero_cells,
            ipf_subset,
            opts,
            double,
        );
        // The marginals become the model's probabilities in place (no second clique vector).
        let mut probs = mu;
        probs.iter_mut().for_each(|v| *v /= total);
        if let Err(e) = check_finite_fit(&report, &probs) {
            double.bufs.put(probs);
            double.bufs.put(theta);
            return Err(e);
        }
        let potentials = (0..cliques)
            .map(|c| double.bufs.take_copy(&theta[engine.range(c)]))
            .collect();
        double.bufs.put(theta);
        (report, potentials, Some(probs))
    };
    let model = GraphicalModel::from_parts(
        domain.clone(),
        engine,
        potentials,
        total,
        measurements.to_vec(),
        probs,
    );
    Ok((model, report))
}

/// The optimiser's part of [`fit_on_tree`] in precision `T`: returns its report, the final
/// potentials and the final marginals (scaled to `total`).
#[allow(clippy::too_many_arguments)]
fn fit_vectors<T: Real>(
    engine: &Engine,
    domain: &Domain,
    measurements: &[Measurement],
    total: f64,
    mut theta: Vec<T>,
    zero_cells: Vec<usize>,
    ipf_subset: Option<Vec<usize>>,
    opts: &EstimationOptions,
    mem: &mut FitMemory<T>,
) -> (EstimationReport, Vec<T>, Vec<T>) {
    let mut objective = estimate::Objective::new(engine, domain, measurements)
        .with_zeros(zero_cells)
        .with_scratch(std::mem::take(&mut mem.scratch));
    if let Some(subset) = ipf_subset {
        objective = objective.with_ipf_subset(subset);
    }
    objective.enforce_zeros(&mut theta);
    // Both optimisers calibrate `mu` whole before reading it.
    let n = theta.len();
    let mut mu = mem.bufs.take(n);
    let report = match opts.optimizer {
        Optimizer::MirrorDescent => {
            estimate::mirror_descent(engine, &objective, total, &mut theta, &mut mu, opts)
        }
        Optimizer::Accelerated => {
            mem.ws.size_beliefs(n, &mut mem.bufs);
            estimate::accelerated_with(
                engine,
                &objective,
                total,
                &mut theta,
                &mut mu,
                opts,
                &mut mem.ws,
                &mut mem.bufs,
            )
        }
    };
    mem.scratch = objective.into_scratch();
    (report, theta, mu)
}

/// A fit whose loss or probabilities are not finite numbers is a numerical failure, not a
/// model: its error says so instead of the optimiser's stop ("stationary" after its line
/// search's last doubling) passing NaN on to selection, sampling and the release. Never seen
/// in double precision; seen when single precision was emulated (docs/performance.md,
/// session 18). A NaN or infinity anywhere in `probs` makes their sum non-finite.
fn check_finite_fit<T: Real>(report: &EstimationReport, probs: &[T]) -> Result<(), ModelError> {
    if report.final_loss.is_finite() && layout::kernels::sum(probs).is_finite() {
        Ok(())
    } else {
        Err(ModelError::FitNotFinite)
    }
}

/// Fits new measurements on `model`'s junction tree, starting afresh: from the uniform
/// distribution over `model`'s support (its structural zeros kept, nothing of its fitted
/// values), with the IPF warm-up of a cold start. For the error bars' bootstrap refits
/// (`accuracy.rs`), which fit measurements of simulated records drawn from `model` itself.
///
/// Why not warm-start from `model`: the simulated records follow `model`, so a refit started
/// there starts at the truth, and one stopped before convergence states too small an error
/// (on adult's AIM model at epsilon 1, 500 warm iterations stated 1/2/3-way 0.0120 / 0.0371 /
/// 0.0812 against 0.0134 / 0.0407 / 0.0872 converged). The fitted model is also a slow place
/// to start: fitting noise drives many cells' probabilities close to zero, and entropic
/// mirror descent moves them back only by small additive steps in log space. From the
/// uniform model plus IPF the same refit is within 5 loss units of its optimum after 500
/// iterations where the warm one is still about 110 above (`examples/bootstrap_cost.rs`).
///
/// Every measured clique must lie inside a tree clique ([`ModelError::NotInModel`]).
/// `opts.zeros` is not read: the structural zeros are the model's own (the ones its fit was
/// given, held in its potentials), so a model file carries all a refit needs.
pub fn refit(
    model: &GraphicalModel,
    measurements: &[Measurement],
    opts: &EstimationOptions,
) -> Result<(GraphicalModel, EstimationReport), ModelError> {
    let domain = model.domain();
    validate_measurements(domain, measurements)?;
    let engine = Engine::new(domain, model.junction_tree().clone());
    if let Some(m) = measurements
        .iter()
        .find(|m| engine.tree.containing(domain, &m.clique).is_none())
    {
        return Err(ModelError::NotInModel {
            clique: m.clique.clone(),
        });
    }
    // The model's structural zeros (the cells its fit held at LOG_ZERO: the schema rules'
    // zeros, `StructuralZeros::from_model`); every other cell uniform.
    let zero_cells = StructuralZeros::from_model(model).tree_zeros(domain, &engine);
    let theta = vec![0.0; engine.total_cells()];
    fit_on_tree(
        domain,
        engine,
        measurements,
        theta,
        zero_cells,
        None,
        opts,
        &mut Estimator::new(),
    )
}

/// Initial log-potentials on the new tree from a previous model.
fn warm_potentials(
    domain: &Domain,
    engine: &Engine,
    old: &GraphicalModel,
    bufs: &mut estimate::Buffers,
) -> Result<Vec<f64>, ModelError> {
    if old.domain() != domain {
        return Err(ModelError::WarmStartDomain);
    }
    let tree = &engine.tree;
    let homes: Option<Vec<usize>> = old
        .cliques()
        .iter()
        .map(|c| tree.containing(domain, c))
        .collect();
    if let Some(homes) = homes {
        let mut theta = bufs.take_zeroed(engine.total_cells());
        for ((c, pot), home) in old.cliques().iter().zip(old.raw_potentials()).zip(homes) {
            let layout = layout::SubsetLayout::for_attrs(
                tree.cliques()[home].attrs(),
                &engine.shapes[home],
                c.attrs(),
            );
            layout.add_expanded(&mut theta[engine.range(home)], pot);
        }
        return Ok(theta);
    }
    // Moment matching: the old model's marginals on the new tree's cliques (side by side:
    // each writes its own range; one after another this was up to 0.7 s of a NIST epsilon
    // 3 run on the calling thread, when the tree changed shape), then the potentials
    // `log p_old(C) - log p_old(separator of C)` of that junction tree.
    let mut x = bufs.take(engine.total_cells());
    let parts = inference::split_ranges(&mut x, (0..tree.cliques().len()).map(|c| engine.range(c)));
    tree.cliques()
        .par_iter()
        .zip(parts)
        .for_each(|(clique, part)| part.copy_from_slice(&old.project(clique).values));
    // Every cell of `theta` is written: no zeroing.
    let mut theta = bufs.take(engine.total_cells());
    estimate::decomposable_potentials(engine, &x, &mut theta);
    bufs.put(x);
    Ok(theta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fit whose loss or any probability is NaN or infinite is an error, not a model.
    #[test]
    fn a_fit_that_is_not_finite_is_an_error() {
        let report = |loss: f64| EstimationReport {
            iterations: 1,
            final_loss: loss,
            converged: true,
            losses: vec![loss],
            calibrations: 1,
            step: None,
        };
        let probs = vec![0.25; 4];
        assert!(check_finite_fit(&report(3.0), &probs).is_ok());
        assert!(matches!(
            check_finite_fit(&report(f64::NAN), &probs),
            Err(ModelError::FitNotFinite)
        ));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut p = probs.clone();
            p[2] = bad;
            assert!(matches!(
                check_finite_fit(&report(3.0), &p),
                Err(ModelError::FitNotFinite)
            ));
        }
    }

    fn m(c: &[usize], domain: &Domain, v: f64, sigma: f64) -> Measurement {
        let c = Clique::new(c.iter().copied());
        let n = c.cells(domain);
        Measurement::new(c, (0..n).map(|i| v + i as f64).collect(), sigma)
    }

    /// One estimator through a chain of warm-started refits (growing and reshaped trees,
    /// models given back) gives bit for bit the models and reports of fresh `estimate`
    /// calls.
    #[test]
    fn estimator_refits_match_fresh_estimates_bit_for_bit() {
        let d = Domain::from_sizes(vec![60, 50, 40, 8, 6, 50]);
        let cliques: [&[usize]; 9] = [
            &[0],
            &[1],
            &[2],
            &[0, 1],
            &[1, 2],
            &[2, 3, 4],
            &[0, 5],
            &[1, 5],
            &[3, 4, 5],
        ];
        let ms: Vec<Measurement> = cliques
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let c = Clique::new(c.iter().copied());
                let n = c.cells(&d);
                let values = (0..n).map(|i| ((i * 37 + k * 11) % 23) as f64 * 9.0 - 5.0);
                Measurement::new(c, values.collect(), 3.0)
            })
            .collect();
        let opts = EstimationOptions {
            max_iters: 30,
            ..Default::default()
        };
        let bits = |m: &GraphicalModel| -> Vec<u64> {
            m.raw_potentials()
                .iter()
                .flatten()
                .map(|v| v.to_bits())
                .collect()
        };
        let mut est = Estimator::new();
        let (mut a, _) = est.estimate(&d, &ms[..3], &opts, None).unwrap();
        let (mut b, _) = estimate(&d, &ms[..3], &opts, None).unwrap();
        assert_eq!(bits(&a), bits(&b));
        for k in 4..=ms.len() {
            let (a2, ra) = est.estimate(&d, &ms[..k], &opts, Some(&a)).unwrap();
            let (b2, rb) = estimate(&d, &ms[..k], &opts, Some(&b)).unwrap();
            assert_eq!(ra, rb);
            assert_eq!(a2.cliques(), b2.cliques());
            assert_eq!(bits(&a2), bits(&b2));
            let marg = |m: &GraphicalModel| m.project(&Clique::new([0, 5])).values;
            assert_eq!(marg(&a2), marg(&b2));
            est.recycle(std::mem::replace(&mut a, a2));
            b = b2;
        }
    }

    #[test]
    fn invalid_measurements_are_typed_errors() {
        let d = Domain::from_sizes(vec![2, 3, 4]);
        let opts = EstimationOptions::default();
        let short = Measurement::new(Clique::new([0, 1]), vec![1.0; 5], 1.0);
        assert!(matches!(
            estimate(&d, &[short], &opts, None),
            Err(ModelError::ShapeMismatch {
                expected: 6,
                got: 5,
                ..
            })
        ));
        let out = Measurement::new(Clique::new([3]), vec![1.0; 1], 1.0);
        assert!(matches!(
            estimate(&d, &[out], &opts, None),
            Err(ModelError::AttributeOutOfRange { attr: 3, .. })
        ));
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                estimate(&d, &[m(&[0], &d, 1.0, s)], &opts, None),
                Err(ModelError::InvalidSigma { .. })
            ));
        }
        let mut nan = m(&[2], &d, 1.0, 1.0);
        nan.values[1] = f64::NAN;
        assert!(matches!(
            estimate(&d, &[nan], &opts, None),
            Err(ModelError::NonFiniteValue { index: 0 })
        ));
        let small = EstimationOptions {
            max_cells: 10,
            ..Default::default()
        };
        assert!(matches!(
            estimate(&d, &[m(&[1, 2], &d, 1.0, 1.0)], &small, None),
            Err(ModelError::TooLarge { cells: 14, cap: 10 })
        ));
    }

    /// The noise-tied stop ends a fit once its marginals hardly move against the noise:
    /// far sooner than the loss test at a large sigma, with a loss close to the full fit's.
    #[test]
    fn move_tol_stops_once_moves_are_small_against_the_noise() {
        let d = Domain::from_sizes(vec![3, 4, 5]);
        let ms = vec![
            m(&[0, 1], &d, 50.0, 20.0),
            m(&[1, 2], &d, 40.0, 20.0),
            m(&[0, 2], &d, 30.0, 20.0),
        ];
        let opts = EstimationOptions {
            ipf_sweeps: 0,
            ..EstimationOptions::default()
        };
        let (_, full) = estimate(&d, &ms, &opts, None).unwrap();
        let tied = EstimationOptions {
            move_tol: Some(0.01),
            ..opts.clone()
        };
        let (_, early) = estimate(&d, &ms, &tied, None).unwrap();
        assert!(early.converged);
        assert!(
            early.iterations < full.iterations,
            "{} vs {}",
            early.iterations,
            full.iterations
        );
        // Sigma 20: the loss is in units of sigma^2, a gap of 1 is a twentieth of the noise.
        assert!(
            early.final_loss - full.final_loss < 1.0,
            "{} vs {}",
            early.final_loss,
            full.final_loss
        );
        let off = estimate(&d, &ms, &opts, None).unwrap().1;
        assert_eq!(off.iterations, full.iterations);
    }

    /// The accelerated optimiser reports its last step; a warm refit started from it
    /// (`AimOptions::round_carry_step`) reaches the same optimum as one started from the
    /// default step, with no more rejected trial steps (on this small model the default step
    /// is about right; on NIST's and adult's AIM models it was 50-400 times too long).
    #[test]
    fn a_refit_started_from_the_previous_step_reaches_the_same_optimum() {
        let d = Domain::from_sizes(vec![6, 5, 4, 3]);
        let ms = vec![
            m(&[0], &d, 200.0, 5.0),
            m(&[1], &d, 240.0, 5.0),
            m(&[0, 1], &d, 40.0, 5.0),
            m(&[1, 2], &d, 60.0, 2.0),
            m(&[2, 3], &d, 90.0, 1.0),
        ];
        let opts = EstimationOptions {
            ipf_sweeps: 0,
            ..EstimationOptions::default()
        };
        let (warm, first) = estimate(&d, &ms[..4], &opts, None).unwrap();
        let step = first.step.unwrap();
        assert!(step.is_finite() && step > 0.0);
        let (_, default_start) = estimate(&d, &ms, &opts, Some(&warm)).unwrap();
        let carried = EstimationOptions {
            initial_step: Some(4.0 * step),
            ..opts.clone()
        };
        let (_, carried) = estimate(&d, &ms, &carried, Some(&warm)).unwrap();
        assert!(default_start.converged && carried.converged);
        let gap = (carried.final_loss - default_start.final_loss).abs();
        assert!(gap < 1e-3 * (1.0 + default_start.final_loss), "{gap}");
        // Rejected trials (calibrations beyond one per iteration) in a short refit, as
        // AIM's rounds run them.
        let short = |initial_step| {
            let o = EstimationOptions {
                max_iters: 10,
                initial_step,
                ..opts.clone()
            };
            let r = estimate(&d, &ms, &o, Some(&warm)).unwrap().1;
            r.calibrations - r.iterations
        };
        let (from_default, from_carried) = (short(None), short(Some(4.0 * step)));
        assert!(
            from_carried <= from_default,
            "{from_carried} vs {from_default}"
        );
        // Plain mirror descent has no smoothness estimate to carry.
        let plain = EstimationOptions {
            optimizer: Optimizer::MirrorDescent,
            ..opts
        };
        assert_eq!(estimate(&d, &ms, &plain, None).unwrap().1.step, None);
    }

    #[test]
    fn size_is_known_up_front_and_every_attribute_is_modelled() {
        let d = Domain::from_sizes(vec![2, 3, 4, 5]);
        let ms = vec![
            m(&[0, 1], &d, 5.0, 1.0),
            m(&[1, 2], &d, 5.0, 1.0),
            m(&[0, 2], &d, 5.0, 1.0),
        ];
        let cl: Vec<Clique> = ms.iter().map(|x| x.clique.clone()).collect();
        let (model, _) = estimate(&d, &ms, &EstimationOptions::default(), None).unwrap();
        assert_eq!(model_size_cells(&d, &cl), model.size_cells());
        assert_eq!(model.size_cells(), 24 + 5);
        // Attribute 3 is unmeasured: uniform, and part of the model.
        let p3 = model.project(&Clique::new([3]));
        for v in &p3.values {
            assert!((v - model.total() / 5.0).abs() < 1e-9 * model.total());
        }
    }

    #[test]
    fn total_is_the_inverse_variance_average() {
        let d = Domain::from_sizes(vec![2, 2]);
        // Sums 100 (cells 2, sigma 1: variance 2) and 200 (cells 4, sigma 2: variance 16).
        let a = Measurement::new(Clique::new([0]), vec![40.0, 60.0], 1.0);
        let b = Measurement::new(Clique::new([0, 1]), vec![50.0; 4], 2.0);
        let want = (100.0 / 2.0 + 200.0 / 16.0) / (1.0 / 2.0 + 1.0 / 16.0);
        assert!((estimate_total(&d, &[a.clone(), b.clone()]) - want).abs() < 1e-9);
        let neg = Measurement::new(Clique::new([0]), vec![-40.0, 10.0], 1.0);
        assert_eq!(estimate_total(&d, &[neg]), 1.0);
        assert_eq!(estimate_total(&d, &[]), 1.0);
        let (model, rep) = estimate(&d, &[], &EstimationOptions::default(), None).unwrap();
        assert_eq!(model.total(), 1.0);
        assert!(rep.converged);
        let empty = Measurement::new(Clique::empty(), vec![321.0], 1.0);
        let (model, _) = estimate(&d, &[empty], &EstimationOptions::default(), None).unwrap();
        assert_eq!(model.total(), 321.0);
    }

    /// A model of over 2^17 cells (large enough for the parallel walks): four overlapping
    /// cliques plus `extra`, each cell measured as `value` of a pseudo-random residue in
    /// 0..97, with sigma 3.
    fn large_fixture(extra: &[Clique], value: impl Fn(f64) -> f64) -> (Domain, Vec<Measurement>) {
        let d = Domain::new(
            (0..6).map(|i| format!("a{i}")).collect(),
            vec![40, 30, 60, 20, 50, 9],
        );
        let mut cliques = vec![
            Clique::new([0, 1, 2]),
            Clique::new([2, 3, 4]),
            Clique::new([4, 5]),
            Clique::new([1, 5]),
        ];
        cliques.extend_from_slice(extra);
        let ms = cliques
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let values = (0..c.cells(&d))
                    .map(|i| value(((i * 7919 + k * 31) % 97) as f64))
                    .collect();
                Measurement::new(c.clone(), values, 3.0)
            })
            .collect();
        (d, ms)
    }

    /// Large models split their kernels and tree cliques across threads; the fit must not
    /// depend on how many there are (releases are reproducible from their measurements).
    #[test]
    fn estimation_does_not_depend_on_the_thread_count() {
        let (d, ms) = large_fixture(&[], |v| v + 1.0);
        let opts = EstimationOptions {
            max_iters: 30,
            ..EstimationOptions::default()
        };
        let fit = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (m, r) = estimate(&d, &ms, &opts, None).unwrap();
                (
                    m.size_cells(),
                    m.project(&Clique::new([0, 3])).values,
                    r.losses,
                )
            })
        };
        let (cells, one, losses) = fit(1);
        assert!(
            cells > 1 << 17,
            "{cells} cells: too small to run in parallel"
        );
        assert_eq!((cells, one, losses), fit(3));
    }

    /// A fit in single precision lands where the same fit in double precision does: the same
    /// loss to within 1e-4 of the measured cells (the loss's scale under noise; measured: 1.0
    /// and 0.08 apart on a loss of 404,000 over 133,000 cells), and marginals within an L1
    /// distance of 1e-3 (measured: at most 3.8e-4), on a model large enough for the parallel
    /// walks, from a cold start and from a warm one.
    #[test]
    fn single_precision_fits_land_where_double_precision_fits_do() {
        let (d, ms) = large_fixture(&[Clique::new([0, 3])], |v| v / 8.0 - 2.0);
        let fit = |single: bool, k: usize, warm: Option<&GraphicalModel>| {
            let opts = EstimationOptions {
                max_iters: 300,
                single_precision: single,
                ..EstimationOptions::default()
            };
            estimate(&d, &ms[..k], &opts, warm).unwrap()
        };
        let l1 = |a: &GraphicalModel, b: &GraphicalModel, c: &Clique| -> f64 {
            let (x, y) = (a.project(c), b.project(c));
            let (sx, sy): (f64, f64) = (x.values.iter().sum(), y.values.iter().sum());
            x.values
                .iter()
                .zip(&y.values)
                .map(|(p, q)| (p / sx - q / sy).abs())
                .sum()
        };
        let (d4, rd4) = fit(false, 4, None);
        let (s4, rs4) = fit(true, 4, None);
        assert!(s4.size_cells() > 1 << 17);
        let (d5, rd5) = fit(false, 5, Some(&d4));
        let (s5, rs5) = fit(true, 5, Some(&s4));
        for ((rd, rs), (md, ms_)) in [(&rd4, &rs4), (&rd5, &rs5)]
            .into_iter()
            .zip([(&d4, &s4), (&d5, &s5)])
        {
            let cells = ms.iter().map(|m| m.values.len()).sum::<usize>() as f64;
            assert!(
                (rd.final_loss - rs.final_loss).abs() < 1e-4 * cells,
                "loss {} (double) against {} (single)",
                rd.final_loss,
                rs.final_loss
            );
            for c in [
                Clique::new([0, 3]),
                Clique::new([1, 4]),
                Clique::new([2, 5]),
            ] {
                let dist = l1(md, ms_, &c);
                assert!(dist < 1e-3, "{c:?}: L1 {dist} between the precisions");
            }
        }
        // Its probabilities are its fit's marginals, within f32's rounding of those its
        // potentials give in double precision; recalibrated, bit for bit those (what a
        // model read from a file computes).
        let again = GraphicalModel::from_parts(
            d.clone(),
            Engine::new(&d, s5.junction_tree().clone()),
            s5.raw_potentials().to_vec(),
            s5.total(),
            s5.measurements().to_vec(),
            None,
        );
        let c = Clique::new([0, 1, 2]);
        let (a, b) = (s5.project(&c).values, again.project(&c).values);
        assert_ne!(a, b, "nothing to compare");
        let dist: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / s5.total();
        assert!(
            dist < 1e-5,
            "L1 {dist} between the fit's and the potentials' marginals"
        );
        assert_eq!(s5.recalibrated().project(&c).values, b);
    }

    /// With `warm_ipf`, a warm start sweeps IPF over the measurements its model has not seen
    /// (AIM's new one) and over nothing else: with no new measurement (AIM's final fit) it is bit-identical to
    /// a warm start without IPF; with one, a few iterations reach a lower loss than without.
    #[test]
    fn warm_start_fits_only_the_new_measurements_by_ipf() {
        let d = Domain::new(
            (0..5).map(|i| format!("a{i}")).collect(),
            vec![6, 5, 7, 4, 8],
        );
        // Marginals of one fixed joint table (consistent, noise-free measurements).
        let all = Clique::new(0..5);
        let joint: Vec<f64> = (0..all.cells(&d))
            .map(|i| ((i * 7919) % 113) as f64 + 1.0)
            .collect();
        let shape = all.shape(&d);
        let table = |c: &Clique, _k: usize| -> Measurement {
            let mut values = vec![0.0; c.cells(&d)];
            for (i, &v) in joint.iter().enumerate() {
                let (mut rest, mut idx, mut stride) = (i, 0, 1);
                let mut digits = [0usize; 5];
                for a in (0..5).rev() {
                    digits[a] = rest % shape[a];
                    rest /= shape[a];
                }
                for &a in c.attrs().iter().rev() {
                    idx += digits[a] * stride;
                    stride *= shape[a];
                }
                values[idx] += v;
            }
            Measurement::new(c.clone(), values, 2.0)
        };
        let mut ms: Vec<Measurement> = (0..5).map(|a| table(&Clique::new([a]), a)).collect();
        ms.push(table(&Clique::new([0, 1]), 7));
        ms.push(table(&Clique::new([1, 2, 3]), 8));
        let (old, _) = estimate(&d, &ms, &EstimationOptions::default(), None).unwrap();
        let short = |sweeps: usize| EstimationOptions {
            max_iters: 5,
            ipf_sweeps: sweeps,
            warm_ipf: true,
            ..EstimationOptions::default()
        };
        // Nothing new: the same fit with or without IPF.
        let (a, ra) = estimate(&d, &ms, &short(3), Some(&old)).unwrap();
        let (b, rb) = estimate(&d, &ms, &short(0), Some(&old)).unwrap();
        assert_eq!(ra.losses, rb.losses);
        assert_eq!(ra.calibrations, rb.calibrations);
        assert_eq!(
            a.project(&Clique::new([0, 4])).values,
            b.project(&Clique::new([0, 4])).values
        );
        // One new measurement that the old model knows nothing about.
        ms.push(table(&Clique::new([3, 4]), 9));
        let (_, with) = estimate(&d, &ms, &short(3), Some(&old)).unwrap();
        let (_, without) = estimate(&d, &ms, &short(0), Some(&old)).unwrap();
        // `warm_ipf` off (the default) is the warm start without IPF.
        let off = EstimationOptions {
            warm_ipf: false,
            ..short(3)
        };
        let (_, default) = estimate(&d, &ms, &off, Some(&old)).unwrap();
        assert_eq!(default.losses, without.losses);
        assert!(
            with.losses[0] < 0.5 * without.losses[0],
            "start {} vs {}",
            with.losses[0],
            without.losses[0]
        );
        assert!(
            with.final_loss < without.final_loss,
            "after 5 iterations {} vs {}",
            with.final_loss,
            without.final_loss
        );
    }

    #[test]
    fn warm_start_by_moment_matching_keeps_the_old_marginals() {
        let d = Domain::from_sizes(vec![3, 2, 4]);
        let old_ms = vec![m(&[0, 1], &d, 3.0, 1.0), m(&[1, 2], &d, 2.0, 1.0)];
        let (old, _) = estimate(&d, &old_ms, &EstimationOptions::default(), None).unwrap();
        // The new measurement set's tree ({0,2}, {1,2}) contains no clique {0,1}: the warm
        // start projects the old model onto the new tree by its marginals.
        let new_ms = vec![m(&[0, 2], &d, 1.0, 1.0), m(&[1, 2], &d, 1.0, 1.0)];
        let frozen = EstimationOptions {
            max_iters: 0,
            ipf_sweeps: 0,
            ..Default::default()
        };
        let (warm, _) = estimate(&d, &new_ms, &frozen, Some(&old)).unwrap();
        assert!(warm
            .cliques()
            .iter()
            .all(|c| !old.cliques().contains(c) || c.len() == 2));
        for c in warm.cliques() {
            let (a, b) = (warm.project(c), old.project(c));
            // Same shape of distribution; totals differ (each fit estimates its own).
            assert!(a.l1_normalized(&b) < 1e-9, "{c:?}");
        }
        // Contained case: the old potentials are reused as they are.
        let more = vec![
            m(&[0, 1], &d, 3.0, 1.0),
            m(&[1, 2], &d, 2.0, 1.0),
            m(&[0, 2], &d, 1.0, 1.0),
        ];
        let (warm2, _) = estimate(&d, &more, &frozen, Some(&old)).unwrap();
        for c in old.cliques() {
            assert!(warm2.project(c).l1_normalized(&old.project(c)) < 1e-9);
        }
        let other = Domain::from_sizes(vec![3, 2, 5]);
        let ms_other = vec![m(&[0, 1], &other, 1.0, 1.0)];
        assert!(matches!(
            estimate(&other, &ms_other, &frozen, Some(&old)),
            Err(ModelError::WarmStartDomain)
        ));
    }

    /// The bootstrap's refit starts afresh on the model's tree: its result does not depend on
    /// the model's fitted values (a warm start does), it keeps the model's structural zeros,
    /// and it refuses a clique outside the tree.
    #[test]
    fn refit_ignores_the_fitted_values_and_keeps_structural_zeros() {
        let d = Domain::from_sizes(vec![2, 3, 4]);
        let zeros = StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 1]),
                allowed: vec![false, true, true, true, true, false],
            }],
        )
        .unwrap();
        let opts = EstimationOptions {
            zeros: Some(std::sync::Arc::new(zeros)),
            ..Default::default()
        };
        // Two models on the same tree fitted to opposite trends.
        let fit = |reversed: bool| {
            let mut ms = vec![m(&[0, 1], &d, 1.0, 2.0), m(&[1, 2], &d, 1.0, 2.0)];
            if reversed {
                ms.iter_mut().for_each(|m| m.values.reverse());
            }
            estimate(&d, &ms, &opts, None).unwrap().0
        };
        let (a, b) = (fit(false), fit(true));
        assert_eq!(a.cliques(), b.cliques());
        let new_ms = vec![m(&[0, 1], &d, 4.0, 2.0), m(&[1, 2], &d, 5.0, 2.0)];
        // The starting points (IPF only for the refit): a few iterations solve this small
        // problem from either.
        let short = EstimationOptions {
            max_iters: 0,
            tol: 0.0,
            ..Default::default()
        };
        let (ra, _) = refit(&a, &new_ms, &short).unwrap();
        let (rb, _) = refit(&b, &new_ms, &short).unwrap();
        let (wa, _) = estimate(&d, &new_ms, &short, Some(&a)).unwrap();
        let (wb, _) = estimate(&d, &new_ms, &short, Some(&b)).unwrap();
        let pair = Clique::new([0, 1]);
        let warm_gap = wa.project(&pair).l1_normalized(&wb.project(&pair));
        assert!(warm_gap > 0.1, "{warm_gap}");
        for c in ra.cliques() {
            assert!(ra.project(c).l1_normalized(&rb.project(c)) < 1e-12, "{c:?}");
        }
        let p = ra.project(&pair);
        assert_eq!((p.values[0], p.values[5]), (0.0, 0.0));
        assert!(p.values[1] > 0.0);
        let outside = vec![m(&[0, 2], &d, 1.0, 1.0)];
        assert!(matches!(
            refit(&a, &outside, &short),
            Err(ModelError::NotInModel { .. })
        ));
    }

    /// One path for structural zeros: a refit reads them from the model
    /// (`StructuralZeros::from_model`) and gives what a fresh fit with the schema's zeros
    /// gives, bit for bit (same tree, same start, same held cells); options' zeros are not
    /// read by a refit.
    #[test]
    fn refit_keeps_exactly_the_zeros_a_fit_with_the_rules_keeps() {
        let d = Domain::from_sizes(vec![3, 4, 2, 5]);
        let zeros = StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 2]),
                allowed: vec![true, false, false, true, true, true],
            }],
        )
        .unwrap();
        let with_rules = EstimationOptions {
            zeros: Some(std::sync::Arc::new(zeros)),
            max_iters: 50,
            ..Default::default()
        };
        let ms = vec![
            m(&[0, 1], &d, 2.0, 3.0),
            m(&[1, 3], &d, 1.0, 3.0),
            m(&[2], &d, 7.0, 3.0),
        ];
        let (model, _) = estimate(&d, &ms, &with_rules, None).unwrap();
        let new_ms: Vec<Measurement> = ms
            .iter()
            .map(|x| {
                let mut x = x.clone();
                x.values
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v += (i % 3) as f64);
                x
            })
            .collect();
        let (fresh, fresh_rep) = estimate(&d, &new_ms, &with_rules, None).unwrap();
        let plain = EstimationOptions {
            zeros: None,
            ..with_rules.clone()
        };
        let (re, re_rep) = refit(&model, &new_ms, &plain).unwrap();
        let (re2, _) = refit(&model, &new_ms, &with_rules).unwrap();
        assert_eq!(fresh.cliques(), re.cliques());
        assert_eq!(fresh_rep.losses, re_rep.losses);
        for c in fresh.cliques() {
            assert_eq!(fresh.project(c).values, re.project(c).values, "{c:?}");
            assert_eq!(re2.project(c).values, re.project(c).values, "{c:?}");
        }
        let pair = re.project(&Clique::new([0, 2]));
        assert_eq!((pair.values[1], pair.values[2]), (0.0, 0.0));
        assert!(pair.values[0] > 0.0);
    }
}
