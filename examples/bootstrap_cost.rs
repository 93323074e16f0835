//! The cost and the stated errors of the error bars' bootstrap (`accuracy.json`) under
//! different refit settings, on a released model.
//!
//! `cargo run --release --example bootstrap_cost -- MODEL.json [SEED[,SEED...]] [MAX_ITERS:TOL[:IPF_SWEEPS[:MOVE_TOL]] ...]`
//! `cargo run --release --example bootstrap_cost -- MODEL.json SEED refits [MAX_ITERS]`
//! `cargo run --release --example bootstrap_cost -- MODEL.json SEED trace [MAX_ITERS]`
//!
//! The first form recomputes the error bars for each setting (default: today's
//! `mechanism::bootstrap_estimation`, then the former `400:1e-6`, `2000:1e-6`, `5000:1e-9`;
//! `MOVE_TOL` sets `EstimationOptions::move_tol`, default today's, `off` none) with the same bootstrap seed and prints the
//! wall and CPU time and the mean estimated L1 error per clique size, so that a cheaper
//! setting can be checked to state errors no smaller than the converged ones. With several
//! seeds it also prints the mean and standard deviation across seeds of each size's mean
//! estimate: the bootstrap's Monte-Carlo noise (`REPLICATES=N` in the environment sets the
//! replicates per estimate; default 2, as releases; `DUMP=FILE` writes the first report;
//! `DUMP_EACH=PREFIX` writes every report as `PREFIX.ITERS.SEED.json`;
//! `STEP_GROWTH=G` sets `EstimationOptions::step_growth`).
//!
//! The second compares the two ways to start one refit, on two replicates drawn as the
//! bootstrap draws them: warm from the fitted model (`model::estimate` with a warm start,
//! the bootstrap before session 6) and afresh on its tree (`model::refit`, the bootstrap
//! now), each capped at MAX_ITERS (default 150): calibrations (belief propagations, the
//! load-independent unit of cost), whether the convergence test stopped it, CPU seconds, and
//! its loss above a 5,000-iteration fit of the same measurements. It also reports whether the
//! release's own fit is converged: the model's loss against a long fit of its measurements.
//! The third traces one refit's loss at doubling iteration counts (default 2,000).
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
    for rep in 0..2u64 {
        let sim = simulated(f, seed, rep);
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

/// The model's answers to every clique the error bars report (all one- and two-way ones
/// and the workload), computed together as each bootstrap replicate computes them on its
/// refit (`GraphicalModel::project_many`): wall and CPU time, and a checksum of the answers
/// (to compare two builds).
fn answers(f: &Fitted) -> Result<(), Box<dyn std::error::Error>> {
    let d = f.model.domain().len();
    let mut cliques: Vec<Clique> = dpsynth::marginal::all_k_way(d, 1);
    cliques.extend(dpsynth::marginal::all_k_way(d, 2));
    cliques.extend(f.workload.iter().cloned());
    cliques.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
    cliques.dedup();
    let (t, c) = (Instant::now(), cpu_seconds());
    let answers = f.model.project_many(&cliques);
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let sum: f64 = answers
        .iter()
        .flat_map(|a| {
            a.values
                .iter()
                .enumerate()
                .map(|(i, v)| v * (1.0 + (i % 7) as f64))
        })
        .sum();
    let spanning = cliques
        .iter()
        .filter(|q| {
            f.model
                .junction_tree()
                .containing(f.model.domain(), q)
                .is_none()
        })
        .count();
    println!(
        "{} cliques ({spanning} spanning tree cliques): {secs:.2} s wall, {cpu:.2} s CPU; checksum {sum:.9e}",
        cliques.len()
    );
    Ok(())
}

/// Replicate 0's measurements as [`refits`] draws them, refitted afresh for `iters`
/// iterations with the convergence test off: the loss at doubling checkpoints, against the
/// measured cells (the loss's scale under noise).
fn trace(f: &Fitted, seed: u64, iters: usize) -> Result<(), Box<dyn std::error::Error>> {
    let sim = simulated(f, seed, 0);
    let cells: usize = sim.iter().map(|m| m.values.len()).sum();
    let opts = EstimationOptions {
        max_iters: iters,
        tol: 0.0,
        ..base_estimation()?
    };
    let (t, c) = (Instant::now(), cpu_seconds());
    let (_, report) = refit(&f.model, &sim, &opts)?;
    println!(
        "{} model cells, {} measured cells; {} iterations, {} calibrations, {:.1} s wall / {:.1} s CPU",
        f.model.size_cells(),
        cells,
        report.iterations,
        report.calibrations,
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c
    );
    let last = report.final_loss;
    let mut k = 1;
    while k < report.losses.len() {
        println!(
            "  iteration {k:>5}: loss {:.2}, {:.2} above the last",
            report.losses[k],
            report.losses[k] - last
        );
        k *= 2;
    }
    Ok(())
}

/// The measurements of replicate `rep`: records drawn from the model, counted, and noised
/// with the release's per-cell scales (as the bootstrap by records draws them).
fn simulated(f: &Fitted, seed: u64, rep: u64) -> Vec<Measurement> {
    let model = &f.model;
    let d = model.domain();
    let sd = f.cell_sd();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(rep);
    let rows = model.total().round().max(1.0) as usize;
    let cols = sample(model, rows, rng.gen(), SamplingMethod::Forward);
    f.measurements
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
        .collect()
}

/// `mechanism::bootstrap_estimation`, with `STEP_GROWTH=G` in the environment setting
/// `EstimationOptions::step_growth`.
fn base_estimation() -> Result<EstimationOptions, Box<dyn std::error::Error>> {
    let mut base = bootstrap_estimation();
    if let Ok(g) = std::env::var("STEP_GROWTH") {
        base.step_growth = g.parse()?;
    }
    Ok(base)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: bootstrap_cost MODEL.json [SEED] [ITERS:TOL ... | refits [ITERS]]")?,
    );
    // One seed, or several separated by commas (the spread of the estimates across seeds
    // is the bootstrap's Monte-Carlo noise).
    let seeds: Vec<u64> = args
        .get(1)
        .map_or("7", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let seed = seeds[0];
    let file = ModelFile::load(&path)?;
    if args.get(2).map(String::as_str) == Some("trace") {
        let iters = args.get(3).map_or(Ok(2000), |s| s.parse())?;
        return trace(&file.fitted, seed, iters);
    }
    if args.get(2).map(String::as_str) == Some("answers") {
        return answers(&file.fitted);
    }
    if args.get(2).map(String::as_str) == Some("refits") {
        let iters = args.get(3).map_or(Ok(150), |s| s.parse())?;
        return refits(&file.fitted, seed, iters);
    }
    let base = base_estimation()?;
    let mut settings: Vec<(usize, f64, usize, Option<f64>)> = Vec::new();
    for a in args.iter().skip(2) {
        let p: Vec<&str> = a.split(':').collect();
        if !(2..=4).contains(&p.len()) {
            return Err("a setting is MAX_ITERS:TOL[:IPF_SWEEPS[:MOVE_TOL]]".into());
        }
        let sweeps = p.get(2).map_or(Ok(base.ipf_sweeps), |s| s.parse())?;
        let move_tol = match p.get(3) {
            Some(&"off") => None,
            Some(s) => Some(s.parse()?),
            None => base.move_tol,
        };
        settings.push((p[0].parse()?, p[1].parse()?, sweeps, move_tol));
    }
    if settings.is_empty() {
        settings = vec![
            (base.max_iters, base.tol, base.ipf_sweeps, base.move_tol),
            (400, 1e-6, 3, None),
            (2000, 1e-6, 3, None),
            (5000, 1e-9, 3, None),
        ];
    }
    let reps: usize = std::env::var("REPLICATES").map_or(Ok(2), |v| v.parse())?;
    // `ANSWER_SAMPLE=K`: records drawn per simulated record for the costly answers (0: all
    // exact; default as releases).
    let answer_sample: usize = std::env::var("ANSWER_SAMPLE")
        .map_or(Ok(dpsynth::model::accuracy::ANSWER_SAMPLE_FACTOR), |v| {
            v.parse()
        })?;
    // `DUMP=FILE`: the first report computed, as accuracy.json (to compare two builds).
    let mut dump = std::env::var("DUMP").ok();
    for (iters, tol, sweeps, move_tol) in settings {
        let est = EstimationOptions {
            max_iters: iters,
            tol,
            ipf_sweeps: sweeps,
            move_tol,
            ..base.clone()
        };
        // Per seed, the mean estimate of each clique size (for the spread across seeds).
        let mut by_seed: Vec<Vec<f64>> = Vec::new();
        for &seed in &seeds {
            let mut fitted = file.fitted.clone();
            let (t, c) = (Instant::now(), cpu_seconds());
            fitted.assess_with(seed, reps, est.clone(), answer_sample)?;
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - c;
            let report = fitted.accuracy.as_ref().ok_or("no report")?;
            if let Some(path) = dump.take() {
                std::fs::write(path, report.to_json())?;
            }
            if let Ok(prefix) = std::env::var("DUMP_EACH") {
                std::fs::write(format!("{prefix}.{iters}.{seed}.json"), report.to_json())?;
            }
            let means: Vec<String> = report
                .summary
                .iter()
                .map(|s| format!("{}-way {:.4}", s.k, s.mean_estimate))
                .collect();
            by_seed.push(report.summary.iter().map(|s| s.mean_estimate).collect());
            println!(
                "max_iters {iters} tol {tol:e} ipf_sweeps {sweeps} move_tol {move_tol:?} seed {seed} replicates {reps} answer_sample {answer_sample}: {secs:.1} s wall, {cpu:.1} s CPU; mean estimate {}",
                means.join(", ")
            );
        }
        if by_seed.len() > 1 {
            let k = by_seed[0].len();
            let n = by_seed.len() as f64;
            let spread: Vec<String> = (0..k)
                .map(|j| {
                    let m = by_seed.iter().map(|v| v[j]).sum::<f64>() / n;
                    let var = by_seed.iter().map(|v| (v[j] - m).powi(2)).sum::<f64>() / (n - 1.0);
                    format!("{}-way {m:.4} sd {:.4}", j + 1, var.sqrt())
                })
                .collect();
            println!(
                "  over {} seeds: mean and sd across seeds of the mean estimate: {}",
                by_seed.len(),
                spread.join(", ")
            );
        }
    }
    Ok(())
}
