//! Private-PGM estimation (McKenna, Sheldon, Miklau 2019): find the graphical model whose
//! marginals minimise `sum_C ||M_C(p) - y_C||^2 / sigma_C^2` over the marginal polytope.
//!
//! The optimiser is entropic mirror descent in the model's natural parameters: a step
//! `theta <- theta - alpha * grad_mu L(mu)` is exactly the mirror-descent step on the full
//! joint distribution with the entropy as mirror map, and belief propagation maps the new
//! potentials back to marginals `mu`. Each trial step costs one calibration. The step size
//! adapts by a backtracking (Armijo-type) test: a trial is accepted only if the loss falls by
//! at least `alpha / 2 * <grad, mu - mu_new>` (non-negative for a mirror step), so the
//! sequence of accepted losses is monotone; after an acceptance the step grows, after a
//! rejection it halves.
//!
//! The optimum is unique in `mu` when the measurements pin it down, and mirror descent from
//! the uniform model converges to the maximum-entropy one among equals.

use super::inference::{Engine, Workspace};
use super::layout::SubsetLayout;
use super::{EstimationOptions, EstimationReport, Measurement};

/// A measurement mapped into the engine: its tree clique, layout and weight.
pub(crate) struct Mapped<'a> {
    clique: usize,
    layout: SubsetLayout,
    weight: f64,
    /// Per-cell inverse variance multipliers (`None`: all 1).
    cell_weight: Option<Vec<f64>>,
    y: &'a [f64],
    /// Offset of this measurement in the flat per-measurement buffers.
    offset: usize,
}

/// Measurements mapped to the smallest containing tree clique.
pub(crate) struct Objective<'a> {
    mapped: Vec<Mapped<'a>>,
    cells: usize,
}

impl<'a> Objective<'a> {
    pub(crate) fn new(
        engine: &Engine,
        domain: &crate::marginal::Domain,
        measurements: &'a [Measurement],
    ) -> Self {
        let mut mapped = Vec::with_capacity(measurements.len());
        let mut offset = 0;
        for m in measurements {
            // Validated by the caller: every measured clique is inside some tree clique.
            let c = engine
                .tree
                .containing(domain, &m.clique)
                .unwrap_or_else(|| {
                    unreachable!("measured cliques are covered by the junction tree")
                });
            let layout = SubsetLayout::for_attrs(
                engine.tree.cliques()[c].attrs(),
                &engine.shapes[c],
                m.clique.attrs(),
            );
            let cell_weight = m
                .cell_variance
                .as_ref()
                .map(|v| v.iter().map(|x| 1.0 / x).collect());
            mapped.push(Mapped {
                clique: c,
                layout,
                weight: 1.0 / (m.sigma * m.sigma),
                cell_weight,
                y: &m.values,
                offset,
            });
            offset += m.values.len();
        }
        Objective {
            mapped,
            cells: offset,
        }
    }

    /// Number of measured cells (the loss's natural scale: its expected value at the true
    /// data is about this many, one chi-square degree of freedom per cell).
    pub(crate) fn cells(&self) -> usize {
        self.cells
    }

    /// Projects `mu` onto every measured clique (into `proj`) and returns the loss.
    fn loss(&self, engine: &Engine, mu: &[f64], proj: &mut [f64]) -> f64 {
        let mut loss = 0.0;
        for m in &self.mapped {
            let out = &mut proj[m.offset..m.offset + m.y.len()];
            m.layout.sum_into(&mu[engine.range(m.clique)], out);
            loss += m.weight
                * match &m.cell_weight {
                    None => out
                        .iter()
                        .zip(m.y)
                        .map(|(p, y)| (p - y) * (p - y))
                        .sum::<f64>(),
                    Some(w) => out
                        .iter()
                        .zip(m.y)
                        .zip(w)
                        .map(|((p, y), w)| w * (p - y) * (p - y))
                        .sum::<f64>(),
                };
        }
        loss
    }

    /// The gradient of the loss with respect to `mu`, expanded onto the tree cliques
    /// (`grad` is a clique vector); `gm` gets the per-measurement gradients.
    fn gradient(&self, engine: &Engine, proj: &[f64], gm: &mut [f64], grad: &mut [f64]) {
        grad.fill(0.0);
        for m in &self.mapped {
            let g = &mut gm[m.offset..m.offset + m.y.len()];
            let p = &proj[m.offset..m.offset + m.y.len()];
            for ((g, &p), &y) in g.iter_mut().zip(p).zip(m.y) {
                *g = 2.0 * m.weight * (p - y);
            }
            if let Some(w) = &m.cell_weight {
                g.iter_mut().zip(w).for_each(|(g, w)| *g *= w);
            }
            m.layout.add_expanded(&mut grad[engine.range(m.clique)], g);
        }
    }
}

/// Runs mirror descent from `theta` (modified in place); returns the report and leaves the
/// final marginals (scaled to `total`) in `mu`.
pub(crate) fn mirror_descent(
    engine: &Engine,
    objective: &Objective<'_>,
    total: f64,
    theta: &mut Vec<f64>,
    mu: &mut Vec<f64>,
    opts: &EstimationOptions,
) -> EstimationReport {
    let n = engine.total_cells();
    let m_cells = objective.cells();
    let mut ws = Workspace::default();
    engine.calibrate(theta, total, &mut ws, mu);
    let mut proj = vec![0.0; m_cells];
    let mut loss = objective.loss(engine, mu, &mut proj);
    let mut losses = vec![loss];
    if objective.mapped.is_empty() || opts.max_iters == 0 {
        return EstimationReport {
            iterations: 0,
            final_loss: loss,
            converged: objective.mapped.is_empty(),
            losses,
        };
    }
    let mut gm = vec![0.0; m_cells];
    let mut grad = vec![0.0; n];
    objective.gradient(engine, &proj, &mut gm, &mut grad);

    let mut trial_theta = vec![0.0; n];
    let mut trial_mu = vec![0.0; n];
    let mut trial_proj = vec![0.0; m_cells];

    // First step: move log-potentials by at most one unit, then let the line search adapt.
    let gmax = grad.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    let mut alpha = opts
        .initial_step
        .unwrap_or(if gmax > 0.0 { 1.0 / gmax } else { 1.0 });
    let mut converged = false;
    let mut rejections_in_row = 0usize;
    let mut accepted: Vec<f64> = vec![loss];
    let mut iterations = 0;
    while iterations < opts.max_iters {
        iterations += 1;
        for ((t, &th), &g) in trial_theta.iter_mut().zip(theta.iter()).zip(&grad) {
            *t = th - alpha * g;
        }
        engine.calibrate(&trial_theta, total, &mut ws, &mut trial_mu);
        let trial_loss = objective.loss(engine, &trial_mu, &mut trial_proj);
        // <grad, mu - mu_new> measured on the measurement tables (the gradient lives there).
        let inner: f64 = gm
            .iter()
            .zip(&proj)
            .zip(&trial_proj)
            .map(|((g, a), b)| g * (a - b))
            .sum();
        let accept = match opts.stepsize {
            // A fixed step (1/L for a known Lipschitz constant L) takes every finite step.
            Some(_) => trial_loss.is_finite(),
            None => trial_loss.is_finite() && loss - trial_loss >= 0.5 * alpha * inner.max(0.0),
        };
        if accept {
            std::mem::swap(theta, &mut trial_theta);
            std::mem::swap(mu, &mut trial_mu);
            std::mem::swap(&mut proj, &mut trial_proj);
            loss = trial_loss;
            objective.gradient(engine, &proj, &mut gm, &mut grad);
            alpha = opts.stepsize.unwrap_or(alpha * opts.step_growth);
            rejections_in_row = 0;
            accepted.push(loss);
            let w = opts.window;
            if accepted.len() > w {
                let prev = accepted[accepted.len() - 1 - w];
                if prev - loss <= opts.tol * (loss + m_cells as f64) {
                    converged = true;
                }
            }
        } else {
            alpha *= 0.5;
            rejections_in_row += 1;
            // No step size decreases the loss any more: a stationary point to machine precision.
            if rejections_in_row >= 40 {
                converged = true;
            }
        }
        losses.push(loss);
        if converged {
            break;
        }
    }
    EstimationReport {
        iterations,
        final_loss: loss,
        converged,
        losses,
    }
}
