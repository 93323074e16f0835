//! Approximate inference on real data: all 36 two-way marginals of titanic (one clique of
//! 89,159,616 cells for exact inference) fitted over the local polytope, and Gibbs samples
//! of the fitted model.

mod common;
mod model_common;

use std::time::Instant;

use dpsynth::marginal::{all_k_way, Domain, MarginalTable};
use dpsynth::model::{
    estimate_approximate, ApproxModel, ApproximateOptions, GibbsOptions, Measurement,
};
use model_common::{empirical, exact};

fn worst_measured_l1(model: &ApproxModel, ms: &[Measurement], domain: &Domain) -> f64 {
    ms.iter()
        .map(|m| {
            let want =
                MarginalTable::from_values(m.clique.clone(), domain, m.values.clone()).unwrap();
            model.project(&m.clique).unwrap().l1_normalized(&want)
        })
        .fold(0.0, f64::max)
}

#[test]
fn titanic_all_36_two_way_exact_marginals_reproduced_approximately() {
    let Some((table, domain)) = common::load_coded("titanic") else {
        return;
    };
    let pairs = all_k_way(domain.len(), 2);
    assert_eq!(pairs.len(), 36);
    let ms = exact(&table, &domain, &pairs, 1.0);
    let opts = ApproximateOptions::default();
    let t = Instant::now();
    let (model, report) = estimate_approximate(&domain, &ms, &opts, None).unwrap();
    let elapsed = t.elapsed();
    let worst = worst_measured_l1(&model, &ms, &domain);
    let bp = model.bp_report();
    println!(
        "titanic 36 pairs (approximate): {} cells in {} factors, {} iters ({} oracle calls, \
         {} BP sweeps, {} unconverged), loss {:.3e}, converged {}, worst L1 {worst:.2e}, {:?}",
        model.size_cells(),
        model.factors().len(),
        report.iterations,
        report.calibrations,
        bp.sweeps,
        bp.unconverged_calls,
        report.final_loss,
        report.converged,
        elapsed
    );
    assert_eq!(model.factors().len(), 36);
    assert!(!model.is_exact());
    assert!((model.total() - table.n_rows() as f64).abs() < 1e-6);
    assert!(worst < 1e-2, "worst measured L1 {worst}");
}

#[test]
fn titanic_gibbs_samples_track_the_pseudo_marginals() {
    let Some((table, domain)) = common::load_coded("titanic") else {
        return;
    };
    let pairs = all_k_way(domain.len(), 2);
    let ms = exact(&table, &domain, &pairs, 1.0);
    let (model, _) =
        estimate_approximate(&domain, &ms, &ApproximateOptions::default(), None).unwrap();
    let rows = 50_000;
    let run = |opts: &GibbsOptions| {
        let t = Instant::now();
        let cols = model.sample_gibbs(rows, 11, opts);
        let elapsed = t.elapsed();
        let l1: Vec<f64> = pairs
            .iter()
            .map(|c| empirical(&cols, &domain, c).l1_normalized(&model.project(c).unwrap()))
            .collect();
        let mean = l1.iter().sum::<f64>() / l1.len() as f64;
        let worst = l1.iter().cloned().fold(0.0, f64::max);
        (cols, mean, worst, elapsed)
    };
    let default = GibbsOptions::default();
    let (cols, mean, worst, elapsed) = run(&default);
    let raw = GibbsOptions {
        calibration_records: 0,
        ..GibbsOptions::default()
    };
    let (_, mean_raw, worst_raw, elapsed_raw) = run(&raw);
    let long = GibbsOptions {
        burn_in: 2000,
        thin: 40,
        calibration_records: 0,
        ..GibbsOptions::default()
    };
    let (_, mean_long, worst_long, elapsed_long) = run(&long);
    println!(
        "titanic Gibbs, {rows} records, L1 to the pseudo-marginals over the 36 pairs: \
         calibrated (default) mean {mean:.4} worst {worst:.4} ({elapsed:?}); \
         fitted potentials as they are: mean {mean_raw:.4} worst {worst_raw:.4} ({elapsed_raw:?}); \
         as they are with 10x burn-in and thinning: mean {mean_long:.4} worst {worst_long:.4} \
         ({elapsed_long:?})"
    );
    assert_eq!(cols.len(), domain.len());
    assert!(cols.iter().all(|c| c.len() == rows));
    assert_eq!(cols, model.sample_gibbs(rows, 11, &default));
    // Burn-in and thinning are long enough: ten times both changes little.
    assert!(
        (mean_raw - mean_long).abs() < 0.2 * mean_long,
        "{mean_raw} vs {mean_long}"
    );
    // The calibration is what brings the records near the pseudo-marginals.
    assert!(mean < 0.1 && mean < 0.5 * mean_raw, "{mean} vs {mean_raw}");
}

#[test]
fn noisy_titanic_36_pairs_loss_decreases_and_stops() {
    let Some((table, domain)) = common::load_coded("titanic") else {
        return;
    };
    let pairs = all_k_way(domain.len(), 2);
    let ms = model_common::noisy(&table, &domain, &pairs, 10.0, 3);
    let t = Instant::now();
    let (model, report) =
        estimate_approximate(&domain, &ms, &ApproximateOptions::default(), None).unwrap();
    let bp = model.bp_report();
    println!(
        "noisy titanic 36 pairs (sigma 10): {} iters, converged {}, loss {:.4e} (start {:.4e}, \
         {} measured cells), {bp:?}, {:?}",
        report.iterations,
        report.converged,
        report.final_loss,
        report.losses[0],
        pairs.iter().map(|c| c.cells(&domain)).sum::<usize>(),
        t.elapsed()
    );
    assert!(report.converged, "stopped by the iteration cap");
    assert!(report.losses.windows(2).all(|w| w[1] <= w[0]));
    assert!(report.final_loss < report.losses[0]);
    assert_eq!(bp.unconverged_calls, 0);
}
