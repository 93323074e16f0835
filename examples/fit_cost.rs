//! The cost of one model fit on a released model's own measurements, warm-started from
//! its potentials: the unit of work of AIM's refits, its final fit and each bootstrap
//! replicate, on a model of realistic size. Deterministic (no noise is drawn), so runs of
//! two builds, or with `RAYON_NUM_THREADS=1` against the default, compare like for like.
//!
//! `cargo run --release --example fit_cost -- MODEL.json [ITERS] [REPEATS]`
//!
//! Prints the model size, the wall time per fit and per iteration, and the final loss
//! (which must not depend on the build or the thread count). Reads only the model (DP
//! output).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::model::{estimate, EstimationOptions};
use dpsynth::release::pipeline::ModelFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: fit_cost MODEL.json [ITERS] [REPEATS]")?,
    );
    let iters: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let repeats: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let fitted = ModelFile::load(&path)?.fitted;
    let model = &fitted.model;
    let opts = EstimationOptions {
        max_iters: iters,
        tol: 0.0,
        max_cells: usize::MAX,
        ..EstimationOptions::default()
    };
    println!(
        "{}: {} cells, {} measurements, {} threads",
        path.display(),
        model.size_cells(),
        fitted.measurements.len(),
        rayon::current_num_threads()
    );
    for _ in 0..repeats {
        let t = Instant::now();
        let (_, report) = estimate(model.domain(), &fitted.measurements, &opts, Some(model))?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{} iterations ({} calibrations) in {secs:.2} s: {:.1} ms per iteration; final loss {:.6}",
            report.iterations,
            report.calibrations,
            1e3 * secs / report.iterations.max(1) as f64,
            report.final_loss
        );
    }
    Ok(())
}
