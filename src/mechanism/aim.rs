//! AIM (McKenna, Mullins, Sheldon, Miklau 2022): adaptive, workload-aware selection.
//!
//! Each round selects the candidate marginal the current model answers worst (exponential
//! mechanism, quality penalised by the noise a measurement would add), measures it with
//! the Gaussian mechanism, and refits the model from a warm start. When a measurement
//! barely moves the model the noise is halved (annealing); the last round spends exactly
//! what is left. Privacy: proofs/aim.md covers `aim`, `select_worst` and `Workload`.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::marginal::{Clique, Domain, MarginalOracle, MarginalTable};
use crate::model::{estimate, model_size_cells, EstimationOptions, GraphicalModel, Measurement};
use crate::privacy::{
    gaussian_scale_for, noisy_max_scale_for, select_noisy_max, Accountant, Budget, PrivacyUnit, Rho,
};

use super::compress::Compression;
use super::measure::measure_marginal_with_sigma;
use super::{Fitted, MechanismError, Progress};

/// A weighted list of cliques the user cares about (public: chosen without the data).
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub cliques: Vec<(Clique, f64)>,
}

impl Workload {
    /// All k-way marginals with weight 1 (AIM's default is k = 3).
    pub fn all_k_way(d: usize, k: usize) -> Self {
        let k = k.min(d);
        Workload {
            cliques: crate::marginal::all_k_way(d, k)
                .into_iter()
                .map(|c| (c, 1.0))
                .collect(),
        }
    }

    /// AIM's candidates: every non-empty subset of a workload clique, weighted by
    /// `sum_w weight_w * |C intersect w|` (the paper's score, section 4). Sorted for
    /// determinism.
    pub fn candidates(&self) -> BTreeMap<Clique, f64> {
        let mut out = BTreeMap::new();
        for (w, _) in &self.cliques {
            for k in 1..=w.len() {
                for c in w.subsets_of_size(k) {
                    out.entry(c).or_insert(0.0);
                }
            }
        }
        for (c, wgt) in out.iter_mut() {
            *wgt = self
                .cliques
                .iter()
                .map(|(w, ww)| ww * c.intersection(w).len() as f64)
                .sum();
        }
        out
    }
}

/// Tunables of AIM. Defaults follow the paper and private-pgm's reference code.
#[derive(Clone, Debug)]
pub struct AimOptions {
    /// Rounds the budget is planned for; the paper uses 16 * d. Raised to at least d + 1
    /// (the one-way initialisation takes d rounds' measurement budget).
    pub rounds: Option<usize>,
    /// Model size cap in MB of f64 cells (the paper's 80 MB).
    pub max_model_size_mb: f64,
    /// Fraction of each round's budget spent on selection (the paper's 0.1).
    pub selection_share: f64,
    /// The final fit. Its iteration cap is 500, not the engine's 2000: measured on adult
    /// (2026-11-23), stopping there leaves the 3-way error unchanged (eps 3: 0.0923 over 2
    /// runs vs 0.0923 over 5 with the fit run to convergence at ~1,900 iterations; eps 1:
    /// 0.1260 vs 0.1274) and cuts the final fit at eps 3 from ~300 s to ~30 s.
    pub estimation: EstimationOptions,
    /// Iterations for each warm-started refit inside rounds.
    pub round_iters: usize,
    /// Convergence tolerance of those refits (see `EstimationOptions::tol`). A round's model
    /// only has to rank the candidates, so it stops once progress is small against the
    /// noise; the final fit uses `estimation.tol`.
    pub round_tol: f64,
    /// Whose privacy is protected: every sensitivity is read from it. The data behind the
    /// oracle must already be truncated to `unit.max_rows()` rows per unit
    /// (`data::truncate_units`; proofs/privacy-unit.md).
    pub unit: PrivacyUnit,
}

impl Default for AimOptions {
    fn default() -> Self {
        AimOptions {
            rounds: None,
            max_model_size_mb: 80.0,
            selection_share: 0.1,
            estimation: EstimationOptions {
                max_iters: 500,
                ..EstimationOptions::default()
            },
            round_iters: 100,
            round_tol: 1e-6,
            unit: PrivacyUnit::Record,
        }
    }
}

const BYTES_PER_CELL: f64 = 8.0;

fn mb_to_cells(mb: f64) -> usize {
    (mb * 1024.0 * 1024.0 / BYTES_PER_CELL) as usize
}

/// Expected L1 norm of Gaussian noise on `cells` cells: sqrt(2/pi) sigma per cell.
fn expected_noise_l1(sigma: f64, cells: usize) -> f64 {
    (2.0 / std::f64::consts::PI).sqrt() * sigma * cells as f64
}

/// Runs AIM for `workload` on the data behind `oracle`, spending the whole budget.
pub fn aim<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    workload: &Workload,
    opts: &AimOptions,
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
    // The initialisation measures every one-way at one round's noise level, so at least
    // d + 1 rounds of budget are needed for any adaptive round to remain.
    let rounds = opts.rounds.unwrap_or(16 * d).max(d + 1);
    let sel = opts.selection_share.clamp(1e-6, 0.99);

    // Candidates and their exact answers (private; only read by select_worst).
    let t = Instant::now();
    let candidates = workload.candidates();
    let cand_list: Vec<Clique> = candidates.keys().cloned().collect();
    let cand_weights: Vec<f64> = candidates.values().copied().collect();
    // Fetched before any noise is drawn (a failing source costs no budget): the candidates
    // and the one-ways, everything AIM measures.
    let mut wanted = cand_list.clone();
    wanted.extend((0..d).map(|a| Clique::new([a])));
    oracle.prefetch(&wanted)?;
    progress.start("exact candidate marginals", cand_list.len());
    let mut answers = Vec::with_capacity(cand_list.len());
    for c in &cand_list {
        answers.push(oracle.marginal(c)?);
        progress.inc();
    }
    progress.finish();
    phases.push(("candidate marginals".to_string(), t.elapsed()));

    // Initial per-round noise: the paper's sigma = sqrt(T / (2 (1 - s) rho)), eps_sel from s rho / T.
    let mut rho_measure = (1.0 - sel) * rho / rounds as f64;
    let mut rho_select = sel * rho / rounds as f64;

    // One-way marginals of every column at the initial sigma.
    let t = Instant::now();
    progress.start("one-way marginals", d);
    let unit = &opts.unit;
    let mut sigma = gaussian_scale_for(Rho::new(rho_measure)?, unit.marginal_sensitivity())?;
    let mut measurements: Vec<Measurement> = Vec::new();
    for a in 0..d {
        measurements.push(measure_marginal_with_sigma(
            oracle,
            &mut acc,
            &Clique::new([a]),
            sigma,
            unit,
            "one-way marginal",
        )?);
        progress.inc();
    }
    progress.finish();
    let mut est = opts.estimation.clone();
    let (mut model, _) = estimate(&domain, &measurements, &est, None)?;
    phases.push(("one-way marginals".to_string(), t.elapsed()));

    // Rounds.
    let t = Instant::now();
    let max_cells = mb_to_cells(opts.max_model_size_mb);
    progress.start("AIM rounds", rounds);
    let mut round = 0usize;
    let mut last = false;
    let (mut t_select, mut t_measure, mut t_refit) = (0.0f64, 0.0f64, 0.0f64);
    est.max_iters = opts.round_iters;
    est.tol = opts.round_tol;
    while !last {
        round += 1;
        let remaining = acc.remaining();
        // If fewer than two rounds of budget are left, spend all of it now.
        if remaining < 2.0 * (rho_measure + rho_select) {
            rho_measure = (1.0 - sel) * remaining * (1.0 - 1e-12);
            rho_select = sel * remaining * (1.0 - 1e-12);
            last = true;
        }
        sigma = gaussian_scale_for(Rho::new(rho_measure)?, unit.marginal_sensitivity())?;
        let spent_after = acc.spent() + rho_measure + rho_select;
        let size_limit = (max_cells as f64 * spent_after / rho) as usize;

        // Candidates that fit under the size cap (or are already inside a model clique).
        let allowed: Vec<usize> = (0..cand_list.len())
            .filter(|&i| {
                let c = &cand_list[i];
                model.cliques().iter().any(|m| c.is_subset_of(m)) || {
                    let mut cl: Vec<Clique> = model.cliques().to_vec();
                    cl.push(c.clone());
                    model_size_cells(&domain, &cl) <= size_limit
                }
            })
            .collect();
        if allowed.is_empty() {
            return Err(MechanismError::NoCandidate(opts.max_model_size_mb));
        }
        let ts = Instant::now();
        let chosen = select_worst(
            &mut acc,
            &model,
            &domain,
            &allowed,
            &cand_list,
            &cand_weights,
            &answers,
            sigma,
            rho_select,
            unit,
            round,
        )?;
        t_select += ts.elapsed().as_secs_f64();
        let clique = cand_list[chosen].clone();
        let before = model.project(&clique);
        let tm = Instant::now();
        let m = measure_marginal_with_sigma(
            oracle,
            &mut acc,
            &clique,
            sigma,
            unit,
            &format!("AIM round {round} measurement"),
        )?;
        t_measure += tm.elapsed().as_secs_f64();
        measurements.push(m);
        let tr = Instant::now();
        let (refit, _) = estimate(&domain, &measurements, &est, Some(&model))?;
        t_refit += tr.elapsed().as_secs_f64();
        model = refit;
        let after = model.project(&clique);
        let moved: f64 = before
            .values
            .iter()
            .zip(&after.values)
            .map(|(a, b)| (a - b).abs())
            .sum();
        // Annealing: a measurement that hardly changed the model was too noisy to help.
        if !last && moved <= expected_noise_l1(sigma, clique.cells(&domain)) {
            rho_measure *= 4.0;
            rho_select *= 4.0;
        }
        progress.inc();
        progress.message(&format!(
            "round {round}: rho {:.4} of {:.4} spent, model {:.1} MB",
            acc.spent(),
            rho,
            model.size_cells() as f64 * BYTES_PER_CELL / (1024.0 * 1024.0)
        ));
    }
    progress.finish();
    phases.push((format!("{round} rounds"), t.elapsed()));
    for (name, secs) in [
        ("  of which selection", t_select),
        ("  of which measurement", t_measure),
        ("  of which refits", t_refit),
    ] {
        phases.push((name.to_string(), std::time::Duration::from_secs_f64(secs)));
    }

    // Final fit with the full iteration budget.
    let t = Instant::now();
    progress.start("estimation", 1);
    let (model, report) = estimate(&domain, &measurements, &opts.estimation, Some(&model))?;
    progress.finish();
    phases.push(("estimation".to_string(), t.elapsed()));

    Ok(Fitted {
        mechanism: "aim".into(),
        budget,
        unit: opts.unit.clone(),
        ledger: acc.ledger().to_vec(),
        spent: acc.spent(),
        compression: Compression::identity(&domain),
        measurements,
        model,
        estimation: report,
        phases,
    })
}

/// The exponential mechanism over allowed candidates with AIM's quality
/// `w_C * (||M_C(D) - M_C(p)||_1 - sqrt(2/pi) sigma n_C)`; L-infinity sensitivity
/// `max_C w_C` over the allowed set per record, not monotone (proofs/aim.md), times K for a
/// unit of up to K rows (`unit.score_sensitivity`, proofs/privacy-unit.md).
#[allow(clippy::too_many_arguments)]
fn select_worst(
    acc: &mut Accountant,
    model: &GraphicalModel,
    domain: &Domain,
    allowed: &[usize],
    cand_list: &[Clique],
    cand_weights: &[f64],
    answers: &[MarginalTable],
    sigma: f64,
    rho_select: f64,
    unit: &PrivacyUnit,
    round: usize,
) -> Result<usize, MechanismError> {
    let cliques: Vec<Clique> = allowed.iter().map(|&i| cand_list[i].clone()).collect();
    let estimates = model.project_many(&cliques);
    let scores: Vec<f64> = allowed
        .iter()
        .zip(&estimates)
        .map(|(&i, est)| {
            let l1: f64 = answers[i]
                .values
                .iter()
                .zip(&est.values)
                .map(|(a, b)| (a - b).abs())
                .sum();
            cand_weights[i] * (l1 - expected_noise_l1(sigma, cand_list[i].cells(domain)))
        })
        .collect();
    let sensitivity = unit.score_sensitivity(
        allowed
            .iter()
            .map(|&i| cand_weights[i])
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE),
    );
    let scale = noisy_max_scale_for(Rho::new(rho_select)?, sensitivity, false)?;
    let purpose = format!(
        "AIM round {round} selection among {} candidates",
        allowed.len()
    );
    let k = select_noisy_max(acc, &scores, sensitivity, false, scale, &purpose, vec![])?;
    Ok(allowed[k])
}

#[derive(serde::Deserialize)]
struct WorkloadFile {
    cliques: Vec<WorkloadEntry>,
}

#[derive(serde::Deserialize)]
struct WorkloadEntry {
    columns: Vec<String>,
    #[serde(default = "one")]
    weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Workload {
    /// Parses a workload file (TOML or JSON):
    /// `[[cliques]] columns = ["age", "sex"] weight = 2.0` (weight defaults to 1).
    pub fn from_text(text: &str, source: &str, domain: &Domain) -> Result<Self, String> {
        let parsed: WorkloadFile = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))?
        } else {
            toml::from_str(text).map_err(|e| format!("{source}: {e}"))?
        };
        if parsed.cliques.is_empty() {
            return Err(format!("{source}: the workload lists no cliques"));
        }
        let mut cliques = Vec::new();
        for (i, e) in parsed.cliques.iter().enumerate() {
            let mut attrs = Vec::new();
            for c in &e.columns {
                attrs.push(domain.index_of(c).ok_or_else(|| {
                    format!("{source}: clique {} names column {c:?}, which is not a modelled column of the schema", i + 1)
                })?);
            }
            if attrs.is_empty() {
                return Err(format!("{source}: clique {} has no columns", i + 1));
            }
            if !(e.weight.is_finite() && e.weight > 0.0) {
                return Err(format!(
                    "{source}: clique {} has weight {}, which must be positive",
                    i + 1,
                    e.weight
                ));
            }
            cliques.push((Clique::new(attrs), e.weight));
        }
        Ok(Workload { cliques })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_downward_closure_with_paper_weights() {
        let w = Workload::all_k_way(4, 3);
        let c = w.candidates();
        assert_eq!(c.len(), 4 + 6 + 4);
        // {0} lies in 3 of the 4 triples, sharing one attribute with each.
        assert_eq!(c[&Clique::new([0])], 3.0);
        // {0,1} shares 2 with the 2 triples containing it and 1 with the other 2.
        assert_eq!(c[&Clique::new([0, 1])], 2.0 * 2.0 + 2.0);
        assert_eq!(c[&Clique::new([0, 1, 2])], 3.0 + 2.0 * 3.0);
    }

    #[test]
    fn workload_file_parses_and_rejects_unknown_columns() {
        let d = Domain::new(vec!["a".into(), "b".into(), "c".into()], vec![2, 2, 2]);
        let w = Workload::from_text(
            "[[cliques]]\ncolumns = [\"a\", \"c\"]\nweight = 2.0\n",
            "w.toml",
            &d,
        )
        .unwrap();
        assert_eq!(w.cliques, vec![(Clique::new([0, 2]), 2.0)]);
        let e = Workload::from_text("{\"cliques\": [{\"columns\": [\"zz\"]}]}", "w.json", &d)
            .unwrap_err();
        assert!(e.contains("zz"), "{e}");
    }
}
