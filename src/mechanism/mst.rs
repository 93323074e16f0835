//! MST (McKenna, Miklau, Sheldon 2021): noisy one-ways, a maximum spanning tree of column
//! pairs chosen privately, noisy two-ways on its edges, then Private-PGM.
//!
//! Privacy: proofs/mst.md covers `mst`, `select_tree` and the compression step.

use std::time::Instant;

use crate::marginal::{Clique, MarginalOracle};
use crate::model::{estimate, EstimationOptions, Measurement};
use crate::privacy::{noisy_max_scale_for, select_noisy_max, Accountant, Budget, PrivacyUnit, Rho};

use super::compress::{CompressedOracle, Compression};
use super::measure::{measure_marginal, share};
use super::{Fitted, MechanismError, Progress};

/// Tunables of MST. Defaults follow the paper and private-pgm.
#[derive(Clone, Debug)]
pub struct MstOptions {
    /// Merge values whose noisy one-way count is below `compress_sigmas * sigma`.
    pub compress: bool,
    pub compress_sigmas: f64,
    pub estimation: EstimationOptions,
    /// Whose privacy is protected: every sensitivity below is read from it. The data
    /// behind the oracle must already be truncated to `unit.max_rows()` rows per unit
    /// (`data::truncate_units`; proofs/privacy-unit.md).
    pub unit: PrivacyUnit,
}

impl Default for MstOptions {
    fn default() -> Self {
        MstOptions {
            compress: true,
            compress_sigmas: 3.0,
            estimation: EstimationOptions::default(),
            unit: PrivacyUnit::Record,
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
    let domain = oracle.domain().clone();
    let d = domain.len();
    if d == 0 {
        return Err(MechanismError::EmptyDomain);
    }
    let rho = budget.rho.value();
    let mut acc = Accountant::new(budget.rho);
    let mut phases = Vec::new();
    // With a single column there is no tree: all of the budget goes to its one-way.
    let rho_one_ways = if d == 1 { rho } else { rho / 3.0 };

    // Everything MST may count (one-ways, then every pair for the tree), fetched before
    // any noise is drawn: a source that fails costs no budget.
    let mut wanted: Vec<Clique> = (0..d).map(|a| Clique::new([a])).collect();
    wanted.extend(crate::marginal::all_k_way(d, 2));
    oracle.prefetch(&wanted)?;

    // 1. One-way marginals.
    let t = Instant::now();
    progress.start("one-way marginals", d);
    let rho_each = share(rho_one_ways, d);
    let mut one_ways = Vec::with_capacity(d);
    for a in 0..d {
        one_ways.push(measure_marginal(
            oracle,
            &mut acc,
            &Clique::new([a]),
            rho_each,
            &opts.unit,
            "one-way marginal",
        )?);
        progress.inc();
    }
    progress.finish();
    phases.push(("one-way marginals".to_string(), t.elapsed()));

    // 2. Domain compression from the noisy one-ways (post-processing).
    let compression = if opts.compress {
        let sigma = one_ways[0].sigma;
        let noisy: Vec<Vec<f64>> = one_ways.iter().map(|m| m.values.clone()).collect();
        Compression::from_noisy_one_ways(&noisy, opts.compress_sigmas * sigma)
    } else {
        Compression::identity(&domain)
    };
    let cdomain = compression.domain(&domain);
    let coracle = CompressedOracle::new(oracle, &compression);
    let mut measurements: Vec<Measurement> = one_ways
        .iter()
        .map(|m| compress_one_way(m, &compression))
        .collect();

    if d > 1 {
        // 3. Private maximum spanning tree.
        let t = Instant::now();
        let edges = select_tree(
            &coracle,
            &mut acc,
            &measurements,
            rho / 3.0,
            opts.unit.score_sensitivity(1.0),
            &opts.estimation,
            progress,
        )?;
        phases.push(("tree selection".to_string(), t.elapsed()));

        // 4. Two-way marginals on the tree edges.
        let t = Instant::now();
        progress.start("two-way marginals", edges.len());
        let rho_edge = share(rho / 3.0, edges.len());
        for e in &edges {
            measurements.push(measure_marginal(
                &coracle,
                &mut acc,
                e,
                rho_edge,
                &opts.unit,
                "two-way marginal (tree edge)",
            )?);
            progress.inc();
        }
        progress.finish();
        phases.push(("two-way marginals".to_string(), t.elapsed()));
    }

    // 5. Private-PGM on the noisy marginals (post-processing).
    let t = Instant::now();
    progress.start("estimation", 1);
    let (model, report) = estimate(&cdomain, &measurements, &opts.estimation, None)?;
    progress.finish();
    phases.push(("estimation".to_string(), t.elapsed()));

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
    })
}

/// Re-expresses a noisy one-way over the compressed domain by summing merged cells. (A
/// merged cell has variance `m sigma^2`; weighting it so measured no difference on adult,
/// so the estimator treats all cells alike.)
fn compress_one_way(m: &Measurement, compression: &Compression) -> Measurement {
    let a = m.clique.attrs()[0];
    let values = compression.groups[a]
        .iter()
        .map(|olds| olds.iter().map(|&o| m.values[o as usize]).sum())
        .collect();
    Measurement::new(m.clique.clone(), values, m.sigma)
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
) -> Result<Vec<Clique>, MechanismError> {
    let domain = oracle.domain();
    let d = domain.len();
    let (independent, _) = estimate(domain, one_ways, est_opts, None)?;
    let pairs = crate::marginal::all_k_way(d, 2);
    progress.start("tree selection", pairs.len() + d - 1);
    let estimates = independent.project_many(&pairs);
    let mut weights = Vec::with_capacity(pairs.len());
    for (pair, xhat) in pairs.iter().zip(&estimates) {
        let x = oracle.marginal(pair)?;
        weights.push(
            x.values
                .iter()
                .zip(&xhat.values)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>(),
        );
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
    Ok(edges)
}
