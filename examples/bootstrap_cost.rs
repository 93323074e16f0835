//! The cost and the stated errors of the error bars' bootstrap (`accuracy.json`) under
//! different refit settings, on a released model.
//!
//! `cargo run --release --example bootstrap_cost -- MODEL.json [SEED] [MAX_ITERS:TOL ...]`
//!
//! For each setting (default: today's `500:1e-6`, then `2000:1e-6`, `500:1e-5`,
//! `500:1e-4`) it recomputes the error bars with the same bootstrap seed and prints the
//! wall time and the mean estimated L1 error per clique size, so that a cheaper setting can
//! be checked to state errors no smaller than the converged ones. Reads only the model
//! (DP output).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::mechanism::bootstrap_estimation;
use dpsynth::model::EstimationOptions;
use dpsynth::release::pipeline::ModelFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: bootstrap_cost MODEL.json [SEED] [ITERS:TOL ...]")?,
    );
    let seed: u64 = args.get(1).map_or(Ok(7), |s| s.parse())?;
    let mut settings: Vec<(usize, f64)> = Vec::new();
    for a in args.iter().skip(2) {
        let (i, t) = a.split_once(':').ok_or("a setting is MAX_ITERS:TOL")?;
        settings.push((i.parse()?, t.parse()?));
    }
    if settings.is_empty() {
        settings = vec![(500, 1e-6), (2000, 1e-6), (500, 1e-5), (500, 1e-4)];
    }
    let file = ModelFile::load(&path)?;
    let base = bootstrap_estimation();
    for (iters, tol) in settings {
        let mut fitted = file.fitted.clone();
        let est = EstimationOptions {
            max_iters: iters,
            tol,
            ..base.clone()
        };
        let t = Instant::now();
        fitted.assess_with(seed, 2, est)?;
        let secs = t.elapsed().as_secs_f64();
        let report = fitted.accuracy.as_ref().ok_or("no report")?;
        let means: Vec<String> = report
            .summary
            .iter()
            .map(|s| format!("{}-way {:.4}", s.k, s.mean_estimate))
            .collect();
        println!(
            "max_iters {iters} tol {tol:e}: {secs:.1} s; mean estimate {}",
            means.join(", ")
        );
    }
    Ok(())
}
