//! The cost of one model fit on a released model's own measurements, warm-started from
//! its potentials: the unit of work of AIM's refits, its final fit and each bootstrap
//! replicate, on a model of realistic size. Deterministic (no noise is drawn), so runs of
//! two builds, or with `RAYON_NUM_THREADS=1` against the default, compare like for like.
//!
//! `cargo run --release --example fit_cost -- MODEL.json [ITERS] [REPEATS] [OUT.json]`
//!
//! Prints the model size, the wall and CPU time and the minor page faults per fit, the time
//! per iteration, the final loss
//! and a checksum of the whole loss trace (FNV-1a over the losses' bits; both must not
//! depend on the build or the thread count). With `OUT.json`, saves the last fit as a model
//! file, so `dpsynth sample --model OUT.json --seed S` can check two builds' fits give the
//! same records. Reads only the model (DP output).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::model::{estimate, EstimationOptions};
use dpsynth::release::pipeline::ModelFile;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::{cpu_seconds, fnv_bits, minor_faults, FNV_START};

/// FNV-1a over the bits of a loss trace: equal traces, equal checksums.
fn trace_checksum(losses: &[f64]) -> u64 {
    fnv_bits(FNV_START, losses)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: fit_cost MODEL.json [ITERS] [REPEATS] [OUT.json]")?,
    );
    let iters: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let repeats: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let out = args.get(3).map(PathBuf::from);
    let mut file = ModelFile::load(&path)?;
    let fitted = &file.fitted;
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
    let mut last = None;
    for _ in 0..repeats {
        let (t, c, f) = (Instant::now(), cpu_seconds(), minor_faults());
        let (fit, report) = estimate(model.domain(), &fitted.measurements, &opts, Some(model))?;
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        let faults = minor_faults() - f;
        let per = report.iterations.max(1) as f64;
        println!(
            "{} iterations ({} calibrations) in {secs:.2} s wall / {cpu:.2} s CPU, {faults} page faults: {:.1} ms / {:.1} ms CPU per iteration; final loss {:.6} ({:e}), loss trace checksum {:016x}",
            report.iterations,
            report.calibrations,
            1e3 * secs / per,
            1e3 * cpu / per,
            report.final_loss,
            report.final_loss,
            trace_checksum(&report.losses)
        );
        last = Some(fit);
    }
    if let (Some(out), Some(fit)) = (out, last) {
        file.fitted.model = fit;
        std::fs::write(&out, file.to_json()?)?;
        println!("saved {}", out.display());
    }
    Ok(())
}
