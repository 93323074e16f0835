//! How well AIM's rounds rank candidates and decide annealing under cheaper refits, replayed
//! on a release's own measurements (deterministic: no noise is drawn, so settings compare
//! like for like).
//!
//! `cargo run --release --example round_replay -- MODEL.json DATA.csv SCHEMA SETTING...`
//!
//! A SETTING is `ITERS[:ipf]`: every round's warm-started refit runs ITERS iterations
//! (`AimOptions::round_iters`), with `:ipf` one IPF sweep over the new measurement first
//! (`AimOptions::round_ipf`); `MIN-ITERS[:ipf]` refits in two stages
//! (`AimOptions::round_iters_min`: MIN iterations, then on to ITERS only when the annealing
//! test would fire). The first setting is the reference (normally `100`, today's).
//! `:cF` starts each refit's line search from the previous fit's last step times F
//! (`AimOptions::round_carry_step`; without it, from the default first step).
//! Each setting rebuilds the chain of models AIM would have had (one-way model, then one
//! refit per later measurement in the order taken) and at every round computes what the
//! round used: the exponential mechanism's selection distribution over the allowed
//! candidates (scores as `select_worst` computes them, softmax at the round's Gumbel scale
//! from the ledger) and the annealing test (`moved <= sqrt(2/pi) sigma n_C` on the clique
//! measured). Printed per setting: refit CPU and calibrations, the mean and largest total
//! variation distance of its selection distributions from the reference's, the annealing
//! decisions that differ from the reference's, and those that differ from the release's own
//! (read from the ledger: a round whose next measurement has 4x the rho annealed).
//!
//! With `VERBOSE` set, each setting also prints per round `round:moved/noise/TV`.
//!
//! The size filter is recomputed by triangulating the measured cliques plus each candidate
//! (`model_size_cells`), the verdict `candidates::fitting_candidates` gives. PRIVATE output
//! (the data's exact marginals score the candidates): for the operator's measurements only.

use dpsynth::marginal::{Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::aim::{expected_noise_l1, moved_l1};
use dpsynth::mechanism::score::{l1_distance, weighted_score};
use dpsynth::mechanism::{AimOptions, Workload};
use dpsynth::model::{
    estimate, fit_cliques, model_size_cells, EstimationOptions, GraphicalModel, StructuralZeros,
};

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/replay.rs"]
mod replay;
use cpu::cpu_seconds;

/// One round as the release took it (from its ledger and measurements).
struct Round {
    clique: Clique,
    sigma: f64,
    gumbel: f64,
    size_limit: usize,
    /// Whether the release annealed after this round (its next measurement took 4x).
    annealed: bool,
    /// Indices of the candidates its size filter allowed.
    allowed: Vec<usize>,
}

/// What one setting's chain did at each round.
struct Chain {
    probs: Vec<Vec<f64>>,
    anneal: Vec<bool>,
    moved_ratio: Vec<f64>,
    cpu: f64,
    calibrations: usize,
    iterations: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: round_replay MODEL.json DATA.csv SCHEMA ITERS[:ipf] ...".into());
    }
    let (file, table) = replay::load(&args[0], &args[1], &args[2])?;
    let oracle = InMemoryOracle::new(&table);
    let fitted = &file.fitted;
    let domain = fitted.model.domain().clone();
    let d = domain.len();
    let ms = &fitted.measurements;
    let first = ms
        .iter()
        .position(|m| m.clique.len() > 1)
        .unwrap_or(ms.len());
    let rho: f64 = fitted.ledger.iter().map(|e| e.rho).sum();
    let defaults = AimOptions::default();
    let max_cells = (defaults.max_model_size_mb * 1024.0 * 1024.0 / 8.0) as usize;
    let zeros = StructuralZeros::from_model(&fitted.model);
    let est = EstimationOptions {
        max_cells,
        zeros: (!zeros.is_empty()).then(|| std::sync::Arc::new(zeros)),
        ..defaults.estimation.clone()
    };

    // Candidates, weights and exact answers.
    let cands = Workload::all_k_way(d, 3).candidates();
    let cand_list: Vec<Clique> = cands.keys().cloned().collect();
    let weights: Vec<f64> = cands.values().copied().collect();
    let answers: Vec<_> = cand_list
        .iter()
        .map(|c| oracle.marginal(c))
        .collect::<Result<_, _>>()?;

    // The rounds from the ledger: each round's selection (Gumbel scale) and measurement.
    let mut rounds = Vec::new();
    let mut spent = 0.0;
    let mut gumbel = None;
    let mut rho_meas = Vec::new();
    for e in &fitted.ledger {
        spent += e.rho;
        if e.purpose.starts_with("AIM round") && e.mechanism == "noisy_max" {
            gumbel = Some(e.scale);
        } else if e.purpose.starts_with("AIM round") {
            let k = first + rounds.len();
            let m = ms.get(k).ok_or("ledger and measurements disagree")?;
            rho_meas.push(e.rho);
            rounds.push(Round {
                clique: m.clique.clone(),
                sigma: e.scale,
                gumbel: gumbel.take().ok_or("a measurement without a selection")?,
                size_limit: ((max_cells as f64 * spent / rho) as usize).min(max_cells),
                annealed: false,
                allowed: Vec::new(),
            });
        }
    }
    for i in 0..rounds.len().saturating_sub(1) {
        rounds[i].annealed = rho_meas[i + 1] > 2.0 * rho_meas[i];
    }
    // The last round spends what is left: its rho says nothing of the round before.
    let decided = rounds.len().saturating_sub(2);
    for (t, r) in rounds.iter_mut().enumerate() {
        let measured: Vec<Clique> = ms[..first + t].iter().map(|m| m.clique.clone()).collect();
        let base = fit_cliques(measured, &est);
        r.allowed = (0..cand_list.len())
            .filter(|&i| {
                let mut with = base.clone();
                with.push(cand_list[i].clone());
                model_size_cells(&domain, &fit_cliques(with, &est)) <= r.size_limit
            })
            .collect();
    }
    println!(
        "{}: {} rounds ({} annealed), {first} one-ways, rho {rho:.4}",
        args[0],
        rounds.len(),
        rounds.iter().filter(|r| r.annealed).count()
    );

    let (one_way_model, one_way_report) = estimate(&domain, &ms[..first], &est, None)?;
    let mut reference: Option<Chain> = None;
    for setting in &args[3..] {
        let mut parts = setting.split(':');
        let (first_stage, iters) = match parts.next().unwrap_or("100").split_once('-') {
            Some((a, b)) => (a.parse::<usize>()?, b.parse::<usize>()?),
            None => {
                let n = setting
                    .split(':')
                    .next()
                    .unwrap_or("100")
                    .parse::<usize>()?;
                (n, n)
            }
        };
        let flags: Vec<&str> = parts.collect();
        let ipf = flags.contains(&"ipf");
        // `:cF`: the previous fit's last step times F.
        let factor = flags
            .iter()
            .find_map(|f| f.strip_prefix('c').and_then(|v| v.parse::<f64>().ok()));
        let carry = one_way_report.step.zip(factor).map(|(s, f)| s * f);
        let round_est = EstimationOptions {
            max_iters: first_stage.min(iters),
            tol: defaults.round_tol,
            warm_ipf: ipf,
            move_tol: None,
            ..est.clone()
        };
        let chain = run_chain(
            &domain,
            ms,
            first,
            &rounds,
            &cand_list,
            &weights,
            &answers,
            one_way_model.clone(),
            &round_est,
            iters,
            carry,
            factor.unwrap_or(1.0),
        )?;
        let own = (0..decided)
            .filter(|&t| chain.anneal[t] != rounds[t].annealed)
            .count();
        let (tv_mean, tv_max, vs_ref) = match &reference {
            Some(r) => {
                let tvs: Vec<f64> = chain
                    .probs
                    .iter()
                    .zip(&r.probs)
                    .map(|(p, q)| 0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>())
                    .collect();
                let flips = (0..decided)
                    .filter(|&t| chain.anneal[t] != r.anneal[t])
                    .count();
                (
                    tvs.iter().sum::<f64>() / tvs.len().max(1) as f64,
                    tvs.iter().copied().fold(0.0, f64::max),
                    flips,
                )
            }
            None => (0.0, 0.0, 0),
        };
        let ratio = chain.moved_ratio.iter().sum::<f64>() / chain.moved_ratio.len().max(1) as f64;
        println!(
            "{setting:>8}: refits {:.1} s CPU, {} iterations, {} calibrations; selection TV vs \
             reference mean {tv_mean:.4} max {tv_max:.4}; annealing differs from reference in \
             {vs_ref}/{decided}, from the release in {own}/{decided} (anneals {}); mean moved/noise {ratio:.3}",
            chain.cpu,
            chain.iterations,
            chain.calibrations,
            chain.anneal[..decided].iter().filter(|&&a| a).count(),
        );
        if std::env::var("VERBOSE").is_ok() {
            // Per round: moved/noise (the annealing test fires at <= 1) and, against the
            // reference, the selection distribution's TV distance.
            let per: Vec<String> = (0..rounds.len())
                .map(|t| {
                    let tv = reference.as_ref().map_or(0.0, |r| {
                        0.5 * chain.probs[t]
                            .iter()
                            .zip(&r.probs[t])
                            .map(|(a, b)| (a - b).abs())
                            .sum::<f64>()
                    });
                    format!("{}:{:.2}/{tv:.2}", t + 1, chain.moved_ratio[t])
                })
                .collect();
            println!("          {}", per.join(" "));
        }
        if reference.is_none() {
            reference = Some(chain);
        }
    }
    Ok(())
}

/// The chain of round models under `round_est`, with each round's selection distribution
/// and annealing decision.
#[allow(clippy::too_many_arguments)]
fn run_chain(
    domain: &dpsynth::marginal::Domain,
    ms: &[dpsynth::model::Measurement],
    first: usize,
    rounds: &[Round],
    cand_list: &[Clique],
    weights: &[f64],
    answers: &[dpsynth::marginal::MarginalTable],
    mut model: GraphicalModel,
    round_est: &EstimationOptions,
    iters: usize,
    mut carry: Option<f64>,
    factor: f64,
) -> Result<Chain, Box<dyn std::error::Error>> {
    let mut chain = Chain {
        probs: Vec::new(),
        anneal: Vec::new(),
        moved_ratio: Vec::new(),
        cpu: 0.0,
        calibrations: 0,
        iterations: 0,
    };
    for (t, r) in rounds.iter().enumerate() {
        let cliques: Vec<Clique> = r.allowed.iter().map(|&i| cand_list[i].clone()).collect();
        let estimates = model.project_many(&cliques);
        let scores: Vec<f64> = r
            .allowed
            .iter()
            .zip(&estimates)
            .map(|(&i, e)| {
                weighted_score(
                    weights[i],
                    l1_distance(&answers[i].values, &e.values),
                    expected_noise_l1(r.sigma, cand_list[i].cells(domain)),
                )
            })
            .collect();
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = scores
            .iter()
            .map(|s| ((s - top) / r.gumbel).exp())
            .collect();
        let z: f64 = w.iter().sum();
        chain.probs.push(w.iter().map(|x| x / z).collect());
        let before = model.project(&r.clique);
        let c = cpu_seconds();
        let first_est = EstimationOptions {
            initial_step: carry.or(round_est.initial_step),
            ..round_est.clone()
        };
        let (refit, report) = estimate(domain, &ms[..first + t + 1], &first_est, Some(&model))?;
        carry = carry.and(report.step.map(|s| s * factor).or(carry));
        chain.calibrations += report.calibrations;
        chain.iterations += report.iterations;
        model = refit;
        let mut moved = moved_l1(&model, &r.clique, &before);
        let noise = expected_noise_l1(r.sigma, r.clique.cells(domain));
        // Two stages (`AimOptions::round_iters_min`): on to `iters` only when the annealing
        // test would fire on the first stage's model.
        if moved <= noise && round_est.max_iters < iters && !report.converged {
            let more = EstimationOptions {
                max_iters: iters - round_est.max_iters,
                initial_step: carry.or(round_est.initial_step),
                ..round_est.clone()
            };
            let (refit, report) = estimate(domain, &ms[..first + t + 1], &more, Some(&model))?;
            carry = carry.and(report.step.map(|s| s * factor).or(carry));
            chain.calibrations += report.calibrations;
            chain.iterations += report.iterations;
            model = refit;
            moved = moved_l1(&model, &r.clique, &before);
        }
        chain.cpu += cpu_seconds() - c;
        chain.anneal.push(moved <= noise);
        chain.moved_ratio.push(moved / noise);
    }
    Ok(chain)
}
