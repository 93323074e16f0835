//! MST (McKenna, Miklau, Sheldon 2021): noisy one-ways, a maximum spanning tree of column
//! pairs chosen privately, noisy two-ways on its edges, then Private-PGM.
//!
//! Privacy: proofs/mst.md covers `mst`, `select_tree` and the compression step.

use std::time::Instant;

use crate::marginal::{Clique, MarginalOracle, MarginalTable};
use crate::model::{estimate, EstimationOptions, Measurement, Optimizer};
use crate::privacy::{noisy_max_scale_for, select_noisy_max, Accountant, Budget, PrivacyUnit, Rho};

use super::compress::{CompressedOracle, Compression};
use super::evidence::{Scored, SelectionTracker};
use super::knowledge::SchemaKnowledge;
use super::measure::{measure_marginal, share, spendable_rho};
use super::score::l1_distance;
use super::{Fitted, MechanismError, Progress};

/// Tunables of MST. Defaults follow the paper and private-pgm.
#[derive(Clone, Debug)]
pub struct MstOptions {
    /// Merge values whose noisy one-way count is below `compress_sigmas * sigma`.
    pub compress: bool,
    pub compress_sigmas: f64,
    /// The final fit (default: [`MstOptions::default_estimation`]).
    pub estimation: EstimationOptions,
    /// Whose privacy is protected: every sensitivity below is read from it. The data
    /// behind the oracle must already be truncated to `unit.max_rows()` rows per unit
    /// (`data::truncate_units`; proofs/privacy-unit.md).
    pub unit: PrivacyUnit,
    /// Automatic bins and rules from the schema (public; `knowledge.rs`).
    pub knowledge: SchemaKnowledge,
}

impl Default for MstOptions {
    fn default() -> Self {
        MstOptions {
            compress: true,
            compress_sigmas: 3.0,
            estimation: Self::default_estimation(),
            unit: PrivacyUnit::Record,
            knowledge: SchemaKnowledge::default(),
        }
    }
}

impl MstOptions {
    /// Private-PGM's plain entropic mirror descent from the uniform model, stopped once the
    /// loss moves by less than 3e-4 of its noise scale over ten steps, rather than run to the
    /// least-squares optimum. MST's measurements form a tree, so the optimum reproduces the
    /// noisy marginals as closely as the polytope allows, noise included; stopping plain
    /// mirror descent early keeps what the noise cannot support close to its
    /// maximum-entropy start (an implicit regularisation). The stop is relative to the noise
    /// (the measured-cell count), so it comes early at small budgets and late at large ones.
    /// Measured on the same noisy measurements (issue #21; `examples/mst_diagnose.rs`), mean
    /// 3-way L1 of the model against the converged accelerated fit: adult epsilon 0.3 / 1 /
    /// 3: 0.1915 / 0.1666 / 0.1605 vs 0.1947 / 0.1685 / 0.1612; NIST national2019:
    /// 0.3001 / 0.2359 / 0.2124 vs 0.3045 / 0.2371 / 0.2120. The accelerated method, stopped
    /// by the same test, overshoots into the noise within a few hundred steps (0.1682 on
    /// adult at epsilon 1), so MST keeps the plain method.
    pub fn default_estimation() -> EstimationOptions {
        EstimationOptions {
            optimizer: Optimizer::MirrorDescent,
            ipf_sweeps: 0,
            tol: 3e-4,
            max_iters: 10_000,
            ..EstimationOptions::default()
        }
    }
}

/// Runs MST on the data behind `oracle`, spending exactly (up to 1e-12 relative) `budget.rho`.
///
/// Budget split as in the paper: a third on one-way marginals, a third on the tree
/// selection (split evenly over the d - 1 edges), a third on the edge marginals.
pub fn mst<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    opts: &MstOptions,
    progress: &dyn Progress,
) -> Result<Fitted, MechanismError> {
    // A budget beyond the noise-free ceiling is spent only up to it (item 9 of issue #13).
    let mut acc = Accountant::new(Rho::new(spendable_rho(&budget, &opts.unit))?);
    // Any failure after the first charge says that budget was spent (issue #13, item 5).
    run_mst(oracle, budget, opts, progress, &mut acc).map_err(|e| e.after_charges(&acc))
}

/// The body of [`mst`], charging `acc`.
fn run_mst<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    opts: &MstOptions,
    progress: &dyn Progress,
    acc: &mut Accountant,
) -> Result<Fitted, MechanismError> {
    let domain = oracle.domain().clone();
    let d = domain.len();
    if d == 0 {
        return Err(MechanismError::EmptyDomain);
    }
    let rho = acc.budget().value();
    let mut phases = Vec::new();
    // With a single column there is no tree: all of the budget goes to its one-way.
    let rho_one_ways = if d == 1 { rho } else { rho / 3.0 };

    // Everything MST may count (one-ways, then every pair for the tree), fetched before
    // any noise is drawn: a source that fails costs no budget.
    let t = Instant::now();
    let mut wanted: Vec<Clique> = (0..d).map(|a| Clique::new([a])).collect();
    wanted.extend(crate::marginal::all_k_way(d, 2));
    oracle.prefetch(&wanted)?;
    phases.push(("exact marginals".to_string(), t.elapsed()));

    // 1. One-way marginals.
    let t = Instant::now();
    progress.start("one-way marginals", d);
    let rho_each = share(rho_one_ways, d);
    let mut one_ways = Vec::with_capacity(d);
    for a in 0..d {
        one_ways.push(measure_marginal(
            oracle,
            acc,
            &Clique::new([a]),
            rho_each,
            &opts.unit,
            "one-way marginal",
        )?);
        progress.inc();
    }
    progress.finish();
    phases.push(("one-way marginals".to_string(), t.elapsed()));

    // 2. Domain compression from the noisy one-ways (post-processing): rare values share a
    // code, automatic-bin grids merge into bins of roughly equal mass.
    let sigma = one_ways[0].sigma;
    let noisy: Vec<Vec<f64>> = one_ways.iter().map(|m| m.values.clone()).collect();
    let compression = if opts.compress {
        Compression::from_noisy_one_ways_ordered(
            &noisy,
            opts.compress_sigmas * sigma,
            &opts.knowledge.ordered_codes(),
        )
    } else {
        Compression::identity(&domain)
    };
    // Columns in a rule's structural zeros stay unmerged (knowledge.rs: merging blurs the mask).
    let compression = opts.knowledge.keep_rule_columns(compression);
    // A merged run of bins splits by the tapered within-bin density, not by noisy counts.
    let compression = opts.knowledge.smooth_run_weights(&noisy, compression);
    let compression = opts.knowledge.merge_auto_bins(&noisy, sigma, compression);
    // The rules' structural zeros over the compressed domain (public).
    let est = EstimationOptions {
        zeros: opts.knowledge.zeros(&compression)?,
        ..opts.estimation.clone()
    };
    let cdomain = compression.domain(&domain);
    let coracle = CompressedOracle::new(oracle, &compression);
    let mut measurements: Vec<Measurement> = one_ways
        .iter()
        .map(|m| compression.compress_one_way(m))
        .collect();

    let mut tracker = None;
    if d > 1 {
        // 3. Private maximum spanning tree.
        let t = Instant::now();
        let tree = select_tree(
            &coracle,
            acc,
            &measurements,
            rho / 3.0,
            opts.unit.score_sensitivity(1.0),
            &est,
            progress,
        )?;
        phases.push(("tree selection".to_string(), t.elapsed()));
        let edges = &tree.edges;

        // 4. Two-way marginals on the tree edges.
        let t = Instant::now();
        progress.start("two-way marginals", edges.len());
        let rho_edge = share(rho / 3.0, edges.len());
        for e in edges {
            measurements.push(measure_marginal(
                &coracle,
                acc,
                e,
                rho_edge,
                &opts.unit,
                "two-way marginal (tree edge)",
            )?);
            progress.inc();
        }
        progress.finish();
        phases.push(("two-way marginals".to_string(), t.elapsed()));
        // Error bars from the first Kruskal step, where every pair was a candidate
        // (post-processing; proofs/accuracy.md).
        let first = &measurements[d];
        let mut t1 = SelectionTracker::new(1);
        let scored: Vec<Scored> = tree
            .pairs
            .iter()
            .zip(&tree.independent)
            .map(|(c, est)| Scored {
                clique: c,
                weight: 1.0,
                penalty: 0.0,
                estimate: est,
            })
            .collect();
        t1.round(
            &scored,
            tree.first,
            tree.first_scale,
            &first.values,
            first.sigma,
        );
        tracker = Some(t1);
    }

    // 5. Private-PGM on the noisy marginals (post-processing).
    let t = Instant::now();
    progress.start("estimation", 1);
    let (model, report) = estimate(&cdomain, &measurements, &est, None)?;
    // Released: its probabilities as its file will have them (`GraphicalModel::recalibrated`).
    let model = model.recalibrated();
    progress.finish();
    phases.push(("estimation".to_string(), t.elapsed()));
    let selection = tracker.map_or_else(Default::default, |t: SelectionTracker| t.finish(&model));

    Ok(Fitted {
        mechanism: "mst".into(),
        budget,
        unit: opts.unit.clone(),
        ledger: acc.ledger().to_vec(),
        spent: acc.spent(),
        compression,
        measurements,
        model,
        estimation: report,
        phases,
        workload: crate::marginal::all_k_way(d, 2),
        selection: selection.bounds,
        selection_rounds: selection.rounds,
        selection_records: selection.records,
        summed: (0..d).collect(),
        accuracy: None,
    })
}

/// The private tree, and what the first step's selection reveals for error bars.
struct Tree {
    edges: Vec<Clique>,
    /// Every pair, and the independent model's answer for it (what step 1 scored against).
    pairs: Vec<Clique>,
    independent: Vec<MarginalTable>,
    /// Index into `pairs` of the first edge chosen, and the Gumbel scale.
    first: usize,
    first_scale: f64,
}

/// Chooses d - 1 tree edges, each by the exponential mechanism on the L1 distance between a
/// pair's true marginal and its estimate from a model of the noisy one-ways, skipping pairs
/// already connected (Kruskal with private choices). The scores' sensitivity is 1 per record
/// (proofs/mst.md), `sensitivity` = K for a unit of up to K rows (proofs/privacy-unit.md).
#[allow(clippy::too_many_arguments)]
fn select_tree<O: MarginalOracle>(
    oracle: &O,
    acc: &mut Accountant,
    one_ways: &[Measurement],
    rho: f64,
    sensitivity: f64,
    est_opts: &EstimationOptions,
    progress: &dyn Progress,
) -> Result<Tree, MechanismError> {
    let domain = oracle.domain();
    let d = domain.len();
    let (independent, _) = estimate(domain, one_ways, est_opts, None)?;
    let pairs = crate::marginal::all_k_way(d, 2);
    progress.start("tree selection", pairs.len() + d - 1);
    let estimates = independent.project_many(&pairs);
    let mut weights = Vec::with_capacity(pairs.len());
    for (pair, xhat) in pairs.iter().zip(&estimates) {
        let x = oracle.marginal(pair)?;
        // Exact, so one record moves it by at most 1 as computed (proofs/exponential-selection.md).
        weights.push(l1_distance(&x.values, &xhat.values));
        progress.inc();
    }
    let scale = noisy_max_scale_for(Rho::new(share(rho, d - 1))?, sensitivity, false)?;
    let mut components: Vec<usize> = (0..d).collect();
    fn find(c: &mut [usize], mut x: usize) -> usize {
        while c[x] != x {
            c[x] = c[c[x]];
            x = c[x];
        }
        x
    }
    let mut edges = Vec::with_capacity(d - 1);
    let mut first = 0;
    for step in 0..d - 1 {
        let candidates: Vec<usize> = (0..pairs.len())
            .filter(|&i| {
                let (a, b) = (pairs[i].attrs()[0], pairs[i].attrs()[1]);
                find(&mut components, a) != find(&mut components, b)
            })
            .collect();
        let scores: Vec<f64> = candidates.iter().map(|&i| weights[i]).collect();
        let purpose = format!(
            "MST edge selection {} of {} among {} pairs",
            step + 1,
            d - 1,
            scores.len()
        );
        let chosen = select_noisy_max(acc, &scores, sensitivity, false, scale, &purpose, vec![])?;
        if step == 0 {
            first = candidates[chosen];
        }
        let pair = &pairs[candidates[chosen]];
        let (a, b) = (
            find(&mut components, pair.attrs()[0]),
            find(&mut components, pair.attrs()[1]),
        );
        components[a] = b;
        edges.push(pair.clone());
        progress.inc();
    }
    progress.finish();
    Ok(Tree {
        edges,
        pairs,
        independent: estimates,
        first,
        first_scale: scale,
    })
}
