//! The cost and the stated errors of the error bars' bootstrap (`accuracy.json`) under
//! different refit settings, on a released model.
//!
//! `cargo run --release --example bootstrap_cost -- MODEL.json [SEED] [MAX_ITERS:TOL[:IPF_SWEEPS] ...]`
//! `cargo run --release --example bootstrap_cost -- MODEL.json SEED refits [MAX_ITERS]`
//!
//! The first form recomputes the error bars for each setting (default: today's `400:1e-6`,
//! then `2000:1e-6`, `400:1e-5`, `5000:1e-9`) with the same bootstrap seed and prints the
//! wall and CPU time and the mean estimated L1 error per clique size, so that a cheaper
//! setting can be checked to state errors no smaller than the converged ones.
//!
//! The second compares the two ways to start one refit, on two replicates drawn as the
//! bootstrap draws them: warm from the fitted model (`model::estimate` with a warm start,
//! the bootstrap before session 6) and afresh on its tree (`model::refit`, the bootstrap
//! now), each capped at MAX_ITERS (default 400): calibrations (belief propagations, the
//! load-independent unit of cost), whether the convergence test stopped it, CPU seconds, and
//! its loss above a 5,000-iteration fit of the same measurements. It also reports whether the
//! release's own fit is converged: the model's loss against a long fit of its measurements.
//! Reads only the model (DP output).

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::marginal::{Clique, Domain};
use dpsynth::mechanism::{bootstrap_estimation, Fitted};
use dpsynth::model::{estimate, refit, sample, EstimationOptions, Measurement, SamplingMethod};
use dpsynth::release::pipeline::ModelFile;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn count(cols: &[Vec<u32>], d: &Domain, c: &Clique) -> Vec<f64> {
    let shape = c.shape(d);
    let mut out = vec![0.0; shape.iter().product()];
    let mut idx = vec![0usize; cols.first().map_or(0, Vec::len)];
    for (k, &a) in c.attrs().iter().enumerate() {
        for (i, &v) in idx.iter_mut().zip(&cols[a]) {
            *i = *i * shape[k] + v as usize;
        }
    }
    for i in idx {
        out[i] += 1.0;
    }
    out
}

fn normal(rng: &mut ChaCha20Rng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn refits(f: &Fitted, seed: u64, iters: usize) -> Result<(), Box<dyn std::error::Error>> {
    let model = &f.model;
    let d = model.domain();
    let capped = EstimationOptions {
        max_iters: iters,
        ..bootstrap_estimation()
    };
    let long = EstimationOptions {
        max_iters: 5000,
        tol: 0.0,
        ..bootstrap_estimation()
    };
    let (_, best) = refit(model, &f.measurements, &long)?;
    // A warm start skips the IPF warm-up, so its first loss is the model's own.
    let (_, warm_best) = estimate(d, &f.measurements, &long, Some(model))?;
    println!(
        "release's fit: {} model cells, {} measurements; its loss {:.2}; 5000 iterations on its measurements reach {:.2} (fresh) / {:.2} (warm from it)",
        model.size_cells(),
        f.measurements.len(),
        warm_best.losses[0],
        best.final_loss,
        warm_best.final_loss
    );
    let sd = f.cell_sd();
    for rep in 0..2u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(rep);
        let rows = model.total().round().max(1.0) as usize;
        let cols = sample(model, rows, rng.gen(), SamplingMethod::Forward);
        let sim: Vec<Measurement> = f
            .measurements
            .iter()
            .zip(&sd)
            .map(|(m, s)| {
                let values = count(&cols, d, &m.clique)
                    .into_iter()
                    .zip(s)
                    .map(|(v, s)| v + s * normal(&mut rng))
                    .collect();
                Measurement::new(m.clique.clone(), values, m.sigma)
            })
            .collect();
        let (_, reference) = refit(model, &sim, &long)?;
        for (name, warm) in [("warm ", true), ("fresh", false)] {
            let (t, c) = (Instant::now(), cpu_seconds());
            let report = if warm {
                estimate(d, &sim, &capped, Some(model))?.1
            } else {
                refit(model, &sim, &capped)?.1
            };
            println!(
                "replicate {rep} {name}: {} iterations, {} calibrations, converged {}, {:.2} s wall / {:.2} s CPU, loss {:.2} above the 5000-iteration fit",
                report.iterations,
                report.calibrations,
                report.converged,
                t.elapsed().as_secs_f64(),
                cpu_seconds() - c,
                report.final_loss - reference.final_loss
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: bootstrap_cost MODEL.json [SEED] [ITERS:TOL ... | refits [ITERS]]")?,
    );
    let seed: u64 = args.get(1).map_or(Ok(7), |s| s.parse())?;
    let file = ModelFile::load(&path)?;
    if args.get(2).map(String::as_str) == Some("refits") {
        let iters = args.get(3).map_or(Ok(400), |s| s.parse())?;
        return refits(&file.fitted, seed, iters);
    }
    let base = bootstrap_estimation();
    let mut settings: Vec<(usize, f64, usize)> = Vec::new();
    for a in args.iter().skip(2) {
        let p: Vec<&str> = a.split(':').collect();
        if !(2..=3).contains(&p.len()) {
            return Err("a setting is MAX_ITERS:TOL[:IPF_SWEEPS]".into());
        }
        let sweeps = p.get(2).map_or(Ok(base.ipf_sweeps), |s| s.parse())?;
        settings.push((p[0].parse()?, p[1].parse()?, sweeps));
    }
    if settings.is_empty() {
        settings = vec![
            (400, 1e-6, 3),
            (2000, 1e-6, 3),
            (400, 1e-5, 3),
            (5000, 1e-9, 3),
        ];
    }
    for (iters, tol, sweeps) in settings {
        let mut fitted = file.fitted.clone();
        let est = EstimationOptions {
            max_iters: iters,
            tol,
            ipf_sweeps: sweeps,
            ..base.clone()
        };
        let (t, c) = (Instant::now(), cpu_seconds());
        fitted.assess_with(seed, 2, est)?;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c;
        let report = fitted.accuracy.as_ref().ok_or("no report")?;
        let means: Vec<String> = report
            .summary
            .iter()
            .map(|s| format!("{}-way {:.4}", s.k, s.mean_estimate))
            .collect();
        println!(
            "max_iters {iters} tol {tol:e} ipf_sweeps {sweeps}: {secs:.1} s wall, {cpu:.1} s CPU; mean estimate {}",
            means.join(", ")
        );
    }
    Ok(())
}
