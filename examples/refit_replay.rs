//! The cost and the accuracy of AIM's fits under different options, replayed on a release's
//! own measurements: the one-way model, then one warm-started refit per later measurement in
//! the order AIM took them (the rounds' refits), then the final fit. Selection is not
//! replayed (the measurements are fixed), so options compare like for like, without noise.
//!
//! `cargo run --release --example refit_replay -- MODEL.json DATA.csv SCHEMA ROUND_ITERS:ROUND_TOL:FINAL_ITERS:FINAL_TOL[:ipf] ...`
//!
//! `cargo run --release --example refit_replay -- record OUT.json DATA.csv SCHEMA EPSILON [ROUND_TOL | mF] [fmF]`
//! runs AIM (delta 1e-9, the all-3-way workload, defaults otherwise) and saves its model
//! file without the final fit's iterations and without error bars (the replay refits both),
//! printing the phase times: a release to replay at a fraction of a full run's cost. `mF`
//! stops the rounds' refits by the noise-tied test, `fmF` runs the final fit stopped by it.
//!
//! `:mF` stops each refit by the noise-tied test at fraction F (`AimOptions::round_move_tol`),
//! `:fmF` the final fit likewise (`EstimationOptions::move_tol`).
//!
//! `:ipf` starts each refit with one IPF sweep over its new measurement
//! (`AimOptions::round_ipf`).
//!
//! For each setting: calibrations (belief propagations, the load-independent unit of cost)
//! and CPU seconds of the refits and of the final fit, the final loss, and the final model's
//! mean L1 error over all 3-way marginals against the data (the model's own answers, no
//! sampling; the data are read only to score, as `dpsynth evaluate` does). PRIVATE output:
//! for the operator's measurements only. Also the refits' minor page faults, and two
//! checksums (FNV-1a over bits) that must not change with a pure speed change: of every
//! refit's and the final fit's loss traces, and of the final model's potentials. The
//! refits' main-thread CPU is their sequential part (the main thread sleeps while rayon's
//! threads work), so `main + (CPU - main) / threads` bounds their wall time on an idle
//! machine from below whatever the load when measured.
//! `REPLAY_NO_SCORE=1` skips the 3-way scoring (on NIST's models it costs more than the
//! refits). `REPLAY_DUMP=FILE` writes the final potentials (little-endian f64, clique by
//! clique) and `REPLAY_AGAINST=FILE` compares them with such a file (cells that differ, the
//! largest relative difference): for a change that is not bit-identical.

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::data::read_csv;
use dpsynth::marginal::{Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, NoProgress, Workload};
use dpsynth::model::{EstimationOptions, Estimator, GraphicalModel, StructuralZeros};
use dpsynth::release::pipeline::ModelFile;
use dpsynth::schema::Schema;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/replay.rs"]
mod replay;
use cpu::{cpu_seconds, fnv_bits, minor_faults, thread_cpu_seconds, FNV_START};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("record") {
        return record(&args[1..]);
    }
    if args.len() < 4 {
        return Err(
            "usage: refit_replay MODEL.json DATA.csv SCHEMA RI:RT:FI:FT[:ipf][:mF][:fmF] ..."
                .into(),
        );
    }
    let (file, table) = replay::load(&args[0], &args[1], &args[2])?;
    let oracle = InMemoryOracle::new(&table);
    let fitted = &file.fitted;
    let domain = fitted.model.domain().clone();
    let d = domain.len();
    let mut triples = Vec::new();
    for a in 0..d {
        for b in a + 1..d {
            for c in b + 1..d {
                triples.push(Clique::new([a, b, c]));
            }
        }
    }
    let truth: Vec<_> = triples
        .iter()
        .filter(|_| std::env::var_os("REPLAY_NO_SCORE").is_none())
        .map(|c| oracle.marginal(c))
        .collect::<Result<_, _>>()?;
    let scoring = std::env::var_os("REPLAY_NO_SCORE").is_none();
    let score = |m: &GraphicalModel| -> f64 {
        if !scoring {
            return f64::NAN;
        }
        let answers = m.project_many(&triples);
        answers
            .iter()
            .zip(&truth)
            .map(|(a, t)| a.l1_normalized(t))
            .sum::<f64>()
            / triples.len() as f64
    };
    let zeros = StructuralZeros::from_model(&fitted.model);
    let base = EstimationOptions {
        max_cells: usize::MAX,
        zeros: (!zeros.is_empty()).then(|| std::sync::Arc::new(zeros)),
        ..EstimationOptions::default()
    };
    let ms = &fitted.measurements;
    let first = ms
        .iter()
        .position(|m| m.clique.len() > 1)
        .unwrap_or(ms.len());
    println!(
        "{}: {} measurements ({first} one-way), model {} cells; release's own model: 3-way L1 {:.4}",
        args[0],
        ms.len(),
        fitted.model.size_cells(),
        score(&fitted.model)
    );
    for setting in &args[3..] {
        let p: Vec<&str> = setting.split(':').collect();
        if p.len() < 4 {
            return Err(
                "a setting is ROUND_ITERS:ROUND_TOL:FINAL_ITERS:FINAL_TOL[:ipf][:mF][:fmF]".into(),
            );
        }
        let mut round = EstimationOptions {
            max_iters: p[0].parse()?,
            tol: p[1].parse()?,
            ..base.clone()
        };
        let mut fin = EstimationOptions {
            max_iters: p[2].parse()?,
            tol: p[3].parse()?,
            ..base.clone()
        };
        // `:cF`: each refit starts from the previous fit's last step times F.
        let mut carry: Option<f64> = None;
        for extra in &p[4..] {
            if let Some(f) = extra.strip_prefix('c') {
                carry = Some(f.parse()?);
            } else if let Some(f) = extra.strip_prefix('g') {
                round.step_growth = f.parse()?;
            } else if *extra == "ipf" {
                round.warm_ipf = true;
            } else if let Some(f) = extra.strip_prefix("fm") {
                fin.move_tol = Some(f.parse()?);
            } else if let Some(f) = extra.strip_prefix('m') {
                round.move_tol = Some(f.parse()?);
            } else {
                return Err(format!("unknown option {extra} in {setting}").into());
            }
        }
        // One estimator for all fits, as AIM keeps (`REPLAY_FRESH=1`: a new one per fit, as
        // `model::estimate` makes).
        let fresh = std::env::var_os("REPLAY_FRESH").is_some();
        // `REPLAY_PROBE=K[:ITERS]`: every K-th refit (and the last) is also run from the same
        // warm start for ITERS iterations (default 2,000) to show its optimum, not chained.
        let (probe_every, probe_iters) = match std::env::var("REPLAY_PROBE") {
            Ok(v) => {
                let mut it = v.split(':');
                let every = it.next().unwrap_or("0").parse()?;
                let iters = it.next().map_or(Ok(2000), str::parse)?;
                (every, iters)
            }
            Err(_) => (0usize, 0usize),
        };
        let mut est = Estimator::new();
        let (mut model, r0) = est.estimate(&domain, &ms[..first], &fin, None)?;
        let mut last_step = r0.step;
        let (t, c, f, mc) = (
            Instant::now(),
            cpu_seconds(),
            minor_faults(),
            thread_cpu_seconds(),
        );
        let (mut cal, mut iters, mut conv) = (0, 0, 0);
        let mut refit_loss = 0.0;
        let mut trace = FNV_START;
        for k in first..ms.len() {
            if fresh {
                est = Estimator::new();
            }
            if probe_every > 0 && ((k - first) % probe_every == 0 || k + 1 == ms.len()) {
                probe(&domain, &ms[..=k], &round, &model, probe_iters)?;
            }
            let opts_k = EstimationOptions {
                initial_step: carry.and_then(|f| last_step.map(|s| s * f)),
                ..round.clone()
            };
            let (m, r) = est.estimate(&domain, &ms[..=k], &opts_k, Some(&model))?;
            last_step = r.step.or(last_step);
            cal += r.calibrations;
            iters += r.iterations;
            conv += usize::from(r.converged);
            refit_loss += r.final_loss;
            trace = fnv_bits(trace, &r.losses);
            trace = fnv_bits(trace, &[r.final_loss]);
            est.recycle(std::mem::replace(&mut model, m));
        }
        let (rw, rc) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        let main_cpu = thread_cpu_seconds() - mc;
        let faults = minor_faults() - f;
        let (t, c) = (Instant::now(), cpu_seconds());
        if fresh {
            est = Estimator::new();
        }
        let fin_k = EstimationOptions {
            initial_step: carry.and_then(|f| last_step.map(|s| s * f)),
            ..fin.clone()
        };
        let (model, r) = est.estimate(&domain, ms, &fin_k, Some(&model))?;
        let (fw, fc) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        trace = fnv_bits(trace, &r.losses);
        trace = fnv_bits(trace, &[r.final_loss]);
        let potentials = model
            .potentials()
            .iter()
            .fold(FNV_START, |h, p| fnv_bits(h, &p.values));
        if let Some(path) = std::env::var_os("REPLAY_DUMP") {
            let bytes: Vec<u8> = model
                .potentials()
                .iter()
                .flat_map(|p| p.values.iter().flat_map(|v| v.to_le_bytes()))
                .collect();
            std::fs::write(path, bytes)?;
        }
        if let Some(path) = std::env::var_os("REPLAY_AGAINST") {
            compare_potentials(&model, &std::fs::read(path)?)?;
        }
        let refits = ms.len() - first;
        println!(
            "{setting}: refits {iters} iterations ({conv} of {refits} converged), {cal} calibrations, {rw:.1} s wall / {rc:.1} s CPU ({:.3} s per refit; main thread {main_cpu:.1} s CPU), {faults} page faults ({} per refit), summed loss {refit_loss:.1}; final fit {} iterations (converged {}), {} calibrations, {fw:.1} s / {fc:.1} s CPU, loss {:.2}; 3-way L1 {:.4}; checksums: losses {trace:016x}, final potentials {potentials:016x}",
            rc / refits.max(1) as f64,
            faults / refits.max(1) as u64,
            r.iterations,
            r.converged,
            r.calibrations,
            r.final_loss,
            score(&model)
        );
    }
    Ok(())
}

/// `REPLAY_AGAINST`: the final potentials against another build's (`REPLAY_DUMP`: every
/// clique's log-potentials in order, little-endian f64): cells that differ, and the largest
/// difference relative to the larger magnitude, over cells finite in both.
fn compare_potentials(
    model: &GraphicalModel,
    other: &[u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let ours: Vec<f64> = model
        .potentials()
        .iter()
        .flat_map(|p| p.values.iter().copied())
        .collect();
    if other.len() != 8 * ours.len() {
        return Err(format!(
            "REPLAY_AGAINST: {} bytes for {} cells",
            other.len(),
            ours.len()
        )
        .into());
    }
    let (mut differ, mut worst, mut worst_abs) = (0usize, 0.0f64, 0.0f64);
    for (a, chunk) in ours.iter().zip(other.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let b = f64::from_le_bytes(b);
        if a.to_bits() == b.to_bits() {
            continue;
        }
        differ += 1;
        if a.is_finite() && b.is_finite() {
            let d = (a - b).abs();
            worst_abs = worst_abs.max(d);
            worst = worst.max(d / a.abs().max(b.abs()));
        } else {
            worst = f64::INFINITY;
        }
    }
    println!(
        "final potentials against REPLAY_AGAINST: {differ} of {} cells differ; largest difference {worst:.3e} relative, {worst_abs:.3e} absolute",
        ours.len()
    );
    Ok(())
}

/// `record OUT.json DATA.csv SCHEMA EPSILON [ROUND_TOL | mF] [fmF]`: an AIM release's model file for
/// the replay, with the final fit skipped (`max_iters` 0) and no error bars.
fn record(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.len() < 4 {
        return Err(
            "usage: refit_replay record OUT.json DATA.csv SCHEMA EPSILON [ROUND_TOL | mF]".into(),
        );
    }
    let schema_text = std::fs::read_to_string(&args[2])?;
    let schema = Schema::from_path(&PathBuf::from(&args[2])).map_err(|e| format!("{e}"))?;
    let (table, _) = read_csv(&PathBuf::from(&args[1]), &schema)?;
    let oracle = InMemoryOracle::new(&table);
    let budget = dpsynth::privacy::Budget::from_epsilon_delta(
        dpsynth::privacy::Epsilon::new(args[3].parse()?)?,
        dpsynth::privacy::Delta::new(1e-9)?,
    )?;
    let mut opts = AimOptions::default();
    opts.estimation.max_iters = 0;
    for t in &args[4..] {
        if let Some(f) = t.strip_prefix("fm") {
            // The final fit runs (default cap), stopped by the noise-tied test.
            opts.estimation.max_iters = AimOptions::default().estimation.max_iters;
            opts.estimation.move_tol = Some(f.parse()?);
        } else if let Some(f) = t.strip_prefix('m') {
            opts.round_move_tol = Some(f.parse()?);
        } else {
            opts.round_tol = t.parse()?;
        }
    }
    let d = oracle.domain().len();
    let spec = MechanismSpec::Aim(opts, Workload::all_k_way(d, 3));
    let c = cpu_seconds();
    let fitted = fit(&oracle, budget, &spec, &NoProgress)?;
    println!("recorded: {:.1} s CPU", cpu_seconds() - c);
    for (name, t) in &fitted.phases {
        println!("  {name}: {:.1} s wall", t.as_secs_f64());
    }
    let file = ModelFile::new(fitted, &schema_text);
    std::fs::write(&args[0], file.to_json()?)?;
    Ok(())
}

/// Per-measurement losses `||P_m p - y_m||^2 / sigma_m^2` of `model`.
fn measurement_losses(model: &GraphicalModel, ms: &[dpsynth::model::Measurement]) -> Vec<f64> {
    ms.iter()
        .map(|m| {
            let p = model.project(&m.clique);
            p.values
                .iter()
                .zip(&m.values)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                / (m.sigma * m.sigma)
        })
        .collect()
}

/// `REPLAY_PROBE`: one refit run `opts.max_iters` and `iters` iterations from the same warm
/// start; prints the loss reached at several iteration counts (and the calibrations they
/// took), and the excess loss of the short refit over the long one by measurement, grouped
/// by sigma (the annealing levels).
fn probe(
    domain: &dpsynth::marginal::Domain,
    ms: &[dpsynth::model::Measurement],
    opts: &EstimationOptions,
    warm: &GraphicalModel,
    iters: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (short, rs) = Estimator::new().estimate(domain, ms, opts, Some(warm))?;
    let long_opts = EstimationOptions {
        max_iters: iters,
        tol: 0.0,
        move_tol: None,
        ..opts.clone()
    };
    let (long, rl) = Estimator::new().estimate(domain, ms, &long_opts, Some(warm))?;
    let at = |n: usize| rl.losses.get(n).copied().unwrap_or(rl.final_loss);
    println!(
        "probe refit {} ({} cells new): start {:.1}; {} it {:.1} ({} cal); long: 50 {:.1} 100 {:.1} 200 {:.1} 500 {:.1} 1000 {:.1} {} it {:.1} ({} cal, converged {})",
        ms.len(),
        ms.last().map_or(0, |m| m.values.len()),
        rs.losses[0],
        rs.iterations,
        rs.final_loss,
        rs.calibrations,
        at(50),
        at(100),
        at(200),
        at(500),
        at(1000),
        rl.iterations,
        rl.final_loss,
        rl.calibrations,
        rl.converged
    );
    let ls = measurement_losses(&short, ms);
    let ll = measurement_losses(&long, ms);
    // Group by sigma (rounded to 3 significant digits).
    let mut groups: std::collections::BTreeMap<i64, (f64, usize, usize, f64, f64)> =
        Default::default();
    for (i, m) in ms.iter().enumerate() {
        let key = (m.sigma.ln() * 100.0).round() as i64;
        let g = groups.entry(key).or_insert((m.sigma, 0, 0, 0.0, 0.0));
        g.1 += 1;
        g.2 += m.values.len();
        g.3 += ls[i];
        g.4 += ll[i];
    }
    for (sigma, n, cells, a, b) in groups.values() {
        println!(
            "  sigma {sigma:9.2}: {n:3} measurements {cells:8} cells: loss short {a:10.1} long {b:10.1} excess {:9.1}",
            a - b
        );
    }
    let (i_new, m_new) = (ms.len() - 1, &ms[ms.len() - 1]);
    println!(
        "  newest (sigma {:.2}): short {:.1} long {:.1}",
        m_new.sigma, ls[i_new], ll[i_new]
    );
    Ok(())
}
